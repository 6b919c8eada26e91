//! The local scheduler loop (`psu-sched serve`): the same tick as the Lambda, at the top of
//! every minute, aligned to the clock so it never drifts, each minute's tick started on time
//! whatever earlier ticks are still waiting for.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

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

/// The most ticks in flight at once. A tick lasts as long as its slowest call (timeouts
/// reach 14 minutes, plus the grace to record), so about 15 overlap at worst; a minute that
/// finds this many still running is left to the next tick, which picks up what is due.
pub const MAX_TICKS_IN_FLIGHT: usize = 16;

/// Ticks at the top of every minute until `shutdown` completes. Each minute's tick starts on
/// time even while earlier ticks' calls are in flight (a hanging job delays nobody: the claims
/// make overlapping ticks safe), up to [`MAX_TICKS_IN_FLIGHT`]. When `shutdown` completes, no
/// new tick starts and the ticks under way finish (their calls, up to their timeouts), so no
/// execution is left `running` by the daemon's own exit. Each tick's summary goes to
/// `on_tick`, an incomplete one's too (its `errors` > 0); a tick that fails (the store) is
/// logged and the loop goes on. Time comes from
/// `clock` and tokio's timer, so a test drives it in virtual time.
pub async fn run_every_minute(
    store: &dyn Store,
    dispatcher: &dyn Dispatch,
    clock: &dyn Clock,
    config: &TickConfig,
    shutdown: impl Future<Output = ()>,
    mut on_tick: impl FnMut(&TickSummary),
) {
    let mut report = |result: Result<TickSummary, crate::tick::TickError>| match result {
        Ok(summary) => on_tick(&summary),
        Err(e) => {
            // An incomplete tick still reports what it completed (with its error count).
            if let Some(summary) = e.summary() {
                on_tick(summary);
            }
            tracing::error!(error = %e, "tick failed; the next one will pick up what is still due")
        }
    };
    tokio::pin!(shutdown);
    let mut in_flight = FuturesUnordered::new();
    loop {
        let now = clock.now();
        let wait = (next_minute(now) - now).to_std().unwrap_or(Duration::ZERO);
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        // Wait for the minute, reporting the ticks that end meanwhile.
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    while let Some(result) = in_flight.next().await {
                        report(result);
                    }
                    return;
                }
                _ = &mut sleep => break,
                Some(result) = in_flight.next(), if !in_flight.is_empty() => report(result),
            }
        }
        if in_flight.len() >= MAX_TICKS_IN_FLIGHT {
            tracing::warn!(
                in_flight = in_flight.len(),
                "skipping this minute's tick: too many ticks still have calls in flight; the next tick picks up what is due"
            );
            continue;
        }
        in_flight.push(tick(store, dispatcher, clock, config));
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::testing::FakeDispatch;

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

    /// The wall clock of a paused tokio runtime: `origin` plus the virtual time elapsed.
    struct VirtualClock {
        origin: DateTime<Utc>,
        start: tokio::time::Instant,
    }

    impl Clock for VirtualClock {
        fn now(&self) -> DateTime<Utc> {
            self.origin + chrono::Duration::from_std(self.start.elapsed()).expect("small")
        }
    }

    /// 10:00:30 on a paused runtime: a clock on tokio's virtual time, an empty memory store,
    /// and a fake dispatcher on which calls to `/hang` take three minutes.
    fn virtual_world() -> (
        DateTime<Utc>,
        std::sync::Arc<VirtualClock>,
        crate::store::memory::MemoryStore,
        FakeDispatch,
    ) {
        let origin = Utc
            .with_ymd_and_hms(2026, 12, 1, 10, 0, 30)
            .single()
            .expect("valid");
        let clock = std::sync::Arc::new(VirtualClock {
            origin,
            start: tokio::time::Instant::now(),
        });
        let dispatcher = FakeDispatch::default().with_clock(clock.clone());
        dispatcher.delay_calls_to("/hang", Duration::from_secs(180));
        (
            origin,
            clock,
            crate::store::memory::MemoryStore::new(),
            dispatcher,
        )
    }

    /// A job calling `https://app.example/<name>`, with a 5-minute timeout, created at `at`.
    fn job(name: &str, schedule: &str, at: DateTime<Utc>) -> crate::model::Job {
        use crate::model::{AppName, JobName, JobUrl, NewJob};
        let mut spec = NewJob::new(
            AppName::parse("app").expect("app"),
            JobName::parse(name).expect("name"),
            JobUrl::parse(&format!("https://app.example/{name}")).expect("url"),
            schedule.parse().expect("schedule"),
        );
        spec.timeout = Duration::from_secs(5 * 60);
        spec.build(at).expect("job")
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_hanging_for_three_minutes_does_not_delay_an_every_minute_job() {
        use crate::model::Status;
        use crate::store::Store;

        let (origin, clock, store, dispatcher) = virtual_world();
        let hang = job("hang", "1 10 * * *", origin);
        let every = job("every", "* * * * *", origin);
        store.create_job(&hang).await.expect("create");
        store.create_job(&every).await.expect("create");

        // Stop at 10:05:30, with nothing in flight by then.
        let mut ticks = 0;
        run_every_minute(
            &store,
            &dispatcher,
            clock.as_ref(),
            &TickConfig::default(),
            tokio::time::sleep(Duration::from_secs(300)),
            |_| ticks += 1,
        )
        .await;

        let minute = |m: u32| {
            Utc.with_ymd_and_hms(2026, 12, 1, 10, m, 0)
                .single()
                .expect("valid")
        };
        let calls = dispatcher.calls();
        let every_calls: Vec<DateTime<Utc>> = calls
            .iter()
            .filter(|c| c.url.ends_with("/every"))
            .filter_map(|c| c.at)
            .collect();
        assert_eq!(
            every_calls,
            (1..=5).map(minute).collect::<Vec<_>>(),
            "called at the top of each minute while /hang hung"
        );
        assert_eq!(calls.iter().filter(|c| c.url.ends_with("/hang")).count(), 1);
        assert_eq!(ticks, 5);
        let history = store.list_executions(&hang.id, 10).await.expect("history");
        assert_eq!(
            history.iter().map(|e| e.status).collect::<Vec<_>>(),
            vec![Status::Succeeded],
            "the hanging call's outcome was recorded"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_incomplete_tick_still_reports_its_summary_with_its_error_count() {
        use crate::store::Store;
        use crate::testing::FailingStore;

        let (origin, clock, _, dispatcher) = virtual_world();
        let store = FailingStore::new();
        let every = job("every", "* * * * *", origin);
        store.create_job(&every).await.expect("create");
        store.fail_job_writes_of(&every.name);
        let mut summaries = Vec::new();
        // Only the tick at 10:01: shutdown at 10:01:30 (at 10:02:00 exactly, the stop and
        // the 10:02 tick would race).
        run_every_minute(
            &store,
            &dispatcher,
            clock.as_ref(),
            &TickConfig::default(),
            tokio::time::sleep(Duration::from_secs(60)),
            |summary| summaries.push(summary.clone()),
        )
        .await;
        let counts: Vec<(u64, u64, u64)> = summaries
            .iter()
            .map(|s| (s.triggered, s.succeeded, s.errors))
            .collect();
        assert_eq!(counts, vec![(1, 1, 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_with_calls_in_flight_waits_for_them_and_records_them() {
        use crate::model::Status;
        use crate::store::Store;

        let (origin, clock, store, dispatcher) = virtual_world();
        let hang = job("hang", "* * * * *", origin);
        store.create_job(&hang).await.expect("create");
        // SIGTERM at 10:01:30, while the 10:01 call hangs until 10:04.
        run_every_minute(
            &store,
            &dispatcher,
            clock.as_ref(),
            &TickConfig::default(),
            tokio::time::sleep(Duration::from_secs(60)),
            |_| {},
        )
        .await;
        assert!(
            clock.now() >= origin + chrono::Duration::seconds(210),
            "it waited"
        );
        let history = store.list_executions(&hang.id, 10).await.expect("history");
        assert_eq!(
            history.iter().map(|e| e.status).collect::<Vec<_>>(),
            vec![Status::Succeeded]
        );
        assert_eq!(dispatcher.calls().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_bound_of_ticks_in_flight_a_minute_is_left_to_a_later_tick() {
        use crate::store::Store;

        let (origin, clock, store, dispatcher) = virtual_world();
        let mut every = job("every", "* * * * *", origin);
        every.overlap = crate::model::OverlapPolicy::Allow;
        store.create_job(&every).await.expect("create");
        // Every call takes 20 minutes: from 10:01, each minute's tick stays in flight.
        dispatcher.delay_every_call(Duration::from_secs(20 * 60));
        run_every_minute(
            &store,
            &dispatcher,
            clock.as_ref(),
            &TickConfig::default(),
            tokio::time::sleep(Duration::from_secs(19 * 60)),
            |_| {},
        )
        .await;
        let minute = |m: u32| {
            Utc.with_ymd_and_hms(2026, 12, 1, 10, m, 0)
                .single()
                .expect("valid")
        };
        let called: Vec<DateTime<Utc>> = dispatcher.calls().iter().filter_map(|c| c.at).collect();
        let bound = u32::try_from(MAX_TICKS_IN_FLIGHT).expect("small");
        assert_eq!(
            called,
            (1..=bound).map(minute).collect::<Vec<_>>(),
            "one call a minute until {MAX_TICKS_IN_FLIGHT} ticks are in flight, then none"
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
