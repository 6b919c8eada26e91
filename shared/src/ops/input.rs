//! What a person types to describe a job (a command line, a form, a file), parsed once:
//! schedule forms, durations, dates, zones, URLs. Every refusal names its field.

use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::change::JobChanges;
use super::error::{FieldError, Message};
use crate::model::{
    AppName, JobName, JobPath, JobUrl, MAX_JITTER, MAX_RETRIES, Method, OverlapPolicy, PauseReason,
    validate_retries, validate_timeout,
};
use crate::schedule::Schedule;

/// A job's options as typed; `None` leaves an option at its default (create) or as it is
/// (update).
#[derive(Debug, Clone, Default)]
pub struct JobInput {
    /// The URL to call.
    pub url: Option<String>,
    /// Or the path under the app's base URL (`/scheduled/invoices`).
    pub path: Option<String>,
    /// `GET` or `POST`.
    pub method: Option<String>,
    /// The schedule, in one of its forms.
    pub schedule: ScheduleForm,
    /// An IANA zone; schedules and dates are read in it.
    pub timezone: Option<String>,
    /// The first instant a slot may fall on; `none` clears it.
    pub start: Option<String>,
    /// The instant after which no slot falls; `none` clears it.
    pub end: Option<String>,
    /// The call's timeout, a duration.
    pub timeout: Option<String>,
    /// How many times a failed call is retried, a whole number.
    pub retries: Option<String>,
    /// How late a slot may still be called, a duration.
    pub max_lateness: Option<String>,
    /// Whether a slot may start while the previous call still runs.
    pub overlap: Option<OverlapPolicy>,
    /// How far after its slot each call may be spread, a duration (`0s`: none).
    pub jitter: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Why the job is paused (only with `paused`, or for a job that is); empty clears it.
    pub pause_reason: Option<String>,
    /// Create the job paused, or pause it.
    pub paused: bool,
}

/// The refusal of a job with neither a URL nor a path.
pub(crate) fn missing_target() -> FieldError {
    FieldError::new(
        "url",
        Message::text("missing; give ")
            .field("url")
            .and(" https://host/path, or ")
            .field("path")
            .and(" /path under the app's base URL"),
    )
}

/// A job named by its app and name, both validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobKey {
    /// The app.
    pub app: AppName,
    /// The job's name within its app.
    pub name: JobName,
}

impl JobKey {
    /// Validates both names (`app`, then `name`).
    pub fn parse(app: &str, name: &str) -> Result<Self, FieldError> {
        Ok(Self {
            app: AppName::parse(app)?,
            name: JobName::parse(name)?,
        })
    }
}

/// The options of [`JobInput`] parsed, except the dates (they are read in the job's zone,
/// which an update only knows once it has read the job).
pub(crate) struct Parsed {
    pub url: Option<JobUrl>,
    pub path: Option<JobPath>,
    pub schedule: Option<Schedule>,
    pub timezone: Option<Tz>,
    pub rest: JobChanges,
}

impl JobInput {
    /// Parses everything but the dates; a `new` job needs its URL and schedule.
    pub(crate) fn parse(&self, new: bool) -> Result<Parsed, FieldError> {
        let timezone = self.timezone.as_deref().map(parse_zone).transpose()?;
        if self.url.is_some() && self.path.is_some() {
            return Err(FieldError::new(
                "path",
                Message::text("give either ")
                    .field("url")
                    .and(" or ")
                    .field("path")
                    .and(", not both"),
            ));
        }
        let path = self.path.as_deref().map(JobPath::parse).transpose()?;
        let url = match &self.url {
            Some(url) => Some(JobUrl::parse(url)?),
            None if new && path.is_none() => return Err(missing_target()),
            None => None,
        };
        let schedule = self.schedule.build(new)?;
        let method = self
            .method
            .as_deref()
            .map(str::parse::<Method>)
            .transpose()?;
        let timeout = match &self.timeout {
            Some(t) => Some(
                validate_timeout(parse_duration("timeout", t)?).map_err(|_| {
                    FieldError::plain(
                        "timeout",
                        format!(
                            "`{}` is not accepted; use more than 0 and at most 14m (the Lambda's own limit is 15m)",
                            t.trim()
                        ),
                    )
                })?,
            ),
            None => None,
        };
        let retries = match &self.retries {
            Some(r) => Some(validate_retries(r.trim().parse().map_err(|_| {
                FieldError::plain(
                    "retries",
                    format!("`{r}` is not accepted; use a whole number from 0 to {MAX_RETRIES}"),
                )
            })?)?),
            None => None,
        };
        let max_lateness = match &self.max_lateness {
            Some(l) => {
                let d = parse_duration("max_lateness", l)?;
                if d.is_zero() {
                    return Err(FieldError::plain(
                        "max_lateness",
                        "must be more than 0 (e.g. 1h)",
                    ));
                }
                Some(d)
            }
            None => None,
        };
        // Empty clears a reason (a form's emptied field); a pause's own `--reason` is
        // refused empty by `Ops::pause`.
        let pause_reason = match self.pause_reason.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(text) => Some(Some(PauseReason::parse("pause_reason", text)?)),
        };
        let jitter = self.jitter.as_deref().map(parse_jitter).transpose()?;
        Ok(Parsed {
            url,
            path,
            schedule,
            timezone,
            rest: JobChanges {
                method,
                timeout,
                retries,
                max_lateness,
                jitter,
                overlap: self.overlap,
                description: self.description.clone(),
                pause_reason,
                ..JobChanges::default()
            },
        })
    }

    /// The start and end, read in `tz` (`Some(None)` clears one); the end after the start.
    pub(crate) fn dates(&self, tz: Tz) -> Result<Dates, FieldError> {
        let instant = |field: &'static str, v: &Option<String>| -> Result<Bound, FieldError> {
            Ok(match v.as_deref().map(str::trim) {
                None => None,
                Some("none") => Some(None),
                Some(text) => Some(Some(parse_instant(field, text, tz)?)),
            })
        };
        let start = instant("start", &self.start)?;
        let end = instant("end", &self.end)?;
        if let (Some(Some(s)), Some(Some(e))) = (start, end)
            && e <= s
        {
            return Err(FieldError::plain(
                "end",
                format!("{e} is not after start {s}; the end must come after the start"),
            ));
        }
        Ok(Dates { start, end })
    }
}

/// A bound as given: `None` untouched, `Some(None)` cleared.
type Bound = Option<Option<DateTime<Utc>>>;

/// The start and end as given.
pub(crate) struct Dates {
    pub start: Bound,
    pub end: Bound,
}

/// The schedule as typed: one of `cron`, `at` or `every`, with `between` (only with
/// `every`) and `days` (with `at` or `every`).
#[derive(Debug, Clone, Default)]
pub struct ScheduleForm {
    /// A cron expression or macro.
    pub cron: Option<String>,
    /// `HH:MM[,HH:MM...]`.
    pub at: Option<String>,
    /// A whole number of minutes, as a duration (`15m`, `2h`, `90m`).
    pub every: Option<String>,
    /// `HH:MM-HH:MM`.
    pub between: Option<String>,
    /// `mon,wed` or `mon-fri`.
    pub days: Option<String>,
}

fn one_of_the_forms(m: Message) -> Message {
    m.field("cron")
        .and(" EXPR, ")
        .field("at")
        .and(" HH:MM[,HH:MM...] or ")
        .field("every")
        .and(" DURATION")
}

impl ScheduleForm {
    /// The schedule, `None` when no form was given (and none is `required`).
    pub fn build(&self, required: bool) -> Result<Option<Schedule>, FieldError> {
        let forms = [&self.cron, &self.at, &self.every]
            .iter()
            .filter(|f| f.is_some())
            .count();
        if forms > 1 {
            return Err(FieldError::new(
                "schedule",
                one_of_the_forms(Message::text("give one schedule form, not several: ")),
            ));
        }
        if self.between.is_some() && self.every.is_none() {
            return Err(FieldError::new(
                "between",
                Message::default()
                    .field("between")
                    .and(" HH:MM-HH:MM only goes with ")
                    .field("every")
                    .and(" DURATION"),
            ));
        }
        if self.days.is_some() && self.at.is_none() && self.every.is_none() {
            return Err(FieldError::new(
                "days",
                Message::default()
                    .field("days")
                    .and(" only goes with ")
                    .field("at")
                    .and(" or ")
                    .field("every")
                    .and(" (a cron expression has its own day fields)"),
            ));
        }
        let days = match &self.days {
            Some(d) => {
                check_chars(
                    "days",
                    d,
                    |c| c.is_ascii_alphabetic() || c == ',' || c == '-',
                    "day names such as mon,wed or mon-fri",
                )?;
                format!(" on {d}")
            }
            None => String::new(),
        };
        let text = if let Some(cron) = &self.cron {
            cron.clone()
        } else if let Some(at) = &self.at {
            check_chars(
                "at",
                at,
                |c| c.is_ascii_digit() || c == ':' || c == ',',
                "HH:MM[,HH:MM...] such as 08:00,13:30",
            )?;
            format!("at {at}{days}")
        } else if let Some(every) = &self.every {
            let d = parse_duration("every", every)?;
            if d.as_secs() % 60 != 0 || d.is_zero() {
                return Err(FieldError::plain(
                    "every",
                    format!(
                        "`{every}` is not accepted; use whole minutes from 1m to 24h (e.g. 15m, 90m, 2h)"
                    ),
                ));
            }
            let between = match &self.between {
                Some(b) => {
                    check_chars(
                        "between",
                        b,
                        |c| c.is_ascii_digit() || c == ':' || c == '-',
                        "HH:MM-HH:MM such as 08:00-17:00",
                    )?;
                    format!(" between {b}")
                }
                None => String::new(),
            };
            format!("every {}m{between}{days}", d.as_secs() / 60)
        } else if required {
            return Err(FieldError::new(
                "schedule",
                one_of_the_forms(Message::text("missing; give one of ")),
            ));
        } else {
            return Ok(None);
        };
        parse_schedule(&text).map(Some)
    }
}

/// Parses a schedule in any of its written forms (`0 9 * * mon-fri`, `every 15m`,
/// `at 08:00 on mon`).
pub fn parse_schedule(text: &str) -> Result<Schedule, FieldError> {
    text.parse::<Schedule>()
        .map_err(|e| FieldError::plain("schedule", e.to_string()))
}

fn check_chars(
    field: &'static str,
    value: &str,
    ok: impl Fn(char) -> bool,
    accepted: &str,
) -> Result<(), FieldError> {
    if value.is_empty() || !value.chars().all(ok) {
        return Err(FieldError::plain(
            field,
            format!("`{value}` is not accepted; use {accepted}"),
        ));
    }
    Ok(())
}

/// Parses a duration in the one grammar of [`crate::duration`] (`30s`, `14m`, `1h30m`; a
/// number without its unit is refused). `field` names it in the error.
pub fn parse_duration(field: &'static str, text: &str) -> Result<Duration, FieldError> {
    crate::duration::parse(text).map_err(|e| FieldError::plain(field, e.to_string()))
}

/// Parses a jitter as typed (`5m`; `0s` for none) and checks it on its own: at most a day.
/// Whether it is less than the schedule's smallest gap is checked with the schedule
/// ([`crate::model::validate_jitter`]).
pub fn parse_jitter(text: &str) -> Result<Duration, FieldError> {
    let jitter = crate::duration::parse(text).map_err(|e| {
        FieldError::plain(
            "jitter",
            format!("{e}, less than the schedule's smallest gap between two runs (0s: none)"),
        )
    })?;
    if jitter > MAX_JITTER {
        return Err(FieldError::plain(
            "jitter",
            format!(
                "`{}` is not accepted; use at most 1d, and less than the schedule's smallest gap between two runs",
                text.trim()
            ),
        ));
    }
    Ok(jitter)
}

/// Parses an instant: RFC 3339 (`2026-12-01T08:00:00Z`), or a local date (`2026-12-01`,
/// midnight) or date and time (`2026-12-01T08:00`, `2026-12-01 08:00`) read in `tz`.
pub fn parse_instant(field: &'static str, text: &str, tz: Tz) -> Result<DateTime<Utc>, FieldError> {
    parse_instant_in(field, text, tz, false)
}

/// [`parse_instant`], but a local time that clocks falling back make ambiguous is its later
/// instant (the end of a window that covers both readings).
pub fn parse_instant_latest(
    field: &'static str,
    text: &str,
    tz: Tz,
) -> Result<DateTime<Utc>, FieldError> {
    parse_instant_in(field, text, tz, true)
}

fn parse_instant_in(
    field: &'static str,
    text: &str,
    tz: Tz,
    later: bool,
) -> Result<DateTime<Utc>, FieldError> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    let naive = if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        Some(date.and_time(chrono::NaiveTime::MIN))
    } else {
        [
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    };
    let Some(naive) = naive else {
        return Err(FieldError::plain(
            field,
            format!(
                "`{text}` is not accepted; use a date (2026-12-01), a local date and time (2026-12-01T08:00) or RFC 3339 (2026-12-01T16:00:00Z)"
            ),
        ));
    };
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(at) => Ok(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) if later => Ok(a.max(b).with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Ok(a.min(b).with_timezone(&Utc)),
        LocalResult::None => Err(FieldError::plain(
            field,
            format!(
                "`{text}` does not exist in {} (a daylight-saving gap); pick another time",
                tz.name()
            ),
        )),
    }
}

/// Parses an IANA time zone like [`crate::model::parse_timezone`], and when the name is
/// unknown suggests the closest names by edit distance as well (`America/Los_Angles`).
pub fn parse_zone(value: &str) -> Result<Tz, FieldError> {
    let err = match crate::model::parse_timezone(value) {
        Ok(tz) => return Ok(tz),
        Err(e) => e,
    };
    if err.message.contains("did you mean") {
        return Err(err.into());
    }
    let lower = value.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                edit_distance(&lower, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .filter(|(d, _)| *d <= 3.max(lower.len() / 5))
        .collect();
    scored.sort_unstable();
    if scored.is_empty() {
        return Err(err.into());
    }
    let close: Vec<&str> = scored.iter().take(3).map(|(_, n)| *n).collect();
    Err(FieldError::plain(
        "timezone",
        format!(
            "`{value}` is not a known IANA time zone; did you mean {}?",
            close.join(", ")
        ),
    ))
}

/// Levenshtein distance between two strings (by character).
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev[b.len()]
}
