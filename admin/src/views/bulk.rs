//! The answer to a bulk action (`POST /jobs/bulk`): a result per job.

use askama::Template;
use chrono::{DateTime, Utc};

use super::Frame;
use crate::context::Ctx;

/// What happened to one job.
#[derive(Clone)]
pub(crate) enum Done {
    /// The action was done (`paused`, `resumed`).
    Did(String),
    /// A run was claimed: its execution's page.
    Started(String),
    /// Nothing to do: the job already was so.
    Already(&'static str),
    /// Not done: the job changed or went since the page was shown.
    NotAsShown(String),
    /// Not done: the operations layer refused, in one line.
    Refused(String),
}

#[derive(Clone)]
pub(crate) struct BulkRow {
    pub job: String,
    pub href: String,
    pub done: Done,
}

#[derive(Template)]
#[template(path = "bulk.html")]
pub(crate) struct BulkPage {
    frame: Frame,
    action: &'static str,
    rows: Vec<BulkRow>,
    done: usize,
    not_done: usize,
}

impl BulkPage {
    pub(crate) fn new(
        ctx: &Ctx,
        action: &'static str,
        rows: Vec<BulkRow>,
        now: DateTime<Utc>,
    ) -> Self {
        let not_done = rows
            .iter()
            .filter(|r| matches!(r.done, Done::NotAsShown(_) | Done::Refused(_)))
            .count();
        Self {
            frame: Frame::new(ctx, format!("{action}: {} jobs", rows.len()), now),
            action,
            done: rows.len() - not_done,
            not_done,
            rows,
        }
    }
}
