//! An app as a record: where its jobs by path are called (its base URL) and how many of its
//! calls may be in flight at once within a tick (its call budget).

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{
    AppName, AppPause, DEFAULT_NOTIFY_AFTER, JobUrl, PauseSpan, ValidationError, WebhookUrl,
    push_pause,
};

/// The call budget of an app without a setting: the old relay called one app's jobs one
/// after another; 4 at once keeps a small app server responsive while a tick's calls to it
/// overlap a little.
pub const DEFAULT_APP_BUDGET: u32 = 4;
/// The largest call budget an app may ask for (the tick's own concurrency bounds it too).
pub const MAX_APP_BUDGET: u32 = 64;

/// Where an app's jobs by path are called: `http` or `https`, a host, an optional port and
/// path prefix; no credentials, query or fragment. Kept without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// Validates a base URL (`https://billing.example.edu/prefix`).
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let field = "base_url";
        let url = JobUrl::parse(value).map_err(|e| ValidationError::new(field, e.message))?;
        let parsed = reqwest::Url::parse(url.as_str()).map_err(|e| {
            ValidationError::new(field, format!("`{value}` is not a valid URL ({e})"))
        })?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(ValidationError::new(
                field,
                format!(
                    "`{value}` has a query or a fragment; give the scheme, host and an optional path prefix only (https://host/prefix)"
                ),
            ));
        }
        Ok(Self(parsed.as_str().trim_end_matches('/').to_owned()))
    }

    /// The URL a job at `path` is called at: plain concatenation, so a prefix is kept
    /// (`https://h/prefix` and `/scheduled/x` give `https://h/prefix/scheduled/x`; RFC 3986
    /// joining would drop the prefix).
    pub fn join(&self, path: &JobPath) -> Result<JobUrl, ValidationError> {
        JobUrl::parse(&format!("{}{}", self.0, path.as_str()))
            .map_err(|e| ValidationError::new("path", e.message))
    }

    /// The base URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for BaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A job's path under its app's base URL: starts with `/`, may carry a query; no fragment,
/// no spaces or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct JobPath(String);

impl JobPath {
    /// Validates a path (`/scheduled/invoices?full=1`).
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let accepted = "a path starting with / such as /scheduled/invoices (an optional ?query; no #fragment, spaces or control characters)";
        let ok = value.starts_with('/')
            && value.len() <= 2048
            && !value.contains('#')
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationError::new(
                "path",
                format!("`{value}` is not accepted; use {accepted}"),
            ))
        }
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JobPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Validates a call budget: a whole number of calls from 1 to [`MAX_APP_BUDGET`].
pub fn validate_budget(budget: u32) -> Result<u32, ValidationError> {
    if (1..=MAX_APP_BUDGET).contains(&budget) {
        Ok(budget)
    } else {
        Err(ValidationError::new(
            "budget",
            format!(
                "{budget} is not accepted; use a whole number of calls from 1 to {MAX_APP_BUDGET}"
            ),
        ))
    }
}

/// An app's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    /// The app's name, the one its jobs carry.
    pub name: AppName,
    /// Where its jobs by path are called.
    pub base_url: BaseUrl,
    /// At most this many of its calls in flight at once within a tick.
    pub budget: u32,
    /// The generation of its signing key (from 1): the key itself is derived from the
    /// deployment's secret ([`crate::signing::app_key`]), never stored.
    #[serde(default = "first_generation")]
    pub key_generation: u32,
    /// While the app rotates its key: the previous generation, which calls are still signed
    /// with until the rotation is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_key_generation: Option<u32>,
    /// Random per record (32 hex characters): part of its keys' derivation, so that an app
    /// deleted and created again under its name never signs with a key retired before
    /// ([`crate::signing::app_key`]). `None` for records written before salts existed, whose
    /// keys stay as deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_salt: Option<String>,
    /// True while `app delete` deletes it: from the moment it checks the app's jobs until the
    /// record is gone, no job of the app may be created ([`crate::store::rules::may_create_job`]).
    /// Any other write of the record clears it (and so makes that delete start again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
    /// The zone a job of the app is created in when none is given (`None`: UTC). Changing it
    /// never moves an existing job to another zone.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "tz_option")]
    pub timezone: Option<Tz>,
    /// Set while the app is paused (`psu-sched app pause`): none of its jobs is called, each
    /// of their due slots is recorded `skipped` with the reason instead. The jobs themselves
    /// are not rewritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<AppPause>,
    /// Its pauses that ended, oldest first ([`App::set_paused`]), for a backfill to tell the
    /// slots they passed over (a late tick records only the latest of them `skipped`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pauses: Vec<PauseSpan>,
    /// Where a job's failures are posted (`None`: nobody is told). A secret: never shown
    /// ([`WebhookUrl::masked`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookUrl>,
    /// When the webhook was given ([`App::set_webhook`]): a webhook removed and given again is
    /// another webhook to tell ([`App::webhook_print`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_since: Option<DateTime<Utc>>,
    /// After how many failed or timed-out runs in a row of one of its jobs the webhook is
    /// told (1 to 100).
    #[serde(
        default = "default_notify_after",
        skip_serializing_if = "is_default_notify_after"
    )]
    pub notify_after: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-lock version: every write increments it.
    #[serde(default)]
    pub version: u64,
}

/// An optional zone as its IANA name (absent when `None`).
mod tz_option {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(tz: &Option<Tz>, s: S) -> Result<S::Ok, S::Error> {
        match tz {
            Some(tz) => s.serialize_some(tz.name()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tz>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|name| name.parse::<Tz>().map_err(serde::de::Error::custom))
            .transpose()
    }
}

fn default_notify_after() -> u32 {
    DEFAULT_NOTIFY_AFTER
}

fn is_default_notify_after(n: &u32) -> bool {
    *n == DEFAULT_NOTIFY_AFTER
}

fn first_generation() -> u32 {
    1
}

/// A new record's key salt: 16 random bytes, hex.
fn new_key_salt() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

impl App {
    /// Pauses the app (`Some`, keeping the start of a pause that stands) or resumes it
    /// (`None`) at `now`: a pause that ends is kept in [`App::pauses`].
    pub fn set_paused(&mut self, pause: Option<AppPause>, now: DateTime<Utc>) {
        if let (Some(was), None) = (&self.paused, &pause) {
            push_pause(
                &mut self.pauses,
                PauseSpan {
                    from: was.since,
                    to: now,
                },
            );
        }
        self.paused = pause;
    }

    /// True when a slot at `at` came while the app was paused (in a pause that ended, from
    /// its start to its end, or since the current one began).
    pub fn paused_at(&self, at: DateTime<Utc>) -> bool {
        self.paused.as_ref().is_some_and(|p| p.since <= at)
            || self.pauses.iter().any(|p| p.from <= at && at <= p.to)
    }

    /// Sets the webhook at `now`: a change (a webhook given, replaced or removed) restarts
    /// its [`App::webhook_print`], so that a job failing is told again; the same URL again
    /// changes nothing.
    pub fn set_webhook(&mut self, webhook: Option<WebhookUrl>, now: DateTime<Utc>) {
        if webhook != self.webhook {
            self.webhook_since = webhook.as_ref().map(|_| now);
            self.webhook = webhook;
        }
    }

    /// Which webhook this is, in 32 bits, for a job's alert marker (`JobState::alerted_hook`):
    /// its URL and when it was given, so that a webhook replaced, or removed and given again,
    /// is told of a failure the marker says was told. `None` without a webhook.
    pub fn webhook_print(&self) -> Option<u32> {
        self.webhook.as_ref().map(|hook| {
            let since = self
                .webhook_since
                .map(|t| t.timestamp_millis())
                .unwrap_or(0);
            hook.fingerprint() ^ (crate::hash::fnv1a_64(&since.to_le_bytes()) as u32)
        })
    }

    /// A new app record at `now`, its budget validated.
    pub fn new(
        name: AppName,
        base_url: BaseUrl,
        budget: u32,
        now: DateTime<Utc>,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            name,
            base_url,
            budget: validate_budget(budget)?,
            key_generation: 1,
            previous_key_generation: None,
            key_salt: Some(new_key_salt()),
            deleting: false,
            timezone: None,
            paused: None,
            webhook: None,
            webhook_since: None,
            pauses: Vec::new(),
            notify_after: DEFAULT_NOTIFY_AFTER,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}

impl App {
    /// The key generations calls are signed with, current first.
    pub fn key_generations(&self) -> Vec<u32> {
        let mut generations = vec![self.key_generation];
        generations.extend(self.previous_key_generation);
        generations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_appended_to_the_base_url_keeping_its_prefix() {
        let base = BaseUrl::parse("https://h.example.edu/prefix/").expect("base");
        assert_eq!(base.as_str(), "https://h.example.edu/prefix");
        let path = JobPath::parse("/scheduled/x?full=1").expect("path");
        assert_eq!(
            base.join(&path).expect("url").as_str(),
            "https://h.example.edu/prefix/scheduled/x?full=1"
        );
        let bare = BaseUrl::parse("http://127.0.0.1:8000").expect("base");
        assert_eq!(
            bare.join(&JobPath::parse("/a").expect("path"))
                .expect("url")
                .as_str(),
            "http://127.0.0.1:8000/a"
        );
    }

    #[test]
    fn bad_base_urls_paths_and_budgets_are_refused_by_field() {
        for bad in [
            "ftp://h/",
            "https://user:pw@h/",
            "https://h/?q=1",
            "https://h/#top",
            "h.example.edu",
        ] {
            assert_eq!(
                BaseUrl::parse(bad).expect_err(bad).field,
                "base_url",
                "{bad}"
            );
        }
        for bad in ["scheduled/x", "", "/a b", "/a#b", "/a\n"] {
            assert_eq!(JobPath::parse(bad).expect_err(bad).field, "path", "{bad:?}");
        }
        assert_eq!(validate_budget(0).expect_err("0").field, "budget");
        assert_eq!(
            validate_budget(MAX_APP_BUDGET + 1).expect_err("65").field,
            "budget"
        );
        assert_eq!(validate_budget(4), Ok(4));
    }
}
