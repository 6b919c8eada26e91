//! Whole forms on the memory store: a stored job shown as a form reads back to the same
//! definition; every bad field is reported at once; an edit writes only what differs and
//! never over a person's change made after the form was read.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use super::super::apply::Definition;
use super::*;
use crate::clock::FixedClock;
use crate::model::{Method, OverlapPolicy, Status};
use crate::ops::{NowUse, TickAt};
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::testing::FakeDispatch;
use crate::tick::TickConfig;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid")
}

fn setup() -> (Ops, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (Ops::with_store("memory", store.clone()), store)
}

fn key(name: &str) -> JobKey {
    JobKey::parse("billing", name).expect("key")
}

fn form(schedule: &str) -> JobInput {
    JobInput {
        url: Some("https://billing.example.edu/jobs/invoices".into()),
        schedule: ScheduleForm::written(schedule),
        ..Default::default()
    }
}

fn paths(errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(|e| e.path.to_string()).collect()
}

#[tokio::test]
async fn a_stored_job_shown_as_a_form_reads_back_to_the_same_definition() {
    let (ops, store) = setup();
    store
        .create_app(
            &crate::model::App::new(
                "billing".parse().expect("app"),
                crate::model::BaseUrl::parse("https://billing.example.edu/app").expect("base"),
                4,
                now(),
            )
            .expect("app"),
        )
        .await
        .expect("app");
    let typed = [
        form("0 9 * * mon-fri"),
        JobInput {
            url: None,
            path: Some("/scheduled/report?x=1".into()),
            method: Some("POST".into()),
            timezone: Some("America/New_York".into()),
            // 01:30 on 1 November 2026 happens twice in New York: the second, EST, one.
            start: Some("2026-11-01T01:30:00-05:00".into()),
            end: Some("2027-03-14T08:15:30".into()),
            timeout: Some("90s".into()),
            retries: Some("3".into()),
            max_lateness: Some("1h30m".into()),
            overlap: Some(OverlapPolicy::Allow),
            description: Some("Sends the <b>report</b>".into()),
            ..form("every 15m between 08:00-17:00 on mon-fri")
        },
        JobInput {
            timezone: Some("Europe/Berlin".into()),
            start: Some("2026-12-01".into()),
            ..form("at 08:00,13:30 on mon,wed")
        },
        form("@hourly"),
    ];
    for (i, input) in typed.iter().enumerate() {
        let job = ops
            .create(&key(&format!("job-{i}")), input, now())
            .await
            .expect("create");
        let shown = JobInput::of(&job);
        assert_eq!(
            Definition::from_input(&shown).expect("reads back"),
            Definition::of(&job),
            "job {i} shown as {shown:?}"
        );
        assert!(shown.errors().is_empty(), "job {i}: {:?}", shown.errors());
        // An edit of the form as shown changes nothing.
        assert!(matches!(
            ops.edit(&key(&format!("job-{i}")), &shown, job.updated_at, now())
                .await,
            Err(OpsError::NothingToChange)
        ));
    }
    let second = ops.job(&key("job-1")).await.expect("job");
    let shown = JobInput::of(&second);
    assert_eq!(shown.start.as_deref(), Some("2026-11-01T01:30:00-05:00"));
    assert_eq!(shown.end.as_deref(), Some("2027-03-14T08:15:30"));
    assert_eq!(shown.path.as_deref(), Some("/scheduled/report?x=1"));
    assert_eq!(shown.url, None);
    let third = ops.job(&key("job-2")).await.expect("job");
    assert_eq!(
        JobInput::of(&third).start.as_deref(),
        Some("2026-12-01T00:00")
    );
}

#[test]
fn every_bad_field_of_a_form_is_reported_at_once() {
    let input = JobInput {
        timeout: Some("2h".into()),
        retries: Some("eleven".into()),
        timezone: Some("Europe/Berln".into()),
        ..form("every 7 minutes")
    };
    let errors = input.errors();
    assert_eq!(
        paths(&errors),
        ["timezone", "timeout", "retries", "schedule"]
    );
    assert!(
        errors[0]
            .message
            .to_string()
            .contains("did you mean Europe/Berlin"),
        "{errors:?}"
    );
    assert!(
        errors[1].message.to_string()
            == "`2h` is not accepted; use more than 0 and at most 14m (the Lambda's own limit is 15m)",
        "the timeout's message names the value as typed and what is accepted: {errors:?}"
    );
    // Dates are read in the zone given; their order is checked too.
    let input = JobInput {
        start: Some("2026-12-02".into()),
        end: Some("2026-12-01".into()),
        ..form("@daily")
    };
    assert_eq!(paths(&input.errors()), ["end"]);
    // The options together: a URL and a path, or neither.
    let both = JobInput {
        path: Some("/x".into()),
        ..form("@daily")
    };
    assert_eq!(paths(&both.errors()), ["path"]);
    let neither = JobInput {
        url: None,
        ..form("@daily")
    };
    assert_eq!(paths(&neither.errors()), ["url"]);
    assert!(form("@daily").errors().is_empty());
}

#[test]
fn a_new_job_s_names_are_checked_with_its_options() {
    let bad = JobInput {
        timeout: Some("0s".into()),
        ..form("nonsense")
    };
    let errors = check_new_job("Billing App", "", &bad).expect_err("refused");
    assert_eq!(paths(&errors), ["app", "name", "timeout", "schedule"]);
    let key = check_new_job("billing", "invoices", &form("@daily")).expect("accepted");
    assert_eq!(key.name.as_str(), "invoices");
}

#[tokio::test]
async fn an_edit_writes_only_what_differs_and_says_what_changed() {
    let (ops, store) = setup();
    let job = ops
        .create(&key("invoices"), &form("0 9 * * *"), now())
        .await
        .expect("create");
    let mut input = JobInput::of(&job);
    input.schedule = ScheduleForm::written("30 9 * * mon-fri");
    input.timeout = Some("45s".into());
    let later = now() + chrono::Duration::minutes(1);
    let edited = ops
        .edit(&key("invoices"), &input, job.updated_at, later)
        .await
        .expect("edit");
    let fields: Vec<&str> = edited.changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, ["schedule", "timeout"]);
    assert_eq!(edited.changes[1].old.as_deref(), Some("30s"));
    assert_eq!(edited.changes[1].new.as_deref(), Some("45s"));
    let stored = store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(stored.schedule.to_string(), "30 9 * * MON-FRI");
    assert_eq!(stored.timeout_ms, 45_000);
    assert_eq!(stored.updated_at, later);
    assert_eq!(stored.method, Method::Get);
    assert_eq!(stored.id, job.id);
}

#[tokio::test]
async fn an_edit_over_a_person_s_later_change_is_refused_and_writes_nothing() {
    let (ops, store) = setup();
    let job = ops
        .create(&key("invoices"), &form("0 9 * * *"), now())
        .await
        .expect("create");
    let mut input = JobInput::of(&job);
    input.retries = Some("2".into());
    // Someone else changes the timeout after the form was read.
    let other = JobInput {
        timeout: Some("10s".into()),
        ..Default::default()
    };
    let changed = ops
        .update(
            &key("invoices"),
            &other,
            now() + chrono::Duration::seconds(5),
        )
        .await
        .expect("update");
    let e = ops
        .edit(
            &key("invoices"),
            &input,
            job.updated_at,
            now() + chrono::Duration::seconds(9),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, OpsError::ChangedSince { at, .. } if *at == changed.updated_at),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the job billing/invoices was changed at 2026-11-26T12:00:05Z after this form was read; nothing was written: review its current settings and save again"
    );
    let stored = store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    assert_eq!((stored.retries, stored.timeout_ms), (0, 10_000));
    // Saved again with what the refusal read, it goes through.
    ops.edit(&key("invoices"), &input, changed.updated_at, now())
        .await
        .expect("edit");
}

#[tokio::test]
async fn the_tick_s_bookkeeping_after_the_form_was_read_does_not_refuse_an_edit() {
    let (ops, store) = setup();
    let job = ops
        .create(&key("invoices"), &form("every 1m"), now())
        .await
        .expect("create");
    let at = now() + chrono::Duration::minutes(1);
    let dispatcher = FakeDispatch::answering(Status::Succeeded);
    let summary = ops
        .tick(
            TickAt::parse(None, None, NowUse::Write, at).expect("at"),
            &dispatcher,
            &FixedClock::new(at),
            &TickConfig::default(),
        )
        .await
        .expect("tick");
    assert_eq!(summary.succeeded, 1);
    let ticked = store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    assert_ne!(ticked.state.version, job.state.version);
    let mut input = JobInput::of(&job);
    input.description = Some("nightly".into());
    let edited = ops
        .edit(&key("invoices"), &input, job.updated_at, at)
        .await
        .expect("the tick is not a person's change");
    assert_eq!(edited.job.description, "nightly");
}

#[tokio::test]
async fn an_app_edit_writes_what_differs_over_the_record_as_read() {
    let (ops, _) = setup();
    let app = ops
        .create_app(
            "billing",
            &AppInput {
                base_url: Some("https://billing.example.edu".into()),
                budget: None,
            },
            now(),
        )
        .await
        .expect("app");
    let same = AppInput {
        base_url: Some("https://billing.example.edu".into()),
        budget: Some(app.budget.to_string()),
    };
    assert!(matches!(
        ops.edit_app("billing", &same, app.updated_at, now()).await,
        Err(OpsError::NothingToChange)
    ));
    let bigger = AppInput {
        budget: Some("9".into()),
        ..same.clone()
    };
    let later = now() + chrono::Duration::seconds(3);
    let written = ops
        .edit_app("billing", &bigger, app.updated_at, later)
        .await
        .expect("edit");
    assert_eq!(written.budget, 9);
    // A form read before that write is refused.
    let moved = AppInput {
        base_url: Some("https://new.example.edu".into()),
        ..same
    };
    let e = ops
        .edit_app("billing", &moved, app.updated_at, now())
        .await
        .expect_err("refused");
    assert!(matches!(e, OpsError::ChangedSince { .. }), "{e:?}");
    let stored = ops.show_app("billing").await.expect("app").app;
    assert_eq!(stored.base_url.to_string(), "https://billing.example.edu");
    assert_eq!(stored.budget, 9);
}

#[test]
fn the_seen_time_round_trips_to_the_nanosecond() {
    let t = now() + chrono::Duration::nanoseconds(123_456_789);
    assert_eq!(parse_seen(&seen_text(t)).expect("parse"), t);
    assert_eq!(
        parse_seen("yesterday")
            .expect_err("refused")
            .path
            .to_string(),
        "seen"
    );
}

#[test]
fn an_app_form_reports_each_bad_field() {
    let bad = AppInput {
        base_url: Some("ftp://x.edu".into()),
        budget: Some("100".into()),
    };
    let errors = check_new_app("Bad App", &bad).expect_err("refused");
    assert_eq!(paths(&errors), ["app", "base_url", "budget"]);
    let missing = AppInput::default();
    assert_eq!(paths(&missing.errors(true)), ["base_url"]);
    assert!(missing.errors(false).is_empty());
    let good = AppInput {
        base_url: Some("https://billing.example.edu".into()),
        budget: Some("8".into()),
    };
    assert_eq!(
        check_new_app("billing", &good).expect("accepted").as_str(),
        "billing"
    );
}
