//! Which `now` a tick accepts: the one rule for the Lambda and the CLI.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::chrono;

/// How far behind the clock a writing tick's `now` may be. Further back, the tick would write
/// leases and deadlines that have already passed, and a concurrent tick would take a call
/// still in flight for a lost one (and call it again).
pub const MAX_NOW_BEHIND: Duration = Duration::from_secs(30);

/// What a tick at a given `now` may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NowUse {
    /// A tick that writes and calls, at the clock's instant (or a few seconds behind it).
    Write,
    /// A dry run: any instant of years 1970 to 9999; nothing written, nothing called.
    DryRun,
    /// A simulation on a test or development store: writes as if the clock read `now`.
    Simulate,
}

/// A `now` a tick refuses ([`check_now`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NowError {
    /// A writing tick ahead of the clock.
    #[error("{now} is ahead of the clock ({clock})")]
    Ahead {
        /// The requested instant.
        now: DateTime<Utc>,
        /// The clock's.
        clock: DateTime<Utc>,
    },
    /// A writing tick more than [`MAX_NOW_BEHIND`] behind the clock.
    #[error("{now} is more than {}s behind the clock ({clock})", MAX_NOW_BEHIND.as_secs())]
    Behind {
        /// The requested instant.
        now: DateTime<Utc>,
        /// The clock's.
        clock: DateTime<Utc>,
    },
    /// Outside years 1970 to 9999, for any tick.
    #[error("{now} is outside the years 1970 to 9999")]
    OutOfRange {
        /// The requested instant.
        now: DateTime<Utc>,
    },
}

/// The one rule, for the Lambda and the CLI, on which `now` a tick accepts when `clock` is the
/// wall clock: any tick takes years 1970 to 9999 only (beyond, schedules run out of calendar);
/// a writing tick takes only the clock's instant or up to [`MAX_NOW_BEHIND`] behind it. Dry
/// runs and simulations take any instant in range (the caller checks that a simulation's
/// store is a test store).
pub fn check_now(now: DateTime<Utc>, clock: DateTime<Utc>, using: NowUse) -> Result<(), NowError> {
    use chrono::Datelike;
    if !(1970..=9999).contains(&now.year()) {
        return Err(NowError::OutOfRange { now });
    }
    if using != NowUse::Write {
        return Ok(());
    }
    if now > clock {
        return Err(NowError::Ahead { now, clock });
    }
    if clock.signed_duration_since(now) > chrono(MAX_NOW_BEHIND) {
        return Err(NowError::Behind { now, clock });
    }
    Ok(())
}
