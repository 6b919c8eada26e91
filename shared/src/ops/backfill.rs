//! Backfill (`psu-sched backfill`, the admin's job page): the slots of a past window that have
//! no successful run, planned and called once each ([`crate::tick::backfill`]).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::error::{FieldError, OpsError};
use super::input::{JobKey, parse_instant, parse_instant_latest, parse_zone};
use super::write::read_job;
use super::{Ops, TickAt};
use crate::clock::{Clock, ShiftedClock};
use crate::dispatch::Dispatch;
use crate::model::{AppPause, Job};
use crate::ops::views::ExecutionView;
use crate::tick::backfill::{
    Called, PlanError, SlotPlan, Verdict, Window, call_slots, plan_window,
};
use crate::tick::{NowUse, TickConfig};

/// How far inside the retention a window must start: DynamoDB's TTL deletes expired items
/// late (within days), and an expired success would look like a slot that never ran.
pub const RETENTION_MARGIN: Duration = Duration::days(1);

/// The most executions a backfill reads for its window (one Query's page): more is refused.
const MAX_WINDOW_EXECUTIONS: usize = 5_000;

/// A backfill as typed.
#[derive(Debug, Clone, Default)]
pub struct BackfillInput {
    /// The window's start (RFC 3339, or local to the job's zone).
    pub from: String,
    /// The window's end.
    pub to: String,
    /// Also call slots whose latest attempt timed out.
    pub timed_out: bool,
    /// Also call slots that came due while the job or its app was paused.
    pub paused: bool,
    /// The IANA zone `from` and `to` are read in when local (`--tz`); the job's by default.
    pub timezone: Option<String>,
}

/// What a backfill planned and did.
#[derive(Debug, Clone)]
pub struct Backfill {
    /// The job.
    pub job: Job,
    /// The window.
    pub window: Window,
    /// Every slot of the window, oldest first.
    pub plans: Vec<SlotPlan>,
    /// What became of each slot called (none for a dry run).
    pub called: Vec<(DateTime<Utc>, Called)>,
    /// Planned only.
    pub dry_run: bool,
    /// When the job's schedule, zone, start or end last changed, if inside the window: the
    /// slots before it are only those with an execution recorded.
    pub timing_changed: Option<DateTime<Utc>>,
    /// The app's pause, when it is paused: a backfill then leaves every slot.
    pub app_paused: Option<AppPause>,
}

impl Backfill {
    /// What the plan says besides its slots: a timing change inside the window, an app
    /// paused (every slot would be left).
    pub fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self.timing_note().into_iter().collect();
        if let Some(pause) = &self.app_paused {
            notes.push(format!(
                "the app {} is paused ({}): a backfill calls nothing until `psu-sched app resume --app {}`, every slot is left",
                self.job.app, pause.reason, self.job.app
            ));
        }
        notes
    }

    /// What the plan says of a timing change inside the window, if any.
    pub fn timing_note(&self) -> Option<String> {
        self.timing_changed.map(|at| {
            format!(
                "the job's schedule, zone, start or end changed at {}: before it, only the slots of the timing of the time that have an execution recorded are listed (a slot the scheduler never reached then cannot be known)",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        })
    }
}

/// One slot as `backfill --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillSlotView {
    /// The slot (RFC 3339, UTC).
    pub slot: String,
    /// `call`, `succeeded`, `in_flight`, `retry_scheduled`, `not_yet_due`, `timed_out`,
    /// `paused` or `before_job`.
    pub verdict: &'static str,
    /// Why, in words.
    pub reason: String,
    /// The attempt it is called as (verdict `call`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// After a run: `ran` (with the execution), `taken` (another run took the attempt first)
    /// or `left` (with why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
    /// Why a slot was left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<&'static str>,
    /// The execution, for a slot called.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionView>,
}

/// `backfill --json`.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillView {
    /// The app.
    pub app: String,
    /// The job.
    pub name: String,
    /// The window's start (RFC 3339, UTC).
    pub from: String,
    /// The window's end.
    pub to: String,
    /// Planned only.
    pub dry_run: bool,
    /// Slots to call (dry run) or called.
    pub calls: usize,
    /// When the job's timing changed inside the window (RFC 3339, UTC), with what that
    /// means for the slots before it ([`Backfill::timing_note`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing_changed_at: Option<String>,
    /// What the plan says besides its slots, in words ([`Backfill::notes`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Every slot of the window, oldest first.
    pub slots: Vec<BackfillSlotView>,
}

impl From<&Backfill> for BackfillView {
    fn from(b: &Backfill) -> Self {
        let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let slots: Vec<BackfillSlotView> = b
            .plans
            .iter()
            .map(|p| {
                let done = b.called.iter().find(|(slot, _)| *slot == p.slot);
                BackfillSlotView {
                    slot: text(p.slot),
                    verdict: p.verdict.as_str(),
                    reason: match done {
                        Some((_, Called::Taken)) => {
                            "not called here: another run (a live retry, another backfill) took this attempt first".to_owned()
                        }
                        Some((_, Called::Left(why))) => format!("not called: {why}"),
                        _ => p.reason(),
                    },
                    attempt: match p.verdict {
                        Verdict::Call { attempt } => Some(attempt),
                        _ => None,
                    },
                    result: done.map(|(_, c)| match c {
                        Called::Ran(_) => "ran",
                        Called::Taken => "taken",
                        Called::Left(_) => "left",
                    }),
                    left: done.and_then(|(_, c)| match c {
                        Called::Left(why) => Some(*why),
                        _ => None,
                    }),
                    execution: done.and_then(|(_, c)| match c {
                        Called::Ran(e) => Some(ExecutionView::from(&**e)),
                        _ => None,
                    }),
                }
            })
            .collect();
        Self {
            app: b.job.app.to_string(),
            name: b.job.name.to_string(),
            from: text(b.window.from),
            to: text(b.window.to),
            dry_run: b.dry_run,
            timing_changed_at: b.timing_changed.map(text),
            notes: b.notes(),
            calls: if b.dry_run {
                b.plans
                    .iter()
                    .filter(|p| matches!(p.verdict, Verdict::Call { .. }))
                    .count()
            } else {
                b.called
                    .iter()
                    .filter(|(_, c)| matches!(c, Called::Ran(_)))
                    .count()
            },
            slots,
        }
    }
}

impl Ops {
    /// Plans a backfill of the job's window at `at` (a dry run plans only; `--simulate` as a
    /// tick's) and, unless a dry run, calls each slot planned. Refused, nothing written or
    /// called, when `to` is before `from`, the window reaches into the future, or it starts
    /// before the retention (less [`RETENTION_MARGIN`]) would still hold its history.
    pub async fn backfill(
        &self,
        key: &JobKey,
        input: &BackfillInput,
        at: TickAt,
        dispatcher: &dyn Dispatch,
        clock: &dyn Clock,
        config: &TickConfig,
    ) -> Result<Backfill, OpsError> {
        let store = self.store().await?;
        if at.mode == NowUse::Simulate && !store.is_local() {
            return Err(FieldError::plain(
                "simulate",
                format!(
                    "{} is not a test or development store; --simulate writes only to SQLite or to DynamoDB at a loopback endpoint",
                    self.spec
                ),
            )
            .into());
        }
        let job = read_job(store, key).await?;
        let now = at.now.unwrap_or_else(|| clock.now());
        // The shorter of the retention the table's ticks recorded and this process's own.
        let recorded = store
            .table_meta()
            .await
            .map_err(OpsError::store("read the table's layout"))?
            .retention_days
            .map(|days| std::time::Duration::from_secs(u64::from(days) * 86_400));
        let retention = match recorded {
            Some(days) if days < config.retention => (days, "as the table's ticks record it"),
            _ => (config.retention, "PSU_SCHED_RETENTION_DAYS, default 30"),
        };
        let window = window(&job, input, now, retention)?;
        let executions = store
            .executions_since(&job.id, window.from, MAX_WINDOW_EXECUTIONS)
            .await
            .map_err(OpsError::store("read the job's history"))?;
        if executions.more {
            return Err(FieldError::plain(
                "from",
                format!(
                    "the window holds more than {MAX_WINDOW_EXECUTIONS} executions of the job; narrow it"
                ),
            )
            .into());
        }
        let in_window: Vec<_> = executions
            .executions
            .into_iter()
            .filter(|e| e.scheduled_for <= window.to)
            .collect();
        let app = store
            .get_app(&job.app)
            .await
            .map_err(OpsError::store("read the job's app"))?;
        let plans = plan_window(&job, app.as_ref(), &in_window, &window).map_err(|e| match e {
            PlanError::TooManySlots => FieldError::plain("from", e.to_string()),
        })?;
        let dry_run = at.mode == NowUse::DryRun;
        let called = if dry_run {
            Vec::new()
        } else {
            let shifted;
            let clock: &dyn Clock = match at.now {
                Some(now) => {
                    shifted = ShiftedClock::starting_at(clock, now);
                    &shifted
                }
                None => clock,
            };
            call_slots(store, dispatcher, clock, config, &job, &plans)
                .await
                .map_err(OpsError::store("backfill the job"))?
        };
        let app_paused = app.and_then(|app| app.paused);
        // A change after the window's start: the window's slots before it (all of them, for
        // a window wholly before it) are listed from their executions.
        let timing_changed = job.past.timing_since.filter(|at| window.from < *at);
        Ok(Backfill {
            job,
            window,
            plans,
            called,
            dry_run,
            timing_changed,
            app_paused,
        })
    }
}

/// The window as typed, read in the zone given (or the job's), checked against `now` and the retention.
fn window(
    job: &Job,
    input: &BackfillInput,
    now: DateTime<Utc>,
    (retention, source): (std::time::Duration, &str),
) -> Result<Window, FieldError> {
    let zone = match input.timezone.as_deref() {
        Some(name) => parse_zone(name)?,
        None => job.timezone,
    };
    let from = parse_instant("from", &input.from, zone)?;
    // An hour that clocks falling back repeat: from its first reading to its second.
    let to = parse_instant_latest("to", &input.to, zone)?;
    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if to < from {
        return Err(FieldError::plain(
            "to",
            format!(
                "{} is before --from {}; give a window that ends after it starts",
                text(to),
                text(from)
            ),
        ));
    }
    if to > now {
        return Err(FieldError::plain(
            "to",
            format!(
                "{} is in the future (now {}); backfill calls past slots only",
                text(to),
                text(now)
            ),
        ));
    }
    let retention = Duration::from_std(retention).unwrap_or(Duration::MAX);
    let limit = now - retention + RETENTION_MARGIN;
    if from < limit {
        return Err(FieldError::plain(
            "from",
            format!(
                "{} reaches past the history kept: executions are kept {} days ({source}), so a window must start at or after {} (the retention less a day's margin: an expired success would look like a slot that never ran)",
                text(from),
                retention.num_days(),
                text(limit)
            ),
        ));
    }
    Ok(Window {
        from,
        to,
        timed_out: input.timed_out,
        paused: input.paused,
    })
}
