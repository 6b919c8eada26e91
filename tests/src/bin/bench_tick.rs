//! What one tick costs: seeds N jobs (D due at the slot) in a fresh store, serves the calls
//! from a local job server that sleeps L ms per request, runs ONE tick at the slot and prints
//! its wall time, the dispatch lag (arrival at the job server minus the slot), peak memory,
//! CPU time per due job and the ideal D / C x L.
//!
//! ```text
//! cargo build --release -p psu-sched-tests --bin bench-tick
//! target/release/bench-tick --jobs 100000 --due 1000 --latency-ms 0 --concurrency 32
//! .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p 5055 &
//! target/release/bench-tick --store dynamodb --endpoint http://127.0.0.1:5055 --jobs 10000 --due 1000
//! ```
//!
//! The store is a SQLite file (`--store sqlite`, the default) or a fresh table on a
//! DynamoDB-compatible server on a loopback address (`--store dynamodb --endpoint URL`,
//! e.g. moto). For DynamoDB it also prints the requests the tick made by operation, the
//! capacity units they would consume on DynamoDB and the time spent waiting on the server
//! (see `bench_tick/dynamo.rs`).
//!
//! The job server runs in the same process but on its own runtime, whose threads are named
//! `job-server`; CPU time is split between those threads and the rest (the tick and the
//! store's client). Figures and what limits them: docs/benchmarks.md.

// A measuring tool: a failed set-up or store call panics the run, a failed measurement rather
// than a case to handle.
#![allow(clippy::expect_used, clippy::unwrap_used)]

// A binary's root resolves modules beside it, not in `bench_tick/`: name the paths.
#[path = "bench_tick/capacity.rs"]
mod capacity;
#[path = "bench_tick/dynamo.rs"]
mod dynamo;
#[path = "bench_tick/model.rs"]
mod model;

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
use shared::tick::{TickConfig, TickSummary, tick};

const USAGE: &str = "usage: bench-tick [--jobs N] [--due D] [--latency-ms L] [--concurrency C]
                  [--store sqlite] [--dir PATH]
                  [--store dynamodb --endpoint http://127.0.0.1:PORT [--moto-pid PID]]";

/// Thread name of the job server's runtime (its CPU time is reported apart).
const SERVER_THREAD: &str = "job-server";

/// Where the jobs live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Sqlite,
    Dynamo,
}

struct Args {
    jobs: usize,
    due: usize,
    latency: Duration,
    concurrency: usize,
    store: StoreKind,
    dir: std::path::PathBuf,
    /// The DynamoDB endpoint's address (checked to be loopback) and URL.
    endpoint: Option<(std::net::SocketAddr, String)>,
    moto_pid: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        jobs: 10_000,
        due: 100,
        latency: Duration::ZERO,
        concurrency: shared::tick::DEFAULT_CONCURRENCY,
        store: StoreKind::Sqlite,
        dir: std::env::temp_dir(),
        endpoint: None,
        moto_pid: None,
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
            "--store" => {
                args.store = match value.as_str() {
                    "sqlite" => StoreKind::Sqlite,
                    "dynamodb" => StoreKind::Dynamo,
                    _ => return Err(format!("--store {value}: sqlite or dynamodb\n{USAGE}")),
                }
            }
            "--endpoint" => {
                let addr = dynamo::loopback_endpoint(&value)?;
                args.endpoint = Some((addr, value));
            }
            "--moto-pid" => {
                args.moto_pid = Some(u32::try_from(number()?).map_err(|e| e.to_string())?)
            }
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    if args.due > args.jobs {
        return Err(format!("--due {} > --jobs {}", args.due, args.jobs));
    }
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".to_owned());
    }
    match args.store {
        StoreKind::Dynamo if args.endpoint.is_none() => {
            return Err(format!(
                "--store dynamodb needs --endpoint http://127.0.0.1:PORT (a local server such as moto)\n{USAGE}"
            ));
        }
        StoreKind::Sqlite if args.endpoint.is_some() || args.moto_pid.is_some() => {
            return Err(format!(
                "--endpoint and --moto-pid go with --store dynamodb\n{USAGE}"
            ));
        }
        _ => {}
    }
    Ok(args)
}

/// The job server's shared state: its latency and the arrival time of every request.
#[derive(Clone)]
struct Server {
    latency: Duration,
    arrivals: Arc<Mutex<Vec<DateTime<Utc>>>>,
    addr: std::net::SocketAddr,
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

/// A process's CPU time (user + system) from `/proc/<pid>/stat`, in clock ticks (1/100 s),
/// exited threads included.
fn stat_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
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
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the job server on 127.0.0.1:0");
    let server = Server {
        latency: args.latency,
        arrivals: Arc::new(Mutex::new(Vec::with_capacity(args.due))),
        addr: listener.local_addr().expect("job server address"),
    };
    let app = Router::new()
        .route("/job", any(handle))
        .with_state(server.clone());
    server_rt.spawn(async move { axum::serve(listener, app).await });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("tick")
        .enable_all()
        .build()
        .expect("build the tick's runtime");
    match args.store {
        StoreKind::Sqlite => rt.block_on(run_sqlite(&args, &server)),
        StoreKind::Dynamo => rt.block_on(dynamo::run(&args, &server)),
    }
    drop(server_rt);
}

/// A job like every seeded one: every minute, so a due job's next slot is a minute after
/// the tick; it calls the job server.
fn template(server: &Server, now: DateTime<Utc>) -> Job {
    NewJob::new(
        AppName::parse("bench").expect("app name"),
        JobName::parse("template").expect("job name"),
        JobUrl::parse(&format!("http://{}/job", server.addr)).expect("job url"),
        "* * * * *".parse().expect("schedule"),
    )
    .build(now)
    .expect("valid job")
}

/// Jobs `job<i>` for `i` in `range`, copies of `template` with their next slot at `slot`.
fn jobs_like(template: &Job, range: std::ops::Range<usize>, slot: DateTime<Utc>) -> Vec<Job> {
    range
        .map(|i| {
            let mut job = template.clone();
            job.id = JobId::new();
            job.name = JobName::parse(&format!("job{i:06}")).expect("job name");
            job.state.next_slot = Some(slot);
            job
        })
        .collect()
}

/// The first whole second at least `lead` from now.
fn slot_after(lead: Duration) -> DateTime<Utc> {
    let lead = chrono::Duration::from_std(lead).unwrap_or(chrono::Duration::seconds(1));
    (Utc::now() + lead)
        .duration_trunc(chrono::Duration::seconds(1))
        .expect("truncate to the second")
        + chrono::Duration::seconds(1)
}

/// Sleeps until `slot`, warning when it has passed already.
async fn sleep_until(slot: DateTime<Utc>) {
    let wait = (slot - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    if wait.is_zero() {
        eprintln!("warning: seeding the due jobs ran past the slot; lag includes the overrun");
    }
    tokio::time::sleep(wait).await;
}

/// What one measured tick did and cost.
struct TickRun {
    summary: TickSummary,
    wall: Duration,
    /// CPU (ns) of the job server's threads and of the rest of the process.
    server_cpu: u64,
    tick_cpu: u64,
    /// `/proc/self/stat` over the tick, in ms (10 ms resolution).
    stat_ms: u64,
    peak_tick_kb: u64,
    rss_before_kb: u64,
    peak_reset: bool,
}

/// Runs ONE tick on `store` at `slot` (the clock fixed there), measuring it.
async fn measure_tick(store: &dyn Store, args: &Args, slot: DateTime<Utc>) -> TickRun {
    // Reset the peak RSS (Linux >= 4.0) so VmHWM below is the tick's own peak.
    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before_kb = status_kb("VmRSS").unwrap_or(0);
    let dispatcher = HttpDispatcher::new().expect("build the HTTP dispatcher");
    let clock = FixedClock::new(slot);
    let config = TickConfig {
        concurrency: args.concurrency,
        ..TickConfig::default()
    };
    let (server_cpu0, tick_cpu0) = cpu_ns();
    let ticks0 = stat_ticks("self").unwrap_or(0);
    let started = Instant::now();
    let summary = tick(store, &dispatcher, &clock, &config)
        .await
        .expect("the tick runs");
    let wall = started.elapsed();
    let (server_cpu1, tick_cpu1) = cpu_ns();
    let ticks1 = stat_ticks("self").unwrap_or(0);
    TickRun {
        summary,
        wall,
        server_cpu: server_cpu1.saturating_sub(server_cpu0),
        tick_cpu: tick_cpu1.saturating_sub(tick_cpu0),
        stat_ms: ticks1.saturating_sub(ticks0) * 10,
        peak_tick_kb: status_kb("VmHWM").unwrap_or(0),
        rss_before_kb,
        peak_reset,
    }
}

/// Prints the figures both stores report.
fn print_tick(
    args: &Args,
    server: &Server,
    slot: DateTime<Utc>,
    seeded_in: Duration,
    peak_seeding_kb: u64,
    run: &TickRun,
) {
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
    let summary = &run.summary;

    println!(
        "jobs={} due={} latency_ms={} concurrency={} store={}",
        args.jobs,
        args.due,
        args.latency.as_millis(),
        args.concurrency,
        match args.store {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Dynamo => "dynamodb",
        }
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
        run.wall.as_secs_f64() * 1000.0
    );
    println!(
        "ideal ceil(D/C) x L   {:.1} ms (wall / ideal = {:.2})",
        ideal * 1000.0,
        if ideal > 0.0 {
            run.wall.as_secs_f64() / ideal
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
        per_job(run.tick_cpu),
        per_job(run.server_cpu),
        run.tick_cpu as f64 / 1e6,
        run.server_cpu as f64 / 1e6,
        run.stat_ms
    );
    println!(
        "memory                peak during tick {:.1} MB{}, RSS before tick {:.1} MB, peak while seeding {:.1} MB",
        run.peak_tick_kb as f64 / 1024.0,
        if run.peak_reset {
            ""
        } else {
            " (peak not reset: whole run)"
        },
        run.rss_before_kb as f64 / 1024.0,
        peak_seeding_kb as f64 / 1024.0
    );
}

async fn run_sqlite(args: &Args, server: &Server) {
    let dir = TempDir(args.dir.join(format!("bench-tick-{}", JobId::new())));
    let store = SqliteStore::open(dir.0.join("bench.db"))
        .await
        .expect("open the SQLite store");

    // The jobs not due first (the slow part): a day ahead.
    let seeding = Instant::now();
    let now = Utc::now();
    let base = template(server, now);
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
    let slot = slot_after(Duration::from_millis(500));
    let due = jobs_like(&base, 0..args.due, slot);
    store.import_jobs(&due).await.expect("seed the due jobs");
    drop(due);
    let seeded_in = seeding.elapsed();
    let peak_seeding_kb = status_kb("VmHWM").unwrap_or(0);

    sleep_until(slot).await;
    let commits = store.commits();
    let run = measure_tick(&store, args, slot).await;
    let commits = store.commits() - commits;
    print_tick(args, server, slot, seeded_in, peak_seeding_kb, &run);
    println!(
        "sqlite commits        {commits} in the tick ({:.1} writes per commit; 4 writes per called job, group-committed)",
        (4 * run.summary.triggered) as f64 / commits.max(1) as f64
    );
}
