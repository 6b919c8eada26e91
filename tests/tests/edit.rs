//! Whole-form edits (the web admin's edit pages) on the real stores (SQLite, and DynamoDB on
//! moto): a job read back and shown as a form changes nothing when saved, the time the form
//! was read compares equal after the store's round trip, only the changed fields are
//! written, and a person's change after the form was read is never overwritten.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use shared::ops::{AppInput, JobInput, JobKey, Ops, OpsError, ScheduleForm};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;

use crate::conformance::open_sqlite;
use crate::helpers::{moto, tempdb};

fn noon() -> DateTime<Utc> {
    // With nanoseconds, as a clock gives them: the stores must keep them exactly.
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid")
        + chrono::Duration::nanoseconds(123_456_789)
}

async fn sqlite() -> Ops {
    let store: Arc<dyn Store> = Arc::new(open_sqlite(&tempdb::temp_db_path()).await);
    Ops::with_store("sqlite", store)
}

async fn dynamodb() -> Ops {
    let endpoint = moto::endpoint().await;
    let store = DynamoStore::new(
        &moto::sdk_config(&endpoint).await,
        moto::unique_table_name(),
    );
    store.create_table().await.expect("create the test table");
    Ops::with_store("dynamodb", Arc::new(store))
}

async fn edits_write_only_what_differs_over_the_job_as_read(ops: Ops) {
    ops.create_app(
        "billing",
        &AppInput {
            base_url: Some("https://billing.example.edu/app".into()),
            budget: None,
        },
        noon(),
    )
    .await
    .expect("app");
    let key = JobKey::parse("billing", "report").expect("key");
    ops.create(
        &key,
        &JobInput {
            path: Some("/scheduled/report".into()),
            schedule: ScheduleForm::written("every 15m between 08:00-17:00 on mon-fri"),
            timezone: Some("America/New_York".into()),
            // The second 01:30 of 1 November 2026 in New York (EST).
            start: Some("2026-11-01T01:30:00-05:00".into()),
            timeout: Some("90s".into()),
            description: Some("the weekly report".into()),
            ..JobInput::default()
        },
        noon(),
    )
    .await
    .expect("create");
    let read = ops.job(&key).await.expect("read back");
    assert_eq!(read.updated_at, noon(), "the store kept the nanoseconds");
    let shown = JobInput::of(&read);
    assert!(matches!(
        ops.edit(&key, &shown, read.updated_at, noon()).await,
        Err(OpsError::NothingToChange)
    ));

    let mut input = shown.clone();
    input.schedule = ScheduleForm::written("0 9 * * mon-fri");
    input.retries = Some("2".into());
    let later = noon() + chrono::Duration::minutes(1);
    let edited = ops
        .edit(&key, &input, read.updated_at, later)
        .await
        .expect("edit");
    let fields: Vec<&str> = edited.changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, ["schedule", "retries"]);
    let stored = ops.job(&key).await.expect("read");
    assert_eq!(stored.schedule.to_string(), "0 9 * * MON-FRI");
    assert_eq!(stored.retries, 2);
    assert_eq!(
        (stored.timeout_ms, stored.start, stored.description.as_str()),
        (read.timeout_ms, read.start, "the weekly report")
    );
    assert_eq!(stored.updated_at, later);

    // A form read before that edit is refused and writes nothing.
    let mut stale = shown;
    stale.timeout = Some("2m".into());
    let refused = ops
        .edit(&key, &stale, read.updated_at, later)
        .await
        .expect_err("refused");
    assert!(
        matches!(refused, OpsError::ChangedSince { at, .. } if at == later),
        "{refused:?}"
    );
    assert_eq!(ops.job(&key).await.expect("read").timeout_ms, 90_000);

    // The app: its form as read changes nothing; a stale one is refused.
    let app = ops.app("billing").await.expect("app");
    assert_eq!(app.updated_at, noon());
    let same = AppInput {
        base_url: Some(app.base_url.to_string()),
        budget: Some(app.budget.to_string()),
    };
    assert!(matches!(
        ops.edit_app("billing", &same, app.updated_at, later).await,
        Err(OpsError::NothingToChange)
    ));
    let bigger = AppInput {
        budget: Some("9".into()),
        ..same.clone()
    };
    assert_eq!(
        ops.edit_app("billing", &bigger, app.updated_at, later)
            .await
            .expect("edit")
            .budget,
        9
    );
    let moved = AppInput {
        base_url: Some("https://moved.example.edu".into()),
        ..same
    };
    assert!(matches!(
        ops.edit_app("billing", &moved, app.updated_at, later).await,
        Err(OpsError::ChangedSince { .. })
    ));
    assert_eq!(
        ops.app("billing").await.expect("app").base_url.to_string(),
        "https://billing.example.edu/app"
    );
}

#[tokio::test]
async fn edits_on_sqlite() {
    edits_write_only_what_differs_over_the_job_as_read(sqlite().await).await;
}

#[tokio::test]
async fn edits_on_dynamodb() {
    edits_write_only_what_differs_over_the_job_as_read(dynamodb().await).await;
}
