//! The dispatcher: which function runs each command. The commands live by group: `jobs`
//! (create, update, pause, resume, list, show, history, delete, run, next), `apps` (`app
//! ...`), `tick` (tick, serve), `setup` (init, completions), and one file each for `stats`,
//! `table`, `ui`, and `apply`/`export`. A new command is a variant in `args.rs`, a function
//! in its group's file (or a file of its own) and one arm here.

use std::process::ExitCode;

use crate::args::{Cli, Command};
use crate::output::Out;
use crate::{Result, apply, apps, backfill, jobs, ops, setup, stats, table, tick, ui};

/// Runs the command.
pub async fn run(cli: Cli, tz_typed: bool) -> Result<ExitCode> {
    let out = Out::new();
    match &cli.command {
        Command::Create(args) => jobs::create(&cli, args, &out).await,
        Command::Update(args) => jobs::update(&cli, args, tz_typed, &out).await,
        Command::Pause(args) => {
            jobs::pause_or_resume(&cli, &args.name, Some(args.reason.as_deref()), &out).await
        }
        Command::Resume(args) => jobs::pause_or_resume(&cli, &args.name, None, &out).await,
        Command::List(args) => jobs::list(&cli, args, &out).await,
        Command::Show(args) => jobs::show(&cli, args, &out).await,
        Command::History(args) => jobs::history(&cli, args, &out).await,
        Command::Delete(args) => jobs::delete(&cli, args, &out).await,
        Command::Stats(args) => stats::run(&ops(&cli)?, &cli, args, &out).await,
        Command::Run(args) => jobs::run_now(&cli, args, &out).await,
        Command::Backfill(args) => {
            let config = crate::config::config(&cli).await?;
            let key = jobs::key(&cli, &args.name)?;
            let warn = |sent| crate::config::warn_if_unsigned(&config, sent, &out);
            backfill::backfill(
                &ops(&cli)?,
                &config,
                key,
                // A local window is the job's unless --tz is typed (PSU_SCHED_TZ is the zone
                // times are shown in); --now is read in either.
                backfill::Zones {
                    now: cli.tz.as_deref(),
                    window: cli.tz.as_deref().filter(|_| tz_typed),
                },
                args,
                &out,
                warn,
            )
            .await
        }
        Command::Next(args) => jobs::next(&cli, args, &out),
        Command::Tick(args) => tick::tick(&cli, args, &out).await,
        Command::Serve(args) => tick::serve(&cli, args, &out).await,
        Command::Ui(args) => ui::ui(ops(&cli)?, args).await,
        Command::Init => setup::init(&cli, &out).await,
        Command::App(command) => apps::run(&cli, command, &out).await,
        Command::Table(command) => table::run(&ops(&cli)?, command, &out).await,
        Command::Apply(args) => apply::apply(&cli, args, &out).await,
        Command::Export => apply::export(&cli, &out).await,
        Command::Completions(args) => setup::completions(args.shell, &out),
    }
}
