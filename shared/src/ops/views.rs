//! What the operations return for display: the JSON every front end prints, field by field
//! as docs/cli.md documents it. Instants are RFC 3339 in UTC with a `Z`.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::model::{AppPause, Execution, Job, OverlapPolicy, Status, Trigger};
use crate::schedule::Schedule;

/// Whether a job is active, paused or ended (no slot left before its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Enabled, with a slot to come.
    Active,
    /// Paused.
    Paused,
    /// No slot left.
    Ended,
}

impl JobStatus {
    /// The state of `job`.
    pub fn of(job: &Job) -> Self {
        if !job.enabled {
            JobStatus::Paused
        } else if job.state.next_slot.is_none() && job.state.first_retry().is_none() {
            JobStatus::Ended
        } else {
            JobStatus::Active
        }
    }

    /// `active`, `paused` or `ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Active => "active",
            JobStatus::Paused => "paused",
            JobStatus::Ended => "ended",
        }
    }
}

/// A job's state as a person reads it: its own ([`JobStatus`]), except that an active job of
/// a paused app reads `paused (app)`, since none of its slots is called until the app
/// resumes. The JSON keeps the job's own `state` and says `app_paused` beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownState {
    /// Active, its app running: its next slot is called.
    Active,
    /// Paused on its own.
    Paused,
    /// Active, but its app is paused: nothing is called.
    AppPaused,
    /// No slot left.
    Ended,
}

impl ShownState {
    /// The state of `job`, whose app is paused when `app_paused`.
    pub fn of(job: &Job, app_paused: bool) -> Self {
        match JobStatus::of(job) {
            JobStatus::Active if app_paused => ShownState::AppPaused,
            JobStatus::Active => ShownState::Active,
            JobStatus::Paused => ShownState::Paused,
            JobStatus::Ended => ShownState::Ended,
        }
    }

    /// `active`, `paused`, `paused (app)` or `ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShownState::Active => "active",
            ShownState::Paused => "paused",
            ShownState::AppPaused => "paused (app)",
            ShownState::Ended => "ended",
        }
    }
}

/// RFC 3339 in UTC with a `Z`: `2026-11-30T16:00:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// How late a scheduled slot's call started after the slot, in milliseconds: `started_at -
/// scheduled_for` of the first attempt of a scheduled slot that was called, minus the slot's
/// jitter offset (`offset_ms`: a job with jitter is late from the slot plus its offset, when
/// its call was due); None for every other execution. A manual run has no slot (its `scheduled_for` is the second it was
/// started, so the figure would only be noise around zero); a retry starts after its backoff
/// by design (its start minus the slot is that backoff, not lateness: the slot's lag is its
/// first attempt's); a run never called (missed, skipped, claimed and not yet sent) has no
/// start.
///
/// The one lag rule: [`ExecutionView::lag_ms`], the punctuality figures of [`super::stats`]
/// (its samples are exactly the executions this is `Some` for) and the admin's pages all use
/// it (docs/cli.md, docs/admin.md).
pub fn lag_ms(e: &Execution) -> Option<i64> {
    match (e.trigger, e.attempt, e.started_at) {
        // A backfilled call is hours late by design: not a punctuality sample.
        _ if e.backfill => None,
        (Trigger::Schedule, 1, Some(started)) => Some((started - e.call_due()).num_milliseconds()),
        _ => None,
    }
}

/// A job as the front ends show it (`list`, `show`, `create` and `update` with `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    /// The job's id (stable across renames of nothing: a re-created job gets a new one).
    pub id: String,
    /// The app.
    pub app: String,
    /// The job's name.
    pub name: String,
    /// The URL called (for a job by path, its app's base URL now, followed by the path).
    pub url: String,
    /// A job by path: the path under its app's base URL.
    pub path: Option<String>,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The schedule as written.
    pub schedule: String,
    /// The schedule in words.
    pub schedule_description: String,
    /// The IANA zone.
    pub timezone: &'static str,
    /// The first instant a slot may fall on.
    pub start: Option<String>,
    /// The instant after which no slot falls.
    pub end: Option<String>,
    /// `active`, `paused` or `ended`: the job's own state, whether or not its app is paused.
    pub state: JobStatus,
    /// Why the job is paused, when whoever paused it said (null otherwise).
    pub pause_reason: Option<String>,
    /// True while the job's app is paused (`app pause`): none of its slots is called.
    pub app_paused: bool,
    /// Why the job's app is paused, while it is (null otherwise).
    pub app_pause_reason: Option<String>,
    /// The next slot, when active and its app is not paused.
    pub next_run: Option<String>,
    /// The last finished execution's status.
    pub last_status: Option<Status>,
    /// When the last execution finished.
    pub last_run_at: Option<String>,
    /// The call's timeout.
    pub timeout_ms: u64,
    /// Retries after a failed call.
    pub retries: u32,
    /// How late a slot may still be called.
    pub max_lateness_ms: u64,
    /// Whether a slot may start while the previous call runs.
    pub allow_overlap: bool,
    /// Each slot's call is due at the slot plus an offset in [0, jitter): 0 for none.
    pub jitter_ms: u64,
    /// When the next slot's call is due, when `next_run` is: `next_run` plus its jitter offset.
    pub next_call: Option<String>,
    /// Free text.
    pub description: String,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// The next runs (`show`, `create`, `update`): empty while the job or its app is paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_runs: Option<Vec<String>>,
    /// The newest executions (`show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executions: Option<Vec<ExecutionView>>,
}

impl JobView {
    /// The job, whose app's pause is `app_pause` while the app is paused, with its next `n`
    /// runs after `now` when `n > 0` (none while the job or its app is paused).
    pub fn new(job: &Job, app_pause: Option<&AppPause>, now: DateTime<Utc>, n: usize) -> Self {
        let state = JobStatus::of(job);
        let runs = ShownState::of(job, app_pause.is_some()) == ShownState::Active;
        let next_slot = job.state.next_slot.filter(|_| runs);
        let next_runs = (n > 0).then(|| {
            if job.enabled && app_pause.is_none() {
                upcoming(job, now, n).into_iter().map(rfc3339).collect()
            } else {
                Vec::new()
            }
        });
        Self {
            id: job.id.to_string(),
            app: job.app.to_string(),
            name: job.name.to_string(),
            url: job.url.to_string(),
            path: job.path.as_ref().map(ToString::to_string),
            method: job.method.as_str(),
            schedule: job.schedule.to_string(),
            schedule_description: job.schedule.describe(),
            timezone: job.timezone.name(),
            start: job.start.map(rfc3339),
            end: job.end.map(rfc3339),
            state,
            pause_reason: job.pause_reason.as_ref().map(ToString::to_string),
            app_paused: app_pause.is_some(),
            app_pause_reason: app_pause.map(|p| p.reason.to_string()),
            next_run: next_slot.map(rfc3339),
            last_status: job.state.last.as_ref().map(|l| l.status),
            last_run_at: job.state.last.as_ref().map(|l| rfc3339(l.at)),
            timeout_ms: job.timeout_ms,
            retries: job.retries,
            max_lateness_ms: job.max_lateness_ms,
            allow_overlap: job.overlap == OverlapPolicy::Allow,
            jitter_ms: job.jitter_ms,
            next_call: next_slot.map(|s| rfc3339(job.due_of(s))),
            description: job.description.clone(),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            next_runs,
            executions: None,
        }
    }
}

/// An execution as the front ends show it (`history`, `run`, `show`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionView {
    /// The execution's id.
    pub id: String,
    /// The slot (or, for a manual run, the second it was started).
    pub scheduled_for: String,
    /// The slot's jitter offset: its call was due `offset_ms` after `scheduled_for` (0 without
    /// jitter).
    pub offset_ms: u64,
    /// 1 for the first call, then 2, 3... for retries.
    pub attempt: u32,
    /// `schedule`, `manual` or `backfill` (a past slot's attempt made by `psu-sched
    /// backfill`; its id is a scheduled attempt's).
    pub trigger: &'static str,
    /// Where it stands.
    pub status: Status,
    /// The app's HTTP status.
    pub http_status: Option<u16>,
    /// How long the call took.
    pub duration_ms: Option<u64>,
    /// When the call started.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// The start of the app's answer (at most 4 KiB).
    pub output: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// How late the call started after the slot plus its jitter offset, in milliseconds
    /// (`started_at - scheduled_for - offset_ms`, to the millisecond) for the first attempt of
    /// a scheduled slot that was called; null otherwise ([`lag_ms`]).
    pub lag_ms: Option<i64>,
}

impl From<&Execution> for ExecutionView {
    fn from(e: &Execution) -> Self {
        Self {
            id: e.id.to_string(),
            scheduled_for: rfc3339(e.scheduled_for),
            offset_ms: e.offset_ms,
            attempt: e.attempt,
            trigger: e.shown_trigger(),
            status: e.status,
            http_status: e.http_status,
            duration_ms: e.duration_ms,
            started_at: e.started_at.map(rfc3339),
            finished_at: e.finished_at.map(rfc3339),
            output: e.output.clone(),
            error: e.error.clone(),
            lag_ms: lag_ms(e),
        }
    }
}

/// A schedule's next runs (`next`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NextView {
    /// The schedule as written.
    pub schedule: String,
    /// In words.
    pub description: String,
    /// The zone it was read in.
    pub timezone: &'static str,
    /// The next runs.
    pub next: Vec<String>,
}

/// The next `n` slots of `job` after `now`, within its start and end.
pub fn upcoming(job: &Job, now: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    successive(n, now, |at| job.slot_after(at))
}

/// The next `n` slots of `schedule` in `tz` after `now`.
pub fn preview(schedule: &Schedule, tz: Tz, now: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    successive(n, now, |at| schedule.next_after(at, tz))
}

fn successive(
    n: usize,
    mut at: DateTime<Utc>,
    next: impl Fn(DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match next(at) {
            Some(t) => {
                out.push(t);
                at = t;
            }
            None => break,
        }
    }
    out
}

/// An app record as the front ends show it (`app show`, `app list`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppView {
    /// The app's name.
    pub name: String,
    /// Where its jobs by path are called.
    pub base_url: String,
    /// At most this many of its calls in flight at once within a tick.
    pub budget: u32,
    /// The zone its jobs are created in when given none (absent: UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The generation of its signing key (from 1).
    pub key_generation: u32,
    /// While it rotates its key: the previous generation, which calls are still signed with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_key_generation: Option<u32>,
    /// Only while an `app delete` is deleting it (or stopped part way): no job of the app may
    /// be created; running `app delete` again finishes, updating the app keeps it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
    /// True while the app is paused (`app pause`): none of its jobs is called.
    pub paused: bool,
    /// Why it is paused (while paused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<String>,
    /// Since when it is paused (while paused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_since: Option<String>,
    /// Its webhook, masked to its scheme and host (`https://hooks.slack.com/…`): the URL is a
    /// secret and never shown. Absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// After how many failed runs in a row of a job the webhook is told.
    pub notify_after: u32,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Its jobs' names (`app show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Vec<String>>,
}

impl From<&crate::model::App> for AppView {
    fn from(app: &crate::model::App) -> Self {
        Self {
            name: app.name.to_string(),
            base_url: app.base_url.to_string(),
            budget: app.budget,
            timezone: app.timezone.map(|tz| tz.name().to_owned()),
            key_generation: app.key_generation,
            previous_key_generation: app.previous_key_generation,
            deleting: app.deleting,
            paused: app.paused.is_some(),
            pause_reason: app.paused.as_ref().map(|p| p.reason.to_string()),
            paused_since: app.paused.as_ref().map(|p| rfc3339(p.since)),
            webhook: app.webhook.as_ref().map(crate::model::WebhookUrl::masked),
            notify_after: app.notify_after,
            created_at: rfc3339(app.created_at),
            updated_at: rfc3339(app.updated_at),
            jobs: None,
        }
    }
}

/// An app's signing keys (`app key --json`): what its settings hold.
#[derive(Debug, Serialize)]
pub struct AppKeyView {
    /// The app.
    pub app: String,
    /// The generation of its current key.
    pub generation: u32,
    /// Its current key: 64 hex characters, for the app's settings.
    pub key: String,
    /// While it rotates: the previous generation's key, still accepted until the rotation is
    /// finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousKeyView>,
}

/// The previous key of an app that rotates.
#[derive(Debug, Serialize)]
pub struct PreviousKeyView {
    /// Its generation.
    pub generation: u32,
    /// The key.
    pub key: String,
}

impl From<&super::AppKeys> for AppKeyView {
    fn from(keys: &super::AppKeys) -> Self {
        let mut all = keys.keys.iter();
        let (generation, key) = all.next().cloned().unwrap_or_default();
        Self {
            app: keys.app.clone(),
            generation,
            key,
            previous: all.next().map(|(generation, key)| PreviousKeyView {
                generation: *generation,
                key: key.clone(),
            }),
        }
    }
}

/// A deleted job (`delete --json`): its id reads its history until that expires
/// (`history --job-id ID`), unless it was purged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeletedView {
    /// The app.
    pub app: String,
    /// The job's name.
    pub name: String,
    /// The deleted job's id: `psu-sched history --job-id ID` reads its executions.
    pub job_id: String,
    /// How many executions were purged with it (`--purge-history`); null when its history
    /// was kept, to expire on its own.
    pub purged: Option<usize>,
}

impl From<&super::jobs::Deleted> for DeletedView {
    fn from(d: &super::jobs::Deleted) -> Self {
        Self {
            app: d.job.app.to_string(),
            name: d.job.name.to_string(),
            job_id: d.job.id.to_string(),
            purged: d.purged,
        }
    }
}
