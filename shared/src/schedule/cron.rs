//! Cron expressions and macros: checking each field, translating month and day names, and
//! compiling the result into the minutes of a day and a [`DayRule`].

use std::sync::Arc;

use chrono::{NaiveDate, TimeDelta};
use croner::parser::{CronParser, Seconds, Year};

use super::calendar::{DayRule, MinuteSet};
use super::{HORIZON_DAYS, Inner, Schedule, ScheduleError, Spec};

/// Days in a full Gregorian cycle of 400 years.
const GREGORIAN_CYCLE_DAYS: i64 = 146_097;
/// 2026-01-01, the fixed start of the "does it fire within 8 years" check.
const REFERENCE_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2026, 1, 1) {
    Some(date) => date,
    // Evaluated at compile time: an invalid date would fail the build, never a run.
    None => panic!("2026-01-01 is a date"),
};

const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const FIELD_ACCEPTS: [&str; 5] = [
    "0-59, `*`, a list, a range or a step",
    "0-23, `*`, a list, a range or a step",
    "1-31, `*`, `?`, `L` (last day), `NW` or `LW` (nearest weekday), a list, a range or a step",
    "1-12 or JAN-DEC, `*`, a list, a range or a step",
    "0-7 (0 and 7 are Sunday) or SUN-SAT, `*`, `?`, `N#K` (K-th such weekday, 1-5), `NL` \
     (last such weekday), a list, a range or a step",
];
pub(super) const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// Cron day names, Sunday first (cron numbering).
pub(super) const CRON_DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MACROS: [(&str, &str); 7] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

/// A macro (`lower` is the lower-cased text, `@` included) as the cron expression it stands for.
pub(super) fn parse_macro(lower: &str) -> Result<Schedule, ScheduleError> {
    let Some(&(name, expansion)) = MACROS.iter().find(|(name, _)| *name == lower) else {
        return Err(ScheduleError::UnknownMacro(lower.to_string()));
    };
    let (_, inner) = parse_cron(expansion)?;
    Ok(Schedule(Arc::new(Inner {
        spec: Spec::Macro(name),
        ..inner
    })))
}

/// Parses a 5-field cron expression into its canonical text and compiled form (the `spec` of
/// the returned `Inner` is a placeholder the caller replaces).
pub(super) fn parse_cron(text: &str) -> Result<(String, Inner), ScheduleError> {
    let fields: Vec<String> = text.split_whitespace().map(str::to_uppercase).collect();
    match fields.len() {
        5 => {}
        6 | 7 => return Err(ScheduleError::SecondsNotSupported),
        given => return Err(ScheduleError::FieldCount { given }),
    }
    if fields[4].starts_with('+') {
        return Err(ScheduleError::AndModifier(fields[4].clone()));
    }
    let canonical = fields.join(" ");
    // croner would read a name anywhere (even MON in the month field): allow letters only where
    // they mean something once names are replaced.
    for (i, field) in fields.iter().enumerate() {
        let letters: &[char] = match i {
            2 => &['L', 'W'],
            4 => &['L'],
            _ => &[],
        };
        let names: &[&str] = match i {
            3 => &MONTH_NAMES,
            4 => &CRON_DAY_NAMES,
            _ => &[],
        };
        let bad = field
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|word| !word.is_empty() && !names.contains(word))
            .any(|word| word.chars().any(|c| !letters.contains(&c)));
        if bad {
            return Err(ScheduleError::CronField {
                field: FIELD_NAMES[i],
                value: field.clone(),
                accepted: FIELD_ACCEPTS[i],
            });
        }
    }
    let translated: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, field)| match i {
            3 => translate_names(field, &MONTH_NAMES, 1, false),
            4 => translate_names(field, &CRON_DAY_NAMES, 0, true),
            _ => field.clone(),
        })
        .collect();
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    let cron = parser.parse(&translated.join(" ")).map_err(|err| {
        // Find the field at fault by parsing each alone.
        (0..5)
            .find(|&i| {
                let mut probe = ["*"; 5];
                probe[i] = &translated[i];
                parser.parse(&probe.join(" ")).is_err()
            })
            .map_or_else(
                || ScheduleError::Cron {
                    expr: canonical.clone(),
                    detail: err.to_string(),
                },
                |i| ScheduleError::CronField {
                    field: FIELD_NAMES[i],
                    value: fields[i].clone(),
                    accepted: FIELD_ACCEPTS[i],
                },
            )
    })?;

    let mut minutes = MinuteSet::EMPTY;
    for hour in cron.pattern.hours.values() {
        for minute in cron.pattern.minutes.values() {
            minutes.insert(usize::from(hour) * 60 + usize::from(minute));
        }
    }
    let months = (1..=12u32)
        .filter(|&m| cron.pattern.month_match(m).unwrap_or(false))
        .fold(0u16, |mask, m| mask | (1 << m));
    let every_day = cron.pattern.is_dom_wildcard() && cron.pattern.is_dow_wildcard();
    let is_list = |field: &str| field.chars().all(|c| c.is_ascii_digit() || c == ',');
    let days = DayRule::Cron {
        months,
        every_day,
        cron: Box::new(cron),
    };
    // The last date of a span starting at the reference date (chrono's last date if later).
    let through = |span: i64| {
        REFERENCE_DATE
            .checked_add_signed(TimeDelta::days(span - 1))
            .unwrap_or(NaiveDate::MAX)
    };
    if days
        .first_match(REFERENCE_DATE, through(HORIZON_DAYS))
        .is_none()
    {
        return Err(
            if days
                .first_match(REFERENCE_DATE, through(GREGORIAN_CYCLE_DAYS))
                .is_none()
            {
                ScheduleError::NeverFires(canonical)
            } else {
                ScheduleError::TooRare(canonical)
            },
        );
    }
    let inner = Inner {
        spec: Spec::Cron(String::new()),
        fixed: is_list(&fields[0]) && is_list(&fields[1]),
        minutes,
        days,
    };
    Ok((canonical, inner))
}

/// Replaces whole alphabetic words that are names (`names[i]` is `base + i`) with numbers.
/// With `sunday_as_7`, a name after `-` that means 0 becomes 7 (so `FRI-SUN` is `5-7`).
fn translate_names(field: &str, names: &[&str], base: usize, sunday_as_7: bool) -> String {
    let mut out = String::with_capacity(field.len());
    let mut word = String::new();
    let mut before_word: Option<char> = None;
    let flush = |out: &mut String, word: &mut String, before: Option<char>| {
        match names.iter().position(|n| *n == word.as_str()) {
            Some(i) => {
                let value = base + i;
                if sunday_as_7 && value == 0 && before == Some('-') {
                    out.push('7');
                } else {
                    out.push_str(&value.to_string());
                }
            }
            None => out.push_str(word),
        }
        word.clear();
    };
    let mut last: Option<char> = None;
    for c in field.chars() {
        if c.is_ascii_alphabetic() {
            if word.is_empty() {
                before_word = last;
            }
            word.push(c);
        } else {
            if !word.is_empty() {
                flush(&mut out, &mut word, before_word);
            }
            out.push(c);
        }
        last = Some(c);
    }
    if !word.is_empty() {
        flush(&mut out, &mut word, before_word);
    }
    out
}
