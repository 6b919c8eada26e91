//! The CLI's path is as safe as the Lambda's: the same dispatcher from the configuration
//! (signatures, private targets), a tick at another instant only as a dry run or a
//! simulation, and a simulation that never purges history at its instant. Driven as a user
//! drives it: the compiled binary, a fresh table on moto or a fresh SQLite file, and a real
//! job server on 127.0.0.1.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::model::AppName;
use shared::signing::app_key;
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;

use crate::cli::{Cli, instant};
use crate::helpers::jobserver::{JobServer, Recorded};
use crate::helpers::moto;
use crate::helpers::python::run_with_documented_verifier;

const SECRET: (&str, &str) = ("PSU_SCHED_SIGNING_SECRET", "s3cret-new,s3cret-old");
const NO_PRIVATE_SETTING: (&str, &str) = ("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "");

/// Whether the documented Python verifier accepts `request` with `secrets`, at the wall
/// clock's instant now (the instant an app verifies at).
pub(crate) fn python_verifies(request: &Recorded, app: &str, keys: &[String]) -> bool {
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), Value::from(v.to_str().unwrap_or(""))))
        .collect();
    let path = match &request.query {
        Some(q) => format!("{}?{q}", request.path),
        None => request.path.clone(),
    };
    let harness = r#"
import json, sys, time
class Headers(dict):
    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)
data = json.load(sys.stdin)
try:
    verify(data["app"], data["keys"], Headers(data["headers"]), data["method"], data["path"], b"", now=int(time.time()))
    print("true")
except SignatureError as e:
    print(e.reason)
"#;
    let input = serde_json::json!({
        "app": app,
        "keys": keys,
        "headers": headers,
        "method": request.method,
        "path": path,
    });
    run_with_documented_verifier(harness, &input).trim() == "true"
}

/// Creates an every-minute job calling `path` on `server`; returns its next run.
async fn every_minute(cli: &Cli, env: &[(&str, &str)], name: &str, url: &str) -> DateTime<Utc> {
    let created = cli
        .run_with(
            &[
                "create", "--app", "safe", "--name", name, "--url", url, "--every", "1m", "--json",
            ],
            env,
        )
        .await
        .ok()
        .json();
    instant(&created["next_run"])
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_signing_secret_run_and_a_simulated_tick_send_signatures_the_documented_verifier_accepts()
 {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    // Only an app's record signs its calls: its keys are derived under the record's salt.
    cli.run(&[
        "app",
        "create",
        "--app",
        "safe",
        "--base-url",
        &server.url(""),
    ])
    .await
    .ok();
    let store = DynamoStore::new(&moto::sdk_config(&cli.endpoint).await, &cli.table);
    let salt = store
        .get_app(&AppName::parse("safe").expect("app"))
        .await
        .expect("read the app")
        .expect("the app")
        .key_salt;
    let url = server.url("/jobs/signed?app=safe");
    let next = every_minute(&cli, &[SECRET], "signed", &url).await;

    let ran = cli
        .run_with(&["run", "--app", "safe", "--name", "signed"], &[SECRET])
        .await;
    assert_eq!(ran.code, 0, "{ran:?}");

    // An hour ahead of the clock: a signature timestamped with the simulated instant would be
    // stale at the app, which verifies at the wall clock's time.
    let at = rfc3339(next + chrono::Duration::hours(1));
    let tick = cli
        .run_with(&["tick", "--now", &at, "--simulate", "--json"], &[SECRET])
        .await
        .ok()
        .json();
    assert_eq!(
        (tick["triggered"].as_u64(), tick["succeeded"].as_u64()),
        (Some(1), Some(1)),
        "{tick}"
    );

    let requests = server.requests_to("/jobs/signed");
    assert_eq!(requests.len(), 2, "one manual run, one tick");
    for request in &requests {
        assert!(
            request.header("x-psu-sched-signature").is_some(),
            "signed: {request:?}"
        );
        let key = |secret: &str| vec![app_key(secret, "safe", 1, salt.as_deref())];
        assert!(
            python_verifies(request, "safe", &key("s3cret-new")),
            "new secret"
        );
        assert!(
            python_verifies(request, "safe", &key("s3cret-old")),
            "old secret"
        );
        assert!(
            !python_verifies(request, "safe", &key("a-guess")),
            "a wrong secret"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unset_true_and_false_private_targets_decide_whether_the_cli_calls_a_loopback_job() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    let cases = [
        ("unset", NO_PRIVATE_SETTING, true),
        ("true", ("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "true"), true),
        ("false", ("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "false"), false),
    ];
    for (setting, env, called) in cases {
        let path = format!("/jobs/{setting}");
        let next = every_minute(&cli, &[env], setting, &server.url(&path)).await;
        let ran = cli
            .run_with(
                &["run", "--app", "safe", "--name", setting, "--json"],
                &[env],
            )
            .await;
        let tick = cli
            .run_with(
                &["tick", "--now", &rfc3339(next), "--simulate", "--json"],
                &[env],
            )
            .await
            .ok()
            .json();
        assert_eq!(tick["triggered"], 1, "{setting}: {tick}");
        let execution = ran.json();
        if called {
            assert_eq!(ran.code, 0, "{setting}: {ran:?}");
            assert_eq!(execution["status"], "succeeded", "{setting}");
            assert_eq!(tick["succeeded"], 1, "{setting}: {tick}");
            assert_eq!(server.count(&path), 2, "{setting}: run and tick called it");
        } else {
            assert_eq!(ran.code, 1, "{setting}: {ran:?}");
            assert_eq!(execution["status"], "failed", "{setting}");
            assert_eq!(
                execution["error"],
                "refused: 127.0.0.1 is a loopback address; set PSU_SCHED_ALLOW_PRIVATE_TARGETS=true to allow it",
                "{setting}"
            );
            assert_eq!(tick["failed"], 1, "{setting}: {tick}");
            assert_eq!(server.count(&path), 0, "{setting}: never called");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tick_at_another_instant_writes_only_when_simulated() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    let next = every_minute(&cli, &[], "clocked", &server.url("/jobs/clocked")).await;
    let ahead = rfc3339(Utc::now() + chrono::Duration::hours(1));
    let behind = rfc3339(Utc::now() - chrono::Duration::minutes(10));

    for at in [&ahead, &behind] {
        let refused = cli.run(&["tick", "--now", at, "--json"]).await;
        assert_eq!(refused.code, 2, "{at}: {refused:?}");
        assert!(refused.stdout.is_empty(), "{refused:?}");
        assert_eq!(refused.stderr.lines().count(), 1, "one line: {refused:?}");
        assert!(
            refused.stderr.contains("--dry-run") && refused.stderr.contains("--simulate"),
            "{refused:?}"
        );
    }
    let planned = cli
        .run(&["tick", "--now", &ahead, "--dry-run", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (planned["dry_run"].as_bool(), planned["triggered"].as_u64()),
        (Some(true), Some(1)),
        "{planned}"
    );
    let plain_dry_run = cli.run(&["tick", "--dry-run", "--json"]).await.ok().json();
    assert_eq!(plain_dry_run["dry_run"], true, "{plain_dry_run}");
    assert_eq!(server.count("/jobs/clocked"), 0, "nothing called");
    let listed = cli.list().await;
    assert_eq!(
        instant(&listed[0]["next_run"]),
        next,
        "nothing written: {listed}"
    );
    let history = cli
        .run(&["history", "--app", "safe", "--name", "clocked", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(history, serde_json::json!([]), "no execution written");

    let simulated = cli
        .run(&["tick", "--now", &ahead, "--simulate", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (
            simulated["triggered"].as_u64(),
            simulated["succeeded"].as_u64()
        ),
        (Some(1), Some(1)),
        "{simulated}"
    );
    assert_eq!(server.count("/jobs/clocked"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simulation_is_refused_on_a_dynamodb_table_off_loopback_before_any_request() {
    let cli = Cli {
        // `.invalid` never resolves (RFC 2606): even a request sent by mistake goes nowhere.
        endpoint: "http://dynamodb.psu-sched.invalid".to_owned(),
        table: "production".to_owned(),
    };
    let at = rfc3339(Utc::now() + chrono::Duration::hours(1));
    let refused = cli.run(&["tick", "--now", &at, "--simulate"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "one line: {refused:?}");
    assert!(
        refused.stderr.contains("simulate") && refused.stderr.contains("loopback"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simulated_tick_on_sqlite_never_purges_history_at_its_instant() {
    let cli = Cli::new().await;
    let dir =
        std::env::temp_dir().join(format!("psu-sched-purge-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let store = format!("sqlite:{}", dir.join("jobs.db").display());
    let env = [("PSU_SCHED_STORE", store.as_str())];
    let server = JobServer::start().await;
    every_minute(&cli, &env, "kept", &server.url("/jobs/kept")).await;
    cli.run_with(&["run", "--app", "safe", "--name", "kept"], &env)
        .await
        .ok();

    // Sixty days on, past the 30-day retention of the manual run's record.
    let later = rfc3339(Utc::now() + chrono::Duration::days(60));
    cli.run_with(&["tick", "--now", &later, "--simulate", "--json"], &env)
        .await
        .ok();
    let history = cli
        .run_with(
            &["history", "--app", "safe", "--name", "kept", "--json"],
            &env,
        )
        .await
        .ok()
        .json();
    let triggers: Vec<&str> = history
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["trigger"].as_str())
        .collect();
    assert!(
        triggers.contains(&"manual"),
        "the manual run's record is still there: {history}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simulated_tick_runs_on_a_clock_that_moves_so_a_slow_call_keeps_its_real_duration() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    server.set(
        "/jobs/slow",
        crate::helpers::jobserver::Behavior::Sleep(std::time::Duration::from_secs(2)),
    );
    let next = every_minute(&cli, &[], "slow", &server.url("/jobs/slow")).await;
    cli.run(&["tick", "--now", &rfc3339(next), "--simulate", "--json"])
        .await
        .ok();
    let history = cli
        .run(&["history", "--app", "safe", "--name", "slow", "--json"])
        .await
        .ok()
        .json();
    let started = instant(&history[0]["started_at"]);
    let finished = instant(&history[0]["finished_at"]);
    // A frozen clock would record the call as ending when it started, and give every call of
    // the tick the same deadline however late it went out.
    assert!(
        finished - started >= chrono::Duration::milliseconds(1_500),
        "{started} -> {finished}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_in_the_environment_does_not_carry_a_call_past_the_address_check() {
    let cli = Cli::new().await;
    let target = JobServer::start().await;
    let proxy = JobServer::start().await;
    // The proxy is for everything but 127.0.0.1, where the test's DynamoDB (moto) is.
    let env = [
        ("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "false"),
        ("HTTP_PROXY", &proxy.url("")),
        ("http_proxy", &proxy.url("")),
        ("NO_PROXY", "127.0.0.1"),
        ("no_proxy", "127.0.0.1"),
    ];
    // A host name resolving to loopback: refused by the resolver, unless a proxy resolves it.
    let url = format!("http://localhost:{}/jobs/proxied", target.addr().port());
    every_minute(&cli, &[], "proxied", &url).await;
    let ran = cli
        .run_with(
            &["run", "--app", "safe", "--name", "proxied", "--json"],
            &env,
        )
        .await;
    assert_eq!(ran.code, 1, "{ran:?}");
    let error = ran.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("refused"), "{error}");
    assert_eq!(proxy.requests().len(), 0, "nothing went through the proxy");
    assert_eq!(target.requests().len(), 0, "nothing reached the target");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_and_tick_warn_on_stderr_when_they_send_calls_unsigned_and_only_then() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    cli.run(&[
        "app",
        "create",
        "--app",
        "safe",
        "--base-url",
        &server.url(""),
    ])
    .await
    .ok();
    let next = every_minute(&cli, &[], "plain", &server.url("/jobs/plain")).await;
    let unset = ("PSU_SCHED_SIGNING_SECRET", "");
    let warned = |run: &crate::cli::Run| {
        run.stderr
            .lines()
            .filter(|l| l.contains("unsigned") && l.contains("PSU_SCHED_SIGNING_SECRET"))
            .count()
    };

    let ran = cli
        .run_with(&["run", "--app", "safe", "--name", "plain"], &[unset])
        .await;
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(warned(&ran), 1, "one warning line: {ran:?}");
    let ticked = cli
        .run_with(
            &["tick", "--now", &rfc3339(next), "--simulate", "--json"],
            &[unset],
        )
        .await
        .ok();
    assert_eq!(warned(&ticked), 1, "one warning line: {ticked:?}");
    // A dry run calls nothing: nothing to warn about.
    let dry = cli
        .run_with(&["tick", "--dry-run", "--json"], &[unset])
        .await
        .ok();
    assert_eq!(warned(&dry), 0, "{dry:?}");

    // With a secret, no warning, and nothing else on stderr either. (Manual runs are one per
    // second.)
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let ran = cli
        .run_with(&["run", "--app", "safe", "--name", "plain"], &[SECRET])
        .await;
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(warned(&ran), 0, "{ran:?}");
    assert!(ran.stderr.is_empty(), "{ran:?}");
}
