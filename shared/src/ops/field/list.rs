//! [`FIELDS`], the list: one [`JobField`] a field of a job.

use chrono_tz::Tz;

use super::text::{
    duration_canonical, duration_text, instant_canonical, instant_text, local_text, normal,
    overlap_text, schedule_keys,
};
use super::{ACCEPTS_ANYTHING, Exported, FileKey, JobField, Kind, TARGET};
use crate::model::{DEFAULT_MAX_LATENESS, DEFAULT_TIMEOUT, JobPath, JobUrl, Method, OverlapPolicy};
use crate::ops::change::millis;
use crate::ops::error::FieldError;
use crate::ops::input::{ScheduleForm, missing_target, parse_jitter, parse_schedule, parse_zone};

const fn key(name: &'static str, kind: Kind, accepts: &'static str) -> FileKey {
    FileKey {
        name,
        kind,
        accepts,
    }
}

fn text_of(v: &Option<String>) -> String {
    normal(v.as_deref())
}

/// `value` unless it is `default` (`export` leaves defaults out).
fn unless<T: PartialEq>(
    value: T,
    default: T,
    key: &'static str,
    text: impl FnOnce(T) -> Exported,
) -> Vec<(&'static str, Exported)> {
    if value == default {
        Vec::new()
    } else {
        vec![(key, text(value))]
    }
}

/// A job's fields, in the order a form shows them and a plan lists their changes.
pub const FIELDS: &[JobField] = &[
    JobField {
        name: "url",
        label: "URL",
        form: TARGET,
        read_in_zone: false,
        stored_text: true,
        alone: true,
        keys: &[key(
            "url",
            Kind::Text,
            "http://host/path or https://host/path",
        )],
        export_rank: 0,
        set: |i, _, v| {
            i.url = Some(v);
            Ok(())
        },
        copy: |to, from| to.url = from.url.clone(),
        show: |job, i| i.url = job.path.is_none().then(|| job.url.as_str().to_owned()),
        form_value: |i| i.url.clone(),
        from_form: |i, v| i.url = v,
        typed: |i| text_of(&i.url),
        canonical: |i, _| match i.url.as_deref() {
            None => Some(String::new()),
            Some(u) => JobUrl::parse(u).ok().map(|u| u.as_str().to_owned()),
        },
        take: |typed, change| {
            // The URL and the path are one form field: one of them is needed.
            if typed.url.is_none() && typed.path.is_none() {
                return Err(missing_target());
            }
            change.url = typed.url.clone();
            Ok(())
        },
        text: |d| d.url.as_ref().map(|u| u.as_str().to_owned()),
        export: |d| {
            d.url
                .iter()
                .map(|u| ("url", Exported::Text(u.as_str().to_owned())))
                .collect()
        },
    },
    JobField {
        name: "path",
        label: "Path",
        form: TARGET,
        read_in_zone: false,
        stored_text: true,
        alone: true,
        keys: &[key(
            "path",
            Kind::Text,
            "a path under the app's base_url, starting with /",
        )],
        export_rank: 0,
        set: |i, _, v| {
            i.path = Some(v);
            Ok(())
        },
        copy: |to, from| to.path = from.path.clone(),
        show: |job, i| i.path = job.path.as_ref().map(|p| p.as_str().to_owned()),
        form_value: |i| i.path.clone(),
        from_form: |i, v| i.path = v,
        typed: |i| text_of(&i.path),
        canonical: |i, _| match i.path.as_deref() {
            None => Some(String::new()),
            Some(p) => JobPath::parse(p).ok().map(|p| p.as_str().to_owned()),
        },
        take: |typed, change| {
            change.path = typed.path.clone();
            Ok(())
        },
        text: |d| d.path.as_ref().map(|p| p.as_str().to_owned()),
        export: |d| {
            d.path
                .iter()
                .map(|p| ("path", Exported::Text(p.as_str().to_owned())))
                .collect()
        },
    },
    JobField {
        name: "method",
        label: "Method",
        form: "method",
        read_in_zone: false,
        stored_text: false,
        alone: true,
        keys: &[key("method", Kind::Text, "GET or POST")],
        export_rank: 3,
        set: |i, _, v| {
            i.method = Some(v);
            Ok(())
        },
        copy: |to, from| to.method = from.method.clone(),
        show: |job, i| i.method = Some(job.method.as_str().to_owned()),
        form_value: |i| i.method.clone(),
        from_form: |i, v| i.method = v,
        typed: |i| text_of(&i.method).to_ascii_uppercase(),
        canonical: |_, _| None,
        take: |typed, change| {
            change.method = Some(typed.method.clone().unwrap_or_else(|| "GET".to_owned()));
            Ok(())
        },
        text: |d| Some(d.method.as_str().to_owned()),
        export: |d| {
            unless(d.method, Method::Get, "method", |m| {
                Exported::Text(m.as_str().to_owned())
            })
        },
    },
    JobField {
        name: "schedule",
        label: "Schedule",
        form: "schedule",
        read_in_zone: true,
        stored_text: false,
        alone: false,
        keys: &[
            key(
                "cron",
                Kind::Text,
                "a 5-field cron expression or macro (@daily...)",
            ),
            key("at", Kind::Text, "HH:MM[,HH:MM...]"),
            key(
                "every",
                Kind::Text,
                "a duration in whole minutes, 1m to 24h (15m, 2h)",
            ),
            key("between", Kind::Text, "HH:MM-HH:MM, with every"),
            key("days", Kind::Text, "mon,wed or mon-fri"),
        ],
        export_rank: 1,
        set: |i, key, v| {
            let form = &mut i.schedule;
            let slot = match key {
                "cron" => &mut form.cron,
                "at" => &mut form.at,
                "every" => &mut form.every,
                "between" => &mut form.between,
                _ => &mut form.days,
            };
            *slot = Some(v);
            Ok(())
        },
        copy: |to, from| to.schedule = from.schedule.clone(),
        show: |job, i| i.schedule = ScheduleForm::written(job.schedule.to_string()),
        form_value: |i| i.schedule.cron.clone(),
        from_form: |i, v| i.schedule = v.map(ScheduleForm::written).unwrap_or_default(),
        typed: |i| text_of(&i.schedule.cron),
        canonical: |i, _| {
            parse_schedule(&text_of(&i.schedule.cron))
                .ok()
                .map(|s| s.to_string())
        },
        take: |typed, change| {
            if typed.schedule.cron.is_none() {
                return Err(FieldError::plain(
                    "schedule",
                    "missing; give a cron expression, every DURATION or at HH:MM",
                ));
            }
            change.schedule = typed.schedule.clone();
            Ok(())
        },
        text: |d| Some(d.schedule.to_string()),
        export: |d| {
            schedule_keys(&d.schedule)
                .into_iter()
                .map(|(k, v)| (k, Exported::Text(v)))
                .collect()
        },
    },
    JobField {
        name: "timezone",
        label: "Time zone",
        form: "timezone",
        read_in_zone: false,
        stored_text: false,
        alone: true,
        keys: &[key(
            "timezone",
            Kind::Text,
            "an IANA time zone (America/Los_Angeles)",
        )],
        export_rank: 2,
        set: |i, _, v| {
            i.timezone = Some(v);
            Ok(())
        },
        copy: |to, from| to.timezone = from.timezone.clone(),
        show: |job, i| i.timezone = Some(job.timezone.name().to_owned()),
        form_value: |i| i.timezone.clone(),
        from_form: |i, v| i.timezone = v,
        typed: |i| text_of(&i.timezone),
        canonical: |i, _| match text_of(&i.timezone).as_str() {
            "" => Some("UTC".to_owned()),
            text => parse_zone(text).ok().map(|z| z.name().to_owned()),
        },
        take: |typed, change| {
            change.timezone = Some(typed.timezone.clone().unwrap_or_else(|| "UTC".to_owned()));
            Ok(())
        },
        text: |d| Some(d.timezone.name().to_owned()),
        export: |d| {
            unless(d.timezone, Tz::UTC, "timezone", |z| {
                Exported::Text(z.name().to_owned())
            })
        },
    },
    JobField {
        name: "start",
        label: "Start",
        form: "start",
        read_in_zone: true,
        stored_text: false,
        alone: false,
        keys: &[key(
            "start",
            Kind::Instant,
            "a date, a local date and time, or RFC 3339",
        )],
        export_rank: 4,
        set: |i, _, v| {
            i.start = Some(v);
            Ok(())
        },
        copy: |to, from| to.start = from.start.clone(),
        show: |job, i| i.start = job.start.map(|t| local_text(t, job.timezone)),
        form_value: |i| i.start.clone(),
        from_form: |i, v| i.start = v,
        typed: |i| text_of(&i.start),
        canonical: |i, tz| instant_canonical(&i.start, tz),
        take: |typed, change| {
            change.start = Some(typed.start.clone().unwrap_or_else(|| "none".to_owned()));
            Ok(())
        },
        text: |d| d.start.map(instant_text),
        export: |d| {
            d.start
                .map(|t| ("start", Exported::Text(instant_text(t))))
                .into_iter()
                .collect()
        },
    },
    JobField {
        name: "end",
        label: "End",
        form: "end",
        read_in_zone: true,
        stored_text: false,
        alone: false,
        keys: &[key(
            "end",
            Kind::Instant,
            "a date, a local date and time, or RFC 3339",
        )],
        export_rank: 5,
        set: |i, _, v| {
            i.end = Some(v);
            Ok(())
        },
        copy: |to, from| to.end = from.end.clone(),
        show: |job, i| i.end = job.end.map(|t| local_text(t, job.timezone)),
        form_value: |i| i.end.clone(),
        from_form: |i, v| i.end = v,
        typed: |i| text_of(&i.end),
        canonical: |i, tz| instant_canonical(&i.end, tz),
        take: |typed, change| {
            change.end = Some(typed.end.clone().unwrap_or_else(|| "none".to_owned()));
            Ok(())
        },
        text: |d| d.end.map(instant_text),
        export: |d| {
            d.end
                .map(|t| ("end", Exported::Text(instant_text(t))))
                .into_iter()
                .collect()
        },
    },
    JobField {
        name: "timeout",
        label: "Timeout",
        form: "timeout",
        read_in_zone: false,
        stored_text: false,
        alone: true,
        keys: &[key("timeout", Kind::Text, "a duration, at most 14m")],
        export_rank: 6,
        set: |i, _, v| {
            i.timeout = Some(v);
            Ok(())
        },
        copy: |to, from| to.timeout = from.timeout.clone(),
        show: |job, i| i.timeout = Some(duration_text(job.timeout_ms)),
        form_value: |i| i.timeout.clone(),
        from_form: |i, v| i.timeout = v,
        typed: |i| text_of(&i.timeout),
        canonical: |i, _| duration_canonical(&i.timeout, DEFAULT_TIMEOUT),
        take: |typed, change| {
            change.timeout = Some(
                typed
                    .timeout
                    .clone()
                    .unwrap_or_else(|| duration_text(millis(DEFAULT_TIMEOUT))),
            );
            Ok(())
        },
        text: |d| Some(duration_text(d.timeout_ms)),
        export: |d| {
            unless(d.timeout_ms, millis(DEFAULT_TIMEOUT), "timeout", |ms| {
                Exported::Text(duration_text(ms))
            })
        },
    },
    JobField {
        name: "retries",
        label: "Retries",
        form: "retries",
        read_in_zone: false,
        stored_text: false,
        alone: true,
        keys: &[key("retries", Kind::Number, "a whole number from 0 to 5")],
        export_rank: 7,
        set: |i, _, v| {
            i.retries = Some(v);
            Ok(())
        },
        copy: |to, from| to.retries = from.retries.clone(),
        show: |job, i| i.retries = Some(job.retries.to_string()),
        form_value: |i| i.retries.clone(),
        from_form: |i, v| i.retries = v,
        typed: |i| text_of(&i.retries),
        canonical: |i, _| match text_of(&i.retries).as_str() {
            "" => Some("0".to_owned()),
            text => text.parse::<u32>().ok().map(|n| n.to_string()),
        },
        take: |typed, change| {
            change.retries = Some(typed.retries.clone().unwrap_or_else(|| "0".to_owned()));
            Ok(())
        },
        text: |d| Some(d.retries.to_string()),
        export: |d| unless(d.retries, 0, "retries", Exported::Number),
    },
    JobField {
        name: "max_lateness",
        label: "Max lateness",
        form: "max_lateness",
        read_in_zone: false,
        stored_text: false,
        alone: true,
        keys: &[key("max_lateness", Kind::Text, "a duration")],
        export_rank: 8,
        set: |i, _, v| {
            i.max_lateness = Some(v);
            Ok(())
        },
        copy: |to, from| to.max_lateness = from.max_lateness.clone(),
        show: |job, i| i.max_lateness = Some(duration_text(job.max_lateness_ms)),
        form_value: |i| i.max_lateness.clone(),
        from_form: |i, v| i.max_lateness = v,
        typed: |i| text_of(&i.max_lateness),
        canonical: |i, _| duration_canonical(&i.max_lateness, DEFAULT_MAX_LATENESS),
        take: |typed, change| {
            change.max_lateness = Some(
                typed
                    .max_lateness
                    .clone()
                    .unwrap_or_else(|| duration_text(millis(DEFAULT_MAX_LATENESS))),
            );
            Ok(())
        },
        text: |d| Some(duration_text(d.max_lateness_ms)),
        export: |d| {
            unless(
                d.max_lateness_ms,
                millis(DEFAULT_MAX_LATENESS),
                "max_lateness",
                |ms| Exported::Text(duration_text(ms)),
            )
        },
    },
    JobField {
        name: "jitter",
        label: "Jitter",
        form: "jitter",
        read_in_zone: false,
        stored_text: false,
        alone: true,
        keys: &[key(
            "jitter",
            Kind::Text,
            "a duration less than the schedule's smallest gap between two runs (0s: none)",
        )],
        export_rank: 8,
        set: |i, _, v| {
            i.jitter = Some(v);
            Ok(())
        },
        copy: |to, from| to.jitter = from.jitter.clone(),
        show: |job, i| i.jitter = (job.jitter_ms > 0).then(|| duration_text(job.jitter_ms)),
        form_value: |i| i.jitter.clone(),
        from_form: |i, v| i.jitter = v,
        typed: |i| text_of(&i.jitter),
        canonical: |i, _| match text_of(&i.jitter).as_str() {
            "" => Some(String::new()),
            // None and 0s read the same: no jitter, an empty field.
            text => parse_jitter(text).ok().map(|d| {
                if d.is_zero() {
                    String::new()
                } else {
                    duration_text(millis(d))
                }
            }),
        },
        take: |typed, change| {
            change.jitter = Some(typed.jitter.clone().unwrap_or_else(|| "0s".to_owned()));
            Ok(())
        },
        text: |d| (d.jitter_ms > 0).then(|| duration_text(d.jitter_ms)),
        export: |d| {
            unless(d.jitter_ms, 0, "jitter", |ms| {
                Exported::Text(duration_text(ms))
            })
        },
    },
    JobField {
        name: "overlap",
        label: "Overlap",
        form: "overlap",
        read_in_zone: false,
        stored_text: false,
        alone: false,
        keys: &[key("overlap", Kind::Text, "\"forbid\" or \"allow\"")],
        export_rank: 9,
        set: |i, _, v| {
            i.overlap = Some(match v.as_str() {
                "forbid" => OverlapPolicy::Forbid,
                "allow" => OverlapPolicy::Allow,
                other => {
                    return Err(FieldError::plain(
                        "overlap",
                        format!(
                            "`{other}` is not accepted; use \"forbid\" (the default) or \"allow\""
                        ),
                    ));
                }
            });
            Ok(())
        },
        copy: |to, from| to.overlap = from.overlap,
        show: |job, i| i.overlap = Some(job.overlap),
        form_value: |i| i.overlap.map(|o| overlap_text(o).to_owned()),
        // A form's choice is `allow` or, otherwise, `forbid`.
        from_form: |i, v| {
            i.overlap = Some(match v.as_deref() {
                Some("allow") => OverlapPolicy::Allow,
                _ => OverlapPolicy::Forbid,
            });
        },
        typed: |i| i.overlap.map(overlap_text).unwrap_or("forbid").to_owned(),
        canonical: |_, _| None,
        take: |typed, change| {
            change.overlap = Some(typed.overlap.unwrap_or_default());
            Ok(())
        },
        text: |d| Some(overlap_text(d.overlap).to_owned()),
        export: |d| {
            unless(d.overlap, OverlapPolicy::Forbid, "overlap", |o| {
                Exported::Text(overlap_text(o).to_owned())
            })
        },
    },
    JobField {
        name: "description",
        label: "Description",
        form: "description",
        read_in_zone: false,
        stored_text: true,
        alone: false,
        keys: &[key("description", Kind::Text, ACCEPTS_ANYTHING)],
        export_rank: 10,
        set: |i, _, v| {
            i.description = Some(v);
            Ok(())
        },
        copy: |to, from| to.description = from.description.clone(),
        show: |job, i| i.description = Some(job.description.clone()),
        form_value: |i| i.description.clone(),
        // A text area sends CRLF; a description may be emptied: empty is a value here.
        from_form: |i, v| i.description = Some(v.unwrap_or_default().replace("\r\n", "\n")),
        typed: |i| text_of(&i.description),
        canonical: |_, _| None,
        take: |typed, change| {
            change.description = Some(normal(typed.description.as_deref()));
            Ok(())
        },
        text: |d| (!d.description.is_empty()).then(|| d.description.clone()),
        export: |d| {
            unless(d.description.as_str(), "", "description", |t| {
                Exported::Text(t.to_owned())
            })
        },
    },
    JobField {
        name: "pause_reason",
        label: "Pause reason",
        form: "pause_reason",
        read_in_zone: false,
        stored_text: true,
        alone: true,
        keys: &[key(
            "pause_reason",
            Kind::Text,
            "one line of 1 to 200 characters, with paused = true",
        )],
        export_rank: 11,
        set: |i, _, v| {
            i.pause_reason = Some(v);
            Ok(())
        },
        copy: |to, from| to.pause_reason = from.pause_reason.clone(),
        show: |job, i| i.pause_reason = job.pause_reason.as_ref().map(|r| r.to_string()),
        form_value: |i| i.pause_reason.clone(),
        from_form: |i, v| i.pause_reason = v,
        typed: |i| text_of(&i.pause_reason),
        canonical: |_, _| None,
        take: |typed, change| {
            // Emptied: no reason.
            change.pause_reason = Some(typed.pause_reason.clone().unwrap_or_default());
            Ok(())
        },
        text: |d| d.pause_reason.as_ref().map(|r| r.to_string()),
        export: |d| {
            d.pause_reason
                .iter()
                .map(|r| ("pause_reason", Exported::Text(r.to_string())))
                .collect()
        },
    },
];
