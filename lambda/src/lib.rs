//! The psu-sched tick function for AWS Lambda: an EventBridge rule (`rate(1 minute)`) invokes
//! it, and each invocation runs one [`shared::tick::tick`].
//!
//! `main.rs` only wires (tracing, configuration, clients built once); the handler lives here so
//! that it can be tested with fixtures, a memory store and a fake dispatcher:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use psu_sched_lambda::Function;
//! use shared::{clock::SystemClock, config::{Config, Runner}};
//! use shared::store::memory::MemoryStore;
//!
//! let config = Config::from_env()?;
//! let function = Function::new(
//!     MemoryStore::new(),
//!     config.dispatcher(Runner::Lambda)?,
//!     Arc::new(SystemClock),
//!     config.tick,
//! );
//! let answer = function
//!     .invoke(serde_json::json!({"dry_run": true}), None)
//!     .await?;
//! println!("{}", answer.response);
//! # Ok(())
//! # }
//! ```
//!
//! Accepted payloads ([`request`]): the EventBridge Scheduled Event, or an operator payload
//! `{"now": "<RFC 3339>", "dry_run": true|false}`. The answer is the tick's
//! [`TickSummary`](shared::tick::TickSummary) (with `dry_run: true` for a dry run, which
//! writes and calls nothing); each real tick also prints one CloudWatch EMF line ([`metrics`]).
//!
//! Signing secret: given `PSU_SCHED_SIGNING_SECRET_ARN`, the function reads the secret from
//! Secrets Manager at its first real tick, keeps it, and reads it again once
//! `PSU_SCHED_SECRET_REFRESH_SECONDS` have passed ([`Function::with_secrets`],
//! [`shared::secrets`]). A first read that fails fails the invocation before anything is
//! claimed (`SigningSecretUnreadable`); a later one keeps the secret in hand.
//!
//! Deadline: the tick gets the invocation's deadline ([`TickConfig::deadline`]) and claims a
//! slot only if its call and the recording of its outcome fit before it; the rest stay due
//! (`deferred`). As a last resort, the function stops the tick [`BACKSTOP_MARGIN`] before the
//! deadline rather than be killed by the platform.

pub mod metrics;
pub mod request;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use shared::clock::{Clock, ShiftedClock};
use shared::dispatch::Dispatch;
use shared::error_chain;
use shared::secrets::{RefreshingSecrets, SecretError};
use shared::store::Store;
use shared::tick::{NowError, NowUse, TickConfig, TickError, TickSummary, check_now, tick};

use crate::request::{BadPayload, Request};

/// The last resort: a tick still running this long before the invocation's deadline (a call
/// overrunning its timeout, a store answering slowly) is stopped, and the invocation fails
/// with `DeadlineReached`, rather than the platform killing the process. The tick's own
/// [`TickConfig::deadline_margin`] (5 s) keeps it from claiming what would not fit.
pub const BACKSTOP_MARGIN: Duration = Duration::from_secs(1);

/// How far behind the clock an operator's `now` may be for a real tick: the rule shared with
/// the CLI ([`shared::tick::check_now`]).
pub use shared::tick::MAX_NOW_BEHIND;

/// Why an invocation failed. A job's failure is never one (it is recorded and counted);
/// a store failure is, so that the platform retries (the claims make the retry safe).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The payload is none of the accepted shapes.
    #[error(transparent)]
    BadPayload(#[from] BadPayload),
    /// A real tick was asked for an instant ahead of the clock.
    #[error(
        "now={now} is ahead of the clock ({clock}): only a dry run may look ahead (add \"dry_run\": true)"
    )]
    NowAhead {
        /// The requested instant.
        now: DateTime<Utc>,
        /// The clock's.
        clock: DateTime<Utc>,
    },
    /// A real tick was asked for an instant too far behind the clock.
    #[error(
        "now={now} is more than {}s behind the clock ({clock}): a real tick in the past would write deadlines that have already passed; use \"dry_run\": true to look at a past instant",
        MAX_NOW_BEHIND.as_secs()
    )]
    NowTooOld {
        /// The requested instant.
        now: DateTime<Utc>,
        /// The clock's.
        clock: DateTime<Utc>,
    },
    /// The signing secret could not be read at a cold start: the tick did not start, so
    /// nothing was claimed or called (the platform retries the invocation).
    #[error("the tick did not start (nothing was claimed)")]
    SigningSecret(#[source] SecretError),
    /// The tick was stopped just before the deadline.
    #[error(
        "the tick was stopped {margin_ms} ms before the invocation's deadline: a claim not yet sent is sent by a later tick once its lease expires, and a call without a recorded outcome is reconciled"
    )]
    DeadlineReached {
        /// The margin kept back.
        margin_ms: u64,
    },
    /// The store failed during the tick (or the dry run). When it failed for some items only,
    /// the others completed: `metrics` is the EMF line counting them (with `Errors`), which
    /// [`Function::handle`] prints before the invocation fails.
    #[error("the tick failed")]
    Tick {
        /// The tick's error.
        #[source]
        source: TickError,
        /// The EMF line of what an incomplete tick completed.
        metrics: Option<Box<Value>>,
        /// Its per-app lines (`PSU_SCHED_APP_METRICS`), printed after it.
        app_metrics: Vec<Value>,
    },
}

impl HandlerError {
    /// The error's type name, as Lambda reports it (`errorType`).
    pub fn type_name(&self) -> &'static str {
        match self {
            HandlerError::BadPayload(_) => "BadPayload",
            HandlerError::NowAhead { .. } => "NowAhead",
            HandlerError::NowTooOld { .. } => "NowTooOld",
            HandlerError::SigningSecret(_) => "SigningSecretUnreadable",
            HandlerError::DeadlineReached { .. } => "DeadlineReached",
            HandlerError::Tick {
                source: TickError::TableFormat(_),
                ..
            } => "TableFormatTooNew",
            HandlerError::Tick { .. } => "StoreFailure",
        }
    }

    /// The per-app EMF lines to print after [`metrics`](Self::metrics)' line.
    pub fn app_metrics(&self) -> &[Value] {
        match self {
            HandlerError::Tick { app_metrics, .. } => app_metrics,
            _ => &[],
        }
    }

    /// The EMF line to print although the invocation fails: an incomplete tick's.
    pub fn metrics(&self) -> Option<&Value> {
        match self {
            HandlerError::Tick {
                metrics: Some(line),
                ..
            } => Some(line),
            _ => None,
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(err: HandlerError) -> Self {
        Diagnostic {
            error_type: err.type_name().to_owned(),
            error_message: error_chain(&err),
        }
    }
}

/// What an invocation answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The response: the `TickSummary`.
    pub response: Value,
    /// The EMF object to print as one log line (a real tick only).
    pub metrics: Option<Value>,
    /// One EMF object per app called, printed after `metrics` (with `PSU_SCHED_APP_METRICS`).
    pub app_metrics: Vec<Value>,
}

/// Deadlines before this (2001-09-09, epoch ms) are not wall-clock instants.
const EARLIEST_DEADLINE_MS: u64 = 1_000_000_000_000;

/// The time left before `deadline_ms` (the runtime's `Lambda-Runtime-Deadline-Ms`, epoch ms),
/// `None` when there is no usable deadline: 0 (none given) or a value that is not an epoch
/// instant (`cargo lambda watch` 1.9 sends the function's timeout, e.g. `600000`, instead).
pub fn remaining_time(deadline_ms: u64, now: SystemTime) -> Option<Duration> {
    if deadline_ms < EARLIEST_DEADLINE_MS {
        if deadline_ms > 0 {
            tracing::warn!(
                deadline_ms,
                "the runtime's deadline is not an epoch instant; running without a deadline"
            );
        }
        return None;
    }
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    Some(deadline.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The function: a store and a dispatcher built once, used by every invocation.
pub struct Function<S, D> {
    store: S,
    dispatcher: D,
    clock: Arc<dyn Clock>,
    tick: TickConfig,
    margin: Duration,
    secrets: Option<RefreshingSecrets>,
    stack: String,
    app_metrics: bool,
}

impl<S: Store, D: Dispatch> Function<S, D> {
    /// A function ticking with these clients, clock and settings.
    pub fn new(store: S, dispatcher: D, clock: Arc<dyn Clock>, tick: TickConfig) -> Self {
        Self {
            store,
            dispatcher,
            clock,
            tick,
            margin: BACKSTOP_MARGIN,
            secrets: None,
            stack: shared::config::DEFAULT_STACK.to_owned(),
            app_metrics: false,
        }
    }

    /// Prints, after each real tick's line, one EMF line per app it called
    /// ([`metrics::app_lines`]): `PSU_SCHED_APP_METRICS`.
    pub fn with_app_metrics(mut self, on: bool) -> Self {
        self.app_metrics = on;
        self
    }

    /// Files the metrics under the stack `stack` (their `Stack` dimension) instead of
    /// [`shared::config::DEFAULT_STACK`].
    pub fn with_stack(mut self, stack: impl Into<String>) -> Self {
        self.stack = stack.into();
        self
    }

    /// Makes `secrets` current (at the function's clock) before each real tick: the
    /// dispatcher's secrets read from Secrets Manager, read again once their interval has
    /// passed. Without them the function signs with what the dispatcher was built with.
    pub fn with_secrets(mut self, secrets: RefreshingSecrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Stops the tick `margin` before the deadline instead of [`BACKSTOP_MARGIN`].
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The Lambda runtime's entry point: [`invoke`](Self::invoke) with the context's
    /// deadline, then the EMF line printed to stdout (an incomplete tick's too, before the
    /// invocation fails).
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
        let (payload, context) = event.into_parts();
        let remaining = remaining_time(context.deadline, SystemTime::now());
        tracing::debug!(
            deadline_ms = context.deadline,
            remaining_ms = remaining.map(|r| u64::try_from(r.as_millis()).unwrap_or(u64::MAX)),
            "invocation"
        );
        let result = self.invoke(payload, remaining).await;
        let (metrics, app_metrics) = match &result {
            Ok(answer) => (answer.metrics.as_ref(), answer.app_metrics.as_slice()),
            Err(err) => (err.metrics(), err.app_metrics()),
        };
        if let Some(line) = metrics {
            println!("{line}");
        }
        for line in app_metrics {
            println!("{line}");
        }
        result.map(|answer| answer.response)
    }

    /// Handles one payload with `remaining` time before the deadline (`None`: no deadline).
    pub async fn invoke(
        &self,
        payload: Value,
        remaining: Option<Duration>,
    ) -> Result<Answer, HandlerError> {
        let clock_now = self.clock.now();
        let request = request::parse(&payload).inspect_err(|e| {
            tracing::warn!(error = %e, "refused the payload");
        })?;
        let (now, dry_run, event_time, group, scheduled) = match request {
            Request::Scheduled { time, group } => (None, false, time, group, true),
            Request::Operator {
                now,
                dry_run,
                group,
            } => (now, dry_run, None, group, false),
        };
        if let Some(now) = now {
            let using = if dry_run {
                NowUse::DryRun
            } else {
                NowUse::Write
            };
            check_now(now, clock_now, using).map_err(|e| match e {
                NowError::Ahead { now, clock } => HandlerError::NowAhead { now, clock },
                NowError::Behind { now, clock } => HandlerError::NowTooOld { now, clock },
                out_of_range @ NowError::OutOfRange { .. } => {
                    HandlerError::BadPayload(BadPayload {
                        reason: format!("now: {out_of_range}"),
                    })
                }
            })?;
        }
        // Before anything is claimed: a tick without its secret would send unsigned calls,
        // each refused by its app. A dry run calls nothing, so it does not need it.
        if let (Some(secrets), false) = (&self.secrets, dry_run) {
            secrets.ensure(clock_now).await.map_err(|source| {
                let err = HandlerError::SigningSecret(source);
                tracing::error!(error = %error_chain(&err), "no signing secret");
                err
            })?;
        }
        let mut config = self.tick.clone();
        config.dry_run = dry_run;
        config.group = group;
        // The rules' invocations lease each shard for the minute they fired for: a duplicate
        // delivery (EventBridge delivers at least once), or the old rule and the new ones in
        // the minute of a stack update, leaves a shard another invocation works.
        config.lease_shards = scheduled;
        config.lease_minute = event_time;
        config.deadline = remaining.map(|left| Instant::now() + left);
        let clock: Arc<dyn Clock> = match now {
            Some(now) => Arc::new(ShiftedClock::starting_at(self.clock.clone(), now)),
            None => self.clock.clone(),
        };
        let work = tick(&self.store, &self.dispatcher, clock.as_ref(), &config);
        let margin_ms = u64::try_from(self.margin.as_millis()).unwrap_or(u64::MAX);
        let result = match remaining {
            Some(left) => {
                let budget = left.saturating_sub(self.margin);
                match tokio::time::timeout(budget, work).await {
                    Ok(result) => result,
                    Err(_) => {
                        let err = HandlerError::DeadlineReached { margin_ms };
                        tracing::error!(error = %err, "tick stopped");
                        return Err(err);
                    }
                }
            }
            None => work.await,
        };
        let delay = event_time.map(|t| metrics::delivery_delay_ms(t, clock_now));
        let summary = match result {
            Ok(summary) => summary,
            Err(source) => {
                // An incomplete tick still reports what it completed: logged, and counted in
                // the EMF line; the invocation fails all the same (see docs/lambda.md).
                let real = source.summary().filter(|s| !s.dry_run);
                let metrics =
                    real.map(|s| Box::new(self.report(s, delay, metrics::TickEnd::Incomplete)));
                let app_metrics = real.map(|s| self.app_lines(s)).unwrap_or_default();
                let err = HandlerError::Tick {
                    source,
                    metrics,
                    app_metrics,
                };
                tracing::error!(error = %error_chain(&err), "tick failed");
                return Err(err);
            }
        };
        if summary.dry_run {
            tracing::info!(
                now = %summary.now,
                due = summary.due,
                would_call = summary.triggered,
                would_skip = summary.skipped,
                would_miss = summary.missed,
                would_reconcile = summary.reconciled,
                "dry run"
            );
            // TickSummary is plain data (numbers, a timestamp, app names): serialising it cannot fail.
            let response = serde_json::to_value(&summary).unwrap_or(Value::Null);
            return Ok(Answer {
                response,
                metrics: None,
                app_metrics: Vec::new(),
            });
        }
        // TickSummary is plain data (numbers, a timestamp, app names): serialising it cannot fail.
        let response = serde_json::to_value(&summary).unwrap_or(Value::Null);
        Ok(Answer {
            response,
            metrics: Some(self.report(&summary, delay, metrics::TickEnd::Completed)),
            app_metrics: self.app_lines(&summary),
        })
    }

    /// The per-app EMF lines of a real tick, when they are on.
    fn app_lines(&self, summary: &TickSummary) -> Vec<Value> {
        if self.app_metrics {
            metrics::app_lines(summary, self.clock.now(), &self.stack)
        } else {
            Vec::new()
        }
    }

    /// Logs a real tick's summary (one line) and returns its EMF line.
    fn report(&self, summary: &TickSummary, delay: Option<u64>, end: metrics::TickEnd) -> Value {
        tracing::info!(
            now = %summary.now,
            due = summary.due,
            triggered = summary.triggered,
            succeeded = summary.succeeded,
            failed = summary.failed,
            timed_out = summary.timed_out,
            retried = summary.retried,
            reconciled = summary.reconciled,
            guard_finished = summary.guard_finished,
            deferred = summary.deferred,
            errors = summary.errors,
            duration_ms = summary.duration_ms,
            delivery_delay_ms = delay,
            "tick done"
        );
        metrics::emf(summary, delay, self.clock.now(), &self.stack, end)
    }
}

#[cfg(test)]
mod tests;
