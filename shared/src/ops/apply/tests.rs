//! Reading a schedules file (every error with its line and column) and planning it against
//! the memory store.

use std::sync::Arc;

use chrono::TimeZone;

use chrono::{DateTime, Utc};

use super::execute::CHANGED;
use super::plan::StepView;
use super::vars::interpolate;
use super::*;
use crate::model::{DEFAULT_APP_BUDGET, JobPath};
use crate::ops::{Change, Ops, OpsError};
use crate::store::memory::MemoryStore;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid")
}

fn env(name: &str) -> Option<String> {
    match name {
        "BILLING_URL" => Some("https://billing.example.edu".to_owned()),
        "DOLLAR" => Some("$".to_owned()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<DesiredState, OpsError> {
    parse_file("jobs.toml", text, &env)
}

/// The errors as `file:line:col: path: message` lines.
fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Err(OpsError::InvalidFile(list)) => list.iter().map(ToString::to_string).collect(),
        other => panic!("expected errors, got {other:?}"),
    }
}

const FILE: &str = r#"
[[apps]]
name = "billing"
base_url = "${BILLING_URL}"

[[apps.jobs]]
name = "invoices"
path = "/scheduled/invoices"
cron = "0 8 * * mon-fri"
timezone = "America/Los_Angeles"
timeout = "2m"

[[apps.jobs]]
name = "sync"
url = "https://billing.example.edu/sync"
every = "15m"
between = "08:00-17:00"
retries = 2
"#;

#[test]
fn a_file_reads_into_apps_and_jobs_with_variables_replaced() {
    let desired = parse(FILE).expect("valid");
    assert_eq!(desired.job_count(), 2);
    let app = &desired.apps[0];
    assert_eq!(app.name.as_str(), "billing");
    let record = app.record.as_ref().expect("record");
    assert_eq!(
        (record.base_url.as_str(), record.budget),
        ("https://billing.example.edu", DEFAULT_APP_BUDGET)
    );
    let invoices = &app.jobs[0].def;
    assert_eq!(
        invoices.path.as_ref().map(JobPath::as_str),
        Some("/scheduled/invoices")
    );
    assert_eq!(invoices.timeout_ms, 120_000);
    assert_eq!(invoices.timezone, chrono_tz::America::Los_Angeles);
    let sync = &app.jobs[1];
    assert_eq!(
        sync.def.schedule.to_string(),
        "every 15m between 08:00-17:00"
    );
    assert_eq!((sync.def.retries, sync.paused), (2, None));
}

#[test]
fn three_errors_are_all_reported_with_their_line_and_column() {
    let text = r#"[[apps]]
name = "billing"

[[apps.jobs]]
name = "invoices"
path = "/scheduled/invoices"
cron = "0 8 * * *"

[[apps.jobs]]
name = "sync"
url = "https://billing.example.edu/sync"
shedule = "every 15m"
every = "15m"
timeout = "90"
"#;
    assert_eq!(
        errors(text),
        [
            "jobs.toml:6:8: apps[0].jobs[0].path: a job by path needs its app's base_url; give the app base_url = \"https://host\", or give the job a url",
            "jobs.toml:12:1: apps[0].jobs[1].shedule: unknown key; the keys of a job are name, url, path, method, cron, at, every, between, days, timezone, start, end, timeout, retries, max_lateness, jitter, overlap, description, pause_reason, paused",
            "jobs.toml:14:11: apps[0].jobs[1].timeout: `90` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)",
        ]
    );
}

#[test]
fn duplicate_names_a_typo_and_a_missing_variable_are_errors() {
    let text = r#"[[apps]]
name = "billing"
base_url = "${BILLING_HOST}"

[[apps.jobs]]
name = "a"
url = "https://h.example.edu/a"
at = "08:00"
timeot = "1m"

[[apps.jobs]]
name = "a"
url = "https://h.example.edu/b"
at = "09:00"
"#;
    assert_eq!(
        errors(text),
        [
            "jobs.toml:3:12: apps[0].base_url: ${BILLING_HOST} is not given to the file; set PSU_SCHED_VAR_BILLING_HOST in the environment, or pass --var BILLING_HOST=VALUE",
            "jobs.toml:9:1: apps[0].jobs[0].timeot: unknown key; did you mean `timeout`? the keys of a job are name, url, path, method, cron, at, every, between, days, timezone, start, end, timeout, retries, max_lateness, jitter, overlap, description, pause_reason, paused",
            "jobs.toml:12:8: apps[0].jobs[1].name: duplicate: a job named a is already declared in this app at line 6",
        ]
    );
}

#[test]
fn names_may_not_use_variables_and_values_must_have_their_kind() {
    let text = r#"[[apps]]
name = "${APP}"

[[apps.jobs]]
name = "a"
url = "https://h.example.edu/a"
every = 15
paused = "yes"
"#;
    let errs = errors(text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs[0].starts_with("jobs.toml:2:8: apps[0].name: names may not use ${VAR}"));
    assert!(
        errs[1].starts_with("jobs.toml:7:9: apps[0].jobs[0].every: an integer is not accepted")
    );
    assert!(errs[2].starts_with(
        "jobs.toml:8:10: apps[0].jobs[0].paused: a string is not accepted; use true or false"
    ));
}

#[test]
fn a_syntax_error_is_reported_at_its_place() {
    let errs = errors("[[apps]]\nname = \"billing\nbase_url = 1\n");
    assert!(errs[0].starts_with("jobs.toml:2:"), "{errs:?}");
}

#[test]
fn values_take_exactly_what_create_takes() {
    let text = r#"[[apps]]
name = "a"

[[apps.jobs]]
name = "j"
url = "ftp://h/"
at = "8am"
retries = 9
overlap = "sometimes"
timezone = "America/Los_Angles"
"#;
    let errs = errors(text);
    let fields: Vec<&str> = errs
        .iter()
        .map(|e| e.split(": ").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        fields,
        [
            "apps[0].jobs[0].url",
            "apps[0].jobs[0].at",
            "apps[0].jobs[0].retries",
            "apps[0].jobs[0].overlap",
            "apps[0].jobs[0].timezone",
        ],
        "{errs:#?}"
    );
}

#[test]
fn interpolation_replaces_variables_and_keeps_a_doubled_dollar() {
    assert_eq!(
        interpolate("${BILLING_URL}/x?a=$$b&c=$d", &env),
        Ok(("https://billing.example.edu/x?a=$b&c=$d".to_owned(), true))
    );
    assert_eq!(interpolate("a$$b", &env), Ok(("a$b".to_owned(), false)));
    assert!(interpolate("${NOPE}", &env).is_err());
    assert!(interpolate("${1X}", &env).is_err());
    assert!(interpolate("${OPEN", &env).is_err());
}

fn setup() -> (Ops, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (Ops::with_store("memory", store.clone()), store)
}

async fn apply(ops: &Ops, text: &str, prune: bool) -> Plan {
    let desired = parse(text).expect("valid");
    let plan = ops.plan(&desired, prune).await.expect("plan");
    let results = ops
        .apply_plan(&plan, now(), |_, _| {})
        .await
        .expect("apply");
    assert!(
        results.iter().all(|r| !matches!(r, Applied::Refused(_))),
        "{results:?}"
    );
    plan
}

#[tokio::test]
async fn a_second_apply_plans_no_change_and_two_changed_fields_are_exactly_those() {
    let (ops, _) = setup();
    let first = apply(&ops, FILE, false).await;
    assert_eq!(
        (first.count(Action::Create), first.count(Action::Update)),
        (3, 0)
    );
    let again = ops
        .plan(&parse(FILE).expect("valid"), false)
        .await
        .expect("plan");
    assert!(again.is_empty(), "{again:#?}");
    assert_eq!(again.count(Action::Unchanged), 3);

    let changed = FILE
        .replace("timeout = \"2m\"", "timeout = \"5m\"")
        .replace("retries = 2", "retries = 3");
    let plan = ops
        .plan(&parse(&changed).expect("valid"), false)
        .await
        .expect("plan");
    let updates: Vec<(String, Vec<Change>)> = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Update)
        .map(|s| {
            (
                s.job.as_ref().map(ToString::to_string).unwrap_or_default(),
                s.changes.clone(),
            )
        })
        .collect();
    let change = |field, old: &str, new: &str| Change {
        field,
        old: Some(old.to_owned()),
        new: Some(new.to_owned()),
        from_variables: false,
        old_hidden: false,
    };
    assert_eq!(
        updates,
        [
            ("invoices".to_owned(), vec![change("timeout", "2m", "5m")]),
            ("sync".to_owned(), vec![change("retries", "2", "3")]),
        ]
    );
}

#[tokio::test]
async fn an_export_applied_plans_no_change() {
    let (ops, _) = setup();
    let text = format!(
        "{FILE}\n{}",
        r#"
[[apps.jobs]]
name = "weekly"
url = "https://billing.example.edu/weekly"
at = "08:00,13:30"
days = "mon,wed-fri"
method = "POST"
start = "2026-12-01"
end = "2027-06-30T17:00"
timezone = "Europe/London"
max_lateness = "1h30m"
overlap = "allow"
description = "Weekly \"report\", $$5 a ${DOLLAR}{NOT_A_VAR}"
paused = true

[[apps]]
name = "other"

[[apps.jobs]]
name = "daily"
url = "https://other.example.edu/"
cron = "@daily"
"#
    );
    apply(&ops, &text, false).await;
    let exported = ops.export(None).await.expect("export");
    let desired = parse_file("export.toml", &exported, &|_| None).expect(&exported);
    let plan = ops.plan(&desired, true).await.expect("plan");
    assert!(plan.is_empty(), "{exported}\n{plan:#?}");
    assert_eq!(plan.count(Action::Unchanged), 5);
}

#[test]
fn the_plan_view_fields_are_documented_in_the_cli_guide() {
    let guide = include_str!("../../../../docs/cli.md");
    let step = StepView {
        app: "a".into(),
        name: Some("j".into()),
        action: Action::Update,
        changes: vec![Change {
            field: "timeout",
            old: Some("30s".into()),
            new: Some("1m".into()),
            from_variables: true,
            old_hidden: true,
        }],
        stays_paused: false,
        result: Some("refused"),
        reason: Some(CHANGED.into()),
    };
    let mut view = PlanView::new(&Plan { steps: Vec::new() }, None);
    view.steps.push(step.clone());
    let values = [
        serde_json::to_value(&view).expect("plan"),
        serde_json::to_value(&step).expect("step"),
        serde_json::to_value(&step.changes[0]).expect("change"),
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

#[test]
fn an_app_declared_twice_and_a_misspelt_jobs_table_are_errors() {
    let text = r#"[[apps]]
name = "billing"

[[apps.job]]
name = "a"

[[apps]]
name = "billing"
"#;
    assert_eq!(
        errors(text),
        [
            "jobs.toml:4:8: apps[0].job: unknown key; did you mean `jobs`? the keys of an app are name, base_url, budget, timezone, paused, pause_reason, webhook, notify_after, jobs",
            "jobs.toml:8:8: apps[1].name: the app billing is already declared at line 2; declare each app once, with all its jobs",
        ]
    );
}

/// A process environment as a CI job of a pull request has it.
fn process_env(key: &str) -> Option<String> {
    match key {
        "AWS_SECRET_ACCESS_KEY" => Some("aws-secret-value".to_owned()),
        "PSU_SCHED_SIGNING_SECRET" => Some("signing-secret-value".to_owned()),
        "GITHUB_TOKEN" => Some("github-token-value".to_owned()),
        "PSU_SCHED_VAR_HOST" => Some("env.example.edu".to_owned()),
        "PSU_SCHED_VAR_AWS_SECRET_ACCESS_KEY" => Some("prefixed-aws-value".to_owned()),
        _ => None,
    }
}

#[test]
fn a_file_sees_only_var_and_psu_sched_var_values_never_aws_nor_the_scheduler_s_own() {
    let given = vec![("TOKEN".to_owned(), "given-token".to_owned())];
    let var = |name: &str| file_var(name, &given, &process_env);
    assert_eq!(var("HOST").as_deref(), Some("env.example.edu"));
    assert_eq!(var("TOKEN").as_deref(), Some("given-token"));
    for name in [
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "aws_secret_access_key",
        "PSU_SCHED_SIGNING_SECRET",
        "PSU_SCHED_VAR_HOST",
    ] {
        assert_eq!(var(name), None, "{name}");
    }
    // --var wins over the environment.
    let given = vec![("HOST".to_owned(), "given.example.edu".to_owned())];
    assert_eq!(
        file_var("HOST", &given, &process_env).as_deref(),
        Some("given.example.edu")
    );
}

#[test]
fn a_reserved_or_undeclared_variable_is_refused_with_how_to_give_it_and_no_value() {
    // Even a lookup that would answer (the process environment itself) is not asked.
    let text = r#"[[apps]]
name = "billing"
base_url = "https://billing.example.edu"

[[apps.jobs]]
name = "a"
url = "https://x.example.edu/?k=${AWS_SECRET_ACCESS_KEY}"
every = "15m"
description = "${PSU_SCHED_SIGNING_SECRET} ${GITHUB_TOKEN}"
"#;
    let errs = match parse_file("jobs.toml", text, &process_env) {
        Err(OpsError::InvalidFile(list)) => {
            list.iter().map(ToString::to_string).collect::<Vec<_>>()
        }
        other => panic!("expected errors, got {other:?}"),
    };
    assert_eq!(
        errs,
        [
            "jobs.toml:7:7: apps[0].jobs[0].url: ${AWS_SECRET_ACCESS_KEY} is not available to a file: names starting with AWS_ or PSU_SCHED_ are the scheduler's own settings and credentials; give the value another name, set as PSU_SCHED_VAR_<NAME> or passed as --var NAME=VALUE",
            "jobs.toml:9:15: apps[0].jobs[0].description: ${PSU_SCHED_SIGNING_SECRET} is not available to a file: names starting with AWS_ or PSU_SCHED_ are the scheduler's own settings and credentials; give the value another name, set as PSU_SCHED_VAR_<NAME> or passed as --var NAME=VALUE",
        ]
    );
    let vars = |name: &str| file_var(name, &[], &process_env);
    let errs = match parse_file(
        "jobs.toml",
        &text
            .replace("${AWS_SECRET_ACCESS_KEY}", "${MISSING}")
            .replace("${PSU_SCHED_SIGNING_SECRET} ", ""),
        &vars,
    ) {
        Err(OpsError::InvalidFile(list)) => {
            list.iter().map(ToString::to_string).collect::<Vec<_>>()
        }
        other => panic!("expected errors, got {other:?}"),
    };
    assert_eq!(
        errs,
        [
            "jobs.toml:7:7: apps[0].jobs[0].url: ${MISSING} is not given to the file; set PSU_SCHED_VAR_MISSING in the environment, or pass --var MISSING=VALUE",
            "jobs.toml:9:15: apps[0].jobs[0].description: ${GITHUB_TOKEN} is not given to the file; set PSU_SCHED_VAR_GITHUB_TOKEN in the environment, or pass --var GITHUB_TOKEN=VALUE",
        ]
    );
}

#[test]
fn a_refused_value_from_a_variable_is_shown_as_written_never_expanded() {
    let secret = "s3cret-Value_9";
    let given = [
        ("BAD_URL".to_owned(), format!("not a url {secret}")),
        ("ZONE".to_owned(), format!("Mars/{secret}")),
        ("EVERY".to_owned(), format!("{secret}m")),
        ("WHEN".to_owned(), format!("2026-13-{secret}")),
        ("LATER".to_owned(), "2031-07-09".to_owned()),
    ];
    let vars = |name: &str| file_var(name, &given, &|_| None);
    let text = r#"[[apps]]
name = "billing"

[[apps.jobs]]
name = "a"
url = "${BAD_URL}"
every = "${EVERY}"
timezone = "${ZONE}"
start = "${WHEN}"

[[apps.jobs]]
name = "b"
url = "https://billing.example.edu/b"
every = "15m"
start = "${LATER}"
end = "2030-01-01"
"#;
    let errs = match parse_file("jobs.toml", text, &vars) {
        Err(OpsError::InvalidFile(list)) => {
            list.iter().map(ToString::to_string).collect::<Vec<_>>()
        }
        other => panic!("expected errors, got {other:?}"),
    };
    assert!(!errs.is_empty());
    for e in &errs {
        assert!(!e.contains(secret) && !e.contains("2031"), "{e}");
    }
    // A check of two keys (the end after the start) quotes neither when one is a variable.
    assert_eq!(
        errs.last().map(String::as_str),
        Some(
            "jobs.toml:16:7: apps[0].jobs[1].end: refused once the variables of start = \"${LATER}\" are given (the values are not shown: they came from variables); see what each key accepts in docs/schedules-as-code.md"
        ),
        "{errs:#?}"
    );
    assert_eq!(
        errs[0],
        "jobs.toml:6:7: apps[0].jobs[0].url: `${BAD_URL}` is refused once its variables are given (the value is not shown: it came from a variable); use http://host/path or https://host/path"
    );
    assert!(
        errs.iter().any(|e| e.starts_with(
            "jobs.toml:8:12: apps[0].jobs[0].timezone: `${ZONE}` is refused once its variables are given"
        ) && e.ends_with("use an IANA time zone (America/Los_Angeles)")),
        "{errs:#?}"
    );
}

#[test]
fn var_arguments_are_read_and_a_refused_one_never_shows_its_value() {
    assert_eq!(
        parse_var("HOST=a=b.example.edu").map_err(|e| e.to_string()),
        Ok(("HOST".to_owned(), "a=b.example.edu".to_owned()))
    );
    assert_eq!(
        parse_var("EMPTY=").map_err(|e| e.to_string()),
        Ok(("EMPTY".to_owned(), String::new()))
    );
    for (arg, refusal) in [
        ("s3cret-alone", "var: expected NAME=VALUE"),
        (
            "1X=s3cret",
            "var: the name before `=` is not a variable name",
        ),
        // A secret with `=` padding passed without its name: the part before `=` is secret too.
        (
            "czNjcmV0/s3cret==",
            "var: the name before `=` is not a variable name",
        ),
        (
            "A\u{1b}[2Js3cret=x",
            "var: the name before `=` is not a variable name",
        ),
        (
            "AWS_SECRET_ACCESS_KEY=s3cret",
            "var: ${AWS_SECRET_ACCESS_KEY} is not available to a file",
        ),
        (
            "psu_sched_signing_secret=s3cret",
            "var: ${psu_sched_signing_secret} is not available to a file",
        ),
    ] {
        let e = parse_var(arg).expect_err(arg).to_string();
        assert!(e.starts_with(refusal), "{arg}: {e}");
        assert!(!e.contains("s3cret"), "{arg}: {e}");
    }
}

#[tokio::test]
async fn the_plan_shows_a_value_from_a_variable_as_written_and_never_its_old_value() {
    let (ops, _) = setup();
    let text = r#"[[apps]]
name = "billing"
base_url = "https://${HOST}"

[[apps.jobs]]
name = "sync"
url = "https://partner.example.edu/sync?token=${TOKEN}"
every = "${EVERY}"
between = "08:00-17:00"
timeout = "2m"
"#;
    let read = |token: &str| {
        let given = [
            ("HOST".to_owned(), "billing.example.edu".to_owned()),
            ("TOKEN".to_owned(), token.to_owned()),
            ("EVERY".to_owned(), "15m".to_owned()),
        ];
        parse_file("jobs.toml", text, &|n| file_var(n, &given, &|_| None)).expect("valid")
    };
    let plan = ops.plan(&read("first-token"), false).await.expect("plan");
    let shown = |plan: &Plan| -> Vec<(String, Option<String>, Option<String>, bool)> {
        plan.steps
            .iter()
            .flat_map(|s| s.changes.iter())
            .map(|c| {
                (
                    c.field.to_owned(),
                    c.old.clone(),
                    c.new.clone(),
                    c.from_variables,
                )
            })
            .collect()
    };
    let row = |f: &str, old: Option<&str>, new: &str, v: bool| {
        (
            f.to_owned(),
            old.map(str::to_owned),
            Some(new.to_owned()),
            v,
        )
    };
    assert_eq!(
        shown(&plan),
        [
            row("base_url", None, "https://${HOST}", true),
            row("budget", None, "4", false),
            row(
                "url",
                None,
                "https://partner.example.edu/sync?token=${TOKEN}",
                true
            ),
            row("schedule", None, "every ${EVERY} between 08:00-17:00", true),
            row("timeout", None, "2m", false),
        ]
    );
    ops.apply_plan(&plan, now(), |_, _| {})
        .await
        .expect("apply");
    // The values were written; the same values plan no change.
    assert!(
        ops.plan(&read("first-token"), false)
            .await
            .expect("plan")
            .is_empty()
    );
    // A new token: the field changes, shown as written, the old value not shown.
    let plan = ops.plan(&read("second-token"), false).await.expect("plan");
    assert_eq!(
        shown(&plan),
        [row(
            "url",
            None,
            "https://partner.example.edu/sync?token=${TOKEN}",
            true
        )]
    );
    assert_eq!(plan.count(Action::Update), 1);
}
