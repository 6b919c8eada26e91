//! The writer thread: every write of a store goes through its queue; the thread takes what
//! queued while its previous commit ran and applies it in one transaction, each write in its
//! own savepoint, then commits once and answers them all (see the module documentation of
//! [`sqlite`](super)).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::backend;
use crate::store::StoreError;

/// A store's writer thread, as the store holds it: its queue and its counters.
pub(super) struct Writer {
    /// The writer thread's queue; the thread ends when this sender is dropped.
    writes: mpsc::Sender<Box<dyn QueuedWrite>>,
    /// Writes queued and not yet taken by the writer thread.
    pending: Arc<AtomicUsize>,
    /// Transactions the writer thread committed (each one fsync with `synchronous = FULL`):
    /// read by tests and benchmarks only (feature `test-util`).
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on `conn`, its own connection.
    pub(super) fn spawn(conn: Connection) -> Result<Self, StoreError> {
        let (writes, queue) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let commits = Arc::new(AtomicU64::new(0));
        let (taken, counted) = (pending.clone(), commits.clone());
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || writer_loop(conn, queue, taken, counted))
            .map_err(|e| backend("SQLite writer thread", e))?;
        Ok(Self {
            writes,
            pending,
            commits,
        })
    }

    /// How many write transactions the thread has committed.
    #[cfg(any(test, feature = "test-util"))]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Queues `f` for the writer thread and waits for its answer, which comes after the
    /// batch's commit: [`SqliteStore::write`](super::SqliteStore::write) says what `f` may
    /// rely on.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
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
        self.pending.fetch_add(1, Ordering::Relaxed);
        if self.writes.send(queued).is_err() {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(stopped());
        }
        answer.await.map_err(|_| stopped())?
    }
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::super::tests::{job, temp_path};
    use super::super::{SqliteStore, backend, write_job};
    use crate::store::{Store, StoreError};

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
            if store.inner.writer.pending.load(Ordering::Relaxed) >= writes {
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
}
