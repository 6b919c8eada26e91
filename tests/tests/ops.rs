//! The operations layer on the real stores (SQLite and DynamoDB on moto) with a real job
//! server: what the unit tests of `shared::ops` show on the memory store holds where users
//! keep their jobs. Its store and dispatcher helpers serve `backfill_history.rs` too.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use shared::clock::FixedClock;
use shared::dispatch::{DispatchOptions, HttpDispatcher, PrivateTargets};
use shared::model::Status;
use shared::ops::{JobInput, JobKey, Ops, ScheduleForm, TickAt};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;
use shared::tick::{NowUse, TickConfig};

use crate::conformance::open_sqlite;
use crate::helpers::jobserver::JobServer;
use crate::helpers::{moto, tempdb};

pub(crate) fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid")
}

pub(crate) async fn sqlite() -> Ops {
    let store: Arc<dyn Store> = Arc::new(open_sqlite(&tempdb::temp_db_path()).await);
    Ops::with_store("sqlite", store)
}

pub(crate) async fn dynamodb() -> Ops {
    let endpoint = moto::endpoint().await;
    let store = DynamoStore::new(
        &moto::sdk_config(&endpoint).await,
        moto::unique_table_name(),
    );
    store.create_table().await.expect("create the test table");
    Ops::with_store("dynamodb", Arc::new(store))
}

pub(crate) fn dispatcher() -> HttpDispatcher {
    HttpDispatcher::with_options(DispatchOptions {
        private_targets: PrivateTargets::AllowLoopback,
        signing_secrets: Vec::new(),
        ca_certs_pem: None,
    })
    .expect("client")
}

/// A job every 5 minutes created at noon: its 12:05 slot is due at 12:05:30, unclaimed.
async fn every_5m(ops: &Ops, server: &JobServer) -> JobKey {
    let key = JobKey::parse("web", "sync").expect("key");
    let input = JobInput {
        url: Some(server.url("/sync")),
        schedule: ScheduleForm {
            every: Some("5m".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ops.create(&key, &input, noon()).await.expect("create");
    key
}

async fn tick_at(ops: &Ops, at: DateTime<Utc>) -> shared::tick::TickSummary {
    let at_ = TickAt::parse(None, None, NowUse::Write, at).expect("at");
    ops.tick(
        at_,
        &dispatcher(),
        &FixedClock::new(at),
        &TickConfig::default(),
    )
    .await
    .expect("tick")
}

async fn a_narrower_schedule_keeps_the_due_slot_and_the_tick_calls_it_once(ops: Ops) {
    let server = JobServer::start().await;
    let key = every_5m(&ops, &server).await;
    let due = noon() + chrono::Duration::seconds(330);
    let narrower = JobInput {
        schedule: ScheduleForm {
            every: Some("5m".into()),
            between: Some("08:00-17:00".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ops.update(&key, &narrower, due).await.expect("update");
    let summary = tick_at(&ops, due + chrono::Duration::seconds(5)).await;
    assert_eq!(
        (summary.triggered, summary.succeeded),
        (1, 1),
        "{summary:?}"
    );
    assert_eq!(server.count("/sync"), 1);
    let (_, history) = ops.history(&key, None, 5).await.expect("history");
    assert_eq!(
        history.executions[0].scheduled_for,
        noon() + chrono::Duration::minutes(5)
    );
}

async fn pausing_records_the_due_slot_missed_and_nothing_is_called(ops: Ops) {
    let server = JobServer::start().await;
    let key = every_5m(&ops, &server).await;
    let due = noon() + chrono::Duration::seconds(330);
    ops.pause(&key, None, due).await.expect("pause");
    assert_eq!(tick_at(&ops, due).await.triggered, 0);
    assert_eq!(server.count("/sync"), 0);
    let (job, history) = ops.history(&key, None, 5).await.expect("history");
    assert_eq!(history.executions.len(), 1, "{history:?}");
    let missed = &history.executions[0];
    assert_eq!(missed.status, Status::Missed);
    assert!(
        missed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("paused")),
        "{missed:?}"
    );
    assert_eq!(job.state.last.map(|l| l.status), Some(Status::Missed));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_keeps_a_due_slot_on_sqlite() {
    a_narrower_schedule_keeps_the_due_slot_and_the_tick_calls_it_once(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_keeps_a_due_slot_on_dynamodb() {
    a_narrower_schedule_keeps_the_due_slot_and_the_tick_calls_it_once(dynamodb().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pause_records_a_due_slot_missed_on_sqlite() {
    pausing_records_the_due_slot_missed_and_nothing_is_called(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pause_records_a_due_slot_missed_on_dynamodb() {
    pausing_records_the_due_slot_missed_and_nothing_is_called(dynamodb().await).await;
}

async fn an_update_from_a_slow_clock_does_not_run_a_slot_twice_or_wedge_the_job(ops: Ops) {
    let server = JobServer::start().await;
    let key = every_5m(&ops, &server).await;
    let slot = noon() + chrono::Duration::minutes(5);
    assert_eq!(tick_at(&ops, slot).await.succeeded, 1);
    // A laptop 20 s slow changes the job just after the 12:05 call: from its clock, 12:05
    // is still to come.
    let narrower = JobInput {
        schedule: ScheduleForm {
            every: Some("5m".into()),
            between: Some("08:00-17:00".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let job = ops
        .update(&key, &narrower, slot - chrono::Duration::seconds(10))
        .await
        .expect("update");
    assert_eq!(
        job.state.next_slot,
        Some(slot),
        "set back onto a slot that ran"
    );
    let summary = tick_at(&ops, slot + chrono::Duration::seconds(60)).await;
    assert_eq!(summary.triggered, 0, "{summary:?}");
    assert_eq!(server.count("/sync"), 1, "the slot ran once");
    let job = ops.job(&key).await.expect("job");
    assert_eq!(
        job.state.next_slot,
        Some(slot + chrono::Duration::minutes(5)),
        "moved past the slot that ran"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_clock_does_not_wedge_a_job_on_sqlite() {
    an_update_from_a_slow_clock_does_not_run_a_slot_twice_or_wedge_the_job(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_clock_does_not_wedge_a_job_on_dynamodb() {
    an_update_from_a_slow_clock_does_not_run_a_slot_twice_or_wedge_the_job(dynamodb().await).await;
}
