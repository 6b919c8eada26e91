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

/// How long before or after `now` the instant `t` is, in words: `just now`, `2 min ago`,
/// `in 5 min`, `3 h ago`, `in 2 days` (rounded to the nearest of the unit that fits).
pub(crate) fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (t - now).num_seconds();
    let s = seconds.unsigned_abs();
    if s < 45 {
        return "just now".to_owned();
    }
    // Rounded to the nearest unit: 2 h 59 min reads `3 h`, not `2 h`.
    let (minutes, hours, days) = ((s + 30) / 60, (s + 1_800) / 3_600, (s + 43_200) / 86_400);
    let amount = if minutes < 60 {
        format!("{} min", minutes.max(1))
    } else if hours < 24 {
        format!("{hours} h")
    } else {
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    };
    if seconds < 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
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
    fn a_relative_time_reads_in_the_unit_that_fits() {
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap_or_default();
        let at = |s: i64| now + chrono::Duration::seconds(s);
        assert_eq!(relative(at(-10), now), "just now");
        assert_eq!(relative(at(-130), now), "2 min ago");
        assert_eq!(relative(at(300), now), "in 5 min");
        assert_eq!(relative(at(-3 * 3_600 + 60), now), "3 h ago");
        assert_eq!(relative(at(3_595), now), "in 1 h");
        assert_eq!(relative(at(86_400), now), "in 1 day");
        assert_eq!(relative(at(-3 * 86_400), now), "3 days ago");
    }

    #[test]
    fn an_offset_reads_with_its_sign() {
        let t = "2026-11-30T16:00:00Z".parse().unwrap_or_default();
        assert_eq!(offset(t, chrono_tz::America::Los_Angeles), "UTC−08:00");
        assert_eq!(offset(t, chrono_tz::Asia::Kolkata), "UTC+05:30");
    }
}
