//! What the web admin reads to show the jobs' health: the overview (the jobs' own records,
//! and the latest error of a few failing jobs), a job's recent executions, one execution.
//! Every read is bounded; docs/admin.md counts them per page.

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};

use super::error::{FieldError, OpsError};
use super::{JobKey, Ops, read_job};
use crate::model::{App, Execution, ExecutionId, Job, Status};
use crate::store::RECONCILER;

/// The most failing jobs whose latest error the overview reads (one GetItem each), the most
/// recent failures first.
pub const OVERVIEW_ERRORS: usize = 10;

/// How many reads of a latest error the overview makes at once.
const OVERVIEW_CONCURRENCY: usize = 5;

/// How long after its slot an active job's next run counts as late (a tick runs every minute).
pub const LATE_AFTER: Duration = Duration::minutes(2);

/// Every app and job, with what each job's record says of its health ([`Ops::overview`]).
#[derive(Debug)]
pub struct Overview {
    /// The app records, sorted by name.
    pub apps: Vec<App>,
    /// Every job, sorted by app and name.
    pub jobs: Vec<JobHealth>,
    /// Failing jobs whose latest error was not read (more than [`OVERVIEW_ERRORS`] fail).
    pub errors_unread: usize,
}

/// A job and what its record says of its health.
#[derive(Debug)]
pub struct JobHealth {
    /// The job.
    pub job: Job,
    /// Whether its next slot is more than [`LATE_AFTER`] in the past (no tick took it).
    pub late: bool,
    /// Whether its latest runs failed or timed out ([`crate::model::JobState::streak`] > 0).
    pub failing: bool,
    /// The error of its last run, when it is failing and among the [`OVERVIEW_ERRORS`] most
    /// recent failures (its HTTP status when the job answered without one).
    pub latest_error: Option<String>,
}

/// Whether an execution was ended by reconciliation (no outcome came back before its deadline).
pub fn reconciled(e: &Execution) -> bool {
    e.outcome_by.as_deref() == Some(RECONCILER)
}

impl Ops {
    /// Every app and job, and each job's health as its record keeps it (its last run, its
    /// latest outcomes, its failure streak: no execution is read for them), plus the latest
    /// error of the [`OVERVIEW_ERRORS`] jobs that failed most recently. On DynamoDB: the
    /// apps' Query, the jobs' Queries (one per app, paginated), and at most
    /// [`OVERVIEW_ERRORS`] GetItems: the same number however many jobs and runs there are.
    pub async fn overview(&self, now: DateTime<Utc>) -> Result<Overview, OpsError> {
        let apps = self.list_apps().await?;
        let jobs = self.list(None).await?;
        let mut failing: Vec<usize> = (0..jobs.len())
            .filter(|&i| jobs[i].state.streak > 0 && jobs[i].state.last.is_some())
            .collect();
        failing.sort_by_key(|&i| std::cmp::Reverse(jobs[i].state.last.as_ref().map(|l| l.at)));
        let errors_unread = failing.len().saturating_sub(OVERVIEW_ERRORS);
        failing.truncate(OVERVIEW_ERRORS);
        let store = self.store().await?;
        let reads = stream::iter(failing.into_iter().filter_map(|i| {
            let last = jobs[i].state.last.as_ref()?;
            Some(async move {
                store
                    .get_execution(&last.execution)
                    .await
                    .map(|execution| (i, execution))
            })
        }))
        .buffer_unordered(OVERVIEW_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        let mut errors: Vec<Option<String>> = vec![None; jobs.len()];
        for read in reads {
            let (i, execution) = read.map_err(OpsError::store("read the latest errors"))?;
            errors[i] = execution.as_ref().and_then(error_of);
        }
        let jobs = jobs
            .into_iter()
            .zip(errors)
            .map(|(job, latest_error)| JobHealth {
                late: job.enabled
                    && job
                        .state
                        .next_slot
                        .is_some_and(|slot| slot + LATE_AFTER < now),
                failing: job.state.streak > 0,
                latest_error,
                job,
            })
            .collect();
        Ok(Overview {
            apps,
            jobs,
            errors_unread,
        })
    }

    /// One execution by its id (`<job id>.<slot>.<s|m><attempt>`), or [`OpsError::ExecutionNotFound`].
    pub async fn execution(&self, id: &str) -> Result<Execution, OpsError> {
        let id = ExecutionId::parse(id).map_err(FieldError::from)?;
        self.store()
            .await?
            .get_execution(&id)
            .await
            .map_err(OpsError::store("read the execution"))?
            .ok_or(OpsError::ExecutionNotFound(id))
    }

    /// The job an execution belongs to, found by app and name (the execution names both).
    pub async fn job_of(&self, execution: &Execution) -> Result<Option<Job>, OpsError> {
        let key = JobKey {
            app: execution.app.clone(),
            name: execution.name.clone(),
        };
        match read_job(self.store().await?, &key).await {
            Ok(job) if job.id == *execution.id.job_id() => Ok(Some(job)),
            Ok(_) | Err(OpsError::NotFound(..)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// What went wrong in `e`, in one line: its error, else its HTTP status.
fn error_of(e: &Execution) -> Option<String> {
    if !matches!(e.status, Status::Failed | Status::TimedOut) {
        return None;
    }
    e.error
        .as_deref()
        .map(|text| text.lines().next().unwrap_or_default().to_owned())
        .or_else(|| e.http_status.map(|code| format!("HTTP {code}")))
}
