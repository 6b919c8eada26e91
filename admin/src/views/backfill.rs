//! A job's backfill page (`GET /apps/{app}/jobs/{job}/backfill`): the window's form and, once
//! given, the plan `psu-sched backfill --dry-run` prints, with the button that calls it.

use askama::Template;
use chrono::{DateTime, Utc};
use shared::model::{AppPause, Job};
use shared::ops::Backfill;
use shared::tick::backfill::Verdict;

use super::{Frame, PausedApp, job_href};
use crate::context::Ctx;
use crate::format;

/// The window as typed, shown again in the form.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(crate) struct BackfillQuery {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub include_timed_out: Option<String>,
    #[serde(default)]
    pub include_paused: Option<String>,
}

impl BackfillQuery {
    /// The timed-out box was ticked.
    pub(crate) fn timed_out(&self) -> bool {
        self.include_timed_out.is_some()
    }
    /// The paused box was ticked.
    pub(crate) fn paused(&self) -> bool {
        self.include_paused.is_some()
    }
}

/// One slot of the plan.
pub(crate) struct SlotRow {
    pub slot: String,
    pub utc: String,
    pub called: bool,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "backfill.html")]
pub(crate) struct BackfillPage {
    frame: Frame,
    app: String,
    name: String,
    app_href: String,
    href: String,
    zone: &'static str,
    from: String,
    to: String,
    timed_out: bool,
    paused: bool,
    /// While the job's app is paused: a backfill calls nothing, each slot is left.
    paused_app: Option<PausedApp>,
    /// The plan, once a window was given.
    rows: Option<Vec<SlotRow>>,
    calls: usize,
    /// What the plan says of a change of the job's timing inside the window.
    timing_note: Option<String>,
}

impl BackfillPage {
    pub(crate) fn new(
        ctx: &Ctx,
        job: &Job,
        app_pause: Option<&AppPause>,
        query: &BackfillQuery,
        plan: Option<&Backfill>,
        now: DateTime<Utc>,
    ) -> Self {
        let href = job_href(job.app.as_str(), job.name.as_str());
        let rows = plan.map(|b| {
            b.plans
                .iter()
                .map(|p| SlotRow {
                    slot: format::local(p.slot, job.timezone),
                    utc: p.slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    called: matches!(p.verdict, Verdict::Call { .. }),
                    reason: p.reason(),
                })
                .collect::<Vec<_>>()
        });
        let calls = rows
            .as_ref()
            .map_or(0, |r| r.iter().filter(|r| r.called).count());
        Self {
            frame: Frame::new(ctx, format!("Backfill {}/{}", job.app, job.name), now),
            app: job.app.to_string(),
            name: job.name.to_string(),
            app_href: format!("/apps/{}", job.app),
            href,
            zone: job.timezone.name(),
            from: query.from.clone().unwrap_or_default(),
            to: query.to.clone().unwrap_or_default(),
            timed_out: query.timed_out(),
            paused: query.paused(),
            paused_app: app_pause.map(|p| PausedApp::new(job.app.as_str(), p, now)),
            rows,
            calls,
            timing_note: plan.and_then(Backfill::timing_note),
        }
    }
}
