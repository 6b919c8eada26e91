//! Writing a schedule back out: its canonical text (`Display`, which parses back to an equal
//! schedule) and its description in plain English.

use std::fmt;

use super::calendar::DayRule;
use super::text::{DAY_NAMES, hhmm};
use super::{ALL_DAYS, MINUTES_PER_DAY, Schedule, Spec};

/// Day names for descriptions, Monday first.
const DAY_WORDS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.spec {
            Spec::Cron(text) => f.write_str(text),
            Spec::Macro(name) => f.write_str(name),
            Spec::At { times, days } => {
                f.write_str("at ")?;
                for (i, &t) in times.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(&hhmm(t))?;
                }
                write_days(f, *days)
            }
            Spec::Every {
                step,
                start,
                end,
                days,
            } => {
                if step.is_multiple_of(60) {
                    write!(f, "every {}h", step / 60)?;
                } else {
                    write!(f, "every {step}m")?;
                }
                if *start != 0 || usize::from(*end) != MINUTES_PER_DAY - 1 {
                    write!(f, " between {}-{}", hhmm(*start), hhmm(*end))?;
                }
                write_days(f, *days)
            }
        }
    }
}

impl Schedule {
    /// [`Schedule::describe`]: plain English (croner's words for cron and macros).
    pub(super) fn english(&self) -> String {
        match (&self.0.spec, &self.0.days) {
            (Spec::At { times, days }, _) => {
                let times: Vec<String> = times.iter().map(|&t| hhmm(t)).collect();
                format!("At {}{}.", join_english(&times), describe_days(*days))
            }
            (
                Spec::Every {
                    step,
                    start,
                    end,
                    days,
                },
                _,
            ) => {
                let every = match *step {
                    1 => "Every minute".to_string(),
                    60 => "Every hour".to_string(),
                    s if s.is_multiple_of(60) => format!("Every {} hours", s / 60),
                    s => format!("Every {s} minutes"),
                };
                let window = if *start == 0 && usize::from(*end) == MINUTES_PER_DAY - 1 {
                    if MINUTES_PER_DAY.is_multiple_of(usize::from(*step)) {
                        String::new()
                    } else {
                        ", counted from 00:00 each day".to_string()
                    }
                } else {
                    format!(" from {} through {} each day", hhmm(*start), hhmm(*end))
                };
                format!("{every}{window}{}.", describe_days(*days))
            }
            (_, DayRule::Cron { cron, .. }) => cron.describe().trim().to_string(),
            // A cron or macro spec always has a cron day rule; never reached.
            (_, DayRule::Weekdays(_)) => self.to_string(),
        }
    }
}

/// Runs of consecutive days, Monday first, as inclusive index pairs.
fn day_runs(mask: u8) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for d in (0..7).filter(|d| mask & (1 << d) != 0) {
        match runs.last_mut() {
            Some(run) if run.1 + 1 == d => run.1 = d,
            _ => runs.push((d, d)),
        }
    }
    runs
}

/// ` on mon-fri,sun`, or nothing for every day. Runs of three or more days become ranges.
fn write_days(f: &mut fmt::Formatter<'_>, mask: u8) -> fmt::Result {
    if mask == ALL_DAYS {
        return Ok(());
    }
    let mut items: Vec<String> = Vec::new();
    for (from, to) in day_runs(mask) {
        if to >= from + 2 {
            items.push(format!("{}-{}", DAY_NAMES[from], DAY_NAMES[to]));
        } else {
            items.extend((from..=to).map(|d| DAY_NAMES[d].to_string()));
        }
    }
    write!(f, " on {}", items.join(","))
}

/// `, on Monday through Friday and Sunday`, or nothing for every day.
fn describe_days(mask: u8) -> String {
    if mask == ALL_DAYS {
        return String::new();
    }
    let mut items: Vec<String> = Vec::new();
    for (from, to) in day_runs(mask) {
        if to >= from + 2 {
            items.push(format!("{} through {}", DAY_WORDS[from], DAY_WORDS[to]));
        } else {
            items.extend((from..=to).map(|d| DAY_WORDS[d].to_string()));
        }
    }
    format!(", on {}", join_english(&items))
}

/// `a`, `a and b`, `a, b and c`.
fn join_english(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
