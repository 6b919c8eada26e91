//! The `at ...` and `every ...` forms, from text or from parts: times of day, `on DAYS`
//! clauses, `between` windows and intervals.

use std::sync::Arc;

use super::calendar::{DayRule, MinuteSet};
use super::text::{DAY_NAMES, hhmm};
use super::{
    ALL_DAYS, AT_GRAMMAR, EVERY_GRAMMAR, Inner, MINUTES_PER_DAY, Schedule, ScheduleError, Spec,
};

/// The `at` form as written (`lower` is `text` lower-cased).
pub(super) fn parse_at(text: &str, lower: &str) -> Result<Schedule, ScheduleError> {
    let syntax = || ScheduleError::Syntax {
        form: "at",
        text: text.to_string(),
        grammar: AT_GRAMMAR,
    };
    let tokens: Vec<&str> = lower.split_whitespace().skip(1).collect();
    let on = tokens.iter().position(|t| *t == "on");
    let (time_tokens, day_tokens) = match on {
        Some(i) => (&tokens[..i], Some(&tokens[i + 1..])),
        None => (&tokens[..], None),
    };
    if time_tokens.is_empty() {
        return Err(syntax());
    }
    let times = time_tokens
        .join(" ")
        .split(',')
        .map(|t| parse_hhmm(t.trim(), "at time"))
        .collect::<Result<Vec<_>, _>>()?;
    let days = match day_tokens {
        None => ALL_DAYS,
        Some(tokens) => parse_days(&tokens.join(" "))?,
    };
    Ok(Schedule::from_at(times, days))
}

/// The `every` form as written (`lower` is `text` lower-cased).
pub(super) fn parse_every(text: &str, lower: &str) -> Result<Schedule, ScheduleError> {
    let syntax = || ScheduleError::Syntax {
        form: "every",
        text: text.to_string(),
        grammar: EVERY_GRAMMAR,
    };
    let tokens: Vec<&str> = lower.split_whitespace().skip(1).collect();
    let Some(interval) = tokens.first() else {
        return Err(syntax());
    };
    let step = parse_interval(interval)?;
    let mut window: Option<(u16, u16)> = None;
    let mut days: Option<u8> = None;
    let mut i = 1;
    while i < tokens.len() {
        let keyword = tokens[i];
        let end = tokens[i + 1..]
            .iter()
            .position(|t| *t == "between" || *t == "on")
            .map_or(tokens.len(), |p| i + 1 + p);
        let clause = &tokens[i + 1..end];
        match keyword {
            "between" if window.is_none() => window = Some(parse_window(&clause.concat())?),
            "on" if days.is_none() => days = Some(parse_days(&clause.join(" "))?),
            _ => return Err(syntax()),
        }
        i = end;
    }
    let (start, end) = window.unwrap_or((0, (MINUTES_PER_DAY - 1) as u16));
    Ok(Schedule::from_every(
        step,
        start,
        end,
        days.unwrap_or(ALL_DAYS),
    ))
}

/// [`Schedule::at`]: the `at` form from `(hour, minute)` pairs and optional weekdays.
pub(super) fn at_from_parts(
    times: &[(u32, u32)],
    days: Option<Vec<chrono::Weekday>>,
) -> Result<Schedule, ScheduleError> {
    if times.is_empty() {
        return Err(ScheduleError::Syntax {
            form: "at",
            text: "at".to_string(),
            grammar: AT_GRAMMAR,
        });
    }
    let times = times
        .iter()
        .map(|&(h, m)| minute_of_day(h, m, "at time"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Schedule::from_at(times, weekday_mask(days)?))
}

/// [`Schedule::every`]: the `every` form from a step in minutes, a window and weekdays.
pub(super) fn every_from_parts(
    minutes: u32,
    between: Option<((u32, u32), (u32, u32))>,
    days: Option<Vec<chrono::Weekday>>,
) -> Result<Schedule, ScheduleError> {
    let step = interval_minutes(minutes, || format!("{minutes}m"))?;
    let (start, end) = match between {
        None => (0, (MINUTES_PER_DAY - 1) as u16),
        Some(((sh, sm), (eh, em))) => {
            let start = minute_of_day(sh, sm, "between window start")?;
            let end = minute_of_day(eh, em, "between window end")?;
            if end < start {
                return Err(ScheduleError::Window(format!(
                    "{}-{}",
                    hhmm(start),
                    hhmm(end)
                )));
            }
            (start, end)
        }
    };
    Ok(Schedule::from_every(step, start, end, weekday_mask(days)?))
}

impl Schedule {
    /// An `at` schedule from minutes of the day (any order, repeats allowed) and a weekday mask.
    fn from_at(mut times: Vec<u16>, days: u8) -> Schedule {
        times.sort_unstable();
        times.dedup();
        let mut minutes = MinuteSet::EMPTY;
        for &t in &times {
            minutes.insert(usize::from(t));
        }
        Schedule(Arc::new(Inner {
            spec: Spec::At { times, days },
            fixed: true,
            minutes,
            days: DayRule::Weekdays(days),
        }))
    }

    /// An `every` schedule: every `step` minutes from `start` through `end`, on the weekdays of
    /// `days`.
    fn from_every(step: u16, start: u16, end: u16, days: u8) -> Schedule {
        let mut minutes = MinuteSet::EMPTY;
        for t in (start..=end).step_by(usize::from(step)) {
            minutes.insert(usize::from(t));
        }
        Schedule(Arc::new(Inner {
            spec: Spec::Every {
                step,
                start,
                end,
                days,
            },
            fixed: false,
            minutes,
            days: DayRule::Weekdays(days),
        }))
    }
}

/// A duration of whole minutes, 1 minute to 24 hours (`15m`, `90m`, `2h`, `1h30m`).
fn parse_interval(text: &str) -> Result<u16, ScheduleError> {
    let d = crate::duration::parse(text)?;
    if d.as_secs() % 60 != 0 {
        return Err(ScheduleError::Interval(text.to_string()));
    }
    let minutes = u32::try_from(d.as_secs() / 60).unwrap_or(u32::MAX);
    interval_minutes(minutes, || text.to_string())
}

/// Checks a frequency in minutes (1 to 1440).
fn interval_minutes(minutes: u32, err: impl Fn() -> String) -> Result<u16, ScheduleError> {
    match u16::try_from(minutes) {
        Ok(m) if (1..=MINUTES_PER_DAY as u16).contains(&m) => Ok(m),
        _ => Err(ScheduleError::Interval(err())),
    }
}

/// `HH:MM-HH:MM` with the end not before the start.
fn parse_window(text: &str) -> Result<(u16, u16), ScheduleError> {
    let Some((start, end)) = text.split_once('-') else {
        return Err(ScheduleError::Window(text.to_string()));
    };
    let start = parse_hhmm(start, "between window start")?;
    let end = parse_hhmm(end, "between window end")?;
    if end < start {
        return Err(ScheduleError::Window(text.to_string()));
    }
    Ok((start, end))
}

/// `H:MM` or `HH:MM`, 00:00 to 23:59, as a minute of the day.
fn parse_hhmm(text: &str, context: &'static str) -> Result<u16, ScheduleError> {
    let err = || ScheduleError::Time {
        context,
        value: text.to_string(),
    };
    let (h, m) = text.split_once(':').ok_or_else(err)?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
        return Err(err());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
    if h > 23 || m > 59 {
        return Err(err());
    }
    Ok(h * 60 + m)
}

/// A comma list of day names and ranges (`mon-fri`, wrapping allowed) as a mask, bit 0 = Monday.
fn parse_days(text: &str) -> Result<u8, ScheduleError> {
    if text.trim().is_empty() {
        return Err(ScheduleError::NoDays);
    }
    let day = |name: &str| {
        DAY_NAMES
            .iter()
            .position(|d| *d == name.trim())
            .ok_or_else(|| ScheduleError::Day(name.trim().to_string()))
    };
    let mut mask = 0u8;
    for item in text.split(',') {
        let item = item.trim();
        if let Some((from, to)) = item.split_once('-') {
            let (from, to) = (day(from)?, day(to)?);
            let mut d = from;
            loop {
                mask |= 1 << d;
                if d == to {
                    break;
                }
                d = (d + 1) % 7;
            }
        } else {
            mask |= 1 << day(item)?;
        }
    }
    Ok(mask)
}

/// A minute of the day from an hour and minute, or a `Time` error naming `context`.
fn minute_of_day(hour: u32, minute: u32, context: &'static str) -> Result<u16, ScheduleError> {
    if hour < 24 && minute < 60 {
        // Both bounded above, so the result is below 1440 and fits.
        Ok((hour * 60 + minute) as u16)
    } else {
        Err(ScheduleError::Time {
            context,
            value: format!("{hour:02}:{minute:02}"),
        })
    }
}

/// A weekday mask (bit 0 = Monday) from an optional list; `None` means every day.
fn weekday_mask(days: Option<Vec<chrono::Weekday>>) -> Result<u8, ScheduleError> {
    match days {
        None => Ok(ALL_DAYS),
        Some(days) if days.is_empty() => Err(ScheduleError::NoDays),
        Some(days) => Ok(days
            .iter()
            .fold(0, |mask, d| mask | (1 << d.num_days_from_monday()))),
    }
}
