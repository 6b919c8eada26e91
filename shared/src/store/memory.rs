//! An in-memory [`Store`] for fast unit tests. Each transition is decided by
//! [`rules`](super::rules), as for SQLite and as DynamoDB's conditions say, under one lock. Not persistent, not shared between processes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::layout::{TableMeta, shard_of};
use super::{
    Claim, ClaimOutcome, DeleteIf, DueItem, ExecutionPage, GuardEnd, NEW_TABLE_FORMAT, Outcome,
    Recorded, Resharded, ShardLease, Store, StoreError, rules,
};
use crate::model::{App, AppName, Execution, ExecutionId, Job, JobId, JobName};

#[derive(Default)]
struct Inner {
    jobs: BTreeMap<(String, String), Job>,
    apps: BTreeMap<String, App>,
    executions: BTreeMap<(JobId, String), Execution>,
    /// The layout, as DynamoDB's `META` item holds it ([`TableMeta::LEGACY`] until raised).
    meta: Option<TableMeta>,
    /// The due-index shard each job and execution was last put in by a write that indexes
    /// it (as DynamoDB's `gsi1pk`); absent is shard 0.
    job_shards: BTreeMap<(String, String), u32>,
    exec_shards: BTreeMap<(JobId, String), u32>,
    /// Shard leases by (shard, minute).
    leases: BTreeMap<(u32, DateTime<Utc>), ShardLease>,
}

impl Inner {
    fn meta(&self) -> TableMeta {
        self.meta.unwrap_or(TableMeta {
            format: NEW_TABLE_FORMAT,
            ..TableMeta::LEGACY
        })
    }

    /// The shard a write made now puts an item of `app` in.
    fn writer_shard(&self, app: &AppName) -> u32 {
        shard_of(app, self.meta().writer_shards(Utc::now()))
    }

    fn put_job(&mut self, key: (String, String), job: &Job) {
        let shard = self.writer_shard(&job.app);
        self.job_shards.insert(key.clone(), shard);
        self.jobs.insert(key, job.clone());
    }
}

/// The in-memory adapter.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies an execution's rule under the lock: `missing` when there is no such execution.
    fn apply<A>(
        &self,
        id: &ExecutionId,
        missing: A,
        rule: impl FnOnce(&Execution) -> rules::Decision<A>,
    ) -> A {
        let mut inner = self.lock();
        let key = exec_key(id);
        let Some(stored) = inner.executions.get(&key) else {
            return missing;
        };
        let decision = rule(stored);
        if let Some(next) = decision.write {
            inner.executions.insert(key, next);
        }
        decision.answer
    }

    /// The due-index entry of the job `(app, name)` as DynamoDB's index would hold it: its
    /// shard and when it is due; `None` when it is not in the index (paused, ended, gone).
    pub fn job_index_entry(&self, app: &AppName, name: &JobName) -> Option<(u32, DateTime<Utc>)> {
        let inner = self.lock();
        let key = job_key(app, name);
        let at = inner.jobs.get(&key)?.index_at()?;
        Some((inner.job_shards.get(&key).copied().unwrap_or(0), at))
    }

    /// The due-index entry of the execution `id`, as [`MemoryStore::job_index_entry`].
    pub fn execution_index_entry(&self, id: &ExecutionId) -> Option<(u32, DateTime<Utc>)> {
        let inner = self.lock();
        let key = exec_key(id);
        let at = inner.executions.get(&key)?.index_at()?;
        Some((inner.exec_shards.get(&key).copied().unwrap_or(0), at))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn job_key(app: &AppName, name: &JobName) -> (String, String) {
    (app.as_str().to_owned(), name.as_str().to_owned())
}

fn exec_key(id: &ExecutionId) -> (JobId, String) {
    (id.job_id().clone(), id.slot_key())
}

#[async_trait]
impl Store for MemoryStore {
    fn is_local(&self) -> bool {
        true
    }

    async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = job_key(&job.app, &job.name);
        match rules::create_job(inner.jobs.get(&key), job) {
            rules::Create::Write
                if !rules::may_create_job(inner.apps.get(job.app.as_str()), job) =>
            {
                Err(StoreError::AppDeleting(job.app.clone()))
            }
            rules::Create::Write => {
                inner.put_job(key, job);
                Ok(())
            }
            rules::Create::Done => Ok(()),
            rules::Create::Taken => {
                Err(StoreError::AlreadyExists(job.app.clone(), job.name.clone()))
            }
        }
    }

    async fn import_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for job in jobs {
            inner.put_job(job_key(&job.app, &job.name), job);
        }
        Ok(())
    }

    async fn get_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        Ok(self.lock().jobs.get(&job_key(app, name)).cloned())
    }

    async fn list_jobs(&self, app: Option<&AppName>) -> Result<Vec<Job>, StoreError> {
        Ok(self
            .lock()
            .jobs
            .values()
            .filter(|job| app.is_none_or(|a| &job.app == a))
            .cloned()
            .collect())
    }

    async fn put_job(&self, job: &Job, expected_version: u64) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let key = job_key(&job.app, &job.name);
        match inner.jobs.get(&key) {
            Some(stored) if rules::may_replace_job(stored, job, expected_version) => {
                inner.put_job(key, job);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        Ok(self.lock().jobs.remove(&job_key(app, name)))
    }

    async fn delete_job_if_unchanged(&self, read: &Job) -> Result<DeleteIf, StoreError> {
        let mut inner = self.lock();
        let key = job_key(&read.app, &read.name);
        Ok(match inner.jobs.get(&key) {
            None => DeleteIf::Gone,
            Some(stored) if !rules::unchanged_by_a_person(stored, read) => DeleteIf::Changed,
            Some(_) => {
                inner.jobs.remove(&key);
                DeleteIf::Deleted
            }
        })
    }

    async fn create_app(&self, app: &App) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = app.name.as_str().to_owned();
        match rules::create_app(inner.apps.get(&key), app) {
            rules::Create::Write => {
                inner.apps.insert(key, app.clone());
                Ok(())
            }
            rules::Create::Done => Ok(()),
            rules::Create::Taken => Err(StoreError::AppExists(app.name.clone())),
        }
    }

    async fn get_app(&self, name: &AppName) -> Result<Option<App>, StoreError> {
        Ok(self.lock().apps.get(name.as_str()).cloned())
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        Ok(self.lock().apps.values().cloned().collect())
    }

    async fn put_app(&self, app: &App, expected_version: u64) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let key = app.name.as_str().to_owned();
        match inner.apps.get(&key) {
            Some(stored) if rules::may_replace_app(stored, app, expected_version) => {
                inner.apps.insert(key, app.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_app(&self, name: &AppName) -> Result<Option<App>, StoreError> {
        Ok(self.lock().apps.remove(name.as_str()))
    }

    async fn delete_app_at(&self, read: &App) -> Result<DeleteIf, StoreError> {
        let mut inner = self.lock();
        Ok(match inner.apps.get(read.name.as_str()) {
            None => DeleteIf::Gone,
            Some(stored) if rules::may_delete_app(stored, read) => {
                inner.apps.remove(read.name.as_str());
                DeleteIf::Deleted
            }
            Some(_) => DeleteIf::Changed,
        })
    }

    async fn table_meta(&self) -> Result<TableMeta, StoreError> {
        Ok(self.lock().meta())
    }

    async fn put_table_meta(
        &self,
        meta: &TableMeta,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.meta().version != expected_version {
            return Ok(false);
        }
        inner.meta = Some(*meta);
        Ok(true)
    }

    async fn lease_shard(
        &self,
        lease: &ShardLease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let key = (lease.shard, lease.minute);
        if !rules::may_take_lease(inner.leases.get(&key), lease, now) {
            return Ok(false);
        }
        inner.leases.insert(key, lease.clone());
        Ok(true)
    }

    async fn release_shard(&self, lease: &ShardLease) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = (lease.shard, lease.minute);
        if inner
            .leases
            .get(&key)
            .is_some_and(|s| s.holder == lease.holder)
        {
            inner.leases.remove(&key);
        }
        Ok(())
    }

    async fn reshard(&self) -> Result<Resharded, StoreError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let writers = inner.meta().writer_shards(Utc::now());
        let mut done = Resharded::default();
        let mut count = |from: &mut u32, app: &AppName| {
            let to = shard_of(app, writers);
            if *from == to {
                done.in_place += 1;
            } else {
                *from = to;
                done.moved += 1;
            }
        };
        for (key, job) in inner
            .jobs
            .iter()
            .filter(|(_, job)| job.index_at().is_some())
        {
            count(inner.job_shards.entry(key.clone()).or_default(), &job.app);
        }
        for (key, exec) in inner
            .executions
            .iter()
            .filter(|(_, e)| e.index_at().is_some())
        {
            count(inner.exec_shards.entry(key.clone()).or_default(), &exec.app);
        }
        Ok(done)
    }

    async fn due_in(&self, now: DateTime<Utc>, shards: &[u32]) -> Result<Vec<DueItem>, StoreError> {
        let inner = self.lock();
        let wanted = |shard: Option<&u32>| shards.contains(shard.unwrap_or(&0));
        let mut items: Vec<(DateTime<Utc>, DueItem)> = Vec::new();
        for (key, job) in &inner.jobs {
            if let Some(at) = job.index_at().filter(|at| *at <= now)
                && wanted(inner.job_shards.get(key))
            {
                items.push((at, DueItem::Job(Box::new(job.clone()))));
            }
        }
        for (key, exec) in &inner.executions {
            if let Some(at) = exec.index_at().filter(|at| *at <= now)
                && wanted(inner.exec_shards.get(key))
            {
                items.push((at, DueItem::Execution(Box::new(exec.clone()))));
            }
        }
        items.sort_by_key(|(at, _)| *at);
        Ok(items.into_iter().map(|(_, item)| item).collect())
    }

    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let mut inner = self.lock();
        let key = job_key(&claim.job.app, &claim.job.name);
        let ekey = exec_key(&claim.execution.id);
        let (outcome, write) =
            rules::claim(inner.jobs.get(&key), inner.executions.get(&ekey), claim);
        if write {
            let shard = inner.writer_shard(&claim.job.app);
            inner.put_job(key, &claim.job);
            inner.exec_shards.insert(ekey.clone(), shard);
            inner.executions.insert(ekey, claim.execution.clone());
        }
        Ok(outcome)
    }

    async fn mark_dispatched(
        &self,
        id: &ExecutionId,
        token: &str,
        key_hash: &str,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.apply(id, false, |e| {
            rules::mark_dispatched(e, token, key_hash, at, deadline)
        }))
    }

    async fn release_dispatch(
        &self,
        id: &ExecutionId,
        token: &str,
        due_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.apply(id, false, |e| rules::release_dispatch(e, token, due_at)))
    }

    async fn record_outcome(
        &self,
        id: &ExecutionId,
        token: &str,
        outcome: &Outcome,
    ) -> Result<Recorded, StoreError> {
        Ok(self.apply(id, Recorded::NotOurs, |e| {
            rules::record_outcome(e, token, outcome)
        }))
    }

    async fn untrack(&self, seen: &Execution) -> Result<bool, StoreError> {
        Ok(self.apply(&seen.id, false, rules::untrack))
    }

    async fn reconcile(
        &self,
        seen: &Execution,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.apply(&seen.id, false, |e| rules::reconcile(e, seen, error, now)))
    }

    async fn guard_start(
        &self,
        id: &ExecutionId,
        key_hash: &str,
        nonce: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.apply(id, false, |e| rules::guard_start(e, key_hash, nonce, at)))
    }

    async fn guard_end(
        &self,
        id: &ExecutionId,
        nonce: &str,
        end: &GuardEnd,
    ) -> Result<bool, StoreError> {
        let ended = self.apply(id, false, |e| rules::guard_end(e, nonce, end));
        if ended {
            // As on DynamoDB: a guard, in the app's process, puts the execution back in the
            // due index under shard 0 (`DUE`), where the tick of shard 0's group counts it.
            self.lock().exec_shards.insert(exec_key(id), 0);
        }
        Ok(ended)
    }

    async fn take_guard_end(&self, seen: &Execution, token: &str) -> Result<bool, StoreError> {
        Ok(self.apply(&seen.id, false, |e| rules::take_guard_end(e, seen, token)))
    }

    async fn get_execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        Ok(self.lock().executions.get(&exec_key(id)).cloned())
    }

    async fn delete_executions(&self, job: &JobId) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let before = inner.executions.len();
        inner.executions.retain(|(j, _), _| j != job);
        Ok(before - inner.executions.len())
    }

    async fn list_executions(
        &self,
        job: &JobId,
        limit: usize,
    ) -> Result<Vec<Execution>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .executions
            .range((job.clone(), String::new())..)
            .take_while(|((j, _), _)| j == job)
            .map(|(_, e)| e.clone())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .take(limit)
            .collect())
    }

    async fn executions_since(
        &self,
        job: &JobId,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<ExecutionPage, StoreError> {
        let inner = self.lock();
        let from = (job.clone(), ExecutionId::slot_key_from(since));
        let mut executions: Vec<Execution> = inner
            .executions
            .range(from..)
            .take_while(|((j, _), _)| j == job)
            .map(|(_, e)| e.clone())
            .collect();
        executions.reverse();
        let more = executions.len() > limit;
        executions.truncate(limit);
        Ok(ExecutionPage { executions, more })
    }
}
