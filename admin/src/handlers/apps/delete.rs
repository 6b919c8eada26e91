//! `GET, POST /apps/{app}/delete`: the question, then the delete of the app record.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::context::Ctx;
use crate::error::Error;
use crate::handlers::writable;
use crate::paths::AppPath;
use crate::views::delete::DeleteAppPage;
use crate::views::render;

/// The question before an app record is deleted: names the app, and while it has jobs says
/// so and offers no button (the operations layer would refuse).
pub(crate) async fn get(ctx: Ctx, AppPath(app): AppPath) -> Result<Response, Error> {
    writable(&ctx, "it deletes nothing")?;
    let details = ctx.ops.show_app(app.as_str()).await?;
    Ok(render(StatusCode::OK, &DeleteAppPage::new(&ctx, &details)))
}

/// Deletes the app record (refused while it has jobs, as `psu-sched app delete`) and shows
/// the overview with a notice.
pub(crate) async fn post(ctx: Ctx, AppPath(app): AppPath) -> Result<Response, Error> {
    let app = ctx.ops.delete_app(app.as_str()).await?;
    Ok(Redirect::to(&format!("/?deleted_app={}", app.name)).into_response())
}
