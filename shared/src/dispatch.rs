//! Calling a job's URL: one HTTP request, bounded in time and in what it reads.
//!
//! The execution key travels once, in the `X-Psu-Sched-Key` header; never in the URL and
//! never in a log line. Redirects are not followed (following one would hand the key to
//! another host): a 3xx is a failure with its `Location` in the error.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::model::{ExecutionId, Method, Status};

/// The most of a response body that is read and kept.
pub const MAX_OUTPUT: usize = 4096;

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
/// signing secrets are configured. See [`crate::guard::verify_signature`].
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

/// One call to make.
pub struct CallRequest<'a> {
    /// Where.
    pub url: &'a str,
    /// GET or POST.
    pub method: Method,
    /// The whole call (connect, answer, body) must fit in this.
    pub timeout: Duration,
    /// The execution.
    pub execution: &'a ExecutionId,
    /// The execution key (secret).
    pub key: &'a str,
    /// `app/name`.
    pub job: &'a str,
    /// The slot.
    pub scheduled_for: DateTime<Utc>,
    /// The attempt.
    pub attempt: u32,
    /// When the call is sent (the signature's timestamp).
    pub sent_at: DateTime<Utc>,
}

impl std::fmt::Debug for CallRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("CallRequest")
            .field("url", &self.url)
            .field("method", &self.method)
            .field("execution", &self.execution.to_string())
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// What a call came to.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    /// `Succeeded`, `Failed` or `TimedOut`.
    pub status: Status,
    /// The answer's status code, if any.
    pub http_status: Option<u16>,
    /// The first 4 KiB of the body.
    pub output: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
    /// How long the call took.
    pub duration: Duration,
}

/// Makes calls. The tick takes any implementation; production uses [`HttpDispatcher`].
#[async_trait]
pub trait Dispatch: Send + Sync {
    /// Makes one call. Never fails: every problem is a [`CallResult`].
    async fn call(&self, request: &CallRequest<'_>) -> CallResult;
}

/// How an [`HttpDispatcher`] behaves beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct DispatchOptions {
    /// Allow job URLs whose address is loopback, link-local (169.254.0.0/16, fe80::/10: the
    /// Lambda runtime API and instance metadata live there) or unspecified. Private RFC 1918
    /// ranges are always allowed (apps in a VPC). The Lambda refuses these unless
    /// `PSU_SCHED_ALLOW_PRIVATE_TARGETS=true`; the CLI and tests allow them.
    pub allow_private_targets: bool,
    /// Secrets to sign requests with (`X-Psu-Sched-Signature`); two during a rotation.
    /// Empty: requests are not signed.
    pub signing_secrets: Vec<String>,
}

/// Calls over HTTP with reqwest (rustls, no redirects).
#[derive(Clone)]
pub struct HttpDispatcher {
    client: reqwest::Client,
    options: DispatchOptions,
}

/// True for addresses a job must not reach from the Lambda unless allowed: loopback,
/// link-local and unspecified (IPv4-mapped IPv6 included).
pub fn is_forbidden_target(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Resolves host names and drops forbidden addresses, so the address connected to is the
/// address checked (no second lookup to rebind).
struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<std::net::SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| !is_forbidden_target(a.ip()))
                .collect();
            if allowed.is_empty() {
                let seen: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "refused: {host} resolves to {} (loopback, link-local or unspecified); set PSU_SCHED_ALLOW_PRIVATE_TARGETS=true to allow it",
                    seen.join(", ")
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Errors building the HTTP client.
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client")]
pub struct BuildError(#[source] reqwest::Error);

impl HttpDispatcher {
    /// A dispatcher with its own connection pool that may call any address.
    pub fn new() -> Result<Self, BuildError> {
        Self::with_options(DispatchOptions {
            allow_private_targets: true,
            ..Default::default()
        })
    }

    /// A dispatcher with the given options.
    pub fn with_options(options: DispatchOptions) -> Result<Self, BuildError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("psu-sched/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10));
        if !options.allow_private_targets {
            builder = builder.dns_resolver(std::sync::Arc::new(GuardedResolver));
        }
        let client = builder.build().map_err(BuildError)?;
        Ok(Self { client, options })
    }

    /// The refusal for a URL whose host is a forbidden IP literal (host names are checked
    /// after resolution, by the resolver).
    fn refuse_literal(&self, url: &str) -> Option<String> {
        if self.options.allow_private_targets {
            return None;
        }
        let parsed = reqwest::Url::parse(url).ok()?;
        let host = parsed
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let ip: std::net::IpAddr = host.parse().ok()?;
        is_forbidden_target(ip).then(|| {
            format!(
                "refused: {ip} is a loopback, link-local or unspecified address; set PSU_SCHED_ALLOW_PRIVATE_TARGETS=true to allow it"
            )
        })
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[async_trait]
impl Dispatch for HttpDispatcher {
    async fn call(&self, request: &CallRequest<'_>) -> CallResult {
        let started = Instant::now();
        if let Some(refusal) = self.refuse_literal(request.url) {
            return CallResult {
                status: Status::Failed,
                http_status: None,
                output: None,
                error: Some(refusal),
                duration: started.elapsed(),
            };
        }
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let builder = self
            .client
            .request(method, request.url)
            .header(HEADER_EXECUTION, request.execution.to_string())
            .header(HEADER_KEY, request.key)
            .header(HEADER_JOB, request.job)
            .header(HEADER_SCHEDULED_FOR, format_slot(request.scheduled_for))
            .header(HEADER_ATTEMPT, request.attempt.to_string());
        let builder = match request.method {
            Method::Post => builder.header(reqwest::header::CONTENT_LENGTH, "0"),
            Method::Get => builder,
        };
        let builder = if self.options.signing_secrets.is_empty() {
            builder
        } else {
            let t = request.sent_at.timestamp();
            let payload = crate::guard::signature_payload(
                t,
                &request.execution.to_string(),
                &format_slot(request.scheduled_for),
                request.method.as_str(),
                &crate::guard::path_and_query(request.url),
                b"",
            );
            builder.header(
                HEADER_SIGNATURE,
                crate::guard::signature_header(&self.options.signing_secrets, t, &payload),
            )
        };
        let work = async {
            let response = builder.send().await?;
            let code = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut body = Vec::new();
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                let room = MAX_OUTPUT - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_OUTPUT {
                    break; // Stop reading: the rest of the body is dropped with the connection.
                }
            }
            Ok::<_, reqwest::Error>((code, location, body))
        };
        let result = tokio::time::timeout(request.timeout, work).await;
        let duration = started.elapsed();
        match result {
            Err(_) => CallResult {
                status: Status::TimedOut,
                http_status: None,
                output: None,
                error: Some(format!(
                    "no complete answer within the timeout of {:?}",
                    request.timeout
                )),
                duration,
            },
            Ok(Err(e)) if e.is_timeout() => CallResult {
                status: Status::TimedOut,
                http_status: None,
                output: None,
                error: Some(error_chain(&e)),
                duration,
            },
            Ok(Err(e)) => CallResult {
                status: Status::Failed,
                http_status: None,
                output: None,
                error: Some(error_chain(&e)),
                duration,
            },
            Ok(Ok((code, location, body))) => {
                let output = Some(String::from_utf8_lossy(&body).into_owned());
                let (status, error) = if code.is_success() {
                    (Status::Succeeded, None)
                } else if code.is_redirection() {
                    let to = location.unwrap_or_else(|| "(no Location)".to_owned());
                    (
                        Status::Failed,
                        Some(format!(
                            "the job answered {code} redirecting to {to}; redirects are not followed (the key would go to another URL): point the job at the final URL"
                        )),
                    )
                } else {
                    (Status::Failed, Some(format!("the job answered {code}")))
                };
                CallResult {
                    status,
                    http_status: Some(code.as_u16()),
                    output,
                    error,
                    duration,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_link_local_and_unspecified_addresses_are_forbidden_targets() {
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "::",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_forbidden_target(bad.parse().expect("ip")), "{bad}");
        }
        for ok in [
            "10.0.0.5",
            "172.16.3.4",
            "192.168.1.1",
            "8.8.8.8",
            "2001:db8::1",
            "fd00::1",
        ] {
            assert!(!is_forbidden_target(ok.parse().expect("ip")), "{ok}");
        }
    }
}
