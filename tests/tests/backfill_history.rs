//! Backfill against a job's own past (issue 32): the slots of a pause of the job that has
//! ended are paused, not an outage's; slots from before a schedule change follow the
//! schedule of the time; a window's start is exact to the sub-second. Through the operations
//! layer on SQLite and on moto, with a real job server and a fixed clock.

use chrono::{DateTime, Duration, Utc};
use shared::clock::FixedClock;
use shared::ops::{AppInput, Backfill, BackfillInput, JobInput, JobKey, Ops, ScheduleForm, TickAt};
use shared::tick::backfill::{Called, Verdict};
use shared::tick::{NowUse, TickConfig};

use crate::helpers::jobserver::{Behavior, JobServer};
use crate::helpers::tempdb;
use crate::ops::{dispatcher, dynamodb, noon, sqlite};

fn at(minutes: i64) -> DateTime<Utc> {
    noon() + Duration::minutes(minutes)
}

fn every(minutes: &str) -> ScheduleForm {
    ScheduleForm {
        every: Some(minutes.into()),
        ..Default::default()
    }
}

/// A job `web/sync` every 10 minutes, created at noon.
async fn every_10m(ops: &Ops, server: &JobServer) -> JobKey {
    let key = JobKey::parse("web", "sync").expect("key");
    let input = JobInput {
        url: Some(server.url("/sync")),
        schedule: every("10m"),
        ..Default::default()
    };
    ops.create(&key, &input, noon()).await.expect("create");
    key
}

async fn tick(ops: &Ops, now: DateTime<Utc>) {
    let at = TickAt::parse(None, None, NowUse::Write, now).expect("at");
    ops.tick(
        at,
        &dispatcher(),
        &FixedClock::new(now),
        &TickConfig::default(),
    )
    .await
    .expect("tick");
}

async fn backfill(
    ops: &Ops,
    key: &JobKey,
    (from, to): (&str, &str),
    now: DateTime<Utc>,
    mode: NowUse,
) -> Backfill {
    let input = BackfillInput {
        from: from.to_owned(),
        to: to.to_owned(),
        ..BackfillInput::default()
    };
    let at = TickAt::parse(None, None, mode, now).expect("at");
    ops.backfill(
        key,
        &input,
        at,
        &dispatcher(),
        &FixedClock::new(now),
        &TickConfig::default(),
    )
    .await
    .expect("backfill")
}

/// Each slot of the plan as `(minutes after noon, verdict)`.
fn verdicts(done: &Backfill) -> Vec<(i64, &'static str)> {
    done.plans
        .iter()
        .map(|p| ((p.slot - noon()).num_minutes(), p.verdict.as_str()))
        .collect()
}

/// The job is paused from 12:15 to 12:45, then the scheduler is down for 13:00 and 13:10: a
/// backfill calls the outage's two slots and leaves the pause's three (they were paused when
/// the backfill ran: it was listing them `call`). A window starting half a second after a
/// slot leaves that slot out.
async fn a_backfill_tells_a_past_pause_of_the_job_from_an_outage(ops: Ops) {
    let server = JobServer::start().await;
    let key = every_10m(&ops, &server).await;
    tick(&ops, at(10)).await;
    ops.pause(&key, Some("maintenance"), at(15))
        .await
        .expect("pause");
    for m in [20, 30, 40] {
        tick(&ops, at(m)).await;
    }
    ops.resume(&key, at(45)).await.expect("resume");
    tick(&ops, at(50)).await;
    tick(&ops, at(80)).await;
    assert_eq!(server.count("/sync"), 3, "12:10, 12:50 and 13:20");

    let window = ("2026-11-26T12:05:00Z", "2026-11-26T13:20:00Z");
    let plan = backfill(&ops, &key, window, at(85), NowUse::DryRun).await;
    assert_eq!(
        verdicts(&plan),
        vec![
            (10, "succeeded"),
            (20, "paused"),
            (30, "paused"),
            (40, "paused"),
            (50, "succeeded"),
            (60, "call"),
            (70, "call"),
            (80, "succeeded"),
        ]
    );
    let run = backfill(&ops, &key, window, at(85), NowUse::Write).await;
    let ran: Vec<i64> = run
        .called
        .iter()
        .filter(|(_, c)| matches!(c, Called::Ran(_)))
        .map(|(slot, _)| (*slot - noon()).num_minutes())
        .collect();
    assert_eq!(ran, vec![60, 70]);
    assert_eq!(
        server.count("/sync"),
        5,
        "each outage slot once, no paused one"
    );

    let from_half_past = ("2026-11-26T12:10:00.5Z", "2026-11-26T12:30:00Z");
    let plan = backfill(&ops, &key, from_half_past, at(85), NowUse::DryRun).await;
    assert_eq!(
        verdicts(&plan),
        vec![(20, "paused"), (30, "paused")],
        "12:10 is before a window from 12:10:00.5"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_tells_a_past_pause_of_the_job_from_an_outage_on_sqlite() {
    a_backfill_tells_a_past_pause_of_the_job_from_an_outage(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_tells_a_past_pause_of_the_job_from_an_outage_on_dynamodb() {
    a_backfill_tells_a_past_pause_of_the_job_from_an_outage(dynamodb().await).await;
}

/// Every 10 minutes until 12:25, failing at 12:10 and 12:20; then every 15 minutes, with
/// the scheduler down at 13:00. A backfill calls the two failed slots of the earlier
/// schedule and the outage's 13:00, and lists no 12:15 (never a slot: the schedule then ran
/// every 10 minutes); it was listing 12:15 as `call` and passing over 12:10 and 12:20.
async fn a_backfill_follows_the_schedule_each_slot_had(ops: Ops) {
    let server = JobServer::start().await;
    let key = every_10m(&ops, &server).await;
    server.set("/sync", Behavior::Status(500));
    tick(&ops, at(10)).await;
    tick(&ops, at(20)).await;
    server.set("/sync", Behavior::Ok("done".into()));
    let every_15m = JobInput {
        schedule: every("15m"),
        ..Default::default()
    };
    ops.update(&key, &every_15m, at(25)).await.expect("update");
    tick(&ops, at(30)).await;
    tick(&ops, at(45)).await;
    tick(&ops, at(75)).await;
    assert_eq!(
        server.count("/sync"),
        5,
        "12:10, 12:20, 12:30, 12:45, 13:15"
    );

    let window = ("2026-11-26T12:05:00Z", "2026-11-26T13:15:00Z");
    let plan = backfill(&ops, &key, window, at(80), NowUse::DryRun).await;
    assert_eq!(
        verdicts(&plan),
        vec![
            (10, "call"),
            (20, "call"),
            (30, "succeeded"),
            (45, "succeeded"),
            (60, "call"),
            (75, "succeeded"),
        ]
    );
    assert_eq!(plan.timing_changed, Some(at(25)), "the plan says so");
    assert!(
        plan.notes()
            .iter()
            .any(|n| n.contains("changed at 2026-11-26T12:25:00Z")),
        "{plan:?}"
    );
    assert!(
        plan.plans
            .iter()
            .filter(|p| matches!(p.verdict, Verdict::Call { .. }))
            .all(|p| p.slot != at(15)),
        "{plan:?}"
    );
    let run = backfill(&ops, &key, window, at(80), NowUse::Write).await;
    let ran: Vec<(i64, u32)> = run
        .called
        .iter()
        .filter_map(|(slot, c)| match c {
            Called::Ran(e) => Some(((*slot - noon()).num_minutes(), e.attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(ran, vec![(10, 2), (20, 2), (60, 1)]);
    assert_eq!(server.count("/sync"), 8);
    // A window wholly before the change says so too (it said nothing).
    let before = ("2026-11-26T12:05:00Z", "2026-11-26T12:20:00Z");
    let plan = backfill(&ops, &key, before, at(80), NowUse::DryRun).await;
    assert_eq!(plan.timing_changed, Some(at(25)), "{plan:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_follows_the_schedule_each_slot_had_on_sqlite() {
    a_backfill_follows_the_schedule_each_slot_had(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_follows_the_schedule_each_slot_had_on_dynamodb() {
    a_backfill_follows_the_schedule_each_slot_had(dynamodb().await).await;
}

/// The app `web` of `every_10m`'s job, on `server`.
async fn web_app(ops: &Ops, server: &JobServer) {
    let input = AppInput {
        base_url: Some(server.url("").trim_end_matches('/').to_owned()),
        ..AppInput::default()
    };
    ops.create_app("web", &input, noon()).await.expect("app");
}

/// The app is paused from 12:15 to 12:45 and the one tick meanwhile (12:40) coalesces 12:20
/// and 12:30 into its skipped 12:40: a backfill lists all three paused (review of issue 32:
/// the two never recorded were called). Paused again from 13:05, a failed 13:00 is listed
/// `app_paused` (the plan said `call` while the run left it), and 13:10 and 13:20 paused.
async fn a_backfill_knows_an_app_pause_by_the_app_not_only_by_skipped_records(ops: Ops) {
    let server = JobServer::start().await;
    web_app(&ops, &server).await;
    let key = every_10m(&ops, &server).await;
    tick(&ops, at(10)).await;
    ops.pause_app("web", "migration", at(15))
        .await
        .expect("pause");
    tick(&ops, at(40)).await;
    ops.resume_app("web", at(45)).await.expect("resume");
    tick(&ops, at(50)).await;
    server.set("/sync", Behavior::Status(500));
    tick(&ops, at(60)).await;
    assert_eq!(server.count("/sync"), 3, "12:10, 12:50, 13:00");
    ops.pause_app("web", "again", at(65)).await.expect("pause");

    let window = ("2026-11-26T12:05:00Z", "2026-11-26T13:20:00Z");
    let plan = backfill(&ops, &key, window, at(85), NowUse::DryRun).await;
    assert_eq!(
        verdicts(&plan),
        vec![
            (10, "succeeded"),
            (20, "paused"),
            (30, "paused"),
            (40, "paused"),
            (50, "succeeded"),
            (60, "app_paused"),
            (70, "paused"),
            (80, "paused"),
        ]
    );
    assert!(
        plan.plans[5].reason().contains("the app is paused"),
        "{plan:?}"
    );
    let run = backfill(&ops, &key, window, at(85), NowUse::Write).await;
    assert!(
        run.called.iter().all(|(_, c)| matches!(c, Called::Left(_))),
        "{run:?}"
    );
    assert_eq!(server.count("/sync"), 3, "nothing called");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_knows_an_app_pause_by_the_app_on_sqlite() {
    a_backfill_knows_an_app_pause_by_the_app_not_only_by_skipped_records(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_knows_an_app_pause_by_the_app_on_dynamodb() {
    a_backfill_knows_an_app_pause_by_the_app_not_only_by_skipped_records(dynamodb().await).await;
}

/// A local `--from`/`--to` is read in the job's zone unless `--tz` is typed: `PSU_SCHED_TZ`
/// (the zone times are shown in) does not move the window (review of issue 32: it did). An
/// ambiguous local `--to` (clocks falling back) is its later instant, `--from` its earlier
/// one: the window covers both readings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_window_is_read_in_the_jobs_zone_unless_tz_is_typed_and_covers_both_readings_of_a_repeated_hour()
 {
    let cli = crate::cli::Cli::new().await;
    let db = tempdb::TempDb::new();
    let store = format!("sqlite:{}", db.0.display());
    let env = [("PSU_SCHED_STORE", store.as_str())];
    cli.run_with(&["init"], &env).await.ok();
    let server = JobServer::start().await;
    let url = server.url("/sync");
    cli.run_with(
        &[
            "--app",
            "web",
            "create",
            "--name",
            "sync",
            "--url",
            &url,
            "--every",
            "10m",
            "--tz",
            "America/New_York",
        ],
        &env,
    )
    .await
    .ok();
    let plan = |env: Vec<(&'static str, String)>, extra: &'static [&'static str]| {
        let cli = &cli;
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut args = vec!["--app", "web"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&[
                "backfill",
                "--name",
                "sync",
                "--from",
                "2026-11-01 01:30",
                "--to",
                "2026-11-01 01:30",
                "--now",
                "2026-11-01T12:00:00Z",
                "--dry-run",
                "--json",
            ]);
            cli.run_with(&args, &env).await.ok().json()
        }
    };
    let in_job_zone = plan(
        vec![
            ("PSU_SCHED_STORE", store.clone()),
            ("PSU_SCHED_TZ", "Asia/Tokyo".to_owned()),
        ],
        &[],
    )
    .await;
    assert_eq!(
        (&in_job_zone["from"], &in_job_zone["to"]),
        (
            &serde_json::Value::from("2026-11-01T05:30:00Z"),
            &serde_json::Value::from("2026-11-01T06:30:00Z")
        ),
        "{in_job_zone}"
    );
    let typed = plan(
        vec![("PSU_SCHED_STORE", store.clone())],
        &["--tz", "Asia/Tokyo"],
    )
    .await;
    assert_eq!(typed["from"], "2026-10-31T16:30:00Z", "{typed}");
}
