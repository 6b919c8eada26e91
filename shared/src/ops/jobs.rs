//! A job's operations: create, update, pause, resume, delete, and reading it (show, list,
//! history). A new operation on jobs goes here, as one more method of [`Ops`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::change::JobChanges;
use super::error::{FieldError, OpsError};
use super::input::{self, JobInput, JobKey};
use super::write::{read_job, write_changes};
use super::{HISTORY_SEARCH, Ops, apps};
use crate::model::{AppName, AppPause, Execution, Job, JobId, NewJob, PauseReason, Status};
use crate::store::Store;

/// A deleted job, and how many executions were purged with it (when asked).
#[derive(Debug)]
pub struct Deleted {
    /// The job as it was.
    pub job: Job,
    /// Executions purged, when the history was purged.
    pub purged: Option<usize>,
}

/// A job's executions, newest slot first, and how far the search went.
#[derive(Debug)]
pub struct History {
    /// The executions that matched, at most the limit.
    pub executions: Vec<Execution>,
    /// How many of the newest executions were read.
    pub searched: usize,
    /// Whether those were all of the job's executions.
    pub complete: bool,
}

/// The jobs `list` shows, and the pauses of their apps: a job of a paused app is not called,
/// so it reads `paused (app)` with no next run ([`super::views::ShownState`]).
#[derive(Debug)]
pub struct Listing {
    /// The jobs, sorted by app and name.
    pub jobs: Vec<Job>,
    /// The pause of each of their apps that is paused.
    pub app_pauses: BTreeMap<AppName, AppPause>,
}

impl Listing {
    /// The pause of `job`'s app, while the app is paused.
    pub fn app_pause(&self, job: &Job) -> Option<&AppPause> {
        self.app_pauses.get(&job.app)
    }
}

impl Ops {
    /// Creates a job from what was typed; `now` is its creation time. Without a zone it
    /// takes its app's default zone (the app record's `timezone`), else UTC.
    pub async fn create(
        &self,
        key: &JobKey,
        input: &JobInput,
        now: DateTime<Utc>,
    ) -> Result<Job, OpsError> {
        let parsed = input.parse(true)?;
        let Some(schedule) = parsed.schedule else {
            return Err(FieldError::plain("schedule", "missing").into());
        };
        // Without a zone, the app's default zone (its record's), else UTC.
        let tz = match parsed.timezone {
            Some(tz) => tz,
            None => self
                .store()
                .await?
                .get_app(&key.app)
                .await
                .map_err(OpsError::store("read the app"))?
                .and_then(|app| app.timezone)
                .unwrap_or(Tz::UTC),
        };
        let dates = input.dates(tz)?;
        let url = match (parsed.url, &parsed.path) {
            (Some(url), _) => url,
            (None, Some(path)) => apps::resolve_path(self.store().await?, &key.app, path).await?,
            (None, None) => return Err(FieldError::plain("url", "missing").into()),
        };
        let mut spec = NewJob::new(key.app.clone(), key.name.clone(), url, schedule);
        spec.path = parsed.path;
        spec.timezone = tz;
        JobChanges {
            start: dates.start,
            end: dates.end,
            ..parsed.rest
        }
        .apply_to_new(&mut spec);
        spec.enabled = !input.paused;
        let job = spec.build(now).map_err(FieldError::from)?;
        self.store()
            .await?
            .create_job(&job)
            .await
            .map_err(OpsError::store("create the job"))?;
        Ok(job)
    }

    /// Changes a job: the options given, the rest as they are; dates without a zone are read
    /// in the job's (new) zone. `paused` pauses it. Retries when a tick writes in between.
    pub async fn update(
        &self,
        key: &JobKey,
        input: &JobInput,
        now: DateTime<Utc>,
    ) -> Result<Job, OpsError> {
        let parsed = input.parse(false)?;
        let untouched = parsed.url.is_none()
            && parsed.path.is_none()
            && parsed.schedule.is_none()
            && parsed.timezone.is_none()
            && input.start.is_none()
            && input.end.is_none()
            && !input.paused
            && parsed.rest.is_empty();
        if untouched {
            return Err(OpsError::NothingToChange);
        }
        let store = self.store().await?;
        let job = read_job(store, key).await?;
        let changes = changes_for(store, key, input, parsed, &job).await?;
        write_changes(store, key, &changes, Some(job), now, false, &self.tick).await
    }

    /// Pauses a job: it drops out of the due index until resumed. `reason` (field `reason`:
    /// one line, 1 to 200 characters) says why, shown with the job; pausing a paused job
    /// with a reason changes its reason, without one keeps it.
    pub async fn pause(
        &self,
        key: &JobKey,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Job, OpsError> {
        let reason = reason
            .map(|r| PauseReason::parse("reason", r))
            .transpose()
            .map_err(FieldError::from)?;
        let changes = JobChanges {
            enabled: Some(false),
            pause_reason: reason.map(Some),
            ..JobChanges::default()
        };
        write_changes(
            self.store().await?,
            key,
            &changes,
            None,
            now,
            false,
            &self.tick,
        )
        .await
    }

    /// Resumes a job from `now`: its next slot is the first after `now` (no backlog runs).
    pub async fn resume(&self, key: &JobKey, now: DateTime<Utc>) -> Result<Job, OpsError> {
        let changes = JobChanges {
            enabled: Some(true),
            ..JobChanges::default()
        };
        write_changes(
            self.store().await?,
            key,
            &changes,
            None,
            now,
            true,
            &self.tick,
        )
        .await
    }

    /// The job, or [`OpsError::NotFound`].
    pub async fn job(&self, key: &JobKey) -> Result<Job, OpsError> {
        read_job(self.store().await?, key).await
    }

    /// Deletes a job, and its executions when `purge_history`.
    pub async fn delete(&self, key: &JobKey, purge_history: bool) -> Result<Deleted, OpsError> {
        let store = self.store().await?;
        let job = store
            .delete_job(&key.app, &key.name)
            .await
            .map_err(OpsError::store("delete the job"))?
            .ok_or_else(|| OpsError::NotFound(key.app.clone(), key.name.clone()))?;
        if !purge_history {
            hand_over_calls(store, &job).await?;
        }
        let purged = if purge_history {
            Some(
                store
                    .delete_executions(&job.id)
                    .await
                    .map_err(OpsError::Purge)?,
            )
        } else {
            None
        };
        Ok(Deleted { job, purged })
    }

    /// The jobs, of one app when `app` is given, sorted by app and name.
    pub async fn list(&self, app: Option<&str>) -> Result<Vec<Job>, OpsError> {
        let mut jobs = self.list_sorted(app).await?;
        if jobs.iter().any(|j| j.path.is_some()) {
            let apps = self
                .store()
                .await?
                .list_apps()
                .await
                .map_err(OpsError::store("list the apps"))?;
            for job in &mut jobs {
                resolve_for_display(job, apps.iter().find(|a| a.name == job.app));
            }
        }
        Ok(jobs)
    }

    /// The jobs as [`Ops::list`] reads them, with the pauses of their apps (`list`): the
    /// app records are read whether or not a job is by path, so this reads at most one more
    /// time than `list`: one app's record (a `GetItem`) when `app` is given, else every
    /// record (one `Query`, which `list` makes too when a job is by path); nothing more when
    /// there is no job.
    pub async fn list_with_app_pauses(&self, app: Option<&str>) -> Result<Listing, OpsError> {
        let mut jobs = self.list_sorted(app).await?;
        let Some(first) = jobs.first() else {
            return Ok(Listing {
                jobs,
                app_pauses: BTreeMap::new(),
            });
        };
        let store = self.store().await?;
        let apps = match app {
            // The jobs of one app: its record alone.
            Some(_) => store
                .get_app(&first.app)
                .await
                .map_err(OpsError::store("read the app"))?
                .into_iter()
                .collect(),
            None => store
                .list_apps()
                .await
                .map_err(OpsError::store("list the apps"))?,
        };
        for job in &mut jobs {
            resolve_for_display(job, apps.iter().find(|a| a.name == job.app));
        }
        let app_pauses = apps
            .into_iter()
            .filter_map(|a| Some((a.name, a.paused?)))
            .collect();
        Ok(Listing { jobs, app_pauses })
    }

    /// The job and its newest `n` executions.
    pub async fn show(&self, key: &JobKey, n: usize) -> Result<(Job, Vec<Execution>), OpsError> {
        let (job, _, executions) = self.show_reading(key, n, false).await?;
        Ok((job, executions))
    }

    /// The job, its app's pause while the app is paused, and its newest `n` executions
    /// (`show`): the app's record is read for a job by URL too (one `GetItem` more than
    /// [`Ops::show`] for it; none more for a job by path).
    pub async fn show_with_app_pause(
        &self,
        key: &JobKey,
        n: usize,
    ) -> Result<(Job, Option<AppPause>, Vec<Execution>), OpsError> {
        self.show_reading(key, n, true).await
    }

    /// The pause of the app `app`, while it is paused (one `GetItem`; an app without a record
    /// is never paused): `create` and `update` show the job they wrote with it.
    pub async fn app_pause(&self, app: &AppName) -> Result<Option<AppPause>, OpsError> {
        Ok(self
            .store()
            .await?
            .get_app(app)
            .await
            .map_err(OpsError::store("read the app"))?
            .and_then(|a| a.paused))
    }

    /// The job's newest `limit` executions, of one status when given (searching the newest
    /// [`HISTORY_SEARCH`]).
    pub async fn history(
        &self,
        key: &JobKey,
        status: Option<&str>,
        limit: usize,
    ) -> Result<(Job, History), OpsError> {
        let store = self.store().await?;
        let (status, limit) = history_filter(status, limit)?;
        let job = read_job(store, key).await?;
        let history = search_history(store, &job.id, status, limit).await?;
        Ok((job, history))
    }

    /// The newest `limit` executions of the job whose id is `job_id` (field `job_id`), of one
    /// status when given: a deleted job's history too, until it expires (a job deleted
    /// without `--purge-history`; `delete` prints its id). One `Query` of the job's
    /// executions, as [`Ops::history`]; an id without executions reads as none.
    pub async fn history_by_id(
        &self,
        job_id: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<History, OpsError> {
        let id = JobId::parse(job_id.trim()).map_err(|e| {
            FieldError::plain(
                "job_id",
                format!(
                    "{}; give the 32 hex digits `psu-sched delete` or `show --json` printed",
                    e.message
                ),
            )
        })?;
        let (status, limit) = history_filter(status, limit)?;
        search_history(self.store().await?, &id, status, limit).await
    }
}

impl Ops {
    /// The jobs, of one app when `app` is given, sorted by app and name, as stored.
    async fn list_sorted(&self, app: Option<&str>) -> Result<Vec<Job>, OpsError> {
        let app = app
            .map(AppName::parse)
            .transpose()
            .map_err(FieldError::from)?;
        let mut jobs = self
            .store()
            .await?
            .list_jobs(app.as_ref())
            .await
            .map_err(OpsError::store("list the jobs"))?;
        jobs.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
        Ok(jobs)
    }

    /// The job, its app's pause and its newest `n` executions; the app's record is read for
    /// a job by path (its URL for display), and for any job when `app_pause`.
    async fn show_reading(
        &self,
        key: &JobKey,
        n: usize,
        app_pause: bool,
    ) -> Result<(Job, Option<AppPause>, Vec<Execution>), OpsError> {
        let store = self.store().await?;
        let mut job = read_job(store, key).await?;
        let mut pause = None;
        if job.path.is_some() || app_pause {
            let app = store
                .get_app(&job.app)
                .await
                .map_err(OpsError::store("read the app"))?;
            resolve_for_display(&mut job, app.as_ref());
            pause = app.and_then(|a| a.paused).filter(|_| app_pause);
        }
        let executions = store
            .list_executions(&job.id, n)
            .await
            .map_err(OpsError::store("read the job's history"))?;
        Ok((job, pause, executions))
    }
}

/// A history's status filter and limit, checked (fields `status`, `limit`).
fn history_filter(status: Option<&str>, limit: usize) -> Result<(Option<Status>, usize), OpsError> {
    let status = status
        .map(str::parse::<Status>)
        .transpose()
        .map_err(FieldError::from)?;
    if limit == 0 {
        return Err(
            FieldError::plain("limit", "0 is not accepted; use a whole number from 1").into(),
        );
    }
    Ok((status, limit))
}

/// The newest `limit` executions of the job `id`, of `status` when given (searching the
/// newest [`HISTORY_SEARCH`]).
async fn search_history(
    store: &dyn Store,
    id: &JobId,
    status: Option<Status>,
    limit: usize,
) -> Result<History, OpsError> {
    let fetch = if status.is_some() {
        limit.max(HISTORY_SEARCH)
    } else {
        limit
    };
    let mut executions = store
        .list_executions(id, fetch)
        .await
        .map_err(OpsError::store("read the job's history"))?;
    let searched = executions.len();
    if let Some(status) = status {
        executions.retain(|e| e.status == status);
    }
    executions.truncate(limit);
    Ok(History {
        executions,
        searched,
        complete: searched < fetch,
    })
}

/// The changes `input` (parsed as `parsed`) makes to `job`: dates without a zone read in the
/// job's (new) zone, a path resolved against the app's record, `paused` as a pause.
pub(super) async fn changes_for(
    store: &dyn Store,
    key: &JobKey,
    input: &JobInput,
    parsed: input::Parsed,
    job: &Job,
) -> Result<JobChanges, OpsError> {
    let dates = input.dates(parsed.timezone.unwrap_or(job.timezone))?;
    // A path makes it a job by path (resolved now, for display); a URL, a job by URL.
    let (url, path) = match (parsed.url, parsed.path) {
        (Some(url), _) => (Some(url), Some(None)),
        (None, Some(path)) => (
            Some(apps::resolve_path(store, &key.app, &path).await?),
            Some(Some(path)),
        ),
        (None, None) => (None, None),
    };
    Ok(JobChanges {
        url,
        path,
        schedule: parsed.schedule,
        timezone: parsed.timezone,
        start: dates.start,
        end: dates.end,
        enabled: input.paused.then_some(false),
        ..parsed.rest
    })
}

/// A job for display: a job by path shows the URL its next call goes to, from its app's
/// current record (without a record, the URL it had when last written).
fn resolve_for_display(job: &mut Job, app: Option<&crate::model::App>) {
    if let (Some(path), Some(app)) = (&job.path, app)
        && let Ok(url) = app.base_url.join(path)
    {
        job.url = url;
    }
}

/// How many of a deleted job's newest executions [`hand_over_calls`] looks through for calls
/// still in flight (besides those its markers name).
const IN_FLIGHT_SEARCH: usize = 50;

/// The calls of a deleted job still in flight and tracked by its markers (table format 3) get
/// due-index entries of their own ([`Store::untrack`]): with the job gone, nothing else would
/// lead a tick to them, and a claim never sent or a call that never reported would stay
/// `pending`. A later tick then records them as at format 1 (a claim never sent: not called;
/// a call past its deadline: `timed_out`). `markers` is the job as deleted, when known; its
/// newest executions are searched too (an `apply --prune` deletes the job as its plan read
/// it, whose markers may be older).
pub(super) async fn hand_over_calls(store: &dyn Store, job: &Job) -> Result<(), OpsError> {
    let mut calls: Vec<Execution> = store
        .list_executions(&job.id, IN_FLIGHT_SEARCH)
        .await
        .map_err(OpsError::store("read the deleted job's calls"))?;
    for marker in job.state.inflight.iter().filter(|f| f.tracks()) {
        if !calls.iter().any(|e| e.id == marker.execution)
            && let Some(e) = store
                .get_execution(&marker.execution)
                .await
                .map_err(OpsError::store("read the deleted job's calls"))?
        {
            calls.push(e);
        }
    }
    for call in calls.iter().filter(|e| e.tracked && !e.status.is_final()) {
        store.untrack(call).await.map_err(OpsError::store(
            "hand the deleted job's calls in flight to the tick",
        ))?;
    }
    Ok(())
}
