//! The smallest gap between two consecutive slots of a schedule over a span of time, in its
//! zone: what a job's jitter must stay below (`model::validate_jitter`).

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::Schedule;

/// No two slots are closer than this: they fall on whole minutes.
const SMALLEST_POSSIBLE: TimeDelta = TimeDelta::minutes(1);

impl Schedule {
    /// The smallest time between a slot in `(from, from + span]` and the slot after it, read
    /// in `tz`: daylight saving time included (an hour that repeats or is skipped brings two
    /// slots closer than their wall clocks say). The slot after the last one of the span
    /// counts too, so a schedule with one slot a year still has a gap. `None` when the
    /// schedule has fewer than two slots from `from` on.
    ///
    /// Walks the slots one by one (525,600 for `* * * * *` over a year), stopping early at
    /// one minute, which no gap can be under.
    pub fn smallest_gap(&self, tz: Tz, from: DateTime<Utc>, span: TimeDelta) -> Option<TimeDelta> {
        let until = from.checked_add_signed(span)?;
        let mut previous = self.next_after(from, tz)?;
        let mut smallest: Option<TimeDelta> = None;
        while previous <= until {
            let Some(next) = self.next_after(previous, tz) else {
                break;
            };
            let gap = next - previous;
            if smallest.is_none_or(|s| gap < s) {
                smallest = Some(gap);
                if gap <= SMALLEST_POSSIBLE {
                    break;
                }
            }
            previous = next;
        }
        smallest
    }
}
