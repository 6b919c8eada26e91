//! The tick against the moto server and real job servers on 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use shared::model::{Job, NewJob, Status};
use shared::protocol::{HEADER_KEY, HEADER_SCHEDULED_FOR, key_hash};
use shared::store::Store;
use shared::tick::tick;

use crate::bruteforce;
use crate::helpers::faultproxy::FaultProxy;
use crate::helpers::jobserver::Behavior;
use crate::helpers::moto;
use crate::world::{World, racing_ticks, utc};

/// The slots (scheduled-for headers) the job server saw on `path`, in arrival order.
fn slots_seen(world: &World, path: &str) -> Vec<String> {
    world
        .server
        .requests_to(path)
        .iter()
        .map(|r| r.header(HEADER_SCHEDULED_FOR).unwrap_or("?").to_owned())
        .collect()
}

fn rfc(t: DateTime<Utc>) -> String {
    shared::protocol::format_slot(t)
}

async fn executions(world: &World, job: &Job) -> Vec<shared::model::Execution> {
    world
        .store
        .list_executions(&job.id, 1000)
        .await
        .expect("history")
}

const TEMPLATES: [&str; 25] = [
    "*/7 * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "5,35 * * * *",
    "10-12 * * * *",
    "0-59/20 9-10 * * *",
    "30 9 * * MON-FRI",
    "45 * * * SAT,SUN",
    "0 */2 * * *",
    "15 * L * *",
    "20 * 29W * *",
    "25 * * * 1#5",
    "40 * * * 1L",
    "50 * * NOV *",
    "0 * 1 * *",
    "@hourly",
    "@daily",
    "at 08:30,09:15,10:45",
    "at 09:00,10:00 on mon,wed",
    "every 25m between 08:00-10:30",
    "every 40m",
    "every 90m between 09:00-17:00 on mon-fri",
    "3 8-11 * * *",
    "*/30 * * JAN-MAR *",
    "59 * * * *",
];
const ZONES: [Tz; 4] = [
    Tz::UTC,
    Tz::America__Los_Angeles,
    Tz::Europe__London,
    Tz::Asia__Kolkata,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_jobs_see_exactly_their_slots_over_three_hours() {
    // 2026-11-30 is a Monday, the last day of November and its fifth Monday: L, W, # and
    // names all have something to match. No zone here changes its offset in the window.
    let from = utc(2026, 11, 30, 8, 0);
    let to = utc(2026, 11, 30, 11, 0);
    let world = World::new(from - chrono::Duration::seconds(30)).await;
    let mut jobs = Vec::new();
    for i in 0..100usize {
        let schedule = TEMPLATES[i % TEMPLATES.len()];
        let tz = ZONES[(i / TEMPLATES.len()) % ZONES.len()];
        let mut spec: NewJob = world.spec(&format!("job{i:03}"), &format!("/j{i}"), schedule);
        spec.timezone = tz;
        if i % 10 == 3 {
            spec.start = Some(from + chrono::Duration::minutes(45));
        }
        if i % 10 == 7 {
            spec.end = Some(from + chrono::Duration::minutes(100));
        }
        if i == 99 {
            spec.enabled = false;
        }
        let job = world.create(spec).await;
        jobs.push((i, schedule, tz, job));
    }

    world.tick_minutes(from, to).await;

    let mut total = 0;
    for (i, schedule, tz, job) in &jobs {
        let mut expected = Vec::new();
        let mut t = from;
        while t < to {
            let local = t.with_timezone(tz).naive_local();
            let in_bounds = job.start.is_none_or(|s| t >= s) && job.end.is_none_or(|e| t <= e);
            if job.enabled && in_bounds && bruteforce::fires(schedule, local) {
                expected.push(rfc(t));
            }
            t += chrono::Duration::minutes(1);
        }
        total += expected.len();
        assert_eq!(
            slots_seen(&world, &format!("/j{i}")),
            expected,
            "job {i}: `{schedule}` in {tz}"
        );
    }
    assert!(
        total > 200,
        "the mix should fire plenty in the window, fired {total}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slot_is_called_once_when_eight_ticks_race() {
    let start = utc(2026, 6, 1, 12, 0);
    let world = World::new(start - chrono::Duration::seconds(30)).await;
    let mut jobs = Vec::new();
    for i in 0..5 {
        jobs.push(
            world
                .create(world.spec(&format!("race{i}"), &format!("/race{i}"), "* * * * *"))
                .await,
        );
    }
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(Arc::new(world.other_store().await));
    }
    let dispatcher = Arc::new(world.dispatcher.clone());
    for round in 0..20 {
        let now = start + chrono::Duration::minutes(round);
        let triggered: u64 = racing_ticks(&stores, &dispatcher, now)
            .await
            .iter()
            .map(|s| s.triggered)
            .sum();
        assert_eq!(
            triggered, 5,
            "round {round}: the 8 ticks together send each due slot once"
        );
    }
    for i in 0..5 {
        let seen = slots_seen(&world, &format!("/race{i}"));
        let expected: Vec<String> = (0..20)
            .map(|m| rfc(start + chrono::Duration::minutes(m)))
            .collect();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, expected, "job race{i}: each minute exactly once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_due_slot_is_called_once_despite_throttling_errors_and_lost_answers() {
    let at = utc(2026, 6, 2, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let proxy = FaultProxy::start(&world.endpoint).await;
    let faulty = shared::store::dynamodb::DynamoStore::new(
        &moto::sdk_config(&proxy.url()).await,
        &world.table,
    );
    let mut jobs = Vec::new();
    for i in 0..30 {
        jobs.push(
            world
                .create(world.spec(&format!("f{i}"), &format!("/f{i}"), "0 9 * * *"))
                .await,
        );
    }
    // Faults on 35% of requests: throttles, 500s, and writes applied upstream whose
    // answers are dropped (the SDK retries them).
    proxy.set_random(7, 0.12, 0.08, 0.15);
    world.set(at);
    let faulty_result = tick(
        &faulty,
        &world.dispatcher,
        world.clock.as_ref(),
        &world.config,
    )
    .await;
    let stats = proxy.stats();
    assert!(
        stats.dropped_answers > 0 && stats.throttled > 0 && stats.server_errors > 0,
        "{stats:?}"
    );
    proxy.clear();
    // A few clean ticks after the faulty one (the claim lease is 60 s; deadlines 90 s).
    for minutes in [1, 2, 3, 5] {
        world.set(at + chrono::Duration::minutes(minutes));
        tick(
            &faulty,
            &world.dispatcher,
            world.clock.as_ref(),
            &world.config,
        )
        .await
        .expect("clean tick");
    }
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(
            slots_seen(&world, &format!("/f{i}")),
            vec![rfc(at)],
            "job f{i} (faulty tick: {faulty_result:?})"
        );
        let execs = executions(&world, job).await;
        assert_eq!(execs.len(), 1, "one execution for f{i}");
        assert_eq!(execs[0].status, Status::Succeeded, "f{i}: {:?}", execs[0]);
    }
}

async fn run_dst_days(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    expected: &[(&str, Vec<DateTime<Utc>>)],
) {
    let world = World::new(from - chrono::Duration::seconds(30)).await;
    for (i, (schedule, _)) in expected.iter().enumerate() {
        let mut spec = world.spec(&format!("dst{i}"), &format!("/dst{i}"), schedule);
        spec.timezone = Tz::America__Los_Angeles;
        world.create(spec).await;
    }
    world.tick_minutes(from, to).await;
    for (i, (schedule, slots)) in expected.iter().enumerate() {
        let want: Vec<String> = slots.iter().map(|t| rfc(*t)).collect();
        assert_eq!(
            slots_seen(&world, &format!("/dst{i}")),
            want,
            "`{schedule}` in America/Los_Angeles"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn los_angeles_jobs_run_once_per_wall_clock_slot_when_clocks_spring_forward() {
    // 2026-03-08: 02:00 PST becomes 03:00 PDT at 10:00Z.
    let hourly: Vec<DateTime<Utc>> = (7..21).map(|h| utc(2026, 3, 8, h, 0)).collect();
    run_dst_days(
        utc(2026, 3, 8, 7, 0),
        utc(2026, 3, 8, 21, 0),
        &[
            ("30 2 * * *", vec![utc(2026, 3, 8, 10, 0)]), // in the gap: at the first instant after it
            ("30 1 * * *", vec![utc(2026, 3, 8, 9, 30)]),
            (
                "30 1,13 * * *",
                vec![utc(2026, 3, 8, 9, 30), utc(2026, 3, 8, 20, 30)],
            ),
            ("0 * * * *", hourly),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn los_angeles_jobs_run_once_per_wall_clock_slot_when_clocks_fall_back() {
    // 2026-11-01: 02:00 PDT becomes 01:00 PST at 09:00Z; 01:00-01:59 happens twice.
    let hourly: Vec<DateTime<Utc>> = (6..22).map(|h| utc(2026, 11, 1, h, 0)).collect();
    run_dst_days(
        utc(2026, 11, 1, 6, 0),
        utc(2026, 11, 1, 22, 0),
        &[
            ("30 2 * * *", vec![utc(2026, 11, 1, 10, 30)]),
            ("30 1 * * *", vec![utc(2026, 11, 1, 8, 30)]), // the first 01:30 only
            (
                "30 1,13 * * *",
                vec![utc(2026, 11, 1, 8, 30), utc(2026, 11, 1, 21, 30)],
            ),
            ("0 * * * *", hourly), // both 01:00s: every real hour
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_slow_unreachable_and_huge_jobs_are_recorded_and_the_others_succeed() {
    let at = utc(2026, 6, 3, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    world.server.set("/fail", Behavior::Status(500));
    world
        .server
        .set("/slow", Behavior::Sleep(Duration::from_secs(10)));
    world.server.set("/big", Behavior::Big(10 * 1024 * 1024));
    world.server.set(
        "/moved",
        Behavior::Redirect("http://127.0.0.1:9/elsewhere".into()),
    );
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let fail = world.create(world.spec("fail", "/fail", "0 9 * * *")).await;
    let mut slow_spec = world.spec("slow", "/slow", "0 9 * * *");
    slow_spec.timeout = Duration::from_secs(1);
    let slow = world.create(slow_spec).await;
    let mut closed_spec = world.spec("closed", "/", "0 9 * * *");
    closed_spec.url =
        shared::model::JobUrl::parse(&format!("http://127.0.0.1:{closed}/job")).expect("url");
    let closed_job = world.create(closed_spec).await;
    let big = world.create(world.spec("big", "/big", "0 9 * * *")).await;
    let moved = world
        .create(world.spec("moved", "/moved", "0 9 * * *"))
        .await;
    let ok1 = world.create(world.spec("ok1", "/ok1", "0 9 * * *")).await;
    let ok2 = world.create(world.spec("ok2", "/ok2", "0 9 * * *")).await;

    world.set(at);
    let summary = world.tick().await;
    assert_eq!(
        (
            summary.triggered,
            summary.succeeded,
            summary.failed,
            summary.timed_out
        ),
        (7, 3, 3, 1),
        "{summary:?}"
    );

    let one = |execs: Vec<shared::model::Execution>| {
        assert_eq!(execs.len(), 1);
        execs.into_iter().next().expect("one")
    };
    let e = one(executions(&world, &fail).await);
    assert_eq!((e.status, e.http_status), (Status::Failed, Some(500)));
    assert_eq!(e.output.as_deref(), Some("status 500"));
    let e = one(executions(&world, &slow).await);
    assert_eq!((e.status, e.http_status), (Status::TimedOut, None));
    assert!(
        e.duration_ms.is_some_and(|d| (1000..5000).contains(&d)),
        "{e:?}"
    );
    let e = one(executions(&world, &closed_job).await);
    assert_eq!(e.status, Status::Failed);
    assert!(
        e.error
            .as_deref()
            .is_some_and(|m| m.to_lowercase().contains("connect")),
        "{e:?}"
    );
    let e = one(executions(&world, &big).await);
    assert_eq!((e.status, e.http_status), (Status::Succeeded, Some(200)));
    assert_eq!(
        e.output.as_ref().map(String::len),
        Some(4096),
        "output is bounded to 4 KiB"
    );
    let e = one(executions(&world, &moved).await);
    assert_eq!((e.status, e.http_status), (Status::Failed, Some(302)));
    assert!(
        e.error
            .as_deref()
            .is_some_and(|m| m.contains("http://127.0.0.1:9/elsewhere")),
        "{e:?}"
    );
    for job in [&ok1, &ok2] {
        let e = one(executions(&world, job).await);
        assert_eq!(
            (e.status, e.http_status, e.output.as_deref()),
            (Status::Succeeded, Some(200), Some("ok"))
        );
    }
    assert_eq!(
        world.server.count("/elsewhere"),
        0,
        "redirects are not followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_two_hours_without_ticks_each_job_runs_its_latest_slot_once_or_is_missed() {
    let start = utc(2026, 6, 4, 8, 0);
    let world = World::new(start - chrono::Duration::seconds(30)).await;
    let five = world
        .create(world.spec("five", "/five", "*/5 * * * *"))
        .await;
    let daily = world
        .create(world.spec("daily", "/daily", "0 9 * * *"))
        .await;
    let mut patient_spec = world.spec("patient", "/patient", "0 9 * * *");
    patient_spec.max_lateness = Duration::from_secs(3 * 3600);
    let patient = world.create(patient_spec).await;

    world
        .tick_minutes(start, start + chrono::Duration::minutes(11))
        .await; // 08:00-08:10
    // No tick from 08:11 to 10:09.
    let resumed = utc(2026, 6, 4, 10, 10);
    let first = {
        world.set(resumed);
        world.tick().await
    };
    assert_eq!((first.triggered, first.missed), (2, 1), "{first:?}");
    world
        .tick_minutes(
            resumed + chrono::Duration::minutes(1),
            resumed + chrono::Duration::minutes(11),
        )
        .await;

    let at = |h, m| rfc(utc(2026, 6, 4, h, m));
    assert_eq!(
        slots_seen(&world, "/five"),
        vec![
            at(8, 0),
            at(8, 5),
            at(8, 10),
            at(10, 10),
            at(10, 15),
            at(10, 20)
        ],
        "no storm of backlog calls"
    );
    let latest = executions(&world, &five)
        .await
        .into_iter()
        .find(|e| e.scheduled_for == utc(2026, 6, 4, 10, 10));
    assert_eq!(
        latest.map(|e| e.coalesced),
        Some(23),
        "08:15..10:05 are coalesced into 10:10"
    );
    assert_eq!(world.server.count("/daily"), 0);
    let missed = executions(&world, &daily).await;
    assert_eq!(missed.len(), 1);
    assert_eq!(
        (missed[0].status, missed[0].scheduled_for),
        (Status::Missed, utc(2026, 6, 4, 9, 0))
    );
    assert_eq!(slots_seen(&world, "/patient"), vec![at(9, 0)]);
    assert_eq!(
        executions(&world, &patient).await[0].status,
        Status::Succeeded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_stored_item_or_request_url_holds_an_execution_key() {
    let at = utc(2026, 6, 5, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    for i in 0..5 {
        world
            .create(world.spec(&format!("k{i}"), &format!("/k{i}?x=1"), "* * * * *"))
            .await;
    }
    world
        .tick_minutes(at, at + chrono::Duration::minutes(3))
        .await;
    let requests = world.server.requests();
    assert_eq!(requests.len(), 15);
    let keys: BTreeSet<String> = requests
        .iter()
        .map(|r| r.header(HEADER_KEY).expect("key header").to_owned())
        .collect();
    assert_eq!(keys.len(), 15, "a new key for every execution");
    for r in &requests {
        let key = r.header(HEADER_KEY).expect("key");
        assert_eq!(key.len(), 64, "32 random bytes, hex");
        assert!(!r.path.contains(key) && !r.query.as_deref().unwrap_or("").contains(key));
    }
    // Every attribute of every item, as text.
    let client = moto::client(&world.endpoint).await;
    let items = client
        .scan()
        .table_name(&world.table)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    let dump = format!("{items:?}");
    for key in &keys {
        assert!(!dump.contains(key.as_str()), "a plaintext key is stored");
        assert!(dump.contains(&key_hash(key)), "the key's hash is stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_over_ten_thousand_jobs_with_ten_due_makes_a_fixed_number_of_requests() {
    // The same 10 due jobs alone, then among 10,000: the same requests, the minimum.
    let alone = requests_of_one_tick(10, 10).await;
    let among_many = requests_of_one_tick(10_000, 10).await;
    // docs/data-model.md: 1 GetItem (the table's format), 1 Query (the keys of what is due,
    // from the keys-only index), 1 BatchGetItem (those items, read consistently: one per 100
    // keys), 1 Query (the app records: something due may call), then per due job 1
    // TransactWriteItems (claim), 1 UpdateItem (sent), 1 UpdateItem (outcome), 1 PutItem (the
    // job's bookkeeping): 4 + 4 × 10 = 44.
    let expected: BTreeMap<String, u64> = BTreeMap::from([
        ("GetItem".to_owned(), 1),
        ("BatchGetItem".to_owned(), 1),
        ("Query".to_owned(), 2),
        ("TransactWriteItems".to_owned(), 10),
        ("UpdateItem".to_owned(), 20),
        ("PutItem".to_owned(), 10),
    ]);
    assert_eq!(alone, expected);
    assert_eq!(
        among_many, expected,
        "no request depends on the number of jobs"
    );
    for op in among_many.keys() {
        let known = shared::store::dynamodb::OPERATIONS
            .iter()
            .find(|o| o.name == op.as_str());
        assert!(
            known.is_some_and(|o| o.tick),
            "{op} is listed as a tick operation (IAM)"
        );
    }
}

/// Issue 29, acceptance 4: at 4 shards and 4 groups, the group holding the due jobs' app
/// makes exactly the documented requests over 10,000 jobs with 10 due, its shard's lease
/// included; every other group reads the layout and its shard, and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_groups_tick_over_ten_thousand_jobs_with_ten_due_makes_a_fixed_number_of_requests() {
    let at = utc(2026, 6, 6, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let before = world.store.table_meta().await.expect("layout");
    let mut raised = before
        .raise(4, chrono::Utc::now(), chrono::Utc::now())
        .expect("a raise");
    raised.format = raised.format.max(shared::store::SHARDED_FORMAT);
    assert!(
        world
            .store
            .put_table_meta(&raised, before.version)
            .await
            .expect("raise")
    );
    seed(&world, 10_000, 10).await;
    // The jobs are all of `testapp`, in one shard.
    let shard =
        shared::store::layout::shard_of(&shared::model::AppName::parse("testapp").expect("app"), 4);
    world.set(at);
    for g in 0..4 {
        let group = shared::store::layout::Group::new(g, 4).expect("a group");
        let config = shared::tick::TickConfig {
            group,
            lease_shards: true,
            ..shared::tick::TickConfig::default()
        };
        world.store.requests().reset();
        let summary = shared::tick::tick(
            &world.store,
            &world.dispatcher,
            world.clock.as_ref(),
            &config,
        )
        .await
        .expect("tick");
        let requests = world.store.requests().snapshot();
        let expected: BTreeMap<String, u64> = if g == shard {
            // docs/data-model.md: 1 GetItem (META), 1 Query (its one shard's keys), 1
            // BatchGetItem (their items), 1 UpdateItem (the shard's lease), 1 Query (the app
            // records), 4 per due job: 5 + 4 × 10 = 45.
            assert_eq!((summary.due, summary.triggered), (10, 10), "{summary:?}");
            BTreeMap::from([
                ("GetItem".to_owned(), 1),
                ("BatchGetItem".to_owned(), 1),
                ("Query".to_owned(), 2),
                ("TransactWriteItems".to_owned(), 10),
                ("UpdateItem".to_owned(), 21),
                ("PutItem".to_owned(), 10),
            ])
        } else {
            assert_eq!(summary.due, 0, "group {group}: {summary:?}");
            BTreeMap::from([("GetItem".to_owned(), 1), ("Query".to_owned(), 1)])
        };
        assert_eq!(
            requests, expected,
            "group {group} (the jobs' shard is {shard})"
        );
    }
}

/// Seeds `jobs` jobs of `testapp` of which `due` are due at 09:00 (the rest run once a year).
async fn seed(world: &World, jobs: usize, due: usize) {
    let every = jobs / due;
    let seeded: Vec<_> = (0..jobs)
        .map(|i| {
            let schedule = if i % every == 0 {
                "* * * * *"
            } else {
                "0 0 1 1 *"
            };
            world
                .spec(&format!("n{i:05}"), &format!("/n{i}"), schedule)
                .build(world.now())
                .expect("job")
        })
        .collect();
    world
        .store
        .import_jobs(&seeded)
        .await
        .expect("seed with BatchWriteItem");
}

/// Seeds `jobs` jobs of which `due` are due at the tick (the rest run once a year), runs
/// one tick and returns the DynamoDB requests it made, by operation.
async fn requests_of_one_tick(jobs: usize, due: usize) -> BTreeMap<String, u64> {
    let at = utc(2026, 6, 6, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    seed(&world, jobs, due).await;
    world.store.requests().reset();
    world.set(at);
    let summary = world.tick().await;
    let due = u64::try_from(due).expect("small");
    assert_eq!(
        (summary.due, summary.triggered, summary.succeeded),
        (due, due, due)
    );
    world.store.requests().snapshot()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_job_is_retried_with_a_new_key_and_backoff_then_stops() {
    let at = utc(2026, 6, 7, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    world.server.set("/flaky", Behavior::Status(503));
    let mut spec = world.spec("flaky", "/flaky", "0 9 * * *");
    spec.retries = 2;
    let job = world.create(spec).await;
    // Retries at +30 s and then +60 s after that: ticks each minute reach them.
    let summaries = world
        .tick_minutes(at, at + chrono::Duration::minutes(5))
        .await;
    let retried: u64 = summaries.iter().map(|s| s.retried).sum();
    assert_eq!(retried, 2);
    let requests = world.server.requests_to("/flaky");
    assert_eq!(requests.len(), 3, "one attempt and two retries");
    let attempts: Vec<&str> = requests
        .iter()
        .map(|r| r.header("x-psu-sched-attempt").unwrap_or("?"))
        .collect();
    assert_eq!(attempts, vec!["1", "2", "3"]);
    let keys: BTreeSet<&str> = requests
        .iter()
        .filter_map(|r| r.header(HEADER_KEY))
        .collect();
    assert_eq!(keys.len(), 3, "each attempt has its own key");
    let execs = executions(&world, &job).await;
    let statuses: HashMap<u32, Status> = execs.iter().map(|e| (e.attempt, e.status)).collect();
    assert_eq!(
        statuses,
        HashMap::from([
            (1, Status::Failed),
            (2, Status::Failed),
            (3, Status::Failed)
        ])
    );
    assert!(execs.iter().all(|e| e.scheduled_for == at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_never_sent_is_sent_once_by_a_later_tick_after_its_lease() {
    let at = utc(2026, 6, 8, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let proxy = FaultProxy::start(&world.endpoint).await;
    let faulty = shared::store::dynamodb::DynamoStore::new(
        &moto::sdk_config(&proxy.url()).await,
        &world.table,
    );
    let unsent = world
        .create(world.spec("unsent", "/unsent", "0 9 * * *"))
        .await;
    // Every UpdateItem fails: the claim lands, but "mark sent" never does. The tick dies with
    // a store error after its claim, as a crashed tick would.
    proxy.set_plan_for(
        "UpdateItem",
        vec![Some(crate::helpers::faultproxy::Fault::ServerError); 50],
    );
    world.set(at);
    let died = tick(
        &faulty,
        &world.dispatcher,
        world.clock.as_ref(),
        &world.config,
    )
    .await;
    assert!(died.is_err(), "the store failure fails the tick: {died:?}");
    assert_eq!(world.server.count("/unsent"), 0);
    proxy.clear();
    // Within the claim's lease nothing happens; after it, a later tick sends it, once.
    world.set(at + chrono::Duration::seconds(30));
    assert_eq!(world.tick().await.triggered, 0);
    for m in 1..4 {
        world.set(at + chrono::Duration::minutes(m));
        world.tick().await;
    }
    assert_eq!(slots_seen(&world, "/unsent"), vec![rfc(at)]);
    assert_eq!(
        executions(&world, &unsent).await[0].status,
        Status::Succeeded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slot_marked_sent_but_never_called_is_sent_once_by_a_later_tick_not_timed_out() {
    // Issue 13. The tick's "mark sent" is applied but its answer is lost, and every retry of
    // it fails: the tick does not call the job. The execution must not stay marked sent (a
    // later tick would record a call never made as `timed_out`, "whether the job ran is
    // unknown", and the slot would never be called): a later tick sends it, once.
    use crate::helpers::faultproxy::Fault;

    /// The SDK's attempts per request (its standard retry mode) and the tick's attempts at
    /// marking an execution sent (`MARK_ATTEMPTS` in shared/src/tick/steps.rs).
    const SDK_ATTEMPTS: usize = 3;
    const MARK_ATTEMPTS: usize = 6;
    let at = utc(2026, 6, 10, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let proxy = FaultProxy::start(&world.endpoint).await;
    let faulty = shared::store::dynamodb::DynamoStore::new(
        &moto::sdk_config(&proxy.url()).await,
        &world.table,
    );
    let job = world
        .create(world.spec("unmarked", "/unmarked", "0 9 * * *"))
        .await;
    // UpdateItem requests, in order: the mark's first request is applied upstream and its
    // answer dropped; the SDK's retries of it and every further mark fail; then whatever the
    // tick writes next (the release of the mark) passes through.
    let mut plan = vec![Some(Fault::DropAnswer)];
    plan.extend(vec![
        Some(Fault::ServerError);
        SDK_ATTEMPTS * MARK_ATTEMPTS - 1
    ]);
    proxy.set_plan_for("UpdateItem", plan);
    world.set(at);
    let died = tick(
        &faulty,
        &world.dispatcher,
        world.clock.as_ref(),
        &world.config,
    )
    .await;
    assert!(died.is_err(), "the store failure fails the tick: {died:?}");
    assert_eq!(world.server.count("/unmarked"), 0, "the tick made no call");
    let stats = proxy.stats();
    assert_eq!(
        stats.faults.first(),
        Some(&("UpdateItem".to_owned(), Fault::DropAnswer)),
        "the mark was applied and its answer lost"
    );
    assert_eq!(
        stats.server_errors as usize,
        SDK_ATTEMPTS * MARK_ATTEMPTS - 1,
        "every retry of the mark failed"
    );
    proxy.clear();

    // Later clean ticks, past the claim's lease and past the call's deadline.
    let mut reconciled = 0;
    for m in 1..6 {
        world.set(at + chrono::Duration::minutes(m));
        reconciled += world.tick().await.reconciled;
    }
    assert_eq!(
        slots_seen(&world, "/unmarked"),
        vec![rfc(at)],
        "the slot is called exactly once"
    );
    let execs = executions(&world, &job).await;
    let statuses: Vec<Status> = execs.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [Status::Succeeded], "{execs:?}");
    assert!(
        execs.iter().all(|e| e.status != Status::TimedOut),
        "a call never made is not recorded as one that may have run: {execs:?}"
    );
    assert_eq!(reconciled, 0, "nothing was left to reconcile");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_never_recorded_is_reconciled_as_timed_out_and_retried() {
    // A call that is sent but whose outcome is never recorded (the second UpdateItem
    // and its retries fail): it is reconciled as timed out after timeout + grace, and its
    // retry (the job allows one) runs as attempt 2.
    let at2 = utc(2026, 6, 9, 9, 0);
    let world = World::new(at2 - chrono::Duration::seconds(30)).await;
    let proxy = FaultProxy::start(&world.endpoint).await;
    let faulty = shared::store::dynamodb::DynamoStore::new(
        &moto::sdk_config(&proxy.url()).await,
        &world.table,
    );
    let mut spec = world.spec("unrecorded", "/unrecorded", "0 9 * * *");
    spec.retries = 1;
    world.set(at2 - chrono::Duration::seconds(30));
    let unrecorded = world.create(spec).await;
    let mut plan = vec![None];
    plan.extend(vec![
        Some(crate::helpers::faultproxy::Fault::ServerError);
        50
    ]);
    proxy.set_plan_for("UpdateItem", plan);
    world.set(at2);
    assert!(
        tick(
            &faulty,
            &world.dispatcher,
            world.clock.as_ref(),
            &world.config
        )
        .await
        .is_err()
    );
    proxy.clear();
    assert_eq!(world.server.count("/unrecorded"), 1);
    let mut reconciled = 0;
    for m in 1..6 {
        world.set(at2 + chrono::Duration::minutes(m));
        reconciled += world.tick().await.reconciled;
    }
    assert_eq!(reconciled, 1);
    let execs = executions(&world, &unrecorded).await;
    let by_attempt: BTreeMap<u32, Status> = execs.iter().map(|e| (e.attempt, e.status)).collect();
    assert_eq!(
        by_attempt,
        BTreeMap::from([(1, Status::TimedOut), (2, Status::Succeeded)])
    );
    let first = execs.iter().find(|e| e.attempt == 1).expect("attempt 1");
    assert!(
        first
            .error
            .as_deref()
            .is_some_and(|m| m.contains("no outcome was recorded")),
        "{first:?}"
    );
    assert_eq!(
        world.server.count("/unrecorded"),
        2,
        "the original call and one retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_error_built_from_a_huge_redirect_location_is_stored_capped() {
    let at = utc(2026, 8, 3, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let location = format!("https://elsewhere.example/{}", "a".repeat(60_000));
    world.server.set("/moved", Behavior::Redirect(location));
    let job = world
        .create(world.spec("moved", "/moved", "0 9 * * *"))
        .await;
    world.set(at);
    let summary = world.tick().await;
    assert_eq!((summary.triggered, summary.failed), (1, 1), "{summary:?}");
    let stored = executions(&world, &job).await;
    let error = stored[0].error.as_deref().expect("an error");
    assert!(
        error
            .starts_with("the job answered 302 Found redirecting to https://elsewhere.example/aaa"),
        "{error}"
    );
    assert!(
        error.len() <= 1024,
        "capped at 1 KiB: {} bytes",
        error.len()
    );
    assert!(error.ends_with('…'), "the cut is marked: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_keeps_throttling_fails_as_throttled_and_a_closed_port_as_unavailable() {
    use shared::store::StoreError;

    let world = World::new(utc(2026, 8, 4, 9, 0)).await;
    let proxy = FaultProxy::start(&world.endpoint).await;
    proxy.set_plan_for(
        "GetItem",
        vec![Some(crate::helpers::faultproxy::Fault::Throttle); 50],
    );
    let throttled = shared::store::dynamodb::DynamoStore::new(
        &moto::sdk_config(&proxy.url()).await,
        &world.table,
    );
    let app = shared::model::AppName::parse("app").expect("app");
    let name = shared::model::JobName::parse("job").expect("name");
    let err = throttled.get_job(&app, &name).await.expect_err("throttled");
    assert!(matches!(err, StoreError::Throttled { .. }), "{err:?}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let unreachable =
        shared::store::dynamodb::DynamoStore::new(&moto::sdk_config(&endpoint).await, "any");
    let err = unreachable.get_job(&app, &name).await.expect_err("closed");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}
