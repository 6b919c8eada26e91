//! Acting on a job as a page showed it (the admin's bulk actions): each job is named by its
//! key, its id and the `updated_at` the page showed, and a job changed (or deleted and made
//! again) since is reported, never acted on. A new action on several jobs goes here.

use chrono::{DateTime, SecondsFormat, Utc};

use super::Ops;
use super::change::JobChanges;
use super::error::{FieldError, OpsError};
use super::input::JobKey;
use super::write::{NotWritten, read_job, write_if_unchanged};
use crate::model::{Job, JobId};

/// A job as a page showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownJob {
    /// Its app and name.
    pub key: JobKey,
    /// Its id (a job deleted and created again under the same name has another).
    pub id: JobId,
    /// When its definition last changed, as the page showed it.
    pub updated_at: DateTime<Utc>,
}

/// Why a job was not acted on: it is no longer as the page showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAsShown {
    /// It was deleted since (or deleted and created again).
    Gone,
    /// Someone changed it since, at this instant.
    Changed(DateTime<Utc>),
}

impl ShownJob {
    /// How a page writes `job`: `app/name/id/updated_at` (RFC 3339, to the nanosecond).
    pub fn encode(job: &Job) -> String {
        format!(
            "{}/{}/{}/{}",
            job.app,
            job.name,
            job.id.as_str(),
            job.updated_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )
    }

    /// Reads what [`ShownJob::encode`] wrote; a refusal names the field `job`.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let bad = || {
            FieldError::plain(
                "job",
                "is not `app/name/id/updated_at` as the page wrote it",
            )
        };
        let mut parts = value.splitn(4, '/');
        let (Some(app), Some(name), Some(id), Some(at)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Self {
            key: JobKey::parse(app, name)?,
            id: JobId::parse(id).map_err(|_| bad())?,
            updated_at: DateTime::parse_from_rfc3339(at)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
        })
    }
}

impl Ops {
    /// The job, when it is still as `shown`.
    pub async fn job_as_shown(
        &self,
        shown: &ShownJob,
    ) -> Result<Result<Job, NotAsShown>, OpsError> {
        match read_job(self.store().await?, &shown.key).await {
            Ok(job) if job.id != shown.id => Ok(Err(NotAsShown::Gone)),
            Ok(job) if job.updated_at != shown.updated_at => {
                Ok(Err(NotAsShown::Changed(job.updated_at)))
            }
            Ok(job) => Ok(Ok(job)),
            Err(OpsError::NotFound(..)) => Ok(Err(NotAsShown::Gone)),
            Err(e) => Err(e),
        }
    }

    /// Pauses (`enabled` false) or resumes the job, when it is still as `shown`, through the
    /// same write as [`Ops::pause`] and [`Ops::resume`], made only if no person changed the
    /// job in between (the tick's bookkeeping is no change). `Ok(Ok((job, false)))` when it
    /// already was: nothing is written.
    pub async fn set_enabled_as_shown(
        &self,
        shown: &ShownJob,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Result<(Job, bool), NotAsShown>, OpsError> {
        let job = match self.job_as_shown(shown).await? {
            Ok(job) => job,
            Err(not) => return Ok(Err(not)),
        };
        if job.enabled == enabled {
            return Ok(Ok((job, false)));
        }
        let changes = JobChanges {
            enabled: Some(enabled),
            ..JobChanges::default()
        };
        let store = self.store().await?;
        Ok(
            match write_if_unchanged(store, &job, &changes, now, enabled, &self.tick).await? {
                Ok(written) => Ok((written, true)),
                Err(NotWritten::Deleted) => Err(NotAsShown::Gone),
                Err(NotWritten::Changed) => {
                    let at = read_job(store, &shown.key)
                        .await
                        .map(|j| j.updated_at)
                        .unwrap_or(now);
                    Err(NotAsShown::Changed(at))
                }
            },
        )
    }
}
