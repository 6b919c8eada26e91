//! What a handler is given besides its request: the state every request shares, and one
//! request's [`Ctx`] (that state with the CSRF token of the request's session).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::Extensions;
use axum::http::request::Parts;
use shared::ops::Ops;

use crate::Token;
use crate::answers::BulkAnswers;

/// The state the router holds, shared by every request.
#[derive(Clone)]
pub(crate) struct Shared {
    pub ops: Arc<Ops>,
    /// `--read-only`: no action is offered, and the forms answer 403.
    pub read_only: bool,
    /// The answers of bulk actions, each shown at an address of its own.
    pub bulk: Arc<BulkAnswers>,
}

/// The CSRF token of the request's session: put in the request's extensions by the security
/// checks (security.rs), for the pages' POST forms.
#[derive(Clone)]
pub(crate) struct SessionCsrf(pub(crate) Token);

/// One request's context: the shared state, and the CSRF token of its session, which every
/// POST form of its page carries (docs/admin.md, Security).
pub(crate) struct Ctx {
    pub ops: Arc<Ops>,
    pub read_only: bool,
    pub csrf: Option<Token>,
    pub bulk: Arc<BulkAnswers>,
}

impl Ctx {
    /// The context of the request whose extensions are `extensions`.
    pub(crate) fn of(extensions: &Extensions, shared: &Shared) -> Self {
        Self {
            ops: shared.ops.clone(),
            read_only: shared.read_only,
            csrf: extensions.get::<SessionCsrf>().map(|csrf| csrf.0.clone()),
            bulk: shared.bulk.clone(),
        }
    }
}

impl FromRequestParts<Shared> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Shared,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions, shared))
    }
}
