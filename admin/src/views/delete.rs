//! The questions before a delete: a job's, and an app record's.

use askama::Template;
use chrono::Utc;
use shared::model::Job;
use shared::ops::AppDetails;

use super::{Frame, job_href};
use crate::context::Ctx;

/// Names the job; only its own form deletes.
#[derive(Template)]
#[template(path = "delete.html")]
pub(crate) struct DeletePage {
    frame: Frame,
    app: String,
    app_href: String,
    name: String,
    href: String,
}

impl DeletePage {
    pub(crate) fn new(ctx: &Ctx, job: &Job) -> Self {
        Self {
            frame: Frame::new(ctx, format!("Delete {}/{}?", job.app, job.name), Utc::now()),
            app: job.app.to_string(),
            app_href: format!("/apps/{}", job.app),
            name: job.name.to_string(),
            href: job_href(job.app.as_str(), job.name.as_str()),
        }
    }
}

/// Names the app, and while it has jobs says so and offers no button (the operations layer
/// would refuse).
#[derive(Template)]
#[template(path = "delete_app.html")]
pub(crate) struct DeleteAppPage {
    frame: Frame,
    name: String,
    href: String,
    jobs: usize,
}

impl DeleteAppPage {
    pub(crate) fn new(ctx: &Ctx, details: &AppDetails) -> Self {
        Self {
            frame: Frame::new(ctx, format!("Delete app {}?", details.app.name), Utc::now()),
            name: details.app.name.to_string(),
            href: format!("/apps/{}", details.app.name),
            jobs: details.jobs.len(),
        }
    }
}
