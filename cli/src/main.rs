//! `psu-sched`: the developers' command line. It parses flags, builds the store and hands
//! over to the library (`shared`): creating, changing, running and inspecting jobs, and
//! running one tick of the very code the Lambda runs.
//!
//! Exit codes: 0 success, 1 runtime failure (store, network, a manual run that did not
//! succeed), 2 bad input (nothing was written).

mod args;
mod output;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
use shared::clock::{ShiftedClock, SystemClock};
use shared::config::{Config, Runner};
use shared::jobs::{self, JobChanges, ScheduleForm, UpdateError};
use shared::model::{
    AppName, JobName, JobUrl, Method, NewJob, OverlapPolicy, Status, ValidationError,
};
use shared::schedule::Schedule;
use shared::store::dynamodb::DynamoStore;
use shared::store::sqlite::SqliteStore;
use shared::store::{Store, StoreError};
use shared::tick::{self, NowError, NowUse, RunNowError, TickError};

use args::{Cli, Command, JobOptions, Shell};
use output::Out;

/// Why a command failed: bad input (exit 2, nothing written) or a runtime failure (exit 1).
enum Failure {
    Input(String),
    Runtime(anyhow::Error),
}

impl From<ValidationError> for Failure {
    fn from(e: ValidationError) -> Self {
        Failure::Input(e.to_string())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Runtime(e.into())
    }
}

impl From<UpdateError> for Failure {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::Invalid(v) => Failure::Input(v.to_string()),
            other => Failure::Runtime(other.into()),
        }
    }
}

type Result<T, E = Failure> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Whether --tz was typed on this command line (for `update`, the PSU_SCHED_TZ default
    // must not change a job's zone).
    let tz_typed = matches
        .subcommand()
        .map(|(_, m)| m.value_source("tz") == Some(ValueSource::CommandLine))
        .unwrap_or(false)
        || matches.value_source("tz") == Some(ValueSource::CommandLine);
    init_tracing(cli.verbose);
    let verbose = cli.verbose;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("psu-sched: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, tz_typed)) {
        Ok(code) => code,
        Err(Failure::Input(line)) => {
            eprintln!("psu-sched: {line}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(err)) => {
            eprintln!("psu-sched: {}", explain(&err));
            if verbose > 0 {
                for (i, cause) in err.chain().enumerate() {
                    eprintln!("  {i}: {cause}");
                }
            }
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr: warnings from psu-sched only by default (the SDK's own warnings are
/// noise here), more with -v / -vv, or whatever RUST_LOG says.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "error,shared=warn,psu_sched=warn",
        1 => "warn,shared=info,psu_sched=info",
        _ => "info,shared=debug,psu_sched=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
}

/// One plain sentence for a runtime failure, chosen by the store error's kind (never by its
/// text).
fn explain(err: &anyhow::Error) -> String {
    let store = err.chain().find_map(|e| e.downcast_ref::<StoreError>());
    match store {
        Some(e @ StoreError::TableMissing(_)) => e.to_string(),
        Some(e @ StoreError::AlreadyExists(..)) => {
            format!("{e}; nothing changed (use `psu-sched update` to change it)")
        }
        Some(StoreError::Credentials { .. }) => {
            "no AWS credentials found, or they were refused as unknown or expired: set AWS_PROFILE (and sign in again if it uses SSO), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for a local table, any dummy values)".to_owned()
        }
        Some(StoreError::NoRegion { .. }) => {
            "no AWS region set: set AWS_REGION (or a region in your AWS profile)".to_owned()
        }
        Some(StoreError::Unavailable { .. }) => format!(
            "DynamoDB is unreachable at {}; check the endpoint and your network",
            endpoint_name()
        ),
        Some(StoreError::Throttled { .. }) => format!(
            "DynamoDB kept throttling the requests at {}; try again, or raise the table's capacity",
            endpoint_name()
        ),
        Some(e) => format!("{err}: {e}"),
        None => err.to_string(),
    }
}

/// The DynamoDB endpoint in use, for error messages.
fn endpoint_name() -> String {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return format!("{v} (from {var})");
        }
    }
    match std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")) {
        Ok(region) if !region.is_empty() => format!("the AWS endpoint for region {region}"),
        _ => "the AWS endpoint (no region set: set AWS_REGION)".to_owned(),
    }
}

/// Where the jobs are.
enum StoreSpec {
    Dynamo(String),
    Sqlite(std::path::PathBuf),
}

impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Dynamo(table) => write!(f, "dynamodb:{table}"),
            StoreSpec::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
        }
    }
}

/// The embedded store's default file: `$XDG_DATA_HOME/psu-sched/psu-sched.db`, else the
/// platform's data directory (`~/.local/share` on Linux).
fn default_sqlite_path() -> Result<std::path::PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(dirs::data_dir)
        .ok_or_else(|| {
            Failure::Input(
                "store: no data directory (HOME is not set); give --store sqlite:PATH".to_owned(),
            )
        })?;
    Ok(base.join("psu-sched").join("psu-sched.db"))
}

/// The store named by `--store` / `PSU_SCHED_STORE`; else the table in `PSU_SCHED_TABLE`;
/// else the embedded file.
fn store_spec(store: Option<&str>) -> Result<StoreSpec> {
    match store.map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            if std::env::var(shared::config::ENV_TABLE).is_ok_and(|t| !t.trim().is_empty()) {
                let config = Config::from_env().map_err(|e| Failure::Input(e.to_string()))?;
                Ok(StoreSpec::Dynamo(config.table))
            } else {
                Ok(StoreSpec::Sqlite(default_sqlite_path()?))
            }
        }
        Some(spec) => match spec.split_once(':') {
            Some(("dynamodb", table)) if !table.is_empty() => {
                Ok(StoreSpec::Dynamo(table.to_owned()))
            }
            Some(("sqlite", path)) if !path.is_empty() => Ok(StoreSpec::Sqlite(path.into())),
            _ => Err(Failure::Input(format!(
                "store: `{spec}` is not accepted; use sqlite:PATH or dynamodb:TABLE"
            ))),
        },
    }
}

/// An open store of either kind.
enum AnyStore {
    Dynamo(DynamoStore),
    Sqlite(SqliteStore),
}

impl std::ops::Deref for AnyStore {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        match self {
            AnyStore::Dynamo(s) => s,
            AnyStore::Sqlite(s) => s,
        }
    }
}

async fn open_spec(spec: &StoreSpec) -> Result<AnyStore> {
    Ok(match spec {
        StoreSpec::Dynamo(table) => AnyStore::Dynamo(DynamoStore::from_env(table.clone()).await),
        StoreSpec::Sqlite(path) => AnyStore::Sqlite(
            SqliteStore::open(path)
                .await
                .with_context(|| format!("could not open the database {}", path.display()))?,
        ),
    })
}

async fn open_store(cli: &Cli) -> Result<AnyStore> {
    open_spec(&store_spec(cli.store.as_deref())?).await
}

fn app_of(cli: &Cli) -> Result<AppName> {
    match &cli.app {
        Some(app) => Ok(AppName::parse(app)?),
        None => Err(Failure::Input(
            "app: missing; give --app APP or set PSU_SCHED_APP".to_owned(),
        )),
    }
}

fn tz_of(cli: &Cli) -> Result<Tz> {
    match &cli.tz {
        Some(tz) => Ok(jobs::parse_zone(tz)?),
        None => Ok(Tz::UTC),
    }
}

async fn run(cli: Cli, tz_typed: bool) -> Result<ExitCode> {
    let out = Out::new();
    match &cli.command {
        Command::Create(args) => {
            let app = app_of(&cli)?;
            let name = JobName::parse(&args.name)?;
            let tz = tz_of(&cli)?;
            let now = Utc::now();
            let opts = &args.options;
            let url = match &opts.url {
                Some(url) => JobUrl::parse(url)?,
                None => {
                    return Err(Failure::Input(
                        "url: missing; give --url https://host/path".to_owned(),
                    ));
                }
            };
            if opts.forbid_overlap {
                return Err(Failure::Input(
                    "forbid-overlap: only for update (a new job forbids overlap unless --allow-overlap)".to_owned(),
                ));
            }
            let schedule = schedule_form(opts).build(true)?.ok_or_else(|| {
                Failure::Input("schedule: missing; give --cron, --at or --every".to_owned())
            })?;
            let mut spec = NewJob::new(app, name, url, schedule);
            spec.timezone = tz;
            changes_from(opts, tz)?.apply_to_new(&mut spec);
            spec.enabled = !args.paused;
            let job = spec.build(now)?;
            let store = open_store(&cli).await?;
            store
                .create_job(&job)
                .await
                .context("could not create the job")?;
            if args.json {
                out.json(&output::job_json(&job, now, 3));
            } else {
                out.line(&format!(
                    "created {}/{} ({})",
                    job.app,
                    job.name,
                    out.state(jobs::JobStatus::of(&job))
                ));
                out.job_details(&job);
                out.next_runs(&job, &jobs::upcoming(&job, now, 3));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Update(args) => {
            let app = app_of(&cli)?;
            let name = JobName::parse(&args.name)?;
            let opts = &args.options;
            let mut changes = JobChanges::default();
            let tz_given = if tz_typed { Some(tz_of(&cli)?) } else { None };
            changes.timezone = tz_given;
            if let Some(url) = &opts.url {
                changes.url = Some(JobUrl::parse(url)?);
            }
            changes.schedule = schedule_form(opts).build(false)?;
            let store = open_store(&cli).await?;
            // Dates without a zone are read in the job's (new) zone.
            let job_tz = match tz_given {
                Some(tz) => tz,
                None => store
                    .get_job(&app, &name)
                    .await
                    .context("could not read the job")?
                    .map_or(Tz::UTC, |j| j.timezone),
            };
            let rest = changes_from(opts, job_tz)?;
            changes = JobChanges {
                url: changes.url,
                schedule: changes.schedule,
                timezone: changes.timezone,
                ..rest
            };
            if args.paused {
                changes.enabled = Some(false);
            }
            if changes.is_empty() {
                return Err(Failure::Input(
                    "update: nothing to change; give at least one option (see psu-sched update --help)".to_owned(),
                ));
            }
            let now = Utc::now();
            let job = jobs::update_job(&*store, &app, &name, &changes, now).await?;
            if args.json {
                out.json(&output::job_json(&job, now, 3));
            } else {
                out.line(&format!(
                    "updated {}/{} ({})",
                    job.app,
                    job.name,
                    out.state(jobs::JobStatus::of(&job))
                ));
                out.job_details(&job);
                out.next_runs(&job, &jobs::upcoming(&job, now, 3));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Pause(args) | Command::Resume(args) => {
            let app = app_of(&cli)?;
            let name = JobName::parse(&args.name)?;
            let store = open_store(&cli).await?;
            let now = Utc::now();
            let pause = matches!(cli.command, Command::Pause(_));
            let job = if pause {
                jobs::pause_job(&*store, &app, &name, now).await
            } else {
                jobs::resume_job(&*store, &app, &name, now).await
            }?;
            let next = job
                .state
                .next_slot
                .filter(|_| job.enabled)
                .map(|t| format!("; next run {}", output::local(t, job.timezone)))
                .unwrap_or_default();
            out.line(&format!(
                "{} {}/{}{next}",
                if pause { "paused" } else { "resumed" },
                job.app,
                job.name
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::List(args) => {
            let app = match &cli.app {
                Some(a) => Some(AppName::parse(a)?),
                None => None,
            };
            let spec = store_spec(cli.store.as_deref())?;
            let store = open_spec(&spec).await?;
            let mut jobs = store
                .list_jobs(app.as_ref())
                .await
                .context("could not list the jobs")?;
            jobs.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
            let now = Utc::now();
            if args.json {
                let list: Vec<_> = jobs.iter().map(|j| output::job_json(j, now, 0)).collect();
                out.json(&serde_json::Value::Array(list));
            } else if jobs.is_empty() {
                out.line(&format!("no jobs (store: {spec})"));
            } else {
                out.job_table(&jobs);
                out.line(&format!("store: {spec}"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show(args) => {
            let app = app_of(&cli)?;
            let name = JobName::parse(&args.name)?;
            let store = open_store(&cli).await?;
            let job = store
                .get_job(&app, &name)
                .await
                .context("could not read the job")?
                .ok_or_else(|| anyhow::anyhow!("no job named {app}/{name}"))?;
            let history = store
                .list_executions(&job.id, 10)
                .await
                .context("could not read the job's history")?;
            let now = Utc::now();
            if args.json {
                let mut value = output::job_json(&job, now, 5);
                value["executions"] = history.iter().map(output::execution_json).collect();
                out.json(&value);
            } else {
                out.line(&format!(
                    "{}/{} ({})",
                    job.app,
                    job.name,
                    out.state(jobs::JobStatus::of(&job))
                ));
                out.job_details(&job);
                out.next_runs(&job, &jobs::upcoming(&job, now, 5));
                out.line("last executions:");
                if history.is_empty() {
                    out.line("  none yet");
                } else {
                    out.execution_table(&history, job.timezone);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::History(args) => {
            let app = app_of(&cli)?;
            let name = JobName::parse(&args.name)?;
            let status = match &args.status {
                Some(s) => Some(s.parse::<Status>()?),
                None => None,
            };
            if args.limit == 0 {
                return Err(Failure::Input(
                    "limit: 0 is not accepted; use a whole number from 1".to_owned(),
                ));
            }
            let store = open_store(&cli).await?;
            let job = store
                .get_job(&app, &name)
                .await
                .context("could not read the job")?
                .ok_or_else(|| anyhow::anyhow!("no job named {app}/{name}"))?;
            // With a status filter, read further back so that `limit` matches can be found.
            let fetch = if status.is_some() {
                args.limit.max(1000)
            } else {
                args.limit
            };
            let mut history = store
                .list_executions(&job.id, fetch)
                .await
                .context("could not read the job's history")?;
            if let Some(status) = status {
                history.retain(|e| e.status == status);
            }
            history.truncate(args.limit);
            if args.json {
                let list: Vec<_> = history.iter().map(output::execution_json).collect();
                out.json(&serde_json::Value::Array(list));
            } else if history.is_empty() {
                out.line("no executions");
            } else {
                out.execution_table(&history, job.timezone);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Delete(args) => {
            let app = app_of(&cli)?;
            let name = JobName::parse(&args.name)?;
            let store = open_store(&cli).await?;
            if store
                .get_job(&app, &name)
                .await
                .context("could not read the job")?
                .is_none()
            {
                return Err(anyhow::anyhow!("no job named {app}/{name}").into());
            }
            if !args.yes {
                if !std::io::stdin().is_terminal() {
                    return Err(Failure::Input(format!(
                        "yes: not on a terminal, so not asking; nothing deleted. Pass --yes to delete {app}/{name}"
                    )));
                }
                eprint!("Delete {app}/{name}? [y/N] ");
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut answer)
                    .context("could not read the answer")?;
                if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
                    out.line("not deleted");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let deleted = store
                .delete_job(&app, &name)
                .await
                .context("could not delete the job")?;
            let Some(deleted) = deleted else {
                return Err(anyhow::anyhow!("no job named {app}/{name}").into());
            };
            if args.purge_history {
                let n = store
                    .delete_executions(&deleted.id)
                    .await
                    .context("the job is deleted, but purging its history failed")?;
                let plural = if n == 1 { "" } else { "s" };
                out.line(&format!(
                    "deleted {app}/{name} and its history ({n} execution{plural})"
                ));
            } else {
                out.line(&format!(
                    "deleted {app}/{name}; its history stays until it expires"
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            let app = app_of(&cli)?;
            let name = JobName::parse(&args.name)?;
            let store = open_store(&cli).await?;
            let config = Config::from_env().map_err(|e| Failure::Input(e.to_string()))?;
            let dispatcher = config
                .dispatcher(Runner::Cli)
                .context("could not build the HTTP client")?;
            let execution = tick::run_now(
                &*store,
                &dispatcher,
                &SystemClock,
                &config.tick,
                &app,
                &name,
            )
            .await
            .map_err(|e| match e {
                RunNowError::Store(s) => {
                    anyhow::Error::new(s).context(format!("could not run {app}/{name}"))
                }
                other => anyhow::Error::new(other),
            })?;
            if args.json {
                out.json(&output::execution_json(&execution));
            } else {
                out.line(&output::outcome_line(&execution, &out));
            }
            Ok(if execution.status == Status::Succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Next(args) => {
            let tz = tz_of(&cli)?;
            let schedule: Schedule =
                args.expr
                    .parse()
                    .map_err(|e: shared::schedule::ScheduleError| {
                        Failure::Input(format!("schedule: {e}"))
                    })?;
            if args.count == 0 || args.count > 1000 {
                return Err(Failure::Input(
                    "n: use a whole number from 1 to 1000".to_owned(),
                ));
            }
            let now = Utc::now();
            let times = jobs::preview(&schedule, tz, now, args.count);
            if args.json {
                out.json(&serde_json::json!({
                    "schedule": schedule.to_string(),
                    "description": schedule.describe(),
                    "timezone": tz.name(),
                    "next": times.iter().map(|t| output::rfc3339(*t)).collect::<Vec<_>>(),
                }));
            } else {
                out.line(&format!("{} ({})", schedule, schedule.describe()));
                out.line(&format!("next runs ({}):", tz.name()));
                for t in &times {
                    out.line(&format!("  {}", output::local(*t, tz)));
                }
                if times.is_empty() {
                    out.line("  none");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tick(args) => {
            let tz = tz_of(&cli)?;
            let now: Option<DateTime<Utc>> = match &args.now {
                Some(t) => Some(jobs::parse_instant("now", t, tz)?),
                None => None,
            };
            let using = if args.dry_run {
                NowUse::DryRun
            } else if args.simulate {
                NowUse::Simulate
            } else {
                NowUse::Write
            };
            if let Some(now) = now {
                tick::check_now(now, Utc::now(), using).map_err(|e| {
                    Failure::Input(match e {
                        NowError::OutOfRange { .. } => format!("now: {e}"),
                        _ => format!(
                            "now: {e}; a tick that writes runs at the clock's instant: add --dry-run to see what would run then, or --simulate to write as if the clock read it (test and development stores only)"
                        ),
                    })
                })?;
            }
            let config = Config::from_env().map_err(|e| Failure::Input(e.to_string()))?;
            let spec = store_spec(cli.store.as_deref())?;
            let store = open_spec(&spec).await?;
            if using == NowUse::Simulate && !store.is_local() {
                return Err(Failure::Input(format!(
                    "simulate: {spec} is not a test or development store; --simulate writes only to SQLite or to DynamoDB at a loopback endpoint (AWS_ENDPOINT_URL=http://127.0.0.1:PORT)"
                )));
            }
            let dispatcher = config
                .dispatcher(Runner::Cli)
                .context("could not build the HTTP client")?;
            let mut tick_config = config.tick.clone();
            tick_config.dry_run = args.dry_run;
            let result = match now {
                // At another instant, the clock still moves: calls keep their real durations
                // and each gets its deadline from when it is actually sent.
                Some(now) => {
                    let clock = ShiftedClock::starting_at(SystemClock, now);
                    tick::tick(&*store, &dispatcher, &clock, &tick_config).await
                }
                None => tick::tick(&*store, &dispatcher, &SystemClock, &tick_config).await,
            };
            let summary = result.map_err(|e: TickError| anyhow::Error::new(e))?;
            if args.json {
                out.json(&serde_json::to_value(&summary).context("could not encode the summary")?);
            } else {
                out.line(&output::summary_line(&summary));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            let config = Config::from_env().map_err(|e| Failure::Input(e.to_string()))?;
            let spec = store_spec(cli.store.as_deref())?;
            let store = open_spec(&spec).await?;
            let dispatcher = config
                .dispatcher(Runner::Cli)
                .context("could not build the HTTP client")?;
            eprintln!(
                "psu-sched: serving {spec}: a tick at the top of every minute (Ctrl-C stops)"
            );
            let json = args.json;
            shared::daemon::run_every_minute(
                &*store,
                &dispatcher,
                &SystemClock,
                &config.tick,
                stop_then_quit(),
                |summary| {
                    if json {
                        out.json(&serde_json::to_value(summary).unwrap_or_default());
                    } else {
                        out.line(&output::summary_line(summary));
                    }
                },
            )
            .await;
            eprintln!("psu-sched: stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Init => {
            let spec = store_spec(cli.store.as_deref())?;
            let store = match open_spec(&spec).await? {
                AnyStore::Sqlite(_) => {
                    out.line(&format!("the database is ready: {spec}"));
                    return Ok(ExitCode::SUCCESS);
                }
                AnyStore::Dynamo(store) => store,
            };
            let probe = AppName::parse("psu-sched-init").map_err(Failure::from)?;
            match store.list_jobs(Some(&probe)).await {
                Ok(_) => {
                    out.line(&format!("the table `{}` already exists", store.table()));
                    return Ok(ExitCode::SUCCESS);
                }
                Err(StoreError::TableMissing(_)) => {}
                Err(e) => return Err(e.into()),
            }
            store
                .create_table()
                .await
                .context("could not create the table")?;
            out.line(&format!("created the table `{}`", store.table()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(args) => {
            let shell = match args.shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            let mut command = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "psu-sched", &mut script);
            out.line(String::from_utf8_lossy(&script).trim_end());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn schedule_form(opts: &JobOptions) -> ScheduleForm {
    ScheduleForm {
        cron: opts.cron.clone(),
        at: opts.at.clone(),
        every: opts.every.clone(),
        between: opts.between.clone(),
        days: opts.days.clone(),
    }
}

/// The options other than url, schedule and zone, validated; dates are read in `tz`.
fn changes_from(opts: &JobOptions, tz: Tz) -> Result<JobChanges> {
    let instant =
        |field: &'static str, v: &Option<String>| -> Result<Option<Option<DateTime<Utc>>>> {
            Ok(match v.as_deref() {
                None => None,
                Some("none") => Some(None),
                Some(text) => Some(Some(jobs::parse_instant(field, text, tz)?)),
            })
        };
    let start = instant("start", &opts.start)?;
    let end = instant("end", &opts.end)?;
    if let (Some(Some(s)), Some(Some(e))) = (start, end)
        && e <= s
    {
        return Err(Failure::Input(format!(
            "end: {e} is not after start {s}; the end must come after the start"
        )));
    }
    let method = match &opts.method {
        Some(m) => Some(m.parse::<Method>()?),
        None => None,
    };
    let timeout = match &opts.timeout {
        Some(t) => Some(shared::model::validate_timeout(jobs::parse_duration(
            "timeout", t,
        )?)?),
        None => None,
    };
    let retries = match &opts.retries {
        Some(r) => Some(shared::model::validate_retries(r.trim().parse().map_err(
            |_| {
                Failure::Input(format!(
                    "retries: `{r}` is not accepted; use a whole number from 0 to {}",
                    shared::model::MAX_RETRIES
                ))
            },
        )?)?),
        None => None,
    };
    let max_lateness = match &opts.max_lateness {
        Some(l) => {
            let d = jobs::parse_duration("max-lateness", l)?;
            if d.is_zero() {
                return Err(Failure::Input(
                    "max-lateness: must be more than 0 (e.g. 1h)".to_owned(),
                ));
            }
            Some(d)
        }
        None => None,
    };
    let overlap = if opts.allow_overlap {
        Some(OverlapPolicy::Allow)
    } else if opts.forbid_overlap {
        Some(OverlapPolicy::Forbid)
    } else {
        None
    };
    Ok(JobChanges {
        start,
        end,
        method,
        timeout,
        retries,
        max_lateness,
        overlap,
        description: opts.description.clone(),
        ..JobChanges::default()
    })
}

/// Completes on the first SIGINT or SIGTERM (serve then finishes the ticks under way); a
/// second one quits at once: whatever was still in flight is reconciled by a later tick.
async fn stop_then_quit() {
    shutdown_signal().await;
    eprintln!(
        "psu-sched: stopping: no new tick; waiting for the calls in flight (Ctrl-C again quits at once)"
    );
    tokio::spawn(async {
        shutdown_signal().await;
        eprintln!("psu-sched: quitting now; a later tick reconciles the calls left in flight");
        std::process::exit(130);
    });
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
