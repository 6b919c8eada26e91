//! A job's fields as one list, [`FIELDS`]: each field is one [`JobField`], which says how it
//! is named and labelled, which keys of a schedules file give it, and how it reads from what
//! was typed, shows in a form, merges in an edit, prints in a plan and exports. The form, the
//! edit merge, the file reader, the plan and `export` all walk this list (the pattern of
//! ripgrep's `FLAGS`), so a new field of a job is one more entry here, beside its member in
//! the model's `Job`, in [`JobInput`], [`JobChanges`](super::JobChanges) and
//! [`Definition`].

mod list;
mod text;

use chrono_tz::Tz;
use serde::Serialize;

use super::definition::Definition;
use super::error::FieldError;
use super::input::JobInput;
use crate::model::Job;

pub use list::FIELDS;
pub(super) use text::{normal, overlap_text};

/// One of a job's fields.
pub struct JobField {
    /// Its name in a plan, an export, a file and a refusal (`max_lateness`).
    pub name: &'static str,
    /// Its label on a form (`Max lateness`).
    pub label: &'static str,
    /// The form field an edit compares it in: its name, or `target` for the URL and the path
    /// (a job has one or the other). Fields of one form field are next to each other in
    /// [`FIELDS`].
    pub form: &'static str,
    /// Its value is read in the job's zone (a schedule, a start, an end).
    pub read_in_zone: bool,
    /// Free text whose stored value a plan never prints (see `stored_text`).
    pub stored_text: bool,
    /// Checked on its own first, so that a whole form or a file reports every bad value.
    pub(super) alone: bool,
    /// The keys of a schedules file that give it, in the file reader's order.
    pub(super) keys: &'static [FileKey],
    /// Where `export` writes it: the file's order (target, schedule, zone, method...), which
    /// predates this list's.
    pub(super) export_rank: u8,
    /// Sets the value a file's `key` gives (`text`, variables replaced) in a job's input.
    pub(super) set: fn(&mut JobInput, &str, String) -> Result<(), FieldError>,
    /// Copies the field from one input to another.
    pub(super) copy: fn(&mut JobInput, &JobInput),
    /// Shows a stored job's value in its form ([`JobInput::of`]).
    pub(super) show: fn(&Job, &mut JobInput),
    /// The value a form shows, as the input holds it (`None`: not given).
    pub form_value: fn(&JobInput) -> Option<String>,
    /// Sets the value a form posted (trimmed; `None` when empty) in a job's input.
    pub from_form: fn(&mut JobInput, Option<String>),
    /// The value typed, as an edit compares it (trimmed, CRLF as LF).
    pub(super) typed: fn(&JobInput) -> String,
    /// The typed value as [`JobInput::of`] would show it, read in the zone given; `None` when
    /// it does not parse, or is compared as typed.
    pub(super) canonical: fn(&JobInput, Tz) -> Option<String>,
    /// Takes the field of a form into a change: the typed value, or its default when emptied.
    pub(super) take: fn(&JobInput, &mut JobInput) -> Result<(), FieldError>,
    /// The value as a plan shows it, `None` when not set.
    pub(super) text: fn(&Definition) -> Option<String>,
    /// The file's keys and values `export` writes, none at the default.
    pub(super) export: fn(&Definition) -> Vec<(&'static str, Exported)>,
}

impl JobField {
    /// `from` with only this field given.
    pub(super) fn only(&self, from: &JobInput) -> JobInput {
        let mut single = JobInput::default();
        (self.copy)(&mut single, from);
        single
    }
}

/// The kind of value a key of a schedules file takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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

/// A key of a schedules file.
pub(super) struct FileKey {
    /// The key.
    pub name: &'static str,
    /// The kind of value it takes.
    pub kind: Kind,
    /// What it accepts, for a refused value that is not shown (the table of
    /// docs/schedules-as-code.md).
    pub accepts: &'static str,
}

/// A value as `export` writes it.
pub(super) enum Exported {
    /// A string, quoted as TOML quotes it.
    Text(String),
    /// A whole number.
    Number(u32),
}

/// What a key accepts when the docs say nothing more precise.
pub(super) const ACCEPTS_ANYTHING: &str =
    "what `psu-sched create` accepts (docs/schedules-as-code.md)";

/// The field that gives the zone the [`JobField::read_in_zone`] fields are read in.
pub const ZONE: &str = "timezone";

/// The form field of a job's URL and path ([`JobField::form`]): a job has one or the other.
pub const TARGET: &str = "target";

/// A job's settings as a plan, an export and an edit name them ([`Change::field`]): the
/// names of [`FIELDS`].
pub const JOB_SETTINGS: [&str; FIELDS.len()] = {
    let mut names = [""; FIELDS.len()];
    let mut i = 0;
    while i < FIELDS.len() {
        names[i] = FIELDS[i].name;
        i += 1;
    }
    names
};

/// The fields of a job's form as an edit compares them ([`JobField::form`]; `target` is the
/// URL or path).
pub const JOB_FORM_FIELDS: [&str; form_count()] = {
    let mut names = [""; form_count()];
    let (mut i, mut n) = (0, 0);
    while i < FIELDS.len() {
        if i == 0 || !same(FIELDS[i - 1].form, FIELDS[i].form) {
            names[n] = FIELDS[i].form;
            n += 1;
        }
        i += 1;
    }
    names
};

const fn form_count() -> usize {
    let (mut i, mut n) = (0, 0);
    while i < FIELDS.len() {
        if i == 0 || !same(FIELDS[i - 1].form, FIELDS[i].form) {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The fields edited in the form field `form` (two for `target`).
pub(super) fn in_form(form: &str) -> impl Iterator<Item = &'static JobField> + '_ {
    FIELDS.iter().filter(move |f| f.form == form)
}

/// True for a field whose stored value a plan never prints: free text, which may hold what a
/// variable gave when it was written (a token in a URL's query), and the store does not record
/// where a value came from. A pull request that replaces `${TOKEN}` with a literal must not
/// make its dry run print the stored token. An app's `base_url` is one too.
pub fn stored_text(field: &str) -> bool {
    field == "base_url" || FIELDS.iter().any(|f| f.name == field && f.stored_text)
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
    /// stored value may have come from one (see `stored_text`).
    pub old_hidden: bool,
}

impl Change {
    /// `field` set from `old` to `new`, shown as it is.
    pub(super) fn shown(field: &'static str, old: Option<String>, new: Option<String>) -> Self {
        Self {
            field,
            old,
            new,
            from_variables: false,
            old_hidden: false,
        }
    }
}

/// The fields that differ from `old` to `new`, each as the plan shows it.
pub(super) fn changes(old: &Definition, new: &Definition) -> Vec<Change> {
    FIELDS
        .iter()
        .map(|f| (f.name, (f.text)(old), (f.text)(new)))
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| Change::shown(field, old, new))
        .collect()
}

/// The fields a new job of `def` gets: its target and schedule, and each one not at its
/// default.
pub(super) fn creation(def: &Definition) -> Vec<Change> {
    let defaults = Definition::defaults(def.schedule.clone());
    FIELDS
        .iter()
        .map(|f| (f.name, (f.text)(def), (f.text)(&defaults)))
        // The schedule has no default: it is always shown.
        .filter(|(field, mine, default)| mine != default || *field == "schedule")
        .map(|(field, new, _)| Change::shown(field, None, new))
        .collect()
}
