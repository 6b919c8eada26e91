//! Jitter (issue 32): a crowd of jobs at one slot spread over the jitter's window, each called
//! once and never before its slot plus its offset, alike on SQLite and DynamoDB (moto); a
//! jitter not under the schedule's smallest gap refused everywhere a job is written; an export
//! of a jittered job applied again plans nothing; lag counted from the slot plus its offset.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use shared::clock::FixedClock;
use shared::dispatch::HttpDispatcher;
use shared::model::{AppName, Job, JobId, JobName, JobUrl, NewJob, Status, jitter_offset};
use shared::ops::views::lag_ms;
use shared::ops::{Ops, parse_file};
use shared::protocol::HEADER_SCHEDULED_FOR;
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;
use shared::tick::{TickConfig, tick};

use crate::cli::{Cli, NEW_JOB, each_is_bad_input_and_writes_nothing};
use crate::conformance::open_sqlite;
use crate::helpers::jobserver::JobServer;
use crate::helpers::{moto, tempdb};
use crate::world::{World, utc};

const JOBS: usize = 100;
const JITTER: Duration = Duration::from_secs(300);

/// The job `crowd/jobNNN`'s id: fixed by its name, so that the offsets, hence the spread, are
/// the same in every run and every store.
fn fixed_id(name: &str) -> JobId {
    let a = shared::hash::fnv1a_64(name.as_bytes());
    let b = shared::hash::fnv1a_64(format!("{name}#2").as_bytes());
    JobId::parse(&format!("{a:016x}{b:016x}")).expect("32 hex digits")
}

fn name(i: usize) -> String {
    format!("job{i:03}")
}

/// 100 jobs at 02:00 with a 5m jitter, their ids fixed, created at 01:30.
fn crowd(server: &JobServer, slot: DateTime<Utc>) -> Vec<Job> {
    (0..JOBS)
        .map(|i| {
            let mut spec = NewJob::new(
                AppName::parse("crowd").expect("app"),
                JobName::parse(&name(i)).expect("name"),
                JobUrl::parse(&server.url(&format!("/{}", name(i)))).expect("url"),
                "0 2 * * *".parse().expect("schedule"),
            );
            spec.jitter = JITTER;
            let mut job = spec
                .build(slot - TimeDelta::minutes(30))
                .expect("valid job");
            job.id = fixed_id(&name(i));
            job
        })
        .collect()
}

/// Ticks at 02:00, 02:01 ... 02:06 over the crowd; the calls each tick made. Then checks, job
/// by job, what a user would: one call, for the 02:00 slot, with the execution id of that
/// slot, made by the first tick at or after the slot plus its offset (so never before it),
/// and a lag under a minute counted from there.
async fn the_crowd_spreads(store: Arc<dyn Store>) -> Vec<u64> {
    let server = JobServer::start().await;
    let slot = utc(2026, 12, 8, 2, 0);
    let jobs = crowd(&server, slot);
    for job in &jobs {
        store.create_job(job).await.expect("create");
    }
    let dispatcher = HttpDispatcher::new().expect("http client");
    let clock = FixedClock::new(slot);
    let mut per_minute = Vec::new();
    for minute in 0..=6 {
        clock.set(slot + TimeDelta::minutes(minute));
        let summary = tick(store.as_ref(), &dispatcher, &clock, &TickConfig::default())
            .await
            .expect("tick");
        assert_eq!(summary.triggered, summary.succeeded, "{summary:?}");
        per_minute.push(summary.triggered);
    }
    assert_eq!(
        per_minute.iter().sum::<u64>(),
        JOBS as u64,
        "{per_minute:?}"
    );
    assert_eq!(per_minute[6], 0, "nothing left for 02:06: {per_minute:?}");
    assert!(
        per_minute.iter().all(|n| *n <= 40),
        "no minute has more than 40 calls: {per_minute:?}"
    );
    assert!(
        per_minute.iter().filter(|n| **n > 0).count() >= 5,
        "spread over 02:00-02:05: {per_minute:?}"
    );
    for job in &jobs {
        let calls = server.requests_to(&format!("/{}", job.name));
        assert_eq!(calls.len(), 1, "{}: called once", job.name);
        assert_eq!(
            calls[0].header(HEADER_SCHEDULED_FOR),
            Some("2026-12-08T02:00:00Z"),
            "{}: the slot stays the slot",
            job.name
        );
        let history = store.list_executions(&job.id, 10).await.expect("history");
        assert_eq!(history.len(), 1, "{}: one execution", job.name);
        let e = &history[0];
        assert_eq!(e.status, Status::Succeeded);
        assert_eq!(
            e.id.to_string(),
            format!("{}.20261208T020000Z.s1", job.id),
            "the execution id keeps its format"
        );
        let offset = jitter_offset(&job.id, slot, 300_000);
        assert!(offset >= TimeDelta::zero() && offset < TimeDelta::minutes(5));
        assert_eq!(e.offset_ms, offset.num_milliseconds() as u64);
        let due = slot + offset;
        // The tick that called it: the first minute at or after the slot plus its offset.
        let first_tick = slot + TimeDelta::minutes((offset.num_seconds() + 59) / 60);
        assert!(first_tick >= due);
        assert_eq!(
            e.created_at, first_tick,
            "{}: due at {due}, claimed by the first tick at or after it",
            job.name
        );
        let lag = lag_ms(e).expect("a lag sample");
        assert!((0..60_000).contains(&lag), "{}: lag {lag} ms", job.name);
    }
    // The stats count the lag from the slot plus its offset too: all under a minute.
    let ops = Ops::with_store("test", store.clone());
    let stats = ops
        .stats_at(
            Some("crowd"),
            Duration::from_secs(86_400),
            slot + TimeDelta::hours(1),
        )
        .await
        .expect("stats");
    assert_eq!(stats.jobs.len(), JOBS);
    for job in &stats.jobs {
        assert_eq!(job.lag_ms.samples, 1, "{}", job.job);
        assert!(
            job.lag_ms.max.is_some_and(|l| (0..60_000).contains(&l)),
            "{job:?}"
        );
        assert_eq!(job.jitter_ms, 300_000);
    }
    per_minute
}

/// The calls of the 100 jobs by tick, 02:00 to 02:06: fixed by the jobs' ids (fixed by their
/// names) and the slot, whatever the store.
const SPREAD: [u64; 7] = [2, 23, 19, 24, 15, 17, 0];

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_jobs_at_two_with_a_five_minute_jitter_spread_over_five_minutes_on_sqlite() {
    let store: Arc<dyn Store> = Arc::new(open_sqlite(&tempdb::temp_db_path()).await);
    let spread = the_crowd_spreads(store).await;
    assert_eq!(spread, SPREAD, "the same spread in every run and store");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_jobs_at_two_with_a_five_minute_jitter_spread_over_five_minutes_on_dynamodb() {
    let world = World::new(utc(2026, 12, 8, 1, 0)).await;
    let store: Arc<dyn Store> = Arc::new(world.other_store().await);
    let spread = the_crowd_spreads(store).await;
    assert_eq!(spread, SPREAD, "the same spread in every run and store");
}

/// The refusal of a 10m jitter on a `*/5` job in UTC.
const TOO_LARGE: &str = "jitter: 10m is not less than the schedule's smallest gap between two runs, 5m (over the next year, in UTC); use less than 5m";

#[tokio::test(flavor = "multi_thread")]
async fn a_jitter_not_under_the_smallest_gap_or_malformed_is_refused_by_create_and_update_and_writes_nothing()
 {
    each_is_bad_input_and_writes_nothing(&[
        (
            [NEW_JOB, &["--cron", "*/5 * * * *", "--jitter", "10m"]].concat(),
            TOO_LARGE,
        ),
        (
            [NEW_JOB, &["--cron", "*/5 * * * *", "--jitter", "5m"]].concat(),
            "jitter: 5m is not less than the schedule's smallest gap between two runs, 5m",
        ),
        // 01:00 and 03:00 are two hours apart in New York, but one hour on the day clocks
        // spring forward: that is the gap named.
        (
            [
                NEW_JOB,
                &[
                    "--cron",
                    "0 1,3 * * *",
                    "--tz",
                    "America/New_York",
                    "--jitter",
                    "90m",
                ],
            ]
            .concat(),
            "jitter: 1h30m is not less than the schedule's smallest gap between two runs, 1h (over the next year, in America/New_York); use less than 1h",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--jitter", "90"]].concat(),
            "jitter: `90` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--jitter=-5m"]].concat(),
            "jitter: `-5m` is not a duration; use a number with s, m, h or d",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--jitter", "5 minutes"]].concat(),
            "jitter: `5 minutes` is not a duration",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--jitter", "2d"]].concat(),
            "jitter: `2d` is not accepted; use at most 1d",
        ),
        // web/sync runs at 08:00: a jitter, then a schedule that leaves it too large.
        (
            vec![
                "update", "--app", "web", "--name", "sync", "--cron", "*/5 * * * *", "--jitter",
                "10m",
            ],
            TOO_LARGE,
        ),
        (
            vec!["update", "--app", "web", "--name", "sync", "--jitter", "90"],
            "jitter: `90` has no unit",
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_daily_times_take_a_jitter_in_utc_that_new_york_refuses_and_a_schedule_change_is_checked_again()
 {
    let cli = Cli::new().await;
    let created = cli
        .run(&[
            "create",
            "--app",
            "web",
            "--name",
            "twice",
            "--url",
            "https://web.example.edu/twice",
            "--cron",
            "0 1,3 * * *",
            "--jitter",
            "90m",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(created["jitter_ms"], 5_400_000, "{created}");
    let shown = cli
        .run(&["show", "--app", "web", "--name", "twice"])
        .await
        .ok();
    assert!(
        shown.stdout.contains(
            "jitter       1h30m (each call due at its slot plus a fixed offset under it)"
        ),
        "{shown:?}"
    );
    // Moving it to New York brings 01:00 and 03:00 within an hour once a year: refused.
    let moved = cli
        .run(&[
            "update",
            "--app",
            "web",
            "--name",
            "twice",
            "--tz",
            "America/New_York",
        ])
        .await;
    assert_eq!(moved.code, 2, "{moved:?}");
    assert!(
        moved
            .stderr
            .contains("jitter: 1h30m is not less than the schedule's smallest gap between two runs, 1h (over the next year, in America/New_York)"),
        "{moved:?}"
    );
    let after = cli
        .run(&["show", "--app", "web", "--name", "twice", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(after["timezone"], "UTC", "nothing written: {after}");
    // 0s removes the jitter; then the move is accepted.
    let cleared = cli
        .run(&[
            "update", "--app", "web", "--name", "twice", "--jitter", "0s", "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(cleared["jitter_ms"], 0);
    cli.run(&[
        "update",
        "--app",
        "web",
        "--name",
        "twice",
        "--tz",
        "America/New_York",
    ])
    .await
    .ok();
}

const JITTERED_FILE: &str = r#"
[[apps]]
name = "web"

[[apps.jobs]]
name = "sync"
url = "https://web.example.edu/sync"
cron = "0 2 * * *"
timezone = "Europe/Paris"
jitter = "5m"

[[apps.jobs]]
name = "often"
url = "https://web.example.edu/often"
cron = "*/5 * * * *"
timezone = "Europe/Paris"
jitter = "10m"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_a_file_whose_jitter_is_not_under_the_gap_naming_its_line_and_writes_nothing()
{
    let cli = Cli::new().await;
    let dir = tempdb::TempDb::new();
    let folder = dir.0.parent().expect("dir").to_owned();
    std::fs::create_dir_all(&folder).expect("dir");
    let file = folder.join("schedules.toml");
    std::fs::write(&file, JITTERED_FILE).expect("write");
    let path = file.display().to_string();
    let run = cli.run(&["apply", "-f", &path, "--yes"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines[0], "psu-sched: 1 error in the file; nothing was written:",
        "{run:?}"
    );
    assert!(
        lines[1].ends_with(&format!(
            "{path}:17:10: apps[0].jobs[1].jitter: 10m is not less than the schedule's smallest gap between two runs, 5m (over the next year, in Europe/Paris); use less than 5m"
        )),
        "{run:?}"
    );
    assert_eq!(
        cli.list().await.as_array().map(Vec::len),
        Some(0),
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_of_a_jittered_job_applied_again_plans_no_change() {
    let endpoint = moto::endpoint().await;
    let store = DynamoStore::new(
        &moto::sdk_config(&endpoint).await,
        moto::unique_table_name(),
    );
    store.create_table().await.expect("create the test table");
    let ops = Ops::with_store("dynamodb", Arc::new(store));
    let file = JITTERED_FILE
        .split("\n[[apps.jobs]]\nname = \"often\"")
        .next()
        .expect("first job");
    let desired = parse_file("jobs.toml", file, &|_| None).expect("parse");
    let plan = ops.plan(&desired, false).await.expect("plan");
    let created: Vec<String> = plan.steps[0]
        .changes
        .iter()
        .map(|c| format!("{}={}", c.field, c.new.clone().unwrap_or_default()))
        .collect();
    assert!(created.contains(&"jitter=5m".to_owned()), "{created:?}");
    ops.apply_plan(&plan, Utc::now(), |_, _| {})
        .await
        .expect("apply");
    let exported = ops.export(None).await.expect("export");
    assert!(exported.contains("jitter = \"5m\"\n"), "{exported}");
    let again = parse_file("export.toml", &exported, &|_| None).expect("parse the export");
    let plan = ops.plan(&again, true).await.expect("plan");
    assert!(plan.is_empty(), "{exported}\n{plan:#?}");
    // Without the key, the jitter is removed: the plan says so.
    let without = exported.replace("jitter = \"5m\"\n", "");
    let plan = ops
        .plan(
            &parse_file("x.toml", &without, &|_| None).expect("parse"),
            false,
        )
        .await
        .expect("plan");
    let changes: Vec<_> = plan.steps.iter().flat_map(|s| s.changes.iter()).collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0].field, changes[0].old.as_deref()),
        ("jitter", Some("5m"))
    );
}

/// A missed slot is judged from the slot plus its offset: with a max lateness of 1m, a tick
/// one minute after the slot plus its offset still calls it; one more than a minute after
/// records it missed.
#[tokio::test(flavor = "multi_thread")]
async fn max_lateness_counts_from_the_slot_plus_its_offset() {
    let store: Arc<dyn Store> = Arc::new(open_sqlite(&tempdb::temp_db_path()).await);
    let server = JobServer::start().await;
    let slot = utc(2026, 12, 8, 2, 0);
    let dispatcher = HttpDispatcher::new().expect("http client");
    // Two jobs whose 02:00 offsets are at least two minutes: late at 02:02 counted from the
    // slot, not from the slot plus the offset.
    let mut jobs = Vec::new();
    for i in 0.. {
        let mut spec = NewJob::new(
            AppName::parse("late").expect("app"),
            JobName::parse(&format!("job{i}")).expect("name"),
            JobUrl::parse(&server.url(&format!("/job{i}"))).expect("url"),
            "0 2 * * *".parse().expect("schedule"),
        );
        spec.jitter = JITTER;
        spec.max_lateness = Duration::from_secs(60);
        let mut job = spec.build(slot - TimeDelta::minutes(30)).expect("job");
        job.id = fixed_id(&format!("late{i}"));
        if job.offset_of(slot) >= TimeDelta::minutes(2) {
            jobs.push(job);
        }
        if jobs.len() == 2 {
            break;
        }
    }
    // The first is ticked a minute after its due instant: called. The second 1m30s after it,
    // past its max lateness: missed, though the slot is only minutes old. Each is created
    // just before its tick, so that each tick judges one job.
    let (called, missed) = (&jobs[0], &jobs[1]);
    let called_at = slot + called.offset_of(slot) + TimeDelta::seconds(60);
    let missed_at = slot + missed.offset_of(slot) + TimeDelta::seconds(90);
    for (job, at) in [(called, called_at), (missed, missed_at)] {
        store.create_job(job).await.expect("create");
        let clock = FixedClock::new(at);
        tick(store.as_ref(), &dispatcher, &clock, &TickConfig::default())
            .await
            .expect("tick");
    }
    let history = store
        .list_executions(&called.id, 10)
        .await
        .expect("history");
    assert_eq!(history[0].status, Status::Succeeded, "{history:?}");
    assert_eq!(server.count(&format!("/{}", called.name)), 1);
    let history = store
        .list_executions(&missed.id, 10)
        .await
        .expect("history");
    assert_eq!(history[0].status, Status::Missed, "{history:?}");
    assert_eq!(server.count(&format!("/{}", missed.name)), 0);
    let error = history[0].error.clone().unwrap_or_default();
    assert!(
        error.starts_with(
            "not called: the slot was 90s late (from the slot plus its jitter offset of "
        ),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_job_forms_refuse_a_jitter_not_under_the_gap_by_its_field_and_write_nothing() {
    use crate::admin::{Admin, csrf_of, http, post_form, seed, sign_in, temp_dir};
    let dir = temp_dir("jitter-form");
    let seeded = seed(&dir).await;
    let ops = Ops::new(
        shared::ops::StoreSpec::from_setting(Some(&format!("sqlite:{}", seeded.db.display())))
            .expect("store spec"),
    );
    let admin = Admin::start(&seeded.db, &[]).await;
    let base = admin.base.clone();
    let http = http();
    let cookie = sign_in(&http, &base).await;
    let get = async |path: &str| {
        http.get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body")
    };
    let page = get("/apps/billing/new-job").await;
    assert!(page.contains("name=\"jitter\""), "the form has the field");
    let csrf = csrf_of(&page);
    let form = |jitter: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "often".to_owned()),
            ("url", "https://billing.example.edu/often".to_owned()),
            ("schedule", "*/5 * * * *".to_owned()),
            ("timezone", "Europe/Paris".to_owned()),
            ("jitter", jitter.to_owned()),
            ("action", "save".to_owned()),
        ]
    };
    let refused = post_form(&http, &base, &cookie, "/apps/billing/new-job", &form("10m")).await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.expect("body");
    assert!(
        body.contains("id=\"f-jitter-error\"")
            && body.contains("10m is not less than the schedule&#39;s smallest gap between two runs, 5m (over the next year, in Europe/Paris)"),
        "{body}"
    );
    let key = shared::ops::JobKey::parse("billing", "often").expect("key");
    assert!(ops.job(&key).await.is_err(), "nothing written");

    // Accepted under the gap; its page shows the jitter; then an edit to 10m is refused.
    let saved = post_form(&http, &base, &cookie, "/apps/billing/new-job", &form("4m")).await;
    assert_eq!(saved.status(), 303);
    let job = ops.job(&key).await.expect("created");
    assert_eq!(job.jitter_ms, 240_000);
    let page = get("/apps/billing/jobs/often").await;
    assert!(page.contains("Jitter"), "{page}");
    let edit = get("/apps/billing/jobs/often/edit").await;
    let mut pairs = vec![("csrf".to_owned(), csrf_of(&edit))];
    let shown = shared::ops::JobInput::of(&job);
    for f in shared::ops::FIELDS {
        let value = (f.form_value)(&shown).unwrap_or_default();
        pairs.push((format!("shown-{}", f.name), value.clone()));
        let typed = if f.name == "jitter" {
            "10m".to_owned()
        } else {
            value
        };
        pairs.push((f.name.to_owned(), typed));
    }
    let refused = post_form(
        &http,
        &base,
        &cookie,
        "/apps/billing/jobs/often/edit",
        &pairs,
    )
    .await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.expect("body");
    assert!(body.contains("smallest gap between two runs, 5m"), "{body}");
    assert_eq!(
        ops.job(&key).await.expect("job").jitter_ms,
        240_000,
        "unchanged"
    );
    admin.stop().await;
}
