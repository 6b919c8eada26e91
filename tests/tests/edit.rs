//! Whole-form edits (the web admin's edit pages) on the real stores (SQLite, and DynamoDB on
//! moto): a job read back and shown as a form reads back to its definition, only the fields
//! the person changed are written, a change made elsewhere meanwhile is kept, and a field
//! both changed is refused.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use shared::ops::{AppInput, JobInput, JobKey, Ops, OpsError, ScheduleForm};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;

use crate::conformance::open_sqlite;
use crate::helpers::{moto, tempdb};

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid")
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
            timezone: None,
            ..AppInput::default()
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
    let shown = JobInput::of(&read);
    // Zone change only: the start stays the same instant.
    let mut typed = shown.clone();
    typed.timezone = Some("America/Chicago".into());
    let moved = ops
        .edit(&key, &shown, &typed, noon())
        .await
        .expect("edit the zone");
    assert_eq!(moved.job.start, read.start);
    let read = ops.job(&key).await.expect("read back");
    let shown = JobInput::of(&read);

    let mut input = shown.clone();
    input.schedule = ScheduleForm::written("0 9 * * mon-fri");
    input.retries = Some("2".into());
    let later = noon() + chrono::Duration::minutes(1);
    let edited = ops.edit(&key, &shown, &input, later).await.expect("edit");
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

    // A form shown before that edit: changing the retries again to another value is
    // refused and writes nothing; changing the timeout keeps the new schedule and retries.
    let mut stale = shown.clone();
    stale.retries = Some("4".into());
    let refused = ops
        .edit(&key, &shown, &stale, later)
        .await
        .expect_err("refused");
    assert!(
        matches!(&refused, OpsError::ChangedSince { at, fields, .. } if *at == later && fields == &["retries"]),
        "{refused:?}"
    );
    assert_eq!(ops.job(&key).await.expect("read").retries, 2);
    let mut other = shown;
    other.timeout = Some("2m".into());
    let kept = ops
        .edit(&key, &JobInput::of(&read), &other, later)
        .await
        .expect("edit");
    assert_eq!(
        (
            kept.job.timeout_ms,
            kept.job.retries,
            kept.job.schedule.to_string().as_str()
        ),
        (120_000, 2, "0 9 * * MON-FRI")
    );

    // The app: its form as shown changes nothing; a field changed by both is refused.
    let app = ops.app("billing").await.expect("app");
    let same = AppInput {
        base_url: Some(app.base_url.to_string()),
        budget: Some(app.budget.to_string()),
        timezone: None,
        ..AppInput::default()
    };
    assert!(matches!(
        ops.edit_app("billing", &same, &same, later).await,
        Err(OpsError::NothingToChange)
    ));
    let bigger = AppInput {
        budget: Some("9".into()),
        ..same.clone()
    };
    assert_eq!(
        ops.edit_app("billing", &same, &bigger, later)
            .await
            .expect("edit")
            .budget,
        9
    );
    let smaller = AppInput {
        budget: Some("2".into()),
        ..same
    };
    assert_eq!(
        ops.edit_app("billing", &bigger, &smaller, later)
            .await
            .expect("edit")
            .budget,
        2
    );
    let stale = AppInput {
        budget: Some("7".into()),
        ..bigger.clone()
    };
    assert!(matches!(
        ops.edit_app("billing", &bigger, &stale, later).await,
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
