//! Changes to a job, typed and validated: what `update`, `pause` and `resume` apply.
//!
//! A change recomputes the next slot from `now` when the timing changed, and bumps the
//! version with a fresh writer token so the store's optimistic check sees it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::model::{
    Job, JobPath, JobUrl, Method, NewJob, OverlapPolicy, PauseReason, ValidationError,
    validate_jitter, validate_retries, validate_timeout,
};
use crate::schedule::Schedule;

/// Changes to a job; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct JobChanges {
    /// New URL.
    pub url: Option<JobUrl>,
    /// New path (`Some(None)`: a job by URL from now on).
    pub path: Option<Option<JobPath>>,
    /// New method.
    pub method: Option<Method>,
    /// New schedule.
    pub schedule: Option<Schedule>,
    /// New time zone.
    pub timezone: Option<Tz>,
    /// New start (`Some(None)` clears it).
    pub start: Option<Option<DateTime<Utc>>>,
    /// New end (`Some(None)` clears it).
    pub end: Option<Option<DateTime<Utc>>>,
    /// Pause (`false`) or resume (`true`). A resume clears the pause reason.
    pub enabled: Option<bool>,
    /// New pause reason (`Some(None)` clears it); kept only while the job is paused.
    pub pause_reason: Option<Option<PauseReason>>,
    /// New call timeout.
    pub timeout: Option<Duration>,
    /// New retry count.
    pub retries: Option<u32>,
    /// New max lateness.
    pub max_lateness: Option<Duration>,
    /// New jitter (zero: none).
    pub jitter: Option<Duration>,
    /// New overlap policy.
    pub overlap: Option<OverlapPolicy>,
    /// New description.
    pub description: Option<String>,
}

impl JobChanges {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.url.is_none()
            && self.path.is_none()
            && self.method.is_none()
            && self.schedule.is_none()
            && self.timezone.is_none()
            && self.start.is_none()
            && self.end.is_none()
            && self.enabled.is_none()
            && self.pause_reason.is_none()
            && self.timeout.is_none()
            && self.retries.is_none()
            && self.max_lateness.is_none()
            && self.jitter.is_none()
            && self.overlap.is_none()
            && self.description.is_none()
    }

    /// Sets the given options on a job about to be created (validated by [`NewJob::build`]).
    pub fn apply_to_new(&self, spec: &mut NewJob) {
        if let Some(url) = &self.url {
            spec.url = url.clone();
        }
        if let Some(path) = &self.path {
            spec.path = path.clone();
        }
        if let Some(method) = self.method {
            spec.method = method;
        }
        if let Some(schedule) = &self.schedule {
            spec.schedule = schedule.clone();
        }
        if let Some(tz) = self.timezone {
            spec.timezone = tz;
        }
        if let Some(start) = self.start {
            spec.start = start;
        }
        if let Some(end) = self.end {
            spec.end = end;
        }
        if let Some(enabled) = self.enabled {
            spec.enabled = enabled;
        }
        if let Some(reason) = &self.pause_reason {
            spec.pause_reason = reason.clone();
        }
        if let Some(timeout) = self.timeout {
            spec.timeout = timeout;
        }
        if let Some(retries) = self.retries {
            spec.retries = retries;
        }
        if let Some(lateness) = self.max_lateness {
            spec.max_lateness = lateness;
        }
        if let Some(jitter) = self.jitter {
            spec.jitter = jitter;
        }
        if let Some(overlap) = self.overlap {
            spec.overlap = overlap;
        }
        if let Some(description) = &self.description {
            spec.description = description.clone();
        }
    }

    /// The job with the changes applied, validated, at `now`: `updated_at` is `now`, the
    /// version is bumped with a fresh writer token, and the next slot is recomputed from
    /// `now` when the schedule, zone, bounds or enabled flag changed.
    pub fn apply(&self, job: &Job, now: DateTime<Utc>) -> Result<Job, ValidationError> {
        let mut next = job.clone();
        if let Some(url) = &self.url {
            next.url = url.clone();
        }
        if let Some(path) = &self.path {
            next.path = path.clone();
        }
        if let Some(method) = self.method {
            next.method = method;
        }
        if let Some(schedule) = &self.schedule {
            next.schedule = schedule.clone();
        }
        if let Some(tz) = self.timezone {
            next.timezone = tz;
        }
        if let Some(start) = self.start {
            next.start = start;
        }
        if let Some(end) = self.end {
            next.end = end;
        }
        if let Some(enabled) = self.enabled {
            next.enabled = enabled;
        }
        if let Some(reason) = &self.pause_reason {
            next.pause_reason = reason.clone();
        } else if next.enabled {
            // A resume (or a job that runs) keeps no reason.
            next.pause_reason = None;
        }
        crate::model::check_pause_reason(next.enabled, next.pause_reason.as_ref())?;
        if let Some(timeout) = self.timeout {
            next.timeout_ms = millis(validate_timeout(timeout)?);
        }
        if let Some(retries) = self.retries {
            next.retries = validate_retries(retries)?;
        }
        if let Some(lateness) = self.max_lateness {
            if lateness.is_zero() {
                return Err(ValidationError::new(
                    "max_lateness",
                    "must be more than 0 (e.g. 1h)",
                ));
            }
            next.max_lateness_ms = millis(lateness);
        }
        if let Some(jitter) = self.jitter {
            next.jitter_ms = millis(jitter);
        }
        // A jitter must stay under the schedule's smallest gap: checked again when either the
        // jitter or the timing it is measured against changes.
        if next.jitter_ms > 0
            && (next.jitter_ms != job.jitter_ms
                || next.schedule != job.schedule
                || next.timezone != job.timezone)
        {
            validate_jitter(next.jitter(), &next.schedule, next.timezone, now)?;
        }
        if let Some(overlap) = self.overlap {
            next.overlap = overlap;
        }
        if let Some(description) = &self.description {
            next.description = description.clone();
        }
        if let (Some(start), Some(end)) = (next.start, next.end)
            && end <= start
        {
            return Err(ValidationError::new(
                "end",
                format!("{end} is not after start {start}; the end must come after the start"),
            ));
        }
        let timing_changed = next.schedule != job.schedule
            || next.timezone != job.timezone
            || next.start != job.start
            || next.end != job.end
            || next.enabled != job.enabled;
        if timing_changed {
            next.state.next_slot = next.slot_after(now);
        }
        // What a backfill needs of the job's past: when its timing changed, its pauses.
        if next.schedule != job.schedule
            || next.timezone != job.timezone
            || next.start != job.start
            || next.end != job.end
        {
            next.past.timing_since = Some(now);
        }
        match (job.enabled, next.enabled) {
            (true, false) => next.past.pause(now),
            (false, true) => next.past.resume(now, job.updated_at),
            // A job paused before its pauses were kept: its pause began at its last change.
            (false, false) => next.past.pause(job.updated_at),
            (true, true) => {}
        }
        next.updated_at = now;
        next.state.version = job.state.version + 1;
        next.state.writer = Some(crate::model::random_uuid().simple().to_string());
        Ok(next)
    }
}

/// A duration in whole milliseconds, saturated.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
