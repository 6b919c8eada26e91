//! Calls in flight tracked by their job's marker (table format 3, [`crate::model::InFlight`]):
//! the claimed execution has no due-index entry, and the job stays in the index at the
//! marker's anchor. A tick that reads such a job resolves each marker whose check instant
//! passed, from the execution read consistently: it sends a claim its tick never sent,
//! reconciles a call that never reported, and does the bookkeeping a tick that died after
//! recording the outcome left undone. The claim's and the outcome's conditions keep each of
//! these once, whatever races (docs/data-model.md, "Calls in flight").

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{Ctx, token};
use crate::model::{ExecutionId, InFlight, Job};
use crate::store::StoreError;

impl Ctx<'_> {
    /// Resolves `job`'s tracking markers whose check instant passed. Returns the job to plan
    /// from: as read when nothing was written, read again otherwise (`None`: it is gone, or
    /// was deleted and created again).
    pub(super) async fn resolve_markers(&self, job: Job) -> Result<Option<Job>, StoreError> {
        let due: Vec<ExecutionId> = job
            .state
            .inflight
            .iter()
            .filter(|f| needs_check(f, self.now) && !self.indexed.contains(&f.execution))
            .map(|f| f.execution.clone())
            .collect();
        let mut wrote = false;
        for id in due {
            wrote |= self.resolve(&job, &id).await?;
        }
        if !wrote {
            return Ok(Some(job));
        }
        Ok(self
            .store
            .get_job(&job.app, &job.name)
            .await?
            .filter(|fresh| fresh.id == job.id))
    }

    /// One marker: true when this tick may have written the job (or sent the call).
    async fn resolve(&self, job: &Job, id: &ExecutionId) -> Result<bool, StoreError> {
        let Some(execution) = self.store.get_execution(id).await? else {
            // Deleted with the job's history, or expired: nothing is left to finish.
            if self.config.dry_run {
                return Ok(false);
            }
            tracing::info!(execution = %id, "the execution a marker tracked is gone; dropping the marker");
            self.drop_marker(job.clone(), id).await?;
            return Ok(true);
        };
        if execution.status.is_final() {
            if self.config.dry_run {
                return Ok(false);
            }
            if execution.guard_nonce.is_some()
                && execution.counted_by.is_none()
                && execution.due_at.is_some()
            {
                // The app's guard recorded the end after the call's answer.
                self.count_guard_end(execution).await?;
            } else {
                // Recorded, and the tick that recorded it died before its bookkeeping. A run
                // the app's guard owned is never retried (it may have done its work).
                let may_retry = execution.guard_nonce.is_none();
                let at = execution.finished_at.unwrap_or(self.now);
                let status = execution.status;
                self.finish(&execution, None, Some(status), may_retry, false, at)
                    .await?;
            }
            return Ok(true);
        }
        // Claimed and not sent past its lease, or sent and past its deadline: as the index
        // returns an execution of an older format.
        if execution.due_at.is_some_and(|at| at <= self.now) {
            self.run_execution(execution).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Removes the marker of `id` from the job (read again after a conflict), if it is there.
    async fn drop_marker(&self, mut job: Job, id: &ExecutionId) -> Result<(), StoreError> {
        for _ in 0..5 {
            if !job.state.inflight.iter().any(|f| &f.execution == id) {
                return Ok(());
            }
            let mut next = job.clone();
            next.state.inflight.retain(|f| &f.execution != id);
            next.state.version = job.state.version + 1;
            next.state.writer = Some(token());
            if self.store.put_job(&next, job.state.version).await? {
                return Ok(());
            }
            match self.store.get_job(&job.app, &job.name).await? {
                Some(fresh) if fresh.id == job.id => job = fresh,
                _ => return Ok(()),
            }
        }
        tracing::warn!(execution = %id, "could not drop the marker (repeated conflicts); a later tick tries again");
        Ok(())
    }
}

/// True when a tick resolves `marker` at `now`: it tracks its call and its check instant has
/// come.
pub(super) fn needs_check(marker: &InFlight, now: DateTime<Utc>) -> bool {
    marker.tracks() && marker.check_at.is_none_or(|at| at <= now)
}

/// True when a table of `format` has the calls in flight tracked by their job's marker,
/// with no due-index entry of their own (docs/data-model.md, "Calls in flight").
pub(super) fn tracks_calls(format: u64) -> bool {
    format >= crate::store::TRACKED_FORMAT
}

/// True when a job the index returned needs this tick: a slot or retry is due, or one of its
/// tracking markers is past its check instant (and its execution did not come from the index).
pub(super) fn has_work(job: &Job, now: DateTime<Utc>, indexed: &HashSet<ExecutionId>) -> bool {
    job.due_at().is_some_and(|at| at <= now)
        || job
            .state
            .inflight
            .iter()
            .any(|f| needs_check(f, now) && !indexed.contains(&f.execution))
}
