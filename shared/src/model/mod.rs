//! Plain types: jobs, executions and the validating newtypes they are built from.
//!
//! Nothing here knows about DynamoDB or HTTP. A value of one of these types is valid by
//! construction: the newtypes only come out of their `parse` functions.

mod app;
mod execution;
mod jitter;
mod job;
mod names;
mod outcomes;
mod past;
mod pause;
#[cfg(test)]
mod tests;
mod text;
mod webhook;

pub use app::{App, BaseUrl, DEFAULT_APP_BUDGET, JobPath, MAX_APP_BUDGET, validate_budget};
pub use execution::{Execution, ExecutionId, Status, Trigger};
pub use jitter::{MAX_JITTER, jitter_offset, validate_jitter};
pub use job::check_pause_reason;
pub use job::{
    DEFAULT_MAX_LATENESS, DEFAULT_TIMEOUT, InFlight, Job, JobState, LastRun, MAX_RETRIES,
    MAX_TIMEOUT, Method, NewJob, OverlapPolicy, PendingRetry, validate_retries, validate_timeout,
};
pub(crate) use names::random_uuid;
pub use names::{AppName, JobId, JobName, JobUrl, parse_timezone, tz_serde};
pub use outcomes::{RECENT_OUTCOMES, outcome_letter, outcome_of_letter};
pub use past::{JobPast, MAX_PAUSES, PauseSpan, push_pause};
pub use pause::{AppPause, MAX_PAUSE_REASON, PauseReason};
pub use text::{MAX_ERROR_TEXT, MAX_OUTPUT_TEXT, cap_text};
pub use webhook::{DEFAULT_NOTIFY_AFTER, MAX_NOTIFY_AFTER, WebhookUrl, validate_notify_after};

/// Invalid input, named by field, with what is accepted. One line, ready to show a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The field at fault (`app`, `name`, `url`, `timeout`...).
    pub field: &'static str,
    /// What was wrong and what is accepted.
    pub message: String,
}

impl ValidationError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
