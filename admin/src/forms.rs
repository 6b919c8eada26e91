//! The forms: create and edit a job, create and edit an app, each through the operations
//! layer with the CLI's validation. A refused form comes back with what was typed, each
//! error next to its field and listed above the form, and nothing written. The schedule
//! field previews its reading and next runs: live with the admin's small script, or with
//! the form's Preview button without it.

use std::collections::HashMap;

use askama::Template;
use axum::Json;
use axum::extract::{Form, Path, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::model::{App, Job, OverlapPolicy};
use shared::ops::{
    self, AppInput, FieldError, JobInput, JobKey, OpsError, ScheduleForm, check_new_app,
    check_new_job, overlap_name, parse_seen, seen_text,
};

use crate::format;
use crate::pages::{Frame, State, action_failed, error_page, job_href, not_done, render};

/// The runs a preview lists.
pub(crate) const PREVIEW_RUNS: usize = 5;

/// One input of a form, as the template draws it.
pub(crate) struct Field {
    /// The input's name (the operations layer's field key) and, as `f-{name}`, its id.
    pub name: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub value: String,
    pub error: Option<String>,
    /// A choice among these (a `select`) when not empty.
    pub options: Vec<Choice>,
    /// A checkbox, checked when `value` is `on`.
    pub checkbox: bool,
    /// `inputmode` for the phone keyboards (`numeric`).
    pub inputmode: Option<&'static str>,
    /// The id of a `datalist` of suggestions.
    pub list: Option<&'static str>,
}

pub(crate) struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

impl Field {
    fn text(name: &'static str, label: &'static str, hint: &'static str, value: String) -> Self {
        Self {
            name,
            label,
            hint,
            value,
            error: None,
            options: Vec::new(),
            checkbox: false,
            inputmode: None,
            list: None,
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

/// Puts each refusal next to its field, and all of them in the list above the form. A
/// reference to another field in a message is written as that field's label.
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
    // In the order of the fields on the page, the form's own problems first.
    let order = |p: &Problem| {
        p.field
            .and_then(|name| fields.iter().position(|f| f.name == name))
    };
    problems.sort_by_key(|p| order(p).map_or(0, |i| i + 1));
    problems
}

/// A schedule's preview: its reading in words and next runs, or why it is refused.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Preview {
    /// The schedule in words.
    pub reading: Option<String>,
    /// The zone the runs are shown in.
    pub zone: Option<String>,
    /// The next runs, in the zone.
    pub runs: Vec<String>,
    /// Why the schedule or zone is refused.
    pub error: Option<String>,
}

impl Preview {
    /// The preview of `schedule` read in `timezone` (empty: UTC) at `now`.
    pub(crate) fn of(schedule: &str, timezone: &str, now: DateTime<Utc>) -> Self {
        if schedule.trim().is_empty() {
            return Self::default();
        }
        let zone = Some(timezone.trim()).filter(|z| !z.is_empty());
        match ops::next(schedule.trim(), zone, PREVIEW_RUNS, now) {
            Ok(p) => Self {
                reading: Some(p.schedule.describe().trim_end_matches('.').to_owned()),
                zone: Some(p.timezone.name().to_owned()),
                runs: p
                    .times
                    .iter()
                    .map(|t| format::local(*t, p.timezone))
                    .collect(),
                error: None,
            },
            Err(e) => Self {
                error: Some(match &e {
                    OpsError::Invalid(f) => format!("{}: {}", label_of(f), f.message),
                    other => other.to_string(),
                }),
                ..Self::default()
            },
        }
    }
}

fn label_of(e: &FieldError) -> &'static str {
    match e.path.leaf() {
        Some("timezone") => "Time zone",
        _ => "Schedule",
    }
}

/// The preview for the admin's script: `GET /preview?schedule=...&timezone=...`.
pub(crate) async fn preview(Query(query): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
    Json(Preview::of(get("schedule"), get("timezone"), Utc::now())).into_response()
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

/// The fields of a job's form, filled with `input` (`new`: the name and "create paused").
fn job_fields(name: &str, input: &JobInput, new: bool) -> Vec<Field> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut fields = Vec::new();
    if new {
        fields.push(Field::text(
            "name",
            "Name",
            "Lowercase letters, digits and hyphens, unique within the app (send-invoices).",
            name.to_owned(),
        ));
    }
    fields.extend([
        Field::text(
            "url",
            "URL",
            "The address to call (https://billing.example.edu/jobs/invoices). Leave it empty to give a path instead.",
            text(&input.url),
        ),
        Field::text(
            "path",
            "Path",
            "Or a path under the app's base URL (/scheduled/invoices): the job follows the app when its base URL changes.",
            text(&input.path),
        ),
        Field::select(
            "method",
            "Method",
            "How the URL is called.",
            &METHODS,
            input.method.as_deref().unwrap_or("GET"),
        ),
        Field::text(
            "schedule",
            "Schedule",
            "A cron expression (0 9 * * mon-fri), every 15m [between 08:00-17:00] [on mon-fri], or at 08:00,13:30 [on mon,wed].",
            text(&input.schedule.cron),
        ),
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
        Field::text(
            "description",
            "Description",
            "Optional: what the job does, for the people reading this page.",
            text(&input.description),
        ),
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

/// A job's form as posted: every field as typed (an empty one is not given).
fn job_input(form: &HashMap<String, String>) -> JobInput {
    let get = |k: &str| {
        form.get(k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
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
        // A description may be cleared: empty is a value here.
        description: Some(
            form.get("description")
                .map(|d| d.trim().to_owned())
                .unwrap_or_default(),
        ),
        paused: form.get("paused").is_some_and(|v| v == "on"),
    }
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
    seen: Option<String>,
    problems: Vec<Problem>,
    fields: Vec<Field>,
    preview: Preview,
    zones: Vec<&'static str>,
    notice: Option<String>,
}

struct JobForm<'a> {
    app: &'a str,
    name: Option<&'a str>,
    input: JobInput,
    typed_name: String,
    seen: Option<DateTime<Utc>>,
    errors: Vec<FieldError>,
    notice: Option<String>,
}

fn job_form(state: &State, status: StatusCode, form: JobForm<'_>) -> Response {
    let now = Utc::now();
    let mut fields = job_fields(&form.typed_name, &form.input, form.name.is_none());
    let problems = place(&mut fields, &form.errors);
    let preview = Preview::of(
        form.input.schedule.cron.as_deref().unwrap_or(""),
        form.input.timezone.as_deref().unwrap_or(""),
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
    render(
        status,
        &JobFormPage {
            frame: Frame::new(
                state,
                if problems.is_empty() {
                    title
                } else {
                    format!("Error: {title}")
                },
                now,
            ),
            app: form.app.to_owned(),
            app_href,
            name: form.name.map(str::to_owned),
            action,
            cancel,
            submit,
            seen: form.seen.map(seen_text),
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

/// The form for a new job of the app.
pub(crate) async fn new_job(Extract(state): Extract<State>, Path(app): Path<String>) -> Response {
    if let Some(refused) = refuse_read_only(&state) {
        return refused;
    }
    if let Err(e) = ops::parse_app(&app) {
        return error_page(&state, &e.into());
    }
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
            name: None,
            input,
            typed_name: String::new(),
            seen: None,
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
    let input = job_input(&form);
    let typed_name = form.get("name").cloned().unwrap_or_default();
    let again = |errors: Vec<FieldError>, status| {
        job_form(
            &state,
            status,
            JobForm {
                app: &app,
                name: None,
                input: input.clone(),
                typed_name: typed_name.clone(),
                seen: None,
                errors,
                notice: None,
            },
        )
    };
    if form.get("action").is_some_and(|a| a == "preview") {
        return again(Vec::new(), StatusCode::OK);
    }
    let key = match check_new_job(&app, typed_name.trim(), &input) {
        Ok(key) => key,
        Err(errors) => return again(errors, StatusCode::UNPROCESSABLE_ENTITY),
    };
    match state.ops.create(&key, &input, Utc::now()).await {
        Ok(job) => Redirect::to(&format!(
            "{}?created=1",
            job_href(job.app.as_str(), job.name.as_str())
        ))
        .into_response(),
        Err(OpsError::Invalid(e)) => again(vec![e], StatusCode::UNPROCESSABLE_ENTITY),
        Err(e) if is_taken(&e) => again(
            vec![FieldError::plain(
                "name",
                format!(
                    "the app {app} already has a job named {}; choose another name",
                    key.name
                ),
            )],
            StatusCode::CONFLICT,
        ),
        Err(e) => action_failed(&state, &e),
    }
}

fn is_taken(e: &OpsError) -> bool {
    matches!(
        e.store_error(),
        Some(shared::store::StoreError::AlreadyExists(..))
    )
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
    shown_job(
        &state,
        &job,
        StatusCode::OK,
        JobInput::of(&job),
        Vec::new(),
        None,
    )
}

fn shown_job(
    state: &State,
    job: &Job,
    status: StatusCode,
    input: JobInput,
    errors: Vec<FieldError>,
    notice: Option<String>,
) -> Response {
    job_form(
        state,
        status,
        JobForm {
            app: job.app.as_str(),
            name: Some(job.name.as_str()),
            input,
            typed_name: String::new(),
            seen: Some(job.updated_at),
            errors,
            notice,
        },
    )
}

/// Saves the edited job (only what differs), or shows the form again: with its errors, or,
/// when someone changed the job after the form was read, with the typed values and the
/// time of that change, ready to be saved over it once reviewed.
pub(crate) async fn edit_job(
    Extract(state): Extract<State>,
    Path((app, name)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let key = match JobKey::parse(&app, &name) {
        Ok(key) => key,
        Err(e) => return action_failed(&state, &e.into()),
    };
    let input = job_input(&form);
    let seen = form.get("seen").map(|s| parse_seen(s));
    let again = |errors: Vec<FieldError>, seen: Option<DateTime<Utc>>, status, notice| {
        job_form(
            &state,
            status,
            JobForm {
                app: key.app.as_str(),
                name: Some(key.name.as_str()),
                input: input.clone(),
                typed_name: String::new(),
                seen,
                errors,
                notice,
            },
        )
    };
    let seen = match seen {
        Some(Ok(seen)) => seen,
        Some(Err(e)) => return again(vec![e], None, StatusCode::BAD_REQUEST, None),
        None => {
            return again(
                vec![FieldError::plain("seen", "missing; reload the form")],
                None,
                StatusCode::BAD_REQUEST,
                None,
            );
        }
    };
    if form.get("action").is_some_and(|a| a == "preview") {
        return again(Vec::new(), Some(seen), StatusCode::OK, None);
    }
    let errors = input.errors();
    if !errors.is_empty() {
        return again(errors, Some(seen), StatusCode::UNPROCESSABLE_ENTITY, None);
    }
    match state.ops.edit(&key, &input, seen, Utc::now()).await {
        Ok(edited) => {
            let fields: Vec<&str> = edited.changes.iter().map(|c| c.field).collect();
            Redirect::to(&format!(
                "{}?changed={}",
                job_href(key.app.as_str(), key.name.as_str()),
                fields.join(",")
            ))
            .into_response()
        }
        Err(OpsError::Invalid(e)) => {
            again(vec![e], Some(seen), StatusCode::UNPROCESSABLE_ENTITY, None)
        }
        Err(OpsError::NothingToChange) => Redirect::to(&format!(
            "{}?changed=",
            job_href(key.app.as_str(), key.name.as_str())
        ))
        .into_response(),
        Err(OpsError::ChangedSince { what, at }) => {
            // The form again, now carrying the time of that change: saving it once more
            // writes over the change the person has now been told of.
            let message = OpsError::ChangedSince { what, at }.to_string();
            again(Vec::new(), Some(at), StatusCode::CONFLICT, Some(message))
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
    seen: Option<String>,
    problems: Vec<Problem>,
    fields: Vec<Field>,
    notice: Option<String>,
}

fn app_fields(name: &str, input: &AppInput, new: bool) -> Vec<Field> {
    let mut fields = Vec::new();
    if new {
        fields.push(Field::text(
            "app",
            "Name",
            "The name its jobs carry: lowercase letters, digits and hyphens (billing).",
            name.to_owned(),
        ));
    }
    fields.push(Field::text(
        "base_url",
        "Base URL",
        "Where its jobs by path are called: https://host[:port][/prefix]. Changing it moves every job by path at its next call.",
        input.base_url.clone().unwrap_or_default(),
    ));
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

fn app_input(form: &HashMap<String, String>) -> AppInput {
    let get = |k: &str| {
        form.get(k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    AppInput {
        base_url: get("base_url"),
        budget: get("budget"),
    }
}

struct AppForm<'a> {
    name: Option<&'a str>,
    typed_name: &'a str,
    input: &'a AppInput,
    seen: Option<DateTime<Utc>>,
    errors: Vec<FieldError>,
    notice: Option<String>,
}

fn app_form(state: &State, status: StatusCode, form: AppForm<'_>) -> Response {
    let mut fields = app_fields(form.typed_name, form.input, form.name.is_none());
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
    render(
        status,
        &AppFormPage {
            frame: Frame::new(
                state,
                if problems.is_empty() {
                    title
                } else {
                    format!("Error: {title}")
                },
                Utc::now(),
            ),
            name: form.name.map(str::to_owned),
            action,
            cancel,
            submit,
            seen: form.seen.map(seen_text),
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
    let input = AppInput {
        base_url: None,
        budget: Some(shared::model::DEFAULT_APP_BUDGET.to_string()),
    };
    app_form(
        &state,
        StatusCode::OK,
        AppForm {
            name: None,
            typed_name: &name,
            input: &input,
            seen: None,
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
    let input = app_input(&form);
    let typed_name = form.get("app").map(|n| n.trim()).unwrap_or_default();
    let again = |errors, status| {
        app_form(
            &state,
            status,
            AppForm {
                name: None,
                typed_name,
                input: &input,
                seen: None,
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

fn shown_app(app: &App) -> AppInput {
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
    app_form(
        &state,
        StatusCode::OK,
        AppForm {
            name: Some(app.name.as_str()),
            typed_name: "",
            input: &shown_app(&app),
            seen: Some(app.updated_at),
            errors: Vec::new(),
            notice: None,
        },
    )
}

/// Saves the edited app record (only what differs), or shows the form again.
pub(crate) async fn edit_app(
    Extract(state): Extract<State>,
    Path(name): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let input = app_input(&form);
    let again = |errors, seen, status, notice| {
        app_form(
            &state,
            status,
            AppForm {
                name: Some(&name),
                typed_name: "",
                input: &input,
                seen,
                errors,
                notice,
            },
        )
    };
    let seen = match form.get("seen").map(|s| parse_seen(s)) {
        Some(Ok(seen)) => seen,
        Some(Err(e)) => return again(vec![e], None, StatusCode::BAD_REQUEST, None),
        None => {
            return again(
                vec![FieldError::plain("seen", "missing; reload the form")],
                None,
                StatusCode::BAD_REQUEST,
                None,
            );
        }
    };
    let errors = input.errors(false);
    if !errors.is_empty() {
        return again(errors, Some(seen), StatusCode::UNPROCESSABLE_ENTITY, None);
    }
    match state.ops.edit_app(&name, &input, seen, Utc::now()).await {
        Ok(app) => Redirect::to(&format!("/apps/{}?changed=1", app.name)).into_response(),
        Err(OpsError::NothingToChange) => {
            Redirect::to(&format!("/apps/{name}?changed=0")).into_response()
        }
        Err(OpsError::Invalid(e)) => {
            again(vec![e], Some(seen), StatusCode::UNPROCESSABLE_ENTITY, None)
        }
        Err(OpsError::ChangedSince { what, at }) => {
            let message = OpsError::ChangedSince { what, at }.to_string();
            again(Vec::new(), Some(at), StatusCode::CONFLICT, Some(message))
        }
        Err(e) => action_failed(&state, &e),
    }
}
