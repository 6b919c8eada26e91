//! The store's own unit tests: opening, the schema, retention and the due index. The writer
//! thread's are in `writer.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::{SCHEMA_VERSION, SqliteStore, lock};
use crate::model::{AppName, Execution, ExecutionId, Job, JobId, JobName, Status};
use crate::store::{Claim, ClaimOutcome, Store};

pub(super) fn temp_path() -> PathBuf {
    std::env::temp_dir()
        .join(format!("psu-sched-unit-{}", uuid::Uuid::new_v4().simple()))
        .join("nested")
        .join("store.db")
}

pub(super) fn job(name: &str) -> Job {
    crate::model::NewJob::new(
        AppName::parse("app").expect("app"),
        JobName::parse(name).expect("name"),
        crate::model::JobUrl::parse("https://example.com/job").expect("url"),
        "* * * * *".parse().expect("schedule"),
    )
    .build(Utc::now())
    .expect("job")
}

#[tokio::test]
async fn open_creates_the_directory_the_file_and_a_versioned_schema_once() {
    let path = temp_path();
    let store = SqliteStore::open(&path).await.expect("open");
    assert!(path.exists());
    let again = SqliteStore::open(&path).await.expect("open again");
    let (version, mode): (i64, String) = {
        let conn = lock(&again.inner.conn);
        (
            conn.pragma_query_value(None, "user_version", |r| r.get(0))
                .expect("user_version"),
            conn.pragma_query_value(None, "journal_mode", |r| r.get(0))
                .expect("journal_mode"),
        )
    };
    assert_eq!((version, mode.as_str()), (SCHEMA_VERSION, "wal"));
    drop((store, again));
    let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
}

#[tokio::test]
async fn a_file_from_a_newer_psu_sched_is_refused() {
    let path = temp_path();
    drop(SqliteStore::open(&path).await.expect("open"));
    Connection::open(&path)
        .expect("raw open")
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    let err = SqliteStore::open(&path).await.err().expect("refused");
    assert!(err.to_string().contains("upgrade psu-sched"), "{err}");
    let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
}

#[tokio::test]
async fn a_file_of_schema_version_1_gains_the_apps_table_and_keeps_its_jobs_when_opened() {
    let path = temp_path();
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    let kept = job("kept");
    {
        let conn = Connection::open(&path).expect("raw open");
        conn.execute_batch(super::schema::SCHEMA_V1)
            .expect("version 1 schema");
        conn.pragma_update(None, "user_version", 1)
            .expect("version 1");
        super::schema::write_job(&conn, &kept).expect("a job of version 1");
    }
    let store = SqliteStore::open(&path).await.expect("open migrates");
    let version: i64 = lock(&store.inner.conn)
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(
        store.get_job(&kept.app, &kept.name).await.expect("get"),
        Some(kept.clone())
    );
    let app = crate::model::App::new(
        AppName::parse("billing").expect("app"),
        crate::model::BaseUrl::parse("https://billing.example.edu").expect("base url"),
        4,
        Utc::now(),
    )
    .expect("app");
    store
        .create_app(&app)
        .await
        .expect("the apps table is there");
    assert_eq!(store.list_apps().await.expect("list apps"), vec![app]);
    drop(store);
    // Opening again migrates nothing more.
    let again = SqliteStore::open(&path).await.expect("open again");
    assert_eq!(again.list_apps().await.expect("list apps").len(), 1);
    drop(again);
    let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
}

fn execution(job: &Job, slot: DateTime<Utc>, expires_at: DateTime<Utc>) -> Execution {
    Execution {
        id: ExecutionId::new(job.id.clone(), slot, crate::model::Trigger::Schedule, 1),
        app: job.app.clone(),
        name: job.name.clone(),
        scheduled_for: slot,
        offset_ms: 0,
        attempt: 1,
        trigger: crate::model::Trigger::Schedule,
        status: Status::Pending,
        http_status: None,
        output: None,
        error: None,
        created_at: slot,
        started_at: None,
        finished_at: None,
        duration_ms: None,
        coalesced: 0,
        url: job.url.clone(),
        method: job.method,
        timeout_ms: job.timeout_ms,
        retries: 0,
        key_hash: None,
        claimed_by: Some(format!("t{}", slot.timestamp())),
        dispatched_by: None,
        guard_nonce: None,
        outcome_by: None,
        counted_by: None,
        due_at: Some(slot + chrono::Duration::seconds(60)),
        backfill: false,
        tracked: false,
        expires_at,
    }
}

#[tokio::test]
async fn expired_executions_are_purged_by_a_tick_at_most_once_a_minute_of_the_wall_clock() {
    use chrono::TimeZone;
    let t0 = Utc
        .with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
        .single()
        .expect("valid");
    let minutes = |m: i64| t0 + chrono::Duration::minutes(m);
    let path = temp_path();
    let store = SqliteStore::open(&path).await.expect("open");
    let wall = Arc::new(crate::clock::FixedClock::new(t0));
    store.set_purge_clock(wall.clone());
    // What a tick does at `at`, with the wall clock there too: retention, then the due read.
    let due_at = |at: DateTime<Utc>| {
        wall.set(at);
        let store = &store;
        async move {
            store.expire_history().await?;
            store.due(at).await
        }
    };
    let mut job = crate::model::NewJob::new(
        AppName::parse("app").expect("app"),
        JobName::parse("job").expect("name"),
        crate::model::JobUrl::parse("https://example.edu/job").expect("url"),
        "0 * * * *".parse().expect("schedule"),
    )
    .build(t0)
    .expect("job");
    job.enabled = false;
    store.create_job(&job).await.expect("create");
    // Slot 1 expires at +10 min, slot 2 at +10.5 min, slot 3 in 30 days.
    let expiring = [
        execution(&job, minutes(-3), minutes(10)),
        execution(
            &job,
            minutes(-2),
            minutes(10) + chrono::Duration::seconds(30),
        ),
        execution(&job, minutes(-1), minutes(60 * 24 * 30)),
    ];
    for (i, exec) in expiring.iter().enumerate() {
        let mut claimed = job.clone();
        claimed.state.version = i as u64 + 1;
        claimed.state.writer = exec.claimed_by.clone();
        let claim = Claim {
            job: claimed.clone(),
            expected_version: i as u64,
            token: exec.claimed_by.clone().expect("token"),
            execution: exec.clone(),
        };
        assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
        job = claimed;
    }
    async fn count(store: &SqliteStore, job: &JobId) -> usize {
        store.list_executions(job, 10).await.expect("list").len()
    }
    // The first due() purges (nothing expired yet); every lease has passed.
    assert_eq!(due_at(minutes(1)).await.expect("due").len(), 3);
    assert_eq!(count(&store, &job.id).await, 3);
    // Slot 1 expired at +10, but the last purge was less than a minute ago (in `now`).
    assert_eq!(
        due_at(minutes(1) + chrono::Duration::seconds(59))
            .await
            .expect("due")
            .len(),
        3
    );
    assert_eq!(
        due_at(minutes(10)).await.expect("due").len(),
        2,
        "expired at +10 exactly"
    );
    assert_eq!(count(&store, &job.id).await, 2);
    assert_eq!(
        due_at(minutes(10) + chrono::Duration::seconds(45))
            .await
            .expect("due")
            .len(),
        2,
        "slot 2 expired, but the purge ran 45 s ago"
    );
    assert_eq!(count(&store, &job.id).await, 2);
    assert_eq!(
        store.purge_expired(minutes(11)).await.expect("purge"),
        1,
        "on demand"
    );
    assert_eq!(count(&store, &job.id).await, 1);
    // A tick simulated a year ahead, with the wall clock a minute on: nothing purged.
    wall.set(minutes(13));
    store.expire_history().await.expect("retention");
    store.due(minutes(60 * 24 * 365)).await.expect("due");
    assert_eq!(count(&store, &job.id).await, 1, "slot 3 expires in 30 days");
    drop(store);
    let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
}

#[tokio::test]
async fn due_reads_only_the_due_index() {
    let path = temp_path();
    let store = SqliteStore::open(&path).await.expect("open");
    let plans: Vec<String> = {
        let conn = lock(&store.inner.conn);
        ["jobs", "executions"]
            .iter()
            .map(|table| {
                let sql = format!(
                    "EXPLAIN QUERY PLAN SELECT body FROM {table} WHERE due_at IS NOT NULL AND due_at <= 1 ORDER BY due_at"
                );
                let mut st = conn.prepare(&sql).expect("prepare");
                let rows: Vec<String> = st
                    .query_map([], |r| r.get::<_, String>(3))
                    .expect("plan")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                rows.join(" / ")
            })
            .collect()
    };
    assert!(plans[0].contains("USING INDEX jobs_due"), "{}", plans[0]);
    assert!(
        plans[1].contains("USING INDEX executions_due"),
        "{}",
        plans[1]
    );
    for plan in &plans {
        assert!(
            !plan.contains("SCAN"),
            "no full scan on the tick's path: {plan}"
        );
    }
    drop(store);
    let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
}

#[tokio::test]
async fn a_dry_run_leaves_expired_executions_in_place_and_a_real_tick_purges_them() {
    use chrono::TimeZone;

    use crate::clock::FixedClock;
    use crate::testing::FakeDispatch;
    use crate::tick::{TickConfig, tick};

    let t0 = Utc
        .with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
        .single()
        .expect("valid");
    let path = temp_path();
    let store = SqliteStore::open(&path).await.expect("open");
    let wall = Arc::new(FixedClock::new(t0));
    store.set_purge_clock(wall.clone());
    let mut j = job("expiring");
    j.enabled = false;
    store.create_job(&j).await.expect("create");
    let old = execution(
        &j,
        t0 - chrono::Duration::days(40),
        t0 - chrono::Duration::days(10),
    );
    let mut claimed = j.clone();
    claimed.state.version = 1;
    claimed.state.writer = old.claimed_by.clone();
    let claim = Claim {
        job: claimed,
        expected_version: 0,
        token: old.claimed_by.clone().expect("token"),
        execution: old.clone(),
    };
    assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);

    let dispatch = FakeDispatch::default();
    let dry = TickConfig {
        dry_run: true,
        ..TickConfig::default()
    };
    tick(&store, &dispatch, wall.as_ref(), &dry)
        .await
        .expect("dry run");
    assert!(
        store.get_execution(&old.id).await.expect("get").is_some(),
        "a dry run writes nothing, not even retention's deletes"
    );
    tick(&store, &dispatch, wall.as_ref(), &TickConfig::default())
        .await
        .expect("tick");
    assert!(
        store.get_execution(&old.id).await.expect("get").is_none(),
        "a real tick purges what expired"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
}
