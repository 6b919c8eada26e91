//! What a parsed schedule is made of: the wall-clock minutes of a matching day
//! ([`MinuteSet`]) and the rule for which local dates match ([`DayRule`]).
//!
//! Dates are chrono's `NaiveDate`s, walked one after the other with `succ_opt` (cheap: the
//! next-slot search checks a date per step). The offset arithmetic in `next` counts days
//! since 1970-01-01 instead; [`date_of`] and [`day_of`] convert between the two.

use chrono::{Datelike, Months, NaiveDate};
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

/// The outcome of checking one date.
pub(super) enum DayCheck {
    Match,
    /// No match; the next date worth checking, `None` past chrono's last date (about 262,000
    /// years from now, where no instant can be a slot either).
    SkipTo(Option<NaiveDate>),
}

impl DayRule {
    /// Checks the local date `date`.
    pub(super) fn check(&self, date: NaiveDate) -> DayCheck {
        match self {
            DayRule::Weekdays(mask) => {
                let weekday = date.weekday().num_days_from_monday();
                if *mask == ALL_DAYS || mask & (1 << weekday) != 0 {
                    DayCheck::Match
                } else {
                    DayCheck::SkipTo(date.succ_opt())
                }
            }
            DayRule::Cron {
                months,
                every_day,
                cron,
            } => {
                if months & (1 << date.month()) == 0 {
                    // The first day of the next month.
                    let next = date
                        .with_day(1)
                        .and_then(|first| first.checked_add_months(Months::new(1)));
                    return DayCheck::SkipTo(next);
                }
                if *every_day {
                    return DayCheck::Match;
                }
                let weekday =
                    croner::Weekday::from_days_from_sunday(date.weekday().num_days_from_sunday());
                if cron
                    .pattern
                    .day_match(date.year(), date.month(), date.day(), weekday)
                    .unwrap_or(false)
                {
                    DayCheck::Match
                } else {
                    DayCheck::SkipTo(date.succ_opt())
                }
            }
        }
    }

    /// The first matching date from `from` through `last`.
    pub(super) fn first_match(&self, from: NaiveDate, last: NaiveDate) -> Option<NaiveDate> {
        let mut date = from;
        while date <= last {
            match self.check(date) {
                DayCheck::Match => return Some(date),
                DayCheck::SkipTo(next) => date = next?,
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

/// 1970-01-01 as chrono counts days: `NaiveDate::num_days_from_ce` (0001-01-01 is day 1).
const UNIX_EPOCH_FROM_CE: i64 = 719_163;

/// The local date `day` days after 1970-01-01; `None` outside chrono's range.
pub(super) fn date_of(day: i64) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + UNIX_EPOCH_FROM_CE).ok()?)
}

/// Days since 1970-01-01 of `date`.
pub(super) fn day_of(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - UNIX_EPOCH_FROM_CE
}
