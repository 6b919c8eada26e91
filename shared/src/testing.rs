//! What the unit tests of `shared` and of the Lambda share (feature `test-util`, or this
//! crate's own tests): a dispatcher that makes no network call.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::dispatch::{CallRequest, CallResult, Dispatch};
use crate::model::Status;

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
