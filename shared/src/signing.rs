//! Request signatures, scheme `v2`: a key per app, derived from the deployment's secret, so
//! a request signed for one app never verifies at another (`docs/verifying-requests.md`).
//!
//! - The key of app `A` at generation `g` is the hex HMAC-SHA256, keyed with the deployment
//!   secret, of `psu-sched/app-key/v2\n<A>\n<g>\n<salt>` ([`app_key`]), where the salt is
//!   random per app record, so an app deleted and created again under its name never gets a
//!   retired key back. Records written before salts existed have none: their keys are derived
//!   without the last line, as before. The scheduler stores no key: the app's record keeps
//!   only its generation and salt.
//! - A call carries `X-Psu-Sched-Signature: t=<unix seconds>,kid=<app>:<generation>,v2=<hex>`,
//!   one `kid`/`v2` pair per key in use (two generations during an app's rotation, two
//!   deployment secrets during the deployment's).
//! - The signed string binds the timestamp, the execution (job, slot, attempt), the job's
//!   `app/name`, the method, the path and query as sent, and the body ([`signed_string`]).
//! - The `kid` is not signed: it says which key to try, not which key signed. A verifier
//!   reports the generation the app gave the key that verified ([`HeldKey`]), never the
//!   request's label ([`Verified::kid_generation`] keeps it, for logs).
//! - Numbers in the header are bounded before use: a `t` beyond 64 bits is stale, a `kid`
//!   generation beyond 32 bits malformed (the Python package follows the same rule).

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::model::ExecutionId;
use crate::protocol::{HEADER_EXECUTION, HEADER_JOB, HEADER_SIGNATURE, constant_time_eq};

/// The first line of the signed string, and the name of the signature part (`v2=`).
pub const SCHEME: &str = "v2";
/// The default freshness window for signatures.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// The label an app key is derived under.
const KEY_LABEL: &str = "psu-sched/app-key/v2";

/// Hex HMAC-SHA256 of `message` keyed with `key`.
fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length, so this never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The signing key of `app` at `generation` under the deployment secret, for an app record
/// with `salt` (`None`: a record written before salts, whose keys stay as deployed): 64 hex
/// characters, which the app keeps in its settings and uses as they are (their ASCII bytes are
/// the HMAC key).
pub fn app_key(deployment_secret: &str, app: &str, generation: u32, salt: Option<&str>) -> String {
    let message = match salt {
        Some(salt) => format!("{KEY_LABEL}\n{app}\n{generation}\n{salt}"),
        None => format!("{KEY_LABEL}\n{app}\n{generation}"),
    };
    hmac_hex(deployment_secret.as_bytes(), message.as_bytes())
}

/// Which key signed: the app and the generation of its key (`kid=<app>:<generation>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId {
    /// The app the key belongs to.
    pub app: String,
    /// The generation of the app's key.
    pub generation: u32,
}

/// Whether `text` is one or more ASCII digits (no sign, no space).
fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` is an app or job name as the header carries it: 1-64 of `[A-Za-z0-9_-]`.
fn name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl KeyId {
    fn parse(text: &str) -> Option<Self> {
        let (app, generation) = text.rsplit_once(':')?;
        if app.is_empty() || !digits(generation) {
            return None;
        }
        Some(Self {
            app: app.to_owned(),
            generation: generation.parse().ok()?,
        })
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.app, self.generation)
    }
}

/// A key an app holds, labelled with the generation it was issued at when the app knows it.
///
/// The `kid` of a request is not signed: anyone holding generation 1's key can label its
/// signature `kid=app:7`. So the generation a verifier reports is the label the app itself gave
/// the key that verified ([`Verified::generation`]), never the request's. Written as the key
/// alone (unlabelled) or `<generation>:<key>` ([`FromStr`](std::str::FromStr)), as the Python
/// package's `PSU_SCHED_KEYS` entries are. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct HeldKey {
    key: String,
    generation: Option<u32>,
}

impl HeldKey {
    /// A key held without a label: a request it verifies reports no generation.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            generation: None,
        }
    }

    /// A key held with the generation it was issued at (`psu-sched app key` prints both).
    pub fn labelled(key: impl Into<String>, generation: u32) -> Self {
        Self {
            key: key.into(),
            generation: Some(generation),
        }
    }
}

impl std::fmt::Debug for HeldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldKey")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// A held key written neither as `<key>` nor as `<generation>:<key>` with a 32-bit generation.
/// Its message never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a held key is <key> or <generation>:<key>, the generation 0 to 4294967295")]
pub struct HeldKeyError;

impl std::str::FromStr for HeldKey {
    type Err = HeldKeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.rsplit_once(':') {
            None => Ok(Self::new(text)),
            Some((label, key)) if digits(label) && !key.is_empty() => label
                .parse()
                .map(|generation| Self::labelled(key, generation))
                .map_err(|_| HeldKeyError),
            Some(_) => Err(HeldKeyError),
        }
    }
}

impl From<String> for HeldKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

impl From<&str> for HeldKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

/// What [`verify_signature`] needs of a held key: the key, and its generation label if any.
/// Implemented for [`HeldKey`] and for a bare key (`String`, `str`), which has no label.
pub trait AsHeldKey {
    /// The key (64 hex characters; their ASCII bytes are the HMAC key).
    fn key(&self) -> &str;
    /// The generation the app labelled the key with (`None`: unlabelled).
    fn generation(&self) -> Option<u32> {
        None
    }
}

impl AsHeldKey for HeldKey {
    fn key(&self) -> &str {
        &self.key
    }
    fn generation(&self) -> Option<u32> {
        self.generation
    }
}

impl AsHeldKey for String {
    fn key(&self) -> &str {
        self
    }
}

impl AsHeldKey for str {
    fn key(&self) -> &str {
        self
    }
}

impl<T: AsHeldKey + ?Sized> AsHeldKey for &T {
    fn key(&self) -> &str {
        (**self).key()
    }
    fn generation(&self) -> Option<u32> {
        (**self).generation()
    }
}

/// The string that is signed: seven lines joined by `\n`.
pub fn signed_string(
    t: &str,
    execution: &str,
    job: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> String {
    format!(
        "psu-sched-{SCHEME}\n{t}\n{execution}\n{job}\n{}\n{path_and_query}\n{}",
        method.to_ascii_uppercase(),
        hex::encode(Sha256::digest(body)),
    )
}

/// The keys one call is signed with: each deployment secret (newest first) times each of the
/// app's key generations in use (current first), under the app record's salt.
pub fn signing_keys(
    deployment_secrets: &[String],
    app: &str,
    generations: &[u32],
    salt: Option<&str>,
) -> Vec<(KeyId, String)> {
    let mut keys = Vec::new();
    for generation in generations {
        for secret in deployment_secrets {
            keys.push((
                KeyId {
                    app: app.to_owned(),
                    generation: *generation,
                },
                app_key(secret, app, *generation, salt),
            ));
        }
    }
    keys
}

/// The `X-Psu-Sched-Signature` value: `t=<t>` then one `kid=...,v2=...` pair per key.
pub fn signature_header(keys: &[(KeyId, String)], t: i64, signed: &str) -> String {
    let mut value = format!("t={t}");
    for (kid, key) in keys {
        value.push_str(&format!(
            ",kid={kid},{SCHEME}={}",
            hmac_hex(key.as_bytes(), signed.as_bytes())
        ));
    }
    value
}

/// Why a signature was refused. The app answers 403 whatever the reason; the reason is for
/// its log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature, or not `t=<unix seconds>,kid=<app>:<generation>,v2=<hex>[,...]`.
    #[error("missing or malformed X-Psu-Sched-Signature")]
    Malformed,
    /// A header the signature covers is missing or malformed.
    #[error("missing or malformed header {0}")]
    MissingHeader(&'static str),
    /// The request is for another app: its job or every key it names belongs to another.
    #[error("signed for another app")]
    WrongApp,
    /// The timestamp is outside the tolerance.
    #[error("timestamp outside the tolerance")]
    Stale,
    /// No signature of this app's keys matches.
    #[error("signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// The reason as the test vectors and the Python package name it.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Malformed => "malformed",
            SignatureError::MissingHeader(_) => "missing_header",
            SignatureError::WrongApp => "wrong_app",
            SignatureError::Stale => "stale",
            SignatureError::Mismatch => "mismatch",
        }
    }
}

/// A request that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The execution (`X-Psu-Sched-Execution`): job id, slot, trigger and attempt.
    pub execution: ExecutionId,
    /// The job, `app/name`.
    pub job: String,
    /// The generation of the key that verified: the label the app gave it ([`HeldKey`]), or
    /// `None` for a key held without one. Never taken from the request.
    pub generation: Option<u32>,
    /// The generation the matching signature's `kid` names. Nothing signs the `kid`: this is
    /// the caller's label, for logs, not proof of which key signed.
    pub kid_generation: u32,
}

/// The `kid`/`v2` pairs of a signature header, in order.
type Pairs = Vec<(KeyId, String)>;

/// The parts of a signature header: `t` as written and the `kid`/`v2` pairs. `t` is one or
/// more digits, given once.
fn parse_header(value: &str) -> Result<(&str, Pairs), SignatureError> {
    let mut t = None;
    let mut pairs = Vec::new();
    let mut kid: Option<KeyId> = None;
    for part in value.split(',') {
        let Some((name, value)) = part.split_once('=') else {
            continue;
        };
        match (name.trim(), value.trim()) {
            ("t", v) if digits(v) && t.is_none() => t = Some(v),
            ("t", _) => return Err(SignatureError::Malformed),
            ("kid", v) => kid = Some(KeyId::parse(v).ok_or(SignatureError::Malformed)?),
            (SCHEME, v) => {
                let owner = kid.take().ok_or(SignatureError::Malformed)?;
                pairs.push((owner, v.to_owned()));
            }
            // Room for later schemes: their parts are skipped.
            _ => {}
        }
    }
    match t {
        Some(t) if !pairs.is_empty() => Ok((t, pairs)),
        _ => Err(SignatureError::Malformed),
    }
}

/// Verifies a signed request at app `app`, which holds `keys` (its current key, and the
/// previous one while it rotates): bare keys (`&[String]`) or [`HeldKey`]s labelled with their
/// generation, which [`Verified::generation`] then reports. `path_and_query` is the request target as sent (undecoded;
/// behind a proxy that strips a prefix, the prefix and then what the app received). A replay
/// inside the window passes this check: refuse it by remembering the execution ids seen.
#[allow(clippy::too_many_arguments)]
pub fn verify_signature<K: AsHeldKey>(
    app: &str,
    keys: &[K],
    headers: &http::HeaderMap,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<Verified, SignatureError> {
    let value = headers
        .get(HEADER_SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .ok_or(SignatureError::Malformed)?;
    let (t, pairs) = parse_header(value)?;
    let get = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or(SignatureError::MissingHeader(name))
    };
    let execution = get(HEADER_EXECUTION)?;
    let execution_id = ExecutionId::parse(execution)
        .map_err(|_| SignatureError::MissingHeader(HEADER_EXECUTION))?;
    let job = get(HEADER_JOB)?;
    let (job_app, _) = job
        .split_once('/')
        .filter(|(app, job)| name(app) && name(job))
        .ok_or(SignatureError::MissingHeader(HEADER_JOB))?;
    let ours: Vec<&(KeyId, String)> = pairs.iter().filter(|(kid, _)| kid.app == app).collect();
    if job_app != app || ours.is_empty() {
        return Err(SignatureError::WrongApp);
    }
    // `t` comes from the request: digits beyond i64 are as stale as can be.
    let seconds: i64 = t.parse().unwrap_or(i64::MAX);
    if now.timestamp().saturating_sub(seconds).unsigned_abs() > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    let signed = signed_string(t, execution, job, method, path_and_query, body);
    for key in keys {
        let expected = hmac_hex(key.key().as_bytes(), signed.as_bytes());
        for (kid, signature) in &ours {
            if constant_time_eq(signature.as_bytes(), expected.as_bytes()) {
                return Ok(Verified {
                    execution: execution_id,
                    job: job.to_owned(),
                    generation: key.generation(),
                    kid_generation: kid.generation,
                });
            }
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests;
