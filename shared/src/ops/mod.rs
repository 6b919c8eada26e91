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
//!
//! # Where things go
//!
//! - **A new field of a job**: one more [`JobField`] in [`FIELDS`] (`field.rs`: its name,
//!   label, file keys, and how it is read, shown, compared, planned and exported), and its
//!   member in the model's `Job` and `NewJob`, in [`JobInput`] (`input.rs`, with its check in
//!   `JobInput::parse`), [`JobChanges`] (`change.rs`) and `Definition` (`definition.rs`). The
//!   form, the edit merge, the schedules file, the plan and `export` walk [`FIELDS`]: they
//!   need no change.
//! - **A new operation**: a method of [`Ops`] in the file of what it acts on: `jobs.rs` (a
//!   job), `apps.rs` (an app record), `keys.rs` (an app's signing keys), `browse.rs` (the
//!   admin's overview), `shown.rs` (a job as a page showed it: the bulk actions), `stats.rs`; this file keeps only the store, the tick and `next`. A
//!   change of a stored record goes through [`write`]'s one read-change-write loop
//!   (`write::retry`), never a loop of its own.
//! - **Schedules as code** is `apply/`: `file.rs` and `tables.rs` read a file, `vars.rs` its
//!   `${NAME}` variables, `plan.rs` compares it with the store, `execute.rs` carries the plan
//!   out.
//! - What a person typed is parsed in `input.rs`; a refusal is an [`OpsError`] or a
//!   [`FieldError`] (`error.rs`); what a front end prints is in [`views`].

mod apply;
mod apps;
mod backfill;
mod browse;
mod change;
mod definition;
mod edit;
mod error;
mod export;
mod field;
mod input;
mod jobs;
mod keys;
mod shown;
pub mod stats;
mod stores;
mod table;
#[cfg(test)]
mod tests;
pub mod views;
mod write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use apply::{
    Action, Applied, DesiredState, Plan, PlanView, Step, VAR_PREFIX, file_var, parse_file,
    parse_var,
};
pub use apps::{AppDetails, AppInput, parse_app};
pub use backfill::{Backfill, BackfillInput, BackfillSlotView, BackfillView, RETENTION_MARGIN};
pub use browse::{JobHealth, LATE_AFTER, OVERVIEW_ERRORS, Overview, reconciled};
pub use change::JobChanges;
pub use edit::{
    Edited, check_new_app, check_new_job, conflicts, job_field, merge_for_review, overlap_name,
    touched_fields,
};
pub use error::{FieldError, FieldPath, FileError, Message, OpsError, Piece, Segment};
pub use field::{Change, FIELDS, JOB_FORM_FIELDS, JOB_SETTINGS, JobField, TARGET, ZONE};
pub use input::{
    JobInput, JobKey, ScheduleForm, parse_duration, parse_instant, parse_jitter, parse_schedule,
    parse_zone,
};
pub use jobs::{Deleted, History, Listing};
pub use keys::{AppKeys, Rotation};
pub use shown::{NotAsShown, ShownJob};
pub use stats::{JobStatsView, Percentiles, StatsView, parse_since};
pub use stores::{Init, StoreSpec};
pub use table::{SWITCH_AFTER, ShardsRaised, TableView, Upgraded, parse_shards};

use crate::clock::{Clock, ShiftedClock};
use crate::dispatch::Dispatch;
use crate::model::Execution;
use crate::store::Store;
use crate::tick::{self, NowError, NowUse, RunNowError, TickConfig, TickSummary};
use views::NextView;
use write::read_job;

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
            RunNowError::AppPaused(app, reason) => OpsError::AppPaused(app, reason),
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
