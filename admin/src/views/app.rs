//! An app's page (`/apps/APP`): its record and its jobs, filtered and sorted by the query.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use shared::model::{App, Job};
use shared::ops::JobKey;

use super::{Frame, Moment, ShownState, ShownStyle, StatusCell, encode, job_href, next_run};
use crate::context::Ctx;

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
pub(crate) struct AppPage {
    frame: Frame,
    name: String,
    href: String,
    base_url: Option<String>,
    notice: Option<String>,
    /// While the app is paused: its reason, and since when.
    paused: Option<(String, Moment)>,
    budget: Option<u32>,
    /// The zone its new jobs take when given none.
    default_zone: Option<&'static str>,
    /// Its failure webhook masked to its host (a secret), and after how many failed runs.
    webhook: Option<(String, u32)>,
    total: usize,
    q: String,
    state_options: Vec<Opt>,
    status_options: Vec<Opt>,
    sort_options: Vec<Opt>,
    dir_options: Vec<Opt>,
    headers: Vec<Header>,
    rows: Vec<AppRow>,
}

pub(crate) struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub(crate) fn options(choices: &[(&'static str, &'static str)], chosen: &str) -> Vec<Opt> {
    choices
        .iter()
        .map(|&(value, label)| Opt {
            value: value.to_owned(),
            label: label.to_owned(),
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
    next: Result<Moment, &'static str>,
    last: Option<(StatusCell, Moment)>,
    state: ShownState,
}

const SORTS: [(&str, &str); 5] = [
    ("name", "Name"),
    ("schedule", "Schedule"),
    ("next", "Next run"),
    ("last", "Last status"),
    ("state", "State"),
];

pub(crate) const STATES: [(&str, &str); 4] = [
    ("", "any"),
    ("active", "active"),
    ("paused", "paused"),
    ("ended", "ended"),
];

pub(crate) const STATUSES: [(&str, &str); 8] = [
    ("", "any"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("timed_out", "timed out"),
    ("missed", "missed"),
    ("skipped", "skipped"),
    ("pending", "pending"),
    ("running", "running"),
];

impl AppQuery {
    /// The state and last-status filters, as given.
    pub(crate) fn filters(&self) -> (Option<&str>, Option<&str>) {
        (self.state.as_deref(), self.status.as_deref())
    }
}

impl AppPage {
    /// The page of the app `name` (its record, when it has one) and its `jobs`, as `query`
    /// filters and sorts them.
    pub(crate) fn new(
        ctx: &Ctx,
        name: &str,
        record: Option<App>,
        jobs: Vec<Job>,
        query: &AppQuery,
        now: DateTime<Utc>,
    ) -> Self {
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
        // While the app is paused none of its jobs is called: they read so.
        let app_paused = record.as_ref().is_some_and(|r| r.paused.is_some());
        let shown = |j: &Job| ShownState::of(j, app_paused);
        let mut kept: Vec<&Job> = jobs
            .iter()
            .filter(|j| {
                needle.is_empty()
                    || j.name.as_str().to_lowercase().contains(&needle)
                    || j.description.to_lowercase().contains(&needle)
            })
            .filter(|j| want_state.is_empty() || shown(j).filter() == want_state)
            .filter(|j| {
                want_status.is_empty()
                    || j.state.last.as_ref().map(|l| l.status.as_str()) == Some(want_status)
            })
            .collect();
        kept.sort_by(|a, b| {
            let order = match sort {
                "schedule" => a.schedule.to_string().cmp(&b.schedule.to_string()),
                "next" => {
                    let next = |j: &Job| match shown(j) {
                        ShownState::Active => j.state.next_slot,
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
                "state" => shown(a).as_str().cmp(shown(b).as_str()),
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
            ("next", "Next run (UTC)"),
            ("last", "Last run (UTC)"),
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
                next: next_run(j, app_paused, now, Tz::UTC),
                last: j
                    .state
                    .last
                    .as_ref()
                    .map(|l| (l.status.into(), Moment::new(l.at, now, Tz::UTC))),
                state: shown(j),
            })
            .collect();
        Self {
            frame: Frame::new(ctx, format!("App {name}"), now),
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
                        "Nothing changed: the form held the app's settings as they were."
                            .to_owned(),
                    ),
                    _ => None,
                }),
            paused: record
                .as_ref()
                .and_then(|r| r.paused.as_ref())
                .map(|p| (p.reason.to_string(), Moment::new(p.since, now, Tz::UTC))),
            budget: record.as_ref().map(|r| r.budget),
            default_zone: record.as_ref().and_then(|r| r.timezone).map(|tz| tz.name()),
            webhook: record
                .as_ref()
                .and_then(|r| r.webhook.as_ref().map(|w| (w.masked(), r.notify_after))),
            total,
            q,
            state_options: options(&STATES, want_state),
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
}
