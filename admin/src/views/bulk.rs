//! The answer to a bulk action (`POST /jobs/bulk`): a result per job.

use askama::Template;
use chrono::{DateTime, Utc};

use super::Frame;
use crate::answers::{BulkRow, Done};
use crate::context::Ctx;

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
            frame: Frame::new(
                ctx,
                format!(
                    "{action}: {} job{}",
                    rows.len(),
                    if rows.len() == 1 { "" } else { "s" }
                ),
                now,
            ),
            action,
            done: rows.len() - not_done,
            not_done,
            rows,
        }
    }
}
