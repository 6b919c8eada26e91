//! Punctuality: per job, over a window of slots, how many runs ended how, how late the calls
//! started after their slots (lag) and how long they took. One computation for every front
//! end (`psu-sched stats`, the admin's pages), from a slice of executions by pure functions.
//!
//! What is counted (docs/cli.md says the same):
//! - the window: the executions whose slot (`scheduled_for`) is at or after `since` (the
//!   instant, whole seconds), of every trigger and attempt;
//! - `success_rate`: succeeded over the finished runs (every status but pending and running);
//!   a missed or skipped run counts as not succeeded;
//! - lag: `started_at - scheduled_for` of the first attempt of each scheduled slot that was
//!   called, minus the slot's jitter offset for a job with jitter (its call was due at the
//!   slot plus the offset: lag counts from there, as max lateness does). A run never called (missed, skipped, or claimed and not yet sent) has no start and
//!   is not a lag sample; it is counted in its status. Retries and manual runs are not
//!   samples either (a retry's lag is its backoff; a manual run's slot is its start). The
//!   rule is [`lag_ms`]'s, the one the admin's pages and `history --json` show per execution;
//! - duration: every run with a recorded duration;
//! - percentiles by the nearest-rank method: the p-th percentile of n sorted samples is the
//!   one at rank ⌈p·n/100⌉ (from 1); always a measured value, never interpolated.
//!
//! Bounded reads: one page of at most [`STATS_LIMIT`] executions per job
//! ([`Store::executions_since`]: one Query on DynamoDB), after the jobs' listing. A page cut
//! short of the window's start marks the job `truncated`, and its figures cover the slots
//! from `oldest_slot` on.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

pub use super::views::lag_ms;
use super::views::rfc3339;
use super::{FieldError, JobKey, Ops, OpsError, parse_duration, read_job};
use crate::clock::{Clock, SystemClock};
use crate::model::{AppName, Execution, Job, Status, Trigger};
use crate::store::{ExecutionPage, Store};

/// The most executions read per job: one page.
pub const STATS_LIMIT: usize = 1000;

/// The longest window (`--since`).
pub const MAX_SINCE: Duration = Duration::from_secs(366 * 86_400);

/// The shortest window.
pub const MIN_SINCE: Duration = Duration::from_secs(60);

/// Jobs whose page is read at once.
const CONCURRENT_READS: usize = 8;

/// Punctuality of every job (of one app, when asked), from [`Ops::stats`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsView {
    /// The window's start: slots at or after it are counted.
    pub since: String,
    /// When the figures were computed (the window's end).
    pub generated_at: String,
    /// The most executions read per job.
    pub limit: usize,
    /// One entry per job, by app and name.
    pub jobs: Vec<JobStatsView>,
}

/// One job's punctuality over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStatsView {
    /// The app.
    pub app: String,
    /// The job's name.
    pub job: String,
    /// Executions in the window: every trigger, status and attempt.
    pub runs: u64,
    /// Of them, manual runs.
    pub manual: u64,
    /// Of them, calls of past slots made by `psu-sched backfill` (also counted in `retries`
    /// when not the slot's first attempt).
    pub backfill: u64,
    /// Of them, retries (attempt 2 or more).
    pub retries: u64,
    /// Of them, succeeded.
    pub succeeded: u64,
    /// Of them, failed.
    pub failed: u64,
    /// Of them, timed out.
    pub timed_out: u64,
    /// Of them, skipped (the previous call was still running).
    pub skipped: u64,
    /// Of them, missed (later than the job's max lateness; never called).
    pub missed: u64,
    /// Of them, still pending or running.
    pub in_flight: u64,
    /// `succeeded` over the finished runs (`runs - in_flight`); null without one.
    pub success_rate: Option<f64>,
    /// Call started minus slot (plus the slot's jitter offset, for a job with jitter), first
    /// attempts of scheduled slots that were called.
    pub lag_ms: Percentiles,
    /// The job's jitter (0: none): its lag counts from each slot plus its offset.
    pub jitter_ms: u64,
    /// How long the calls took, every run with a duration.
    pub duration_ms: Percentiles,
    /// The oldest slot read; the figures cover the slots from it on.
    pub oldest_slot: Option<String>,
    /// True when the read stopped before the window's start (at [`STATS_LIMIT`] executions,
    /// or on DynamoDB at the 1 MB one Query reads): the figures cover from `oldest_slot` on.
    pub truncated: bool,
}

/// Nearest-rank percentiles of some samples, in milliseconds; null without a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Percentiles {
    /// How many samples.
    pub samples: u64,
    /// The median.
    pub p50: Option<i64>,
    /// The 95th percentile.
    pub p95: Option<i64>,
    /// The 99th percentile.
    pub p99: Option<i64>,
    /// The largest sample.
    pub max: Option<i64>,
}

impl Percentiles {
    /// The percentiles of `samples` (in any order).
    pub fn of(mut samples: Vec<i64>) -> Self {
        samples.sort_unstable();
        Self {
            samples: samples.len() as u64,
            p50: nearest_rank(&samples, 50),
            p95: nearest_rank(&samples, 95),
            p99: nearest_rank(&samples, 99),
            max: samples.last().copied(),
        }
    }
}

/// The `p`-th percentile (1 to 100) of `sorted` by the nearest-rank method: the sample at
/// rank ⌈p·n/100⌉, counted from 1. None when there is no sample.
pub fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    let n = sorted.len();
    let rank = (p as usize * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

impl JobStatsView {
    /// The figures of one job from its executions in the window (any order); `truncated`
    /// when the read did not reach the window's start.
    pub fn compute(app: &str, job: &str, executions: &[Execution], truncated: bool) -> Self {
        let count =
            |f: &dyn Fn(&Execution) -> bool| executions.iter().filter(|e| f(e)).count() as u64;
        let of = |s: Status| count(&|e: &Execution| e.status == s);
        let runs = executions.len() as u64;
        let succeeded = of(Status::Succeeded);
        let in_flight = count(&|e: &Execution| !e.status.is_final());
        let finished = runs - in_flight;
        // The lag rule is [`lag_ms`]'s alone: it is None for what is not a sample.
        let lags = executions.iter().filter_map(lag_ms).collect();
        let durations = executions
            .iter()
            .filter_map(|e| e.duration_ms)
            .map(|d| i64::try_from(d).unwrap_or(i64::MAX))
            .collect();
        Self {
            app: app.to_owned(),
            job: job.to_owned(),
            runs,
            manual: count(&|e: &Execution| e.trigger == Trigger::Manual),
            backfill: count(&|e: &Execution| e.backfill),
            retries: count(&|e: &Execution| e.attempt > 1),
            succeeded,
            failed: of(Status::Failed),
            timed_out: of(Status::TimedOut),
            skipped: of(Status::Skipped),
            missed: of(Status::Missed),
            in_flight,
            success_rate: (finished > 0).then(|| succeeded as f64 / finished as f64),
            lag_ms: Percentiles::of(lags),
            duration_ms: Percentiles::of(durations),
            jitter_ms: 0,
            oldest_slot: executions
                .iter()
                .map(|e| e.scheduled_for)
                .min()
                .map(rfc3339),
            truncated,
        }
    }
}

/// Parses a window as typed (`7d`, `24h`, `90m`) and checks its range; the field `since`.
pub fn parse_since(text: &str) -> Result<Duration, FieldError> {
    let since = parse_duration("since", text)?;
    check_since(since, text.trim())?;
    Ok(since)
}

/// Refuses a window shorter than [`MIN_SINCE`] or longer than [`MAX_SINCE`], `shown` as typed.
fn check_since(since: Duration, shown: &str) -> Result<(), FieldError> {
    if since < MIN_SINCE || since > MAX_SINCE {
        return Err(FieldError::plain(
            "since",
            format!(
                "`{shown}` is not accepted; use a duration from 1m to 366d (e.g. 7d, 24h, 90m)"
            ),
        ));
    }
    Ok(())
}

/// The window's start: `since` before `now`, whole seconds (as slots are).
fn window_start(since: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    let back = chrono::Duration::from_std(since).unwrap_or(chrono::Duration::MAX);
    now.checked_sub_signed(back)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        .trunc_subsecs(0)
}

async fn page(
    store: &dyn Store,
    job: &Job,
    from: DateTime<Utc>,
) -> Result<ExecutionPage, OpsError> {
    store
        .executions_since(&job.id, from, STATS_LIMIT)
        .await
        .map_err(OpsError::store("read the job's history"))
}

fn job_view(job: &Job, page: &ExecutionPage) -> JobStatsView {
    JobStatsView {
        jitter_ms: job.jitter_ms,
        ..JobStatsView::compute(
            job.app.as_str(),
            job.name.as_str(),
            &page.executions,
            page.more,
        )
    }
}

impl Ops {
    /// The punctuality of every job, or of one app's, over the slots of the last `since`,
    /// read at the system clock's instant. See [`Ops::stats_at`].
    pub async fn stats(&self, app: Option<&str>, since: Duration) -> Result<StatsView, OpsError> {
        self.stats_at(app, since, SystemClock.now()).await
    }

    /// The punctuality of every job, or of one app's, over the slots from `since` before
    /// `now`. Store requests: the jobs' listing (one Query for an app, a Scan of the table
    /// without one, as `list`), then one page per job ([`Store::executions_since`], at most
    /// [`STATS_LIMIT`] executions: one Query on DynamoDB), 8 jobs at a time.
    pub async fn stats_at(
        &self,
        app: Option<&str>,
        since: Duration,
        now: DateTime<Utc>,
    ) -> Result<StatsView, OpsError> {
        let app = app
            .map(AppName::parse)
            .transpose()
            .map_err(FieldError::from)?;
        check_since(since, &format!("{}s", since.as_secs()))?;
        let from = window_start(since, now);
        let store = self.store().await?;
        let mut jobs = store
            .list_jobs(app.as_ref())
            .await
            .map_err(OpsError::store("list the jobs"))?;
        jobs.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
        let views =
            futures::stream::iter(jobs.iter())
                .map(|job| async move {
                    Ok::<_, OpsError>(job_view(job, &page(store, job, from).await?))
                })
                .buffered(CONCURRENT_READS)
                .try_collect()
                .await?;
        Ok(StatsView {
            since: rfc3339(from),
            generated_at: rfc3339(now),
            limit: STATS_LIMIT,
            jobs: views,
        })
    }

    /// One job's punctuality over the slots of the last `since`, read at the system clock's
    /// instant. See [`Ops::job_stats_at`].
    pub async fn job_stats(
        &self,
        app: &str,
        job: &str,
        since: Duration,
    ) -> Result<JobStatsView, OpsError> {
        self.job_stats_at(app, job, since, SystemClock.now()).await
    }

    /// One job's punctuality over the slots from `since` before `now`. Store requests: the job
    /// (one GetItem on DynamoDB) and one page of its executions (one Query).
    pub async fn job_stats_at(
        &self,
        app: &str,
        job: &str,
        since: Duration,
        now: DateTime<Utc>,
    ) -> Result<JobStatsView, OpsError> {
        let key = JobKey::parse(app, job)?;
        check_since(since, &format!("{}s", since.as_secs()))?;
        let store = self.store().await?;
        let job = read_job(store, &key).await?;
        let page = page(store, &job, window_start(since, now)).await?;
        Ok(job_view(&job, &page))
    }
}

#[cfg(test)]
mod tests;
