//! `apply -f` and `export`: schedules as code. The file is read, checked and planned by
//! `shared::ops`; here the plan is printed, confirmed, carried out and reported.

use std::io::IsTerminal;
use std::process::ExitCode;

use chrono::Utc;
use shared::ops::{Action, Applied, Change, OpsError, Plan, PlanView, Step};

use crate::args::{ApplyArgs, Cli};
use crate::output::Out;
use crate::{Failure, Result, ops};

/// `apply -f FILE [--var NAME=VALUE]... [--dry-run] [--prune] [--yes] [--json]`.
pub async fn apply(cli: &Cli, args: &ApplyArgs, out: &Out) -> Result<ExitCode> {
    let mut given: Vec<(String, String)> = Vec::new();
    for arg in &args.vars {
        let (var, value) = shared::ops::parse_var(arg)
            .map_err(|e| Failure::Input(format!("{e}; nothing was written")))?;
        if given.iter().any(|(n, _)| *n == var) {
            return Err(Failure::Input(format!(
                "var: {var} is given twice; give each variable once; nothing was written"
            )));
        }
        given.push((var, value));
    }
    let name = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).map_err(|e| {
        Failure::Input(format!(
            "file: could not read {name} ({e}); nothing was written"
        ))
    })?;
    // Only what is given to the file: --var, else PSU_SCHED_VAR_<NAME>.
    let env = |key: &str| std::env::var(key).ok();
    let vars = |var: &str| shared::ops::file_var(var, &given, &env);
    let desired = shared::ops::parse_file(&name, &text, &vars).map_err(file_failure)?;
    let ops = ops(cli)?;
    let plan = ops.plan(&desired, args.prune).await?;
    if !args.json {
        print_plan(out, &plan, args.prune);
    }
    if plan.is_empty() || args.dry_run {
        if args.json {
            out.json(&PlanView::new(&plan, None));
        } else if plan.is_empty() {
            out.line("No changes: the store is as the file says.");
        } else {
            out.line("Dry run: nothing was written.");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes {
        if args.json || !std::io::stdin().is_terminal() {
            return Err(Failure::Input(format!(
                "yes: {}, so not asking; nothing was written. Pass --yes to apply the plan{}",
                if args.json {
                    "--json never asks"
                } else {
                    "not on a terminal"
                },
                if args.json { "" } else { " above" }
            )));
        }
        if !out.confirm(&format!("Apply these changes to {}?", ops.spec()))? {
            out.line("Nothing was written.");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let json = args.json;
    let results = ops
        .apply_plan(&plan, Utc::now(), |step, applied| {
            if !json {
                match applied {
                    Applied::Done => out.line(&format!("{} {}: done", symbol(step), target(step))),
                    Applied::Refused(reason) => {
                        out.line(&format!("{} {}: refused: {reason}", symbol(step), target(step)))
                    }
                    Applied::Nothing => {}
                }
            }
        })
        .await
        .map_err(|e| {
            Failure::Runtime(anyhow::Error::new(e).context(
                "the apply stopped part way; what was done stays done, and running it again plans the rest",
            ))
        })?;
    let refused = results
        .iter()
        .filter(|r| matches!(r, Applied::Refused(_)))
        .count();
    if json {
        out.json(&PlanView::new(&plan, Some(&results)));
    } else {
        let done = results.iter().filter(|r| **r == Applied::Done).count();
        out.line(&format!("Applied: {done} done, {refused} refused."));
    }
    if refused > 0 {
        eprintln!(
            "psu-sched: {refused} step{} refused: changed since the plan; run apply again to see the new plan",
            if refused == 1 { " was" } else { "s were" }
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `export [--app APP]`: the schedules file on standard output.
pub async fn export(cli: &Cli, out: &Out) -> Result<ExitCode> {
    let text = ops(cli)?.export(cli.app.as_deref()).await?;
    out.line(text.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// Every error of the file, one a line, after a count; anything else as usual.
fn file_failure(e: OpsError) -> Failure {
    match e {
        OpsError::InvalidFile(errors) => {
            let mut text = e_count(errors.len());
            for error in &errors {
                text.push_str("\n  ");
                text.push_str(&error.to_string());
            }
            Failure::Input(text)
        }
        other => other.into(),
    }
}

fn e_count(n: usize) -> String {
    format!(
        "{n} error{} in the file; nothing was written:",
        if n == 1 { "" } else { "s" }
    )
}

fn symbol(step: &Step) -> &'static str {
    match step.action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Delete => "-",
        Action::Unchanged => "=",
        Action::NotInFile => "?",
    }
}

fn target(step: &Step) -> String {
    match &step.job {
        Some(job) => format!("job {}/{job}", step.app),
        None => format!("app {}", step.app),
    }
}

fn value(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "(none)".to_owned(),
    }
}

/// The value before, `(not shown)` for a field the file gives from a variable and for the
/// stored value of free text (which may have come from one).
fn old_value(change: &Change) -> String {
    if change.old_hidden {
        "(not shown)".to_owned()
    } else {
        value(&change.old)
    }
}

/// The plan as `terraform plan` shows one: a line a step, the changed fields under it, and a
/// count line.
fn print_plan(out: &Out, plan: &Plan, prune: bool) {
    for step in &plan.steps {
        let note = match step.action {
            Action::Unchanged if step.stays_paused => {
                " (unchanged; paused, and stays paused: the file does not say `paused`)"
            }
            Action::Unchanged => " (unchanged)",
            Action::NotInFile => " (not in the file; kept: --prune deletes it)",
            _ if step.stays_paused => " (paused, and stays paused: the file does not say `paused`)",
            _ => "",
        };
        out.line(&format!("{} {}{note}", symbol(step), target(step)));
        for change in &step.changes {
            let (field, new) = (change.field, &change.new);
            let line = match step.action {
                Action::Create => format!("    {field} = {}", value(new)),
                _ => format!("    {field}: {} -> {}", old_value(change), value(new)),
            };
            let line = match (field, new.as_deref()) {
                ("paused", Some("false")) => format!("{line} (resumes it)"),
                ("paused", Some("true")) => format!("{line} (pauses it)"),
                _ => line,
            };
            out.line(&line);
        }
    }
    let mut counts = format!(
        "Plan: {} to create, {} to update, {} to delete, {} unchanged",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Delete),
        plan.count(Action::Unchanged),
    );
    let kept = plan.count(Action::NotInFile);
    if kept > 0 && !prune {
        counts.push_str(&format!(
            ", {kept} not in the file (kept; --prune deletes them)"
        ));
    }
    out.line(&format!("{counts}."));
}
