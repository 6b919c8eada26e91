//! The job page's timeline: one mark per slot, placed by time, with a colour and a shape per
//! status (the shape alone tells them apart), each a link to the execution with a `<title>`
//! giving the status, duration and lag (shown on hover, read on focus).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use shared::model::{Execution, Status};

use crate::format;

/// The drawing's size, in SVG units.
pub(crate) const WIDTH: u32 = 760;
pub(crate) const HEIGHT: u32 = 70;
const MARGIN: f64 = 16.0;
const ROW: f64 = 28.0;

/// One mark of the timeline.
pub(crate) struct Mark {
    /// Path data, drawn around the mark's centre.
    pub d: String,
    /// `m-succeeded`...
    pub class: &'static str,
    /// The execution's page.
    pub href: String,
    /// What a person reads on hover or focus (escaped by the template).
    pub title: String,
}

/// The timeline of `executions` (newest first, as read): one mark per slot, the slot's last
/// attempt deciding its status.
pub(crate) struct Timeline {
    pub marks: Vec<Mark>,
    pub first: String,
    pub last: String,
}

impl Timeline {
    pub(crate) fn new(executions: &[Execution], tz: Tz) -> Self {
        // One per slot and trigger: the newest attempt (the list is newest slot first, and
        // within a slot the highest attempt first).
        let mut slots: Vec<&Execution> = Vec::new();
        for e in executions {
            let same = slots
                .iter()
                .position(|s| s.scheduled_for == e.scheduled_for && s.trigger == e.trigger);
            match same {
                Some(i) if slots[i].attempt >= e.attempt => {}
                Some(i) => slots[i] = e,
                None => slots.push(e),
            }
        }
        slots.sort_by_key(|e| e.scheduled_for);
        let (Some(first), Some(last)) = (slots.first(), slots.last()) else {
            return Self {
                marks: Vec::new(),
                first: String::new(),
                last: String::new(),
            };
        };
        let (start, end) = (first.scheduled_for, last.scheduled_for);
        let span = (end - start).num_seconds().max(1) as f64;
        let x_of = |t: DateTime<Utc>| {
            if start == end {
                f64::from(WIDTH) / 2.0
            } else {
                MARGIN + (t - start).num_seconds() as f64 / span * (f64::from(WIDTH) - 2.0 * MARGIN)
            }
        };
        let marks = slots
            .iter()
            .map(|e| {
                let x = x_of(e.scheduled_for);
                Mark {
                    d: shape(e.status, x, ROW),
                    class: mark_class(e.status),
                    href: format!("/executions/{}", e.id),
                    title: title(e, tz),
                }
            })
            .collect();
        Self {
            marks,
            first: format::local(start, tz),
            last: format::local(end, tz),
        }
    }
}

fn mark_class(status: Status) -> &'static str {
    match status {
        Status::Succeeded => "m-succeeded",
        Status::Failed => "m-failed",
        Status::TimedOut => "m-timed-out",
        Status::Missed => "m-missed",
        Status::Skipped => "m-skipped",
        Status::Pending | Status::Running => "m-live",
    }
}

/// The path of a status's shape centred on (x, y): a disc, a cross, a triangle, a hollow
/// square, a hollow diamond, a ring.
pub(crate) fn shape(status: Status, x: f64, y: f64) -> String {
    let r = 7.0;
    match status {
        Status::Succeeded | Status::Pending | Status::Running => format!(
            "M{:.1} {y:.1}a{r} {r} 0 1 0 {d} 0a{r} {r} 0 1 0 -{d} 0Z",
            x - r,
            d = 2.0 * r
        ),
        Status::Failed => format!(
            "M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}",
            x - 6.0,
            y - 6.0,
            x + 6.0,
            y + 6.0,
            x + 6.0,
            y - 6.0,
            x - 6.0,
            y + 6.0
        ),
        Status::TimedOut => format!(
            "M{x:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}Z",
            y - 8.0,
            x + 8.0,
            y + 6.0,
            x - 8.0,
            y + 6.0
        ),
        Status::Missed => format!("M{:.1} {:.1}h12v12h-12Z", x - 6.0, y - 6.0),
        Status::Skipped => format!(
            "M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z",
            y - 8.0,
            x + 8.0,
            y + 8.0,
            x - 8.0
        ),
    }
}

fn title(e: &Execution, tz: Tz) -> String {
    let mut parts = vec![
        format::local(e.scheduled_for, tz),
        format::word(e.status).to_owned(),
    ];
    if let Some(ms) = e.duration_ms {
        parts.push(format!("duration {}", format::millis(ms as i64)));
    }
    if let Some(lag) = shared::ops::views::lag_ms(e) {
        parts.push(format!("lag {}", format::millis(lag)));
    }
    if e.attempt > 1 {
        parts.push(format!("attempt {}", e.attempt));
    }
    if let Some(code) = e.http_status {
        parts.push(format!("HTTP {code}"));
    }
    parts.join(" · ")
}
