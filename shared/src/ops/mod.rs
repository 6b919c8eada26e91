//! The operations every front end calls (the CLI today; the web admin next): create, update,
//! pause, resume, delete, run now, list, show, history, stats, next, tick, init; and schedules
//! as code: [`parse_file`], [`Ops::plan`], [`Ops::apply_plan`] and [`Ops::export`].
//!
//! They take what a person typed ([`JobInput`], [`JobKey`]), parse it here and nowhere else,
//! and refuse bad input with a [`FieldError`] naming the field by its path before the store
//! is even opened: nothing is written. Results are the model's types, shown through the
//! [`views`]. A front end only parses its arguments, calls one operation and prints.
//!
//! ```no_run
//! # async fn example() -> Result<(), shared::ops::OpsError> {
//! use shared::ops::{JobInput, JobKey, Ops, ScheduleForm, StoreSpec};
//!
//! let ops = Ops::new(StoreSpec::from_setting(Some("sqlite:/tmp/jobs.db"))?);
//! let key = JobKey::parse("billing", "invoices")?;
//! let input = JobInput {
//!     url: Some("https://billing.example.edu/jobs/invoices".into()),
//!     schedule: ScheduleForm { at: Some("08:00".into()), ..Default::default() },
//!     ..Default::default()
//! };
//! let job = ops.create(&key, &input, chrono::Utc::now()).await?;
//! # Ok(())
//! # }
//! ```

mod apply;
mod apps;
mod browse;
mod change;
mod edit;
mod error;
mod export;
mod input;
mod keys;
pub mod stats;
mod stores;
mod table;
#[cfg(test)]
mod tests;
pub mod views;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use apply::{
    Action, Applied, Change, DesiredState, FileError, JOB_SETTINGS, Plan, PlanView, Step,
    VAR_PREFIX, file_var, parse_file, parse_var,
};
pub use apps::{AppDetails, AppInput, parse_app};
pub use browse::{
    JobHealth, LATE_AFTER, OVERVIEW_HISTORY_JOBS, OVERVIEW_HISTORY_PER_JOB, Overview, reconciled,
};
pub use change::JobChanges;
pub use edit::{
    Edited, JOB_FORM_FIELDS, check_new_app, check_new_job, conflicts, job_field, merge_for_review,
    overlap_name, touched_fields,
};
pub use error::{FieldError, FieldPath, Message, OpsError, Piece, Segment};
pub use input::{
    JobInput, JobKey, ScheduleForm, parse_duration, parse_instant, parse_schedule, parse_zone,
};
pub use keys::{AppKeys, Rotation};
pub use stats::{JobStatsView, Percentiles, StatsView, parse_since};
pub use stores::{Init, StoreSpec};
pub use table::{SWITCH_AFTER, ShardsRaised, TableView, parse_shards};

use crate::clock::{Clock, ShiftedClock};
use crate::dispatch::Dispatch;
use crate::model::{AppName, Execution, Job, NewJob, Status};
use crate::store::{Claim, ClaimOutcome, Store};
use crate::tick::{self, NowError, NowUse, RunNowError, TickConfig, TickSummary};
use views::NextView;

/// How many times an update re-reads the job after losing a race with another writer.
const UPDATE_ATTEMPTS: usize = 5;

/// The most runs `next` previews.
pub const MAX_PREVIEW: usize = 1000;

/// How far back `history` with a status filter searches.
pub const HISTORY_SEARCH: usize = 1000;

/// The operations over one store, opened on first use (after the input was checked).
pub struct Ops {
    spec: StoreSpec,
    store: tokio::sync::OnceCell<stores::AnyStore>,
    /// The retention of what a change records (a due slot it drops, as `missed`).
    tick: TickConfig,
}

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

/// When a tick runs and what it may write, checked: see [`TickAt::parse`].
#[derive(Debug, Clone, Copy)]
pub struct TickAt {
    now: Option<DateTime<Utc>>,
    mode: NowUse,
}

impl TickAt {
    /// A tick at `now` as typed (read in `timezone`, default UTC), or at the clock's instant.
    /// A writing tick runs at the clock's instant ([`tick::check_now`]); `wall` is the clock.
    pub fn parse(
        now: Option<&str>,
        timezone: Option<&str>,
        mode: NowUse,
        wall: DateTime<Utc>,
    ) -> Result<Self, OpsError> {
        let tz = timezone.map(parse_zone).transpose()?.unwrap_or(Tz::UTC);
        let now = now.map(|t| parse_instant("now", t, tz)).transpose()?;
        if let Some(now) = now {
            tick::check_now(now, wall, mode).map_err(|e| {
                let message = Message::text(e.to_string());
                FieldError::new(
                    "now",
                    match e {
                        NowError::OutOfRange { .. } => message,
                        _ => message
                            .and("; a tick that writes runs at the clock's instant: add ")
                            .field("dry_run")
                            .and(" to see what would run then, or ")
                            .field("simulate")
                            .and(" to write as if the clock read it (test and development stores only)"),
                    },
                )
            })?;
        }
        Ok(Self { now, mode })
    }
}

impl Ops {
    /// The operations over the store `spec` names.
    pub fn new(spec: StoreSpec) -> Self {
        Self {
            spec,
            store: tokio::sync::OnceCell::new(),
            tick: TickConfig::default(),
        }
    }

    /// The tick settings a change uses for what it records (the retention of a `missed`
    /// execution): the deployment's, from [`crate::config::Config::tick`].
    pub fn with_tick_config(mut self, tick: TickConfig) -> Self {
        self.tick = tick;
        self
    }

    /// The operations over a store already open (the memory store in tests), `name` saying
    /// which in messages; `local` as [`Store::is_local`] would say.
    pub fn with_store(name: impl Into<String>, store: std::sync::Arc<dyn Store>) -> Self {
        let ops = Self::new(StoreSpec::Given(name.into()));
        let _ = ops.store.set(stores::AnyStore::Given(store));
        ops
    }

    /// The store's name, for messages: `sqlite:/path`, `dynamodb:table`.
    pub fn spec(&self) -> &StoreSpec {
        &self.spec
    }

    async fn store(&self) -> Result<&dyn Store, OpsError> {
        let store = self
            .store
            .get_or_try_init(|| stores::open(&self.spec))
            .await?;
        Ok(store.as_store())
    }

    /// Creates a job from what was typed; `now` is its creation time.
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
        let tz = parsed.timezone.unwrap_or(Tz::UTC);
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

    /// Pauses a job: it drops out of the due index until resumed.
    pub async fn pause(&self, key: &JobKey, now: DateTime<Utc>) -> Result<Job, OpsError> {
        let changes = JobChanges {
            enabled: Some(false),
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

    /// The job and its newest `n` executions.
    pub async fn show(&self, key: &JobKey, n: usize) -> Result<(Job, Vec<Execution>), OpsError> {
        let store = self.store().await?;
        let mut job = read_job(store, key).await?;
        if job.path.is_some() {
            let app = store
                .get_app(&job.app)
                .await
                .map_err(OpsError::store("read the app"))?;
            resolve_for_display(&mut job, app.as_ref());
        }
        let executions = store
            .list_executions(&job.id, n)
            .await
            .map_err(OpsError::store("read the job's history"))?;
        Ok((job, executions))
    }

    /// The job's newest `limit` executions, of one status when given (searching the newest
    /// [`HISTORY_SEARCH`]).
    pub async fn history(
        &self,
        key: &JobKey,
        status: Option<&str>,
        limit: usize,
    ) -> Result<(Job, History), OpsError> {
        let status = status
            .map(str::parse::<Status>)
            .transpose()
            .map_err(FieldError::from)?;
        if limit == 0 {
            return Err(
                FieldError::plain("limit", "0 is not accepted; use a whole number from 1").into(),
            );
        }
        let store = self.store().await?;
        let job = read_job(store, key).await?;
        let fetch = if status.is_some() {
            limit.max(HISTORY_SEARCH)
        } else {
            limit
        };
        let mut executions = store
            .list_executions(&job.id, fetch)
            .await
            .map_err(OpsError::store("read the job's history"))?;
        let searched = executions.len();
        if let Some(status) = status {
            executions.retain(|e| e.status == status);
        }
        executions.truncate(limit);
        let history = History {
            executions,
            searched,
            complete: searched < fetch,
        };
        Ok((job, history))
    }

    /// Runs a job now (trigger `manual`) and waits for the outcome.
    pub async fn run_now(
        &self,
        key: &JobKey,
        dispatcher: &dyn Dispatch,
        clock: &dyn Clock,
        config: &TickConfig,
    ) -> Result<Execution, OpsError> {
        self.run_now_then(key, dispatcher, clock, config, |_| {})
            .await
    }

    /// [`Ops::run_now`], telling `claimed` the execution's id once the run is claimed and
    /// before the call is sent (the web admin shows the execution while it runs).
    pub async fn run_now_then(
        &self,
        key: &JobKey,
        dispatcher: &dyn Dispatch,
        clock: &dyn Clock,
        config: &TickConfig,
        claimed: impl FnOnce(&crate::model::ExecutionId),
    ) -> Result<Execution, OpsError> {
        let store = self.store().await?;
        tick::run_now_then(
            store, dispatcher, clock, config, &key.app, &key.name, claimed,
        )
        .await
        .map_err(|e| match e {
            RunNowError::NotFound(app, name) => OpsError::NotFound(app, name),
            RunNowError::Conflict(app, name) => OpsError::RunConflict(app, name),
            RunNowError::Store(source) => OpsError::Store {
                doing: "run the job",
                source,
            },
        })
    }

    /// One tick at `at` (see [`TickAt`]): `--simulate` only on a local store. A store failure
    /// for part of the tick is [`OpsError::TickIncomplete`], with the summary of what completed.
    pub async fn tick(
        &self,
        at: TickAt,
        dispatcher: &dyn Dispatch,
        clock: &dyn Clock,
        config: &TickConfig,
    ) -> Result<TickSummary, OpsError> {
        let store = self.store().await?;
        if at.mode == NowUse::Simulate && !store.is_local() {
            return Err(FieldError::new(
                "simulate",
                Message::text(format!("{} is not a test or development store; ", self.spec))
                    .field("simulate")
                    .and(" writes only to SQLite or to DynamoDB at a loopback endpoint (AWS_ENDPOINT_URL=http://127.0.0.1:PORT)"),
            )
            .into());
        }
        let mut config = config.clone();
        config.dry_run = at.mode == NowUse::DryRun;
        let result = match at.now {
            // At another instant, the clock still moves: calls keep their real durations
            // and each gets its deadline from when it is actually sent.
            Some(now) => {
                let shifted = ShiftedClock::starting_at(clock, now);
                tick::tick(store, dispatcher, &shifted, &config).await
            }
            None => tick::tick(store, dispatcher, clock, &config).await,
        };
        result.map_err(|e| match e {
            tick::TickError::Store(source) => OpsError::Store {
                doing: "finish the tick",
                source,
            },
            tick::TickError::TableFormat(source) => OpsError::Store {
                doing: "tick",
                source,
            },
            tick::TickError::Incomplete { summary, source } => {
                OpsError::TickIncomplete { summary, source }
            }
        })
    }

    /// A tick at the top of every minute until `shutdown` completes (then the ticks under
    /// way finish); `on_tick` sees each summary.
    pub async fn serve(
        &self,
        dispatcher: &dyn Dispatch,
        clock: &dyn Clock,
        config: &TickConfig,
        shutdown: impl Future<Output = ()>,
        on_tick: impl FnMut(&TickSummary),
    ) -> Result<(), OpsError> {
        let store = self.store().await?;
        crate::daemon::run_every_minute(store, dispatcher, clock, config, shutdown, on_tick).await;
        Ok(())
    }

    /// Makes the store ready: creates the DynamoDB table when it is missing.
    pub async fn init(&self) -> Result<Init, OpsError> {
        self.store().await?;
        match self.store.get() {
            Some(store) => stores::init(store).await,
            None => Err(FieldError::plain("store", "could not be opened").into()),
        }
    }
}

/// The next `count` runs of the schedule `expr` in `timezone` (default UTC) after `now`.
pub fn next(
    expr: &str,
    timezone: Option<&str>,
    count: usize,
    now: DateTime<Utc>,
) -> Result<Preview, OpsError> {
    let tz = timezone.map(parse_zone).transpose()?.unwrap_or(Tz::UTC);
    let schedule = parse_schedule(expr)?;
    if count == 0 || count > MAX_PREVIEW {
        return Err(FieldError::plain(
            "count",
            format!("use a whole number from 1 to {MAX_PREVIEW}"),
        )
        .into());
    }
    let times = views::preview(&schedule, tz, now, count);
    Ok(Preview {
        schedule,
        timezone: tz,
        times,
    })
}

/// A schedule's next runs, from [`next`].
#[derive(Debug, Clone)]
pub struct Preview {
    /// The schedule.
    pub schedule: crate::schedule::Schedule,
    /// The zone it was read in.
    pub timezone: Tz,
    /// The next runs.
    pub times: Vec<DateTime<Utc>>,
}

impl From<&Preview> for NextView {
    fn from(p: &Preview) -> Self {
        NextView {
            schedule: p.schedule.to_string(),
            description: p.schedule.describe(),
            timezone: p.timezone.name(),
            next: p.times.iter().copied().map(views::rfc3339).collect(),
        }
    }
}

async fn read_job(store: &dyn Store, key: &JobKey) -> Result<Job, OpsError> {
    store
        .get_job(&key.app, &key.name)
        .await
        .map_err(OpsError::store("read the job"))?
        .ok_or_else(|| OpsError::NotFound(key.app.clone(), key.name.clone()))
}

/// The changes `input` (parsed as `parsed`) makes to `job`: dates without a zone read in the
/// job's (new) zone, a path resolved against the app's record, `paused` as a pause.
async fn changes_for(
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

/// Applies `changes` at `now` and writes the job with the optimistic version check,
/// re-reading and retrying when another writer came in between. `first` is the job when it
/// was just read. `from_now` recomputes the next slot from `now` whatever changed (resume).
async fn write_changes(
    store: &dyn Store,
    key: &JobKey,
    changes: &JobChanges,
    mut first: Option<Job>,
    now: DateTime<Utc>,
    from_now: bool,
    config: &TickConfig,
) -> Result<Job, OpsError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let job = match first.take() {
            Some(job) => job,
            None => read_job(store, key).await?,
        };
        if let Some(written) = write_once(store, &job, changes, now, from_now, config).await? {
            return Ok(written);
        }
    }
    Err(OpsError::Conflict(key.app.clone(), key.name.clone()))
}

/// One attempt of [`write_changes`]: `changes` applied to `job` as read, written only if the
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
