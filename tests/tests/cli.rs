//! The `psu-sched` command line, driven as a user drives it: the compiled binary, a fresh
//! table on the moto server (created with `psu-sched init`), and a real job server.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use chrono::{DateTime, Datelike, Utc, Weekday};
use serde_json::Value;
use shared::model::{AppName, JobName, JobUrl, NewJob};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;

use crate::helpers::faultproxy::{Fault, FaultProxy};
use crate::helpers::jobserver::{Behavior, JobServer};
use crate::helpers::moto;

/// The `psu-sched` binary, built once per test process.
pub(crate) fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "-q", "-p", "psu-sched", "--bin", "psu-sched"])
                .current_dir(&root)
                .status()
                .expect("run cargo build for psu-sched");
            assert!(status.success(), "cargo build -p psu-sched failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            target.join("debug").join("psu-sched")
        })
        .clone()
}

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    pub(crate) fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        self
    }
}

/// The binary pointed at a test table.
pub(crate) struct Cli {
    pub(crate) endpoint: String,
    pub(crate) table: String,
}

impl Cli {
    /// A fresh table, created with `psu-sched init`.
    pub(crate) async fn new() -> Cli {
        let cli = Cli {
            endpoint: moto::endpoint().await,
            table: moto::unique_table_name(),
        };
        let init = cli.run(&["init"]).await.ok();
        assert!(init.stdout.contains("created the table"), "{init:?}");
        cli
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[]).await
    }

    /// Runs the binary with `args`, the test's AWS settings, and `env` on top (a value of
    /// "" removes the variable).
    pub(crate) async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(binary());
        command.args(args);
        self.execute(command, env, None).await
    }

    /// Runs the binary on a pseudo-terminal (through util-linux `script`), typing `input`.
    pub(crate) async fn run_on_terminal(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        input: &str,
    ) -> Run {
        let quoted: Vec<String> = std::iter::once(binary().display().to_string())
            .chain(args.iter().map(|a| (*a).to_owned()))
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        let mut command = Command::new("script");
        command.args(["-qec", &quoted.join(" "), "/dev/null"]);
        self.execute(command, env, Some(input.to_owned())).await
    }

    /// Starts the binary with `args` and the test's AWS settings (a long-running command such
    /// as `serve`), its stdout piped; killed when dropped.
    pub(crate) fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
        let mut command = tokio::process::Command::new(binary());
        command
            .args(args)
            .env_remove("PSU_SCHED_APP")
            .env_remove("PSU_SCHED_TABLE")
            .env_remove("RUST_LOG")
            .env("PSU_SCHED_STORE", format!("dynamodb:{}", self.table))
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", moto::REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        command.spawn().expect("start psu-sched")
    }

    async fn execute(
        &self,
        mut command: Command,
        env: &[(&str, &str)],
        input: Option<String>,
    ) -> Run {
        command
            .env_remove("PSU_SCHED_APP")
            .env_remove("PSU_SCHED_TZ")
            .env_remove("PSU_SCHED_TABLE")
            .env_remove("AWS_PROFILE")
            .env_remove("RUST_LOG")
            .env("PSU_SCHED_STORE", format!("dynamodb:{}", self.table))
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", moto::REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        // Blocking: keep it off the runtime's threads, where the job server answers.
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn()?;
            if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
                use std::io::Write;
                stdin.write_all(text.as_bytes())?;
            }
            child.wait_with_output()
        })
        .await
        .expect("join")
        .expect("run psu-sched");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub(crate) async fn list(&self) -> Value {
        self.run(&["list", "--json"]).await.ok().json()
    }
}

pub(crate) fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not an RFC 3339 instant: {v}"))
}

/// Creates billing/report calling `/jobs/report` every 30 minutes (the life-cycle tests' job
/// after its update); returns its next run.
async fn report_every_30m(cli: &Cli, url: &str) -> DateTime<Utc> {
    let created = cli
        .run(&[
            "create",
            "--app",
            "billing",
            "--name",
            "report",
            "--url",
            url,
            "--every",
            "30m",
            "--timeout",
            "10s",
            "--tz",
            "Asia/Tokyo",
            "--json",
        ])
        .await
        .ok()
        .json();
    instant(&created["next_run"])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_is_created_listed_and_shown_from_the_command_line() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    let url = server.url("/jobs/report");
    let app = ["--app", "billing", "--name", "report"];

    // create: prints the job and its next 3 runs in its zone.
    let created = cli
        .run(
            &[
                &["create"][..],
                &app[..],
                &[
                    "--url",
                    &url,
                    "--every",
                    "1h",
                    "--tz",
                    "Asia/Tokyo",
                    "--description",
                    "nightly report",
                ],
            ]
            .concat(),
        )
        .await
        .ok();
    assert!(
        created
            .stdout
            .starts_with("created billing/report (active)"),
        "{created:?}"
    );
    assert!(
        created.stdout.contains("every 1h (Every hour.)"),
        "{created:?}"
    );
    assert!(
        created.stdout.contains("next runs (Asia/Tokyo):"),
        "{created:?}"
    );
    assert_eq!(created.stdout.matches(" JST  (").count(), 3, "{created:?}");

    // list: the table and the JSON.
    let table = cli.run(&["list"]).await.ok();
    let header = table.stdout.lines().next().unwrap_or_default();
    for column in [
        "APP", "NAME", "SCHEDULE", "READING", "ZONE", "NEXT RUN", "LAST", "STATE",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(table.stdout.contains("Every hour."), "{table:?}");
    let list = cli.list().await;
    let jobs = list.as_array().expect("array");
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job["app"], "billing");
    assert_eq!(job["name"], "report");
    assert_eq!(job["url"], url.as_str());
    assert_eq!(job["schedule"], "every 1h");
    assert_eq!(job["timezone"], "Asia/Tokyo");
    assert_eq!(job["state"], "active");
    let next = instant(&job["next_run"]);
    assert!(next > Utc::now() && next <= Utc::now() + chrono::Duration::hours(1));

    // show: the job, 5 next runs, no executions yet.
    let show = cli
        .run(&[&["show"][..], &app[..], &["--json"]].concat())
        .await
        .ok()
        .json();
    assert_eq!(show["next_runs"].as_array().map(Vec::len), Some(5));
    assert_eq!(show["executions"], Value::Array(vec![]));
    assert_eq!(show["description"], "nightly report");
}

#[tokio::test(flavor = "multi_thread")]
async fn update_changes_what_is_given_and_recomputes_the_next_run() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    let url = server.url("/jobs/report");
    let app = ["--app", "billing", "--name", "report"];
    cli.run(&[
        "create",
        "--app",
        "billing",
        "--name",
        "report",
        "--url",
        &url,
        "--every",
        "1h",
        "--tz",
        "Asia/Tokyo",
    ])
    .await
    .ok();

    // update: a new schedule and timeout; the next run is recomputed.
    let updated = cli
        .run(
            &[
                &["update"][..],
                &app[..],
                &["--every", "30m", "--timeout", "10s", "--json"],
            ]
            .concat(),
        )
        .await
        .ok()
        .json();
    assert_eq!(updated["schedule"], "every 30m");
    assert_eq!(updated["timeout_ms"], 10_000);
    let slot = instant(&updated["next_run"]);
    assert!(
        slot <= Utc::now() + chrono::Duration::minutes(30),
        "{updated}"
    );
    assert_eq!(cli.list().await[0]["schedule"], "every 30m");
    // PSU_SCHED_APP stands for --app; PSU_SCHED_TZ is not a change of zone for `update`.
    let defaults = [
        ("PSU_SCHED_APP", "billing"),
        ("PSU_SCHED_TZ", "Europe/London"),
    ];
    let kept = cli
        .run_with(
            &["update", "--name", "report", "--retries", "1", "--json"],
            &defaults,
        )
        .await
        .ok()
        .json();
    assert_eq!(
        (kept["retries"].as_u64(), kept["timezone"].as_str()),
        (Some(1), Some("Asia/Tokyo"))
    );
    assert_eq!(
        kept["next_run"], updated["next_run"],
        "the timing did not change"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_job_does_not_run_and_a_resumed_job_runs_its_next_slot_once() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    let url = server.url("/jobs/report");
    let app = ["--app", "billing", "--name", "report"];
    let slot = report_every_30m(&cli, &url).await;

    // pause, then a tick at the slot: nothing runs.
    let paused = cli.run(&[&["pause"][..], &app[..]].concat()).await.ok();
    assert!(
        paused.stdout.starts_with("paused billing/report"),
        "{paused:?}"
    );
    assert_eq!(cli.list().await[0]["state"], "paused");
    assert_eq!(cli.list().await[0]["next_run"], Value::Null);
    let slot_text = slot.to_rfc3339();
    let tick = cli
        .run(&["tick", "--now", &slot_text, "--simulate", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (tick["due"].as_u64(), tick["triggered"].as_u64()),
        (Some(0), Some(0)),
        "{tick}"
    );
    assert_eq!(server.count("/jobs/report"), 0);

    // resume (from now), then a tick at the next run: it runs.
    let resumed = cli.run(&[&["resume"][..], &app[..]].concat()).await.ok();
    assert!(
        resumed
            .stdout
            .starts_with("resumed billing/report; next run"),
        "{resumed:?}"
    );
    let listed = cli.list().await;
    assert_eq!(listed[0]["state"], "active");
    let slot = instant(&listed[0]["next_run"]);
    let slot_text = slot.to_rfc3339();
    let tick = cli
        .run(&["tick", "--now", &slot_text, "--simulate", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(tick["triggered"], 1, "{tick}");
    assert_eq!(tick["succeeded"], 1, "{tick}");
    assert_eq!(
        tick["now"],
        slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(server.count("/jobs/report"), 1);
    let human = cli
        .run(&["tick", "--now", &slot_text, "--simulate"])
        .await
        .ok();
    assert!(human.stdout.starts_with("tick at "), "{human:?}");
    assert!(
        human.stdout.contains("triggered 0"),
        "a slot runs once: {human:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_run_and_a_slot_show_in_the_history_newest_first() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    let url = server.url("/jobs/report");
    let app = ["--app", "billing", "--name", "report"];
    let slot = report_every_30m(&cli, &url).await;
    let slot_text = slot.to_rfc3339();
    let tick = cli
        .run(&["tick", "--now", &slot_text, "--simulate", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(tick["succeeded"], 1, "{tick}");

    // run: a manual execution, dispatched at once.
    let ran = cli.run(&[&["run"][..], &app[..]].concat()).await.ok();
    assert!(
        ran.stdout
            .starts_with("ran billing/report: succeeded (HTTP 200)"),
        "{ran:?}"
    );
    assert_eq!(server.count("/jobs/report"), 2);

    // history: both executions, newest slot first; a status filter and a limit.
    let history = cli
        .run(&[&["history"][..], &app[..], &["--json"]].concat())
        .await
        .ok()
        .json();
    let history = history.as_array().expect("array").clone();
    assert_eq!(history.len(), 2, "{history:?}");
    let mut triggers: Vec<&str> = history
        .iter()
        .filter_map(|e| e["trigger"].as_str())
        .collect();
    triggers.sort_unstable();
    assert_eq!(triggers, ["manual", "schedule"]);
    for e in &history {
        assert_eq!(e["status"], "succeeded");
        assert_eq!(e["http_status"], 200);
        assert_eq!(e["attempt"], 1);
        assert!(e["duration_ms"].is_u64() && e["id"].is_string(), "{e}");
        instant(&e["scheduled_for"]);
    }
    assert!(instant(&history[0]["scheduled_for"]) >= instant(&history[1]["scheduled_for"]));
    let scheduled = history
        .iter()
        .find(|e| e["trigger"] == "schedule")
        .expect("scheduled");
    assert_eq!(instant(&scheduled["scheduled_for"]), slot);
    let limited = cli
        .run(&[&["history"][..], &app[..], &["--json", "--limit", "1"]].concat())
        .await
        .ok()
        .json();
    assert_eq!(limited.as_array().map(Vec::len), Some(1));
    let failed = cli
        .run(
            &[
                &["history"][..],
                &app[..],
                &["--json", "--status", "failed"],
            ]
            .concat(),
        )
        .await
        .ok()
        .json();
    assert_eq!(failed, Value::Array(vec![]));
    let table = cli.run(&[&["history"][..], &app[..]].concat()).await.ok();
    assert!(
        table.stdout.contains("manual") && table.stdout.contains("schedule"),
        "{table:?}"
    );
    let show = cli
        .run(&[&["show"][..], &app[..], &["--json"]].concat())
        .await
        .ok()
        .json();
    assert_eq!(show["executions"].as_array().map(Vec::len), Some(2));
    assert_eq!(show["last_status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_asks_for_yes_and_purges_the_history_when_told() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    let url = server.url("/jobs/report");
    let app = ["--app", "billing", "--name", "report"];
    report_every_30m(&cli, &url).await;

    // delete: refused without a terminal or --yes, then done with --yes.
    let refused = cli.run(&[&["delete"][..], &app[..]].concat()).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    assert_eq!(cli.list().await.as_array().map(Vec::len), Some(1));
    let deleted = cli
        .run(&[&["delete"][..], &app[..], &["--yes"]].concat())
        .await
        .ok();
    assert!(
        deleted.stdout.contains("deleted billing/report"),
        "{deleted:?}"
    );
    assert_eq!(cli.list().await, Value::Array(vec![]));
    // A manual run that fails exits 1 with the outcome; --purge-history deletes the
    // executions with the job.
    server.set("/jobs/broken", Behavior::Status(500));
    let broken = server.url("/jobs/broken");
    let other = ["--app", "billing", "--name", "other"];
    cli.run(
        &[
            &["create"][..],
            &other[..],
            &["--url", &broken, "--cron", "@daily"],
        ]
        .concat(),
    )
    .await
    .ok();
    let failed = cli.run(&[&["run"][..], &other[..]].concat()).await;
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        failed
            .stdout
            .starts_with("ran billing/other: failed (HTTP 500)"),
        "{failed:?}"
    );
    let purged = cli
        .run(&[&["delete"][..], &other[..], &["--yes", "--purge-history"]].concat())
        .await
        .ok();
    assert!(
        purged
            .stdout
            .contains("deleted billing/other and its history (1 execution)"),
        "{purged:?}"
    );
    let again = cli
        .run(&[&["delete"][..], &app[..], &["--yes"]].concat())
        .await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(
        again.stderr.contains("no job named billing/report"),
        "{again:?}"
    );
}

/// The job the bad-input cases try to create (web/other, no schedule yet): each case adds
/// what it gets wrong.
pub(crate) const NEW_JOB: &[&str] = &[
    "create",
    "--app",
    "web",
    "--name",
    "other",
    "--url",
    "https://web.example.edu/x",
];

/// A fresh table holding web/sync (at 08:00), the job the bad-input cases update, show and
/// delete; and its listing, to compare with afterwards.
async fn cli_with_web_sync() -> (Cli, Value) {
    let cli = Cli::new().await;
    cli.run(&[
        "create",
        "--app",
        "web",
        "--name",
        "sync",
        "--url",
        "https://web.example.edu/sync",
        "--at",
        "08:00",
    ])
    .await
    .ok();
    let before = cli.list().await;
    (cli, before)
}

/// Runs each `(args, message)` case against a table holding web/sync: exit 2, nothing on
/// stdout, `message` on stderr and, when it is not empty, as one line starting `psu-sched: `.
/// Then the listing is as it was: nothing was written.
pub(crate) async fn each_is_bad_input_and_writes_nothing(cases: &[(Vec<&str>, &str)]) {
    let (cli, before) = cli_with_web_sync().await;
    for (args, message) in cases {
        let run = cli.run(args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(message),
            "{args:?}: expected `{message}` in {run:?}"
        );
        if !message.is_empty() {
            assert_eq!(
                run.stderr.trim_end().lines().count(),
                1,
                "{args:?}: one line: {run:?}"
            );
            assert!(run.stderr.starts_with("psu-sched: "), "{run:?}");
        }
    }
    assert_eq!(cli.list().await, before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_schedule_exits_2_with_one_line_naming_the_field_and_writes_nothing() {
    each_is_bad_input_and_writes_nothing(&[
        (
            [NEW_JOB, &["--cron", "61 * * * *"]].concat(),
            "schedule: cron minute field `61`: expected 0-59",
        ),
        (
            [NEW_JOB, &["--cron", "0 9 * * mon-xyz"]].concat(),
            "day-of-week field",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--tz", "America/Los_Angles"]].concat(),
            "timezone: `America/Los_Angles` is not a known IANA time zone; did you mean America/Los_Angeles",
        ),
        (
            [
                NEW_JOB,
                &[
                    "--at",
                    "08:00",
                    "--start",
                    "2027-02-01",
                    "--end",
                    "2027-01-01",
                ],
            ]
            .concat(),
            "end: ",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--cron", "0 9 * * *"]].concat(),
            "schedule: give one schedule form, not several",
        ),
        (
            NEW_JOB.to_vec(),
            "schedule: missing; give one of --cron EXPR, --at",
        ),
        ([NEW_JOB, &["--at", "25:00"]].concat(), "at time `25:00`"),
        (
            [NEW_JOB, &["--at", "08:00", "--between", "08:00-17:00"]].concat(),
            "between: --between HH:MM-HH:MM only goes with --every",
        ),
        (
            [NEW_JOB, &["--every", "30m", "--between", "17:00-08:00"]].concat(),
            "between window",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--days", "funday"]].concat(),
            "funday",
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_url_name_app_or_store_exits_2_naming_the_field_and_writes_nothing() {
    each_is_bad_input_and_writes_nothing(&[
        (
            vec![
                "create",
                "--app",
                "web",
                "--name",
                "x",
                "--url",
                "ftp://web.example.edu/x",
                "--at",
                "08:00",
            ],
            "url: scheme `ftp` is not accepted; use http or https",
        ),
        (
            vec![
                "create",
                "--app",
                "web",
                "--name",
                "bad name",
                "--url",
                "https://x.edu/",
                "--at",
                "08:00",
            ],
            "name: `bad name` is not valid",
        ),
        (
            vec![
                "create",
                "--app",
                "-web",
                "--name",
                "ok",
                "--url",
                "https://x.edu/",
                "--at",
                "08:00",
            ],
            "",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--store", "postgres:jobs"]].concat(),
            "store: `postgres:jobs` is not accepted",
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_duration_or_retry_count_exits_2_naming_the_field_and_writes_nothing() {
    each_is_bad_input_and_writes_nothing(&[
        (
            [NEW_JOB, &["--at", "08:00", "--timeout", "ten seconds"]].concat(),
            "timeout: `ten seconds` is not a duration",
        ),
        (
            [NEW_JOB, &["--every", "sometimes"]].concat(),
            "every: `sometimes` is not a duration",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--timeout", "15m"]].concat(),
            "timeout: ",
        ),
        // One duration grammar: a number without a unit is refused everywhere.
        (
            [NEW_JOB, &["--at", "08:00", "--timeout", "90"]].concat(),
            "timeout: `90` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)",
        ),
        (
            [NEW_JOB, &["--every", "90"]].concat(),
            "every: `90` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--max-lateness", "90"]].concat(),
            "max-lateness: `90` has no unit",
        ),
        (
            vec!["next", "every 90"],
            "schedule: every `90` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)",
        ),
        (
            [NEW_JOB, &["--at", "08:00", "--retries", "9"]].concat(),
            "retries: ",
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_to_update_history_next_tick_delete_list_or_show_exits_2_naming_the_field() {
    each_is_bad_input_and_writes_nothing(&[
        (
            vec![
                "update",
                "--app",
                "web",
                "--name",
                "sync",
                "--tz",
                "Mars/Olympus",
            ],
            "timezone: `Mars/Olympus` is not a known IANA time zone",
        ),
        (
            vec![
                "update", "--app", "web", "--name", "sync", "--cron", "* * *",
            ],
            "schedule: ",
        ),
        (
            vec!["update", "--app", "web", "--name", "sync"],
            "update: nothing to change",
        ),
        (
            vec![
                "update",
                "--app",
                "web",
                "--name",
                "sync",
                "--end",
                "2000-01-01",
                "--start",
                "2001-01-01",
            ],
            "end: ",
        ),
        (
            vec![
                "history", "--app", "web", "--name", "sync", "--status", "done",
            ],
            "status: `done`",
        ),
        (vec!["next", "every 7 minutes please"], "schedule: "),
        (
            vec!["tick", "--now", "yesterday"],
            "now: `yesterday` is not accepted",
        ),
        (vec!["delete", "--app", "web", "--name", "sync"], "--yes"),
        (vec!["list", "--app", "no/such"], "app: "),
        (
            vec!["show", "--name", "sync"],
            "app: missing; give --app APP or set PSU_SCHED_APP",
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clap_usage_error_exits_2_and_writes_nothing() {
    let (cli, before) = cli_with_web_sync().await;
    for args in [
        vec!["create", "--bogus"],
        vec!["frobnicate"],
        vec!["completions", "tcsh"],
    ] {
        assert_eq!(cli.run(&args).await.code, 2, "{args:?}");
    }
    assert_eq!(cli.list().await, before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_job_that_already_exists_exits_1_and_changes_nothing() {
    let (cli, before) = cli_with_web_sync().await;
    let taken = cli
        .run(
            &[
                &["create", "--app", "web", "--name", "sync"][..],
                &["--every", "5m", "--url", "https://elsewhere.edu/"],
            ]
            .concat(),
        )
        .await;
    assert_eq!(taken.code, 1, "{taken:?}");
    assert!(
        taken
            .stderr
            .contains("a job named web/sync already exists; nothing changed"),
        "{taken:?}"
    );
    assert_eq!(cli.list().await, before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn runtime_failures_exit_1_with_a_plain_sentence_and_v_adds_the_chain() {
    let cli = Cli::new().await;
    let missing = format!("dynamodb:{}", moto::unique_table_name());
    let run = cli.run(&["list", "--store", &missing]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("does not exist: run `psu-sched init`"),
        "{run:?}"
    );
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{run:?}");

    // A closed port: the message names the endpoint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let run = cli
        .run_with(&["list"], &[("AWS_ENDPOINT_URL", &endpoint)])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("DynamoDB is unreachable at {endpoint}")),
        "{run:?}"
    );
    let verbose = cli
        .run_with(&["list", "-v"], &[("AWS_ENDPOINT_URL", &endpoint)])
        .await;
    assert_eq!(verbose.code, 1);
    assert!(verbose.stderr.contains("  1: "), "the chain: {verbose:?}");

    // No credentials anywhere.
    let run = cli
        .run_with(
            &["list"],
            &[
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", ""),
                ("AWS_CONFIG_FILE", "/nonexistent/psu-sched/config"),
                (
                    "AWS_SHARED_CREDENTIALS_FILE",
                    "/nonexistent/psu-sched/credentials",
                ),
            ],
        )
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no AWS credentials found"), "{run:?}");

    // No region anywhere (told by the store's error type, not its text).
    let run = cli
        .run_with(
            &["list"],
            &[
                ("AWS_REGION", ""),
                ("AWS_DEFAULT_REGION", ""),
                ("AWS_CONFIG_FILE", "/nonexistent/psu-sched/config"),
            ],
        )
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("no AWS region set: set AWS_REGION"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tick_whose_store_fails_for_part_of_its_work_prints_what_completed_and_exits_1() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    let slot = report_every_30m(&cli, &server.url("/jobs/report")).await;
    // The same table through a proxy that fails every PutItem: the job's bookkeeping after
    // its call (the claim, the call and its outcome go through).
    let proxy = FaultProxy::start(&cli.endpoint).await;
    proxy.set_plan_for("PutItem", vec![Some(Fault::ServerError); 50]);
    let proxied = Cli {
        endpoint: proxy.url(),
        table: cli.table.clone(),
    };

    let human = proxied
        .run(&["tick", "--now", &slot.to_rfc3339(), "--simulate"])
        .await;
    assert_eq!(human.code, 1, "{human:?}");
    assert!(human.stdout.starts_with("tick at "), "{human:?}");
    assert!(
        human.stdout.contains("due 1, triggered 1, succeeded 1,")
            && human.stdout.contains("errors 1"),
        "{human:?}"
    );
    let last = human.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("psu-sched: ") && last.contains("PutItem"),
        "the last line names the failure: {human:?}"
    );

    let next = slot + chrono::Duration::minutes(30);
    let json = proxied
        .run(&["tick", "--now", &next.to_rfc3339(), "--simulate", "--json"])
        .await;
    assert_eq!(json.code, 1, "{json:?}");
    let summary = json.json();
    assert_eq!(
        (
            summary["due"].as_u64(),
            summary["triggered"].as_u64(),
            summary["succeeded"].as_u64(),
            summary["errors"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{summary}"
    );
    assert_eq!(server.count("/jobs/report"), 2);
    let history = cli
        .run(&["history", "--app", "billing", "--name", "report", "--json"])
        .await
        .ok()
        .json();
    let statuses: Vec<&str> = history
        .as_array()
        .expect("executions")
        .iter()
        .filter_map(|e| e["status"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["succeeded", "succeeded"],
        "the outcomes were recorded"
    );
}

/// `--days mon,wed --at 08:00,13:30 --tz America/Los_Angeles`, ticked over the week from the
/// spring-forward Sunday: it runs at exactly those local times (PDT), and never on other days.
///
/// Every tick is a process start and a Query, so the ticks are every 15 minutes on Monday,
/// Tuesday and Wednesday (the run days and a day without runs) and hourly on the other days:
/// with the default max lateness of 1 h, an hourly tick would still call any slot that came
/// due in the hour before it, so a run on those days could not go unnoticed.
#[tokio::test(flavor = "multi_thread")]
async fn mon_and_wed_at_0800_and_1330_los_angeles_run_at_exactly_those_times_over_a_week() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    let url = server.url("/twice");
    // Next year's spring-forward Sunday in the US (the second Sunday of March), so the
    // week is always in the future: from its 00:00 PST to the next Sunday's 00:00 PDT.
    let year = Utc::now().year() + 1;
    let sunday = (8..=14)
        .filter_map(|d| chrono::NaiveDate::from_ymd_opt(year, 3, d))
        .find(|d| d.weekday() == Weekday::Sun)
        .expect("a second Sunday of March");
    let utc = |days: u64, h: u32, m: u32| {
        let date = sunday + chrono::Days::new(days);
        date.and_hms_opt(h, m, 0).expect("valid").and_utc()
    };
    let start = format!("{sunday}T00:00");
    cli.run(&[
        "create",
        "--app",
        "week",
        "--name",
        "twice",
        "--url",
        &url,
        "--days",
        "mon,wed",
        "--at",
        "08:00,13:30",
        "--tz",
        "America/Los_Angeles",
        "--start",
        &start,
    ])
    .await
    .ok();
    let from = utc(0, 8, 0); // Sunday 00:00 PST; DST starts at 02:00
    let to = utc(7, 7, 0); // the next Sunday 00:00 PDT
    let expected = vec![
        utc(1, 15, 0),  // Monday 08:00 PDT
        utc(1, 20, 30), // Monday 13:30 PDT
        utc(3, 15, 0),  // Wednesday 08:00 PDT
        utc(3, 20, 30), // Wednesday 13:30 PDT
    ];
    let started = Instant::now();
    let mut ran = Vec::new();
    let mut ticks = 0;
    let mut at = from;
    while at < to {
        let tick = cli
            .run(&["tick", "--now", &at.to_rfc3339(), "--simulate", "--json"])
            .await
            .ok()
            .json();
        ticks += 1;
        let triggered = tick["triggered"].as_u64().unwrap_or(0);
        assert_eq!(tick["missed"], 0, "{at}: {tick}");
        if triggered > 0 {
            assert_eq!(
                (triggered, tick["succeeded"].as_u64()),
                (1, Some(1)),
                "{at}: {tick}"
            );
            ran.push(at);
        }
        at += chrono::Duration::minutes(15);
    }
    // Every 15 minutes for a week whose Sunday has 23 hours (DST starts): 167 hours.
    assert_eq!(ticks, 167 * 4);
    assert_eq!(ran, expected);
    let sent: Vec<String> = server
        .requests_to("/twice")
        .iter()
        .filter_map(|r| r.header("X-Psu-Sched-Scheduled-For").map(str::to_owned))
        .collect();
    let expected_headers: Vec<String> = expected
        .iter()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .collect();
    assert_eq!(sent, expected_headers);
    eprintln!(
        "{ticks} ticks through the binary took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn next_and_completions_need_no_store() {
    let cli = Cli {
        endpoint: "http://127.0.0.1:9".to_owned(),
        table: "unused".to_owned(),
    };
    let next = cli
        .run(&[
            "next",
            "30 2 * * *",
            "--tz",
            "America/Los_Angeles",
            "-n",
            "3",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(next["schedule"], "30 2 * * *");
    assert_eq!(next["timezone"], "America/Los_Angeles");
    assert_eq!(next["next"].as_array().map(Vec::len), Some(3));
    let human = cli
        .run(&["next", "at 08:00,13:30 on mon,wed", "-n", "2"])
        .await
        .ok();
    assert!(
        human
            .stdout
            .contains("At 08:00 and 13:30, on Monday and Wednesday."),
        "{human:?}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = cli.run(&["completions", shell]).await.ok();
        assert!(script.stdout.contains("psu-sched"), "{shell}");
    }
    let help = cli.run(&["create", "--help"]).await.ok();
    assert!(help.stdout.contains("Example:"), "{help:?}");
}

/// `list` over 1,000 jobs (seeded with a batch import): prints the time, asserts only the count.
#[tokio::test(flavor = "multi_thread")]
async fn list_shows_a_thousand_jobs() {
    let cli = Cli::new().await;
    let store = DynamoStore::new(&moto::sdk_config(&cli.endpoint).await, &cli.table);
    let now = Utc::now();
    let jobs: Vec<_> = (0..1000)
        .map(|i| {
            NewJob::new(
                AppName::parse(&format!("app{}", i % 10)).expect("app"),
                JobName::parse(&format!("job{i:04}")).expect("name"),
                JobUrl::parse("https://example.edu/job").expect("url"),
                "*/5 * * * *".parse().expect("schedule"),
            )
            .build(now)
            .expect("job")
        })
        .collect();
    store.import_jobs(&jobs).await.expect("seed");

    let started = Instant::now();
    let table = cli.run(&["list"]).await.ok();
    let table_time = started.elapsed();
    // A header, 1,000 rows, and the line naming the store.
    assert_eq!(table.stdout.lines().count(), 1002);
    assert!(
        table
            .stdout
            .trim_end()
            .ends_with(&format!("store: dynamodb:{}", cli.table)),
        "{}",
        table.stdout.lines().last().unwrap_or_default()
    );
    let started = Instant::now();
    let json = cli.run(&["list", "--json"]).await.ok().json();
    let json_time = started.elapsed();
    assert_eq!(json.as_array().map(Vec::len), Some(1000));
    let started = Instant::now();
    let one_app = cli
        .run(&["list", "--app", "app3", "--json"])
        .await
        .ok()
        .json();
    let app_time = started.elapsed();
    assert_eq!(one_app.as_array().map(Vec::len), Some(100));
    eprintln!(
        "list over 1,000 jobs: table {table_time:?}, --json {json_time:?}; one app of 100: {app_time:?}"
    );
}

/// On a terminal, `delete` asks and `list` is coloured unless NO_COLOR; through a pipe there
/// is never colour.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_delete_asks_and_colour_follows_no_color() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` (a pseudo-terminal) is not installed");
        return;
    }
    let cli = Cli::new().await;
    let job = ["--app", "tty", "--name", "ask"];
    cli.run(
        &[
            &["create"][..],
            &job[..],
            &["--url", "https://x.edu/", "--at", "08:00"],
        ]
        .concat(),
    )
    .await
    .ok();
    let delete = [&["delete"][..], &job[..]].concat();

    let kept = cli.run_on_terminal(&delete, &[], "n\n").await.ok();
    assert!(kept.stdout.contains("Delete tty/ask? [y/N]"), "{kept:?}");
    assert!(kept.stdout.contains("not deleted"), "{kept:?}");
    assert_eq!(cli.list().await.as_array().map(Vec::len), Some(1));

    let piped = cli.run_with(&["list"], &[("NO_COLOR", "")]).await.ok();
    assert!(
        !piped.stdout.contains('\x1b'),
        "no colour through a pipe: {piped:?}"
    );
    let coloured = cli
        .run_on_terminal(&["list"], &[("NO_COLOR", "")], "")
        .await
        .ok();
    assert!(coloured.stdout.contains("\x1b[32mactive"), "{coloured:?}");
    let plain = cli.run_on_terminal(&["list"], &[], "").await.ok();
    assert!(
        plain.stdout.contains("active") && !plain.stdout.contains('\x1b'),
        "{plain:?}"
    );

    let gone = cli.run_on_terminal(&delete, &[], "y\n").await.ok();
    assert!(gone.stdout.contains("deleted tty/ask"), "{gone:?}");
    assert_eq!(cli.list().await, Value::Array(vec![]));
}

/// `history` and `show` say why a run failed in their human output (its error and the start
/// of the app's answer), not only in `--json`; a status filter says how far it searched.
#[tokio::test(flavor = "multi_thread")]
async fn history_and_show_say_why_a_run_failed() {
    let cli = Cli::new().await;
    let server = JobServer::start().await;
    server.set("/jobs/flaky", Behavior::Status(503));
    let url = server.url("/jobs/flaky");
    cli.run(&[
        "create", "--app", "web", "--name", "flaky", "--url", &url, "--at", "08:00",
    ])
    .await
    .ok();
    let run = cli.run(&["run", "--app", "web", "--name", "flaky"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let id = cli
        .run(&["history", "--app", "web", "--name", "flaky", "--json"])
        .await
        .ok()
        .json()[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for args in [
        vec!["history", "--app", "web", "--name", "flaky"],
        vec!["show", "--app", "web", "--name", "flaky"],
    ] {
        let human = cli.run(&args).await.ok();
        assert!(
            human.stdout.contains(&format!("execution {id}")),
            "{human:?}"
        );
        assert!(human.stdout.contains("error: "), "{human:?}");
        assert!(
            human.stdout.contains("output: status 503"),
            "the app's answer: {human:?}"
        );
    }
    let none = cli
        .run(&[
            "history",
            "--app",
            "web",
            "--name",
            "flaky",
            "--status",
            "succeeded",
        ])
        .await
        .ok();
    assert!(
        none.stdout
            .contains("no succeeded executions (searched all 1 of this job's executions)"),
        "{none:?}"
    );
}

/// App records from the command line: a job by path follows its app's base URL, bad input
/// names its field and writes nothing, and an app with jobs is not deleted.
#[tokio::test(flavor = "multi_thread")]
async fn apps_hold_the_base_url_their_jobs_by_path_follow() {
    let cli = Cli::new().await;
    let created = cli
        .run(&[
            "app",
            "create",
            "--app",
            "web",
            "--base-url",
            "https://web.example.edu/prefix/",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(created["base_url"], "https://web.example.edu/prefix");
    assert_eq!(created["budget"], 4);
    for (args, message) in [
        (
            vec!["app", "create", "--app", "w2", "--base-url", "ftp://x.edu"],
            "base-url: ",
        ),
        (
            vec![
                "app",
                "create",
                "--app",
                "w2",
                "--base-url",
                "https://x.edu",
                "--budget",
                "0",
            ],
            "budget: 0 is not accepted",
        ),
        (
            vec![
                "create", "--app", "web", "--name", "sync", "--path", "sync", "--at", "08:00",
            ],
            "path: `sync` is not accepted",
        ),
        (
            vec![
                "create", "--app", "nope", "--name", "sync", "--path", "/sync", "--at", "08:00",
            ],
            "psu-sched app create --app nope",
        ),
    ] {
        let run = cli.run(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {run:?}");
    }
    let apps = cli.run(&["app", "list", "--json"]).await.ok().json();
    assert_eq!(
        apps.as_array().map(Vec::len),
        Some(1),
        "nothing else written"
    );

    cli.run(&[
        "create", "--app", "web", "--name", "sync", "--path", "/sync", "--at", "08:00",
    ])
    .await
    .ok();
    assert_eq!(
        cli.list().await[0]["url"],
        "https://web.example.edu/prefix/sync"
    );
    assert_eq!(cli.list().await[0]["path"], "/sync");
    cli.run(&[
        "app",
        "update",
        "--app",
        "web",
        "--base-url",
        "https://new.example.edu",
    ])
    .await
    .ok();
    let show = cli
        .run(&["show", "--app", "web", "--name", "sync", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(show["url"], "https://new.example.edu/sync");
    let app = cli
        .run(&["app", "show", "--app", "web", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(app["jobs"], serde_json::json!(["sync"]));
    let refused = cli.run(&["app", "delete", "--app", "web", "--yes"]).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("still has 1 job"), "{refused:?}");
    cli.run(&["delete", "--app", "web", "--name", "sync", "--yes"])
        .await
        .ok();
    let deleted = cli
        .run(&["app", "delete", "--app", "web", "--yes"])
        .await
        .ok();
    assert!(
        deleted.stdout.contains("deleted the app web"),
        "{deleted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_never_prints_the_value_of_the_signing_secret_arn_setting() {
    let cli = Cli::new().await;
    // Someone may paste the secret itself where its ARN belongs.
    let pasted = "pasted-secret-value-9f2c";
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["app", "key", "--help"],
    ] {
        let run = cli
            .run_with(&args, &[("PSU_SCHED_SIGNING_SECRET_ARN", pasted)])
            .await
            .ok();
        assert!(
            run.stdout.contains("PSU_SCHED_SIGNING_SECRET_ARN") && !run.stdout.contains(pasted),
            "{args:?}: {run:?}"
        );
    }
}
