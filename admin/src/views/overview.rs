//! The overview (`/`): every app and its jobs' health, and what needs attention.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use shared::ops::views::JobStatus;
use shared::ops::{OVERVIEW_HISTORY_JOBS, Overview, reconciled};

use super::{Frame, Moment, StatusCell, job_href, next_run};
use crate::context::Ctx;

#[derive(Template)]
#[template(path = "overview.html")]
pub(crate) struct OverviewPage {
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
    last: Option<(StatusCell, Moment)>,
    failures: String,
    next: Result<Moment, &'static str>,
}

struct Attention {
    job: String,
    job_href: String,
    what: String,
    status: Option<StatusCell>,
    slot: Option<Moment>,
    exec_href: Option<String>,
}

impl OverviewPage {
    /// The page of `overview` read at `now`; `deleted_app` is the app just deleted (its
    /// notice shows only while no app of that name is listed).
    pub(crate) fn new(
        ctx: &Ctx,
        overview: &Overview,
        deleted_app: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
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
                    slot: job.state.next_slot.map(|t| Moment::new(t, now, Tz::UTC)),
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
                    slot: Some(Moment::new(e.scheduled_for, now, Tz::UTC)),
                    exec_href: Some(format!("/executions/{}", e.id)),
                });
            }
            groups[i].jobs.push(OverviewRow {
                name: job.name.to_string(),
                href,
                state: JobStatus::of(job).as_str(),
                late: health.late,
                last: job
                    .state
                    .last
                    .as_ref()
                    .map(|l| (l.status.into(), Moment::new(l.at, now, Tz::UTC))),
                failures: match health.failures_24h {
                    Some(n) if health.failures_capped => format!("{n} or more"),
                    Some(n) => n.to_string(),
                    None => "not read".to_owned(),
                },
                next: next_run(job, now, Tz::UTC),
            });
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));
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
            unread: overview.unread,
            history_jobs: OVERVIEW_HISTORY_JOBS,
        }
    }
}
