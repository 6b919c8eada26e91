//! `bench-tick --store dynamodb`: one tick on a fresh table of a DynamoDB-compatible server
//! on a loopback address (moto), with what the tick asked of DynamoDB.
//!
//! Besides the figures both stores report, it prints:
//! - the tick's requests by operation (`DynamoStore::requests()`, reset just before the
//!   tick) against the minimum of docs/data-model.md;
//! - the capacity units they would consume on DynamoDB, worked out from the items before and
//!   after each write (`capacity.rs`), and the on-demand price of that;
//! - the time the tick spent waiting on the server: the SDK's HTTP client is wrapped so each
//!   request is timed from send to the last byte of its answer; and moto's own CPU time
//!   (`/proc/<pid>/stat`) over the tick;
//! - the due-index Query alone (the tick's first request), timed just before the tick.
//!
//! Every request goes to the `--endpoint`, which must be a loopback address.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::config::http::{HttpRequest, HttpResponse};
use aws_sdk_dynamodb::types::AttributeValue as AV;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use chrono::{DateTime, Utc};
use shared::model::JobId;
use shared::store::Store;
use shared::store::dynamodb::{DUE_KEYS_INDEX, DynamoStore};

use crate::capacity::{self, Exchange, Index, Item, Ledger};
use crate::{Args, Server};

/// The due index's key attributes (docs/data-model.md; private in the adapter).
/// The index ticks read on a table `init` made: `due-keys`, keys only.
const DUE_KEY: Index = Index {
    partition_key: "gsi1pk",
    sort_key: "gsi1sk",
    keys_only: true,
};

/// On-demand prices in us-east-1, USD per million request units, after the November 2024
/// price cut, as quoted in 2025 (airbyte.com's "DynamoDB pricing" guide, July 2025). An
/// assumption: check aws.amazon.com/dynamodb/pricing/on-demand before relying on it.
const USD_PER_MILLION_WRITE_UNITS: f64 = 0.625;
const USD_PER_MILLION_READ_UNITS: f64 = 0.125;

/// Checks that `url` is `http://<loopback IP>[:port]` and returns that address.
pub fn loopback_endpoint(url: &str) -> Result<SocketAddr, String> {
    let uri: axum::http::Uri = url.parse().map_err(|e| format!("--endpoint {url}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "--endpoint {url}: only http:// to a local server (moto) is supported"
        ));
    }
    let host = uri.host().unwrap_or_default();
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| {
            format!("--endpoint {url}: give a loopback IP address (127.0.0.1), not a name")
        })?;
    if !ip.is_loopback() {
        return Err(format!(
            "--endpoint {url}: {ip} is not a loopback address; bench-tick talks only to 127.0.0.1 / ::1"
        ));
    }
    Ok(SocketAddr::new(ip, uri.port_u16().unwrap_or(80)))
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("bench-tick: {message}");
    std::process::exit(1);
}

/// One timed HTTP exchange.
#[derive(Debug, Clone)]
struct Timed {
    exchange: Exchange,
    started: Instant,
    ended: Instant,
}

/// Records the HTTP exchanges of the store's client while enabled.
#[derive(Debug, Clone, Default)]
struct Recorder {
    enabled: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Timed>>>,
}

impl Recorder {
    fn start(&self) {
        self.take();
        self.enabled.store(true, Ordering::SeqCst);
    }

    fn stop(&self) -> Vec<Timed> {
        self.enabled.store(false, Ordering::SeqCst);
        self.take()
    }

    fn take(&self) -> Vec<Timed> {
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    fn push(&self, timed: Timed) {
        if let Ok(mut log) = self.log.lock() {
            log.push(timed);
        }
    }
}

/// The SDK's HTTP client (hyper, rustls), wrapped to record each exchange.
#[derive(Debug)]
struct RecordingClient {
    inner: SharedHttpClient,
    recorder: Recorder,
}

impl HttpClient for RecordingClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RecordingConnector {
            inner: self.inner.http_connector(settings, components),
            recorder: self.recorder.clone(),
        })
    }
}

#[derive(Debug)]
struct RecordingConnector {
    inner: SharedHttpConnector,
    recorder: Recorder,
}

impl HttpConnector for RecordingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if !self.recorder.enabled.load(Ordering::Relaxed) {
            return self.inner.call(request);
        }
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        let body = request
            .body()
            .bytes()
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let recorder = self.recorder.clone();
        let started = Instant::now();
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let result: Result<HttpResponse, ConnectorError> = async {
                let mut response = sent.await?;
                // Read the whole answer here, so the time includes its last byte.
                let streamed = std::mem::replace(response.body_mut(), SdkBody::taken());
                let bytes = ByteStream::new(streamed)
                    .collect()
                    .await
                    .map_err(|e| ConnectorError::io(Box::new(e)))?
                    .into_bytes();
                let copy = bytes.to_vec();
                *response.body_mut() = SdkBody::from(bytes);
                Ok((response, copy))
            }
            .await
            .map(|(response, copy)| {
                recorder.push(Timed {
                    exchange: Exchange {
                        operation: operation.clone(),
                        status: response.status().as_u16(),
                        request: body.clone(),
                        response: copy,
                    },
                    started,
                    ended: Instant::now(),
                });
                response
            });
            if result.is_err() {
                recorder.push(Timed {
                    exchange: Exchange {
                        operation,
                        status: 0,
                        request: body,
                        response: Vec::new(),
                    },
                    started,
                    ended: Instant::now(),
                });
            }
            result
        })
    }
}

/// Waits up to 30 s for something to listen on `addr` (a server started just before).
async fn wait_for(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            fail(format!("nothing answers on {addr} after 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The pid of the process listening on TCP `port`, from `/proc/net/tcp{,6}` and the
/// processes' open sockets (same user only).
fn listener_pid(port: u16) -> Option<u32> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|path| {
            let table = std::fs::read_to_string(path).ok()?;
            table.lines().skip(1).find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields.get(1)?.rsplit_once(':')?.1;
                let listening = *fields.get(3)? == "0A";
                (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                    .then(|| fields.get(9).map(|i| (*i).to_owned()))
                    .flatten()
            })
        })?;
    let socket = format!("socket:[{inode}]");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let fds = std::fs::read_dir(entry.path().join("fd")).ok()?;
            fds.flatten()
                .any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == socket.as_str())
                })
                .then_some(pid)
        })
}

/// A process's resident memory (kB).
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
}

/// The tick's due Query (the adapter's `due`, same request, on `due-keys`), every page: the
/// due items' keys.
async fn due_items(store: &DynamoStore, now: DateTime<Utc>) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .query()
            .table_name(store.table())
            .index_name(DUE_KEYS_INDEX)
            .key_condition_expression("#pk = :due AND #sk <= :now")
            .expression_attribute_names("#pk", DUE_KEY.partition_key)
            .expression_attribute_names("#sk", DUE_KEY.sort_key)
            .expression_attribute_values(":due", AV::S("DUE".into()))
            .expression_attribute_values(":now", AV::N(now.timestamp_millis().to_string()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| fail(format!("the due Query failed: {e:?}")));
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return items,
        }
    }
}

/// Every item of the table (consistent Scan), by (pk, sk).
async fn scan(store: &DynamoStore) -> HashMap<(String, String), Item> {
    let mut items = HashMap::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .scan()
            .table_name(store.table())
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| fail(format!("the Scan failed: {e:?}")));
        for item in out.items.unwrap_or_default() {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            if let (Some(pk), Some(sk)) = (text("pk"), text("sk")) {
                items.insert((pk, sk), item);
            }
        }
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return items,
        }
    }
}

/// Seeds `jobs` with BatchWriteItem (the adapter's `import_jobs`), four batches in flight.
async fn seed(store: &DynamoStore, jobs: Vec<shared::model::Job>) {
    let mut tasks = tokio::task::JoinSet::new();
    let chunk = jobs.len().div_ceil(4).max(1);
    let mut jobs = jobs;
    while !jobs.is_empty() {
        let rest = jobs.split_off(chunk.min(jobs.len()));
        let part = std::mem::replace(&mut jobs, rest);
        let store = store.clone();
        tasks.spawn(async move { store.import_jobs(&part).await });
    }
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => fail(format!("seeding failed: {e}")),
            Err(e) => fail(format!("seeding task failed: {e}")),
        }
    }
}

/// The length of the union of the intervals (the time with at least one request out).
fn busy(intervals: &mut [(Instant, Instant)]) -> Duration {
    intervals.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for &(start, end) in intervals.iter() {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(args: &Args, server: &Server) {
    let Some((addr, url)) = &args.endpoint else {
        fail("--store dynamodb needs --endpoint");
    };
    wait_for(*addr).await;
    let moto_pid = args.moto_pid.or_else(|| listener_pid(addr.port()));

    let recorder = Recorder::default();
    let http = RecordingClient {
        inner: aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https(),
        recorder: recorder.clone(),
    };
    // Everything explicit, so nothing is looked up elsewhere (no IMDS, no proxy).
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url.as_str())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("bench", "bench", None, None, "bench-tick"))
        .http_client(http)
        .load()
        .await;
    let table = format!("bench-tick-{}", JobId::new());
    let store = DynamoStore::new(&sdk, table.clone());
    store
        .create_table()
        .await
        .unwrap_or_else(|e| fail(format!("creating table {table} on {url}: {e}")));

    // The jobs not due first: a day ahead.
    let seeding = Instant::now();
    let now = Utc::now();
    let base = crate::template(server, now);
    let not_due = crate::jobs_like(&base, args.due..args.jobs, now + chrono::Duration::days(1));
    seed(&store, not_due).await;
    let seeded_not_due = seeding.elapsed();
    let seed_requests = store
        .requests()
        .snapshot()
        .get("BatchWriteItem")
        .copied()
        .unwrap_or(0);

    // moto's Query reads the whole table: time one now to plan the slot. Before the tick
    // come the due jobs' seeding and the due Query alone, which also returns them (moto
    // took 2.5-5 ms per returned item at 1,000-10,000 jobs): allow twice each.
    let probe = Instant::now();
    due_items(&store, now).await;
    let probe = probe.elapsed();
    let per_job = seeded_not_due.as_secs_f64() / (args.jobs - args.due).max(1) as f64;
    let lead = Duration::from_secs_f64(1.0 + 2.0 * (per_job + 0.005) * args.due as f64) + probe * 3;
    let slot = crate::slot_after(lead);
    seed(&store, crate::jobs_like(&base, 0..args.due, slot)).await;
    let seeded_in = seeding.elapsed();
    let peak_seeding_kb = crate::status_kb("VmHWM").unwrap_or(0);

    // The tick's first request, alone (outside the counted window): its items are the due
    // jobs as they were before the tick.
    recorder.start();
    let alone = Instant::now();
    let due_keys = due_items(&store, slot).await;
    let alone = alone.elapsed();
    let alone_http: Vec<Timed> = recorder.stop();
    let alone_round_trip: Duration = alone_http.iter().map(|t| t.ended - t.started).sum();
    let alone_bytes: usize = due_keys.iter().map(capacity::item_size).sum();
    // The items behind those keys, as they are before the tick (outside the window).
    let key = |i: &Item| {
        let text = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
        (text("pk"), text("sk"))
    };
    let wanted: std::collections::HashSet<_> = due_keys.iter().map(key).collect();
    let before: Vec<Item> = scan(&store)
        .await
        .into_values()
        .filter(|i| wanted.contains(&key(i)))
        .collect();

    crate::sleep_until(slot).await;
    let moto_ticks0 = moto_pid.and_then(|p| crate::stat_ticks(&p.to_string()));
    store.requests().reset();
    recorder.start();
    let run = crate::measure_tick(&store, args, slot).await;
    let exchanges = recorder.stop();
    let counted = store.requests().snapshot();
    let moto_ticks1 = moto_pid.and_then(|p| crate::stat_ticks(&p.to_string()));

    crate::print_tick(args, server, slot, seeded_in, peak_seeding_kb, &run);

    // After the tick, outside the window: the items as they are now, to check the replay.
    let after = scan(&store).await;
    let _ = store
        .client()
        .delete_table()
        .table_name(&table)
        .send()
        .await;

    println!();
    println!(
        "dynamodb              {url}, table {table}, moto pid {}",
        moto_pid.map_or("unknown (pass --moto-pid)".to_owned(), |p| p.to_string())
    );
    println!(
        "seeding               {} jobs not due in {:.2} s ({} BatchWriteItem, {:.1} ms per job), then {} due; {:.2} s in all",
        args.jobs - args.due,
        seeded_not_due.as_secs_f64(),
        seed_requests,
        per_job * 1000.0,
        args.due,
        seeded_in.as_secs_f64()
    );
    println!(
        "due Query alone       {:.1} ms HTTP round trip ({:.1} ms with the SDK), {} page(s), {} keys, {} bytes (before the tick; probe on the table without the due jobs: {:.1} ms)",
        ms(alone_round_trip),
        ms(alone),
        alone_http.len(),
        due_keys.len(),
        alone_bytes,
        ms(probe)
    );

    report(args, &run, &exchanges, &counted, before, &after);

    let moto_cpu = moto_ticks0
        .zip(moto_ticks1)
        .map(|(a, b)| b.saturating_sub(a) * 10);
    let mut intervals: Vec<(Instant, Instant)> =
        exchanges.iter().map(|t| (t.started, t.ended)).collect();
    let latency_sum: Duration = intervals.iter().map(|(s, e)| *e - *s).sum();
    let waiting = busy(&mut intervals);
    println!(
        "waiting on moto       {:.1} ms of the tick's {:.1} ms wall ({:.0} %) with at least one request out; sum of request latencies {:.1} ms ({} requests, moto serves one at a time)",
        ms(waiting),
        ms(run.wall),
        100.0 * waiting.as_secs_f64() / run.wall.as_secs_f64().max(1e-9),
        ms(latency_sum),
        exchanges.len()
    );
    println!(
        "moto CPU over tick    {}{}",
        moto_cpu.map_or("unknown (pass --moto-pid)".to_owned(), |c| format!(
            "{c} ms (/proc/{}/stat, 10 ms resolution)",
            moto_pid.unwrap_or_default()
        )),
        moto_pid
            .and_then(rss_kb)
            .map_or(String::new(), |kb| format!(
                "; moto RSS after {:.0} MB",
                kb as f64 / 1024.0
            ))
    );
    let captured: usize = exchanges
        .iter()
        .map(|t| t.exchange.request.len() + t.exchange.response.len())
        .sum();
    println!(
        "note                  peak memory includes the {:.1} MB of request and response bodies kept for the capacity replay",
        captured as f64 / 1024.0 / 1024.0
    );
}

/// Prints requests, capacity units and cost of the tick.
fn report(
    args: &Args,
    run: &crate::TickRun,
    exchanges: &[Timed],
    counted: &BTreeMap<String, u64>,
    before: Vec<Item>,
    after: &HashMap<(String, String), Item>,
) {
    // The job to follow through the tick: the first due one.
    let example = before
        .iter()
        .filter_map(|i| {
            let text = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
            Some((text("sk")?, text("pk")?, text("id")?))
        })
        .min();

    let mut ordered: Vec<&Timed> = exchanges.iter().collect();
    ordered.sort_by_key(|t| t.ended);
    let mut ledger = Ledger::new(DUE_KEY, before);
    for timed in &ordered {
        ledger.add(&timed.exchange);
    }
    let mut latency: BTreeMap<&str, Duration> = BTreeMap::new();
    for t in exchanges {
        *latency.entry(t.exchange.operation.as_str()).or_default() += t.ended - t.started;
    }
    // moto answers one request at a time (scripts/moto_server.py holds a lock), so a
    // request's service ends at its answer and starts at its sending or at the previous
    // answer, whichever is later: its time at the server without the queueing.
    let mut service: BTreeMap<&str, Duration> = BTreeMap::new();
    let mut previous: Option<Instant> = None;
    for t in &ordered {
        let began = previous.map_or(t.started, |p| p.max(t.started));
        *service.entry(t.exchange.operation.as_str()).or_default() +=
            t.ended.saturating_duration_since(began);
        previous = Some(t.ended);
    }

    let summary = &run.summary;
    let query = ledger.operations.get("Query");
    let pages = query.map_or(1, |q| q.count.max(1));
    let query_bytes = query.map_or(0, |q| q.item_bytes);
    let minimum_pages = query_bytes.div_ceil(1024 * 1024).max(1);
    let batches = summary.due.div_ceil(100);
    let minimum =
        minimum_pages + batches + 4 * summary.triggered + summary.skipped + summary.missed;
    let total: u64 = counted.values().sum();
    println!(
        "requests in the tick  {} ({}) by DynamoStore::requests(); minimum for this tick {} = {} Query page(s) + {batches} BatchGetItem + 4 x {} called{}; {}",
        total,
        counted
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        minimum,
        minimum_pages,
        summary.triggered,
        if summary.skipped + summary.missed > 0 {
            format!(" + {} skipped/missed", summary.skipped + summary.missed)
        } else {
            String::new()
        },
        if total == minimum {
            "exactly the minimum".to_owned()
        } else {
            format!("{} above it", total as i64 - minimum as i64)
        }
    );
    if pages > minimum_pages {
        println!(
            "                      ({pages} Query pages for {query_bytes} bytes of due items)"
        );
    }

    println!();
    println!(
        "capacity on DynamoDB (on-demand request units; provisioned capacity units are the same arithmetic)"
    );
    println!(
        "  wait ms: sum of request latencies (send to last byte); mean ms: per request; moto ms: per request at moto, without queueing ({:.1} ms in all)",
        ms(service.values().sum())
    );
    println!(
        "{:<20} {:>8} {:>6} {:>10} {:>9} {:>9} | {:>9} {:>10} {:>8} | {:>9} {:>8} | {:>9}",
        "operation",
        "requests",
        "failed",
        "wait ms",
        "mean ms",
        "moto ms",
        "table WRU",
        "GSI writes",
        "GSI WRU",
        "table RRU",
        "GSI RRU",
        "WRU + RRU"
    );
    let mut totals = capacity::OperationCost::default();
    let mut wait_total = Duration::ZERO;
    let mut service_total = Duration::ZERO;
    for (op, cost) in &ledger.operations {
        let wait = latency.get(op.as_str()).copied().unwrap_or_default();
        let served = service.get(op.as_str()).copied().unwrap_or_default();
        wait_total += wait;
        service_total += served;
        print_cost_row(op, cost, wait, served);
        totals.count += cost.count;
        totals.failed += cost.failed;
        totals.table_write_units += cost.table_write_units;
        totals.index_writes += cost.index_writes;
        totals.index_write_units += cost.index_write_units;
        totals.table_read_units += cost.table_read_units;
        totals.index_read_units += cost.index_read_units;
    }
    let write_units = totals.table_write_units + totals.index_write_units;
    let read_units = totals.table_read_units + totals.index_read_units;
    print_cost_row("total", &totals, wait_total, service_total);
    let usd = write_units as f64 * USD_PER_MILLION_WRITE_UNITS / 1e6
        + read_units * USD_PER_MILLION_READ_UNITS / 1e6;
    println!(
        "cost per tick         ${:.6} = {} WRU x ${}/M + {:.1} RRU x ${}/M (assumed: us-east-1 on-demand after the Nov 2024 cut, as quoted in 2025); ${:.2} per million called jobs",
        usd,
        write_units,
        USD_PER_MILLION_WRITE_UNITS,
        read_units,
        USD_PER_MILLION_READ_UNITS,
        if summary.triggered > 0 {
            usd / summary.triggered as f64 * 1e6
        } else {
            f64::NAN
        }
    );
    if args.due > 0 {
        println!(
            "per due job           {:.2} WRU, {:.3} RRU, {:.2} requests",
            write_units as f64 / args.due as f64,
            read_units / args.due as f64,
            total as f64 / args.due as f64
        );
    }

    println!();
    println!(
        "writes by stage (item sizes in bytes by DynamoDB's rules; before = the item the write replaced)"
    );
    println!(
        "{:<20} {:<7} {:<5} {:>6} {:>13} {:>13} {:>9} {:>10} {:>8}",
        "operation",
        "action",
        "item",
        "count",
        "before",
        "after",
        "table WRU",
        "GSI writes",
        "GSI WRU"
    );
    let range = |r: &capacity::SizeRange| match (r.min, r.max) {
        (Some(a), Some(b)) if a == b => format!("{a}"),
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => "-".to_owned(),
    };
    for ((op, action, kind), stage) in &ledger.stages {
        println!(
            "{:<20} {:<7} {:<5} {:>6} {:>13} {:>13} {:>9} {:>10} {:>8}",
            op,
            action,
            kind,
            stage.count,
            range(&stage.before),
            range(&stage.after),
            stage.table_units,
            stage.index.writes,
            stage.index.units
        );
    }

    if let Some((sk, pk, id)) = example {
        println!();
        println!("one due job ({pk} {sk}, id {id}) through the tick:");
        let exec_pk = format!("JOB#{id}");
        for event in ledger
            .events
            .iter()
            .filter(|e| (e.key.0 == pk && e.key.1 == sk) || e.key.0 == exec_pk)
        {
            println!(
                "  {:<20} {:<6} {:<4} {:>5} -> {:>5} bytes: table {} WRU, GSI {} write(s) {} WRU",
                event.operation,
                event.action,
                event.kind,
                event.before.map_or("-".to_owned(), |b| b.to_string()),
                event.after.map_or("-".to_owned(), |b| b.to_string()),
                event.table_units,
                event.index.writes,
                event.index.units
            );
        }
    }

    // The replay worked out each item after the tick; DynamoDB (moto) holds the truth.
    let mut touched = ledger.touched.clone();
    touched.sort();
    touched.dedup();
    let mismatched: Vec<_> = touched
        .iter()
        .filter(|k| ledger.items.get(*k) != after.get(*k))
        .collect();
    println!();
    println!(
        "replay check          {} of {} items written in the tick match the table after it{}",
        touched.len() - mismatched.len(),
        touched.len(),
        mismatched.first().map_or(String::new(), |k| {
            let ours = ledger.items.get(*k);
            let theirs = after.get(*k);
            let differing: Vec<&String> = ours
                .into_iter()
                .chain(theirs)
                .flat_map(|i| i.keys())
                .filter(|a| ours.and_then(|i| i.get(*a)) != theirs.and_then(|i| i.get(*a)))
                .collect();
            format!("; first mismatch {k:?} in {differing:?}")
        })
    );
    let recorded: BTreeMap<&str, u64> = exchanges.iter().fold(BTreeMap::new(), |mut m, t| {
        *m.entry(t.exchange.operation.as_str()).or_default() += 1;
        m
    });
    if recorded
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect::<BTreeMap<_, _>>()
        != *counted
    {
        println!("warning: the HTTP recorder saw {recorded:?}, the store's counter {counted:?}");
    }
    for problem in &ledger.problems {
        println!("not costed            {problem}");
    }
    print_model(&ledger, summary.triggered, args.concurrency);
}

/// Write units per called slot by kind of partition key, under both assumptions about a
/// transaction's index writes, and the capacity model of a 10,000-slot minute at the shards and
/// groups of docs/benchmarks.md ("Scaling out").
fn print_model(ledger: &Ledger, called: u64, concurrency: usize) {
    if called == 0 {
        return;
    }
    let per = |doubled: bool| {
        let mut sums = [0u64; 3];
        for (key, load) in &ledger.keys {
            let units = if doubled {
                load.units_doubled
            } else {
                load.units
            };
            let class = if key.starts_with("table APP#") {
                0
            } else if key.starts_with("table JOB#") {
                1
            } else if key.starts_with("index DUE") {
                2
            } else {
                continue;
            };
            sums[class] += units;
        }
        let per_slot = |units: u64| units as f64 / called as f64;
        crate::model::PerSlot {
            app: per_slot(sums[0]),
            execution: per_slot(sums[1]),
            shard: per_slot(sums[2]),
        }
    };
    println!();
    for (name, doubled) in [
        ("index writes of a transaction once", false),
        ("doubled", true),
    ] {
        let p = per(doubled);
        println!(
            "write units per called slot ({name}): app partition {:.2}, execution partition {:.2}, due-index shard {:.2}; total {:.2}",
            p.app,
            p.execution,
            p.shard,
            p.app + p.execution + p.shard
        );
    }
    println!(
        "model: 10,000 slots due in a minute, 100 apps of budget 4, concurrency {concurrency}, 30 ms of store requests per slot; busiest shard and app partition in write units a second (limit 1,000 per key)"
    );
    for latency_ms in [200.0, 2000.0] {
        for (shards, groups) in [(1, 1), (4, 1), (4, 4), (8, 8), (16, 16)] {
            let minute = crate::model::Minute {
                due: 10_000,
                apps: 100,
                budget: 4,
                concurrency: concurrency as u64,
                latency_ms,
                store_ms: 30.0,
            };
            let row = crate::model::model(per(true), minute, shards, groups);
            println!(
                "  calls of {latency_ms:>5.0} ms  S = {shards:>2}  G = {groups:>2}  tick {:>6.1} s  shard {:>6.0}  app {:>5.0}  runs out: {}",
                row.wall_s, row.shard_wcu, row.app_wcu, row.limit
            );
        }
    }
}

/// One row of the capacity table: requests, waits (total, mean, moto's own mean) and units.
fn print_cost_row(label: &str, cost: &capacity::OperationCost, wait: Duration, served: Duration) {
    let count = cost.count.max(1) as f64;
    println!(
        "{:<20} {:>8} {:>6} {:>10.1} {:>9.2} {:>9.2} | {:>9} {:>10} {:>8} | {:>9.1} {:>8.1} | {:>9.1}",
        label,
        cost.count,
        cost.failed,
        ms(wait),
        ms(wait) / count,
        ms(served) / count,
        cost.table_write_units,
        cost.index_writes,
        cost.index_write_units,
        cost.table_read_units,
        cost.index_read_units,
        (cost.table_write_units + cost.index_write_units) as f64
            + cost.table_read_units
            + cost.index_read_units
    );
}
