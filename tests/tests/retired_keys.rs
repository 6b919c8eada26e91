//! A key retired stays retired (issue 27, item 1): an app deleted and created again under its
//! name, through the CLI or `apply -f`, never signs with a key of its earlier record; a job by
//! URL created after its app's record was deleted is not signed with one either; and a record
//! written before key salts existed keeps verifying with the key its app has deployed.

use chrono::Utc;
use shared::model::{App, AppName, BaseUrl};
use shared::signing::{DEFAULT_TOLERANCE, SignatureError, app_key, verify_signature};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;

use crate::cli::{Cli, Run};
use crate::helpers::jobserver::{JobServer, Recorded};
use crate::helpers::moto;

const SECRET: &str = "deployment-secret-for-the-retired-key-tests";

/// The binary with the deployment secret set, as the scheduler runs.
async fn signed(cli: &Cli, args: &[&str]) -> Run {
    cli.run_with(args, &[("PSU_SCHED_SIGNING_SECRET", SECRET)])
        .await
}

/// The app's current key as `app key` prints it.
async fn key(cli: &Cli) -> String {
    signed(cli, &["app", "key", "--app", "web"])
        .await
        .ok()
        .stdout
        .trim()
        .to_owned()
}

/// Runs web/sync now (signed, as the scheduler would) and returns every request the job
/// server received for it during that run.
async fn run_now(cli: &Cli, server: &JobServer) -> Vec<Recorded> {
    let before = server.count("/jobs/sync");
    // Manual runs are one per second: wait for the next second.
    let millis = u64::from(Utc::now().timestamp_subsec_millis());
    tokio::time::sleep(std::time::Duration::from_millis(1_050 - millis.min(1_000))).await;
    signed(cli, &["run", "--app", "web", "--name", "sync"]).await;
    server.requests_to("/jobs/sync")[before..].to_vec()
}

/// Whether `request` verifies at web with `key` alone.
fn verifies(key: &str, request: &Recorded) -> Result<(), SignatureError> {
    verify_signature(
        "web",
        &[key.to_owned()],
        &request.headers,
        "GET",
        "/jobs/sync",
        b"",
        Utc::now(),
        DEFAULT_TOLERANCE,
    )
    .map(|_| ())
}

/// Creates web's record at the job server and its job sync by path.
async fn create_app_and_job(cli: &Cli, server: &JobServer) {
    cli.run(&[
        "app",
        "create",
        "--app",
        "web",
        "--base-url",
        &server.url(""),
    ])
    .await
    .ok();
    create_job(cli, &["--path", "/jobs/sync"]).await;
}

async fn create_job(cli: &Cli, target: &[&str]) {
    let args = [
        &["create", "--app", "web", "--name", "sync"][..],
        target,
        &["--at", "03:00"],
    ]
    .concat();
    cli.run(&args).await.ok();
}

/// Rotates web's key once, to the end: returns (the retired key, the current one).
async fn rotate(cli: &Cli) -> (String, String) {
    let retired = key(cli).await;
    signed(cli, &["app", "rotate-key", "--app", "web"])
        .await
        .ok();
    signed(cli, &["app", "rotate-key", "--app", "web", "--finish"])
        .await
        .ok();
    let current = key(cli).await;
    assert_ne!(retired, current);
    (retired, current)
}

/// Deletes web's job and then its record.
async fn delete_app(cli: &Cli) {
    cli.run(&["delete", "--app", "web", "--name", "sync", "--yes"])
        .await
        .ok();
    cli.run(&["app", "delete", "--app", "web", "--yes"])
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_app_deleted_and_created_again_never_signs_with_a_key_of_its_earlier_record() {
    let server = JobServer::start().await;
    let cli = Cli::new().await;
    create_app_and_job(&cli, &server).await;
    let (retired, current) = rotate(&cli).await;
    delete_app(&cli).await;

    create_app_and_job(&cli, &server).await;
    let new = key(&cli).await;
    assert!(new != retired && new != current, "a new record, a new key");
    let requests = run_now(&cli, &server).await;
    assert_eq!(requests.len(), 1, "the job is called once");
    assert_eq!(verifies(&new, &requests[0]), Ok(()));
    for old in [&retired, &current] {
        assert_eq!(
            verifies(old, &requests[0]),
            Err(SignatureError::Mismatch),
            "a key of the deleted record verifies nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_app_created_again_by_apply_never_signs_with_a_key_of_its_earlier_record() {
    let server = JobServer::start().await;
    let cli = Cli::new().await;
    let dir = std::env::temp_dir().join(format!("psu-sched-retired-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("schedules.toml");
    let text = format!(
        "[[apps]]\nname = \"web\"\nbase_url = \"{}\"\n\n[[apps.jobs]]\nname = \"sync\"\npath = \"/jobs/sync\"\nat = \"03:00\"\n",
        server.url("")
    );
    std::fs::write(&file, text).expect("write the file");
    let path = file.to_str().expect("utf-8 path");
    cli.run(&["apply", "-f", path, "--yes"]).await.ok();
    let (retired, current) = rotate(&cli).await;
    delete_app(&cli).await;

    cli.run(&["apply", "-f", path, "--yes"]).await.ok();
    let new = key(&cli).await;
    let requests = run_now(&cli, &server).await;
    assert_eq!(requests.len(), 1, "the job is called once");
    assert_eq!(verifies(&new, &requests[0]), Ok(()));
    for old in [&retired, &current] {
        assert_eq!(
            verifies(old, &requests[0]),
            Err(SignatureError::Mismatch),
            "a key of the deleted record verifies nothing"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_by_url_created_after_its_apps_record_was_deleted_is_never_signed_with_a_retired_key()
{
    let server = JobServer::start().await;
    let cli = Cli::new().await;
    create_app_and_job(&cli, &server).await;
    let (retired, current) = rotate(&cli).await;
    delete_app(&cli).await;

    create_job(&cli, &["--url", &server.url("/jobs/sync")]).await;
    let requests = run_now(&cli, &server).await;
    for request in &requests {
        for old in [&retired, &current] {
            assert_eq!(
                verifies(old, request),
                Err(SignatureError::Mismatch),
                "a key of the deleted record verifies nothing"
            );
        }
    }
    // Nothing signs for an app without a record: the run is recorded, with what to do.
    let history = cli
        .run(&["history", "--app", "web", "--name", "sync", "--json"])
        .await
        .ok()
        .json();
    let latest = &history[0];
    assert_eq!(latest["status"], "failed", "{history}");
    let error = latest["error"].as_str().unwrap_or_default();
    assert!(error.contains("psu-sched app create --app web"), "{error}");
    assert!(requests.is_empty(), "not called: {}", requests.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_written_before_key_salts_keeps_signing_with_the_key_its_app_deployed() {
    let server = JobServer::start().await;
    let cli = Cli::new().await;
    // A record as the code before salts wrote it: no salt.
    let store = DynamoStore::new(&moto::sdk_config(&cli.endpoint).await, &cli.table);
    let mut app = App::new(
        AppName::parse("web").expect("name"),
        BaseUrl::parse(&server.url("")).expect("base URL"),
        4,
        Utc::now(),
    )
    .expect("app");
    app.key_salt = None;
    store.create_app(&app).await.expect("create the record");
    create_job(&cli, &["--path", "/jobs/sync"]).await;

    let deployed = app_key(SECRET, "web", 1, None);
    assert_eq!(key(&cli).await, deployed, "app key prints the deployed key");
    let requests = run_now(&cli, &server).await;
    assert_eq!(requests.len(), 1, "the job is called once");
    assert_eq!(verifies(&deployed, &requests[0]), Ok(()));
}
