//! What the admin's heaviest pages cost the server: seeds a SQLite store with an app of N jobs
//! (default 1,000) and one job with E executions (default 1,000), serves the admin on
//! 127.0.0.1 in this process, signs in and requests the app page and the job page R times
//! each (default 50) over loopback, printing the median, p95 and max of each.
//!
//! ```text
//! cargo build --release -p psu-sched-tests --bin bench-admin
//! target/release/bench-admin --jobs 1000 --executions 1000 --rounds 50
//! ```
//!
//! The time is measured at the client, on loopback, from sending the request to the last
//! byte of the page: the server's work (store reads, rendering) plus well under a
//! millisecond of HTTP. Figures: docs/benchmarks.md.

// A measuring tool: a failed set-up panics the run, a failed measurement rather than a case
// to handle.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DurationRound, Utc};
use shared::model::{Execution, ExecutionId, LastRun, Status, Trigger};
use shared::ops::{JobInput, JobKey, Ops, ScheduleForm, StoreSpec};
use shared::store::sqlite::SqliteStore;
use shared::store::{Claim, Store};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a whole number"))
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let jobs = arg("--jobs", 1000);
    let executions = arg("--executions", 1000);
    let rounds = arg("--rounds", 50);
    let dir = std::env::temp_dir().join(format!("psu-sched-bench-admin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("jobs.db");
    let _ = std::fs::remove_file(&db);
    let ops = Arc::new(Ops::new(
        StoreSpec::from_setting(Some(&format!("sqlite:{}", db.display()))).unwrap(),
    ));
    ops.init().await.unwrap();
    let now = Utc::now();
    let started = Instant::now();
    for i in 0..jobs {
        let input = JobInput {
            url: Some(format!("https://bulk.example.edu/jobs/{i}")),
            schedule: ScheduleForm {
                cron: Some(format!("{} {} * * *", i % 60, (i / 60) % 24)),
                ..Default::default()
            },
            timezone: Some("America/Los_Angeles".into()),
            description: Some(format!("job number {i}")),
            ..Default::default()
        };
        let key = JobKey::parse("bulk", &format!("job-{i:04}")).unwrap();
        ops.create(&key, &input, now).await.unwrap();
    }
    let input = JobInput {
        url: Some("https://busy.example.edu/jobs/every-minute".into()),
        schedule: ScheduleForm {
            cron: Some("* * * * *".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let key = JobKey::parse("busy", "every-minute").unwrap();
    ops.create(&key, &input, now).await.unwrap();
    let store = SqliteStore::open(&db).await.unwrap();
    let minute = now.duration_trunc(chrono::Duration::minutes(1)).unwrap();
    for i in 0..executions {
        let job = store.get_job(&key.app, &key.name).await.unwrap().unwrap();
        let slot = minute - chrono::Duration::minutes(i as i64 + 1);
        let id = ExecutionId::new(job.id.clone(), slot, Trigger::Schedule, 1);
        let status = match i % 10 {
            0 => Status::Failed,
            1 => Status::TimedOut,
            _ => Status::Succeeded,
        };
        let started = slot + chrono::Duration::milliseconds(200 + (i as i64 % 700));
        let execution = Execution {
            app: job.app.clone(),
            name: job.name.clone(),
            scheduled_for: slot,
            offset_ms: 0,
            attempt: 1,
            trigger: Trigger::Schedule,
            id: id.clone(),
            status,
            http_status: Some(if status == Status::Succeeded {
                200
            } else {
                500
            }),
            output: Some("{\"ok\":true}".into()),
            error: None,
            created_at: slot,
            started_at: Some(started),
            finished_at: Some(started + chrono::Duration::milliseconds(80)),
            duration_ms: Some(80),
            coalesced: 0,
            url: job.url.clone(),
            method: job.method,
            timeout_ms: job.timeout_ms,
            retries: job.retries,
            key_hash: None,
            claimed_by: None,
            dispatched_by: None,
            guard_nonce: None,
            outcome_by: None,
            counted_by: None,
            due_at: None,
            backfill: false,
            tracked: false,
            expires_at: now + chrono::Duration::days(30),
        };
        let mut next = job.clone();
        next.state.version += 1;
        if i == 0 {
            next.state.last = Some(LastRun {
                execution: id.clone(),
                status,
                at: started,
            });
        }
        let claim = Claim {
            job: next,
            expected_version: job.state.version,
            execution,
            token: format!("bench-{i}"),
        };
        store.claim(&claim).await.unwrap();
    }
    eprintln!(
        "seeded {jobs} jobs and {executions} executions in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let token = dir.join("token");
    std::fs::write(&token, "bench-admin-token-0123456789").unwrap();
    let settings = admin::Settings::parse(&admin::Options {
        listen: Some("127.0.0.1:0".into()),
        token_file: Some(token),
        ..Default::default()
    })
    .unwrap();
    let server = admin::Server::bind(settings).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(ops.clone(), std::future::pending()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .get(format!("{base}/login?token=bench-admin-token-0123456789"))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    for (label, path) in [
        (format!("app page, {jobs} jobs"), "/apps/bulk".to_owned()),
        (
            format!("app page, {jobs} jobs, filtered to 100, sorted by next run"),
            "/apps/bulk?q=job-09&sort=next&dir=desc".to_owned(),
        ),
        (
            format!("job page, {executions} executions"),
            "/apps/busy/jobs/every-minute".to_owned(),
        ),
        ("overview".to_owned(), "/".to_owned()),
    ] {
        let mut times = Vec::with_capacity(rounds);
        let mut bytes = 0;
        for round in 0..=rounds {
            let t = Instant::now();
            let page = client
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), 200, "{path}");
            bytes = page.bytes().await.unwrap().len();
            // The first request warms the store's connection and caches.
            if round > 0 {
                times.push(t.elapsed());
            }
        }
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1)];
        println!(
            "{label}: median {}, p95 {}, max {} ({} KiB, {rounds} requests)",
            ms(at(0.5)),
            ms(at(0.95)),
            ms(*times.last().unwrap()),
            bytes / 1024
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
