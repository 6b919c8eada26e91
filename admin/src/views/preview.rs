//! A schedule's preview: its reading in words and its next runs, or why it is refused. The
//! job form shows it, and `GET /preview` answers it to the form's script.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::ops::{self, FieldError, OpsError};

use crate::format;

/// The runs a preview lists.
pub(crate) const PREVIEW_RUNS: usize = 5;

/// A schedule's preview: its reading in words and next runs, or why it is refused.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Preview {
    /// The schedule in words.
    pub reading: Option<String>,
    /// The zone the runs are shown in.
    pub zone: Option<String>,
    /// The next runs, in the zone, within the start and end.
    pub runs: Vec<String>,
    /// Why the schedule, zone, start or end is refused.
    pub error: Option<String>,
}

impl Preview {
    /// The preview of `schedule` read in `timezone` (empty: UTC) at `now`: its runs from
    /// the start (when later than now) up to the end, when those are given and valid. The
    /// start and end are read in `dates_zone` when given (an edit that changes only the
    /// zone keeps their instants, read in the zone the form showed).
    pub(crate) fn of(
        schedule: &str,
        timezone: &str,
        (start, end, dates_zone): (&str, &str, Option<&str>),
        now: DateTime<Utc>,
    ) -> Self {
        if schedule.trim().is_empty() {
            return Self::default();
        }
        let zone = Some(timezone.trim()).filter(|z| !z.is_empty());
        let refused = |e: OpsError| Self {
            error: Some(match &e {
                OpsError::Invalid(f) => format!("{}: {}", label_of(f), f.message),
                other => other.to_string(),
            }),
            ..Self::default()
        };
        let first = match ops::next(schedule.trim(), zone, PREVIEW_RUNS, now) {
            Ok(p) => p,
            Err(e) => return refused(e),
        };
        let tz = first.timezone;
        let dates_tz = dates_zone
            .and_then(|z| ops::parse_zone(z.trim()).ok())
            .unwrap_or(tz);
        let bound = |field: &'static str, text: &str| {
            Some(text.trim())
                .filter(|t| !t.is_empty() && *t != "none")
                .map(|t| ops::parse_instant(field, t, dates_tz))
                .transpose()
        };
        let (start, end) = match (bound("start", start), bound("end", end)) {
            (Ok(start), Ok(end)) => (start, end),
            (Err(e), _) | (_, Err(e)) => return refused(e.into()),
        };
        let preview = match start.filter(|s| *s > now) {
            // The first run may fall on the start itself.
            Some(start) => {
                match ops::next(
                    schedule.trim(),
                    zone,
                    PREVIEW_RUNS,
                    start - chrono::Duration::seconds(1),
                ) {
                    Ok(p) => p,
                    Err(e) => return refused(e),
                }
            }
            None => first,
        };
        Self {
            reading: Some(preview.schedule.describe().trim_end_matches('.').to_owned()),
            zone: Some(tz.name().to_owned()),
            runs: preview
                .times
                .iter()
                .filter(|t| end.is_none_or(|end| **t <= end))
                .map(|t| format::local(*t, tz))
                .collect(),
            error: None,
        }
    }
}

fn label_of(e: &FieldError) -> &'static str {
    match e.path.leaf() {
        Some("timezone") => "Time zone",
        Some("start") => "Start",
        Some("end") => "End",
        _ => "Schedule",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_runs_from_the_start_up_to_the_end_read_in_the_dates_zone() {
        let now = DateTime::parse_from_rfc3339("2029-12-01T00:00:00Z")
            .expect("now")
            .with_timezone(&Utc);
        let ny = |dates_zone| {
            Preview::of(
                "0 9 * * *",
                "America/New_York",
                ("2030-01-01T10:00", "2030-01-03T12:00", dates_zone),
                now,
            )
        };
        // Read in New York: 10:00 is after that day's 09:00 run.
        let in_new_york = ny(None);
        assert_eq!(
            in_new_york.runs,
            ["2030-01-02 09:00:00 EST", "2030-01-03 09:00:00 EST"]
        );
        // Kept from a form that showed Berlin: 10:00 Berlin is 04:00 in New York, and the
        // end, 12:00 Berlin, is 06:00 there.
        let kept = ny(Some("Europe/Berlin"));
        assert_eq!(
            kept.runs,
            ["2030-01-01 09:00:00 EST", "2030-01-02 09:00:00 EST"]
        );
        assert_eq!(kept.reading.as_deref(), Some("At 09:00"));
        let refused = Preview::of("0 9 * * *", "UTC", ("tomorrow", "", None), now);
        assert!(
            refused
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("Start: `tomorrow` is not accepted")),
            "{refused:?}"
        );
    }
}
