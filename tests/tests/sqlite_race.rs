//! Eight ticks race on one SQLite file, each through its own connection (its own
//! `SqliteStore::open`), as eight `psu-sched tick` processes sharing the file would: every due
//! slot is called exactly once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::dispatch::HttpDispatcher;
use shared::model::{AppName, JobName, JobUrl, NewJob};
use shared::protocol::{HEADER_SCHEDULED_FOR, format_slot};
use shared::store::Store;

use crate::helpers::jobserver::JobServer;
use crate::helpers::tempdb::TempDb;
use crate::world::{racing_ticks, utc};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slot_is_called_once_when_eight_ticks_race_on_one_sqlite_file() {
    let start = utc(2026, 6, 1, 12, 0);
    let db = TempDb::new();
    let server = JobServer::start().await;
    let setup = crate::conformance::open_sqlite(&db.0).await;
    for i in 0..5 {
        let job = NewJob::new(
            AppName::parse("testapp").expect("app"),
            JobName::parse(&format!("race{i}")).expect("name"),
            JobUrl::parse(&server.url(&format!("/race{i}"))).expect("url"),
            "* * * * *".parse().expect("schedule"),
        )
        .build(start - chrono::Duration::seconds(30))
        .expect("valid job");
        setup.create_job(&job).await.expect("create");
    }
    drop(setup);
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(Arc::new(crate::conformance::open_sqlite(&db.0).await));
    }
    let dispatcher = Arc::new(HttpDispatcher::new().expect("http client"));
    for round in 0..20 {
        let now = start + chrono::Duration::minutes(round);
        let summaries = racing_ticks(&stores, &dispatcher, now).await;
        let triggered: u64 = summaries.iter().map(|s| s.triggered).sum();
        let succeeded: u64 = summaries.iter().map(|s| s.succeeded).sum();
        assert_eq!(
            (triggered, succeeded),
            (5, 5),
            "round {round}: the 8 ticks together send each due slot once"
        );
    }
    let expected: Vec<String> = (0..20)
        .map(|m| format_slot(start + chrono::Duration::minutes(m)))
        .collect();
    let check = crate::conformance::open_sqlite(&db.0).await;
    for i in 0..5 {
        let mut seen: Vec<String> = server
            .requests_to(&format!("/race{i}"))
            .iter()
            .map(|r| r.header(HEADER_SCHEDULED_FOR).unwrap_or("?").to_owned())
            .collect();
        seen.sort();
        assert_eq!(seen, expected, "job race{i}: each minute exactly once");
        let job = check
            .get_job(
                &AppName::parse("testapp").expect("app"),
                &JobName::parse(&format!("race{i}")).expect("name"),
            )
            .await
            .expect("get")
            .expect("job");
        let history = check.list_executions(&job.id, 100).await.expect("history");
        let slots: Vec<DateTime<Utc>> = history.iter().rev().map(|e| e.scheduled_for).collect();
        assert_eq!(
            slots,
            (0..20)
                .map(|m| start + chrono::Duration::minutes(m))
                .collect::<Vec<_>>(),
            "job race{i}: one execution per slot"
        );
        assert!(
            history
                .iter()
                .all(|e| e.status == shared::model::Status::Succeeded),
            "job race{i}: every execution recorded"
        );
    }
}
