//! A job's page (`/apps/APP/jobs/JOB`): what happened first (its timeline, punctuality and
//! last executions), then its next runs and its settings.

use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::model::{AppPause, Execution, Job, OverlapPolicy, Status};
use shared::ops::JobStatsView;
use shared::ops::stats::STATS_LIMIT;
use shared::ops::views::{lag_ms, upcoming};

use super::timeline::{self, Timeline};
use super::{Frame, PausedApp, ShownState, StatusCell, job_href};
use crate::context::Ctx;
use crate::format;

/// The executions the job page reads (its timeline and table).
pub(crate) const JOB_PAGE_EXECUTIONS: usize = 100;

/// The rows of the job page's executions table.
const JOB_PAGE_TABLE: usize = 20;

/// The runs the job page previews.
const NEXT_RUNS: usize = 10;

#[derive(Template)]
#[template(path = "job.html")]
pub(crate) struct JobPage {
    frame: Frame,
    app: String,
    app_href: String,
    name: String,
    href: String,
    description: String,
    /// What the last action did (`?created`, `?changed=` after a form).
    pub notice: Option<String>,
    state: &'static str,
    enabled: bool,
    /// Why the job is paused, when whoever paused it said.
    pause_reason: Option<String>,
    /// While its app is paused: none of its slots is called, nor a run now or a backfill.
    paused_app: Option<PausedApp>,
    zone: &'static str,
    settings: Vec<(&'static str, String)>,
    next_runs: Vec<NextRun>,
    /// The job's zone is UTC: its runs need no UTC or offset column.
    utc: bool,
    dst_changes: usize,
    timeline: Timeline,
    width: u32,
    height: u32,
    legend: Vec<Legend>,
    punctuality: Option<Punctuality>,
    executions: Vec<ExecRow>,
}

struct NextRun {
    local: String,
    utc: String,
    offset: String,
    note: Option<String>,
}

struct Legend {
    class: &'static str,
    d: String,
    word: &'static str,
}

pub(crate) struct Punctuality {
    pub window: String,
    pub figures: Vec<(&'static str, String)>,
}

struct ExecRow {
    href: String,
    slot: String,
    status: StatusCell,
    http: String,
    duration: String,
    lag: String,
    attempt: u32,
    trigger: &'static str,
}

/// The job page's query: the notice after a form (`created`, `changed=schedule,timeout`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct JobQuery {
    created: Option<String>,
    changed: Option<String>,
    backfill: Option<String>,
}

impl JobQuery {
    /// The notice, from known field names only (the query is anyone's to write).
    pub(crate) fn notice(&self) -> Option<String> {
        if self.created.is_some() {
            return Some("Created. Its next runs are below.".to_owned());
        }
        if self.backfill.is_some() {
            return Some(
                "Backfill started: its calls appear below as they are made (trigger backfill)."
                    .to_owned(),
            );
        }
        let changed = self.changed.as_deref()?;
        let fields: Vec<&str> = changed
            .split(',')
            .filter(|f| shared::ops::JOB_SETTINGS.contains(f))
            .collect();
        Some(if fields.is_empty() {
            "Nothing changed: the form held the job's settings as they were.".to_owned()
        } else {
            format!("Saved. Changed: {}.", fields.join(", "))
        })
    }
}

/// The window of the job page's punctuality figures.
pub(crate) const PUNCTUALITY_DAYS: u64 = 7;

/// The punctuality figures as the job page shows them (the same computation as `psu-sched
/// stats`).
pub(crate) fn punctuality(stats: &JobStatsView) -> Punctuality {
    let ms = |v: Option<i64>| v.map(format::millis).unwrap_or_else(|| "—".to_owned());
    let window = if stats.truncated {
        format!(
            "Over the newest {} executions (the slots since {}): the last {PUNCTUALITY_DAYS} days hold more than the {} read.",
            stats.runs,
            stats.oldest_slot.as_deref().unwrap_or("—"),
            STATS_LIMIT
        )
    } else {
        format!(
            "Over the slots of the last {PUNCTUALITY_DAYS} days, as psu-sched stats computes them."
        )
    };
    let finished = stats.runs - stats.in_flight;
    Punctuality {
        window,
        figures: vec![
            (
                "Runs",
                format!(
                    "{} ({} manual, {} retries)",
                    stats.runs, stats.manual, stats.retries
                ),
            ),
            (
                "Success rate",
                stats
                    .success_rate
                    .map(|r| format!("{:.1} % of {finished} finished", r * 100.0))
                    .unwrap_or_else(|| "— (nothing finished)".to_owned()),
            ),
            (
                "Outcomes",
                format!(
                    "{} succeeded, {} failed, {} timed out, {} skipped, {} missed, {} in flight",
                    stats.succeeded,
                    stats.failed,
                    stats.timed_out,
                    stats.skipped,
                    stats.missed,
                    stats.in_flight
                ),
            ),
            (
                if stats.jitter_ms == 0 {
                    "Lag (call started minus slot)"
                } else {
                    "Lag (call started minus slot plus its jitter offset)"
                },
                format!(
                    "p50 {}, p95 {}, p99 {} ({} calls)",
                    ms(stats.lag_ms.p50),
                    ms(stats.lag_ms.p95),
                    ms(stats.lag_ms.p99),
                    stats.lag_ms.samples
                ),
            ),
            (
                "Duration",
                format!(
                    "p50 {}, p95 {} ({} calls)",
                    ms(stats.duration_ms.p50),
                    ms(stats.duration_ms.p95),
                    stats.duration_ms.samples
                ),
            ),
        ],
    }
}

impl JobPage {
    /// The page of `job` with its newest `executions` and its punctuality, at `now`;
    /// `app_pause` is its app's pause, while the app is paused.
    pub(crate) fn new(
        ctx: &Ctx,
        job: &Job,
        app_pause: Option<&AppPause>,
        executions: &[Execution],
        punctuality: Option<Punctuality>,
        now: DateTime<Utc>,
    ) -> Self {
        let tz = job.timezone;
        let status = ShownState::of(job, app_pause.is_some());
        let mut state = match &job.pause_reason {
            Some(reason) => format!("{}: {reason}", status.as_str()),
            None => status.as_str().to_owned(),
        };
        if let Some(pause) = app_pause {
            if status == ShownState::AppPaused {
                state = format!("{state}: {}", pause.reason);
            } else {
                state = format!("{state}; its app is paused: {}", pause.reason);
            }
        }
        let mut settings = vec![
            ("State", state),
            ("URL", format!("{} {}", job.method.as_str(), job.url)),
            (
                "Schedule",
                format!("{} — {}", job.schedule, job.schedule.describe()),
            ),
            (
                "Time zone",
                format!("{} (now {})", tz.name(), format::offset(now, tz)),
            ),
            ("Timeout", format::millis(job.timeout_ms as i64)),
            ("Retries", job.retries.to_string()),
            ("Max lateness", format::millis(job.max_lateness_ms as i64)),
            (
                "Jitter",
                if job.jitter_ms == 0 {
                    "none".to_owned()
                } else {
                    format!(
                        "{}: each call is due at its slot plus a fixed offset under it",
                        format::millis(job.jitter_ms as i64)
                    )
                },
            ),
            (
                "Overlap",
                if job.overlap == OverlapPolicy::Allow {
                    "allowed".to_owned()
                } else {
                    "not allowed: a slot is skipped while the previous call runs".to_owned()
                },
            ),
        ];
        if let Some(path) = &job.path {
            settings.insert(2, ("Path", path.to_string()));
        }
        if let Some(start) = job.start {
            settings.push(("Starts", format::local(start, tz)));
        }
        if let Some(end) = job.end {
            settings.push(("Ends", format::local(end, tz)));
        }
        settings.push(("Created", format::local(job.created_at, tz)));
        settings.push(("Last changed", format::local(job.updated_at, tz)));
        // A paused app's job has no run to come until the app resumes.
        let runs = if job.enabled && app_pause.is_none() {
            upcoming(job, now, NEXT_RUNS)
        } else {
            Vec::new()
        };
        let mut before = format::offset(now, tz);
        let mut dst_changes = 0;
        let next_runs = runs
            .into_iter()
            .map(|t| {
                let offset = format::offset(t, tz);
                let note = (offset != before).then(|| {
                    dst_changes += 1;
                    format!("clocks change: {before} → {offset}")
                });
                before = offset.clone();
                NextRun {
                    local: format::local(t, tz),
                    utc: format::utc(t),
                    offset,
                    note,
                }
            })
            .collect();
        let legend = [
            Status::Succeeded,
            Status::Failed,
            Status::TimedOut,
            Status::Missed,
            Status::Skipped,
            Status::Running,
        ]
        .into_iter()
        .map(|s| Legend {
            class: match s {
                Status::Succeeded => "m-succeeded",
                Status::Failed => "m-failed",
                Status::TimedOut => "m-timed-out",
                Status::Missed => "m-missed",
                Status::Skipped => "m-skipped",
                _ => "m-live",
            },
            d: timeline::shape(s, 10.0, 10.0),
            word: if s == Status::Running {
                "pending or running"
            } else {
                format::word(s)
            },
        })
        .collect();
        let rows = executions
            .iter()
            .take(JOB_PAGE_TABLE)
            .map(|e| ExecRow {
                href: format!("/executions/{}", e.id),
                slot: format::local(e.scheduled_for, tz),
                status: e.status.into(),
                http: e
                    .http_status
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "—".to_owned()),
                duration: e
                    .duration_ms
                    .map(|ms| format::millis(ms as i64))
                    .unwrap_or_else(|| "—".to_owned()),
                lag: lag_ms(e)
                    .map(format::millis)
                    .unwrap_or_else(|| "—".to_owned()),
                attempt: e.attempt,
                trigger: e.shown_trigger(),
            })
            .collect();
        Self {
            frame: Frame::new(ctx, format!("Job {}/{}", job.app, job.name), now),
            app: job.app.to_string(),
            app_href: format!("/apps/{}", job.app),
            name: job.name.to_string(),
            href: job_href(job.app.as_str(), job.name.as_str()),
            description: job.description.clone(),
            notice: None,
            state: status.as_str(),
            enabled: job.enabled,
            pause_reason: job.pause_reason.as_ref().map(ToString::to_string),
            paused_app: app_pause.map(|p| PausedApp::new(job.app.as_str(), p, now)),
            zone: tz.name(),
            settings,
            next_runs,
            utc: matches!(
                tz.name(),
                "UTC"
                    | "Etc/UTC"
                    | "Etc/UCT"
                    | "UCT"
                    | "Etc/Universal"
                    | "Universal"
                    | "Etc/Zulu"
                    | "Zulu"
            ),
            dst_changes,
            timeline: Timeline::new(executions, tz),
            width: timeline::WIDTH,
            height: timeline::HEIGHT,
            legend,
            punctuality,
            executions: rows,
        }
    }
}
