//! `psu-sched app ...`: create, update, show, list, key, rotate-key and delete an app.

use std::io::IsTerminal;
use std::process::ExitCode;

use chrono::Utc;
use shared::ops::views::{AppKeyView, AppView};
use shared::ops::{AppInput, OpsError, Rotation};

use crate::args::{AppCommand, Cli};
use crate::config::config;
use crate::output::Out;
use crate::{Failure, Result, ops};

/// Runs `app SUBCOMMAND`; every subcommand but `list` needs `--app`.
pub async fn run(cli: &Cli, command: &AppCommand, out: &Out) -> Result<ExitCode> {
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
            // `--tz` is the zone dates are read in; an app's default zone is `--timezone`.
            // Given as a flag (not PSU_SCHED_TZ's reading zone) without `--timezone`, it was
            // surely meant as the default: say so rather than ignore it.
            if settings.timezone.is_none()
                && cli.tz.is_some()
                && std::env::var_os("PSU_SCHED_TZ").is_none()
            {
                return Err(Failure::Input(
                    "timezone: an app's default zone is given as --timezone ZONE; --tz is the zone dates are read in, and sets nothing on the app".to_owned(),
                ));
            }
            let input = AppInput {
                base_url: settings.base_url.clone(),
                budget: settings.budget.clone(),
                timezone: settings.timezone.clone(),
                webhook: settings.webhook.clone(),
                notify_after: settings.notify_after.clone(),
                remove_webhook: settings.no_webhook,
            };
            let (verb, app) = if matches!(command, AppCommand::Create(_)) {
                ("created", ops.create_app(name, &input, now).await?)
            } else {
                let app = ops
                    .update_app(name, &input, now)
                    .await
                    .map_err(|e| match e {
                        OpsError::NothingToChange => Failure::Input(
                            "update: nothing to change; give --base-url, --budget, --timezone, --webhook, --no-webhook or --notify-after"
                                .to_owned(),
                        ),
                        other => other.into(),
                    })?;
                ("updated", app)
            };
            if settings.notify_after.is_some() && app.webhook.is_none() {
                out.note(&format!(
                    "note: --notify-after {} is kept but does nothing yet: the app {} has no webhook (give --webhook URL)",
                    app.notify_after, app.name
                ));
            }
            if settings.json {
                out.json(&AppView::from(&app));
            } else {
                out.line(&format!(
                    "{verb} app {}: base URL {}, budget {} call{} at once{}{}",
                    app.name,
                    app.base_url,
                    app.budget,
                    if app.budget == 1 { "" } else { "s" },
                    app.timezone
                        .map(|tz| format!(", new jobs in {}", tz.name()))
                        .unwrap_or_default(),
                    app.webhook
                        .as_ref()
                        .map(|w| format!(
                            ", failures posted to {} after {} in a row",
                            w.masked(),
                            app.notify_after
                        ))
                        .unwrap_or_default()
                ));
            }
        }
        AppCommand::Pause(args) => {
            let (app, changed) = ops.pause_app(name, &args.reason, now).await?;
            if args.json {
                out.json(&AppView::from(&app));
            } else if changed {
                out.line(&format!(
                    "paused the app {}: none of its jobs is called until `psu-sched app resume --app {}`; each slot due meanwhile is recorded skipped with the reason",
                    app.name, app.name
                ));
            } else {
                out.line(&format!(
                    "the app {} is already paused with this reason; nothing written",
                    app.name
                ));
            }
        }
        AppCommand::Resume(args) => {
            let (app, changed) = ops.resume_app(name, now).await?;
            if args.json {
                out.json(&AppView::from(&app));
            } else if changed {
                out.line(&format!(
                    "resumed the app {}: its jobs are called from their next slot",
                    app.name
                ));
            } else {
                out.line(&format!(
                    "the app {} is not paused; nothing written",
                    app.name
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
                out.line(&format!(
                    "  {:<13}{}",
                    "zone",
                    view.timezone.as_deref().unwrap_or("UTC (no default)")
                ));
                out.line(&format!(
                    "  {:<13}{}",
                    "webhook",
                    match &view.webhook {
                        Some(masked) => format!(
                            "{masked} (after {} failed run{} in a row of a job)",
                            view.notify_after,
                            if view.notify_after == 1 { "" } else { "s" }
                        ),
                        None if view.notify_after != 1 => format!(
                            "none (notify-after {} kept for when one is given)",
                            view.notify_after
                        ),
                        None => "none".to_owned(),
                    }
                ));
                if let (Some(reason), Some(since)) = (&view.pause_reason, &view.paused_since) {
                    out.line(&format!(
                        "  {:<13}paused since {since}: {reason} (none of its jobs is called; psu-sched app resume --app {})",
                        "state", view.name
                    ));
                }
                if view.deleting {
                    out.line(&format!(
                        "  {:<13}being deleted: no job of it may be created; if no `app delete` is running, run it again to finish, or update the app to keep it",
                        "state"
                    ));
                }
                out.line(&format!("  {:<13}{}", "jobs", details.jobs.len()));
                if !details.jobs.is_empty() {
                    out.job_table(&details.jobs, |_| details.app.paused.is_some());
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
                    let paused = v
                        .pause_reason
                        .as_ref()
                        .map(|r| format!("  paused: {r}"))
                        .unwrap_or_default();
                    out.line(&format!(
                        "{}  {}  budget {}{paused}",
                        v.name, v.base_url, v.budget
                    ));
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
