//! Raising the due index's shard count while ticks run (issue 29, acceptance 2; docs/data-
//! model.md, "Shards of the due index"): 400 every-minute jobs of 20 apps, the count raised
//! from 1 to 4 between two ticks and from 4 to 8 while a tick's calls are in flight; every
//! slot called exactly once and none lost, on DynamoDB (moto) and on the memory store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::clock::FixedClock;
use shared::dispatch::HttpDispatcher;
use shared::model::{App, AppName, BaseUrl, Job, JobName, JobPath, JobUrl, NewJob};
use shared::protocol::{HEADER_EXECUTION, HEADER_SCHEDULED_FOR, format_slot};
use shared::store::dynamodb::DynamoStore;
use shared::store::layout::{Group, shard_of};
use shared::store::memory::MemoryStore;
use shared::store::{SHARDED_FORMAT, Store};
use shared::tick::{TickConfig, TickSummary, tick};

use crate::helpers::jobserver::{Behavior, JobServer};
use crate::helpers::moto;
use crate::world::{init_tracing, utc};

/// How many jobs, and over how many apps.
const JOBS: usize = 400;
const APPS: usize = 20;

/// The jobs: `* * * * *`, created half a minute before `start`, each calling its own path.
fn jobs(server: &JobServer, start: DateTime<Utc>) -> Vec<Job> {
    (0..JOBS)
        .map(|i| {
            NewJob::new(
                AppName::parse(&format!("app-{}", i % APPS)).expect("app"),
                JobName::parse(&format!("job-{i:03}")).expect("name"),
                JobUrl::parse(&server.url(&format!("/job-{i:03}"))).expect("url"),
                "* * * * *".parse().expect("schedule"),
            )
            .build(start - chrono::Duration::seconds(30))
            .expect("a job")
        })
        .collect()
}

/// Raises `store`'s due index to `shards`, writers switching at once (the CLI waits
/// `ops::SWITCH_AFTER`; here the harder case: writers move while ticks run).
async fn raise(store: &dyn Store, shards: u32) {
    let before = store.table_meta().await.expect("the layout");
    let mut after = before
        .raise(shards, Utc::now(), Utc::now())
        .expect("a raise");
    after.format = after.format.max(SHARDED_FORMAT);
    assert!(
        store
            .put_table_meta(&after, before.version)
            .await
            .expect("raise")
    );
}

/// A tick at `at`, `clock` (which a lagging store stamps its writes by) set to it.
async fn tick_at(
    store: &dyn Store,
    dispatcher: &HttpDispatcher,
    clock: &FixedClock,
    at: DateTime<Utc>,
) -> TickSummary {
    clock.set(at);
    tick(store, dispatcher, clock, &TickConfig::default())
        .await
        .unwrap_or_else(|e| panic!("the tick at {at}: {e:?}"))
}

/// The first minute of the scenario.
pub(crate) fn scenario_start() -> DateTime<Utc> {
    utc(2026, 6, 12, 9, 0)
}

/// The scenario, on `store` and `other` (a second handle on the same data: the raise's
/// writer, as an operator's CLI would be), the ticks' instants set on `clock` (at
/// [`scenario_start`] when called).
pub(crate) async fn four_hundred_jobs_while_shards_rise(
    store: Arc<dyn Store>,
    other: Arc<dyn Store>,
    clock: Arc<FixedClock>,
) {
    init_tracing();
    let start = scenario_start();
    let server = JobServer::start().await;
    let dispatcher = Arc::new(HttpDispatcher::new().expect("http client"));
    store
        .import_jobs(&jobs(&server, start))
        .await
        .expect("seed the jobs");
    let minute = move |n: i64| start + chrono::Duration::minutes(n);

    // 09:01 at one shard; then 4 shards before 09:02.
    let first = tick_at(store.as_ref(), &dispatcher, &clock, minute(1)).await;
    raise(other.as_ref(), 4).await;
    let second = tick_at(store.as_ref(), &dispatcher, &clock, minute(2)).await;

    // 09:03: every call takes a moment, and the count goes to 8 while they are in flight.
    for i in 0..JOBS {
        server.set(
            &format!("/job-{i:03}"),
            Behavior::Sleep(Duration::from_millis(150)),
        );
    }
    let running = {
        let (store, dispatcher, clock) = (store.clone(), dispatcher.clone(), clock.clone());
        tokio::spawn(async move { tick_at(store.as_ref(), &dispatcher, &clock, minute(3)).await })
    };
    let mut waited = 0;
    while server
        .requests()
        .iter()
        .filter(|r| is_slot(r, minute(3)))
        .count()
        < 20
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
        assert!(waited < 1500, "the 09:03 tick sent no calls in 30 s");
    }
    raise(other.as_ref(), 8).await;
    let in_flight = server
        .requests()
        .iter()
        .filter(|r| is_slot(r, minute(3)))
        .count();
    let third = running.await.expect("join");
    assert!(
        in_flight < JOBS,
        "the raise came while the 09:03 calls were still being sent ({in_flight} sent)"
    );
    // The same minute again (a duplicate invocation), then 09:04 at 8 shards.
    let again = tick_at(store.as_ref(), &dispatcher, &clock, minute(3)).await;
    let fourth = tick_at(store.as_ref(), &dispatcher, &clock, minute(4)).await;

    let n = u64::try_from(JOBS).expect("small");
    for (at, summary) in [(1, &first), (2, &second), (3, &third), (4, &fourth)] {
        assert_eq!(
            (summary.triggered, summary.succeeded, summary.errors),
            (n, n, 0),
            "09:0{at}: every job called once: {summary:?}"
        );
    }
    assert_eq!(
        again.triggered, 0,
        "the duplicate tick calls nothing: {again:?}"
    );

    // Each job called exactly once per slot, with one execution id per call.
    let mut calls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in server.requests() {
        calls.entry(r.path.clone()).or_default().push(
            r.header(HEADER_SCHEDULED_FOR)
                .expect("the slot header")
                .to_owned(),
        );
    }
    let slots: Vec<String> = (1..=4).map(|m| format_slot(minute(m))).collect();
    assert_eq!(calls.len(), JOBS, "every job called");
    for (path, mut got) in calls {
        got.sort();
        assert_eq!(got, slots, "{path}: each slot once");
    }
    let ids: std::collections::BTreeSet<String> = server
        .requests()
        .iter()
        .filter_map(|r| r.header(HEADER_EXECUTION).map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), JOBS * 4, "no execution called twice");
    let meta = store.table_meta().await.expect("layout");
    assert_eq!(
        (meta.shards, meta.format),
        (8, shared::store::NEW_TABLE_FORMAT)
    );
}

fn is_slot(r: &crate::helpers::jobserver::Recorded, slot: DateTime<Utc>) -> bool {
    r.header(HEADER_SCHEDULED_FOR) == Some(format_slot(slot).as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_hundred_jobs_called_once_while_shards_rise_from_1_to_4_and_to_8_in_flight_on_dynamodb()
 {
    let endpoint = moto::endpoint().await;
    let table = moto::unique_table_name();
    let config = moto::sdk_config(&endpoint).await;
    let store = shared::store::dynamodb::DynamoStore::new(&config, &table);
    store.create_table().await.expect("create the table");
    let other = shared::store::dynamodb::DynamoStore::new(&config, &table);
    let clock = Arc::new(FixedClock::new(scenario_start()));
    four_hundred_jobs_while_shards_rise(Arc::new(store), Arc::new(other), clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_hundred_jobs_called_once_while_shards_rise_from_1_to_4_and_to_8_in_flight_in_memory()
{
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(FixedClock::new(scenario_start()));
    four_hundred_jobs_while_shards_rise(store.clone(), store, clock).await;
}

/// `psu-sched table` as an operator uses it: the layout shown, a raise explained, bad counts
/// refused in one line naming the field, and nothing written by a refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_commands_show_raise_and_refuse_in_one_line() {
    let cli = crate::cli::Cli::new().await;
    let show = cli.run(&["table", "show", "--json"]).await.ok().json();
    assert_eq!(show["format"], 3, "a table made by init");
    assert_eq!(show["shards"], 1);
    assert_eq!(show.get("shards_from"), None);

    for (set, says) in [
        (
            "0",
            "shards: `0` is not accepted; use a whole number from 1 to 1024",
        ),
        (
            "4x",
            "shards: `4x` is not accepted; use a whole number from 1 to 1024",
        ),
        (
            "2000",
            "shards: `2000` is not accepted; use a whole number from 1 to 1024",
        ),
    ] {
        let run = cli.run(&["table", "shards", "--set", set]).await;
        assert_eq!(run.code, 2, "{set}: {run:?}");
        assert_eq!(run.stderr.trim(), format!("psu-sched: {says}"), "{set}");
    }

    // One-way: off a terminal it needs --yes, and without it writes nothing.
    let unasked = cli.run(&["table", "shards", "--set", "4"]).await;
    assert_eq!(unasked.code, 2, "{unasked:?}");
    assert_eq!(
        unasked.stderr.trim(),
        "psu-sched: table shards: raising the shards cannot be undone and makes the table at least format 2, which older functions and CLIs refuse; not a terminal, so not asking; nothing was written. Pass --yes to raise them"
    );
    assert_eq!(
        cli.run(&["table", "show", "--json"]).await.ok().json()["shards"],
        1
    );
    let raised = cli
        .run(&["table", "shards", "--set", "4", "--yes"])
        .await
        .ok();
    assert!(
        raised
            .stdout
            .starts_with("raised the due index from 1 to 4 shards: ticks read all 4 now; writers use them from 20"),
        "{raised:?}"
    );
    let show = cli.run(&["table", "show", "--json"]).await.ok().json();
    assert_eq!(
        (&show["format"], &show["shards"], &show["shards_before"]),
        (
            &serde_json::json!(3),
            &serde_json::json!(4),
            &serde_json::json!(1)
        )
    );
    let from = chrono::DateTime::parse_from_rfc3339(show["shards_from"].as_str().expect("from"))
        .expect("RFC 3339");
    let wait = from.with_timezone(&Utc) - Utc::now();
    assert!(
        wait > chrono::Duration::seconds(100) && wait <= chrono::Duration::minutes(2),
        "writers switch about 2 minutes later: {wait}"
    );

    let lower = cli.run(&["table", "shards", "--set", "2"]).await;
    assert_eq!(lower.code, 2, "{lower:?}");
    assert_eq!(
        lower.stderr.trim(),
        "psu-sched: shards: the due index has 4 shards; the count never goes down (asked: 2)"
    );
    let same = cli.run(&["table", "shards", "--set", "4"]).await.ok();
    assert_eq!(
        same.stdout.trim(),
        "the due index already has 4 shards; nothing changed"
    );
    assert_eq!(
        cli.run(&["table", "show", "--json"]).await.ok().json(),
        show,
        "refusals and a repeat write nothing"
    );

    let reshard = cli.run(&["table", "reshard"]).await.ok();
    assert!(
        reshard
            .stdout
            .contains("moved 0 items to their app's shard of 1")
            && reshard.stdout.contains("writers use 4 shards only from")
            && reshard.stdout.contains("run it again after that instant"),
        "{reshard:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_refuses_more_shards_in_one_line() {
    let cli = crate::cli::Cli::new().await;
    let dir = crate::helpers::tempdb::temp_db_path();
    let store = format!("sqlite:{}", dir.display());
    let env = [("PSU_SCHED_STORE", store.as_str())];
    cli.run_with(&["init"], &env).await.ok();
    let run = cli.run_with(&["table", "shards", "--set", "2"], &env).await;
    assert_ne!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.contains("one due-index shard"), "{run:?}");
    let show = cli
        .run_with(&["table", "show", "--json"], &env)
        .await
        .ok()
        .json();
    assert_eq!(show["shards"], 1);
}

/// Issue 29, acceptance 3: at 4 shards, the four group invocations of one minute and a
/// duplicate of one of them, released together: each due slot is called exactly once, the
/// duplicate finds its shard leased and leaves it, and no app (budget 4) ever has more than 4
/// calls in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_group_invocations_and_a_duplicate_call_each_slot_once_within_each_apps_budget() {
    init_tracing();
    let start = utc(2026, 6, 13, 9, 0);
    let endpoint = moto::endpoint().await;
    let table = moto::unique_table_name();
    let sdk = moto::sdk_config(&endpoint).await;
    let store = shared::store::dynamodb::DynamoStore::new(&sdk, &table);
    store.create_table().await.expect("create the table");
    raise(&store, 4).await;
    let server = JobServer::start().await;
    // Two apps in each shard, 10 jobs each by path, every call 600 ms: without the leases,
    // group 2's two invocations would have up to 8 calls of one app in flight.
    let mut apps = Vec::new();
    for shard in 0..4 {
        let mut found = (0..1000)
            .map(|i| format!("app-{i}"))
            .filter(|name| shard_of(&AppName::parse(name).expect("app"), 4) == shard);
        apps.push(found.next().expect("an app"));
        apps.push(found.next().expect("another app"));
    }
    let mut jobs = Vec::new();
    for app in &apps {
        let record = App::new(
            AppName::parse(app).expect("app"),
            BaseUrl::parse(&server.url("")).expect("base URL"),
            4,
            start - chrono::Duration::minutes(5),
        )
        .expect("an app record");
        store.create_app(&record).await.expect("create the app");
        for j in 0..10 {
            let path = format!("/{app}/job-{j}");
            server.set(&path, Behavior::Sleep(Duration::from_millis(600)));
            let mut spec = NewJob::new(
                AppName::parse(app).expect("app"),
                JobName::parse(&format!("job-{j}")).expect("name"),
                JobUrl::parse(&server.url("/stale")).expect("url"),
                "* * * * *".parse().expect("schedule"),
            );
            spec.path = Some(JobPath::parse(&path).expect("path"));
            let job = spec
                .build(start - chrono::Duration::seconds(30))
                .expect("a job");
            store.create_job(&job).await.expect("create the job");
            jobs.push(path);
        }
    }

    let dispatcher = Arc::new(HttpDispatcher::new().expect("http client"));
    let duplicate = Group::new(2, 4).expect("a group");
    let invocations: Vec<Group> = (0..4)
        .map(|g| Group::new(g, 4).expect("a group"))
        .chain([duplicate])
        .collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(invocations.len()));
    let mut handles = Vec::new();
    for group in invocations {
        let store = shared::store::dynamodb::DynamoStore::new(&sdk, &table);
        let (dispatcher, barrier) = (dispatcher.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            let config = TickConfig {
                group,
                lease_shards: true,
                ..TickConfig::default()
            };
            barrier.wait().await;
            let summary = tick(
                &store,
                dispatcher.as_ref(),
                &FixedClock::new(start),
                &config,
            )
            .await
            .expect("the tick");
            (group, summary)
        }));
    }
    let mut summaries = Vec::new();
    for handle in handles {
        summaries.push(handle.await.expect("join"));
    }

    let triggered: u64 = summaries.iter().map(|(_, s)| s.triggered).sum();
    assert_eq!(triggered, 80, "{summaries:#?}");
    for (group, summary) in &summaries {
        if *group != duplicate {
            assert_eq!(
                summary.triggered, 20,
                "group {group}: its two apps' ten jobs"
            );
        }
    }
    let of_group_2: Vec<&TickSummary> = summaries
        .iter()
        .filter(|(g, _)| *g == duplicate)
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        (
            of_group_2.iter().map(|s| s.triggered).sum::<u64>(),
            of_group_2.iter().map(|s| s.busy_shards).sum::<u64>()
        ),
        (20, 1),
        "one of group 2's two invocations worked its shard, the other left it: {of_group_2:#?}"
    );
    for path in &jobs {
        let slots: Vec<String> = server
            .requests_to(path)
            .iter()
            .filter_map(|r| r.header(HEADER_SCHEDULED_FOR).map(str::to_owned))
            .collect();
        assert_eq!(slots, [format_slot(start)], "{path}: its slot once");
    }
    for app in &apps {
        let most = server.max_in_flight_under(app);
        assert!(
            (1..=4).contains(&most),
            "{app}: at most its budget of 4 calls at once, saw {most}"
        );
    }
}

/// The review's findings on the `table` commands (each a defect the test failed on first):
/// JSON where JSON was asked, a reshard before the switch saying it is not complete, the
/// layout shown as it is now, a negative count refused in one line, SQLite's refusal an input
/// error (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_commands_answer_json_when_asked_and_say_what_is_not_done_yet() {
    let cli = crate::cli::Cli::new().await;
    let raised = cli
        .run(&["table", "shards", "--set", "4", "--json", "--yes"])
        .await
        .ok()
        .json();
    assert_eq!(raised["changed"], true, "{raised}");
    assert_eq!(raised["table"]["shards"], 4, "{raised}");
    let again = cli
        .run(&["table", "shards", "--set", "4", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(again["changed"], false, "{again}");

    let reshard = cli.run(&["table", "reshard", "--json"]).await.ok().json();
    assert_eq!(reshard["complete"], false, "before the switch: {reshard}");
    assert!(reshard["writers_from"].is_string(), "{reshard}");

    // A table made by the template (no `META` item: format 1; both due indexes): the upgrade
    // asks, raises it once, switches the ticks to `due-keys`, and then has nothing one-way
    // left to ask about.
    let old = crate::cli::Cli::new().await;
    moto::add_due_index(&moto::client(&old.endpoint).await, &old.table, "due").await;
    moto::client(&old.endpoint)
        .await
        .delete_item()
        .table_name(&old.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("META".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("FORMAT".into()),
        )
        .send()
        .await
        .expect("delete the format marker");
    let unasked = old.run(&["table", "upgrade"]).await;
    assert_eq!(unasked.code, 2, "{unasked:?}");
    assert!(
        unasked.stderr.contains("Pass --yes to upgrade it"),
        "{unasked:?}"
    );
    let upgraded = old
        .run(&["table", "upgrade", "--json", "--yes"])
        .await
        .ok()
        .json();
    assert_eq!(upgraded["upgraded"], true, "{upgraded}");
    assert_eq!(upgraded["table"]["format"], 3, "{upgraded}");
    assert_eq!(upgraded["table"]["due_index"], "due-keys", "{upgraded}");
    assert_eq!(
        (
            &upgraded["due_index"]["state"],
            &upgraded["due_index"]["switched"]
        ),
        (&serde_json::json!("keys"), &serde_json::json!(true)),
        "{upgraded}"
    );
    let again = old.run(&["table", "upgrade"]).await.ok();
    assert!(
        again.stdout.contains("format 3 already")
            && again
                .stdout
                .contains("ticks read the due index `due-keys` (keys only) already"),
        "re-run: no question, and it says so: {again:?}"
    );
    let again = old.run(&["table", "upgrade", "--json"]).await.ok().json();
    assert_eq!(again["upgraded"], false, "{again}");
    let negative = cli.run(&["table", "shards", "--set", "-1"]).await;
    assert_eq!(negative.code, 2, "{negative:?}");
    assert_eq!(
        negative.stderr.trim(),
        "psu-sched: shards: `-1` is not accepted; use a whole number from 1 to 1024"
    );
    let group = cli.run(&["tick", "--dry-run", "--group", "-1/2"]).await;
    assert_eq!(group.code, 2, "{group:?}");
    assert_eq!(group.stderr.lines().count(), 1, "{group:?}");

    let dir = crate::helpers::tempdb::temp_db_path();
    let store = format!("sqlite:{}", dir.display());
    let env = [("PSU_SCHED_STORE", store.as_str())];
    cli.run_with(&["init"], &env).await.ok();
    let upgrade = cli
        .run_with(&["table", "upgrade", "--json"], &env)
        .await
        .ok()
        .json();
    assert_eq!(upgrade["upgraded"], false, "{upgrade}");
    let refused = cli.run_with(&["table", "shards", "--set", "2"], &env).await;
    assert_eq!(
        refused.code, 2,
        "an input refusal, nothing written: {refused:?}"
    );
    let serve = cli.run_with(&["serve", "--group", "1/2"], &env).await;
    assert_eq!(serve.code, 2, "{serve:?}");
    assert!(
        serve.stderr.contains("group") && serve.stderr.contains("one shard"),
        "a SQLite store's one shard belongs to group 0/1: {serve:?}"
    );
}

/// Two `serve` processes on one DynamoDB table, one per group of two (`--group 0/2` and
/// `--group 1/2`; docs/cli.md): each calls the jobs of its group's shard, and every slot is
/// called once. Real minutes: the first slot comes within a minute of the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_one_per_group_share_one_table_and_call_each_slot_once() {
    let cli = crate::cli::Cli::new().await;
    let server = JobServer::start().await;
    // Two shards, writers switching at once (the CLI would wait two minutes).
    let store = DynamoStore::new(&moto::sdk_config(&cli.endpoint).await, &cli.table);
    raise(&store, 2).await;
    let apps: Vec<String> = (0..2).map(|k| app_in_shard(k, 2)).collect();
    for app in &apps {
        cli.run(&["app", "create", "--app", app, "--base-url", &server.url("")])
            .await
            .ok();
        cli.run(&[
            "create",
            "--app",
            app,
            "--name",
            "every-minute",
            "--path",
            &format!("/{app}"),
            "--cron",
            "* * * * *",
        ])
        .await
        .ok();
    }
    let secret = [("PSU_SCHED_SIGNING_SECRET", "two-serves-secret")];
    let serves: Vec<_> = ["0/2", "1/2"]
        .iter()
        .map(|group| cli.spawn(&["serve", "--group", group, "--json"], &secret))
        .collect();

    // Each app's first slot after the start (at most ~60 s away), then one more second for a
    // second call of it, if any, to arrive.
    let mut slots = Vec::new();
    for app in &apps {
        let calls = server
            .wait_for(&format!("/{app}"), 1, Duration::from_secs(80))
            .await;
        assert_eq!(calls.len(), 1, "{app} was called");
        slots.push(
            calls[0]
                .header(HEADER_SCHEDULED_FOR)
                .expect("the slot header")
                .to_owned(),
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut lines = Vec::new();
    for serve in serves {
        // SIGTERM: serve finishes its minute and exits 0 (docs/cli.md).
        let pid = serve.id().expect("pid").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let out = tokio::time::timeout(Duration::from_secs(40), serve.wait_with_output())
            .await
            .expect("serve stops")
            .expect("serve's output");
        assert!(out.status.success(), "{out:?}");
        lines.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    // Each slot once, whatever the two processes did.
    for (app, slot) in apps.iter().zip(&slots) {
        let seen: Vec<String> = server
            .requests()
            .iter()
            .filter(|r| r.path == format!("/{app}"))
            .filter_map(|r| r.header(HEADER_SCHEDULED_FOR).map(str::to_owned))
            .collect();
        assert_eq!(
            seen.iter().filter(|s| *s == slot).count(),
            1,
            "{app}: {seen:?}"
        );
    }
    // And each process called only its own group's app.
    for (k, out) in lines.iter().enumerate() {
        // `serve --json`: one summary object per line (docs/cli.md).
        let called: Vec<String> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .unwrap_or_else(|e| panic!("not a JSON object on one line ({e}): {l}"))
            })
            .filter_map(|v| v.get("apps").and_then(|a| a.as_object()).cloned())
            .flat_map(|a| a.keys().cloned().collect::<Vec<_>>())
            .collect();
        assert!(
            !called.is_empty() && called.iter().all(|a| *a == apps[k]),
            "group {k}/2 called {called:?} (its app: {}): {out}",
            apps[k]
        );
    }
}

/// An app name whose shard of `of` is `k`.
fn app_in_shard(k: u32, of: u32) -> String {
    (0..1000)
        .map(|i| format!("app-{i}"))
        .find(|name| shard_of(&AppName::parse(name).expect("app"), of) == k)
        .expect("an app in every shard")
}
