//! `POST /jobs/bulk`: the overview's bulk actions. One form names several jobs, each by its
//! key, id and the `updated_at` the page showed (`ShownJob`), and an action: pause, resume
//! or run now. Each job goes through the operations layer on its own; one changed or deleted
//! since the page was shown is reported and left as it is. The answer lists a result per job,
//! at an address of its own (`GET /jobs/bulk/<answer>`, where the POST redirects): reloading
//! it shows the results again and acts on nothing.

use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use shared::ops::{FieldError, NotAsShown, OpsError, ShownJob};

use super::actions::start_run;
use crate::answers::{BulkRow, Done};
use crate::context::Ctx;
use crate::error::Error;
use crate::views::bulk::BulkPage;
use crate::views::{job_href, render};

/// The most jobs one bulk action takes.
const MOST: usize = 500;
/// A bulk action's answer, shown again.
pub(crate) async fn get(ctx: Ctx, Path(answer): Path<String>) -> Result<Response, Error> {
    let found = ctx
        .csrf
        .as_ref()
        .and_then(|session| ctx.bulk.find(&answer, session));
    let Some((action, rows)) = found else {
        return Err(Error::NoPage(
            "There is no such answer: it is another session's, or it was forgotten (after 30 minutes, or a restart). The jobs' pages show what was done."
                .to_owned(),
        ));
    };
    let page = BulkPage::new(&ctx, action, rows, Utc::now());
    Ok(render(StatusCode::OK, &page))
}

/// What the form asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Pause,
    Resume,
    Run,
}

/// Acts on each job named, and shows a result per job.
pub(crate) async fn post(
    ctx: Ctx,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let action = match fields
        .iter()
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.as_str())
    {
        Some("pause") => Action::Pause,
        Some("resume") => Action::Resume,
        Some("run") => Action::Run,
        _ => {
            return Err(OpsError::from(FieldError::plain(
                "action",
                "is not one of pause, resume, run",
            ))
            .into());
        }
    };
    let shown = fields
        .iter()
        .filter(|(k, _)| k == "job")
        .map(|(_, v)| ShownJob::parse(v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(OpsError::from)?;
    if shown.is_empty() {
        return Err(Error::NotDone(
            StatusCode::BAD_REQUEST,
            "job: no job selected; tick the jobs to act on".to_owned(),
        ));
    }
    let mut named = std::collections::BTreeSet::new();
    if let Some(again) = shown
        .iter()
        .find(|j| !named.insert((j.key.app.as_str(), j.key.name.as_str())))
    {
        return Err(Error::NotDone(
            StatusCode::BAD_REQUEST,
            format!(
                "job: {}/{} is named twice; each job is acted on once",
                again.key.app, again.key.name
            ),
        ));
    }
    if shown.len() > MOST {
        return Err(Error::NotDone(
            StatusCode::BAD_REQUEST,
            format!("job: {} jobs selected; at most {MOST} at once", shown.len()),
        ));
    }
    let mut rows = Vec::with_capacity(shown.len());
    for job in &shown {
        let done = match act(&ctx, action, job).await {
            Ok(done) => done,
            Err(e) => Done::Refused(why(&e)),
        };
        rows.push(BulkRow {
            job: format!("{}/{}", job.key.app, job.key.name),
            href: job_href(job.key.app.as_str(), job.key.name.as_str()),
            done,
        });
    }
    // The answer at an address of its own: reloading it does not post the form again.
    match &ctx.csrf {
        Some(session) => {
            let address = ctx.bulk.keep(session.clone(), action_word(action), rows);
            Ok(Redirect::to(&address).into_response())
        }
        None => {
            let page = BulkPage::new(&ctx, action_word(action), rows, Utc::now());
            Ok(render(StatusCode::OK, &page))
        }
    }
}

fn action_word(action: Action) -> &'static str {
    match action {
        Action::Pause => "Pause",
        Action::Resume => "Resume",
        Action::Run => "Run now",
    }
}

/// One job's action, when it is still as the page showed it.
async fn act(ctx: &Ctx, action: Action, shown: &ShownJob) -> Result<Done, Error> {
    let now = Utc::now();
    let outcome = match action {
        Action::Pause | Action::Resume => {
            let enable = action == Action::Resume;
            match ctx.ops.set_enabled_as_shown(shown, enable, now).await? {
                Ok((_, true)) if enable => Done::Did("resumed".to_owned()),
                Ok((_, true)) => Done::Did("paused".to_owned()),
                Ok((_, false)) if enable => Done::Already("already active: nothing to do"),
                Ok((_, false)) => Done::Already("already paused: nothing to do"),
                Err(not) => not_as_shown(not),
            }
        }
        Action::Run => match ctx.ops.job_as_shown(shown).await? {
            Ok(_) => {
                let id = start_run(ctx, shown.key.clone()).await?;
                Done::Started(format!("/executions/{id}"))
            }
            Err(not) => not_as_shown(not),
        },
    };
    Ok(outcome)
}

fn not_as_shown(not: NotAsShown) -> Done {
    match not {
        NotAsShown::Gone => Done::NotAsShown("deleted since the page was shown".to_owned()),
        NotAsShown::Changed(at) => Done::NotAsShown(format!(
            "changed at {} after the page was shown: nothing done; look at it again",
            crate::format::utc(at)
        )),
    }
}

/// A refusal in one line.
fn why(e: &Error) -> String {
    match e {
        Error::Ops(e) => e.to_string(),
        Error::NotDone(_, message) => message.clone(),
        Error::NoPage(_) => "no such job".to_owned(),
        Error::Json(inner) => why(inner),
    }
}
