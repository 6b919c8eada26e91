//! `GET|POST /apps/{app}/jobs/{job}/backfill`: the plan of a backfill (as `psu-sched backfill
//! --dry-run` prints it), and the button that calls it in the background.

use axum::extract::{Form, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use shared::clock::SystemClock;
use shared::config::{Config, Runner};
use shared::ops::{BackfillInput, JobKey, OpsError, TickAt};
use shared::tick::NowUse;

use crate::context::Ctx;
use crate::error::Error;
use crate::paths::JobPath;
use crate::views::backfill::{BackfillPage, BackfillQuery};
use crate::views::{job_href, render};

fn input(query: &BackfillQuery) -> BackfillInput {
    BackfillInput {
        from: query.from.clone().unwrap_or_default(),
        to: query.to.clone().unwrap_or_default(),
        timed_out: query.timed_out(),
        paused: query.paused(),
        // The form's local times are the job's zone, as its page shows them.
        timezone: None,
    }
}

fn dispatcher() -> Result<(Config, shared::dispatch::HttpDispatcher), Error> {
    let config = Config::from_env().map_err(OpsError::from)?;
    let dispatcher = config.dispatcher(Runner::Cli).map_err(|e| {
        Error::NotDone(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not build the HTTP client: {e}"),
        )
    })?;
    Ok((config, dispatcher))
}

/// The window's form; with a window, its plan (a dry run: nothing written or called).
pub(crate) async fn get(
    ctx: Ctx,
    JobPath(key): JobPath,
    Query(query): Query<BackfillQuery>,
) -> Result<Response, Error> {
    let now = Utc::now();
    let (job, _) = ctx.ops.show(&key, 0).await?;
    let plan = match (&query.from, &query.to) {
        (Some(_), Some(_)) => {
            let (config, dispatcher) = dispatcher()?;
            let at = TickAt::parse(None, None, NowUse::DryRun, now)?;
            Some(
                ctx.ops
                    .backfill(
                        &key,
                        &input(&query),
                        at,
                        &dispatcher,
                        &SystemClock,
                        &config.tick,
                    )
                    .await?,
            )
        }
        _ => None,
    };
    let app_pause = super::app_pause(&ctx, key.app.as_str()).await?;
    let page = BackfillPage::new(&ctx, &job, app_pause.as_ref(), &query, plan.as_ref(), now);
    Ok(render(StatusCode::OK, &page))
}

/// Calls the window's slots in the background (the window checked first, so that bad input
/// is refused here) and shows the job page, where the calls appear as they are made.
pub(crate) async fn post(
    ctx: Ctx,
    JobPath(key): JobPath,
    Form(query): Form<BackfillQuery>,
) -> Result<Response, Error> {
    let (config, dispatcher) = dispatcher()?;
    let now = Utc::now();
    // The same checks as the run's, before answering: a refusal is this request's 400.
    let at = TickAt::parse(None, None, NowUse::DryRun, now)?;
    let plan = ctx
        .ops
        .backfill(
            &key,
            &input(&query),
            at,
            &dispatcher,
            &SystemClock,
            &config.tick,
        )
        .await?;
    // A paused app's backfill would leave every slot: say so rather than "started".
    if let Some(pause) = &plan.app_paused {
        return Err(Error::NotDone(
            StatusCode::CONFLICT,
            format!(
                "the app {} is paused ({}): a backfill calls nothing while it is; resume it first",
                key.app, pause.reason
            ),
        ));
    }
    let ops = ctx.ops.clone();
    let href = job_href(key.app.as_str(), key.name.as_str());
    let typed = input(&query);
    tokio::spawn(async move {
        let key: JobKey = key;
        let at = match TickAt::parse(None, None, NowUse::Write, Utc::now()) {
            Ok(at) => at,
            Err(_) => return,
        };
        if let Err(e) = ops
            .backfill(&key, &typed, at, &dispatcher, &SystemClock, &config.tick)
            .await
        {
            tracing::error!(error = %e, job = %format!("{}/{}", key.app, key.name), "admin: a backfill started from the admin failed");
        }
    });
    Ok(Redirect::to(&format!("{href}?backfill=started")).into_response())
}
