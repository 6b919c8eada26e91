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
        let (now, dry_run, event_time) = match request {
            Request::Scheduled { time } => (None, false, time),
            Request::Operator { now, dry_run } => (now, dry_run, None),
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
mod tests {
    use chrono::TimeZone;
    use serde_json::json;
    use shared::clock::FixedClock;
    use shared::model::{AppName, Job, JobName, JobUrl, NewJob, Status};
    use shared::store::memory::MemoryStore;
    use shared::testing::FakeDispatch;
    use shared::tick::TickSummary;

    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// 2026-11-26 at h:m:s UTC (the fixtures' day; the scheduled event is for 09:30:00).
    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, h, m, s)
            .single()
            .expect("valid")
    }

    /// A function over a memory store holding one every-minute job created at 09:29:10,
    /// with the clock at `now`.
    async fn function(
        now: DateTime<Utc>,
        status: Status,
    ) -> (Function<MemoryStore, FakeDispatch>, Job) {
        let store = MemoryStore::new();
        let job = NewJob::new(
            AppName::parse("app").expect("app"),
            JobName::parse("every-minute").expect("name"),
            JobUrl::parse("https://app.example/scheduler/run").expect("url"),
            "* * * * *".parse().expect("schedule"),
        )
        .build(at(9, 29, 10))
        .expect("job");
        store.create_job(&job).await.expect("create");
        let function = Function::new(
            store,
            FakeDispatch::answering(status),
            Arc::new(FixedClock::new(now)),
            TickConfig::default(),
        );
        (function, job)
    }

    /// Rewrites the stored job after `change`; returns it as stored.
    async fn change_job(
        function: &Function<MemoryStore, FakeDispatch>,
        job: &Job,
        change: impl FnOnce(&mut Job),
    ) -> Job {
        let mut changed = job.clone();
        change(&mut changed);
        changed.state.version = job.state.version + 1;
        assert!(
            function
                .store
                .put_job(&changed, job.state.version)
                .await
                .expect("put")
        );
        changed
    }

    async fn history(function: &Function<MemoryStore, FakeDispatch>, job: &Job) -> Vec<Status> {
        function
            .store
            .list_executions(&job.id, 10)
            .await
            .expect("history")
            .iter()
            .map(|e| e.status)
            .collect()
    }

    #[tokio::test]
    async fn a_scheduled_event_runs_one_tick_and_answers_its_summary_with_metrics() {
        let (function, job) = function(at(9, 30, 2), Status::Succeeded).await;
        let answer = function
            .invoke(
                fixture("scheduled-event.json"),
                Some(Duration::from_secs(60)),
            )
            .await
            .expect("tick");
        let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
        assert_eq!(summary.now, at(9, 30, 2));
        assert_eq!(
            (summary.due, summary.triggered, summary.succeeded),
            (1, 1, 1)
        );
        assert_eq!(function.dispatcher.calls().len(), 1);
        assert_eq!(history(&function, &job).await, vec![Status::Succeeded]);
        let metrics = answer.metrics.expect("an EMF line");
        assert_eq!(metrics["Triggered"], 1);
        assert_eq!(
            metrics["DeliveryDelayMs"], 2_000,
            "from the event's time to the tick"
        );
    }

    #[tokio::test]
    async fn per_app_lines_follow_the_ticks_line_only_when_they_are_on() {
        let (off, _) = function(at(9, 30, 2), Status::Failed).await;
        let answer = off
            .invoke(fixture("scheduled-event.json"), None)
            .await
            .expect("tick");
        assert!(answer.metrics.is_some());
        assert!(answer.app_metrics.is_empty(), "off by default");

        let (on, job) = function(at(9, 30, 2), Status::Failed).await;
        let answer = on
            .with_app_metrics(true)
            .invoke(fixture("scheduled-event.json"), None)
            .await
            .expect("tick");
        assert_eq!(answer.app_metrics.len(), 1, "{:?}", answer.app_metrics);
        let line = &answer.app_metrics[0];
        assert_eq!(line["App"], job.app.to_string());
        assert_eq!(line["Stack"], shared::config::DEFAULT_STACK);
        assert_eq!(
            (&line["Triggered"], &line["Failed"]),
            (&json!(1), &json!(1))
        );
    }

    /// A secret that cannot be read (no such secret, or not allowed).
    struct Unreadable;

    #[async_trait::async_trait]
    impl shared::secrets::SecretSource for Unreadable {
        fn name(&self) -> &str {
            "arn:aws:secretsmanager:us-west-2:123456789012:secret:psu-sched-AbCdEf"
        }
        async fn read(&self) -> Result<String, shared::secrets::ReadError> {
            Err("AccessDeniedException: not authorized to perform GetSecretValue".into())
        }
    }

    #[tokio::test]
    async fn an_unreadable_signing_secret_at_a_cold_start_fails_the_invocation_before_any_claim() {
        let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
        let function = function.with_secrets(RefreshingSecrets::new(
            Box::new(Unreadable),
            shared::dispatch::SigningSecrets::default(),
            Duration::from_secs(300),
        ));
        let err = function
            .invoke(fixture("operator-tick.json"), None)
            .await
            .expect_err("no secret, no tick");
        assert_eq!(err.type_name(), "SigningSecretUnreadable");
        assert_eq!(
            error_chain(&err),
            "the tick did not start (nothing was claimed): could not read the signing secret arn:aws:secretsmanager:us-west-2:123456789012:secret:psu-sched-AbCdEf: AccessDeniedException: not authorized to perform GetSecretValue"
        );
        assert!(function.dispatcher.calls().is_empty());
        assert!(history(&function, &job).await.is_empty(), "nothing claimed");
        // A dry run calls nothing and needs no secret.
        function
            .invoke(fixture("operator-dry-run.json"), None)
            .await
            .expect("a dry run");
    }

    #[tokio::test]
    async fn a_failing_job_does_not_fail_the_invocation() {
        let (function, job) = function(at(9, 30, 0), Status::Failed).await;
        let answer = function
            .invoke(fixture("operator-tick.json"), None)
            .await
            .expect("the invocation succeeds");
        let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
        assert_eq!((summary.triggered, summary.failed), (1, 1));
        assert_eq!(history(&function, &job).await, vec![Status::Failed]);
        let metrics = answer.metrics.expect("an EMF line");
        assert_eq!(metrics["Failed"], 1);
        assert!(
            metrics.get("DeliveryDelayMs").is_none(),
            "no event time, no delay"
        );
    }

    #[tokio::test]
    async fn a_dry_run_reports_what_would_run_and_writes_and_calls_nothing() {
        let (function, job) = function(at(9, 10, 0), Status::Succeeded).await;
        // The fixture looks at 09:30, ahead of the clock: allowed for a dry run.
        let answer = function
            .invoke(fixture("operator-dry-run.json"), None)
            .await
            .expect("dry run");
        assert!(answer.metrics.is_none(), "a dry run is not a tick");
        let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
        assert!(summary.dry_run);
        assert_eq!(summary.now, at(9, 30, 0));
        assert_eq!(
            (summary.due, summary.triggered, summary.succeeded),
            (1, 1, 0),
            "would call one job"
        );
        assert!(function.dispatcher.calls().is_empty());
        assert!(history(&function, &job).await.is_empty());
        let stored = function
            .store
            .get_job(&job.app, &job.name)
            .await
            .expect("get")
            .expect("job");
        assert_eq!(stored, job, "the job is untouched");
    }

    #[tokio::test]
    async fn a_dry_run_counts_a_slot_past_its_max_lateness_as_missed() {
        let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
        change_job(&function, &job, |j| j.max_lateness_ms = 10_000).await;
        let answer = function
            .invoke(
                json!({"now": "2026-11-26T09:45:30Z", "dry_run": true}),
                None,
            )
            .await
            .expect("dry run");
        let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
        assert_eq!(
            (summary.missed, summary.triggered),
            (1, 0),
            "09:45 is 30 s late, more than 10 s"
        );
        assert!(history(&function, &job).await.is_empty());
    }

    #[tokio::test]
    async fn a_malformed_payload_is_a_bad_payload_error_naming_the_accepted_shapes() {
        let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
        let err = function
            .invoke(fixture("malformed.json"), None)
            .await
            .expect_err("refused");
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "BadPayload");
        assert!(
            diagnostic
                .error_message
                .contains("EventBridge Scheduled Event")
                && diagnostic.error_message.contains("\"dry_run\": true|false"),
            "{}",
            diagnostic.error_message
        );
        assert!(function.dispatcher.calls().is_empty());
        assert!(history(&function, &job).await.is_empty());
    }

    #[tokio::test]
    async fn a_real_tick_refuses_a_now_ahead_of_the_clock_or_long_past() {
        let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
        let err = function
            .invoke(json!({"now": "2026-11-26T09:31:00Z"}), None)
            .await
            .expect_err("refused");
        assert_eq!(err.type_name(), "NowAhead");
        assert!(err.to_string().contains("only a dry run may look ahead"));
        let err = function
            .invoke(
                json!({"now": "2026-11-26T09:00:00Z", "dry_run": false}),
                None,
            )
            .await
            .expect_err("refused");
        assert_eq!(err.type_name(), "NowTooOld");
        assert!(function.dispatcher.calls().is_empty());
        assert!(history(&function, &job).await.is_empty());

        // A `now` a few seconds back runs, at that instant.
        let answer = function
            .invoke(json!({"now": "2026-11-26T09:29:59Z"}), None)
            .await
            .expect("tick");
        let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
        assert_eq!((summary.now, summary.due), (at(9, 29, 59), 0));
    }

    #[tokio::test]
    async fn a_dry_run_far_ahead_finds_the_latest_slot_and_one_past_year_9999_is_refused() {
        let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
        // Four billion minutes of backlog: the latest slot is the one at `now`, not a slot
        // somewhere along the way.
        let answer = function
            .invoke(
                json!({"now": "9999-12-31T23:59:00Z", "dry_run": true}),
                None,
            )
            .await
            .expect("dry run");
        let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
        assert_eq!(
            (summary.due, summary.triggered, summary.missed),
            (1, 1, 0),
            "{summary:?}"
        );

        let latest = serde_json::to_value(DateTime::<Utc>::MAX_UTC).expect("json");
        let err = function
            .invoke(json!({"now": latest, "dry_run": true}), None)
            .await
            .expect_err("refused");
        assert_eq!(err.type_name(), "BadPayload", "{err}");
        assert!(err.to_string().contains("9999"), "{err}");
        assert!(function.dispatcher.calls().is_empty());
        assert!(history(&function, &job).await.is_empty());
    }

    #[test]
    fn the_remaining_time_comes_from_an_epoch_deadline_and_nonsense_means_none() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_000);
        assert_eq!(
            remaining_time(1_795_000_060_000, now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(remaining_time(1_794_999_999_000, now), Some(Duration::ZERO));
        assert_eq!(remaining_time(0, now), None);
        assert_eq!(
            remaining_time(600_000, now),
            None,
            "cargo lambda watch's value"
        );
    }

    #[tokio::test]
    async fn a_slot_whose_call_would_not_fit_before_the_deadline_is_left_unclaimed() {
        let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
        // The job's timeout is 30 s: it does not fit in 20 s.
        let answer = function
            .invoke(
                fixture("scheduled-event.json"),
                Some(Duration::from_secs(20)),
            )
            .await
            .expect("not an error: the next tick runs it");
        let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
        assert_eq!((summary.deferred, summary.triggered), (1, 0));
        assert!(function.dispatcher.calls().is_empty());
        assert!(history(&function, &job).await.is_empty());
        let stored = function
            .store
            .get_job(&job.app, &job.name)
            .await
            .expect("get")
            .expect("job");
        assert_eq!(stored, job, "the slot is left for the next tick");
    }

    #[tokio::test]
    async fn a_call_overrunning_its_timeout_is_stopped_before_the_deadline() {
        let (mut function, job) = function(at(9, 30, 0), Status::Succeeded).await;
        change_job(&function, &job, |j| j.timeout_ms = 100).await;
        // This dispatcher ignores the timeout: the backstop has to stop the tick.
        function
            .dispatcher
            .delay_every_call(Duration::from_secs(30));
        function.tick.deadline_margin = Duration::from_millis(100);
        let function = function.with_margin(Duration::from_millis(1000));
        let started = std::time::Instant::now();
        let err = function
            .invoke(
                fixture("scheduled-event.json"),
                Some(Duration::from_millis(1500)),
            )
            .await
            .expect_err("stopped");
        assert_eq!(err.type_name(), "DeadlineReached");
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(450) && elapsed < Duration::from_millis(1400),
            "stopped a margin before the deadline: {elapsed:?}"
        );
        assert_eq!(function.dispatcher.calls().len(), 1, "the call fitted");
    }

    #[tokio::test]
    async fn a_store_failure_for_one_job_fails_the_invocation_with_the_emf_line_of_what_completed()
    {
        use shared::testing::FailingStore;

        let store = FailingStore::new();
        let mut names = Vec::new();
        for name in ["kept", "broken"] {
            let job = NewJob::new(
                AppName::parse("app").expect("app"),
                JobName::parse(name).expect("name"),
                JobUrl::parse("https://app.example/run").expect("url"),
                "* * * * *".parse().expect("schedule"),
            )
            .build(at(9, 29, 10))
            .expect("job");
            store.create_job(&job).await.expect("create");
            names.push(job.name);
        }
        store.fail_job_writes_of(&names[1]);
        let function = Function::new(
            store,
            FakeDispatch::answering(Status::Succeeded),
            Arc::new(FixedClock::new(at(9, 30, 2))),
            TickConfig::default(),
        );
        let err = function
            .invoke(fixture("scheduled-event.json"), None)
            .await
            .expect_err("the invocation fails");
        assert_eq!(err.type_name(), "StoreFailure");
        let line = err
            .metrics()
            .expect("an EMF line of what completed")
            .clone();
        assert_eq!(
            (
                line["Due"].as_u64(),
                line["Triggered"].as_u64(),
                line["Succeeded"].as_u64(),
                line["Errors"].as_u64()
            ),
            (Some(2), Some(2), Some(2), Some(1)),
            "{line}"
        );
        assert_eq!(line["DeliveryDelayMs"], 2_000);
        let diagnostic = Diagnostic::from(err);
        assert_eq!(
            diagnostic.error_message,
            "the tick failed: the store failed during the tick, for 1 of its due items (the rest completed): the store's PutItem request failed: injected by FailingStore"
        );
        assert_eq!(function.dispatcher.calls().len(), 2);
    }

    #[tokio::test]
    async fn a_store_failure_fails_the_invocation_with_a_typed_diagnostic() {
        use aws_sdk_dynamodb::config::Credentials;
        // Nothing listens on port 1: every request fails at once, and retries are off.
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url("http://127.0.0.1:1")
            .region(aws_config::Region::new("us-west-2"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let function = Function::new(
            shared::store::dynamodb::DynamoStore::new(&sdk, "psu-scheduler"),
            FakeDispatch::answering(Status::Succeeded),
            Arc::new(FixedClock::new(at(9, 30, 0))),
            TickConfig::default(),
        );
        let err = function
            .invoke(fixture("scheduled-event.json"), None)
            .await
            .expect_err("a store failure");
        assert!(
            err.metrics().is_none(),
            "nothing completed, nothing to count"
        );
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "StoreFailure");
        assert!(
            diagnostic
                .error_message
                // Typed since the store errors were (Unavailable: nothing listens there). The first
                // request is the table-format marker's GetItem.
                .starts_with("the tick failed: the store failed during the tick: the store's GetItem request could not reach the store"),
            "{}",
            diagnostic.error_message
        );
    }
}
