//! The handlers, a folder per resource and a file per verb where that helps: each parses its
//! request (the path by an extractor of paths.rs, the query or form by its own type), calls
//! the operations layer, and renders a view model of views/ or redirects. Each returns a
//! `Result` through [`Error`]: `?` on the operations layer, no error page built by hand.
//!
//! A new action on a job: a file in jobs/ (or a function in jobs/actions.rs), its route in
//! router.rs. A new form: its handler here beside its resource's, its fields and page in
//! views/, what it reads from the posted form in [`form`].

pub(crate) mod apps;
pub(crate) mod assets;
pub(crate) mod executions;
pub(crate) mod form;
pub(crate) mod jobs;
pub(crate) mod overview;
pub(crate) mod preview;

use axum::http::StatusCode;

use crate::context::Ctx;
use crate::error::Error;

/// Refuses (400) a `state` or `status` filter value the job lists do not offer, naming the
/// parameter and what it takes (the value is not echoed): such a list would hide every job
/// under a form showing "any".
pub(crate) fn known_filters(state: Option<&str>, status: Option<&str>) -> Result<(), Error> {
    use crate::views::app::{STATES, STATUSES};
    for (name, value, options) in [
        ("state", state, &STATES[..]),
        ("status", status, &STATUSES[..]),
    ] {
        if let Some(value) = value
            && !options.iter().any(|(key, _)| *key == value)
        {
            let known: Vec<&str> = options
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| !k.is_empty())
                .collect();
            return Err(Error::NotDone(
                StatusCode::BAD_REQUEST,
                format!(
                    "{name}: not a filter the lists know; use one of {} (or none: any)",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses (403) under `--read-only`, saying what the admin then does not do: `"it changes
/// nothing"`. The security checks refuse every POST under it already; this is for the pages
/// that lead to one (a form, a delete's question).
pub(crate) fn writable(ctx: &Ctx, nothing: &str) -> Result<(), Error> {
    if ctx.read_only {
        return Err(Error::NotDone(
            StatusCode::FORBIDDEN,
            format!("The admin runs with --read-only: {nothing}."),
        ));
    }
    Ok(())
}

/// Any other address: no page (the fallback), and `/login` and `/logout`, which the
/// security checks answer before this (routed so that they run for them).
pub(crate) async fn no_page() -> Error {
    Error::NoPage("There is no page at this address.".to_owned())
}
