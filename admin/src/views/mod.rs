//! The view models: one askama template struct per page (templates/NAME.html), each built
//! from what the operations layer returned by a plain function of that data and the request's
//! [`Ctx`], never reading the store. Askama escapes every value.
//!
//! A new page: its template in admin/templates/, its struct and builder in a file here, its
//! handler in handlers/ and its route in router.rs.

pub(crate) mod app;
pub(crate) mod app_form;
pub(crate) mod backfill;
pub(crate) mod bulk;
pub(crate) mod delete;
pub(crate) mod execution;
pub(crate) mod form;
pub(crate) mod job;
pub(crate) mod job_form;
pub(crate) mod overview;
pub(crate) mod preview;
pub(crate) mod timeline;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use shared::model::{AppPause, Job, Status};
use shared::ops::views::ShownState;

use crate::context::Ctx;
use crate::format;

/// What every page's frame (base.html) shows: its title, whether actions are offered, the
/// CSRF token of its POST forms, and when it was built.
pub(crate) struct Frame {
    pub title: String,
    pub read_only: bool,
    pub csrf: String,
    pub built: String,
}

impl Frame {
    pub(crate) fn new(ctx: &Ctx, title: impl Into<String>, built: DateTime<Utc>) -> Self {
        Self {
            title: title.into(),
            read_only: ctx.read_only,
            csrf: ctx
                .csrf
                .as_ref()
                .map(|csrf| csrf.reveal().to_owned())
                .unwrap_or_default(),
            built: format::utc(built),
        }
    }
}

/// A status as the templates show it: symbol, word, colour class.
pub(crate) struct StatusCell {
    pub glyph: &'static str,
    pub word: &'static str,
    pub class: &'static str,
}

impl From<Status> for StatusCell {
    fn from(s: Status) -> Self {
        Self {
            glyph: format::glyph(s),
            word: format::word(s),
            class: format::class(s),
        }
    }
}

/// The page as HTML with `status`; a page that fails to render is a 500 in one line.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin: a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered\n",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    wrong: bool,
}

/// The sign-in page (a wrong token says so).
pub(crate) fn login_page(status: StatusCode, wrong: bool) -> Response {
    render(status, &LoginPage { wrong })
}

/// A refusal in one line inside the page frame (error.rs draws it).
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub frame: Frame,
    pub message: String,
}

/// A job's page.
pub(crate) fn job_href(app: &str, name: &str) -> String {
    format!("/apps/{}/jobs/{}", app, name)
}

/// An instant as a table cell shows it (templates/time.html): relative to the page's time
/// (`2 min ago`), the exact instant in the column's zone on hover and for screen readers
/// (`title`), and machine-readable (`datetime`, RFC 3339 UTC).
pub(crate) struct Moment {
    pub datetime: String,
    pub title: String,
    pub text: String,
}

impl Moment {
    /// `t` seen at `now`, its exact instant written in `tz`.
    pub(crate) fn new(t: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> Self {
        Self {
            datetime: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            title: format::local(t, tz),
            text: format::relative(t, now),
        }
    }
}

/// A job's state as the lists show it ([`ShownState`], shared with the CLI): how the admin
/// filters and styles it.
pub(crate) trait ShownStyle {
    /// The value of the state filter that keeps it (`paused` for both pauses).
    fn filter(self) -> &'static str;
    /// Its style (admin.css): both pauses look alike.
    fn class(self) -> &'static str;
}

impl ShownStyle for ShownState {
    fn filter(self) -> &'static str {
        match self {
            ShownState::Active => "active",
            ShownState::Paused | ShownState::AppPaused => "paused",
            ShownState::Ended => "ended",
        }
    }

    fn class(self) -> &'static str {
        match self {
            ShownState::Active => "state-active",
            ShownState::Paused | ShownState::AppPaused => "state-paused",
            ShownState::Ended => "state-ended",
        }
    }
}

/// A job's next run as a [`Moment`] (exact in `tz`), or why it has none; a job of a paused
/// app (`app_paused`) has none.
pub(crate) fn next_run(
    job: &Job,
    app_paused: bool,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<Moment, &'static str> {
    match ShownState::of(job, app_paused) {
        ShownState::Active => job
            .state
            .next_slot
            .map(|t| Moment::new(t, now, tz))
            .ok_or("—"),
        ShownState::Paused => Err("— (paused)"),
        ShownState::AppPaused => Err("— (app paused)"),
        ShownState::Ended => Err("— (ended)"),
    }
}

/// A paused app's notice on the pages of its jobs (templates/paused_app.html): the app, with
/// a link to its page, since when and why.
pub(crate) struct PausedApp {
    pub app: String,
    pub href: String,
    pub reason: String,
    pub since: Moment,
}

impl PausedApp {
    /// The notice of `pause`, the pause of `app`, read at `now`.
    pub(crate) fn new(app: &str, pause: &AppPause, now: DateTime<Utc>) -> Self {
        Self {
            app: app.to_owned(),
            href: format!("/apps/{app}"),
            reason: pause.reason.to_string(),
            since: Moment::new(pause.since, now, Tz::UTC),
        }
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
