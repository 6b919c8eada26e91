//! A job's form (new and edit): its fields, in the order of the page, and its page.

use askama::Template;
use chrono::Utc;
use shared::ops::{FIELDS, FieldError, JobField, JobInput};

use super::form::{Field, Problem, place, shown_fields};
use super::preview::Preview;
use super::{Frame, job_href};
use crate::context::Ctx;

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

/// The fields of a job's form, filled with `input` (`new`: the name and "create paused"):
/// those of [`FIELDS`], in its order; `base_url` is the app's, which a path is under.
fn job_fields(name: &str, input: &JobInput, new: bool, base_url: Option<&str>) -> Vec<Field> {
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
    fields.extend(
        FIELDS
            .iter()
            .map(|f| job_field(f, (f.form_value)(input), base_url, new)),
    );
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

/// One of [`FIELDS`] as the form shows it, holding `value`: its name and label from the list,
/// its hint and widget from here (a field not named here is a text box without a hint).
/// `new`: the form creates the job (an empty zone then takes the app's default).
fn job_field(f: &JobField, value: Option<String>, base_url: Option<&str>, new: bool) -> Field {
    let text = |hint: &str| Field::text(f.name, f.label, hint, value.clone().unwrap_or_default());
    // A choice shows the first option when the input holds none.
    let select = |hint, options: &[(&'static str, &'static str)]| {
        Field::select(
            f.name,
            f.label,
            hint,
            options,
            value.as_deref().unwrap_or(options[0].0),
        )
    };
    match f.name {
        "url" => text(
            "The address to call (https://billing.example.edu/jobs/invoices). Give it or a path.",
        ),
        "path" => text(&match base_url {
            Some(base) => format!(
                "Or a path under the app's base URL, {base} (/scheduled/invoices): the job follows the app when its base URL changes."
            ),
            None => "Or a path under the app's base URL, once the app has one (its record): the job follows the app when its base URL changes.".to_owned(),
        }),
        "method" => select("How the URL is called.", &METHODS),
        "schedule" => Field {
            described_by: Some("preview"),
            ..text(
                "A cron expression (0 9 * * mon-fri), every 15m [between 08:00-17:00] [on mon-fri], or at 08:00,13:30 [on mon,wed]. Its next runs are previewed below.",
            )
            .required()
        },
        "timezone" => Field {
            list: Some("zones"),
            ..text(if new {
                "An IANA zone (America/Los_Angeles); the schedule, start and end are read in it. Empty: the app's default zone (UTC when it has none)."
            } else {
                "An IANA zone (America/Los_Angeles); the schedule, start and end are read in it. Empty: UTC."
            })
        },
        "start" => text(
            "Optional: no run before it. A date (2026-12-01) or date and time (2026-12-01T08:00) in the job's zone, or RFC 3339.",
        ),
        "end" => text("Optional: no run after it, in the same forms as the start."),
        "timeout" => text(
            "How long a call may take before it counts as timed out: 30s, 2m (more than 0, at most 14m). Empty: 30s.",
        ),
        "retries" => Field {
            inputmode: Some("numeric"),
            ..text("How many times a failed call is tried again: 0 to 5. Empty: 0.")
        },
        "max_lateness" => text(
            "How late a slot may still be called (after an outage): 1h, 15m. Empty: 1h.",
        ),
        "jitter" => text(
            "Optional: spread the calls over a window after each slot, 5m for instance: each call is due at its slot plus a fixed offset under it, from the job's id and the slot. Less than the schedule's smallest gap between two runs. Empty: none.",
        ),
        "overlap" => select(
            "Whether a slot may start while the previous call still runs.",
            &OVERLAPS,
        ),
        "description" => Field {
            textarea: true,
            ..text("Optional: what the job does, for the people reading its page.")
        },
        _ => text(""),
    }
}

#[derive(Template)]
#[template(path = "job_form.html")]
pub(crate) struct JobFormPage {
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

pub(crate) struct JobForm<'a> {
    pub app: &'a str,
    /// The app's base URL, for the path's hint.
    pub base_url: Option<String>,
    /// The job's name when editing.
    pub name: Option<&'a str>,
    /// What the fields hold.
    pub input: JobInput,
    /// What an edit form shows as the job's settings (often `input`).
    pub shown: Option<JobInput>,
    pub typed_name: String,
    pub errors: Vec<FieldError>,
    pub notice: Option<String>,
}

impl JobFormPage {
    /// The page of `form`: its fields filled, its refusals placed, its schedule previewed.
    pub(crate) fn new(ctx: &Ctx, form: JobForm<'_>) -> Self {
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
            let kept = |pick: fn(&JobInput) -> &Option<String>| {
                text(pick(shown)) == text(pick(&form.input))
            };
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
        Self {
            frame: Frame::new(ctx, title, now),
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
        }
    }
}
