//! What one tick costs on SQLite: seeds N jobs (D due at the slot) in a fresh SQLite file,
//! serves the calls from a local job server that sleeps L ms per request, runs ONE tick at
//! the slot and prints its wall time, the dispatch lag (arrival at the job server minus the
//! slot), peak memory, CPU time per due job and the ideal D / C x L.
//!
//! ```text
//! cargo build --release -p psu-sched-tests --bin bench-tick
//! target/release/bench-tick --jobs 100000 --due 1000 --latency-ms 0 --concurrency 32
//! ```
//!
//! The job server runs in the same process but on its own runtime, whose threads are named
//! `job-server`; CPU time is split between those threads and the rest (the tick and SQLite).
//! Figures and what limits them: docs/benchmarks.md.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::any;
use chrono::{DateTime, DurationRound, Utc};
use shared::clock::FixedClock;
use shared::dispatch::HttpDispatcher;
use shared::model::{AppName, Job, JobId, JobName, JobUrl, NewJob};
use shared::store::Store;
use shared::store::sqlite::SqliteStore;
use shared::tick::{TickConfig, tick};

const USAGE: &str =
    "usage: bench-tick [--jobs N] [--due D] [--latency-ms L] [--concurrency C] [--dir PATH]";

/// Thread name of the job server's runtime (its CPU time is reported apart).
const SERVER_THREAD: &str = "job-server";

struct Args {
    jobs: usize,
    due: usize,
    latency: Duration,
    concurrency: usize,
    dir: std::path::PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        jobs: 10_000,
        due: 100,
        latency: Duration::ZERO,
        concurrency: shared::tick::DEFAULT_CONCURRENCY,
        dir: std::env::temp_dir(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}\n{USAGE}"))
        };
        match flag.as_str() {
            "--jobs" => args.jobs = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--due" => args.due = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--latency-ms" => args.latency = Duration::from_millis(number()?),
            "--concurrency" => {
                args.concurrency = usize::try_from(number()?).map_err(|e| e.to_string())?
            }
            "--dir" => args.dir = value.into(),
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    if args.due > args.jobs {
        return Err(format!("--due {} > --jobs {}", args.due, args.jobs));
    }
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".to_owned());
    }
    Ok(args)
}

/// The job server's shared state: its latency and the arrival time of every request.
#[derive(Clone)]
struct Server {
    latency: Duration,
    arrivals: Arc<Mutex<Vec<DateTime<Utc>>>>,
}

async fn handle(State(server): State<Server>) -> &'static str {
    let arrived = Utc::now();
    server
        .arrivals
        .lock()
        .expect("arrivals lock not poisoned")
        .push(arrived);
    if !server.latency.is_zero() {
        tokio::time::sleep(server.latency).await;
    }
    "ok"
}

/// A `/proc/self/status` field in kB (`VmHWM`, `VmRSS`).
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// CPU time (ns) of this process's live threads, split: (job server, everything else).
/// Read from `/proc/self/task/*/schedstat` (nanosecond resolution).
fn cpu_ns() -> (u64, u64) {
    let (mut server, mut rest) = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let ns: u64 = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == SERVER_THREAD {
            server += ns;
        } else {
            rest += ns;
        }
    }
    (server, rest)
}

/// Process CPU time (user + system) from `/proc/self/stat`, in clock ticks (1/100 s):
/// a cross-check that counts exited threads too.
fn stat_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start at field 3.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };

    // The job server: its own runtime and threads, so its CPU time can be told apart.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(SERVER_THREAD)
        .enable_all()
        .build()
        .expect("build the job server's runtime");
    let server = Server {
        latency: args.latency,
        arrivals: Arc::new(Mutex::new(Vec::with_capacity(args.due))),
    };
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the job server on 127.0.0.1:0");
    let addr = listener.local_addr().expect("job server address");
    let app = Router::new()
        .route("/job", any(handle))
        .with_state(server.clone());
    server_rt.spawn(async move { axum::serve(listener, app).await });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("tick")
        .enable_all()
        .build()
        .expect("build the tick's runtime");
    rt.block_on(run(&args, &server, addr));
    drop(server_rt);
}

async fn run(args: &Args, server: &Server, addr: std::net::SocketAddr) {
    let dir = TempDir(args.dir.join(format!("bench-tick-{}", JobId::new())));
    let store = SqliteStore::open(dir.0.join("bench.db"))
        .await
        .expect("open the SQLite store");

    // The template: every minute, so a due job's next slot is a minute after the tick.
    let template = |now: DateTime<Utc>| {
        NewJob::new(
            AppName::parse("bench").expect("app name"),
            JobName::parse("template").expect("job name"),
            JobUrl::parse(&format!("http://{addr}/job")).expect("job url"),
            "* * * * *".parse().expect("schedule"),
        )
        .build(now)
        .expect("valid job")
    };
    let jobs_like = |template: &Job, range: std::ops::Range<usize>, slot: DateTime<Utc>| {
        range
            .map(|i| {
                let mut job = template.clone();
                job.id = JobId::new();
                job.name = JobName::parse(&format!("job{i:06}")).expect("job name");
                job.state.next_slot = Some(slot);
                job
            })
            .collect::<Vec<Job>>()
    };

    // The jobs not due first (the slow part): a day to a month ahead.
    let seeding = Instant::now();
    let now = Utc::now();
    let base = template(now);
    let far = now + chrono::Duration::days(1);
    let not_due = jobs_like(&base, args.due..args.jobs, far);
    for chunk in not_due.chunks(10_000) {
        store
            .import_jobs(chunk)
            .await
            .expect("seed the jobs not due");
    }
    drop(not_due);

    // Then the due ones, at a slot just ahead (whole second), so the tick starts on time.
    let slot = (Utc::now() + chrono::Duration::milliseconds(500))
        .duration_trunc(chrono::Duration::seconds(1))
        .expect("truncate to the second")
        + chrono::Duration::seconds(1);
    let due = jobs_like(&base, 0..args.due, slot);
    store.import_jobs(&due).await.expect("seed the due jobs");
    drop(due);
    let seeded_in = seeding.elapsed();
    let peak_seeding_kb = status_kb("VmHWM").unwrap_or(0);

    let wait = (slot - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    if wait.is_zero() {
        eprintln!("warning: seeding the due jobs ran past the slot; lag includes the overrun");
    }
    tokio::time::sleep(wait).await;

    // Reset the peak RSS (Linux >= 4.0) so VmHWM below is the tick's own peak.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before_kb = status_kb("VmRSS").unwrap_or(0);
    let dispatcher = HttpDispatcher::new().expect("build the HTTP dispatcher");
    let clock = FixedClock::new(slot);
    let config = TickConfig {
        concurrency: args.concurrency,
        ..TickConfig::default()
    };
    let (server_cpu0, tick_cpu0) = cpu_ns();
    let ticks0 = stat_ticks();
    let started = Instant::now();
    let summary = tick(&store, &dispatcher, &clock, &config)
        .await
        .expect("the tick runs");
    let wall = started.elapsed();
    let (server_cpu1, tick_cpu1) = cpu_ns();
    let ticks1 = stat_ticks();
    let peak_tick_kb = status_kb("VmHWM").unwrap_or(0);

    let mut lags: Vec<f64> = server
        .arrivals
        .lock()
        .expect("arrivals lock not poisoned")
        .iter()
        .map(|at| (*at - slot).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0)
        .collect();
    lags.sort_by(f64::total_cmp);
    let ideal = args.latency.as_secs_f64() * (args.due as f64 / args.concurrency as f64).ceil();
    let per_job = |ns: u64| {
        if args.due == 0 {
            f64::NAN
        } else {
            ns as f64 / 1000.0 / args.due as f64
        }
    };
    let tick_cpu = tick_cpu1.saturating_sub(tick_cpu0);
    let server_cpu = server_cpu1.saturating_sub(server_cpu0);

    println!(
        "jobs={} due={} latency_ms={} concurrency={}",
        args.jobs,
        args.due,
        args.latency.as_millis(),
        args.concurrency
    );
    println!("seeded in            {:.2} s", seeded_in.as_secs_f64());
    println!(
        "tick summary          due={} triggered={} succeeded={} failed={} timed_out={} missed={} skipped={}",
        summary.due,
        summary.triggered,
        summary.succeeded,
        summary.failed,
        summary.timed_out,
        summary.missed,
        summary.skipped
    );
    println!("requests received     {}", lags.len());
    println!(
        "tick wall time        {:.1} ms",
        wall.as_secs_f64() * 1000.0
    );
    println!(
        "ideal ceil(D/C) x L   {:.1} ms (wall / ideal = {:.2})",
        ideal * 1000.0,
        if ideal > 0.0 {
            wall.as_secs_f64() / ideal
        } else {
            f64::NAN
        }
    );
    println!(
        "dispatch lag          p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (arrival - slot)",
        percentile(&lags, 50.0),
        percentile(&lags, 99.0),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "CPU per due job       {:.1} us tick+store, {:.1} us job server ({:.1} ms / {:.1} ms total; /proc/self/stat: {} ms)",
        per_job(tick_cpu),
        per_job(server_cpu),
        tick_cpu as f64 / 1e6,
        server_cpu as f64 / 1e6,
        ticks1.saturating_sub(ticks0) * 10
    );
    println!(
        "memory                peak during tick {:.1} MB{}, RSS before tick {:.1} MB, peak while seeding {:.1} MB",
        peak_tick_kb as f64 / 1024.0,
        if reset {
            ""
        } else {
            " (peak not reset: whole run)"
        },
        rss_before_kb as f64 / 1024.0,
        peak_seeding_kb as f64 / 1024.0
    );
}
