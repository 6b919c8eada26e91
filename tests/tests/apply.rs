//! Schedules as code (issue 19): `apply -f` planned and carried out on the real stores
//! (SQLite, and DynamoDB on moto), and the command line as a user or a CI job drives it.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use shared::model::{AppName, JobName};
use shared::ops::{
    Action, Applied, Change, DesiredState, JobInput, JobKey, Ops, OpsError, Plan, parse_file,
};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;

use crate::cli::Cli;
use crate::conformance::open_sqlite;
use crate::helpers::{moto, tempdb};

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid")
}

async fn sqlite() -> (Ops, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(open_sqlite(&tempdb::temp_db_path()).await);
    (Ops::with_store("sqlite", store.clone()), store)
}

async fn dynamodb() -> (Ops, Arc<dyn Store>) {
    let endpoint = moto::endpoint().await;
    let store = DynamoStore::new(
        &moto::sdk_config(&endpoint).await,
        moto::unique_table_name(),
    );
    store.create_table().await.expect("create the test table");
    let store: Arc<dyn Store> = Arc::new(store);
    (Ops::with_store("dynamodb", store.clone()), store)
}

/// The variables the files use, as one environment gives them (`file_var`).
fn env(name: &str) -> Option<String> {
    (name == "BILLING_URL").then(|| "https://billing.example.edu".to_owned())
}

fn parse(text: &str) -> DesiredState {
    parse_file("schedules.toml", text, &env).unwrap_or_else(|e| panic!("{e}: {e:?}"))
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

[[apps.jobs]]
name = "report"
path = "/scheduled/report"
at = "08:00,13:30"
days = "mon,wed"
retries = 2
"#;

/// Plans `text` and carries the plan out at `at`; every step must go through.
async fn apply_at(ops: &Ops, text: &str, prune: bool, at: DateTime<Utc>) -> Plan {
    let plan = ops.plan(&parse(text), prune).await.expect("plan");
    let results = ops.apply_plan(&plan, at, |_, _| {}).await.expect("apply");
    assert!(
        !results.iter().any(|r| matches!(r, Applied::Refused(_))),
        "{results:?}"
    );
    plan
}

fn job_key(app: &str, name: &str) -> JobKey {
    JobKey::parse(app, name).expect("key")
}

/// `app/name` of each step that does `action`.
fn doing(plan: &Plan, action: Action) -> Vec<String> {
    plan.steps
        .iter()
        .filter(|s| s.action == action)
        .map(|s| match &s.job {
            Some(job) => format!("{}/{job}", s.app),
            None => s.app.to_string(),
        })
        .collect()
}

async fn a_file_creates_then_two_changed_fields_are_exactly_the_plan_and_a_second_apply_changes_nothing(
    ops: Ops,
) {
    let plan = apply_at(&ops, FILE, false, noon()).await;
    assert_eq!(
        doing(&plan, Action::Create),
        [
            "billing",
            "billing/invoices",
            "billing/sync",
            "billing/report"
        ]
    );
    let invoices = ops.job(&job_key("billing", "invoices")).await.expect("job");
    assert_eq!(
        invoices.url.as_str(),
        "https://billing.example.edu/scheduled/invoices"
    );
    assert_eq!(invoices.timeout_ms, 120_000);
    assert!(invoices.state.next_slot.is_some());
    let app = ops.show_app("billing").await.expect("app").app;
    assert_eq!(app.base_url.as_str(), "https://billing.example.edu");

    let again = ops.plan(&parse(FILE), false).await.expect("plan");
    assert!(again.is_empty(), "{again:#?}");
    assert_eq!(again.count(Action::Unchanged), 4);

    let changed = FILE
        .replace("timeout = \"2m\"", "timeout = \"5m\"")
        .replace("every = \"15m\"", "every = \"30m\"");
    let plan = apply_at(&ops, &changed, false, noon()).await;
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
            (
                "sync".to_owned(),
                vec![change(
                    "schedule",
                    "every 15m between 08:00-17:00",
                    "every 30m between 08:00-17:00"
                )]
            ),
        ]
    );
    let sync = ops.job(&job_key("billing", "sync")).await.expect("job");
    assert_eq!(sync.schedule.to_string(), "every 30m between 08:00-17:00");
    let after = ops.plan(&parse(&changed), false).await.expect("plan");
    assert!(after.is_empty(), "{after:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_change_two_fields_and_reapply_on_sqlite() {
    a_file_creates_then_two_changed_fields_are_exactly_the_plan_and_a_second_apply_changes_nothing(
        sqlite().await.0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_change_two_fields_and_reapply_on_dynamodb() {
    a_file_creates_then_two_changed_fields_are_exactly_the_plan_and_a_second_apply_changes_nothing(
        dynamodb().await.0,
    )
    .await;
}

async fn prune_deletes_only_the_named_apps_jobs_the_file_dropped(ops: Ops) {
    apply_at(&ops, FILE, false, noon()).await;
    // Another app, created by hand: the file never names it.
    let other = JobInput {
        url: Some("https://other.example.edu/x".into()),
        schedule: shared::ops::ScheduleForm {
            cron: Some("@daily".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ops.create(&job_key("other", "x"), &other, noon())
        .await
        .expect("create");
    let fewer = FILE
        .split("[[apps.jobs]]\nname = \"report\"")
        .next()
        .expect("head")
        .to_owned();

    let kept = ops.plan(&parse(&fewer), false).await.expect("plan");
    assert_eq!(doing(&kept, Action::NotInFile), ["billing/report"]);
    assert!(kept.is_empty(), "without --prune nothing is deleted");

    let pruned = apply_at(&ops, &fewer, true, noon()).await;
    assert_eq!(doing(&pruned, Action::Delete), ["billing/report"]);
    assert!(matches!(
        ops.job(&job_key("billing", "report")).await,
        Err(OpsError::NotFound(..))
    ));
    ops.job(&job_key("other", "x"))
        .await
        .expect("the other app's job is untouched");
    let names: Vec<String> = ops
        .list(None)
        .await
        .expect("list")
        .iter()
        .map(|j| format!("{}/{}", j.app, j.name))
        .collect();
    assert_eq!(names, ["billing/invoices", "billing/sync", "other/x"]);
    let again = ops.plan(&parse(&fewer), true).await.expect("plan");
    assert!(again.is_empty(), "{again:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_is_limited_to_the_named_apps_on_sqlite() {
    prune_deletes_only_the_named_apps_jobs_the_file_dropped(sqlite().await.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_is_limited_to_the_named_apps_on_dynamodb() {
    prune_deletes_only_the_named_apps_jobs_the_file_dropped(dynamodb().await.0).await;
}

async fn an_export_applied_to_the_same_store_or_an_empty_one_plans_as_expected(
    ops: Ops,
    empty: Ops,
) {
    let more = format!(
        "{FILE}{}",
        r#"
[[apps.jobs]]
name = "weekly"
url = "https://billing.example.edu/weekly"
every = "2h"
days = "mon-fri"
method = "POST"
start = "2026-12-01"
end = 2027-06-30T17:00:00Z
max_lateness = "1h30m"
overlap = "allow"
description = "Weekly \"report\", with quotes"
paused = true

[[apps]]
name = "relay-only"

[[apps.jobs]]
name = "relay"
url = "https://old.example.edu/scheduler/run"
cron = "* * * * *"
"#
    );
    apply_at(&ops, &more, false, noon()).await;
    let exported = ops.export(None).await.expect("export");
    let desired = parse_file("export.toml", &exported, &|_| None)
        .unwrap_or_else(|e| panic!("{e:?}\n{exported}"));
    let plan = ops.plan(&desired, true).await.expect("plan");
    assert!(plan.is_empty(), "{exported}\n{plan:#?}");
    assert_eq!(plan.count(Action::Unchanged), 1 + 4 + 1);
    assert!(!exported.contains("version") && !exported.contains("next_slot"));

    // The export builds the same apps and jobs in another store.
    let plan = empty.plan(&desired, false).await.expect("plan");
    assert_eq!(plan.count(Action::Create), 1 + 4 + 1);
    empty
        .apply_plan(&plan, noon(), |_, _| {})
        .await
        .expect("apply");
    assert_eq!(empty.export(None).await.expect("export"), exported);
    let weekly = empty.job(&job_key("billing", "weekly")).await.expect("job");
    assert!(!weekly.enabled, "created paused");
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_apply_plans_no_change_on_sqlite() {
    an_export_applied_to_the_same_store_or_an_empty_one_plans_as_expected(
        sqlite().await.0,
        sqlite().await.0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_apply_plans_no_change_on_dynamodb() {
    an_export_applied_to_the_same_store_or_an_empty_one_plans_as_expected(
        dynamodb().await.0,
        dynamodb().await.0,
    )
    .await;
}

async fn a_paused_job_stays_paused_unless_the_file_says_paused_false(ops: Ops) {
    apply_at(&ops, FILE, false, noon()).await;
    let key = job_key("billing", "sync");
    ops.pause(&key, None, noon()).await.expect("pause");

    // The file says nothing about `paused`, and changes another field.
    let changed = FILE.replace("timeout = \"2m\"", "timeout = \"3m\"");
    let plan = apply_at(&ops, &changed, false, noon()).await;
    let sync = plan
        .steps
        .iter()
        .find(|s| s.job.as_ref().map(JobName::as_str) == Some("sync"))
        .expect("sync");
    assert_eq!(sync.action, Action::Unchanged);
    assert!(sync.stays_paused, "the plan says it stays paused");
    assert!(!ops.job(&key).await.expect("job").enabled, "still paused");

    let resumed = changed.replace("name = \"sync\"\n", "name = \"sync\"\npaused = false\n");
    let plan = apply_at(&ops, &resumed, false, noon()).await;
    let sync = plan
        .steps
        .iter()
        .find(|s| s.job.as_ref().map(JobName::as_str) == Some("sync"))
        .expect("sync");
    assert_eq!(sync.action, Action::Update);
    assert!(!sync.stays_paused);
    assert_eq!(
        sync.changes,
        [Change {
            field: "paused",
            old: Some("true".into()),
            new: Some("false".into()),
            from_variables: false,
            old_hidden: false,
        }]
    );
    let job = ops.job(&key).await.expect("job");
    assert!(job.enabled, "resumed");
    assert!(job.state.next_slot.is_some_and(|s| s > noon()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_paused_rule_on_sqlite() {
    a_paused_job_stays_paused_unless_the_file_says_paused_false(sqlite().await.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_paused_rule_on_dynamodb() {
    a_paused_job_stays_paused_unless_the_file_says_paused_false(dynamodb().await.0).await;
}

async fn a_job_changed_between_plan_and_apply_is_refused_and_the_rest_goes_on(
    ops: Ops,
    store: Arc<dyn Store>,
) {
    apply_at(&ops, FILE, false, noon()).await;
    let changed = FILE
        .replace("timeout = \"2m\"", "timeout = \"5m\"")
        .replace("retries = 2", "retries = 3")
        .replace("every = \"15m\"", "every = \"20m\"");
    let plan = ops.plan(&parse(&changed), false).await.expect("plan");
    assert_eq!(
        doing(&plan, Action::Update),
        ["billing/invoices", "billing/sync", "billing/report"]
    );

    // Between the plan and the writes: a person changes invoices, and the tick's bookkeeping
    // moves sync on (a new version, the definition as it was).
    let later = noon() + chrono::Duration::minutes(1);
    let by_hand = JobInput {
        description: Some("changed by hand".into()),
        ..Default::default()
    };
    ops.update(&job_key("billing", "invoices"), &by_hand, later)
        .await
        .expect("update");
    let app = AppName::parse("billing").expect("app");
    let mut sync = store
        .get_job(&app, &JobName::parse("sync").expect("name"))
        .await
        .expect("read")
        .expect("sync");
    let read = sync.state.version;
    sync.state.version += 1;
    sync.state.writer = Some("a-tick".into());
    assert!(store.put_job(&sync, read).await.expect("write"));

    let mut seen = Vec::new();
    let results = ops
        .apply_plan(&plan, later, |step, applied| {
            seen.push((
                step.job
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                applied.clone(),
            ));
        })
        .await
        .expect("apply");
    assert_eq!(results.len(), plan.steps.len());
    let refused: Vec<&str> = seen
        .iter()
        .filter(|(_, a)| matches!(a, Applied::Refused(_)))
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(refused, ["invoices"], "{seen:?}");
    let Some((_, Applied::Refused(reason))) = seen.iter().find(|(n, _)| n == "invoices") else {
        panic!("{seen:?}");
    };
    assert!(reason.contains("changed since the plan"), "{reason}");

    let invoices = ops.job(&job_key("billing", "invoices")).await.expect("job");
    assert_eq!(
        (invoices.description.as_str(), invoices.timeout_ms),
        ("changed by hand", 120_000),
        "the person's change stays, not overwritten"
    );
    let sync = ops.job(&job_key("billing", "sync")).await.expect("job");
    assert_eq!(sync.schedule.to_string(), "every 20m between 08:00-17:00");
    let report = ops.job(&job_key("billing", "report")).await.expect("job");
    assert_eq!(report.retries, 3);

    // Run again: the new plan shows the person's change as what the file would undo.
    let next = ops.plan(&parse(&changed), false).await.expect("plan");
    assert_eq!(doing(&next, Action::Update), ["billing/invoices"]);
    let fields: Vec<&str> = next
        .steps
        .iter()
        .filter(|s| s.action == Action::Update)
        .flat_map(|s| s.changes.iter().map(|c| c.field))
        .collect();
    assert_eq!(fields, ["timeout", "description"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_changed_since_the_plan_is_refused_on_sqlite() {
    let (ops, store) = sqlite().await;
    a_job_changed_between_plan_and_apply_is_refused_and_the_rest_goes_on(ops, store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_changed_since_the_plan_is_refused_on_dynamodb() {
    let (ops, store) = dynamodb().await;
    a_job_changed_between_plan_and_apply_is_refused_and_the_rest_goes_on(ops, store).await;
}

async fn a_run_stopped_half_way_converges_when_run_again(ops: Ops) {
    let plan = ops.plan(&parse(FILE), false).await.expect("plan");
    assert_eq!(plan.steps.len(), 4);
    // The run stops after two of its four steps (a network failure, a Ctrl-C).
    let mut half = plan.clone();
    half.steps.truncate(2);
    ops.apply_plan(&half, noon(), |_, _| {})
        .await
        .expect("apply");

    let rest = ops.plan(&parse(FILE), false).await.expect("plan");
    assert_eq!(
        doing(&rest, Action::Create),
        ["billing/sync", "billing/report"]
    );
    assert_eq!(rest.count(Action::Unchanged), 2);
    apply_at(&ops, FILE, false, noon()).await;
    let done = ops.plan(&parse(FILE), false).await.expect("plan");
    assert!(done.is_empty(), "{done:#?}");
    assert_eq!(ops.list(Some("billing")).await.expect("list").len(), 3);

    // The interrupted plan itself, carried out again later, writes nothing twice: its
    // creations are refused (the app and the jobs exist), nothing is overwritten.
    let later = noon() + chrono::Duration::minutes(5);
    let results = ops
        .apply_plan(&plan, later, |_, _| {})
        .await
        .expect("apply");
    assert!(
        results.iter().all(|r| matches!(r, Applied::Refused(_))),
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_run_converges_on_sqlite() {
    a_run_stopped_half_way_converges_when_run_again(sqlite().await.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_run_converges_on_dynamodb() {
    a_run_stopped_half_way_converges_when_run_again(dynamodb().await.0).await;
}

const THREE_ERRORS: &str = r#"[[apps]]
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

#[tokio::test(flavor = "multi_thread")]
async fn a_file_with_three_errors_reports_all_three_with_line_and_column_and_writes_nothing() {
    let cli = Cli::new().await;
    let dir = tempdb::TempDb::new();
    let folder = dir.0.parent().expect("dir").to_owned();
    std::fs::create_dir_all(&folder).expect("dir");
    let file = folder.join("schedules.toml");
    std::fs::write(&file, THREE_ERRORS).expect("write");
    let path = file.display().to_string();

    let run = cli.run(&["apply", "-f", &path, "--yes"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines[0],
        "psu-sched: 3 errors in the file; nothing was written:"
    );
    let places: Vec<String> = lines[1..]
        .iter()
        .map(|l| {
            let rest = l.trim().strip_prefix(&format!("{path}:")).expect("file");
            let mut parts = rest.splitn(4, ':');
            let (line, column, field) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or("").trim(),
            );
            format!("{line}:{column} {field}")
        })
        .collect();
    assert_eq!(
        places,
        [
            "6:8 apps[0].jobs[0].path",
            "12:1 apps[0].jobs[1].shedule",
            "14:11 apps[0].jobs[1].timeout",
        ]
    );
    let listed = cli.run(&["list", "--json"]).await.ok().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "nothing written");
    let apps = cli.run(&["app", "list", "--json"]).await.ok().json();
    assert_eq!(apps.as_array().map(Vec::len), Some(0), "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_from_the_command_line_plans_asks_for_yes_writes_and_exports() {
    let cli = Cli::new().await;
    let dir = tempdb::TempDb::new();
    let folder = dir.0.parent().expect("dir").to_owned();
    std::fs::create_dir_all(&folder).expect("dir");
    let file = folder.join("schedules.toml");
    std::fs::write(&file, FILE).expect("write");
    let path = file.display().to_string();
    let env = [("PSU_SCHED_VAR_BILLING_URL", "https://billing.example.edu")];

    // A missing variable: named, with its field and place; nothing written. The variable of
    // that name itself is not given to a file.
    let run = cli
        .run_with(
            &["apply", "-f", &path, "--yes"],
            &[("BILLING_URL", "https://billing.example.edu")],
        )
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{path}:4:12: apps[0].base_url: ${{BILLING_URL}} is not given to the file; set PSU_SCHED_VAR_BILLING_URL"
        )),
        "{}",
        run.stderr
    );

    // Not on a terminal and no --yes: the plan, then exit 2, nothing written.
    let run = cli.run_with(&["apply", "-f", &path], &env).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.contains("+ job billing/invoices"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Plan: 4 to create, 0 to update, 0 to delete, 0 unchanged."),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("Pass --yes"), "{}", run.stderr);
    let listed = cli.run(&["list", "--json"]).await.ok().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(0));

    // --dry-run --json: the plan for machines.
    let plan = cli
        .run_with(&["apply", "-f", &path, "--dry-run", "--json"], &env)
        .await
        .ok()
        .json();
    assert_eq!(
        (plan["create"].as_u64(), plan["update"].as_u64()),
        (Some(4), Some(0))
    );
    assert_eq!(plan["steps"][1]["name"], "invoices");
    assert_eq!(plan["steps"][1]["action"], "create");
    assert!(plan["steps"][1].get("result").is_none());

    let run = cli
        .run_with(&["apply", "-f", &path, "--yes"], &env)
        .await
        .ok();
    assert!(
        run.stdout.contains("Applied: 4 done, 0 refused."),
        "{}",
        run.stdout
    );
    let run = cli
        .run_with(&["apply", "-f", &path, "--yes"], &env)
        .await
        .ok();
    assert!(
        run.stdout
            .contains("No changes: the store is as the file says."),
        "{}",
        run.stdout
    );

    // Two fields changed, applied with --json: exactly those, and what was done.
    let changed = FILE
        .replace("timeout = \"2m\"", "timeout = \"5m\"")
        .replace("retries = 2", "retries = 3");
    std::fs::write(&file, &changed).expect("write");
    let done = cli
        .run_with(&["apply", "-f", &path, "--yes", "--json"], &env)
        .await
        .ok()
        .json();
    assert_eq!(done["update"].as_u64(), Some(2));
    let updated: Vec<(String, String, String, String)> = done["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["action"] == "update")
        .flat_map(|s| {
            s["changes"].as_array().expect("changes").iter().map(|c| {
                (
                    s["name"].as_str().unwrap_or("").to_owned(),
                    c["field"].as_str().unwrap_or("").to_owned(),
                    c["old"].as_str().unwrap_or("").to_owned(),
                    c["new"].as_str().unwrap_or("").to_owned(),
                )
            })
        })
        .collect();
    let row = |n: &str, f: &str, o: &str, w: &str| (n.into(), f.into(), o.into(), w.into());
    assert_eq!(
        updated,
        [
            row("invoices", "timeout", "2m", "5m"),
            row("report", "retries", "2", "3"),
        ]
    );
    assert!(
        done["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter(|s| s["action"] == "update")
            .all(|s| s["result"] == "done")
    );

    // The paused rule, as the plan says it.
    cli.run(&["pause", "--app", "billing", "--name", "sync"])
        .await
        .ok();
    let run = cli
        .run_with(&["apply", "-f", &path, "--dry-run"], &env)
        .await
        .ok();
    assert!(
        run.stdout.contains(
            "= job billing/sync (unchanged; paused, and stays paused: the file does not say `paused`)"
        ),
        "{}",
        run.stdout
    );
    let resumed = changed.replace("name = \"sync\"\n", "name = \"sync\"\npaused = false\n");
    std::fs::write(&file, &resumed).expect("write");
    let run = cli
        .run_with(&["apply", "-f", &path, "--dry-run"], &env)
        .await
        .ok();
    assert!(
        run.stdout
            .contains("~ job billing/sync\n    paused: \"true\" -> \"false\" (resumes it)"),
        "{}",
        run.stdout
    );

    // export -> apply: no change.
    let exported = cli.run(&["export"]).await.ok().stdout;
    let copy = folder.join("export.toml");
    std::fs::write(&copy, &exported).expect("write");
    let run = cli
        .run(&[
            "apply",
            "-f",
            &copy.display().to_string(),
            "--prune",
            "--dry-run",
        ])
        .await
        .ok();
    assert!(
        run.stdout
            .contains("No changes: the store is as the file says."),
        "{exported}\n{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_apply_asks_and_writes_only_on_yes() {
    let cli = Cli::new().await;
    let dir = tempdb::TempDb::new();
    let folder = dir.0.parent().expect("dir").to_owned();
    std::fs::create_dir_all(&folder).expect("dir");
    let file = folder.join("schedules.toml");
    std::fs::write(&file, FILE).expect("write");
    let path = file.display().to_string();
    let env = [("PSU_SCHED_VAR_BILLING_URL", "https://billing.example.edu")];

    let run = cli
        .run_on_terminal(&["apply", "-f", &path], &env, "n\n")
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Apply these changes to"), "{run:?}");
    assert!(run.stdout.contains("Nothing was written."), "{run:?}");
    let listed = cli.run(&["list", "--json"]).await.ok().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(0));

    let run = cli
        .run_on_terminal(&["apply", "-f", &path], &env, "y\n")
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Applied: 4 done, 0 refused."),
        "{run:?}"
    );
    let listed = cli.run(&["list", "--json"]).await.ok().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
}

/// Values no file may read, as a CI job of a pull request has them in its environment.
const AWS_SECRET: &str = "aws-secret-7Hq2LmX9pR4tZ8vB";
const SIGNING_SECRET: &str = "signing-secret-Kd83JsQ1nW5yE0uT";

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_never_prints_the_scheduler_s_secrets_a_file_names() {
    let cli = Cli::new().await;
    let dir = tempdb::TempDb::new();
    let folder = dir.0.parent().expect("dir").to_owned();
    std::fs::create_dir_all(&folder).expect("dir");
    let env = [
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ("PSU_SCHED_SIGNING_SECRET", SIGNING_SECRET),
    ];
    // A file a pull request could propose: valid, so that a plan would print the values.
    let valid = r#"
[[apps]]
name = "billing"

[[apps.jobs]]
name = "leak"
url = "https://billing.example.edu/hook?key=${AWS_SECRET_ACCESS_KEY}"
every = "15m"
description = "${PSU_SCHED_SIGNING_SECRET}"
"#;
    // One whose values are refused, so that an error line would print them.
    let refused = r#"
[[apps]]
name = "billing"

[[apps.jobs]]
name = "leak"
url = "${PSU_SCHED_SIGNING_SECRET}"
every = "15m"
timezone = "${AWS_SECRET_ACCESS_KEY}"
"#;
    for (what, text) in [("valid", valid), ("refused", refused)] {
        let file = folder.join(format!("{what}.toml"));
        std::fs::write(&file, text).expect("write");
        let path = file.display().to_string();
        for json in [false, true] {
            let mut args = vec!["apply", "-f", &path, "--dry-run"];
            if json {
                args.push("--json");
            }
            let run = cli.run_with(&args, &env).await;
            for secret in [AWS_SECRET, SIGNING_SECRET] {
                assert!(
                    !run.stdout.contains(secret) && !run.stderr.contains(secret),
                    "{what} file, json {json}: a secret printed: {run:?}"
                );
            }
            // Refused, each use named with its place and how to give a file a value.
            assert_eq!(run.code, 2, "{what} file, json {json}: {run:?}");
            let lines: Vec<&str> = run.stderr.lines().filter(|l| l.contains("${")).collect();
            assert_eq!(lines.len(), 2, "{what} file: {}", run.stderr);
            for line in lines {
                assert!(
                    line.contains(&format!("{path}:"))
                        && line.contains("not available to a file")
                        && line.contains("PSU_SCHED_VAR_"),
                    "{what} file: {line}"
                );
            }
        }
    }
    let listed = cli.run(&["list", "--json"]).await.ok().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_reads_psu_sched_var_and_var_values_and_the_plan_shows_them_as_written() {
    let cli = Cli::new().await;
    let dir = tempdb::TempDb::new();
    let folder = dir.0.parent().expect("dir").to_owned();
    std::fs::create_dir_all(&folder).expect("dir");
    let file = folder.join("schedules.toml");
    std::fs::write(
        &file,
        r#"
[[apps]]
name = "billing"
base_url = "${BILLING_URL}"

[[apps.jobs]]
name = "sync"
url = "https://partner.example.com/sync?token=${PARTNER_TOKEN}"
every = "15m"

[[apps.jobs]]
name = "invoices"
path = "/scheduled/invoices"
at = "08:00"
"#,
    )
    .expect("write");
    let path = file.display().to_string();
    let token = "partner-token-Vb7Nc2Xq9Lw4";

    // A variable given neither way: refused, named, with how to give it; the others' values
    // are not printed.
    let run = cli
        .run_with(
            &["apply", "-f", &path, "--dry-run"],
            &[
                ("PSU_SCHED_VAR_PARTNER_TOKEN", token),
                ("BILLING_URL", "https://billing.example.edu"),
            ],
        )
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{path}:4:12: apps[0].base_url: ${{BILLING_URL}} is not given to the file; set PSU_SCHED_VAR_BILLING_URL in the environment, or pass --var BILLING_URL=VALUE"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains(token) && !run.stderr.contains(token));

    // Given: by PSU_SCHED_VAR_<NAME>, and by --var (which wins over the environment).
    let env = [
        ("PSU_SCHED_VAR_PARTNER_TOKEN", token),
        ("PSU_SCHED_VAR_BILLING_URL", "https://old.example.edu"),
    ];
    let args: [&str; 5] = [
        "apply",
        "-f",
        &path,
        "--var",
        "BILLING_URL=https://billing.example.edu",
    ];
    let run = cli
        .run_with(&[&args[..], &["--dry-run"]].concat(), &env)
        .await
        .ok();
    assert!(!run.stdout.contains(token), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("+ app billing\n    base_url = \"${BILLING_URL}\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "+ job billing/sync\n    url = \"https://partner.example.com/sync?token=${PARTNER_TOKEN}\""
        ),
        "{}",
        run.stdout
    );
    let plan = cli
        .run_with(&[&args[..], &["--dry-run", "--json"]].concat(), &env)
        .await
        .ok();
    assert!(!plan.stdout.contains(token), "{}", plan.stdout);
    let plan = plan.json();
    assert_eq!(plan["steps"][1]["changes"][0]["field"], "url");
    assert_eq!(
        plan["steps"][1]["changes"][0]["new"],
        "https://partner.example.com/sync?token=${PARTNER_TOKEN}"
    );
    assert_eq!(plan["steps"][1]["changes"][0]["from_variables"], true);

    // Applied: the job holds the values; applying again plans no change.
    cli.run_with(&[&args[..], &["--yes"]].concat(), &env)
        .await
        .ok();
    let listed = cli.run(&["list", "--json"]).await.ok().json();
    let urls: Vec<&str> = listed
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["url"].as_str())
        .collect();
    assert_eq!(
        urls,
        [
            "https://billing.example.edu/scheduled/invoices",
            &format!("https://partner.example.com/sync?token={token}")[..],
        ]
    );
    let run = cli
        .run_with(&[&args[..], &["--dry-run"]].concat(), &env)
        .await
        .ok();
    assert!(
        run.stdout
            .contains("No changes: the store is as the file says."),
        "{}",
        run.stdout
    );

    // A secret that changes: the plan says the field changes, and shows neither value.
    let rotated = "partner-token-Rt5Yu8Io1Pa3";
    let run = cli
        .run_with(
            &[&args[..], &["--dry-run"]].concat(),
            &[
                ("PSU_SCHED_VAR_PARTNER_TOKEN", rotated),
                ("PSU_SCHED_VAR_BILLING_URL", "https://old.example.edu"),
            ],
        )
        .await
        .ok();
    assert!(
        run.stdout.contains(
            "~ job billing/sync\n    url: (not shown) -> \"https://partner.example.com/sync?token=${PARTNER_TOKEN}\""
        ),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains(token) && !run.stdout.contains(rotated),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_never_prints_a_stored_value_a_pull_request_replaces_with_a_literal() {
    let cli = Cli::new().await;
    let dir = tempdb::TempDb::new();
    let folder = dir.0.parent().expect("dir").to_owned();
    std::fs::create_dir_all(&folder).expect("dir");
    let secret = "stored-token-Qm81xZ";
    let host = "billing-internal.example.edu";
    let env = [
        ("PSU_SCHED_VAR_TOKEN", secret),
        ("PSU_SCHED_VAR_BASE", "https://billing-internal.example.edu"),
    ];
    let applied = r#"
[[apps]]
name = "billing"
base_url = "${BASE}"

[[apps.jobs]]
name = "hook"
url = "https://partner.example.com/hook?token=${TOKEN}"
every = "15m"
description = "${TOKEN}"

[[apps.jobs]]
name = "report"
path = "/scheduled/report?token=${TOKEN}"
every = "1h"
"#;
    let file = folder.join("applied.toml");
    std::fs::write(&file, applied).expect("write");
    cli.run_with(&["apply", "-f", &file.display().to_string(), "--yes"], &env)
        .await
        .ok();
    // The pull request: every field that held a variable's value now a literal.
    let proposed = r#"
[[apps]]
name = "billing"
base_url = "https://billing.example.edu"

[[apps.jobs]]
name = "hook"
url = "https://partner.example.com/hook?token=literal"
every = "15m"
description = "literal"

[[apps.jobs]]
name = "report"
path = "/scheduled/report?token=literal"
every = "1h"
"#;
    let file = folder.join("proposed.toml");
    std::fs::write(&file, proposed).expect("write");
    let path = file.display().to_string();
    for json in [false, true] {
        let mut args = vec!["apply", "-f", &path, "--dry-run"];
        if json {
            args.push("--json");
        }
        let run = cli.run_with(&args, &[]).await.ok();
        for stored in [secret, host] {
            assert!(
                !run.stdout.contains(stored) && !run.stderr.contains(stored),
                "json {json}: a stored value printed: {run:?}"
            );
        }
        assert!(run.stdout.contains("literal"), "the new values: {run:?}");
    }
}
