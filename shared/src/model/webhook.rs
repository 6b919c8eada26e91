//! An app's failure notifications: the webhook its messages are posted to, and after how many
//! failed runs in a row of one of its jobs (docs/admin.md, "Failure notifications").
//!
//! The webhook's URL is a secret (a Slack or Teams incoming webhook carries its token in its
//! path): it is stored as given and never shown. What may be shown is [`WebhookUrl::masked`],
//! its scheme and host; `Debug` prints only that too, so a record logged with `?` does not
//! leak it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// The failed or timed-out runs in a row after which an app's webhook hears of a job, when
/// the app does not say.
pub const DEFAULT_NOTIFY_AFTER: u32 = 1;
/// The most an app may ask for.
pub const MAX_NOTIFY_AFTER: u32 = 100;

/// Where an app's failure notifications are posted: `http` or `https`, a host, no
/// credentials. Never displayed whole (see the module's docs).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Validates a webhook URL's form (field `webhook`): http(s), a host, no credentials. Its
    /// address is checked by `dispatch::webhook_refusal` where it is typed, and again when
    /// posting. A refusal never prints the URL's path or query.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let field = "webhook";
        let value = value.trim();
        if !super::names::host_typed(value) {
            return Err(ValidationError::new(
                field,
                "no host after the scheme's `://`; give the incoming webhook's https://host/path",
            ));
        }
        let Ok(url) = reqwest::Url::parse(value) else {
            return Err(ValidationError::new(
                field,
                "not a valid URL; give the incoming webhook's https://host/path",
            ));
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ValidationError::new(
                field,
                format!(
                    "scheme `{}` is not accepted; use https (or http)",
                    url.scheme()
                ),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ValidationError::new(field, "the URL has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ValidationError::new(
                field,
                "a user:password part is not accepted; give the incoming webhook's URL as its service shows it",
            ));
        }
        Ok(Self(url.to_string()))
    }

    /// The whole URL, to post to: never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Which webhook this is, in 32 bits, to tell a replaced webhook from the one a job's
    /// failure was told to (`JobState::alerted_hook`).
    pub fn fingerprint(&self) -> u32 {
        // The low 32 bits of a 64-bit hash of the whole URL: tells two webhooks apart, and
        // says nothing of a token (it is stored in the same table as the URL itself).
        (crate::hash::fnv1a_64(self.0.as_bytes()) & 0xffff_ffff) as u32
    }

    /// What may be shown of it: its scheme, host and port, then `/…`
    /// (`https://hooks.slack.com/…`).
    pub fn masked(&self) -> String {
        match reqwest::Url::parse(&self.0) {
            Ok(url) => {
                let host = url.host_str().unwrap_or("");
                match url.port() {
                    Some(port) => format!("{}://{host}:{port}/…", url.scheme()),
                    None => format!("{}://{host}/…", url.scheme()),
                }
            }
            Err(_) => "(set)".to_owned(),
        }
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.masked())
    }
}

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Stored records were checked when written; a URL an older rule let in still loads
        // (the guard checks it again when posting).
        let s = String::deserialize(d)?;
        Ok(Self(s))
    }
}

/// Validates a notification threshold: a whole number of runs from 1 to
/// [`MAX_NOTIFY_AFTER`] (field `notify_after`).
pub fn validate_notify_after(n: u32) -> Result<u32, ValidationError> {
    if (1..=MAX_NOTIFY_AFTER).contains(&n) {
        Ok(n)
    } else {
        Err(ValidationError::new(
            "notify_after",
            format!(
                "{n} is not accepted; use a whole number of failed runs in a row from 1 to {MAX_NOTIFY_AFTER}"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_shown_by_its_host_only_and_bad_ones_are_refused_without_their_path() {
        let url = WebhookUrl::parse("https://hooks.slack.com/services/T0/B0/SECRETTOKEN")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(url.masked(), "https://hooks.slack.com/…");
        assert!(!format!("{url:?}").contains("SECRETTOKEN"));
        for bad in [
            "ftp://hooks.example/SECRETTOKEN",
            "https://u:p@hooks.example/SECRETTOKEN",
            "hooks.example/SECRETTOKEN",
        ] {
            let e = WebhookUrl::parse(bad).expect_err(bad);
            assert_eq!(e.field, "webhook", "{bad}");
            assert!(!e.message.contains("SECRETTOKEN"), "{bad}: {}", e.message);
        }
        assert!(WebhookUrl::parse("http://127.0.0.1:9/hook").is_ok());
        assert_eq!(
            validate_notify_after(0).expect_err("0").field,
            "notify_after"
        );
        assert!(validate_notify_after(101).is_err());
        assert_eq!(validate_notify_after(100), Ok(100));
    }

    /// Review of issue 32: `http:///TOKEN` was accepted, its first path segment taken for the
    /// host (and shown, lowercased, by `app show`).
    #[test]
    fn a_webhook_without_a_host_before_its_path_is_refused_without_its_path() {
        for bad in [
            "http:///SECRETTOKEN",
            "https:////SECRETTOKEN",
            "https:SECRETTOKEN",
            "https:/SECRETTOKEN",
        ] {
            let e = WebhookUrl::parse(bad).expect_err(bad);
            assert_eq!(e.field, "webhook", "{bad}");
            assert!(
                !e.message.to_lowercase().contains("secrettoken"),
                "{bad}: {}",
                e.message
            );
        }
    }
}
