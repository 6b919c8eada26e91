//! Schedules as code: a TOML file declaring apps and their jobs, checked whole before anything
//! is written ([`parse_file`]), compared with the store into a [`Plan`] ([`Ops::plan`]), then
//! carried out step by step, each write conditional on what the plan read ([`Ops::apply_plan`]).
//!
//! TOML, read with the `toml` crate: every key and value keeps its place in the file, so each
//! error names its line and column. It is what Rust and Python users already write for
//! configuration (`Cargo.toml`, `pyproject.toml`), and `serde_yaml` is deprecated. The file is
//! walked as `toml`'s spanned document tree rather than derived with serde, so that one pass
//! reports every error (serde stops at the first).
//!
//! A job in the file takes exactly the options `create` takes, checked by the same functions
//! ([`JobInput`], [`ScheduleForm`], [`AppInput`]); a value may use `${NAME}`, a name may not
//! (so that `--prune` never reaches across environments). A file sees only the variables
//! given to it ([`file_var`]: `--var NAME=VALUE`, else `PSU_SCHED_VAR_<NAME>`), never the
//! scheduler's own settings nor AWS credentials; a value that came from a variable is never
//! printed, in an error line nor in the plan (which shows it as written, `${NAME}` kept).

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::change::{JobChanges, millis};
use super::error::{FieldError, FieldPath, Message, OpsError};
use super::input::{JobInput, ScheduleForm, edit_distance};
use super::{AppInput, Ops, UPDATE_ATTEMPTS, write_once};
use crate::model::{
    App, AppName, BaseUrl, DEFAULT_APP_BUDGET, DEFAULT_MAX_LATENESS, DEFAULT_TIMEOUT, Job, JobName,
    JobPath, JobUrl, Method, NewJob, OverlapPolicy,
};
use crate::schedule::Schedule;
use crate::store::DeleteIf;
use crate::store::{Store, StoreError};

/// A refusal in a schedules file: where (file, 1-based line and column) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    /// The file, as it was named.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1 (in characters).
    pub column: usize,
    /// The field (`apps[0].jobs[2].timeout`) and what is accepted; a syntax error has an
    /// empty path.
    pub error: FieldError,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if self.error.path.segments().is_empty() {
            write!(f, "{}", self.error.message)
        } else {
            write!(f, "{}", self.error)
        }
    }
}

/// The apps and jobs a file declares, every value checked.
#[derive(Debug, Clone)]
pub struct DesiredState {
    apps: Vec<DesiredApp>,
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
struct DesiredApp {
    name: AppName,
    /// The app's record (base URL, budget), when the file gives a base URL.
    record: Option<(BaseUrl, u32)>,
    jobs: Vec<DesiredJob>,
    /// The fields given from a variable, as the file writes them ([`mask`]).
    written: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone)]
struct DesiredJob {
    name: JobName,
    def: Definition,
    /// `None`: the file does not say, a paused job stays paused.
    paused: Option<bool>,
    /// The fields (as the plan names them) given from a variable, as the file writes them.
    written: Vec<(&'static str, String)>,
}

/// A job's settings as a plan, an export and an edit name them ([`Change::field`]).
pub const JOB_SETTINGS: [&str; 12] = [
    "url",
    "path",
    "method",
    "schedule",
    "timezone",
    "start",
    "end",
    "timeout",
    "retries",
    "max_lateness",
    "overlap",
    "description",
];

/// What a file manages of a job: everything `create` takes but the paused state.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Definition {
    /// A job by URL.
    pub url: Option<JobUrl>,
    /// A job by path.
    pub path: Option<JobPath>,
    pub method: Method,
    pub schedule: Schedule,
    pub timezone: Tz,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub timeout_ms: u64,
    pub retries: u32,
    pub max_lateness_ms: u64,
    pub overlap: OverlapPolicy,
    pub description: String,
}

impl Definition {
    /// The definition of a stored job.
    pub fn of(job: &Job) -> Self {
        Self {
            url: job.path.is_none().then(|| job.url.clone()),
            path: job.path.clone(),
            method: job.method,
            schedule: job.schedule.clone(),
            timezone: job.timezone,
            start: job.start,
            end: job.end,
            timeout_ms: job.timeout_ms,
            retries: job.retries,
            max_lateness_ms: job.max_lateness_ms,
            overlap: job.overlap,
            description: job.description.clone(),
        }
    }

    /// The definition a whole set of options gives (what a file's job or the admin's form
    /// says): an option not given is at its default. The first refusal, by its field.
    pub fn from_input(input: &JobInput) -> Result<Self, FieldError> {
        let parsed = input.parse(true)?;
        let tz = parsed.timezone.unwrap_or(Tz::UTC);
        let dates = input.dates(tz)?;
        let Some(schedule) = parsed.schedule else {
            return Err(FieldError::plain("schedule", "missing"));
        };
        let rest = parsed.rest;
        Ok(Self {
            url: parsed.url,
            path: parsed.path,
            method: rest.method.unwrap_or_default(),
            schedule,
            timezone: tz,
            start: dates.start.flatten(),
            end: dates.end.flatten(),
            timeout_ms: millis(rest.timeout.unwrap_or(DEFAULT_TIMEOUT)),
            retries: rest.retries.unwrap_or(0),
            max_lateness_ms: millis(rest.max_lateness.unwrap_or(DEFAULT_MAX_LATENESS)),
            overlap: rest.overlap.unwrap_or_default(),
            description: rest.description.unwrap_or_default(),
        })
    }

    /// Each field as the plan shows it (named as in [`JOB_SETTINGS`]), `None` when not set.
    fn texts(&self) -> [(&'static str, Option<String>); 12] {
        let values = [
            self.url.as_ref().map(|u| u.as_str().to_owned()),
            self.path.as_ref().map(|p| p.as_str().to_owned()),
            Some(self.method.as_str().to_owned()),
            Some(self.schedule.to_string()),
            Some(self.timezone.name().to_owned()),
            self.start.map(instant_text),
            self.end.map(instant_text),
            Some(duration_text(self.timeout_ms)),
            Some(self.retries.to_string()),
            Some(duration_text(self.max_lateness_ms)),
            Some(overlap_text(self.overlap).to_owned()),
            (!self.description.is_empty()).then(|| self.description.clone()),
        ];
        let mut values = values.into_iter();
        JOB_SETTINGS.map(|name| (name, values.next().flatten()))
    }

    /// The fields that differ, old -> new.
    pub(super) fn diff(&self, new: &Definition) -> Vec<Change> {
        self.texts()
            .into_iter()
            .zip(new.texts())
            .filter(|((_, old), (_, new))| old != new)
            .map(|((field, old), (_, new))| Change {
                field,
                old,
                new,
                from_variables: false,
                old_hidden: false,
            })
            .collect()
    }

    /// The fields a new job gets: its target and schedule, and each one not at its default.
    fn creation(&self) -> Vec<Change> {
        let defaults = Definition {
            url: None,
            path: None,
            method: Method::Get,
            schedule: self.schedule.clone(),
            timezone: Tz::UTC,
            start: None,
            end: None,
            timeout_ms: millis(DEFAULT_TIMEOUT),
            retries: 0,
            max_lateness_ms: millis(DEFAULT_MAX_LATENESS),
            overlap: OverlapPolicy::Forbid,
            description: String::new(),
        };
        self.texts()
            .into_iter()
            .zip(defaults.texts())
            .filter(|((field, mine), (_, default))| mine != default || *field == "schedule")
            .map(|((field, new), _)| Change {
                field,
                old: None,
                new,
                from_variables: false,
                old_hidden: false,
            })
            .collect()
    }
}

/// RFC 3339 in UTC, as precise as the instant is.
fn instant_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A duration in the one grammar (`30s`, `1h30m`), from whole seconds up.
pub(super) fn duration_text(ms: u64) -> String {
    if !ms.is_multiple_of(1000) || ms == 0 {
        return format!("{ms}ms");
    }
    let mut secs = ms / 1000;
    let mut text = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            text.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    text
}

pub(super) fn overlap_text(overlap: OverlapPolicy) -> &'static str {
    match overlap {
        OverlapPolicy::Forbid => "forbid",
        OverlapPolicy::Allow => "allow",
    }
}

/// One changed field of a step: old -> new (`None`: not set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The field, as the file names it (`schedule` for the schedule in any of its forms).
    pub field: &'static str,
    /// The value now, `None` when unset or for a new app or job.
    pub old: Option<String>,
    /// The value after the step, `None` when unset or for a deletion.
    pub new: Option<String>,
    /// The file gives the field from a variable: `new` is the value as the file writes it
    /// (`${NAME}` kept) and `old` is not shown (`None`), so that no secret is printed.
    pub from_variables: bool,
    /// `old` is withheld (`None`): the field gives it from a variable, or it is free text whose
    /// stored value may have come from one ([`STORED_TEXT`]).
    pub old_hidden: bool,
}

/// The fields whose stored values a plan never prints: free text, which may hold what a
/// variable gave when it was written (a token in a URL's query), and the store does not record
/// where a value came from. A pull request that replaces `${TOKEN}` with a literal must not
/// make its dry run print the stored token.
pub const STORED_TEXT: [&str; 4] = ["url", "path", "description", "base_url"];

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
    write: Write,
}

/// What a step writes, with what the plan read (the condition of the write).
#[derive(Debug, Clone)]
enum Write {
    Nothing,
    CreateApp(BaseUrl, u32),
    UpdateApp(Box<App>, BaseUrl, u32),
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

// ---------------------------------------------------------------------------------------
// Reading the file.

/// Where a table sits: `apps[i]` and `jobs[j]` within it.
#[derive(Debug, Clone, Copy)]
struct Loc {
    app: Option<usize>,
    job: Option<usize>,
}

impl Loc {
    fn wrap(self, path: FieldPath) -> FieldPath {
        let path = match self.job {
            Some(j) => path.within("jobs", Some(j)),
            None => path,
        };
        match self.app {
            Some(i) => path.within("apps", Some(i)),
            None => path,
        }
    }

    fn error(self, e: FieldError) -> FieldError {
        FieldError {
            path: self.wrap(e.path),
            message: e.message,
        }
    }
}

/// Every error found, with its place.
struct Errors<'a> {
    file: &'a str,
    text: &'a str,
    list: Vec<(usize, FileError)>,
    /// The values given from a variable: their place, key and text as written.
    hidden: Vec<(Range<usize>, &'static str, String)>,
}

impl<'a> Errors<'a> {
    /// Reports `error` at `span`. At a value given from a variable, the check's message
    /// (which may quote the value, or a part of it) is replaced by one that shows the value
    /// as written and what the key accepts: a value from a variable is never printed.
    fn add(&mut self, span: Range<usize>, error: FieldError) {
        let error = match self.hidden.iter().find(|(s, _, _)| *s == span) {
            Some((_, key, written)) => FieldError {
                path: error.path,
                message: Message::text(format!(
                    "`{written}` is refused once its variables are given (the value is not shown: it came from a variable); use {}",
                    accepted(key)
                )),
            },
            None => error,
        };
        self.add_plain(span, error);
    }

    /// Reports `error` as it is: for a message that quotes no value.
    fn add_plain(&mut self, span: Range<usize>, error: FieldError) {
        let at = span.start.min(self.text.len());
        let before = self.text.get(..at).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        self.list.push((
            at,
            FileError {
                file: self.file.to_owned(),
                line,
                column,
                error,
            },
        ));
    }
}

/// What a key accepts, for a refused value that is not shown (the table of
/// docs/schedules-as-code.md).
fn accepted(key: &str) -> &'static str {
    match key {
        "base_url" => "https://host[:port][/prefix]",
        "budget" => "a whole number from 1 to 64",
        "url" => "http://host/path or https://host/path",
        "path" => "a path under the app's base_url, starting with /",
        "method" => "GET or POST",
        "cron" => "a 5-field cron expression or macro (@daily...)",
        "at" => "HH:MM[,HH:MM...]",
        "every" => "a duration in whole minutes, 1m to 24h (15m, 2h)",
        "between" => "HH:MM-HH:MM, with every",
        "days" => "mon,wed or mon-fri",
        "timezone" => "an IANA time zone (America/Los_Angeles)",
        "start" | "end" => "a date, a local date and time, or RFC 3339",
        "timeout" => "a duration, at most 14m",
        "retries" => "a whole number from 0 to 5",
        "max_lateness" => "a duration",
        "overlap" => "\"forbid\" or \"allow\"",
        _ => "what `psu-sched create` accepts (docs/schedules-as-code.md)",
    }
}

/// The kind of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A string without `${...}`.
    Name,
    /// A string, `${VAR}` replaced.
    Text,
    /// A whole number (or a string of one).
    Number,
    /// `true` or `false`.
    Flag,
    /// A string, or a TOML date-time.
    Instant,
    /// An array of tables (`[[apps.jobs]]`).
    Tables,
}

const APP_KEYS: &[(&str, Kind)] = &[
    ("name", Kind::Name),
    ("base_url", Kind::Text),
    ("budget", Kind::Number),
    ("jobs", Kind::Tables),
];

const JOB_KEYS: &[(&str, Kind)] = &[
    ("name", Kind::Name),
    ("url", Kind::Text),
    ("path", Kind::Text),
    ("method", Kind::Text),
    ("cron", Kind::Text),
    ("at", Kind::Text),
    ("every", Kind::Text),
    ("between", Kind::Text),
    ("days", Kind::Text),
    ("timezone", Kind::Text),
    ("start", Kind::Instant),
    ("end", Kind::Instant),
    ("timeout", Kind::Text),
    ("retries", Kind::Number),
    ("max_lateness", Kind::Text),
    ("overlap", Kind::Text),
    ("description", Kind::Text),
    ("paused", Kind::Flag),
];

/// The keys of a job's schedule.
const SCHEDULE_KEYS: [&str; 5] = ["cron", "at", "every", "between", "days"];

/// A value read from a table.
enum Got<'a, 'i> {
    Text(String),
    Flag(bool),
    Tables(&'a [Spanned<DeValue<'i>>]),
}

/// The keys of one table, each with its value and place.
struct Fields<'a, 'i> {
    span: Range<usize>,
    values: Vec<(&'static str, Got<'a, 'i>, Range<usize>)>,
    /// Keys present whose value was refused (already reported).
    refused: Vec<&'static str>,
    /// Keys whose value is given from a variable, with the value as written.
    written: Vec<(&'static str, String)>,
}

impl<'a, 'i> Fields<'a, 'i> {
    /// The table's `name`, parsed; a missing or refused one is reported (`what`: `app`,
    /// `job`) and gives `None`.
    fn name<N>(
        &self,
        what: &str,
        parse: fn(&str) -> Result<N, crate::model::ValidationError>,
        loc: Loc,
        errors: &mut Errors<'_>,
    ) -> Option<N> {
        match self.text("name") {
            Some(n) => match parse(n) {
                Ok(n) => Some(n),
                Err(e) => {
                    errors.add(self.span("name"), loc.error(e.into()));
                    None
                }
            },
            None if self.refused("name") => None,
            None => {
                errors.add(
                    self.span.clone(),
                    loc.error(FieldError::plain(
                        "name",
                        format!("missing; every {what} needs a name = \"...\""),
                    )),
                );
                None
            }
        }
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.values.iter().find_map(|(k, v, _)| match v {
            Got::Text(t) if *k == key => Some(t.as_str()),
            _ => None,
        })
    }

    fn flag(&self, key: &str) -> Option<bool> {
        self.values.iter().find_map(|(k, v, _)| match v {
            Got::Flag(b) if *k == key => Some(*b),
            _ => None,
        })
    }

    fn tables(&self, key: &str) -> &'a [Spanned<DeValue<'i>>] {
        self.values
            .iter()
            .find_map(|(k, v, _)| match v {
                Got::Tables(t) if *k == key => Some(*t),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// Where `key` is, else the table.
    fn span(&self, key: &str) -> Range<usize> {
        self.values
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or_else(|| self.span.clone(), |(_, _, s)| s.clone())
    }

    fn has(&self, key: &str) -> bool {
        self.values.iter().any(|(k, _, _)| *k == key)
    }

    /// True when `key` is there but its value was refused (and reported).
    fn refused(&self, key: &str) -> bool {
        self.refused.contains(&key)
    }

    /// The refusal of a check of several `keys`, which may quote any of them: when one is
    /// given from a variable, a message that quotes none (the keys as the file writes them).
    fn hide(&self, keys: &[&str], e: FieldError) -> FieldError {
        let from: Vec<String> = self
            .written
            .iter()
            .filter(|(k, _)| keys.contains(k))
            .map(|(k, w)| format!("{k} = \"{w}\""))
            .collect();
        if from.is_empty() {
            return e;
        }
        FieldError {
            path: e.path,
            message: Message::text(format!(
                "refused once the variables of {} are given (the values are not shown: they came from variables); see what each key accepts in docs/schedules-as-code.md",
                from.join(", ")
            )),
        }
    }
}

/// Reads and checks a schedules file: every error (syntax, an unknown key, a bad value, a
/// duplicate name, a job by path in an app without a base URL, a missing variable) with its
/// line and column. `vars` gives the value of each `${NAME}`: [`file_var`], never the
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

fn finish(mut errors: Errors<'_>) -> OpsError {
    errors.list.sort_by_key(|(at, _)| *at);
    OpsError::InvalidFile(errors.list.into_iter().map(|(_, e)| e).collect())
}

fn unknown_key(key: &str, keys: &[(&str, Kind)], of: &str) -> FieldError {
    let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    let close = names
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min();
    let hint = match close {
        Some((_, k)) => format!("did you mean `{k}`? "),
        None => String::new(),
    };
    FieldError {
        path: FieldPath::key(key.to_owned()),
        message: Message::text(format!(
            "unknown key; {hint}the keys of {of} are {}",
            names.join(", ")
        )),
    }
}

/// Reads a table's keys as `keys` says, reporting unknown keys and values of the wrong kind.
fn read_table<'a, 'i>(
    item: &'a Spanned<DeValue<'i>>,
    keys: &[(&'static str, Kind)],
    of: &str,
    loc: Loc,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Errors<'_>,
) -> Option<Fields<'a, 'i>> {
    let DeValue::Table(table) = item.get_ref() else {
        errors.add(
            item.span(),
            FieldError {
                path: loc.wrap(FieldPath::default()),
                message: Message::text(format!("{of} must be a table")),
            },
        );
        return None;
    };
    let mut fields = Fields {
        span: item.span(),
        values: Vec::new(),
        refused: Vec::new(),
        written: Vec::new(),
    };
    for (key, value) in table {
        let Some(&(name, kind)) = keys.iter().find(|(k, _)| *k == key.get_ref().as_ref()) else {
            errors.add(key.span(), loc.error(unknown_key(key.get_ref(), keys, of)));
            continue;
        };
        fields.refused.push(name);
        let refuse = |accepted: &str| {
            let kind = value.get_ref().type_str();
            let article = if kind.starts_with(['a', 'i']) {
                "an"
            } else {
                "a"
            };
            loc.error(FieldError::plain(
                name,
                format!("{article} {kind} is not accepted; use {accepted}"),
            ))
        };
        let got = match (kind, value.get_ref()) {
            (Kind::Name, DeValue::String(s)) => {
                if s.contains("${") {
                    errors.add(
                        value.span(),
                        loc.error(FieldError::plain(
                            name,
                            "names may not use ${VAR}: the same names in every environment keep --prune within the apps the file names",
                        )),
                    );
                    continue;
                }
                Got::Text(s.to_string())
            }
            (Kind::Text | Kind::Instant | Kind::Number, DeValue::String(s)) => {
                match interpolate(s, env) {
                    Ok((text, from_variables)) => {
                        if from_variables {
                            fields.written.push((name, s.to_string()));
                            errors.hidden.push((value.span(), name, s.to_string()));
                        }
                        Got::Text(text)
                    }
                    Err(message) => {
                        errors.add(value.span(), loc.error(FieldError::plain(name, message)));
                        continue;
                    }
                }
            }
            (Kind::Number, DeValue::Integer(n)) => {
                match i64::from_str_radix(n.as_str(), n.radix()) {
                    Ok(n) => Got::Text(n.to_string()),
                    Err(_) => {
                        errors.add(value.span(), refuse("a whole number"));
                        continue;
                    }
                }
            }
            (Kind::Instant, DeValue::Datetime(t)) => Got::Text(t.to_string()),
            (Kind::Flag, DeValue::Boolean(b)) => Got::Flag(*b),
            (Kind::Tables, DeValue::Array(list)) if list.iter().all(|v| v.get_ref().is_table()) => {
                Got::Tables(list)
            }
            (kind, _) => {
                let accepted = match kind {
                    Kind::Name | Kind::Text => "a string in quotes",
                    Kind::Number => "a whole number",
                    Kind::Flag => "true or false",
                    Kind::Instant => "a string in quotes or a TOML date-time",
                    Kind::Tables => "tables: write each job as [[apps.jobs]]",
                };
                errors.add(value.span(), refuse(accepted));
                continue;
            }
        };
        fields.refused.pop();
        fields.values.push((name, got, value.span()));
    }
    Some(fields)
}

/// The prefix that gives an environment variable to a file: `PSU_SCHED_VAR_BILLING_URL` is
/// its `${BILLING_URL}`.
pub const VAR_PREFIX: &str = "PSU_SCHED_VAR_";

/// Names a file may never use, in any case: the scheduler's own settings (its signing secret)
/// and the AWS SDK's (its credentials).
const RESERVED: [&str; 2] = ["AWS_", "PSU_SCHED_"];

fn reserved(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    RESERVED.iter().any(|p| upper.starts_with(p))
}

fn is_var_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value of a file's `${name}`: given on the command line (`given`, from `--var
/// NAME=VALUE`), else the environment's `PSU_SCHED_VAR_<name>` (`env` reads the
/// environment). Nothing else of the environment is visible to a file, and a reserved name
/// (`AWS_*`, `PSU_SCHED_*`) has no value.
pub fn file_var(
    name: &str,
    given: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    if reserved(name) || !is_var_name(name) {
        return None;
    }
    match given.iter().find(|(n, _)| n == name) {
        Some((_, value)) => Some(value.clone()),
        None => env(&format!("{VAR_PREFIX}{name}")),
    }
}

/// Reads a `--var NAME=VALUE` into its name and value. The error (`var: ...`, one line)
/// never shows the value, nor an argument without `=`, which may be a value alone.
pub fn parse_var(arg: &str) -> Result<(String, String), FieldError> {
    let Some((name, value)) = arg.split_once('=') else {
        return Err(FieldError::plain(
            "var",
            "expected NAME=VALUE (the argument is not shown: it may be a secret), e.g. --var BILLING_URL=https://billing.example.edu",
        ));
    };
    if !is_var_name(name) {
        return Err(FieldError::plain(
            "var",
            format!(
                "`{name}` is not a variable name; use NAME=VALUE, the name of letters, digits and _ (not starting with a digit)"
            ),
        ));
    }
    if reserved(name) {
        return Err(FieldError::plain("var", reserved_message(name)));
    }
    Ok((name.to_owned(), value.to_owned()))
}

fn reserved_message(name: &str) -> String {
    format!(
        "${{{name}}} is not available to a file: names starting with AWS_ or PSU_SCHED_ are the scheduler's own settings and credentials; give the value another name, set as {VAR_PREFIX}<NAME> or passed as --var NAME=VALUE"
    )
}

/// Replaces each `${NAME}` with the variable's value (`$$` is a literal `$`); `vars` gives
/// the file's variables ([`file_var`]). With the text, true when a variable was used.
fn interpolate(
    value: &str,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, bool), String> {
    let mut out = String::with_capacity(value.len());
    let mut used = false;
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let Some(end) = r.find('}') else {
                return Err(
                    "`${` without its closing `}`; write ${NAME}, or $$ for a literal $".to_owned(),
                );
            };
            let name = &r[..end];
            if !is_var_name(name) {
                return Err(format!(
                    "`${{{name}}}` is not a variable name; use letters, digits and _ (not starting with a digit)"
                ));
            }
            if reserved(name) {
                return Err(reserved_message(name));
            }
            match vars(name) {
                Some(v) => out.push_str(&v),
                None => {
                    return Err(format!(
                        "${{{name}}} is not given to the file; set {VAR_PREFIX}{name} in the environment, or pass --var {name}=VALUE"
                    ));
                }
            }
            used = true;
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok((out, used))
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
    };
    for (key, single) in [
        (
            "base_url",
            AppInput {
                base_url: input.base_url.clone(),
                budget: None,
            },
        ),
        (
            "budget",
            AppInput {
                base_url: None,
                budget: input.budget.clone(),
            },
        ),
    ] {
        if let Err(e) = single.parse() {
            errors.add(fields.span(key), loc.error(e));
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
    // A base URL given but refused (already reported) is no reason to refuse the jobs by path.
    let has_base = fields.has("base_url") || fields.refused("base_url");
    let mut jobs: Vec<DesiredJob> = Vec::new();
    let mut names: Vec<(JobName, Range<usize>)> = Vec::new();
    for (j, item) in fields.tables("jobs").iter().enumerate() {
        let loc = Loc {
            app: Some(i),
            job: Some(j),
        };
        let Some((name, span, job)) = read_job(loc, item, has_base, env, errors) else {
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
        record: base_url.map(|b| (b, budget)),
        jobs,
        written: fields.written,
    };
    Some((name, span, Some(app)))
}

/// Reads one job: its name and the name's place when the name is valid, and the job when
/// nothing in it was refused (each refusal is reported).
fn read_job(
    loc: Loc,
    item: &Spanned<DeValue<'_>>,
    has_base: bool,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Errors<'_>,
) -> Option<(JobName, Range<usize>, Option<DesiredJob>)> {
    let before = errors.list.len();
    let fields = read_table(item, JOB_KEYS, "a job", loc, env, errors)?;
    let name = fields.name("job", JobName::parse, loc, errors);
    let text = |k: &str| fields.text(k).map(str::to_owned);
    let overlap = match fields.text("overlap") {
        None => None,
        Some("forbid") => Some(OverlapPolicy::Forbid),
        Some("allow") => Some(OverlapPolicy::Allow),
        Some(other) => {
            errors.add(
                fields.span("overlap"),
                loc.error(FieldError::plain(
                    "overlap",
                    format!("`{other}` is not accepted; use \"forbid\" (the default) or \"allow\""),
                )),
            );
            None
        }
    };
    let input = JobInput {
        url: text("url"),
        path: text("path"),
        method: text("method"),
        schedule: ScheduleForm {
            cron: text("cron"),
            at: text("at"),
            every: text("every"),
            between: text("between"),
            days: text("days"),
        },
        timezone: text("timezone"),
        start: text("start"),
        end: text("end"),
        timeout: text("timeout"),
        retries: text("retries"),
        max_lateness: text("max_lateness"),
        overlap,
        description: text("description"),
        paused: false,
    };
    // Each option on its own first, through the very checks `create` makes, so that every bad
    // value is reported, not only the first.
    let only = |set: fn(&mut JobInput, &JobInput)| {
        let mut single = JobInput::default();
        set(&mut single, &input);
        single
    };
    let singles: [(&str, JobInput); 7] = [
        ("url", only(|i, from| i.url = from.url.clone())),
        ("path", only(|i, from| i.path = from.path.clone())),
        ("method", only(|i, from| i.method = from.method.clone())),
        (
            "timezone",
            only(|i, from| i.timezone = from.timezone.clone()),
        ),
        ("timeout", only(|i, from| i.timeout = from.timeout.clone())),
        ("retries", only(|i, from| i.retries = from.retries.clone())),
        (
            "max_lateness",
            only(|i, from| i.max_lateness = from.max_lateness.clone()),
        ),
    ];
    for (key, single) in singles {
        if fields.has(key)
            && let Err(e) = single.parse(false)
        {
            errors.add(fields.span(key), loc.error(e));
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
        .map_or(Ok(Tz::UTC), super::parse_zone)
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
            let all: Vec<&str> = JOB_KEYS.iter().map(|(k, _)| *k).collect();
            errors.add(fields.span(&key), loc.error(fields.hide(&all, e)));
            return Some((name, span, None));
        }
    };
    let job = DesiredJob {
        name: name.clone(),
        def,
        paused: fields.flag("paused"),
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

// ---------------------------------------------------------------------------------------
// The plan, and carrying it out.

/// The changes that make a job `old` into `new` (a job by path resolved at `base_url`).
pub(super) fn job_changes(
    old: &Definition,
    new: &Definition,
    base_url: Option<&BaseUrl>,
) -> Result<JobChanges, FieldError> {
    let mut changes = JobChanges::default();
    if old.url != new.url || old.path != new.path {
        match (&new.url, &new.path, base_url) {
            (Some(url), _, _) => {
                changes.url = Some(url.clone());
                changes.path = Some(None);
            }
            (None, Some(path), Some(base)) => {
                changes.url = Some(base.join(path)?);
                changes.path = Some(Some(path.clone()));
            }
            _ => {
                return Err(FieldError::plain(
                    "path",
                    "has no base URL to resolve against",
                ));
            }
        }
    }
    if old.method != new.method {
        changes.method = Some(new.method);
    }
    if old.schedule != new.schedule {
        changes.schedule = Some(new.schedule.clone());
    }
    if old.timezone != new.timezone {
        changes.timezone = Some(new.timezone);
    }
    if old.start != new.start {
        changes.start = Some(new.start);
    }
    if old.end != new.end {
        changes.end = Some(new.end);
    }
    if old.timeout_ms != new.timeout_ms {
        changes.timeout = Some(Duration::from_millis(new.timeout_ms));
    }
    if old.retries != new.retries {
        changes.retries = Some(new.retries);
    }
    if old.max_lateness_ms != new.max_lateness_ms {
        changes.max_lateness = Some(Duration::from_millis(new.max_lateness_ms));
    }
    if old.overlap != new.overlap {
        changes.overlap = Some(new.overlap);
    }
    if old.description != new.description {
        changes.description = Some(new.description.clone());
    }
    Ok(changes)
}

/// The job as a person last left it: the same job (id), written by the same change
/// (`updated_at`), the same definition and paused state. The tick's bookkeeping (its
/// version, next slot, executions in flight) may differ.
pub(super) fn same_definition(a: &Job, b: &Job) -> bool {
    a.id == b.id
        && a.updated_at == b.updated_at
        && a.enabled == b.enabled
        && Definition::of(a) == Definition::of(b)
}

const CHANGED: &str = "changed since the plan (by another writer); not overwritten: run apply again to see the new plan";

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
                (Some((base, budget)), None) => steps.push(step(
                    Action::Create,
                    vec![
                        Change {
                            field: "base_url",
                            old: None,
                            new: Some(base.to_string()),
                            from_variables: false,
                            old_hidden: false,
                        },
                        Change {
                            field: "budget",
                            old: None,
                            new: Some(budget.to_string()),
                            from_variables: false,
                            old_hidden: false,
                        },
                    ],
                    Write::CreateApp(base.clone(), *budget),
                )),
                (Some((base, budget)), Some(read)) => {
                    let mut changes = Vec::new();
                    if read.base_url != *base {
                        changes.push(Change {
                            field: "base_url",
                            old: Some(read.base_url.to_string()),
                            new: Some(base.to_string()),
                            from_variables: false,
                            old_hidden: false,
                        });
                    }
                    if read.budget != *budget {
                        changes.push(Change {
                            field: "budget",
                            old: Some(read.budget.to_string()),
                            new: Some(budget.to_string()),
                            from_variables: false,
                            old_hidden: false,
                        });
                    }
                    withhold_stored_text(&mut changes);
                    steps.push(if changes.is_empty() {
                        step(Action::Unchanged, changes, Write::Nothing)
                    } else {
                        step(
                            Action::Update,
                            changes,
                            Write::UpdateApp(Box::new(read), base.clone(), *budget),
                        )
                    });
                }
                (None, _) => {}
            }
            let base_url = app.record.as_ref().map(|(b, _)| b);
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

    /// Carries out `plan` at `now`, step by step in order; `on_step` sees each step as it is
    /// done. Each write is conditional on what the plan read: an app record or a job that
    /// someone changed since (its definition, not only the tick's bookkeeping) is refused,
    /// never overwritten; the other steps go on. A store failure stops the run: what was
    /// done stays done, and applying the file again plans the rest.
    pub async fn apply_plan(
        &self,
        plan: &Plan,
        now: DateTime<Utc>,
        mut on_step: impl FnMut(&Step, &Applied),
    ) -> Result<Vec<Applied>, OpsError> {
        let store = self.store().await?;
        let mut results = Vec::with_capacity(plan.steps.len());
        for step in &plan.steps {
            let applied = self.apply_step(store, step, now).await?;
            on_step(step, &applied);
            results.push(applied);
        }
        Ok(results)
    }

    async fn apply_step(
        &self,
        store: &dyn Store,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<Applied, OpsError> {
        match &step.write {
            Write::Nothing => Ok(Applied::Nothing),
            Write::CreateApp(base, budget) => {
                let app = App::new(step.app.clone(), base.clone(), *budget, now)
                    .map_err(FieldError::from)?;
                match store.create_app(&app).await {
                    Ok(()) => Ok(Applied::Done),
                    Err(StoreError::AppExists(_)) => Ok(Applied::Refused(
                        "an app record of this name was created since the plan; not overwritten: run apply again to see the new plan".to_owned(),
                    )),
                    Err(e) => Err(OpsError::store("create the app")(e)),
                }
            }
            Write::UpdateApp(read, base, budget) => {
                let mut next = (**read).clone();
                next.base_url = base.clone();
                next.budget = *budget;
                next.deleting = false;
                next.updated_at = now;
                next.version = read.version + 1;
                if store
                    .put_app(&next, read.version)
                    .await
                    .map_err(OpsError::store("write the app"))?
                {
                    Ok(Applied::Done)
                } else {
                    Ok(Applied::Refused(CHANGED.to_owned()))
                }
            }
            Write::CreateJob(spec) => {
                let job = (**spec).clone().build(now).map_err(FieldError::from)?;
                match store.create_job(&job).await {
                    Ok(()) => Ok(Applied::Done),
                    Err(StoreError::AlreadyExists(..)) => Ok(Applied::Refused(
                        "a job of this name was created since the plan; not overwritten: run apply again to see the new plan".to_owned(),
                    )),
                    Err(e) => Err(OpsError::store("create the job")(e)),
                }
            }
            Write::UpdateJob(read, changes, resume) => {
                match write_if_unchanged(store, read, changes, now, *resume, &self.tick).await? {
                    Ok(_) => Ok(Applied::Done),
                    Err(NotWritten::Deleted) => Ok(Applied::Refused(
                        "deleted since the plan; not created again: run apply again to see the new plan".to_owned(),
                    )),
                    Err(NotWritten::Changed) => Ok(Applied::Refused(CHANGED.to_owned())),
                }
            }
            // One conditional delete: the job as the plan read it (same id and `updated_at`),
            // or nothing.
            Write::DeleteJob(read) => match store
                .delete_job_if_unchanged(read)
                .await
                .map_err(OpsError::store("delete the job"))?
            {
                DeleteIf::Deleted | DeleteIf::Gone => Ok(Applied::Done),
                DeleteIf::Changed => Ok(Applied::Refused(CHANGED.to_owned())),
            },
        }
    }
}

/// Why [`write_if_unchanged`] wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotWritten {
    /// The job is gone.
    Deleted,
    /// A person changed it (its definition, paused state or `updated_at`).
    Changed,
}

/// Writes `changes` over the job as `read` was read, unless a person changed or deleted it
/// since: a write lost only to the tick's bookkeeping is made again on the fresh job.
/// `resume` recomputes the next slot from `now`.
pub(super) async fn write_if_unchanged(
    store: &dyn Store,
    read: &Job,
    changes: &JobChanges,
    now: DateTime<Utc>,
    resume: bool,
    config: &crate::tick::TickConfig,
) -> Result<Result<Job, NotWritten>, OpsError> {
    let mut current = read.clone();
    for _ in 0..UPDATE_ATTEMPTS {
        if let Some(written) = write_once(store, &current, changes, now, resume, config).await? {
            return Ok(Ok(written));
        }
        match store
            .get_job(&read.app, &read.name)
            .await
            .map_err(OpsError::store("read the job"))?
        {
            None => return Ok(Err(NotWritten::Deleted)),
            Some(fresh) if !same_definition(&fresh, read) => return Ok(Err(NotWritten::Changed)),
            Some(fresh) => current = fresh,
        }
    }
    Err(OpsError::Conflict(read.app.clone(), read.name.clone()))
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
        let mut spec = NewJob::new(
            app.name.clone(),
            job.name.clone(),
            url,
            def.schedule.clone(),
        );
        spec.path = def.path.clone();
        spec.method = def.method;
        spec.timezone = def.timezone;
        spec.start = def.start;
        spec.end = def.end;
        spec.timeout = Duration::from_millis(def.timeout_ms);
        spec.retries = def.retries;
        spec.max_lateness = Duration::from_millis(def.max_lateness_ms);
        spec.overlap = def.overlap;
        spec.description = def.description.clone();
        spec.enabled = !job.paused.unwrap_or(false);
        step.action = Action::Create;
        step.changes = def.creation();
        if job.paused == Some(true) {
            step.changes.push(Change {
                field: "paused",
                old: None,
                new: Some("true".to_owned()),
                from_variables: false,
                old_hidden: false,
            });
        }
        step.write = Write::CreateJob(Box::new(spec));
        mask(&mut step.changes, &job.written);
        return Ok(step);
    };
    let old = Definition::of(read);
    let mut changes = job_changes(&old, &job.def, base_url)?;
    step.changes = old.diff(&job.def);
    let paused_now = !read.enabled;
    if let Some(paused) = job.paused
        && paused != paused_now
    {
        step.changes.push(Change {
            field: "paused",
            old: Some(paused_now.to_string()),
            new: Some(paused.to_string()),
            from_variables: false,
            old_hidden: false,
        });
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

/// Withholds the stored value of each free-text field ([`STORED_TEXT`]).
fn withhold_stored_text(changes: &mut [Change]) {
    for change in changes {
        if STORED_TEXT.contains(&change.field) && change.old.is_some() {
            change.old = None;
            change.old_hidden = true;
        }
    }
}

#[cfg(test)]
mod tests;
