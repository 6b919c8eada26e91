//! The next slot: walk the matching local dates, map each one's wall-clock minutes to instants
//! through the time zone's offsets, and handle daylight saving time (see the module docs).

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::calendar::{DayCheck, date_of, day_of};
use super::{HORIZON_DAYS, MINUTES_PER_DAY, SECS_PER_DAY, Schedule};

/// An upper bound on the magnitude of any UTC offset (real ones stay within 16 hours).
const MAX_OFFSET_SECS: i64 = 16 * 3600;

impl Schedule {
    /// [`Schedule::next_after`]: the first slot strictly after `after`; `None` when there is
    /// none within [`HORIZON_DAYS`] or the search leaves chrono's range.
    pub(super) fn search_next(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // Slots fall on whole seconds, so `slot > after` is `slot > after.timestamp()`.
        let a = after.timestamp();
        let local_day = (a + offset_at(tz, a)?).div_euclid(SECS_PER_DAY);
        // From the day before: its late slots can still be after `after`. On chrono's first
        // date there is no day before, hence no answer.
        let mut date = date_of(local_day - 1)?;
        // Past chrono's last date no instant exists: the walk ends there.
        let last = date_of(local_day - 1 + HORIZON_DAYS).unwrap_or(NaiveDate::MAX);
        let mut best: Option<i64> = None;
        while date <= last {
            if let Some(b) = best
                && day_of(date) * SECS_PER_DAY - MAX_OFFSET_SECS > b
            {
                // Every instant of this and later days is later than `b`.
                break;
            }
            let next = match self.0.days.check(date) {
                DayCheck::SkipTo(next) => next,
                DayCheck::Match => {
                    let (candidate, stable) = self.first_on_day(day_of(date), a, tz)?;
                    if let Some(c) = candidate {
                        let c = best.map_or(c, |b| b.min(c));
                        if stable {
                            // No offset change near this day: later days only map later.
                            return DateTime::from_timestamp(c, 0);
                        }
                        best = Some(c);
                    }
                    date.succ_opt()
                }
            };
            let Some(next) = next else { break };
            date = next;
        }
        best.and_then(|b| DateTime::from_timestamp(b, 0))
    }

    /// The earliest slot of local date `day` later than `a` (seconds), and whether the UTC
    /// offset is constant around the day. `None` when out of chrono's range.
    pub(super) fn first_on_day(&self, day: i64, a: i64, tz: Tz) -> Option<(Option<i64>, bool)> {
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
    pub(super) fn enumerate_day(&self, day: i64, a: i64, tz: Tz) -> Option<i64> {
        let date = date_of(day)?;
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
