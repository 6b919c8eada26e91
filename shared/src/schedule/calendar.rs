//! What a parsed schedule is made of: the wall-clock minutes of a matching day
//! ([`MinuteSet`]) and the rule for which local dates match ([`DayRule`]), plus the civil-date
//! arithmetic the rule needs. Dates are counted in days since 1970-01-01.

use croner::Cron;

use super::{ALL_DAYS, MINUTES_PER_DAY};

/// Which local dates a schedule runs on.
pub(super) enum DayRule {
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
pub(super) enum DayCheck {
    Match,
    /// No match; the next day worth checking.
    SkipTo(i64),
}

impl DayRule {
    /// Checks the local date `day` (days since 1970-01-01).
    pub(super) fn check(&self, day: i64) -> DayCheck {
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
    pub(super) fn first_match(&self, from: i64, count: i64) -> Option<i64> {
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
pub(super) struct MinuteSet([u64; 23]);

impl MinuteSet {
    pub(super) const EMPTY: MinuteSet = MinuteSet([0; 23]);

    pub(super) fn insert(&mut self, minute: usize) {
        if minute < MINUTES_PER_DAY {
            self.0[minute / 64] |= 1 << (minute % 64);
        }
    }

    /// The first minute in the set within `[from, to)`.
    pub(super) fn next_in(&self, from: usize, to: usize) -> Option<usize> {
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

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(super) const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) `days` days after 1970-01-01.
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
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
pub(super) fn weekday_from_sunday(days: i64) -> u32 {
    // 1970-01-01 was a Thursday; rem_euclid(7) is in 0..7.
    (days + 4).rem_euclid(7) as u32
}

/// 0 = Monday.
pub(super) fn weekday_from_monday(days: i64) -> u32 {
    (days + 3).rem_euclid(7) as u32
}
