//! `POST /apps/{app}/pause`, `POST /apps/{app}/resume`: the app page's pause (with its
//! reason) and resume, as `psu-sched app pause` and `app resume`.

use axum::extract::Form;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use crate::context::Ctx;
use crate::error::Error;
use crate::paths::AppPath;

/// The pause form: its reason (required: one line, 1 to 200 characters).
#[derive(Debug, Deserialize)]
pub(crate) struct PauseForm {
    #[serde(default)]
    reason: String,
}

/// Pauses the app (none of its jobs is called until it is resumed) and shows its page.
pub(crate) async fn pause(
    ctx: Ctx,
    AppPath(app): AppPath,
    Form(form): Form<PauseForm>,
) -> Result<Response, Error> {
    let (app, _) = ctx
        .ops
        .pause_app(app.as_str(), &form.reason, Utc::now())
        .await?;
    Ok(Redirect::to(&format!("/apps/{}", app.name)).into_response())
}

/// Resumes the app and shows its page.
pub(crate) async fn resume(ctx: Ctx, AppPath(app): AppPath) -> Result<Response, Error> {
    let (app, _) = ctx.ops.resume_app(app.as_str(), Utc::now()).await?;
    Ok(Redirect::to(&format!("/apps/{}", app.name)).into_response())
}
