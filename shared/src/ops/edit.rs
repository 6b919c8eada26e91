//! Whole forms (the web admin's create and edit pages): every option as typed, all of its
//! refusals at once, each by its field; an edit writes only the options that differ, and
//! only over the record as the form was read, so that a person's change made in between is
//! never overwritten.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use super::apply::{Change, Definition, NotWritten, duration_text, job_changes, overlap_text};
use super::apps::{change_app, parse_app, read_app};
use super::error::{FieldError, OpsError};
use super::input::{JobInput, JobKey, ScheduleForm, parse_instant};
use super::{AppInput, Ops, read_job};
use crate::model::{App, Job, JobName};

/// A job edited from a whole form: the job as written and the fields that changed.
#[derive(Debug, Clone)]
pub struct Edited {
    /// The job as written.
    pub job: Job,
    /// Each changed field, old -> new, as `apply` shows it.
    pub changes: Vec<Change>,
}

impl ScheduleForm {
    /// A schedule in any of its written forms, from a single field (`0 9 * * mon-fri`,
    /// `every 15m between 08:00-17:00`, `at 08:00,13:30 on mon-fri`). Its refusals name the
    /// field `schedule`.
    pub fn written(text: impl Into<String>) -> Self {
        // `cron` is read with the parser of every written form; see [`ScheduleForm::build`].
        Self {
            cron: Some(text.into()),
            ..Self::default()
        }
    }
}

impl JobInput {
    /// A stored job as a whole form shows it: every option as text that reads back to the
    /// same definition. The schedule is in its written form (see [`ScheduleForm::written`]);
    /// durations are in the one grammar (`30s`, `1h30m`); a start or end is the job's local
    /// date and time when that reads back to the same instant, otherwise RFC 3339 with the
    /// zone's offset (an hour the clocks repeat).
    pub fn of(job: &Job) -> Self {
        let instant = |t: DateTime<Utc>| local_text(t, job.timezone);
        Self {
            url: job.path.is_none().then(|| job.url.as_str().to_owned()),
            path: job.path.as_ref().map(|p| p.as_str().to_owned()),
            method: Some(job.method.as_str().to_owned()),
            schedule: ScheduleForm::written(job.schedule.to_string()),
            timezone: Some(job.timezone.name().to_owned()),
            start: job.start.map(instant),
            end: job.end.map(instant),
            timeout: Some(duration_text(job.timeout_ms)),
            retries: Some(job.retries.to_string()),
            max_lateness: Some(duration_text(job.max_lateness_ms)),
            overlap: Some(job.overlap),
            description: Some(job.description.clone()),
            paused: !job.enabled,
        }
    }

    /// Every refusal of a whole form (a job's every option, the schedule required): each
    /// option on its own first, through the very checks `create` makes, so that every bad
    /// value is reported, then the options together. Empty when the form is accepted.
    pub fn errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let only = |set: fn(&mut JobInput, &JobInput)| {
            let mut single = JobInput::default();
            set(&mut single, self);
            single
        };
        let singles = [
            only(|i, from| i.url = from.url.clone()),
            only(|i, from| i.path = from.path.clone()),
            only(|i, from| i.method = from.method.clone()),
            only(|i, from| i.timezone = from.timezone.clone()),
            only(|i, from| i.timeout = from.timeout.clone()),
            only(|i, from| i.retries = from.retries.clone()),
            only(|i, from| i.max_lateness = from.max_lateness.clone()),
        ];
        errors.extend(
            singles
                .iter()
                .filter_map(|single| single.parse(false).err()),
        );
        if let Err(e) = self.schedule.build(true) {
            errors.push(e);
        }
        if let Ok(tz) = self
            .timezone
            .as_deref()
            .map_or(Ok(Tz::UTC), super::parse_zone)
            && let Err(e) = self.dates(tz)
        {
            errors.push(e);
        }
        if errors.is_empty()
            && let Err(e) = Definition::from_input(self)
        {
            errors.push(e);
        }
        errors
    }
}

/// `t` as a form shows it in `tz`: local when that reads back to `t`, else RFC 3339.
fn local_text(t: DateTime<Utc>, tz: Tz) -> String {
    let local = t.with_timezone(&tz);
    let text = if t.timestamp_subsec_nanos() == 0 && local.format("%S").to_string() == "00" {
        local.format("%Y-%m-%dT%H:%M").to_string()
    } else {
        local.format("%Y-%m-%dT%H:%M:%S").to_string()
    };
    match parse_instant("start", &text, tz) {
        Ok(back) if back == t => text,
        _ => local.to_rfc3339_opts(SecondsFormat::AutoSi, false),
    }
}

/// The names and options of a job to create, checked all at once: the key, or every refusal
/// (`app`, `name` and the options, each by its field). Nothing is read or written.
pub fn check_new_job(app: &str, name: &str, input: &JobInput) -> Result<JobKey, Vec<FieldError>> {
    let app = parse_app(app);
    let name = JobName::parse(name).map_err(FieldError::from);
    let mut errors: Vec<FieldError> = [app.as_ref().err(), name.as_ref().err()]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    errors.extend(input.errors());
    match (app, name) {
        (Ok(app), Ok(name)) if errors.is_empty() => Ok(JobKey { app, name }),
        _ => Err(errors),
    }
}

impl AppInput {
    /// Every refusal of an app's whole form, each by its field (`base_url`, `budget`); a
    /// `new` app needs its base URL. Empty when the form is accepted.
    pub fn errors(&self, new: bool) -> Vec<FieldError> {
        let base_url = AppInput {
            base_url: self.base_url.clone(),
            budget: None,
        };
        let budget = AppInput {
            base_url: None,
            budget: self.budget.clone(),
        };
        let mut errors: Vec<FieldError> = [base_url.parse().err(), budget.parse().err()]
            .into_iter()
            .flatten()
            .collect();
        if new && self.base_url.is_none() {
            errors.insert(
                0,
                FieldError::plain("base_url", "missing; give https://host[/prefix]"),
            );
        }
        errors
    }
}

/// An app to create, checked all at once: its name, or every refusal (`app`, `base_url`,
/// `budget`). Nothing is read or written.
pub fn check_new_app(
    name: &str,
    input: &AppInput,
) -> Result<crate::model::AppName, Vec<FieldError>> {
    let name = parse_app(name);
    let mut errors: Vec<FieldError> = name.as_ref().err().cloned().into_iter().collect();
    errors.extend(input.errors(true));
    match name {
        Ok(name) if errors.is_empty() => Ok(name),
        _ => Err(errors),
    }
}

/// The time a form was read with, as it carries it (a hidden field): exact to the
/// nanosecond, so that it compares equal to the record's `updated_at`.
pub fn seen_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Reads [`seen_text`] back (field `seen`).
pub fn parse_seen(text: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            FieldError::plain(
                "seen",
                "is not the time the form was read (RFC 3339); reload the form",
            )
        })
}

impl Ops {
    /// Edits a job from a whole form (`input` holds every option; one left out is at its
    /// default, as in a schedules file). Only the options that differ are written, with the
    /// same write as `update` (a due slot is never dropped), and only over the job as it
    /// was when the form was read: `seen` is its `updated_at` then. A person's change since
    /// (its definition, paused state, or `updated_at`) refuses the edit with
    /// [`OpsError::ChangedSince`]; the tick's bookkeeping does not. Nothing that differs is
    /// [`OpsError::NothingToChange`]. `input.paused` is ignored (pause and resume are their
    /// own actions).
    pub async fn edit(
        &self,
        key: &JobKey,
        input: &JobInput,
        seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Edited, OpsError> {
        if let Some(first) = input.errors().into_iter().next() {
            return Err(first.into());
        }
        let new = Definition::from_input(input)?;
        let store = self.store().await?;
        let read = read_job(store, key).await?;
        if read.updated_at != seen {
            return Err(changed_since(key, read.updated_at));
        }
        let old = Definition::of(&read);
        let base_url = match &new.path {
            Some(_) => store
                .get_app(&key.app)
                .await
                .map_err(OpsError::store("read the app"))?
                .map(|app| app.base_url),
            None => None,
        };
        let changes = job_changes(&old, &new, base_url.as_ref()).map_err(|e| {
            if base_url.is_none() && new.path.is_some() {
                FieldError::plain(
                    "path",
                    format!(
                        "the app {} has no record with a base URL to resolve a path against; give the app a base URL first, or give the job a url",
                        key.app
                    ),
                )
            } else {
                e
            }
        })?;
        if changes.is_empty() {
            return Err(OpsError::NothingToChange);
        }
        let shown = old.diff(&new);
        match super::apply::write_if_unchanged(store, &read, &changes, now, false, &self.tick)
            .await?
        {
            Ok(job) => Ok(Edited {
                job,
                changes: shown,
            }),
            Err(NotWritten::Deleted) => Err(OpsError::NotFound(key.app.clone(), key.name.clone())),
            Err(NotWritten::Changed) => {
                let at = read_job(store, key).await?.updated_at;
                Err(changed_since(key, at))
            }
        }
    }

    /// Edits an app record from a whole form (its base URL and budget), writing only what
    /// differs, and only over the record as it was when the form was read (`seen`, its
    /// `updated_at` then); otherwise [`OpsError::ChangedSince`].
    pub async fn edit_app(
        &self,
        name: &str,
        input: &AppInput,
        seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<App, OpsError> {
        let name = parse_app(name)?;
        let (base_url, budget) = input.parse()?;
        let store = self.store().await?;
        let read = read_app(store, &name).await?;
        let differs = base_url.as_ref().is_some_and(|b| *b != read.base_url)
            || budget.is_some_and(|b| b != read.budget);
        if !differs {
            return Err(OpsError::NothingToChange);
        }
        change_app(store, &name, now, |app| {
            if app.updated_at != seen {
                return Err(OpsError::ChangedSince {
                    what: format!("the app {name}"),
                    at: app.updated_at,
                });
            }
            let mut next = app.clone();
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
}

fn changed_since(key: &JobKey, at: DateTime<Utc>) -> OpsError {
    OpsError::ChangedSince {
        what: format!("the job {}/{}", key.app, key.name),
        at,
    }
}

/// The overlap policy as a form's choice names it (`forbid`, `allow`).
pub fn overlap_name(overlap: crate::model::OverlapPolicy) -> &'static str {
    overlap_text(overlap)
}

#[cfg(test)]
mod tests;
