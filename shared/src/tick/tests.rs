//! The tick's unit tests, on the memory store with a fake dispatcher.

use std::sync::Arc;

use chrono::TimeZone;

use super::plan::plan;
use super::*;
use crate::clock::FixedClock;
use crate::model::{AppName, JobName, JobUrl, NewJob};
use crate::model::{Job, LastRun, Trigger};
use crate::store::memory::MemoryStore;
use crate::store::{Claim, ClaimOutcome};
use crate::testing::{FailingStore, FakeDispatch};

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, h, m, 0)
        .single()
        .expect("valid")
}

fn job(schedule: &str, now: DateTime<Utc>) -> Job {
    NewJob::new(
        AppName::parse("app").expect("app"),
        JobName::parse("job").expect("name"),
        JobUrl::parse("http://127.0.0.1:1/job").expect("url"),
        schedule.parse().expect("schedule"),
    )
    .build(now)
    .expect("job")
}

#[tokio::test]
async fn a_slot_due_while_the_previous_call_is_in_flight_is_skipped() {
    let store = Arc::new(MemoryStore::new());
    let j = job("* * * * *", at(9, 59) + chrono::Duration::seconds(30));
    store.create_job(&j).await.expect("create");
    let dispatch = Arc::new(FakeDispatch::default());
    let gate = dispatch.hold();
    let config = TickConfig::default();

    let first = {
        let (store, dispatch, config) = (store.clone(), dispatch.clone(), config.clone());
        tokio::spawn(async move {
            let clock = FixedClock::new(at(10, 0));
            tick(store.as_ref(), dispatch.as_ref(), &clock, &config).await
        })
    };
    while dispatch.calls().is_empty() {
        tokio::task::yield_now().await;
    }
    let second = tick(
        store.as_ref(),
        dispatch.as_ref(),
        &FixedClock::new(at(10, 1)),
        &config,
    )
    .await
    .expect("tick");
    assert_eq!((second.triggered, second.skipped), (0, 1));
    dispatch.release();
    gate.notify_one();
    let first = first.await.expect("join").expect("tick");
    assert_eq!((first.triggered, first.succeeded), (1, 1));
    let third = tick(
        store.as_ref(),
        dispatch.as_ref(),
        &FixedClock::new(at(10, 2)),
        &config,
    )
    .await
    .expect("tick");
    assert_eq!(third.triggered, 1, "the in-flight marker was cleared");
    let statuses: Vec<Status> = store
        .list_executions(&j.id, 10)
        .await
        .expect("history")
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(
        statuses,
        vec![Status::Succeeded, Status::Skipped, Status::Succeeded]
    );
}

#[tokio::test]
async fn a_claim_whose_tick_died_before_sending_is_sent_once_by_a_later_tick() {
    let store = MemoryStore::new();
    let j = job("0 10 * * *", at(9, 0));
    store.create_job(&j).await.expect("create");
    let config = TickConfig::default();
    // Claim as a tick would, then "crash" before sending.
    let plan = plan(&j, at(10, 0), &config, false, None).expect("due");
    let mut claimed_job = plan.job;
    claimed_job.state.version = 1;
    claimed_job.state.writer = Some("dead-tick".into());
    let mut execution = plan.execution;
    execution.claimed_by = Some("dead-tick".into());
    let claim = Claim {
        job: claimed_job,
        expected_version: 0,
        execution,
        token: "dead-tick".into(),
    };
    assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
    assert_eq!(
        store.claim(&claim).await.expect("retried claim"),
        ClaimOutcome::Won,
        "a retried claim recognises itself"
    );

    let dispatch = FakeDispatch::default();
    let early = tick(
        &store,
        &dispatch,
        &FixedClock::new(at(10, 0) + chrono::Duration::seconds(30)),
        &config,
    )
    .await
    .expect("tick");
    assert_eq!(early.triggered, 0, "the lease has not expired");
    let late = tick(&store, &dispatch, &FixedClock::new(at(10, 1)), &config)
        .await
        .expect("tick");
    assert_eq!((late.triggered, late.succeeded), (1, 1));
    let again = tick(&store, &dispatch, &FixedClock::new(at(10, 5)), &config)
        .await
        .expect("tick");
    assert_eq!(again.triggered, 0);
    assert_eq!(dispatch.calls().len(), 1);
}

#[tokio::test]
async fn a_call_with_no_recorded_outcome_is_reconciled_and_retried_when_allowed() {
    let store = MemoryStore::new();
    let mut j = job("0 10 * * *", at(9, 0));
    j.retries = 1;
    store.create_job(&j).await.expect("create");
    let config = TickConfig::default();
    let plan = plan(&j, at(10, 0), &config, false, None).expect("due");
    let mut claimed_job = plan.job;
    claimed_job.state.version = 1;
    claimed_job.state.writer = Some("t".into());
    let mut execution = plan.execution;
    execution.claimed_by = Some("t".into());
    let id = execution.id.clone();
    let claim = Claim {
        job: claimed_job,
        expected_version: 0,
        execution,
        token: "t".into(),
    };
    store.claim(&claim).await.expect("claim");
    // Sent, then the tick died: no outcome.
    let deadline = at(10, 0) + chrono::Duration::seconds(90);
    assert!(
        store
            .mark_dispatched(&id, "t", "hash", at(10, 0), deadline)
            .await
            .expect("mark")
    );

    let dispatch = FakeDispatch::default();
    let before = tick(&store, &dispatch, &FixedClock::new(at(10, 1)), &config)
        .await
        .expect("tick");
    assert_eq!(before.reconciled, 0);
    let after = tick(&store, &dispatch, &FixedClock::new(at(10, 2)), &config)
        .await
        .expect("tick");
    assert_eq!((after.reconciled, after.retried), (1, 1));
    let e = store
        .get_execution(&id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(e.status, Status::TimedOut);
    assert!(
        e.error
            .as_deref()
            .is_some_and(|m| m.contains("no outcome was recorded"))
    );
    let retry = tick(&store, &dispatch, &FixedClock::new(at(10, 3)), &config)
        .await
        .expect("tick");
    assert_eq!(retry.triggered, 1);
    assert_eq!(dispatch.calls()[0].attempt, 2, "the retry is attempt 2");
}

#[tokio::test]
async fn a_paused_job_is_never_due_and_an_ended_job_leaves_the_index() {
    let store = MemoryStore::new();
    let mut paused = job("* * * * *", at(9, 0));
    paused.enabled = false;
    store.create_job(&paused).await.expect("create");
    let mut ending = job("*/30 * * * *", at(9, 0));
    ending.name = JobName::parse("ending").expect("name");
    ending.end = Some(at(10, 0));
    store.create_job(&ending).await.expect("create");
    let dispatch = FakeDispatch::default();
    let config = TickConfig::default();
    for (h, m) in [(9, 30), (10, 0), (10, 30), (11, 0)] {
        tick(&store, &dispatch, &FixedClock::new(at(h, m)), &config)
            .await
            .expect("tick");
    }
    assert_eq!(dispatch.calls().len(), 2, "09:30 and 10:00 only");
    let ended = store
        .get_job(&ending.app, &ending.name)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(ended.due_at(), None);
}

#[tokio::test]
async fn a_dry_run_reports_what_would_run_and_writes_nothing() {
    let store = MemoryStore::new();
    let j = job("0 10 * * *", at(9, 0));
    store.create_job(&j).await.expect("create");
    let dispatch = FakeDispatch::default();
    let config = TickConfig {
        dry_run: true,
        ..TickConfig::default()
    };
    let summary = tick(&store, &dispatch, &FixedClock::new(at(10, 0)), &config)
        .await
        .expect("tick");
    assert_eq!(
        (summary.due, summary.triggered, summary.dry_run),
        (1, 1, true)
    );
    assert!(dispatch.calls().is_empty());
    assert_eq!(
        store.get_job(&j.app, &j.name).await.expect("get"),
        Some(j.clone())
    );
    assert!(
        store
            .list_executions(&j.id, 10)
            .await
            .expect("history")
            .is_empty()
    );
}

#[tokio::test]
async fn a_slot_whose_call_would_outlast_the_deadline_is_left_for_the_next_tick() {
    let store = MemoryStore::new();
    let j = job("0 10 * * *", at(9, 0));
    store.create_job(&j).await.expect("create");
    let dispatch = FakeDispatch::default();
    let tight = TickConfig {
        deadline: Some(Instant::now() + Duration::from_secs(20)),
        ..TickConfig::default()
    };
    let summary = tick(&store, &dispatch, &FixedClock::new(at(10, 0)), &tight)
        .await
        .expect("tick");
    assert_eq!(
        (summary.triggered, summary.deferred),
        (0, 1),
        "30 s timeout + 5 s margin > 20 s left"
    );
    assert!(
        store
            .list_executions(&j.id, 10)
            .await
            .expect("history")
            .is_empty(),
        "nothing claimed"
    );
    let roomy = TickConfig {
        deadline: Some(Instant::now() + Duration::from_secs(300)),
        ..TickConfig::default()
    };
    let summary = tick(&store, &dispatch, &FixedClock::new(at(10, 1)), &roomy)
        .await
        .expect("tick");
    assert_eq!((summary.triggered, summary.deferred), (1, 0));
}

#[tokio::test]
async fn a_store_failure_on_one_job_is_one_error_and_the_tick_still_counts_what_completed() {
    let store = FailingStore::new();
    let kept = job("0 10 * * *", at(9, 0));
    let mut broken = job("0 10 * * *", at(9, 0));
    broken.name = JobName::parse("broken").expect("name");
    store.create_job(&kept).await.expect("create");
    store.create_job(&broken).await.expect("create");
    // The broken job's bookkeeping after its call fails: its claim, call and outcome land.
    store.fail_job_writes_of(&broken.name);
    let dispatch = FakeDispatch::default();
    let err = tick(
        &store,
        &dispatch,
        &FixedClock::new(at(10, 0)),
        &TickConfig::default(),
    )
    .await
    .expect_err("an incomplete tick");
    let summary = err.summary().expect("what completed").clone();
    assert_eq!(
        (
            summary.due,
            summary.triggered,
            summary.succeeded,
            summary.errors
        ),
        (2, 2, 2, 1),
        "{summary:?}"
    );
    assert!(
        matches!(
            &err,
            TickError::Incomplete {
                source: StoreError::Backend {
                    operation: "PutItem",
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the store failed during the tick, for 1 of its due items (the rest completed)"
    );
    assert_eq!(dispatch.calls().len(), 2);
    for j in [&kept, &broken] {
        let history = store.list_executions(&j.id, 10).await.expect("history");
        assert_eq!(
            history.iter().map(|e| e.status).collect::<Vec<_>>(),
            vec![Status::Succeeded],
            "{}",
            j.name
        );
    }
    let last = |j: &Job| {
        let store = &store;
        let (app, name) = (j.app.clone(), j.name.clone());
        async move {
            store
                .get_job(&app, &name)
                .await
                .expect("get")
                .expect("job")
                .state
                .last
                .map(|l| l.status)
        }
    };
    assert_eq!(last(&kept).await, Some(Status::Succeeded));
    assert_eq!(last(&broken).await, None, "its bookkeeping failed");
}

#[tokio::test]
async fn an_outcome_the_apps_guard_records_after_the_answer_is_counted_once_as_the_jobs_last_run() {
    use crate::model::ExecutionId;
    use crate::store::GuardEnd;

    let store = Arc::new(MemoryStore::new());
    let mut j = job("0 10 * * *", at(9, 0));
    j.retries = 1; // never used: the app owns the outcome once its guard claimed the run
    store.create_job(&j).await.expect("create");
    let dispatch = Arc::new(FakeDispatch::default());
    let gate = dispatch.hold();
    let config = TickConfig::default();
    let first = {
        let (store, dispatch, config) = (store.clone(), dispatch.clone(), config.clone());
        tokio::spawn(async move {
            let clock = FixedClock::new(at(10, 0));
            tick(store.as_ref(), dispatch.as_ref(), &clock, &config).await
        })
    };
    while dispatch.calls().is_empty() {
        tokio::task::yield_now().await;
    }
    // While the call is in flight, the app's guard claims the run; the app answers (202)
    // and works on.
    let id = ExecutionId::parse(&dispatch.calls()[0].execution).expect("an id");
    let sent = store.get_execution(&id).await.expect("get").expect("sent");
    let hash = sent.key_hash.expect("a key hash");
    let started = at(10, 0) + chrono::Duration::seconds(1);
    assert!(
        store
            .guard_start(&id, &hash, "n1", started)
            .await
            .expect("start")
    );
    dispatch.release();
    gate.notify_one();
    let first = first.await.expect("join").expect("tick");
    assert_eq!(
        (first.triggered, first.succeeded, first.failed),
        (1, 0, 0),
        "the app's run goes on: no outcome yet"
    );
    // Later, the guard records the end.
    let finished = at(10, 0) + chrono::Duration::seconds(40);
    let end = GuardEnd {
        status: Status::Failed,
        http_status: None,
        output: Some("half the rows".into()),
        error: Some("the export failed".into()),
        finished_at: finished,
        duration_ms: 39_000,
    };
    assert!(store.guard_end(&id, "n1", &end).await.expect("end"));

    let next = tick(
        store.as_ref(),
        dispatch.as_ref(),
        &FixedClock::new(at(10, 1)),
        &config,
    )
    .await
    .expect("tick");
    assert_eq!(
        (
            next.triggered,
            next.failed,
            next.guard_finished,
            next.retried
        ),
        (0, 1, 1, 0),
        "the guard's outcome is counted by the next tick, and never retried: {next:?}"
    );
    let stored = store
        .get_job(&j.app, &j.name)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(
        stored.state.last,
        Some(LastRun {
            execution: id.clone(),
            status: Status::Failed,
            at: finished,
        }),
        "the job's last run is the guard's outcome"
    );
    assert_eq!(stored.state.retry, None);
    let again = tick(
        store.as_ref(),
        dispatch.as_ref(),
        &FixedClock::new(at(10, 2)),
        &config,
    )
    .await
    .expect("tick");
    assert_eq!((again.failed, again.guard_finished), (0, 0), "counted once");
    assert_eq!(dispatch.calls().len(), 1);
}

#[test]
fn the_jobs_last_run_is_the_run_that_finished_last() {
    use super::steps::supersedes;
    use crate::model::{ExecutionId, JobId, Trigger};

    let job = JobId::parse("0123456789abcdef0123456789abcdef").expect("a job id");
    let run = |slot: u32, status: Status, at: DateTime<Utc>| LastRun {
        execution: ExecutionId::new(job.clone(), self::at(9, slot), Trigger::Schedule, 1),
        status,
        at,
    };
    let early = run(0, Status::Succeeded, at(9, 5));
    let late = run(1, Status::Failed, at(9, 7));
    assert!(supersedes(None, &early), "the first run");
    assert!(supersedes(Some(&early), &late), "finished later");
    assert!(
        !supersedes(Some(&late), &early),
        "an end counted late that finished before the recorded run does not replace it"
    );
    let guess = run(0, Status::TimedOut, at(9, 6));
    assert!(
        supersedes(Some(&guess), &early),
        "the same execution's real outcome replaces the reconciler's guess, whatever its instant"
    );
}

/// A CLI whose clock is behind writes the job with a next slot that already ran (here, an
/// update at 09:59:50 on a clock 20 s slow, after the 10:00 slot ran). The claim of that
/// slot fails only because its execution exists: the tick advances the job instead of
/// losing four claims a tick until the slot is passed (a day, for a daily job).
#[tokio::test]
async fn a_next_slot_that_already_ran_is_passed_over_not_claimed_again_and_again() {
    let store = Arc::new(MemoryStore::new());
    let j = job("0 10 * * *", at(9, 0));
    store.create_job(&j).await.expect("create");
    let dispatch = FakeDispatch::default();
    let config = TickConfig::default();
    let first = tick(
        store.as_ref(),
        &dispatch,
        &FixedClock::new(at(10, 0)),
        &config,
    )
    .await
    .expect("tick");
    assert_eq!(first.succeeded, 1);
    let ran = store
        .get_job(&j.app, &j.name)
        .await
        .expect("get")
        .expect("job");
    let mut skewed = ran.clone();
    skewed.state.next_slot = Some(at(10, 0));
    skewed.state.version += 1;
    skewed.state.writer = Some("a-slow-clock".to_owned());
    assert!(
        store
            .put_job(&skewed, ran.state.version)
            .await
            .expect("put")
    );

    let second = tick(
        store.as_ref(),
        &dispatch,
        &FixedClock::new(at(10, 1)),
        &config,
    )
    .await
    .expect("tick");
    assert_eq!(second.triggered, 0, "{second:?}");
    assert_eq!(dispatch.calls().len(), 1, "the slot ran once");
    let after = store
        .get_job(&j.app, &j.name)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(
        after.state.next_slot,
        Some(at(10, 0) + chrono::Duration::days(1)),
        "the job was advanced past the slot that already ran"
    );
}

/// Waits until `dispatch` has received `n` calls.
async fn calls_reach(dispatch: &FakeDispatch, n: usize) {
    while dispatch.calls().len() < n {
        tokio::task::yield_now().await;
    }
}

/// A job that forbids overlap, every minute: the 10:00 call is held in flight while a
/// manual run starts and ends. The scheduled call still runs, so 10:01 is skipped.
#[tokio::test]
async fn a_manual_run_keeps_the_in_flight_marker_of_a_scheduled_call() {
    let store = Arc::new(MemoryStore::new());
    let j = job("* * * * *", at(9, 59) + chrono::Duration::seconds(30));
    store.create_job(&j).await.expect("create");
    let dispatch = Arc::new(FakeDispatch::default());
    let gate = dispatch.hold();
    let config = TickConfig::default();
    let first = {
        let (store, dispatch, config) = (store.clone(), dispatch.clone(), config.clone());
        tokio::spawn(async move {
            let clock = FixedClock::new(at(10, 0));
            tick(store.as_ref(), dispatch.as_ref(), &clock, &config).await
        })
    };
    calls_reach(&dispatch, 1).await;
    dispatch.release();
    let manual = run_now(
        store.as_ref(),
        dispatch.as_ref(),
        &FixedClock::new(at(10, 0) + chrono::Duration::seconds(20)),
        &config,
        &j.app,
        &j.name,
    )
    .await
    .expect("run now");
    assert_eq!(manual.status, Status::Succeeded);
    let second = tick(
        store.as_ref(),
        dispatch.as_ref(),
        &FixedClock::new(at(10, 1)),
        &config,
    )
    .await
    .expect("tick");
    assert_eq!(
        (second.triggered, second.skipped),
        (0, 1),
        "the 10:00 call is still in flight"
    );
    gate.notify_one();
    first.await.expect("join").expect("tick");
}

/// A daily job with one retry fails at 10:00; a manual run at 10:00:10 fails too. Both
/// retries run: the manual run's failure does not replace the scheduled slot's retry.
#[tokio::test]
async fn a_scheduled_retry_survives_a_manual_runs_failure() {
    let store = Arc::new(MemoryStore::new());
    let mut spec = NewJob::new(
        AppName::parse("app").expect("app"),
        JobName::parse("job").expect("name"),
        JobUrl::parse("http://127.0.0.1:1/job").expect("url"),
        "0 10 * * *".parse().expect("schedule"),
    );
    spec.retries = 1;
    let j = spec.build(at(9, 0)).expect("job");
    store.create_job(&j).await.expect("create");
    let dispatch = FakeDispatch::answering(Status::Failed);
    let config = TickConfig::default();
    tick(
        store.as_ref(),
        &dispatch,
        &FixedClock::new(at(10, 0)),
        &config,
    )
    .await
    .expect("tick");
    run_now(
        store.as_ref(),
        &dispatch,
        &FixedClock::new(at(10, 0) + chrono::Duration::seconds(10)),
        &config,
        &j.app,
        &j.name,
    )
    .await
    .expect("run now");
    for minute in 2..6 {
        tick(
            store.as_ref(),
            &dispatch,
            &FixedClock::new(at(10, minute)),
            &config,
        )
        .await
        .expect("tick");
    }
    let second_attempts: Vec<Trigger> = store
        .list_executions(&j.id, 20)
        .await
        .expect("history")
        .iter()
        .filter(|e| e.attempt == 2)
        .map(|e| e.trigger)
        .collect();
    assert!(
        second_attempts.contains(&Trigger::Schedule) && second_attempts.contains(&Trigger::Manual),
        "both retries ran: {second_attempts:?}"
    );
}

/// The tick's call times out while the app's guard still runs the job (it claimed the
/// execution): the job is still running, so a forbid job's next slot is skipped.
#[tokio::test]
async fn a_call_that_timed_out_while_the_guard_runs_the_job_keeps_it_in_flight() {
    let store = Arc::new(MemoryStore::new());
    let j = job("* * * * *", at(9, 59) + chrono::Duration::seconds(30));
    store.create_job(&j).await.expect("create");
    let dispatch = Arc::new(FakeDispatch::answering(Status::TimedOut));
    let gate = dispatch.hold();
    let config = TickConfig::default();
    let first = {
        let (store, dispatch, config) = (store.clone(), dispatch.clone(), config.clone());
        tokio::spawn(async move {
            let clock = FixedClock::new(at(10, 0));
            tick(store.as_ref(), dispatch.as_ref(), &clock, &config).await
        })
    };
    calls_reach(&dispatch, 1).await;
    let call = dispatch.calls().remove(0);
    let id = crate::model::ExecutionId::parse(&call.execution).expect("id");
    let started = store
        .guard_start(
            &id,
            &crate::protocol::key_hash(&call.key),
            "nonce",
            at(10, 0),
        )
        .await
        .expect("guard start");
    assert!(started, "the guard claimed the execution");
    dispatch.release();
    gate.notify_one();
    first.await.expect("join").expect("tick");
    let second = tick(
        store.as_ref(),
        dispatch.as_ref(),
        &FixedClock::new(at(10, 1)),
        &config,
    )
    .await
    .expect("tick");
    assert_eq!(
        (second.triggered, second.skipped),
        (0, 1),
        "the guard still runs the 10:00 execution"
    );
}

// Issue 16: jobs by path and the call budget per app.

fn app_record(name: &str, base: &str, budget: u32, now: DateTime<Utc>) -> crate::model::App {
    crate::model::App::new(
        AppName::parse(name).expect("app"),
        crate::model::BaseUrl::parse(base).expect("base url"),
        budget,
        now,
    )
    .expect("app record")
}

/// A job of `app` named `name`, every minute; by path when `path` is given (its `url` then a
/// stale display URL the tick must never call).
fn app_job(app: &str, name: &str, path: Option<&str>, now: DateTime<Utc>) -> Job {
    let mut spec = NewJob::new(
        AppName::parse(app).expect("app"),
        JobName::parse(name).expect("name"),
        JobUrl::parse(&format!("http://{app}.stale.invalid/{name}")).expect("url"),
        "* * * * *".parse().expect("schedule"),
    );
    spec.path = path.map(|p| crate::model::JobPath::parse(p).expect("path"));
    spec.build(now).expect("job")
}

#[tokio::test]
async fn a_job_by_path_is_called_at_its_apps_current_base_url() {
    let store = MemoryStore::new();
    let created = at(9, 59) + chrono::Duration::seconds(30);
    let app = app_record("billing", "http://first.invalid/prefix/", 4, created);
    store.create_app(&app).await.expect("app");
    let j = app_job(
        "billing",
        "invoices",
        Some("/scheduled/invoices?full=1"),
        created,
    );
    store.create_job(&j).await.expect("create");
    let dispatch = FakeDispatch::default();
    let config = TickConfig::default();

    let first = tick(&store, &dispatch, &FixedClock::new(at(10, 0)), &config)
        .await
        .expect("tick");
    assert_eq!((first.triggered, first.succeeded), (1, 1));

    let mut moved = app.clone();
    moved.base_url = crate::model::BaseUrl::parse("http://second.invalid").expect("base");
    moved.version = app.version + 1;
    assert!(store.put_app(&moved, app.version).await.expect("put_app"));
    let second = tick(&store, &dispatch, &FixedClock::new(at(10, 1)), &config)
        .await
        .expect("tick");
    assert_eq!((second.triggered, second.succeeded), (1, 1));

    let urls: Vec<String> = dispatch.calls().into_iter().map(|c| c.url).collect();
    assert_eq!(
        urls,
        [
            "http://first.invalid/prefix/scheduled/invoices?full=1",
            "http://second.invalid/scheduled/invoices?full=1",
        ]
    );
    let mut recorded: Vec<String> = store
        .list_executions(&j.id, 10)
        .await
        .expect("history")
        .iter()
        .map(|e| e.url.as_str().to_owned())
        .collect();
    recorded.sort();
    assert_eq!(recorded, urls, "each execution records the URL it called");
}

#[tokio::test]
async fn a_job_by_path_whose_app_has_no_record_is_recorded_failed_and_not_called() {
    let store = MemoryStore::new();
    let created = at(9, 59) + chrono::Duration::seconds(30);
    let app = app_record("billing", "http://first.invalid", 4, created);
    store.create_app(&app).await.expect("app");
    let j = app_job("billing", "invoices", Some("/invoices"), created);
    store.create_job(&j).await.expect("create");
    store.delete_app(&app.name).await.expect("delete app");
    let dispatch = FakeDispatch::default();

    let summary = tick(
        &store,
        &dispatch,
        &FixedClock::new(at(10, 0)),
        &TickConfig::default(),
    )
    .await
    .expect("tick");
    assert!(dispatch.calls().is_empty(), "never called at the stale url");
    assert_eq!((summary.due, summary.failed, summary.triggered), (1, 1, 0));
    let history = store.list_executions(&j.id, 10).await.expect("history");
    assert_eq!(history.len(), 1, "the slot is recorded, not lost");
    assert_eq!(history[0].status, Status::Failed);
    let error = history[0].error.clone().unwrap_or_default();
    assert!(
        error.contains(
            "the app billing has no record with a base URL: psu-sched app create --app billing --base-url"
        ),
        "{error}"
    );
    let job = store
        .get_job(&j.app, &j.name)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(job.state.last.map(|l| l.status), Some(Status::Failed));
    assert!(job.state.inflight.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_apps_budget_bounds_its_calls_in_flight_and_other_apps_calls_do_not_wait() {
    let store = MemoryStore::new();
    let created = at(9, 59) + chrono::Duration::seconds(30);
    store
        .create_app(&app_record("a", "http://a.invalid", 2, created))
        .await
        .expect("app a");
    store
        .create_app(&app_record("b", "http://b.invalid", 4, created))
        .await
        .expect("app b");
    for i in 0..8 {
        let j = app_job("a", &format!("a{i}"), Some(&format!("/a{i}")), created);
        store.create_job(&j).await.expect("create");
    }
    for i in 0..2 {
        let j = app_job("b", &format!("b{i}"), Some(&format!("/b{i}")), created);
        store.create_job(&j).await.expect("create");
    }
    let dispatch = FakeDispatch::default();
    for i in 0..8 {
        dispatch.delay_calls_to(&format!("/a{i}"), Duration::from_secs(1));
    }
    let config = TickConfig {
        concurrency: 4,
        ..TickConfig::default()
    };

    let summary = tick(&store, &dispatch, &FixedClock::new(at(10, 0)), &config)
        .await
        .expect("tick");
    assert_eq!((summary.triggered, summary.succeeded), (10, 10));
    assert_eq!(dispatch.max_in_flight_to("http://a.invalid/"), 2);
    // A's third call can only start once one of its first two has ended (1 s): B's calls
    // went out before, in the tick's free slots.
    let calls = dispatch.calls();
    let third_a = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.url.starts_with("http://a.invalid/"))
        .nth(2)
        .map(|(i, _)| i)
        .expect("a third call to a");
    let b_calls: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.url.starts_with("http://b.invalid/"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(b_calls.len(), 2);
    assert!(
        b_calls.iter().all(|i| *i < third_a),
        "B's calls waited for A's: {calls:?}"
    );
}

#[tokio::test]
async fn a_manual_run_of_a_job_by_path_is_called_at_its_apps_base_url() {
    let store = MemoryStore::new();
    let created = at(9, 59) + chrono::Duration::seconds(30);
    store
        .create_app(&app_record("billing", "http://now.invalid/p", 4, created))
        .await
        .expect("app");
    let j = app_job("billing", "invoices", Some("/invoices"), created);
    store.create_job(&j).await.expect("create");
    let dispatch = FakeDispatch::default();
    let execution = run_now(
        &store,
        &dispatch,
        &FixedClock::new(at(10, 0) + chrono::Duration::seconds(10)),
        &TickConfig::default(),
        &j.app,
        &j.name,
    )
    .await
    .expect("run");
    assert_eq!(execution.status, Status::Succeeded);
    assert_eq!(execution.url.as_str(), "http://now.invalid/p/invoices");
    let urls: Vec<String> = dispatch.calls().into_iter().map(|c| c.url).collect();
    assert_eq!(urls, ["http://now.invalid/p/invoices"]);
}

#[tokio::test]
async fn a_slot_waiting_for_its_apps_budget_past_the_deadline_is_left_for_the_next_tick() {
    let store = MemoryStore::new();
    let created = at(9, 59) + chrono::Duration::seconds(30);
    store
        .create_app(&app_record("a", "http://a.invalid", 1, created))
        .await
        .expect("app");
    let first = app_job("a", "first", Some("/first"), created);
    let second = app_job("a", "second", Some("/second"), created);
    store.create_job(&first).await.expect("create");
    store.create_job(&second).await.expect("create");
    let dispatch = FakeDispatch::default();
    dispatch.delay_every_call(Duration::from_millis(1500));
    // Room for one call (30 s timeout + 5 s margin) now, not 1.5 s later: the slot that
    // waits for the budget of 1 no longer fits once the first call ends.
    let tight = TickConfig {
        deadline: Some(Instant::now() + Duration::from_secs(36)),
        ..TickConfig::default()
    };
    let summary = tick(&store, &dispatch, &FixedClock::new(at(10, 0)), &tight)
        .await
        .expect("tick");
    assert_eq!((summary.triggered, summary.deferred), (1, 1));
    dispatch.delay_every_call(Duration::ZERO);
    let summary = tick(
        &store,
        &dispatch,
        &FixedClock::new(at(10, 0) + chrono::Duration::seconds(40)),
        &TickConfig::default(),
    )
    .await
    .expect("tick");
    assert_eq!(
        (summary.triggered, summary.deferred),
        (1, 0),
        "deferred, not dropped"
    );
    let mut urls: Vec<String> = dispatch.calls().into_iter().map(|c| c.url).collect();
    urls.sort();
    assert_eq!(urls, ["http://a.invalid/first", "http://a.invalid/second"]);
}

#[tokio::test]
async fn a_claim_of_a_job_by_path_left_unsent_is_sent_at_its_apps_current_base_url() {
    let store = MemoryStore::new();
    store
        .create_app(&app_record("billing", "http://now.invalid", 4, at(9, 0)))
        .await
        .expect("app");
    let mut spec = NewJob::new(
        AppName::parse("billing").expect("app"),
        JobName::parse("nightly").expect("name"),
        JobUrl::parse("http://billing.stale.invalid/nightly").expect("url"),
        "0 10 * * *".parse().expect("schedule"),
    );
    spec.path = Some(crate::model::JobPath::parse("/nightly").expect("path"));
    let j = spec.build(at(9, 0)).expect("job");
    store.create_job(&j).await.expect("create");
    let config = TickConfig::default();
    // Claimed by a tick that died before sending (its execution holds the stale URL here).
    let plan = plan(&j, at(10, 0), &config, false, None).expect("due");
    let mut claimed_job = plan.job;
    claimed_job.state.version = 1;
    claimed_job.state.writer = Some("dead-tick".into());
    let mut execution = plan.execution;
    execution.claimed_by = Some("dead-tick".into());
    let claim = Claim {
        job: claimed_job,
        expected_version: 0,
        execution,
        token: "dead-tick".into(),
    };
    assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);

    let dispatch = FakeDispatch::default();
    let late = tick(&store, &dispatch, &FixedClock::new(at(10, 1)), &config)
        .await
        .expect("tick");
    assert_eq!((late.triggered, late.succeeded), (1, 1));
    let urls: Vec<String> = dispatch.calls().into_iter().map(|c| c.url).collect();
    assert_eq!(urls, ["http://now.invalid/nightly"], "never the stale URL");
}

// Issue 28: each app's share of the tick's calls (the Lambda's per-app metrics).

fn figures(triggered: u64, succeeded: u64, failed: u64) -> AppFigures {
    AppFigures {
        triggered,
        succeeded,
        failed,
        timed_out: 0,
    }
}

#[tokio::test]
async fn the_summary_counts_each_apps_calls_and_outcomes_apart() {
    let store = MemoryStore::new();
    let created = at(9, 59) + chrono::Duration::seconds(30);
    store
        .create_app(&app_record("billing", "http://billing.invalid", 4, created))
        .await
        .expect("app");
    for name in ["invoices", "reminders"] {
        let j = app_job("billing", name, Some(&format!("/{name}")), created);
        store.create_job(&j).await.expect("create");
    }
    // A job by URL of an app without a record (calls unsigned here: it is called).
    let reports = app_job("reports", "weekly", None, created);
    store.create_job(&reports).await.expect("create");
    let dispatch = FakeDispatch::answering(Status::Succeeded);
    let config = TickConfig::default();

    let first = tick(&store, &dispatch, &FixedClock::new(at(10, 0)), &config)
        .await
        .expect("tick");
    assert_eq!((first.triggered, first.succeeded), (3, 3));
    assert_eq!(
        first.apps,
        BTreeMap::from([
            ("billing".to_owned(), figures(2, 2, 0)),
            ("reports".to_owned(), figures(1, 1, 0)),
        ])
    );

    dispatch.answer(Status::Failed);
    let second = tick(&store, &dispatch, &FixedClock::new(at(10, 1)), &config)
        .await
        .expect("tick");
    assert_eq!(
        second.apps,
        BTreeMap::from([
            ("billing".to_owned(), figures(2, 0, 2)),
            ("reports".to_owned(), figures(1, 0, 1)),
        ])
    );

    let dry = tick(
        &store,
        &dispatch,
        &FixedClock::new(at(10, 2)),
        &TickConfig {
            dry_run: true,
            ..TickConfig::default()
        },
    )
    .await
    .expect("dry run");
    assert!(dry.apps.is_empty(), "a dry run calls no app: {dry:?}");
}

#[test]
fn a_missed_or_skipped_slot_is_among_the_jobs_latest_outcomes() {
    let config = TickConfig::default();
    // Due at 10:00, planned three hours later: later than the default max lateness of 1 h.
    let j = job("0 10 * * *", at(9, 0));
    let missed = plan(&j, at(13, 0), &config, true, None).expect("due");
    assert_eq!(missed.execution.status, Status::Missed);
    assert_eq!(
        (missed.job.state.outcomes.as_str(), missed.job.state.streak),
        ("m", 0)
    );
    // A call of an every-minute job still in flight: the next slot is skipped.
    let every = job("* * * * *", at(9, 59) + chrono::Duration::seconds(30));
    let first = plan(&every, at(10, 0), &config, true, None)
        .expect("due")
        .job;
    let skipped = plan(&first, at(10, 1), &config, true, None).expect("due");
    assert_eq!(skipped.execution.status, Status::Skipped);
    assert_eq!(skipped.job.state.outcomes, "k");
}

#[test]
fn a_due_slot_and_a_due_retry_of_a_paused_app_are_skipped_with_the_reason_and_never_claimed_to_call()
 {
    let config = TickConfig::default();
    let pause = crate::model::AppPause {
        reason: crate::model::PauseReason::parse("reason", "migration").expect("reason"),
        since: at(9, 0),
    };
    // Three hours late: paused wins over missed, and the job moves on past the backlog.
    let j = job("0 * * * *", at(9, 30));
    let planned = plan(&j, at(13, 0), &config, true, Some(&pause)).expect("due");
    assert_eq!(planned.execution.status, Status::Skipped);
    assert_eq!(
        planned.execution.error.as_deref(),
        Some("not called: app paused: migration")
    );
    assert!(planned.job.state.inflight.is_empty(), "a marker of a call");
    assert_eq!(planned.job.state.next_slot, Some(at(14, 0)));
    // A retry due while paused is passed over too (and not kept for later).
    let mut retrying = planned.job.clone();
    retrying.state.retry = Some(crate::model::PendingRetry {
        slot: at(13, 0),
        attempt: 2,
        trigger: Trigger::Schedule,
        at: at(13, 1),
    });
    let planned = plan(&retrying, at(13, 2), &config, true, Some(&pause)).expect("due");
    assert_eq!(
        (planned.execution.status, planned.execution.attempt),
        (Status::Skipped, 2)
    );
    assert_eq!(planned.job.state.retry, None);
    // Not paused: the same retry is called.
    let planned = plan(&retrying, at(13, 2), &config, true, None).expect("due");
    assert_eq!(planned.execution.status, Status::Pending);
}

/// A job `schedule` with a jitter of `jitter`, whose offset at `slot` is at least `least`:
/// ids are tried until one gives it (the offset is fixed by the id and the slot).
fn jittered(
    schedule: &str,
    jitter: std::time::Duration,
    created: DateTime<Utc>,
    slot: DateTime<Utc>,
    least: chrono::Duration,
) -> Job {
    let mut spec = NewJob::new(
        AppName::parse("app").expect("app"),
        JobName::parse("job").expect("name"),
        JobUrl::parse("http://127.0.0.1:1/job").expect("url"),
        schedule.parse().expect("schedule"),
    );
    spec.jitter = jitter;
    loop {
        let job = spec.clone().build(created).expect("job");
        if job.offset_of(slot) >= least {
            return job;
        }
    }
}

#[test]
fn a_jittered_slot_is_due_at_the_slot_plus_its_offset_and_a_backlog_runs_its_latest_due_slot() {
    let config = TickConfig::default();
    let jitter = std::time::Duration::from_secs(300);
    let slot = at(10, 0);
    let j = jittered(
        "*/10 * * * *",
        jitter,
        at(9, 55),
        slot,
        chrono::Duration::seconds(60),
    );
    let due = j.due_of(slot);
    assert_eq!(
        j.due_at(),
        Some(due),
        "the job's index key is the slot plus its offset"
    );
    assert!(plan(&j, due - chrono::Duration::seconds(1), &config, true, None).is_none());
    let p = plan(&j, due, &config, true, None).expect("due");
    assert_eq!(p.execution.id.slot(), slot, "the id keeps the slot");
    assert_eq!(
        p.execution.offset_ms,
        (due - slot).num_milliseconds() as u64
    );
    assert_eq!(p.job.state.next_slot, Some(at(10, 10)));
    assert_eq!(p.job.due_at(), Some(j.due_of(at(10, 10))));

    // A backlog: at 10:30, the 10:30 slot's call is not due yet unless its offset is 0, so
    // the latest due slot is 10:20 (coalescing 10:00 and 10:10), or 10:30 itself.
    let now = at(10, 30);
    let p = plan(&j, now, &config, true, None).expect("due");
    let latest = if j.due_of(at(10, 30)) <= now {
        at(10, 30)
    } else {
        at(10, 20)
    };
    assert_eq!(p.execution.id.slot(), latest);
    assert_eq!(
        p.execution.status,
        Status::Pending,
        "within the max lateness from slot + offset"
    );
}

#[test]
fn a_jittered_slots_lateness_counts_from_the_slot_plus_its_offset_and_a_slot_before_the_end_is_still_called()
 {
    let config = TickConfig::default();
    let slot = at(10, 0);
    let mut j = jittered(
        "0 10 * * *",
        std::time::Duration::from_secs(3 * 3600),
        at(9, 0),
        slot,
        chrono::Duration::minutes(90),
    );
    let due = j.due_of(slot);
    // An hour after the slot plus its offset (the default max lateness): still called; a
    // second more: missed, though the slot itself is more than two hours old either way.
    let p = plan(&j, due + chrono::Duration::hours(1), &config, true, None).expect("due");
    assert_eq!(p.execution.status, Status::Pending);
    let p = plan(
        &j,
        due + chrono::Duration::hours(1) + chrono::Duration::seconds(1),
        &config,
        true,
        None,
    )
    .expect("due");
    assert_eq!(p.execution.status, Status::Missed);
    assert!(
        p.execution
            .error
            .as_deref()
            .is_some_and(|e| e.contains("late (from the slot plus its jitter offset of ")),
        "{:?}",
        p.execution.error
    );
    // The end falls between the slot and its call: the slot is the job's, its call is made.
    j.end = Some(slot + chrono::Duration::minutes(1));
    let p = plan(&j, due, &config, true, None).expect("due");
    assert_eq!(
        (p.execution.status, p.job.state.next_slot),
        (Status::Pending, None)
    );
    // Paused: never due.
    j.enabled = false;
    assert_eq!(j.due_at(), None);
    assert!(plan(&j, due, &config, true, None).is_none());
}

#[test]
fn a_retry_is_superseded_only_by_a_next_slot_whose_call_is_due_before_it() {
    let config = TickConfig::default();
    let jitter = std::time::Duration::from_secs(300);
    // The 10:10 slot's call comes at least 2 minutes after it.
    let mut j = jittered(
        "*/10 * * * *",
        jitter,
        at(9, 55),
        at(10, 10),
        chrono::Duration::minutes(2),
    );
    j.retries = 1;
    let p = plan(&j, j.due_of(at(10, 0)), &config, true, None).expect("due");
    let mut failed = p.execution.clone();
    failed.status = Status::Failed;
    // The retry at 10:11, after the 10:10 slot but before its call: kept, and made first.
    let retry = super::retry::next_attempt(
        &failed,
        &p.job,
        at(10, 10) + chrono::Duration::seconds(30),
        std::time::Duration::from_secs(30),
    )
    .expect("a retry");
    assert_eq!(retry.at, at(10, 11));
    let mut waiting = p.job.clone();
    waiting.state.inflight.clear();
    waiting.state.retry = Some(retry);
    let p = plan(&waiting, at(10, 11), &config, true, None).expect("the retry");
    assert_eq!((p.execution.id.slot(), p.execution.attempt), (at(10, 0), 2));
}
