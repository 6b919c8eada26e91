//! A job: its definition, its state as the tick keeps it, and what a person asks for.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{
    AppName, ExecutionId, JobId, JobName, JobPast, JobPath, JobUrl, PauseReason, Status, Trigger,
    ValidationError, jitter_offset, tz_serde, validate_jitter,
};
use crate::schedule::Schedule;

/// The HTTP method a job is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET, the default (as the old app did).
    #[default]
    Get,
    /// POST, with an empty body.
    Post,
}

impl Method {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

impl FromStr for Method {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "GET" => Ok(Method::Get),
            "POST" => Ok(Method::Post),
            _ => Err(ValidationError::new(
                "method",
                format!("`{s}` is not accepted; use GET or POST"),
            )),
        }
    }
}

/// What happens when a slot comes due while the previous execution is still in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverlapPolicy {
    /// The new slot is recorded as `skipped` (the default).
    #[default]
    Forbid,
    /// The new slot runs alongside the old one.
    Allow,
}

/// The most a job may take before its call is abandoned: 14 minutes (the Lambda's own limit is 15).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(14 * 60);
/// The default call timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default max lateness: a slot later than this is recorded `missed`, not called.
pub const DEFAULT_MAX_LATENESS: Duration = Duration::from_secs(3600);
/// The most retries a job may ask for.
pub const MAX_RETRIES: u32 = 5;

/// Checks a call timeout: more than zero, at most [`MAX_TIMEOUT`].
pub fn validate_timeout(timeout: Duration) -> Result<Duration, ValidationError> {
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        Err(ValidationError::new(
            "timeout",
            format!(
                "{timeout:?} is not accepted; use more than 0 and at most 14m (the Lambda's own limit is 15m)"
            ),
        ))
    } else {
        Ok(timeout)
    }
}

/// Checks a retry count: 0 to [`MAX_RETRIES`].
pub fn validate_retries(retries: u32) -> Result<u32, ValidationError> {
    if retries > MAX_RETRIES {
        Err(ValidationError::new(
            "retries",
            format!("{retries} is not accepted; use 0 to {MAX_RETRIES}"),
        ))
    } else {
        Ok(retries)
    }
}

/// A scheduled job: what to call, when, and the scheduler's bookkeeping for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Immutable identity; executions are stored under it.
    pub id: JobId,
    /// The application.
    pub app: AppName,
    /// The job's name within its app.
    pub name: JobName,
    /// Where to call.
    pub url: JobUrl,
    /// A job by path: called at its app's base URL (from the app's record, read by each
    /// tick) followed by this path. `url` then holds the URL as resolved when the job was
    /// last written, for display; the tick never calls it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<JobPath>,
    /// GET or POST.
    #[serde(default)]
    pub method: Method,
    /// When to call.
    pub schedule: Schedule,
    /// The IANA time zone the schedule is read in.
    #[serde(with = "tz_serde")]
    pub timezone: Tz,
    /// No slot before this instant.
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    /// No slot after this instant.
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    /// A paused job is never due.
    pub enabled: bool,
    /// Why the job is paused, when whoever paused it said (only while paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<PauseReason>,
    /// How long a call may take, in milliseconds.
    pub timeout_ms: u64,
    /// Extra attempts after a failed or timed-out one (0-5).
    pub retries: u32,
    /// A slot later than this (milliseconds) is recorded `missed`, not called.
    pub max_lateness_ms: u64,
    /// Each slot's call is due at the slot plus an offset in `[0, jitter)`
    /// ([`Job::due_of`]), in milliseconds (whole seconds); 0, absent from the item, for none.
    #[serde(default, skip_serializing_if = "is_zero_ms")]
    pub jitter_ms: u64,
    /// Overlap policy.
    #[serde(default)]
    pub overlap: OverlapPolicy,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// When the job's definition last changed.
    pub updated_at: DateTime<Utc>,
    /// When its timing last changed and when it was paused, for a backfill
    /// ([`JobPast`]); absent from the item while empty.
    #[serde(default, skip_serializing_if = "JobPast::is_empty")]
    pub past: JobPast,
    /// Scheduling state, written by the tick.
    #[serde(default)]
    pub state: JobState,
}

/// The tick's bookkeeping for a job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobState {
    /// Optimistic-lock version: every write of the job item increments it.
    #[serde(default)]
    pub version: u64,
    /// The earliest regular slot not yet claimed; `None` once the job has ended.
    #[serde(default)]
    pub next_slot: Option<DateTime<Utc>>,
    /// A scheduled slot's retry waiting for its time.
    #[serde(default)]
    pub retry: Option<PendingRetry>,
    /// A manual run's retry waiting for its time (kept apart: neither replaces the other).
    #[serde(default)]
    pub manual_retry: Option<PendingRetry>,
    /// The calls in flight, one marker each until it ends or its time is up (the `forbid`
    /// overlap policy skips a slot while any is).
    #[serde(default, deserialize_with = "in_flight_list")]
    pub inflight: Vec<InFlight>,
    /// The newest finished execution, for listings.
    #[serde(default)]
    pub last: Option<LastRun>,
    /// The latest outcomes recorded as the last run, oldest first, one letter each (see
    /// [`Job::record_outcome`]): at most [`RECENT_OUTCOMES`]. Empty (absent) on items
    /// written before they were kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub outcomes: String,
    /// How many outcomes in a row, up to the last, failed or timed out (0, absent, when the
    /// last run succeeded).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub streak: u32,
    /// True once the app's webhook was told the job is failing (the bookkeeping write that
    /// brought the streak to the app's threshold set it), until the write that records its
    /// next success clears it and tells the webhook it recovered (`tick::notify`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alerted: bool,
    /// Which webhook was told ([`crate::model::App::webhook_print`]), while `alerted`:
    /// a webhook that replaced it mid-failure is told at the job's next failure, and is not
    /// told of a recovery from a failure it never heard of. Absent on a marker set before it
    /// was kept (taken as the current webhook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerted_hook: Option<u32>,
    /// The token of the tick that wrote this version (recognises a retried write).
    #[serde(default)]
    pub writer: Option<String>,
    /// Until when a backfilled call of this job may be in flight (set by the backfill's claim
    /// of a job that forbids overlap, cleared after its call): no other backfilled call and no
    /// live call starts before, so the job never has two calls at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_until: Option<DateTime<Utc>>,
}

impl JobState {
    /// The pending retry of `trigger`'s kind.
    pub fn retry_of(&mut self, trigger: Trigger) -> &mut Option<PendingRetry> {
        match trigger {
            Trigger::Schedule => &mut self.retry,
            Trigger::Manual => &mut self.manual_retry,
        }
    }

    /// The pending retry due first, if any.
    pub fn first_retry(&self) -> Option<&PendingRetry> {
        [&self.retry, &self.manual_retry]
            .into_iter()
            .flatten()
            .min_by_key(|r| r.at)
    }

    /// True while a call whose marker is still valid at `now` is in flight, or a backfilled
    /// call's lease runs.
    pub fn busy_at(&self, now: DateTime<Utc>) -> bool {
        self.inflight.iter().any(|f| f.until > now) || self.backfill_until.is_some_and(|u| u > now)
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_ms(n: &u64) -> bool {
    *n == 0
}

/// The in-flight markers as stored: a list, or (as written before there could be several)
/// one marker or none.
fn in_flight_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<InFlight>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Many(Vec<InFlight>),
        One(InFlight),
    }
    Ok(match Option::<Stored>::deserialize(d)? {
        None => Vec::new(),
        Some(Stored::Many(list)) => list,
        Some(Stored::One(one)) => vec![one],
    })
}

/// A retry of a failed attempt, due at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRetry {
    /// The slot being retried.
    pub slot: DateTime<Utc>,
    /// The attempt to make (2 for the first retry).
    pub attempt: u32,
    /// How the slot was triggered.
    pub trigger: Trigger,
    /// Not before this instant.
    pub at: DateTime<Utc>,
}

/// The execution in flight for a job.
///
/// A marker with an `anchor` (written at table format 3, docs/data-model.md, "Calls in
/// flight") is how a tick finds its execution again: the execution has no due-index entry of
/// its own, and the job stays in the due index at the anchor until the marker is resolved
/// ([`Job::index_at`]). A marker without one (older formats) only serves the overlap policy;
/// its execution is in the due index itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    /// Its id.
    pub execution: ExecutionId,
    /// After this instant it is considered lost (and will be reconciled).
    pub until: DateTime<Utc>,
    /// The job's due-index key when the claim read it (at most the claim's instant): the job
    /// keeps that key while the marker stands, so the claim leaves its index entry in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<DateTime<Utc>>,
    /// Before this instant (the claim's lease) nothing can need a later tick's attention;
    /// from it on, each tick that reads the job reads the execution to see whether it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_at: Option<DateTime<Utc>>,
}

impl InFlight {
    /// True for a marker that a tick resolves by reading its execution (see [`InFlight`]).
    pub fn tracks(&self) -> bool {
        self.anchor.is_some()
    }
}

/// The newest finished execution of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// Its id.
    pub execution: ExecutionId,
    /// Its status.
    pub status: Status,
    /// When it finished (or was recorded).
    pub at: DateTime<Utc>,
}

impl Job {
    /// The call timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The max lateness.
    pub fn max_lateness(&self) -> Duration {
        Duration::from_millis(self.max_lateness_ms)
    }

    /// The jitter (zero for none).
    pub fn jitter(&self) -> Duration {
        Duration::from_millis(self.jitter_ms)
    }

    /// The jitter offset of `slot`'s call ([`jitter_offset`]): zero without jitter.
    pub fn offset_of(&self, slot: DateTime<Utc>) -> chrono::Duration {
        jitter_offset(&self.id, slot, self.jitter_ms)
    }

    /// When `slot`'s call is due: the slot plus its jitter offset. A tick calls the slot from
    /// this instant on, and its lateness counts from it.
    pub fn due_of(&self, slot: DateTime<Utc>) -> DateTime<Utc> {
        slot + self.offset_of(slot)
    }

    /// The first slot strictly after `after` that lies within start/end, if any.
    pub fn slot_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = match self.start {
            Some(start) if start > after => start - chrono::Duration::seconds(1),
            _ => after,
        };
        let next = self.schedule.next_after(from, self.timezone)?;
        match self.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    /// When the job next needs the tick's attention: its next slot's call (the slot plus its
    /// jitter offset, [`Job::due_of`]) or its retry, whichever is earlier. `None` (out of the
    /// due index) when paused or ended.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        if !self.enabled {
            return None;
        }
        let retry = self.state.first_retry().map(|r| r.at);
        let slot = self.state.next_slot.map(|s| self.due_of(s));
        match (slot, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The job's key in the due index: [`Self::due_at`], or earlier while a tracking
    /// in-flight marker stands (its anchor), so that ticks keep reading the job until they
    /// have resolved the call (a paused or ended job included). `None`: out of the index.
    pub fn index_at(&self) -> Option<DateTime<Utc>> {
        let anchors = self.state.inflight.iter().filter_map(|f| f.anchor);
        self.due_at().into_iter().chain(anchors).min()
    }
}

/// What a person asks for when creating a job; [`NewJob::build`] validates it into a [`Job`].
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The application.
    pub app: AppName,
    /// The job's name.
    pub name: JobName,
    /// Where to call.
    pub url: JobUrl,
    /// A job by path (see [`Job::path`]); `url` is then the URL it resolves to now.
    pub path: Option<JobPath>,
    /// GET (default) or POST.
    pub method: Method,
    /// When.
    pub schedule: Schedule,
    /// The zone the schedule is read in (default UTC).
    pub timezone: Tz,
    /// No slot before.
    pub start: Option<DateTime<Utc>>,
    /// No slot after.
    pub end: Option<DateTime<Utc>>,
    /// False to create it paused.
    pub enabled: bool,
    /// Why it is created paused (only with `enabled` false).
    pub pause_reason: Option<PauseReason>,
    /// Call timeout (default 30 s, at most 14 min).
    pub timeout: Duration,
    /// Retries (0-5, default 0).
    pub retries: u32,
    /// Max lateness (default 1 h).
    pub max_lateness: Duration,
    /// Overlap policy (default forbid).
    pub overlap: OverlapPolicy,
    /// Jitter (default none): less than the schedule's smallest gap ([`validate_jitter`]).
    pub jitter: Duration,
    /// Free text.
    pub description: String,
}

impl NewJob {
    /// A job with every option at its default.
    pub fn new(app: AppName, name: JobName, url: JobUrl, schedule: Schedule) -> Self {
        Self {
            app,
            name,
            url,
            path: None,
            method: Method::Get,
            schedule,
            timezone: Tz::UTC,
            start: None,
            end: None,
            enabled: true,
            pause_reason: None,
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            max_lateness: DEFAULT_MAX_LATENESS,
            overlap: OverlapPolicy::Forbid,
            jitter: Duration::ZERO,
            description: String::new(),
        }
    }

    /// Validates and builds the job, created at `now`, with its first slot after `now`.
    pub fn build(self, now: DateTime<Utc>) -> Result<Job, ValidationError> {
        validate_timeout(self.timeout)?;
        validate_retries(self.retries)?;
        if let (Some(start), Some(end)) = (self.start, self.end)
            && end <= start
        {
            return Err(ValidationError::new(
                "end",
                format!("{end} is not after start {start}; the end must come after the start"),
            ));
        }
        check_pause_reason(self.enabled, self.pause_reason.as_ref())?;
        if self.max_lateness.is_zero() {
            return Err(ValidationError::new(
                "max_lateness",
                "must be more than 0 (e.g. 1h)",
            ));
        }
        validate_jitter(self.jitter, &self.schedule, self.timezone, now)?;
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut job = Job {
            id: JobId::new(),
            app: self.app,
            name: self.name,
            url: self.url,
            path: self.path,
            method: self.method,
            schedule: self.schedule,
            timezone: self.timezone,
            start: self.start,
            end: self.end,
            enabled: self.enabled,
            pause_reason: self.pause_reason,
            timeout_ms: millis(self.timeout),
            retries: self.retries,
            max_lateness_ms: millis(self.max_lateness),
            jitter_ms: millis(self.jitter),
            overlap: self.overlap,
            description: self.description,
            created_at: now,
            updated_at: now,
            past: JobPast::default(),
            state: JobState::default(),
        };
        if !job.enabled {
            job.past.pause(now);
        }
        job.state.next_slot = job.slot_after(now);
        Ok(job)
    }
}

/// A pause reason goes with a pause: refused (field `pause_reason`) on a job that runs.
pub fn check_pause_reason(
    enabled: bool,
    reason: Option<&PauseReason>,
) -> Result<(), ValidationError> {
    if enabled && reason.is_some() {
        return Err(ValidationError::new(
            "pause_reason",
            "given for a job that is not paused; a reason goes with a pause (psu-sched pause --reason TEXT, or paused = true in a file)",
        ));
    }
    Ok(())
}
