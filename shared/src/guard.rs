//! Job-side verification: how an app knows a request really came from the scheduler.
//!
//! Two ways, as the old `@scheduled_job()` decorator did and better:
//! - **The guard** (stateful, for Rust apps sharing the store): [`Guard::claim`] checks the
//!   execution id and key against the store, refuses a second run, and marks the execution
//!   `running`; the returned [`GuardClaim`] records the end. With the `axum` feature,
//!   [`scheduled_job`] does all of it for a route in one line.
//! - **Signed requests** (stateless, any language): [`verify_signature`](crate::signing::verify_signature) checks the
//!   `X-Psu-Sched-Signature` header made with the app's own key (`docs/verifying-requests.md`).
//!
//! Rejections are logged with their reason and the execution id, never with the key; the
//! app answers every rejection with the same 403.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::model::{ExecutionId, MAX_ERROR_TEXT, MAX_OUTPUT_TEXT, Status, cap_text};
use crate::protocol::{HEADER_ATTEMPT, HEADER_EXECUTION, HEADER_KEY, constant_time_eq, key_hash};
use crate::store::{GuardEnd, Store, StoreError};

/// Why the guard refused a request. The app answers all of them with 403 and says no more;
/// the log says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A header is missing or malformed.
    #[error("missing or malformed header {0}")]
    BadHeader(&'static str),
    /// No such execution.
    #[error("unknown execution")]
    Unknown,
    /// The key does not match the execution's.
    #[error("wrong key")]
    BadKey,
    /// The execution already ran (or is running).
    #[error("already ran (status {0})")]
    AlreadyRan(Status),
    /// The execution's time is over: its deadline passed before the app claimed it.
    #[error("expired")]
    Expired,
}

/// What the guard could not do.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The request is refused (answer 403).
    #[error("request refused: {0}")]
    Rejected(#[from] Rejection),
    /// The store failed (answer 503: the scheduler will reconcile or retry).
    #[error("the store failed while checking the request")]
    Store(#[from] StoreError),
}

/// Checks scheduler requests against the store. Cheap to clone.
#[derive(Clone)]
pub struct Guard {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

fn header<'a>(headers: &'a http::HeaderMap, name: &'static str) -> Result<&'a str, Rejection> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(Rejection::BadHeader(name))
}

impl Guard {
    /// A guard on `store`, reading time from `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Claims the execution a request names: it exists, the key's SHA-256 matches
    /// (compared in constant time), the attempt matches, it is `pending` and its deadline has
    /// not passed. It becomes `running` through a conditional write, so of concurrent
    /// claims exactly one wins.
    pub async fn claim(&self, headers: &http::HeaderMap) -> Result<GuardClaim, GuardError> {
        let result = self.try_claim(headers).await;
        if let Err(GuardError::Rejected(reason)) = &result {
            let execution = headers.get(HEADER_EXECUTION).and_then(|v| v.to_str().ok());
            tracing::warn!(execution = execution.unwrap_or("-"), %reason, "scheduler request refused");
        }
        result
    }

    async fn try_claim(&self, headers: &http::HeaderMap) -> Result<GuardClaim, GuardError> {
        let id = ExecutionId::parse(header(headers, HEADER_EXECUTION)?)
            .map_err(|_| Rejection::BadHeader(HEADER_EXECUTION))?;
        let key = header(headers, HEADER_KEY)?;
        let attempt: u32 = header(headers, HEADER_ATTEMPT)?
            .parse()
            .map_err(|_| Rejection::BadHeader(HEADER_ATTEMPT))?;
        if attempt != id.attempt() {
            return Err(Rejection::BadHeader(HEADER_ATTEMPT).into());
        }
        let execution = self
            .store
            .get_execution(&id)
            .await?
            .ok_or(Rejection::Unknown)?;
        let presented = key_hash(key);
        let stored = execution.key_hash.as_deref().ok_or(Rejection::BadKey)?;
        if !constant_time_eq(presented.as_bytes(), stored.as_bytes()) {
            return Err(Rejection::BadKey.into());
        }
        if execution.status != Status::Pending {
            return Err(Rejection::AlreadyRan(execution.status).into());
        }
        let now = self.clock.now();
        if execution.due_at.is_some_and(|deadline| now > deadline) {
            return Err(Rejection::Expired.into());
        }
        let nonce = crate::model::random_uuid().simple().to_string();
        if !self.store.guard_start(&id, stored, &nonce, now).await? {
            // Someone else claimed it between our read and our write.
            return Err(Rejection::AlreadyRan(Status::Running).into());
        }
        tracing::info!(execution = %id, "scheduler request accepted; execution running");
        Ok(GuardClaim {
            store: self.store.clone(),
            clock: self.clock.clone(),
            id,
            nonce,
            started: now,
            ended: false,
        })
    }
}

/// A claimed execution. Record its end with [`GuardClaim::succeed`] or [`GuardClaim::fail`];
/// dropped without either, it is recorded `failed`.
pub struct GuardClaim {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    id: ExecutionId,
    nonce: String,
    started: DateTime<Utc>,
    ended: bool,
}

impl std::fmt::Debug for GuardClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardClaim")
            .field("execution", &self.id.to_string())
            .finish_non_exhaustive()
    }
}

impl GuardClaim {
    /// The execution this claim holds.
    pub fn execution(&self) -> &ExecutionId {
        &self.id
    }

    fn end(
        &self,
        status: Status,
        http_status: Option<u16>,
        output: &str,
        error: Option<String>,
    ) -> GuardEnd {
        let finished_at = self.clock.now();
        let duration_ms = u64::try_from(
            finished_at
                .signed_duration_since(self.started)
                .num_milliseconds()
                .max(0),
        )
        .unwrap_or(0);
        GuardEnd {
            status,
            http_status,
            output: Some(cap_text(output.to_owned(), MAX_OUTPUT_TEXT)),
            error: error.map(|e| cap_text(e, MAX_ERROR_TEXT)),
            finished_at,
            duration_ms,
        }
    }

    async fn record(mut self, end: GuardEnd) -> Result<bool, StoreError> {
        self.ended = true;
        let recorded = self.store.guard_end(&self.id, &self.nonce, &end).await?;
        if !recorded {
            tracing::warn!(execution = %self.id, "the run's end could not be recorded: the claim no longer holds the execution");
        }
        Ok(recorded)
    }

    /// Records success, with the HTTP status the app answers and the first 4 KiB of output.
    pub async fn succeed(self, http_status: Option<u16>, output: &str) -> Result<bool, StoreError> {
        let end = self.end(Status::Succeeded, http_status, output, None);
        self.record(end).await
    }

    /// Records failure, with what went wrong.
    pub async fn fail(
        self,
        http_status: Option<u16>,
        output: &str,
        error: &str,
    ) -> Result<bool, StoreError> {
        let end = self.end(Status::Failed, http_status, output, Some(error.to_owned()));
        self.record(end).await
    }
}

impl Drop for GuardClaim {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let end = self.end(
            Status::Failed,
            None,
            "",
            Some("the job's handler ended without recording an outcome".to_owned()),
        );
        let (store, id, nonce) = (self.store.clone(), self.id.clone(), self.nonce.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if let Err(e) = store.guard_end(&id, &nonce, &end).await {
                        tracing::error!(execution = %id, error = %e, "could not record a dropped claim as failed");
                    }
                });
            }
            Err(_) => {
                tracing::error!(execution = %self.id, "claim dropped outside a runtime; the tick will reconcile it")
            }
        }
    }
}

#[cfg(feature = "axum")]
pub use self::axum_layer::scheduled_job;

#[cfg(feature = "axum")]
mod axum_layer {
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::http::StatusCode;
    use axum::middleware::Next;
    use axum::response::{IntoResponse, Response};

    use super::{Guard, GuardError};
    use crate::model::MAX_OUTPUT_TEXT as MAX_OUTPUT;

    /// Makes a route a scheduled job, in one line:
    /// `.route("/jobs/report", get(report).route_layer(axum::middleware::from_fn_with_state(guard, scheduled_job)))`.
    ///
    /// Refused requests get a bare 403; a store failure a 503. Otherwise the handler runs,
    /// and its response's status and first 4 KiB are recorded as the run's end (`succeeded`
    /// for a 2xx, else `failed`).
    pub async fn scheduled_job(
        State(guard): State<Guard>,
        request: Request,
        next: Next,
    ) -> Response {
        let claim = match guard.claim(request.headers()).await {
            Ok(claim) => claim,
            Err(GuardError::Rejected(_)) => {
                return (StatusCode::FORBIDDEN, "forbidden").into_response();
            }
            Err(GuardError::Store(e)) => {
                tracing::error!(error = %e, "guard could not reach the store");
                return (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response();
            }
        };
        let response = next.run(request).await;
        let (parts, body) = response.into_parts();
        let bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => bytes,
            Err(e) => {
                let _ = claim
                    .fail(
                        Some(parts.status.as_u16()),
                        "",
                        &format!("could not read the handler's response: {e}"),
                    )
                    .await;
                return (StatusCode::INTERNAL_SERVER_ERROR, "error").into_response();
            }
        };
        let output = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_OUTPUT)]).into_owned();
        let code = parts.status.as_u16();
        let recorded = if parts.status.is_success() {
            claim.succeed(Some(code), &output).await
        } else {
            claim
                .fail(
                    Some(code),
                    &output,
                    &format!("the handler answered {}", parts.status),
                )
                .await
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "could not record the run's end");
        }
        Response::from_parts(parts, Body::from(bytes))
    }
}
