//! The path parameters, parsed once: a handler takes an [`AppPath`], a [`JobPath`] or an
//! [`ExecutionPath`] and holds a valid name. One that is not a name is no page: the extractor
//! answers 404 itself ([`Error::NoPage`]), so no handler parses a parameter again.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use shared::model::{AppName, ExecutionId};
use shared::ops::{FieldError, JobKey, parse_app};

use crate::error::Error;

/// `/apps/{app}/...`: the app's name.
pub(crate) struct AppPath(pub AppName);

/// `/apps/{app}/jobs/{job}/...`: the job's app and name.
pub(crate) struct JobPath(pub JobKey);

/// `/executions/{id}/...`: the execution's id.
pub(crate) struct ExecutionPath(pub ExecutionId);

/// The path's parameters as text; a path the router did not match with them is no page.
async fn raw<T, S>(parts: &mut Parts, state: &S) -> Result<T, Error>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    Path::<T>::from_request_parts(parts, state)
        .await
        .map(|Path(raw)| raw)
        .map_err(|_| Error::NoPage(NO_PAGE.to_owned()))
}

/// A parameter that is not a name: the unknown address's page, nothing of it echoed (it may
/// hold control characters or be any length).
fn no_page(_: FieldError) -> Error {
    Error::NoPage(NO_PAGE.to_owned())
}

const NO_PAGE: &str = "There is no page at this address.";

impl<S: Send + Sync> FromRequestParts<S> for AppPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app: String = raw(parts, state).await?;
        parse_app(&app).map(Self).map_err(no_page)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for JobPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (app, job): (String, String) = raw(parts, state).await?;
        JobKey::parse(&app, &job).map(Self).map_err(no_page)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ExecutionPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let id: String = raw(parts, state).await?;
        ExecutionId::parse(&id)
            .map(Self)
            .map_err(|e| no_page(FieldError::from(e)))
    }
}
