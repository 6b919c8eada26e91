//! What the commands print: aligned tables and lines for people (colour only on a terminal
//! and never with NO_COLOR), and the stable JSON documented in `docs/cli.md`.

use std::io::Write;

use anstyle::{AnsiColor, Effects, Style};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use shared::model::{AppPause, Execution, Job, Status};
use shared::ops::views::{ShownState, rfc3339};
use shared::tick::TickSummary;

/// Standard output through anstream, which drops the styles when stdout is not a terminal
/// or NO_COLOR is set (and honours CLICOLOR_FORCE).
pub struct Out {
    colour: bool,
}

impl Out {
    /// Styles when anstream would show them on stdout.
    pub fn new() -> Self {
        let choice = anstream::AutoStream::choice(&std::io::stdout());
        Self {
            colour: choice != anstream::ColorChoice::Never,
        }
    }

    /// Prints one line.
    pub fn line(&self, text: &str) {
        let mut stdout = anstream::stdout().lock();
        // A closed pipe (`| head`) is not worth failing over.
        let _ = writeln!(stdout, "{text}");
    }

    /// Prints a note for the person on standard error, keeping standard output for the
    /// value a script reads (`KEY=$(psu-sched app key --app billing)`).
    pub fn note(&self, text: &str) {
        let mut stderr = anstream::stderr().lock();
        let _ = writeln!(stderr, "{text}");
    }

    /// Asks `question` on the terminal (stderr) and reads the answer: true for yes.
    pub fn confirm(&self, question: &str) -> anyhow::Result<bool> {
        use std::io::BufRead;
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| anyhow::anyhow!("could not read the answer: {e}"))?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }

    /// Prints a view as pretty JSON.
    pub fn json(&self, value: &impl serde::Serialize) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => self.line(&text),
            Err(e) => eprintln!("psu-sched: could not encode the output as JSON: {e}"),
        }
    }

    /// Prints a view as JSON on one line (a stream of them: `serve --json`, JSON Lines).
    pub fn json_line(&self, value: &impl serde::Serialize) {
        match serde_json::to_string(value) {
            Ok(text) => self.line(&text),
            Err(e) => eprintln!("psu-sched: could not encode the output as JSON: {e}"),
        }
    }

    fn paint(&self, text: &str, style: Style) -> String {
        if self.colour {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    /// A job's state, coloured, its app's pause given while the app is paused: `active`,
    /// `paused (app): REASON`, or its own state then `; its app is paused: REASON`. The
    /// reason is one line without control characters ([`shared::model::PauseReason`]).
    pub fn state(&self, job: &Job, app_pause: Option<&AppPause>) -> String {
        let shown = ShownState::of(job, app_pause.is_some());
        let word = self.paint(shown.as_str(), state_style(shown));
        match app_pause {
            Some(pause) if shown == ShownState::AppPaused => format!("{word}: {}", pause.reason),
            Some(pause) => format!("{word}; its app is paused: {}", pause.reason),
            None => word,
        }
    }

    /// An execution's status, coloured.
    pub fn status(&self, status: Status) -> String {
        self.paint(status.as_str(), status_style(status))
    }

    /// The job's definition, indented.
    pub fn job_details(&self, job: &Job) {
        let rows = [
            ("url", format!("{} {}", job.method.as_str(), job.url)),
            (
                "path",
                job.path
                    .as_ref()
                    .map(|p| format!("{p} (under the app's base URL: psu-sched app show)"))
                    .unwrap_or_default(),
            ),
            (
                "schedule",
                format!("{} ({})", job.schedule, job.schedule.describe()),
            ),
            ("zone", job.timezone.name().to_owned()),
            (
                "start",
                job.start.map_or("-".to_owned(), |t| local(t, job.timezone)),
            ),
            (
                "end",
                job.end.map_or("-".to_owned(), |t| local(t, job.timezone)),
            ),
            ("timeout", human_ms(job.timeout_ms)),
            ("retries", job.retries.to_string()),
            ("max lateness", human_ms(job.max_lateness_ms)),
            (
                "jitter",
                if job.jitter_ms == 0 {
                    "none".to_owned()
                } else {
                    format!(
                        "{} (each call due at its slot plus a fixed offset under it)",
                        shared::duration::format(job.jitter())
                    )
                },
            ),
            (
                "overlap",
                match job.overlap {
                    shared::model::OverlapPolicy::Allow => "allowed".to_owned(),
                    shared::model::OverlapPolicy::Forbid => "skipped".to_owned(),
                },
            ),
            ("description", job.description.clone()),
            (
                "pause reason",
                job.pause_reason
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ),
            ("id", job.id.to_string()),
        ];
        for (k, v) in rows {
            if matches!(k, "description" | "path" | "pause reason") && v.is_empty() {
                continue;
            }
            self.line(&format!("  {k:<13}{v}"));
        }
    }

    /// The next runs of a job, in its zone; none while it or its app (`app_paused`) is
    /// paused.
    pub fn next_runs(&self, job: &Job, app_paused: bool, times: &[DateTime<Utc>]) {
        if !job.enabled {
            self.line("next runs: none while paused");
            return;
        }
        if app_paused {
            self.line(&format!(
                "next runs: none while the app is paused (psu-sched app resume --app {})",
                job.app
            ));
            return;
        }
        if times.is_empty() {
            self.line("next runs: none (the job has ended)");
            return;
        }
        self.line(&format!("next runs ({}):", job.timezone.name()));
        for t in times {
            let call = job.due_of(*t);
            let offset = if call == *t {
                String::new()
            } else {
                let at = call.with_timezone(&job.timezone);
                format!(", called from {}", at.format("%H:%M:%S"))
            };
            self.line(&format!(
                "  {}  ({}{offset})",
                local(*t, job.timezone),
                rfc3339(*t)
            ));
        }
    }

    /// The jobs as a table; a job whose app is paused (`app_paused`) reads `paused (app)`,
    /// with no next run.
    pub fn job_table(&self, jobs: &[Job], app_paused: impl Fn(&Job) -> bool) {
        let header = [
            "APP", "NAME", "SCHEDULE", "READING", "ZONE", "NEXT RUN", "LAST", "STATE",
        ];
        let rows: Vec<Vec<(String, Option<Style>)>> = jobs
            .iter()
            .map(|job| {
                let state = ShownState::of(job, app_paused(job));
                let next = match (state, job.state.next_slot) {
                    (ShownState::Active, Some(t)) => local(t, job.timezone),
                    _ => "-".to_owned(),
                };
                let (last, last_code) = match &job.state.last {
                    Some(l) => (
                        format!("{} {}", l.status, local(l.at, job.timezone)),
                        Some(status_style(l.status)),
                    ),
                    None => ("-".to_owned(), None),
                };
                vec![
                    (job.app.to_string(), None),
                    (job.name.to_string(), None),
                    (job.schedule.to_string(), None),
                    (job.schedule.describe(), None),
                    (job.timezone.name().to_owned(), None),
                    (next, None),
                    (last, last_code),
                    (state.as_str().to_owned(), Some(state_style(state))),
                ]
            })
            .collect();
        self.table(&header, &rows);
    }

    /// Executions as a table, times in `tz`.
    pub fn execution_table(&self, executions: &[Execution], tz: Tz) {
        let header = [
            "SCHEDULED FOR",
            "TRIGGER",
            "ATTEMPT",
            "STATUS",
            "HTTP",
            "DURATION",
            "ID",
        ];
        let rows: Vec<Vec<(String, Option<Style>)>> = executions
            .iter()
            .map(|e| {
                vec![
                    (local(e.scheduled_for, tz), None),
                    (trigger_str(e).to_owned(), None),
                    (e.attempt.to_string(), None),
                    (e.status.as_str().to_owned(), Some(status_style(e.status))),
                    (
                        e.http_status.map_or("-".to_owned(), |s| s.to_string()),
                        None,
                    ),
                    (
                        e.duration_ms.map_or("-".to_owned(), |d| format!("{d} ms")),
                        None,
                    ),
                    (e.id.to_string(), None),
                ]
            })
            .collect();
        self.table(&header, &rows);
    }

    /// Why each execution ended, after its table: its error and the start of the app's
    /// answer (as stored, at most 4 KiB), control characters shown escaped.
    pub fn execution_notes(&self, executions: &[Execution], tz: Tz) {
        for e in executions {
            if e.error.is_none() && e.output.is_none() {
                continue;
            }
            self.line("");
            self.line(&format!(
                "execution {} ({}, {}):",
                e.id,
                local(e.scheduled_for, tz),
                self.status(e.status)
            ));
            for (label, text) in [("error", &e.error), ("output", &e.output)] {
                let Some(text) = text else { continue };
                let mut lines = text.lines();
                let first = lines.next().unwrap_or_default();
                self.line(&format!("  {label}: {}", printable(first)));
                let indent = " ".repeat(label.len() + 4);
                for more in lines {
                    self.line(&format!("{indent}{}", printable(more)));
                }
            }
        }
    }

    /// Rows under a bold header, columns aligned; a cell may carry a style.
    pub(crate) fn table(&self, header: &[&str], rows: &[Vec<(String, Option<Style>)>]) {
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (i, (cell, _)) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let render = |cells: Vec<(String, Option<Style>)>| {
            let last = cells.len().saturating_sub(1);
            let mut line = String::new();
            for (i, (cell, code)) in cells.into_iter().enumerate() {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(cell.chars().count());
                match code {
                    Some(style) => line.push_str(&self.paint(&cell, style)),
                    None => line.push_str(&cell),
                }
                if i < last {
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            line
        };
        let head: Vec<(String, Option<Style>)> = header
            .iter()
            .map(|h| ((*h).to_owned(), Some(Effects::BOLD.into())))
            .collect();
        self.line(&render(head));
        for row in rows {
            self.line(&render(row.clone()));
        }
    }
}

/// `text` with control characters (a terminal's escape sequences) shown escaped.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn state_style(state: ShownState) -> Style {
    match state {
        ShownState::Active => AnsiColor::Green.on_default(),
        // Both pauses look alike: nothing is called.
        ShownState::Paused | ShownState::AppPaused => AnsiColor::Yellow.on_default(),
        ShownState::Ended => Effects::DIMMED.into(),
    }
}

fn status_style(status: Status) -> Style {
    match status {
        Status::Succeeded => AnsiColor::Green.on_default(),
        Status::Failed | Status::TimedOut => AnsiColor::Red.on_default(),
        Status::Missed | Status::Skipped => AnsiColor::Yellow.on_default(),
        Status::Pending | Status::Running => AnsiColor::Cyan.on_default(),
    }
}

fn trigger_str(e: &Execution) -> &'static str {
    e.shown_trigger()
}

/// An instant on the wall clock of `tz`: `2026-11-30 08:00 PST`.
pub fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    if s > 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else if ms.is_multiple_of(1000) {
        format!("{s}s")
    } else {
        format!("{ms}ms")
    }
}

/// One line for a manual run's outcome.
pub fn outcome_line(e: &Execution, out: &Out) -> String {
    let http = e
        .http_status
        .map(|s| format!(" (HTTP {s})"))
        .unwrap_or_default();
    let took = e
        .duration_ms
        .map(|d| format!(" in {d} ms"))
        .unwrap_or_default();
    let error = e
        .error
        .as_deref()
        .map(|x| format!(": {x}"))
        .unwrap_or_default();
    format!(
        "ran {}/{}: {}{http}{took}{error}; execution {}",
        e.app,
        e.name,
        out.status(e.status),
        e.id
    )
}

/// One line for a tick's summary.
pub fn summary_line(s: &TickSummary) -> String {
    let line = summary_counts(s);
    if s.dry_run {
        format!("dry run, nothing written or called: {line}")
    } else {
        line
    }
}

fn summary_counts(s: &TickSummary) -> String {
    let left = match s.busy_shards {
        0 => String::new(),
        1 => ", 1 shard left to another tick".to_owned(),
        n => format!(", {n} shards left to another tick"),
    };
    // Failure notifications, only when there were some.
    let left = match (s.notifications_sent, s.notifications_failed) {
        (0, 0) => left,
        (sent, 0) => format!("{left}, notifications sent {sent}"),
        (sent, failed) => {
            format!("{left}, notifications sent {sent}, notifications failed {failed}")
        }
    };
    format!(
        "tick at {}: due {}, triggered {}, succeeded {}, failed {}, timed out {}, skipped {}, missed {}, retried {}, reconciled {}, finished by the app {}, errors {}{left} ({} ms)",
        rfc3339(s.now),
        s.due,
        s.triggered,
        s.succeeded,
        s.failed,
        s.timed_out,
        s.skipped,
        s.missed,
        s.retried,
        s.reconciled,
        s.guard_finished,
        s.errors,
        s.duration_ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticks_line_says_how_many_shards_it_left_to_another() {
        let left = TickSummary {
            busy_shards: 2,
            ..TickSummary::default()
        };
        assert!(
            summary_line(&left).contains(", 2 shards left to another tick"),
            "{}",
            summary_line(&left)
        );
        assert!(!summary_line(&TickSummary::default()).contains("left to another"));
    }
}
