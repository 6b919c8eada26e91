//! The retry policy: when a finished attempt is tried again, and when.
//!
//! - Only a `failed` or `timed_out` attempt, while the job's `retries` allow another, and only
//!   when the tick's own outcome is the execution's (never once the app's guard owned it: the
//!   work may have been done).
//! - After a backoff that doubles with each attempt: `retry_backoff`, then twice that, ...
//! - Not for a paused job, and not when a newer scheduled slot comes first: that slot runs
//!   instead and stands for the failed one.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::chrono;
use crate::model::{Execution, Job, PendingRetry, Status, Trigger};

/// True when an attempt that ended with `status` may be tried again: a failure or a time-out
/// the tick recorded itself (`recorded_by_tick`), with attempts left.
pub(super) fn wanted(
    execution: &Execution,
    status: Option<Status>,
    recorded_by_tick: bool,
) -> bool {
    recorded_by_tick
        && matches!(status, Some(Status::Failed | Status::TimedOut))
        && execution.attempt <= execution.retries
}

/// The retry `job` (its state after the attempt) gets for `execution` at `now`, if any.
pub(super) fn next_attempt(
    execution: &Execution,
    job: &Job,
    now: DateTime<Utc>,
    backoff: Duration,
) -> Option<PendingRetry> {
    if !job.enabled {
        return None;
    }
    let factor = 2u32.saturating_pow(execution.attempt.saturating_sub(1));
    let at = now + chrono(backoff.saturating_mul(factor));
    let superseded = execution.trigger == Trigger::Schedule
        && job
            .state
            .next_slot
            .is_some_and(|s| job.due_of(s) <= at && s > execution.scheduled_for);
    (!superseded).then(|| PendingRetry {
        slot: execution.scheduled_for,
        attempt: execution.attempt + 1,
        trigger: execution.trigger,
        at,
    })
}

/// `d` with "equal jitter": between half of it and all of it, so that ticks retrying the same
/// store at once spread out.
pub(super) fn jittered(d: Duration) -> Duration {
    let half = d / 2;
    let spread = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(rand::random_range(0..=spread))
}
