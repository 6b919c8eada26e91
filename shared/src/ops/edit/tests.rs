//! Whole forms on the memory store: a stored job shown as a form reads back to the same
//! definition; every bad field is reported at once; an edit writes only what differs and
//! never over a person's change made after the form was read.

use super::*;
use crate::clock::FixedClock;
use crate::model::Job;
use crate::model::{Method, OverlapPolicy, Status};
use crate::ops::definition::Definition;
use crate::ops::tests::{key, now, setup};
use crate::ops::{NowUse, TickAt};
use crate::store::Store;
use crate::testing::FakeDispatch;
use crate::tick::TickConfig;

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
        // Every field typed again as shown (a browser trims them) changes nothing.
        let mut typed = shown.clone();
        typed.description = typed.description.map(|d| d.trim().to_owned());
        assert!(matches!(
            ops.edit(&key(&format!("job-{i}")), &shown, &typed, now())
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
async fn an_edit_writes_only_the_fields_changed_and_says_which() {
    let (ops, store) = setup();
    let job = ops
        .create(&key("invoices"), &form("0 9 * * *"), now())
        .await
        .expect("create");
    let shown = JobInput::of(&job);
    let mut typed = shown.clone();
    typed.schedule = ScheduleForm::written("30 9 * * mon-fri");
    typed.timeout = Some("45s".into());
    let later = now() + chrono::Duration::minutes(1);
    let edited = ops
        .edit(&key("invoices"), &shown, &typed, later)
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
    // An emptied optional field is its default; an emptied schedule is refused.
    let shown = JobInput::of(&stored);
    let mut typed = shown.clone();
    typed.timeout = None;
    ops.edit(&key("invoices"), &shown, &typed, later)
        .await
        .expect("edit");
    assert_eq!(
        ops.job(&key("invoices")).await.expect("job").timeout_ms,
        30_000
    );
    let shown = JobInput::of(&ops.job(&key("invoices")).await.expect("job"));
    let mut typed = shown.clone();
    typed.schedule = ScheduleForm::default();
    let e = ops
        .edit(&key("invoices"), &shown, &typed, later)
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, OpsError::Invalid(f) if f.path.to_string() == "schedule"),
        "{e:?}"
    );
}

/// Someone else changes `other` while the form is open.
async fn changed_meanwhile(ops: &Ops, other: JobInput) -> Job {
    ops.update(
        &key("invoices"),
        &other,
        now() + chrono::Duration::seconds(5),
    )
    .await
    .expect("a change from elsewhere")
}

#[tokio::test]
async fn a_change_made_after_the_form_was_shown_is_kept_unless_the_form_changed_it_too() {
    let (ops, _) = setup();
    let job = ops
        .create(&key("invoices"), &form("0 9 * * *"), now())
        .await
        .expect("create");
    let shown = JobInput::of(&job);
    // Someone sets the timeout; the form changes the retries: both hold.
    changed_meanwhile(
        &ops,
        JobInput {
            timeout: Some("10s".into()),
            ..Default::default()
        },
    )
    .await;
    let mut typed = shown.clone();
    typed.retries = Some("2".into());
    let edited = ops
        .edit(
            &key("invoices"),
            &shown,
            &typed,
            now() + chrono::Duration::seconds(9),
        )
        .await
        .expect("no conflict");
    assert_eq!((edited.job.retries, edited.job.timeout_ms), (2, 10_000));
    let fields: Vec<&str> = edited.changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, ["retries"]);

    // Someone sets the timeout to 12s; the form, shown before, sets it to 20s: refused,
    // nothing written.
    let shown = JobInput::of(&edited.job);
    let changed = changed_meanwhile(
        &ops,
        JobInput {
            timeout: Some("12s".into()),
            ..Default::default()
        },
    )
    .await;
    let mut typed = shown.clone();
    typed.timeout = Some("20s".into());
    typed.description = Some("nightly".into());
    let e = ops
        .edit(
            &key("invoices"),
            &shown,
            &typed,
            now() + chrono::Duration::seconds(9),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, OpsError::ChangedSince { at, fields, .. } if *at == changed.updated_at && fields == &["timeout"]),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the job billing/invoices was changed at 2026-11-26T12:00:05Z after this form was read, in timeout you changed too; nothing was written: review its current values and save again"
    );
    let stored = ops.job(&key("invoices")).await.expect("job");
    assert_eq!(
        (stored.timeout_ms, stored.description.as_str()),
        (12_000, "")
    );
    // The form shown again: the person's values where they typed, the job's elsewhere;
    // saved, the person's timeout wins, knowingly.
    let review = merge_for_review(&stored, &shown, &typed);
    assert_eq!(review.timeout.as_deref(), Some("20s"));
    let edited = ops
        .edit(&key("invoices"), &JobInput::of(&stored), &review, now())
        .await
        .expect("saved after review");
    assert_eq!(
        (
            edited.job.timeout_ms,
            edited.job.description.as_str(),
            edited.job.retries
        ),
        (20_000, "nightly", 2)
    );

    // Someone made the very change the form makes: no conflict, nothing left to change.
    let shown = JobInput::of(&edited.job);
    changed_meanwhile(
        &ops,
        JobInput {
            retries: Some("3".into()),
            ..Default::default()
        },
    )
    .await;
    let mut typed = shown.clone();
    typed.retries = Some("3".into());
    assert!(matches!(
        ops.edit(&key("invoices"), &shown, &typed, now()).await,
        Err(OpsError::NothingToChange)
    ));
}

#[tokio::test]
async fn untouched_fields_keep_their_values_whatever_the_form_could_show() {
    let (ops, store) = setup();
    let created = ops
        .create(
            &key("invoices"),
            &JobInput {
                timezone: Some("Europe/Berlin".into()),
                start: Some("2026-12-01T08:00".into()),
                description: Some("  two\nlines  ".into()),
                ..form("0 9 * * *")
            },
            now(),
        )
        .await
        .expect("create");
    // A timeout the form's grammar cannot write (another writer's milliseconds).
    let mut odd = created.clone();
    odd.timeout_ms = 1_500;
    odd.state.version += 1;
    assert!(
        store
            .put_job(&odd, created.state.version)
            .await
            .expect("put")
    );
    let shown = JobInput::of(&odd);
    assert_eq!(shown.timeout.as_deref(), Some("1500ms"));
    // As a browser sends the form back: a text area's CRLF, trimmed values.
    let mut typed = shown.clone();
    typed.description = Some("two\r\nlines".into());
    // Only the zone changes: the start stays the same instant (not the same wall time).
    typed.timezone = Some("America/New_York".into());
    let edited = ops
        .edit(&key("invoices"), &shown, &typed, now())
        .await
        .expect("edit");
    let fields: Vec<&str> = edited.changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, ["timezone"]);
    assert_eq!(edited.job.start, created.start);
    assert_eq!(edited.job.timeout_ms, 1_500);
    assert_eq!(edited.job.description, "  two\nlines  ");
}

#[tokio::test]
async fn the_tick_s_bookkeeping_after_the_form_was_read_is_no_conflict() {
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
    let shown = JobInput::of(&job);
    let mut typed = shown.clone();
    typed.description = Some("nightly".into());
    let edited = ops
        .edit(&key("invoices"), &shown, &typed, at)
        .await
        .expect("the tick is not a person's change");
    assert_eq!(edited.job.description, "nightly");
    assert_eq!(edited.job.state.last, ticked.state.last);
}

#[tokio::test]
async fn an_app_edit_writes_the_fields_changed_over_the_record_as_it_is() {
    let (ops, _) = setup();
    let app = ops
        .create_app(
            "billing",
            &AppInput {
                base_url: Some("https://billing.example.edu".into()),
                budget: None,
                timezone: None,
                ..AppInput::default()
            },
            now(),
        )
        .await
        .expect("app");
    let shown = AppInput {
        base_url: Some(app.base_url.to_string()),
        budget: Some(app.budget.to_string()),
        timezone: None,
        ..AppInput::default()
    };
    assert!(matches!(
        ops.edit_app("billing", &shown, &shown, now()).await,
        Err(OpsError::NothingToChange)
    ));
    // Someone moves the base URL; the form, shown before, sets the budget: both hold.
    let moved = ops
        .update_app(
            "billing",
            &AppInput {
                base_url: Some("https://moved.example.edu".into()),
                budget: None,
                timezone: None,
                ..AppInput::default()
            },
            now(),
        )
        .await
        .expect("move");
    let bigger = AppInput {
        budget: Some("9".into()),
        ..shown.clone()
    };
    let written = ops
        .edit_app("billing", &shown, &bigger, now())
        .await
        .expect("edit");
    assert_eq!(written.budget, 9);
    assert_eq!(written.base_url, moved.base_url);
    // The form, shown before the move, moves it elsewhere: refused.
    let elsewhere = AppInput {
        base_url: Some("https://elsewhere.example.edu".into()),
        ..shown.clone()
    };
    let e = ops
        .edit_app("billing", &shown, &elsewhere, now())
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, OpsError::ChangedSince { fields, .. } if fields == &["base_url"]),
        "{e:?}"
    );
    // An emptied budget is the default; an emptied base URL is refused.
    let now_shown = AppInput {
        base_url: Some("https://moved.example.edu".into()),
        budget: Some("9".into()),
        timezone: None,
        ..AppInput::default()
    };
    let emptied = AppInput {
        budget: None,
        ..now_shown.clone()
    };
    assert_eq!(
        ops.edit_app("billing", &now_shown, &emptied, now())
            .await
            .expect("edit")
            .budget,
        crate::model::DEFAULT_APP_BUDGET
    );
    let no_url = AppInput {
        base_url: None,
        ..now_shown
    };
    let e = ops
        .edit_app("billing", &shown, &no_url, now())
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, OpsError::Invalid(f) if f.path.to_string() == "base_url"),
        "{e:?}"
    );
}

#[test]
fn an_app_form_reports_each_bad_field() {
    let bad = AppInput {
        base_url: Some("ftp://x.edu".into()),
        budget: Some("100".into()),
        timezone: None,
        ..AppInput::default()
    };
    let errors = check_new_app("Bad App", &bad).expect_err("refused");
    assert_eq!(paths(&errors), ["app", "base_url", "budget"]);
    let missing = AppInput::default();
    assert_eq!(paths(&missing.errors(true)), ["base_url"]);
    assert!(missing.errors(false).is_empty());
    let good = AppInput {
        base_url: Some("https://billing.example.edu".into()),
        budget: Some("8".into()),
        timezone: None,
        ..AppInput::default()
    };
    assert_eq!(
        check_new_app("billing", &good).expect("accepted").as_str(),
        "billing"
    );
}

#[tokio::test]
async fn a_zone_changed_elsewhere_conflicts_with_a_schedule_or_date_typed_in_the_old_one() {
    let (ops, _) = setup();
    let job = ops
        .create(
            &key("invoices"),
            &JobInput {
                timezone: Some("Europe/Berlin".into()),
                ..form("0 9 * * *")
            },
            now(),
        )
        .await
        .expect("create");
    let shown = JobInput::of(&job);
    let mut typed = shown.clone();
    typed.start = Some("2026-12-01T08:00".into());
    changed_meanwhile(
        &ops,
        JobInput {
            timezone: Some("America/New_York".into()),
            ..Default::default()
        },
    )
    .await;
    let e = ops
        .edit(&key("invoices"), &shown, &typed, now())
        .await
        .expect_err("the start was typed in Berlin time");
    assert!(
        matches!(&e, OpsError::ChangedSince { fields, .. } if fields == &["timezone"]),
        "{e:?}"
    );
    assert_eq!(ops.job(&key("invoices")).await.expect("job").start, None);
    // A field not read in the zone goes through.
    let mut typed = shown.clone();
    typed.retries = Some("1".into());
    let edited = ops
        .edit(&key("invoices"), &shown, &typed, now())
        .await
        .expect("retries are not read in a zone");
    assert_eq!(edited.job.timezone.name(), "America/New_York");
}

#[tokio::test]
async fn the_same_value_written_differently_is_no_conflict() {
    let (ops, _) = setup();
    let job = ops
        .create(
            &key("invoices"),
            &JobInput {
                timeout: Some("45s".into()),
                ..form("0 9 * * *")
            },
            now(),
        )
        .await
        .expect("create");
    let shown = JobInput::of(&job);
    // Someone sets 1m; the form types 60s: the same value, nothing left to change.
    changed_meanwhile(
        &ops,
        JobInput {
            timeout: Some("1m".into()),
            ..Default::default()
        },
    )
    .await;
    let mut typed = shown.clone();
    typed.timeout = Some("60s".into());
    assert!(matches!(
        ops.edit(&key("invoices"), &shown, &typed, now()).await,
        Err(OpsError::NothingToChange)
    ));
    // Someone sets 30s; the form empties the field (the default, 30s): the same.
    let shown = JobInput::of(&ops.job(&key("invoices")).await.expect("job"));
    changed_meanwhile(
        &ops,
        JobInput {
            timeout: Some("30s".into()),
            ..Default::default()
        },
    )
    .await;
    let mut typed = shown.clone();
    typed.timeout = None;
    assert!(matches!(
        ops.edit(&key("invoices"), &shown, &typed, now()).await,
        Err(OpsError::NothingToChange)
    ));
    // A URL written without its trailing slash, the same as the stored one.
    let shown = JobInput::of(&ops.job(&key("invoices")).await.expect("job"));
    changed_meanwhile(
        &ops,
        JobInput {
            url: Some("https://billing.example.edu/".into()),
            ..Default::default()
        },
    )
    .await;
    let mut typed = shown.clone();
    typed.url = Some("https://billing.example.edu".into());
    assert!(matches!(
        ops.edit(&key("invoices"), &shown, &typed, now()).await,
        Err(OpsError::NothingToChange)
    ));
}
