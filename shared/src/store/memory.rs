//! An in-memory [`Store`] for fast unit tests. Each transition is decided by
//! [`rules`](super::rules), as for SQLite and as DynamoDB's conditions say, under one lock. Not persistent, not shared between processes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Claim, ClaimOutcome, DeleteIf, DueItem, ExecutionPage, GuardEnd, Outcome, Recorded, Store,
    StoreError, rules,
};
use crate::model::{App, AppName, Execution, ExecutionId, Job, JobId, JobName};

#[derive(Default)]
struct Inner {
    jobs: BTreeMap<(String, String), Job>,
    apps: BTreeMap<String, App>,
    executions: BTreeMap<(JobId, String), Execution>,
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
                inner.jobs.insert(key, job.clone());
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
            inner.jobs.insert(job_key(&job.app, &job.name), job.clone());
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
                inner.jobs.insert(key, job.clone());
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

    async fn due(&self, now: DateTime<Utc>) -> Result<Vec<DueItem>, StoreError> {
        let inner = self.lock();
        let mut items: Vec<(DateTime<Utc>, DueItem)> = Vec::new();
        for job in inner.jobs.values() {
            if let Some(at) = job.due_at().filter(|at| *at <= now) {
                items.push((at, DueItem::Job(Box::new(job.clone()))));
            }
        }
        for exec in inner.executions.values() {
            if let Some(at) = exec.due_at.filter(|at| *at <= now) {
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
            inner.jobs.insert(key, claim.job.clone());
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
        Ok(self.apply(id, false, |e| rules::guard_end(e, nonce, end)))
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
