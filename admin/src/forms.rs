//! The forms: create and edit a job, create and edit an app, each through the operations
//! layer with the CLI's validation. A refused form comes back with what was typed, each
//! error next to its field and listed above the form, and nothing written. The schedule
//! field previews its reading and next runs: live with the admin's small script, or with
//! the form's Preview button without it.
//!
//! An edit form carries what it showed in hidden `shown-*` fields beside the visible ones:
//! the operations layer writes only the fields the person changed ([`Ops::edit`]), over the
//! record as it is when the form comes back.
//!
//! [`Ops::edit`]: shared::ops::Ops::edit

use std::collections::HashMap;

use askama::Template;
use axum::Json;
use axum::extract::{Form, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::model::{App, OverlapPolicy};
use shared::ops::{
    self, AppInput, FieldError, JobInput, JobKey, OpsError, ScheduleForm, check_new_app,
    check_new_job, job_field, merge_for_review, overlap_name,
};

use crate::format;
use crate::pages::{Extract, Frame, State, action_failed, error_page, job_href, not_done, render};

/// The runs a preview lists.
pub(crate) const PREVIEW_RUNS: usize = 5;

/// One input of a form, as the template draws it.
pub(crate) struct Field {
    /// The input's name (the operations layer's field key) and, as `f-{name}`, its id.
    pub name: &'static str,
    pub label: &'static str,
    pub hint: String,
    pub value: String,
    pub error: Option<String>,
    /// Required: its label says so.
    pub required: bool,
    /// A choice among these (a `select`) when not empty.
    pub options: Vec<Choice>,
    /// A checkbox, checked when `value` is `on`.
    pub checkbox: bool,
    /// A text area (several lines).
    pub textarea: bool,
    /// `inputmode` for the phone keyboards (`numeric`).
    pub inputmode: Option<&'static str>,
    /// The id of a `datalist` of suggestions.
    pub list: Option<&'static str>,
    /// The id of one more element that describes it (the schedule's preview).
    pub described_by: Option<&'static str>,
}

pub(crate) struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

impl Field {
    fn text(
        name: &'static str,
        label: &'static str,
        hint: impl Into<String>,
        value: String,
    ) -> Self {
        Self {
            name,
            label,
            hint: hint.into(),
            value,
            error: None,
            required: false,
            options: Vec::new(),
            checkbox: false,
            textarea: false,
            inputmode: None,
            list: None,
            described_by: None,
        }
    }

    /// The ids of what describes the input: its hint, its error, and one more element.
    pub(crate) fn described(&self) -> String {
        let mut ids = vec![format!("f-{}-hint", self.name)];
        if self.error.is_some() {
            ids.push(format!("f-{}-error", self.name));
        }
        ids.extend(self.described_by.map(str::to_owned));
        ids.join(" ")
    }

    fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    fn select(
        name: &'static str,
        label: &'static str,
        hint: &'static str,
        choices: &[(&'static str, &'static str)],
        value: &str,
    ) -> Self {
        Self {
            options: choices
                .iter()
                .map(|&(v, l)| Choice {
                    value: v,
                    label: l,
                    selected: v == value,
                })
                .collect(),
            ..Self::text(name, label, hint, value.to_owned())
        }
    }
}

/// An error the form shows: the field's label (or none for the whole form) and the line.
pub(crate) struct Problem {
    pub field: Option<&'static str>,
    pub label: &'static str,
    pub message: String,
}

/// Puts each refusal next to its field, and all of them in the list above the form (in the
/// order of the fields on the page). A reference to another field in a message is written
/// as that field's label.
fn place(fields: &mut [Field], errors: &[FieldError]) -> Vec<Problem> {
    let labels: HashMap<&str, &'static str> = fields.iter().map(|f| (f.name, f.label)).collect();
    let mut problems = Vec::new();
    for e in errors {
        let leaf = e.path.leaf().unwrap_or("");
        // The schedule's parts (`every`, `between`...) are one field here.
        let leaf = match leaf {
            "cron" | "at" | "every" | "between" | "days" => "schedule",
            other => other,
        };
        let message = e.message.render(|k| match labels.get(k) {
            Some(label) => format!("“{label}”"),
            None => k.to_owned(),
        });
        match fields.iter_mut().find(|f| f.name == leaf) {
            Some(field) => {
                if field.error.is_none() {
                    field.error = Some(message.clone());
                }
                problems.push(Problem {
                    field: Some(field.name),
                    label: field.label,
                    message,
                });
            }
            None => problems.push(Problem {
                field: None,
                label: "",
                message: format!("{}: {message}", e.path),
            }),
        }
    }
    let order = |p: &Problem| {
        p.field
            .and_then(|name| fields.iter().position(|f| f.name == name))
    };
    problems.sort_by_key(|p| order(p).map_or(0, |i| i + 1));
    problems
}

/// A form's field as typed: trimmed, and not given when empty.
fn given(form: &HashMap<String, String>, key: &str) -> Option<String> {
    form.get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A schedule's preview: its reading in words and next runs, or why it is refused.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Preview {
    /// The schedule in words.
    pub reading: Option<String>,
    /// The zone the runs are shown in.
    pub zone: Option<String>,
    /// The next runs, in the zone, within the start and end.
    pub runs: Vec<String>,
    /// Why the schedule, zone, start or end is refused.
    pub error: Option<String>,
}

impl Preview {
    /// The preview of `schedule` read in `timezone` (empty: UTC) at `now`: its runs from
    /// the start (when later than now) up to the end, when those are given and valid. The
    /// start and end are read in `dates_zone` when given (an edit that changes only the
    /// zone keeps their instants, read in the zone the form showed).
    pub(crate) fn of(
        schedule: &str,
        timezone: &str,
        (start, end, dates_zone): (&str, &str, Option<&str>),
        now: DateTime<Utc>,
    ) -> Self {
        if schedule.trim().is_empty() {
            return Self::default();
        }
        let zone = Some(timezone.trim()).filter(|z| !z.is_empty());
        let refused = |e: OpsError| Self {
            error: Some(match &e {
                OpsError::Invalid(f) => format!("{}: {}", label_of(f), f.message),
                other => other.to_string(),
            }),
            ..Self::default()
        };
        let first = match ops::next(schedule.trim(), zone, PREVIEW_RUNS, now) {
            Ok(p) => p,
            Err(e) => return refused(e),
        };
        let tz = first.timezone;
        let dates_tz = dates_zone
            .and_then(|z| ops::parse_zone(z.trim()).ok())
            .unwrap_or(tz);
        let bound = |field: &'static str, text: &str| {
            Some(text.trim())
                .filter(|t| !t.is_empty() && *t != "none")
                .map(|t| ops::parse_instant(field, t, dates_tz))
                .transpose()
        };
        let (start, end) = match (bound("start", start), bound("end", end)) {
            (Ok(start), Ok(end)) => (start, end),
            (Err(e), _) | (_, Err(e)) => return refused(e.into()),
        };
        let preview = match start.filter(|s| *s > now) {
            // The first run may fall on the start itself.
            Some(start) => {
                match ops::next(
                    schedule.trim(),
                    zone,
                    PREVIEW_RUNS,
                    start - chrono::Duration::seconds(1),
                ) {
                    Ok(p) => p,
                    Err(e) => return refused(e),
                }
            }
            None => first,
        };
        Self {
            reading: Some(preview.schedule.describe().trim_end_matches('.').to_owned()),
            zone: Some(tz.name().to_owned()),
            runs: preview
                .times
                .iter()
                .filter(|t| end.is_none_or(|end| **t <= end))
                .map(|t| format::local(*t, tz))
                .collect(),
            error: None,
        }
    }
}

fn label_of(e: &FieldError) -> &'static str {
    match e.path.leaf() {
        Some("timezone") => "Time zone",
        Some("start") => "Start",
        Some("end") => "End",
        _ => "Schedule",
    }
}

/// The preview for the admin's script:
/// `GET /preview?schedule=...&timezone=...&start=...&end=...[&dates_zone=...]`.
pub(crate) async fn preview(Query(query): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
    let dates_zone = Some(get("dates_zone")).filter(|z| !z.is_empty());
    Json(Preview::of(
        get("schedule"),
        get("timezone"),
        (get("start"), get("end"), dates_zone),
        Utc::now(),
    ))
    .into_response()
}

// ---- Jobs ----------------------------------------------------------------------------------

const METHODS: [(&str, &str); 2] = [("GET", "GET"), ("POST", "POST")];

const OVERLAPS: [(&str, &str); 2] = [
    (
        "forbid",
        "Forbid: skip a slot while the previous call still runs",
    ),
    (
        "allow",
        "Allow: a slot may start while the previous call runs",
    ),
];

/// The fields of a job's form, filled with `input` (`new`: the name and "create paused");
/// `base_url` is the app's, which a path is under.
fn job_fields(name: &str, input: &JobInput, new: bool, base_url: Option<&str>) -> Vec<Field> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut fields = Vec::new();
    if new {
        fields.push(
            Field::text(
                "name",
                "Name",
                "Lowercase letters, digits and hyphens, unique within the app (send-invoices).",
                name.to_owned(),
            )
            .required(),
        );
    }
    fields.extend([
        Field::text(
            "url",
            "URL",
            "The address to call (https://billing.example.edu/jobs/invoices). Give it or a path.",
            text(&input.url),
        ),
        Field::text(
            "path",
            "Path",
            match base_url {
                Some(base) => format!(
                    "Or a path under the app's base URL, {base} (/scheduled/invoices): the job follows the app when its base URL changes."
                ),
                None => "Or a path under the app's base URL, once the app has one (its record): the job follows the app when its base URL changes.".to_owned(),
            },
            text(&input.path),
        ),
        Field::select(
            "method",
            "Method",
            "How the URL is called.",
            &METHODS,
            input.method.as_deref().unwrap_or("GET"),
        ),
        Field {
            described_by: Some("preview"),
            ..Field::text(
                "schedule",
                "Schedule",
                "A cron expression (0 9 * * mon-fri), every 15m [between 08:00-17:00] [on mon-fri], or at 08:00,13:30 [on mon,wed]. Its next runs are previewed below.",
                text(&input.schedule.cron),
            )
            .required()
        },
        Field {
            list: Some("zones"),
            ..Field::text(
                "timezone",
                "Time zone",
                "An IANA zone (America/Los_Angeles); the schedule, start and end are read in it. Empty: UTC.",
                text(&input.timezone),
            )
        },
        Field::text(
            "start",
            "Start",
            "Optional: no run before it. A date (2026-12-01) or date and time (2026-12-01T08:00) in the job's zone, or RFC 3339.",
            text(&input.start),
        ),
        Field::text(
            "end",
            "End",
            "Optional: no run after it, in the same forms as the start.",
            text(&input.end),
        ),
        Field::text(
            "timeout",
            "Timeout",
            "How long a call may take before it counts as timed out: 30s, 2m (more than 0, at most 14m). Empty: 30s.",
            text(&input.timeout),
        ),
        Field {
            inputmode: Some("numeric"),
            ..Field::text(
                "retries",
                "Retries",
                "How many times a failed call is tried again: 0 to 5. Empty: 0.",
                text(&input.retries),
            )
        },
        Field::text(
            "max_lateness",
            "Max lateness",
            "How late a slot may still be called (after an outage): 1h, 15m. Empty: 1h.",
            text(&input.max_lateness),
        ),
        Field::select(
            "overlap",
            "Overlap",
            "Whether a slot may start while the previous call still runs.",
            &OVERLAPS,
            overlap_name(input.overlap.unwrap_or_default()),
        ),
        Field {
            textarea: true,
            ..Field::text(
                "description",
                "Description",
                "Optional: what the job does, for the people reading its page.",
                text(&input.description),
            )
        },
    ]);
    if new {
        fields.push(Field {
            checkbox: true,
            ..Field::text(
                "paused",
                "Create it paused",
                "A paused job does not run until it is resumed.",
                if input.paused { "on" } else { "" }.to_owned(),
            )
        });
    }
    fields
}

/// A job's form as posted: every field as typed (an empty one is not given), each name
/// after `prefix` (`shown-` for what an edit form showed).
fn job_input(form: &HashMap<String, String>, prefix: &str) -> JobInput {
    let get = |k: &str| given(form, &format!("{prefix}{k}"));
    JobInput {
        url: get("url"),
        path: get("path"),
        method: get("method"),
        schedule: get("schedule")
            .map(ScheduleForm::written)
            .unwrap_or_default(),
        timezone: get("timezone"),
        start: get("start"),
        end: get("end"),
        timeout: get("timeout"),
        retries: get("retries"),
        max_lateness: get("max_lateness"),
        overlap: match get("overlap").as_deref() {
            Some("allow") => Some(OverlapPolicy::Allow),
            _ => Some(OverlapPolicy::Forbid),
        },
        // A text area sends CRLF; a description may be emptied: empty is a value here.
        description: Some(get("description").unwrap_or_default().replace("\r\n", "\n")),
        paused: get("paused").is_some_and(|v| v == "on"),
    }
}

/// The hidden fields that carry what an edit form showed.
fn shown_fields(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|f| !f.checkbox)
        .map(|f| (format!("shown-{}", f.name), f.value.clone()))
        .collect()
}

#[derive(Template)]
#[template(path = "job_form.html")]
struct JobFormPage {
    frame: Frame,
    app: String,
    app_href: String,
    /// The job's name when editing.
    name: Option<String>,
    action: String,
    cancel: String,
    submit: &'static str,
    /// What an edit form showed, carried back in hidden fields.
    shown: Vec<(String, String)>,
    problems: Vec<Problem>,
    fields: Vec<Field>,
    preview: Preview,
    zones: Vec<&'static str>,
    notice: Option<String>,
}

struct JobForm<'a> {
    app: &'a str,
    /// The app's base URL, for the path's hint.
    base_url: Option<String>,
    /// The job's name when editing.
    name: Option<&'a str>,
    /// What the fields hold.
    input: JobInput,
    /// What an edit form shows as the job's settings (often `input`).
    shown: Option<JobInput>,
    typed_name: String,
    errors: Vec<FieldError>,
    notice: Option<String>,
}

fn job_form(state: &State, status: StatusCode, form: JobForm<'_>) -> Response {
    let now = Utc::now();
    let base_url = form.base_url.as_deref();
    let mut fields = job_fields(&form.typed_name, &form.input, form.name.is_none(), base_url);
    let shown = form
        .shown
        .as_ref()
        .map(|shown| shown_fields(&job_fields("", shown, false, base_url)))
        .unwrap_or_default();
    let problems = place(&mut fields, &form.errors);
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").to_owned();
    // An edit that changes the zone but not the dates keeps their instants: read them in
    // the zone the form showed.
    let dates_zone = form.shown.as_ref().and_then(|shown| {
        let kept =
            |pick: fn(&JobInput) -> &Option<String>| text(pick(shown)) == text(pick(&form.input));
        (kept(|i| &i.start) && kept(|i| &i.end) && !kept(|i| &i.timezone))
            .then(|| text(&shown.timezone))
    });
    let preview = Preview::of(
        &text(&form.input.schedule.cron),
        &text(&form.input.timezone),
        (
            &text(&form.input.start),
            &text(&form.input.end),
            dates_zone.as_deref(),
        ),
        now,
    );
    let app_href = format!("/apps/{}", form.app);
    let (title, action, cancel, submit) = match form.name {
        Some(name) => {
            let href = job_href(form.app, name);
            (
                format!("Edit {}/{}", form.app, name),
                format!("{href}/edit"),
                href,
                "Save changes",
            )
        }
        None => (
            format!("New job in {}", form.app),
            format!("{app_href}/new-job"),
            app_href.clone(),
            "Create job",
        ),
    };
    let title = if problems.is_empty() && form.notice.is_none() {
        title
    } else {
        format!("Error: {title}")
    };
    render(
        status,
        &JobFormPage {
            frame: Frame::new(state, title, now),
            app: form.app.to_owned(),
            app_href,
            name: form.name.map(str::to_owned),
            action,
            cancel,
            submit,
            shown,
            problems,
            fields,
            preview,
            zones: chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect(),
            notice: form.notice,
        },
    )
}

fn refuse_read_only(state: &State) -> Option<Response> {
    state.read_only.then(|| {
        not_done(
            state,
            StatusCode::FORBIDDEN,
            "The admin runs with --read-only: it changes nothing.".to_owned(),
        )
    })
}

fn is_preview(form: &HashMap<String, String>) -> bool {
    form.get("action").is_some_and(|a| a == "preview")
}

/// The form for a new job of the app.
pub(crate) async fn new_job(Extract(state): Extract<State>, Path(app): Path<String>) -> Response {
    if let Some(refused) = refuse_read_only(&state) {
        return refused;
    }
    if let Err(e) = ops::parse_app(&app) {
        return error_page(&state, &e.into());
    }
    let base_url = base_url_of(&state, &app).await;
    let input = JobInput {
        method: Some("GET".to_owned()),
        timezone: Some("UTC".to_owned()),
        timeout: Some("30s".to_owned()),
        retries: Some("0".to_owned()),
        max_lateness: Some("1h".to_owned()),
        ..JobInput::default()
    };
    job_form(
        &state,
        StatusCode::OK,
        JobForm {
            app: &app,
            base_url: base_url.clone(),
            name: None,
            input,
            shown: None,
            typed_name: String::new(),
            errors: Vec::new(),
            notice: None,
        },
    )
}

/// Creates the job, or shows the form again with its errors (nothing written); the
/// Preview button only shows the form again with the schedule's preview.
pub(crate) async fn create_job(
    Extract(state): Extract<State>,
    Path(app): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(e) = ops::parse_app(&app) {
        return error_page(&state, &e.into());
    }
    let input = job_input(&form, "");
    let typed_name = form.get("name").cloned().unwrap_or_default();
    // The app's base URL is read only for a form shown again (for the path's hint).
    let again = |errors: Vec<FieldError>, status, base_url: Option<String>| {
        job_form(
            &state,
            status,
            JobForm {
                app: &app,
                base_url,
                name: None,
                input: input.clone(),
                shown: None,
                typed_name: typed_name.clone(),
                errors,
                notice: None,
            },
        )
    };
    if is_preview(&form) {
        return again(Vec::new(), StatusCode::OK, base_url_of(&state, &app).await);
    }
    let key = match check_new_job(&app, typed_name.trim(), &input) {
        Ok(key) => key,
        Err(errors) => {
            return again(
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
                base_url_of(&state, &app).await,
            );
        }
    };
    match state.ops.create(&key, &input, Utc::now()).await {
        Ok(job) => Redirect::to(&format!(
            "{}?created=1",
            job_href(job.app.as_str(), job.name.as_str())
        ))
        .into_response(),
        Err(OpsError::Invalid(e)) => again(
            vec![e],
            StatusCode::UNPROCESSABLE_ENTITY,
            base_url_of(&state, &app).await,
        ),
        Err(e)
            if matches!(
                e.store_error(),
                Some(shared::store::StoreError::AlreadyExists(..))
            ) =>
        {
            again(
                vec![FieldError::plain(
                    "name",
                    format!(
                        "the app {app} already has a job named {}; choose another name",
                        key.name
                    ),
                )],
                StatusCode::CONFLICT,
                base_url_of(&state, &app).await,
            )
        }
        Err(e)
            if matches!(
                e.store_error(),
                Some(shared::store::StoreError::AppDeleting(..))
            ) =>
        {
            let reason = e.store_error().map(ToString::to_string).unwrap_or_default();
            again(
                vec![FieldError::plain("app", reason)],
                StatusCode::CONFLICT,
                base_url_of(&state, &app).await,
            )
        }
        Err(e) => action_failed(&state, &e),
    }
}

/// The form of an existing job, filled with its settings.
pub(crate) async fn edit_job_form(
    Extract(state): Extract<State>,
    Path((app, name)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = refuse_read_only(&state) {
        return refused;
    }
    let key = match JobKey::parse(&app, &name) {
        Ok(key) => key,
        Err(e) => return error_page(&state, &e.into()),
    };
    let job = match state.ops.job(&key).await {
        Ok(job) => job,
        Err(e) => return error_page(&state, &e),
    };
    let shown = JobInput::of(&job);
    let base_url = base_url_of(&state, &app).await;
    job_form(
        &state,
        StatusCode::OK,
        JobForm {
            app: &app,
            base_url: base_url.clone(),
            name: Some(&name),
            input: shown.clone(),
            shown: Some(shown),
            typed_name: String::new(),
            errors: Vec::new(),
            notice: None,
        },
    )
}

/// Saves the fields the person changed, or shows the form again: with its errors; or, when
/// someone else changed one of those fields since the form was shown, with the job as it
/// is now in every other field, the person's values in theirs, and a notice naming them:
/// saving it again then writes the person's values knowingly.
pub(crate) async fn edit_job(
    Extract(state): Extract<State>,
    Path((app, name)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let key = match JobKey::parse(&app, &name) {
        Ok(key) => key,
        Err(e) => return error_page(&state, &e.into()),
    };
    let typed = job_input(&form, "");
    let shown = job_input(&form, "shown-");
    // The app's base URL is read only for a form shown again (for the path's hint).
    let again = |input: JobInput, shown: JobInput, errors, status, notice, base_url| {
        job_form(
            &state,
            status,
            JobForm {
                app: key.app.as_str(),
                base_url,
                name: Some(key.name.as_str()),
                input,
                shown: Some(shown),
                typed_name: String::new(),
                errors,
                notice,
            },
        )
    };
    if is_preview(&form) {
        let base_url = base_url_of(&state, key.app.as_str()).await;
        return again(typed, shown, Vec::new(), StatusCode::OK, None, base_url);
    }
    let href = job_href(key.app.as_str(), key.name.as_str());
    match state.ops.edit(&key, &shown, &typed, Utc::now()).await {
        Ok(edited) => {
            let fields: Vec<&str> = edited.changes.iter().map(|c| c.field).collect();
            Redirect::to(&format!("{href}?changed={}", fields.join(","))).into_response()
        }
        Err(OpsError::NothingToChange) => Redirect::to(&format!("{href}?changed=")).into_response(),
        Err(OpsError::Invalid(e)) => {
            // Every refusal at once, as for a new job.
            let mut errors = typed.errors();
            if !errors.iter().any(|f| f.path == e.path) {
                errors.insert(0, e);
            }
            let base_url = base_url_of(&state, key.app.as_str()).await;
            again(
                typed,
                shown,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                base_url,
            )
        }
        Err(OpsError::ChangedSince { fields, .. }) => {
            let job = match state.ops.job(&key).await {
                Ok(job) => job,
                Err(e) => return action_failed(&state, &e),
            };
            // The conflicts against the job as read now: the page shows this job's values,
            // so it must name this job's conflicts (a third writer may have come in between).
            let now_fields = ops::conflicts(&job, &shown, &typed);
            let fields = if now_fields.is_empty() {
                fields
            } else {
                now_fields
            };
            let current = JobInput::of(&job);
            let zone_untouched = !ops::touched_fields(&shown, &typed).contains(&"timezone");
            let errors = fields
                .iter()
                .map(|f| match *f {
                    "timezone" if zone_untouched => FieldError::plain(
                        "timezone",
                        format!(
                            "changed to `{}` after you opened this form: the schedule, start and end you typed are now read in it; check them",
                            job_field(&current, "timezone")
                        ),
                    ),
                    "target" => {
                        // The URL or the path, whichever is set; named as the field typed.
                        let text = |input: &JobInput| job_field(input, "target").trim().to_owned();
                        let field = if typed.path.is_some() { "path" } else { "url" };
                        conflict(field, &text(&current), &text(&typed))
                    }
                    other => conflict(other, &job_field(&current, other), &job_field(&typed, other)),
                })
                .collect();
            let review = merge_for_review(&job, &shown, &typed);
            again(
                review,
                current,
                errors,
                StatusCode::CONFLICT,
                Some(changed_at("job", job.updated_at)),
                base_url_of(&state, key.app.as_str()).await,
            )
        }
        Err(e) => action_failed(&state, &e),
    }
}

// ---- Apps ----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "app_form.html")]
struct AppFormPage {
    frame: Frame,
    /// The app's name when editing.
    name: Option<String>,
    action: String,
    cancel: String,
    submit: &'static str,
    shown: Vec<(String, String)>,
    problems: Vec<Problem>,
    fields: Vec<Field>,
    notice: Option<String>,
}

fn app_fields(name: &str, input: &AppInput, new: bool) -> Vec<Field> {
    let mut fields = Vec::new();
    if new {
        fields.push(
            Field::text(
                "app",
                "Name",
                "The name its jobs carry: lowercase letters, digits and hyphens (billing).",
                name.to_owned(),
            )
            .required(),
        );
    }
    fields.push(
        Field::text(
            "base_url",
            "Base URL",
            "Where its jobs by path are called: https://host[:port][/prefix]. Changing it moves every job by path at its next call.",
            input.base_url.clone().unwrap_or_default(),
        )
        .required(),
    );
    fields.push(Field {
        inputmode: Some("numeric"),
        ..Field::text(
            "budget",
            "Call budget",
            "At most this many of its calls in flight at once within a tick: 1 to 64. Empty: 4.",
            input.budget.clone().unwrap_or_default(),
        )
    });
    fields
}

fn app_input(form: &HashMap<String, String>, prefix: &str) -> AppInput {
    AppInput {
        base_url: given(form, &format!("{prefix}base_url")),
        budget: given(form, &format!("{prefix}budget")),
    }
}

struct AppForm<'a> {
    /// The app's name when editing.
    name: Option<&'a str>,
    typed_name: &'a str,
    input: AppInput,
    shown: Option<AppInput>,
    errors: Vec<FieldError>,
    notice: Option<String>,
}

fn app_form(state: &State, status: StatusCode, form: AppForm<'_>) -> Response {
    let mut fields = app_fields(form.typed_name, &form.input, form.name.is_none());
    let shown = form
        .shown
        .map(|shown| shown_fields(&app_fields("", &shown, false)))
        .unwrap_or_default();
    let problems = place(&mut fields, &form.errors);
    let (title, action, cancel, submit) = match form.name {
        Some(name) => (
            format!("Edit app {name}"),
            format!("/apps/{name}/edit"),
            format!("/apps/{name}"),
            "Save changes",
        ),
        None => (
            "New app".to_owned(),
            "/new-app".to_owned(),
            "/".to_owned(),
            "Create app",
        ),
    };
    let title = if problems.is_empty() && form.notice.is_none() {
        title
    } else {
        format!("Error: {title}")
    };
    render(
        status,
        &AppFormPage {
            frame: Frame::new(state, title, Utc::now()),
            name: form.name.map(str::to_owned),
            action,
            cancel,
            submit,
            shown,
            problems,
            fields,
            notice: form.notice,
        },
    )
}

/// The form for a new app record (`?app=` fills in its name).
pub(crate) async fn new_app(
    Extract(state): Extract<State>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = refuse_read_only(&state) {
        return refused;
    }
    let name = query.get("app").cloned().unwrap_or_default();
    app_form(
        &state,
        StatusCode::OK,
        AppForm {
            name: None,
            typed_name: &name,
            input: AppInput {
                base_url: None,
                budget: Some(shared::model::DEFAULT_APP_BUDGET.to_string()),
            },
            shown: None,
            errors: Vec::new(),
            notice: None,
        },
    )
}

/// Creates the app record, or shows the form again with its errors (nothing written).
pub(crate) async fn create_app(
    Extract(state): Extract<State>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let input = app_input(&form, "");
    let typed_name = form.get("app").map(|n| n.trim()).unwrap_or_default();
    let again = |errors, status| {
        app_form(
            &state,
            status,
            AppForm {
                name: None,
                typed_name,
                input: input.clone(),
                shown: None,
                errors,
                notice: None,
            },
        )
    };
    let name = match check_new_app(typed_name, &input) {
        Ok(name) => name,
        Err(errors) => return again(errors, StatusCode::UNPROCESSABLE_ENTITY),
    };
    match state
        .ops
        .create_app(name.as_str(), &input, Utc::now())
        .await
    {
        Ok(app) => Redirect::to(&format!("/apps/{}", app.name)).into_response(),
        Err(OpsError::Invalid(e)) => again(vec![e], StatusCode::UNPROCESSABLE_ENTITY),
        Err(e)
            if matches!(
                e.store_error(),
                Some(shared::store::StoreError::AppExists(_))
            ) =>
        {
            again(
                vec![FieldError::plain(
                    "app",
                    format!("an app named {name} exists already; choose another name"),
                )],
                StatusCode::CONFLICT,
            )
        }
        Err(e) => action_failed(&state, &e),
    }
}

fn app_as_form(app: &App) -> AppInput {
    AppInput {
        base_url: Some(app.base_url.to_string()),
        budget: Some(app.budget.to_string()),
    }
}

/// The form of an existing app record.
pub(crate) async fn edit_app_form(
    Extract(state): Extract<State>,
    Path(name): Path<String>,
) -> Response {
    if let Some(refused) = refuse_read_only(&state) {
        return refused;
    }
    let app = match state.ops.app(&name).await {
        Ok(app) => app,
        Err(e) => return error_page(&state, &e),
    };
    let shown = app_as_form(&app);
    app_form(
        &state,
        StatusCode::OK,
        AppForm {
            name: Some(app.name.as_str()),
            typed_name: "",
            input: shown.clone(),
            shown: Some(shown),
            errors: Vec::new(),
            notice: None,
        },
    )
}

/// Saves the fields of the app the person changed, or shows the form again (as for a job).
pub(crate) async fn edit_app(
    Extract(state): Extract<State>,
    Path(name): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(e) = ops::parse_app(&name) {
        return error_page(&state, &e.into());
    }
    let typed = app_input(&form, "");
    let shown = app_input(&form, "shown-");
    let again = |input, shown, errors, status, notice| {
        app_form(
            &state,
            status,
            AppForm {
                name: Some(&name),
                typed_name: "",
                input,
                shown: Some(shown),
                errors,
                notice,
            },
        )
    };
    match state.ops.edit_app(&name, &shown, &typed, Utc::now()).await {
        Ok(app) => Redirect::to(&format!("/apps/{}?changed=1", app.name)).into_response(),
        Err(OpsError::NothingToChange) => {
            Redirect::to(&format!("/apps/{name}?changed=0")).into_response()
        }
        Err(OpsError::Invalid(_)) => {
            let errors = typed.errors(true);
            again(typed, shown, errors, StatusCode::UNPROCESSABLE_ENTITY, None)
        }
        Err(OpsError::ChangedSince { at, fields, .. }) => {
            let app = match state.ops.app(&name).await {
                Ok(app) => app,
                Err(e) => return action_failed(&state, &e),
            };
            let now = app_as_form(&app);
            let text = |input: &AppInput, f: &str| {
                match f {
                    "base_url" => input.base_url.clone(),
                    _ => input.budget.clone(),
                }
                .unwrap_or_default()
            };
            let errors = fields
                .iter()
                .map(|f| conflict(f, &text(&now, f), &text(&typed, f)))
                .collect();
            // The person's values where they typed, the record's elsewhere.
            let review = AppInput {
                base_url: if typed.base_url != shown.base_url {
                    typed.base_url.clone()
                } else {
                    now.base_url.clone()
                },
                budget: if typed.budget != shown.budget {
                    typed.budget.clone()
                } else {
                    now.budget.clone()
                },
            };
            again(
                review,
                now,
                errors,
                StatusCode::CONFLICT,
                Some(changed_at("app", at)),
            )
        }
        Err(e) => action_failed(&state, &e),
    }
}

/// A field changed by someone else after the form was shown, and by the person too.
fn conflict(field: &'static str, now: &str, typed: &str) -> FieldError {
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
fn changed_at(what: &str, at: DateTime<Utc>) -> String {
    format!(
        "Someone changed this {what} at {} after you opened this form. Nothing was saved. Below: your values where you changed them, the {what}'s current values elsewhere.",
        format::utc(at)
    )
}

/// The app's base URL, for a job form's hints (none without a record, or when it cannot be
/// read: the form works without it).
async fn base_url_of(state: &State, app: &str) -> Option<String> {
    state
        .ops
        .app(app)
        .await
        .ok()
        .map(|a| a.base_url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_runs_from_the_start_up_to_the_end_read_in_the_dates_zone() {
        let now = DateTime::parse_from_rfc3339("2029-12-01T00:00:00Z")
            .expect("now")
            .with_timezone(&Utc);
        let ny = |dates_zone| {
            Preview::of(
                "0 9 * * *",
                "America/New_York",
                ("2030-01-01T10:00", "2030-01-03T12:00", dates_zone),
                now,
            )
        };
        // Read in New York: 10:00 is after that day's 09:00 run.
        let in_new_york = ny(None);
        assert_eq!(
            in_new_york.runs,
            ["2030-01-02 09:00:00 EST", "2030-01-03 09:00:00 EST"]
        );
        // Kept from a form that showed Berlin: 10:00 Berlin is 04:00 in New York, and the
        // end, 12:00 Berlin, is 06:00 there.
        let kept = ny(Some("Europe/Berlin"));
        assert_eq!(
            kept.runs,
            ["2030-01-01 09:00:00 EST", "2030-01-02 09:00:00 EST"]
        );
        assert_eq!(kept.reading.as_deref(), Some("At 09:00"));
        let refused = Preview::of("0 9 * * *", "UTC", ("tomorrow", "", None), now);
        assert!(
            refused
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("Start: `tomorrow` is not accepted")),
            "{refused:?}"
        );
    }
}
