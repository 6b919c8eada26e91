//! One small function per command: turn the arguments into the operation's input, call
//! `shared::ops`, print the result.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use shared::clock::SystemClock;
use shared::config::{Config, ENV_SIGNING_SECRET, Runner};
use shared::model::{OverlapPolicy, Status};
use shared::ops::views::{
    AppKeyView, AppView, ExecutionView, JobStatus, JobView, NextView, upcoming,
};
use shared::ops::{
    self, AppInput, Init, JobInput, JobKey, OpsError, Rotation, ScheduleForm, TickAt,
};
use shared::secrets::{RefreshingSecrets, SecretsManagerSource};
use shared::tick::NowUse;

use crate::args::{
    AppCommand, Cli, Command, CreateArgs, DeleteArgs, HistoryArgs, JobOptions, ListArgs, NameArgs,
    NameJsonArgs, NextArgs, ServeArgs, Shell, TickArgs, UpdateArgs,
};
use crate::output::{self, Out};
use crate::{Failure, Result, ops};

/// Runs the command.
pub async fn run(cli: Cli, tz_typed: bool) -> Result<ExitCode> {
    let out = Out::new();
    match &cli.command {
        Command::Create(args) => create(&cli, args, &out).await,
        Command::Update(args) => update(&cli, args, tz_typed, &out).await,
        Command::Pause(args) => pause_or_resume(&cli, args, true, &out).await,
        Command::Resume(args) => pause_or_resume(&cli, args, false, &out).await,
        Command::List(args) => list(&cli, args, &out).await,
        Command::Show(args) => show(&cli, args, &out).await,
        Command::History(args) => history(&cli, args, &out).await,
        Command::Delete(args) => delete(&cli, args, &out).await,
        Command::Stats(args) => crate::stats::run(&ops(&cli)?, &cli, args, &out).await,
        Command::Run(args) => run_now(&cli, args, &out).await,
        Command::Next(args) => next(&cli, args, &out),
        Command::Tick(args) => tick(&cli, args, &out).await,
        Command::Serve(args) => serve(&cli, args, &out).await,
        Command::Ui(args) => crate::ui::ui(ops(&cli)?, args).await,
        Command::Init => init(&cli, &out).await,
        Command::App(command) => app(&cli, command, &out).await,
        Command::Table(command) => crate::table::run(&ops(&cli)?, command, &out).await,
        Command::Apply(args) => crate::apply::apply(&cli, args, &out).await,
        Command::Export => crate::apply::export(&cli, &out).await,
        Command::Completions(args) => completions(args.shell, &out),
    }
}

/// The configuration from the environment. With `--signing-secret-arn` (or
/// `PSU_SCHED_SIGNING_SECRET_ARN`) the signing secrets are read from that Secrets Manager
/// secret, as the tick function reads them, so no secret is pasted into a shell.
async fn config(cli: &Cli) -> Result<Config> {
    let mut config = Config::from_env().map_err(ops::OpsError::from)?;
    if let Some(arn) = cli.signing_secret_arn.as_deref().map(str::trim)
        && !arn.is_empty()
        && config.signing_secret_arn.as_deref() != Some(arn)
    {
        config = config
            .with_signing_secret_arn(arn)
            .map_err(ops::OpsError::from)?;
    }
    if let Some(arn) = &config.signing_secret_arn {
        let source = SecretsManagerSource::from_env(arn.clone()).await;
        config.signing_secrets = shared::secrets::read_secrets(&source)
            .await
            .map_err(|e| Failure::Runtime(e.into()))?;
    }
    Ok(config)
}

/// The job `--app` and `--name` name.
fn key(cli: &Cli, name: &str) -> Result<JobKey> {
    let Some(app) = &cli.app else {
        return Err(Failure::Input(
            "app: missing; give --app APP or set PSU_SCHED_APP".to_owned(),
        ));
    };
    Ok(JobKey::parse(app, name)?)
}

/// The job options as typed; `timezone` is the zone given, if any.
fn input(opts: &JobOptions, timezone: Option<String>, paused: bool) -> JobInput {
    JobInput {
        url: opts.url.clone(),
        path: opts.path.clone(),
        method: opts.method.clone(),
        schedule: ScheduleForm {
            cron: opts.cron.clone(),
            at: opts.at.clone(),
            every: opts.every.clone(),
            between: opts.between.clone(),
            days: opts.days.clone(),
        },
        timezone,
        start: opts.start.clone(),
        end: opts.end.clone(),
        timeout: opts.timeout.clone(),
        retries: opts.retries.clone(),
        max_lateness: opts.max_lateness.clone(),
        overlap: if opts.allow_overlap {
            Some(OverlapPolicy::Allow)
        } else if opts.forbid_overlap {
            Some(OverlapPolicy::Forbid)
        } else {
            None
        },
        description: opts.description.clone(),
        paused,
    }
}

fn print_job(out: &Out, verb: &str, job: &shared::model::Job, json: bool) {
    let now = Utc::now();
    if json {
        out.json(&JobView::new(job, now, 3));
    } else {
        out.line(&format!(
            "{verb} {}/{} ({})",
            job.app,
            job.name,
            out.state(JobStatus::of(job))
        ));
        out.job_details(job);
        out.next_runs(job, &upcoming(job, now, 3));
    }
}

async fn create(cli: &Cli, args: &CreateArgs, out: &Out) -> Result<ExitCode> {
    if args.options.forbid_overlap {
        return Err(Failure::Input(
            "forbid-overlap: only for update (a new job forbids overlap unless --allow-overlap)"
                .to_owned(),
        ));
    }
    let key = key(cli, &args.name)?;
    let input = input(&args.options, cli.tz.clone(), args.paused);
    let job = ops(cli)?.create(&key, &input, Utc::now()).await?;
    print_job(out, "created", &job, args.json);
    Ok(ExitCode::SUCCESS)
}

async fn update(cli: &Cli, args: &UpdateArgs, tz_typed: bool, out: &Out) -> Result<ExitCode> {
    let key = key(cli, &args.name)?;
    let timezone = cli.tz.clone().filter(|_| tz_typed);
    let input = input(&args.options, timezone, args.paused);
    let job = ops(cli)?
        .with_tick_config(Config::from_env().map_err(ops::OpsError::from)?.tick)
        .update(&key, &input, Utc::now())
        .await?;
    print_job(out, "updated", &job, args.json);
    Ok(ExitCode::SUCCESS)
}

async fn pause_or_resume(cli: &Cli, args: &NameArgs, pause: bool, out: &Out) -> Result<ExitCode> {
    let key = key(cli, &args.name)?;
    let ops = ops(cli)?.with_tick_config(Config::from_env().map_err(ops::OpsError::from)?.tick);
    let job = if pause {
        ops.pause(&key, Utc::now()).await?
    } else {
        ops.resume(&key, Utc::now()).await?
    };
    let next = job
        .state
        .next_slot
        .filter(|_| job.enabled)
        .map(|t| format!("; next run {}", output::local(t, job.timezone)))
        .unwrap_or_default();
    let verb = if pause { "paused" } else { "resumed" };
    out.line(&format!("{verb} {}/{}{next}", job.app, job.name));
    Ok(ExitCode::SUCCESS)
}

async fn list(cli: &Cli, args: &ListArgs, out: &Out) -> Result<ExitCode> {
    let ops = ops(cli)?;
    let jobs = ops.list(cli.app.as_deref()).await?;
    if args.json {
        let now = Utc::now();
        let views: Vec<JobView> = jobs.iter().map(|j| JobView::new(j, now, 0)).collect();
        out.json(&views);
    } else if jobs.is_empty() {
        out.line(&format!("no jobs (store: {})", ops.spec()));
    } else {
        out.job_table(&jobs);
        out.line(&format!("store: {}", ops.spec()));
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(cli: &Cli, args: &NameJsonArgs, out: &Out) -> Result<ExitCode> {
    let key = key(cli, &args.name)?;
    let (job, history) = ops(cli)?.show(&key, 10).await?;
    let now = Utc::now();
    if args.json {
        let mut view = JobView::new(&job, now, 5);
        view.executions = Some(history.iter().map(ExecutionView::from).collect());
        out.json(&view);
    } else {
        out.line(&format!(
            "{}/{} ({})",
            job.app,
            job.name,
            out.state(JobStatus::of(&job))
        ));
        out.job_details(&job);
        out.next_runs(&job, &upcoming(&job, now, 5));
        out.line("last executions:");
        if history.is_empty() {
            out.line("  none yet");
        } else {
            out.execution_table(&history, job.timezone);
            out.execution_notes(&history, job.timezone);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn history(cli: &Cli, args: &HistoryArgs, out: &Out) -> Result<ExitCode> {
    let key = key(cli, &args.name)?;
    let (job, history) = ops(cli)?
        .history(&key, args.status.as_deref(), args.limit)
        .await?;
    if args.json {
        let views: Vec<ExecutionView> =
            history.executions.iter().map(ExecutionView::from).collect();
        out.json(&views);
    } else {
        let searched = if history.complete {
            format!("searched all {} of this job's executions", history.searched)
        } else {
            format!(
                "searched this job's newest {} executions; older ones were not",
                history.searched
            )
        };
        match (&args.status, history.executions.is_empty()) {
            (None, true) => out.line("no executions"),
            (Some(status), true) => out.line(&format!("no {status} executions ({searched})")),
            (status, false) => {
                out.execution_table(&history.executions, job.timezone);
                out.execution_notes(&history.executions, job.timezone);
                if status.is_some() && !history.complete && history.executions.len() < args.limit {
                    out.line(&format!("({searched})"));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(cli: &Cli, args: &DeleteArgs, out: &Out) -> Result<ExitCode> {
    let key = key(cli, &args.name)?;
    let ops = ops(cli)?;
    let (app, name) = (&key.app, &key.name);
    // The job must exist before anyone is asked about it.
    ops.job(&key).await?;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::Input(format!(
                "yes: not on a terminal, so not asking; nothing deleted. Pass --yes to delete {app}/{name}"
            )));
        }
        if !out.confirm(&format!("Delete {app}/{name}?"))? {
            out.line("not deleted");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let deleted = ops.delete(&key, args.purge_history).await?;
    match deleted.purged {
        Some(n) => {
            let plural = if n == 1 { "" } else { "s" };
            out.line(&format!(
                "deleted {app}/{name} and its history ({n} execution{plural})"
            ));
        }
        None => out.line(&format!(
            "deleted {app}/{name}; its history stays until it expires"
        )),
    }
    Ok(ExitCode::SUCCESS)
}

/// The one line `run` and a writing `tick` print on stderr when they sent calls unsigned: an
/// app that verifies signatures refuses them (403), which history alone shows only as a 403.
fn warn_if_unsigned(config: &Config, sent: bool, out: &Out) {
    if sent && config.signing_secrets.is_empty() {
        out.note(&format!(
            "psu-sched: warning: calls are sent unsigned: no signing secret is configured ({ENV_SIGNING_SECRET}, or --signing-secret-arn); apps that verify signatures refuse them (403)"
        ));
    }
}

async fn run_now(cli: &Cli, args: &NameJsonArgs, out: &Out) -> Result<ExitCode> {
    let key = key(cli, &args.name)?;
    let ops = ops(cli)?;
    let config = config(cli).await?;
    let dispatcher = config
        .dispatcher(Runner::Cli)
        .context("could not build the HTTP client")?;
    let execution = ops
        .run_now(&key, &dispatcher, &SystemClock, &config.tick)
        .await?;
    warn_if_unsigned(&config, true, out);
    if args.json {
        out.json(&ExecutionView::from(&execution));
    } else {
        out.line(&output::outcome_line(&execution, out));
    }
    Ok(if execution.status == Status::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn next(cli: &Cli, args: &NextArgs, out: &Out) -> Result<ExitCode> {
    let preview = ops::next(&args.expr, cli.tz.as_deref(), args.count, Utc::now())?;
    if args.json {
        out.json(&NextView::from(&preview));
    } else {
        let schedule = &preview.schedule;
        out.line(&format!("{schedule} ({})", schedule.describe()));
        out.line(&format!("next runs ({}):", preview.timezone.name()));
        for t in &preview.times {
            out.line(&format!("  {}", output::local(*t, preview.timezone)));
        }
        if preview.times.is_empty() {
            out.line("  none");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn tick(cli: &Cli, args: &TickArgs, out: &Out) -> Result<ExitCode> {
    let mode = if args.dry_run {
        NowUse::DryRun
    } else if args.simulate {
        NowUse::Simulate
    } else {
        NowUse::Write
    };
    let at = TickAt::parse(args.now.as_deref(), cli.tz.as_deref(), mode, Utc::now())?;
    let group = args.group.group(ops(cli)?.spec())?;
    let mut config = config(cli).await?;
    config.tick.group = group;
    let ops = ops(cli)?;
    let dispatcher = config
        .dispatcher(Runner::Cli)
        .context("could not build the HTTP client")?;
    let print = |summary: &shared::tick::TickSummary| {
        warn_if_unsigned(
            &config,
            mode != NowUse::DryRun && summary.triggered > 0,
            out,
        );
        if args.json {
            out.json(summary);
        } else {
            out.line(&output::summary_line(summary));
        }
    };
    match ops.tick(at, &dispatcher, &SystemClock, &config.tick).await {
        Ok(summary) => {
            print(&summary);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // An incomplete tick: what completed on stdout, the failure on stderr, exit 1.
            if let Some(summary) = e.tick_summary() {
                print(summary);
            }
            Err(e.into())
        }
    }
}

async fn serve(cli: &Cli, args: &ServeArgs, out: &Out) -> Result<ExitCode> {
    let group = args.group.group(ops(cli)?.spec())?;
    let mut config = config(cli).await?;
    // serve is the scheduler: its ticks lease each shard for their minute, so that two
    // processes of one group (or a restart within a minute) never work a shard at once.
    config.tick.group = group;
    config.tick.lease_shards = true;
    let ops = std::sync::Arc::new(ops(cli)?);
    let dispatcher = config
        .dispatcher(Runner::Cli)
        .context("could not build the HTTP client")?;
    if let Some(arn) = config.signing_secret_arn.clone() {
        // serve runs for days: read the secret again every interval, as the function does.
        let every = config.secret_refresh;
        let secrets = RefreshingSecrets::new(
            Box::new(SecretsManagerSource::from_env(arn).await),
            dispatcher.signing_secrets(),
            every,
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = secrets.ensure(Utc::now()).await {
                    eprintln!("psu-sched: {e}; signing with the secret read before");
                }
            }
        });
    }
    let admin = match args.ui {
        true => {
            let server = crate::ui::start(&args.admin).await?;
            Some(tokio::spawn(
                server.run(ops.clone(), crate::shutdown_signal()),
            ))
        }
        false => None,
    };
    eprintln!(
        "psu-sched: serving {}{}: a tick at the top of every minute (Ctrl-C stops)",
        ops.spec(),
        if group == shared::store::layout::Group::ALL {
            String::new()
        } else {
            format!(", group {group} of the due index's shards")
        }
    );
    let json = args.json;
    ops.serve(
        &dispatcher,
        &SystemClock,
        &config.tick,
        crate::stop_then_quit(),
        |summary| {
            if json {
                out.json(summary);
            } else {
                out.line(&output::summary_line(summary));
            }
        },
    )
    .await?;
    if let Some(admin) = admin {
        admin.await.context("the admin server task failed")??;
    }
    eprintln!("psu-sched: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn init(cli: &Cli, out: &Out) -> Result<ExitCode> {
    let ops = ops(cli)?;
    match ops.init().await? {
        Init::Ready => out.line(&format!("the database is ready: {}", ops.spec())),
        Init::TableExists(table) => out.line(&format!("the table `{table}` already exists")),
        Init::TableCreated(table) => out.line(&format!("created the table `{table}`")),
    }
    Ok(ExitCode::SUCCESS)
}

async fn app(cli: &Cli, command: &AppCommand, out: &Out) -> Result<ExitCode> {
    let name = match (cli.app.as_deref(), command) {
        (Some(name), _) => name,
        (None, AppCommand::List(_)) => "",
        (None, _) => {
            return Err(Failure::Input(
                "app: missing; give --app APP or set PSU_SCHED_APP".to_owned(),
            ));
        }
    };
    let ops = ops(cli)?;
    let now = Utc::now();
    match command {
        AppCommand::Create(settings) | AppCommand::Update(settings) => {
            let input = AppInput {
                base_url: settings.base_url.clone(),
                budget: settings.budget.clone(),
            };
            let (verb, app) = if matches!(command, AppCommand::Create(_)) {
                ("created", ops.create_app(name, &input, now).await?)
            } else {
                let app = ops
                    .update_app(name, &input, now)
                    .await
                    .map_err(|e| match e {
                        OpsError::NothingToChange => Failure::Input(
                            "update: nothing to change; give --base-url or --budget".to_owned(),
                        ),
                        other => other.into(),
                    })?;
                ("updated", app)
            };
            if settings.json {
                out.json(&AppView::from(&app));
            } else {
                out.line(&format!(
                    "{verb} app {}: base URL {}, budget {} call{} at once",
                    app.name,
                    app.base_url,
                    app.budget,
                    if app.budget == 1 { "" } else { "s" }
                ));
            }
        }
        AppCommand::Show(args) => {
            let details = ops.show_app(name).await?;
            let mut view = AppView::from(&details.app);
            view.jobs = Some(details.jobs.iter().map(|j| j.name.to_string()).collect());
            if args.json {
                out.json(&view);
            } else {
                out.line(&format!("app {}", view.name));
                out.line(&format!("  {:<13}{}", "base url", view.base_url));
                out.line(&format!("  {:<13}{}", "budget", view.budget));
                if view.deleting {
                    out.line(&format!(
                        "  {:<13}being deleted: no job of it may be created; if no `app delete` is running, run it again to finish, or update the app to keep it",
                        "state"
                    ));
                }
                out.line(&format!("  {:<13}{}", "jobs", details.jobs.len()));
                if !details.jobs.is_empty() {
                    out.job_table(&details.jobs);
                }
            }
        }
        AppCommand::List(args) => {
            let apps = ops.list_apps().await?;
            let views: Vec<AppView> = apps.iter().map(AppView::from).collect();
            if args.json {
                out.json(&views);
            } else if views.is_empty() {
                out.line(&format!("no apps (store: {})", ops.spec()));
            } else {
                for v in &views {
                    out.line(&format!("{}  {}  budget {}", v.name, v.base_url, v.budget));
                }
            }
        }
        AppCommand::Key(args) => {
            let secrets = config(cli).await?.signing_secrets;
            let keys = ops.app_keys(name, &secrets).await?;
            let view = AppKeyView::from(&keys);
            if args.json {
                out.json(&view);
            } else {
                out.line(&view.key);
                let mut note = format!(
                    "the key of the app {} (generation {}) for its settings",
                    view.app, view.generation
                );
                if let Some(previous) = &view.previous {
                    note.push_str(&format!(
                        "; rotating: generation {} is still signed until `psu-sched app rotate-key --app {} --finish`, its key is {}",
                        previous.generation, view.app, previous.key
                    ));
                }
                if secrets.len() > 1 {
                    note.push_str("; derived from the first of the PSU_SCHED_SIGNING_SECRET values (the new one)");
                }
                out.note(&note);
            }
        }
        AppCommand::RotateKey(args) => {
            let rotation = if args.finish {
                Rotation::Finish
            } else {
                Rotation::Start
            };
            let app = ops.rotate_key(name, rotation, now).await?;
            if args.json {
                out.json(&AppView::from(&app));
            } else if args.finish {
                out.line(&format!(
                    "finished the rotation of the app {}'s key: calls are signed with generation {} only",
                    app.name, app.key_generation
                ));
            } else {
                out.line(&format!(
                    "started generation {} of the app {}'s key: calls are signed with generations {} and {} until `psu-sched app rotate-key --app {} --finish`; print the new key with `psu-sched app key --app {}`",
                    app.key_generation,
                    app.name,
                    app.key_generation,
                    app.previous_key_generation.unwrap_or_default(),
                    app.name,
                    app.name
                ));
            }
        }
        AppCommand::Delete(args) => {
            if !args.yes && !std::io::stdin().is_terminal() {
                return Err(Failure::Input(format!(
                    "yes: not on a terminal, so not asking; nothing deleted. Pass --yes to delete the app {name}"
                )));
            }
            if !args.yes && !out.confirm(&format!("Delete the app {name}?"))? {
                out.line("not deleted");
                return Ok(ExitCode::SUCCESS);
            }
            let app = ops.delete_app(name).await?;
            out.line(&format!("deleted the app {}", app.name));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn completions(shell: Shell, out: &Out) -> Result<ExitCode> {
    use clap::CommandFactory;
    let shell = match shell {
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
