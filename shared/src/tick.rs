//! The tick: one step that finds what is due, claims each slot exactly once, calls the URLs,
//! records the outcomes, schedules retries and reconciles what a crashed tick left behind.
//!
//! Exactly once rests on three writes, each conditional and each recognising its own retry:
//! 1. claim: the job's advanced state and the new execution, in one transaction;
//! 2. mark sent: `pending` and not yet sent, then the call goes out (a claim whose tick died
//!    before this point is sent by a later tick: the claim's lease expires);
//! 3. outcome: only by the tick that sent the call, only while `pending` (the app's guard
//!    owns the outcome once it has claimed the execution).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::dispatch::{self, CallRequest, Dispatch};
use crate::model::{
    Execution, ExecutionId, InFlight, Job, LastRun, MAX_ERROR_TEXT, MAX_OUTPUT_TEXT, OverlapPolicy,
    PendingRetry, Status, Trigger, cap_text,
};
use crate::store::{Claim, ClaimOutcome, DueItem, Outcome, Recorded, Store, StoreError};

/// How a tick behaves.
#[derive(Debug, Clone)]
pub struct TickConfig {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// How long execution records are kept (their TTL).
    pub retention: Duration,
    /// After a call's timeout, how long before an execution with no outcome is reconciled.
    pub grace: Duration,
    /// How long a claim may wait to be sent before a later tick sends it instead.
    pub lease: Duration,
    /// The first retry's delay; each further retry doubles it.
    pub retry_backoff: Duration,
    /// When set, a slot is claimed only if its call (with its timeout) and the recording of
    /// its outcome fit before this instant, minus [`TickConfig::deadline_margin`]; the rest
    /// stay due for the next tick. The Lambda sets it from the invocation's deadline.
    pub deadline: Option<Instant>,
    /// Time kept in hand before the deadline for recording outcomes.
    pub deadline_margin: Duration,
    /// Work out what would run and write nothing, call nothing.
    pub dry_run: bool,
}

/// The default number of calls in flight. Chosen from the benchmarks (docs/benchmarks.md,
/// "Default concurrency"): 1,000 due calls of 2 s all start within the minute (32 would take
/// 64 s), for about 1 MB more memory; more would mostly add throttled writes on DynamoDB's
/// due index and bigger bursts at one app.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// The default retention: 30 days, as the old app.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for TickConfig {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            retention: DEFAULT_RETENTION,
            grace: Duration::from_secs(60),
            lease: Duration::from_secs(60),
            retry_backoff: Duration::from_secs(30),
            deadline: None,
            deadline_margin: Duration::from_secs(5),
            dry_run: false,
        }
    }
}

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickSummary {
    /// The instant the tick ran for.
    pub now: DateTime<Utc>,
    /// Jobs and left-over claims that were due.
    pub due: u64,
    /// Calls sent.
    pub triggered: u64,
    /// Calls that succeeded.
    pub succeeded: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Calls that timed out.
    pub timed_out: u64,
    /// Slots skipped (the previous execution still in flight, overlap forbidden).
    pub skipped: u64,
    /// Slots recorded as missed (later than the job's max lateness).
    pub missed: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// Executions with no outcome past their deadline, marked timed out.
    pub reconciled: u64,
    /// Due slots left unclaimed because their call would not fit before the deadline.
    #[serde(default)]
    pub deferred: u64,
    /// True when nothing was written or called (a dry run).
    #[serde(default)]
    pub dry_run: bool,
    /// Wall time of the tick.
    pub duration_ms: u64,
}

/// How far behind the clock a writing tick's `now` may be. Further back, the tick would write
/// leases and deadlines that have already passed, and a concurrent tick would take a call
/// still in flight for a lost one (and call it again).
pub const MAX_NOW_BEHIND: Duration = Duration::from_secs(30);

/// What a tick at a given `now` may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NowUse {
    /// A tick that writes and calls, at the clock's instant (or a few seconds behind it).
    Write,
    /// A dry run: any instant of years 1970 to 9999; nothing written, nothing called.
    DryRun,
    /// A simulation on a test or development store: writes as if the clock read `now`.
    Simulate,
}

/// A `now` a tick refuses ([`check_now`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NowError {
    /// A writing tick ahead of the clock.
    #[error("{now} is ahead of the clock ({clock})")]
    Ahead {
        /// The requested instant.
        now: DateTime<Utc>,
        /// The clock's.
        clock: DateTime<Utc>,
    },
    /// A writing tick more than [`MAX_NOW_BEHIND`] behind the clock.
    #[error("{now} is more than {}s behind the clock ({clock})", MAX_NOW_BEHIND.as_secs())]
    Behind {
        /// The requested instant.
        now: DateTime<Utc>,
        /// The clock's.
        clock: DateTime<Utc>,
    },
    /// Outside years 1970 to 9999, for any tick.
    #[error("{now} is outside the years 1970 to 9999")]
    OutOfRange {
        /// The requested instant.
        now: DateTime<Utc>,
    },
}

/// The one rule, for the Lambda and the CLI, on which `now` a tick accepts when `clock` is the
/// wall clock: any tick takes years 1970 to 9999 only (beyond, schedules run out of calendar);
/// a writing tick takes only the clock's instant or up to [`MAX_NOW_BEHIND`] behind it. Dry
/// runs and simulations take any instant in range (the caller checks that a simulation's
/// store is a test store).
pub fn check_now(now: DateTime<Utc>, clock: DateTime<Utc>, using: NowUse) -> Result<(), NowError> {
    use chrono::Datelike;
    if !(1970..=9999).contains(&now.year()) {
        return Err(NowError::OutOfRange { now });
    }
    if using != NowUse::Write {
        return Ok(());
    }
    if now > clock {
        return Err(NowError::Ahead { now, clock });
    }
    if clock.signed_duration_since(now) > chrono(MAX_NOW_BEHIND) {
        return Err(NowError::Behind { now, clock });
    }
    Ok(())
}

/// A tick that could not complete. Job failures are never tick errors; store failures are
/// (the platform retries the tick, and the claims make that safe).
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// The store failed.
    #[error("the store failed during the tick")]
    Store(#[from] StoreError),
}

#[derive(Default)]
struct Counters {
    due: AtomicU64,
    triggered: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    skipped: AtomicU64,
    missed: AtomicU64,
    retried: AtomicU64,
    reconciled: AtomicU64,
    deferred: AtomicU64,
}

impl Counters {
    fn add(&self, counter: &AtomicU64) {
        let _ = self;
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn outcome(&self, status: Status) {
        match status {
            Status::Succeeded => self.add(&self.succeeded),
            Status::Failed => self.add(&self.failed),
            Status::TimedOut => self.add(&self.timed_out),
            _ => {}
        }
    }
}

struct Ctx<'a> {
    store: &'a dyn Store,
    dispatcher: &'a dyn Dispatch,
    clock: &'a dyn Clock,
    config: &'a TickConfig,
    now: DateTime<Utc>,
    counters: Counters,
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn token() -> String {
    crate::model::random_uuid().hyphenated().to_string()
}

/// Slots a backlog is walked through one by one (each counted in `coalesced`); a longer
/// backlog is searched instead (see [`latest_due_slot`]).
const MAX_BACKLOG_WALK: u32 = 1_000;

/// The latest slot of `job` at or before `now`, from `first` (a due slot), and how many due
/// slots it stands for besides itself. A backlog longer than [`MAX_BACKLOG_WALK`] slots (the
/// scheduler was down for days, or a dry run looks years ahead) is not walked: the latest slot
/// is found by looking back from `now` over doubling windows, and the count is a lower bound.
fn latest_due_slot(job: &Job, first: DateTime<Utc>, now: DateTime<Utc>) -> (DateTime<Utc>, u32) {
    let mut latest = first;
    let mut coalesced = 0u32;
    while coalesced < MAX_BACKLOG_WALK {
        match job.slot_after(latest) {
            Some(s) if s <= now => {
                latest = s;
                coalesced += 1;
            }
            _ => return (latest, coalesced),
        }
    }
    // Look back from `now`: the first slot after `now - window` for windows of 1 minute, 2, 4...
    // until one is at or before `now`. At most ~32 doublings reach back to `latest`.
    let mut window = chrono::Duration::minutes(1);
    while now - window > latest {
        if let Some(s) = job
            .slot_after(now - window)
            .filter(|s| *s <= now && *s > latest)
        {
            latest = s;
            break;
        }
        window = window * 2;
    }
    for _ in 0..MAX_BACKLOG_WALK {
        match job.slot_after(latest) {
            Some(s) if s <= now => latest = s,
            _ => break,
        }
    }
    (latest, coalesced.saturating_add(1))
}

/// What the tick will do with a due job.
struct Plan {
    job: Job,
    execution: Execution,
}

/// Works out the execution a due job gets at `now`, and the job's state after it.
fn plan(job: &Job, now: DateTime<Utc>, config: &TickConfig) -> Option<Plan> {
    if !job.enabled {
        return None;
    }
    let mut next = job.clone();
    let (slot, trigger, attempt, coalesced) = match job.state.next_slot.filter(|s| *s <= now) {
        Some(first) => {
            // Coalesce a backlog: only the latest due slot runs; it stands for the others.
            let (latest, coalesced) = latest_due_slot(job, first, now);
            next.state.next_slot = job.slot_after(latest);
            // A newer slot supersedes a retry still waiting for an older one.
            next.state.retry = None;
            (latest, Trigger::Schedule, 1, coalesced)
        }
        None => {
            let retry = job.state.retry.clone().filter(|r| r.at <= now)?;
            next.state.retry = None;
            (retry.slot, retry.trigger, retry.attempt, 0)
        }
    };
    let id = ExecutionId::new(job.id.clone(), slot, trigger, attempt);
    let late = now.signed_duration_since(slot) > chrono(job.max_lateness());
    let busy = job.overlap == OverlapPolicy::Forbid
        && job.state.inflight.as_ref().is_some_and(|f| f.until > now);
    let status = if late && trigger == Trigger::Schedule && attempt == 1 {
        Status::Missed
    } else if busy {
        Status::Skipped
    } else {
        Status::Pending
    };
    let mut execution = new_execution(job, id.clone(), status, coalesced, now, config);
    match status {
        Status::Pending => {
            execution.due_at = Some(now + chrono(config.lease));
            next.state.inflight = Some(InFlight {
                execution: id,
                until: now + chrono(config.lease + job.timeout() + config.grace),
            });
        }
        Status::Missed => {
            execution.finished_at = Some(now);
            execution.error = Some(format!(
                "not called: the slot was {} late, more than the job's max lateness of {}",
                human(now.signed_duration_since(slot)),
                human(chrono(job.max_lateness())),
            ));
            next.state.last = Some(LastRun {
                execution: id,
                status,
                at: now,
            });
        }
        _ => {
            execution.finished_at = Some(now);
            execution.error = Some(
                "not called: the previous execution was still in flight and the job forbids overlap"
                    .to_owned(),
            );
            next.state.last = Some(LastRun {
                execution: id,
                status,
                at: now,
            });
        }
    }
    Some(Plan {
        job: next,
        execution,
    })
}

fn new_execution(
    job: &Job,
    id: ExecutionId,
    status: Status,
    coalesced: u32,
    now: DateTime<Utc>,
    config: &TickConfig,
) -> Execution {
    Execution {
        app: job.app.clone(),
        name: job.name.clone(),
        scheduled_for: id.slot(),
        attempt: id.attempt(),
        trigger: id.trigger(),
        id,
        status,
        http_status: None,
        output: None,
        error: None,
        created_at: now,
        started_at: None,
        finished_at: None,
        duration_ms: None,
        coalesced,
        url: job.url.clone(),
        method: job.method,
        timeout_ms: job.timeout_ms,
        retries: job.retries,
        key_hash: None,
        claimed_by: None,
        dispatched_by: None,
        guard_nonce: None,
        outcome_by: None,
        due_at: None,
        expires_at: now + chrono(config.retention),
    }
}

fn human(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl Ctx<'_> {
    /// Claims a due job's slot (retrying when only the job's bookkeeping moved), then sends it.
    async fn run_job(&self, job: Job) -> Result<(), StoreError> {
        let mut job = job;
        for _ in 0..4 {
            let Some(plan) = plan(&job, self.now, self.config) else {
                return Ok(());
            };
            if self.config.dry_run {
                self.counters.add(&self.counters.due);
                match plan.execution.status {
                    Status::Skipped => self.counters.add(&self.counters.skipped),
                    Status::Missed => self.counters.add(&self.counters.missed),
                    _ => self.counters.add(&self.counters.triggered),
                }
                return Ok(());
            }
            if plan.execution.status == Status::Pending && !self.fits(job.timeout()) {
                self.counters.add(&self.counters.deferred);
                return Ok(());
            }
            let claim_token = token();
            let expected_version = job.state.version;
            let mut new_job = plan.job;
            new_job.state.version = expected_version + 1;
            new_job.state.writer = Some(claim_token.clone());
            let mut execution = plan.execution;
            execution.claimed_by = Some(claim_token.clone());
            let claim = Claim {
                job: new_job,
                expected_version,
                execution,
                token: claim_token,
            };
            match self.store.claim(&claim).await? {
                ClaimOutcome::Won => {
                    self.counters.add(&self.counters.due);
                    match claim.execution.status {
                        Status::Skipped => self.counters.add(&self.counters.skipped),
                        Status::Missed => self.counters.add(&self.counters.missed),
                        _ => return self.send(claim.execution, Some(claim.job)).await,
                    }
                    return Ok(());
                }
                ClaimOutcome::Lost => {
                    // Someone wrote the job since we read it. If they claimed this slot, the
                    // fresh plan no longer has it; otherwise (say, a finished execution's
                    // bookkeeping), try again from the fresh state.
                    match self.store.get_job(&job.app, &job.name).await? {
                        Some(fresh) if fresh.id == job.id => job = fresh,
                        _ => return Ok(()),
                    }
                }
            }
        }
        tracing::warn!(app = %job.app, name = %job.name, "gave up claiming after repeated conflicts; the next tick will try again");
        Ok(())
    }

    /// Sends a claimed execution, records its outcome and the job's bookkeeping.
    async fn send(&self, execution: Execution, job: Option<Job>) -> Result<(), StoreError> {
        let send_token = token();
        let key = dispatch::new_key();
        let started = self.clock.now();
        let deadline = started + chrono(execution.timeout() + self.config.grace);
        let marked = self
            .store
            .mark_dispatched(
                &execution.id,
                &send_token,
                &dispatch::key_hash(&key),
                started,
                deadline,
            )
            .await?;
        if !marked {
            return Ok(());
        }
        self.counters.add(&self.counters.triggered);
        let job_label = format!("{}/{}", execution.app, execution.name);
        let result = self
            .dispatcher
            .call(&CallRequest {
                url: execution.url.as_str(),
                method: execution.method,
                timeout: execution.timeout(),
                execution: &execution.id,
                key: &key,
                job: &job_label,
                scheduled_for: execution.scheduled_for,
                attempt: execution.attempt,
            })
            .await;
        drop(key);
        let outcome = Outcome {
            status: result.status,
            http_status: result.http_status,
            output: result.output.map(|o| cap_text(o, MAX_OUTPUT_TEXT)),
            error: result.error.map(|e| cap_text(e, MAX_ERROR_TEXT)),
            finished_at: self.clock.now(),
            duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
        };
        tracing::info!(
            execution = %execution.id,
            job = %job_label,
            status = %outcome.status,
            http_status = ?outcome.http_status,
            duration_ms = outcome.duration_ms,
            "call finished"
        );
        let recorded = self
            .store
            .record_outcome(&execution.id, &send_token, &outcome)
            .await?;
        let (final_status, may_retry) = match recorded {
            Recorded::Recorded => (Some(outcome.status), true),
            // The app's guard claimed it: the work may have been done, so never retry.
            Recorded::GuardOwned(status) => (Some(status).filter(|s| s.is_final()), false),
            Recorded::NotOurs => (None, false),
        };
        if let Some(status) = final_status {
            self.counters.outcome(status);
        }
        self.finish(&execution, job, final_status, may_retry).await
    }

    /// Updates the job after an execution ended: clears the in-flight marker, records the
    /// last run, and schedules a retry when one is due.
    async fn finish(
        &self,
        execution: &Execution,
        job: Option<Job>,
        status: Option<Status>,
        may_retry: bool,
    ) -> Result<(), StoreError> {
        let retry_wanted = may_retry
            && matches!(status, Some(Status::Failed | Status::TimedOut))
            && execution.attempt <= execution.retries;
        let mut job = match job {
            Some(job) => job,
            None => match self.store.get_job(&execution.app, &execution.name).await? {
                Some(job) => job,
                None => return Ok(()),
            },
        };
        let mut retried = false;
        for _ in 0..5 {
            if &job.id != execution.id.job_id() {
                return Ok(()); // Deleted, or deleted and created again: not this job's history.
            }
            let mut next = job.clone();
            if next
                .state
                .inflight
                .as_ref()
                .is_some_and(|f| f.execution == execution.id)
            {
                next.state.inflight = None;
            }
            if let Some(status) = status {
                next.state.last = Some(LastRun {
                    execution: execution.id.clone(),
                    status,
                    at: self.clock.now(),
                });
            }
            retried = false;
            if retry_wanted && job.enabled {
                let factor = 2u32.saturating_pow(execution.attempt.saturating_sub(1));
                let at = self.now + chrono(self.config.retry_backoff.saturating_mul(factor));
                let superseded = next
                    .state
                    .next_slot
                    .is_some_and(|s| s <= at && s > execution.scheduled_for)
                    && execution.trigger == Trigger::Schedule;
                if !superseded {
                    next.state.retry = Some(PendingRetry {
                        slot: execution.scheduled_for,
                        attempt: execution.attempt + 1,
                        trigger: execution.trigger,
                        at,
                    });
                    retried = true;
                }
            }
            if next == job {
                return Ok(());
            }
            let expected = job.state.version;
            next.state.version = expected + 1;
            next.state.writer = Some(token());
            if self.store.put_job(&next, expected).await? {
                if retried {
                    self.counters.add(&self.counters.retried);
                }
                return Ok(());
            }
            match self.store.get_job(&execution.app, &execution.name).await? {
                Some(fresh) => job = fresh,
                None => return Ok(()),
            }
        }
        tracing::warn!(execution = %execution.id, retried, "could not update the job after its execution (repeated conflicts)");
        Ok(())
    }

    /// True when a call of `timeout` and the recording of its outcome fit before the deadline.
    fn fits(&self, timeout: Duration) -> bool {
        self.config
            .deadline
            .is_none_or(|d| Instant::now() + timeout + self.config.deadline_margin <= d)
    }

    /// An execution the index returned: a claim never sent, or a call with no outcome.
    async fn run_execution(&self, execution: Execution) -> Result<(), StoreError> {
        let orphan = execution.status == Status::Pending && execution.dispatched_by.is_none();
        if self.config.dry_run {
            let counter = if orphan {
                &self.counters.triggered
            } else {
                &self.counters.reconciled
            };
            self.counters.add(counter);
            return Ok(());
        }
        if orphan && !self.fits(execution.timeout()) {
            self.counters.add(&self.counters.deferred);
            return Ok(());
        }
        if orphan {
            // Claimed by a tick that stopped before sending it: send it now, if the job
            // still exists as it was.
            match self.store.get_job(&execution.app, &execution.name).await? {
                Some(job) if &job.id == execution.id.job_id() && job.enabled => {
                    self.counters.add(&self.counters.due);
                    return self.send(execution, Some(job)).await;
                }
                _ => {
                    if self
                        .store
                        .reconcile(
                            &execution,
                            "not called: the job was deleted or paused before the call was sent",
                            self.now,
                        )
                        .await?
                    {
                        self.counters.add(&self.counters.reconciled);
                    }
                    return Ok(());
                }
            }
        }
        let error = match execution.status {
            Status::Running => {
                "no outcome was recorded: the job started (its guard claimed it) but never reported its end before the timeout plus grace"
            }
            _ => {
                "no outcome was recorded before the timeout plus grace: the tick that sent the call may have crashed, so whether the job ran is unknown"
            }
        };
        if self.store.reconcile(&execution, error, self.now).await? {
            self.counters.add(&self.counters.reconciled);
            // A pending execution was never claimed by the app: retrying is safe when the
            // job asked for retries. One the guard claimed may have done its work.
            let may_retry = execution.status == Status::Pending;
            self.finish(&execution, None, Some(Status::TimedOut), may_retry)
                .await?;
        }
        Ok(())
    }
}

/// Why a manual run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RunNowError {
    /// No such job.
    #[error("no job named {0}/{1}")]
    NotFound(crate::model::AppName, crate::model::JobName),
    /// Another run of this job was created in the same second, or the job kept changing.
    #[error(
        "the job {0}/{1} changed while starting the run (or was run in the same second); try again"
    )]
    Conflict(crate::model::AppName, crate::model::JobName),
    /// The store failed.
    #[error("the store failed while running the job")]
    Store(#[from] StoreError),
}

/// Runs a job now, whatever its schedule (trigger `manual`), and waits for the outcome.
/// The run is claimed like a slot (the execution id holds the current second), so it is
/// sent once; the job's own slots are unaffected. Returns the recorded execution.
pub async fn run_now(
    store: &dyn Store,
    dispatcher: &dyn Dispatch,
    clock: &dyn Clock,
    config: &TickConfig,
    app: &crate::model::AppName,
    name: &crate::model::JobName,
) -> Result<Execution, RunNowError> {
    use chrono::Timelike;
    let now = clock.now();
    let slot = now.with_nanosecond(0).unwrap_or(now);
    let ctx = Ctx {
        store,
        dispatcher,
        clock,
        config,
        now,
        counters: Counters::default(),
    };
    for _ in 0..4 {
        let Some(job) = store.get_job(app, name).await? else {
            return Err(RunNowError::NotFound(app.clone(), name.clone()));
        };
        let id = ExecutionId::new(job.id.clone(), slot, Trigger::Manual, 1);
        let claim_token = token();
        let mut execution = new_execution(&job, id.clone(), Status::Pending, 0, now, config);
        execution.claimed_by = Some(claim_token.clone());
        execution.due_at = Some(now + chrono(config.lease));
        let mut next = job.clone();
        next.state.inflight = Some(InFlight {
            execution: id.clone(),
            until: now + chrono(config.lease + job.timeout() + config.grace),
        });
        next.state.version = job.state.version + 1;
        next.state.writer = Some(claim_token.clone());
        let claim = Claim {
            job: next,
            expected_version: job.state.version,
            execution,
            token: claim_token,
        };
        if store.claim(&claim).await? == ClaimOutcome::Won {
            ctx.send(claim.execution, Some(claim.job)).await?;
            return match store.get_execution(&id).await? {
                Some(execution) => Ok(execution),
                None => Err(RunNowError::Conflict(app.clone(), name.clone())),
            };
        }
        if store.get_execution(&id).await?.is_some() {
            return Err(RunNowError::Conflict(app.clone(), name.clone()));
        }
    }
    Err(RunNowError::Conflict(app.clone(), name.clone()))
}

/// Runs one tick at the clock's current instant.
pub async fn tick(
    store: &dyn Store,
    dispatcher: &dyn Dispatch,
    clock: &dyn Clock,
    config: &TickConfig,
) -> Result<TickSummary, TickError> {
    let started = Instant::now();
    let now = clock.now();
    let ctx = Ctx {
        store,
        dispatcher,
        clock,
        config,
        now,
        counters: Counters::default(),
    };
    let items = store.due(now).await?;
    let results: Vec<Result<(), StoreError>> = futures::stream::iter(items)
        .map(|item| {
            let ctx = &ctx;
            async move {
                match item {
                    DueItem::Job(job) => ctx.run_job(*job).await,
                    DueItem::Execution(execution) => ctx.run_execution(*execution).await,
                }
            }
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect()
        .await;
    let mut first_error = None;
    for result in results {
        if let Err(e) = result {
            tracing::error!(error = %e, "store failure during the tick");
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(TickError::Store(e));
    }
    let c = &ctx.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Ok(TickSummary {
        now,
        due: get(&c.due),
        triggered: get(&c.triggered),
        succeeded: get(&c.succeeded),
        failed: get(&c.failed),
        timed_out: get(&c.timed_out),
        skipped: get(&c.skipped),
        missed: get(&c.missed),
        retried: get(&c.retried),
        reconciled: get(&c.reconciled),
        deferred: get(&c.deferred),
        dry_run: config.dry_run,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use chrono::TimeZone;

    use super::*;
    use crate::clock::FixedClock;
    use crate::dispatch::{CallResult, Dispatch};
    use crate::model::{AppName, JobName, JobUrl, NewJob};
    use crate::store::memory::MemoryStore;

    /// Records calls; answers with `status`, after waiting for `gate` if one is set.
    #[derive(Default)]
    struct FakeDispatch {
        calls: Mutex<Vec<(String, u32)>>,
        status: Mutex<Option<Status>>,
        gate: Mutex<Option<Arc<tokio::sync::Notify>>>,
    }

    #[async_trait]
    impl Dispatch for FakeDispatch {
        async fn call(&self, request: &CallRequest<'_>) -> dispatch::CallResult {
            self.calls
                .lock()
                .expect("calls")
                .push((request.execution.to_string(), request.attempt));
            let gate = self.gate.lock().expect("gate").clone();
            if let Some(gate) = gate {
                gate.notified().await;
            }
            let status = self
                .status
                .lock()
                .expect("status")
                .unwrap_or(Status::Succeeded);
            CallResult {
                status,
                http_status: Some(if status == Status::Succeeded {
                    200
                } else {
                    500
                }),
                output: Some("out".into()),
                error: None,
                duration: Duration::from_millis(1),
            }
        }
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, h, m, 0)
            .single()
            .expect("valid")
    }

    fn job(schedule: &str, now: DateTime<Utc>) -> Job {
        NewJob::new(
            AppName::parse("app").expect("app"),
            JobName::parse("job").expect("name"),
            JobUrl::parse("http://127.0.0.1:1/job").expect("url"),
            schedule.parse().expect("schedule"),
        )
        .build(now)
        .expect("job")
    }

    #[tokio::test]
    async fn a_slot_due_while_the_previous_call_is_in_flight_is_skipped() {
        let store = Arc::new(MemoryStore::new());
        let j = job("* * * * *", at(9, 59) + chrono::Duration::seconds(30));
        store.create_job(&j).await.expect("create");
        let dispatch = Arc::new(FakeDispatch::default());
        let gate = Arc::new(tokio::sync::Notify::new());
        *dispatch.gate.lock().expect("gate") = Some(gate.clone());
        let config = TickConfig::default();

        let first = {
            let (store, dispatch, config) = (store.clone(), dispatch.clone(), config.clone());
            tokio::spawn(async move {
                let clock = FixedClock::new(at(10, 0));
                tick(store.as_ref(), dispatch.as_ref(), &clock, &config).await
            })
        };
        while dispatch.calls.lock().expect("calls").is_empty() {
            tokio::task::yield_now().await;
        }
        let second = tick(
            store.as_ref(),
            dispatch.as_ref(),
            &FixedClock::new(at(10, 1)),
            &config,
        )
        .await
        .expect("tick");
        assert_eq!((second.triggered, second.skipped), (0, 1));
        *dispatch.gate.lock().expect("gate") = None;
        gate.notify_one();
        let first = first.await.expect("join").expect("tick");
        assert_eq!((first.triggered, first.succeeded), (1, 1));
        let third = tick(
            store.as_ref(),
            dispatch.as_ref(),
            &FixedClock::new(at(10, 2)),
            &config,
        )
        .await
        .expect("tick");
        assert_eq!(third.triggered, 1, "the in-flight marker was cleared");
        let statuses: Vec<Status> = store
            .list_executions(&j.id, 10)
            .await
            .expect("history")
            .iter()
            .map(|e| e.status)
            .collect();
        assert_eq!(
            statuses,
            vec![Status::Succeeded, Status::Skipped, Status::Succeeded]
        );
    }

    #[tokio::test]
    async fn a_claim_whose_tick_died_before_sending_is_sent_once_by_a_later_tick() {
        let store = MemoryStore::new();
        let j = job("0 10 * * *", at(9, 0));
        store.create_job(&j).await.expect("create");
        let config = TickConfig::default();
        // Claim as a tick would, then "crash" before sending.
        let plan = plan(&j, at(10, 0), &config).expect("due");
        let mut claimed_job = plan.job;
        claimed_job.state.version = 1;
        claimed_job.state.writer = Some("dead-tick".into());
        let mut execution = plan.execution;
        execution.claimed_by = Some("dead-tick".into());
        let claim = Claim {
            job: claimed_job,
            expected_version: 0,
            execution,
            token: "dead-tick".into(),
        };
        assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
        assert_eq!(
            store.claim(&claim).await.expect("retried claim"),
            ClaimOutcome::Won,
            "a retried claim recognises itself"
        );

        let dispatch = FakeDispatch::default();
        let early = tick(
            &store,
            &dispatch,
            &FixedClock::new(at(10, 0) + chrono::Duration::seconds(30)),
            &config,
        )
        .await
        .expect("tick");
        assert_eq!(early.triggered, 0, "the lease has not expired");
        let late = tick(&store, &dispatch, &FixedClock::new(at(10, 1)), &config)
            .await
            .expect("tick");
        assert_eq!((late.triggered, late.succeeded), (1, 1));
        let again = tick(&store, &dispatch, &FixedClock::new(at(10, 5)), &config)
            .await
            .expect("tick");
        assert_eq!(again.triggered, 0);
        assert_eq!(dispatch.calls.lock().expect("calls").len(), 1);
    }

    #[tokio::test]
    async fn a_call_with_no_recorded_outcome_is_reconciled_and_retried_when_allowed() {
        let store = MemoryStore::new();
        let mut j = job("0 10 * * *", at(9, 0));
        j.retries = 1;
        store.create_job(&j).await.expect("create");
        let config = TickConfig::default();
        let plan = plan(&j, at(10, 0), &config).expect("due");
        let mut claimed_job = plan.job;
        claimed_job.state.version = 1;
        claimed_job.state.writer = Some("t".into());
        let mut execution = plan.execution;
        execution.claimed_by = Some("t".into());
        let id = execution.id.clone();
        let claim = Claim {
            job: claimed_job,
            expected_version: 0,
            execution,
            token: "t".into(),
        };
        store.claim(&claim).await.expect("claim");
        // Sent, then the tick died: no outcome.
        let deadline = at(10, 0) + chrono::Duration::seconds(90);
        assert!(
            store
                .mark_dispatched(&id, "t", "hash", at(10, 0), deadline)
                .await
                .expect("mark")
        );

        let dispatch = FakeDispatch::default();
        let before = tick(&store, &dispatch, &FixedClock::new(at(10, 1)), &config)
            .await
            .expect("tick");
        assert_eq!(before.reconciled, 0);
        let after = tick(&store, &dispatch, &FixedClock::new(at(10, 2)), &config)
            .await
            .expect("tick");
        assert_eq!((after.reconciled, after.retried), (1, 1));
        let e = store
            .get_execution(&id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(e.status, Status::TimedOut);
        assert!(
            e.error
                .as_deref()
                .is_some_and(|m| m.contains("no outcome was recorded"))
        );
        let retry = tick(&store, &dispatch, &FixedClock::new(at(10, 3)), &config)
            .await
            .expect("tick");
        assert_eq!(retry.triggered, 1);
        assert_eq!(
            dispatch.calls.lock().expect("calls")[0].1,
            2,
            "the retry is attempt 2"
        );
    }

    #[tokio::test]
    async fn a_paused_job_is_never_due_and_an_ended_job_leaves_the_index() {
        let store = MemoryStore::new();
        let mut paused = job("* * * * *", at(9, 0));
        paused.enabled = false;
        store.create_job(&paused).await.expect("create");
        let mut ending = job("*/30 * * * *", at(9, 0));
        ending.name = JobName::parse("ending").expect("name");
        ending.end = Some(at(10, 0));
        store.create_job(&ending).await.expect("create");
        let dispatch = FakeDispatch::default();
        let config = TickConfig::default();
        for (h, m) in [(9, 30), (10, 0), (10, 30), (11, 0)] {
            tick(&store, &dispatch, &FixedClock::new(at(h, m)), &config)
                .await
                .expect("tick");
        }
        assert_eq!(
            dispatch.calls.lock().expect("calls").len(),
            2,
            "09:30 and 10:00 only"
        );
        let ended = store
            .get_job(&ending.app, &ending.name)
            .await
            .expect("get")
            .expect("job");
        assert_eq!(ended.due_at(), None);
    }

    #[tokio::test]
    async fn a_dry_run_reports_what_would_run_and_writes_nothing() {
        let store = MemoryStore::new();
        let j = job("0 10 * * *", at(9, 0));
        store.create_job(&j).await.expect("create");
        let dispatch = FakeDispatch::default();
        let config = TickConfig {
            dry_run: true,
            ..TickConfig::default()
        };
        let summary = tick(&store, &dispatch, &FixedClock::new(at(10, 0)), &config)
            .await
            .expect("tick");
        assert_eq!(
            (summary.due, summary.triggered, summary.dry_run),
            (1, 1, true)
        );
        assert!(dispatch.calls.lock().expect("calls").is_empty());
        assert_eq!(
            store.get_job(&j.app, &j.name).await.expect("get"),
            Some(j.clone())
        );
        assert!(
            store
                .list_executions(&j.id, 10)
                .await
                .expect("history")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_slot_whose_call_would_outlast_the_deadline_is_left_for_the_next_tick() {
        let store = MemoryStore::new();
        let j = job("0 10 * * *", at(9, 0));
        store.create_job(&j).await.expect("create");
        let dispatch = FakeDispatch::default();
        let tight = TickConfig {
            deadline: Some(Instant::now() + Duration::from_secs(20)),
            ..TickConfig::default()
        };
        let summary = tick(&store, &dispatch, &FixedClock::new(at(10, 0)), &tight)
            .await
            .expect("tick");
        assert_eq!(
            (summary.triggered, summary.deferred),
            (0, 1),
            "30 s timeout + 5 s margin > 20 s left"
        );
        assert!(
            store
                .list_executions(&j.id, 10)
                .await
                .expect("history")
                .is_empty(),
            "nothing claimed"
        );
        let roomy = TickConfig {
            deadline: Some(Instant::now() + Duration::from_secs(300)),
            ..TickConfig::default()
        };
        let summary = tick(&store, &dispatch, &FixedClock::new(at(10, 1)), &roomy)
            .await
            .expect("tick");
        assert_eq!((summary.triggered, summary.deferred), (1, 0));
    }
}
