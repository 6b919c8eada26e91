//! A store whose due index lags behind its table, as DynamoDB's global secondary index does
//! (docs/design/scale.md, 2.9), for tests: moto updates its index at once, so without this
//! nothing would show that exactly-once rests on the claim's conditions and not on the index.
//!
//! [`LaggingIndex`] is a [`MemoryStore`] for everything but [`Store::due_in`]. After each
//! write it records, for every item the write touched, the item's new index entry (its shard
//! and due instant, [`MemoryStore::job_index_entry`]) and body, stamped with the test's clock.
//! `due_in` answers from a view of those records:
//!
//! - a new entry is visible once `lag` has passed since its write (by the clock the test
//!   moves, never wall time): ticks racing at one instant see none of each other's writes,
//!   ticks a minute apart see everything;
//! - when an entry changes (a key moving within its shard or to another shard, or leaving the
//!   index), a seeded RNG chooses, per write, whether the old entry goes at once (**neither** is
//!   visible until the new one is) or stays until `lag` after the new one appears (**both**
//!   are visible for a while);
//! - bodies are the item as that entry's write left it (the ALL projection: a stale entry
//!   carries a stale job), or with [`LaggingIndex::with_current_bodies`] the item as the table
//!   holds it at the query (a keys-only index read back consistently).
//!
//! Same seed, same clock steps, same answers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::layout::TableMeta;
use super::memory::MemoryStore;
use super::{
    Claim, ClaimOutcome, DeleteIf, DueIndexSwitch, DueItem, ExecutionPage, GuardEnd, Outcome,
    Recorded, Resharded, ShardLease, Store, StoreError,
};
use crate::clock::Clock;
use crate::model::{App, AppName, Execution, ExecutionId, Job, JobId, JobName};

/// An item of the table, as the index's records name it.
#[derive(Debug, Clone)]
enum ItemRef {
    Job(AppName, JobName),
    Execution(ExecutionId),
}

/// One change of an item's index entry.
#[derive(Debug, Clone)]
struct Change {
    /// When it was written (the test's clock).
    at: DateTime<Utc>,
    /// The new entry (shard, due instant) and the item's body then; `None`: out of the index.
    entry: Option<((u32, DateTime<Utc>), DueItem)>,
    /// Whether the entry before this one stays visible until `lag` after this one appears
    /// (true: both for a while) or goes at once (false: neither for a while).
    old_stays: bool,
}

#[derive(Default)]
struct Records {
    /// Per item (keyed by its primary key), the item and its entry's changes, oldest first.
    items: BTreeMap<String, (ItemRef, Vec<Change>)>,
}

/// A [`MemoryStore`] whose due index lags (the module's documentation).
pub struct LaggingIndex {
    inner: MemoryStore,
    clock: Arc<dyn Clock>,
    lag: Duration,
    current_bodies: bool,
    rng: Mutex<StdRng>,
    records: Mutex<Records>,
}

impl LaggingIndex {
    /// An empty store whose index shows a write `lag` after it (by `clock`), choosing "both"
    /// or "neither" for each changed entry from `seed`.
    pub fn new(clock: Arc<dyn Clock>, lag: Duration, seed: u64) -> Self {
        Self {
            inner: MemoryStore::new(),
            clock,
            lag,
            current_bodies: false,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            records: Mutex::new(Records::default()),
        }
    }

    /// The same store answering with the items as the table holds them at the query.
    pub fn with_current_bodies(mut self) -> Self {
        self.current_bodies = true;
        self
    }

    /// The memory store underneath (the table, always up to date).
    pub fn inner(&self) -> &MemoryStore {
        &self.inner
    }

    fn records(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the entry of `item` as the table holds it now, if it changed.
    async fn touched(&self, item: ItemRef) {
        let (key, entry) = match &item {
            ItemRef::Job(app, name) => {
                let body = self.inner.get_job(app, name).await.ok().flatten();
                let entry = self
                    .inner
                    .job_index_entry(app, name)
                    .zip(body.map(|job| DueItem::Job(Box::new(job))));
                (format!("APP#{app}/JOB#{name}"), entry)
            }
            ItemRef::Execution(id) => {
                let body = self.inner.get_execution(id).await.ok().flatten();
                let entry = self
                    .inner
                    .execution_index_entry(id)
                    .zip(body.map(|e| DueItem::Execution(Box::new(e))));
                (format!("JOB#{}/EXEC#{}", id.job_id(), id.slot_key()), entry)
            }
        };
        let at = self.clock.now();
        let old_stays = self
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random_bool(0.5);
        let mut records = self.records();
        let (_, changes) = records
            .items
            .entry(key)
            .or_insert_with(|| (item, Vec::new()));
        let last = changes
            .last()
            .and_then(|c| c.entry.as_ref().map(|(e, _)| *e));
        if last == entry.as_ref().map(|(e, _)| *e) {
            // The same key: rewritten in place, no gap. Keep the newest body.
            if let (Some(change), Some((_, body))) = (changes.last_mut(), entry) {
                change.entry = change.entry.take().map(|(e, _)| (e, body));
            }
            return;
        }
        changes.push(Change {
            at,
            entry,
            old_stays,
        });
    }

    /// Every job and execution of the records whose id is `job` (a purge touches them all).
    fn executions_of(&self, job: &JobId) -> Vec<ExecutionId> {
        self.records()
            .items
            .values()
            .filter_map(|(item, _)| match item {
                ItemRef::Execution(id) if id.job_id() == job => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// The entries visible at `view`, each with the item they belong to.
    fn visible(&self, view: DateTime<Utc>) -> Vec<(ItemRef, (u32, DateTime<Utc>), DueItem)> {
        let records = self.records();
        let mut out = Vec::new();
        for (item, changes) in records.items.values() {
            for (i, change) in changes.iter().enumerate() {
                let Some((entry, body)) = &change.entry else {
                    continue;
                };
                let shown = change.at + self.lag;
                let gone = changes.get(i + 1).map(|next| {
                    if next.old_stays {
                        next.at + self.lag + self.lag
                    } else {
                        next.at
                    }
                });
                // Several entries of one item may be visible ("both"): each is returned, as
                // DynamoDB's Queries would.
                if shown <= view && gone.is_none_or(|gone| view < gone) {
                    out.push((item.clone(), *entry, body.clone()));
                }
            }
        }
        out
    }
}

#[async_trait]
impl Store for LaggingIndex {
    fn is_local(&self) -> bool {
        true
    }

    async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        let result = self.inner.create_job(job).await;
        self.touched(ItemRef::Job(job.app.clone(), job.name.clone()))
            .await;
        result
    }

    async fn import_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        let result = self.inner.import_jobs(jobs).await;
        for job in jobs {
            self.touched(ItemRef::Job(job.app.clone(), job.name.clone()))
                .await;
        }
        result
    }

    async fn get_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        self.inner.get_job(app, name).await
    }

    async fn list_jobs(&self, app: Option<&AppName>) -> Result<Vec<Job>, StoreError> {
        self.inner.list_jobs(app).await
    }

    async fn put_job(&self, job: &Job, expected_version: u64) -> Result<bool, StoreError> {
        let result = self.inner.put_job(job, expected_version).await;
        self.touched(ItemRef::Job(job.app.clone(), job.name.clone()))
            .await;
        result
    }

    async fn delete_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        let result = self.inner.delete_job(app, name).await;
        self.touched(ItemRef::Job(app.clone(), name.clone())).await;
        result
    }

    async fn delete_job_if_unchanged(&self, read: &Job) -> Result<DeleteIf, StoreError> {
        let result = self.inner.delete_job_if_unchanged(read).await;
        self.touched(ItemRef::Job(read.app.clone(), read.name.clone()))
            .await;
        result
    }

    async fn create_app(&self, app: &App) -> Result<(), StoreError> {
        self.inner.create_app(app).await
    }

    async fn get_app(&self, name: &AppName) -> Result<Option<App>, StoreError> {
        self.inner.get_app(name).await
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        self.inner.list_apps().await
    }

    async fn put_app(&self, app: &App, expected_version: u64) -> Result<bool, StoreError> {
        self.inner.put_app(app, expected_version).await
    }

    async fn delete_app(&self, name: &AppName) -> Result<Option<App>, StoreError> {
        self.inner.delete_app(name).await
    }

    async fn delete_app_at(&self, read: &App) -> Result<DeleteIf, StoreError> {
        self.inner.delete_app_at(read).await
    }

    async fn table_meta(&self) -> Result<TableMeta, StoreError> {
        self.inner.table_meta().await
    }

    async fn put_table_meta(
        &self,
        meta: &TableMeta,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        self.inner.put_table_meta(meta, expected_version).await
    }

    async fn lease_shard(
        &self,
        lease: &ShardLease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.lease_shard(lease, now).await
    }

    async fn release_shard(&self, lease: &ShardLease) -> Result<(), StoreError> {
        self.inner.release_shard(lease).await
    }

    async fn switch_due_index(&self) -> Result<DueIndexSwitch, StoreError> {
        self.inner.switch_due_index().await
    }
    async fn reshard(&self) -> Result<Resharded, StoreError> {
        let result = self.inner.reshard().await;
        let items: Vec<ItemRef> = self
            .records()
            .items
            .values()
            .map(|(item, _)| item.clone())
            .collect();
        for item in items {
            self.touched(item).await;
        }
        result
    }

    async fn due_in(&self, now: DateTime<Utc>, shards: &[u32]) -> Result<Vec<DueItem>, StoreError> {
        let mut due: Vec<(DateTime<Utc>, DueItem)> = Vec::new();
        for (item, (shard, at), body) in self.visible(self.clock.now()) {
            if !shards.contains(&shard) || at > now {
                continue;
            }
            let body = if self.current_bodies {
                // A keys-only index read back consistently: the item as it is now, or
                // nothing when it is gone.
                match item {
                    ItemRef::Job(app, name) => self
                        .inner
                        .get_job(&app, &name)
                        .await?
                        .map(|job| DueItem::Job(Box::new(job))),
                    ItemRef::Execution(id) => self
                        .inner
                        .get_execution(&id)
                        .await?
                        .map(|e| DueItem::Execution(Box::new(e))),
                }
            } else {
                Some(body)
            };
            if let Some(body) = body {
                due.push((at, body));
            }
        }
        due.sort_by_key(|(at, _)| *at);
        Ok(due.into_iter().map(|(_, item)| item).collect())
    }

    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let result = self.inner.claim(claim).await;
        self.touched(ItemRef::Job(claim.job.app.clone(), claim.job.name.clone()))
            .await;
        self.touched(ItemRef::Execution(claim.execution.id.clone()))
            .await;
        result
    }

    async fn mark_dispatched(
        &self,
        id: &ExecutionId,
        token: &str,
        key_hash: &str,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .inner
            .mark_dispatched(id, token, key_hash, at, deadline)
            .await;
        self.touched(ItemRef::Execution(id.clone())).await;
        result
    }

    async fn release_dispatch(
        &self,
        id: &ExecutionId,
        token: &str,
        due_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self.inner.release_dispatch(id, token, due_at).await;
        self.touched(ItemRef::Execution(id.clone())).await;
        result
    }

    async fn record_outcome(
        &self,
        id: &ExecutionId,
        token: &str,
        outcome: &Outcome,
    ) -> Result<Recorded, StoreError> {
        let result = self.inner.record_outcome(id, token, outcome).await;
        self.touched(ItemRef::Execution(id.clone())).await;
        result
    }

    async fn untrack(&self, seen: &Execution) -> Result<bool, StoreError> {
        let result = self.inner.untrack(seen).await;
        self.touched(ItemRef::Execution(seen.id.clone())).await;
        result
    }

    async fn reconcile(
        &self,
        seen: &Execution,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self.inner.reconcile(seen, error, now).await;
        self.touched(ItemRef::Execution(seen.id.clone())).await;
        result
    }

    async fn guard_start(
        &self,
        id: &ExecutionId,
        key_hash: &str,
        nonce: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self.inner.guard_start(id, key_hash, nonce, at).await;
        self.touched(ItemRef::Execution(id.clone())).await;
        result
    }

    async fn guard_end(
        &self,
        id: &ExecutionId,
        nonce: &str,
        end: &GuardEnd,
    ) -> Result<bool, StoreError> {
        let result = self.inner.guard_end(id, nonce, end).await;
        self.touched(ItemRef::Execution(id.clone())).await;
        result
    }

    async fn take_guard_end(&self, seen: &Execution, token: &str) -> Result<bool, StoreError> {
        let result = self.inner.take_guard_end(seen, token).await;
        self.touched(ItemRef::Execution(seen.id.clone())).await;
        result
    }

    async fn get_execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        self.inner.get_execution(id).await
    }

    async fn delete_executions(&self, job: &JobId) -> Result<usize, StoreError> {
        let result = self.inner.delete_executions(job).await;
        for id in self.executions_of(job) {
            self.touched(ItemRef::Execution(id)).await;
        }
        result
    }

    async fn list_executions(
        &self,
        job: &JobId,
        limit: usize,
    ) -> Result<Vec<Execution>, StoreError> {
        self.inner.list_executions(job, limit).await
    }

    async fn executions_since(
        &self,
        job: &JobId,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<ExecutionPage, StoreError> {
        self.inner.executions_since(job, since, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::model::{JobUrl, NewJob};

    fn at(minute: u32, second: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 6, 1, 9, minute, second)
            .single()
            .expect("an instant")
    }

    fn job(app: &str, name: &str) -> Job {
        NewJob::new(
            AppName::parse(app).expect("app"),
            JobName::parse(name).expect("name"),
            JobUrl::parse("https://example.edu/job").expect("url"),
            "* * * * *".parse().expect("schedule"),
        )
        .build(at(0, 30))
        .expect("a job")
    }

    async fn names(store: &LaggingIndex, now: DateTime<Utc>) -> Vec<String> {
        store
            .due_in(now, &[0, 1, 2, 3])
            .await
            .expect("due")
            .iter()
            .map(|item| match item {
                DueItem::Job(j) => format!("{}@v{}", j.name, j.state.version),
                DueItem::Execution(e) => format!("exec:{}", e.id),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_write_is_hidden_for_the_lag_then_shown() {
        let clock = Arc::new(FixedClock::new(at(0, 30)));
        let store = LaggingIndex::new(clock.clone(), Duration::seconds(2), 7);
        store.create_job(&job("a", "one")).await.expect("create");
        assert!(names(&store, at(5, 0)).await.is_empty(), "not yet");
        clock.set(at(0, 31));
        assert!(
            names(&store, at(5, 0)).await.is_empty(),
            "1 s later: still not"
        );
        clock.set(at(0, 32));
        assert_eq!(names(&store, at(5, 0)).await, ["one@v0"]);
    }

    /// Creates a job, then at 09:01:00 moves its key (a write of its next version due a
    /// minute later), and returns what the index shows `after` seconds later.
    async fn after_a_move(seed: u64, after: u32) -> Vec<String> {
        let clock = Arc::new(FixedClock::new(at(0, 30)));
        let store = LaggingIndex::new(clock.clone(), Duration::seconds(2), seed);
        let first = job("a", "moving");
        store.create_job(&first).await.expect("create");
        clock.set(at(1, 0));
        let mut next = first.clone();
        next.state.version = 1;
        next.state.next_slot = first.state.next_slot.map(|s| s + Duration::minutes(1));
        assert!(store.put_job(&next, 0).await.expect("put"));
        clock.set(at(1, after));
        names(&store, at(10, 0)).await
    }

    #[tokio::test]
    async fn a_moved_entry_is_seen_twice_or_not_at_all_by_seed_and_the_same_seed_replays() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..16 {
            let view = after_a_move(seed, 3).await;
            assert_eq!(view, after_a_move(seed, 3).await, "seed {seed} replays");
            seen.insert(view);
        }
        assert_eq!(
            seen,
            [
                vec!["moving@v1".to_owned()],
                vec!["moving@v0".to_owned(), "moving@v1".to_owned()],
            ]
            .into_iter()
            .collect(),
            "3 s after the move the new entry is shown; the old one too for some seeds"
        );
    }

    #[tokio::test]
    async fn right_after_a_move_some_seeds_show_neither_entry() {
        let mut shown = std::collections::BTreeSet::new();
        for seed in 0..16 {
            shown.insert(after_a_move(seed, 1).await);
        }
        assert_eq!(
            shown,
            [Vec::new(), vec!["moving@v0".to_owned()]]
                .into_iter()
                .collect(),
            "1 s after the move: the old entry (both) or none (neither), never the new one"
        );
    }
}
