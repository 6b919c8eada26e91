//! `psu-sched table`: the table's layout (`shared::ops`'s `table_layout`, `raise_shards`,
//! `reshard`), as text or JSON.

use std::process::ExitCode;

use chrono::Utc;
use shared::ops::{Ops, SWITCH_AFTER, TableView, Upgraded};
use shared::store::{DueIndexSwitch, TABLE_FORMAT};

use clap::{Args, Subcommand};

use std::io::IsTerminal;

use crate::output::Out;
use crate::{Failure, Result};

/// `table ...`.
#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// Show the table's format and the due index's shards.
    Show(JsonFlag),
    /// Raise the due index's shard count (it never goes down). Ticks read every new shard at
    /// once; writers start using them 2 minutes later, so no tick misses an item. One-way:
    /// above one shard the table is format 2, which older functions and CLIs refuse. Asks on
    /// a terminal; elsewhere needs --yes.
    Shards(ShardsArgs),
    /// Track calls in flight by their job (half the due index's writes per call), and let
    /// listings of every job (list, export, stats, the admin's overview) read the app
    /// directory instead of scanning the table: writes the missing entries once (one Scan)
    /// and raises the table to format 3. Then switches the ticks to the keys-only due index
    /// `due-keys` once the stack has it and it is built (exits 1, saying why, when it cannot;
    /// docs/deploy.md, Upgrading the due index). Re-runnable. One-way: older functions and
    /// CLIs refuse or mishandle a format-3 table, so first make every one that uses it this
    /// version. Asks on a terminal; elsewhere needs --yes.
    Upgrade(UpgradeArgs),
    /// Move every due-index entry that is not in its app's shard to it (items written before
    /// a raise, or by an older version): re-runnable, and safe while ticks run.
    Reshard(JsonFlag),
}

/// `--json` alone (the `table` commands' own, so that this module and `args` do not name
/// each other).
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// JSON output (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// `table shards`.
#[derive(Debug, Args)]
pub struct ShardsArgs {
    /// The new shard count: a whole number from the table's count to 1024.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub set: String,

    /// JSON output (see docs/cli.md).
    #[arg(long)]
    pub json: bool,

    /// Raise without asking (needed off a terminal): the change cannot be undone.
    #[arg(long)]
    pub yes: bool,
}

/// `table upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// JSON output (see docs/cli.md).
    #[arg(long)]
    pub json: bool,

    /// Upgrade without asking (needed off a terminal): the change cannot be undone.
    #[arg(long)]
    pub yes: bool,
}

/// Runs a `table` subcommand.
pub async fn run(ops: &Ops, command: &TableCommand, out: &Out) -> Result<ExitCode> {
    match command {
        TableCommand::Show(args) => {
            let view = table_view(ops, &ops.table_layout().await?);
            if args.json {
                out.json(&view);
            } else {
                layout(&view, out);
                if view.format > TABLE_FORMAT {
                    out.line(&format!(
                        "this psu-sched knows formats up to {TABLE_FORMAT}: it writes nothing to this table and does not tick it (use the version that raised it)"
                    ));
                }
                out.line(&format!("store: {}", ops.spec()));
            }
        }
        TableCommand::Shards(args) => {
            // A raise cannot be undone: ask first, unless it would be refused or change nothing
            // (a bad or lower count, the same count, a SQLite store: the operation says so).
            let to = shared::ops::parse_shards(&args.set).ok();
            let now_shards = ops.table_layout().await?.shards;
            let one_way = ops.spec().is_dynamo() && to.is_some_and(|to| to > now_shards);
            if one_way {
                agree(
                    args.yes,
                    out,
                    "table shards: raising the shards cannot be undone and makes the table at least format 2, which older functions and CLIs refuse",
                    "raise them",
                )?;
            }
            let raised = ops
                .raise_shards(&args.set, Utc::now(), SWITCH_AFTER)
                .await?;
            let view = table_view(ops, &raised.after);
            if args.json {
                out.json(&serde_json::json!({
                    "changed": !raised.unchanged(),
                    "table": view,
                }));
            } else if raised.unchanged() {
                out.line(&format!(
                    "the due index already has {} shard{}; nothing changed",
                    view.shards,
                    plural(view.shards)
                ));
            } else {
                out.line(&format!(
                    "raised the due index from {} to {} shards: ticks read all {} now; writers use them from {}",
                    raised.before.shards,
                    view.shards,
                    view.shards,
                    view.shards_from.as_deref().unwrap_or("now")
                ));
                out.line(
                    "after that instant, run `psu-sched table reshard` to move the items written before to their shard",
                );
            }
        }
        TableCommand::Upgrade(args) => {
            // Only raising the format is one-way: the directory's entries are harmless again.
            let before = ops.table_layout().await?.format;
            let raises = before < shared::store::NEW_TABLE_FORMAT;
            if ops.spec().is_dynamo() && raises {
                agree(
                    args.yes,
                    out,
                    "table upgrade: the upgrade cannot be undone: it makes the table format 3, which older functions and CLIs refuse or mishandle: first make every function and CLI that uses it this version",
                    "upgrade it",
                )?;
            }
            match ops.upgrade_table().await? {
                None if args.json => out.json(&serde_json::json!({"upgraded": false})),
                None => out.line(&format!(
                    "{} lists every job without a Scan already: nothing to upgrade",
                    ops.spec()
                )),
                Some(Upgraded { apps, meta, index }) => {
                    if args.json {
                        out.json(&serde_json::json!({
                            "upgraded": meta.format > before,
                            "apps": apps,
                            "table": table_view(ops, &meta),
                            "due_index": index_json(&index),
                        }));
                    } else {
                        out.line(&format!(
                            "the app directory names {apps} app{} with jobs; listing every job now reads it (no Scan); {}",
                            plural_usize(apps),
                            if meta.format > before {
                                format!(
                                    "the table is now format {}: calls in flight are tracked by their job",
                                    meta.format
                                )
                            } else {
                                format!("the table was format {} already", meta.format)
                            }
                        ));
                        out.line(&index_line(&index));
                    }
                    // Not done while the ticks do not read `due-keys`: a script that deletes
                    // `due` next must not go on.
                    if !matches!(
                        index,
                        DueIndexSwitch::AlreadyKeys
                            | DueIndexSwitch::Switched { .. }
                            | DueIndexSwitch::OneIndex
                    ) {
                        return Ok(ExitCode::from(1));
                    }
                }
            }
        }
        TableCommand::Reshard(args) => {
            let (done, meta) = ops.reshard().await?;
            let now = Utc::now();
            let pending = meta.shards_from.filter(|from| now < *from);
            if args.json {
                out.json(&serde_json::json!({
                    "moved": done.moved,
                    "changed": done.changed,
                    "in_place": done.in_place,
                    "shards": meta.writer_shards(now),
                    // Before the writers' switch, items were moved by the old count: run again.
                    "complete": pending.is_none(),
                    "writers_from": pending.map(|from| from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                }));
            } else {
                out.line(&format!(
                    "moved {} item{} to their app's shard of {}; {} already there; {} changed meanwhile (left where their writer put them)",
                    done.moved,
                    plural_usize(done.moved),
                    meta.writer_shards(Utc::now()),
                    done.in_place,
                    done.changed
                ));
                if let Some(from) = meta.shards_from.filter(|from| Utc::now() < *from) {
                    out.line(&format!(
                        "writers use {} shards only from {}: run it again after that instant",
                        meta.shards,
                        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Goes on with a one-way change when `yes` was given or a person at the terminal says yes;
/// refuses (nothing written) otherwise.
fn agree(yes: bool, out: &Out, what: &str, verb: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Input(format!(
            "{what}; not a terminal, so not asking; nothing was written. Pass --yes to {verb}"
        )));
    }
    if out
        .confirm(&format!("{what}. Go on?"))
        .map_err(Failure::Runtime)?
    {
        Ok(())
    } else {
        Err(Failure::Input(format!(
            "{what}: not confirmed; nothing was written"
        )))
    }
}

/// The layout as shown, naming the due index only on a store that has two.
fn table_view(ops: &Ops, meta: &shared::store::layout::TableMeta) -> TableView {
    let view = TableView::at(meta, Utc::now());
    if ops.spec().is_dynamo() {
        view
    } else {
        view.one_index()
    }
}

fn layout(view: &TableView, out: &Out) {
    out.line(&format!("  {:<14}{}", "format", view.format));
    out.line(&format!("  {:<14}{}", "shards", view.shards));
    if let Some(index) = view.due_index {
        out.line(&format!("  {:<14}{index}", "due index"));
    }
    if let Some(from) = &view.shards_from {
        out.line(&format!(
            "  {:<14}{} until {from}, then {}",
            "writers use", view.shards_before, view.shards
        ));
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn plural_usize(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Where the ticks' due index stands after `table upgrade`, as `--json` prints it.
fn index_json(index: &DueIndexSwitch) -> serde_json::Value {
    match index {
        DueIndexSwitch::OneIndex => serde_json::json!({"state": "one-index"}),
        DueIndexSwitch::AlreadyKeys => serde_json::json!({"state": "keys", "switched": false}),
        DueIndexSwitch::Switched { .. } => {
            serde_json::json!({"state": "keys", "switched": true})
        }
        DueIndexSwitch::Missing => serde_json::json!({"state": "missing"}),
        DueIndexSwitch::NotActive(status) => {
            serde_json::json!({"state": "building", "status": status})
        }
        DueIndexSwitch::Deleting => serde_json::json!({"state": "deleting"}),
        DueIndexSwitch::Unusable(reason) => {
            serde_json::json!({"state": "unusable", "reason": reason})
        }
        DueIndexSwitch::Differs {
            shard,
            only_old,
            only_new,
        } => serde_json::json!({
            "state": "differs", "shard": shard, "only_due": only_old, "only_due_keys": only_new
        }),
    }
}

/// The same, as a line.
fn index_line(index: &DueIndexSwitch) -> String {
    match index {
        DueIndexSwitch::OneIndex => "the due index is the store's own: nothing to switch".to_owned(),
        DueIndexSwitch::AlreadyKeys => {
            "ticks read the due index `due-keys` (keys only) already".to_owned()
        }
        DueIndexSwitch::Switched { legacy: true } => "ticks now read the due index `due-keys` (keys only); once every function and CLI on the table is this version, delete `due` (LegacyDueIndex=false: docs/deploy.md, Upgrading the due index)".to_owned(),
        DueIndexSwitch::Switched { legacy: false } => {
            "ticks now read the due index `due-keys` (keys only), the table's one due index".to_owned()
        }
        DueIndexSwitch::Missing => "the table has no `due-keys` index: ticks read `due` (when the table has it); update the stack with this version's template (LegacyDueIndex=true), then run `psu-sched table upgrade` again".to_owned(),
        DueIndexSwitch::NotActive(status) => format!(
            "the index `due-keys` is being built ({status}): ticks read `due`; run `psu-sched table upgrade` again once it is ACTIVE"
        ),
        DueIndexSwitch::Deleting => "the index `due-keys` is being deleted: ticks read `due` (when the table has it); waiting will not help: update the stack with this version's template (LegacyDueIndex=true), then run `psu-sched table upgrade` again".to_owned(),
        DueIndexSwitch::Unusable(reason) => format!(
            "the index `due-keys` cannot be read by ticks: {reason}; ticks read `due` (when the table has it); delete it and let the stack create it (docs/deploy.md, Upgrading the due index)"
        ),
        DueIndexSwitch::Differs {
            shard,
            only_old,
            only_new,
        } => format!(
            "the indexes `due` and `due-keys` differ on shard {shard} ({only_old} entries only in `due`, {only_new} only in `due-keys`): ticks still read `due`; run `psu-sched table upgrade` again"
        ),
    }
}
