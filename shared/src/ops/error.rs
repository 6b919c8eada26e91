//! What an operation refuses or fails with: bad input named by its field path, a missing or
//! contested job, a schedules file's errors each with its place, or a store error kept with
//! its source.

use std::borrow::Cow;
use std::fmt;

use crate::config::ConfigError;
use crate::model::{AppName, JobName, ValidationError};
use crate::store::StoreError;
use crate::tick::TickSummary;

/// One step of a [`FieldPath`]: a key, or an index into a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A named field (`timeout`, `jobs`).
    Key(Cow<'static, str>),
    /// A position in a list (`3` in `jobs[3]`).
    Index(usize),
}

/// Where a refused value sits, machine-readable: `name`, `schedule`, `jobs[3].timeout`.
/// Keys are the snake_case names of the inputs (`max_lateness`, `timezone`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// A path of one key.
    pub fn key(key: impl Into<Cow<'static, str>>) -> Self {
        Self(vec![Segment::Key(key.into())])
    }

    /// This path under `key[index]`: `timeout` under `jobs`, 3 is `jobs[3].timeout`.
    pub fn within(mut self, key: impl Into<Cow<'static, str>>, index: Option<usize>) -> Self {
        let mut head = vec![Segment::Key(key.into())];
        head.extend(index.map(Segment::Index));
        head.append(&mut self.0);
        self.0 = head;
        self
    }

    /// The steps, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The last key (`timeout` in `jobs[3].timeout`), if any.
    pub fn leaf(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|s| match s {
            Segment::Key(k) => Some(k.as_ref()),
            Segment::Index(_) => None,
        })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A piece of a [`Message`]: text, or a reference to another field (which each front end
/// names its own way: `--every` on the command line, `every` in a form or a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Plain text.
    Text(String),
    /// Another input's key.
    Field(&'static str),
}

/// What was wrong and what is accepted, one line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message(Vec<Piece>);

impl Message {
    /// A message of plain text.
    pub fn text(text: impl Into<String>) -> Self {
        Self(vec![Piece::Text(text.into())])
    }

    /// Appends text.
    pub fn and(mut self, text: impl Into<String>) -> Self {
        self.0.push(Piece::Text(text.into()));
        self
    }

    /// Appends a reference to the input `key`.
    pub fn field(mut self, key: &'static str) -> Self {
        self.0.push(Piece::Field(key));
        self
    }

    /// The message with each field reference written by `name`.
    pub fn render(&self, name: impl Fn(&str) -> String) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Field(k) => name(k),
            })
            .collect()
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(str::to_owned))
    }
}

/// A refused input: its field path and what is accepted. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    /// Where the value sits.
    pub path: FieldPath,
    /// What was wrong and what is accepted.
    pub message: Message,
}

impl FieldError {
    /// A refusal of the input `key`.
    pub fn new(key: &'static str, message: Message) -> Self {
        Self {
            path: FieldPath::key(key),
            message,
        }
    }

    /// A refusal of `key` in plain text.
    pub fn plain(key: &'static str, text: impl Into<String>) -> Self {
        Self::new(key, Message::text(text))
    }

    /// The same error for a value inside `key[index]` (a list in a file).
    pub fn within(mut self, key: &'static str, index: Option<usize>) -> Self {
        self.path = self.path.within(key, index);
        self
    }
}

impl From<ValidationError> for FieldError {
    fn from(e: ValidationError) -> Self {
        Self {
            path: FieldPath::key(e.field.replace(' ', "_")),
            message: Message::text(e.message),
        }
    }
}

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

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Bad input; nothing was written.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// A setting in the environment does not parse; nothing was written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A setting the operation needs is not set in the environment.
    #[error("{variable} is not set: {why}")]
    Unset {
        /// The variable.
        variable: &'static str,
        /// Why the operation needs it and what to set.
        why: &'static str,
    },
    /// A schedules file (`apply -f`) with errors, every one with its place; nothing was
    /// written.
    #[error("{} error{} in the file; nothing was written", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    InvalidFile(Vec<FileError>),
    /// An update that changes nothing.
    #[error("nothing to change")]
    NothingToChange,
    /// A key rotation asked for in the wrong state (starting one while one is in progress,
    /// finishing one that was not started); nothing was written.
    #[error("{0}")]
    Rotation(String),
    /// A whole-form edit (the web admin) of a record a person changed after the form was
    /// read; nothing was written.
    #[error(
        "{what} was changed at {} after this form was read, in {} you changed too; nothing was written: review its current values and save again",
        .at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        .fields.join(", ")
    )]
    ChangedSince {
        /// `the job billing/invoices`, `the app billing`.
        what: String,
        /// When it was last changed.
        at: chrono::DateTime<chrono::Utc>,
        /// The fields both the form and that change changed (`timeout`, `target`).
        fields: Vec<&'static str>,
    },
    /// No such job.
    #[error("no job named {0}/{1}")]
    NotFound(AppName, JobName),
    /// No such execution.
    #[error("no execution {0}")]
    ExecutionNotFound(crate::model::ExecutionId),
    /// No such app record.
    #[error("no app named {0} (create it: psu-sched app create --app {0} --base-url https://host)")]
    AppNotFound(AppName),
    /// The app still has jobs.
    #[error("the app {app} still has {jobs} job{}; delete them first (psu-sched list --app {app})", if *jobs == 1 { "" } else { "s" })]
    AppHasJobs {
        /// The app.
        app: AppName,
        /// How many jobs it has.
        jobs: usize,
    },
    /// Other writers kept changing the app.
    #[error("the app {0} kept changing while it was being updated; try again")]
    AppConflict(AppName),
    /// Other writers kept changing the job.
    #[error("the job {0}/{1} kept changing while it was being updated; try again")]
    Conflict(AppName, JobName),
    /// Other operators kept raising the table's shard count at the same time.
    #[error("the table's layout kept changing while the shard count was being raised; try again")]
    TableConflict,
    /// A manual run lost to another run started in the same second or to a change.
    #[error(
        "the job {0}/{1} changed while starting the run (or was run in the same second); try again"
    )]
    RunConflict(AppName, JobName),
    /// A manual run of a job whose app is paused: nothing was called.
    #[error(
        "the app {0} is paused ({1}): none of its jobs is called; resume it first: psu-sched app resume --app {0}"
    )]
    AppPaused(AppName, crate::model::PauseReason),
    /// The job was deleted, but purging its history failed.
    #[error("the job is deleted, but purging its history failed")]
    Purge(#[source] StoreError),
    /// The store failed (or refused: a name already taken, a missing table).
    #[error("could not {doing}")]
    Store {
        /// What the operation was doing (`create the job`).
        doing: &'static str,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The tick ran, but the store failed for some of its due items; the rest completed.
    #[error(
        "the store failed during the tick, for {} of its due items (the rest completed)",
        summary.errors
    )]
    TickIncomplete {
        /// What the tick completed; `errors` counts the failed items.
        summary: Box<TickSummary>,
        /// The first store failure.
        #[source]
        source: StoreError,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The local database could not be opened.
    #[error("could not open the database {path}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl OpsError {
    /// True for bad input (nothing was written): a front end's "fix what you typed".
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            OpsError::Invalid(_)
                | OpsError::InvalidFile(_)
                | OpsError::Config(_)
                | OpsError::Unset { .. }
                | OpsError::NothingToChange
                | OpsError::Rotation(_)
        )
    }

    /// The store error underneath, if the store failed.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            OpsError::Store { source, .. }
            | OpsError::Purge(source)
            | OpsError::TickIncomplete { source, .. } => Some(source),
            _ => None,
        }
    }

    /// What an incomplete tick completed ([`OpsError::TickIncomplete`]).
    pub fn tick_summary(&self) -> Option<&TickSummary> {
        match self {
            OpsError::TickIncomplete { summary, .. } => Some(summary),
            _ => None,
        }
    }

    pub(crate) fn store(doing: &'static str) -> impl FnOnce(StoreError) -> OpsError {
        move |source| OpsError::Store { doing, source }
    }
}
