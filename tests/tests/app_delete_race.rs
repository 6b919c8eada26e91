//! Deleting an app while a job of it is created (issue 27, item 7): `app delete` counts the
//! app's jobs and then deletes its record, `create --path` reads the record and then writes the
//! job. Raced on the real stores, exactly one may win: the app is deleted with no job left
//! behind, or the job is created and the app keeps its record. Never a job whose app has no
//! record.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use shared::model::AppName;
use shared::ops::{AppInput, JobInput, JobKey, Ops, OpsError, ScheduleForm};
use shared::store::dynamodb::DynamoStore;
use shared::store::{Store, StoreError};

use crate::cli::Cli;
use crate::conformance::open_sqlite;
use crate::helpers::{moto, tempdb};

/// Rounds per store: the race was lost 2 times in 8 on SQLite before the fix.
const ROUNDS: usize = 24;

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid")
}

/// Races `app delete` against `create --path` for a fresh app, `ROUNDS` times; returns how
/// many times each side won.
async fn race(ops: Arc<Ops>, store: Arc<dyn Store>) -> (usize, usize) {
    let (mut deleted, mut created) = (0, 0);
    for round in 0..ROUNDS {
        let app = format!("race{round}");
        let base = AppInput {
            base_url: Some("https://race.example.edu".into()),
            budget: None,
            timezone: None,
            ..AppInput::default()
        };
        ops.create_app(&app, &base, noon()).await.expect("app");
        let key = JobKey::parse(&app, "sync").expect("key");
        let input = JobInput {
            path: Some("/jobs/sync".into()),
            schedule: ScheduleForm {
                at: Some("03:00".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let (a, b) = (ops.clone(), ops.clone());
        let name = app.clone();
        let delete = tokio::spawn(async move { a.delete_app(&name).await });
        let create = tokio::spawn(async move { b.create(&key, &input, noon()).await });
        let (delete, create) = (delete.await.expect("join"), create.await.expect("join"));

        let name = AppName::parse(&app).expect("name");
        let record = store.get_app(&name).await.expect("read the app");
        let jobs = store.list_jobs(Some(&name)).await.expect("list").len();
        match (&delete, &create) {
            (Ok(_), Ok(_)) => panic!("round {round}: both the delete and the create succeeded"),
            (Ok(_), Err(e)) => {
                deleted += 1;
                // Refused at its read of the record (gone) or at its write (being deleted).
                assert!(
                    matches!(e, OpsError::Invalid(_))
                        || matches!(e.store_error(), Some(StoreError::AppDeleting(_))),
                    "round {round}: the create is refused naming the deletion: {e:?}"
                );
            }
            (Err(_), Ok(_)) => created += 1,
            (Err(d), Err(c)) => panic!("round {round}: both refused: {d}; {c}"),
        }
        assert!(
            record.is_some() || jobs == 0,
            "round {round}: {jobs} job(s) left without an app record"
        );
        assert_eq!(record.is_some(), create.is_ok(), "round {round}");
    }
    (deleted, created)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_an_app_while_its_job_is_created_on_sqlite_leaves_no_job_without_a_record() {
    let store: Arc<dyn Store> = Arc::new(open_sqlite(&tempdb::temp_db_path()).await);
    let ops = Arc::new(Ops::with_store("sqlite", store.clone()));
    let (deleted, created) = race(ops, store).await;
    assert_eq!(deleted + created, ROUNDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_an_app_while_its_job_is_created_on_dynamodb_leaves_no_job_without_a_record() {
    let endpoint = moto::endpoint().await;
    let dynamo = DynamoStore::new(
        &moto::sdk_config(&endpoint).await,
        moto::unique_table_name(),
    );
    dynamo.create_table().await.expect("create the test table");
    let store: Arc<dyn Store> = Arc::new(dynamo);
    let ops = Arc::new(Ops::with_store("dynamodb", store.clone()));
    let (deleted, created) = race(ops, store).await;
    assert_eq!(deleted + created, ROUNDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binarys_app_delete_and_create_raced_never_leave_a_job_without_its_app() {
    let cli = Arc::new(Cli::new().await);
    for round in 0..6 {
        let app = format!("race{round}");
        cli.run(&[
            "app",
            "create",
            "--app",
            &app,
            "--base-url",
            "https://race.example.edu",
        ])
        .await
        .ok();
        let (a, b) = (cli.clone(), cli.clone());
        let (x, y) = (app.clone(), app.clone());
        let delete =
            tokio::spawn(async move { a.run(&["app", "delete", "--app", &x, "--yes"]).await });
        let create = tokio::spawn(async move {
            b.run(&[
                "create",
                "--app",
                &y,
                "--name",
                "sync",
                "--path",
                "/jobs/sync",
                "--at",
                "03:00",
            ])
            .await
        });
        let (delete, create) = (delete.await.expect("join"), create.await.expect("join"));
        assert!(
            !(delete.code == 0 && create.code == 0),
            "round {round}: both succeeded: {delete:?} {create:?}"
        );
        let shown = cli.run(&["app", "show", "--app", &app, "--json"]).await;
        let jobs = cli
            .run(&["list", "--app", &app, "--json"])
            .await
            .ok()
            .json();
        assert!(
            shown.code == 0 || jobs.as_array().is_none_or(Vec::is_empty),
            "round {round}: a job without its app: {jobs}"
        );
    }
}
