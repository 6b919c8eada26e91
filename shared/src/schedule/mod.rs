//! Schedules: parse a schedule, find its next slot in an IANA time zone, describe it.
//!
//! Pure time logic; nothing here reads the clock.
//!
//! Accepted text forms (keywords are case-insensitive, surrounding whitespace is ignored):
//!
//! * a 5-field cron expression (`minute hour day-of-month month day-of-week`) with croner's
//!   syntax: lists, ranges, steps, `L`, `W`, `#`, `?`, month and day names; day-of-week 0 and 7
//!   are Sunday; day-of-month and day-of-week combine with OR (Vixie cron);
//! * a macro: `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`;
//! * `at HH:MM[,HH:MM...] [on DAYS]`;
//! * `every DURATION [between HH:MM-HH:MM] [on DAYS]`, whole minutes (`15m`, `90m`, `2h`; a
//!   number needs its unit), restarting each day at the window start.
//!
//! # Daylight saving time
//!
//! A schedule yields, for every matching local date, a set of wall-clock minutes. A
//! *fixed-time* schedule (minute and hour are single numbers or lists of numbers; every `at`
//! schedule) runs once per wall time: only at the first occurrence of an ambiguous time, and at
//! the first instant after a spring-forward gap for a time that does not exist. An *interval*
//! schedule (anything else; every `every` schedule) runs at every real instant whose wall clock
//! matches: at both occurrences of an ambiguous time, and never inside a gap.
//!
//! # Layout
//!
//! This file holds the public types and API. The rest, in reading order:
//!
//! * `cron`: cron expressions and macros;
//! * `forms`: the `at ...` and `every ...` forms (times, days, windows, intervals);
//! * `calendar`: what a parsed schedule is made of (the minutes of a day, the rule for which
//!   dates match) and the date arithmetic behind it;
//! * `next`: the next slot, and daylight saving time;
//! * `describe`: the canonical text (`Display`) and the English description;
//! * `text`: the day names and `HH:MM` times that `forms` reads and `describe` writes.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use calendar::{DayRule, MinuteSet};

mod calendar;
mod cron;
mod describe;
mod forms;
mod gap;
mod next;
#[cfg(test)]
mod tests;
mod text;

/// Minutes in a day.
const MINUTES_PER_DAY: usize = 1440;
/// Seconds in a day.
const SECS_PER_DAY: i64 = 86_400;
/// How many days `next_after` looks ahead: a little over 8 years.
const HORIZON_DAYS: i64 = 8 * 366 + 2;
/// Bit mask with all seven weekdays set.
const ALL_DAYS: u8 = 0x7f;
const AT_GRAMMAR: &str = "at HH:MM[,HH:MM...] [on DAYS]";
const EVERY_GRAMMAR: &str = "every DURATION [between HH:MM-HH:MM] [on DAYS]";

/// Why a schedule was rejected. Each message is one line naming the field and what is accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ScheduleError {
    /// Nothing but whitespace.
    #[error(
        "empty schedule: expected a 5-field cron expression (minute hour day-of-month month \
         day-of-week), a macro such as @daily, `{AT_GRAMMAR}` or `{EVERY_GRAMMAR}`"
    )]
    Empty,
    /// A 6- or 7-field cron expression.
    #[error(
        "seconds are not supported: the scheduler runs once a minute; use 5 fields (minute hour \
         day-of-month month day-of-week)"
    )]
    SecondsNotSupported,
    /// A cron expression with a field count other than 5, 6 or 7.
    #[error(
        "cron expression has {given} field{}: expected 5 (minute hour day-of-month month \
         day-of-week)",
        plural(.given)
    )]
    FieldCount {
        /// How many fields were given.
        given: usize,
    },
    /// A cron field croner does not accept.
    #[error("cron {field} field `{value}`: expected {accepted}")]
    CronField {
        /// minute, hour, day-of-month, month or day-of-week.
        field: &'static str,
        /// The field as written.
        value: String,
        /// What the field accepts.
        accepted: &'static str,
    },
    /// croner's `+` prefix, which would switch day-of-month/day-of-week to AND.
    #[error(
        "cron day-of-week field `{0}`: the `+` (AND) prefix is not supported; day-of-month and \
         day-of-week always combine with OR"
    )]
    AndModifier(String),
    /// A cron expression rejected as a whole (no single field is at fault).
    #[error("cron expression `{expr}`: {detail}")]
    Cron {
        /// The expression.
        expr: String,
        /// croner's explanation.
        detail: String,
    },
    /// An `@` word that is not a known macro.
    #[error(
        "unknown macro `{0}`: expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly or \
         @annually"
    )]
    UnknownMacro(String),
    /// A cron expression that matches no date at all.
    #[error("schedule never fires: `{0}` matches no date")]
    NeverFires(String),
    /// A cron expression whose dates are more than 8 years apart.
    #[error(
        "schedule fires too rarely: `{0}` matches no date in the 8 years from 2026-01-01; slots \
         are looked for at most 8 years ahead"
    )]
    TooRare(String),
    /// An `at` or `between` time that is not HH:MM within 00:00-23:59.
    #[error("{context} `{value}`: expected HH:MM from 00:00 to 23:59 (e.g. 8:00, 13:30)")]
    Time {
        /// Where the time appeared, e.g. `at time`.
        context: &'static str,
        /// The time as written.
        value: String,
    },
    /// An unknown day in an `on DAYS` clause.
    #[error(
        "day `{0}`: expected mon, tue, wed, thu, fri, sat or sun, or a range like mon-fri, \
         separated by commas"
    )]
    Day(String),
    /// `on` without days, or an empty day list.
    #[error("`on` needs at least one day: expected mon, tue, wed, thu, fri, sat, sun or a range")]
    NoDays,
    /// An `every` frequency that is not a duration ([`crate::duration`]).
    #[error("every {0}")]
    Duration(#[from] crate::duration::DurationError),
    /// An `every` frequency that is not whole minutes from 1 minute to 24 hours.
    #[error("every interval `{0}`: use whole minutes from 1m to 24h (e.g. 15m, 90m, 2h)")]
    Interval(String),
    /// A `between` window that is malformed or ends before it starts.
    #[error("between window `{0}`: expected HH:MM-HH:MM with the end not before the start")]
    Window(String),
    /// An `at` or `every` schedule that does not follow its grammar.
    #[error("{form} schedule `{text}`: expected `{grammar}`")]
    Syntax {
        /// `at` or `every`.
        form: &'static str,
        /// The schedule as written.
        text: String,
        /// The form's grammar.
        grammar: &'static str,
    },
}

/// The plural suffix for a count.
fn plural(n: &usize) -> &'static str {
    if *n == 1 { "" } else { "s" }
}

/// A validated schedule: cron, macro, `at ...` or `every ...`.
///
/// Cheap to clone (shared, immutable). Two schedules are equal when their canonical texts
/// (`Display`) are equal.
#[derive(Clone)]
pub struct Schedule(Arc<Inner>);

/// The compiled schedule.
struct Inner {
    /// What was written, in canonical form.
    spec: Spec,
    /// Fixed-time (true) or interval (false) DST handling.
    fixed: bool,
    /// Wall-clock minutes of a matching day.
    minutes: MinuteSet,
    /// Which local dates match.
    days: DayRule,
}

/// The canonical form of a schedule.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Spec {
    /// Five upper-case fields separated by single spaces.
    Cron(String),
    /// A macro, lower-case, as entered.
    Macro(&'static str),
    /// Sorted distinct minutes of the day; weekdays, bit 0 = Monday.
    At { times: Vec<u16>, days: u8 },
    /// Every `step` minutes from `start` through `end` (minutes of the day); weekdays.
    Every {
        step: u16,
        start: u16,
        end: u16,
        days: u8,
    },
}

impl Schedule {
    /// The first slot strictly after `after`, in UTC, with the schedule read on the wall clock
    /// of `tz` (see the module docs for DST). `None` if there is none within about 8 years.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.search_next(after, tz)
    }

    /// Plain English, e.g. "At 09:30, on Monday, Tuesday, Wednesday, Thursday, and Friday."
    /// (croner's words for cron and macros).
    pub fn describe(&self) -> String {
        self.english()
    }

    /// True when minute and hour are single values or lists of single values (and for every
    /// `at` schedule): such a schedule runs once per wall time across DST changes.
    pub fn is_fixed_time(&self) -> bool {
        self.0.fixed
    }

    /// `at HH:MM,...` from `(hour, minute)` pairs; `days` `None` means every day.
    pub fn at(
        times: &[(u32, u32)],
        days: Option<Vec<chrono::Weekday>>,
    ) -> Result<Schedule, ScheduleError> {
        forms::at_from_parts(times, days)
    }

    /// `every N m [between ...] [on ...]`: every `minutes` (1-1440) minutes from the window
    /// start (00:00 when `None`) through its end (23:59 when `None`), restarting each day.
    pub fn every(
        minutes: u32,
        between: Option<((u32, u32), (u32, u32))>,
        days: Option<Vec<chrono::Weekday>>,
    ) -> Result<Schedule, ScheduleError> {
        forms::every_from_parts(minutes, between, days)
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with('@') {
            return cron::parse_macro(&lower);
        }
        match lower.split_whitespace().next() {
            Some("at") => forms::parse_at(text, &lower),
            Some("every") => forms::parse_every(text, &lower),
            _ => cron::parse_cron(text).map(|(canonical, inner)| {
                Schedule(Arc::new(Inner {
                    spec: Spec::Cron(canonical),
                    ..inner
                }))
            }),
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schedule").field(&self.to_string()).finish()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.0.spec == other.0.spec
    }
}

impl Eq for Schedule {}

impl Hash for Schedule {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.spec.hash(state);
    }
}

impl serde::Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The most parsed schedules [`Schedule`]'s `Deserialize` keeps; past it the cache starts over.
const PARSED_CACHE_LIMIT: usize = 4096;

impl<'de> serde::Deserialize<'de> for Schedule {
    /// Parses the stored text, remembering the result: every read of a job (each store write
    /// checks the stored job) would otherwise parse its schedule again, about 20 us, most of
    /// the cost of reading a job (`cargo bench -p psu-sched-shared --bench pure -- item`).
    /// A `Schedule` is an `Arc`, so a hit is a clone of a pointer.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        static PARSED: std::sync::OnceLock<std::sync::Mutex<HashMap<String, Schedule>>> =
            std::sync::OnceLock::new();
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let cache = PARSED.get_or_init(Default::default);
        let lock = || {
            cache
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(schedule) = lock().get(text.as_ref()) {
            return Ok(schedule.clone());
        }
        let schedule: Schedule = text.parse().map_err(serde::de::Error::custom)?;
        let mut parsed = lock();
        if parsed.len() >= PARSED_CACHE_LIMIT {
            parsed.clear();
        }
        parsed.insert(text.into_owned(), schedule.clone());
        Ok(schedule)
    }
}
