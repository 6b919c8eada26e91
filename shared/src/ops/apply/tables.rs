//! A schedules file's tables read key by key: each value with its place and the kind its key
//! takes, every refusal with its line and column, a value given from a variable never
//! printed.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::vars::interpolate;
use crate::ops::error::{FieldError, FieldPath, FileError, Message, OpsError};
use crate::ops::field::{ACCEPTS_ANYTHING, FIELDS, Kind};
use crate::ops::input::edit_distance;

/// Where a table sits: `apps[i]` and `jobs[j]` within it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Loc {
    pub(super) app: Option<usize>,
    pub(super) job: Option<usize>,
}

impl Loc {
    pub(super) fn wrap(self, path: FieldPath) -> FieldPath {
        let path = match self.job {
            Some(j) => path.within("jobs", Some(j)),
            None => path,
        };
        match self.app {
            Some(i) => path.within("apps", Some(i)),
            None => path,
        }
    }

    pub(super) fn error(self, e: FieldError) -> FieldError {
        FieldError {
            path: self.wrap(e.path),
            message: e.message,
        }
    }
}

/// Every error found, with its place.
pub(super) struct Errors<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    pub(super) list: Vec<(usize, FileError)>,
    /// The values given from a variable: their place, key and text as written.
    pub(super) hidden: Vec<(Range<usize>, &'static str, String)>,
}

impl<'a> Errors<'a> {
    /// Reports `error` at `span`. At a value given from a variable, the check's message
    /// (which may quote the value, or a part of it) is replaced by one that shows the value
    /// as written and what the key accepts: a value from a variable is never printed.
    pub(super) fn add(&mut self, span: Range<usize>, error: FieldError) {
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
    pub(super) fn add_plain(&mut self, span: Range<usize>, error: FieldError) {
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
        "webhook" => "https://host/path (not link-local)",
        "notify_after" => "a whole number from 1 to 100",
        _ => FIELDS
            .iter()
            .flat_map(|f| f.keys)
            .find(|k| k.name == key)
            .map_or(ACCEPTS_ANYTHING, |k| k.accepts),
    }
}

/// A value read from a table.
pub(super) enum Got<'a, 'i> {
    Text(String),
    Flag(bool),
    Tables(&'a [Spanned<DeValue<'i>>]),
}

/// The keys of one table, each with its value and place.
pub(super) struct Fields<'a, 'i> {
    pub(super) span: Range<usize>,
    pub(super) values: Vec<(&'static str, Got<'a, 'i>, Range<usize>)>,
    /// Keys present whose value was refused (already reported).
    pub(super) refused: Vec<&'static str>,
    /// Keys whose value is given from a variable, with the value as written.
    pub(super) written: Vec<(&'static str, String)>,
}

impl<'a, 'i> Fields<'a, 'i> {
    /// The table's `name`, parsed; a missing or refused one is reported (`what`: `app`,
    /// `job`) and gives `None`.
    pub(super) fn name<N>(
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

    pub(super) fn text(&self, key: &str) -> Option<&str> {
        self.values.iter().find_map(|(k, v, _)| match v {
            Got::Text(t) if *k == key => Some(t.as_str()),
            _ => None,
        })
    }

    pub(super) fn flag(&self, key: &str) -> Option<bool> {
        self.values.iter().find_map(|(k, v, _)| match v {
            Got::Flag(b) if *k == key => Some(*b),
            _ => None,
        })
    }

    pub(super) fn tables(&self, key: &str) -> &'a [Spanned<DeValue<'i>>] {
        self.values
            .iter()
            .find_map(|(k, v, _)| match v {
                Got::Tables(t) if *k == key => Some(*t),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// Where `key` is, else the table.
    pub(super) fn span(&self, key: &str) -> Range<usize> {
        self.values
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or_else(|| self.span.clone(), |(_, _, s)| s.clone())
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.values.iter().any(|(k, _, _)| *k == key)
    }

    /// True when `key` is there but its value was refused (and reported).
    pub(super) fn refused(&self, key: &str) -> bool {
        self.refused.contains(&key)
    }

    /// The refusal of a check of several `keys`, which may quote any of them: when one is
    /// given from a variable, a message that quotes none (the keys as the file writes them).
    pub(super) fn hide(&self, keys: &[&str], e: FieldError) -> FieldError {
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

pub(super) fn finish(mut errors: Errors<'_>) -> OpsError {
    errors.list.sort_by_key(|(at, _)| *at);
    OpsError::InvalidFile(errors.list.into_iter().map(|(_, e)| e).collect())
}

pub(super) fn unknown_key(key: &str, keys: &[(&str, Kind)], of: &str) -> FieldError {
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
pub(super) fn read_table<'a, 'i>(
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
