//! `GET /apps/{app}`: an app's page.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use shared::ops::OpsError;

use crate::context::Ctx;
use crate::error::Error;
use crate::paths::AppPath;
use crate::views::app::{AppPage, AppQuery};
use crate::views::render;

/// The app's record and jobs; an app without a record but with jobs still has a page.
pub(crate) async fn get(
    ctx: Ctx,
    AppPath(app): AppPath,
    Query(query): Query<AppQuery>,
) -> Result<Response, Error> {
    let (state, status) = query.filters();
    crate::handlers::known_filters(state, status)?;
    let (record, jobs) = match ctx.ops.show_app(app.as_str()).await {
        Ok(details) => (Some(details.app), details.jobs),
        Err(OpsError::AppNotFound(_)) => {
            let jobs = ctx.ops.list(Some(app.as_str())).await?;
            if jobs.is_empty() {
                return Err(OpsError::AppNotFound(app).into());
            }
            (None, jobs)
        }
        Err(e) => return Err(e.into()),
    };
    let page = AppPage::new(&ctx, app.as_str(), record, jobs, &query, Utc::now());
    Ok(render(StatusCode::OK, &page))
}
