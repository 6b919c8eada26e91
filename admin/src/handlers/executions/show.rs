//! `GET /executions/{id}`: an execution's page.

use axum::http::StatusCode;
use axum::response::Response;
use chrono_tz::Tz;

use crate::context::Ctx;
use crate::error::Error;
use crate::paths::ExecutionPath;
use crate::views::execution::ExecutionPage;
use crate::views::render;

/// The execution, its instants in its job's zone.
pub(crate) async fn get(ctx: Ctx, ExecutionPath(id): ExecutionPath) -> Result<Response, Error> {
    let e = ctx.ops.execution(&id.to_string()).await?;
    // The job's zone, when the job is still there (one more read); UTC otherwise.
    let tz = ctx
        .ops
        .job_of(&e)
        .await?
        .map_or(Tz::UTC, |job| job.timezone);
    Ok(render(StatusCode::OK, &ExecutionPage::new(&ctx, &e, tz)))
}
