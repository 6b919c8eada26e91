//! The wire format between the scheduler and a job, shared by the caller ([`crate::dispatch`])
//! and the job side ([`crate::guard`]): the headers of a call, the execution key and how it is
//! stored. The request signature is [`crate::signing`] (`docs/verifying-requests.md`).

use chrono::{DateTime, SecondsFormat, Utc};
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
/// Header: `t=<unix seconds>,kid=<app>:<generation>,v2=<hex HMAC-SHA256>` (one pair per key
/// in use), when a deployment secret is configured. See [`crate::signing`].
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
