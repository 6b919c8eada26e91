//! A schedules file's variables: `${NAME}`, given by `--var NAME=VALUE` or
//! `PSU_SCHED_VAR_<NAME>`, never the scheduler's own settings nor AWS credentials.

use crate::ops::error::FieldError;

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
        // Not echoed: it may be a secret passed without its name (base64's `=` padding).
        return Err(FieldError::plain(
            "var",
            "the name before `=` is not a variable name (the argument is not shown: it may be a secret); use NAME=VALUE, the name of letters, digits and _ (not starting with a digit)",
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
pub(super) fn interpolate(
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
