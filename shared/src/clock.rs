//! Where the tick gets its time. Nothing else in `shared` reads the clock, so tests and
//! `tick --now` can run any instant, DST days included.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock (production).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that says what it is told: fixed, or moved by hand.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A clock that reads `at` the first time it is read, then moves at `base`'s pace: a tick at
/// another instant (`tick --now T --simulate`, the Lambda's operator `now`) runs at exactly T,
/// and its calls still take real time, so their deadlines and durations stay true.
pub struct ShiftedClock<C> {
    base: C,
    at: DateTime<Utc>,
    /// `base`'s reading when this clock was first read.
    origin: std::sync::OnceLock<DateTime<Utc>>,
}

impl<C: Clock> ShiftedClock<C> {
    /// A clock whose first reading is `at`, moving with `base` from then on.
    pub fn starting_at(base: C, at: DateTime<Utc>) -> Self {
        Self {
            base,
            at,
            origin: std::sync::OnceLock::new(),
        }
    }
}

impl<C: Clock> Clock for ShiftedClock<C> {
    fn now(&self) -> DateTime<Utc> {
        let base = self.base.now();
        let origin = *self.origin.get_or_init(|| base);
        self.at + base.signed_duration_since(origin)
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_shifted_clock_starts_where_it_is_told_and_moves_with_its_base() {
        let at = |s| {
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, s)
                .single()
                .expect("valid")
        };
        let base = std::sync::Arc::new(FixedClock::new(at(0)));
        let shifted = ShiftedClock::starting_at(base.clone(), at(30));
        base.advance(chrono::Duration::seconds(5));
        assert_eq!(
            shifted.now(),
            at(30),
            "its first reading is exactly the instant asked for"
        );
        base.advance(chrono::Duration::seconds(2));
        assert_eq!(shifted.now(), at(32));
    }
}
