//! `GET /`: the overview.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;

use crate::context::Ctx;
use crate::error::Error;
use crate::views::overview::{Filters, OverviewPage};
use crate::views::render;

/// The overview's query: the notice after an app was deleted, and the jobs' filters.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OverviewQuery {
    deleted_app: Option<String>,
    #[serde(flatten)]
    filters: Filters,
}

/// Every app and its jobs' health (docs/admin.md lists its store requests).
pub(crate) async fn get(ctx: Ctx, Query(query): Query<OverviewQuery>) -> Result<Response, Error> {
    let (state, status) = query.filters.given();
    super::known_filters(state, status)?;
    let now = Utc::now();
    let overview = ctx.ops.overview(now).await?;
    let page = OverviewPage::new(&ctx, &overview, query.deleted_app, &query.filters, now);
    Ok(render(StatusCode::OK, &page))
}
