//! The Lambda function end to end: `cargo lambda watch` runs `psu-sched-tick` as the Lambda
//! service would (runtime API, environment), `cargo lambda invoke` sends it the EventBridge
//! fixture, and the function ticks against the moto server and real job servers on 127.0.0.1.
//! Also relay mode: a job calling an old psu-scheduler app's `/scheduler/run` every minute.
//!
//! cargo-lambda comes from `.venv` (`./scripts/test` installs it). Logs are written to the
//! system's temporary directory, outside the workspace (a log inside made `watch` rebuild).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use shared::model::{App, AppName, BaseUrl, Execution, Job, JobName, JobUrl, NewJob, Status};
use shared::protocol::{HEADER_EXECUTION, HEADER_KEY, HEADER_SCHEDULED_FOR, HEADER_SIGNATURE};
use shared::store::dynamodb::DynamoStore;
use shared::store::{Store, TABLE_FORMAT};
use shared::tick::TickSummary;

use crate::helpers::faultproxy::{Fault, FaultProxy};
use crate::helpers::jobserver::{Behavior, JobServer, Recorded};
use crate::helpers::moto;
use crate::world::{World, init_tracing, utc};

/// The old app's endpoint, as psu-scheduler (Django) serves it.
const RELAY_PATH: &str = "/scheduler/run";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn venv_bin() -> PathBuf {
    workspace_root().join(".venv/bin")
}

/// PATH with the virtualenv's bin first (cargo-lambda, and the zig it may call).
fn path_with_venv() -> String {
    let mut path = venv_bin().display().to_string();
    if let Ok(rest) = std::env::var("PATH") {
        path.push(':');
        path.push_str(&rest);
    }
    path
}

pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

pub(crate) fn temp_log(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "psu-sched-{what}-{}.log",
        uuid::Uuid::new_v4().simple()
    ))
}

pub(crate) fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Runs a command to completion on a blocking thread; returns (success, stdout, stderr).
async fn run(mut command: Command) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let output = command
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .expect("the command's thread")
}

/// `cargo lambda watch` serving the function on a free port of 127.0.0.1. Dropping it stops
/// the watcher, the cargo it runs and the function (one process group).
pub(crate) struct Watch {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Watch {
    /// Builds the function, starts the watcher with the function's environment `env` (and
    /// nothing of psu-sched's from this process), and waits until it listens.
    pub(crate) async fn start(env: &[(&str, String)]) -> Watch {
        let cargo_lambda = venv_bin().join("cargo-lambda");
        assert!(
            cargo_lambda.exists(),
            "{} is missing: run ./scripts/test (it installs cargo-lambda into .venv)",
            cargo_lambda.display()
        );
        // Build first, as `watch` would on the first invoke, so that the invoke does not wait
        // for the compiler. The same command as `watch` runs: the build is reused.
        let mut build = Command::new("cargo");
        build.current_dir(workspace_root()).args([
            "build",
            "--package",
            "psu-sched-lambda",
            "--bin",
            "psu-sched-tick",
        ]);
        let (ok, _, stderr) = run(build).await;
        assert!(ok, "cargo build of the function failed:\n{stderr}");

        let port = free_port();
        let log = temp_log("lambda-watch");
        let out = std::fs::File::create(&log).expect("create the watch log");
        let err = out.try_clone().expect("clone the watch log");
        let mut command = Command::new(&cargo_lambda);
        command
            .current_dir(workspace_root())
            .env("PATH", path_with_venv())
            .args(["lambda", "watch", "--ignore-changes", "--invoke-address"])
            .arg("127.0.0.1")
            .arg("--invoke-port")
            .arg(port.to_string())
            .args(["--package", "psu-sched-lambda", "--bin", "psu-sched-tick"]);
        for (name, _) in std::env::vars() {
            if name.starts_with("PSU_SCHED_") {
                command.env_remove(&name);
            }
        }
        for (name, value) in env {
            command.env(name, value);
        }
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", cargo_lambda.display()));
        let mut watch = Watch { child, port, log };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return watch;
            }
            if let Ok(Some(status)) = watch.child.try_wait() {
                panic!(
                    "cargo lambda watch exited ({status}) before listening:\n{}",
                    tail(&watch.log)
                );
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on {addr} within 120 s:\n{}",
                tail(&watch.log)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `cargo lambda invoke --data-file tests/fixtures/<fixture>`: the function's answer, or
    /// its error output.
    pub(crate) async fn invoke(&self, fixture: &str) -> Result<serde_json::Value, String> {
        let mut command = Command::new(venv_bin().join("cargo-lambda"));
        command
            .current_dir(workspace_root())
            .env("PATH", path_with_venv())
            .args(["lambda", "invoke", "psu-sched-tick", "--invoke-address"])
            .arg("127.0.0.1")
            .arg("--invoke-port")
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(workspace_root().join("tests/fixtures").join(fixture))
            .args(["--output-format", "json"]);
        let (ok, stdout, stderr) = run(command).await;
        if !ok {
            return Err(format!("{stderr}\n--- watch log ---\n{}", tail(&self.log)));
        }
        serde_json::from_str(stdout.trim()).map_err(|e| {
            format!(
                "the answer is not JSON ({e}): {stdout}\n--- watch log ---\n{}",
                tail(&self.log)
            )
        })
    }

    /// The CloudWatch EMF lines the function printed so far (JSON objects with `_aws`), in
    /// order. Its stdout reaches the watch log a moment after the answer: wait for `count`.
    async fn emf_lines(&self, count: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<serde_json::Value> = text
                .lines()
                .filter_map(|l| l.find('{').map(|at| &l[at..]))
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v.get("_aws").is_some())
                .collect();
            if lines.len() >= count || Instant::now() > deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SIGTERM to the group lets cargo-lambda stop its function; then make sure.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        } else {
            eprintln!("cargo lambda watch log kept at {}", self.log.display());
        }
    }
}

/// A fresh table on moto, and a store on it.
pub(crate) async fn table() -> (String, String, DynamoStore) {
    init_tracing();
    let endpoint = moto::endpoint().await;
    let table = moto::unique_table_name();
    let store = DynamoStore::new(&moto::sdk_config(&endpoint).await, &table);
    store.create_table().await.expect("create the test table");
    (endpoint, table, store)
}

/// The function's environment: the table on moto, dummy credentials.
pub(crate) fn function_env(endpoint: &str, table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PSU_SCHED_TABLE", table.to_owned()),
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", moto::REGION.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
}

/// An every-minute job calling `url`, created two minutes ago so that its current minute's
/// slot is due now (the function ticks on the system clock).
async fn every_minute_job(store: &DynamoStore, name: &str, url: &str, timeout: Duration) -> Job {
    every_minute_job_of(store, "relayapp", name, url, timeout).await
}

/// The same for a job of `app`.
async fn every_minute_job_of(
    store: &DynamoStore,
    app: &str,
    name: &str,
    url: &str,
    timeout: Duration,
) -> Job {
    let mut spec = NewJob::new(
        AppName::parse(app).expect("app"),
        JobName::parse(name).expect("name"),
        JobUrl::parse(url).expect("url"),
        "* * * * *".parse().expect("schedule"),
    );
    spec.timeout = timeout;
    let job = spec
        .build(Utc::now() - chrono::Duration::minutes(2))
        .expect("valid job");
    store.create_job(&job).await.expect("create job");
    job
}

async fn only_execution(store: &DynamoStore, job: &Job) -> Execution {
    let history = store.list_executions(&job.id, 10).await.expect("history");
    assert_eq!(
        history.len(),
        1,
        "one execution for {}: {history:?}",
        job.name
    );
    history.into_iter().next().expect("one")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_under_cargo_lambda_ticks_on_a_scheduled_event_and_answers_its_summary() {
    let (endpoint, table, store) = table().await;
    let server = JobServer::start().await;
    server.set(RELAY_PATH, Behavior::Ok("1".into()));
    let relay = every_minute_job(
        &store,
        "relay",
        &server.url(RELAY_PATH),
        Duration::from_secs(10),
    )
    .await;
    // With the switch on, a host name resolving to loopback is called too.
    let by_name = every_minute_job(
        &store,
        "by-name",
        &format!("http://localhost:{}/by-name", server.addr().port()),
        Duration::from_secs(10),
    )
    .await;
    // No job here targets 169.254.169.254: with the switch on it would be connected to, and
    // a metadata address is only ever checked, never called (the refusal test below and
    // `shared::dispatch`'s unit test check it).

    let mut env = function_env(&endpoint, &table);
    env.push(("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "true".to_owned()));
    let watch = Watch::start(&env).await;

    // A dry run first: it reports the two calls and makes none.
    let answer = watch
        .invoke("operator-dry-run-now.json")
        .await
        .unwrap_or_else(|e| panic!("the dry run failed: {e}"));
    let dry: TickSummary = serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("the answer is not a TickSummary ({e}): {answer}"));
    assert!(dry.dry_run, "{dry:?}");
    assert_eq!(
        (dry.due, dry.triggered, dry.succeeded),
        (2, 2, 0),
        "{dry:?}"
    );
    assert!(server.requests().is_empty(), "a dry run calls nothing");
    for job in [&relay, &by_name] {
        let history = store.list_executions(&job.id, 10).await.expect("history");
        assert!(history.is_empty(), "a dry run writes nothing: {history:?}");
    }

    let answer = watch
        .invoke("scheduled-event.json")
        .await
        .unwrap_or_else(|e| panic!("the invocation failed: {e}"));
    let summary: TickSummary = serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("the answer is not a TickSummary ({e}): {answer}"));
    assert!(!summary.dry_run);
    assert_eq!(
        (summary.due, summary.triggered, summary.succeeded),
        (2, 2, 2),
        "{summary:?}"
    );
    assert!(
        (Utc::now() - summary.now).num_seconds().abs() < 120,
        "the tick ran on the system clock, not the event's time: {}",
        summary.now
    );

    let calls = server.wait_for(RELAY_PATH, 1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1, "the app's /scheduler/run was called once");
    let call = &calls[0];
    assert_eq!(call.method, "GET");
    assert!(call.header(HEADER_KEY).is_some_and(|k| k.len() == 64));
    let execution = only_execution(&store, &relay).await;
    assert_eq!(execution.status, Status::Succeeded);
    assert_eq!(execution.http_status, Some(200));
    assert_eq!(execution.output.as_deref(), Some("1"));
    assert_eq!(
        call.header(HEADER_EXECUTION),
        Some(execution.id.to_string().as_str())
    );

    assert_eq!(server.count("/by-name"), 1);
    assert_eq!(
        only_execution(&store, &by_name).await.status,
        Status::Succeeded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_function_under_cargo_lambda_counts_a_reconciled_call_and_its_retry_in_its_emf_line() {
    use chrono::{DurationRound, Timelike};

    // Five minutes ago, a tick (this process's, at that instant) sent a call and could not
    // record its outcome: every UpdateItem after "mark sent" failed, as if the tick crashed.
    let slot = (Utc::now() - chrono::Duration::minutes(5))
        .duration_trunc(chrono::Duration::minutes(1))
        .expect("a minute");
    let world = World::new(slot - chrono::Duration::seconds(30)).await;
    let mut spec = world.spec(
        "unrecorded",
        "/unrecorded",
        &format!("{} {} * * *", slot.minute(), slot.hour()),
    );
    spec.retries = 1;
    spec.timeout = Duration::from_secs(1);
    let job = world.create(spec).await;
    let proxy = FaultProxy::start(&world.endpoint).await;
    let faulty = DynamoStore::new(&moto::sdk_config(&proxy.url()).await, &world.table);
    let mut plan = vec![None];
    plan.extend(vec![Some(Fault::ServerError); 50]);
    proxy.set_plan_for("UpdateItem", plan);
    world.set(slot);
    let crashed = shared::tick::tick(
        &faulty,
        &world.dispatcher,
        world.clock.as_ref(),
        &world.config,
    )
    .await;
    assert!(crashed.is_err(), "{crashed:?}");
    proxy.clear();
    assert_eq!(world.server.count("/unrecorded"), 1);

    // Now, past the call's timeout plus grace, the function reconciles it and schedules the
    // retry the job allows (the next slot is tomorrow's: the retry is not superseded).
    let mut env = function_env(&world.endpoint, &world.table);
    env.push(("PSU_SCHED_STACK", "psu-sched-it".to_owned()));
    let watch = Watch::start(&env).await;
    let answer = watch
        .invoke("scheduled-event.json")
        .await
        .unwrap_or_else(|e| panic!("the invocation failed: {e}"));
    let summary: TickSummary = serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("the answer is not a TickSummary ({e}): {answer}"));
    assert_eq!(
        (summary.reconciled, summary.retried, summary.triggered),
        (1, 1, 0),
        "{summary:?}"
    );
    let execution = only_execution(&world.store, &job).await;
    assert_eq!(execution.status, Status::TimedOut);
    let stored = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("the job");
    assert_eq!(stored.state.retry.map(|r| r.attempt), Some(2));

    let lines = watch.emf_lines(1).await;
    assert_eq!(
        lines.len(),
        1,
        "one EMF line per tick:\n{}",
        tail(&watch.log)
    );
    let line = &lines[0];
    let declared = declared_metrics(line);
    for name in ["Reconciled", "Retried"] {
        assert!(
            declared.iter().any(|(n, _)| n == name),
            "{name} is declared: {line}"
        );
    }
    assert_eq!(
        (line["Reconciled"].as_u64(), line["Retried"].as_u64()),
        (Some(1), Some(1)),
        "{line}"
    );

    // A completed tick: its line carries the metric the template's heartbeat alarm watches,
    // and every metric is filed under the stack the function was given.
    let template = crate::infra::template();
    let (alarm, heartbeat) = crate::infra::heartbeat_alarm(&template);
    let heartbeat = heartbeat["MetricName"].as_str().expect("a metric name");
    assert!(
        declared.iter().any(|(n, _)| n == heartbeat),
        "{alarm} watches {heartbeat}, declared by a completed tick's line: {line}"
    );
    assert_eq!(line[heartbeat].as_u64(), Some(1), "{line}");
    for (name, dimensions) in &declared {
        assert_eq!(
            dimensions,
            &serde_json::json!([["Stack"]]),
            "{name} carries the stack dimension: {line}"
        );
    }
    assert_eq!(line["Stack"], "psu-sched-it", "{line}");
}

/// The metrics an EMF line declares, over all its metric sets: (name, the set's dimensions).
fn declared_metrics(line: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let sets = line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .unwrap_or_else(|| panic!("metric sets: {line}"));
    let mut out = Vec::new();
    for set in sets {
        assert_eq!(
            set["Namespace"],
            psu_sched_lambda::metrics::NAMESPACE,
            "{line}"
        );
        for metric in set["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("a metric name").to_owned();
            out.push((name, set["Dimensions"].clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_failure_mid_tick_fails_the_function_after_its_emf_line_counts_what_completed() {
    let (endpoint, table, store) = table().await;
    let server = JobServer::start().await;
    let job = every_minute_job(
        &store,
        "kept",
        &server.url("/kept"),
        Duration::from_secs(10),
    )
    .await;
    // The function reaches the table through a proxy that fails every PutItem: the job's
    // bookkeeping after its call. The claim, the call and its outcome go through.
    let proxy = FaultProxy::start(&endpoint).await;
    proxy.set_plan_for("PutItem", vec![Some(Fault::ServerError); 50]);
    let mut env = function_env(&proxy.url(), &table);
    env.push(("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "true".to_owned()));
    let watch = Watch::start(&env).await;

    let err = watch
        .invoke("scheduled-event.json")
        .await
        .expect_err("a store failure fails the invocation");
    assert!(err.contains("StoreFailure"), "{err}");
    assert!(err.contains("PutItem"), "the first failure is named: {err}");
    assert_eq!(server.count("/kept"), 1);
    assert_eq!(only_execution(&store, &job).await.status, Status::Succeeded);

    let lines = watch.emf_lines(1).await;
    assert_eq!(
        lines.len(),
        1,
        "the EMF line is printed before the invocation fails:\n{}",
        tail(&watch.log)
    );
    let line = &lines[0];
    assert_eq!(
        (
            line["Triggered"].as_u64(),
            line["Succeeded"].as_u64(),
            line["Errors"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{line}"
    );
    // An incomplete tick is no heartbeat: the heartbeat alarm's metric is not in its line.
    let template = crate::infra::template();
    let (alarm, heartbeat) = crate::infra::heartbeat_alarm(&template);
    let heartbeat = heartbeat["MetricName"].as_str().expect("a metric name");
    assert!(
        !declared_metrics(line).iter().any(|(n, _)| n == heartbeat)
            && line.get(heartbeat).is_none(),
        "{alarm}'s {heartbeat} is not in a failed tick's line: {line}"
    );
    assert_eq!(line["Stack"], "default", "no PSU_SCHED_STACK: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_per_app_metrics_on_the_function_prints_a_line_per_app_with_its_own_figures() {
    let (endpoint, table, store) = table().await;
    let server = JobServer::start().await;
    server.set("/alpha", Behavior::Ok("done".into()));
    server.set("/beta", Behavior::Status(500));
    for (app, path) in [("alpha", "/alpha"), ("beta", "/beta")] {
        every_minute_job_of(
            &store,
            app,
            "nightly",
            &server.url(path),
            Duration::from_secs(10),
        )
        .await;
    }
    let mut env = function_env(&endpoint, &table);
    env.push(("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "true".to_owned()));
    env.push(("PSU_SCHED_APP_METRICS", "true".to_owned()));
    env.push(("PSU_SCHED_STACK", "psu-sched-test".to_owned()));
    let watch = Watch::start(&env).await;

    watch
        .invoke("scheduled-event.json")
        .await
        .unwrap_or_else(|e| panic!("the tick fails: {e}"));
    let lines = watch.emf_lines(3).await;
    assert_eq!(
        lines.len(),
        3,
        "the tick's line and one per app:\n{}",
        tail(&watch.log)
    );
    assert_eq!(
        (&lines[0]["Triggered"], &lines[0]["Failed"]),
        (&serde_json::json!(2), &serde_json::json!(1)),
        "the tick's own line first: {}",
        lines[0]
    );
    let per_app: Vec<(String, u64, u64, u64)> = lines[1..]
        .iter()
        .map(|line| {
            let directive = &line["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(
                directive["Dimensions"],
                serde_json::json!([["Stack", "App"]]),
                "{line}"
            );
            assert_eq!(line["Stack"], "psu-sched-test");
            (
                line["App"].as_str().expect("App").to_owned(),
                line["Triggered"].as_u64().expect("Triggered"),
                line["Succeeded"].as_u64().expect("Succeeded"),
                line["Failed"].as_u64().expect("Failed"),
            )
        })
        .collect();
    assert_eq!(
        per_app,
        [("alpha".to_owned(), 1, 1, 0), ("beta".to_owned(), 1, 0, 1)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_meets_a_newer_table_format_refuses_to_tick_and_says_why() {
    let (endpoint, table, store) = table().await;
    let server = JobServer::start().await;
    let job = every_minute_job(
        &store,
        "kept",
        &server.url("/kept"),
        Duration::from_secs(10),
    )
    .await;
    // A later version raised the table's format (a one-way upgrade); this function, rolled
    // back to, must not tick items it may misread.
    crate::table_format::put_table_format(&endpoint, &table, 1000).await;
    let mut env = function_env(&endpoint, &table);
    env.push(("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "true".to_owned()));
    let watch = Watch::start(&env).await;

    let err = watch
        .invoke("scheduled-event.json")
        .await
        .expect_err("the invocation fails");
    assert!(err.contains("TableFormatTooNew"), "{err}");
    assert!(
        err.contains("format 1000") && err.contains(&format!("format {TABLE_FORMAT} ")),
        "the error names both formats: {err}"
    );
    let log = std::fs::read_to_string(&watch.log).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("format 1000")),
        "a clear log line:\n{}",
        tail(&watch.log)
    );
    assert_eq!(server.count("/kept"), 0, "nothing called");
    assert!(
        store
            .list_executions(&job.id, 10)
            .await
            .expect("history")
            .is_empty(),
        "nothing claimed"
    );
    // No heartbeat: the alarm on its absence tells the operator.
    let lines = watch.emf_lines(1).await;
    let template = crate::infra::template();
    let (_, heartbeat) = crate::infra::heartbeat_alarm(&template);
    let heartbeat = heartbeat["MetricName"].as_str().expect("a metric name");
    assert!(
        lines.iter().all(|line| line.get(heartbeat).is_none()),
        "no {heartbeat} from a refused tick: {lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_default_settings_the_function_refuses_loopback_metadata_and_names_resolving_to_loopback()
 {
    let (endpoint, table, store) = table().await;
    let server = JobServer::start().await;
    let targets = [
        ("loopback", server.url("/loopback")),
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ),
        (
            "by-name",
            format!("http://localhost:{}/by-name", server.addr().port()),
        ),
    ];
    let mut jobs = Vec::new();
    for (name, url) in &targets {
        jobs.push(every_minute_job(&store, name, url, Duration::from_secs(5)).await);
    }

    let watch = Watch::start(&function_env(&endpoint, &table)).await;
    let answer = watch
        .invoke("scheduled-event.json")
        .await
        .unwrap_or_else(|e| panic!("a job's failure must not fail the invocation: {e}"));
    let summary: TickSummary = serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("the answer is not a TickSummary ({e}): {answer}"));
    assert_eq!(
        (summary.triggered, summary.failed, summary.succeeded),
        (3, 3, 0),
        "{summary:?}"
    );
    assert!(
        server.requests().is_empty(),
        "nothing reached the job server"
    );
    for job in &jobs {
        let execution = only_execution(&store, job).await;
        assert_eq!(execution.status, Status::Failed, "{}", job.name);
        let error = execution.error.unwrap_or_default();
        assert!(
            error.contains("refused") && error.contains("PSU_SCHED_ALLOW_PRIVATE_TARGETS=true"),
            "{}: {error}",
            job.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_answers_a_malformed_payload_with_an_error_naming_the_accepted_shapes() {
    let (endpoint, table, _store) = table().await;
    let watch = Watch::start(&function_env(&endpoint, &table)).await;
    let err = watch.invoke("malformed.json").await.expect_err("refused");
    assert!(err.contains("BadPayload"), "{err}");
    assert!(err.contains("Scheduled Event"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_mode_calls_the_old_apps_scheduler_run_once_per_tick_minute() {
    let start = utc(2026, 11, 26, 9, 0);
    let world = World::new(start - chrono::Duration::seconds(30)).await;
    world.server.set(RELAY_PATH, Behavior::Ok("2".into()));
    let job = world
        .create(world.spec("relay", RELAY_PATH, "* * * * *"))
        .await;

    // Ten minutes of ticks, each delivered at second 0, with late and repeated deliveries in
    // some minutes (EventBridge delivers at least once, and late at times).
    for minute in 0..10 {
        let at = start + chrono::Duration::minutes(minute);
        world.set(at);
        world.tick().await;
        if minute % 3 == 0 {
            world.set(at + chrono::Duration::seconds(40));
            world.tick().await;
            world.tick().await;
        }
    }

    let calls = world.server.requests_to(RELAY_PATH);
    let slots: Vec<&str> = calls
        .iter()
        .map(|c| c.header(HEADER_SCHEDULED_FOR).unwrap_or("?"))
        .collect();
    let expected: Vec<String> = (0..10)
        .map(|m| shared::protocol::format_slot(start + chrono::Duration::minutes(m)))
        .collect();
    assert_eq!(slots, expected, "one call per minute, in order");
    assert!(calls.iter().all(|c| c.method == "GET"));
    let history = world
        .store
        .list_executions(&job.id, 100)
        .await
        .expect("history");
    assert_eq!(history.len(), 10);
    assert!(
        history
            .iter()
            .all(|e| e.status == Status::Succeeded && e.output.as_deref() == Some("2")),
        "{history:?}"
    );
}

/// Whether `call` carries a signature that the app `relayapp` (its record: generation 1 under
/// `salt`) holding the key derived from `secret` accepts, checked as the app checks it.
fn signed_with(call: &Recorded, secret: &str, salt: Option<&str>) -> bool {
    verifies_with(call, shared::signing::app_key(secret, "relayapp", 1, salt))
}

/// Whether the app `relayapp` holding `key` accepts `call`'s signature.
fn verifies_with(call: &Recorded, key: String) -> bool {
    let target = match &call.query {
        Some(query) => format!("{}?{query}", call.path),
        None => call.path.clone(),
    };
    shared::signing::verify_signature(
        "relayapp",
        &[key],
        &call.headers,
        &call.method,
        &target,
        &call.body,
        Utc::now(),
        shared::signing::DEFAULT_TOLERANCE,
    )
    .is_ok()
}

/// The one call made to `path`.
async fn only_call(server: &JobServer, path: &str) -> Recorded {
    let calls = server.wait_for(path, 1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1, "one call to {path}: {calls:?}");
    calls.into_iter().next().expect("one")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_function_signs_with_the_secret_it_reads_at_run_time_and_with_a_changed_one_after_the_interval()
 {
    let (endpoint, table, store) = table().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&moto::sdk_config(&endpoint).await);
    // A secret without a value yet: GetSecretValue on it fails, as for a secret the role may
    // not read.
    let arn = secrets
        .create_secret()
        .name(format!("psu-sched-test-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await
        .expect("create the secret")
        .arn
        .expect("its ARN");
    let server = JobServer::start().await;
    // Only an app's record signs its calls.
    let record = App::new(
        AppName::parse("relayapp").expect("app"),
        BaseUrl::parse(&server.url("")).expect("base URL"),
        4,
        Utc::now(),
    )
    .expect("app");
    store.create_app(&record).await.expect("create the app");
    let salt = record.key_salt.as_deref();
    let before = every_minute_job(
        &store,
        "before",
        &server.url("/before"),
        Duration::from_secs(10),
    )
    .await;
    let mut env = function_env(&endpoint, &table);
    env.push(("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "true".to_owned()));
    env.push(("PSU_SCHED_SIGNING_SECRET_ARN", arn.clone()));
    env.push(("PSU_SCHED_SECRET_REFRESH_SECONDS", "2".to_owned()));
    let watch = Watch::start(&env).await;

    // Unreadable at the cold start: the invocation fails, naming the secret, and claims
    // nothing (an unsigned call would be refused by the app and burn the slot).
    let err = watch
        .invoke("scheduled-event.json")
        .await
        .expect_err("an unreadable secret fails the invocation");
    assert!(err.contains(&arn), "the error names the secret: {err}");
    assert!(server.requests().is_empty(), "nothing was called");
    let history = store
        .list_executions(&before.id, 10)
        .await
        .expect("history");
    assert!(history.is_empty(), "nothing was claimed: {history:?}");

    // Readable: the next invocation reads it and signs with it.
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("first-deployment-secret")
        .send()
        .await
        .expect("put the first value");
    let answer = watch
        .invoke("scheduled-event.json")
        .await
        .unwrap_or_else(|e| panic!("the invocation failed: {e}"));
    let summary: TickSummary = serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("the answer is not a TickSummary ({e}): {answer}"));
    assert_eq!(
        (summary.triggered, summary.succeeded),
        (1, 1),
        "{summary:?}"
    );
    let call = only_call(&server, "/before").await;
    assert!(
        call.header(HEADER_SIGNATURE).is_some(),
        "the call is signed: {call:?}"
    );
    assert!(
        signed_with(&call, "first-deployment-secret", salt),
        "{call:?}"
    );
    assert!(
        !signed_with(&call, "second-deployment-secret", salt),
        "{call:?}"
    );

    // Changed in Secrets Manager: once the interval has passed, the same process signs with
    // the new value (no restart, no redeploy).
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("second-deployment-secret")
        .send()
        .await
        .expect("put the second value");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = every_minute_job(
        &store,
        "after",
        &server.url("/after"),
        Duration::from_secs(10),
    )
    .await;
    // The next minute's event (the same event again would be a duplicate delivery of the
    // minute already ticked, whose shard lease it would find taken).
    let answer = watch
        .invoke("scheduled-event-next-minute.json")
        .await
        .unwrap_or_else(|e| panic!("the invocation failed: {e}"));
    let call = only_call(&server, "/after").await;
    assert!(
        signed_with(&call, "second-deployment-secret", salt),
        "{answer} {call:?}"
    );
    assert!(
        !signed_with(&call, "first-deployment-secret", salt),
        "{call:?}"
    );
    assert_eq!(
        only_execution(&store, &after).await.status,
        Status::Succeeded
    );

    // The CLI reads the same secret by its ARN: the key `app key` prints, with no secret typed,
    // is the one the app needs to accept the function's call.
    let cli = crate::cli::Cli {
        endpoint: endpoint.clone(),
        table: table.clone(),
    };
    let printed = cli
        .run(&[
            "app",
            "key",
            "--app",
            "relayapp",
            "--json",
            "--signing-secret-arn",
            &arn,
        ])
        .await
        .ok();
    let key = printed.json()["key"].as_str().expect("a key").to_owned();
    assert!(verifies_with(&call, key), "{printed:?}");

    let log = std::fs::read_to_string(&watch.log).unwrap_or_default();
    assert!(
        !log.contains("deployment-secret"),
        "the secret's value never reaches the log:\n{log}"
    );
}

/// Issue 29: the template's group rule's event under `cargo lambda watch`: group 2 of 4 works
/// shard 2 only (an app there is called, an app in shard 0 is not), and the same event again
/// (a duplicate delivery) calls nothing. (A duplicate racing the first finds the shard leased:
/// lambda/src/tests.rs and tests/tests/shards.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_event_ticks_its_shards_once_and_a_duplicate_delivery_calls_nothing() {
    let (endpoint, table, store) = table().await;
    let before = store.table_meta().await.expect("the layout");
    let mut four = before.raise(4, Utc::now(), Utc::now()).expect("a raise");
    four.format = four.format.max(shared::store::SHARDED_FORMAT);
    assert!(
        store
            .put_table_meta(&four, before.version)
            .await
            .expect("raise")
    );
    let app_in = |shard: u32| {
        (0..1000)
            .map(|i| format!("app-{i}"))
            .find(|name| {
                shared::store::layout::shard_of(&AppName::parse(name).expect("app"), 4) == shard
            })
            .expect("an app")
    };
    let server = JobServer::start().await;
    let in_group = every_minute_job_of(
        &store,
        &app_in(2),
        "in-group",
        &server.url("/in-group"),
        Duration::from_secs(10),
    )
    .await;
    let elsewhere = every_minute_job_of(
        &store,
        &app_in(0),
        "elsewhere",
        &server.url("/elsewhere"),
        Duration::from_secs(10),
    )
    .await;
    let mut env = function_env(&endpoint, &table);
    env.push(("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "true".to_owned()));
    let watch = Watch::start(&env).await;

    let answer = watch
        .invoke("group-event.json")
        .await
        .unwrap_or_else(|e| panic!("the invocation failed: {e}"));
    let first: TickSummary = serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("the answer is not a TickSummary ({e}): {answer}"));
    assert_eq!(
        (first.due, first.triggered, first.busy_shards),
        (1, 1, 0),
        "{first:?}"
    );
    let again: TickSummary = serde_json::from_value(
        watch
            .invoke("group-event.json")
            .await
            .unwrap_or_else(|e| panic!("the duplicate failed: {e}")),
    )
    .expect("a TickSummary");
    assert_eq!(
        (again.due, again.triggered),
        (0, 0),
        "the duplicate finds nothing left to do: {again:?}"
    );
    only_call(&server, "/in-group").await;
    assert_eq!(
        only_execution(&store, &in_group).await.status,
        Status::Succeeded
    );
    assert!(
        server.requests_to("/elsewhere").is_empty(),
        "shard 0 is group 0's"
    );
    assert!(
        store
            .list_executions(&elsewhere.id, 10)
            .await
            .expect("history")
            .is_empty()
    );
}
