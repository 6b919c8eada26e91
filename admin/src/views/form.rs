//! A form's parts as the templates draw them (field.html, problems.html): its fields, and
//! the refusals placed next to them.

use std::collections::HashMap;

use shared::ops::FieldError;

/// One input of a form, as the template draws it.
pub(crate) struct Field {
    /// The input's name (the operations layer's field key) and, as `f-{name}`, its id.
    pub name: &'static str,
    pub label: &'static str,
    pub hint: String,
    pub value: String,
    pub error: Option<String>,
    /// Required: its label says so.
    pub required: bool,
    /// A choice among these (a `select`) when not empty.
    pub options: Vec<Choice>,
    /// A checkbox, checked when `value` is `on`.
    pub checkbox: bool,
    /// A text area (several lines).
    pub textarea: bool,
    /// `inputmode` for the phone keyboards (`numeric`).
    pub inputmode: Option<&'static str>,
    /// The id of a `datalist` of suggestions.
    pub list: Option<&'static str>,
    /// The id of one more element that describes it (the schedule's preview).
    pub described_by: Option<&'static str>,
}

pub(crate) struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

impl Field {
    pub(crate) fn text(
        name: &'static str,
        label: &'static str,
        hint: impl Into<String>,
        value: String,
    ) -> Self {
        Self {
            name,
            label,
            hint: hint.into(),
            value,
            error: None,
            required: false,
            options: Vec::new(),
            checkbox: false,
            textarea: false,
            inputmode: None,
            list: None,
            described_by: None,
        }
    }

    /// The ids of what describes the input: its hint, its error, and one more element.
    pub(crate) fn described(&self) -> String {
        let mut ids = vec![format!("f-{}-hint", self.name)];
        if self.error.is_some() {
            ids.push(format!("f-{}-error", self.name));
        }
        ids.extend(self.described_by.map(str::to_owned));
        ids.join(" ")
    }

    pub(crate) fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    pub(crate) fn select(
        name: &'static str,
        label: &'static str,
        hint: &'static str,
        choices: &[(&'static str, &'static str)],
        value: &str,
    ) -> Self {
        Self {
            options: choices
                .iter()
                .map(|&(v, l)| Choice {
                    value: v,
                    label: l,
                    selected: v == value,
                })
                .collect(),
            ..Self::text(name, label, hint, value.to_owned())
        }
    }
}

/// An error the form shows: the field's label (or none for the whole form) and the line.
pub(crate) struct Problem {
    pub field: Option<&'static str>,
    pub label: &'static str,
    pub message: String,
}

/// Puts each refusal next to its field, and all of them in the list above the form (in the
/// order of the fields on the page). A reference to another field in a message is written
/// as that field's label.
pub(crate) fn place(fields: &mut [Field], errors: &[FieldError]) -> Vec<Problem> {
    let labels: HashMap<&str, &'static str> = fields.iter().map(|f| (f.name, f.label)).collect();
    let mut problems = Vec::new();
    for e in errors {
        let leaf = e.path.leaf().unwrap_or("");
        // The schedule's parts (`every`, `between`...) are one field here.
        let leaf = match leaf {
            "cron" | "at" | "every" | "between" | "days" => "schedule",
            other => other,
        };
        let message = e.message.render(|k| match labels.get(k) {
            Some(label) => format!("“{label}”"),
            None => k.to_owned(),
        });
        match fields.iter_mut().find(|f| f.name == leaf) {
            Some(field) => {
                if field.error.is_none() {
                    field.error = Some(message.clone());
                }
                problems.push(Problem {
                    field: Some(field.name),
                    label: field.label,
                    message,
                });
            }
            None => problems.push(Problem {
                field: None,
                label: "",
                message: format!("{}: {message}", e.path),
            }),
        }
    }
    let order = |p: &Problem| {
        p.field
            .and_then(|name| fields.iter().position(|f| f.name == name))
    };
    problems.sort_by_key(|p| order(p).map_or(0, |i| i + 1));
    problems
}

/// The hidden fields that carry what an edit form showed.
pub(crate) fn shown_fields(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|f| !f.checkbox)
        .map(|f| (format!("shown-{}", f.name), f.value.clone()))
        .collect()
}
