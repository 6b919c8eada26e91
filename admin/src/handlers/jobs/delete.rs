//! `GET, POST /apps/{app}/jobs/{job}/delete`: the question, then the delete.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::context::Ctx;
use crate::error::Error;
use crate::handlers::writable;
use crate::paths::JobPath;
use crate::views::delete::DeletePage;
use crate::views::{encode, render};

/// The question before a delete: names the job; only its own form deletes.
pub(crate) async fn get(ctx: Ctx, JobPath(key): JobPath) -> Result<Response, Error> {
    writable(&ctx, "it deletes nothing")?;
    let (job, _) = ctx.ops.show(&key, 0).await?;
    Ok(render(StatusCode::OK, &DeletePage::new(&ctx, &job)))
}

/// Deletes the job (its executions are kept, as `psu-sched delete` does without
/// `--purge-history`) and shows the app's page with a notice.
pub(crate) async fn post(ctx: Ctx, JobPath(key): JobPath) -> Result<Response, Error> {
    let deleted = ctx.ops.delete(&key, false).await?;
    Ok(Redirect::to(&format!(
        "/apps/{}?deleted={}",
        deleted.job.app,
        encode(deleted.job.name.as_str())
    ))
    .into_response())
}
