//! `export`: the apps and jobs of a store written as the schedules file `apply -f` reads
//! ([`super::parse_file`]); applying the export plans no change.
//!
//! Written line by line rather than serialised, to keep the file's layout (`[[apps]]`, then
//! each `[[apps.jobs]]`) and to leave out every option at its default; each value goes through
//! `toml`'s own quoting.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::definition::Definition;
use super::error::OpsError;
use super::field::{Exported, FIELDS, JobField};
use super::{Ops, parse_app};
use crate::model::{App, AppName, DEFAULT_APP_BUDGET, DEFAULT_NOTIFY_AFTER, Job};
use chrono_tz::Tz;

impl Ops {
    /// The apps and jobs (of one app when `app` is given) as a schedules file. Only what the
    /// file format declares is written: an app's name, base URL, budget, default zone and
    /// pause (with its reason), its notifications (the webhook as a variable: a secret), a
    /// job's options and its paused state (with its reason); never
    /// the tick's bookkeeping nor any secret.
    pub async fn export(&self, app: Option<&str>) -> Result<String, OpsError> {
        let app = app.map(parse_app).transpose()?;
        let store = self.store().await?;
        let mut records = store
            .list_apps()
            .await
            .map_err(OpsError::store("list the apps"))?;
        records.retain(|r| app.as_ref().is_none_or(|a| *a == r.name));
        let mut jobs = store
            .list_jobs(app.as_ref())
            .await
            .map_err(OpsError::store("list the jobs"))?;
        jobs.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
        let names: BTreeSet<&AppName> = records
            .iter()
            .map(|r| &r.name)
            .chain(jobs.iter().map(|j| &j.app))
            .collect();
        if let Some(app) = &app
            && names.is_empty()
        {
            return Err(OpsError::AppNotFound(app.clone()));
        }
        let mut out = String::from(
            "# Apps and jobs as `psu-sched apply -f FILE` reads them (docs/schedules-as-code.md).\n",
        );
        // One variable per webhook: names that read alike (`a-b`, `a_b`) get `_2`, `_3`...
        let mut taken: BTreeSet<String> = BTreeSet::new();
        for name in names {
            out.push_str("\n[[apps]]\n");
            name_line(&mut out, name.as_str());
            let record = records.iter().find(|r| r.name == *name);
            if let Some(record) = record {
                let base = webhook_var(record.name.as_str());
                let mut var = base.clone();
                let mut n = 2;
                while record.webhook.is_some() && !taken.insert(var.clone()) {
                    var = format!("{base}_{n}");
                    n += 1;
                }
                write_record(&mut out, record, &var);
            }
            let zone = record.and_then(|r| r.timezone);
            for job in jobs.iter().filter(|j| j.app == *name) {
                out.push_str("\n[[apps.jobs]]\n");
                write_job(&mut out, job, zone);
            }
        }
        Ok(out)
    }
}

/// `key = "value"`, quoted as TOML quotes it, each `$` doubled: `apply -f` reads `$$` as
/// `$`, so a stored `${NAME}` comes back as it is, never as a variable.
fn line(out: &mut String, key: &str, value: &str) {
    let value = value.replace('$', "$$");
    let _ = writeln!(out, "{key} = {}", toml::Value::String(value));
}

/// `name = "..."`: names take no variables (and no `$`), so they are written as they are.
fn name_line(out: &mut String, value: &str) {
    let _ = writeln!(out, "name = {}", toml::Value::String(value.to_owned()));
}

fn write_record(out: &mut String, record: &App, var: &str) {
    line(out, "base_url", record.base_url.as_str());
    if record.budget != DEFAULT_APP_BUDGET {
        let _ = writeln!(out, "budget = {}", record.budget);
    }
    if let Some(zone) = record.timezone {
        line(out, "timezone", zone.name());
    }
    if let Some(pause) = &record.paused {
        out.push_str("paused = true\n");
        line(out, "pause_reason", pause.reason.as_str());
    }
    if record.webhook.is_some() {
        // A secret: written as a variable, so applying the export needs its value.
        let _ = writeln!(
            out,
            "# The webhook is a secret, not exported: set PSU_SCHED_VAR_{var} (or --var {var}=URL)."
        );
        let _ = writeln!(out, "webhook = \"${{{var}}}\"");
    }
    if record.notify_after != DEFAULT_NOTIFY_AFTER {
        let _ = writeln!(out, "notify_after = {}", record.notify_after);
    }
}

/// The variable an export gives an app's webhook from: `SHOP_WEBHOOK` for `shop` (letters,
/// digits and `_`, never starting with a digit).
pub fn webhook_var(app: &str) -> String {
    let name: String = app
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("APP_{name}_WEBHOOK")
    } else {
        format!("{name}_WEBHOOK")
    }
}

/// A job's table. Its zone is left out when it is the one a job without a zone is read in:
/// the app's default `zone`, else UTC; written otherwise (`UTC` included, under an app whose
/// default is another zone).
fn write_job(out: &mut String, job: &Job, zone: Option<Tz>) {
    let def = Definition::of(job);
    name_line(out, job.name.as_str());
    let mut fields: Vec<&JobField> = FIELDS.iter().collect();
    fields.sort_by_key(|f| f.export_rank);
    for field in fields {
        if field.name == "timezone" {
            if job.timezone != zone.unwrap_or(Tz::UTC) {
                line(out, "timezone", job.timezone.name());
            }
            continue;
        }
        for (key, value) in (field.export)(&def) {
            match value {
                Exported::Text(text) => line(out, key, &text),
                Exported::Number(n) => {
                    let _ = writeln!(out, "{key} = {n}");
                }
            }
        }
    }
    if !job.enabled {
        out.push_str("paused = true\n");
    }
}
