//! The SQLite adapter: the whole scheduler on one machine, in one file, no AWS.
//!
//! Two tables, each row holding the value as JSON (`body`) next to the columns it is found by:
//! - `jobs(app, name, id, due_at, body)`, primary key (app, name);
//! - `executions(job_id, slot_key, due_at, expires_at, body)`, primary key (job id, slot key),
//!   the same key as the DynamoDB item (`<slot>#<s|m><attempt>`), so at most one row exists
//!   for a (job, slot, trigger, attempt).
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
//! Executions expire `retention` after creation, like DynamoDB's TTL: [`SqliteStore::due`]
//! deletes expired rows at most once a minute of the wall clock (never at the `now` it is
//! given: a simulated tick years ahead must not purge the history), and
//! [`SqliteStore::purge_expired`] does it on demand.
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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::{Claim, ClaimOutcome, DueItem, GuardEnd, Outcome, Recorded, Store, StoreError, rules};
use crate::clock::{Clock, SystemClock};
use crate::model::{AppName, Execution, ExecutionId, Job, JobId, JobName};

/// The schema version this code writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;
/// How long a connection waits for another one's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// [`SqliteStore::due`] purges expired executions at most this often (in the `now` it is given).
pub const PURGE_INTERVAL: chrono::Duration = chrono::Duration::minutes(1);

const SCHEMA: &str = "
CREATE TABLE jobs (
    app    TEXT NOT NULL,
    name   TEXT NOT NULL,
    id     TEXT NOT NULL,
    due_at INTEGER,
    body   TEXT NOT NULL,
    PRIMARY KEY (app, name)
) WITHOUT ROWID;
CREATE INDEX jobs_due ON jobs (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE executions (
    job_id     TEXT NOT NULL,
    slot_key   TEXT NOT NULL,
    due_at     INTEGER,
    expires_at INTEGER NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (job_id, slot_key)
) WITHOUT ROWID;
CREATE INDEX executions_due ON executions (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX executions_expires ON executions (expires_at);
";

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
    /// The writer thread's queue; the thread ends when the last store clone is dropped.
    writes: mpsc::Sender<Box<dyn QueuedWrite>>,
    /// Writes queued and not yet taken by the writer thread.
    pending: Arc<AtomicUsize>,
    /// Transactions the writer thread committed (each one fsync with `synchronous = FULL`).
    commits: Arc<AtomicU64>,
    /// The wall clock's instant of the last purge of expired executions.
    last_purge: Mutex<Option<DateTime<Utc>>>,
    /// The clock purges run by: the system clock, a test's clock in tests.
    purge_clock: Mutex<Arc<dyn Clock>>,
}

/// The most writes one transaction takes: bounds how long a batch holds the write lock.
const MAX_BATCH: usize = 256;

/// Why a whole batch wrote nothing: its BEGIN, a savepoint or its COMMIT failed.
struct BatchFailure {
    operation: &'static str,
    message: String,
}

impl BatchFailure {
    fn new(operation: &'static str, err: &rusqlite::Error) -> Self {
        Self {
            operation,
            message: err.to_string(),
        }
    }

    fn to_error(&self) -> StoreError {
        backend(self.operation, std::io::Error::other(self.message.clone()))
    }
}

/// A write waiting for the writer thread.
trait QueuedWrite: Send {
    /// Runs the write inside the batch's transaction; false when it failed (its savepoint
    /// is then rolled back).
    fn apply(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch's fate is known: `None` when it committed.
    fn answer(self: Box<Self>, failure: Option<&BatchFailure>);
}

struct Queued<T, F> {
    write: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> QueuedWrite for Queued<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn apply(&mut self, conn: &Connection) -> bool {
        let Some(write) = self.write.take() else {
            return false;
        };
        // A panicking write must not take the writer thread (and every later write) down.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(conn)))
            .unwrap_or_else(|_| {
                Err(backend(
                    "SQLite write",
                    std::io::Error::other("the write panicked; it was rolled back"),
                ))
            });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, failure: Option<&BatchFailure>) {
        let result = match (self.result, failure) {
            (Some(Err(e)), _) => Err(e),
            (_, Some(failure)) => Err(failure.to_error()),
            (Some(Ok(value)), None) => Ok(value),
            (None, None) => Err(backend(
                "SQLite write",
                std::io::Error::other("the write was not run"),
            )),
        };
        // The caller may have gone (its future dropped): the write stands either way.
        let _ = self.reply.send(result);
    }
}

/// The writer thread: takes the first queued write and every other one already waiting,
/// applies them in one transaction and answers them all after its commit.
fn writer_loop(
    mut conn: Connection,
    queue: mpsc::Receiver<Box<dyn QueuedWrite>>,
    pending: Arc<AtomicUsize>,
    commits: Arc<AtomicU64>,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        pending.fetch_sub(batch.len(), Ordering::Relaxed);
        let failure = apply_batch(&mut conn, &mut batch).err();
        if failure.is_none() {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        for write in batch {
            write.answer(failure.as_ref());
        }
    }
}

fn apply_batch(
    conn: &mut Connection,
    batch: &mut [Box<dyn QueuedWrite>],
) -> Result<(), BatchFailure> {
    let mut tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| BatchFailure::new("SQLite BEGIN IMMEDIATE", &e))?;
    // After some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM...) SQLite rolls the whole
    // transaction back on its own. A later SAVEPOINT would then open a transaction of its own
    // and its RELEASE commit it alone, behind the batch's back: stop the batch instead.
    let rolled_back = |tx: &rusqlite::Transaction<'_>| {
        if tx.is_autocommit() {
            Err(BatchFailure {
                operation: "SQLite write",
                message: "SQLite rolled the transaction back (disk full or an I/O error?); nothing was written".to_owned(),
            })
        } else {
            Ok(())
        }
    };
    for write in batch.iter_mut() {
        rolled_back(&tx)?;
        let mut savepoint = tx
            .savepoint()
            .map_err(|e| BatchFailure::new("SQLite SAVEPOINT", &e))?;
        if !write.apply(&savepoint) {
            // Undo what the failed write did; an error here means the transaction is gone.
            savepoint
                .rollback()
                .map_err(|e| BatchFailure::new("SQLite ROLLBACK TO", &e))?;
        }
        savepoint
            .commit()
            .map_err(|e| BatchFailure::new("SQLite RELEASE", &e))?;
    }
    rolled_back(&tx)?;
    tx.commit()
        .map_err(|e| BatchFailure::new("SQLite COMMIT", &e))
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

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Malformed(e.to_string()))
}

fn from_json<T: DeserializeOwned>(body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Malformed(e.to_string()))
}

/// Epoch microseconds: the unit of the `due_at` and `expires_at` columns.
fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a connection whose transaction rusqlite rolled
    // back on drop (or plain data): keep using it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read_job(conn: &Connection, app: &str, name: &str) -> Result<Option<Job>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM jobs WHERE app = ?1 AND name = ?2")
        .and_then(|mut st| st.query_row(params![app, name], |r| r.get(0)).optional())
        .map_err(|e| backend("SQLite SELECT job", e))?;
    body.as_deref().map(from_json).transpose()
}

fn write_job(conn: &Connection, job: &Job) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO jobs (app, name, id, due_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (app, name) DO UPDATE SET id = excluded.id, due_at = excluded.due_at, body = excluded.body",
    )
    .and_then(|mut st| {
        st.execute(params![
            job.app.as_str(),
            job.name.as_str(),
            job.id.as_str(),
            job.due_at().map(micros),
            to_json(job).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
        ])
    })
    .map_err(|e| backend("SQLite write job", e))?;
    Ok(())
}

fn read_exec(conn: &Connection, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM executions WHERE job_id = ?1 AND slot_key = ?2")
        .and_then(|mut st| {
            st.query_row(params![id.job_id().as_str(), id.slot_key()], |r| r.get(0))
                .optional()
        })
        .map_err(|e| backend("SQLite SELECT execution", e))?;
    body.as_deref().map(from_json).transpose()
}

fn write_exec(conn: &Connection, exec: &Execution) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO executions (job_id, slot_key, due_at, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (job_id, slot_key) DO UPDATE SET due_at = excluded.due_at, expires_at = excluded.expires_at, body = excluded.body",
    )
    .and_then(|mut st| {
        st.execute(params![
            exec.id.job_id().as_str(),
            exec.id.slot_key(),
            exec.due_at.map(micros),
            micros(exec.expires_at),
            to_json(exec).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
        ])
    })
    .map_err(|e| backend("SQLite write execution", e))?;
    Ok(())
}

/// Opens (creating if needed) the file, sets the connection up and brings the schema to
/// [`SCHEMA_VERSION`].
fn connect(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| backend("SQLite create directory", e))?;
    }
    let mut conn = Connection::open(path).map_err(|e| backend("SQLite open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| backend("SQLite busy_timeout", e))?;
    // WAL: readers never block the writer, and a commit is one append. The returned mode is
    // checked: a file system without shared memory (some network mounts) stays in another
    // mode, which is still correct, only slower.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| backend("SQLite PRAGMA journal_mode", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "SQLite did not switch to WAL mode");
    }
    // FULL: a claim is on disk before its call is sent, even across a power loss.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| backend("SQLite PRAGMA synchronous", e))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| backend("SQLite BEGIN", e))?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| backend("SQLite PRAGMA user_version", e))?;
    match version {
        0 => {
            tx.execute_batch(SCHEMA)
                .map_err(|e| backend("SQLite CREATE TABLE", e))?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(|e| backend("SQLite PRAGMA user_version", e))?;
        }
        SCHEMA_VERSION => {}
        other => {
            return Err(StoreError::Malformed(format!(
                "{} has schema version {other}; this psu-sched knows up to {SCHEMA_VERSION}: upgrade psu-sched",
                path.display()
            )));
        }
    }
    tx.commit().map_err(|e| backend("SQLite COMMIT", e))?;
    Ok(conn)
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
        let writer = connect(&path)?;
        let (writes, queue) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let commits = Arc::new(AtomicU64::new(0));
        let (taken, counted) = (pending.clone(), commits.clone());
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || writer_loop(writer, queue, taken, counted))
            .map_err(|e| backend("SQLite writer thread", e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
                writes,
                pending,
                commits,
                last_purge: Mutex::new(None),
                purge_clock: Mutex::new(Arc::new(SystemClock)),
            }),
        })
    }

    /// Purges by `clock` instead of the system clock (tests of retention).
    pub fn set_purge_clock(&self, clock: Arc<dyn Clock>) {
        *lock(&self.inner.purge_clock) = clock;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many write transactions this store has committed since it was opened. Writes
    /// queued together share one (see the module documentation): fewer commits than writes
    /// means fewer fsyncs.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
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
        let (reply, answer) = oneshot::channel();
        let queued = Box::new(Queued {
            write: Some(f),
            result: None,
            reply,
        });
        let stopped = || {
            backend(
                "SQLite write",
                std::io::Error::other("the store's writer thread stopped"),
            )
        };
        self.inner.pending.fetch_add(1, Ordering::Relaxed);
        if self.inner.writes.send(queued).is_err() {
            self.inner.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(stopped());
        }
        answer.await.map_err(|_| stopped())?
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
    /// the same on its own); returns how many. [`Store::due`] calls it at most once a minute.
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

    /// True when [`Store::due`] should purge first at the wall clock's `now`: never purged, a
    /// minute passed, or the clock went back.
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
            if read_job(conn, job.app.as_str(), job.name.as_str())?.is_some() {
                return Err(StoreError::AlreadyExists(job.app.clone(), job.name.clone()));
            }
            write_job(conn, &job)
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

    async fn due(&self, now: DateTime<Utc>) -> Result<Vec<DueItem>, StoreError> {
        // Retention runs on the wall clock, as DynamoDB's TTL does: never at a caller's `now`.
        let wall = lock(&self.inner.purge_clock).now();
        if self.purge_due(wall) {
            // Retention is housekeeping: a busy file must not fail the tick over it.
            if let Err(e) = self.purge_expired(wall).await {
                tracing::warn!(error = %e, "could not purge expired executions; will retry next minute");
            }
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
                    if let Some(at) = job.due_at().filter(|at| *at <= now) {
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
                    if let Some(at) = exec.due_at.filter(|at| *at <= now) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    fn temp_path() -> PathBuf {
        std::env::temp_dir()
            .join(format!("psu-sched-unit-{}", uuid::Uuid::new_v4().simple()))
            .join("nested")
            .join("store.db")
    }

    fn job(name: &str) -> Job {
        crate::model::NewJob::new(
            AppName::parse("app").expect("app"),
            JobName::parse(name).expect("name"),
            crate::model::JobUrl::parse("https://example.com/job").expect("url"),
            "* * * * *".parse().expect("schedule"),
        )
        .build(Utc::now())
        .expect("job")
    }

    /// Queues a write that holds the writer thread until `release` is sent, so the writes
    /// queued meanwhile form one batch.
    async fn hold_writer(store: &SqliteStore) -> std::sync::mpsc::Sender<()> {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, holding) = oneshot::channel();
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write(move |_| {
                    let _ = started.send(());
                    let _ = held.recv();
                    Ok(())
                })
                .await
        });
        holding.await.expect("the writer thread runs the holder");
        release
    }

    async fn job_names(store: &SqliteStore) -> Vec<String> {
        store
            .list_jobs(None)
            .await
            .expect("list")
            .into_iter()
            .map(|j| j.name.as_str().to_owned())
            .collect()
    }

    async fn queued(store: &SqliteStore, writes: usize) {
        // The writes are queued when their futures first run; wait until all have been.
        for _ in 0..2000 {
            if store.inner.pending.load(Ordering::Relaxed) >= writes {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the writes were not queued");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_together_share_one_commit_and_a_failed_one_rolls_back_alone() {
        let path = temp_path();
        let store = SqliteStore::open(&path).await.expect("open");
        store.create_job(&job("existing")).await.expect("create");
        let commits_before = store.commits();

        let release = hold_writer(&store).await;
        let mut writes = Vec::new();
        for name in ["a", "existing", "b"] {
            let store = store.clone();
            // "existing" fails (AlreadyExists) after its read; a and b must still land.
            writes.push(tokio::spawn(
                async move { store.create_job(&job(name)).await },
            ));
        }
        let failing = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(|conn| {
                        write_job(conn, &job("half-written"))?;
                        Err::<(), _>(StoreError::Malformed("failed after writing".to_owned()))
                    })
                    .await
            })
        };
        queued(&store, 4).await;
        release.send(()).expect("release the writer");

        let results: Vec<bool> = futures::future::join_all(writes)
            .await
            .into_iter()
            .map(|r| r.expect("task").is_ok())
            .collect();
        assert_eq!(results, [true, false, true]);
        let failed = failing.await.expect("task");
        assert!(
            matches!(failed, Err(StoreError::Malformed(_))),
            "{failed:?}"
        );

        assert_eq!(job_names(&store).await, ["a", "b", "existing"]);
        // The holder and the four writes behind it: two transactions, not five.
        assert_eq!(store.commits() - commits_before, 2);
        drop(store);
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_sqlite_rolls_the_whole_batch_back_every_write_of_it_fails_and_none_lands() {
        let path = temp_path();
        let store = SqliteStore::open(&path).await.expect("open");
        let release = hold_writer(&store).await;
        let before = {
            let store = store.clone();
            tokio::spawn(async move { store.create_job(&job("before")).await })
        };
        queued(&store, 1).await;
        // What SQLite does by itself after SQLITE_FULL or SQLITE_IOERR: the whole
        // transaction is rolled back, then the write reports its error.
        let rolling_back = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(|conn| -> Result<(), StoreError> {
                        conn.execute_batch("ROLLBACK")
                            .map_err(|e| backend("test ROLLBACK", e))?;
                        Err(StoreError::Malformed("disk full".to_owned()))
                    })
                    .await
            })
        };
        queued(&store, 2).await;
        let after = {
            let store = store.clone();
            tokio::spawn(async move { store.create_job(&job("after")).await })
        };
        queued(&store, 3).await;
        release.send(()).expect("release the writer");

        assert!(rolling_back.await.expect("task").is_err());
        let before = before.await.expect("task");
        let after = after.await.expect("task");
        // Told the truth: neither is reported written, and neither is on disk.
        assert!(before.is_err(), "{before:?}");
        assert!(after.is_err(), "{after:?}");
        assert!(job_names(&store).await.is_empty());
        store
            .create_job(&job("later"))
            .await
            .expect("the next batch works");
        assert_eq!(job_names(&store).await, ["later"]);
        drop(store);
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_fails_alone_and_the_writer_keeps_going() {
        let path = temp_path();
        let store = SqliteStore::open(&path).await.expect("open");
        let release = hold_writer(&store).await;
        let panicking = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(|conn| -> Result<(), StoreError> {
                        write_job(conn, &job("panicked"))?;
                        panic!("a bug in a write")
                    })
                    .await
            })
        };
        let fine = {
            let store = store.clone();
            tokio::spawn(async move { store.create_job(&job("fine")).await })
        };
        queued(&store, 2).await;
        release.send(()).expect("release the writer");
        assert!(panicking.await.expect("task").is_err());
        fine.await
            .expect("task")
            .expect("the other write of the batch lands");
        store
            .create_job(&job("later"))
            .await
            .expect("a later write lands");
        assert_eq!(job_names(&store).await, ["fine", "later"]);
        drop(store);
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
    }

    #[tokio::test]
    async fn open_creates_the_directory_the_file_and_a_versioned_schema_once() {
        let path = temp_path();
        let store = SqliteStore::open(&path).await.expect("open");
        assert!(path.exists());
        let again = SqliteStore::open(&path).await.expect("open again");
        let (version, mode): (i64, String) = {
            let conn = lock(&again.inner.conn);
            (
                conn.pragma_query_value(None, "user_version", |r| r.get(0))
                    .expect("user_version"),
                conn.pragma_query_value(None, "journal_mode", |r| r.get(0))
                    .expect("journal_mode"),
            )
        };
        assert_eq!((version, mode.as_str()), (SCHEMA_VERSION, "wal"));
        drop((store, again));
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
    }

    #[tokio::test]
    async fn a_file_from_a_newer_psu_sched_is_refused() {
        let path = temp_path();
        drop(SqliteStore::open(&path).await.expect("open"));
        Connection::open(&path)
            .expect("raw open")
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        let err = SqliteStore::open(&path).await.err().expect("refused");
        assert!(err.to_string().contains("upgrade psu-sched"), "{err}");
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
    }

    fn execution(job: &Job, slot: DateTime<Utc>, expires_at: DateTime<Utc>) -> Execution {
        Execution {
            id: ExecutionId::new(job.id.clone(), slot, crate::model::Trigger::Schedule, 1),
            app: job.app.clone(),
            name: job.name.clone(),
            scheduled_for: slot,
            attempt: 1,
            trigger: crate::model::Trigger::Schedule,
            status: Status::Pending,
            http_status: None,
            output: None,
            error: None,
            created_at: slot,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            coalesced: 0,
            url: job.url.clone(),
            method: job.method,
            timeout_ms: job.timeout_ms,
            retries: 0,
            key_hash: None,
            claimed_by: Some(format!("t{}", slot.timestamp())),
            dispatched_by: None,
            guard_nonce: None,
            outcome_by: None,
            due_at: Some(slot + chrono::Duration::seconds(60)),
            expires_at,
        }
    }

    #[tokio::test]
    async fn expired_executions_are_purged_by_due_at_most_once_a_minute_of_the_wall_clock() {
        use chrono::TimeZone;
        let t0 = Utc
            .with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
            .single()
            .expect("valid");
        let minutes = |m: i64| t0 + chrono::Duration::minutes(m);
        let path = temp_path();
        let store = SqliteStore::open(&path).await.expect("open");
        let wall = Arc::new(crate::clock::FixedClock::new(t0));
        store.set_purge_clock(wall.clone());
        // `due` at `at`, with the wall clock there too.
        let due_at = |at: DateTime<Utc>| {
            wall.set(at);
            store.due(at)
        };
        let mut job = crate::model::NewJob::new(
            AppName::parse("app").expect("app"),
            JobName::parse("job").expect("name"),
            crate::model::JobUrl::parse("https://example.edu/job").expect("url"),
            "0 * * * *".parse().expect("schedule"),
        )
        .build(t0)
        .expect("job");
        job.enabled = false;
        store.create_job(&job).await.expect("create");
        // Slot 1 expires at +10 min, slot 2 at +10.5 min, slot 3 in 30 days.
        let expiring = [
            execution(&job, minutes(-3), minutes(10)),
            execution(
                &job,
                minutes(-2),
                minutes(10) + chrono::Duration::seconds(30),
            ),
            execution(&job, minutes(-1), minutes(60 * 24 * 30)),
        ];
        for (i, exec) in expiring.iter().enumerate() {
            let mut claimed = job.clone();
            claimed.state.version = i as u64 + 1;
            claimed.state.writer = exec.claimed_by.clone();
            let claim = Claim {
                job: claimed.clone(),
                expected_version: i as u64,
                token: exec.claimed_by.clone().expect("token"),
                execution: exec.clone(),
            };
            assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
            job = claimed;
        }
        async fn count(store: &SqliteStore, job: &JobId) -> usize {
            store.list_executions(job, 10).await.expect("list").len()
        }
        // The first due() purges (nothing expired yet); every lease has passed.
        assert_eq!(due_at(minutes(1)).await.expect("due").len(), 3);
        assert_eq!(count(&store, &job.id).await, 3);
        // Slot 1 expired at +10, but the last purge was less than a minute ago (in `now`).
        assert_eq!(
            due_at(minutes(1) + chrono::Duration::seconds(59))
                .await
                .expect("due")
                .len(),
            3
        );
        assert_eq!(
            due_at(minutes(10)).await.expect("due").len(),
            2,
            "expired at +10 exactly"
        );
        assert_eq!(count(&store, &job.id).await, 2);
        assert_eq!(
            due_at(minutes(10) + chrono::Duration::seconds(45))
                .await
                .expect("due")
                .len(),
            2,
            "slot 2 expired, but the purge ran 45 s ago"
        );
        assert_eq!(count(&store, &job.id).await, 2);
        assert_eq!(
            store.purge_expired(minutes(11)).await.expect("purge"),
            1,
            "on demand"
        );
        assert_eq!(count(&store, &job.id).await, 1);
        // A tick simulated a year ahead, with the wall clock a minute on: nothing purged.
        wall.set(minutes(13));
        store.due(minutes(60 * 24 * 365)).await.expect("due");
        assert_eq!(count(&store, &job.id).await, 1, "slot 3 expires in 30 days");
        drop(store);
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
    }

    #[tokio::test]
    async fn due_reads_only_the_due_index() {
        let path = temp_path();
        let store = SqliteStore::open(&path).await.expect("open");
        let plans: Vec<String> = {
            let conn = lock(&store.inner.conn);
            ["jobs", "executions"]
                .iter()
                .map(|table| {
                    let sql = format!(
                        "EXPLAIN QUERY PLAN SELECT body FROM {table} WHERE due_at IS NOT NULL AND due_at <= 1 ORDER BY due_at"
                    );
                    let mut st = conn.prepare(&sql).expect("prepare");
                    let rows: Vec<String> = st
                        .query_map([], |r| r.get::<_, String>(3))
                        .expect("plan")
                        .collect::<Result<_, _>>()
                        .expect("rows");
                    rows.join(" / ")
                })
                .collect()
        };
        assert!(plans[0].contains("USING INDEX jobs_due"), "{}", plans[0]);
        assert!(
            plans[1].contains("USING INDEX executions_due"),
            "{}",
            plans[1]
        );
        for plan in &plans {
            assert!(
                !plan.contains("SCAN"),
                "no full scan on the tick's path: {plan}"
            );
        }
        drop(store);
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
    }
}
