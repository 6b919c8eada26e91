//! Jitter: a job's calls spread over a window after each slot, by an offset that every tick
//! and every store works out alike (docs/data-model.md, "Jitter").
//!
//! The offset of a slot is `⌊h × J / 2^64⌋` seconds, where `J` is the jitter in seconds and
//! `h` the 64-bit FNV-1a hash ([`crate::hash::fnv1a_64`]) of the text `<job id>.<slot>`, the
//! slot written as in an execution id (`3f2a…c1.20261126T093000Z`): a whole number of
//! seconds in `[0, J)`, fixed by the job's id and the slot alone, so racing ticks agree on
//! it. The execution id does not change: the slot stays the slot; the offset only moves when
//! the slot's call is due, and the instant its lateness counts from.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::{ExecutionId, JobId, ValidationError};
use crate::schedule::Schedule;

/// The largest jitter: a day. A wider spread is another schedule.
pub const MAX_JITTER: Duration = Duration::from_secs(86_400);

/// How far ahead the schedule's smallest gap is looked for: the next year, a leap year's
/// 366 days, so that both daylight saving changes of the zone are in it.
const GAP_HORIZON: TimeDelta = TimeDelta::days(366);

/// The offset of `slot`'s call for the job `job` with a jitter of `jitter_ms` (whole
/// seconds): in `[0, jitter)`, zero without jitter. See the module's documentation.
pub fn jitter_offset(job: &JobId, slot: DateTime<Utc>, jitter_ms: u64) -> TimeDelta {
    let secs = jitter_ms / 1000;
    if secs == 0 {
        return TimeDelta::zero();
    }
    let text = format!("{job}.{}", ExecutionId::slot_key_from(slot));
    let hash = crate::hash::fnv1a_64(text.as_bytes());
    // The high bits of the product: ⌊h × J / 2^64⌋, always below J.
    let offset = (u128::from(hash) * u128::from(secs)) >> 64;
    TimeDelta::seconds(i64::try_from(offset).unwrap_or(0))
}

/// Checks a jitter for `schedule` read in `tz`, written at `now`: zero (none), or whole
/// seconds up to [`MAX_JITTER`] and less than the schedule's smallest gap between two slots
/// over the next year (daylight saving time included), which it names when it is not.
pub fn validate_jitter(
    jitter: Duration,
    schedule: &Schedule,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Duration, ValidationError> {
    let shown = crate::duration::format(jitter);
    if jitter > MAX_JITTER {
        return Err(ValidationError::new(
            "jitter",
            format!(
                "{shown} is not accepted; use at most 1d, and less than the schedule's smallest gap between two runs"
            ),
        ));
    }
    // Slots fall on whole minutes: a jitter under a minute is below every gap.
    if jitter < Duration::from_secs(60) {
        return Ok(jitter);
    }
    let Some(gap) = schedule.smallest_gap(tz, now, GAP_HORIZON) else {
        return Ok(jitter);
    };
    let gap = gap.to_std().unwrap_or(Duration::ZERO);
    if jitter >= gap {
        let gap = crate::duration::format(gap);
        return Err(ValidationError::new(
            "jitter",
            format!(
                "{shown} is not less than the schedule's smallest gap between two runs, {gap} (over the next year, in {}); use less than {gap}",
                tz.name()
            ),
        ));
    }
    Ok(jitter)
}
