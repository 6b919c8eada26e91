//! The file reader: a schedules file's apps and jobs, every value checked by the functions
//! `create` uses, into a [`DesiredState`]; every refusal reported at once with its place.

use std::ops::Range;

use chrono_tz::Tz;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::tables::{Errors, Fields, Loc, finish, read_table, unknown_key};
use crate::model::{
    AppName, BaseUrl, DEFAULT_APP_BUDGET, DEFAULT_NOTIFY_AFTER, JobName, PauseReason, WebhookUrl,
};
use crate::ops::AppInput;
use crate::ops::definition::Definition;
use crate::ops::error::{FieldError, FieldPath, Message, OpsError};
use crate::ops::field::{FIELDS, Kind};
use crate::ops::input::JobInput;

/// The apps and jobs a file declares, every value checked.
#[derive(Debug, Clone)]
pub struct DesiredState {
    pub(super) apps: Vec<DesiredApp>,
}

impl DesiredState {
    /// The apps the file names, in file order.
    pub fn app_names(&self) -> impl Iterator<Item = &AppName> {
        self.apps.iter().map(|a| &a.name)
    }

    /// How many jobs the file declares.
    pub fn job_count(&self) -> usize {
        self.apps.iter().map(|a| a.jobs.len()).sum()
    }
}

#[derive(Debug, Clone)]
pub(super) struct DesiredApp {
    pub(super) name: AppName,
    /// The app's record, when the file gives a base URL.
    pub(super) record: Option<DesiredRecord>,
    pub(super) jobs: Vec<DesiredJob>,
    /// The fields given from a variable, as the file writes them ([`mask`]).
    pub(super) written: Vec<(&'static str, String)>,
}

/// An app's record as a file declares it.
#[derive(Debug, Clone)]
pub(super) struct DesiredRecord {
    pub(super) base_url: BaseUrl,
    pub(super) budget: u32,
    /// The default zone of its jobs.
    pub(super) timezone: Option<Tz>,
    /// `None`: the file does not say `paused`, a paused app stays paused; `Some(None)`:
    /// `paused = false`; `Some(Some(reason))`: `paused = true` with its `pause_reason`.
    pub(super) pause: Option<Option<PauseReason>>,
    /// Where its jobs' failures are posted (absent from the file: none).
    pub(super) webhook: Option<WebhookUrl>,
    /// After how many failed runs in a row.
    pub(super) notify_after: u32,
}

#[derive(Debug, Clone)]
pub(super) struct DesiredJob {
    pub(super) name: JobName,
    pub(super) def: Definition,
    /// `None`: the file does not say, a paused job stays paused.
    pub(super) paused: Option<bool>,
    /// The fields (as the plan names them) given from a variable, as the file writes them.
    pub(super) written: Vec<(&'static str, String)>,
}

const APP_KEYS: &[(&str, Kind)] = &[
    ("name", Kind::Name),
    ("base_url", Kind::Text),
    ("budget", Kind::Number),
    ("timezone", Kind::Text),
    ("paused", Kind::Flag),
    ("pause_reason", Kind::Text),
    ("webhook", Kind::Text),
    ("notify_after", Kind::Number),
    ("jobs", Kind::Tables),
];

/// A job's keys: its name, the keys of each of its [`FIELDS`], and `paused`.
fn job_keys() -> Vec<(&'static str, Kind)> {
    let mut keys = vec![("name", Kind::Name)];
    keys.extend(FIELDS.iter().flat_map(|f| f.keys).map(|k| (k.name, k.kind)));
    keys.push(("paused", Kind::Flag));
    keys
}

/// The keys of a job's schedule.
const SCHEDULE_KEYS: [&str; 5] = ["cron", "at", "every", "between", "days"];

/// Reads and checks a schedules file: every error (syntax, an unknown key, a bad value, a
/// duplicate name, a job by path in an app without a base URL, a missing variable) with its
/// line and column. `vars` gives the value of each `${NAME}`: [`super::file_var`], never the
/// environment as a whole.
pub fn parse_file(
    file: &str,
    text: &str,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<DesiredState, OpsError> {
    let mut errors = Errors {
        file,
        text,
        list: Vec::new(),
        hidden: Vec::new(),
    };
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            errors.add(
                e.span().unwrap_or(0..0),
                FieldError {
                    path: FieldPath::default(),
                    message: Message::text(e.message().trim().to_owned()),
                },
            );
        }
        return Err(finish(errors));
    }
    let mut apps: Vec<DesiredApp> = Vec::new();
    // Each valid app name, with its index in the file and its place.
    let mut names: Vec<(usize, AppName, Range<usize>)> = Vec::new();
    for (key, value) in doc.get_ref() {
        if key.get_ref() == "apps" {
            match value.get_ref() {
                DeValue::Array(list) if list.iter().all(|v| v.get_ref().is_table()) => {
                    for (i, item) in list.iter().enumerate() {
                        if let Some((name, span, app)) = read_app(i, item, vars, &mut errors) {
                            names.push((i, name, span));
                            apps.extend(app);
                        }
                    }
                }
                _ => errors.add(
                    value.span(),
                    FieldError::plain("apps", "must be tables: write each app as [[apps]]"),
                ),
            }
        } else {
            errors.add(
                key.span(),
                unknown_key(key.get_ref(), &[("apps", Kind::Tables)], "the file"),
            );
        }
    }
    for (k, (i, name, span)) in names.iter().enumerate() {
        if let Some((_, _, first)) = names[..k].iter().find(|(_, n, _)| n == name) {
            let line = errors
                .text
                .get(..first.start)
                .unwrap_or("")
                .matches('\n')
                .count()
                + 1;
            errors.add(
                span.clone(),
                Loc {
                    app: Some(*i),
                    job: None,
                }
                .error(FieldError::plain(
                    "name",
                    format!(
                        "the app {name} is already declared at line {line}; declare each app once, with all its jobs"
                    ),
                )),
            );
        }
    }
    if errors.list.is_empty() {
        Ok(DesiredState { apps })
    } else {
        Err(finish(errors))
    }
}

fn read_app(
    i: usize,
    item: &Spanned<DeValue<'_>>,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Errors<'_>,
) -> Option<(AppName, Range<usize>, Option<DesiredApp>)> {
    let loc = Loc {
        app: Some(i),
        job: None,
    };
    let before = errors.list.len();
    let fields = read_table(item, APP_KEYS, "an app", loc, env, errors)?;
    let name = fields.name("app", AppName::parse, loc, errors);
    let input = AppInput {
        base_url: fields.text("base_url").map(str::to_owned),
        budget: fields.text("budget").map(str::to_owned),
        webhook: fields.text("webhook").map(str::to_owned),
        notify_after: fields.text("notify_after").map(str::to_owned),
        ..AppInput::default()
    };
    for (key, single) in [
        (
            "base_url",
            AppInput {
                base_url: input.base_url.clone(),
                ..AppInput::default()
            },
        ),
        (
            "budget",
            AppInput {
                budget: input.budget.clone(),
                ..AppInput::default()
            },
        ),
    ] {
        if let Err(e) = single.parse() {
            errors.add(fields.span(key), loc.error(e));
        }
    }
    // The failure notifications' settings, each checked on its own.
    let mut notify = (None, DEFAULT_NOTIFY_AFTER);
    for key in ["webhook", "notify_after"] {
        let single = AppInput {
            webhook: input.webhook.clone().filter(|_| key == "webhook"),
            notify_after: input.notify_after.clone().filter(|_| key == "notify_after"),
            ..AppInput::default()
        };
        match single.notify() {
            Ok((webhook, n)) => {
                notify.0 = notify.0.or(webhook.flatten());
                notify.1 = n.unwrap_or(notify.1);
            }
            Err(e) => errors.add(fields.span(key), loc.error(e)),
        }
        if fields.has(key) && input.base_url.is_none() {
            errors.add_plain(
                fields.span(key),
                loc.error(FieldError::new(
                    key,
                    Message::text("an app record needs its ")
                        .field("base_url")
                        .and("; give base_url = \"https://host\" with it"),
                )),
            );
        }
    }
    let base_url = input
        .base_url
        .as_deref()
        .and_then(|b| BaseUrl::parse(b).ok());
    if input.budget.is_some() && input.base_url.is_none() {
        errors.add_plain(
            fields.span("budget"),
            loc.error(FieldError::new(
                "budget",
                Message::text("an app record needs its ")
                    .field("base_url")
                    .and("; give base_url = \"https://host\" with the budget"),
            )),
        );
    }
    // The app's default zone: its jobs without a zone are read in it (and the record keeps it).
    let zone = match fields.text("timezone").map(crate::ops::parse_zone) {
        Some(Ok(tz)) => Some(tz),
        Some(Err(e)) => {
            errors.add(fields.span("timezone"), loc.error(e));
            None
        }
        None => None,
    };
    let pause = app_pause(&fields, loc, errors);
    // A base URL given but refused (already reported) is no reason to refuse the jobs by path.
    let has_base = fields.has("base_url") || fields.refused("base_url");
    let mut jobs: Vec<DesiredJob> = Vec::new();
    let mut names: Vec<(JobName, Range<usize>)> = Vec::new();
    for (j, item) in fields.tables("jobs").iter().enumerate() {
        let loc = Loc {
            app: Some(i),
            job: Some(j),
        };
        let Some((name, span, job)) = read_job(loc, item, has_base, zone, env, errors) else {
            continue;
        };
        if let Some((_, first)) = names.iter().find(|(n, _)| *n == name) {
            let line = errors
                .text
                .get(..first.start)
                .unwrap_or("")
                .matches('\n')
                .count()
                + 1;
            errors.add(
                span.clone(),
                loc.error(FieldError::plain(
                    "name",
                    format!(
                        "duplicate: a job named {name} is already declared in this app at line {line}"
                    ),
                )),
            );
            continue;
        }
        names.push((name, span));
        jobs.extend(job);
    }
    let name = name?;
    let span = fields.span("name");
    let budget = match input.parse() {
        Ok((_, budget)) if errors.list.len() == before => budget.unwrap_or(DEFAULT_APP_BUDGET),
        _ => return Some((name, span, None)),
    };
    let app = DesiredApp {
        name: name.clone(),
        record: base_url.map(|base_url| DesiredRecord {
            base_url,
            budget,
            timezone: zone,
            pause,
            webhook: notify.0,
            notify_after: notify.1,
        }),
        jobs,
        written: fields.written,
    };
    Some((name, span, Some(app)))
}

/// An app's `paused` and `pause_reason`, checked: a pause lives on the app's record (it
/// needs `base_url`) and says why (`pause_reason` with `paused = true`, and only then).
fn app_pause(
    fields: &Fields<'_, '_>,
    loc: Loc,
    errors: &mut Errors<'_>,
) -> Option<Option<PauseReason>> {
    let paused = fields.flag("paused");
    let reason = fields.text("pause_reason");
    let refuse = |errors: &mut Errors<'_>, key: &str, e: FieldError| {
        errors.add_plain(fields.span(key), loc.error(e));
    };
    if paused.is_some() && !fields.has("base_url") && !fields.refused("base_url") {
        refuse(
            errors,
            "paused",
            FieldError::new(
                "paused",
                Message::text("an app's pause lives on its record, which needs its ")
                    .field("base_url")
                    .and("; give base_url = \"https://host\" with paused"),
            ),
        );
        return None;
    }
    match (paused, reason) {
        (Some(true), Some(text)) => match PauseReason::parse("pause_reason", text) {
            Ok(reason) => Some(Some(reason)),
            Err(e) => {
                errors.add(fields.span("pause_reason"), loc.error(e.into()));
                None
            }
        },
        (Some(true), None) => {
            refuse(
                errors,
                "paused",
                FieldError::plain(
                    "pause_reason",
                    "missing; a paused app says why: give pause_reason = \"...\" (one line of 1 to 200 characters) with paused = true",
                ),
            );
            None
        }
        (_, Some(_)) => {
            refuse(
                errors,
                "pause_reason",
                FieldError::plain(
                    "pause_reason",
                    "given without paused = true; a reason goes with a pause",
                ),
            );
            None
        }
        (Some(false), None) => Some(None),
        (None, None) => None,
    }
}

/// Reads one job: its name and the name's place when the name is valid, and the job when
/// nothing in it was refused (each refusal is reported).
fn read_job(
    loc: Loc,
    item: &Spanned<DeValue<'_>>,
    has_base: bool,
    app_zone: Option<Tz>,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Errors<'_>,
) -> Option<(JobName, Range<usize>, Option<DesiredJob>)> {
    let before = errors.list.len();
    let keys = job_keys();
    let fields = read_table(item, &keys, "a job", loc, env, errors)?;
    let name = fields.name("job", JobName::parse, loc, errors);
    let mut input = JobInput::default();
    for field in FIELDS {
        for key in field.keys {
            if let Some(text) = fields.text(key.name)
                && let Err(e) = (field.set)(&mut input, key.name, text.to_owned())
            {
                errors.add(fields.span(key.name), loc.error(e));
            }
        }
    }
    // Without a zone of its own, the job is read in its app's default zone.
    if input.timezone.is_none() {
        input.timezone = app_zone.map(|tz| tz.name().to_owned());
    }
    // Each option on its own first, through the very checks `create` makes, so that every bad
    // value is reported, not only the first.
    for field in FIELDS.iter().filter(|f| f.alone) {
        if fields.has(field.name)
            && let Err(e) = field.only(&input).parse(false)
        {
            errors.add(fields.span(field.name), loc.error(e));
        }
    }
    let schedule_refused = SCHEDULE_KEYS.iter().any(|k| fields.refused(k));
    if !schedule_refused && let Err(e) = input.schedule.build(true) {
        let key = SCHEDULE_KEYS
            .into_iter()
            .find(|k| Some(*k) == e.path.leaf() && fields.has(k))
            .or_else(|| ["cron", "at", "every"].into_iter().find(|k| fields.has(k)))
            .unwrap_or("name");
        errors.add(fields.span(key), loc.error(fields.hide(&SCHEDULE_KEYS, e)));
    }
    if let Ok(tz) = input
        .timezone
        .as_deref()
        .map_or(Ok(Tz::UTC), crate::ops::parse_zone)
        && let Err(e) = input.dates(tz)
    {
        let key = e.path.leaf().unwrap_or("start").to_owned();
        let e = fields.hide(&["start", "end", "timezone"], e);
        errors.add(fields.span(&key), loc.error(e));
    }
    if fields.has("path") && !has_base {
        errors.add_plain(
            fields.span("path"),
            loc.error(FieldError::new(
                "path",
                Message::text("a job by path needs its app's ")
                    .field("base_url")
                    .and("; give the app base_url = \"https://host\", or give the job a ")
                    .field("url"),
            )),
        );
    }
    let name = name?;
    let span = fields.span("name");
    if errors.list.len() > before {
        return Some((name, span, None));
    }
    // The options together: url and path, which `create` checks at once.
    let def = match Definition::from_input(&input) {
        Ok(def) => def,
        Err(e) => {
            let key = e.path.leaf().unwrap_or("name").to_owned();
            let all: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
            errors.add(fields.span(&key), loc.error(fields.hide(&all, e)));
            return Some((name, span, None));
        }
    };
    let paused = fields.flag("paused");
    if def.pause_reason.is_some() && paused != Some(true) {
        errors.add_plain(
            fields.span("pause_reason"),
            loc.error(FieldError::plain(
                "pause_reason",
                "given without paused = true; a reason goes with a pause",
            )),
        );
        return Some((name, span, None));
    }
    let job = DesiredJob {
        name: name.clone(),
        def,
        paused,
        written: written(&fields),
    };
    Some((name, span, Some(job)))
}

/// A job's fields given from a variable, as the plan names them, each as the file writes it;
/// the schedule's keys as one (`every ${EVERY} between 08:00-17:00`).
fn written(fields: &Fields<'_, '_>) -> Vec<(&'static str, String)> {
    let mut written: Vec<(&'static str, String)> = fields
        .written
        .iter()
        .filter(|(k, _)| !SCHEDULE_KEYS.contains(k))
        .cloned()
        .collect();
    if fields
        .written
        .iter()
        .any(|(k, _)| SCHEDULE_KEYS.contains(k))
    {
        let parts: Vec<String> = SCHEDULE_KEYS
            .iter()
            .filter_map(|key| {
                let text = fields
                    .written
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, w)| w.as_str())
                    .or_else(|| fields.text(key))?;
                Some(match *key {
                    "cron" => text.to_owned(),
                    "days" => format!("on {text}"),
                    key => format!("{key} {text}"),
                })
            })
            .collect();
        written.push(("schedule", parts.join(" ")));
    }
    written
}
