//! What the unit tests of `shared` and of the Lambda share (feature `test-util`, or this
//! crate's own tests): a dispatcher that makes no network call, and a memory store that fails
//! where told.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::dispatch::{CallRequest, CallResult, Dispatch};
use crate::model::{App, AppName, Execution, ExecutionId, Job, JobId, JobName, Status};
use crate::store::layout::TableMeta;
use crate::store::memory::MemoryStore;
use crate::store::{
    Claim, ClaimOutcome, DueIndexSwitch, DueItem, ExecutionPage, GuardEnd, Outcome, Recorded,
    Resharded, ShardLease, Store, StoreError,
};

/// One call a [`FakeDispatch`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCall {
    /// The job's URL.
    pub url: String,
    /// The execution id, as sent.
    pub execution: String,
    /// The attempt.
    pub attempt: u32,
    /// When it arrived, by the clock given to [`FakeDispatch::with_clock`].
    pub at: Option<DateTime<Utc>>,
    /// The execution key sent (what the app's guard would present).
    pub key: String,
}

/// A dispatcher for tests: records every call and answers as told (`succeeded` with HTTP 200
/// unless [`FakeDispatch::answer`] says otherwise), after a delay taken on tokio's clock (so a
/// paused runtime skips it), and after [`FakeDispatch::hold`]'s gate is released, if set.
#[derive(Default)]
pub struct FakeDispatch {
    calls: Mutex<Vec<FakeCall>>,
    status: Mutex<Option<Status>>,
    delay: Mutex<Duration>,
    delays: Mutex<Vec<(String, Duration)>>,
    gate: Mutex<Option<Arc<tokio::sync::Notify>>>,
    clock: Option<Arc<dyn Clock>>,
    /// Calls in flight (their URLs) and the most seen at once, per URL prefix asked about.
    in_flight: Mutex<Vec<String>>,
    peaks: Mutex<Vec<Vec<String>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeDispatch {
    /// A dispatcher answering `status` to every call.
    pub fn answering(status: Status) -> Self {
        let fake = Self::default();
        fake.answer(status);
        fake
    }

    /// Records each call's instant by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Answers `status` from now on (HTTP 200 for `succeeded`, 500 otherwise).
    pub fn answer(&self, status: Status) {
        *lock(&self.status) = Some(status);
    }

    /// Every call takes `delay` from now on.
    pub fn delay_every_call(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    /// Calls to URLs ending in `suffix` take `delay`.
    pub fn delay_calls_to(&self, suffix: &str, delay: Duration) {
        lock(&self.delays).push((suffix.to_owned(), delay));
    }

    /// Calls wait until the returned gate is notified (`notify_waiters`), or until
    /// [`FakeDispatch::release`].
    pub fn hold(&self) -> Arc<tokio::sync::Notify> {
        let gate = Arc::new(tokio::sync::Notify::new());
        *lock(&self.gate) = Some(gate.clone());
        gate
    }

    /// Calls from now on do not wait for a gate.
    pub fn release(&self) {
        *lock(&self.gate) = None;
    }

    /// The calls received so far, in order.
    pub fn calls(&self) -> Vec<FakeCall> {
        lock(&self.calls).clone()
    }

    /// The most calls to URLs starting with `prefix` that were in flight at once so far.
    pub fn max_in_flight_to(&self, prefix: &str) -> usize {
        lock(&self.peaks)
            .iter()
            .map(|urls| urls.iter().filter(|u| u.starts_with(prefix)).count())
            .max()
            .unwrap_or(0)
    }
}

/// Takes a call out of the in-flight list when it ends (or its future is dropped).
struct InFlightGuard<'a>(&'a FakeDispatch, String);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.0.in_flight);
        if let Some(i) = in_flight.iter().position(|u| *u == self.1) {
            in_flight.swap_remove(i);
        }
    }
}

#[async_trait]
impl Dispatch for FakeDispatch {
    async fn call(&self, request: &CallRequest<'_>) -> CallResult {
        lock(&self.calls).push(FakeCall {
            url: request.url.to_owned(),
            execution: request.execution.to_string(),
            attempt: request.attempt,
            at: self.clock.as_ref().map(|c| c.now()),
            key: request.key.to_owned(),
        });
        let _in_flight = {
            let mut in_flight = lock(&self.in_flight);
            in_flight.push(request.url.to_owned());
            lock(&self.peaks).push(in_flight.clone());
            InFlightGuard(self, request.url.to_owned())
        };
        let gate = lock(&self.gate).clone();
        if let Some(gate) = gate {
            gate.notified().await;
        }
        let delay = lock(&self.delays)
            .iter()
            .find(|(suffix, _)| request.url.ends_with(suffix.as_str()))
            .map_or(*lock(&self.delay), |(_, d)| *d);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let status = lock(&self.status).unwrap_or(Status::Succeeded);
        CallResult {
            status,
            http_status: Some(if status == Status::Succeeded {
                200
            } else {
                500
            }),
            output: Some("out".into()),
            error: None,
            duration: delay.max(Duration::from_millis(1)),
        }
    }
}

/// A [`MemoryStore`] whose job writes (`put_job`) fail for the jobs named in
/// [`FailingStore::fail_job_writes_of`], as a store failing after its retries would
/// ([`StoreError::Backend`], operation `PutItem`). Everything else is the memory store's.
#[derive(Default)]
pub struct FailingStore {
    inner: MemoryStore,
    failing: Mutex<Vec<JobName>>,
}

impl FailingStore {
    /// A store over an empty memory store, failing nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, every `put_job` of a job named `name` fails.
    pub fn fail_job_writes_of(&self, name: &JobName) {
        lock(&self.failing).push(name.clone());
    }

    /// The memory store underneath (to read what was written).
    pub fn inner(&self) -> &MemoryStore {
        &self.inner
    }
}

#[async_trait]
impl Store for FailingStore {
    fn is_local(&self) -> bool {
        true
    }
    async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        self.inner.create_job(job).await
    }
    async fn import_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        self.inner.import_jobs(jobs).await
    }
    async fn get_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        self.inner.get_job(app, name).await
    }
    async fn list_jobs(&self, app: Option<&AppName>) -> Result<Vec<Job>, StoreError> {
        self.inner.list_jobs(app).await
    }
    async fn put_job(&self, job: &Job, expected_version: u64) -> Result<bool, StoreError> {
        if lock(&self.failing).contains(&job.name) {
            return Err(StoreError::Backend {
                operation: "PutItem",
                source: "injected by FailingStore".into(),
            });
        }
        self.inner.put_job(job, expected_version).await
    }
    async fn delete_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        self.inner.delete_job(app, name).await
    }
    async fn delete_job_if_unchanged(
        &self,
        read: &Job,
    ) -> Result<crate::store::DeleteIf, StoreError> {
        self.inner.delete_job_if_unchanged(read).await
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
    async fn delete_app_at(&self, read: &App) -> Result<crate::store::DeleteIf, StoreError> {
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
    async fn switch_due_index(&self) -> Result<DueIndexSwitch, StoreError> {
        self.inner.switch_due_index().await
    }
    async fn reshard(&self) -> Result<Resharded, StoreError> {
        self.inner.reshard().await
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
    async fn due_in(&self, now: DateTime<Utc>, shards: &[u32]) -> Result<Vec<DueItem>, StoreError> {
        self.inner.due_in(now, shards).await
    }
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        self.inner.claim(claim).await
    }
    async fn mark_dispatched(
        &self,
        id: &ExecutionId,
        token: &str,
        key_hash: &str,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .mark_dispatched(id, token, key_hash, at, deadline)
            .await
    }
    async fn release_dispatch(
        &self,
        id: &ExecutionId,
        token: &str,
        due_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.release_dispatch(id, token, due_at).await
    }
    async fn record_outcome(
        &self,
        id: &ExecutionId,
        token: &str,
        outcome: &Outcome,
    ) -> Result<Recorded, StoreError> {
        self.inner.record_outcome(id, token, outcome).await
    }
    async fn untrack(&self, seen: &Execution) -> Result<bool, StoreError> {
        self.inner.untrack(seen).await
    }
    async fn reconcile(
        &self,
        seen: &Execution,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.reconcile(seen, error, now).await
    }
    async fn guard_start(
        &self,
        id: &ExecutionId,
        key_hash: &str,
        nonce: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.guard_start(id, key_hash, nonce, at).await
    }
    async fn guard_end(
        &self,
        id: &ExecutionId,
        nonce: &str,
        end: &GuardEnd,
    ) -> Result<bool, StoreError> {
        self.inner.guard_end(id, nonce, end).await
    }
    async fn take_guard_end(&self, seen: &Execution, token: &str) -> Result<bool, StoreError> {
        self.inner.take_guard_end(seen, token).await
    }
    async fn get_execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        self.inner.get_execution(id).await
    }
    async fn delete_executions(&self, job: &JobId) -> Result<usize, StoreError> {
        self.inner.delete_executions(job).await
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
