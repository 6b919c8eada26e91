//! How a field's value reads as text: in a form, a plan and a file.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use crate::model::OverlapPolicy;
use crate::ops::change::millis;
use crate::ops::input::{parse_duration, parse_instant};
use crate::schedule::Schedule;

/// A form's field as text, normalised as a browser sends it back: trimmed, CRLF as LF.
pub(in crate::ops) fn normal(text: Option<&str>) -> String {
    text.unwrap_or("").replace("\r\n", "\n").trim().to_owned()
}

/// RFC 3339 in UTC, as precise as the instant is.
pub(in crate::ops) fn instant_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A duration in the one grammar (`30s`, `1h30m`), from whole seconds up.
pub(in crate::ops) fn duration_text(ms: u64) -> String {
    if !ms.is_multiple_of(1000) || ms == 0 {
        return format!("{ms}ms");
    }
    crate::duration::format(std::time::Duration::from_millis(ms))
}

/// The overlap policy as a form's choice and a file name it (`forbid`, `allow`).
pub(in crate::ops) fn overlap_text(overlap: OverlapPolicy) -> &'static str {
    match overlap {
        OverlapPolicy::Forbid => "forbid",
        OverlapPolicy::Allow => "allow",
    }
}

/// `t` as a form shows it in `tz`: local when that reads back to `t`, else RFC 3339.
pub(in crate::ops) fn local_text(t: DateTime<Utc>, tz: Tz) -> String {
    let local = t.with_timezone(&tz);
    let text = if t.timestamp_subsec_nanos() == 0 && local.format("%S").to_string() == "00" {
        local.format("%Y-%m-%dT%H:%M").to_string()
    } else {
        local.format("%Y-%m-%dT%H:%M:%S").to_string()
    };
    match parse_instant("start", &text, tz) {
        Ok(back) if back == t => text,
        _ => local.to_rfc3339_opts(SecondsFormat::AutoSi, false),
    }
}

/// A schedule as the file's keys: `cron`, or `at`/`every` with `between` and `days`, from
/// its canonical text (which parses back to an equal schedule).
pub(in crate::ops) fn schedule_keys(schedule: &Schedule) -> Vec<(&'static str, String)> {
    let text = schedule.to_string();
    let (form, rest) = if let Some(rest) = text.strip_prefix("at ") {
        ("at", rest)
    } else if let Some(rest) = text.strip_prefix("every ") {
        ("every", rest)
    } else {
        return vec![("cron", text)];
    };
    let (rest, days) = match rest.split_once(" on ") {
        Some((rest, days)) => (rest, Some(days)),
        None => (rest, None),
    };
    let (value, between) = match rest.split_once(" between ") {
        Some((value, between)) => (value, Some(between)),
        None => (rest, None),
    };
    let mut keys = vec![(form, value.to_owned())];
    keys.extend(between.map(|b| ("between", b.to_owned())));
    keys.extend(days.map(|d| ("days", d.to_owned())));
    keys
}

/// A typed start or end as a form shows it in `tz` (emptied: cleared).
pub(super) fn instant_canonical(typed: &Option<String>, tz: Tz) -> Option<String> {
    match normal(typed.as_deref()).as_str() {
        "" => Some(String::new()),
        text => parse_instant("start", text, tz)
            .ok()
            .map(|t| local_text(t, tz)),
    }
}

/// A typed duration as a form shows it (emptied: `default`).
pub(super) fn duration_canonical(
    typed: &Option<String>,
    default: std::time::Duration,
) -> Option<String> {
    match normal(typed.as_deref()).as_str() {
        "" => Some(duration_text(millis(default))),
        text => parse_duration("timeout", text)
            .ok()
            .map(|d| duration_text(millis(d))),
    }
}
