//! The SQLite adapter: the whole scheduler on one machine, in one file, no AWS.
//!
//! Three tables, each row holding the value as JSON (`body`) next to the columns it is found by:
//! - `jobs(app, name, id, due_at, body)`, primary key (app, name);
//! - `executions(job_id, slot_key, due_at, expires_at, body)`, primary key (job id, slot key),
//!   the same key as the DynamoDB item (`<slot>#<s|m><attempt>`), so at most one row exists
//!   for a (job, slot, trigger, attempt);
//! - `apps(name, body)`, primary key name: the app records (schema version 2; an older file
//!   gains the table when opened).
//!
//! `due_at` (epoch microseconds) is set only while the tick has something to do with the row
//! (a job's next slot or retry; an execution's lease or deadline) and is NULL otherwise. A
//! partial index on it (`WHERE due_at IS NOT NULL`) is the SQL twin of DynamoDB's sparse due
//! index: [`Store::due`] reads only what is due, never the whole table.
//!
//! Every read-check-write runs in a `BEGIN IMMEDIATE` transaction, which takes the database's
//! write lock before reading, so the check and the write are atomic against every other
//! connection, in this process or another one sharing the file. The file is in WAL mode
//! (readers never block the writer) with a 5 s busy timeout (a writer waits its turn rather
//! than failing).
//!
//! Writes are group-committed: one writer thread per store takes every write queued while
//! the previous commit ran and applies them in one transaction, each in its own savepoint (a
//! write that fails rolls back alone), then commits once. A caller hears back only after the
//! commit, so each write is on disk (`synchronous = FULL`) before, say, its call is sent; the
//! writes just share the fsync. A tick with 32 calls in flight makes a few commits where it
//! made one per write (docs/benchmarks.md has the figures). Reads use a second connection.
//!
//! Executions expire `retention` after creation, like DynamoDB's TTL: a writing tick calls
//! [`Store::expire_history`], which deletes expired rows at most once a minute of the wall
//! clock (never at the tick's `now`: a simulated tick years ahead must not purge the history;
//! and never in a dry run, which writes nothing), and [`SqliteStore::purge_expired`] does it
//! on demand.
//!
//! ```no_run
//! # async fn example() -> Result<(), shared::store::StoreError> {
//! use shared::store::Store;
//! use shared::store::sqlite::SqliteStore;
//!
//! let store = SqliteStore::open("/tmp/psu-sched/psu-sched.db").await?;
//! let due = store.due(chrono::Utc::now()).await?;
//! # Ok(()) }
//! ```
//!
//! Here: the store, opening it and the [`Store`] impl. Beside it: `writer.rs` (the writer
//! thread and its group commits) and `schema.rs` (the schema, connecting, and rows to values
//! and back).

mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

use super::{
    Claim, ClaimOutcome, DeleteIf, DueItem, ExecutionPage, GuardEnd, Outcome, Recorded, Store,
    StoreError, rules,
};
use crate::clock::{Clock, SystemClock};
use crate::model::{App, AppName, Execution, ExecutionId, Job, JobId, JobName};
use schema::{
    connect, from_json, micros, read_app, read_exec, read_job, write_app, write_exec, write_job,
};
use writer::Writer;

pub use schema::{BUSY_TIMEOUT, SCHEMA_VERSION};

/// [`Store::expire_history`] purges expired executions at most this often (of the wall clock).
pub const PURGE_INTERVAL: chrono::Duration = chrono::Duration::minutes(1);

/// The SQLite store. Cheap to clone: clones share its two connections.
///
/// Two connections per store: one for reads behind a `Mutex` (a `rusqlite::Connection` is
/// `Send` but not `Sync`), called on tokio's blocking pool, and one owned by the writer
/// thread, which group-commits the writes (see the module documentation). Correctness across
/// processes does not rest on either but on SQLite's file locks: every batch of conditional
/// writes is a `BEGIN IMMEDIATE` transaction, so two stores on one file (two processes, or
/// two [`SqliteStore::open`]s in one) serialise their read-check-writes.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The read connection.
    conn: Mutex<Connection>,
    /// The writer thread's handle; the thread ends when the last store clone is dropped.
    writer: Writer,
    /// The wall clock's instant of the last purge of expired executions.
    last_purge: Mutex<Option<DateTime<Utc>>>,
    /// The clock purges run by: the system clock, a test's clock in tests.
    purge_clock: Mutex<Arc<dyn Clock>>,
}

fn backend(
    operation: &'static str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::Backend {
        operation,
        source: Box::new(err),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a connection whose transaction rusqlite rolled
    // back on drop (or plain data): keep using it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file, its parent directory and the schema on
    /// first use. Runs on the blocking pool.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(path))
            .await
            .map_err(|e| backend("SQLite open", e))?
    }

    /// [`SqliteStore::open`] for callers outside an async runtime.
    pub fn open_blocking(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = connect(&path)?;
        let writer = Writer::spawn(connect(&path)?)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
                writer,
                last_purge: Mutex::new(None),
                purge_clock: Mutex::new(Arc::new(SystemClock)),
            }),
        })
    }

    /// Purges by `clock` instead of the system clock (tests of retention).
    #[cfg(any(test, feature = "test-util"))]
    pub fn set_purge_clock(&self, clock: Arc<dyn Clock>) {
        *lock(&self.inner.purge_clock) = clock;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    #[cfg(any(test, feature = "test-util"))]
    /// How many write transactions this store has committed since it was opened. Writes
    /// queued together share one (see the module documentation): fewer commits than writes
    /// means fewer fsyncs.
    pub fn commits(&self) -> u64 {
        self.inner.writer.commits()
    }

    /// Runs `f` with the read connection on the blocking pool. Writes go through
    /// [`SqliteStore::write`].
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&inner.conn)))
            .await
            .map_err(|e| backend("SQLite task", e))?
    }

    /// Runs `f` on the writer thread inside a `BEGIN IMMEDIATE` transaction (the write lock is
    /// taken before anything is read), in its own savepoint: what `f` wrote is kept when it
    /// returns `Ok` and rolled back otherwise. Answers after the transaction's commit.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.writer.write(f).await
    }

    /// Applies an execution's rule in one write transaction: `missing` when there is no such
    /// execution.
    async fn apply<A: Send + 'static>(
        &self,
        id: &ExecutionId,
        missing: A,
        rule: impl FnOnce(&Execution) -> rules::Decision<A> + Send + 'static,
    ) -> Result<A, StoreError> {
        let id = id.clone();
        self.write(move |conn| {
            let Some(stored) = read_exec(conn, &id)? else {
                return Ok(missing);
            };
            let decision = rule(&stored);
            if let Some(next) = &decision.write {
                write_exec(conn, next)?;
            }
            Ok(decision.answer)
        })
        .await
    }

    /// Deletes the executions whose retention ended at or before `now` (DynamoDB's TTL does
    /// the same on its own); returns how many. [`Store::expire_history`] calls it at most once
    /// a minute of the wall clock.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let deleted = self
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM executions WHERE expires_at <= ?1")
                    .and_then(|mut st| st.execute(params![micros(now)]))
                    .map_err(|e| backend("SQLite DELETE expired", e))
            })
            .await?;
        *lock(&self.inner.last_purge) = Some(now);
        Ok(deleted)
    }

    /// True when [`Store::expire_history`] should purge at the wall clock's `now`: never
    /// purged, a minute passed, or the clock went back.
    fn purge_due(&self, now: DateTime<Utc>) -> bool {
        lock(&self.inner.last_purge).is_none_or(|last| now < last || now - last >= PURGE_INTERVAL)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn is_local(&self) -> bool {
        true
    }

    async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        let job = job.clone();
        self.write(move |conn| {
            let stored = read_job(conn, job.app.as_str(), job.name.as_str())?;
            match rules::create_job(stored.as_ref(), &job) {
                rules::Create::Write
                    if !rules::may_create_job(read_app(conn, &job.app)?.as_ref(), &job) =>
                {
                    Err(StoreError::AppDeleting(job.app.clone()))
                }
                rules::Create::Write => write_job(conn, &job),
                rules::Create::Done => Ok(()),
                rules::Create::Taken => {
                    Err(StoreError::AlreadyExists(job.app.clone(), job.name.clone()))
                }
            }
        })
        .await
    }

    async fn import_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        let jobs = jobs.to_vec();
        self.write(move |conn| jobs.iter().try_for_each(|job| write_job(conn, job)))
            .await
    }

    async fn get_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        let (app, name) = (app.clone(), name.clone());
        self.run(move |conn| read_job(conn, app.as_str(), name.as_str()))
            .await
    }

    async fn list_jobs(&self, app: Option<&AppName>) -> Result<Vec<Job>, StoreError> {
        let app = app.cloned();
        self.run(move |conn| {
            let bodies: Vec<String> = match &app {
                Some(app) => conn
                    .prepare_cached("SELECT body FROM jobs WHERE app = ?1 ORDER BY app, name")
                    .and_then(|mut st| {
                        st.query_map(params![app.as_str()], |r| r.get(0))?.collect()
                    }),
                None => conn
                    .prepare_cached("SELECT body FROM jobs ORDER BY app, name")
                    .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect()),
            }
            .map_err(|e| backend("SQLite SELECT jobs", e))?;
            bodies.iter().map(|b| from_json(b)).collect()
        })
        .await
    }

    async fn put_job(&self, job: &Job, expected_version: u64) -> Result<bool, StoreError> {
        let job = job.clone();
        self.write(
            move |conn| match read_job(conn, job.app.as_str(), job.name.as_str())? {
                Some(stored) if rules::may_replace_job(&stored, &job, expected_version) => {
                    write_job(conn, &job)?;
                    Ok(true)
                }
                _ => Ok(false),
            },
        )
        .await
    }

    async fn delete_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        let (app, name) = (app.clone(), name.clone());
        self.write(move |conn| {
            let old = read_job(conn, app.as_str(), name.as_str())?;
            if old.is_some() {
                conn.prepare_cached("DELETE FROM jobs WHERE app = ?1 AND name = ?2")
                    .and_then(|mut st| st.execute(params![app.as_str(), name.as_str()]))
                    .map_err(|e| backend("SQLite DELETE job", e))?;
            }
            Ok(old)
        })
        .await
    }

    async fn delete_job_if_unchanged(&self, read: &Job) -> Result<DeleteIf, StoreError> {
        let read = read.clone();
        self.write(move |conn| {
            Ok(
                match read_job(conn, read.app.as_str(), read.name.as_str())? {
                    None => DeleteIf::Gone,
                    Some(stored) if !rules::unchanged_by_a_person(&stored, &read) => {
                        DeleteIf::Changed
                    }
                    Some(_) => {
                        conn.prepare_cached("DELETE FROM jobs WHERE app = ?1 AND name = ?2")
                            .and_then(|mut st| {
                                st.execute(params![read.app.as_str(), read.name.as_str()])
                            })
                            .map_err(|e| backend("SQLite DELETE job", e))?;
                        DeleteIf::Deleted
                    }
                },
            )
        })
        .await
    }

    async fn create_app(&self, app: &App) -> Result<(), StoreError> {
        let app = app.clone();
        self.write(
            move |conn| match rules::create_app(read_app(conn, &app.name)?.as_ref(), &app) {
                rules::Create::Write => write_app(conn, &app),
                rules::Create::Done => Ok(()),
                rules::Create::Taken => Err(StoreError::AppExists(app.name.clone())),
            },
        )
        .await
    }

    async fn get_app(&self, name: &AppName) -> Result<Option<App>, StoreError> {
        let name = name.clone();
        self.run(move |conn| read_app(conn, &name)).await
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        self.run(move |conn| {
            let bodies: Vec<String> = conn
                .prepare_cached("SELECT body FROM apps ORDER BY name")
                .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
                .map_err(|e| backend("SQLite SELECT apps", e))?;
            bodies.iter().map(|b| from_json(b)).collect()
        })
        .await
    }

    async fn put_app(&self, app: &App, expected_version: u64) -> Result<bool, StoreError> {
        let app = app.clone();
        self.write(move |conn| match read_app(conn, &app.name)? {
            Some(stored) if rules::may_replace_app(&stored, &app, expected_version) => {
                write_app(conn, &app)?;
                Ok(true)
            }
            _ => Ok(false),
        })
        .await
    }

    async fn delete_app(&self, name: &AppName) -> Result<Option<App>, StoreError> {
        let name = name.clone();
        self.write(move |conn| {
            let old = read_app(conn, &name)?;
            if old.is_some() {
                conn.prepare_cached("DELETE FROM apps WHERE name = ?1")
                    .and_then(|mut st| st.execute(params![name.as_str()]))
                    .map_err(|e| backend("SQLite DELETE app", e))?;
            }
            Ok(old)
        })
        .await
    }

    async fn delete_app_at(&self, read: &App) -> Result<DeleteIf, StoreError> {
        let read = read.clone();
        self.write(move |conn| match read_app(conn, &read.name)? {
            None => Ok(DeleteIf::Gone),
            Some(stored) if rules::may_delete_app(&stored, &read) => {
                conn.prepare_cached("DELETE FROM apps WHERE name = ?1")
                    .and_then(|mut st| st.execute(params![read.name.as_str()]))
                    .map_err(|e| backend("SQLite DELETE app", e))?;
                Ok(DeleteIf::Deleted)
            }
            Some(_) => Ok(DeleteIf::Changed),
        })
        .await
    }

    async fn expire_history(&self) -> Result<usize, StoreError> {
        // Retention runs on the wall clock, as DynamoDB's TTL does: never at a tick's `now`.
        let wall = lock(&self.inner.purge_clock).now();
        if !self.purge_due(wall) {
            return Ok(0);
        }
        self.purge_expired(wall).await
    }

    /// One shard: shard 0 holds everything, any other shard nothing.
    async fn due_in(&self, now: DateTime<Utc>, shards: &[u32]) -> Result<Vec<DueItem>, StoreError> {
        if !shards.contains(&0) {
            return Ok(Vec::new());
        }
        let mut items: Vec<(DateTime<Utc>, DueItem)> = self
            .run(move |conn| {
                // One read transaction: a consistent snapshot of both indexes.
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Deferred)
                    .map_err(|e| backend("SQLite BEGIN", e))?;
                let bound = micros(now);
                let mut items = Vec::new();
                // Both queries are served by the partial `*_due` indexes (see the test
                // `due_reads_only_the_due_index`): the rows not due are never read.
                let jobs: Vec<String> = tx
                    .prepare_cached(
                        "SELECT body FROM jobs WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at",
                    )
                    .and_then(|mut st| st.query_map(params![bound], |r| r.get(0))?.collect())
                    .map_err(|e| backend("SQLite SELECT due jobs", e))?;
                for body in jobs {
                    let job: Job = from_json(&body)?;
                    // The column holds whole microseconds; compare the exact instant.
                    if let Some(at) = job.index_at().filter(|at| *at <= now) {
                        items.push((at, DueItem::Job(Box::new(job))));
                    }
                }
                let execs: Vec<String> = tx
                    .prepare_cached(
                        "SELECT body FROM executions WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at",
                    )
                    .and_then(|mut st| st.query_map(params![bound], |r| r.get(0))?.collect())
                    .map_err(|e| backend("SQLite SELECT due executions", e))?;
                for body in execs {
                    let exec: Execution = from_json(&body)?;
                    if let Some(at) = exec.index_at().filter(|at| *at <= now) {
                        items.push((at, DueItem::Execution(Box::new(exec))));
                    }
                }
                tx.finish().map_err(|e| backend("SQLite END", e))?;
                Ok(items)
            })
            .await?;
        items.sort_by_key(|(at, _)| *at);
        Ok(items.into_iter().map(|(_, item)| item).collect())
    }

    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let claim = claim.clone();
        self.write(move |conn| {
            let job = read_job(conn, claim.job.app.as_str(), claim.job.name.as_str())?;
            let execution = read_exec(conn, &claim.execution.id)?;
            let (outcome, write) = rules::claim(job.as_ref(), execution.as_ref(), &claim);
            if write {
                write_job(conn, &claim.job)?;
                write_exec(conn, &claim.execution)?;
            }
            Ok(outcome)
        })
        .await
    }

    async fn mark_dispatched(
        &self,
        id: &ExecutionId,
        token: &str,
        key_hash: &str,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (token, key_hash) = (token.to_owned(), key_hash.to_owned());
        self.apply(id, false, move |e| {
            rules::mark_dispatched(e, &token, &key_hash, at, deadline)
        })
        .await
    }

    async fn release_dispatch(
        &self,
        id: &ExecutionId,
        token: &str,
        due_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let token = token.to_owned();
        self.apply(id, false, move |e| {
            rules::release_dispatch(e, &token, due_at)
        })
        .await
    }

    async fn record_outcome(
        &self,
        id: &ExecutionId,
        token: &str,
        outcome: &Outcome,
    ) -> Result<Recorded, StoreError> {
        let (token, outcome) = (token.to_owned(), outcome.clone());
        self.apply(id, Recorded::NotOurs, move |e| {
            rules::record_outcome(e, &token, &outcome)
        })
        .await
    }

    async fn untrack(&self, seen: &Execution) -> Result<bool, StoreError> {
        self.apply(&seen.id, false, rules::untrack).await
    }

    async fn reconcile(
        &self,
        seen: &Execution,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (seen, error) = (seen.clone(), error.to_owned());
        let id = seen.id.clone();
        self.apply(&id, false, move |e| rules::reconcile(e, &seen, &error, now))
            .await
    }

    async fn guard_start(
        &self,
        id: &ExecutionId,
        key_hash: &str,
        nonce: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (key_hash, nonce) = (key_hash.to_owned(), nonce.to_owned());
        self.apply(id, false, move |e| {
            rules::guard_start(e, &key_hash, &nonce, at)
        })
        .await
    }

    async fn guard_end(
        &self,
        id: &ExecutionId,
        nonce: &str,
        end: &GuardEnd,
    ) -> Result<bool, StoreError> {
        let (nonce, end) = (nonce.to_owned(), end.clone());
        self.apply(id, false, move |e| rules::guard_end(e, &nonce, &end))
            .await
    }

    async fn take_guard_end(&self, seen: &Execution, token: &str) -> Result<bool, StoreError> {
        let (seen, token) = (seen.clone(), token.to_owned());
        let id = seen.id.clone();
        self.apply(&id, false, move |e| rules::take_guard_end(e, &seen, &token))
            .await
    }

    async fn get_execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        let id = id.clone();
        self.run(move |conn| read_exec(conn, &id)).await
    }

    async fn delete_executions(&self, job: &JobId) -> Result<usize, StoreError> {
        let job = job.clone();
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM executions WHERE job_id = ?1")
                .and_then(|mut st| st.execute(params![job.as_str()]))
                .map_err(|e| backend("SQLite DELETE executions", e))
        })
        .await
    }

    async fn list_executions(
        &self,
        job: &JobId,
        limit: usize,
    ) -> Result<Vec<Execution>, StoreError> {
        let job = job.clone();
        // SQLite's LIMIT is an i64; a larger limit means "all" anyway.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn| {
            let bodies: Vec<String> = conn
                .prepare_cached(
                    "SELECT body FROM executions WHERE job_id = ?1 ORDER BY slot_key DESC LIMIT ?2",
                )
                .and_then(|mut st| {
                    st.query_map(params![job.as_str(), limit], |r| r.get(0))?
                        .collect()
                })
                .map_err(|e| backend("SQLite SELECT executions", e))?;
            bodies.iter().map(|b| from_json(b)).collect()
        })
        .await
    }

    async fn executions_since(
        &self,
        job: &JobId,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<ExecutionPage, StoreError> {
        let job = job.clone();
        let from = ExecutionId::slot_key_from(since);
        // One more than the limit says whether the window goes on.
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        self.run(move |conn| {
            let bodies: Vec<String> = conn
                .prepare_cached(
                    "SELECT body FROM executions WHERE job_id = ?1 AND slot_key >= ?2 ORDER BY slot_key DESC LIMIT ?3",
                )
                .and_then(|mut st| {
                    st.query_map(params![job.as_str(), from, fetch], |r| r.get(0))?
                        .collect()
                })
                .map_err(|e| backend("SQLite SELECT executions", e))?;
            let more = bodies.len() > limit;
            let executions = bodies
                .iter()
                .take(limit)
                .map(|b| from_json(b))
                .collect::<Result<_, _>>()?;
            Ok(ExecutionPage { executions, more })
        })
        .await
    }
}

#[cfg(test)]
mod tests;
