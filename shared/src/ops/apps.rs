//! App records: create, update, show, list and delete, as typed; and the base URL a job by
//! path is resolved against.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::error::{FieldError, Message, OpsError};
use super::write::{Attempt, retry};
use super::{Ops, parse_zone};
use crate::model::{
    App, AppName, AppPause, BaseUrl, DEFAULT_APP_BUDGET, DEFAULT_NOTIFY_AFTER, Job, JobPath,
    JobUrl, MAX_APP_BUDGET, MAX_NOTIFY_AFTER, PauseReason, WebhookUrl, validate_budget,
    validate_notify_after,
};
use crate::store::{DeleteIf, Store};

/// An app's settings as typed; `None` leaves one at its default (create) or as it is
/// (update).
#[derive(Debug, Clone, Default)]
pub struct AppInput {
    /// `https://host[:port][/prefix]`.
    pub base_url: Option<String>,
    /// A whole number of calls from 1 to 64.
    pub budget: Option<String>,
    /// The IANA zone its new jobs take when none is given (`America/Los_Angeles`).
    pub timezone: Option<String>,
    /// Where its jobs' failures are posted (a secret: never shown back).
    pub webhook: Option<String>,
    /// After how many failed runs in a row the webhook is told (1 to 100).
    pub notify_after: Option<String>,
    /// Remove the webhook (`--no-webhook`; refused with `webhook`).
    pub remove_webhook: bool,
}

impl AppInput {
    /// The default zone as typed, checked (field `timezone`).
    pub(super) fn zone(&self) -> Result<Option<Tz>, FieldError> {
        self.timezone
            .as_deref()
            .map(|z| parse_zone(z.trim()))
            .transpose()
    }

    /// The notification settings as typed, checked (fields `webhook`, `notify_after`):
    /// `Some(None)` removes the webhook.
    pub(super) fn notify(&self) -> Result<(Option<Option<WebhookUrl>>, Option<u32>), FieldError> {
        let webhook = match (&self.webhook, self.remove_webhook) {
            (Some(_), true) => {
                return Err(FieldError::plain(
                    "webhook",
                    "give a webhook or remove it, not both",
                ));
            }
            (Some(url), false) => {
                let url = WebhookUrl::parse(url)?;
                if let Some(refusal) = crate::dispatch::webhook_refusal(&url) {
                    return Err(FieldError::plain("webhook", refusal));
                }
                Some(Some(url))
            }
            (None, true) => Some(None),
            (None, false) => None,
        };
        let notify_after = match &self.notify_after {
            Some(text) => Some(validate_notify_after(text.trim().parse().map_err(|_| {
                FieldError::plain(
                    "notify_after",
                    format!(
                        "`{text}` is not accepted; use a whole number of failed runs in a row from 1 to {MAX_NOTIFY_AFTER}"
                    ),
                )
            })?)?),
            None => None,
        };
        Ok((webhook, notify_after))
    }

    pub(super) fn parse(&self) -> Result<(Option<BaseUrl>, Option<u32>), FieldError> {
        let base_url = self.base_url.as_deref().map(BaseUrl::parse).transpose()?;
        let budget = match &self.budget {
            Some(text) => Some(validate_budget(text.trim().parse().map_err(|_| {
                FieldError::plain(
                    "budget",
                    format!(
                        "`{text}` is not accepted; use a whole number of calls from 1 to {MAX_APP_BUDGET}"
                    ),
                )
            })?)?),
            None => None,
        };
        Ok((base_url, budget))
    }
}

/// An app and its jobs (`app show`).
#[derive(Debug)]
pub struct AppDetails {
    /// The record.
    pub app: App,
    /// Its jobs, sorted by name.
    pub jobs: Vec<Job>,
}

/// Parses an app's name (field `app`).
pub fn parse_app(name: &str) -> Result<AppName, FieldError> {
    Ok(AppName::parse(name)?)
}

impl Ops {
    /// Creates an app record: its base URL is required, its budget defaults to
    /// [`DEFAULT_APP_BUDGET`].
    pub async fn create_app(
        &self,
        name: &str,
        input: &AppInput,
        now: DateTime<Utc>,
    ) -> Result<App, OpsError> {
        let name = parse_app(name)?;
        let (base_url, budget) = input.parse()?;
        let Some(base_url) = base_url else {
            return Err(FieldError::new(
                "base_url",
                Message::text("missing; give ")
                    .field("base_url")
                    .and(" https://host[/prefix]"),
            )
            .into());
        };
        let timezone = input.zone()?;
        let (webhook, notify_after) = input.notify()?;
        let mut app = App::new(name, base_url, budget.unwrap_or(DEFAULT_APP_BUDGET), now)
            .map_err(FieldError::from)?;
        app.timezone = timezone;
        app.set_webhook(webhook.flatten(), now);
        app.notify_after = notify_after.unwrap_or(DEFAULT_NOTIFY_AFTER);
        self.store()
            .await?
            .create_app(&app)
            .await
            .map_err(OpsError::store("create the app"))?;
        Ok(app)
    }

    /// Changes an app's base URL or budget (every job by path of the app moves with its
    /// base URL at its next call).
    pub async fn update_app(
        &self,
        name: &str,
        input: &AppInput,
        now: DateTime<Utc>,
    ) -> Result<App, OpsError> {
        let name = parse_app(name)?;
        let (base_url, budget) = input.parse()?;
        let timezone = input.zone()?;
        let (webhook, notify_after) = input.notify()?;
        if base_url.is_none()
            && budget.is_none()
            && timezone.is_none()
            && webhook.is_none()
            && notify_after.is_none()
        {
            return Err(OpsError::NothingToChange);
        }
        change_app(self.store().await?, &name, now, |app| {
            let mut next = app.clone();
            if let Some(webhook) = &webhook {
                next.set_webhook(webhook.clone(), now);
            }
            if let Some(n) = notify_after {
                next.notify_after = n;
            }
            if timezone.is_some() {
                next.timezone = timezone;
            }
            if let Some(base_url) = &base_url {
                next.base_url = base_url.clone();
            }
            if let Some(budget) = budget {
                next.budget = budget;
            }
            Ok(next)
        })
        .await
    }

    /// Pauses an app: from the next tick on, none of its jobs is called; each slot of theirs
    /// that comes due is recorded `skipped` with `reason` (field `reason`: one line, 1 to 200
    /// characters). No job is rewritten. Pausing a paused app changes its reason (the pause
    /// keeps its `since`); the same reason again writes nothing (`false`).
    pub async fn pause_app(
        &self,
        name: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(App, bool), OpsError> {
        let name = parse_app(name)?;
        let reason = PauseReason::parse("reason", reason).map_err(FieldError::from)?;
        let store = self.store().await?;
        let app = read_app(store, &name).await?;
        if app.paused.as_ref().is_some_and(|p| p.reason == reason) {
            return Ok((app, false));
        }
        let app = change_app(store, &name, now, |app| {
            let mut next = app.clone();
            next.set_paused(
                Some(AppPause {
                    reason: reason.clone(),
                    since: app.paused.as_ref().map_or(now, |p| p.since),
                }),
                now,
            );
            Ok(next)
        })
        .await?;
        Ok((app, true))
    }

    /// Resumes a paused app: its jobs are called again from their next slot (the slots
    /// passed over while paused stay recorded `skipped`; none is made up). An app that is not
    /// paused is left as it is (`false`).
    pub async fn resume_app(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(App, bool), OpsError> {
        let name = parse_app(name)?;
        let store = self.store().await?;
        let app = read_app(store, &name).await?;
        if app.paused.is_none() {
            return Ok((app, false));
        }
        let app = change_app(store, &name, now, |app| {
            let mut next = app.clone();
            next.set_paused(None, now);
            Ok(next)
        })
        .await?;
        Ok((app, true))
    }

    /// The app record alone (one read).
    pub async fn app(&self, name: &str) -> Result<App, OpsError> {
        let name = parse_app(name)?;
        read_app(self.store().await?, &name).await
    }

    /// The app record and its jobs.
    pub async fn show_app(&self, name: &str) -> Result<AppDetails, OpsError> {
        let name = parse_app(name)?;
        let store = self.store().await?;
        let app = read_app(store, &name).await?;
        let mut jobs = store
            .list_jobs(Some(&name))
            .await
            .map_err(OpsError::store("list the app's jobs"))?;
        jobs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(AppDetails { app, jobs })
    }

    /// Every app record, sorted by name.
    pub async fn list_apps(&self) -> Result<Vec<App>, OpsError> {
        self.store()
            .await?
            .list_apps()
            .await
            .map_err(OpsError::store("list the apps"))
    }

    /// Deletes an app record; refused while the app still has jobs. Three writes, so that a
    /// job created meanwhile never outlives the record ([`rules::may_create_job`]): the record
    /// is marked `deleting` (no job of the app may be created from then on), its jobs are
    /// listed with a consistent read (one created before the mark is seen), and the record is
    /// deleted only at the version marked. With jobs, the mark is taken back.
    ///
    /// [`rules::may_create_job`]: crate::store::rules::may_create_job
    pub async fn delete_app(&self, name: &str) -> Result<App, OpsError> {
        let name = parse_app(name)?;
        let store = self.store().await?;
        let name = &name;
        retry(
            (),
            |()| async move {
                let app = read_app(store, name).await?;
                let mut marked = app.clone();
                marked.deleting = true;
                marked.version = app.version + 1;
                if !store
                    .put_app(&marked, app.version)
                    .await
                    .map_err(OpsError::store("mark the app as being deleted"))?
                {
                    return Ok(Attempt::Again(()));
                }
                let jobs = store
                    .list_jobs(Some(name))
                    .await
                    .map_err(OpsError::store("list the app's jobs"))?
                    .len();
                if jobs > 0 {
                    let mut kept = marked.clone();
                    kept.deleting = false;
                    kept.version = marked.version + 1;
                    // Refused: someone wrote the record since, which clears the mark too.
                    store
                        .put_app(&kept, marked.version)
                        .await
                        .map_err(OpsError::store("take back the app's deletion mark"))?;
                    return Err(OpsError::AppHasJobs {
                        app: name.clone(),
                        jobs,
                    });
                }
                match store
                    .delete_app_at(&marked)
                    .await
                    .map_err(OpsError::store("delete the app"))?
                {
                    DeleteIf::Deleted | DeleteIf::Gone => Ok(Attempt::Done(app)),
                    // Written since the mark (an update, a rotation): check the jobs again.
                    DeleteIf::Changed => Ok(Attempt::Again(())),
                }
            },
            || OpsError::AppConflict(name.clone()),
        )
        .await
    }
}

/// Writes `change` of the app's record, conditional on the version read, re-reading after
/// losing a race with another writer; `change` may refuse (nothing is written then).
pub(super) async fn change_app(
    store: &dyn Store,
    name: &AppName,
    now: DateTime<Utc>,
    change: impl Fn(&App) -> Result<App, OpsError>,
) -> Result<App, OpsError> {
    let change = &change;
    retry(
        (),
        |()| async move {
            let app = read_app(store, name).await?;
            let mut next = change(&app)?;
            // A change keeps the app: a delete that marked it starts again (and so checks its
            // jobs again), or stays undone if it was interrupted.
            next.deleting = false;
            next.updated_at = now;
            next.version = app.version + 1;
            let written = store
                .put_app(&next, app.version)
                .await
                .map_err(OpsError::store("write the app"))?;
            Ok(if written {
                Attempt::Done(next)
            } else {
                Attempt::Again(())
            })
        },
        || OpsError::AppConflict(name.clone()),
    )
    .await
}

pub(super) async fn read_app(store: &dyn Store, name: &AppName) -> Result<App, OpsError> {
    store
        .get_app(name)
        .await
        .map_err(OpsError::store("read the app"))?
        .ok_or_else(|| OpsError::AppNotFound(name.clone()))
}

/// The URL a job at `path` of `app` is called at now, from the app's record; refused (field
/// `path`) when the app has no record.
pub(super) async fn resolve_path(
    store: &dyn Store,
    app: &AppName,
    path: &JobPath,
) -> Result<JobUrl, OpsError> {
    let record = store
        .get_app(app)
        .await
        .map_err(OpsError::store("read the app"))?;
    let Some(record) = record else {
        return Err(FieldError::plain(
            "path",
            format!(
                "the app {app} has no record with a base URL to resolve `{path}` against; create it first: psu-sched app create --app {app} --base-url https://host"
            ),
        )
        .into());
    };
    Ok(record.base_url.join(path).map_err(FieldError::from)?)
}
