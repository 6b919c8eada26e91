//! The executor: a [`Plan`] carried out step by step, each write conditional on what the plan
//! read, so that a change someone made since the plan is refused, never overwritten.

use chrono::{DateTime, Utc};

use super::file::DesiredRecord;
use super::plan::{Applied, Plan, Step, Write};
use crate::model::{App, AppPause};
use crate::ops::Ops;
use crate::ops::error::{FieldError, OpsError};
use crate::ops::write::{NotWritten, write_if_unchanged};
use crate::store::{DeleteIf, Store, StoreError};

pub(super) const CHANGED: &str = "changed since the plan (by another writer); not overwritten: run apply again to see the new plan";

impl Ops {
    /// Carries out `plan` at `now`, step by step in order; `on_step` sees each step as it is
    /// done. Each write is conditional on what the plan read: an app record or a job that
    /// someone changed since (its definition, not only the tick's bookkeeping) is refused,
    /// never overwritten; the other steps go on. A store failure stops the run: what was
    /// done stays done, and applying the file again plans the rest.
    pub async fn apply_plan(
        &self,
        plan: &Plan,
        now: DateTime<Utc>,
        mut on_step: impl FnMut(&Step, &Applied),
    ) -> Result<Vec<Applied>, OpsError> {
        let store = self.store().await?;
        let mut results = Vec::with_capacity(plan.steps.len());
        for step in &plan.steps {
            let applied = self.apply_step(store, step, now).await?;
            on_step(step, &applied);
            results.push(applied);
        }
        Ok(results)
    }

    async fn apply_step(
        &self,
        store: &dyn Store,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<Applied, OpsError> {
        match &step.write {
            Write::Nothing => Ok(Applied::Nothing),
            Write::CreateApp(desired) => {
                let mut app = App::new(
                    step.app.clone(),
                    desired.base_url.clone(),
                    desired.budget,
                    now,
                )
                .map_err(FieldError::from)?;
                app.timezone = desired.timezone;
                app.set_paused(pause_of(None, desired, now), now);
                app.set_webhook(desired.webhook.clone(), now);
                app.notify_after = desired.notify_after;
                match store.create_app(&app).await {
                    Ok(()) => Ok(Applied::Done),
                    Err(StoreError::AppExists(_)) => Ok(Applied::Refused(
                        "an app record of this name was created since the plan; not overwritten: run apply again to see the new plan".to_owned(),
                    )),
                    Err(e) => Err(OpsError::store("create the app")(e)),
                }
            }
            Write::UpdateApp(read, desired) => {
                let mut next = (**read).clone();
                next.base_url = desired.base_url.clone();
                next.budget = desired.budget;
                next.timezone = desired.timezone;
                next.set_paused(pause_of(Some(read), desired, now), now);
                next.set_webhook(desired.webhook.clone(), now);
                next.notify_after = desired.notify_after;
                next.deleting = false;
                next.updated_at = now;
                next.version = read.version + 1;
                if store
                    .put_app(&next, read.version)
                    .await
                    .map_err(OpsError::store("write the app"))?
                {
                    Ok(Applied::Done)
                } else {
                    Ok(Applied::Refused(CHANGED.to_owned()))
                }
            }
            Write::CreateJob(spec) => {
                let job = (**spec).clone().build(now).map_err(FieldError::from)?;
                match store.create_job(&job).await {
                    Ok(()) => Ok(Applied::Done),
                    Err(StoreError::AlreadyExists(..)) => Ok(Applied::Refused(
                        "a job of this name was created since the plan; not overwritten: run apply again to see the new plan".to_owned(),
                    )),
                    Err(e) => Err(OpsError::store("create the job")(e)),
                }
            }
            Write::UpdateJob(read, changes, resume) => {
                match write_if_unchanged(store, read, changes, now, *resume, &self.tick).await? {
                    Ok(_) => Ok(Applied::Done),
                    Err(NotWritten::Deleted) => Ok(Applied::Refused(
                        "deleted since the plan; not created again: run apply again to see the new plan".to_owned(),
                    )),
                    Err(NotWritten::Changed) => Ok(Applied::Refused(CHANGED.to_owned())),
                }
            }
            // One conditional delete: the job as the plan read it (same id and `updated_at`),
            // or nothing.
            Write::DeleteJob(read) => match store
                .delete_job_if_unchanged(read)
                .await
                .map_err(OpsError::store("delete the job"))?
            {
                DeleteIf::Deleted => {
                    crate::ops::jobs::hand_over_calls(store, read).await?;
                    Ok(Applied::Done)
                }
                DeleteIf::Gone => Ok(Applied::Done),
                DeleteIf::Changed => Ok(Applied::Refused(CHANGED.to_owned())),
            },
        }
    }
}

/// The pause an app's record gets from a file: as it was when the file does not say
/// `paused`; a pause kept keeps its `since`.
fn pause_of(read: Option<&App>, desired: &DesiredRecord, now: DateTime<Utc>) -> Option<AppPause> {
    let was = read.and_then(|r| r.paused.clone());
    match &desired.pause {
        None => was,
        Some(None) => None,
        Some(Some(reason)) => Some(AppPause {
            reason: reason.clone(),
            since: was.map_or(now, |p| p.since),
        }),
    }
}
