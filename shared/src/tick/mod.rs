//! The tick: one step that finds what is due, claims each slot exactly once, calls the URLs,
//! records the outcomes, schedules retries and reconciles what a crashed tick left behind.
//!
//! Exactly once rests on three writes, each conditional and each recognising its own retry:
//! 1. claim: the job's advanced state and the new execution, in one transaction;
//! 2. mark sent: `pending` and not yet sent, then the call goes out (a claim whose tick died
//!    before this point is sent by a later tick: the claim's lease expires; a mark the store
//!    never confirmed is given back, uncalled, so a later tick sends it);
//! 3. outcome: only by the tick that sent the call, only while `pending` (the app's guard
//!    owns the outcome once it has claimed the execution).
//!
//! An outcome the app's guard records after the call's answer (the sender heard the run was
//! still going) leaves the execution due at its end: the next tick records it as the job's
//! last run and counts it, once over all ticks (`Store::take_guard_end`).
//!
//! Apps as records (issue 16): when a due item may call, the tick reads the app records once
//! (`Store::list_apps`). A job by path is called at its app's base URL followed by its path,
//! or recorded `failed` without a call when its app has no record; an app's call budget bounds
//! its items worked on at once within this tick (docs/data-model.md, "Jobs by path and call
//! budgets in the tick").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::clock::Clock;
use crate::dispatch::Dispatch;
use crate::model::{App, AppName, ExecutionId, Job, JobUrl, Status};
use crate::store::layout::Group;
use crate::store::{DueItem, Store, StoreError, rules};

pub mod backfill;
mod group;
mod lanes;
mod manual;
mod markers;
mod notify;
mod now;
mod plan;
mod retention;
mod retry;
mod steps;
#[cfg(test)]
mod tests;

pub use manual::{RunNowError, run_now, run_now_then};
pub use notify::DEFAULT_NOTIFY_TIMEOUT;
pub use now::{MAX_NOW_BEHIND, NowError, NowUse, check_now};
pub use plan::slot_left_by_change;

/// How a tick behaves.
#[derive(Debug, Clone)]
pub struct TickConfig {
    /// Calls in flight at once, over all apps (each app's call budget holds within it).
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
    /// The share of the due index's shards this tick works on: all of them (group 0 of 1),
    /// or "group g of G" when several invocations split the work (docs/data-model.md).
    pub group: Group,
    /// Take each shard's lease for the tick's minute before working it
    /// ([`crate::store::Store::lease_shard`]): on for the scheduler's own ticks (the Lambda's
    /// scheduled events, `serve`), whose platform may deliver one minute twice; off for a
    /// tick a person runs.
    pub lease_shards: bool,
    /// The minute whose leases the tick takes (the schedule rule's `time`, so that a late
    /// duplicate of the same minute finds them); default: the tick's own instant.
    pub lease_minute: Option<DateTime<Utc>>,
    /// How long one attempt at posting a failure notification may take (3 attempts at most).
    pub notify_timeout: Duration,
}

/// The default number of calls in flight. Chosen from the benchmarks (docs/benchmarks.md,
/// "Default concurrency"): 1,000 due calls of 2 s all start within the minute (32 would take
/// 64 s), for about 1 MB more memory; more would mostly add throttled writes on DynamoDB's
/// due index and bigger bursts at one app.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// The default retention: 30 days, as the old app.
pub const DEFAULT_RETENTION: Duration =
    Duration::from_secs(crate::store::layout::DEFAULT_RETENTION_DAYS as u64 * 24 * 3600);

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
            group: Group::ALL,
            lease_shards: false,
            lease_minute: None,
            notify_timeout: DEFAULT_NOTIFY_TIMEOUT,
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
    /// Calls made: sent, or refused by the dispatcher before anything was sent (an address
    /// the address guard refuses; a job of an app without a record while calls are signed),
    /// which are then counted `failed` too. A job by path of an app without a usable record is
    /// not counted here, only in `failed`.
    pub triggered: u64,
    /// Calls that succeeded: their outcome recorded by this tick, or by the app's guard since
    /// an earlier tick sent them (those are in `guard_finished` too).
    pub succeeded: u64,
    /// Calls that failed (as `succeeded`, the app's guard's outcomes included).
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
    /// Outcomes the app's guard recorded after the call's answer (the tick that sent the call
    /// heard the run was still going: a 202, say), counted by this tick and recorded as the
    /// job's last run. Each is also counted in `succeeded` or `failed`.
    #[serde(default)]
    pub guard_finished: u64,
    /// Due slots left unclaimed because their call would not fit before the deadline.
    #[serde(default)]
    pub deferred: u64,
    /// Due items (jobs, left-over executions) whose work stopped at a store failure. The
    /// counts above still say what completed; each failure is logged, and the first is
    /// returned in [`TickError::Incomplete`]. A claim not yet sent, or a call whose outcome
    /// was not recorded, comes back to a later tick once its lease or deadline passes.
    #[serde(default)]
    pub errors: u64,
    /// The calls of each app that had a call sent or an outcome counted, by app name:
    /// `triggered`, `succeeded`, `failed` and `timed_out` counted as above (the Lambda's
    /// per-app metrics, `PSU_SCHED_APP_METRICS`). Empty in a dry run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub apps: BTreeMap<String, AppFigures>,
    /// True when nothing was written or called (a dry run).
    #[serde(default)]
    pub dry_run: bool,
    /// Shards with due items that another tick held for this minute (a duplicate
    /// invocation): left to it.
    #[serde(default)]
    pub busy_shards: u64,
    /// Failure notifications (an app's webhook told a job is failing or recovered) delivered.
    #[serde(default)]
    pub notifications_sent: u64,
    /// Failure notifications not delivered after their attempts (not sent again).
    #[serde(default)]
    pub notifications_failed: u64,
    /// Wall time of the tick.
    pub duration_ms: u64,
}

/// One app's share of a tick's calls ([`TickSummary::apps`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppFigures {
    /// Calls made to the app (as [`TickSummary::triggered`]).
    #[serde(default)]
    pub triggered: u64,
    /// Its calls that succeeded.
    #[serde(default)]
    pub succeeded: u64,
    /// Its calls that failed (a job by path of an app without a usable record included: not
    /// called, recorded failed).
    #[serde(default)]
    pub failed: u64,
    /// Its calls that timed out.
    #[serde(default)]
    pub timed_out: u64,
}

/// Runs one tick at the clock's current instant.
///
/// A store failure while finding what is due fails the tick ([`TickError::Store`]): nothing
/// was done. A store failure on one due item stops that item's work only; the others go on,
/// and the tick then fails with [`TickError::Incomplete`], which carries the summary of what
/// completed (its `errors` counts the failed items) and the first failure.
pub async fn tick(
    store: &dyn Store,
    dispatcher: &dyn Dispatch,
    clock: &dyn Clock,
    config: &TickConfig,
) -> Result<TickSummary, TickError> {
    let now = clock.now();
    // One span per tick: every line the tick logs carries its instant.
    let span = tracing::info_span!("tick", now = %now, dry_run = config.dry_run);
    run_tick(store, dispatcher, clock, config, now)
        .instrument(span)
        .await
}

async fn run_tick(
    store: &dyn Store,
    dispatcher: &dyn Dispatch,
    clock: &dyn Clock,
    config: &TickConfig,
    now: DateTime<Utc>,
) -> Result<TickSummary, TickError> {
    let started = Instant::now();
    // A later version may have written items this one would misread: refuse before reading
    // or writing anything else (docs/data-model.md, "The table's format").
    // The same read gives the due index's shards, every one of which this tick reads (its
    // writers may already use a shard a raise just added: TableMeta::shards).
    let meta = store.table_meta().await?;
    rules::check_table_format(meta.format).map_err(TickError::TableFormat)?;
    if !config.dry_run {
        retention::record(store, config, &meta).await;
        // Retention is housekeeping: a busy store must not fail the tick over it.
        if let Err(e) = store.expire_history().await {
            tracing::warn!(error = %e, "could not delete expired executions; the next tick tries again");
        }
    }
    let work = group::due_of_group(store, config, &meta, now).await?;
    let result = work_on(
        store,
        dispatcher,
        clock,
        config,
        now,
        started,
        work.items,
        work.busy,
        markers::tracks_calls(meta.format),
    )
    .await;
    if result.is_err() {
        group::release(store, &work.leases).await;
    }
    result
}

/// The tick's work on its due `items`, once found.
#[allow(clippy::too_many_arguments)]
async fn work_on(
    store: &dyn Store,
    dispatcher: &dyn Dispatch,
    clock: &dyn Clock,
    config: &TickConfig,
    now: DateTime<Utc>,
    started: Instant,
    items: Vec<DueItem>,
    busy_shards: u64,
    tracks: bool,
) -> Result<TickSummary, TickError> {
    // Executions the index returned (of older formats, or whose end the app's guard recorded
    // late) are worked as such, not through their job's marker; a job in the index only for
    // markers that need nothing yet is left alone.
    let indexed: HashSet<ExecutionId> = items
        .iter()
        .filter_map(|item| match item {
            DueItem::Execution(e) => Some(e.id.clone()),
            DueItem::Job(_) => None,
        })
        .collect();
    let items: Vec<DueItem> = items
        .into_iter()
        .filter(|item| match item {
            DueItem::Job(job) => markers::has_work(job, now, &indexed),
            DueItem::Execution(_) => true,
        })
        .collect();
    // The app records (base URLs, call budgets), read once per tick and only when a due
    // item may call: one Query on DynamoDB (docs/data-model.md, "What a tick costs").
    let apps_read = items.iter().any(may_call);
    let apps: HashMap<AppName, App> = if apps_read {
        store
            .list_apps()
            .await?
            .into_iter()
            .map(|app| (app.name.clone(), app))
            .collect()
    } else {
        HashMap::new()
    };
    let ctx = Ctx {
        store,
        dispatcher,
        clock,
        config,
        now,
        apps,
        apps_read,
        notices: Mutex::default(),
        counters: Counters::default(),
        tracks,
        indexed,
    };
    let mut lanes = lanes::Lanes::new(items, &ctx.apps);
    let mut running = FuturesUnordered::new();
    // Notifications being posted: alongside the items, never holding up their calls.
    let mut posting = FuturesUnordered::new();
    let mut results: Vec<Result<(), StoreError>> = Vec::new();
    loop {
        while running.len() < config.concurrency.max(1) {
            let Some((lane, item)) = lanes.next() else {
                break;
            };
            let ctx = &ctx;
            running.push(async move {
                let result = match item {
                    DueItem::Job(job) => ctx.run_job(*job).await,
                    DueItem::Execution(execution) => ctx.run_execution(*execution).await,
                };
                (lane, result)
            });
        }
        if running.is_empty() && posting.is_empty() {
            break;
        }
        tokio::select! {
            Some((lane, result)) = running.next(), if !running.is_empty() => {
                lanes.done(lane);
                results.push(result);
                let ctx = &ctx;
                posting.extend(ctx.take_notices().into_iter().map(|n| ctx.post(n)));
            }
            Some(()) = posting.next(), if !posting.is_empty() => {}
        }
    }
    let mut first_error = None;
    let mut errors = 0u64;
    for result in results {
        if let Err(e) = result {
            tracing::error!(error = %e, "store failure during the tick; a later tick picks the item up again");
            errors += 1;
            first_error.get_or_insert(e);
        }
    }
    let c = &ctx.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let summary = TickSummary {
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
        guard_finished: get(&c.guard_finished),
        deferred: get(&c.deferred),
        errors,
        apps: c.apps(),
        dry_run: config.dry_run,
        busy_shards,
        notifications_sent: get(&c.notifications_sent),
        notifications_failed: get(&c.notifications_failed),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    match first_error {
        Some(source) => Err(TickError::Incomplete {
            summary: Box::new(summary),
            source,
        }),
        None => Ok(summary),
    }
}

/// A tick that could not complete. Job failures are never tick errors; store failures are
/// (the platform retries the tick, and the claims make that safe).
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// The store failed before anything was done (finding what is due).
    #[error("the store failed during the tick")]
    Store(#[from] StoreError),
    /// The table's format is newer than this version knows
    /// ([`StoreError::FormatTooNew`]): nothing was read or written.
    #[error(transparent)]
    TableFormat(StoreError),
    /// The store failed for some due items; the others completed. `summary` counts what
    /// completed, its `errors` the items whose work stopped at a failure.
    #[error(
        "the store failed during the tick, for {} of its due items (the rest completed)",
        summary.errors
    )]
    Incomplete {
        /// What the tick did, with `errors` > 0.
        summary: Box<TickSummary>,
        /// The first store failure.
        #[source]
        source: StoreError,
    },
}

impl TickError {
    /// What the tick completed, when it got past finding what is due.
    pub fn summary(&self) -> Option<&TickSummary> {
        match self {
            TickError::Store(_) | TickError::TableFormat(_) => None,
            TickError::Incomplete { summary, .. } => Some(summary),
        }
    }
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
    guard_finished: AtomicU64,
    deferred: AtomicU64,
    notifications_sent: AtomicU64,
    notifications_failed: AtomicU64,
    by_app: Mutex<BTreeMap<String, AppFigures>>,
}

impl Counters {
    fn add(&self, counter: &AtomicU64) {
        let _ = self;
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A call sent to `app`.
    fn called(&self, app: &AppName) {
        self.add(&self.triggered);
        self.for_app(app, |f| f.triggered += 1);
    }

    /// A final outcome of one of `app`'s calls.
    fn outcome(&self, app: &AppName, status: Status) {
        match status {
            Status::Succeeded => {
                self.add(&self.succeeded);
                self.for_app(app, |f| f.succeeded += 1);
            }
            Status::Failed => {
                self.add(&self.failed);
                self.for_app(app, |f| f.failed += 1);
            }
            Status::TimedOut => {
                self.add(&self.timed_out);
                self.for_app(app, |f| f.timed_out += 1);
            }
            _ => {}
        }
    }

    fn for_app(&self, app: &AppName, change: impl FnOnce(&mut AppFigures)) {
        // A poisoned lock only means a panic elsewhere mid-update: the figures stay usable.
        let mut by_app = self.by_app.lock().unwrap_or_else(PoisonError::into_inner);
        change(by_app.entry(app.to_string()).or_default());
    }

    fn apps(&self) -> BTreeMap<String, AppFigures> {
        self.by_app
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Ctx<'a> {
    store: &'a dyn Store,
    dispatcher: &'a dyn Dispatch,
    clock: &'a dyn Clock,
    config: &'a TickConfig,
    now: DateTime<Utc>,
    /// The app records read by this tick (by name).
    apps: HashMap<AppName, App>,
    /// True when the tick read the app records (`apps` is all of them).
    apps_read: bool,
    /// Failure notifications decided by a written bookkeeping, to post ([`notify`]).
    notices: Mutex<Vec<notify::Notice>>,
    counters: Counters,
    /// Calls claimed here are tracked by their job's marker ([`markers::tracks_calls`]).
    tracks: bool,
    /// The executions the due index returned to this tick: their job's markers leave them to
    /// it ([`markers`]).
    indexed: HashSet<ExecutionId>,
}

impl Ctx<'_> {
    /// The generations of `app`'s signing key a call is signed with, from its record; none for
    /// an app without one (a signing dispatcher does not call it: no key of a deleted record
    /// may sign again).
    fn key_generations(&self, app: &AppName) -> Vec<u32> {
        self.apps
            .get(app)
            .map_or_else(Vec::new, App::key_generations)
    }

    /// Where a job is called now: for a job by path, its app's current base URL followed by
    /// its path; otherwise `None` (the execution's own URL, as claimed). `Err`: why a job by
    /// path cannot be called (its app has no record, or the result is not a valid URL).
    fn target(&self, job: &Job) -> Option<Result<JobUrl, String>> {
        let path = job.path.as_ref()?;
        let app = &job.app;
        Some(match self.apps.get(app) {
            None => Err(format!(
                "not called: the app {app} has no record with a base URL: psu-sched app create --app {app} --base-url ..."
            )),
            Some(record) => record.base_url.join(path).map_err(|e| {
                format!(
                    "not called: the app {app}'s base URL {} followed by the path {path} is not a valid URL ({})",
                    record.base_url, e.message
                )
            }),
        })
    }
}

/// True when a due item may call a URL: a due job, or a claim never sent. The others
/// (calls with no outcome past their deadline, outcomes the app's guard recorded) only write.
fn may_call(item: &DueItem) -> bool {
    match item {
        DueItem::Job(_) => true,
        DueItem::Execution(e) => e.status == Status::Pending && e.dispatched_by.is_none(),
    }
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn token() -> String {
    crate::model::random_uuid().hyphenated().to_string()
}
