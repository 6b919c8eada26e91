//! `psu-sched backfill`: the slots of a past window without a successful run, called once
//! each (`shared::ops::Ops::backfill`), as text or JSON.

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use shared::clock::SystemClock;
use shared::config::{Config, Runner};
use shared::model::Status;
use shared::ops::{BackfillInput, BackfillView, JobKey, Ops, TickAt};
use shared::tick::NowUse;
use shared::tick::backfill::{Called, Verdict};

use crate::Result;
use crate::output::{self, Out};

/// `backfill`.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The job's name.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// The window's first instant: RFC 3339 (2026-12-07T10:00:00Z), or a local date and time
    /// (2026-12-07 02:00) in the zone --tz names on this command line, else the job's (an
    /// hour clocks falling back repeat: its first reading).
    #[arg(long, value_name = "TIME")]
    pub from: String,

    /// The window's last instant (a slot at it is in), in the past; read as --from is (an
    /// hour clocks falling back repeat: its second reading).
    #[arg(long, value_name = "TIME")]
    pub to: String,

    /// Only print the plan: each slot and why it is or is not called.
    #[arg(long, conflicts_with = "simulate")]
    pub dry_run: bool,

    /// Also call slots whose latest attempt timed out (the app may have done the work).
    #[arg(long)]
    pub include_timed_out: bool,

    /// Also call slots that came due while the job or its app was paused.
    #[arg(long)]
    pub include_paused: bool,

    /// Backfill as if the clock read this instant (with --dry-run, or --simulate on a test
    /// or development store).
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,

    /// Write and call as if the clock read --now (test and development stores only).
    #[arg(long, requires = "now")]
    pub simulate: bool,

    /// JSON output (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// The zones a backfill reads its times in.
pub struct Zones<'a> {
    /// `--now` (`--tz` or `PSU_SCHED_TZ`, else UTC).
    pub now: Option<&'a str>,
    /// A local `--from` and `--to`: `--tz` typed on the command line, else the job's zone.
    pub window: Option<&'a str>,
}

/// Plans the backfill of the job `key` and, unless `--dry-run`, calls each slot planned;
/// `sent` is told whether a call was sent (the caller warns when it went unsigned). `zones`: what
/// `--now`, and a local `--from` and `--to`, are read in.
pub async fn backfill(
    ops: &Ops,
    config: &Config,
    key: JobKey,
    zones: Zones<'_>,
    args: &BackfillArgs,
    out: &Out,
    sent: impl FnOnce(bool),
) -> Result<ExitCode> {
    let mode = if args.dry_run {
        NowUse::DryRun
    } else if args.simulate {
        NowUse::Simulate
    } else {
        NowUse::Write
    };
    let at = TickAt::parse(args.now.as_deref(), zones.now, mode, Utc::now())?;
    let dispatcher = config
        .dispatcher(Runner::Cli)
        .context("could not build the HTTP client")?;
    let input = BackfillInput {
        from: args.from.clone(),
        to: args.to.clone(),
        timed_out: args.include_timed_out,
        paused: args.include_paused,
        timezone: zones.window.map(str::to_owned),
    };
    let done = ops
        .backfill(&key, &input, at, &dispatcher, &SystemClock, &config.tick)
        .await?;
    // Not done: a call that did not succeed, or a slot left for a later backfill.
    let failed = done.called.iter().any(|(_, c)| match c {
        Called::Ran(e) => e.status != Status::Succeeded,
        Called::Left(_) => true,
        Called::Taken => false,
    });
    sent(!done.called.is_empty());
    if args.json {
        out.json(&BackfillView::from(&done));
    } else {
        let tz = done.job.timezone;
        for plan in &done.plans {
            let when = output::local(plan.slot, tz);
            let result = done.called.iter().find(|(slot, _)| *slot == plan.slot);
            let line = match result {
                Some((_, Called::Ran(e))) => format!(
                    "{when}  called as attempt {}: {}",
                    e.attempt,
                    output::outcome_line(e, out)
                ),
                Some((_, Called::Taken)) => format!(
                    "{when}  not called here: another run (a live retry, another backfill) took attempt {} first",
                    match plan.verdict {
                        Verdict::Call { attempt } => attempt,
                        _ => plan.attempts,
                    }
                ),
                Some((_, Called::Left(why))) => format!("{when}  not called: {why}"),
                None => format!("{when}  {}", plan.reason()),
            };
            out.line(&line);
        }
        for note in done.notes() {
            out.line(&format!("note: {note}"));
        }
        let calls = BackfillView::from(&done).calls;
        out.line(&if done.dry_run {
            format!(
                "{} of {} slot{} to call (dry run: nothing called)",
                calls,
                done.plans.len(),
                if done.plans.len() == 1 { "" } else { "s" }
            )
        } else {
            let unsuccessful = done
                .called
                .iter()
                .filter(|(_, c)| matches!(c, Called::Ran(e) if e.status != Status::Succeeded))
                .count();
            format!(
                "called {} of {} slot{}{}",
                calls,
                done.plans.len(),
                if done.plans.len() == 1 { "" } else { "s" },
                if unsuccessful > 0 {
                    format!(
                        ": {unsuccessful} did not succeed (backfill again to call them once more)"
                    )
                } else {
                    String::new()
                }
            )
        });
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
