//! What the web admin reads to show the jobs' health: the overview's bounded history reads,
//! a job's recent executions, one execution. Every read is bounded; docs/admin.md counts
//! them per page.

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};

use super::error::{FieldError, OpsError};
use super::{JobKey, Ops, read_job};
use crate::model::{App, Execution, ExecutionId, Job, Status};
use crate::store::RECONCILER;

/// The most jobs whose recent history the overview reads (one history Query each).
pub const OVERVIEW_HISTORY_JOBS: usize = 100;

/// The newest executions the overview reads per job.
pub const OVERVIEW_HISTORY_PER_JOB: usize = 50;

/// How many history reads the overview makes at once.
const OVERVIEW_CONCURRENCY: usize = 8;

/// How long after its slot an active job's next run counts as late (a tick runs every minute).
pub const LATE_AFTER: Duration = Duration::minutes(2);

/// Every app and job, with the health of each job over the last 24 hours ([`Ops::overview`]).
#[derive(Debug)]
pub struct Overview {
    /// The app records, sorted by name.
    pub apps: Vec<App>,
    /// Every job, sorted by app and name.
    pub jobs: Vec<JobHealth>,
    /// Jobs that ran in the last 24 hours whose history was not read (more than
    /// [`OVERVIEW_HISTORY_JOBS`] did).
    pub unread: usize,
}

/// A job and what its recent history says.
#[derive(Debug)]
pub struct JobHealth {
    /// The job.
    pub job: Job,
    /// Failed and timed-out executions in the last 24 hours; `None` when its history was not
    /// read (see [`Overview::unread`]).
    pub failures_24h: Option<usize>,
    /// Whether the count stopped at [`OVERVIEW_HISTORY_PER_JOB`] executions.
    pub failures_capped: bool,
    /// Missed, timed-out or reconciled executions of the last 24 hours, newest first.
    pub problems: Vec<Execution>,
    /// Whether its next slot is more than [`LATE_AFTER`] in the past (no tick took it).
    pub late: bool,
}

/// Whether an execution was ended by reconciliation (no outcome came back before its deadline).
pub fn reconciled(e: &Execution) -> bool {
    e.outcome_by.as_deref() == Some(RECONCILER)
}

impl Ops {
    /// Every app and job, and for the jobs that finished a run in the last 24 hours (at most
    /// [`OVERVIEW_HISTORY_JOBS`], the most recent first) their newest
    /// [`OVERVIEW_HISTORY_PER_JOB`] executions: a job whose last run ended before then has no
    /// execution that ended since. On DynamoDB: the apps' Query, the jobs' Query, and at most
    /// [`OVERVIEW_HISTORY_JOBS`] history Queries, eight at a time.
    pub async fn overview(&self, now: DateTime<Utc>) -> Result<Overview, OpsError> {
        let apps = self.list_apps().await?;
        let jobs = self.list(None).await?;
        let since = now - Duration::hours(24);
        let mut recent: Vec<usize> = (0..jobs.len())
            .filter(|&i| jobs[i].state.last.as_ref().is_some_and(|l| l.at >= since))
            .collect();
        recent.sort_by_key(|&i| std::cmp::Reverse(jobs[i].state.last.as_ref().map(|l| l.at)));
        let unread = recent.len().saturating_sub(OVERVIEW_HISTORY_JOBS);
        recent.truncate(OVERVIEW_HISTORY_JOBS);
        let store = self.store().await?;
        let reads = stream::iter(recent.into_iter().map(|i| {
            let job = &jobs[i];
            async move {
                store
                    .list_executions(&job.id, OVERVIEW_HISTORY_PER_JOB)
                    .await
                    .map(|executions| (i, executions))
            }
        }))
        .buffer_unordered(OVERVIEW_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        let mut histories: Vec<Option<Vec<Execution>>> = vec![None; jobs.len()];
        for read in reads {
            let (i, executions) = read.map_err(OpsError::store("read the jobs' history"))?;
            histories[i] = Some(executions);
        }
        let jobs = jobs
            .into_iter()
            .zip(histories)
            .map(|(job, history)| health(job, history, now))
            .collect();
        Ok(Overview { apps, jobs, unread })
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

fn health(job: Job, history: Option<Vec<Execution>>, now: DateTime<Utc>) -> JobHealth {
    let since = now - Duration::hours(24);
    let late = job.enabled
        && job
            .state
            .next_slot
            .is_some_and(|slot| slot + LATE_AFTER < now);
    let Some(history) = history else {
        return JobHealth {
            failures_24h: if job.state.last.is_some() {
                None
            } else {
                Some(0)
            },
            failures_capped: false,
            problems: Vec::new(),
            late,
            job,
        };
    };
    let capped = history.len() >= OVERVIEW_HISTORY_PER_JOB;
    let recent: Vec<Execution> = history
        .into_iter()
        .filter(|e| e.finished_at.unwrap_or(e.created_at) >= since)
        .collect();
    let failures = recent
        .iter()
        .filter(|e| matches!(e.status, Status::Failed | Status::TimedOut))
        .count();
    let problems = recent
        .into_iter()
        .filter(|e| matches!(e.status, Status::Missed | Status::TimedOut) || reconciled(e))
        .collect();
    JobHealth {
        failures_24h: Some(failures),
        failures_capped: capped,
        problems,
        late,
        job,
    }
}
