//! [`Definition`]: what a person decides about a job (everything `create` takes but the
//! paused state), parsed; what a schedules file manages, what an edit and a plan compare.
//! How each field of it is shown and compared is [`super::field`]'s.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::change::{JobChanges, millis};
use super::error::FieldError;
use super::input::JobInput;
use crate::model::{
    AppName, BaseUrl, DEFAULT_MAX_LATENESS, DEFAULT_TIMEOUT, Job, JobName, JobPath, JobUrl, Method,
    NewJob, OverlapPolicy, PauseReason, validate_jitter,
};
use crate::schedule::Schedule;

/// What a file manages of a job: everything `create` takes but the paused state.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Definition {
    /// A job by URL.
    pub url: Option<JobUrl>,
    /// A job by path.
    pub path: Option<JobPath>,
    pub method: Method,
    pub schedule: Schedule,
    pub timezone: Tz,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub timeout_ms: u64,
    pub retries: u32,
    pub max_lateness_ms: u64,
    pub jitter_ms: u64,
    pub overlap: OverlapPolicy,
    pub description: String,
    /// Why it is paused: with the paused state, which the definition leaves out, it goes
    /// only on a paused job (a file gives it with `paused = true`).
    pub pause_reason: Option<PauseReason>,
}

impl Definition {
    /// The definition of a stored job.
    pub fn of(job: &Job) -> Self {
        Self {
            url: job.path.is_none().then(|| job.url.clone()),
            path: job.path.clone(),
            method: job.method,
            schedule: job.schedule.clone(),
            timezone: job.timezone,
            start: job.start,
            end: job.end,
            timeout_ms: job.timeout_ms,
            retries: job.retries,
            max_lateness_ms: job.max_lateness_ms,
            jitter_ms: job.jitter_ms,
            overlap: job.overlap,
            description: job.description.clone(),
            pause_reason: job.pause_reason.clone(),
        }
    }

    /// The definition a whole set of options gives (what a file's job or the admin's form
    /// says): an option not given is at its default. The first refusal, by its field.
    pub fn from_input(input: &JobInput) -> Result<Self, FieldError> {
        let parsed = input.parse(true)?;
        let tz = parsed.timezone.unwrap_or(Tz::UTC);
        let dates = input.dates(tz)?;
        let Some(schedule) = parsed.schedule else {
            return Err(FieldError::plain("schedule", "missing"));
        };
        let rest = parsed.rest;
        let jitter = rest.jitter.unwrap_or_default();
        // Against the next year from the clock's instant, as `create` checks it: a file and a
        // form are written at the clock's instant.
        validate_jitter(jitter, &schedule, tz, Utc::now())?;
        Ok(Self {
            url: parsed.url,
            path: parsed.path,
            method: rest.method.unwrap_or_default(),
            schedule,
            timezone: tz,
            start: dates.start.flatten(),
            end: dates.end.flatten(),
            timeout_ms: millis(rest.timeout.unwrap_or(DEFAULT_TIMEOUT)),
            retries: rest.retries.unwrap_or(0),
            max_lateness_ms: millis(rest.max_lateness.unwrap_or(DEFAULT_MAX_LATENESS)),
            jitter_ms: millis(jitter),
            overlap: rest.overlap.unwrap_or_default(),
            description: rest.description.unwrap_or_default(),
            pause_reason: rest.pause_reason.flatten(),
        })
    }

    /// The definition with every option at its default, but `schedule` (which has none).
    pub fn defaults(schedule: Schedule) -> Self {
        Self {
            url: None,
            path: None,
            method: Method::Get,
            schedule,
            timezone: Tz::UTC,
            start: None,
            end: None,
            timeout_ms: millis(DEFAULT_TIMEOUT),
            retries: 0,
            max_lateness_ms: millis(DEFAULT_MAX_LATENESS),
            jitter_ms: 0,
            overlap: OverlapPolicy::Forbid,
            description: String::new(),
            pause_reason: None,
        }
    }

    /// A new job `app`/`name` of this definition, called at `url` (its path's, for a job by
    /// path).
    pub fn new_job(&self, app: AppName, name: JobName, url: JobUrl) -> NewJob {
        let mut spec = NewJob::new(app, name, url, self.schedule.clone());
        spec.path = self.path.clone();
        spec.method = self.method;
        spec.timezone = self.timezone;
        spec.start = self.start;
        spec.end = self.end;
        spec.timeout = Duration::from_millis(self.timeout_ms);
        spec.retries = self.retries;
        spec.max_lateness = Duration::from_millis(self.max_lateness_ms);
        spec.jitter = Duration::from_millis(self.jitter_ms);
        spec.overlap = self.overlap;
        spec.description = self.description.clone();
        spec.pause_reason = self.pause_reason.clone();
        spec
    }
}

/// The changes that make a job `old` into `new` (a job by path resolved at `base_url`).
pub(super) fn job_changes(
    old: &Definition,
    new: &Definition,
    base_url: Option<&BaseUrl>,
) -> Result<JobChanges, FieldError> {
    let mut changes = JobChanges::default();
    if old.url != new.url || old.path != new.path {
        match (&new.url, &new.path, base_url) {
            (Some(url), _, _) => {
                changes.url = Some(url.clone());
                changes.path = Some(None);
            }
            (None, Some(path), Some(base)) => {
                changes.url = Some(base.join(path)?);
                changes.path = Some(Some(path.clone()));
            }
            _ => {
                return Err(FieldError::plain(
                    "path",
                    "has no base URL to resolve against",
                ));
            }
        }
    }
    if old.method != new.method {
        changes.method = Some(new.method);
    }
    if old.schedule != new.schedule {
        changes.schedule = Some(new.schedule.clone());
    }
    if old.timezone != new.timezone {
        changes.timezone = Some(new.timezone);
    }
    if old.start != new.start {
        changes.start = Some(new.start);
    }
    if old.end != new.end {
        changes.end = Some(new.end);
    }
    if old.timeout_ms != new.timeout_ms {
        changes.timeout = Some(Duration::from_millis(new.timeout_ms));
    }
    if old.retries != new.retries {
        changes.retries = Some(new.retries);
    }
    if old.max_lateness_ms != new.max_lateness_ms {
        changes.max_lateness = Some(Duration::from_millis(new.max_lateness_ms));
    }
    if old.jitter_ms != new.jitter_ms {
        changes.jitter = Some(Duration::from_millis(new.jitter_ms));
    }
    if old.overlap != new.overlap {
        changes.overlap = Some(new.overlap);
    }
    if old.description != new.description {
        changes.description = Some(new.description.clone());
    }
    if old.pause_reason != new.pause_reason {
        changes.pause_reason = Some(new.pause_reason.clone());
    }
    Ok(changes)
}

/// The job as a person last left it: the same job (id), written by the same change
/// (`updated_at`), the same definition and paused state. The tick's bookkeeping (its
/// version, next slot, executions in flight) may differ.
pub(super) fn same_definition(a: &Job, b: &Job) -> bool {
    a.id == b.id
        && a.updated_at == b.updated_at
        && a.enabled == b.enabled
        && Definition::of(a) == Definition::of(b)
}
