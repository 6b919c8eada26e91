//! `psu-sched stats`, the compiled binary, on SQLite and on DynamoDB (moto): real executions
//! made by simulated ticks calling a real job server (successes, failures and their retries,
//! a timeout, a late slot and a missed one, a manual run), and every figure checked against a
//! computation from the raw history (`psu-sched history --json`) done here, independently.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::ops::Ops;
use shared::store::dynamodb::DynamoStore;

use crate::cli::{Cli, Run, instant};
use crate::helpers::jobserver::{Behavior, JobServer};
use crate::helpers::{moto, tempdb};

/// The binary over one store (`sqlite:PATH` or `dynamodb:TABLE`).
struct Target {
    cli: Cli,
    store: String,
}

impl Target {
    async fn run(&self, args: &[&str]) -> Run {
        self.cli
            .run_with(args, &[("PSU_SCHED_STORE", self.store.as_str())])
            .await
    }

    async fn json(&self, args: &[&str]) -> Value {
        self.run(args).await.ok().json()
    }
}

/// The jobs: (app, name, path, extra options).
const JOBS: [(&str, &str, &str, &[&str]); 5] = [
    ("billing", "ok", "/ok", &[]),
    ("billing", "flaky", "/fail", &["--retries", "1"]),
    ("billing", "slow", "/slow", &["--timeout", "1s"]),
    ("billing", "late", "/ok", &["--max-lateness", "1m"]),
    ("payroll", "sync", "/ok", &[]),
];

/// Creates the jobs (every 5 minutes), ticks through five of their slots at various delays
/// (one 2 minutes late: `late`, whose max lateness is 1 minute, misses it) and once between
/// two slots (flaky's retry), and runs `ok` by hand once.
async fn seed(target: &Target, server: &JobServer) {
    server.set("/fail", Behavior::Status(500));
    server.set("/slow", Behavior::Sleep(Duration::from_secs(3)));
    let mut first = Vec::new();
    for (app, name, path, extra) in JOBS {
        let url = server.url(path);
        let args = [
            &["create", "--app", app, "--name", name, "--url", &url][..],
            &["--every", "5m", "--json"],
            extra,
        ]
        .concat();
        first.push(instant(&target.json(&args).await["next_run"]));
    }
    // Jobs created across a 5-minute boundary start a slot apart: tick from the later one.
    let start = first.into_iter().max().expect("jobs");
    let minutes = chrono::Duration::minutes;
    let seconds = chrono::Duration::seconds;
    for at in [
        start,
        // Only flaky's retry (after its 30 s backoff) is due: a later slot would replace it.
        start + minutes(1),
        start + minutes(5) + seconds(20),
        start + minutes(10) + minutes(2),
        start + minutes(15) + seconds(3),
        start + minutes(20) + seconds(45),
    ] {
        let now = at.to_rfc3339();
        let tick = target
            .json(&["tick", "--now", &now, "--simulate", "--json"])
            .await;
        assert_eq!(tick["errors"], 0, "{tick}");
    }
    let ran = target
        .run(&["run", "--app", "billing", "--name", "ok"])
        .await
        .ok();
    assert!(ran.stdout.contains("succeeded"), "{ran:?}");
}

/// The figures of one job computed here from its raw history: the executions whose slot is
/// at or after `since`.
fn expected(history: &[Value], since: DateTime<Utc>) -> Value {
    let window: Vec<&Value> = history
        .iter()
        .filter(|e| instant(&e["scheduled_for"]) >= since)
        .collect();
    let count = |f: &dyn Fn(&Value) -> bool| window.iter().filter(|e| f(e)).count() as u64;
    let status = |s: &str| count(&|e: &Value| e["status"] == s);
    let runs = window.len() as u64;
    let in_flight = status("pending") + status("running");
    let succeeded = status("succeeded");
    let finished = runs - in_flight;
    let mut lags = Vec::new();
    for e in &window {
        // Cross-check lag_ms against the instants, which show whole seconds.
        if let Some(lag) = e["lag_ms"].as_i64() {
            let coarse = (instant(&e["started_at"]) - instant(&e["scheduled_for"])).num_seconds();
            assert!(
                (lag / 1000 - coarse).abs() <= 1,
                "lag_ms {lag} does not match the instants: {e}"
            );
        } else {
            // Null for what is not a lag sample: never started, a retry or a manual run.
            assert!(
                e["started_at"].is_null() || e["attempt"] != 1 || e["trigger"] == "manual",
                "{e}"
            );
        }
        if e["trigger"] == "schedule" && e["attempt"] == 1 && !e["started_at"].is_null() {
            lags.push(e["lag_ms"].as_i64().expect("lag of a started run"));
        }
    }
    let durations: Vec<i64> = window
        .iter()
        .filter_map(|e| e["duration_ms"].as_i64())
        .collect();
    let oldest = window.iter().map(|e| instant(&e["scheduled_for"])).min();
    json!({
        "runs": runs,
        "manual": count(&|e: &Value| e["trigger"] == "manual"),
        "retries": count(&|e: &Value| e["attempt"].as_u64() > Some(1)),
        "succeeded": succeeded,
        "failed": status("failed"),
        "timed_out": status("timed_out"),
        "skipped": status("skipped"),
        "missed": status("missed"),
        "in_flight": in_flight,
        "success_rate": if finished > 0 { json!(succeeded as f64 / finished as f64) } else { Value::Null },
        "lag_ms": percentiles(lags),
        "duration_ms": percentiles(durations),
        "oldest_slot": oldest.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        "truncated": false,
    })
}

/// Nearest rank, written out: sorted, the value at position ceil(p/100 * n), from 1.
fn percentiles(mut values: Vec<i64>) -> Value {
    values.sort_unstable();
    let n = values.len();
    let at = |p: f64| -> Value {
        if n == 0 {
            return Value::Null;
        }
        let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
        json!(values[rank - 1])
    };
    json!({
        "samples": n,
        "p50": at(50.0),
        "p95": at(95.0),
        "p99": at(99.0),
        "max": values.last(),
    })
}

/// Seeds the store, then checks `stats --json` job by job against the raw history.
async fn stats_equal_the_raw_history(target: &Target) {
    let server = JobServer::start().await;
    seed(target, &server).await;

    let stats = target.json(&["stats", "--json"]).await;
    let since = instant(&stats["since"]);
    let generated = instant(&stats["generated_at"]);
    assert_eq!(generated - since, chrono::Duration::days(7), "{stats}");
    assert_eq!(stats["limit"], 1000);
    let jobs = stats["jobs"].as_array().expect("jobs");
    let names: Vec<(&str, &str)> = jobs
        .iter()
        .map(|j| {
            (
                j["app"].as_str().expect("app"),
                j["job"].as_str().expect("job"),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("billing", "flaky"),
            ("billing", "late"),
            ("billing", "ok"),
            ("billing", "slow"),
            ("payroll", "sync"),
        ]
    );
    for job in jobs {
        let (app, name) = (
            job["app"].as_str().expect("app"),
            job["job"].as_str().expect("job"),
        );
        let history = target
            .json(&[
                "history", "--app", app, "--name", name, "--limit", "1000", "--json",
            ])
            .await;
        let want = expected(history.as_array().expect("history"), since);
        for (field, value) in want.as_object().expect("object") {
            assert_eq!(
                &job[field], value,
                "{app}/{name}: `{field}`\nstats: {job}\nhistory: {history}"
            );
        }
    }

    // What the seeding was meant to produce is there, so the comparison above compared
    // something: failures and their retries, a timeout, a late slot, a missed one, a manual run.
    let by_name = |name: &str| jobs.iter().find(|j| j["job"] == name).expect(name);
    assert_eq!(by_name("ok")["runs"], 6, "5 slots and a manual run");
    assert_eq!(by_name("ok")["manual"], 1);
    assert_eq!(by_name("ok")["success_rate"], 1.0);
    assert_eq!(by_name("ok")["lag_ms"]["samples"], 5);
    let p99 = by_name("ok")["lag_ms"]["p99"].as_i64().expect("p99");
    assert!((120_000..125_000).contains(&p99), "the late slot: {p99} ms");
    assert_eq!(
        by_name("flaky")["failed"],
        6,
        "5 slots and the first one's retry"
    );
    assert_eq!(by_name("flaky")["retries"], 1);
    assert_eq!(
        by_name("flaky")["lag_ms"]["samples"],
        5,
        "a retry is not a lag sample"
    );
    assert_eq!(by_name("flaky")["success_rate"], 0.0);
    assert_eq!(by_name("slow")["timed_out"], 5);
    assert_eq!(by_name("late")["missed"], 1);
    assert_eq!(
        by_name("late")["lag_ms"]["samples"],
        4,
        "the missed slot has no lag"
    );

    // One app; another window.
    let billing = target
        .json(&["stats", "--app", "billing", "--since", "90m", "--json"])
        .await;
    let names: Vec<&str> = billing["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["job"].as_str())
        .collect();
    assert_eq!(names, ["flaky", "late", "ok", "slow"]);
    assert_eq!(
        instant(&billing["generated_at"]) - instant(&billing["since"]),
        chrono::Duration::minutes(90)
    );

    // The table.
    let table = target.run(&["stats", "--app", "billing"]).await.ok();
    let header = table.stdout.lines().nth(1).unwrap_or_default();
    for column in [
        "APP",
        "JOB",
        "RUNS",
        "SUCCESS",
        "LAG P50",
        "LAG P99",
        "DURATION P95",
    ] {
        assert!(header.contains(column), "{table:?}");
    }
    let ok_row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("billing  ok"))
        .unwrap_or_else(|| panic!("{table:?}"));
    assert!(
        ok_row.contains("100.0%") && ok_row.contains("2m0"),
        "{ok_row}"
    );

    // Bad windows: one line naming the field, exit 2.
    for (since, says) in [
        ("7", "since: `7` has no unit"),
        (
            "400d",
            "since: `400d` is not accepted; use a duration from 1m to 366d",
        ),
    ] {
        let refused = target.run(&["stats", "--since", since]).await;
        assert_eq!(refused.code, 2, "{refused:?}");
        assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
        assert!(
            refused.stderr.starts_with(&format!("psu-sched: {says}")),
            "{refused:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_on_sqlite_equal_a_computation_from_the_raw_history() {
    let db = tempdb::TempDb::new();
    let target = Target {
        cli: Cli {
            endpoint: String::new(),
            table: String::new(),
        },
        store: format!("sqlite:{}", db.0.display()),
    };
    stats_equal_the_raw_history(&target).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_on_dynamodb_equal_a_computation_from_the_raw_history_in_one_query_per_job() {
    let cli = Cli::new().await;
    let target = Target {
        store: format!("dynamodb:{}", cli.table),
        cli,
    };
    stats_equal_the_raw_history(&target).await;

    // The bound, counted: the app's jobs in one Query, then one Query per job; without an
    // app, the app directory's Query, then (the directory not known complete before `table
    // upgrade`: tests/tests/listing.rs) a Scan for the jobs.
    let store = DynamoStore::new(
        &moto::sdk_config(&target.cli.endpoint).await,
        target.cli.table.clone(),
    );
    let requests = store.requests().clone();
    let ops = Ops::with_store("dynamodb", Arc::new(store));
    let week = Duration::from_secs(7 * 86_400);
    let billing = ops.stats(Some("billing"), week).await.expect("stats");
    assert_eq!(billing.jobs.len(), 4);
    assert_eq!(
        requests.snapshot(),
        std::collections::BTreeMap::from([("Query".to_owned(), 1 + 4)])
    );
    requests.reset();
    let all = ops.stats(None, week).await.expect("stats");
    assert_eq!(all.jobs.len(), 5);
    // A table made by init has a complete app directory: one Query of `APPS`, one per app
    // (2) and one per job, no Scan.
    assert_eq!(
        requests.snapshot(),
        std::collections::BTreeMap::from([("Query".to_owned(), 1 + 2 + 5)])
    );
    requests.reset();
    let one = ops
        .job_stats("billing", "ok", week)
        .await
        .expect("job stats");
    assert_eq!(one, billing.jobs[2]);
    assert_eq!(
        requests.snapshot(),
        std::collections::BTreeMap::from([("GetItem".to_owned(), 1), ("Query".to_owned(), 1)])
    );
}
