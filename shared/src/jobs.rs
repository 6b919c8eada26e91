//! Changing jobs after creation (update, pause, resume) and reading the pieces a person types
//! to describe one (schedule flags, durations, dates).
//!
//! An update reads the job, applies the changes, recomputes the next slot from `now` when the
//! timing changed, and writes it back with the optimistic version check, re-reading and
//! retrying when a tick wrote in between. A resumed job starts from `now`: it never runs the
//! slots that passed while it was paused.

use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::model::{
    AppName, Job, JobName, JobUrl, Method, NewJob, OverlapPolicy, ValidationError,
    validate_retries, validate_timeout,
};
use crate::schedule::Schedule;
use crate::store::{Store, StoreError};

/// How many times an update re-reads the job after losing a race with another writer.
const UPDATE_ATTEMPTS: usize = 5;

/// Changes to a job; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct JobChanges {
    /// New URL.
    pub url: Option<JobUrl>,
    /// New method.
    pub method: Option<Method>,
    /// New schedule.
    pub schedule: Option<Schedule>,
    /// New time zone.
    pub timezone: Option<Tz>,
    /// New start (`Some(None)` clears it).
    pub start: Option<Option<DateTime<Utc>>>,
    /// New end (`Some(None)` clears it).
    pub end: Option<Option<DateTime<Utc>>>,
    /// Pause (`false`) or resume (`true`).
    pub enabled: Option<bool>,
    /// New call timeout.
    pub timeout: Option<Duration>,
    /// New retry count.
    pub retries: Option<u32>,
    /// New max lateness.
    pub max_lateness: Option<Duration>,
    /// New overlap policy.
    pub overlap: Option<OverlapPolicy>,
    /// New description.
    pub description: Option<String>,
}

impl JobChanges {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.url.is_none()
            && self.method.is_none()
            && self.schedule.is_none()
            && self.timezone.is_none()
            && self.start.is_none()
            && self.end.is_none()
            && self.enabled.is_none()
            && self.timeout.is_none()
            && self.retries.is_none()
            && self.max_lateness.is_none()
            && self.overlap.is_none()
            && self.description.is_none()
    }

    /// Sets the given options on a job about to be created (validated by [`NewJob::build`]).
    pub fn apply_to_new(&self, spec: &mut NewJob) {
        if let Some(url) = &self.url {
            spec.url = url.clone();
        }
        if let Some(method) = self.method {
            spec.method = method;
        }
        if let Some(schedule) = &self.schedule {
            spec.schedule = schedule.clone();
        }
        if let Some(tz) = self.timezone {
            spec.timezone = tz;
        }
        if let Some(start) = self.start {
            spec.start = start;
        }
        if let Some(end) = self.end {
            spec.end = end;
        }
        if let Some(enabled) = self.enabled {
            spec.enabled = enabled;
        }
        if let Some(timeout) = self.timeout {
            spec.timeout = timeout;
        }
        if let Some(retries) = self.retries {
            spec.retries = retries;
        }
        if let Some(lateness) = self.max_lateness {
            spec.max_lateness = lateness;
        }
        if let Some(overlap) = self.overlap {
            spec.overlap = overlap;
        }
        if let Some(description) = &self.description {
            spec.description = description.clone();
        }
    }

    /// The job with the changes applied, validated, at `now`: `updated_at` is `now`, the
    /// version is bumped with a fresh writer token, and the next slot is recomputed from
    /// `now` when the schedule, zone, bounds or enabled flag changed.
    pub fn apply(&self, job: &Job, now: DateTime<Utc>) -> Result<Job, ValidationError> {
        let mut next = job.clone();
        if let Some(url) = &self.url {
            next.url = url.clone();
        }
        if let Some(method) = self.method {
            next.method = method;
        }
        if let Some(schedule) = &self.schedule {
            next.schedule = schedule.clone();
        }
        if let Some(tz) = self.timezone {
            next.timezone = tz;
        }
        if let Some(start) = self.start {
            next.start = start;
        }
        if let Some(end) = self.end {
            next.end = end;
        }
        if let Some(enabled) = self.enabled {
            next.enabled = enabled;
        }
        if let Some(timeout) = self.timeout {
            next.timeout_ms = millis(validate_timeout(timeout)?);
        }
        if let Some(retries) = self.retries {
            next.retries = validate_retries(retries)?;
        }
        if let Some(lateness) = self.max_lateness {
            if lateness.is_zero() {
                return Err(ValidationError::new(
                    "max lateness",
                    "must be more than 0 (e.g. 1h)",
                ));
            }
            next.max_lateness_ms = millis(lateness);
        }
        if let Some(overlap) = self.overlap {
            next.overlap = overlap;
        }
        if let Some(description) = &self.description {
            next.description = description.clone();
        }
        if let (Some(start), Some(end)) = (next.start, next.end)
            && end <= start
        {
            return Err(ValidationError::new(
                "end",
                format!("{end} is not after start {start}; the end must come after the start"),
            ));
        }
        let timing_changed = next.schedule != job.schedule
            || next.timezone != job.timezone
            || next.start != job.start
            || next.end != job.end
            || next.enabled != job.enabled;
        if timing_changed {
            next.state.next_slot = next.slot_after(now);
        }
        next.updated_at = now;
        next.state.version = job.state.version + 1;
        next.state.writer = Some(crate::model::random_uuid().simple().to_string());
        Ok(next)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// No such job.
    #[error("no job named {0}/{1}")]
    NotFound(AppName, JobName),
    /// The changes are not valid for this job.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Other writers kept changing the job.
    #[error("the job {0}/{1} kept changing while it was being updated; try again")]
    Conflict(AppName, JobName),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies `changes` to the job (app, name) at `now` and writes it, retrying on a
/// concurrent write. Returns the job as written.
pub async fn update_job(
    store: &dyn Store,
    app: &AppName,
    name: &JobName,
    changes: &JobChanges,
    now: DateTime<Utc>,
) -> Result<Job, UpdateError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let Some(job) = store.get_job(app, name).await? else {
            return Err(UpdateError::NotFound(app.clone(), name.clone()));
        };
        let next = changes.apply(&job, now)?;
        if store.put_job(&next, job.state.version).await? {
            return Ok(next);
        }
    }
    Err(UpdateError::Conflict(app.clone(), name.clone()))
}

/// Pauses a job: it drops out of the due index until resumed.
pub async fn pause_job(
    store: &dyn Store,
    app: &AppName,
    name: &JobName,
    now: DateTime<Utc>,
) -> Result<Job, UpdateError> {
    let changes = JobChanges {
        enabled: Some(false),
        ..JobChanges::default()
    };
    update_job(store, app, name, &changes, now).await
}

/// Resumes a job from `now`: its next slot is the first after `now` (no backlog runs).
pub async fn resume_job(
    store: &dyn Store,
    app: &AppName,
    name: &JobName,
    now: DateTime<Utc>,
) -> Result<Job, UpdateError> {
    let changes = JobChanges {
        enabled: Some(true),
        ..JobChanges::default()
    };
    for _ in 0..UPDATE_ATTEMPTS {
        let Some(job) = store.get_job(app, name).await? else {
            return Err(UpdateError::NotFound(app.clone(), name.clone()));
        };
        let mut next = changes.apply(&job, now)?;
        // Recompute even when the job was not paused: resume always means "from now".
        next.state.next_slot = next.slot_after(now);
        if store.put_job(&next, job.state.version).await? {
            return Ok(next);
        }
    }
    Err(UpdateError::Conflict(app.clone(), name.clone()))
}

/// Whether a job is active, paused or ended (no slot left before its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Enabled, with a slot to come.
    Active,
    /// Paused.
    Paused,
    /// No slot left.
    Ended,
}

impl JobStatus {
    /// The state of `job`.
    pub fn of(job: &Job) -> Self {
        if !job.enabled {
            JobStatus::Paused
        } else if job.state.next_slot.is_none() && job.state.retry.is_none() {
            JobStatus::Ended
        } else {
            JobStatus::Active
        }
    }

    /// `active`, `paused` or `ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Active => "active",
            JobStatus::Paused => "paused",
            JobStatus::Ended => "ended",
        }
    }
}

/// The schedule flags a person gave: one of `cron`, `at` or `every`, with `between` (only with
/// `every`) and `days` (with `at` or `every`).
#[derive(Debug, Clone, Default)]
pub struct ScheduleForm {
    /// A cron expression or macro.
    pub cron: Option<String>,
    /// `HH:MM[,HH:MM...]`.
    pub at: Option<String>,
    /// A whole number of minutes, as a duration (`15m`, `2h`, `90m`).
    pub every: Option<String>,
    /// `HH:MM-HH:MM`.
    pub between: Option<String>,
    /// `mon,wed` or `mon-fri`.
    pub days: Option<String>,
}

impl ScheduleForm {
    /// The schedule, `None` when no form was given (and none is `required`).
    pub fn build(&self, required: bool) -> Result<Option<Schedule>, ValidationError> {
        let forms = [&self.cron, &self.at, &self.every]
            .iter()
            .filter(|f| f.is_some())
            .count();
        if forms > 1 {
            return Err(ValidationError::new(
                "schedule",
                "give one schedule form, not several: --cron EXPR, --at HH:MM[,HH:MM...] or --every DURATION",
            ));
        }
        if self.between.is_some() && self.every.is_none() {
            return Err(ValidationError::new(
                "between",
                "--between HH:MM-HH:MM only goes with --every DURATION",
            ));
        }
        if self.days.is_some() && self.at.is_none() && self.every.is_none() {
            return Err(ValidationError::new(
                "days",
                "--days only goes with --at or --every (a cron expression has its own day fields)",
            ));
        }
        let days = match &self.days {
            Some(d) => {
                check_chars(
                    "days",
                    d,
                    |c| c.is_ascii_alphabetic() || c == ',' || c == '-',
                    "day names such as mon,wed or mon-fri",
                )?;
                format!(" on {d}")
            }
            None => String::new(),
        };
        let text = if let Some(cron) = &self.cron {
            cron.clone()
        } else if let Some(at) = &self.at {
            check_chars(
                "at",
                at,
                |c| c.is_ascii_digit() || c == ':' || c == ',',
                "HH:MM[,HH:MM...] such as 08:00,13:30",
            )?;
            format!("at {at}{days}")
        } else if let Some(every) = &self.every {
            let d = parse_duration("every", every)?;
            if d.as_secs() % 60 != 0 || d.is_zero() {
                return Err(ValidationError::new(
                    "every",
                    format!(
                        "`{every}` is not accepted; use whole minutes from 1m to 24h (e.g. 15m, 90m, 2h)"
                    ),
                ));
            }
            let between = match &self.between {
                Some(b) => {
                    check_chars(
                        "between",
                        b,
                        |c| c.is_ascii_digit() || c == ':' || c == '-',
                        "HH:MM-HH:MM such as 08:00-17:00",
                    )?;
                    format!(" between {b}")
                }
                None => String::new(),
            };
            format!("every {}m{between}{days}", d.as_secs() / 60)
        } else if required {
            return Err(ValidationError::new(
                "schedule",
                "missing; give one of --cron EXPR, --at HH:MM[,HH:MM...] or --every DURATION",
            ));
        } else {
            return Ok(None);
        };
        text.parse::<Schedule>()
            .map(Some)
            .map_err(|e| ValidationError::new("schedule", e.to_string()))
    }
}

fn check_chars(
    field: &'static str,
    value: &str,
    ok: impl Fn(char) -> bool,
    accepted: &str,
) -> Result<(), ValidationError> {
    if value.is_empty() || !value.chars().all(ok) {
        return Err(ValidationError::new(
            field,
            format!("`{value}` is not accepted; use {accepted}"),
        ));
    }
    Ok(())
}

/// Parses a duration in the one grammar of [`crate::duration`] (`30s`, `14m`, `1h30m`; a
/// number without its unit is refused). `field` names it in the error.
pub fn parse_duration(field: &'static str, text: &str) -> Result<Duration, ValidationError> {
    crate::duration::parse(text).map_err(|e| ValidationError::new(field, e.to_string()))
}

/// Parses an instant: RFC 3339 (`2026-12-01T08:00:00Z`), or a local date (`2026-12-01`,
/// midnight) or date and time (`2026-12-01T08:00`, `2026-12-01 08:00`) read in `tz`.
pub fn parse_instant(
    field: &'static str,
    text: &str,
    tz: Tz,
) -> Result<DateTime<Utc>, ValidationError> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    let naive = if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        Some(date.and_time(chrono::NaiveTime::MIN))
    } else {
        [
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    };
    let Some(naive) = naive else {
        return Err(ValidationError::new(
            field,
            format!(
                "`{text}` is not accepted; use a date (2026-12-01), a local date and time (2026-12-01T08:00) or RFC 3339 (2026-12-01T16:00:00Z)"
            ),
        ));
    };
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(at) => Ok(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Ok(a.min(b).with_timezone(&Utc)),
        LocalResult::None => Err(ValidationError::new(
            field,
            format!(
                "`{text}` does not exist in {} (a daylight-saving gap); pick another time",
                tz.name()
            ),
        )),
    }
}

/// Parses an IANA time zone like [`crate::model::parse_timezone`], and when the name is
/// unknown suggests the closest names by edit distance as well (`America/Los_Angles`).
pub fn parse_zone(value: &str) -> Result<Tz, ValidationError> {
    let err = match crate::model::parse_timezone(value) {
        Ok(tz) => return Ok(tz),
        Err(e) => e,
    };
    if err.message.contains("did you mean") {
        return Err(err);
    }
    let lower = value.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                edit_distance(&lower, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .filter(|(d, _)| *d <= 3.max(lower.len() / 5))
        .collect();
    scored.sort_unstable();
    if scored.is_empty() {
        return Err(err);
    }
    let close: Vec<&str> = scored.iter().take(3).map(|(_, n)| *n).collect();
    Err(ValidationError::new(
        "timezone",
        format!(
            "`{value}` is not a known IANA time zone; did you mean {}?",
            close.join(", ")
        ),
    ))
}

/// Levenshtein distance between two strings (by character).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The next `n` slots of `job` after `now`, within its start and end.
pub fn upcoming(job: &Job, now: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(n);
    let mut at = now;
    while out.len() < n {
        match job.slot_after(at) {
            Some(next) => {
                out.push(next);
                at = next;
            }
            None => break,
        }
    }
    out
}

/// The next `n` slots of `schedule` in `tz` after `now`.
pub fn preview(schedule: &Schedule, tz: Tz, now: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(n);
    let mut at = now;
    while out.len() < n {
        match schedule.next_after(at, tz) {
            Some(next) => {
                out.push(next);
                at = next;
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
            .single()
            .expect("valid")
    }

    fn job() -> Job {
        NewJob::new(
            AppName::parse("app").expect("app"),
            JobName::parse("job").expect("name"),
            JobUrl::parse("https://example.edu/job").expect("url"),
            "0 9 * * *".parse().expect("schedule"),
        )
        .build(now())
        .expect("job")
    }

    #[test]
    fn durations_accept_units_and_combinations() {
        assert_eq!(parse_duration("t", "30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("t", "1h30m"), Ok(Duration::from_secs(5400)));
        // Changed with the one duration grammar (issue 12): `90` was 90 seconds here and
        // 90 minutes in `every 90`; a number now needs its unit everywhere.
        assert_eq!(
            parse_duration("timeout", "90")
                .expect_err("no unit")
                .to_string(),
            "timeout: `90` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)"
        );
        for bad in ["", "1x", "m", "1h30", "-1s"] {
            assert_eq!(
                parse_duration("timeout", bad).expect_err(bad).field,
                "timeout"
            );
        }
    }

    #[test]
    fn a_schedule_form_needs_exactly_one_kind() {
        let form = ScheduleForm {
            at: Some("08:00,13:30".into()),
            days: Some("mon,wed".into()),
            ..Default::default()
        };
        let s = form.build(true).expect("valid").expect("some");
        assert_eq!(s.to_string(), "at 08:00,13:30 on mon,wed");
        let both = ScheduleForm {
            cron: Some("* * * * *".into()),
            at: Some("08:00".into()),
            ..Default::default()
        };
        assert_eq!(both.build(true).expect_err("two").field, "schedule");
        assert_eq!(
            ScheduleForm::default().build(true).expect_err("none").field,
            "schedule"
        );
        assert_eq!(ScheduleForm::default().build(false), Ok(None));
        let between = ScheduleForm {
            cron: Some("* * * * *".into()),
            between: Some("08:00-09:00".into()),
            ..Default::default()
        };
        assert_eq!(between.build(true).expect_err("between").field, "between");
        let every = ScheduleForm {
            every: Some("90m".into()),
            between: Some("08:00-17:00".into()),
            ..Default::default()
        };
        assert_eq!(
            every.build(true).expect("valid").expect("some").to_string(),
            "every 90m between 08:00-17:00"
        );
    }

    #[test]
    fn resuming_a_paused_job_starts_from_now() {
        let mut paused = job();
        paused.enabled = false;
        let later = now() + chrono::Duration::days(3);
        let changes = JobChanges {
            enabled: Some(true),
            ..Default::default()
        };
        let resumed = changes.apply(&paused, later).expect("valid");
        assert_eq!(resumed.state.next_slot, paused.slot_after(later));
        assert_eq!(resumed.state.version, paused.state.version + 1);
        assert!(resumed.state.writer.is_some());
        assert_eq!(resumed.updated_at, later);
    }

    #[test]
    fn an_end_before_the_start_is_rejected() {
        let j = job();
        let changes = JobChanges {
            start: Some(Some(now() + chrono::Duration::days(2))),
            end: Some(Some(now() + chrono::Duration::days(1))),
            ..Default::default()
        };
        assert_eq!(changes.apply(&j, now()).expect_err("bounds").field, "end");
    }

    #[test]
    fn a_misspelt_zone_suggests_the_closest_names() {
        let err = parse_zone("America/Los_Angles").expect_err("typo");
        assert_eq!(err.field, "timezone");
        assert!(err.message.contains("America/Los_Angeles"), "{err}");
        assert!(parse_zone("Europe/London").is_ok());
    }

    #[tokio::test]
    async fn update_pause_and_resume_write_through_the_version_check() {
        let store = crate::store::memory::MemoryStore::new();
        let j = job();
        store.create_job(&j).await.expect("create");
        let (app, name) = (j.app.clone(), j.name.clone());
        let later = now() + chrono::Duration::minutes(30);
        let changes = JobChanges {
            schedule: Some("*/5 * * * *".parse().expect("schedule")),
            ..Default::default()
        };
        let updated = update_job(&store, &app, &name, &changes, later)
            .await
            .expect("update");
        assert_eq!(updated.state.version, j.state.version + 1);
        assert_eq!(
            updated.state.next_slot,
            Some(later + chrono::Duration::minutes(5))
        );
        let stored = store.get_job(&app, &name).await.expect("get").expect("job");
        assert_eq!(stored, updated);

        let paused = pause_job(&store, &app, &name, later).await.expect("pause");
        assert_eq!((paused.enabled, paused.due_at()), (false, None));
        let much_later = later + chrono::Duration::days(3);
        let resumed = resume_job(&store, &app, &name, much_later)
            .await
            .expect("resume");
        assert_eq!(
            resumed.state.next_slot,
            Some(much_later + chrono::Duration::minutes(5)),
            "no backlog: the next slot is after the resume"
        );
        assert_eq!(resumed.state.version, j.state.version + 3);

        let bad = JobChanges {
            retries: Some(9),
            ..Default::default()
        };
        assert!(matches!(
            update_job(&store, &app, &name, &bad, later).await,
            Err(UpdateError::Invalid(_))
        ));
        let missing = JobName::parse("missing").expect("name");
        assert!(matches!(
            pause_job(&store, &app, &missing, later).await,
            Err(UpdateError::NotFound(..))
        ));
        let stored = store.get_job(&app, &name).await.expect("get").expect("job");
        assert_eq!(stored, resumed, "a rejected update writes nothing");
    }

    #[test]
    fn local_dates_are_read_in_the_zone() {
        let tz: Tz = "America/Los_Angeles".parse().expect("tz");
        let at = parse_instant("start", "2026-12-01", tz).expect("date");
        assert_eq!(at.to_rfc3339(), "2026-12-01T08:00:00+00:00");
        assert!(parse_instant("start", "tomorrow", tz).is_err());
    }
}
