//! The one read-change-write loop ([`retry`]) every change of a record goes through, and the
//! job's conditional write on top of it: a change is written only over the version it was
//! computed from, and made again over a fresh read when another writer (a tick, a person)
//! came in between, at most [`ATTEMPTS`] times.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::change::JobChanges;
use super::definition::same_definition;
use super::error::{FieldError, OpsError};
use super::input::JobKey;
use crate::model::Job;
use crate::store::{Claim, ClaimOutcome, Store};
use crate::tick::{self, TickConfig};

/// How many times a change is tried before [`retry`] gives up (another writer kept winning).
pub(super) const ATTEMPTS: usize = 5;

/// What one attempt of a read-change-write came to.
pub(super) enum Attempt<S, T> {
    /// Written, or refused for good: what the loop returns.
    Done(T),
    /// Lost to another writer: try again, starting from `S` (a fresh read, or nothing).
    Again(S),
}

/// Runs `attempt` from `first` until it is [`Attempt::Done`], each [`Attempt::Again`] handing
/// the next attempt its start; after [`ATTEMPTS`] lost attempts, the error `exhausted` gives.
/// An error of an attempt ends the loop.
pub(super) async fn retry<S, T, F, Fut>(
    first: S,
    mut attempt: F,
    exhausted: impl FnOnce() -> OpsError,
) -> Result<T, OpsError>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Result<Attempt<S, T>, OpsError>>,
{
    let mut start = first;
    for _ in 0..ATTEMPTS {
        match attempt(start).await? {
            Attempt::Done(done) => return Ok(done),
            Attempt::Again(next) => start = next,
        }
    }
    Err(exhausted())
}

/// The job, or [`OpsError::NotFound`].
pub(super) async fn read_job(store: &dyn Store, key: &JobKey) -> Result<Job, OpsError> {
    store
        .get_job(&key.app, &key.name)
        .await
        .map_err(OpsError::store("read the job"))?
        .ok_or_else(|| OpsError::NotFound(key.app.clone(), key.name.clone()))
}

/// Applies `changes` at `now` and writes the job with the optimistic version check,
/// re-reading and retrying when another writer came in between. `first` is the job when it
/// was just read. `from_now` recomputes the next slot from `now` whatever changed (resume).
pub(super) async fn write_changes(
    store: &dyn Store,
    key: &JobKey,
    changes: &JobChanges,
    first: Option<Job>,
    now: DateTime<Utc>,
    from_now: bool,
    config: &TickConfig,
) -> Result<Job, OpsError> {
    retry(
        first,
        |read: Option<Job>| async move {
            let job = match read {
                Some(job) => job,
                None => read_job(store, key).await?,
            };
            let written = write_once(store, &job, changes, now, from_now, config).await?;
            Ok::<_, OpsError>(match written {
                Some(written) => Attempt::Done(written),
                None => Attempt::Again(None),
            })
        },
        || OpsError::Conflict(key.app.clone(), key.name.clone()),
    )
    .await
}

/// Why [`write_if_unchanged`] wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotWritten {
    /// The job is gone.
    Deleted,
    /// A person changed it (its definition, paused state or `updated_at`).
    Changed,
}

/// Writes `changes` over the job as `read` was read, unless a person changed or deleted it
/// since: a write lost only to the tick's bookkeeping is made again on the fresh job.
/// `resume` recomputes the next slot from `now`.
pub(super) async fn write_if_unchanged(
    store: &dyn Store,
    read: &Job,
    changes: &JobChanges,
    now: DateTime<Utc>,
    resume: bool,
    config: &TickConfig,
) -> Result<Result<Job, NotWritten>, OpsError> {
    retry(
        read.clone(),
        |current: Job| async move {
            if let Some(written) = write_once(store, &current, changes, now, resume, config).await?
            {
                return Ok(Attempt::Done(Ok(written)));
            }
            let fresh = store
                .get_job(&read.app, &read.name)
                .await
                .map_err(OpsError::store("read the job"))?;
            Ok::<_, OpsError>(match fresh {
                None => Attempt::Done(Err(NotWritten::Deleted)),
                Some(fresh) if !same_definition(&fresh, read) => {
                    Attempt::Done(Err(NotWritten::Changed))
                }
                Some(fresh) => Attempt::Again(fresh),
            })
        },
        || OpsError::Conflict(read.app.clone(), read.name.clone()),
    )
    .await
}

/// One attempt of a job's write: `changes` applied to `job` as read, written only if the
/// stored job is still at its version. `None` when another writer came in between.
async fn write_once(
    store: &dyn Store,
    job: &Job,
    changes: &JobChanges,
    now: DateTime<Utc>,
    from_now: bool,
    config: &TickConfig,
) -> Result<Option<Job>, OpsError> {
    let mut next = changes.apply(job, now).map_err(FieldError::from)?;
    if from_now {
        next.state.next_slot = next.slot_after(now);
    }
    // A slot that came due but was not claimed yet is kept, or recorded missed in the
    // same write: never dropped silently.
    let written = match tick::slot_left_by_change(job, &mut next, now, config) {
        None => store
            .put_job(&next, job.state.version)
            .await
            .map_err(OpsError::store("write the job"))?,
        Some(mut missed) => {
            let token = next.state.writer.clone().unwrap_or_default();
            missed.claimed_by = Some(token.clone());
            let claim = Claim {
                job: next.clone(),
                expected_version: job.state.version,
                execution: missed,
                token,
            };
            store
                .claim(&claim)
                .await
                .map_err(OpsError::store("write the job"))?
                == ClaimOutcome::Won
        }
    };
    Ok(written.then_some(next))
}
