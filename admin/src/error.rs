//! The one error a handler returns: [`Error`]. Handlers use `?` on the operations layer's
//! [`OpsError`] and on the path extractors; the status each error answers with is decided
//! here alone ([`answer`]), and the refusal is drawn inside the page frame by
//! [`frame_refusals`], the layer that knows the request's session (for the frame's sign-out
//! form) and method (an action's refusal reads "Not done").
//!
//! A refusal a form shows by its fields (a name taken, a field not accepted) is not an
//! [`Error`]: the form's handler shows the form again with it.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use shared::ops::OpsError;

use crate::context::{Ctx, Shared};
use crate::views::{ErrorPage, Frame, render};

/// Why a request was not served.
#[derive(Debug)]
pub(crate) enum Error {
    /// What the operations layer refused or failed at.
    Ops(OpsError),
    /// No page at this address: an unknown path, or a path parameter that is not a name
    /// (the path extractors).
    NoPage(String),
    /// An action not done, with its status and one line (`--read-only`, no HTTP client...).
    NotDone(StatusCode, String),
    /// The same, answered as `{"error": "..."}` for the admin's script.
    Json(Box<Error>),
}

impl Error {
    /// Answered as JSON (`{"error": "..."}`) rather than as a page.
    pub(crate) fn json(self) -> Self {
        match self {
            Error::Json(_) => self,
            other => Error::Json(Box::new(other)),
        }
    }
}

impl From<OpsError> for Error {
    fn from(e: OpsError) -> Self {
        Error::Ops(e)
    }
}

/// What an [`Error`] came to, carried in the response's extensions to [`frame_refusals`].
#[derive(Debug, Clone)]
struct Refusal {
    kind: Kind,
    message: String,
    json: bool,
}

/// The kinds of refusal: each answers with one status ([`answer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NoPage,
    NotFound,
    Invalid,
    Config,
    Conflict,
    Failed,
    NotDone(StatusCode),
}

impl Kind {
    fn of(e: &OpsError) -> Self {
        match e {
            OpsError::NotFound(..) | OpsError::AppNotFound(_) | OpsError::ExecutionNotFound(_) => {
                Kind::NotFound
            }
            OpsError::Invalid(_) => Kind::Invalid,
            OpsError::Config(_) | OpsError::Unset { .. } => Kind::Config,
            OpsError::AppHasJobs { .. }
            | OpsError::ChangedSince { .. }
            | OpsError::Conflict(..)
            | OpsError::AppConflict(_)
            | OpsError::RunConflict(..)
            | OpsError::AppPaused(..) => Kind::Conflict,
            _ => Kind::Failed,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (error, json) = match self {
            Error::Json(inner) => (*inner, true),
            other => (other, false),
        };
        let refusal = match error {
            Error::Ops(e) => Refusal {
                kind: Kind::of(&e),
                message: e.to_string(),
                json,
            },
            Error::NoPage(message) => Refusal {
                kind: Kind::NoPage,
                message,
                json,
            },
            Error::NotDone(status, message) => Refusal {
                kind: Kind::NotDone(status),
                message,
                json,
            },
            // Unwrapped above: an error is wrapped once.
            Error::Json(inner) => return inner.json().into_response(),
        };
        // The status is set by `frame_refusals`, which knows the request's method.
        let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        response.extensions_mut().insert(refusal);
        response
    }
}

/// The status and title a refusal answers with. An action (a POST) that is refused reads
/// "Not done" and says why; a page that cannot be shown names what went wrong. A
/// configuration error (the store's or run now's settings) is the request's to fix on an
/// action, the server's on a page.
fn answer(kind: Kind, action: bool) -> (StatusCode, &'static str) {
    let status = match kind {
        Kind::NoPage | Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Invalid => StatusCode::BAD_REQUEST,
        Kind::Config if action => StatusCode::BAD_REQUEST,
        Kind::Conflict if action => StatusCode::CONFLICT,
        Kind::Config | Kind::Conflict | Kind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        Kind::NotDone(status) => status,
    };
    let title = match kind {
        Kind::NoPage => "Not found",
        Kind::NotDone(_) => "Not done",
        _ if action => "Not done",
        Kind::NotFound => "Not found",
        Kind::Invalid => "Not accepted",
        _ => "The store could not be read",
    };
    (status, title)
}

/// The layer that answers an [`Error`]: its status, and the refusal in one line inside the
/// page frame (or as JSON for the script). A server error is logged; JSON gives the script
/// no store details.
pub(crate) async fn frame_refusals(
    State(shared): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let ctx = Ctx::of(request.extensions(), &shared);
    let action = request.method() == Method::POST;
    let response = next.run(request).await;
    let Some(refusal) = response.extensions().get::<Refusal>().cloned() else {
        return response;
    };
    let (status, title) = answer(refusal.kind, action);
    // A refusal written by a handler (`NotDone`) was logged there when it needed to be.
    if status == StatusCode::INTERNAL_SERVER_ERROR && !matches!(refusal.kind, Kind::NotDone(_)) {
        let doing = if refusal.json {
            "could not read an execution's status"
        } else if action {
            "an action failed"
        } else {
            "a page could not read the store"
        };
        tracing::error!(error = %refusal.message, "admin: {doing}");
    }
    if refusal.json {
        let (status, error) = match status {
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => {
                (StatusCode::NOT_FOUND, refusal.message)
            }
            // The store's details go to the log, not to the page's script.
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store could not be read".to_owned(),
            ),
        };
        return (status, axum::Json(serde_json::json!({ "error": error }))).into_response();
    }
    render(
        status,
        &ErrorPage {
            frame: Frame::new(&ctx, title, Utc::now()),
            message: refusal.message,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_action_reads_not_done_and_a_page_names_what_went_wrong() {
        let both = |kind| (answer(kind, false), answer(kind, true));
        let (nf, br, cf, ise) = (
            StatusCode::NOT_FOUND,
            StatusCode::BAD_REQUEST,
            StatusCode::CONFLICT,
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        assert_eq!(both(Kind::NotFound), ((nf, "Not found"), (nf, "Not done")));
        assert_eq!(
            both(Kind::Invalid),
            ((br, "Not accepted"), (br, "Not done"))
        );
        assert_eq!(
            both(Kind::Conflict),
            ((ise, "The store could not be read"), (cf, "Not done"))
        );
        assert_eq!(
            both(Kind::Config),
            ((ise, "The store could not be read"), (br, "Not done"))
        );
        assert_eq!(both(Kind::NoPage), ((nf, "Not found"), (nf, "Not found")));
        let forbidden = Kind::NotDone(StatusCode::FORBIDDEN);
        assert_eq!(
            both(forbidden),
            (
                (StatusCode::FORBIDDEN, "Not done"),
                (StatusCode::FORBIDDEN, "Not done")
            )
        );
    }

    #[test]
    fn an_error_carries_its_refusal_to_the_layer_that_draws_it() {
        let response = Error::from(OpsError::NothingToChange)
            .json()
            .into_response();
        let refusal = response.extensions().get::<Refusal>().cloned();
        assert!(
            refusal.is_some_and(|r| r.json
                && r.kind == Kind::Failed
                && r.message == "nothing to change"),
            "{response:?}"
        );
    }
}
