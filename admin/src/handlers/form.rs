//! What the forms' handlers share: the posted form read as typed (each field trimmed, an
//! empty one not given), and the lines a refused form shows.
//!
//! The forms (a job's and an app's, new and edit) go through the operations layer with the
//! CLI's validation. A refused form comes back with what was typed, each error next to its
//! field and listed above the form, and nothing written: the handler shows the form again
//! (views/job_form.rs, views/app_form.rs) rather than returning an error. The schedule field
//! previews its reading and next runs: live with the admin's small script, or with the
//! form's Preview button without it.
//!
//! An edit form carries what it showed in hidden `shown-*` fields beside the visible ones:
//! the operations layer writes only the fields the person changed ([`Ops::edit`]), over the
//! record as it is when the form comes back.
//!
//! [`Ops::edit`]: shared::ops::Ops::edit

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use shared::model::App;
use shared::ops::{AppInput, FIELDS, FieldError, JobInput};

use crate::context::Ctx;
use crate::format;

/// A posted form: its fields by name.
pub(crate) type Posted = HashMap<String, String>;

/// A form's field as typed: trimmed, and not given when empty.
fn given(form: &Posted, key: &str) -> Option<String> {
    form.get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A job's form as posted: every field of [`FIELDS`] as typed (an empty one is not given),
/// each name after `prefix` (`shown-` for what an edit form showed).
pub(crate) fn job_input(form: &Posted, prefix: &str) -> JobInput {
    let get = |k: &str| given(form, &format!("{prefix}{k}"));
    let mut input = JobInput {
        paused: get("paused").is_some_and(|v| v == "on"),
        ..JobInput::default()
    };
    for f in FIELDS {
        (f.from_form)(&mut input, get(f.name));
    }
    input
}

/// An app's form as posted, each name after `prefix` (as [`job_input`]).
pub(crate) fn app_input(form: &Posted, prefix: &str) -> AppInput {
    AppInput {
        base_url: given(form, &format!("{prefix}base_url")),
        budget: given(form, &format!("{prefix}budget")),
        timezone: given(form, &format!("{prefix}timezone")),
        webhook: given(form, &format!("{prefix}webhook")),
        notify_after: given(form, &format!("{prefix}notify_after")),
        remove_webhook: given(form, &format!("{prefix}remove_webhook")).is_some_and(|v| v == "on"),
    }
}

/// Whether the form was sent by its Preview button (show it again, write nothing).
pub(crate) fn is_preview(form: &Posted) -> bool {
    form.get("action").is_some_and(|a| a == "preview")
}

/// An app record as its form shows it.
pub(crate) fn app_as_form(app: &App) -> AppInput {
    AppInput {
        base_url: Some(app.base_url.to_string()),
        budget: Some(app.budget.to_string()),
        timezone: app.timezone.map(|tz| tz.name().to_owned()),
        // The webhook is a secret: never put in a page, not even in its form.
        notify_after: Some(app.notify_after.to_string()),
        ..AppInput::default()
    }
}

/// A field changed by someone else after the form was shown, and by the person too.
pub(crate) fn conflict(field: &'static str, now: &str, typed: &str) -> FieldError {
    let quoted = |t: &str| {
        if t.is_empty() {
            "empty".to_owned()
        } else {
            format!("`{t}`")
        }
    };
    FieldError::plain(
        field,
        format!(
            "changed to {} after you opened this form; saving again writes yours, {}",
            quoted(now),
            quoted(typed)
        ),
    )
}

/// The line above a form refused for a conflict.
pub(crate) fn changed_at(what: &str, at: DateTime<Utc>) -> String {
    format!(
        "Someone changed this {what} at {} after you opened this form. Nothing was saved. Below: your values where you changed them, the {what}'s current values elsewhere.",
        format::utc(at)
    )
}

/// The app's base URL, for a job form's hints (none without a record, or when it cannot be
/// read: the form works without it).
pub(crate) async fn base_url_of(ctx: &Ctx, app: &str) -> Option<String> {
    ctx.ops.app(app).await.ok().map(|a| a.base_url.to_string())
}
