//! Backfill (issue 32): `psu-sched backfill` calls the slots of a past window that have no
//! successful run, once each, as the slot's next scheduled attempt, and leaves the live
//! schedule alone; on SQLite and on moto, through the real binary, with a real job server
//! and a simulated clock.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::Value;

use crate::cli::{Cli, Run};
use crate::helpers::jobserver::{Behavior, JobServer};
use crate::helpers::tempdb::temp_db_path;

/// One store under test: the CLI and the environment that points it at the store.
struct On {
    cli: Cli,
    env: Vec<(String, String)>,
}

impl On {
    async fn moto() -> On {
        On {
            cli: Cli::new().await,
            env: Vec::new(),
        }
    }

    async fn sqlite() -> On {
        let cli = Cli::new().await;
        let path = temp_db_path();
        let on = On {
            cli,
            env: vec![(
                "PSU_SCHED_STORE".to_owned(),
                format!("sqlite:{}", path.display()),
            )],
        };
        on.run(&["init"]).await.ok();
        on
    }

    async fn run(&self, args: &[&str]) -> Run {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.cli.run_with(args, &env).await
    }

    async fn tick(&self, at: DateTime<Utc>) {
        let at = text(at);
        self.run(&["tick", "--now", &at, "--simulate"]).await.ok();
    }

    async fn backfill(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        extra: &[&str],
    ) -> Run {
        let (from, to, now) = (text(from), text(to), text(now));
        let mut args = vec![
            "--app", "shop", "backfill", "--name", "sweep", "--from", &from, "--to", &to, "--now",
            &now, "--json",
        ];
        args.extend_from_slice(extra);
        self.run(&args).await
    }
}

fn text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

/// The slot of each request the server received (from the execution id header), and the
/// attempt: `(slot part, attempt part)`.
fn called(server: &JobServer) -> Vec<(String, String)> {
    server
        .requests_to("/sweep")
        .iter()
        .map(|r| {
            let id = r.header("x-psu-sched-execution").expect("an execution id");
            let mut parts = id.split('.');
            let _job = parts.next();
            (
                parts.next().expect("slot").to_owned(),
                parts.next().expect("attempt").to_owned(),
            )
        })
        .collect()
}

fn slot_part(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The slots a plan or a run lists with `verdict` (`call`) or `result` (`ran`).
fn slots_where(answer: &Value, field: &str, value: &str) -> BTreeSet<String> {
    answer["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter(|s| s[field] == value)
        .map(|s| s["slot"].as_str().expect("slot").to_owned())
        .collect()
}

/// Acceptance: a job every 10 minutes, a 2-hour outage of the scheduler, then its server
/// answering 500 for half an hour; backfill calls every slot of the window without a
/// success exactly once (the dry run plans the same slots), and a second backfill calls
/// nothing.
async fn backfill_after_an_outage_and_failures(on: On) {
    let server = JobServer::start().await;
    let url = server.url("/sweep");
    on.run(&[
        "--app",
        "shop",
        "create",
        "--name",
        "sweep",
        "--url",
        &url,
        "--every",
        "10m",
        "--retries",
        "0",
        "--tz",
        "UTC",
    ])
    .await
    .ok();
    // A day ahead of the clock, so that every slot comes after the job's creation and the
    // history is inside its retention by the wall clock too (SQLite purges by it).
    let base = (Utc::now() + Duration::days(1))
        .duration_trunc(Duration::hours(1))
        .expect("an hour");
    on.tick(base).await;
    on.tick(base + minutes(10)).await;
    // The scheduler is down from +20 to +130 (12 slots never claimed); then the app fails.
    server.set("/sweep", Behavior::Status(500));
    for m in [140, 150, 160, 170] {
        on.tick(base + minutes(m)).await;
    }
    server.set("/sweep", Behavior::Ok("done".into()));
    on.tick(base + minutes(180)).await;
    let live = called(&server);
    assert_eq!(live.len(), 7, "the live schedule's calls: {live:?}");

    let (from, to, now) = (base, base + minutes(180), base + minutes(185));
    let plan = on.backfill(from, to, now, &["--dry-run"]).await.ok().json();
    let planned = slots_where(&plan, "verdict", "call");
    let expected: BTreeSet<String> = (2..=17).map(|i| text(base + minutes(10 * i))).collect();
    assert_eq!(planned, expected, "the slots +20 to +170: {plan}");
    assert_eq!(plan["calls"], 16, "{plan}");
    assert_eq!(called(&server).len(), 7, "a dry run calls nothing");

    let run = on
        .backfill(from, to, now, &["--simulate"])
        .await
        .ok()
        .json();
    assert_eq!(slots_where(&run, "result", "ran"), expected, "{run}");
    let calls = called(&server);
    let backfilled: Vec<&(String, String)> = calls[7..].iter().collect();
    assert_eq!(backfilled.len(), 16, "each slot once: {backfilled:?}");
    let slots: BTreeSet<String> = backfilled.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(
        slots,
        (2..=17)
            .map(|i| slot_part(base + minutes(10 * i)))
            .collect::<BTreeSet<_>>()
    );
    // Never claimed: attempt 1; failed: attempt 2 (the execution id format is unchanged).
    for (slot, attempt) in &backfilled {
        let failed_live = (14..=17).any(|i| *slot == slot_part(base + minutes(10 * i)));
        assert_eq!(attempt, if failed_live { "s2" } else { "s1" }, "{slot}");
    }
    // History says `backfill`; the live schedule is untouched: its last run is the live one.
    let history = on
        .run(&[
            "--app", "shop", "history", "--name", "sweep", "--limit", "50", "--json",
        ])
        .await
        .ok()
        .json();
    let triggers: Vec<&str> = history
        .as_array()
        .expect("executions")
        .iter()
        .filter_map(|e| e["trigger"].as_str())
        .collect();
    assert_eq!(
        triggers.iter().filter(|t| **t == "backfill").count(),
        16,
        "{triggers:?}"
    );
    let show = on
        .run(&["--app", "shop", "show", "--name", "sweep", "--json"])
        .await
        .ok()
        .json();
    let last: DateTime<Utc> = show["last_run_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("a last run");
    assert!(
        last >= base + minutes(180) && last < now,
        "the live schedule's last run stays the live one (+180), not a backfilled call: {show}"
    );
    assert_eq!(show["last_status"], "succeeded", "{show}");

    let again = on
        .backfill(from, to, now + minutes(1), &["--simulate"])
        .await
        .ok()
        .json();
    assert_eq!(again["calls"], 0, "{again}");
    assert_eq!(
        called(&server).len(),
        7 + 16,
        "nothing called the second time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_calls_each_slot_without_a_success_once_on_sqlite() {
    backfill_after_an_outage_and_failures(On::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_calls_each_slot_without_a_success_once_on_dynamodb() {
    backfill_after_an_outage_and_failures(On::moto().await).await;
}

/// Slots skipped while the app was paused are left by a backfill unless it is asked to
/// include them (`--include-paused`), and then called once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_skipped_while_the_app_was_paused_are_backfilled_only_with_the_flag() {
    let on = On::sqlite().await;
    let server = JobServer::start().await;
    let base_url = server.url("");
    on.run(&["--app", "shop", "app", "create", "--base-url", &base_url])
        .await
        .ok();
    let url = server.url("/sweep");
    on.run(&[
        "--app", "shop", "create", "--name", "sweep", "--url", &url, "--every", "10m",
    ])
    .await
    .ok();
    let base = (Utc::now() + Duration::days(1))
        .duration_trunc(Duration::hours(1))
        .expect("an hour");
    on.tick(base).await;
    on.run(&["--app", "shop", "app", "pause", "--reason", "migration"])
        .await
        .ok();
    on.tick(base + minutes(10)).await;
    on.tick(base + minutes(20)).await;
    on.run(&["--app", "shop", "app", "resume"]).await.ok();
    on.tick(base + minutes(30)).await;
    assert_eq!(called(&server).len(), 2, "nothing called while paused");
    let (from, to, now) = (base, base + minutes(30), base + minutes(35));
    let plan = on.backfill(from, to, now, &["--dry-run"]).await.ok().json();
    let paused: BTreeSet<String> = [10, 20].iter().map(|m| text(base + minutes(*m))).collect();
    assert_eq!(slots_where(&plan, "verdict", "paused"), paused, "{plan}");
    assert_eq!(plan["calls"], 0, "{plan}");
    let run = on
        .backfill(from, to, now, &["--simulate", "--include-paused"])
        .await
        .ok()
        .json();
    assert_eq!(slots_where(&run, "result", "ran"), paused, "{run}");
    assert_eq!(called(&server).len(), 4, "each paused slot once");
}

/// Review of the backfill against the real binary (each failed first): a backfill calls no
/// job of a paused app (it was calling them), exits 1 when it leaves slots, and lists the
/// slots of a paused job as paused (it said the next tick would call them); `app pause
/// --help` describes the pause (it showed `rotate-key`'s text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_calls_no_job_of_a_paused_app_and_a_paused_jobs_slots_are_paused() {
    let on = On::sqlite().await;
    let server = JobServer::start().await;
    let base_url = server.url("");
    on.run(&["--app", "shop", "app", "create", "--base-url", &base_url])
        .await
        .ok();
    let url = server.url("/sweep");
    on.run(&[
        "--app", "shop", "create", "--name", "sweep", "--url", &url, "--every", "10m",
    ])
    .await
    .ok();
    let base = (Utc::now() + Duration::days(1))
        .duration_trunc(Duration::hours(1))
        .expect("an hour");
    server.set("/sweep", Behavior::Status(500));
    on.tick(base).await;
    on.tick(base + minutes(10)).await;
    server.set("/sweep", Behavior::Ok("done".into()));
    on.run(&["--app", "shop", "app", "pause", "--reason", "migration"])
        .await
        .ok();
    let (from, to, now) = (base, base + minutes(10), base + minutes(15));
    let run = on.backfill(from, to, now, &["--simulate"]).await;
    assert_eq!(run.code, 1, "slots left: {run:?}");
    let answer = run.json();
    assert_eq!(answer["calls"], 0, "{answer}");
    assert!(
        answer["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("is paused (migration)")),
        "the plan says why: {answer}"
    );
    assert_eq!(server.count("/sweep"), 2, "no call while the app is paused");
    assert!(
        answer["slots"]
            .as_array()
            .expect("slots")
            .iter()
            .all(|s| s["result"] == "left"
                && s["left"]
                    .as_str()
                    .is_some_and(|l| l.contains("app is paused"))),
        "{answer}"
    );
    on.run(&["--app", "shop", "app", "resume"]).await.ok();

    // A paused job: its slots since the pause are paused, not "the next tick calls it".
    on.run(&["--app", "shop", "pause", "--name", "sweep"])
        .await
        .ok();
    let later = Utc::now() + Duration::days(1) + Duration::hours(2);
    let plan = on
        .backfill(later - minutes(30), later, later, &["--dry-run"])
        .await
        .ok()
        .json();
    let verdicts: BTreeSet<&str> = plan["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["verdict"].as_str())
        .collect();
    assert_eq!(verdicts, BTreeSet::from(["paused"]), "{plan}");

    let help = on.run(&["app", "pause", "--help"]).await.ok();
    assert!(
        help.stdout.contains("Pause the app") && !help.stdout.contains("signing key"),
        "{help:?}"
    );
}

/// A job that forbids overlap gets one backfilled call at a time, even from two backfills at
/// once (review of issue 32: two processes had two calls in flight), and no slot twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_backfills_at_once_of_a_job_that_forbids_overlap_make_one_call_at_a_time() {
    let on = On::sqlite().await;
    let server = JobServer::start().await;
    let url = server.url("/sweep");
    on.run(&[
        "--app",
        "shop",
        "create",
        "--name",
        "sweep",
        "--url",
        &url,
        "--every",
        "10m",
        "--retries",
        "0",
    ])
    .await
    .ok();
    let base = (Utc::now() + Duration::days(1))
        .duration_trunc(Duration::hours(1))
        .expect("an hour");
    on.tick(base).await;
    // Slots +10 to +50 never called; then the live schedule at +60.
    on.tick(base + minutes(60)).await;
    server.set(
        "/sweep",
        Behavior::Sleep(std::time::Duration::from_millis(700)),
    );
    let (from, to, now) = (base, base + minutes(60), base + minutes(61));
    let (a, b) = tokio::join!(
        on.backfill(from, to, now, &["--simulate"]),
        on.backfill(from, to, now, &["--simulate"]),
    );
    assert!(a.code <= 1 && b.code <= 1, "{a:?} {b:?}");
    assert_eq!(
        server.max_in_flight_under("sweep"),
        1,
        "one backfilled call at a time"
    );
    // Whatever was left is called by a later backfill; no slot twice in all.
    on.backfill(from, to, now + minutes(2), &["--simulate"])
        .await;
    let calls = called(&server);
    let slots: BTreeSet<&String> = calls.iter().map(|(s, _)| s).collect();
    assert_eq!(slots.len(), calls.len(), "no slot called twice: {calls:?}");
    assert_eq!(
        calls.len(),
        2 + 5,
        "the two live calls and the five slots: {calls:?}"
    );
}

/// The retention the table's ticks record (the function's `PSU_SCHED_RETENTION_DAYS`) limits
/// a CLI's backfill, whatever the CLI's own setting: the two agree on what history exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_window_is_limited_by_the_retention_the_tables_ticks_record() {
    let on = On::moto().await;
    let server = JobServer::start().await;
    let url = server.url("/sweep");
    on.run(&[
        "--app", "shop", "create", "--name", "sweep", "--url", &url, "--every", "10m",
    ])
    .await
    .ok();
    let now = (Utc::now() + Duration::days(1))
        .duration_trunc(Duration::hours(1))
        .expect("an hour");
    let shown = on.run(&["table", "show", "--json"]).await.ok().json();
    assert_eq!(
        shown["retention_days"], 30,
        "init records the default: {shown}"
    );
    // The function keeps 7 days: its tick records it.
    let at = text(now);
    on.cli
        .run_with(
            &["tick", "--now", &at, "--simulate"],
            &[("PSU_SCHED_RETENTION_DAYS", "7")],
        )
        .await
        .ok();
    let shown = on.run(&["table", "show", "--json"]).await.ok().json();
    assert_eq!(shown["retention_days"], 7, "{shown}");
    // This CLI keeps the default 30 days, but the history is only 7 days deep.
    let refused = on
        .backfill(
            now - Duration::days(10),
            now - minutes(10),
            now,
            &["--dry-run"],
        )
        .await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("kept 7 days (as the table's ticks record it)"),
        "{refused:?}"
    );
    on.backfill(
        now - Duration::days(5),
        now - minutes(10),
        now,
        &["--dry-run"],
    )
    .await
    .ok();
}

/// Bad input is refused naming the field, with nothing called or written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_window_outside_the_history_or_backwards_is_refused_by_field() {
    let on = On::sqlite().await;
    let server = JobServer::start().await;
    let url = server.url("/sweep");
    on.run(&[
        "--app", "shop", "create", "--name", "sweep", "--url", &url, "--every", "10m",
    ])
    .await
    .ok();
    let now = (Utc::now() + Duration::days(1))
        .duration_trunc(Duration::hours(1))
        .expect("an hour");
    for (from, to, field, says) in [
        (
            now - minutes(10),
            now - minutes(60),
            "to",
            "is before --from",
        ),
        (
            now - minutes(60),
            now + minutes(60),
            "to",
            "is in the future",
        ),
        (
            now - Duration::days(30),
            now - minutes(10),
            "from",
            "reaches past the history kept",
        ),
    ] {
        let refused = on.backfill(from, to, now, &["--simulate"]).await;
        assert_eq!(refused.code, 2, "{refused:?}");
        let line = refused.stderr.trim();
        assert_eq!(line.lines().count(), 1, "{refused:?}");
        assert!(line.contains(field) && line.contains(says), "{line}");
    }
    let bad = on
        .run(&[
            "--app",
            "shop",
            "backfill",
            "--name",
            "sweep",
            "--from",
            "yesterday",
            "--to",
            "2026-12-01",
        ])
        .await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("from") && bad.stderr.contains("not accepted"),
        "{bad:?}"
    );
    assert!(server.requests().is_empty());
}

/// `--tz` reads `--from` and `--to` as it reads `--now` (review of issue 32: they were read
/// in the job's zone whatever `--tz` said).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_reads_its_window_in_the_zone_tz_names() {
    let on = On::sqlite().await;
    let server = JobServer::start().await;
    let url = server.url("/sweep");
    on.run(&[
        "--app", "shop", "create", "--name", "sweep", "--url", &url, "--every", "10m",
    ])
    .await
    .ok();
    let now = (Utc::now() + Duration::days(1))
        .duration_trunc(Duration::hours(1))
        .expect("an hour");
    let new_york = |t: DateTime<Utc>| {
        t.with_timezone(&chrono_tz::America::New_York)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    let (from, to, at) = (new_york(now - minutes(60)), new_york(now), text(now));
    let plan = on
        .run(&[
            "--app",
            "shop",
            "--tz",
            "America/New_York",
            "backfill",
            "--name",
            "sweep",
            "--from",
            &from,
            "--to",
            &to,
            "--now",
            &at,
            "--dry-run",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(plan["from"], text(now - minutes(60)), "{plan}");
    assert_eq!(plan["to"], text(now), "{plan}");
}
