//! An app's signing key from the command line, end to end: `app key` prints what the app
//! verifies with, `app rotate-key` signs with two generations until `--finish`, and the
//! requests the real binary sends verify only with the keys in use (issue 17).

use serde_json::Value;
use shared::signing::{DEFAULT_TOLERANCE, SignatureError, Verified, app_key, verify_signature};

use crate::cli::{Cli, Run};
use crate::helpers::jobserver::{JobServer, Recorded};

const SECRET: &str = "deployment-secret-for-the-key-tests";

/// The binary with the deployment secret set.
async fn signed(cli: &Cli, args: &[&str]) -> Run {
    cli.run_with(args, &[("PSU_SCHED_SIGNING_SECRET", SECRET)])
        .await
}

/// Runs web/sync now and returns the request the job server received. Manual runs are one
/// per second: wait for the next one first.
async fn run_now(cli: &Cli, server: &JobServer) -> Recorded {
    let before = server.count("/jobs/sync");
    let millis = u64::from(chrono::Utc::now().timestamp_subsec_millis());
    tokio::time::sleep(std::time::Duration::from_millis(1_050 - millis.min(1_000))).await;
    signed(cli, &["run", "--app", "web", "--name", "sync"])
        .await
        .ok();
    let requests = server.requests_to("/jobs/sync");
    assert_eq!(requests.len(), before + 1, "one call per run");
    requests[before].clone()
}

/// Verifies `request` at `app` holding `keys`, as the app would.
fn verify(app: &str, keys: &[String], request: &Recorded) -> Result<Verified, SignatureError> {
    verify_signature(
        app,
        keys,
        &request.headers,
        "GET",
        "/jobs/sync",
        b"",
        chrono::Utc::now(),
        DEFAULT_TOLERANCE,
    )
}

fn key_of(view: &Value) -> String {
    view["key"].as_str().expect("key").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn app_key_without_the_deployment_secret_exits_2_naming_the_variable() {
    let cli = Cli::new().await;
    cli.run(&[
        "app",
        "create",
        "--app",
        "web",
        "--base-url",
        "https://web.example.edu",
    ])
    .await
    .ok();
    let before = cli
        .run(&["app", "show", "--app", "web", "--json"])
        .await
        .ok()
        .json();
    for args in [
        vec!["app", "key", "--app", "web"],
        vec!["app", "key", "--app", "web", "--json"],
    ] {
        let run = cli
            .run_with(&args, &[("PSU_SCHED_SIGNING_SECRET", "")])
            .await;
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(
            run.stderr.contains("PSU_SCHED_SIGNING_SECRET is not set"),
            "{run:?}"
        );
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    let after = cli
        .run(&["app", "show", "--app", "web", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(before, after, "nothing written");
    let unknown = signed(&cli, &["app", "key", "--app", "payroll"]).await;
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(
        unknown.stderr.contains("no app named payroll"),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn during_a_rotation_both_generations_verify_and_after_finish_only_the_new_one() {
    let server = JobServer::start().await;
    let cli = Cli::new().await;
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
    cli.run(&[
        "create",
        "--app",
        "web",
        "--name",
        "sync",
        "--path",
        "/jobs/sync",
        "--at",
        "03:00",
    ])
    .await
    .ok();
    // The key alone on stdout, for a script; the same as the derivation says.
    let printed = signed(&cli, &["app", "key", "--app", "web"]).await.ok();
    let first = printed.stdout.trim().to_owned();
    let store = shared::store::dynamodb::DynamoStore::new(
        &crate::helpers::moto::sdk_config(&cli.endpoint).await,
        &cli.table,
    );
    let salt =
        shared::store::Store::get_app(&store, &shared::model::AppName::parse("web").expect("app"))
            .await
            .expect("read the app")
            .expect("the app")
            .key_salt;
    assert!(salt.is_some(), "a new record has a salt");
    assert_eq!(first, app_key(SECRET, "web", 1, salt.as_deref()));
    assert!(printed.stderr.contains("generation 1"), "{printed:?}");

    let request = run_now(&cli, &server).await;
    assert_eq!(
        verify("web", std::slice::from_ref(&first), &request).map(|v| v.kid_generation),
        Ok(1)
    );
    assert_eq!(
        verify("payroll", &[app_key(SECRET, "payroll", 1, None)], &request),
        Err(SignatureError::WrongApp),
        "captured at web, refused at payroll"
    );

    let started = signed(&cli, &["app", "rotate-key", "--app", "web", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (
            &started["key_generation"],
            &started["previous_key_generation"]
        ),
        (&Value::from(2), &Value::from(1))
    );
    let keys = signed(&cli, &["app", "key", "--app", "web", "--json"])
        .await
        .ok()
        .json();
    let second = key_of(&keys);
    assert_eq!(keys["generation"], 2);
    assert_eq!(key_of(&keys["previous"]), first);
    assert_ne!(second, first);
    let again = cli.run(&["app", "rotate-key", "--app", "web"]).await;
    assert_eq!(again.code, 2, "a second start is refused: {again:?}");
    assert!(again.stderr.contains("--finish"), "{again:?}");

    let request = run_now(&cli, &server).await;
    assert_eq!(
        verify("web", std::slice::from_ref(&first), &request).map(|v| v.kid_generation),
        Ok(1)
    );
    assert_eq!(
        verify("web", std::slice::from_ref(&second), &request).map(|v| v.kid_generation),
        Ok(2)
    );

    signed(&cli, &["app", "rotate-key", "--app", "web", "--finish"])
        .await
        .ok();
    let request = run_now(&cli, &server).await;
    assert_eq!(
        verify("web", std::slice::from_ref(&second), &request).map(|v| v.kid_generation),
        Ok(2)
    );
    assert_eq!(
        verify("web", &[first], &request),
        Err(SignatureError::Mismatch),
        "the old key verifies nothing after --finish"
    );
    let shown = cli
        .run(&["app", "show", "--app", "web", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["key_generation"], 2);
    assert!(shown.get("previous_key_generation").is_none(), "{shown}");
    let finished = cli
        .run(&["app", "rotate-key", "--app", "web", "--finish"])
        .await;
    assert_eq!(finished.code, 2, "nothing to finish: {finished:?}");
}
