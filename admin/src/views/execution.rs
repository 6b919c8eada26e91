//! An execution's page (`/executions/ID`): its outcome, timing and output.

use askama::Template;
use chrono::Utc;
use chrono_tz::Tz;
use shared::model::{Execution, Trigger};
use shared::ops::reconciled;
use shared::ops::views::lag_ms;

use super::{Frame, StatusCell, job_href};
use crate::context::Ctx;
use crate::format;

#[derive(Template)]
#[template(path = "execution.html")]
pub(crate) struct ExecutionPage {
    frame: Frame,
    app: String,
    app_href: String,
    name: String,
    job_href: String,
    href: String,
    slot: String,
    status: StatusCell,
    /// False while the run is pending or running: the page then updates when it ends.
    finished: bool,
    fields: Vec<(&'static str, String)>,
    output: Option<String>,
    error: Option<String>,
}

impl ExecutionPage {
    /// The page of `e`, its instants in `tz` (its job's zone).
    pub(crate) fn new(ctx: &Ctx, e: &Execution, tz: Tz) -> Self {
        let none = || "—".to_owned();
        let mut fields = vec![
            (
                "Slot",
                format!(
                    "{} ({})",
                    format::local(e.scheduled_for, tz),
                    format::utc(e.scheduled_for)
                ),
            ),
            ("Status", format::word(e.status).to_owned()),
            (
                "HTTP status",
                e.http_status.map(|c| c.to_string()).unwrap_or_else(none),
            ),
            (
                "Duration",
                e.duration_ms
                    .map(|ms| format::millis(ms as i64))
                    .unwrap_or_else(none),
            ),
            (
                if e.offset_ms == 0 {
                    "Lag (call started minus slot)"
                } else {
                    "Lag (call started minus slot plus its jitter offset)"
                },
                lag_ms(e).map(format::millis).unwrap_or_else(none),
            ),
            (
                "Attempt",
                format!("{} of at most {}", e.attempt, e.retries + 1),
            ),
            (
                "Trigger",
                match (e.trigger, e.backfill) {
                    (_, true) => "backfill (a past slot, called again)".to_owned(),
                    (Trigger::Schedule, false) => "schedule".to_owned(),
                    (Trigger::Manual, false) => "manual (run now)".to_owned(),
                },
            ),
            ("Called", format!("{} {}", e.method.as_str(), e.url)),
            (
                "Started",
                e.started_at
                    .map(|t| format::local(t, tz))
                    .unwrap_or_else(none),
            ),
            (
                "Finished",
                e.finished_at
                    .map(|t| format::local(t, tz))
                    .unwrap_or_else(none),
            ),
        ];
        if reconciled(e) {
            fields.push((
                "Reconciled",
                "yes: no outcome came back before the call's deadline".to_owned(),
            ));
        }
        if e.coalesced > 0 {
            fields.push(("Coalesced slots", e.coalesced.to_string()));
        }
        fields.push(("Id", e.id.to_string()));
        Self {
            frame: Frame::new(
                ctx,
                format!("Execution of {}/{}", e.app, e.name),
                Utc::now(),
            ),
            app: e.app.to_string(),
            app_href: format!("/apps/{}", e.app),
            name: e.name.to_string(),
            job_href: job_href(e.app.as_str(), e.name.as_str()),
            href: format!("/executions/{}", e.id),
            slot: format::local(e.scheduled_for, tz),
            status: e.status.into(),
            finished: e.status.is_final(),
            fields,
            output: e.output.clone(),
            error: e.error.clone(),
        }
    }
}
