//! The command line, as clap reads it. Doc comments are the help text.

pub use crate::app_args::AppCommand;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Manage scheduled HTTP jobs: create, list, change, run and inspect them.
///
/// Jobs live in a store: `--store sqlite:PATH` (an embedded database file, no AWS needed)
/// or `--store dynamodb:TABLE`. Without --store or PSU_SCHED_STORE: the DynamoDB table in
/// PSU_SCHED_TABLE if set, else the embedded file `$XDG_DATA_HOME/psu-sched/psu-sched.db`
/// (`~/.local/share/psu-sched/psu-sched.db`, or the platform's data directory). AWS
/// settings come from the SDK's standard chain (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL...).
///
/// Exit codes: 0 success, 1 runtime failure, 2 bad input (nothing written).
#[derive(Debug, Parser)]
#[command(name = "psu-sched", version, propagate_version = true)]
pub struct Cli {
    /// Where jobs are stored: `sqlite:PATH` or `dynamodb:TABLE`.
    #[arg(long, global = true, env = "PSU_SCHED_STORE", value_name = "STORE")]
    pub store: Option<String>,

    /// The application (default from PSU_SCHED_APP).
    #[arg(long, global = true, env = "PSU_SCHED_APP", value_name = "APP")]
    pub app: Option<String>,

    /// The IANA time zone schedules and dates are read in (default PSU_SCHED_TZ, else UTC;
    /// a job's zone in `update` and a backfill's window only when typed here).
    #[arg(long, global = true, env = "PSU_SCHED_TZ", value_name = "ZONE")]
    pub tz: Option<String>,

    /// The ARN of the Secrets Manager secret holding the deployment's signing secret(s): read
    /// when a command signs (run, tick, serve) or derives keys (app key), as the tick function
    /// reads it; needs secretsmanager:GetSecretValue on it. Instead of PSU_SCHED_SIGNING_SECRET.
    #[arg(
        long,
        global = true,
        env = "PSU_SCHED_SIGNING_SECRET_ARN",
        // Someone may paste the secret itself here: --help never prints the value.
        hide_env_values = true,
        value_name = "ARN"
    )]
    pub signing_secret_arn: Option<String>,

    /// More detail: -v adds the error chain and info logs, -vv debug logs (on stderr).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a job and show its next 3 runs.
    ///
    /// Give exactly one schedule form: --cron, --at or --every.
    ///
    /// Example:
    ///   psu-sched create --app billing --name invoices --url https://billing.example.edu/jobs/invoices \
    ///     --at 08:00,13:30 --days mon,wed --tz America/Los_Angeles --timeout 2m --retries 2
    #[command(verbatim_doc_comment)]
    Create(CreateArgs),

    /// List jobs: schedule, zone, next run, last status and state.
    ///
    /// Example:
    ///   psu-sched list --app billing
    ///   psu-sched list --json | jq '.[] | select(.state == "paused" or .app_paused) | .name'
    #[command(verbatim_doc_comment)]
    List(ListArgs),

    /// Show a job, its next 5 runs and its last 10 executions.
    ///
    /// Example:
    ///   psu-sched show --app billing --name invoices
    #[command(verbatim_doc_comment)]
    Show(NameJsonArgs),

    /// Change a job: any create option; the next run is recomputed from now.
    ///
    /// `--start none` / `--end none` clear a bound.
    ///
    /// Example:
    ///   psu-sched update --app billing --name invoices --every 30m --between 08:00-17:00 --days mon-fri
    #[command(verbatim_doc_comment)]
    Update(UpdateArgs),

    /// Pause a job: it does not run until resumed; --reason says why (shown by show, list
    /// --json and the admin).
    ///
    /// Example:
    ///   psu-sched pause --app billing --name invoices --reason "vendor API down until Monday"
    #[command(verbatim_doc_comment)]
    Pause(crate::app_args::PauseArgs),

    /// Resume a paused job from now (the runs it missed while paused are not made up).
    ///
    /// Example:
    ///   psu-sched resume --app billing --name invoices
    #[command(verbatim_doc_comment)]
    Resume(NameArgs),

    /// Run a job now (trigger `manual`) and print the outcome; exit 1 unless it succeeded.
    ///
    /// Example:
    ///   psu-sched run --app billing --name invoices
    #[command(verbatim_doc_comment)]
    Run(NameJsonArgs),

    /// Call the slots of a past window that have no successful run (failed, missed, or never
    /// called, e.g. while the app or the scheduler was down), each once, as the slot's next
    /// attempt; print each slot and why it is or is not called. Exit 1 unless every call
    /// succeeded.
    ///
    /// Example:
    ///   psu-sched backfill --app billing --name invoices --from "2026-12-07 02:00" --to "2026-12-07 04:30" --dry-run
    #[command(verbatim_doc_comment)]
    Backfill(crate::backfill::BackfillArgs),

    /// A job's executions, newest first; by --job-id, a deleted job's too (until they expire).
    ///
    /// Example:
    ///   psu-sched history --app billing --name invoices --status failed --limit 5
    ///   psu-sched history --job-id 3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b
    #[command(verbatim_doc_comment)]
    History(HistoryArgs),

    /// Punctuality per job: runs, success rate, lag (call started minus slot, plus the slot's
    /// jitter offset for a job with jitter) p50/p95/p99 and duration p50/p95, over the slots
    /// of the last --since.
    ///
    /// Reads the jobs, then at most 1,000 executions per job (one request each); a job with
    /// more in the window is marked `*` (truncated). Percentiles are nearest-rank.
    ///
    /// Example:
    ///   psu-sched stats --app billing --since 24h
    ///   psu-sched stats --json | jq '.jobs[] | select(.lag_ms.p95 > 5000) | .job'
    #[command(verbatim_doc_comment)]
    Stats(StatsArgs),

    /// Delete a job. Asks on a terminal; elsewhere needs --yes.
    ///
    /// Its history stays until it expires, unless --purge-history.
    ///
    /// Example:
    ///   psu-sched delete --app billing --name invoices --yes
    #[command(verbatim_doc_comment)]
    Delete(DeleteArgs),

    /// Check a schedule and preview its next runs; stores nothing.
    ///
    /// Example:
    ///   psu-sched next '30 2 * * *' --tz America/Los_Angeles -n 10
    ///   psu-sched next 'at 08:00,13:30 on mon,wed'
    #[command(verbatim_doc_comment)]
    Next(NextArgs),

    /// Run one tick (the very code the Lambda runs) and print its summary.
    ///
    /// A tick that writes runs at the clock's instant. To look at another instant (RFC 3339,
    /// or a local date and time read in --tz): --now T --dry-run shows what would run and
    /// writes nothing; --now T --simulate writes as if the clock read T, on a test or
    /// development store only (SQLite, or DynamoDB at a loopback endpoint).
    ///
    /// Example:
    ///   psu-sched tick
    ///   psu-sched tick --now 2026-11-30T08:00 --tz America/Los_Angeles --dry-run --json
    #[command(verbatim_doc_comment)]
    Tick(TickArgs),

    /// Run the scheduler here: a tick at the top of every minute, one summary line each.
    ///
    /// The same tick as the Lambda, on either store. SIGINT or SIGTERM stops it cleanly: the
    /// tick under way finishes (its calls up to their timeouts), then it exits 0.
    ///
    /// Example:
    ///   psu-sched serve
    ///   psu-sched serve --store dynamodb:psu-scheduler --json
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),

    /// Serve the web admin: every app's jobs, their runs and their health, in a browser.
    ///
    /// It listens on 127.0.0.1:8710 and prints a login link carrying a fresh token once
    /// (or signs in with the token in --token-file). See docs/admin.md.
    ///
    /// Example:
    ///   psu-sched ui
    ///   psu-sched ui --store dynamodb:psu-scheduler --read-only --token-file ~/.psu-sched-token
    #[command(verbatim_doc_comment)]
    Ui(crate::ui::UiArgs),

    /// Create the table or database file (local or development use; production tables come
    /// from the infrastructure template).
    ///
    /// Example:
    ///   psu-sched init --store sqlite:./jobs.db
    ///   AWS_ENDPOINT_URL=http://127.0.0.1:5000 psu-sched init --store dynamodb:psu-scheduler
    #[command(verbatim_doc_comment)]
    Init,

    /// App records: an app's base URL (where its jobs by path are called) and its call
    /// budget (at most that many of its calls in flight at once within a tick).
    ///
    /// Example:
    ///   psu-sched app create --app billing --base-url https://billing.example.edu --budget 4
    ///   psu-sched app update --app billing --timezone America/Los_Angeles
    ///   psu-sched create --app billing --name invoices --path /scheduled/invoices --at 08:00
    ///   psu-sched app update --app billing --base-url https://billing-new.example.edu
    #[command(verbatim_doc_comment, subcommand)]
    App(AppCommand),

    /// The table's layout: its format, its due index and the index's shards
    /// (docs/data-model.md, "The due index" and "Shards of the due index"). For operators of a
    /// DynamoDB table.
    ///
    /// Example:
    ///   psu-sched table show
    ///   psu-sched table shards --set 4      # ticks read 4 shards now, writers use them in 2 min
    ///   psu-sched table reshard             # after that: move items written before to their shard
    #[command(verbatim_doc_comment, subcommand)]
    Table(crate::table::TableCommand),

    /// Bring apps and jobs to what a schedules file declares: a plan first, then the writes.
    ///
    /// The plan lists each app record and job to create (+), update (~, the fields old ->
    /// new), delete (-) or leave unchanged (=). On a terminal it asks before writing;
    /// elsewhere it needs --yes. Each write is conditional on what the plan read: a job
    /// someone changed since is refused and reported, never overwritten. A file's ${NAME}
    /// is --var NAME=VALUE or the environment's PSU_SCHED_VAR_NAME, nothing else; the plan
    /// shows such values as written. The file format: docs/schedules-as-code.md.
    ///
    /// Example:
    ///   psu-sched apply -f schedules.toml --dry-run --var BILLING_URL=https://billing.example.edu
    ///   PSU_SCHED_VAR_BILLING_URL=https://billing.example.edu psu-sched apply -f schedules.toml --prune --yes
    #[command(verbatim_doc_comment)]
    Apply(ApplyArgs),

    /// Print the apps and jobs as a schedules file (`apply -f` reads it; applying it plans no
    /// change). With --app, that app only.
    ///
    /// Example:
    ///   psu-sched export --app billing > schedules.toml
    #[command(verbatim_doc_comment)]
    Export,

    /// Print a shell completion script.
    ///
    /// Example:
    ///   psu-sched completions bash > ~/.local/share/bash-completion/completions/psu-sched
    #[command(verbatim_doc_comment)]
    Completions(CompletionsArgs),
}

/// A job's definition options (all optional; create requires --url and a schedule form).
#[derive(Debug, Args)]
pub struct JobOptions {
    /// The URL to call (http or https).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Or a path under the app's base URL (`psu-sched app create`): /scheduled/invoices.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// A 5-field cron expression or macro (@daily...), read in the job's zone.
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,

    /// Fixed times of day, HH:MM[,HH:MM...].
    #[arg(long, value_name = "HH:MM[,HH:MM...]")]
    pub at: Option<String>,

    /// Run every DURATION (whole minutes, 1m to 24h: 15m, 90m, 2h), from 00:00 or the window start.
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,

    /// Only between these times (with --every).
    #[arg(long, value_name = "HH:MM-HH:MM")]
    pub between: Option<String>,

    /// Only on these days (with --at or --every): mon,wed or mon-fri.
    #[arg(long, value_name = "DAYS")]
    pub days: Option<String>,

    /// No run before: a date (2026-12-01), a local date and time, or RFC 3339.
    #[arg(long, value_name = "DATE|TIME")]
    pub start: Option<String>,

    /// No run after: a date, a local date and time, or RFC 3339.
    #[arg(long, value_name = "DATE|TIME")]
    pub end: Option<String>,

    /// GET (default) or POST.
    #[arg(long, value_name = "GET|POST")]
    pub method: Option<String>,

    /// How long a call may take, with its unit (default 30s, at most 14m).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Extra attempts after a failed call (0-5, default 0).
    #[arg(long, value_name = "N")]
    pub retries: Option<String>,

    /// A run later than this (with its unit: 90m, 2h) is recorded `missed` instead of called
    /// (default 1h).
    #[arg(long, value_name = "DURATION")]
    pub max_lateness: Option<String>,

    /// Spread the calls: each slot's call is due at the slot plus a fixed offset in [0, this)
    /// from the job's id and the slot (default none; 0s removes it; less than the schedule's
    /// smallest gap between two runs).
    #[arg(long, value_name = "DURATION")]
    pub jitter: Option<String>,

    /// Let a run start while the previous one is still going (default: skip it).
    #[arg(long, conflicts_with = "forbid_overlap")]
    pub allow_overlap: bool,

    /// Skip a run while the previous one is still going (update only; the default).
    #[arg(long)]
    pub forbid_overlap: bool,

    /// Free text.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

/// `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The job's name, unique within its app.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    #[command(flatten)]
    pub options: JobOptions,

    /// Create it paused.
    #[arg(long)]
    pub paused: bool,

    /// Print the job as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The job's name.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    #[command(flatten)]
    pub options: JobOptions,

    /// Pause it as well.
    #[arg(long)]
    pub paused: bool,

    /// Print the job as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// JSON: an array of jobs (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// A job, by name.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The job's name.
    #[arg(long, value_name = "NAME")]
    pub name: String,
}

/// A job, by name, with JSON output.
#[derive(Debug, Args)]
pub struct NameJsonArgs {
    /// The job's name.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// JSON output (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The job's name.
    #[arg(long, value_name = "NAME", required_unless_present = "job_id")]
    pub name: Option<String>,

    /// Or the job's id (32 hex digits, as `delete` prints it): a deleted job's history.
    #[arg(long, value_name = "ID", conflicts_with = "name")]
    pub job_id: Option<String>,

    /// At most this many executions.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,

    /// Only executions with this status (pending, running, succeeded, failed, timed_out,
    /// skipped, missed).
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,

    /// JSON: an array of executions (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The window: slots of the last DURATION (1m to 366d: 7d, 24h, 90m).
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub since: String,

    /// JSON: the StatsView (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The job's name.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// Do not ask.
    #[arg(long, short)]
    pub yes: bool,

    /// Delete its executions now too.
    #[arg(long)]
    pub purge_history: bool,

    /// JSON: the deleted job's app, name and id (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// `next`.
#[derive(Debug, Args)]
pub struct NextArgs {
    /// The schedule: cron, a macro, `at HH:MM[,...] [on DAYS]` or `every DURATION [between
    /// HH:MM-HH:MM] [on DAYS]` (a duration with its unit: 15m, 90m, 2h).
    #[arg(value_name = "EXPR")]
    pub expr: String,

    /// How many runs to show.
    #[arg(short = 'n', default_value_t = 5, value_name = "N")]
    pub count: usize,

    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `tick`.
#[derive(Debug, Args)]
pub struct TickArgs {
    /// Tick at this instant instead of the clock's: with --dry-run or --simulate, or at most
    /// 30 s behind the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,

    /// Show what the tick would do; write nothing, call nothing.
    #[arg(long, conflicts_with = "simulate")]
    pub dry_run: bool,

    /// Write and call as if the clock read --now (test and development stores only).
    #[arg(long, requires = "now")]
    pub simulate: bool,

    /// Print the TickSummary as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub group: crate::group::GroupArgs,
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// One TickSummary JSON object per line instead of a sentence.
    #[arg(long)]
    pub json: bool,

    /// Serve the web admin too, in the same process (its options as for `psu-sched ui`).
    #[arg(long)]
    pub ui: bool,

    #[command(flatten)]
    pub group: crate::group::GroupArgs,

    #[command(flatten)]
    pub admin: crate::ui::UiArgs,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The schedules file (TOML, see docs/schedules-as-code.md).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: std::path::PathBuf,

    /// Show the plan; write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// A value for the file's ${NAME} (repeatable); wins over PSU_SCHED_VAR_NAME. For a
    /// secret, prefer PSU_SCHED_VAR_NAME: a command line is visible to other processes.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    /// Delete the jobs of the apps the file names that it does not list (never anything of
    /// an app the file does not name).
    #[arg(long)]
    pub prune: bool,

    /// Do not ask.
    #[arg(long, short)]
    pub yes: bool,

    /// The plan, and what each step did, as one JSON object (see docs/cli.md); never asks
    /// (writes need --yes).
    #[arg(long)]
    pub json: bool,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// bash
    Bash,
    /// zsh
    Zsh,
    /// fish
    Fish,
}
