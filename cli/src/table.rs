//! `psu-sched table`: the table's layout (`shared::ops`'s `table_layout`, `raise_shards`,
//! `reshard`), as text or JSON.

use std::process::ExitCode;

use chrono::Utc;
use shared::ops::{Ops, SWITCH_AFTER, TableView};

use crate::Result;
use crate::args::TableCommand;
use crate::output::Out;

/// Runs a `table` subcommand.
pub async fn run(ops: &Ops, command: &TableCommand, out: &Out) -> Result<ExitCode> {
    match command {
        TableCommand::Show(args) => {
            let view = TableView::from(&ops.table_layout().await?);
            if args.json {
                out.json(&view);
            } else {
                layout(&view, out);
                out.line(&format!("store: {}", ops.spec()));
            }
        }
        TableCommand::Shards(args) => {
            let raised = ops
                .raise_shards(&args.set, Utc::now(), SWITCH_AFTER)
                .await?;
            let view = TableView::from(&raised.after);
            if args.json {
                out.json(&view);
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
        TableCommand::Reshard(args) => {
            let (done, meta) = ops.reshard().await?;
            if args.json {
                out.json(&serde_json::json!({
                    "moved": done.moved,
                    "changed": done.changed,
                    "in_place": done.in_place,
                    "shards": meta.writer_shards(Utc::now()),
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

fn layout(view: &TableView, out: &Out) {
    out.line(&format!("  {:<14}{}", "format", view.format));
    out.line(&format!("  {:<14}{}", "shards", view.shards));
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
