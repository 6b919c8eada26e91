//! The plan: the steps from the store's state to a file's ([`DesiredState`]), each with the
//! fields it changes (old -> new, a value from a variable shown as the file writes it), as
//! `terraform plan` shows them; and what the plan read, which the executor's writes are
//! conditional on.

use chrono_tz::Tz;
use serde::Serialize;

use super::file::{DesiredApp, DesiredJob, DesiredRecord, DesiredState};
use crate::model::{App, AppName, BaseUrl, Job, JobName, NewJob};
use crate::ops::Ops;
use crate::ops::change::JobChanges;
use crate::ops::definition::{Definition, job_changes};
use crate::ops::error::{FieldError, OpsError};
use crate::ops::field::{self, Change};
/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Creates the app record or job.
    Create,
    /// Changes the fields listed.
    Update,
    /// Deletes the job (`--prune`).
    Delete,
    /// Nothing to do.
    Unchanged,
    /// A job of a named app that the file does not list, kept (without `--prune`).
    NotInFile,
}

/// One app record or job in a plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// The app.
    pub app: AppName,
    /// The job; `None` for the app's record.
    pub job: Option<JobName>,
    /// What the step does.
    pub action: Action,
    /// The fields it changes (for a creation, those it sets).
    pub changes: Vec<Change>,
    /// The job is paused and the file does not say `paused`: it stays paused.
    pub stays_paused: bool,
    pub(super) write: Write,
}

/// What a step writes, with what the plan read (the condition of the write).
#[derive(Debug, Clone)]
pub(super) enum Write {
    Nothing,
    CreateApp(Box<DesiredRecord>),
    UpdateApp(Box<App>, Box<DesiredRecord>),
    CreateJob(Box<NewJob>),
    UpdateJob(Box<Job>, Box<JobChanges>, bool),
    DeleteJob(Box<Job>),
}

/// The steps from the store's state to the file's: app records first, then each app's jobs
/// in file order, then the jobs the file no longer lists.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The steps, in the order they are carried out.
    pub steps: Vec<Step>,
}

impl Plan {
    /// How many steps do `action`.
    pub fn count(&self, action: Action) -> usize {
        self.steps.iter().filter(|s| s.action == action).count()
    }

    /// True when no step writes anything.
    pub fn is_empty(&self) -> bool {
        self.steps.iter().all(|s| matches!(s.write, Write::Nothing))
    }
}

/// What carrying out a step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Written (or, for a deletion, found already gone).
    Done,
    /// A step that writes nothing.
    Nothing,
    /// Not written: what the plan read changed meanwhile; the reason, one line.
    Refused(String),
}

/// A plan (and, once carried out, what each step did) as `apply --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    /// Steps that create an app record or a job.
    pub create: usize,
    /// Steps that change one.
    pub update: usize,
    /// Jobs deleted (`--prune`).
    pub delete: usize,
    /// App records and jobs already as the file says.
    pub unchanged: usize,
    /// Jobs of the named apps that the file does not list, kept (without `--prune`).
    pub not_in_file: usize,
    /// Every step.
    pub steps: Vec<StepView>,
}

/// One step of a [`PlanView`].
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    /// The app.
    pub app: String,
    /// The job, `null` for the app's record.
    pub name: Option<String>,
    /// `create`, `update`, `delete`, `unchanged` or `not_in_file`.
    pub action: Action,
    /// The fields changed: `field`, `old`, `new`.
    pub changes: Vec<Change>,
    /// The job is paused and the file does not say `paused`: it stays paused.
    pub stays_paused: bool,
    /// Once carried out: `done`, `refused` or `nothing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
    /// Why a step was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PlanView {
    /// The plan, with `results` (one per step) once carried out.
    pub fn new(plan: &Plan, results: Option<&[Applied]>) -> Self {
        let steps = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let applied = results.and_then(|r| r.get(i));
                StepView {
                    app: s.app.to_string(),
                    name: s.job.as_ref().map(ToString::to_string),
                    action: s.action,
                    changes: s.changes.clone(),
                    stays_paused: s.stays_paused,
                    result: applied.map(|a| match a {
                        Applied::Done => "done",
                        Applied::Nothing => "nothing",
                        Applied::Refused(_) => "refused",
                    }),
                    reason: match applied {
                        Some(Applied::Refused(reason)) => Some(reason.clone()),
                        _ => None,
                    },
                }
            })
            .collect();
        Self {
            create: plan.count(Action::Create),
            update: plan.count(Action::Update),
            delete: plan.count(Action::Delete),
            unchanged: plan.count(Action::Unchanged),
            not_in_file: plan.count(Action::NotInFile),
            steps,
        }
    }
}

impl Ops {
    /// The steps that bring the store to `desired`: for each app the file names, its record
    /// and its jobs; with `prune`, the deletion of the jobs of those apps the file does not
    /// list. Apps the file does not name are never read nor touched.
    pub async fn plan(&self, desired: &DesiredState, prune: bool) -> Result<Plan, OpsError> {
        let store = self.store().await?;
        let mut steps = Vec::new();
        for app in &desired.apps {
            let record = store
                .get_app(&app.name)
                .await
                .map_err(OpsError::store("read the app"))?;
            let step = |action, mut changes: Vec<Change>, write| {
                mask(&mut changes, &app.written);
                Step {
                    app: app.name.clone(),
                    job: None,
                    action,
                    changes,
                    stays_paused: false,
                    write,
                }
            };
            match (&app.record, record) {
                (Some(desired), None) => {
                    let mut changes: Vec<Change> = [
                        Some(Change::shown(
                            "base_url",
                            None,
                            Some(desired.base_url.to_string()),
                        )),
                        Some(Change::shown(
                            "budget",
                            None,
                            Some(desired.budget.to_string()),
                        )),
                        desired
                            .timezone
                            .map(|z| Change::shown("timezone", None, Some(z.name().to_owned()))),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    changes.extend(pause_changes(None, desired));
                    changes.extend(notify_changes(None, desired));
                    steps.push(step(
                        Action::Create,
                        changes,
                        Write::CreateApp(Box::new(desired.clone())),
                    ));
                }
                (Some(desired), Some(read)) => {
                    let mut changes = Vec::new();
                    if read.base_url != desired.base_url {
                        changes.push(Change::shown(
                            "base_url",
                            Some(read.base_url.to_string()),
                            Some(desired.base_url.to_string()),
                        ));
                    }
                    if read.budget != desired.budget {
                        changes.push(Change::shown(
                            "budget",
                            Some(read.budget.to_string()),
                            Some(desired.budget.to_string()),
                        ));
                    }
                    if read.timezone != desired.timezone {
                        let name = |z: Option<Tz>| z.map(|z| z.name().to_owned());
                        changes.push(Change::shown(
                            "timezone",
                            name(read.timezone),
                            name(desired.timezone),
                        ));
                    }
                    changes.extend(pause_changes(Some(&read), desired));
                    changes.extend(notify_changes(Some(&read), desired));
                    withhold_stored_text(&mut changes);
                    let stays_paused = read.paused.is_some() && desired.pause.is_none();
                    let mut step = if changes.is_empty() {
                        step(Action::Unchanged, changes, Write::Nothing)
                    } else {
                        step(
                            Action::Update,
                            changes,
                            Write::UpdateApp(Box::new(read), Box::new(desired.clone())),
                        )
                    };
                    step.stays_paused = stays_paused;
                    steps.push(step);
                }
                (None, _) => {}
            }
            let base_url = app.record.as_ref().map(|r| &r.base_url);
            let mut stored = store
                .list_jobs(Some(&app.name))
                .await
                .map_err(OpsError::store("list the app's jobs"))?;
            stored.sort_by(|a, b| a.name.cmp(&b.name));
            for job in &app.jobs {
                steps.push(plan_job(
                    app,
                    job,
                    stored.iter().find(|j| j.name == job.name),
                    base_url,
                )?);
            }
            for read in stored {
                if app.jobs.iter().any(|j| j.name == read.name) {
                    continue;
                }
                let (action, write) = if prune {
                    (Action::Delete, Write::DeleteJob(Box::new(read.clone())))
                } else {
                    (Action::NotInFile, Write::Nothing)
                };
                steps.push(Step {
                    app: app.name.clone(),
                    job: Some(read.name.clone()),
                    action,
                    changes: Vec::new(),
                    stays_paused: false,
                    write,
                });
            }
        }
        Ok(Plan { steps })
    }
}

/// The changes of an app's failure notifications from its record `read` (none: a new
/// record) to the file's. A webhook is shown masked (its host), never whole.
fn notify_changes(read: Option<&App>, desired: &DesiredRecord) -> Vec<Change> {
    let mut changes = Vec::new();
    let webhook = read.and_then(|r| r.webhook.as_ref());
    if webhook != desired.webhook.as_ref() {
        let masked = |w: Option<&crate::model::WebhookUrl>| w.map(|w| w.masked());
        changes.push(Change::shown(
            "webhook",
            masked(webhook),
            masked(desired.webhook.as_ref()),
        ));
    }
    let notify_after = read.map_or(crate::model::DEFAULT_NOTIFY_AFTER, |r| r.notify_after);
    if notify_after != desired.notify_after {
        changes.push(Change::shown(
            "notify_after",
            read.map(|_| notify_after.to_string()),
            Some(desired.notify_after.to_string()),
        ));
    }
    changes
}

/// The changes of an app's pause from its record `read` (none: a new record) to the file's:
/// `paused` and `pause_reason`, as a job's.
fn pause_changes(read: Option<&App>, desired: &DesiredRecord) -> Vec<Change> {
    let Some(wanted) = &desired.pause else {
        return Vec::new();
    };
    let now = read.and_then(|r| r.paused.as_ref()).map(|p| &p.reason);
    let mut changes = Vec::new();
    if now.is_some() != wanted.is_some() {
        changes.push(Change::shown(
            "paused",
            read.map(|_| now.is_some().to_string()),
            Some(wanted.is_some().to_string()),
        ));
    }
    if now != wanted.as_ref() {
        changes.push(Change::shown(
            "pause_reason",
            now.map(ToString::to_string),
            wanted.as_ref().map(ToString::to_string),
        ));
    }
    changes
}

/// The step for one job of the file, given the stored job of that name.
fn plan_job(
    app: &DesiredApp,
    job: &DesiredJob,
    stored: Option<&Job>,
    base_url: Option<&BaseUrl>,
) -> Result<Step, OpsError> {
    let mut step = Step {
        app: app.name.clone(),
        job: Some(job.name.clone()),
        action: Action::Unchanged,
        changes: Vec::new(),
        stays_paused: false,
        write: Write::Nothing,
    };
    let Some(read) = stored else {
        let def = &job.def;
        let url = match (&def.url, &def.path, base_url) {
            (Some(url), _, _) => url.clone(),
            (None, Some(path), Some(base)) => base.join(path).map_err(FieldError::from)?,
            _ => {
                return Err(FieldError::plain("path", "has no base URL to resolve against").into());
            }
        };
        let mut spec = def.new_job(app.name.clone(), job.name.clone(), url);
        spec.enabled = !job.paused.unwrap_or(false);
        step.action = Action::Create;
        step.changes = field::creation(def);
        if job.paused == Some(true) {
            step.changes
                .push(Change::shown("paused", None, Some("true".to_owned())));
        }
        step.write = Write::CreateJob(Box::new(spec));
        mask(&mut step.changes, &job.written);
        return Ok(step);
    };
    let old = Definition::of(read);
    // A file that does not say `paused` leaves a paused job paused, with its reason.
    let mut def = job.def.clone();
    if job.paused.is_none() {
        def.pause_reason = old.pause_reason.clone();
    }
    let mut changes = job_changes(&old, &def, base_url)?;
    step.changes = field::changes(&old, &def);
    let paused_now = !read.enabled;
    if let Some(paused) = job.paused
        && paused != paused_now
    {
        step.changes.push(Change::shown(
            "paused",
            Some(paused_now.to_string()),
            Some(paused.to_string()),
        ));
        changes.enabled = Some(!paused);
    }
    step.stays_paused = paused_now && job.paused.is_none();
    if !step.changes.is_empty() {
        step.action = Action::Update;
        let resume = changes.enabled == Some(true);
        step.write = Write::UpdateJob(Box::new(read.clone()), Box::new(changes), resume);
    }
    mask(&mut step.changes, &job.written);
    Ok(step)
}

/// Shows each change of a field given from a variable as the file writes it (`${NAME}`
/// kept), its old value not shown: the plan is printed where many can read it (a pull
/// request's CI log), and a variable may hold a secret, in a URL's query for instance.
fn mask(changes: &mut [Change], written: &[(&'static str, String)]) {
    for change in changes.iter_mut() {
        if let Some((_, text)) = written.iter().find(|(f, _)| *f == change.field) {
            change.old = None;
            change.new = Some(text.clone());
            change.from_variables = true;
            change.old_hidden = true;
        }
    }
    withhold_stored_text(changes);
}

/// Withholds the stored value of each free-text field ([`field::stored_text`]).
fn withhold_stored_text(changes: &mut [Change]) {
    for change in changes {
        if field::stored_text(change.field) && change.old.is_some() {
            change.old = None;
            change.old_hidden = true;
        }
    }
}
