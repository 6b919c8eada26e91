//! An app record's form (new and edit): its fields and its page.

use askama::Template;
use chrono::Utc;
use shared::ops::{AppInput, FieldError};

use super::Frame;
use super::form::{Field, Problem, place, shown_fields};
use crate::context::Ctx;

#[derive(Template)]
#[template(path = "app_form.html")]
pub(crate) struct AppFormPage {
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
    fields.push(Field::text(
        "timezone",
        "Default time zone",
        "The IANA zone its new jobs take when given none (America/Los_Angeles). Empty: UTC. Its existing jobs keep their zone.",
        input.timezone.clone().unwrap_or_default(),
    ));
    // The webhook is a secret: its input is always empty (never the value typed or stored).
    fields.push(Field::text(
        "webhook",
        "Failure webhook",
        if new {
            "A Slack or Teams incoming webhook (https://...) told when a job fails, and when it recovers. Never shown once saved. Empty: nobody is told."
        } else {
            "A Slack or Teams incoming webhook (https://...) told when a job fails, and when it recovers. Never shown: leave empty to keep the current one."
        },
        String::new(),
    ));
    if !new {
        fields.push(Field {
            checkbox: true,
            ..Field::text(
                "remove_webhook",
                "Remove the webhook",
                "Nobody is told of failures any more.",
                if input.remove_webhook { "on" } else { "" }.to_owned(),
            )
        });
    }
    fields.push(Field {
        inputmode: Some("numeric"),
        ..Field::text(
            "notify_after",
            "Notify after",
            "The webhook is told after this many failed or timed-out runs in a row of a job: 1 to 100. Empty: 1.",
            input.notify_after.clone().unwrap_or_default(),
        )
    });
    fields
}

pub(crate) struct AppForm<'a> {
    /// The app's name when editing.
    pub name: Option<&'a str>,
    pub typed_name: &'a str,
    pub input: AppInput,
    pub shown: Option<AppInput>,
    pub errors: Vec<FieldError>,
    pub notice: Option<String>,
}

impl AppFormPage {
    /// The page of `form`: its fields filled and its refusals placed.
    pub(crate) fn new(ctx: &Ctx, form: AppForm<'_>) -> Self {
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
        Self {
            frame: Frame::new(ctx, title, Utc::now()),
            name: form.name.map(str::to_owned),
            action,
            cancel,
            submit,
            shown,
            problems,
            fields,
            notice: form.notice,
        }
    }
}
