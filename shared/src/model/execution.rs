//! An execution: one call of a job for one slot and attempt, and its id.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AppName, JobId, JobName, JobUrl, Method, ValidationError};

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

    /// The smallest sort-key part of a slot at or after `at` (whole seconds): executions
    /// whose [`slot_key`](Self::slot_key) is at least this one run a slot at or after `at`.
    pub fn slot_key_from(at: DateTime<Utc>) -> String {
        at.format(SLOT_FORMAT).to_string()
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
    /// A scheduled slot of a job with jitter: the slot's offset in milliseconds, its call due
    /// at `scheduled_for` plus this (`Job::due_of`); its lateness and lag count from there.
    /// 0, absent from the item, otherwise.
    #[serde(default, skip_serializing_if = "is_zero_ms")]
    pub offset_ms: u64,
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
    /// Token of the tick that counted the outcome the app's guard recorded, and took the
    /// execution out of the due index (see `store::rules::take_guard_end`).
    #[serde(default)]
    pub counted_by: Option<String>,
    /// When the tick must look at it again (lease or deadline), while not final.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// True for a call of a past slot made by `psu-sched backfill` (its id is the slot's next
    /// scheduled attempt): it never becomes the job's last run, retry or in-flight marker.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backfill: bool,
    /// True when the job's in-flight marker tracks this execution ([`super::InFlight`]):
    /// it then has no due-index entry of its own, whatever its `due_at`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tracked: bool,
    /// When the record expires (retention).
    pub expires_at: DateTime<Utc>,
}

fn is_zero_ms(n: &u64) -> bool {
    *n == 0
}

impl Execution {
    /// How it came about, as history, `stats` and the admin show it: `schedule`, `manual` or
    /// `backfill` (a scheduled attempt made by `psu-sched backfill`).
    pub fn shown_trigger(&self) -> &'static str {
        match (self.trigger, self.backfill) {
            (_, true) => "backfill",
            (Trigger::Schedule, false) => "schedule",
            (Trigger::Manual, false) => "manual",
        }
    }

    /// When the call was due: the slot plus its jitter offset (`offset_ms`).
    pub fn call_due(&self) -> DateTime<Utc> {
        self.scheduled_for
            + chrono::Duration::milliseconds(i64::try_from(self.offset_ms).unwrap_or(0))
    }

    /// The call timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The execution's key in the due index: its `due_at`, unless its job's marker tracks
    /// it (then it is found through the job, never through an entry of its own).
    pub fn index_at(&self) -> Option<DateTime<Utc>> {
        self.due_at.filter(|_| !self.tracked)
    }
}
