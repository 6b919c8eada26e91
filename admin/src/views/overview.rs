//! The overview (`/`): every app and its jobs' health, and what needs attention first.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use shared::model::{Job, Status, outcome_of_letter};
use shared::ops::ShownJob;
use shared::ops::{OVERVIEW_ERRORS, Overview};

use super::app::{Opt, STATES, STATUSES, options};
use super::{Frame, Moment, ShownState, ShownStyle, StatusCell, job_href, next_run};
use crate::context::Ctx;
use crate::format;

/// The most characters of a latest error the attention list shows.
const ERROR_CHARS: usize = 120;

#[derive(Template)]
#[template(path = "overview.html")]
pub(crate) struct OverviewPage {
    frame: Frame,
    notice: Option<String>,
    job_count: usize,
    failing: usize,
    apps: Vec<AppGroup>,
    attention: Vec<Attention>,
    errors_unread: usize,
    errors_read: usize,
    app_options: Vec<Opt>,
    state_options: Vec<Opt>,
    status_options: Vec<Opt>,
    /// Jobs left out by the filters.
    hidden: usize,
}

/// The overview's filters (query parameters, so they work without JavaScript): an app, a
/// state (`active`, `paused`, `ended`), a last status (`failed`...); empty is any.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    app: Option<String>,
    state: Option<String>,
    status: Option<String>,
}

impl Filters {
    /// The state and last-status filters, as given.
    pub(crate) fn given(&self) -> (Option<&str>, Option<&str>) {
        (self.state.as_deref(), self.status.as_deref())
    }

    /// Whether `job`, shown as `state`, passes the filters.
    fn keeps(&self, job: &Job, state: ShownState) -> bool {
        fn want(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|v| !v.is_empty())
        }
        want(&self.app).is_none_or(|a| job.app.as_str() == a)
            && want(&self.state).is_none_or(|s| state.filter() == s)
            && want(&self.status)
                .is_none_or(|s| job.state.last.as_ref().map(|l| l.status.as_str()) == Some(s))
    }
}

struct AppGroup {
    name: String,
    href: String,
    base_url: Option<String>,
    /// While the app is paused: why.
    paused: Option<String>,
    jobs: Vec<OverviewRow>,
}

struct OverviewRow {
    /// The bulk actions' checkbox value ([`ShownJob::encode`]).
    shown: String,
    name: String,
    href: String,
    state: ShownState,
    late: bool,
    last: Option<(StatusCell, Moment)>,
    strip: Strip,
    next: Result<Moment, &'static str>,
}

/// A job's latest outcomes, oldest first: a symbol each (colour and shape), and in words.
pub(crate) struct Strip {
    pub marks: Vec<StatusCell>,
    pub words: String,
}

impl Strip {
    pub(crate) fn of(job: &Job) -> Self {
        let statuses: Vec<Status> = job
            .state
            .outcomes
            .chars()
            .filter_map(outcome_of_letter)
            .collect();
        let words = if statuses.is_empty() {
            "no outcome recorded yet".to_owned()
        } else {
            format!(
                "latest {} outcomes, oldest first: {}",
                statuses.len(),
                statuses
                    .iter()
                    .map(|s| format::word(*s))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Self {
            marks: statuses.into_iter().map(StatusCell::from).collect(),
            words,
        }
    }
}

struct Attention {
    job: String,
    job_href: String,
    what: String,
    error: Option<String>,
    status: Option<StatusCell>,
    when: Option<Moment>,
    at: Option<DateTime<Utc>>,
    exec_href: Option<String>,
}

impl OverviewPage {
    /// The page of `overview` read at `now`; `deleted_app` is the app just deleted (its
    /// notice shows only while no app of that name is listed).
    pub(crate) fn new(
        ctx: &Ctx,
        overview: &Overview,
        deleted_app: Option<String>,
        filters: &Filters,
        now: DateTime<Utc>,
    ) -> Self {
        let app_names: Vec<String> = {
            let mut names: Vec<String> = overview
                .apps
                .iter()
                .map(|a| a.name.to_string())
                .chain(overview.jobs.iter().map(|h| h.job.app.to_string()))
                .collect();
            names.sort();
            names.dedup();
            names
        };
        let mut hidden = 0;
        let mut groups: Vec<AppGroup> = overview
            .apps
            .iter()
            .map(|a| AppGroup {
                name: a.name.to_string(),
                href: format!("/apps/{}", a.name),
                base_url: Some(a.base_url.to_string()),
                paused: a.paused.as_ref().map(|p| p.reason.to_string()),
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
                        paused: None,
                        jobs: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            let href = job_href(job.app.as_str(), job.name.as_str());
            let label = format!("{}/{}", job.app, job.name);
            let line = |what: String, at: Option<DateTime<Utc>>| Attention {
                job: label.clone(),
                job_href: href.clone(),
                what,
                error: None,
                status: None,
                when: at.map(|t| Moment::new(t, now, Tz::UTC)),
                at,
                exec_href: None,
            };
            if health.late {
                attention.push(line(
                    "late: its next run is past due and no tick has taken it".to_owned(),
                    job.state.next_slot,
                ));
            }
            if let Some(last) = &job.state.last {
                let streak = job.state.streak;
                let what = if health.failing {
                    failing += 1;
                    Some(match streak {
                        1 => "its last run".to_owned(),
                        n => format!("{n} runs in a row"),
                    })
                } else if last.status == Status::Missed {
                    Some("its last slot was not called".to_owned())
                } else {
                    None
                };
                if let Some(what) = what {
                    let mut a = line(what, Some(last.at));
                    a.status = Some(last.status.into());
                    a.exec_href = Some(format!("/executions/{}", last.execution));
                    a.error = health.latest_error.as_deref().map(cap);
                    attention.push(a);
                }
            }
            let app_paused = groups[i].paused.is_some();
            let state = ShownState::of(job, app_paused);
            if !filters.keeps(job, state) {
                hidden += 1;
                continue;
            }
            groups[i].jobs.push(OverviewRow {
                shown: ShownJob::encode(job),
                name: job.name.to_string(),
                href,
                state,
                late: health.late,
                last: job
                    .state
                    .last
                    .as_ref()
                    .map(|l| (l.status.into(), Moment::new(l.at, now, Tz::UTC))),
                strip: Strip::of(job),
                next: next_run(job, app_paused, now, Tz::UTC),
            });
        }
        // The most recent problem first.
        attention.sort_by_key(|a| std::cmp::Reverse(a.at));
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        // A chosen app shows its group alone; a group the other filters emptied says so.
        if let Some(app) = filters.app.as_deref().filter(|a| !a.is_empty()) {
            groups.retain(|g| g.name == app);
        }
        // Only an app name that is no longer listed (the query is anyone's to write).
        let notice = deleted_app
            .filter(|d| shared::ops::parse_app(d).is_ok() && !groups.iter().any(|g| &g.name == d))
            .map(|d| format!("Deleted the app record {d}."));
        Self {
            frame: Frame::new(ctx, "Overview", now),
            notice,
            job_count: overview.jobs.len(),
            failing,
            apps: groups,
            attention,
            errors_unread: overview.errors_unread,
            errors_read: OVERVIEW_ERRORS,
            app_options: {
                let chosen = filters.app.as_deref().unwrap_or("");
                std::iter::once(("", "any"))
                    .chain(app_names.iter().map(|n| (n.as_str(), n.as_str())))
                    .map(|(value, label)| Opt {
                        value: value.to_owned(),
                        label: label.to_owned(),
                        selected: value == chosen,
                    })
                    .collect()
            },
            state_options: options(&STATES, filters.state.as_deref().unwrap_or("")),
            status_options: options(&STATUSES, filters.status.as_deref().unwrap_or("")),
            hidden,
        }
    }
}

/// `text`'s first [`ERROR_CHARS`] characters, with `…` when there were more.
fn cap(text: &str) -> String {
    match text.char_indices().nth(ERROR_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
