//! The scheduler: `tick` (one tick, as the Lambda runs it) and `serve` (a tick every minute,
//! with the admin if `--ui`).

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use shared::clock::SystemClock;
use shared::config::Runner;
use shared::ops::TickAt;
use shared::secrets::{RefreshingSecrets, SecretsManagerSource};
use shared::tick::NowUse;

use crate::args::{Cli, ServeArgs, TickArgs};
use crate::config::{config, warn_if_unsigned};
use crate::output::{self, Out};
use crate::{Result, ops};

/// `tick [--now T] [--dry-run | --simulate]`: one tick; an incomplete one prints what
/// completed and fails.
pub async fn tick(cli: &Cli, args: &TickArgs, out: &Out) -> Result<ExitCode> {
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

/// `serve [--ui]`: a tick at the top of every minute until stopped.
pub async fn serve(cli: &Cli, args: &ServeArgs, out: &Out) -> Result<ExitCode> {
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
                out.json_line(summary);
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
