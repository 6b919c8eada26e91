//! The pages: each handler parses the request, calls the operations layer, and renders a
//! template (askama escapes every value). docs/admin.md lists each page's store requests.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use shared::clock::SystemClock;
use shared::config::{Config, Runner};
use shared::model::{Execution, Job, Status};
use shared::ops::stats::STATS_LIMIT;
use shared::ops::views::{JobStatus, upcoming};
use shared::ops::{JobKey, JobStatsView, OVERVIEW_HISTORY_JOBS, Ops, OpsError, reconciled};

use crate::format;
use crate::forms;
use crate::timeline::{self, Timeline};

/// The executions the job page reads (its timeline and table).
pub const JOB_PAGE_EXECUTIONS: usize = 100;

/// The rows of the job page's executions table.
const JOB_PAGE_TABLE: usize = 20;

/// The runs the job page previews.
const NEXT_RUNS: usize = 10;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct State {
    pub ops: Arc<Ops>,
    pub read_only: bool,
    /// The CSRF token of the request's session, which every POST form carries
    /// (docs/admin.md, Security): filled in per request by [`Extract`].
    pub csrf: Option<crate::Token>,
}

/// The handlers' [`State`] for one request: the shared one, with the CSRF token of the
/// request's session (put in the request's extensions by the security checks).
pub(crate) struct Extract<T>(pub T);

impl FromRequestParts<State> for Extract<State> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &State,
    ) -> Result<Self, Self::Rejection> {
        let mut state = state.clone();
        state.csrf = parts
            .extensions
            .get::<crate::security::SessionCsrf>()
            .map(|csrf| csrf.0.clone());
        Ok(Self(state))
    }
}

const CSS: &str = include_str!("../assets/admin.css");

/// The one script (docs/admin.md): the live schedule preview, and a running execution's page
/// reloaded when the run ends.
const JS: &str = include_str!("../assets/admin.js");

pub(crate) fn routes(state: State) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/new-app", get(forms::new_app).post(forms::create_app))
        .route("/apps/{app}", get(app))
        .route(
            "/apps/{app}/edit",
            get(forms::edit_app_form).post(forms::edit_app),
        )
        .route(
            "/apps/{app}/delete",
            get(confirm_delete_app).post(delete_app),
        )
        .route(
            "/apps/{app}/new-job",
            get(forms::new_job).post(forms::create_job),
        )
        .route("/apps/{app}/jobs/{job}", get(job))
        .route(
            "/apps/{app}/jobs/{job}/edit",
            get(forms::edit_job_form).post(forms::edit_job),
        )
        .route("/apps/{app}/jobs/{job}/pause", post(pause))
        .route("/apps/{app}/jobs/{job}/resume", post(resume))
        .route("/apps/{app}/jobs/{job}/run", post(run_now))
        .route(
            "/apps/{app}/jobs/{job}/delete",
            get(confirm_delete).post(delete),
        )
        .route("/executions/{id}", get(execution))
        .route("/executions/{id}/status", get(execution_status))
        .route("/preview", get(forms::preview))
        .route("/assets/admin.css", get(css))
        .route("/assets/admin.js", get(js))
        // Answered by the security middleware; routed so that it runs for them.
        .route("/login", get(not_found))
        .route("/logout", post(not_found))
        .fallback(not_found)
        .with_state(state)
}

/// What every page's frame (base.html) shows: its title, whether actions are offered, the
/// CSRF token of its POST forms, and when it was built.
pub(crate) struct Frame {
    pub title: String,
    pub read_only: bool,
    pub csrf: String,
    pub built: String,
}

impl Frame {
    pub(crate) fn new(state: &State, title: impl Into<String>, built: DateTime<Utc>) -> Self {
        Self {
            title: title.into(),
            read_only: state.read_only,
            csrf: state
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

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    frame: Frame,
    message: String,
}

pub(crate) fn error_page(state: &State, e: &OpsError) -> Response {
    let (status, title) = match e {
        OpsError::NotFound(..) | OpsError::AppNotFound(_) | OpsError::ExecutionNotFound(_) => {
            (StatusCode::NOT_FOUND, "Not found")
        }
        OpsError::Invalid(_) => (StatusCode::BAD_REQUEST, "Not accepted"),
        _ => {
            tracing::error!(error = %e, "admin: a page could not read the store");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The store could not be read",
            )
        }
    };
    render(
        status,
        &ErrorPage {
            frame: Frame::new(state, title.to_owned(), Utc::now()),
            message: e.to_string(),
        },
    )
}

async fn not_found(Extract(state): Extract<State>) -> Response {
    render(
        StatusCode::NOT_FOUND,
        &ErrorPage {
            frame: Frame::new(&state, "Not found".to_owned(), Utc::now()),
            message: "There is no page at this address.".to_owned(),
        },
    )
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
        .into_response()
}

pub(crate) fn job_href(app: &str, name: &str) -> String {
    format!("/apps/{}/jobs/{}", app, name)
}

fn next_run(job: &Job) -> String {
    match JobStatus::of(job) {
        JobStatus::Active => job
            .state
            .next_slot
            .map(|t| format::local(t, job.timezone))
            .unwrap_or_else(|| "—".to_owned()),
        JobStatus::Paused => "— (paused)".to_owned(),
        JobStatus::Ended => "— (ended)".to_owned(),
    }
}

// ---- Overview ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    frame: Frame,
    notice: Option<String>,
    job_count: usize,
    failing: usize,
    apps: Vec<AppGroup>,
    attention: Vec<Attention>,
    unread: usize,
    history_jobs: usize,
}

struct AppGroup {
    name: String,
    href: String,
    base_url: Option<String>,
    jobs: Vec<OverviewRow>,
}

struct OverviewRow {
    name: String,
    href: String,
    state: &'static str,
    late: bool,
    last: Option<StatusCell>,
    failures: String,
    next: String,
}

struct Attention {
    job: String,
    job_href: String,
    what: String,
    status: Option<StatusCell>,
    slot: String,
    exec_href: Option<String>,
}

/// The overview's query: the notice after an app was deleted.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OverviewQuery {
    deleted_app: Option<String>,
}

async fn overview(Extract(state): Extract<State>, Query(query): Query<OverviewQuery>) -> Response {
    let now = Utc::now();
    let overview = match state.ops.overview(now).await {
        Ok(o) => o,
        Err(e) => return error_page(&state, &e),
    };
    let mut groups: Vec<AppGroup> = overview
        .apps
        .iter()
        .map(|a| AppGroup {
            name: a.name.to_string(),
            href: format!("/apps/{}", a.name),
            base_url: Some(a.base_url.to_string()),
            jobs: Vec::new(),
        })
        .collect();
    let mut attention = Vec::new();
    let mut failing = 0;
    for health in &overview.jobs {
        let job = &health.job;
        let app = job.app.to_string();
        let i = match groups.iter().position(|g| g.name == app) {
            Some(i) => i,
            None => {
                groups.push(AppGroup {
                    href: format!("/apps/{app}"),
                    name: app.clone(),
                    base_url: None,
                    jobs: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let href = job_href(job.app.as_str(), job.name.as_str());
        let label = format!("{}/{}", job.app, job.name);
        if health.failures_24h.is_some_and(|n| n > 0) {
            failing += 1;
        }
        if health.late {
            attention.push(Attention {
                job: label.clone(),
                job_href: href.clone(),
                what: "late: its next run is past due and no tick has taken it".to_owned(),
                status: None,
                slot: job
                    .state
                    .next_slot
                    .map(|t| format::local(t, job.timezone))
                    .unwrap_or_default(),
                exec_href: None,
            });
        }
        for e in &health.problems {
            attention.push(Attention {
                job: label.clone(),
                job_href: href.clone(),
                what: if reconciled(e) {
                    "reconciled: no outcome came back before its deadline".to_owned()
                } else {
                    String::new()
                },
                status: Some(e.status.into()),
                slot: format::local(e.scheduled_for, job.timezone),
                exec_href: Some(format!("/executions/{}", e.id)),
            });
        }
        groups[i].jobs.push(OverviewRow {
            name: job.name.to_string(),
            href,
            state: JobStatus::of(job).as_str(),
            late: health.late,
            last: job.state.last.as_ref().map(|l| l.status.into()),
            failures: match health.failures_24h {
                Some(n) if health.failures_capped => format!("{n} or more"),
                Some(n) => n.to_string(),
                None => "not read".to_owned(),
            },
            next: next_run(job),
        });
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    // Only an app name that is no longer listed (the query is anyone's to write).
    let notice = query
        .deleted_app
        .filter(|d| shared::ops::parse_app(d).is_ok() && !groups.iter().any(|g| &g.name == d))
        .map(|d| format!("Deleted the app record {d}."));
    render(
        StatusCode::OK,
        &OverviewPage {
            frame: Frame::new(&state, "Overview".to_owned(), now),
            notice,
            job_count: overview.jobs.len(),
            failing,
            apps: groups,
            attention,
            unread: overview.unread,
            history_jobs: OVERVIEW_HISTORY_JOBS,
        },
    )
}

// ---- App -----------------------------------------------------------------------------------

/// The app page's query: filters and sort, all optional.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AppQuery {
    q: Option<String>,
    state: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    /// The job just deleted from this page's job (the notice after a delete).
    deleted: Option<String>,
    /// After the app's form: `1` saved, `0` nothing changed.
    changed: Option<String>,
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage {
    frame: Frame,
    name: String,
    href: String,
    base_url: Option<String>,
    notice: Option<String>,
    budget: Option<u32>,
    total: usize,
    q: String,
    state_options: Vec<Opt>,
    status_options: Vec<Opt>,
    sort_options: Vec<Opt>,
    dir_options: Vec<Opt>,
    headers: Vec<Header>,
    rows: Vec<AppRow>,
}

struct Opt {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn options(choices: &[(&'static str, &'static str)], chosen: &str) -> Vec<Opt> {
    choices
        .iter()
        .map(|&(value, label)| Opt {
            value,
            label,
            selected: value == chosen,
        })
        .collect()
}

struct Header {
    label: &'static str,
    link: Option<String>,
    aria_sort: Option<&'static str>,
}

struct AppRow {
    name: String,
    href: String,
    schedule: String,
    words: String,
    zone: &'static str,
    next: String,
    last: Option<StatusCell>,
    state: &'static str,
}

const SORTS: [(&str, &str); 5] = [
    ("name", "Name"),
    ("schedule", "Schedule"),
    ("next", "Next run"),
    ("last", "Last status"),
    ("state", "State"),
];

const STATUSES: [(&str, &str); 8] = [
    ("", "any"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("timed_out", "timed out"),
    ("missed", "missed"),
    ("skipped", "skipped"),
    ("pending", "pending"),
    ("running", "running"),
];

async fn app(
    Extract(state): Extract<State>,
    Path(name): Path<String>,
    Query(query): Query<AppQuery>,
) -> Response {
    let (record, jobs) = match state.ops.show_app(&name).await {
        Ok(details) => (Some(details.app), details.jobs),
        Err(OpsError::AppNotFound(_)) => match state.ops.list(Some(&name)).await {
            Ok(jobs) if !jobs.is_empty() => (None, jobs),
            Ok(_) => {
                return error_page(
                    &state,
                    &OpsError::AppNotFound(match shared::ops::parse_app(&name) {
                        Ok(app) => app,
                        Err(e) => return error_page(&state, &e.into()),
                    }),
                );
            }
            Err(e) => return error_page(&state, &e),
        },
        Err(e) => return error_page(&state, &e),
    };
    render(
        StatusCode::OK,
        &app_page(&state, &name, record, jobs, &query, Utc::now()),
    )
}

fn app_page(
    state: &State,
    name: &str,
    record: Option<shared::model::App>,
    jobs: Vec<Job>,
    query: &AppQuery,
    now: DateTime<Utc>,
) -> AppPage {
    let jobs_names: Vec<String> = jobs.iter().map(|j| j.name.to_string()).collect();
    let q = query.q.clone().unwrap_or_default();
    let needle = q.trim().to_lowercase();
    let want_state = query.state.as_deref().unwrap_or("");
    let want_status = query.status.as_deref().unwrap_or("");
    let sort = query
        .sort
        .as_deref()
        .filter(|s| SORTS.iter().any(|(v, _)| v == s))
        .unwrap_or("name");
    let descending = query.dir.as_deref() == Some("desc");
    let total = jobs.len();
    let mut kept: Vec<&Job> = jobs
        .iter()
        .filter(|j| {
            needle.is_empty()
                || j.name.as_str().to_lowercase().contains(&needle)
                || j.description.to_lowercase().contains(&needle)
        })
        .filter(|j| want_state.is_empty() || JobStatus::of(j).as_str() == want_state)
        .filter(|j| {
            want_status.is_empty()
                || j.state.last.as_ref().map(|l| l.status.as_str()) == Some(want_status)
        })
        .collect();
    kept.sort_by(|a, b| {
        let order = match sort {
            "schedule" => a.schedule.to_string().cmp(&b.schedule.to_string()),
            "next" => {
                let next = |j: &Job| match JobStatus::of(j) {
                    JobStatus::Active => j.state.next_slot,
                    _ => None,
                };
                // Jobs without a next run come last.
                (next(a).is_none(), next(a)).cmp(&(next(b).is_none(), next(b)))
            }
            "last" => {
                let last = |j: &Job| {
                    j.state
                        .last
                        .as_ref()
                        .map(|l| l.status.as_str())
                        .unwrap_or("~")
                };
                last(a).cmp(last(b))
            }
            "state" => JobStatus::of(a).as_str().cmp(JobStatus::of(b).as_str()),
            _ => std::cmp::Ordering::Equal,
        };
        let order = order.then_with(|| a.name.cmp(&b.name));
        if descending { order.reverse() } else { order }
    });
    let href = format!("/apps/{name}");
    let keep = |extra: &str| {
        let mut pairs = Vec::new();
        if !q.is_empty() {
            pairs.push(format!("q={}", encode(&q)));
        }
        if !want_state.is_empty() {
            pairs.push(format!("state={}", encode(want_state)));
        }
        if !want_status.is_empty() {
            pairs.push(format!("status={}", encode(want_status)));
        }
        pairs.push(extra.to_owned());
        format!("{href}?{}", pairs.join("&"))
    };
    let headers = [
        ("name", "Job"),
        ("schedule", "Schedule"),
        ("", "Zone"),
        ("next", "Next run"),
        ("last", "Last status"),
        ("state", "State"),
    ]
    .into_iter()
    .map(|(key, label)| {
        if key.is_empty() {
            return Header {
                label,
                link: None,
                aria_sort: None,
            };
        }
        let current = key == sort;
        let dir = if current && !descending {
            "desc"
        } else {
            "asc"
        };
        Header {
            label,
            link: Some(keep(&format!("sort={key}&dir={dir}"))),
            aria_sort: current.then_some(if descending {
                "descending"
            } else {
                "ascending"
            }),
        }
    })
    .collect();
    let rows = kept
        .iter()
        .map(|j| AppRow {
            name: j.name.to_string(),
            href: job_href(j.app.as_str(), j.name.as_str()),
            schedule: j.schedule.to_string(),
            words: j.schedule.describe(),
            zone: j.timezone.name(),
            next: next_run(j),
            last: j.state.last.as_ref().map(|l| l.status.into()),
            state: JobStatus::of(j).as_str(),
        })
        .collect();
    AppPage {
        frame: Frame::new(state, format!("App {name}"), now),
        name: name.to_owned(),
        href,
        base_url: record.as_ref().map(|r| r.base_url.to_string()),
        // Only a name that is a job name and is not (any more) among the app's jobs.
        notice: query
            .deleted
            .as_deref()
            .filter(|d| JobKey::parse(name, d).is_ok() && !jobs_names.iter().any(|n| n == d))
            .map(|d| format!("Deleted job {name}/{d}."))
            .or_else(|| match query.changed.as_deref() {
                Some("1") => Some("Saved.".to_owned()),
                Some("0") => Some(
                    "Nothing changed: the form held the app's settings as they were.".to_owned(),
                ),
                _ => None,
            }),
        budget: record.as_ref().map(|r| r.budget),
        total,
        q,
        state_options: options(
            &[
                ("", "any"),
                ("active", "active"),
                ("paused", "paused"),
                ("ended", "ended"),
            ],
            want_state,
        ),
        status_options: options(&STATUSES, want_status),
        sort_options: options(&SORTS, sort),
        dir_options: options(
            &[("asc", "ascending"), ("desc", "descending")],
            if descending { "desc" } else { "asc" },
        ),
        headers,
        rows,
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
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

// ---- Job -----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    frame: Frame,
    app: String,
    app_href: String,
    name: String,
    href: String,
    description: String,
    /// What the last action did (`?created`, `?changed=` after a form).
    notice: Option<String>,
    state: &'static str,
    enabled: bool,
    zone: &'static str,
    settings: Vec<(&'static str, String)>,
    next_runs: Vec<NextRun>,
    /// The job's zone is UTC: its runs need no UTC or offset column.
    utc: bool,
    dst_changes: usize,
    timeline: Timeline,
    width: u32,
    height: u32,
    legend: Vec<Legend>,
    punctuality: Option<Punctuality>,
    executions: Vec<ExecRow>,
}

struct NextRun {
    local: String,
    utc: String,
    offset: String,
    note: Option<String>,
}

struct Legend {
    class: &'static str,
    d: String,
    word: &'static str,
}

pub(crate) struct Punctuality {
    pub window: String,
    pub figures: Vec<(&'static str, String)>,
}

struct ExecRow {
    href: String,
    slot: String,
    status: StatusCell,
    http: String,
    duration: String,
    lag: String,
    attempt: u32,
    trigger: &'static str,
}

/// The job page's query: the notice after a form (`created`, `changed=schedule,timeout`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct JobQuery {
    created: Option<String>,
    changed: Option<String>,
}

impl JobQuery {
    /// The notice, from known field names only (the query is anyone's to write).
    fn notice(&self) -> Option<String> {
        if self.created.is_some() {
            return Some("Created. Its next runs are below.".to_owned());
        }
        let changed = self.changed.as_deref()?;
        let fields: Vec<&str> = changed
            .split(',')
            .filter(|f| shared::ops::JOB_SETTINGS.contains(f))
            .collect();
        Some(if fields.is_empty() {
            "Nothing changed: the form held the job's settings as they were.".to_owned()
        } else {
            format!("Saved. Changed: {}.", fields.join(", "))
        })
    }
}

async fn job(
    Extract(state): Extract<State>,
    Path((app, name)): Path<(String, String)>,
    Query(query): Query<JobQuery>,
) -> Response {
    let key = match JobKey::parse(&app, &name) {
        Ok(key) => key,
        Err(e) => return error_page(&state, &e.into()),
    };
    let (job, executions) = match state.ops.show(&key, JOB_PAGE_EXECUTIONS).await {
        Ok(found) => found,
        Err(e) => return error_page(&state, &e),
    };
    let stats = match state
        .ops
        .job_stats(
            &app,
            &name,
            std::time::Duration::from_secs(PUNCTUALITY_DAYS * 86_400),
        )
        .await
    {
        Ok(stats) => stats,
        Err(e) => return error_page(&state, &e),
    };
    let punctuality = punctuality(&stats);
    let mut page = job_page(&state, &job, &executions, Some(punctuality), Utc::now());
    page.notice = query.notice();
    render(StatusCode::OK, &page)
}

/// The window of the job page's punctuality figures.
const PUNCTUALITY_DAYS: u64 = 7;

/// The punctuality figures as the job page shows them (the same computation as `psu-sched
/// stats`).
fn punctuality(stats: &JobStatsView) -> Punctuality {
    let ms = |v: Option<i64>| v.map(format::millis).unwrap_or_else(|| "—".to_owned());
    let window = if stats.truncated {
        format!(
            "Over the newest {} executions (the slots since {}): the last {PUNCTUALITY_DAYS} days hold more than the {} read.",
            stats.runs,
            stats.oldest_slot.as_deref().unwrap_or("—"),
            STATS_LIMIT
        )
    } else {
        format!(
            "Over the slots of the last {PUNCTUALITY_DAYS} days, as psu-sched stats computes them."
        )
    };
    let finished = stats.runs - stats.in_flight;
    Punctuality {
        window,
        figures: vec![
            (
                "Runs",
                format!(
                    "{} ({} manual, {} retries)",
                    stats.runs, stats.manual, stats.retries
                ),
            ),
            (
                "Success rate",
                stats
                    .success_rate
                    .map(|r| format!("{:.1} % of {finished} finished", r * 100.0))
                    .unwrap_or_else(|| "— (nothing finished)".to_owned()),
            ),
            (
                "Outcomes",
                format!(
                    "{} succeeded, {} failed, {} timed out, {} skipped, {} missed, {} in flight",
                    stats.succeeded,
                    stats.failed,
                    stats.timed_out,
                    stats.skipped,
                    stats.missed,
                    stats.in_flight
                ),
            ),
            (
                "Lag (call started minus slot)",
                format!(
                    "p50 {}, p95 {}, p99 {} ({} calls)",
                    ms(stats.lag_ms.p50),
                    ms(stats.lag_ms.p95),
                    ms(stats.lag_ms.p99),
                    stats.lag_ms.samples
                ),
            ),
            (
                "Duration",
                format!(
                    "p50 {}, p95 {} ({} calls)",
                    ms(stats.duration_ms.p50),
                    ms(stats.duration_ms.p95),
                    stats.duration_ms.samples
                ),
            ),
        ],
    }
}

fn job_page(
    state: &State,
    job: &Job,
    executions: &[Execution],
    punctuality: Option<Punctuality>,
    now: DateTime<Utc>,
) -> JobPage {
    let tz = job.timezone;
    let status = JobStatus::of(job);
    let mut settings = vec![
        ("State", status.as_str().to_owned()),
        ("URL", format!("{} {}", job.method.as_str(), job.url)),
        (
            "Schedule",
            format!("{} — {}", job.schedule, job.schedule.describe()),
        ),
        (
            "Time zone",
            format!("{} (now {})", tz.name(), format::offset(now, tz)),
        ),
        ("Timeout", format::millis(job.timeout_ms as i64)),
        ("Retries", job.retries.to_string()),
        ("Max lateness", format::millis(job.max_lateness_ms as i64)),
        (
            "Overlap",
            if job.overlap == shared::model::OverlapPolicy::Allow {
                "allowed".to_owned()
            } else {
                "not allowed: a slot is skipped while the previous call runs".to_owned()
            },
        ),
    ];
    if let Some(path) = &job.path {
        settings.insert(2, ("Path", path.to_string()));
    }
    if let Some(start) = job.start {
        settings.push(("Starts", format::local(start, tz)));
    }
    if let Some(end) = job.end {
        settings.push(("Ends", format::local(end, tz)));
    }
    settings.push(("Created", format::local(job.created_at, tz)));
    settings.push(("Last changed", format::local(job.updated_at, tz)));
    let runs = if job.enabled {
        upcoming(job, now, NEXT_RUNS)
    } else {
        Vec::new()
    };
    let mut before = format::offset(now, tz);
    let mut dst_changes = 0;
    let next_runs = runs
        .into_iter()
        .map(|t| {
            let offset = format::offset(t, tz);
            let note = (offset != before).then(|| {
                dst_changes += 1;
                format!("clocks change: {before} → {offset}")
            });
            before = offset.clone();
            NextRun {
                local: format::local(t, tz),
                utc: format::utc(t),
                offset,
                note,
            }
        })
        .collect();
    let legend = [
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Missed,
        Status::Skipped,
        Status::Running,
    ]
    .into_iter()
    .map(|s| Legend {
        class: match s {
            Status::Succeeded => "m-succeeded",
            Status::Failed => "m-failed",
            Status::TimedOut => "m-timed-out",
            Status::Missed => "m-missed",
            Status::Skipped => "m-skipped",
            _ => "m-live",
        },
        d: timeline::shape(s, 10.0, 10.0),
        word: if s == Status::Running {
            "pending or running"
        } else {
            format::word(s)
        },
    })
    .collect();
    let rows = executions
        .iter()
        .take(JOB_PAGE_TABLE)
        .map(|e| ExecRow {
            href: format!("/executions/{}", e.id),
            slot: format::local(e.scheduled_for, tz),
            status: e.status.into(),
            http: e
                .http_status
                .map(|c| c.to_string())
                .unwrap_or_else(|| "—".to_owned()),
            duration: e
                .duration_ms
                .map(|ms| format::millis(ms as i64))
                .unwrap_or_else(|| "—".to_owned()),
            lag: format::lag_ms(e)
                .map(format::millis)
                .unwrap_or_else(|| "—".to_owned()),
            attempt: e.attempt,
            trigger: match e.trigger {
                shared::model::Trigger::Schedule => "schedule",
                shared::model::Trigger::Manual => "manual",
            },
        })
        .collect();
    JobPage {
        frame: Frame::new(state, format!("Job {}/{}", job.app, job.name), now),
        app: job.app.to_string(),
        app_href: format!("/apps/{}", job.app),
        name: job.name.to_string(),
        href: job_href(job.app.as_str(), job.name.as_str()),
        description: job.description.clone(),
        notice: None,
        state: status.as_str(),
        enabled: job.enabled,
        zone: tz.name(),
        settings,
        next_runs,
        utc: matches!(
            tz.name(),
            "UTC"
                | "Etc/UTC"
                | "Etc/UCT"
                | "UCT"
                | "Etc/Universal"
                | "Universal"
                | "Etc/Zulu"
                | "Zulu"
        ),
        dst_changes,
        timeline: Timeline::new(executions, tz),
        width: timeline::WIDTH,
        height: timeline::HEIGHT,
        legend,
        punctuality,
        executions: rows,
    }
}

// ---- Execution -----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "execution.html")]
struct ExecutionPage {
    frame: Frame,
    app: String,
    app_href: String,
    name: String,
    job_href: String,
    href: String,
    slot: String,
    status: StatusCell,
    /// False while the run is pending or running: the page then updates when it ends.
    finished: bool,
    fields: Vec<(&'static str, String)>,
    output: Option<String>,
    error: Option<String>,
}

async fn execution(Extract(state): Extract<State>, Path(id): Path<String>) -> Response {
    let e = match state.ops.execution(&id).await {
        Ok(e) => e,
        Err(err) => return error_page(&state, &err),
    };
    // The job's zone, when the job is still there (one more read); UTC otherwise.
    let tz = match state.ops.job_of(&e).await {
        Ok(Some(job)) => job.timezone,
        Ok(None) => Tz::UTC,
        Err(err) => return error_page(&state, &err),
    };
    let none = || "—".to_owned();
    let mut fields = vec![
        (
            "Slot",
            format!(
                "{} ({})",
                format::local(e.scheduled_for, tz),
                format::utc(e.scheduled_for)
            ),
        ),
        ("Status", format::word(e.status).to_owned()),
        (
            "HTTP status",
            e.http_status.map(|c| c.to_string()).unwrap_or_else(none),
        ),
        (
            "Duration",
            e.duration_ms
                .map(|ms| format::millis(ms as i64))
                .unwrap_or_else(none),
        ),
        (
            "Lag (call started minus slot)",
            format::lag_ms(&e).map(format::millis).unwrap_or_else(none),
        ),
        (
            "Attempt",
            format!("{} of at most {}", e.attempt, e.retries + 1),
        ),
        (
            "Trigger",
            match e.trigger {
                shared::model::Trigger::Schedule => "schedule".to_owned(),
                shared::model::Trigger::Manual => "manual (run now)".to_owned(),
            },
        ),
        ("Called", format!("{} {}", e.method.as_str(), e.url)),
        (
            "Started",
            e.started_at
                .map(|t| format::local(t, tz))
                .unwrap_or_else(none),
        ),
        (
            "Finished",
            e.finished_at
                .map(|t| format::local(t, tz))
                .unwrap_or_else(none),
        ),
    ];
    if reconciled(&e) {
        fields.push((
            "Reconciled",
            "yes: no outcome came back before the call's deadline".to_owned(),
        ));
    }
    if e.coalesced > 0 {
        fields.push(("Coalesced slots", e.coalesced.to_string()));
    }
    fields.push(("Id", e.id.to_string()));
    render(
        StatusCode::OK,
        &ExecutionPage {
            frame: Frame::new(
                &state,
                format!("Execution of {}/{}", e.app, e.name),
                Utc::now(),
            ),
            app: e.app.to_string(),
            app_href: format!("/apps/{}", e.app),
            name: e.name.to_string(),
            job_href: job_href(e.app.as_str(), e.name.as_str()),
            href: format!("/executions/{}", e.id),
            slot: format::local(e.scheduled_for, tz),
            status: e.status.into(),
            finished: e.status.is_final(),
            fields,
            output: e.output.clone(),
            error: e.error.clone(),
        },
    )
}

// ---- Actions -------------------------------------------------------------------------------

/// An action that did not happen: its page says so in one line (nothing was written).
pub(crate) fn not_done(state: &State, status: StatusCode, message: String) -> Response {
    render(
        status,
        &ErrorPage {
            frame: Frame::new(state, "Not done".to_owned(), Utc::now()),
            message,
        },
    )
}

/// An error from the operations layer, as [`not_done`] shows it.
pub(crate) fn action_failed(state: &State, e: &OpsError) -> Response {
    let status = match e {
        OpsError::NotFound(..) | OpsError::AppNotFound(_) | OpsError::ExecutionNotFound(_) => {
            StatusCode::NOT_FOUND
        }
        OpsError::Invalid(_) | OpsError::Config(_) | OpsError::Unset { .. } => {
            StatusCode::BAD_REQUEST
        }
        OpsError::AppHasJobs { .. }
        | OpsError::ChangedSince { .. }
        | OpsError::Conflict(..)
        | OpsError::AppConflict(_)
        | OpsError::RunConflict(..) => StatusCode::CONFLICT,
        _ => {
            tracing::error!(error = %e, "admin: an action failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    not_done(state, status, e.to_string())
}

/// Pauses the job and shows its page (its state, and no next run).
async fn pause(state: Extract<State>, path: Path<(String, String)>) -> Response {
    pause_or_resume(state, path, false).await
}

/// Resumes the job and shows its page.
async fn resume(state: Extract<State>, path: Path<(String, String)>) -> Response {
    pause_or_resume(state, path, true).await
}

async fn pause_or_resume(
    Extract(state): Extract<State>,
    Path((app, name)): Path<(String, String)>,
    resume: bool,
) -> Response {
    let key = match JobKey::parse(&app, &name) {
        Ok(key) => key,
        Err(e) => return action_failed(&state, &e.into()),
    };
    let done = if resume {
        state.ops.resume(&key, Utc::now()).await
    } else {
        state.ops.pause(&key, Utc::now()).await
    };
    match done {
        Ok(job) => Redirect::to(&job_href(job.app.as_str(), job.name.as_str())).into_response(),
        Err(e) => action_failed(&state, &e),
    }
}

/// Runs the job now with the configured dispatcher (as `psu-sched run` does) and shows the
/// execution at once: its page shows it running and updates when the run ends. The call
/// goes on in the background, so a slow job holds no request open.
async fn run_now(
    Extract(state): Extract<State>,
    Path((app, name)): Path<(String, String)>,
) -> Response {
    let key = match JobKey::parse(&app, &name) {
        Ok(key) => key,
        Err(e) => return action_failed(&state, &e.into()),
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => return action_failed(&state, &OpsError::from(e)),
    };
    let dispatcher = match config.dispatcher(Runner::Cli) {
        Ok(dispatcher) => dispatcher,
        Err(e) => {
            tracing::error!(error = %e, "admin: could not build the HTTP client");
            return not_done(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not build the HTTP client: {e}"),
            );
        }
    };
    let (claimed, started) = tokio::sync::oneshot::channel();
    let ops = state.ops.clone();
    let run = tokio::spawn(async move {
        let result = ops
            .run_now_then(&key, &dispatcher, &SystemClock, &config.tick, |id| {
                let _ = claimed.send(id.clone());
            })
            .await;
        if let Err(e) = &result
            && e.store_error().is_some()
        {
            tracing::error!(error = %e, job = %format!("{}/{}", key.app, key.name), "admin: a run started from the admin failed");
        }
        result
    });
    match started.await {
        Ok(id) => Redirect::to(&format!("/executions/{id}")).into_response(),
        // Not claimed: the run ended before its call with the reason.
        Err(_) => match run.await {
            Ok(Ok(execution)) => {
                Redirect::to(&format!("/executions/{}", execution.id)).into_response()
            }
            Ok(Err(e)) => action_failed(&state, &e),
            Err(e) => not_done(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the run could not be started: {e}"),
            ),
        },
    }
}

/// Whether an execution's run has ended, for the script of its page:
/// `{"status": "running", "finished": false}`.
async fn execution_status(Extract(state): Extract<State>, Path(id): Path<String>) -> Response {
    match state.ops.execution(&id).await {
        Ok(e) => axum::Json(serde_json::json!({
            "status": e.status.as_str(),
            "finished": e.status.is_final(),
        }))
        .into_response(),
        Err(err) => {
            let status = match err {
                OpsError::ExecutionNotFound(_) | OpsError::Invalid(_) => StatusCode::NOT_FOUND,
                _ => {
                    // The store's details go to the log, not to the page's script.
                    tracing::error!(error = %err, "admin: could not read an execution's status");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            let error = if status == StatusCode::NOT_FOUND {
                err.to_string()
            } else {
                "the store could not be read".to_owned()
            };
            (status, axum::Json(serde_json::json!({ "error": error }))).into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "delete.html")]
struct DeletePage {
    frame: Frame,
    app: String,
    app_href: String,
    name: String,
    href: String,
}

/// The question before a delete: names the job; only its own form deletes.
async fn confirm_delete(
    Extract(state): Extract<State>,
    Path((app, name)): Path<(String, String)>,
) -> Response {
    if state.read_only {
        return not_done(
            &state,
            StatusCode::FORBIDDEN,
            "The admin runs with --read-only: it deletes nothing.".to_owned(),
        );
    }
    let key = match JobKey::parse(&app, &name) {
        Ok(key) => key,
        Err(e) => return action_failed(&state, &e.into()),
    };
    let job = match state.ops.show(&key, 0).await {
        Ok((job, _)) => job,
        Err(e) => return error_page(&state, &e),
    };
    render(
        StatusCode::OK,
        &DeletePage {
            frame: Frame::new(
                &state,
                format!("Delete {}/{}?", job.app, job.name),
                Utc::now(),
            ),
            app: job.app.to_string(),
            app_href: format!("/apps/{}", job.app),
            name: job.name.to_string(),
            href: job_href(job.app.as_str(), job.name.as_str()),
        },
    )
}

/// Deletes the job (its executions are kept, as `psu-sched delete` does without
/// `--purge-history`) and shows the app's page with a notice.
async fn delete(
    Extract(state): Extract<State>,
    Path((app, name)): Path<(String, String)>,
) -> Response {
    let key = match JobKey::parse(&app, &name) {
        Ok(key) => key,
        Err(e) => return action_failed(&state, &e.into()),
    };
    match state.ops.delete(&key, false).await {
        Ok(deleted) => Redirect::to(&format!(
            "/apps/{}?deleted={}",
            deleted.job.app,
            encode(deleted.job.name.as_str())
        ))
        .into_response(),
        Err(e) => action_failed(&state, &e),
    }
}

#[derive(Template)]
#[template(path = "delete_app.html")]
struct DeleteAppPage {
    frame: Frame,
    name: String,
    href: String,
    jobs: usize,
}

/// The question before an app record is deleted: names the app, and while it has jobs says
/// so and offers no button (the operations layer would refuse).
async fn confirm_delete_app(Extract(state): Extract<State>, Path(name): Path<String>) -> Response {
    if state.read_only {
        return not_done(
            &state,
            StatusCode::FORBIDDEN,
            "The admin runs with --read-only: it deletes nothing.".to_owned(),
        );
    }
    let details = match state.ops.show_app(&name).await {
        Ok(details) => details,
        Err(e) => return error_page(&state, &e),
    };
    render(
        StatusCode::OK,
        &DeleteAppPage {
            frame: Frame::new(
                &state,
                format!("Delete app {}?", details.app.name),
                Utc::now(),
            ),
            name: details.app.name.to_string(),
            href: format!("/apps/{}", details.app.name),
            jobs: details.jobs.len(),
        },
    )
}

/// Deletes the app record (refused while it has jobs, as `psu-sched app delete`) and shows
/// the overview with a notice.
async fn delete_app(Extract(state): Extract<State>, Path(name): Path<String>) -> Response {
    match state.ops.delete_app(&name).await {
        Ok(app) => Redirect::to(&format!("/?deleted_app={}", app.name)).into_response(),
        Err(e) => action_failed(&state, &e),
    }
}
