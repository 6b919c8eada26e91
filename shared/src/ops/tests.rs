//! The operations on the memory store: what they write, and for each refusal its field
//! path, its message, and that nothing was written.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::*;
use crate::model::{Job, JobName, JobUrl, OverlapPolicy, Status};
use crate::store::memory::MemoryStore;
use crate::testing::FakeDispatch;

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid")
}

pub(super) fn setup() -> (Ops, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (Ops::with_store("memory", store.clone()), store)
}

pub(super) fn key(name: &str) -> JobKey {
    JobKey::parse("billing", name).expect("key")
}

fn daily() -> JobInput {
    JobInput {
        url: Some("https://billing.example.edu/jobs/invoices".into()),
        schedule: ScheduleForm {
            cron: Some("0 9 * * *".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn jobs_in(store: &MemoryStore) -> Vec<Job> {
    store.list_jobs(None).await.expect("list")
}

/// The refusal's path and message as a form would show them.
fn refusal(result: Result<impl std::fmt::Debug, OpsError>) -> (String, String) {
    match result {
        Err(OpsError::Invalid(e)) => (e.path.to_string(), e.message.to_string()),
        other => panic!("expected a refused input, got {other:?}"),
    }
}

#[tokio::test]
async fn create_refuses_each_bad_field_by_its_path_and_writes_nothing() {
    let (ops, store) = setup();
    let with = |f: &dyn Fn(&mut JobInput)| {
        let mut input = daily();
        f(&mut input);
        input
    };
    let cases: Vec<(JobInput, &str, &str)> = vec![
        (
            with(&|i| i.url = None),
            "url",
            "missing; give url https://host/path",
        ),
        (
            with(&|i| i.url = Some("ftp://x.edu/".into())),
            "url",
            "scheme `ftp` is not accepted; use http or https",
        ),
        (
            with(&|i| i.schedule.cron = None),
            "schedule",
            "missing; give one of cron EXPR, at HH:MM[,HH:MM...] or every DURATION",
        ),
        (
            with(&|i| i.schedule.at = Some("08:00".into())),
            "schedule",
            "give one schedule form, not several",
        ),
        (
            with(&|i| i.schedule.cron = Some("61 * * * *".into())),
            "schedule",
            "cron minute field `61`: expected 0-59",
        ),
        (
            with(&|i| i.schedule.between = Some("08:00-17:00".into())),
            "between",
            "between HH:MM-HH:MM only goes with every DURATION",
        ),
        (
            with(&|i| i.timezone = Some("America/Los_Angles".into())),
            "timezone",
            "did you mean America/Los_Angeles",
        ),
        (
            with(&|i| i.timeout = Some("90".into())),
            "timeout",
            "`90` has no unit",
        ),
        (with(&|i| i.timeout = Some("15m".into())), "timeout", ""),
        (
            with(&|i| i.retries = Some("many".into())),
            "retries",
            "`many` is not accepted; use a whole number from 0 to 5",
        ),
        (with(&|i| i.retries = Some("9".into())), "retries", ""),
        (
            with(&|i| i.max_lateness = Some("0s".into())),
            "max_lateness",
            "must be more than 0",
        ),
        (with(&|i| i.method = Some("PUT".into())), "method", ""),
        (
            with(&|i| {
                i.start = Some("2027-02-01".into());
                i.end = Some("2027-01-01".into());
            }),
            "end",
            "the end must come after the start",
        ),
        (
            with(&|i| i.start = Some("tomorrow".into())),
            "start",
            "`tomorrow` is not accepted; use a date (2026-12-01)",
        ),
    ];
    for (input, path, message) in cases {
        let (got_path, got_message) = refusal(ops.create(&key("invoices"), &input, now()).await);
        assert_eq!(got_path, path, "{input:?}: {got_message}");
        assert!(got_message.contains(message), "{path}: {got_message}");
    }
    assert!(jobs_in(&store).await.is_empty(), "nothing was written");
}

#[test]
fn names_are_refused_by_their_field() {
    let err = JobKey::parse("billing", "bad name").expect_err("name");
    assert_eq!(err.path.to_string(), "name");
    assert!(err.message.to_string().contains("`bad name` is not valid"));
    assert_eq!(
        JobKey::parse("-web", "x")
            .expect_err("app")
            .path
            .to_string(),
        "app"
    );
}

#[test]
fn a_path_names_a_value_inside_a_list_and_messages_name_other_fields_per_front_end() {
    let err = parse_duration("timeout", "ten")
        .expect_err("bad")
        .within("jobs", Some(3));
    assert_eq!(err.path.to_string(), "jobs[3].timeout");
    assert_eq!(err.path.leaf(), Some("timeout"));
    let form = ScheduleForm {
        days: Some("mon".into()),
        cron: Some("* * * * *".into()),
        ..Default::default()
    };
    let err = form.build(true).expect_err("days without at or every");
    assert_eq!(
        err.message.render(|k| format!("--{k}")),
        "--days only goes with --at or --every (a cron expression has its own day fields)"
    );
    assert_eq!(
        err.message.to_string(),
        "days only goes with at or every (a cron expression has its own day fields)"
    );
}

#[tokio::test]
async fn create_writes_the_job_as_typed() {
    let (ops, store) = setup();
    let input = JobInput {
        schedule: ScheduleForm {
            at: Some("08:00,13:30".into()),
            days: Some("mon,wed".into()),
            ..Default::default()
        },
        timezone: Some("America/Los_Angeles".into()),
        start: Some("2026-12-01".into()),
        timeout: Some("2m".into()),
        retries: Some("2".into()),
        overlap: Some(OverlapPolicy::Allow),
        paused: true,
        ..daily()
    };
    let job = ops
        .create(&key("invoices"), &input, now())
        .await
        .expect("create");
    assert_eq!(job.schedule.to_string(), "at 08:00,13:30 on mon,wed");
    assert_eq!(job.timezone, chrono_tz::America::Los_Angeles);
    assert_eq!(
        job.start.map(views::rfc3339).as_deref(),
        Some("2026-12-01T08:00:00Z"),
        "a date is midnight in the job's zone"
    );
    assert_eq!(job.timeout(), Duration::from_secs(120));
    assert_eq!((job.retries, job.overlap), (2, OverlapPolicy::Allow));
    assert!(!job.enabled);
    assert_eq!(jobs_in(&store).await, vec![job]);
    let taken = ops.create(&key("invoices"), &daily(), now()).await;
    assert!(
        matches!(
            taken.as_ref().map_err(OpsError::store_error),
            Err(Some(crate::store::StoreError::AlreadyExists(..)))
        ),
        "{taken:?}"
    );
}

#[tokio::test]
async fn update_refuses_bad_input_and_missing_jobs_and_writes_nothing() {
    let (ops, store) = setup();
    ops.create(&key("invoices"), &daily(), now())
        .await
        .expect("create");
    let before = jobs_in(&store).await;
    assert!(matches!(
        ops.update(&key("invoices"), &JobInput::default(), now())
            .await,
        Err(OpsError::NothingToChange)
    ));
    let zone = JobInput {
        timezone: Some("Mars/Olympus".into()),
        ..JobInput::default()
    };
    assert_eq!(
        refusal(ops.update(&key("invoices"), &zone, now()).await).0,
        "timezone"
    );
    let bounds = JobInput {
        start: Some("2001-01-01".into()),
        end: Some("2000-01-01".into()),
        ..JobInput::default()
    };
    assert_eq!(
        refusal(ops.update(&key("invoices"), &bounds, now()).await).0,
        "end"
    );
    let retries = JobInput {
        retries: Some("9".into()),
        ..JobInput::default()
    };
    assert_eq!(
        refusal(ops.update(&key("invoices"), &retries, now()).await).0,
        "retries"
    );
    let missing = ops
        .update(
            &key("nope"),
            &JobInput {
                retries: Some("1".into()),
                ..JobInput::default()
            },
            now(),
        )
        .await;
    assert!(
        matches!(missing, Err(OpsError::NotFound(..))),
        "{missing:?}"
    );
    assert_eq!(jobs_in(&store).await, before, "nothing was written");
}

#[tokio::test]
async fn update_pause_and_resume_write_through_the_version_check() {
    let (ops, store) = setup();
    let job = ops
        .create(&key("invoices"), &daily(), now())
        .await
        .expect("create");
    let later = now() + chrono::Duration::minutes(30);
    let every = JobInput {
        schedule: ScheduleForm {
            every: Some("5m".into()),
            ..Default::default()
        },
        ..JobInput::default()
    };
    let updated = ops
        .update(&key("invoices"), &every, later)
        .await
        .expect("update");
    assert_eq!(updated.state.version, job.state.version + 1);
    assert_eq!(
        updated.state.next_slot,
        Some(later + chrono::Duration::minutes(5))
    );
    assert_eq!(jobs_in(&store).await, vec![updated]);

    let paused = ops
        .pause(&key("invoices"), None, later)
        .await
        .expect("pause");
    assert_eq!((paused.enabled, paused.due_at()), (false, None));
    let much_later = later + chrono::Duration::days(3);
    let resumed = ops
        .resume(&key("invoices"), much_later)
        .await
        .expect("resume");
    assert_eq!(
        resumed.state.next_slot,
        Some(much_later + chrono::Duration::minutes(5)),
        "no backlog: the next slot is after the resume"
    );
    assert_eq!(resumed.state.version, job.state.version + 3);
    assert!(matches!(
        ops.pause(&key("missing"), None, later).await,
        Err(OpsError::NotFound(..))
    ));
}

#[tokio::test]
async fn dates_in_an_update_are_read_in_the_jobs_zone() {
    let (ops, _) = setup();
    let tokyo = JobInput {
        timezone: Some("Asia/Tokyo".into()),
        ..daily()
    };
    ops.create(&key("invoices"), &tokyo, now())
        .await
        .expect("create");
    let end = JobInput {
        end: Some("2027-01-01".into()),
        ..JobInput::default()
    };
    let job = ops
        .update(&key("invoices"), &end, now())
        .await
        .expect("update");
    assert_eq!(
        job.end.map(views::rfc3339).as_deref(),
        Some("2026-12-31T15:00:00Z")
    );
    let cleared = JobInput {
        end: Some("none".into()),
        ..JobInput::default()
    };
    let job = ops
        .update(&key("invoices"), &cleared, now())
        .await
        .expect("update");
    assert_eq!(job.end, None);
}

#[tokio::test]
async fn list_show_history_and_delete() {
    let (ops, store) = setup();
    ops.create(&key("b"), &daily(), now())
        .await
        .expect("create");
    ops.create(&key("a"), &daily(), now())
        .await
        .expect("create");
    let names: Vec<String> = ops
        .list(Some("billing"))
        .await
        .expect("list")
        .iter()
        .map(|j| j.name.to_string())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(refusal(ops.list(Some("no/such")).await).0, "app");

    let dispatcher = FakeDispatch::answering(Status::Succeeded);
    let clock = crate::clock::FixedClock::new(now());
    let config = TickConfig::default();
    let run = ops
        .run_now(&key("a"), &dispatcher, &clock, &config)
        .await
        .expect("run");
    assert_eq!(run.status, Status::Succeeded);
    assert_eq!(dispatcher.calls().len(), 1);
    assert!(matches!(
        ops.run_now(&key("zz"), &dispatcher, &clock, &config).await,
        Err(OpsError::NotFound(..))
    ));

    let (_, shown) = ops.show(&key("a"), 10).await.expect("show");
    assert_eq!(shown.len(), 1);
    let (_, history) = ops
        .history(&key("a"), Some("failed"), 5)
        .await
        .expect("history");
    assert!(history.executions.is_empty());
    assert_eq!((history.searched, history.complete), (1, true));
    assert_eq!(
        refusal(ops.history(&key("a"), Some("done"), 5).await).0,
        "status"
    );
    assert_eq!(refusal(ops.history(&key("a"), None, 0).await).0, "limit");

    let deleted = ops.delete(&key("a"), true).await.expect("delete");
    assert_eq!(deleted.purged, Some(1));
    assert!(matches!(
        ops.delete(&key("a"), false).await,
        Err(OpsError::NotFound(..))
    ));
    assert_eq!(jobs_in(&store).await.len(), 1);
}

#[test]
fn next_previews_a_schedule_and_refuses_by_field() {
    let preview = next("30 2 * * *", Some("America/Los_Angeles"), 3, now()).expect("next");
    assert_eq!(preview.times.len(), 3);
    assert_eq!(preview.timezone, Tz::America__Los_Angeles);
    let view = views::NextView::from(&preview);
    assert_eq!(view.next[0], "2026-11-27T10:30:00Z");
    for (args, path) in [
        (("every 7 minutes please", None, 5), "schedule"),
        (("* * * * *", Some("Mars/Olympus"), 5), "timezone"),
        (("* * * * *", None, 0), "count"),
        (("* * * * *", None, MAX_PREVIEW + 1), "count"),
    ] {
        assert_eq!(
            refusal(next(args.0, args.1, args.2, now())).0,
            path,
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn a_tick_at_another_instant_is_refused_unless_it_writes_nothing_or_simulates() {
    let behind = now() - chrono::Duration::hours(1);
    let typed = views::rfc3339(behind);
    let (path, message) = refusal(TickAt::parse(Some(&typed), None, NowUse::Write, now()));
    assert_eq!(path, "now");
    assert!(message.contains("add dry_run"), "{message}");
    assert!(TickAt::parse(Some(&typed), None, NowUse::DryRun, now()).is_ok());
    assert_eq!(
        refusal(TickAt::parse(
            Some("yesterday"),
            None,
            NowUse::DryRun,
            now()
        ))
        .0,
        "now"
    );
    // The memory store counts as local, so --simulate is allowed there.
    let (ops, _) = setup();
    let at = TickAt::parse(Some(&typed), None, NowUse::Simulate, now()).expect("parse");
    let summary = ops
        .tick(
            at,
            &FakeDispatch::answering(Status::Succeeded),
            &crate::clock::FixedClock::new(now()),
            &TickConfig::default(),
        )
        .await
        .expect("tick");
    assert_eq!(summary.now, behind);
}

#[test]
fn durations_dates_and_zones() {
    assert_eq!(parse_duration("t", "1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(
        parse_duration("timeout", "90")
            .expect_err("no unit")
            .to_string(),
        "timeout: `90` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)"
    );
    let tz: Tz = "America/Los_Angeles".parse().expect("tz");
    let at = parse_instant("start", "2026-12-01", tz).expect("date");
    assert_eq!(at.to_rfc3339(), "2026-12-01T08:00:00+00:00");
    let err = parse_zone("America/Los_Angles").expect_err("typo");
    assert_eq!(err.path.to_string(), "timezone");
    assert!(parse_zone("Europe/London").is_ok());
    let _ = JobUrl::parse("https://x.edu/").expect("url");
    let _ = JobName::parse("x").expect("name");
}

/// Every field the views serialise is documented in docs/cli.md (which promises that fields
/// are only ever added).
#[tokio::test]
async fn every_json_field_is_documented_in_the_cli_guide() {
    let guide = include_str!("../../../docs/cli.md");
    let (ops, _) = setup();
    let job = ops
        .create(&key("a"), &daily(), now())
        .await
        .expect("create");
    let dispatcher = FakeDispatch::answering(Status::Succeeded);
    let clock = crate::clock::FixedClock::new(now());
    let run = ops
        .run_now(&key("a"), &dispatcher, &clock, &TickConfig::default())
        .await
        .expect("run");
    let mut view = views::JobView::new(&job, None, now(), 3);
    view.executions = Some(vec![views::ExecutionView::from(&run)]);
    let preview = next("* * * * *", None, 1, now()).expect("next");
    let values = [
        serde_json::to_value(&view).expect("job"),
        serde_json::to_value(views::ExecutionView::from(&run)).expect("execution"),
        serde_json::to_value(views::NextView::from(&preview)).expect("next"),
        // An app shown with its jobs, while it rotates its key (every optional field set).
        serde_json::to_value(views::AppView {
            jobs: Some(vec!["a".into()]),
            previous_key_generation: Some(1),
            ..views::AppView::from(&crate::model::App {
                paused: Some(crate::model::AppPause {
                    reason: crate::model::PauseReason::parse("reason", "migration")
                        .expect("reason"),
                    since: now(),
                }),
                ..crate::model::App::new(
                    crate::model::AppName::parse("a").expect("app"),
                    crate::model::BaseUrl::parse("https://h.edu").expect("base"),
                    4,
                    now(),
                )
                .expect("app")
            })
        })
        .expect("app"),
        serde_json::to_value(views::DeletedView::from(&crate::ops::Deleted {
            job: job.clone(),
            purged: None,
        }))
        .expect("deleted"),
        serde_json::to_value(views::AppKeyView::from(&crate::ops::AppKeys {
            app: "a".into(),
            keys: vec![(2, "k2".into()), (1, "k1".into())],
        }))
        .expect("keys"),
    ];
    for value in values {
        for field in value.as_object().expect("object").keys() {
            assert!(
                guide.contains(&format!("`{field}`")),
                "`{field}` is not documented in docs/cli.md"
            );
        }
    }
}

/// A job every 5 minutes whose 12:05 slot is due at 12:05:30 but not yet claimed (an
/// EventBridge tick can come late).
async fn due_and_unclaimed() -> (Ops, Arc<MemoryStore>, DateTime<Utc>) {
    let (ops, store) = setup();
    let every_5m = JobInput {
        schedule: ScheduleForm {
            every: Some("5m".into()),
            ..Default::default()
        },
        ..daily()
    };
    ops.create(&key("sync"), &every_5m, now())
        .await
        .expect("create");
    let at = now() + chrono::Duration::seconds(330);
    let job = ops.job(&key("sync")).await.expect("job");
    assert_eq!(
        job.state.next_slot,
        Some(now() + chrono::Duration::minutes(5))
    );
    (ops, store, at)
}

async fn tick_at(ops: &Ops, at: DateTime<Utc>, dispatcher: &FakeDispatch) -> TickSummary {
    let clock = crate::clock::FixedClock::new(at);
    ops.tick(
        TickAt::parse(None, None, NowUse::Write, at).expect("at"),
        dispatcher,
        &clock,
        &TickConfig::default(),
    )
    .await
    .expect("tick")
}

#[tokio::test]
async fn a_change_keeps_a_due_slot_that_the_new_timing_still_has() {
    let (ops, _, at) = due_and_unclaimed().await;
    let slot = now() + chrono::Duration::minutes(5);
    // Every 5 minutes between 08:00 and 17:00 still has 12:05.
    let narrower = JobInput {
        schedule: ScheduleForm {
            every: Some("5m".into()),
            between: Some("08:00-17:00".into()),
            ..Default::default()
        },
        ..JobInput::default()
    };
    let job = ops
        .update(&key("sync"), &narrower, at)
        .await
        .expect("update");
    assert_eq!(job.state.next_slot, Some(slot), "the due slot is kept");
    let dispatcher = FakeDispatch::answering(Status::Succeeded);
    let summary = tick_at(&ops, at + chrono::Duration::seconds(5), &dispatcher).await;
    assert_eq!((summary.triggered, summary.succeeded), (1, 1));
    let (_, history) = ops.history(&key("sync"), None, 5).await.expect("history");
    assert_eq!(history.executions.len(), 1);
    assert_eq!(history.executions[0].scheduled_for, slot);
}

#[tokio::test]
async fn a_change_that_drops_a_due_slot_records_it_missed_with_the_reason() {
    let (ops, _, at) = due_and_unclaimed().await;
    let slot = now() + chrono::Duration::minutes(5);
    let hourly = JobInput {
        schedule: ScheduleForm {
            cron: Some("0 * * * *".into()),
            ..Default::default()
        },
        ..JobInput::default()
    };
    let job = ops.update(&key("sync"), &hourly, at).await.expect("update");
    assert_eq!(
        job.state.next_slot,
        Some(now() + chrono::Duration::hours(1))
    );
    let (_, history) = ops.history(&key("sync"), None, 5).await.expect("history");
    assert_eq!(history.executions.len(), 1, "the dropped slot is on record");
    let missed = &history.executions[0];
    assert_eq!(
        (missed.scheduled_for, missed.status),
        (slot, Status::Missed)
    );
    assert!(
        missed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("changed")),
        "{missed:?}"
    );
    assert_eq!(
        job.state.last.as_ref().map(|l| l.status),
        Some(Status::Missed)
    );
    let dispatcher = FakeDispatch::answering(Status::Succeeded);
    assert_eq!(tick_at(&ops, at, &dispatcher).await.triggered, 0);
}

#[tokio::test]
async fn pausing_a_job_whose_slot_is_due_records_the_slot_missed() {
    let (ops, _, at) = due_and_unclaimed().await;
    ops.pause(&key("sync"), None, at).await.expect("pause");
    let (_, history) = ops.history(&key("sync"), None, 5).await.expect("history");
    assert_eq!(history.executions.len(), 1, "the dropped slot is on record");
    assert_eq!(history.executions[0].status, Status::Missed);
    assert!(
        history.executions[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("paused")),
        "{history:?}"
    );
}

#[tokio::test]
async fn app_records_refuse_bad_input_by_field_and_write_nothing() {
    let (ops, store) = setup();
    let input = |base: Option<&str>, budget: Option<&str>| AppInput {
        base_url: base.map(str::to_owned),
        budget: budget.map(str::to_owned),
        timezone: None,
        ..AppInput::default()
    };
    for (name, app, path) in [
        ("bad name", input(Some("https://h.edu"), None), "app"),
        ("billing", input(None, None), "base_url"),
        ("billing", input(Some("ftp://h.edu"), None), "base_url"),
        (
            "billing",
            input(Some("https://u:p@h.edu"), None),
            "base_url",
        ),
        ("billing", input(Some("https://h.edu"), Some("0")), "budget"),
        (
            "billing",
            input(Some("https://h.edu"), Some("65")),
            "budget",
        ),
        (
            "billing",
            input(Some("https://h.edu"), Some("four")),
            "budget",
        ),
    ] {
        assert_eq!(
            refusal(ops.create_app(name, &app, now()).await).0,
            path,
            "{app:?}"
        );
    }
    assert!(
        store.list_apps().await.expect("apps").is_empty(),
        "nothing written"
    );
    let created = ops
        .create_app(
            "billing",
            &input(Some("https://h.edu/prefix/"), None),
            now(),
        )
        .await
        .expect("create");
    assert_eq!(
        (created.base_url.as_str(), created.budget),
        ("https://h.edu/prefix", 4)
    );
    assert!(matches!(
        ops.update_app("billing", &AppInput::default(), now()).await,
        Err(OpsError::NothingToChange)
    ));
    assert_eq!(
        refusal(
            ops.update_app("billing", &input(None, Some("100")), now())
                .await
        )
        .0,
        "budget"
    );
    assert_eq!(store.list_apps().await.expect("apps"), vec![created]);
}

#[tokio::test]
async fn a_job_by_path_resolves_against_its_apps_base_url_and_follows_it() {
    let (ops, store) = setup();
    let by_path = |path: &str| JobInput {
        url: None,
        path: Some(path.into()),
        ..daily()
    };
    let (path, message) = refusal(ops.create(&key("invoices"), &by_path("/x"), now()).await);
    assert_eq!(path, "path");
    assert!(message.contains("psu-sched app create"), "{message}");
    assert_eq!(
        refusal(ops.create(&key("invoices"), &by_path("x"), now()).await).0,
        "path"
    );
    let both = JobInput {
        path: Some("/x".into()),
        ..daily()
    };
    assert_eq!(
        refusal(ops.create(&key("invoices"), &both, now()).await).0,
        "path"
    );
    assert!(jobs_in(&store).await.is_empty(), "nothing written");

    let app = AppInput {
        base_url: Some("https://h.edu/prefix".into()),
        budget: None,
        timezone: None,
        ..AppInput::default()
    };
    ops.create_app("billing", &app, now()).await.expect("app");
    let job = ops
        .create(&key("invoices"), &by_path("/scheduled/invoices"), now())
        .await
        .expect("create");
    assert_eq!(job.url.as_str(), "https://h.edu/prefix/scheduled/invoices");
    let moved = AppInput {
        base_url: Some("https://new.h.edu".into()),
        budget: None,
        timezone: None,
        ..AppInput::default()
    };
    ops.update_app("billing", &moved, now())
        .await
        .expect("update");
    let listed = ops.list(Some("billing")).await.expect("list");
    assert_eq!(
        listed[0].url.as_str(),
        "https://new.h.edu/scheduled/invoices",
        "the URL the next call goes to"
    );
    let (shown, _) = ops.show(&key("invoices"), 1).await.expect("show");
    assert_eq!(shown.url, listed[0].url);

    let deleting = ops.delete_app("billing").await;
    assert!(
        matches!(deleting, Err(OpsError::AppHasJobs { jobs: 1, .. })),
        "{deleting:?}"
    );
    let to_url = JobInput {
        url: Some("https://other.edu/x".into()),
        ..JobInput::default()
    };
    let job = ops
        .update(&key("invoices"), &to_url, now())
        .await
        .expect("update");
    assert_eq!(job.path, None, "a URL makes it a job by URL again");
    ops.delete(&key("invoices"), false)
        .await
        .expect("delete job");
    ops.delete_app("billing").await.expect("delete app");
    assert!(matches!(
        ops.delete_app("billing").await,
        Err(OpsError::AppNotFound(_))
    ));
}
