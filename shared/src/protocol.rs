//! The wire format between the scheduler and a job, shared by the caller ([`crate::dispatch`])
//! and the job side ([`crate::guard`]): the headers of a call, the execution key and how it is
//! stored, and the request signature (`docs/verifying-requests.md`).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Header: the execution id.
pub const HEADER_EXECUTION: &str = "x-psu-sched-execution";
/// Header: the execution key (secret; sent once).
pub const HEADER_KEY: &str = "x-psu-sched-key";
/// Header: `app/name`.
pub const HEADER_JOB: &str = "x-psu-sched-job";
/// Header: the slot, RFC 3339 UTC.
pub const HEADER_SCHEDULED_FOR: &str = "x-psu-sched-scheduled-for";
/// Header: the attempt, from 1.
pub const HEADER_ATTEMPT: &str = "x-psu-sched-attempt";
/// Header: `t=<unix seconds>,v1=<hex HMAC-SHA256>` (one `v1` per signing secret), when
/// signing secrets are configured. See [`verify_signature`].
pub const HEADER_SIGNATURE: &str = "x-psu-sched-signature";

/// A fresh execution key: 32 random bytes, hex-encoded. Give it to the job once; store only
/// [`key_hash`] of it.
pub fn new_key() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The stored form of a key: hex SHA-256.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The slot as sent in `X-Psu-Sched-Scheduled-For`.
pub fn format_slot(slot: DateTime<Utc>) -> String {
    slot.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Compares two byte strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature, or not `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`.
    #[error("missing or malformed X-Psu-Sched-Signature")]
    Malformed,
    /// A header the signature covers is missing.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The timestamp is outside the tolerance.
    #[error("timestamp outside the tolerance")]
    Stale,
    /// No `v1` matches any of the secrets.
    #[error("signature does not match")]
    Mismatch,
}

/// The default freshness window for signatures.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The string that is signed:
/// `<t>.<execution id>.<scheduled_for>.<METHOD>.<path and query>.<hex SHA-256 of the body>`.
pub fn signature_payload(
    t: i64,
    execution: &str,
    scheduled_for: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    format!(
        "{t}.{execution}.{scheduled_for}.{}.{path_and_query}.{body_hash}",
        method.to_ascii_uppercase()
    )
}

/// Hex HMAC-SHA256 of `payload` with `secret`.
pub fn sign(secret: &str, payload: &str) -> String {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The path and query of a URL (or of a path given as is): what the signature covers, so a
/// proxy that rewrites scheme or host does not break it.
pub fn path_and_query(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// The `X-Psu-Sched-Signature` value: `t=<t>,v1=<sig>` with one `v1` per secret (rotation).
pub fn signature_header(secrets: &[String], t: i64, payload: &str) -> String {
    let mut value = format!("t={t}");
    for secret in secrets {
        value.push_str(",v1=");
        value.push_str(&sign(secret, payload));
    }
    value
}

/// Verifies a signed request: any `v1` matches any of `secrets` (two during a rotation), and
/// `t` is within `tolerance` of `now`. `url` is the request's URL or its path and query;
/// `body` its body (empty for the scheduler's GETs and POSTs). A replay inside the window
/// passes this check: refuse it by remembering the execution ids already seen.
pub fn verify_signature(
    secrets: &[String],
    headers: &http::HeaderMap,
    method: &str,
    url: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let value = headers
        .get(HEADER_SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .ok_or(SignatureError::Malformed)?;
    let mut t: Option<i64> = None;
    let mut signatures = Vec::new();
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => signatures.push(v.to_owned()),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // `t` comes from the request: saturate rather than overflow on `t=-9223372036854775808`.
    let age = now.timestamp().saturating_sub(t).unsigned_abs();
    if age > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    let get = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(SignatureError::MissingHeader(name))
    };
    let payload = signature_payload(
        t,
        get(HEADER_EXECUTION)?,
        get(HEADER_SCHEDULED_FOR)?,
        method,
        &path_and_query(url),
        body,
    );
    let matched = secrets.iter().any(|secret| {
        let expected = sign(secret, &payload);
        signatures
            .iter()
            .any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn a_signature_verifies_with_either_secret_and_fails_when_anything_changes() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let t = now.timestamp();
        let id = "0123456789abcdef0123456789abcdef.20270115T080000Z.s1";
        let slot = "2027-01-15T08:00:00Z";
        let payload = signature_payload(t, id, slot, "GET", "/jobs/report?x=1", b"");
        let secrets = vec!["old-secret".to_owned(), "new-secret".to_owned()];
        let h = headers(&[
            (HEADER_EXECUTION, id.to_owned()),
            (HEADER_SCHEDULED_FOR, slot.to_owned()),
            (HEADER_SIGNATURE, signature_header(&secrets, t, &payload)),
        ]);
        let url = "https://app.example.edu/jobs/report?x=1";
        let verify = |secrets: &[String], url: &str, body: &[u8], now| {
            verify_signature(secrets, &h, "GET", url, body, now, DEFAULT_TOLERANCE)
        };
        assert_eq!(verify(&secrets[..1], url, b"", now), Ok(()));
        assert_eq!(verify(&secrets[1..], "/jobs/report?x=1", b"", now), Ok(()));
        assert_eq!(
            verify(&["other".to_owned()], url, b"", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secrets, "https://app.example.edu/jobs/other?x=1", b"", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &secrets,
                "https://app.example.edu/jobs/report?x=2",
                b"",
                now
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secrets, url, b"body", now),
            Err(SignatureError::Mismatch)
        );
        let later = now + chrono::Duration::seconds(301);
        assert_eq!(
            verify(&secrets, url, b"", later),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn constant_time_comparison_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
