//! The local scheduler loop (`psu-sched serve`): the same tick as the Lambda, at the top of
//! every minute, aligned to the clock so it never drifts.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};

use crate::clock::Clock;
use crate::dispatch::Dispatch;
use crate::store::Store;
use crate::tick::{TickConfig, TickSummary, tick};

/// The next top of a minute strictly after `now`.
pub fn next_minute(now: DateTime<Utc>) -> DateTime<Utc> {
    let floor = now
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    floor + chrono::Duration::minutes(1)
}

/// Ticks at the top of every minute until `shutdown` completes. A tick under way when it does
/// completes first (its calls finish, up to their timeouts), so no execution is left
/// `running` by the daemon's own exit. Each tick's summary goes to `on_tick`; a tick that
/// fails (the store) is logged and the loop goes on.
pub async fn run_every_minute(
    store: &dyn Store,
    dispatcher: &dyn Dispatch,
    clock: &dyn Clock,
    config: &TickConfig,
    shutdown: impl Future<Output = ()>,
    mut on_tick: impl FnMut(&TickSummary),
) {
    tokio::pin!(shutdown);
    loop {
        let now = clock.now();
        let wait = (next_minute(now) - now).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
        match tick(store, dispatcher, clock, config).await {
            Ok(summary) => on_tick(&summary),
            Err(e) => {
                tracing::error!(error = %e, "tick failed; the next one will pick up what is still due")
            }
        }
        // A shutdown requested during the tick is honoured now that the tick has finished.
        if futures::FutureExt::now_or_never(&mut shutdown).is_some() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_next_minute_is_the_next_top_of_a_minute() {
        let t = |h, m, s| {
            Utc.with_ymd_and_hms(2026, 1, 1, h, m, s)
                .single()
                .expect("valid")
        };
        assert_eq!(next_minute(t(9, 59, 59)), t(10, 0, 0));
        assert_eq!(next_minute(t(10, 0, 0)), t(10, 1, 0));
        assert_eq!(
            next_minute(t(23, 59, 1)),
            Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0)
                .single()
                .expect("valid")
        );
    }

    #[tokio::test]
    async fn a_shutdown_while_waiting_returns_at_once() {
        let store = crate::store::memory::MemoryStore::new();
        let dispatcher = crate::dispatch::HttpDispatcher::new().expect("client");
        let clock = crate::clock::SystemClock;
        let started = std::time::Instant::now();
        let mut ticks = 0;
        run_every_minute(
            &store,
            &dispatcher,
            &clock,
            &TickConfig::default(),
            async {},
            |_| ticks += 1,
        )
        .await;
        assert_eq!(ticks, 0);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
