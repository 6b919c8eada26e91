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

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Minutes in a day.
const MINUTES_PER_DAY: usize = 1440;
/// Seconds in a day.
const SECS_PER_DAY: i64 = 86_400;
/// An upper bound on the magnitude of any UTC offset (real ones stay within 16 hours).
const MAX_OFFSET_SECS: i64 = 16 * 3600;
/// How many days `next_after` looks ahead: a little over 8 years.
const HORIZON_DAYS: i64 = 8 * 366 + 2;
/// Days in a full Gregorian cycle of 400 years.
const GREGORIAN_CYCLE_DAYS: i64 = 146_097;
/// 2026-01-01, the fixed start of the "does it fire within 8 years" check.
const REFERENCE_DAY: i64 = days_from_civil(2026, 1, 1);
/// Bit mask with all seven weekdays set.
const ALL_DAYS: u8 = 0x7f;

const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const FIELD_ACCEPTS: [&str; 5] = [
    "0-59, `*`, a list, a range or a step",
    "0-23, `*`, a list, a range or a step",
    "1-31, `*`, `?`, `L` (last day), `NW` or `LW` (nearest weekday), a list, a range or a step",
    "1-12 or JAN-DEC, `*`, a list, a range or a step",
    "0-7 (0 and 7 are Sunday) or SUN-SAT, `*`, `?`, `N#K` (K-th such weekday, 1-5), `NL` \
     (last such weekday), a list, a range or a step",
];
const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// Cron day names, Sunday first (cron numbering).
const CRON_DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/// Day names of the `on DAYS` clause, Monday first.
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_WORDS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MACROS: [(&str, &str); 7] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];
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

/// Which local dates a schedule runs on.
enum DayRule {
    /// Weekday mask, bit 0 = Monday.
    Weekdays(u8),
    /// A cron pattern's day-of-month, month and day-of-week fields.
    Cron {
        /// Bit m set when month m (1-12) matches.
        months: u16,
        /// Both day fields are `*`: every day of a matching month matches.
        every_day: bool,
        cron: Box<Cron>,
    },
}

/// The outcome of checking one day.
enum DayCheck {
    Match,
    /// No match; the next day worth checking.
    SkipTo(i64),
}

impl DayRule {
    /// Checks the local date `day` (days since 1970-01-01).
    fn check(&self, day: i64) -> DayCheck {
        match self {
            DayRule::Weekdays(mask) => {
                if *mask == ALL_DAYS || mask & (1 << weekday_from_monday(day)) != 0 {
                    DayCheck::Match
                } else {
                    DayCheck::SkipTo(day + 1)
                }
            }
            DayRule::Cron {
                months,
                every_day,
                cron,
            } => {
                let (year, month, dom) = civil_from_days(day);
                if months & (1 << month) == 0 {
                    let rest = i64::from(days_in_month(year, month) - dom);
                    return DayCheck::SkipTo(day + rest + 1);
                }
                if *every_day {
                    return DayCheck::Match;
                }
                let Ok(year) = i32::try_from(year) else {
                    return DayCheck::SkipTo(day + 1);
                };
                let weekday = croner::Weekday::from_days_from_sunday(weekday_from_sunday(day));
                if cron
                    .pattern
                    .day_match(year, month, dom, weekday)
                    .unwrap_or(false)
                {
                    DayCheck::Match
                } else {
                    DayCheck::SkipTo(day + 1)
                }
            }
        }
    }

    /// The first matching day in `[from, from + count)`.
    fn first_match(&self, from: i64, count: i64) -> Option<i64> {
        let mut day = from;
        while day < from + count {
            match self.check(day) {
                DayCheck::Match => return Some(day),
                DayCheck::SkipTo(next) => day = next,
            }
        }
        None
    }
}

/// A set of minutes of the day, as a 1440-bit bitset.
#[derive(Clone, Copy, PartialEq, Eq)]
struct MinuteSet([u64; 23]);

impl MinuteSet {
    const EMPTY: MinuteSet = MinuteSet([0; 23]);

    fn insert(&mut self, minute: usize) {
        if minute < MINUTES_PER_DAY {
            self.0[minute / 64] |= 1 << (minute % 64);
        }
    }

    /// The first minute in the set within `[from, to)`.
    fn next_in(&self, from: usize, to: usize) -> Option<usize> {
        let to = to.min(MINUTES_PER_DAY);
        if from >= to {
            return None;
        }
        let mut word = from / 64;
        let mut bits = self.0[word] & (u64::MAX << (from % 64));
        loop {
            if bits != 0 {
                let minute = word * 64 + bits.trailing_zeros() as usize;
                return (minute < to).then_some(minute);
            }
            word += 1;
            if word * 64 >= to {
                return None;
            }
            bits = self.0[word];
        }
    }
}

impl Schedule {
    /// The first slot strictly after `after`, in UTC, with the schedule read on the wall clock
    /// of `tz` (see the module docs for DST). `None` if there is none within about 8 years.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // Slots fall on whole seconds, so `slot > after` is `slot > after.timestamp()`.
        let a = after.timestamp();
        let local_day = (a + offset_at(tz, a)?).div_euclid(SECS_PER_DAY);
        let mut day = local_day - 1;
        let last = day + HORIZON_DAYS;
        let mut best: Option<i64> = None;
        while day <= last {
            if let Some(b) = best
                && day * SECS_PER_DAY - MAX_OFFSET_SECS > b
            {
                // Every instant of this and later days is later than `b`.
                break;
            }
            match self.0.days.check(day) {
                DayCheck::SkipTo(next) => day = next,
                DayCheck::Match => {
                    let (candidate, stable) = self.first_on_day(day, a, tz)?;
                    if let Some(c) = candidate {
                        let c = best.map_or(c, |b| b.min(c));
                        if stable {
                            // No offset change near this day: later days only map later.
                            return DateTime::from_timestamp(c, 0);
                        }
                        best = Some(c);
                    }
                    day += 1;
                }
            }
        }
        best.and_then(|b| DateTime::from_timestamp(b, 0))
    }

    /// Plain English, e.g. "At 09:30, on Monday, Tuesday, Wednesday, Thursday, and Friday."
    /// (croner's words for cron and macros).
    pub fn describe(&self) -> String {
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

    /// `every N m [between ...] [on ...]`: every `minutes` (1-1440) minutes from the window
    /// start (00:00 when `None`) through its end (23:59 when `None`), restarting each day.
    pub fn every(
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

    /// The earliest slot of local date `day` later than `a` (seconds), and whether the UTC
    /// offset is constant around the day. `None` when out of chrono's range.
    fn first_on_day(&self, day: i64, a: i64, tz: Tz) -> Option<(Option<i64>, bool)> {
        let ds = day * SECS_PER_DAY;
        let lo = ds - MAX_OFFSET_SECS;
        let hi = ds + SECS_PER_DAY + MAX_OFFSET_SECS;
        let off_lo = offset_at(tz, lo)?;
        let off_hi = offset_at(tz, hi)?;
        let all = MINUTES_PER_DAY as i64;
        if off_lo == off_hi {
            return Some((self.first_in_piece(ds, a, 0, all, off_lo), true));
        }
        // Find the transition instant: the first second with the new offset.
        let (mut before, mut after) = (lo, hi);
        while after - before > 1 {
            let mid = before + (after - before) / 2;
            if offset_at(tz, mid)? == off_lo {
                before = mid;
            } else {
                after = mid;
            }
        }
        let t = after;
        if offset_at(tz, t)? != off_hi {
            // More than one transition near this day: resolve minute by minute.
            return Some((self.enumerate_day(day, a, tz), false));
        }
        // Wall minutes m < end_a exist with the old offset; m >= start_b with the new one.
        let end_a = (t + off_lo - ds).div_euclid(60) + i64::from((t + off_lo - ds) % 60 != 0);
        let start_b = (t + off_hi - ds).div_euclid(60) + i64::from((t + off_hi - ds) % 60 != 0);
        let mut best = self.first_in_piece(ds, a, 0, end_a, off_lo);
        let piece_b_from = if off_hi > off_lo {
            // Spring forward: minutes in [end_a, start_b) do not exist.
            if self.0.fixed && self.any_in(end_a, start_b) {
                // They run once, at the first wall minute after the gap.
                let shifted = ds + 60 * start_b - off_hi;
                if shifted > a {
                    best = min_opt(best, Some(shifted));
                }
            }
            start_b
        } else if self.0.fixed {
            // Fall back: minutes in [start_b, end_a) occur twice; fixed-time takes the first.
            start_b.max(end_a)
        } else {
            start_b
        };
        let b = self.first_in_piece(ds, a, piece_b_from, all, off_hi);
        Some((min_opt(best, b), false))
    }

    /// Whether any minute of the set lies in `[from, to)` (bounds clamped to the day).
    fn any_in(&self, from: i64, to: i64) -> bool {
        let (from, to) = (clamp_minute(from), clamp_minute(to));
        self.0.minutes.next_in(from, to).is_some()
    }

    /// The earliest instant later than `a` among the minutes in `[from, to)` of the day
    /// starting at `ds` (local seconds), mapped with the constant offset `off`.
    fn first_in_piece(&self, ds: i64, a: i64, from: i64, to: i64, off: i64) -> Option<i64> {
        // ds + 60 m - off > a  <=>  60 m > a - ds + off
        let x = a - ds + off;
        let m_min = if x < 0 { 0 } else { x / 60 + 1 };
        let from = clamp_minute(from.max(m_min));
        let m = self.0.minutes.next_in(from, clamp_minute(to))?;
        Some(ds + 60 * m as i64 - off)
    }

    /// The slow, general path: resolve each minute of the day with chrono-tz.
    fn enumerate_day(&self, day: i64, a: i64, tz: Tz) -> Option<i64> {
        let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + 719_163).ok()?)?;
        let midnight = date.and_time(NaiveTime::MIN);
        let mut best = None;
        let mut consider = |t: i64| {
            if t > a {
                best = min_opt(best, Some(t));
            }
        };
        let mut from = 0;
        while let Some(m) = self.0.minutes.next_in(from, MINUTES_PER_DAY) {
            from = m + 1;
            let wall = midnight + TimeDelta::minutes(m as i64);
            match tz.from_local_datetime(&wall) {
                LocalResult::Single(t) => consider(t.timestamp()),
                LocalResult::Ambiguous(x, y) => {
                    consider(x.timestamp().min(y.timestamp()));
                    if !self.0.fixed {
                        consider(x.timestamp().max(y.timestamp()));
                    }
                }
                LocalResult::None if self.0.fixed => {
                    // The first wall minute after the gap that exists.
                    let mut w = wall;
                    for _ in 0..2 * MINUTES_PER_DAY {
                        w += TimeDelta::minutes(1);
                        match tz.from_local_datetime(&w) {
                            LocalResult::Single(t) => {
                                consider(t.timestamp());
                                break;
                            }
                            LocalResult::Ambiguous(x, y) => {
                                consider(x.timestamp().min(y.timestamp()));
                                break;
                            }
                            LocalResult::None => {}
                        }
                    }
                }
                LocalResult::None => {}
            }
        }
        best
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
            return parse_macro(&lower);
        }
        match lower.split_whitespace().next() {
            Some("at") => parse_at(text, &lower),
            Some("every") => parse_every(text, &lower),
            _ => parse_cron(text).map(|(canonical, inner)| {
                Schedule(Arc::new(Inner {
                    spec: Spec::Cron(canonical),
                    ..inner
                }))
            }),
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// Parsing

/// The plural suffix for a count.
fn plural(n: &usize) -> &'static str {
    if *n == 1 { "" } else { "s" }
}

fn parse_macro(lower: &str) -> Result<Schedule, ScheduleError> {
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
fn parse_cron(text: &str) -> Result<(String, Inner), ScheduleError> {
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
    if days.first_match(REFERENCE_DAY, HORIZON_DAYS).is_none() {
        return Err(
            if days
                .first_match(REFERENCE_DAY, GREGORIAN_CYCLE_DAYS)
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

fn parse_at(text: &str, lower: &str) -> Result<Schedule, ScheduleError> {
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

fn parse_every(text: &str, lower: &str) -> Result<Schedule, ScheduleError> {
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

// ---------------------------------------------------------------------------------------------
// Formatting

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
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

// ---------------------------------------------------------------------------------------------
// Time arithmetic

/// The UTC offset of `tz` at Unix time `t`, in seconds. `None` outside chrono's range.
fn offset_at(tz: Tz, t: i64) -> Option<i64> {
    let utc = DateTime::from_timestamp(t, 0)?.naive_utc();
    Some(i64::from(
        tz.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
    ))
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A minute index clamped to `0..=1440`.
fn clamp_minute(m: i64) -> usize {
    // Clamped to 0..=1440 first, so the conversion cannot fail.
    usize::try_from(m.clamp(0, MINUTES_PER_DAY as i64)).unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) `days` days after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// 0 = Sunday.
fn weekday_from_sunday(days: i64) -> u32 {
    // 1970-01-01 was a Thursday; rem_euclid(7) is in 0..7.
    (days + 4).rem_euclid(7) as u32
}

/// 0 = Monday.
fn weekday_from_monday(days: i64) -> u32 {
    (days + 3).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use chrono::{Datelike, NaiveDateTime, Timelike, Weekday};
    use chrono_tz::America::Los_Angeles;
    use chrono_tz::Australia::Lord_Howe;
    use chrono_tz::Europe::London;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn sched(text: &str) -> Schedule {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> String {
        match text.parse::<Schedule>() {
            Ok(s) => panic!("{text} parsed as {s}"),
            Err(e) => e.to_string(),
        }
    }

    /// The slots in `(from, until]`, by iterating `next_after`, as `MM-DDTHH:MMZ`.
    fn slots(schedule: &Schedule, tz: Tz, from: &str, until: &str) -> Vec<String> {
        let until = utc(until);
        let mut out = Vec::new();
        let mut t = utc(from);
        while let Some(next) = schedule.next_after(t, tz) {
            if next > until {
                break;
            }
            assert!(next > t, "{schedule}: {next} is not after {t}");
            out.push(next.format("%m-%dT%H:%MZ").to_string());
            t = next;
        }
        out
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    // ---- DST in America/Los_Angeles ------------------------------------------------------

    #[test]
    fn a_fixed_time_in_the_spring_forward_gap_runs_once_at_the_first_instant_after_it() {
        let s = sched("30 2 * * *");
        assert_eq!(
            slots(
                &s,
                Los_Angeles,
                "2026-03-07T00:00:00Z",
                "2026-03-10T00:00:00Z"
            ),
            strings(&["03-07T10:30Z", "03-08T10:00Z", "03-09T09:30Z"])
        );
    }

    #[test]
    fn a_fixed_time_in_the_fall_back_overlap_runs_once_at_its_first_occurrence() {
        let s = sched("30 1 * * *");
        assert_eq!(
            slots(
                &s,
                Los_Angeles,
                "2026-10-31T00:00:00Z",
                "2026-11-03T00:00:00Z"
            ),
            strings(&["10-31T08:30Z", "11-01T08:30Z", "11-02T09:30Z"])
        );
    }

    #[test]
    fn a_list_of_hours_and_an_at_schedule_run_once_per_wall_time_on_the_fall_back_day() {
        let expected = strings(&[
            "10-31T08:30Z",
            "10-31T20:30Z",
            "11-01T08:30Z",
            "11-01T21:30Z",
            "11-02T09:30Z",
            "11-02T21:30Z",
        ]);
        for text in ["30 1,13 * * *", "at 01:30,13:30"] {
            let s = sched(text);
            assert!(s.is_fixed_time(), "{text}");
            assert_eq!(
                slots(
                    &s,
                    Los_Angeles,
                    "2026-10-31T00:00:00Z",
                    "2026-11-03T00:00:00Z"
                ),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn an_hourly_schedule_runs_at_both_one_oclocks_when_clocks_fall_back() {
        let s = sched("0 * * * *");
        assert!(!s.is_fixed_time());
        assert_eq!(
            slots(
                &s,
                Los_Angeles,
                "2026-11-01T06:30:00Z",
                "2026-11-01T10:30:00Z"
            ),
            strings(&[
                "11-01T07:00Z",
                "11-01T08:00Z",
                "11-01T09:00Z",
                "11-01T10:00Z"
            ])
        );
    }

    #[test]
    fn an_hourly_schedule_has_no_two_oclock_slot_when_clocks_spring_forward() {
        let s = sched("0 * * * *");
        let got = slots(
            &s,
            Los_Angeles,
            "2026-03-08T07:30:00Z",
            "2026-03-08T11:30:00Z",
        );
        assert_eq!(
            got,
            strings(&[
                "03-08T08:00Z",
                "03-08T09:00Z",
                "03-08T10:00Z",
                "03-08T11:00Z"
            ])
        );
        let walls: Vec<String> = ["2026-03-08T08:00:00Z", "2026-03-08T10:00:00Z"]
            .iter()
            .map(|t| {
                utc(t)
                    .with_timezone(&Los_Angeles)
                    .format("%H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(walls, ["00:00", "03:00"]);
    }

    #[test]
    fn every_fifteen_minutes_runs_every_real_quarter_hour_across_both_transitions() {
        let s = sched("*/15 * * * *");
        for (from, until, short_day, long_day) in [
            (
                "2026-03-07T00:00:00Z",
                "2026-03-10T00:00:00Z",
                "2026-03-08",
                None,
            ),
            (
                "2026-10-31T00:00:00Z",
                "2026-11-03T00:00:00Z",
                "",
                Some("2026-11-01"),
            ),
        ] {
            let mut t = utc(from);
            let mut per_day = std::collections::BTreeMap::<String, usize>::new();
            while let Some(next) = s.next_after(t, Los_Angeles) {
                if next > utc(until) {
                    break;
                }
                assert_eq!(next - t, TimeDelta::minutes(15).max(next - t));
                if t > utc(from) {
                    assert_eq!(next - t, TimeDelta::minutes(15), "after {t}");
                }
                let local = next.with_timezone(&Los_Angeles).date_naive().to_string();
                *per_day.entry(local).or_default() += 1;
                t = next;
            }
            if !short_day.is_empty() {
                assert_eq!(per_day[short_day], 92);
            }
            if let Some(day) = long_day {
                assert_eq!(per_day[day], 100);
            }
        }
        // The quarter hours around the gap and the overlap.
        assert_eq!(
            slots(
                &s,
                Los_Angeles,
                "2026-03-08T09:30:00Z",
                "2026-03-08T10:15:00Z"
            ),
            strings(&["03-08T09:45Z", "03-08T10:00Z", "03-08T10:15Z"])
        );
        assert_eq!(
            slots(
                &s,
                Los_Angeles,
                "2026-11-01T08:30:00Z",
                "2026-11-01T09:15:00Z"
            ),
            strings(&["11-01T08:45Z", "11-01T09:00Z", "11-01T09:15Z"])
        );
    }

    #[test]
    fn a_gap_shifted_slot_and_a_real_three_oclock_slot_are_one_slot() {
        let s = sched("30 2 * * *");
        let both = sched("30 2,3 * * *");
        assert_eq!(
            slots(
                &both,
                Los_Angeles,
                "2026-03-08T00:00:00Z",
                "2026-03-08T23:00:00Z"
            ),
            strings(&["03-08T10:00Z", "03-08T10:30Z"])
        );
        let three = sched("0 2,3 * * *");
        assert_eq!(
            slots(
                &three,
                Los_Angeles,
                "2026-03-08T00:00:00Z",
                "2026-03-08T23:00:00Z"
            ),
            strings(&["03-08T10:00Z"])
        );
        assert_eq!(
            s.next_after(utc("2026-03-08T09:59:59.5Z"), Los_Angeles),
            Some(utc("2026-03-08T10:00:00Z"))
        );
    }

    // ---- A reference matcher, independent of croner -----------------------------------------

    /// A schedule as the reference understands it.
    struct Reference {
        /// Wall minutes of a matching day.
        minutes: Vec<bool>,
        day: Box<dyn Fn(NaiveDate) -> bool>,
        fixed: bool,
    }

    /// Values of one simple cron field: lists of `*`, `a`, `a-b`, each optionally `/step`.
    fn ref_field(text: &str, min: u32, max: u32, names: &[&str], name_base: u32) -> Vec<u32> {
        let value = |s: &str| -> u32 {
            let upper = s.to_uppercase();
            match names.iter().position(|n| *n == upper) {
                Some(i) => name_base + i as u32,
                None => s
                    .parse()
                    .unwrap_or_else(|_| panic!("reference cannot read `{s}`")),
            }
        };
        let mut out = Vec::new();
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, s.parse::<usize>().unwrap()),
                None => (part, 1),
            };
            let (lo, hi) = if range == "*" {
                (min, max)
            } else if let Some((a, b)) = range.split_once('-') {
                (value(a), value(b))
            } else {
                (value(range), value(range))
            };
            out.extend((lo..=hi).step_by(step));
        }
        out
    }

    fn ref_cron(expr: &str) -> Reference {
        let f: Vec<&str> = expr.split_whitespace().collect();
        assert_eq!(f.len(), 5);
        let mins = ref_field(f[0], 0, 59, &[], 0);
        let hours = ref_field(f[1], 0, 23, &[], 0);
        let mut minutes = vec![false; 1440];
        for h in &hours {
            for m in &mins {
                minutes[(h * 60 + m) as usize] = true;
            }
        }
        let doms: HashSet<u32> = ref_field(f[2], 1, 31, &[], 0).into_iter().collect();
        let months: HashSet<u32> = ref_field(f[3], 1, 12, &MONTH_NAMES, 1)
            .into_iter()
            .collect();
        let dows: HashSet<u32> = ref_field(f[4], 0, 7, &CRON_DAY_NAMES, 0)
            .into_iter()
            .map(|d| d % 7)
            .collect();
        let (dom_star, dow_star) = (f[2] == "*", f[4] == "*");
        let plain = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == ',');
        Reference {
            minutes,
            fixed: plain(f[0]) && plain(f[1]),
            day: Box::new(move |d: NaiveDate| {
                let dom = doms.contains(&d.day());
                let dow = dows.contains(&d.weekday().num_days_from_sunday());
                months.contains(&d.month())
                    && match (dom_star, dow_star) {
                        (true, true) => true,
                        (true, false) => dow,
                        (false, true) => dom,
                        (false, false) => dom || dow,
                    }
            }),
        }
    }

    fn ref_weekly(minutes_of_day: &[u32], days: &[Weekday], fixed: bool) -> Reference {
        let mut minutes = vec![false; 1440];
        for &m in minutes_of_day {
            minutes[m as usize] = true;
        }
        let days: Vec<Weekday> = days.to_vec();
        Reference {
            minutes,
            fixed,
            day: Box::new(move |d: NaiveDate| days.contains(&d.weekday())),
        }
    }

    /// A real instant, its wall clock, and the wall clock one sweep step earlier.
    type Wall = (i64, NaiveDateTime, NaiveDateTime);

    /// Every slot among `walls` (real instants in order, `step` seconds apart, except that
    /// instants off the whole wall minute may be left out), applying the DST rules directly.
    fn ref_slots(r: &Reference, walls: &[Wall], step: i64) -> Vec<i64> {
        let whole_minute = |w: NaiveDateTime| w.second() == 0;
        let matches = |w: NaiveDateTime| {
            whole_minute(w) && r.minutes[(w.hour() * 60 + w.minute()) as usize] && (r.day)(w.date())
        };
        let mut seen: HashSet<NaiveDateTime> = HashSet::new();
        let mut out = BTreeSet::new();
        // Wall minutes skipped by a gap run once, at the first whole wall minute after it.
        let mut skipped = false;
        for &(t, wall, p) in walls {
            if r.fixed && wall - p > TimeDelta::seconds(step) {
                let mut w = p.with_second(0).unwrap() + TimeDelta::minutes(1);
                while w < wall {
                    skipped |= matches(w) && seen.insert(w);
                    w += TimeDelta::minutes(1);
                }
            }
            if skipped && whole_minute(wall) {
                out.insert(t);
                skipped = false;
            }
            if matches(wall) && (!r.fixed || seen.insert(wall)) {
                out.insert(t);
            }
        }
        out.into_iter().collect()
    }

    /// Every `step` seconds in `[from, to)` with its wall clock in `tz`, keeping only instants
    /// on a whole wall minute or just after a jump of the clock.
    fn walls(tz: Tz, from: i64, to: i64, step: i64) -> Vec<Wall> {
        let wall = |t: i64| {
            DateTime::from_timestamp(t, 0)
                .unwrap()
                .with_timezone(&tz)
                .naive_local()
        };
        let mut prev = wall(from - step);
        let mut out = Vec::new();
        for t in (from..to).step_by(step as usize) {
            let w = wall(t);
            if w.second() == 0 || w - prev != TimeDelta::seconds(step) {
                out.push((t, w, prev));
            }
            prev = w;
        }
        out
    }

    /// Compares `next_after` with the reference over `[from, to)` (Unix seconds); `walls`
    /// (`step` seconds apart) cover a few more days on each side.
    fn compare(
        s: &Schedule,
        r: &Reference,
        tz: Tz,
        (walls, step): (&[Wall], i64),
        (from, to): (i64, i64),
    ) -> usize {
        let sweep_to = walls.last().map_or(to, |w| w.0 + step);
        let expected = ref_slots(r, walls, step);
        let mut checks = 0;
        let mut check = |after: DateTime<Utc>| {
            let i = expected.partition_point(|&e| e <= after.timestamp());
            let got = s.next_after(after, tz).map(|g| g.timestamp());
            match expected.get(i) {
                Some(&e) => assert_eq!(
                    got,
                    Some(e),
                    "{s} in {tz} after {after}: expected {}",
                    DateTime::from_timestamp(e, 0).unwrap()
                ),
                None => assert!(
                    got.is_none_or(|g| g >= sweep_to),
                    "{s} in {tz} after {after}"
                ),
            }
            checks += 1;
        };
        // Every slot in the window, from the instant before it and from the slot itself.
        for &e in expected.iter().filter(|&&e| e >= from && e < to) {
            check(DateTime::from_timestamp(e - 1, 0).unwrap());
            check(DateTime::from_timestamp(e, 0).unwrap());
        }
        // And arbitrary instants, with a fraction of a second.
        let mut t = from;
        while t < to {
            check(DateTime::from_timestamp(t, 250_000_000).unwrap());
            t += 11 * 60 + 7;
        }
        checks
    }

    /// Compares a dozen cron expressions and three old-form schedules with the reference in
    /// `tz` over windows of `half_width` days either side of each of `centres`, sweeping real
    /// time `step` seconds at a time.
    fn agrees_with_the_reference(tz: Tz, centres: &[&str], half_width: i64, step: i64) {
        let exprs = [
            // Fixed-time.
            "30 2 * * *",
            "30 1 * * *",
            "30 1,13 * * *",
            "0,30 0,1,2,3 * * *",
            "45 23 * * *",
            "0 2 1,15 * SUN",
            "15 9 * * MON-FRI",
            // Interval.
            "*/15 * * * *",
            "0 * * * *",
            "*/7 1-3 * * *",
            "10-20/5 0-4 * * *",
            "30 */2 * * *",
            "* 2 * * SAT,SUN",
            "0 0-23/3 * MAR,APR,OCT,NOV *",
        ];
        let mut cases: Vec<(Schedule, Reference)> =
            exprs.iter().map(|e| (sched(e), ref_cron(e))).collect();
        use Weekday::*;
        cases.push((
            sched("at 01:30,02:15,13:00 on mon-fri,sun"),
            ref_weekly(&[90, 135, 780], &[Mon, Tue, Wed, Thu, Fri, Sun], true),
        ));
        let every25: Vec<u32> = (40..=190).step_by(25).collect();
        cases.push((
            sched("every 25m between 00:40-03:10"),
            ref_weekly(&every25, &[Mon, Tue, Wed, Thu, Fri, Sat, Sun], false),
        ));
        let every90: Vec<u32> = (0..1440).step_by(90).collect();
        cases.push((
            sched("every 90m on sat,sun"),
            ref_weekly(&every90, &[Sat, Sun], false),
        ));
        for (s, r) in &cases {
            assert_eq!(s.is_fixed_time(), r.fixed, "{s}");
        }

        let mut checks = 0;
        for centre in centres {
            let centre = utc(&format!("{centre}T00:00:00Z")).timestamp();
            let (from, to) = (
                centre - half_width * SECS_PER_DAY,
                centre + half_width * SECS_PER_DAY,
            );
            let margin = 2 * SECS_PER_DAY;
            let walls = walls(tz, from - margin, to + margin, step);
            for (s, r) in &cases {
                checks += compare(s, r, tz, (&walls, step), (from, to));
            }
        }
        assert!(
            checks as i64 > 500 * half_width * centres.len() as i64,
            "{checks}"
        );
    }

    #[test]
    fn next_after_agrees_with_a_brute_force_reference_in_los_angeles() {
        agrees_with_the_reference(Los_Angeles, &["2026-03-08", "2026-11-01"], 16, 60);
    }

    #[test]
    fn next_after_agrees_with_a_brute_force_reference_in_london() {
        agrees_with_the_reference(London, &["2026-03-29", "2026-10-25"], 16, 60);
    }

    #[test]
    fn next_after_agrees_with_a_brute_force_reference_on_lord_howe_island() {
        // DST there moves the clock by 30 minutes.
        agrees_with_the_reference(Lord_Howe, &["2026-04-05", "2026-10-04"], 16, 60);
    }

    #[test]
    fn next_after_agrees_with_a_brute_force_reference_in_utc() {
        agrees_with_the_reference(chrono_tz::UTC, &["2026-06-15"], 16, 60);
    }

    #[test]
    fn next_after_agrees_with_the_reference_when_samoa_skipped_a_whole_day() {
        // 2011-12-30 does not exist in Pacific/Apia: the clock went from -10 to +14.
        agrees_with_the_reference(chrono_tz::Pacific::Apia, &["2011-12-30"], 5, 60);
        let s = sched("0 12 * * *");
        assert_eq!(
            slots(
                &s,
                chrono_tz::Pacific::Apia,
                "2011-12-29T00:00:00Z",
                "2011-12-31T00:00:00Z"
            ),
            strings(&["12-29T22:00Z", "12-30T10:00Z", "12-30T22:00Z"])
        );
    }

    #[test]
    fn next_after_agrees_with_the_reference_when_alaska_repeated_a_whole_day() {
        // In 1867 Sitka went from +14:58:47 to -09:01:13, living October 18th twice; offsets
        // with seconds need a second-by-second sweep.
        agrees_with_the_reference(chrono_tz::America::Sitka, &["1867-10-19"], 1, 1);
    }

    #[test]
    fn next_after_agrees_with_the_reference_when_manila_skipped_a_whole_day() {
        // Manila skipped 1844-12-31, going from -15:56:08 to +08:03:52.
        agrees_with_the_reference(chrono_tz::Asia::Manila, &["1845-01-01"], 1, 1);
    }

    #[test]
    fn the_general_minute_by_minute_path_agrees_with_the_fast_transition_path() {
        let exprs = [
            "30 2 * * *",
            "30 1,13 * * *",
            "*/15 * * * *",
            "0 * * * *",
            "* 1-2 * * *",
        ];
        let days = [
            (Los_Angeles, "2026-03-08"),
            (Los_Angeles, "2026-11-01"),
            (London, "2026-03-29"),
            (London, "2026-10-25"),
            (Lord_Howe, "2026-04-05"),
            (Lord_Howe, "2026-10-04"),
        ];
        for expr in exprs {
            let s = sched(expr);
            for (tz, date) in days {
                let start = utc(&format!("{date}T00:00:00Z")).timestamp();
                let day = start / SECS_PER_DAY;
                let mut a = start - SECS_PER_DAY;
                while a < start + 2 * SECS_PER_DAY {
                    let (fast, stable) = s.first_on_day(day, a, tz).unwrap();
                    assert!(!stable, "{date} in {tz}");
                    assert_eq!(fast, s.enumerate_day(day, a, tz), "{expr} {tz} {date} {a}");
                    a += 7 * 60;
                }
            }
        }
    }

    // ---- Day-of-month and day-of-week features ---------------------------------------------

    fn utc_slots(text: &str, from: &str, count: usize) -> Vec<String> {
        let s = sched(text);
        let mut t = utc(from);
        (0..count)
            .map(|_| {
                t = s.next_after(t, chrono_tz::UTC).unwrap();
                t.format("%Y-%m-%d %H:%M").to_string()
            })
            .collect()
    }

    #[test]
    fn a_hash_picks_the_nth_weekday_of_the_month() {
        assert_eq!(
            utc_slots("0 9 * * 5#2", "2026-01-01T00:00:00Z", 3),
            ["2026-01-09 09:00", "2026-02-13 09:00", "2026-03-13 09:00"]
        );
    }

    #[test]
    fn l_in_day_of_month_is_the_last_day_and_in_day_of_week_the_last_such_weekday() {
        assert_eq!(
            utc_slots("0 9 L * *", "2026-01-01T00:00:00Z", 3),
            ["2026-01-31 09:00", "2026-02-28 09:00", "2026-03-31 09:00"]
        );
        assert_eq!(
            utc_slots("0 9 * * 5L", "2026-01-01T00:00:00Z", 3),
            ["2026-01-30 09:00", "2026-02-27 09:00", "2026-03-27 09:00"]
        );
    }

    #[test]
    fn w_picks_the_nearest_weekday() {
        assert_eq!(
            utc_slots("0 9 15W * *", "2026-01-01T00:00:00Z", 3),
            ["2026-01-15 09:00", "2026-02-16 09:00", "2026-03-16 09:00"]
        );
        assert_eq!(
            utc_slots("0 9 15W * *", "2026-08-01T00:00:00Z", 1),
            ["2026-08-14 09:00"]
        );
        assert_eq!(
            utc_slots("0 9 LW * *", "2026-01-01T00:00:00Z", 3),
            ["2026-01-30 09:00", "2026-02-27 09:00", "2026-03-31 09:00"]
        );
    }

    #[test]
    fn day_and_month_names_work_in_any_case_and_seven_is_sunday() {
        assert_eq!(
            utc_slots("0 9 * JAN,jun Mon", "2026-01-20T00:00:00Z", 3),
            ["2026-01-26 09:00", "2026-06-01 09:00", "2026-06-08 09:00"]
        );
        assert_eq!(
            utc_slots("0 0 * * 7", "2026-01-01T00:00:00Z", 1),
            ["2026-01-04 00:00"]
        );
        assert_eq!(
            utc_slots("0 0 * * fri-sun", "2026-01-01T00:00:00Z", 4),
            [
                "2026-01-02 00:00",
                "2026-01-03 00:00",
                "2026-01-04 00:00",
                "2026-01-09 00:00"
            ]
        );
        assert_eq!(sched("0 9 * jan,jun mon").to_string(), "0 9 * JAN,JUN MON");
    }

    #[test]
    fn day_of_month_and_day_of_week_combine_with_or() {
        assert_eq!(
            utc_slots("0 9 13 * FRI", "2026-01-01T00:00:00Z", 4),
            [
                "2026-01-02 09:00",
                "2026-01-09 09:00",
                "2026-01-13 09:00",
                "2026-01-16 09:00"
            ]
        );
    }

    #[test]
    fn macros_expand_to_cron_and_keep_their_name() {
        let from = "2026-01-01T10:00:00Z";
        for (text, shown, fixed, next) in [
            ("@hourly", "@hourly", false, "2026-01-01 11:00"),
            ("@DAILY", "@daily", true, "2026-01-02 00:00"),
            ("@midnight", "@midnight", true, "2026-01-02 00:00"),
            ("@weekly", "@weekly", true, "2026-01-04 00:00"),
            ("@monthly", "@monthly", true, "2026-02-01 00:00"),
            ("@yearly", "@yearly", true, "2027-01-01 00:00"),
            (" @Annually ", "@annually", true, "2027-01-01 00:00"),
        ] {
            let s = sched(text);
            assert_eq!(s.to_string(), shown);
            assert_eq!(s.is_fixed_time(), fixed, "{text}");
            assert_eq!(utc_slots(text, from, 1), [next], "{text}");
        }
        assert_eq!(sched("@daily").describe(), sched("0 0 * * *").describe());
        assert_eq!(
            err("@fortnightly"),
            "unknown macro `@fortnightly`: expected @hourly, @daily, @midnight, @weekly, \
             @monthly, @yearly or @annually"
        );
    }

    // ---- The old app's forms ------------------------------------------------------------------

    #[test]
    fn at_runs_at_each_time_on_the_listed_days() {
        // 2026-01-01 is a Thursday.
        assert_eq!(
            utc_slots("at 13:30,08:00 on mon,wed", "2026-01-01T00:00:00Z", 5),
            [
                "2026-01-05 08:00",
                "2026-01-05 13:30",
                "2026-01-07 08:00",
                "2026-01-07 13:30",
                "2026-01-12 08:00"
            ]
        );
        assert_eq!(
            utc_slots("AT 8:00", "2026-01-01T09:00:00Z", 2),
            ["2026-01-02 08:00", "2026-01-03 08:00"]
        );
        assert_eq!(
            utc_slots("at 23:00 on fri-mon", "2026-01-01T00:00:00Z", 5),
            [
                "2026-01-02 23:00",
                "2026-01-03 23:00",
                "2026-01-04 23:00",
                "2026-01-05 23:00",
                "2026-01-09 23:00"
            ]
        );
    }

    #[test]
    fn every_restarts_each_day_at_the_window_start() {
        assert_eq!(
            utc_slots("every 90m between 08:00-17:00", "2026-01-01T00:00:00Z", 9),
            [
                "2026-01-01 08:00",
                "2026-01-01 09:30",
                "2026-01-01 11:00",
                "2026-01-01 12:30",
                "2026-01-01 14:00",
                "2026-01-01 15:30",
                "2026-01-01 17:00",
                "2026-01-02 08:00",
                "2026-01-02 09:30"
            ]
        );
        assert_eq!(
            utc_slots("every 7h", "2026-01-01T00:00:00Z", 5),
            [
                "2026-01-01 07:00",
                "2026-01-01 14:00",
                "2026-01-01 21:00",
                "2026-01-02 00:00",
                "2026-01-02 07:00"
            ]
        );
        assert_eq!(
            utc_slots(
                "every 2h between 9:00 - 12:59 on sat",
                "2026-01-01T00:00:00Z",
                4
            ),
            [
                "2026-01-03 09:00",
                "2026-01-03 11:00",
                "2026-01-10 09:00",
                "2026-01-10 11:00"
            ]
        );
        assert_eq!(
            utc_slots("every 24h", "2026-01-01T00:00:00Z", 2),
            ["2026-01-02 00:00", "2026-01-03 00:00"]
        );
        assert_eq!(
            utc_slots(
                "every 1m on sun between 23:58-23:59",
                "2026-01-01T00:00:00Z",
                3
            ),
            ["2026-01-04 23:58", "2026-01-04 23:59", "2026-01-11 23:58"]
        );
        assert!(!sched("every 15m").is_fixed_time());
    }

    #[test]
    fn the_constructors_build_the_same_schedules_as_the_text_forms() {
        use Weekday::*;
        let at = Schedule::at(&[(13, 30), (8, 0), (8, 0)], Some(vec![Wed, Mon])).unwrap();
        assert_eq!(at, sched("at 08:00,13:30 on mon,wed"));
        assert_eq!(at.to_string(), "at 08:00,13:30 on mon,wed");
        let every = Schedule::every(
            90,
            Some(((8, 0), (17, 0))),
            Some(vec![Fri, Mon, Tue, Wed, Thu]),
        )
        .unwrap();
        assert_eq!(
            every.to_string(),
            "every 90m between 08:00-17:00 on mon-fri"
        );
        assert_eq!(every, sched("every 90m between 8:00-17:00 on mon-fri"));
        assert_eq!(
            Schedule::every(120, None, None).unwrap().to_string(),
            "every 2h"
        );
        assert_eq!(
            Schedule::at(&[(24, 0)], None).unwrap_err().to_string(),
            "at time `24:00`: expected HH:MM from 00:00 to 23:59 (e.g. 8:00, 13:30)"
        );
        assert!(matches!(
            Schedule::at(&[], None),
            Err(ScheduleError::Syntax { form: "at", .. })
        ));
        assert_eq!(
            Schedule::at(&[(8, 0)], Some(vec![])),
            Err(ScheduleError::NoDays)
        );
        assert_eq!(
            Schedule::every(0, None, None),
            Err(ScheduleError::Interval("0m".to_string()))
        );
        assert_eq!(
            Schedule::every(1441, None, None),
            Err(ScheduleError::Interval("1441m".to_string()))
        );
        assert_eq!(
            Schedule::every(15, Some(((17, 0), (8, 0))), None),
            Err(ScheduleError::Window("17:00-08:00".to_string()))
        );
        assert!(matches!(
            Schedule::every(15, Some(((8, 60), (9, 0))), None),
            Err(ScheduleError::Time {
                context: "between window start",
                ..
            })
        ));
    }

    // ---- Rejections ---------------------------------------------------------------------------

    #[test]
    fn a_cron_that_never_fires_is_rejected() {
        assert_eq!(
            err("0 0 30 2 *"),
            "schedule never fires: `0 0 30 2 *` matches no date"
        );
        assert_eq!(
            err("0 0 31 4 *"),
            "schedule never fires: `0 0 31 4 *` matches no date"
        );
        assert_eq!(
            err("0 0 31 apr,jun *"),
            "schedule never fires: `0 0 31 APR,JUN *` matches no date"
        );
        // The fifth Friday of February happens only every 28 years or so.
        assert!(err("0 0 * 2 5#5").starts_with("schedule fires too rarely: `0 0 * 2 5#5`"));
        // February 29th is fine.
        assert_eq!(
            utc_slots("0 0 29 2 *", "2097-03-01T00:00:00Z", 1),
            ["2104-02-29 00:00"]
        );
    }

    #[test]
    fn seconds_and_years_are_rejected_with_a_clear_message() {
        let message = "seconds are not supported: the scheduler runs once a minute; use 5 fields \
                       (minute hour day-of-month month day-of-week)";
        assert_eq!(err("0 0 9 * * *"), message);
        assert_eq!(err("0 0 9 * * * 2026"), message);
        assert_eq!(
            err("0 9 * *"),
            "cron expression has 4 fields: expected 5 (minute hour day-of-month month day-of-week)"
        );
        assert_eq!(
            err("noon"),
            "cron expression has 1 field: expected 5 (minute hour day-of-month month day-of-week)"
        );
        assert!(err("0 0 9 * * * 2026 x").starts_with("cron expression has 8 fields"));
        assert!(err("   ").starts_with("empty schedule: expected a 5-field cron expression"));
    }

    #[test]
    fn each_bad_cron_field_is_named_in_the_error() {
        for (expr, field, value) in [
            ("61 * * * *", "minute", "61"),
            ("*/0 * * * *", "minute", "*/0"),
            ("a * * * *", "minute", "A"),
            ("0 24 * * *", "hour", "24"),
            ("0 5-1 * * *", "hour", "5-1"),
            ("0 0 32 * *", "day-of-month", "32"),
            ("0 0 15X * *", "day-of-month", "15X"),
            ("0 0 * 13 *", "month", "13"),
            ("0 0 * MON *", "month", "MON"),
            ("0 0 * * 8", "day-of-week", "8"),
            ("0 0 * * 1#6", "day-of-week", "1#6"),
            ("0 0 * * JAN", "day-of-week", "JAN"),
            ("0 0 * * MONDAY", "day-of-week", "MONDAY"),
        ] {
            let message = err(expr);
            assert!(
                message.starts_with(&format!("cron {field} field `{value}`: expected ")),
                "{expr}: {message}"
            );
            assert!(!message.contains('\n'));
        }
        assert_eq!(
            err("61 * * * *"),
            "cron minute field `61`: expected 0-59, `*`, a list, a range or a step"
        );
        assert!(err("0 0 13 * +5").starts_with("cron day-of-week field `+5`: the `+` (AND)"));
    }

    #[test]
    fn bad_times_days_intervals_and_windows_are_named_in_the_error() {
        assert_eq!(
            err("at 24:00"),
            "at time `24:00`: expected HH:MM from 00:00 to 23:59 (e.g. 8:00, 13:30)"
        );
        assert!(err("at 9:5").starts_with("at time `9:5`: expected HH:MM"));
        assert!(err("at 08:00,").starts_with("at time ``"));
        assert!(err("at 123:00").starts_with("at time `123:00`"));
        assert!(err("at 08:00 on funday").starts_with("day `funday`: expected mon, tue"));
        assert!(err("at 08:00 on mon-xyz").starts_with("day `xyz`"));
        assert!(err("at 08:00 on").starts_with("`on` needs at least one day"));
        assert_eq!(
            err("at"),
            "at schedule `at`: expected `at HH:MM[,HH:MM...] [on DAYS]`"
        );
        for bad in ["0m", "25h", "1441m", "2d", "90s", "99999999h"] {
            assert!(
                err(&format!("every {bad}")).starts_with(&format!("every interval `{bad}`: ")),
                "{bad}"
            );
        }
        // One duration grammar (issue 12): a number needs its unit, here as in every flag.
        assert_eq!(
            err("every 90"),
            "every `90` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)"
        );
        for bad in ["+5", "m", "5x"] {
            assert!(
                err(&format!("every {bad}"))
                    .starts_with(&format!("every `{bad}` is not a duration")),
                "{bad}"
            );
        }
        assert_eq!(
            err("every 15m between 17:00-08:00"),
            "between window `17:00-08:00`: expected HH:MM-HH:MM with the end not before the start"
        );
        assert!(err("every 15m between 8:00").starts_with("between window `8:00`"));
        assert!(err("every 15m between 8:00-24:00").starts_with("between window end `24:00`"));
        assert!(err("every 15m sometimes").starts_with("every schedule `every 15m sometimes`"));
        assert!(err("every").starts_with("every schedule `every`: expected `every DURATION"));
        assert!(
            err("every 15m on mon on tue").starts_with("every schedule `every 15m on mon on tue`")
        );
    }

    // ---- Text and serde round trips -----------------------------------------------------------

    #[test]
    fn display_is_canonical_and_parses_back_to_an_equal_schedule() {
        for (text, canonical) in [
            ("  30 9 * * 1-5 ", "30 9 * * 1-5"),
            ("0  9\t* jan-mar mon#2", "0 9 * JAN-MAR MON#2"),
            ("0 9 15w * ?", "0 9 15W * ?"),
            ("0 9 l * 5l", "0 9 L * 5L"),
            ("@Weekly", "@weekly"),
            (
                "AT 13:30, 8:00,08:00 ON wed,Mon",
                "at 08:00,13:30 on mon,wed",
            ),
            ("at 8:00 on sun,mon-sun", "at 08:00"),
            ("at 8:00 on sat,sun,tue", "at 08:00 on tue,sat,sun"),
            ("at 8:00 on fri-mon", "at 08:00 on mon,fri-sun"),
            (
                "every 90m between 8:00 - 17:00 on mon-fri",
                "every 90m between 08:00-17:00 on mon-fri",
            ),
            ("every 120m between 00:00-23:59", "every 2h"),
            ("every 2H on WED", "every 2h on wed"),
            ("every 60s on mon,tue", "every 1m on mon,tue"),
            ("every 24h", "every 24h"),
        ] {
            let s = sched(text);
            assert_eq!(s.to_string(), canonical, "{text}");
            let again: Schedule = s.to_string().parse().unwrap();
            assert_eq!(again, s, "{text}");
            assert_eq!(again.to_string(), canonical);
            assert_eq!(format!("{s:?}"), format!("Schedule({canonical:?})"));
        }
        assert_ne!(sched("@daily"), sched("0 0 * * *"));
        assert_eq!(sched("0 0 * * *").clone(), sched("0 0 * * *"));
    }

    #[test]
    fn serde_uses_the_canonical_string() {
        let list = vec![
            sched("30 9 * * mon-fri"),
            sched("@hourly"),
            sched("at 8:00 on mon"),
            sched("every 90m between 08:00-17:00"),
        ];
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(
            json,
            r#"["30 9 * * MON-FRI","@hourly","at 08:00 on mon","every 90m between 08:00-17:00"]"#
        );
        let back: Vec<Schedule> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
        let bad = serde_json::from_str::<Schedule>(r#""0 0 30 2 *""#).unwrap_err();
        assert!(bad.to_string().contains("schedule never fires"), "{bad}");
    }

    // ---- Descriptions and classification ------------------------------------------------------

    #[test]
    fn a_stored_schedule_is_parsed_once_and_bad_text_is_still_refused() {
        let read = |json: &str| serde_json::from_str::<Schedule>(json);
        let first = read("\"17 4 * * 2\"").expect("valid");
        let again = read("\"17 4 * * 2\"").expect("valid");
        assert!(
            Arc::ptr_eq(&first.0, &again.0),
            "the second read reuses the first parse"
        );
        assert_eq!(again, sched("17 4 * * 2"));
        assert_eq!(again.to_string(), "17 4 * * 2");
        for _ in 0..2 {
            let err = read("\"61 4 * * 2\"").expect_err("minute 61");
            assert!(err.to_string().contains("minute"), "{err}");
        }
    }

    #[test]
    fn describe_uses_croner_for_cron_and_plain_words_for_the_old_forms() {
        assert_eq!(
            sched("30 9 * * 1-5").describe(),
            "At 09:30, on Monday, Tuesday, Wednesday, Thursday, and Friday."
        );
        assert_eq!(
            sched("at 08:00,13:30 on mon,wed").describe(),
            "At 08:00 and 13:30, on Monday and Wednesday."
        );
        assert_eq!(
            sched("at 7:00,12:00,18:00").describe(),
            "At 07:00, 12:00 and 18:00."
        );
        assert_eq!(
            sched("every 90m between 08:00-17:00 on mon-fri,sun").describe(),
            "Every 90 minutes from 08:00 through 17:00 each day, on Monday through Friday and \
             Sunday."
        );
        assert_eq!(sched("every 15m").describe(), "Every 15 minutes.");
        assert_eq!(sched("every 1m").describe(), "Every minute.");
        assert_eq!(sched("every 60m").describe(), "Every hour.");
        assert_eq!(
            sched("every 7h on sat").describe(),
            "Every 7 hours, counted from 00:00 each day, on Saturday."
        );
    }

    #[test]
    fn fixed_time_means_plain_numbers_or_lists_in_minute_and_hour() {
        for (text, fixed) in [
            ("30 9 * * *", true),
            ("0,30 9,17 * * *", true),
            ("0 9 L * 5#2", true),
            ("@daily", true),
            ("@weekly", true),
            ("@monthly", true),
            ("@yearly", true),
            ("@hourly", false),
            ("at 08:00", true),
            ("*/15 * * * *", false),
            ("0 * * * *", false),
            ("0 9-17 * * *", false),
            ("0-5 9 * * *", false),
            ("0 */2 * * *", false),
            ("every 1h", false),
        ] {
            assert_eq!(sched(text).is_fixed_time(), fixed, "{text}");
        }
    }

    #[test]
    fn next_after_is_none_beyond_chronos_range_and_handles_far_dates() {
        let s = sched("*/5 * * * *");
        assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC, Los_Angeles), None);
        assert_eq!(
            s.next_after(utc("1900-01-01T00:00:00Z"), chrono_tz::UTC),
            Some(utc("1900-01-01T00:05:00Z"))
        );
        // At the very edge of chrono's range there may be no answer, but no panic either.
        let _ = s.next_after(DateTime::<Utc>::MIN_UTC, chrono_tz::UTC);
    }

    #[test]
    fn civil_date_arithmetic_matches_chrono() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for day in (-800_000..800_000).step_by(97) {
            let date = epoch + TimeDelta::days(day);
            let (y, m, d) = civil_from_days(day);
            assert_eq!(
                (y, m, d),
                (i64::from(date.year()), date.month(), date.day())
            );
            assert_eq!(days_from_civil(y, m, d), day);
            assert_eq!(
                weekday_from_sunday(day),
                date.weekday().num_days_from_sunday()
            );
            assert_eq!(
                weekday_from_monday(day),
                date.weekday().num_days_from_monday()
            );
        }
    }
}
