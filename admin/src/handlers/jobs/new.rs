//! `GET, POST /apps/{app}/new-job`: a new job's form, and its creation.

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use shared::ops::{FieldError, JobInput, OpsError, check_new_job};
use shared::store::StoreError;

use crate::context::Ctx;
use crate::error::Error;
use crate::handlers::form::{Posted, base_url_of, is_preview, job_input};
use crate::handlers::writable;
use crate::paths::AppPath;
use crate::views::job_form::{JobForm, JobFormPage};
use crate::views::{job_href, render};

/// The form for a new job of the app.
pub(crate) async fn get(ctx: Ctx, AppPath(app): AppPath) -> Result<Response, Error> {
    writable(&ctx, "it changes nothing")?;
    // The app's record, when it has one (the form works without it): its base URL for the
    // path's hint, its default zone for the zone's field.
    let record = ctx.ops.app(app.as_str()).await.ok();
    let base_url = record.as_ref().map(|a| a.base_url.to_string());
    let zone = record
        .and_then(|a| a.timezone)
        .map_or("UTC", |tz| tz.name());
    let input = JobInput {
        method: Some("GET".to_owned()),
        timezone: Some(zone.to_owned()),
        timeout: Some("30s".to_owned()),
        retries: Some("0".to_owned()),
        max_lateness: Some("1h".to_owned()),
        ..JobInput::default()
    };
    let page = JobFormPage::new(
        &ctx,
        JobForm {
            app: app.as_str(),
            base_url,
            name: None,
            input,
            shown: None,
            typed_name: String::new(),
            errors: Vec::new(),
            notice: None,
        },
    );
    Ok(render(StatusCode::OK, &page))
}

/// Creates the job, or shows the form again with its errors (nothing written); the
/// Preview button only shows the form again with the schedule's preview.
pub(crate) async fn post(
    ctx: Ctx,
    AppPath(app): AppPath,
    Form(form): Form<Posted>,
) -> Result<Response, Error> {
    let app = app.as_str();
    let input = job_input(&form, "");
    let typed_name = form.get("name").cloned().unwrap_or_default();
    // The app's base URL is read only for a form shown again (for the path's hint).
    let again = async |errors: Vec<FieldError>, status| {
        let page = JobFormPage::new(
            &ctx,
            JobForm {
                app,
                base_url: base_url_of(&ctx, app).await,
                name: None,
                input: input.clone(),
                shown: None,
                typed_name: typed_name.clone(),
                errors,
                notice: None,
            },
        );
        Ok::<_, Error>(render(status, &page))
    };
    if is_preview(&form) {
        return again(Vec::new(), StatusCode::OK).await;
    }
    let key = match check_new_job(app, typed_name.trim(), &input) {
        Ok(key) => key,
        Err(errors) => return again(errors, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    match ctx.ops.create(&key, &input, Utc::now()).await {
        Ok(job) => Ok(Redirect::to(&format!(
            "{}?created=1",
            job_href(job.app.as_str(), job.name.as_str())
        ))
        .into_response()),
        Err(OpsError::Invalid(e)) => again(vec![e], StatusCode::UNPROCESSABLE_ENTITY).await,
        Err(e) => match e.store_error() {
            Some(StoreError::AlreadyExists(..)) => {
                let taken = FieldError::plain(
                    "name",
                    format!(
                        "the app {app} already has a job named {}; choose another name",
                        key.name
                    ),
                );
                again(vec![taken], StatusCode::CONFLICT).await
            }
            Some(reason @ StoreError::AppDeleting(..)) => {
                let reason = FieldError::plain("app", reason.to_string());
                again(vec![reason], StatusCode::CONFLICT).await
            }
            _ => Err(e.into()),
        },
    }
}
