//! `GET, POST /apps/{app}/edit`: an app record's form, and the save of what was changed.

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use shared::ops::{AppInput, OpsError};

use crate::context::Ctx;
use crate::error::Error;
use crate::handlers::form::{Posted, app_as_form, app_input, changed_at, conflict};
use crate::handlers::writable;
use crate::paths::AppPath;
use crate::views::app_form::{AppForm, AppFormPage};
use crate::views::render;

/// The form of an existing app record.
pub(crate) async fn get(ctx: Ctx, AppPath(app): AppPath) -> Result<Response, Error> {
    writable(&ctx, "it changes nothing")?;
    let app = ctx.ops.app(app.as_str()).await?;
    let shown = app_as_form(&app);
    let page = AppFormPage::new(
        &ctx,
        AppForm {
            name: Some(app.name.as_str()),
            typed_name: "",
            input: shown.clone(),
            shown: Some(shown),
            errors: Vec::new(),
            notice: None,
        },
    );
    Ok(render(StatusCode::OK, &page))
}

/// Saves the fields of the app the person changed, or shows the form again (as for a job).
pub(crate) async fn post(
    ctx: Ctx,
    AppPath(app): AppPath,
    Form(form): Form<Posted>,
) -> Result<Response, Error> {
    let name = app.as_str();
    let typed = app_input(&form, "");
    let shown = app_input(&form, "shown-");
    let again = |input, shown, errors, status, notice| {
        let page = AppFormPage::new(
            &ctx,
            AppForm {
                name: Some(name),
                typed_name: "",
                input,
                shown: Some(shown),
                errors,
                notice,
            },
        );
        render(status, &page)
    };
    let response = match ctx.ops.edit_app(name, &shown, &typed, Utc::now()).await {
        Ok(app) => Redirect::to(&format!("/apps/{}?changed=1", app.name)).into_response(),
        Err(OpsError::NothingToChange) => {
            Redirect::to(&format!("/apps/{name}?changed=0")).into_response()
        }
        Err(OpsError::Invalid(_)) => {
            let errors = typed.errors(true);
            again(typed, shown, errors, StatusCode::UNPROCESSABLE_ENTITY, None)
        }
        Err(OpsError::ChangedSince { at, fields, .. }) => {
            let app = ctx.ops.app(name).await?;
            let now = app_as_form(&app);
            let text = |input: &AppInput, f: &str| {
                match f {
                    "base_url" => input.base_url.clone(),
                    "timezone" => input.timezone.clone(),
                    "notify_after" => input.notify_after.clone(),
                    _ => input.budget.clone(),
                }
                .unwrap_or_default()
            };
            let errors = fields
                .iter()
                .map(|f| conflict(f, &text(&now, f), &text(&typed, f)))
                .collect();
            // The person's values where they typed, the record's elsewhere.
            let review = AppInput {
                base_url: if typed.base_url != shown.base_url {
                    typed.base_url.clone()
                } else {
                    now.base_url.clone()
                },
                budget: if typed.budget != shown.budget {
                    typed.budget.clone()
                } else {
                    now.budget.clone()
                },
                timezone: if typed.timezone != shown.timezone {
                    typed.timezone.clone()
                } else {
                    now.timezone.clone()
                },
                notify_after: if typed.notify_after != shown.notify_after {
                    typed.notify_after.clone()
                } else {
                    now.notify_after.clone()
                },
                remove_webhook: typed.remove_webhook,
                // Never shown again: typed once more if wanted.
                webhook: None,
            };
            again(
                review,
                now,
                errors,
                StatusCode::CONFLICT,
                Some(changed_at("app", at)),
            )
        }
        Err(e) => return Err(e.into()),
    };
    Ok(response)
}
