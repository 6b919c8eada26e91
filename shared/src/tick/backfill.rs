//! Backfill (`psu-sched backfill`): the slots of a past window that have no successful run,
//! each called as the slot's next scheduled attempt, claimed by the same conditional write as
//! any attempt, so that a live tick's retry and a backfill (or two backfills) racing for one
//! slot call it once. A backfilled call never becomes the job's last run, retry or in-flight
//! marker (`Execution::backfill`; `Ctx::finish` leaves the job alone for it).

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::markers::tracks_calls;
use super::plan::new_execution;
use super::{Counters, Ctx, TickConfig, chrono, token};
use crate::clock::Clock;
use crate::dispatch::Dispatch;
use crate::model::{
    App, DEFAULT_APP_BUDGET, Execution, ExecutionId, Job, OverlapPolicy, Status, Trigger,
};
use crate::store::{Claim, ClaimOutcome, Store, StoreError, rules};

/// The most slots one backfill looks at: a window of more is refused (narrow it).
pub const MAX_BACKFILL_SLOTS: usize = 1_440;

/// The error text of an app pause's skipped slots begins with this (`Status::Skipped`).
pub const APP_PAUSED_PREFIX: &str = "not called: app paused";

/// What a backfill is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first instant of the window (a slot at it is in).
    pub from: DateTime<Utc>,
    /// The last instant (a slot at it is in).
    pub to: DateTime<Utc>,
    /// Also call slots whose latest attempt timed out (the app may have done the work).
    pub timed_out: bool,
    /// Also call slots that came due while the job or its app was paused.
    pub paused: bool,
}

/// Whether a slot of the window is called, and why (not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Called as this attempt: its latest attempt failed, was missed or skipped, or it never
    /// got an execution.
    Call {
        /// The attempt it is called as.
        attempt: u32,
    },
    /// An attempt succeeded.
    Succeeded,
    /// An attempt is still in flight.
    InFlight,
    /// The live schedule has a retry of it scheduled.
    RetryScheduled,
    /// The live schedule has not reached it yet (the next tick takes it).
    NotYetDue,
    /// Its latest attempt timed out: called only with the flag.
    TimedOut,
    /// It came due while the job or its app was paused: called only with the flag.
    Paused,
    /// It would be called as this attempt, but the app is paused now: a backfill leaves
    /// every slot until the app is resumed.
    AppPaused {
        /// The attempt it would be called as.
        attempt: u32,
    },
    /// Before the job existed.
    BeforeJob,
}

impl Verdict {
    /// Machine-readable, for `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Call { .. } => "call",
            Verdict::Succeeded => "succeeded",
            Verdict::InFlight => "in_flight",
            Verdict::RetryScheduled => "retry_scheduled",
            Verdict::NotYetDue => "not_yet_due",
            Verdict::TimedOut => "timed_out",
            Verdict::Paused => "paused",
            Verdict::AppPaused { .. } => "app_paused",
            Verdict::BeforeJob => "before_job",
        }
    }
}

/// One slot of the window in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotPlan {
    /// The slot.
    pub slot: DateTime<Utc>,
    /// Its scheduled attempts so far, and the latest one's status.
    pub attempts: u32,
    /// The latest attempt's status, if any.
    pub latest: Option<Status>,
    /// Called or not, and why.
    pub verdict: Verdict,
}

impl SlotPlan {
    /// Why the slot is (not) called, in words.
    pub fn reason(&self) -> String {
        let latest = self.latest.map_or("no execution".to_owned(), |s| {
            format!("attempt {} {}", self.attempts, s.as_str())
        });
        match self.verdict {
            Verdict::Call { attempt } => format!("called as attempt {attempt}: {latest}"),
            Verdict::Succeeded => "not called: it succeeded".to_owned(),
            Verdict::InFlight => format!("not called: {latest}, still in flight"),
            Verdict::RetryScheduled => {
                "not called: the live schedule retries it (a retry is scheduled)".to_owned()
            }
            Verdict::NotYetDue => {
                "not called: the live schedule has not reached it yet (the next tick calls the latest slot due and passes over the earlier ones: backfill them after it)"
                    .to_owned()
            }
            Verdict::TimedOut => format!(
                "not called: {latest} (the app may have done the work; --include-timed-out calls it)"
            ),
            Verdict::Paused => {
                "not called: it came due while the job or its app was paused (--include-paused calls it)"
                    .to_owned()
            }
            Verdict::AppPaused { attempt } => format!(
                "not called: the app is paused (resume it: psu-sched app resume, then backfill again to call it as attempt {attempt}): {latest}"
            ),
            Verdict::BeforeJob => "not called: before the job existed".to_owned(),
        }
    }
}

impl fmt::Display for SlotPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.slot.to_rfc3339(), self.reason())
    }
}

/// Why a backfill could not plan.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// More slots than [`MAX_BACKFILL_SLOTS`].
    #[error("the window holds more than {MAX_BACKFILL_SLOTS} slots of the job; narrow it")]
    TooManySlots,
}

/// The plan: every slot of the window, oldest first, from the job, its app's record (its
/// pauses) and the job's executions of the window (any order; manual runs are left out).
pub fn plan_window(
    job: &Job,
    app: Option<&App>,
    executions: &[Execution],
    window: &Window,
) -> Result<Vec<SlotPlan>, PlanError> {
    let paused_at = |slot| paused_at(job, slot) || app.is_some_and(|a| a.paused_at(slot));
    let app_paused = app.is_some_and(|a| a.paused.is_some());
    let mut by_slot: HashMap<DateTime<Utc>, Vec<&Execution>> = HashMap::new();
    for e in executions
        .iter()
        .filter(|e| e.trigger == Trigger::Schedule && e.id.job_id() == &job.id)
    {
        by_slot.entry(e.scheduled_for).or_default().push(e);
    }
    let in_flight: HashSet<&ExecutionId> =
        job.state.inflight.iter().map(|f| &f.execution).collect();
    let mut plans = Vec::new();
    for slot in window_slots(job, &by_slot, window)? {
        let attempts = by_slot.get(&slot).map(Vec::as_slice).unwrap_or_default();
        let latest = attempts.iter().max_by_key(|e| e.attempt);
        let count = latest.map_or(0, |e| e.attempt);
        let paused_skip = latest.is_some_and(|e| {
            e.status == Status::Skipped
                && e.error
                    .as_deref()
                    .is_some_and(|t| t.starts_with(APP_PAUSED_PREFIX))
        });
        let verdict = if slot < job.created_at {
            Verdict::BeforeJob
        } else if attempts.iter().any(|e| e.status == Status::Succeeded) {
            Verdict::Succeeded
        } else if attempts
            .iter()
            .any(|e| !e.status.is_final() || in_flight.contains(&e.id))
        {
            Verdict::InFlight
        } else if job
            .state
            .retry
            .as_ref()
            .is_some_and(|r| r.slot == slot && r.trigger == Trigger::Schedule)
        {
            Verdict::RetryScheduled
        } else if (paused_skip || (latest.is_none() && paused_at(slot))) && !window.paused {
            Verdict::Paused
        } else if latest.is_none() && paused_at(slot) {
            // A paused job's slot, asked for: nothing else will call it.
            Verdict::Call { attempt: 1 }
        } else if job.state.next_slot.is_some_and(|next| slot >= next) && latest.is_none() {
            Verdict::NotYetDue
        } else if latest.is_some_and(|e| e.status == Status::TimedOut) && !window.timed_out {
            Verdict::TimedOut
        } else {
            Verdict::Call { attempt: count + 1 }
        };
        let verdict = match verdict {
            Verdict::Call { attempt } if app_paused => Verdict::AppPaused { attempt },
            other => other,
        };
        plans.push(SlotPlan {
            slot,
            attempts: count,
            latest: latest.map(|e| e.status),
            verdict,
        });
    }
    Ok(plans)
}

/// The slots of the window, oldest first: those of the job's current timing after it last
/// changed ([`crate::model::JobPast::timing_since`]), and before that the slots of the timing
/// of the time that have an execution recorded (a slot the scheduler never reached then
/// cannot be known: the job keeps no earlier schedule).
fn window_slots(
    job: &Job,
    recorded: &HashMap<DateTime<Utc>, Vec<&Execution>>,
    window: &Window,
) -> Result<Vec<DateTime<Utc>>, PlanError> {
    let since = job.past.timing_since;
    let mut slots: Vec<DateTime<Utc>> = recorded
        .keys()
        .copied()
        .filter(|s| since.is_some_and(|since| *s < since))
        .filter(|s| window.from <= *s && *s <= window.to)
        .collect();
    slots.sort_unstable();
    // A slot at the change itself is the current timing's only if it came after it (a
    // change computes the next slot after its instant).
    let mut after =
        since.map_or(window.from, |since| since.max(window.from)) - chrono::Duration::seconds(1);
    while let Some(slot) = job.slot_after(after) {
        if slot > window.to {
            break;
        }
        after = slot;
        if slot < window.from || since.is_some_and(|since| slot <= since) {
            continue;
        }
        if slots.len() == MAX_BACKFILL_SLOTS {
            return Err(PlanError::TooManySlots);
        }
        slots.push(slot);
    }
    if slots.len() > MAX_BACKFILL_SLOTS {
        return Err(PlanError::TooManySlots);
    }
    Ok(slots)
}

/// True when the job was paused at `at`: in one of its pauses that ended, or in the current
/// one (for a job paused before its pauses were kept, since its last change).
fn paused_at(job: &Job, at: DateTime<Utc>) -> bool {
    job.past
        .paused_at(at, (!job.enabled).then_some(job.updated_at))
}

/// How a called slot ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Called {
    /// Called: the execution as recorded.
    Ran(Box<Execution>),
    /// Another run (a live retry, another backfill) took this attempt first: not called here.
    Taken,
    /// Left for a later backfill: the job's live call is in flight and it forbids overlap,
    /// or the job kept changing.
    Left(&'static str),
}

/// Calls every [`Verdict::Call`] slot of `plans`, oldest first: each claimed (sequentially:
/// every claim is conditional on the job's version) and sent, up to the app's call budget at
/// once (one at a time, and none while its live call is in flight, for a job that forbids
/// overlap). Returns each called slot's result, in the plan's order.
pub async fn call_slots(
    store: &dyn Store,
    dispatcher: &dyn Dispatch,
    clock: &dyn Clock,
    config: &TickConfig,
    job: &Job,
    plans: &[SlotPlan],
) -> Result<Vec<(DateTime<Utc>, Called)>, StoreError> {
    let meta = store.table_meta().await?;
    rules::check_table_format(meta.format)?;
    let mut apps = HashMap::new();
    if let Some(record) = store.get_app(&job.app).await? {
        apps.insert(record.name.clone(), record);
    }
    let forbid = job.overlap == OverlapPolicy::Forbid;
    let budget = if forbid {
        1
    } else {
        apps.get(&job.app)
            .map_or(DEFAULT_APP_BUDGET, |a| a.budget)
            .max(1) as usize
    };
    let ctx = Ctx {
        store,
        dispatcher,
        clock,
        config,
        now: clock.now(),
        apps,
        apps_read: true,
        notices: Default::default(),
        counters: Counters::default(),
        tracks: tracks_calls(meta.format),
        indexed: HashSet::new(),
    };
    let mut results: Vec<(DateTime<Utc>, Called)> = Vec::new();
    let mut sending = FuturesUnordered::new();
    let mut job = job.clone();
    // A paused app's jobs are not called, by the live schedule, `run` or a backfill.
    let app_paused = ctx.apps.get(&job.app).is_some_and(|a| a.paused.is_some());
    for plan in plans {
        let attempt = match plan.verdict {
            Verdict::Call { attempt } => attempt,
            Verdict::AppPaused { .. } => 0,
            _ => continue,
        };
        if app_paused || attempt == 0 {
            results.push((
                plan.slot,
                Called::Left(
                    "the app is paused: resume it (psu-sched app resume), then backfill again",
                ),
            ));
            continue;
        }
        while sending.len() >= budget {
            if let Some(done) = sending.next().await {
                results.push(done?);
            }
        }
        let id = ExecutionId::new(job.id.clone(), plan.slot, Trigger::Schedule, attempt);
        let claimed = ctx.claim_backfill(&mut job, id, forbid).await?;
        match claimed {
            Ok(execution) => {
                let ctx = &ctx;
                let job = job.clone();
                sending.push(async move {
                    let id = execution.id.clone();
                    let lease = job.state.backfill_until;
                    ctx.send(execution, Some(job.clone())).await?;
                    if lease.is_some() {
                        ctx.end_backfill_lease(&job, lease).await?;
                    }
                    let recorded = ctx.store.get_execution(&id).await?;
                    let called = match recorded {
                        Some(e) => Called::Ran(Box::new(e)),
                        None => Called::Left("the execution was deleted meanwhile"),
                    };
                    Ok::<_, StoreError>((id.slot(), called))
                });
            }
            Err(called) => results.push((plan.slot, called)),
        }
    }
    while let Some(done) = sending.next().await {
        results.push(done?);
    }
    let order: HashMap<DateTime<Utc>, usize> =
        plans.iter().enumerate().map(|(i, p)| (p.slot, i)).collect();
    results.sort_by_key(|(slot, _)| order.get(slot).copied().unwrap_or(usize::MAX));
    Ok(results)
}

impl Ctx<'_> {
    /// Clears the job's backfill lease `lease` once its call ended (a write conditional on
    /// the version read, read again after a lost race); a lease taken since is left.
    async fn end_backfill_lease(
        &self,
        job: &Job,
        lease: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut current = job.clone();
        for _ in 0..5 {
            if current.state.backfill_until != lease || current.id != job.id {
                return Ok(());
            }
            let mut next = current.clone();
            next.state.backfill_until = None;
            next.state.version = current.state.version + 1;
            next.state.writer = Some(token());
            if self.store.put_job(&next, current.state.version).await? {
                return Ok(());
            }
            match self.store.get_job(&job.app, &job.name).await? {
                Some(fresh) => current = fresh,
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Claims attempt `id` of a past slot for a backfill: the job written back as read (its
    /// version one more, nothing else), the execution created only if its id is free, in one
    /// conditional write. `job` is the job as last read or written. `Err`: not called here.
    async fn claim_backfill(
        &self,
        job: &mut Job,
        id: ExecutionId,
        forbid: bool,
    ) -> Result<Result<Execution, Called>, StoreError> {
        if forbid {
            // The job as it is now: this backfill's own previous call has ended and cleared its
            // lease since the copy in hand was written.
            match self.store.get_job(&job.app, &job.name).await? {
                Some(fresh) if fresh.id == job.id => *job = fresh,
                _ => return Ok(Err(Called::Left("the job was deleted meanwhile"))),
            }
        }
        for _ in 0..4 {
            if forbid
                && (job.state.busy_at(self.now) || job.state.inflight.iter().any(|f| f.tracks()))
            {
                return Ok(Err(Called::Left(
                    "the job forbids overlap and a call of it is in flight (live, or another backfill's): backfill again later",
                )));
            }
            let claim_token = token();
            let mut execution =
                new_execution(job, id.clone(), Status::Pending, 0, self.now, self.config);
            execution.backfill = true;
            execution.offset_ms =
                u64::try_from(job.offset_of(id.slot()).num_milliseconds()).unwrap_or(0);
            execution.claimed_by = Some(claim_token.clone());
            execution.due_at = Some(self.now + chrono(self.config.lease));
            if let Some(Ok(url)) = self.target(job) {
                execution.url = url;
            }
            let mut next = job.clone();
            next.state.version = job.state.version + 1;
            next.state.writer = Some(claim_token.clone());
            if forbid {
                // The lease that keeps every other call of the job out until this one ends.
                next.state.backfill_until =
                    Some(self.now + chrono(job.timeout() + self.config.grace));
            }
            let claim = Claim {
                job: next,
                expected_version: job.state.version,
                execution,
                token: claim_token,
            };
            if self.store.claim(&claim).await? == ClaimOutcome::Won {
                *job = claim.job;
                return Ok(Ok(claim.execution));
            }
            if self.store.get_execution(&id).await?.is_some() {
                return Ok(Err(Called::Taken));
            }
            match self.store.get_job(&job.app, &job.name).await? {
                Some(fresh) if fresh.id == job.id => *job = fresh,
                _ => return Ok(Err(Called::Left("the job was deleted meanwhile"))),
            }
        }
        Ok(Err(Called::Left(
            "the job kept changing while claiming: backfill again later",
        )))
    }
}
