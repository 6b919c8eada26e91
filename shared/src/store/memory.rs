//! An in-memory [`Store`] for fast unit tests. It honours the same conditions as the
//! DynamoDB adapter, under one lock. Not persistent, not shared between processes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Claim, ClaimOutcome, DueItem, GuardEnd, Outcome, Recorded, Store, StoreError};
use crate::model::{AppName, Execution, ExecutionId, Job, JobId, JobName, Status};

#[derive(Default)]
struct Inner {
    jobs: BTreeMap<(String, String), Job>,
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

/// True when the stored job may be replaced by `new` written over `expected`.
fn version_matches(stored: &Job, new: &Job, expected: u64) -> bool {
    stored.state.version == expected
        || (new.state.writer.is_some()
            && stored.state.version == new.state.version
            && stored.state.writer == new.state.writer)
}

#[async_trait]
impl Store for MemoryStore {
    fn is_local(&self) -> bool {
        true
    }

    async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = job_key(&job.app, &job.name);
        if inner.jobs.contains_key(&key) {
            return Err(StoreError::AlreadyExists(job.app.clone(), job.name.clone()));
        }
        inner.jobs.insert(key, job.clone());
        Ok(())
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
            Some(stored) if version_matches(stored, job, expected_version) => {
                inner.jobs.insert(key, job.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        Ok(self.lock().jobs.remove(&job_key(app, name)))
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
        let job_ok = inner
            .jobs
            .get(&key)
            .is_some_and(|stored| version_matches(stored, &claim.job, claim.expected_version));
        let ekey = exec_key(&claim.execution.id);
        // This very claim, applied before (a retried request): it stands, whatever happened since.
        if inner
            .executions
            .get(&ekey)
            .is_some_and(|e| e.claimed_by.as_deref() == Some(&claim.token))
        {
            return Ok(ClaimOutcome::Won);
        }
        let exec_ok = match inner.executions.get(&ekey) {
            None => true,
            Some(e) => e.claimed_by.as_deref() == Some(&claim.token) && e.dispatched_by.is_none(),
        };
        if !(job_ok && exec_ok) {
            return Ok(ClaimOutcome::Lost);
        }
        inner.jobs.insert(key, claim.job.clone());
        inner.executions.insert(ekey, claim.execution.clone());
        Ok(ClaimOutcome::Won)
    }

    async fn mark_dispatched(
        &self,
        id: &ExecutionId,
        token: &str,
        key_hash: &str,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(exec) = inner.executions.get_mut(&exec_key(id)) else {
            return Ok(false);
        };
        let ours = exec.dispatched_by.as_deref().is_none_or(|t| t == token);
        if exec.status != Status::Pending || !ours {
            return Ok(false);
        }
        exec.dispatched_by = Some(token.to_owned());
        exec.key_hash = Some(key_hash.to_owned());
        exec.started_at = Some(at);
        exec.due_at = Some(deadline);
        Ok(true)
    }

    async fn record_outcome(
        &self,
        id: &ExecutionId,
        token: &str,
        outcome: &Outcome,
    ) -> Result<Recorded, StoreError> {
        let mut inner = self.lock();
        let Some(exec) = inner.executions.get_mut(&exec_key(id)) else {
            return Ok(Recorded::NotOurs);
        };
        let sent_by_us = exec.dispatched_by.as_deref() == Some(token);
        if (exec.status == Status::Pending && sent_by_us)
            || exec.outcome_by.as_deref() == Some(token)
        {
            exec.status = outcome.status;
            exec.http_status = outcome.http_status;
            exec.output = outcome.output.clone();
            exec.error = outcome.error.clone();
            exec.finished_at = Some(outcome.finished_at);
            exec.duration_ms = Some(outcome.duration_ms);
            exec.outcome_by = Some(token.to_owned());
            exec.due_at = None;
            return Ok(Recorded::Recorded);
        }
        if sent_by_us && exec.guard_nonce.is_some() {
            // The app's guard owns the outcome; add what only the tick saw.
            if exec.http_status.is_none() {
                exec.http_status = outcome.http_status;
            }
            if exec.status.is_final() {
                exec.due_at = None;
            }
            return Ok(Recorded::GuardOwned(exec.status));
        }
        Ok(Recorded::NotOurs)
    }

    async fn reconcile(
        &self,
        seen: &Execution,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(exec) = inner.executions.get_mut(&exec_key(&seen.id)) else {
            return Ok(false);
        };
        let already = exec.outcome_by.as_deref() == Some(super::RECONCILER)
            && exec.finished_at == Some(now)
            && exec.error.as_deref() == Some(error);
        if already {
            return Ok(true);
        }
        if exec.status != seen.status || exec.due_at != seen.due_at || exec.status.is_final() {
            return Ok(false);
        }
        exec.status = Status::TimedOut;
        exec.error = Some(error.to_owned());
        exec.finished_at = Some(now);
        exec.outcome_by = Some(super::RECONCILER.to_owned());
        exec.due_at = None;
        Ok(true)
    }

    async fn guard_start(
        &self,
        id: &ExecutionId,
        key_hash: &str,
        nonce: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(exec) = inner.executions.get_mut(&exec_key(id)) else {
            return Ok(false);
        };
        if exec.status == Status::Running && exec.guard_nonce.as_deref() == Some(nonce) {
            return Ok(true); // This very claim, retried.
        }
        if exec.status != Status::Pending || exec.key_hash.as_deref() != Some(key_hash) {
            return Ok(false);
        }
        exec.status = Status::Running;
        exec.guard_nonce = Some(nonce.to_owned());
        exec.started_at = Some(at);
        Ok(true)
    }

    async fn guard_end(
        &self,
        id: &ExecutionId,
        nonce: &str,
        end: &GuardEnd,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(exec) = inner.executions.get_mut(&exec_key(id)) else {
            return Ok(false);
        };
        let same_end = exec.status == end.status && exec.finished_at == Some(end.finished_at);
        let holds = exec.guard_nonce.as_deref() == Some(nonce)
            && (same_end
                || exec.status == Status::Running
                || (exec.status == Status::TimedOut
                    && exec.outcome_by.as_deref() == Some(super::RECONCILER)));
        if !holds {
            return Ok(false);
        }
        exec.status = end.status;
        if end.http_status.is_some() {
            exec.http_status = end.http_status;
        }
        exec.output = end.output.clone();
        exec.error = end.error.clone();
        exec.finished_at = Some(end.finished_at);
        exec.duration_ms = Some(end.duration_ms);
        exec.due_at = None;
        Ok(true)
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
}
