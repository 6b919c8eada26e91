//! Manual runs (`psu-sched run`): a job called now, whatever its schedule, claimed like a slot.

use std::collections::{HashMap, HashSet};

use super::markers::tracks_calls;
use super::plan::{in_flight, new_execution};
use super::{Counters, Ctx, TickConfig, chrono, token};
use crate::clock::Clock;
use crate::dispatch::Dispatch;
use crate::model::{Execution, ExecutionId, Status, Trigger};
use crate::store::{Claim, ClaimOutcome, Store, StoreError, rules};

/// Why a manual run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RunNowError {
    /// No such job.
    #[error("no job named {0}/{1}")]
    NotFound(crate::model::AppName, crate::model::JobName),
    /// Another run of this job was created in the same second, or the job kept changing.
    #[error(
        "the job {0}/{1} changed while starting the run (or was run in the same second); try again"
    )]
    Conflict(crate::model::AppName, crate::model::JobName),
    /// The job's app is paused: none of its jobs is called, a manual run neither.
    #[error(
        "the app {0} is paused ({1}): none of its jobs is called; resume it first: psu-sched app resume --app {0}"
    )]
    AppPaused(crate::model::AppName, crate::model::PauseReason),
    /// The store failed.
    #[error("the store failed while running the job")]
    Store(#[from] StoreError),
}

/// Runs a job now, whatever its schedule (trigger `manual`), and waits for the outcome.
/// The run is claimed like a slot (the execution id holds the current second), so it is
/// sent once; the job's own slots are unaffected. Returns the recorded execution.
pub async fn run_now(
    store: &dyn Store,
    dispatcher: &dyn Dispatch,
    clock: &dyn Clock,
    config: &TickConfig,
    app: &crate::model::AppName,
    name: &crate::model::JobName,
) -> Result<Execution, RunNowError> {
    run_now_then(store, dispatcher, clock, config, app, name, |_| {}).await
}

/// [`run_now`], telling `claimed` the execution's id as soon as the run is claimed (before
/// the call is sent), so that a front end can show the execution while it runs.
pub async fn run_now_then(
    store: &dyn Store,
    dispatcher: &dyn Dispatch,
    clock: &dyn Clock,
    config: &TickConfig,
    app: &crate::model::AppName,
    name: &crate::model::JobName,
    claimed: impl FnOnce(&ExecutionId),
) -> Result<Execution, RunNowError> {
    use chrono::Timelike;
    let mut claimed = Some(claimed);
    let now = clock.now();
    let slot = now.with_nanosecond(0).unwrap_or(now);
    // As a tick: a table of a newer format is left alone, and the format says whether the
    // call's marker tracks it.
    let meta = store.table_meta().await?;
    rules::check_table_format(meta.format)?;
    let tracks = tracks_calls(meta.format);
    for _ in 0..4 {
        let Some(job) = store.get_job(app, name).await? else {
            return Err(RunNowError::NotFound(app.clone(), name.clone()));
        };
        // A job by path is resolved as a tick does, from its app's record read now; the
        // record also gives the generations of the app's signing key.
        let mut apps = HashMap::new();
        if let Some(record) = store.get_app(app).await? {
            if let Some(pause) = &record.paused {
                return Err(RunNowError::AppPaused(app.clone(), pause.reason.clone()));
            }
            apps.insert(record.name.clone(), record);
        }
        let ctx = Ctx {
            store,
            dispatcher,
            clock,
            config,
            now,
            apps,
            apps_read: true,
            notices: Default::default(),
            counters: Counters::default(),
            tracks,
            indexed: HashSet::new(),
        };
        let id = ExecutionId::new(job.id.clone(), slot, Trigger::Manual, 1);
        let claim_token = token();
        let mut execution = new_execution(&job, id.clone(), Status::Pending, 0, now, config);
        execution.claimed_by = Some(claim_token.clone());
        if let Some(Ok(url)) = ctx.target(&job) {
            execution.url = url;
        }
        execution.due_at = Some(now + chrono(config.lease));
        let mut next = job.clone();
        execution.tracked = ctx.tracks;
        next.state.inflight.retain(|f| f.tracks() || f.until > now);
        next.state
            .inflight
            .push(in_flight(&job, id.clone(), now, config, ctx.tracks));
        next.state.version = job.state.version + 1;
        next.state.writer = Some(claim_token.clone());
        let claim = Claim {
            job: next,
            expected_version: job.state.version,
            execution,
            token: claim_token,
        };
        if store.claim(&claim).await? == ClaimOutcome::Won {
            if let Some(claimed) = claimed.take() {
                claimed(&id);
            }
            ctx.send(claim.execution, Some(claim.job)).await?;
            // A failure notification this run's bookkeeping decided is posted before answering.
            futures::future::join_all(ctx.take_notices().into_iter().map(|n| ctx.post(n))).await;
            return match store.get_execution(&id).await? {
                Some(execution) => Ok(execution),
                None => Err(RunNowError::Conflict(app.clone(), name.clone())),
            };
        }
        if store.get_execution(&id).await?.is_some() {
            return Err(RunNowError::Conflict(app.clone(), name.clone()));
        }
    }
    Err(RunNowError::Conflict(app.clone(), name.clone()))
}
