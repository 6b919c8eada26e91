//! Whole forms (the web admin's create and edit pages): every option as typed, all of its
//! refusals at once, each by its field.
//!
//! An edit is a three-way merge. The form carries what it showed beside what was typed: the
//! fields the person changed (typed differs from shown) are written over the record as it is
//! now, every other field keeps its current value, whoever set it after the form was shown.
//! A field the person changed that someone else also changed since, to another value, is a
//! conflict: nothing is written, and the form comes back saying so.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::apps::{change_app, parse_app};
use super::definition::Definition;
use super::error::{FieldError, OpsError};
use super::field::{self, Change, FIELDS, JOB_FORM_FIELDS, ZONE, in_form, normal, overlap_text};
use super::input::{JobInput, JobKey, ScheduleForm};
use super::jobs::changes_for;
use super::write::{Attempt, NotWritten, read_job, retry, write_if_unchanged};
use super::{AppInput, Ops};
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
        let mut input = Self {
            paused: !job.enabled,
            ..Self::default()
        };
        for field in FIELDS {
            (field.show)(job, &mut input);
        }
        input
    }

    /// Every refusal of a whole form (a job's every option, the schedule required): each
    /// option on its own first, through the very checks `create` makes, so that every bad
    /// value is reported, then the options together. Empty when the form is accepted.
    pub fn errors(&self) -> Vec<FieldError> {
        self.errors_in(true)
    }

    /// [`JobInput::errors`] for a `new` job (its URL or path and schedule required), or for
    /// a change (only the options given are checked).
    pub(crate) fn errors_in(&self, new: bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        errors.extend(
            FIELDS
                .iter()
                .filter(|f| f.alone)
                .filter_map(|f| f.only(self).parse(false).err()),
        );
        if let Err(e) = self.schedule.build(new) {
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
        if errors.is_empty() {
            let together = if new {
                Definition::from_input(self).err()
            } else {
                self.parse(false).err()
            };
            errors.extend(together);
        }
        errors
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
    /// Every refusal of an app's whole form, each by its field (`base_url`, `budget`,
    /// `timezone`); a
    /// `new` app needs its base URL. Empty when the form is accepted.
    pub fn errors(&self, new: bool) -> Vec<FieldError> {
        let base_url = AppInput {
            base_url: self.base_url.clone(),
            ..AppInput::default()
        };
        let budget = AppInput {
            budget: self.budget.clone(),
            ..AppInput::default()
        };
        let webhook = AppInput {
            webhook: self.webhook.clone(),
            remove_webhook: self.remove_webhook,
            ..AppInput::default()
        };
        let notify_after = AppInput {
            notify_after: self.notify_after.clone(),
            ..AppInput::default()
        };
        let mut errors: Vec<FieldError> = [
            base_url.parse().err(),
            budget.parse().err(),
            self.zone().err(),
            webhook.notify().err(),
            notify_after.notify().err(),
        ]
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

/// The text of one of [`JOB_FORM_FIELDS`] in `input`, as an edit compares it (`target` is
/// the URL and the path on two lines).
pub fn job_field(input: &JobInput, field: &str) -> String {
    in_form(field)
        .map(|f| (f.typed)(input))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fields of a job's form that were changed: `typed` differs from `shown`.
pub fn touched_fields(shown: &JobInput, typed: &JobInput) -> Vec<&'static str> {
    JOB_FORM_FIELDS
        .into_iter()
        .filter(|f| job_field(shown, f) != job_field(typed, f))
        .collect()
}

/// The form to show again after a conflict: `typed` for the fields the person changed, the
/// job as it is now for the others.
pub fn merge_for_review(job: &Job, shown: &JobInput, typed: &JobInput) -> JobInput {
    let touched = touched_fields(shown, typed);
    let mut form = JobInput::of(job);
    for field in touched.iter().flat_map(|f| in_form(f)) {
        (field.copy)(&mut form, typed);
    }
    form
}

/// The fields a form changed that someone else also changed since it was shown, to another
/// value, given the job as it is now. The zone counts for the fields read in it: a schedule,
/// start or end typed while someone else changed the zone is a conflict on `timezone` (the
/// person meant the zone they saw). Values are compared as the form would show them
/// (`60s` and `1m` agree, an emptied timeout and `30s` agree).
pub fn conflicts(job: &Job, shown: &JobInput, typed: &JobInput) -> Vec<&'static str> {
    let touched = touched_fields(shown, typed);
    let current = JobInput::of(job);
    let zone = |input: &JobInput| {
        input
            .timezone
            .as_deref()
            .map_or(Ok(Tz::UTC), super::parse_zone)
            .unwrap_or(job.timezone)
    };
    // Typed values read in the zone they will be read in: the typed one when the person
    // changed it, else the job's.
    let typed_zone = if touched.contains(&ZONE) {
        zone(typed)
    } else {
        job.timezone
    };
    let mut found: Vec<&'static str> = touched
        .iter()
        .copied()
        .filter(|f| {
            let now = job_field(&current, f);
            now != job_field(shown, f) && now != canonical(typed, f, typed_zone)
        })
        .collect();
    let zone_moved = job_field(&current, ZONE) != job_field(shown, ZONE);
    let read_in_zone = FIELDS
        .iter()
        .any(|f| f.read_in_zone && touched.contains(&f.form));
    if zone_moved && read_in_zone && !touched.contains(&ZONE) && !found.contains(&ZONE) {
        found.insert(0, ZONE);
    }
    found
}

/// A typed field as [`JobInput::of`] would show its value (an emptied one at its default);
/// the raw text when it does not parse (the change is refused anyway).
fn canonical(typed: &JobInput, field: &str, tz: Tz) -> String {
    let shown: Option<Vec<String>> = in_form(field).map(|f| (f.canonical)(typed, tz)).collect();
    match shown {
        Some(shown) if !shown.is_empty() => shown.join("\n"),
        _ => job_field(typed, field),
    }
}

/// The change a form makes: only the `touched` fields of `typed`, an emptied one at its
/// default (a date cleared, the description emptied); a target or schedule emptied is
/// refused.
fn change_of(typed: &JobInput, touched: &[&str]) -> Result<JobInput, FieldError> {
    let mut change = JobInput::default();
    for field in touched.iter().flat_map(|f| in_form(f)) {
        (field.take)(typed, &mut change)?;
    }
    Ok(change)
}

/// The fields of an app's form as an edit compares them.
fn app_field(input: &AppInput, field: &str) -> String {
    match field {
        "base_url" => normal(input.base_url.as_deref()),
        "timezone" => normal(input.timezone.as_deref()),
        // Shown as its default when emptied, as the budget.
        "notify_after" => normal(input.notify_after.as_deref().or(Some("1"))),
        _ => normal(input.budget.as_deref()),
    }
}

impl Ops {
    /// Edits a job from its form: `shown` is what the form showed (the job as it was when
    /// the form was read, [`JobInput::of`]), `typed` what came back. Only the fields the
    /// person changed are written, with the same write as `update` (a due slot is never
    /// dropped), over the job as it is now: a field someone else changed since keeps their
    /// value unless the person changed it too, to another value, which refuses the edit
    /// with [`OpsError::ChangedSince`] naming those fields (nothing is written). The tick's
    /// bookkeeping is no change. No changed field, or changes to the same values, is
    /// [`OpsError::NothingToChange`].
    pub async fn edit(
        &self,
        key: &JobKey,
        shown: &JobInput,
        typed: &JobInput,
        now: DateTime<Utc>,
    ) -> Result<Edited, OpsError> {
        let touched = touched_fields(shown, typed);
        if touched.is_empty() {
            return Err(OpsError::NothingToChange);
        }
        let change = change_of(typed, &touched)?;
        if let Some(first) = change.errors_in(false).into_iter().next() {
            return Err(first.into());
        }
        let store = self.store().await?;
        let change = &change;
        retry(
            (),
            |()| async move {
                let job = read_job(store, key).await?;
                let conflicts = conflicts(&job, shown, typed);
                if !conflicts.is_empty() {
                    return Err(OpsError::ChangedSince {
                        what: format!("the job {}/{}", key.app, key.name),
                        at: job.updated_at,
                        fields: conflicts,
                    });
                }
                let changes = changes_for(store, key, change, change.parse(false)?, &job).await?;
                let next = changes.apply(&job, now).map_err(FieldError::from)?;
                let shown_changes = field::changes(&Definition::of(&job), &Definition::of(&next));
                if shown_changes.is_empty() {
                    return Err(OpsError::NothingToChange);
                }
                match write_if_unchanged(store, &job, &changes, now, false, &self.tick).await? {
                    Ok(job) => Ok(Attempt::Done(Edited {
                        job,
                        changes: shown_changes,
                    })),
                    Err(NotWritten::Deleted) => {
                        Err(OpsError::NotFound(key.app.clone(), key.name.clone()))
                    }
                    // A person's change came in between: merge again over it.
                    Err(NotWritten::Changed) => Ok(Attempt::Again(())),
                }
            },
            || OpsError::Conflict(key.app.clone(), key.name.clone()),
        )
        .await
    }

    /// Edits an app record from its form, as [`Ops::edit`] does a job: the fields the
    /// person changed in `typed` against `shown` (an emptied budget is the default; an
    /// emptied base URL is refused), over the record as it is now.
    pub async fn edit_app(
        &self,
        name: &str,
        shown: &AppInput,
        typed: &AppInput,
        now: DateTime<Utc>,
    ) -> Result<App, OpsError> {
        let name = parse_app(name)?;
        let touched: Vec<&'static str> = ["base_url", "budget", "timezone", "notify_after"]
            .into_iter()
            .filter(|f| app_field(shown, f) != app_field(typed, f))
            .collect();
        // The webhook is never shown in the form: a URL typed, or "remove" ticked, changes it.
        let (webhook, notify_after) = typed.notify()?;
        if touched.is_empty() && webhook.is_none() {
            return Err(OpsError::NothingToChange);
        }
        if let Some(first) = typed.errors(true).into_iter().next() {
            return Err(first.into());
        }
        let (base_url, budget) = typed.parse()?;
        let budget = budget.unwrap_or(crate::model::DEFAULT_APP_BUDGET);
        let timezone = typed.zone()?;
        let store = self.store().await?;
        change_app(store, &name, now, |app| {
            let now_form = AppInput {
                base_url: Some(app.base_url.to_string()),
                budget: Some(app.budget.to_string()),
                timezone: app.timezone.map(|tz| tz.name().to_owned()),
                notify_after: Some(app.notify_after.to_string()),
                ..AppInput::default()
            };
            // The typed values as the form would show them (`budget` emptied is the default).
            let typed_form = AppInput {
                base_url: base_url.as_ref().map(|b| b.to_string()),
                budget: Some(budget.to_string()),
                timezone: timezone.map(|tz| tz.name().to_owned()),
                notify_after: notify_after.map(|n| n.to_string()),
                ..AppInput::default()
            };
            let conflicts: Vec<&'static str> = touched
                .iter()
                .copied()
                .filter(|f| {
                    let now_text = app_field(&now_form, f);
                    now_text != app_field(shown, f) && now_text != app_field(&typed_form, f)
                })
                .collect();
            if !conflicts.is_empty() {
                return Err(OpsError::ChangedSince {
                    what: format!("the app {name}"),
                    at: app.updated_at,
                    fields: conflicts,
                });
            }
            let mut next = app.clone();
            if touched.contains(&"base_url")
                && let Some(base_url) = &base_url
            {
                next.base_url = base_url.clone();
            }
            if touched.contains(&"budget") {
                next.budget = budget;
            }
            if touched.contains(&"timezone") {
                next.timezone = timezone;
            }
            if touched.contains(&"notify_after") {
                next.notify_after = notify_after.unwrap_or(crate::model::DEFAULT_NOTIFY_AFTER);
            }
            if let Some(webhook) = &webhook {
                next.set_webhook(webhook.clone(), now);
            }
            if next.base_url == app.base_url
                && next.budget == app.budget
                && next.timezone == app.timezone
                && next.notify_after == app.notify_after
                && next.webhook == app.webhook
            {
                return Err(OpsError::NothingToChange);
            }
            Ok(next)
        })
        .await
    }
}

/// The overlap policy as a form's choice names it (`forbid`, `allow`).
pub fn overlap_name(overlap: crate::model::OverlapPolicy) -> &'static str {
    overlap_text(overlap)
}

#[cfg(test)]
mod tests;
