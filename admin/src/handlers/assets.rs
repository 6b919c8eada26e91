//! `GET /assets/...`: the stylesheet and the one script, embedded in the binary (served
//! without a session: security.rs lists them).

use axum::http::header;
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../assets/admin.css");

/// The one script (docs/admin.md): the live schedule preview, and a running execution's page
/// reloaded when the run ends.
const JS: &str = include_str!("../../assets/admin.js");

/// `GET /assets/admin.css`.
pub(crate) async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

/// `GET /assets/admin.js`.
pub(crate) async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
        .into_response()
}
