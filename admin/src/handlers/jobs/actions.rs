//! `POST /apps/{app}/jobs/{job}/{pause,resume,run}`: the job page's buttons.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use shared::clock::SystemClock;
use shared::config::{Config, Runner};
use shared::model::ExecutionId;
use shared::ops::{JobKey, OpsError};

use crate::context::Ctx;
use crate::error::Error;
use crate::paths::JobPath;
use crate::views::job_href;

/// The pause button's form: an optional reason (empty: none).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PauseForm {
    #[serde(default)]
    reason: String,
}

/// Pauses the job, with the reason given, and shows its page (its state, and no next run).
pub(crate) async fn pause(
    ctx: Ctx,
    JobPath(key): JobPath,
    axum::extract::Form(form): axum::extract::Form<PauseForm>,
) -> Result<Response, Error> {
    let reason = Some(form.reason.as_str()).filter(|r| !r.trim().is_empty());
    let job = ctx.ops.pause(&key, reason, Utc::now()).await?;
    Ok(Redirect::to(&job_href(job.app.as_str(), job.name.as_str())).into_response())
}

/// Resumes the job and shows its page.
pub(crate) async fn resume(ctx: Ctx, JobPath(key): JobPath) -> Result<Response, Error> {
    let job = ctx.ops.resume(&key, Utc::now()).await?;
    Ok(Redirect::to(&job_href(job.app.as_str(), job.name.as_str())).into_response())
}

/// Runs the job now with the configured dispatcher (as `psu-sched run` does) and shows the
/// execution at once: its page shows it running and updates when the run ends. The call
/// goes on in the background, so a slow job holds no request open.
pub(crate) async fn run(ctx: Ctx, JobPath(key): JobPath) -> Result<Response, Error> {
    let id = start_run(&ctx, key).await?;
    Ok(Redirect::to(&format!("/executions/{id}")).into_response())
}

/// Claims a run of the job now and sends its call in the background; the execution's id once
/// it is claimed (the bulk actions start several this way).
pub(crate) async fn start_run(ctx: &Ctx, key: JobKey) -> Result<ExecutionId, Error> {
    let config = Config::from_env().map_err(OpsError::from)?;
    let dispatcher = config.dispatcher(Runner::Cli).map_err(|e| {
        tracing::error!(error = %e, "admin: could not build the HTTP client");
        Error::NotDone(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not build the HTTP client: {e}"),
        )
    })?;
    let (claimed, started) = tokio::sync::oneshot::channel();
    let ops = ctx.ops.clone();
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
        Ok(id) => Ok(id),
        // Not claimed: the run ended before its call with the reason.
        Err(_) => match run.await {
            Ok(result) => Ok(result?.id),
            Err(e) => Err(Error::NotDone(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the run could not be started: {e}"),
            )),
        },
    }
}
