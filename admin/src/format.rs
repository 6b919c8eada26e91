//! How values read on the pages: instants in a zone and in UTC, durations, statuses as a
//! word, a symbol and a colour class (never colour alone).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use shared::model::Status;

/// A symbol for a status, shown beside its word.
pub(crate) fn glyph(status: Status) -> &'static str {
    match status {
        Status::Succeeded => "✓",
        Status::Failed => "✗",
        Status::TimedOut => "▲",
        Status::Missed => "∅",
        Status::Skipped => "↷",
        Status::Pending => "…",
        Status::Running => "▶",
    }
}

/// A status in words.
pub(crate) fn word(status: Status) -> &'static str {
    match status {
        Status::Succeeded => "succeeded",
        Status::Failed => "failed",
        Status::TimedOut => "timed out",
        Status::Missed => "missed",
        Status::Skipped => "skipped",
        Status::Pending => "pending",
        Status::Running => "running",
    }
}

/// The CSS class of a status.
pub(crate) fn class(status: Status) -> &'static str {
    match status {
        Status::Succeeded => "st-ok",
        Status::Failed => "st-fail",
        Status::TimedOut => "st-timeout",
        Status::Missed | Status::Skipped => "st-none",
        Status::Pending | Status::Running => "st-live",
    }
}

/// `2026-11-30 08:00:00 PST`, in `tz`.
pub(crate) fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// `2026-11-30 16:00:00 UTC`.
pub(crate) fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `120 ms`, `1.25 s`, `3 min 4 s`, `2 h 5 min`; negative values get a minus sign.
pub(crate) fn millis(ms: i64) -> String {
    let sign = if ms < 0 { "−" } else { "" };
    let ms = ms.unsigned_abs();
    let text = if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.2} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{} h {} min", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    };
    format!("{sign}{text}")
}

/// The UTC offset of `t` in `tz`: `UTC−08:00`.
pub(crate) fn offset(t: DateTime<Utc>, tz: Tz) -> String {
    use chrono::Offset;
    let seconds = t.with_timezone(&tz).offset().fix().local_minus_utc();
    let sign = if seconds < 0 { '−' } else { '+' };
    let s = seconds.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(millis(120), "120 ms");
        assert_eq!(millis(1_250), "1.25 s");
        assert_eq!(millis(184_000), "3 min 4 s");
        assert_eq!(millis(-1_500), "−1.50 s");
    }

    #[test]
    fn an_offset_reads_with_its_sign() {
        let t = "2026-11-30T16:00:00Z".parse().unwrap_or_default();
        assert_eq!(offset(t, chrono_tz::America::Los_Angeles), "UTC−08:00");
        assert_eq!(offset(t, chrono_tz::Asia::Kolkata), "UTC+05:30");
    }
}
