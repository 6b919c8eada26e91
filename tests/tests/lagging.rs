//! Exactly-once with a due index that lags behind the table (issue 29, acceptance 2, its
//! lagging half; docs/design/scale.md, 2.9): `shared::store::lagging::LaggingIndex` shows a
//! write to the index 2 s (of the test's clock) after it, and a moved entry twice or not at all
//! for a while, as DynamoDB's global secondary index may. Ticks plan from what it shows, stale
//! jobs included; the claim's conditions alone keep each slot once.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use shared::clock::FixedClock;
use shared::dispatch::HttpDispatcher;
use shared::model::{AppName, JobName, JobUrl, NewJob};
use shared::protocol::HEADER_SCHEDULED_FOR;
use shared::store::Store;
use shared::store::lagging::LaggingIndex;

use crate::helpers::jobserver::JobServer;
use crate::shards::{four_hundred_jobs_while_shards_rise, scenario_start};
use crate::world::{racing_ticks, utc};

const LAG: i64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_hundred_jobs_called_once_while_shards_rise_on_a_lagging_index() {
    for seed in [1, 2] {
        let clock = Arc::new(FixedClock::new(scenario_start()));
        let store: Arc<dyn Store> = Arc::new(LaggingIndex::new(
            clock.clone(),
            Duration::seconds(LAG),
            seed,
        ));
        four_hundred_jobs_while_shards_rise(store.clone(), store, clock).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_hundred_jobs_called_once_on_a_lagging_keys_only_index() {
    let clock = Arc::new(FixedClock::new(scenario_start()));
    let store: Arc<dyn Store> =
        Arc::new(LaggingIndex::new(clock.clone(), Duration::seconds(LAG), 3).with_current_bodies());
    four_hundred_jobs_while_shards_rise(store.clone(), store, clock).await;
}

/// Eight ticks racing each minute for 20 minutes on a lagging index: each of them sees the
/// entries the last minute's ticks left, none sees its rivals' writes, and together they call
/// each job's slot once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slot_is_called_once_when_eight_ticks_race_on_a_lagging_index() {
    let start = utc(2026, 6, 1, 12, 0);
    let clock = Arc::new(FixedClock::new(start - Duration::seconds(30)));
    let store = Arc::new(LaggingIndex::new(clock.clone(), Duration::seconds(LAG), 11));
    let server = JobServer::start().await;
    for i in 0..5 {
        let job = NewJob::new(
            AppName::parse(&format!("app-{i}")).expect("app"),
            JobName::parse(&format!("race{i}")).expect("name"),
            JobUrl::parse(&server.url(&format!("/race{i}"))).expect("url"),
            "* * * * *".parse().expect("schedule"),
        )
        .build(start - Duration::seconds(30))
        .expect("a job");
        store.create_job(&job).await.expect("create");
    }
    let stores: Vec<Arc<LaggingIndex>> = (0..8).map(|_| store.clone()).collect();
    let dispatcher = Arc::new(HttpDispatcher::new().expect("http client"));
    for round in 0..20 {
        let now = start + Duration::minutes(round);
        clock.set(now);
        let triggered: u64 = racing_ticks(&stores, &dispatcher, now)
            .await
            .iter()
            .map(|s| s.triggered)
            .sum();
        assert_eq!(triggered, 5, "round {round}: each due slot once");
    }
    for i in 0..5 {
        let slots: Vec<String> = server
            .requests_to(&format!("/race{i}"))
            .iter()
            .filter_map(|r| r.header(HEADER_SCHEDULED_FOR).map(str::to_owned))
            .collect();
        let unique: BTreeSet<&String> = slots.iter().collect();
        assert_eq!(
            (slots.len(), unique.len()),
            (20, 20),
            "race{i}: each minute exactly once"
        );
    }
}
