//! Where jobs and executions live: the [`Store`] trait and its adapters.
//!
//! Every write that decides who runs a slot is conditional, so at most one execution ever
//! exists for a (job, slot, trigger, attempt), whatever runs at the same time. Each write
//! carries the writer's token, so a write whose answer was lost and that the client retried
//! is recognised as the writer's own rather than as a lost race.
//!
//! Adapters: DynamoDB, SQLite and memory. `docs/data-model.md` lists each access pattern.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(any(test, feature = "test-util"))]
pub mod lagging;
pub mod layout;
pub mod memory;
pub mod rules;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{App, AppName, Execution, ExecutionId, Job, JobId, JobName, Status};
use layout::{Group, TableMeta};

/// A tick invocation's claim on working one shard of the due index for one minute
/// ([`Store::lease_shard`]): a duplicate invocation of the same group and minute finds the
/// shard taken and leaves it, so an app's call budget holds across the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLease {
    /// The shard.
    pub shard: u32,
    /// The minute the tick runs for (its instant, to the minute).
    pub minute: DateTime<Utc>,
    /// The invocation holding it (a random token per tick).
    pub holder: String,
    /// Until when (wall clock) the holder may still be working it: another holder may take a
    /// lease whose `until` has passed (its holder died).
    pub until: DateTime<Utc>,
}

/// Where [`Store::switch_due_index`] left the ticks' due index (docs/data-model.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueIndexSwitch {
    /// The store has one index (SQLite, memory): nothing to switch.
    OneIndex,
    /// Ticks read the `KEYS_ONLY` index already (and the table has it).
    AlreadyKeys,
    /// Switched now: ticks read the `KEYS_ONLY` index from their next layout read.
    Switched {
        /// The `ALL` index is still there (to delete once no older version uses the table).
        legacy: bool,
    },
    /// The table has no `KEYS_ONLY` index (a stack from before it: update it first).
    Missing,
    /// The `KEYS_ONLY` index exists but is still being built (its status, e.g. `CREATING`).
    NotActive(String),
    /// The `KEYS_ONLY` index is being deleted.
    Deleting,
    /// The index named `due-keys` has other keys or another projection than the due index's.
    Unusable(String),
    /// The two indexes still differ on a shard after several comparisons: not switched.
    Differs {
        /// The shard (index key) whose entries differ.
        shard: String,
        /// Entries in the `ALL` index only.
        only_old: usize,
        /// Entries in the `KEYS_ONLY` index only.
        only_new: usize,
    },
}

/// What [`Store::reshard`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resharded {
    /// Items moved to their app's shard.
    pub moved: usize,
    /// Items found in another shard than their app's but changed meanwhile (their writer put
    /// them where they belong, or they left the index): not touched.
    pub changed: usize,
    /// Items already in their app's shard.
    pub in_place: usize,
}

/// The table format this version reads and writes (docs/data-model.md, "The table's format").
/// A version whose items an older one would misread raises it, and says so in CHANGELOG.md as
/// a one-way upgrade; a tick refuses a table of a newer format ([`rules::check_table_format`]).
/// A table without the marker (written before it existed) is format 1.
///
/// - 1: one due-index key (`DUE`); what every table is until its shards are raised.
/// - 2: the due index spread over the shards the `META` item names ([`layout`]); written by
///   `psu-sched table shards --set N` (N > 1), so that a version that reads only `DUE` stops
///   rather than leave the other shards' jobs uncalled.
/// - 3: calls in flight tracked by their job's marker ([`crate::model::InFlight`]): a claimed
///   execution has no due-index entry, and its job keeps its index key until the call is
///   resolved. A version that finds unfinished executions only through the index would leave
///   a crashed tick's claims unsent; it stops instead.
pub const TABLE_FORMAT: u64 = 3;

/// The format a new table is written at (and `table upgrade` raises a table to): calls
/// tracked by their job, which halves the due index's writes per called slot
/// (docs/benchmarks.md). A release before this format refuses such a table (a rollback: CHANGELOG.md).
pub const NEW_TABLE_FORMAT: u64 = 3;

/// The first format whose calls in flight are tracked by their job's marker.
pub const TRACKED_FORMAT: u64 = 3;

/// The format of a table whose due index has more than one shard.
pub const SHARDED_FORMAT: u64 = 2;

/// The `outcome_by` token of an outcome written by reconciliation (no answer was recorded).
pub const RECONCILER: &str = "reconcile";

/// Something the due index returned: a job whose slot or retry is due, or an execution
/// whose lease or deadline has passed (a tick that died before finishing it).
#[derive(Debug, Clone)]
pub enum DueItem {
    /// A job to look at.
    Job(Box<Job>),
    /// An execution to dispatch (claimed, never sent) or to reconcile (sent, no outcome).
    Execution(Box<Execution>),
}

/// One atomic claim: write the job's advanced state and create the execution, or neither.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The job as it will be written: `state.version` = `expected_version + 1`, `state.writer` = `token`.
    pub job: Job,
    /// The version the tick read.
    pub expected_version: u64,
    /// The new execution (`claimed_by` = `token`).
    pub execution: Execution,
    /// This claim's token.
    pub token: String,
}

/// Who got the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This claim was written (including: its answer was lost, and the retry recognised it).
    Won,
    /// Someone else changed the job or created the execution first.
    Lost,
}

/// The result of a call, as the tick records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `Succeeded`, `Failed` or `TimedOut`.
    pub status: Status,
    /// The HTTP status, when there was an answer.
    pub http_status: Option<u16>,
    /// The first 4 KiB of the body.
    pub output: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
    /// When the call ended.
    pub finished_at: DateTime<Utc>,
    /// How long it took.
    pub duration_ms: u64,
}

/// One page of a job's executions, from [`Store::executions_since`].
#[derive(Debug, Clone, Default)]
pub struct ExecutionPage {
    /// The executions read, newest slot first.
    pub executions: Vec<Execution>,
    /// True when the read stopped before the window's start: older executions in the window
    /// may exist (the page's limit, or on DynamoDB the 1 MB one Query reads, cut it).
    pub more: bool,
}

/// The end of a run as the app's guard records it.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardEnd {
    /// `Succeeded` or `Failed`.
    pub status: Status,
    /// The HTTP status the app answered with, if known.
    pub http_status: Option<u16>,
    /// The first 4 KiB of the app's output.
    pub output: Option<String>,
    /// What went wrong, in the app's words.
    pub error: Option<String>,
    /// When the run ended.
    pub finished_at: DateTime<Utc>,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
}

/// What recording an outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The tick's outcome is the execution's outcome.
    Recorded,
    /// The app's guard had claimed the execution: only the HTTP status was added, and the
    /// outcome is the app's (its status now is given).
    GuardOwned(Status),
    /// The execution was not this tick's to finish (reconciled or finished by someone else).
    NotOurs,
}

/// Store failures. Conditional-check failures are not errors: the methods return them as
/// outcomes (`Lost`, `false`), because callers branch on them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The table is not there.
    #[error(
        "the table `{0}` does not exist: run `psu-sched init` (local or development use) or deploy the infrastructure"
    )]
    TableMissing(String),
    /// The table lacks the index its layout (`META.due_index`) names.
    #[error(
        "the table `{table}` has no index `{index}`, which its layout names for the due items: run `psu-sched table upgrade`, which moves the ticks to a due index the table has (docs/deploy.md, Upgrading the due index)"
    )]
    IndexMissing {
        /// The table.
        table: String,
        /// The index asked for (empty until the adapter names it).
        index: String,
    },
    /// create_job found the (app, name) taken.
    #[error("a job named {0}/{1} already exists")]
    AlreadyExists(AppName, JobName),
    /// create_app found the name taken.
    #[error("an app named {0} already exists")]
    AppExists(AppName),
    /// create_job found its app's record being deleted, or (a job by path) gone
    /// ([`rules::may_create_job`]).
    #[error(
        "the app {0} is being deleted (or was deleted meanwhile); if no `psu-sched app delete --app {0}` is running, run it again to finish, or keep the app by updating it (psu-sched app update --app {0} ...)"
    )]
    AppDeleting(AppName),
    /// The store could not be reached: no connection, a time-out, a DNS failure (after the
    /// client's own retries).
    #[error("the store's {operation} request could not reach the store")]
    Unavailable {
        /// The operation (`Query`, `TransactWriteItems`...).
        operation: &'static str,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No AWS region is configured, so no request can be made.
    #[error("the store's {operation} request could not be made: no AWS region is set")]
    NoRegion {
        /// The operation.
        operation: &'static str,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No usable credentials: none found, or refused by the store as unknown or expired.
    #[error("the store's {operation} request had no valid credentials")]
    Credentials {
        /// The operation.
        operation: &'static str,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store kept refusing requests as over its capacity (after the client's retries).
    #[error("the store's {operation} request was throttled")]
    Throttled {
        /// The operation.
        operation: &'static str,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The backend failed otherwise (after the client's own retries).
    #[error("the store's {operation} request failed")]
    Backend {
        /// The operation (`Query`, `TransactWriteItems`...).
        operation: &'static str,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored item could not be read as a job or an execution.
    #[error("a stored item is malformed: {0}")]
    Malformed(String),
    /// The table's format marker names a format newer than [`TABLE_FORMAT`]: a later version
    /// wrote items this one may misread ([`rules::check_table_format`]).
    #[error(
        "the table is format {found}, newer than format {known} that this psu-sched knows, so it writes nothing to it (and does not tick it); use the version that raised the format or a later one (CHANGELOG.md)"
    )]
    FormatTooNew {
        /// The format the table's marker names.
        found: u64,
        /// [`TABLE_FORMAT`].
        known: u64,
    },
    /// The store keeps its due index in one shard (SQLite, one machine): raising it is refused.
    #[error(
        "this store has one due-index shard and keeps it: shards spread a DynamoDB table's writes, and a SQLite file has one writer"
    )]
    OneShardOnly,
}

impl StoreError {
    /// True when the same request may succeed if tried again later: the store was
    /// unreachable, throttled, or failed on its side.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. }
                | StoreError::Throttled { .. }
                | StoreError::Backend { .. }
        )
    }
}

/// What [`Store::delete_job_if_unchanged`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteIf {
    /// The job was deleted.
    Deleted,
    /// There is no job by that name (deleted already; also this very delete retried after
    /// its answer was lost).
    Gone,
    /// The job by that name is another job, or was changed since it was read: kept.
    Changed,
}

/// The operations the scheduler needs from its storage. Implementations must honour the
/// conditions documented on each method exactly: the tick's exactly-once guarantee rests on them.
#[async_trait]
pub trait Store: Send + Sync {
    /// The table's format: its marker's, or 1 without one (a table written before the marker
    /// existed). Stores whose format travels otherwise (SQLite's `user_version`, checked when
    /// the file is opened; memory) answer from [`Store::table_meta`].
    async fn table_format(&self) -> Result<u64, StoreError> {
        Ok(self.table_meta().await?.format)
    }

    /// The table's layout: its format and its due index's shards ([`layout::TableMeta`]), read
    /// consistently. A store with no `META` item (SQLite, a table written before it) has one
    /// shard.
    async fn table_meta(&self) -> Result<TableMeta, StoreError> {
        Ok(TableMeta::LEGACY)
    }

    /// Replaces the table's layout with `meta` if the stored one is still at
    /// `expected_version` (`meta.version` is `expected_version + 1`); false when another
    /// writer raised it first. Stores of one shard only refuse with
    /// [`StoreError::OneShardOnly`].
    async fn put_table_meta(
        &self,
        meta: &TableMeta,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let _ = (meta, expected_version);
        Err(StoreError::OneShardOnly)
    }

    /// Writes the app directory's missing entries (an entry for every app with jobs, so that
    /// listing every job is a Query per app, not a Scan): one pass over the jobs, returns how
    /// many apps it found. Stores that list without a Scan anyway have nothing to write.
    async fn write_app_directory(&self) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Whether listing every job may need a directory ([`Store::write_app_directory`]) to avoid
    /// scanning: DynamoDB's tables. Others list without a Scan anyway.
    fn has_app_directory(&self) -> bool {
        false
    }

    /// Moves every indexed item that is not in its app's shard (written before a raise, or by
    /// a version that knows only `DUE`) to it, each by a write conditional on the shard it was
    /// found in: re-runnable, and never undoing a write made meanwhile. Stores of one shard
    /// have nothing to move.
    async fn reshard(&self) -> Result<Resharded, StoreError> {
        Ok(Resharded::default())
    }

    /// Switches ticks to the `KEYS_ONLY` due index once it is built and holds what the `ALL`
    /// index holds, shard by shard (`META.due_index`, conditional on the layout's version);
    /// says why not otherwise, and moves ticks that read a `KEYS_ONLY` index the table no
    /// longer has (or cannot use) back to the `ALL` one. Stores of one index have nothing to
    /// switch.
    async fn switch_due_index(&self) -> Result<DueIndexSwitch, StoreError> {
        Ok(DueIndexSwitch::OneIndex)
    }

    /// Creates a job. Fails with [`StoreError::AlreadyExists`] if (app, name) is taken by
    /// another job; a stored job with this job's id is this very create, retried after its
    /// answer was lost, and answers `Ok` ([`rules::create_job`]). Fails with
    /// [`StoreError::AppDeleting`] while the app's record is being deleted, or for a job by path
    /// when its app has no record, in the same atomic write ([`rules::may_create_job`]).
    async fn create_job(&self, job: &Job) -> Result<(), StoreError>;

    /// Writes many jobs at once (seeding, imports); existing (app, name) are overwritten.
    async fn import_jobs(&self, jobs: &[Job]) -> Result<(), StoreError>;

    /// Reads a job by (app, name), strongly consistent.
    async fn get_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError>;

    /// Lists jobs, of one app or of all.
    async fn list_jobs(&self, app: Option<&AppName>) -> Result<Vec<Job>, StoreError>;

    /// Replaces a job if the stored job is the same job (same id: not one deleted and created
    /// again under its name) and its version is still `expected_version` (or the stored item
    /// is this very write: same new version and writer). `job.state.version` must be
    /// `expected_version + 1`. Returns false when someone else wrote first.
    async fn put_job(&self, job: &Job, expected_version: u64) -> Result<bool, StoreError>;

    /// Deletes a job, returning it. Its executions stay until they expire. `None` when there
    /// is no job by that name. A delete that finds the job it read gone when it deletes it
    /// (its own earlier attempt, whose answer was lost; or another delete at the same moment)
    /// returns the job it read: it is gone, as asked. Never deletes a job created under the
    /// name after the one it read.
    async fn delete_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError>;

    /// Deletes the job `read` only if it is still that job as a person left it: the same id
    /// and the same `updated_at` (every change by a person, `update`, `pause` and `resume`
    /// included, moves it; the tick's bookkeeping does not), in one conditional write. For
    /// `apply --prune`, which must never delete a job someone changed after its plan.
    async fn delete_job_if_unchanged(&self, read: &Job) -> Result<DeleteIf, StoreError>;

    /// Creates an app record. Fails with [`StoreError::AppExists`] if the name is taken by
    /// another record; a stored record identical to this one (same creation instant, same
    /// contents) is this very create, retried after its answer was lost, and answers `Ok`
    /// ([`rules::create_app`]). Apps and jobs have separate names: an app and a job may share one.
    async fn create_app(&self, app: &App) -> Result<(), StoreError>;

    /// Reads an app record by name, strongly consistent.
    async fn get_app(&self, name: &AppName) -> Result<Option<App>, StoreError>;

    /// Every app record, sorted by name. One request on DynamoDB (a Query of the apps'
    /// partition, never a Scan), so a tick can read them all at once.
    async fn list_apps(&self) -> Result<Vec<App>, StoreError>;

    /// Replaces an app record if the stored one is the same record (same `created_at`: not one
    /// deleted and created again under its name) and its version is still `expected_version`
    /// (or the stored record is already exactly `app`: this very write, retried after a lost
    /// answer). `app.version` must be `expected_version + 1`. Returns false when someone else
    /// wrote first, or there is no such app ([`rules::may_replace_app`]).
    async fn put_app(&self, app: &App, expected_version: u64) -> Result<bool, StoreError>;

    /// Deletes an app record, returning it; `None` when there is none by that name. Its jobs
    /// are not touched. Like [`Store::delete_job`], a delete that finds the record it read gone
    /// returns it, and a record created again under the name meanwhile is never deleted.
    async fn delete_app(&self, name: &AppName) -> Result<Option<App>, StoreError>;

    /// Deletes the app record `read` only if the stored record is still exactly it (same
    /// `created_at` and version, [`rules::may_delete_app`]), in one conditional write: how
    /// `app delete` deletes the record it marked, after finding the app without jobs.
    async fn delete_app_at(&self, read: &App) -> Result<DeleteIf, StoreError>;

    /// True when the store lives on this machine (an embedded file, memory, or DynamoDB at a
    /// loopback endpoint): a test or development store, the only kind a simulated tick
    /// (`tick --now T --simulate`) may write to.
    fn is_local(&self) -> bool {
        false
    }

    /// Retention, where the backend does not keep it itself: deletes the executions whose
    /// retention ended, by the wall clock (never at a tick's `now`); returns how many. A
    /// writing tick calls it first, a dry run never. DynamoDB's TTL does it on its own: the
    /// default does nothing.
    async fn expire_history(&self) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Takes `lease` (wall-clock `now`) unless another holder's lease on the same shard and
    /// minute is still running ([`rules::may_take_lease`]); true when taken (or already
    /// held by `lease.holder`: a retry). Stores without leases (SQLite: one process ticks a
    /// file) always grant it.
    async fn lease_shard(
        &self,
        lease: &ShardLease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let _ = (lease, now);
        Ok(true)
    }

    /// Gives back `lease` if its holder still has it (a failed tick, so that the platform's
    /// retry can work the shard at once); nothing otherwise.
    async fn release_shard(&self, lease: &ShardLease) -> Result<(), StoreError> {
        let _ = lease;
        Ok(())
    }

    /// Everything due at `now` in every shard of the due index: jobs whose next slot or retry
    /// is at or before `now`, and executions whose lease or deadline has passed. Never scans
    /// the table.
    async fn due(&self, now: DateTime<Utc>) -> Result<Vec<DueItem>, StoreError> {
        let meta = self.table_meta().await?;
        self.due_in(now, &Group::ALL.shards(meta.shards)).await
    }

    /// What [`Store::due`] returns, from the due index's `shards` only (a tick's group's, from
    /// the [`TableMeta`] it read just before), oldest first within each shard. An item is in
    /// the shard its last writer put it in; the index is eventually consistent, so an item
    /// moving between shards may be seen in both or in neither for a moment: nothing may rely
    /// on it for more than a hint (the claim's conditions keep a slot once).
    async fn due_in(&self, now: DateTime<Utc>, shards: &[u32]) -> Result<Vec<DueItem>, StoreError>;

    /// Writes the job's advanced state and creates the execution, atomically, if the job is
    /// still the same job (same id) at `expected_version` and the execution does not exist.
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError>;

    /// Marks a `pending` execution as sent by `token` (if no one else sent it), storing the
    /// key's hash and the deadline after which it is reconciled. False if it was not ours to send.
    async fn mark_dispatched(
        &self,
        id: &ExecutionId,
        token: &str,
        key_hash: &str,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives back a send `token` marked and never made (the store failed while marking it):
    /// a `pending` execution sent by `token` is claimed-not-sent again, due at `due_at`, so a
    /// later tick sends it. `true` also for this very release retried (not sent, due at
    /// `due_at`); false when it was not `token`'s to give back (another tick's send, claimed by
    /// the app's guard, finished, never marked) ([`rules::release_dispatch`]).
    async fn release_dispatch(
        &self,
        id: &ExecutionId,
        token: &str,
        due_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records the outcome of the call `token` sent. If the app's guard has claimed the
    /// execution, only the HTTP status is added.
    async fn record_outcome(
        &self,
        id: &ExecutionId,
        token: &str,
        outcome: &Outcome,
    ) -> Result<Recorded, StoreError>;

    /// Gives an unfinished execution its job's marker tracks a due-index entry of its own
    /// ([`rules::untrack`]), for a job being deleted. False when there was nothing to do.
    async fn untrack(&self, seen: &Execution) -> Result<bool, StoreError>;

    /// Marks an execution whose deadline passed with no outcome as `timed_out`, if it is
    /// still exactly as `seen` (status and due time). False if it moved on meanwhile.
    async fn reconcile(
        &self,
        seen: &Execution,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The app's guard claims a sent execution: `pending` becomes `running` with the guard's
    /// nonce, if the stored key hash is `key_hash`. False if it was not `pending` (already
    /// ran, or claimed by another guard) or the hash differs.
    async fn guard_start(
        &self,
        id: &ExecutionId,
        key_hash: &str,
        nonce: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The app's guard records the end of its run: the claim with `nonce` must hold the
    /// execution (`running`, or `timed_out` by reconciliation: a late end still records
    /// the real outcome). False otherwise. The execution stays due, at the end's instant,
    /// until a tick counts it ([`Store::take_guard_end`]).
    async fn guard_end(
        &self,
        id: &ExecutionId,
        nonce: &str,
        end: &GuardEnd,
    ) -> Result<bool, StoreError>;

    /// A tick takes an execution the app's guard finished out of the due index, if it is
    /// still as `seen` (finished, same due time); true: this tick (`token`) counts its
    /// outcome, and no other tick will.
    async fn take_guard_end(&self, seen: &Execution, token: &str) -> Result<bool, StoreError>;

    /// Reads an execution, strongly consistent (one GetItem on DynamoDB).
    async fn get_execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError>;

    /// Deletes every execution of a job (history purge); returns how many.
    async fn delete_executions(&self, job: &JobId) -> Result<usize, StoreError>;

    /// A job's executions, newest slot first.
    async fn list_executions(
        &self,
        job: &JobId,
        limit: usize,
    ) -> Result<Vec<Execution>, StoreError>;

    /// One request's page of a job's executions whose slot is at or after `since` (whole
    /// seconds), newest slot first, at most `limit` of them; `more` when older ones in the
    /// window were left out. Exactly one request: one Query on DynamoDB (eventually
    /// consistent, never a second page), one SELECT on SQLite.
    async fn executions_since(
        &self,
        job: &JobId,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<ExecutionPage, StoreError>;
}
