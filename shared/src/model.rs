//! Plain types: jobs, executions and the validating newtypes they are built from.
//!
//! Nothing here knows about DynamoDB or HTTP. A value of one of these types is valid by
//! construction: the newtypes only come out of their `parse` functions.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// Invalid input, named by field, with what is accepted. One line, ready to show a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The field at fault (`app`, `name`, `url`, `timeout`...).
    pub field: &'static str,
    /// What was wrong and what is accepted.
    pub message: String,
}

impl ValidationError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

fn parse_identifier(field: &'static str, value: &str) -> Result<String, ValidationError> {
    let accepted =
        "1-64 characters of letters, digits, `_` and `-`, starting with a letter or digit";
    let ok_len = !value.is_empty() && value.len() <= 64;
    let ok_chars = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let ok_first = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_first {
        Ok(value.to_owned())
    } else {
        Err(ValidationError::new(
            field,
            format!("`{value}` is not valid: use {accepted}"),
        ))
    }
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            pub fn parse(value: &str) -> Result<Self, ValidationError> {
                parse_identifier($field, value).map(Self)
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

identifier!(
    /// The application a job belongs to: 1-64 of `[A-Za-z0-9_-]`, starting with a letter or digit.
    AppName,
    "app"
);
identifier!(
    /// A job's name, unique within its app: 1-64 of `[A-Za-z0-9_-]`, starting with a letter or digit.
    JobName,
    "name"
);

/// A job's URL: `http` or `https`, with a host, and no `user:password@` part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct JobUrl(String);

impl JobUrl {
    /// Validates a URL.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let url = reqwest::Url::parse(value).map_err(|e| {
            ValidationError::new("url", format!("`{value}` is not a valid URL ({e}); expected http://host/path or https://host/path"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ValidationError::new(
                "url",
                format!(
                    "scheme `{}` is not accepted; use http or https",
                    url.scheme()
                ),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ValidationError::new(
                "url",
                format!("`{value}` has no host"),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ValidationError::new(
                "url",
                "a user:password part is not accepted (it would be stored and logged); verify requests with the execution key or the signature instead",
            ));
        }
        Ok(Self(url.to_string()))
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JobUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A random version-4 UUID from the thread-local CSPRNG (`rand::rng()`, seeded from the
/// OS), not a `getrandom` system call per id as `Uuid::new_v4` makes: a tick makes several
/// per due job (claim, send and writer tokens).
pub(crate) fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// A job's immutable identity. A job deleted and created again gets a new one, so old
/// history never attaches to the new job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A fresh random id (32 lower-case hex digits).
    pub fn new() -> Self {
        Self(random_uuid().simple().to_string())
    }

    /// Parses an id as written by [`JobId::new`].
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(ValidationError::new(
                "job id",
                format!("`{value}` is not 32 hex digits"),
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
    /// How long a call may take, in milliseconds.
    pub timeout_ms: u64,
    /// Extra attempts after a failed or timed-out one (0-5).
    pub retries: u32,
    /// A slot later than this (milliseconds) is recorded `missed`, not called.
    pub max_lateness_ms: u64,
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
    /// A retry waiting for its time.
    #[serde(default)]
    pub retry: Option<PendingRetry>,
    /// The execution in flight, if any (used by the `forbid` overlap policy).
    #[serde(default)]
    pub inflight: Option<InFlight>,
    /// The newest finished execution, for listings.
    #[serde(default)]
    pub last: Option<LastRun>,
    /// The token of the tick that wrote this version (recognises a retried write).
    #[serde(default)]
    pub writer: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    /// Its id.
    pub execution: ExecutionId,
    /// After this instant it is considered lost (and will be reconciled).
    pub until: DateTime<Utc>,
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

    /// When the job next needs the tick's attention: its next slot or its retry, whichever
    /// is earlier. `None` (out of the due index) when paused or ended.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        if !self.enabled {
            return None;
        }
        let retry = self.state.retry.as_ref().map(|r| r.at);
        match (self.state.next_slot, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// (De)serialises a `Tz` as its IANA name.
pub mod tz_serde {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the IANA name.
    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    /// Reads an IANA name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse::<Tz>().map_err(serde::de::Error::custom)
    }
}

/// Parses an IANA time zone name, suggesting close names when it is unknown.
pub fn parse_timezone(value: &str) -> Result<Tz, ValidationError> {
    if let Ok(tz) = value.parse::<Tz>() {
        return Ok(tz);
    }
    let lower = value.to_ascii_lowercase();
    let needle = lower
        .rsplit('/')
        .next()
        .unwrap_or(&lower)
        .replace([' ', '-'], "_");
    let mut close: Vec<&str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|name| {
            let n = name.to_ascii_lowercase();
            !needle.is_empty() && (n.contains(&needle) || n == lower)
        })
        .take(3)
        .collect();
    close.sort_unstable();
    let hint = if close.is_empty() {
        "use an IANA name such as UTC, America/Los_Angeles or Europe/London".to_owned()
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    Err(ValidationError::new(
        "timezone",
        format!("`{value}` is not a known IANA time zone; {hint}"),
    ))
}

/// How an execution came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// A slot of the job's schedule.
    Schedule,
    /// Run now, by a person.
    Manual,
}

impl Trigger {
    fn code(self) -> char {
        match self {
            Trigger::Schedule => 's',
            Trigger::Manual => 'm',
        }
    }
}

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Claimed by a tick; the call is about to be made or is under way.
    Pending,
    /// Claimed by the app's guard: the job is running.
    Running,
    /// Done: a 2xx, or the app's guard recorded success.
    Succeeded,
    /// Done: another status, a connection error, or the app recorded failure.
    Failed,
    /// The call took longer than the job's timeout, or no outcome was ever recorded.
    TimedOut,
    /// Not called: the previous execution was still in flight (overlap forbidden).
    Skipped,
    /// Not called: the slot was later than the job's max lateness.
    Missed,
}

impl Status {
    /// `pending`, `running`, ... as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Skipped => "skipped",
            Status::Missed => "missed",
        }
    }

    /// True once nothing more will happen to the execution.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Pending | Status::Running)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => Status::Pending,
            "running" => Status::Running,
            "succeeded" => Status::Succeeded,
            "failed" => Status::Failed,
            "timed_out" => Status::TimedOut,
            "skipped" => Status::Skipped,
            "missed" => Status::Missed,
            _ => {
                return Err(ValidationError::new(
                    "status",
                    format!(
                        "`{s}` is not accepted; use pending, running, succeeded, failed, timed_out, skipped or missed"
                    ),
                ));
            }
        })
    }
}

const SLOT_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// An execution's id. It encodes the execution's primary key (job id, slot, trigger and
/// attempt), so the app's lookup is one strongly consistent read:
/// `<job id>.<slot as 20261126T093000Z>.<s|m><attempt>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExecutionId {
    job: JobId,
    slot: DateTime<Utc>,
    trigger: Trigger,
    attempt: u32,
}

impl ExecutionId {
    /// The id of attempt `attempt` (from 1) of `slot` for `job`.
    pub fn new(job: JobId, slot: DateTime<Utc>, trigger: Trigger, attempt: u32) -> Self {
        let slot = slot.with_nanosecond_zero();
        Self {
            job,
            slot,
            trigger,
            attempt,
        }
    }

    /// The job it belongs to.
    pub fn job_id(&self) -> &JobId {
        &self.job
    }
    /// The slot it runs.
    pub fn slot(&self) -> DateTime<Utc> {
        self.slot
    }
    /// Schedule or manual.
    pub fn trigger(&self) -> Trigger {
        self.trigger
    }
    /// The attempt, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The sort-key part: `<slot>#<trigger><attempt, 2 digits>`, which sorts by slot.
    pub fn slot_key(&self) -> String {
        format!(
            "{}#{}{:02}",
            self.slot.format(SLOT_FORMAT),
            self.trigger.code(),
            self.attempt
        )
    }

    /// Parses an id as found in the `X-Psu-Sched-Execution` header.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let bad = || {
            ValidationError::new(
                "execution id",
                format!(
                    "`{value}` is not an execution id (<job id>.<YYYYMMDDTHHMMSSZ>.<s|m><attempt>)"
                ),
            )
        };
        let mut parts = value.split('.');
        let (Some(job), Some(slot), Some(rest), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let job = JobId::parse(job).map_err(|_| bad())?;
        let slot = chrono::NaiveDateTime::parse_from_str(slot, SLOT_FORMAT)
            .map_err(|_| bad())?
            .and_utc();
        let mut chars = rest.chars();
        let trigger = match chars.next() {
            Some('s') => Trigger::Schedule,
            Some('m') => Trigger::Manual,
            _ => return Err(bad()),
        };
        let attempt: u32 = chars.as_str().parse().map_err(|_| bad())?;
        if attempt == 0 {
            return Err(bad());
        }
        Ok(Self {
            job,
            slot,
            trigger,
            attempt,
        })
    }
}

trait NanosZero {
    fn with_nanosecond_zero(self) -> Self;
}

impl NanosZero for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        use chrono::Timelike;
        // Zero is always a valid nanosecond, so this never falls back.
        self.with_nanosecond(0).unwrap_or(self)
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}{}",
            self.job,
            self.slot.format(SLOT_FORMAT),
            self.trigger.code(),
            self.attempt
        )
    }
}

impl Serialize for ExecutionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ExecutionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One execution of a job: a slot (and attempt) claimed by a tick, or a manual run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Encodes job id, slot, trigger and attempt.
    pub id: ExecutionId,
    /// The job's app (denormalised, for listings).
    pub app: AppName,
    /// The job's name (denormalised).
    pub name: JobName,
    /// The slot this execution runs.
    pub scheduled_for: DateTime<Utc>,
    /// From 1.
    pub attempt: u32,
    /// Schedule or manual.
    pub trigger: Trigger,
    /// Where it is in its life.
    pub status: Status,
    /// The HTTP status the job answered with.
    #[serde(default)]
    pub http_status: Option<u16>,
    /// The first 4 KiB of the response body (or what the app's guard recorded).
    #[serde(default)]
    pub output: Option<String>,
    /// What went wrong, in words.
    #[serde(default)]
    pub error: Option<String>,
    /// When the tick claimed the slot.
    pub created_at: DateTime<Utc>,
    /// When the call was sent (the tick), or the job started (the guard).
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// How long the call took, in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// How many earlier slots, never called, this one stands for.
    #[serde(default)]
    pub coalesced: u32,
    /// What to call (a snapshot of the job at claim time, so a lost tick's claim can be
    /// dispatched without the job).
    pub url: JobUrl,
    /// The method to call with.
    #[serde(default)]
    pub method: Method,
    /// The call timeout at claim time, in milliseconds.
    pub timeout_ms: u64,
    /// Retries the job allowed at claim time.
    #[serde(default)]
    pub retries: u32,
    /// Hex SHA-256 of the execution key; the key itself is never stored.
    #[serde(default)]
    pub key_hash: Option<String>,
    /// Token of the tick that claimed the slot.
    #[serde(default)]
    pub claimed_by: Option<String>,
    /// Token of the tick that sent the call.
    #[serde(default)]
    pub dispatched_by: Option<String>,
    /// Nonce of the app's guard claim, once the app has claimed the execution.
    #[serde(default)]
    pub guard_nonce: Option<String>,
    /// Token of the writer of the outcome (the tick's dispatch token, or `reconcile`).
    #[serde(default)]
    pub outcome_by: Option<String>,
    /// When the tick must look at it again (lease or deadline), while not final.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// When the record expires (retention).
    pub expires_at: DateTime<Utc>,
}

impl Execution {
    /// The call timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
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
    /// Call timeout (default 30 s, at most 14 min).
    pub timeout: Duration,
    /// Retries (0-5, default 0).
    pub retries: u32,
    /// Max lateness (default 1 h).
    pub max_lateness: Duration,
    /// Overlap policy (default forbid).
    pub overlap: OverlapPolicy,
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
            method: Method::Get,
            schedule,
            timezone: Tz::UTC,
            start: None,
            end: None,
            enabled: true,
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            max_lateness: DEFAULT_MAX_LATENESS,
            overlap: OverlapPolicy::Forbid,
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
        if self.max_lateness.is_zero() {
            return Err(ValidationError::new(
                "max lateness",
                "must be more than 0 (e.g. 1h)",
            ));
        }
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut job = Job {
            id: JobId::new(),
            app: self.app,
            name: self.name,
            url: self.url,
            method: self.method,
            schedule: self.schedule,
            timezone: self.timezone,
            start: self.start,
            end: self.end,
            enabled: self.enabled,
            timeout_ms: millis(self.timeout),
            retries: self.retries,
            max_lateness_ms: millis(self.max_lateness),
            overlap: self.overlap,
            description: self.description,
            created_at: now,
            updated_at: now,
            state: JobState::default(),
        };
        job.state.next_slot = job.slot_after(now);
        Ok(job)
    }
}

/// The most of a call's output that is stored, in bytes (the dispatcher reads 4 KiB; a
/// body that is not UTF-8 grows when decoded, and is cut back here).
pub const MAX_OUTPUT_TEXT: usize = 4096;

/// The most of an error text that is stored, in bytes. Errors can quote what a server sent
/// (a redirect's `Location`, an app's message): capped, an execution item stays far below
/// DynamoDB's 400 KB item limit whatever the server answers.
pub const MAX_ERROR_TEXT: usize = 1024;

/// `text` cut to at most `max` bytes on a character boundary, the cut marked with `…`.
pub fn cap_text(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    const MARK: &str = "…";
    let mut end = max.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut capped = text;
    capped.truncate(end);
    capped.push_str(MARK);
    capped
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_capped_text_fits_its_limit_on_a_character_boundary_and_marks_the_cut() {
        assert_eq!(cap_text("short".into(), 10), "short");
        let capped = cap_text("é".repeat(1000), 101);
        assert!(capped.len() <= 101, "{}", capped.len());
        assert!(capped.ends_with('…'));
        assert!(capped.starts_with("éé"));
        let exact = cap_text("x".repeat(1024), 1024);
        assert_eq!(exact.len(), 1024, "at the limit: kept whole");
    }
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn names_accept_letters_digits_dash_and_underscore_starting_with_a_letter_or_digit() {
        for ok in [
            "a",
            "billing",
            "Nightly_Report-2",
            "9lives",
            &"x".repeat(64),
        ] {
            assert!(AppName::parse(ok).is_ok(), "{ok}");
            assert!(JobName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "_x", "a b", "a/b", "é", &"x".repeat(65)] {
            let err = JobName::parse(bad).expect_err(bad);
            assert_eq!(err.field, "name");
            assert!(err.to_string().starts_with("name: "), "{err}");
        }
    }

    #[test]
    fn urls_must_be_http_or_https_without_credentials() {
        assert!(JobUrl::parse("https://app.example.edu/scheduler/run?x=1").is_ok());
        assert!(JobUrl::parse("http://127.0.0.1:8000/job").is_ok());
        for bad in [
            "ftp://host/x",
            "file:///etc/passwd",
            "https://user:pw@host/x",
            "not a url",
            "http://",
        ] {
            let err = JobUrl::parse(bad).expect_err(bad);
            assert_eq!(err.field, "url", "{bad}: {err}");
        }
    }

    #[test]
    fn an_execution_id_encodes_its_key_and_round_trips() {
        let job = JobId::new();
        let slot = Utc
            .with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
            .single()
            .expect("valid");
        let id = ExecutionId::new(job.clone(), slot, Trigger::Schedule, 2);
        let text = id.to_string();
        assert_eq!(text, format!("{job}.20261126T093000Z.s2"));
        assert_eq!(ExecutionId::parse(&text).expect("parse"), id);
        assert_eq!(id.slot_key(), "20261126T093000Z#s02");
        for bad in [
            "",
            "x.y.z",
            &format!("{job}.20261126T093000Z.s0"),
            &format!("{job}.2026.s1"),
        ] {
            assert!(ExecutionId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_job_rejects_bad_bounds_timeouts_and_retries() {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        let spec = NewJob::new(
            AppName::parse("app").expect("app"),
            JobName::parse("job").expect("name"),
            JobUrl::parse("https://example.edu/job").expect("url"),
            "0 9 * * *".parse().expect("schedule"),
        );
        let mut s = spec.clone();
        s.timeout = Duration::from_secs(15 * 60);
        assert_eq!(s.build(now).expect_err("timeout").field, "timeout");
        let mut s = spec.clone();
        s.retries = 6;
        assert_eq!(s.build(now).expect_err("retries").field, "retries");
        let mut s = spec.clone();
        s.start = Some(now + chrono::Duration::days(2));
        s.end = Some(now + chrono::Duration::days(1));
        assert_eq!(s.build(now).expect_err("bounds").field, "end");
        let job = spec.build(now).expect("valid");
        assert_eq!(job.state.next_slot, Some(now + chrono::Duration::hours(9)));
    }

    #[test]
    fn an_unknown_time_zone_suggests_close_names() {
        let err = parse_timezone("America/Los_Angles").expect_err("typo");
        assert_eq!(err.field, "timezone");
        let err = parse_timezone("Los_Angeles").expect_err("no region");
        assert!(err.to_string().contains("America/Los_Angeles"), "{err}");
    }
}
