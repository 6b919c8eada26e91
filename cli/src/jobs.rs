//! The job commands: `create`, `update`, `pause`, `resume`, `list`, `show`, `history`,
//! `delete`, `run` and `next`. Each turns its arguments into the operation's input, calls
//! `shared::ops` and prints the result.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use shared::clock::SystemClock;
use shared::config::{Config, Runner};
use shared::model::AppPause;
use shared::model::{OverlapPolicy, Status};
use shared::ops::views::{DeletedView, ExecutionView, JobView, NextView, upcoming};
use shared::ops::{self, JobInput, JobKey, ScheduleForm};

use crate::args::{
    Cli, CreateArgs, DeleteArgs, HistoryArgs, JobOptions, ListArgs, NameJsonArgs, NextArgs,
    UpdateArgs,
};
use crate::config::{config, warn_if_unsigned};
use crate::output::{self, Out};
use crate::{Failure, Result, ops};

/// The job `--app` and `--name` name.
pub(crate) fn key(cli: &Cli, name: &str) -> Result<JobKey> {
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
        jitter: opts.jitter.clone(),
        overlap: if opts.allow_overlap {
            Some(OverlapPolicy::Allow)
        } else if opts.forbid_overlap {
            Some(OverlapPolicy::Forbid)
        } else {
            None
        },
        description: opts.description.clone(),
        pause_reason: None,
        paused,
    }
}

/// A job `create` or `update` wrote, with its app's pause while the app is paused.
fn print_job(
    out: &Out,
    verb: &str,
    job: &shared::model::Job,
    app_pause: Option<&AppPause>,
    json: bool,
) {
    let now = Utc::now();
    if json {
        out.json(&JobView::new(job, app_pause, now, 3));
    } else {
        out.line(&format!(
            "{verb} {}/{} ({})",
            job.app,
            job.name,
            out.state(job, app_pause)
        ));
        out.job_details(job);
        out.next_runs(job, app_pause.is_some(), &upcoming(job, now, 3));
    }
}

/// `create NAME`: a new job.
pub async fn create(cli: &Cli, args: &CreateArgs, out: &Out) -> Result<ExitCode> {
    if args.options.forbid_overlap {
        return Err(Failure::Input(
            "forbid-overlap: only for update (a new job forbids overlap unless --allow-overlap)"
                .to_owned(),
        ));
    }
    let key = key(cli, &args.name)?;
    let input = input(&args.options, cli.tz.clone(), args.paused);
    let ops = ops(cli)?;
    // Read before writing: a failed read leaves nothing created.
    let app_pause = ops.app_pause(&key.app).await?;
    let job = ops.create(&key, &input, Utc::now()).await?;
    print_job(out, "created", &job, app_pause.as_ref(), args.json);
    Ok(ExitCode::SUCCESS)
}

/// `update NAME`: changes the options given; `--tz` only when typed on this command line.
pub async fn update(cli: &Cli, args: &UpdateArgs, tz_typed: bool, out: &Out) -> Result<ExitCode> {
    let key = key(cli, &args.name)?;
    let timezone = cli.tz.clone().filter(|_| tz_typed);
    let input = input(&args.options, timezone, args.paused);
    let ops = ops(cli)?.with_tick_config(Config::from_env().map_err(ops::OpsError::from)?.tick);
    // Read before writing: a failed read leaves nothing changed.
    let app_pause = ops.app_pause(&key.app).await?;
    let job = ops.update(&key, &input, Utc::now()).await?;
    print_job(out, "updated", &job, app_pause.as_ref(), args.json);
    Ok(ExitCode::SUCCESS)
}

/// `pause NAME [--reason TEXT]` (`pause` is `Some(reason)`) and `resume NAME` (`None`).
pub async fn pause_or_resume(
    cli: &Cli,
    name: &str,
    pause: Option<Option<&str>>,
    out: &Out,
) -> Result<ExitCode> {
    let key = key(cli, name)?;
    let ops = ops(cli)?.with_tick_config(Config::from_env().map_err(ops::OpsError::from)?.tick);
    let (job, app_pause) = match pause {
        Some(reason) => (ops.pause(&key, reason, Utc::now()).await?, None),
        None => {
            // A resumed job of a paused app has no next run: say why (one read more).
            let app_pause = ops.app_pause(&key.app).await?;
            (ops.resume(&key, Utc::now()).await?, app_pause)
        }
    };
    let next = match (&app_pause, job.state.next_slot.filter(|_| job.enabled)) {
        (Some(p), _) => format!(
            "; no run while its app is paused: {} (psu-sched app resume --app {})",
            p.reason, job.app
        ),
        (None, Some(t)) => format!("; next run {}", output::local(t, job.timezone)),
        (None, None) => String::new(),
    };
    let verb = if pause.is_some() { "paused" } else { "resumed" };
    let reason = job
        .pause_reason
        .as_ref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    out.line(&format!("{verb} {}/{}{reason}{next}", job.app, job.name));
    Ok(ExitCode::SUCCESS)
}

/// `list`: the jobs of `--app`, or of every app.
pub async fn list(cli: &Cli, args: &ListArgs, out: &Out) -> Result<ExitCode> {
    let ops = ops(cli)?;
    let listing = ops.list_with_app_pauses(cli.app.as_deref()).await?;
    let jobs = &listing.jobs;
    if args.json {
        let now = Utc::now();
        let views: Vec<JobView> = jobs
            .iter()
            .map(|j| JobView::new(j, listing.app_pause(j), now, 0))
            .collect();
        out.json(&views);
    } else if jobs.is_empty() {
        out.line(&format!("no jobs (store: {})", ops.spec()));
    } else {
        out.job_table(jobs, |j| listing.app_pause(j).is_some());
        out.line(&format!("store: {}", ops.spec()));
    }
    Ok(ExitCode::SUCCESS)
}

/// `show NAME`: a job, its next runs and its last executions.
pub async fn show(cli: &Cli, args: &NameJsonArgs, out: &Out) -> Result<ExitCode> {
    let key = key(cli, &args.name)?;
    let (job, app_pause, history) = ops(cli)?.show_with_app_pause(&key, 10).await?;
    let app_pause = app_pause.as_ref();
    let now = Utc::now();
    if args.json {
        let mut view = JobView::new(&job, app_pause, now, 5);
        view.executions = Some(history.iter().map(ExecutionView::from).collect());
        out.json(&view);
    } else {
        out.line(&format!(
            "{}/{} ({})",
            job.app,
            job.name,
            out.state(&job, app_pause)
        ));
        out.job_details(&job);
        out.next_runs(&job, app_pause.is_some(), &upcoming(&job, now, 5));
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

/// `history NAME` (or `--job-id ID`: a deleted job's too): a job's executions, newest first.
/// By id, times are shown in `--tz` (the job's zone is not known: it may be gone).
pub async fn history(cli: &Cli, args: &HistoryArgs, out: &Out) -> Result<ExitCode> {
    let ops = ops(cli)?;
    let (tz, history) = match (&args.job_id, &args.name) {
        (Some(id), _) => {
            let tz = match cli.tz.as_deref() {
                Some(zone) => ops::parse_zone(zone)?,
                None => chrono_tz::Tz::UTC,
            };
            let history = ops
                .history_by_id(id, args.status.as_deref(), args.limit)
                .await?;
            (tz, history)
        }
        (None, Some(name)) => {
            let key = key(cli, name)?;
            let (job, history) = ops
                .history(&key, args.status.as_deref(), args.limit)
                .await?;
            (job.timezone, history)
        }
        (None, None) => {
            return Err(Failure::Input(
                "name: missing; give --name NAME (with --app), or --job-id ID".to_owned(),
            ));
        }
    };
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
                out.execution_table(&history.executions, tz);
                out.execution_notes(&history.executions, tz);
                if status.is_some() && !history.complete && history.executions.len() < args.limit {
                    out.line(&format!("({searched})"));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `delete NAME`: asks first unless `--yes`.
pub async fn delete(cli: &Cli, args: &DeleteArgs, out: &Out) -> Result<ExitCode> {
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
    let id = &deleted.job.id;
    if args.json {
        out.json(&DeletedView::from(&deleted));
        return Ok(ExitCode::SUCCESS);
    }
    match deleted.purged {
        Some(n) => {
            let plural = if n == 1 { "" } else { "s" };
            out.line(&format!(
                "deleted {app}/{name} and its history ({n} execution{plural})"
            ));
        }
        None => out.line(&format!(
            "deleted {app}/{name} (job id {id}); its history stays until it expires: psu-sched history --job-id {id}"
        )),
    }
    Ok(ExitCode::SUCCESS)
}

/// `run NAME`: calls the job now; exit 1 unless the call succeeded.
pub async fn run_now(cli: &Cli, args: &NameJsonArgs, out: &Out) -> Result<ExitCode> {
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

/// `next EXPR`: the next times a schedule gives, without a store.
pub fn next(cli: &Cli, args: &NextArgs, out: &Out) -> Result<ExitCode> {
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
