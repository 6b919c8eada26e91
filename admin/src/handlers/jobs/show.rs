//! `GET /apps/{app}/jobs/{job}`: a job's page.

use std::time::Duration;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use crate::context::Ctx;
use crate::error::Error;
use crate::paths::JobPath;
use crate::views::job::{JOB_PAGE_EXECUTIONS, JobPage, JobQuery, PUNCTUALITY_DAYS, punctuality};
use crate::views::render;

/// The job, its newest executions and its punctuality over the last days.
pub(crate) async fn get(
    ctx: Ctx,
    JobPath(key): JobPath,
    Query(query): Query<JobQuery>,
) -> Result<Response, Error> {
    let (job, executions) = ctx.ops.show(&key, JOB_PAGE_EXECUTIONS).await?;
    let stats = ctx
        .ops
        .job_stats(
            key.app.as_str(),
            key.name.as_str(),
            Duration::from_secs(PUNCTUALITY_DAYS * 86_400),
        )
        .await?;
    let app_pause = super::app_pause(&ctx, key.app.as_str()).await?;
    let mut page = JobPage::new(
        &ctx,
        &job,
        app_pause.as_ref(),
        &executions,
        Some(punctuality(&stats)),
        Utc::now(),
    );
    page.notice = query.notice();
    Ok(render(StatusCode::OK, &page))
}
