//! `GET, POST /new-app`: a new app record's form, and its creation.

use std::collections::HashMap;

use axum::extract::{Form, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use shared::model::DEFAULT_APP_BUDGET;
use shared::ops::{AppInput, FieldError, OpsError, check_new_app};
use shared::store::StoreError;

use crate::context::Ctx;
use crate::error::Error;
use crate::handlers::form::{Posted, app_input};
use crate::handlers::writable;
use crate::views::app_form::{AppForm, AppFormPage};
use crate::views::render;

/// The form for a new app record (`?app=` fills in its name).
pub(crate) async fn get(
    ctx: Ctx,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Error> {
    writable(&ctx, "it changes nothing")?;
    let name = query.get("app").cloned().unwrap_or_default();
    let page = AppFormPage::new(
        &ctx,
        AppForm {
            name: None,
            typed_name: &name,
            input: AppInput {
                base_url: None,
                budget: Some(DEFAULT_APP_BUDGET.to_string()),
                notify_after: Some(shared::model::DEFAULT_NOTIFY_AFTER.to_string()),
                ..AppInput::default()
            },
            shown: None,
            errors: Vec::new(),
            notice: None,
        },
    );
    Ok(render(StatusCode::OK, &page))
}

/// Creates the app record, or shows the form again with its errors (nothing written).
pub(crate) async fn post(ctx: Ctx, Form(form): Form<Posted>) -> Result<Response, Error> {
    let input = app_input(&form, "");
    let typed_name = form.get("app").map(|n| n.trim()).unwrap_or_default();
    let again = |errors, status| {
        let page = AppFormPage::new(
            &ctx,
            AppForm {
                name: None,
                typed_name,
                input: input.clone(),
                shown: None,
                errors,
                notice: None,
            },
        );
        Ok(render(status, &page))
    };
    let name = match check_new_app(typed_name, &input) {
        Ok(name) => name,
        Err(errors) => return again(errors, StatusCode::UNPROCESSABLE_ENTITY),
    };
    match ctx.ops.create_app(name.as_str(), &input, Utc::now()).await {
        Ok(app) => Ok(Redirect::to(&format!("/apps/{}", app.name)).into_response()),
        Err(OpsError::Invalid(e)) => again(vec![e], StatusCode::UNPROCESSABLE_ENTITY),
        Err(e) if matches!(e.store_error(), Some(StoreError::AppExists(_))) => again(
            vec![FieldError::plain(
                "app",
                format!("an app named {name} exists already; choose another name"),
            )],
            StatusCode::CONFLICT,
        ),
        Err(e) => Err(e.into()),
    }
}
