//! `psu-sched serve` as a real process on the embedded SQLite store: punctual to the minute,
//! signed as the Lambda signs, and a clean stop on SIGTERM with a call in flight.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use shared::model::{AppName, JobName, Status};
use shared::store::Store;
use shared::store::sqlite::SqliteStore;

use crate::cli::binary;
use crate::helpers::jobserver::{Behavior, JobServer};

fn psu(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .arg("--store")
        .arg(format!("sqlite:{db}"))
        .args(args)
        .env_remove("PSU_SCHED_STORE")
        .env_remove("PSU_SCHED_TABLE")
        .output()
        .expect("run psu-sched")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_calls_a_due_slot_once_on_time_and_stops_cleanly_with_a_call_in_flight() {
    let dir =
        std::env::temp_dir().join(format!("psu-sched-serve-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let db = dir.join("jobs.db").display().to_string();
    let server = JobServer::start().await;
    server.set("/slow", Behavior::Sleep(Duration::from_secs(6)));
    // Only an app's record signs its calls.
    let out = psu(
        &db,
        &[
            "app",
            "create",
            "--app",
            "demo",
            "--base-url",
            &server.url(""),
        ],
    );
    assert!(out.status.success(), "app create: {out:?}");
    let out = Command::new(binary())
        .args([
            "--store",
            &format!("sqlite:{db}"),
            "app",
            "key",
            "--app",
            "demo",
        ])
        .env("PSU_SCHED_SIGNING_SECRET", "serve-secret")
        .output()
        .expect("app key");
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(key.len(), 64, "app key: {out:?}");
    for (name, path) in [("quick", "/quick"), ("slow", "/slow")] {
        let url = server.url(path);
        let out = psu(
            &db,
            &[
                "create",
                "--app",
                "demo",
                "--name",
                name,
                "--url",
                &url,
                "--cron",
                "* * * * *",
            ],
        );
        assert!(
            out.status.success(),
            "create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut serve = tokio::process::Command::new(binary())
        .args(["--store", &format!("sqlite:{db}"), "serve"])
        .env("PSU_SCHED_SIGNING_SECRET", "serve-secret")
        .env_remove("PSU_SCHED_ALLOW_PRIVATE_TARGETS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start serve");

    // The first slot after start: at most ~60 s away.
    let quick = server.wait_for("/quick", 1, Duration::from_secs(80)).await;
    assert_eq!(quick.len(), 1, "the quick job was called");
    let slot: DateTime<Utc> = quick[0]
        .header("x-psu-sched-scheduled-for")
        .expect("slot header")
        .parse()
        .expect("rfc 3339");
    let arrived: DateTime<Utc> = quick[0].received_at.into();
    let lag = arrived.signed_duration_since(slot);
    assert!(
        lag >= chrono::Duration::zero() && lag <= chrono::Duration::seconds(15),
        "called {lag} after its slot"
    );
    assert!(
        crate::protections::python_verifies(&quick[0], "demo", std::slice::from_ref(&key)),
        "serve signs with PSU_SCHED_SIGNING_SECRET, as the Lambda does"
    );
    let slow = server.wait_for("/slow", 1, Duration::from_secs(10)).await;
    assert_eq!(slow.len(), 1, "the slow job is in flight");

    // SIGTERM while the slow call is in flight: it finishes, its outcome is recorded, exit 0.
    let pid = serve.id().expect("pid");
    let stopped_at = SystemTime::now();
    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(40), serve.wait())
        .await
        .expect("exits")
        .expect("wait");
    assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");
    let waited = SystemTime::now()
        .duration_since(stopped_at)
        .unwrap_or_default();
    assert!(
        waited >= Duration::from_secs(2),
        "it waited for the call in flight ({waited:?})"
    );

    let store = SqliteStore::open(&db).await.expect("open");
    let app = AppName::parse("demo").expect("app");
    for name in ["quick", "slow"] {
        let job = store
            .get_job(&app, &JobName::parse(name).expect("name"))
            .await
            .expect("get")
            .expect("job");
        let execs = store.list_executions(&job.id, 10).await.expect("history");
        let for_slot: Vec<_> = execs.iter().filter(|e| e.scheduled_for == slot).collect();
        assert_eq!(for_slot.len(), 1, "{name}: one execution for the slot");
        assert_eq!(
            for_slot[0].status,
            Status::Succeeded,
            "{name}: recorded, not left running"
        );
    }
    assert_eq!(server.count("/quick"), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tick_processes_on_one_sqlite_file_call_each_due_slot_once() {
    let dir =
        std::env::temp_dir().join(format!("psu-sched-race-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let db = dir.join("jobs.db").display().to_string();
    let server = JobServer::start().await;
    for i in 0..5 {
        let url = server.url(&format!("/p{i}"));
        let name = format!("p{i}");
        let out = psu(
            &db,
            &[
                "create",
                "--app",
                "race",
                "--name",
                &name,
                "--url",
                &url,
                "--cron",
                "* * * * *",
            ],
        );
        assert!(
            out.status.success(),
            "create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Slots from the next minute on (the jobs were created now).
    let first = shared::daemon::next_minute(Utc::now());
    for round in 0..3 {
        let now = (first + chrono::Duration::minutes(round)).to_rfc3339();
        let children: Vec<_> = (0..8)
            .map(|_| {
                Command::new(binary())
                    .args([
                        "--store",
                        &format!("sqlite:{db}"),
                        "tick",
                        "--now",
                        &now,
                        "--simulate",
                        "--json",
                    ])
                    .env_remove("PSU_SCHED_STORE")
                    .env_remove("PSU_SCHED_TABLE")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn tick")
            })
            .collect();
        let mut triggered = 0;
        for child in children {
            let out = tokio::task::spawn_blocking(move || child.wait_with_output())
                .await
                .expect("join")
                .expect("wait");
            assert!(
                out.status.success(),
                "tick: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let summary: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("summary json");
            triggered += summary["triggered"].as_u64().expect("triggered");
        }
        assert_eq!(
            triggered, 5,
            "round {round}: 8 processes together send each due slot once"
        );
    }
    for i in 0..5 {
        let mut slots: Vec<String> = server
            .requests_to(&format!("/p{i}"))
            .iter()
            .map(|r| {
                r.header("x-psu-sched-scheduled-for")
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect();
        slots.sort();
        let want: Vec<String> = (0..3)
            .map(|m| shared::protocol::format_slot(first + chrono::Duration::minutes(m)))
            .collect();
        assert_eq!(slots, want, "job p{i}: each slot exactly once");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
