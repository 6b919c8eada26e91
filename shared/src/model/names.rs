//! The validating newtypes: application and job names, URLs, ids, time zones.

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ValidationError;

fn parse_identifier(field: &'static str, value: &str) -> Result<String, ValidationError> {
    let accepted =
        "1-64 characters of letters, digits, `_` and `-`, starting with a letter or digit";
    let ok_len = !value.is_empty() && value.len() <= 64;
    let ok_chars = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let ok_first = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_first {
        Ok(value.to_owned())
    } else {
        Err(ValidationError::new(
            field,
            format!("`{value}` is not valid: use {accepted}"),
        ))
    }
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            pub fn parse(value: &str) -> Result<Self, ValidationError> {
                parse_identifier($field, value).map(Self)
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

identifier!(
    /// The application a job belongs to: 1-64 of `[A-Za-z0-9_-]`, starting with a letter or digit.
    AppName,
    "app"
);
identifier!(
    /// A job's name, unique within its app: 1-64 of `[A-Za-z0-9_-]`, starting with a letter or digit.
    JobName,
    "name"
);

/// A job's URL: `http` or `https`, with a host, and no `user:password@` part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct JobUrl(String);

/// True when `value` types a host after its scheme's `://`: `http:///x` and `https:x` parse,
/// with `x` taken for the host, and must be refused rather than call (or show) it.
pub(crate) fn host_typed(value: &str) -> bool {
    value
        .trim()
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'))
}

impl JobUrl {
    /// Validates a URL.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if reqwest::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            && !host_typed(value)
        {
            return Err(ValidationError::new(
                "url",
                format!(
                    "`{value}` has no host after `://`; expected http://host/path or https://host/path"
                ),
            ));
        }
        let url = reqwest::Url::parse(value).map_err(|e| {
            ValidationError::new("url", format!("`{value}` is not a valid URL ({e}); expected http://host/path or https://host/path"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ValidationError::new(
                "url",
                format!(
                    "scheme `{}` is not accepted; use http or https",
                    url.scheme()
                ),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ValidationError::new(
                "url",
                format!("`{value}` has no host"),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ValidationError::new(
                "url",
                "a user:password part is not accepted (it would be stored and logged); verify requests with the execution key or the signature instead",
            ));
        }
        Ok(Self(url.to_string()))
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JobUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A random version-4 UUID from the thread-local CSPRNG (`rand::rng()`, seeded from the
/// OS), not a `getrandom` system call per id as `Uuid::new_v4` makes: a tick makes several
/// per due job (claim, send and writer tokens).
pub(crate) fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// A job's immutable identity. A job deleted and created again gets a new one, so old
/// history never attaches to the new job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A fresh random id (32 lower-case hex digits).
    pub fn new() -> Self {
        Self(random_uuid().simple().to_string())
    }

    /// Parses an id as written by [`JobId::new`].
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(ValidationError::new(
                "job id",
                format!("`{value}` is not 32 hex digits"),
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// (De)serialises a `Tz` as its IANA name.
pub mod tz_serde {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the IANA name.
    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    /// Reads an IANA name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse::<Tz>().map_err(serde::de::Error::custom)
    }
}

/// Parses an IANA time zone name, suggesting close names when it is unknown.
pub fn parse_timezone(value: &str) -> Result<Tz, ValidationError> {
    if let Ok(tz) = value.parse::<Tz>() {
        return Ok(tz);
    }
    let lower = value.to_ascii_lowercase();
    let needle = lower
        .rsplit('/')
        .next()
        .unwrap_or(&lower)
        .replace([' ', '-'], "_");
    let mut close: Vec<&str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|name| {
            let n = name.to_ascii_lowercase();
            !needle.is_empty() && (n.contains(&needle) || n == lower)
        })
        .take(3)
        .collect();
    close.sort_unstable();
    let hint = if close.is_empty() {
        "use an IANA name such as UTC, America/Los_Angeles or Europe/London".to_owned()
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    Err(ValidationError::new(
        "timezone",
        format!("`{value}` is not a known IANA time zone; {hint}"),
    ))
}
