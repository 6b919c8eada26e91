//! Every route of the admin, and nothing else: each names its handler in handlers/. The
//! security checks (security.rs) run before all of them, the refusal layer (error.rs) around
//! each handler.
//!
//! A new route: one line here, its handler in the folder of its resource.

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use crate::context::Shared;
use crate::error::frame_refusals;
use crate::handlers::{apps, assets, executions, jobs, no_page, overview, preview};

pub(crate) fn routes(shared: Shared) -> Router {
    Router::new()
        .route("/", get(overview::get))
        .route("/new-app", get(apps::new::get).post(apps::new::post))
        .route("/apps/{app}", get(apps::show::get))
        .route(
            "/apps/{app}/edit",
            get(apps::edit::get).post(apps::edit::post),
        )
        .route("/apps/{app}/pause", post(apps::pause::pause))
        .route("/apps/{app}/resume", post(apps::pause::resume))
        .route(
            "/apps/{app}/delete",
            get(apps::delete::get).post(apps::delete::post),
        )
        .route(
            "/apps/{app}/new-job",
            get(jobs::new::get).post(jobs::new::post),
        )
        .route("/apps/{app}/jobs/{job}", get(jobs::show::get))
        .route(
            "/apps/{app}/jobs/{job}/edit",
            get(jobs::edit::get).post(jobs::edit::post),
        )
        .route("/apps/{app}/jobs/{job}/pause", post(jobs::actions::pause))
        .route("/apps/{app}/jobs/{job}/resume", post(jobs::actions::resume))
        .route("/apps/{app}/jobs/{job}/run", post(jobs::actions::run))
        .route(
            "/apps/{app}/jobs/{job}/backfill",
            get(jobs::backfill::get).post(jobs::backfill::post),
        )
        .route(
            "/apps/{app}/jobs/{job}/delete",
            get(jobs::delete::get).post(jobs::delete::post),
        )
        .route("/jobs/bulk", post(jobs::bulk::post))
        .route("/jobs/bulk/{answer}", get(jobs::bulk::get))
        .route("/executions/{id}", get(executions::show::get))
        .route("/executions/{id}/status", get(executions::status::get))
        .route("/preview", get(preview::get))
        .route("/assets/admin.css", get(assets::css))
        .route("/assets/admin.js", get(assets::js))
        // Answered by the security checks; routed so that they run for them.
        .route("/login", get(no_page))
        .route("/logout", post(no_page))
        .fallback(no_page)
        .layer(from_fn_with_state(shared.clone(), frame_refusals))
        .with_state(shared)
}
