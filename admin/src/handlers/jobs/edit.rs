//! `GET, POST /apps/{app}/jobs/{job}/edit`: a job's form, and the save of what was changed.

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use shared::ops::{
    FieldError, JobInput, OpsError, TARGET, ZONE, conflicts, job_field, merge_for_review,
    touched_fields,
};

use crate::context::Ctx;
use crate::error::Error;
use crate::handlers::form::{Posted, base_url_of, changed_at, conflict, is_preview, job_input};
use crate::handlers::writable;
use crate::paths::JobPath;
use crate::views::job_form::{JobForm, JobFormPage};
use crate::views::{job_href, render};

/// The form of an existing job, filled with its settings.
pub(crate) async fn get(ctx: Ctx, JobPath(key): JobPath) -> Result<Response, Error> {
    writable(&ctx, "it changes nothing")?;
    let job = ctx.ops.job(&key).await?;
    let shown = JobInput::of(&job);
    let page = JobFormPage::new(
        &ctx,
        JobForm {
            app: key.app.as_str(),
            base_url: base_url_of(&ctx, key.app.as_str()).await,
            name: Some(key.name.as_str()),
            input: shown.clone(),
            shown: Some(shown),
            typed_name: String::new(),
            errors: Vec::new(),
            notice: None,
        },
    );
    Ok(render(StatusCode::OK, &page))
}

/// Saves the fields the person changed, or shows the form again: with its errors; or, when
/// someone else changed one of those fields since the form was shown, with the job as it
/// is now in every other field, the person's values in theirs, and a notice naming them:
/// saving it again then writes the person's values knowingly.
pub(crate) async fn post(
    ctx: Ctx,
    JobPath(key): JobPath,
    Form(form): Form<Posted>,
) -> Result<Response, Error> {
    let typed = job_input(&form, "");
    let shown = job_input(&form, "shown-");
    // The app's base URL is read only for a form shown again (for the path's hint).
    let again = async |input: JobInput, shown: JobInput, errors, status, notice| {
        let page = JobFormPage::new(
            &ctx,
            JobForm {
                app: key.app.as_str(),
                base_url: base_url_of(&ctx, key.app.as_str()).await,
                name: Some(key.name.as_str()),
                input,
                shown: Some(shown),
                typed_name: String::new(),
                errors,
                notice,
            },
        );
        render(status, &page)
    };
    if is_preview(&form) {
        return Ok(again(typed, shown, Vec::new(), StatusCode::OK, None).await);
    }
    let href = job_href(key.app.as_str(), key.name.as_str());
    let response = match ctx.ops.edit(&key, &shown, &typed, Utc::now()).await {
        Ok(edited) => {
            let fields: Vec<&str> = edited.changes.iter().map(|c| c.field).collect();
            Redirect::to(&format!("{href}?changed={}", fields.join(","))).into_response()
        }
        Err(OpsError::NothingToChange) => Redirect::to(&format!("{href}?changed=")).into_response(),
        Err(OpsError::Invalid(e)) => {
            // Every refusal at once, as for a new job.
            let mut errors = typed.errors();
            if !errors.iter().any(|f| f.path == e.path) {
                errors.insert(0, e);
            }
            again(typed, shown, errors, StatusCode::UNPROCESSABLE_ENTITY, None).await
        }
        Err(OpsError::ChangedSince { fields, .. }) => {
            let job = ctx.ops.job(&key).await?;
            // The conflicts against the job as read now: the page shows this job's values,
            // so it must name this job's conflicts (a third writer may have come in between).
            let now_fields = conflicts(&job, &shown, &typed);
            let fields = if now_fields.is_empty() {
                fields
            } else {
                now_fields
            };
            let current = JobInput::of(&job);
            let zone_untouched = !touched_fields(&shown, &typed).contains(&ZONE);
            let errors = fields
                .iter()
                .map(|f| match *f {
                    ZONE if zone_untouched => FieldError::plain(
                        ZONE,
                        format!(
                            "changed to `{}` after you opened this form: the schedule, start and end you typed are now read in it; check them",
                            job_field(&current, ZONE)
                        ),
                    ),
                    TARGET => {
                        // The URL or the path, whichever is set; named as the field typed.
                        let text = |input: &JobInput| job_field(input, TARGET).trim().to_owned();
                        let field = if typed.path.is_some() { "path" } else { "url" };
                        conflict(field, &text(&current), &text(&typed))
                    }
                    other => conflict(other, &job_field(&current, other), &job_field(&typed, other)),
                })
                .collect();
            let review = merge_for_review(&job, &shown, &typed);
            again(
                review,
                current,
                errors,
                StatusCode::CONFLICT,
                Some(changed_at("job", job.updated_at)),
            )
            .await
        }
        Err(e) => return Err(e.into()),
    };
    Ok(response)
}
