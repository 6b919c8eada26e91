//! Calling a job's URL: one HTTP request, bounded in time and in what it reads.
//!
//! The execution key travels once, in the `X-Psu-Sched-Key` header; never in the URL and
//! never in a log line. Redirects are not followed (following one would hand the key to
//! another host): a 3xx is a failure with its `Location` in the error.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::clock::{Clock, SystemClock};
use crate::model::{ExecutionId, Method, Status};
use crate::protocol::{
    self, HEADER_ATTEMPT, HEADER_EXECUTION, HEADER_JOB, HEADER_KEY, HEADER_SCHEDULED_FOR,
    HEADER_SIGNATURE, format_slot,
};
use crate::signing;

/// The most of a response body that is read and kept.
pub const MAX_OUTPUT: usize = 4096;

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
    /// The generations of the app's signing key in use, current first: two while the app
    /// rotates its key; none for an app without a record, which a signing dispatcher does not
    /// call (no key of a deleted record signs again).
    pub key_generations: &'a [u32],
    /// The app record's key salt (`None`: a record written before salts).
    pub key_salt: Option<&'a str>,
    /// The slot.
    pub scheduled_for: DateTime<Utc>,
    /// The attempt.
    pub attempt: u32,
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

    /// Posts one notification, `body` (JSON), to an app's webhook `url` within `timeout`: the
    /// address checked by the same guard as a job's call, no redirect followed. `Err`: why it
    /// was not delivered (a non-2xx answer, a refused address, a timeout), never with the URL's
    /// path or query, and whether trying again may help. A dispatcher that does not post says so.
    async fn notify(&self, url: &str, body: &str, timeout: Duration) -> Result<(), NotifyError> {
        let _ = (url, body, timeout);
        Err(NotifyError::lasting(
            "this dispatcher does not post notifications",
        ))
    }
}

/// Which private addresses a job may call. Private RFC 1918 ranges (10/8, 172.16/12,
/// 192.168/16) and unique-local IPv6 are always allowed: apps in a VPC live there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrivateTargets {
    /// Refuse every [`Refused`] range: the Lambda's default, and an explicit
    /// `PSU_SCHED_ALLOW_PRIVATE_TARGETS=false` anywhere.
    #[default]
    Refuse,
    /// Allow loopback (local jobs live there) and refuse the other [`Refused`] ranges: link-local
    /// (the cloud metadata services), the metadata addresses outside it, and unspecified. The
    /// CLI's default (`serve`, `tick`, `run` on an operator's machine).
    AllowLoopback,
    /// Allow every address (`PSU_SCHED_ALLOW_PRIVATE_TARGETS=true`).
    AllowAll,
}

/// Why an address is refused as a job's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 169.254.0.0/16, fe80::/10: the instance metadata service (169.254.169.254), the ECS
    /// task metadata endpoint (169.254.170.2) and the Lambda runtime API live there.
    LinkLocal,
    /// A cloud metadata address outside link-local: AWS's IPv6 instance metadata
    /// (fd00:ec2::254) and Alibaba Cloud's (100.100.100.200).
    Metadata,
    /// 0.0.0.0/8, :: (Linux connects them to the local host).
    Unspecified,
    /// 64:ff9b:1::/48, NAT64 for local use (RFC 8215): the IPv4 host it reaches depends on the
    /// network's translation prefix, so it cannot be checked, only refused.
    Translated,
}

impl Refused {
    /// The range in words, for the refusal message.
    pub fn describe(self) -> &'static str {
        match self {
            Refused::Loopback => "a loopback address",
            Refused::LinkLocal => "a link-local address (cloud metadata services live there)",
            Refused::Metadata => "a cloud metadata address",
            Refused::Unspecified => "an unspecified address (it reaches the local host)",
            Refused::Translated => {
                "a NAT64 local-use address (the IPv4 host behind it cannot be checked)"
            }
        }
    }
}

/// The IPv4 address an IPv6 address carries, if it is one of the forms that reach an IPv4
/// host: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated) and the
/// NAT64 well-known prefix (`64:ff9b::a.b.c.d`).
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let low = std::net::Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    // 64:ff9b::/96, the well-known NAT64 prefix (64:ff9b:1::/48 is refused whole instead).
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    // `::` and `::1` are IPv6's own unspecified and loopback, not IPv4-compatible forms.
    let compatible = s[..6] == [0; 6] && u32::from(low) > 1;
    (nat64 || compatible).then_some(low)
}

/// The refused range `ip` falls in, if any (whatever the policy): see [`Refused`].
pub fn refused_range(ip: std::net::IpAddr) -> Option<Refused> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    const ALIBABA_METADATA: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);
    const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    let ip = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some(Refused::Loopback),
        IpAddr::V4(v4) if v4.is_link_local() => Some(Refused::LinkLocal),
        IpAddr::V4(v4) if v4 == ALIBABA_METADATA => Some(Refused::Metadata),
        IpAddr::V4(v4) if v4.octets()[0] == 0 => Some(Refused::Unspecified),
        IpAddr::V6(v6) if v6.segments()[..3] == [0x64, 0xff9b, 1] => Some(Refused::Translated),
        IpAddr::V6(v6) if v6.is_loopback() => Some(Refused::Loopback),
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some(Refused::LinkLocal),
        IpAddr::V6(v6) if v6 == AWS_METADATA_V6 => Some(Refused::Metadata),
        IpAddr::V6(v6) if v6.is_unspecified() => Some(Refused::Unspecified),
        _ => None,
    }
}

impl PrivateTargets {
    /// The reason `ip` is refused under this policy, `None` when it may be called. Only
    /// checks the address: nothing is connected to.
    pub fn refusal(self, ip: std::net::IpAddr) -> Option<Refused> {
        let range = refused_range(ip)?;
        match (self, range) {
            (PrivateTargets::AllowAll, _) => None,
            (PrivateTargets::AllowLoopback, Refused::Loopback) => None,
            _ => Some(range),
        }
    }
}

/// The refusal recorded as a call's error.
fn refusal_text(host: &str, ip: std::net::IpAddr, range: Refused) -> String {
    let shown = if host == ip.to_string() {
        ip.to_string()
    } else {
        format!("{host} ({ip})")
    };
    format!(
        "refused: {shown} is {}; set PSU_SCHED_ALLOW_PRIVATE_TARGETS=true to allow it",
        range.describe()
    )
}

/// The deployment's signing secrets a dispatcher signs with, newest first, shared with what
/// refreshes them ([`crate::secrets::RefreshingSecrets`]): a secret read again from Secrets
/// Manager is in use from the next call on, without rebuilding the HTTP client. Clones share
/// one value. `Debug` shows only how many there are.
#[derive(Clone, Default)]
pub struct SigningSecrets(Arc<RwLock<Arc<[String]>>>);

impl SigningSecrets {
    /// Holds `secrets` (newest first; empty: calls are not signed).
    pub fn new(secrets: Vec<String>) -> Self {
        Self(Arc::new(RwLock::new(secrets.into())))
    }

    /// The secrets now.
    pub fn current(&self) -> Arc<[String]> {
        // A poisoned lock still holds a whole value: only a replacement is ever written.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `secrets` in place of the held ones, for every clone.
    pub fn replace(&self, secrets: Vec<String>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = secrets.into();
    }
}

impl std::fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningSecrets([{} redacted])", self.current().len())
    }
}

/// How an [`HttpDispatcher`] behaves beyond the defaults.
#[derive(Clone, Default)]
pub struct DispatchOptions {
    /// Which private addresses may be called.
    pub private_targets: PrivateTargets,
    /// The deployment's secrets, newest first (two during its rotation): each call is signed
    /// with its app's keys derived from them (`X-Psu-Sched-Signature`, [`signing`]). Empty:
    /// requests are not signed. The dispatcher's starting value: the secrets read at run time
    /// replace it through [`HttpDispatcher::signing_secrets`].
    pub signing_secrets: Vec<String>,
    /// PEM certificates of CAs to trust besides the system's roots (apps behind a private CA;
    /// `PSU_SCHED_CA_CERTS_FILE`). `None`: the system's roots only.
    pub ca_certs_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for DispatchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchOptions")
            .field("private_targets", &self.private_targets)
            .field(
                "signing_secrets",
                &format_args!("[{} redacted]", self.signing_secrets.len()),
            )
            .field("ca_certs_pem", &self.ca_certs_pem.as_ref().map(Vec::len))
            .finish()
    }
}

/// Calls over HTTP with reqwest (rustls, no redirects).
#[derive(Clone)]
pub struct HttpDispatcher {
    client: reqwest::Client,
    /// The webhooks' client: the same, but its resolver refuses the ranges no webhook is ever
    /// posted to (link-local, metadata, unspecified) whatever the policy allows job calls
    /// ([`webhook_targets`]).
    webhook_client: reqwest::Client,
    options: DispatchOptions,
    /// The secrets each call is signed with (`options.signing_secrets` at first).
    secrets: SigningSecrets,
    /// The clock of the signature's timestamp: always the wall clock in production, whatever
    /// instant the tick runs for (a simulated tick's calls must still verify at the app).
    signing_clock: Arc<dyn Clock>,
}

/// The policy a webhook's addresses are checked by: the job calls' policy, except that
/// allowing every address still refuses the link-local, metadata and unspecified ranges (a
/// host name resolving to the metadata service is never posted to).
pub fn webhook_targets(policy: PrivateTargets) -> PrivateTargets {
    match policy {
        PrivateTargets::AllowAll => PrivateTargets::AllowLoopback,
        other => other,
    }
}

/// Resolves host names and drops refused addresses, so the address connected to is the
/// address checked (no second lookup to rebind).
struct GuardedResolver(PrivateTargets);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<std::net::SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| policy.refusal(a.ip()).is_none())
                .collect();
            if allowed.is_empty() {
                let refused = addrs
                    .iter()
                    .find_map(|a| policy.refusal(a.ip()).map(|r| (a.ip(), r)));
                return Err(match refused {
                    Some((ip, range)) => refusal_text(&host, ip, range).into(),
                    None => format!("{host} resolves to no address").into(),
                });
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
    /// A dispatcher that may call any address and does not sign: for tests and tools that
    /// call their own loopback servers. The scheduler's comes from
    /// [`Config::dispatcher`](crate::config::Config::dispatcher).
    pub fn new() -> Result<Self, BuildError> {
        Self::with_options(DispatchOptions {
            private_targets: PrivateTargets::AllowAll,
            ..Default::default()
        })
    }

    /// A dispatcher with the given options.
    pub fn with_options(options: DispatchOptions) -> Result<Self, BuildError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("psu-sched/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10));
        if options.private_targets != PrivateTargets::AllowAll {
            // No proxy from the environment (HTTP_PROXY...): a proxy resolves the job's host
            // itself, past the resolver that checks the address.
            builder = builder
                .no_proxy()
                .dns_resolver(Arc::new(GuardedResolver(options.private_targets)));
        }
        let mut webhooks = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("psu-sched/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(webhook_targets(
                options.private_targets,
            ))));
        if let Some(pem) = &options.ca_certs_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(BuildError)?;
            builder = builder.tls_certs_merge(certs.clone());
            webhooks = webhooks.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(BuildError)?;
        let webhook_client = webhooks.build().map_err(BuildError)?;
        let secrets = SigningSecrets::new(options.signing_secrets.clone());
        Ok(Self {
            client,
            webhook_client,
            options,
            secrets,
            signing_clock: Arc::new(SystemClock),
        })
    }

    /// The secrets this dispatcher (and its clones) signs with: replace them to sign with
    /// others from the next call on.
    pub fn signing_secrets(&self) -> SigningSecrets {
        self.secrets.clone()
    }

    /// Signs with this clock's time instead of the wall clock's (tests of stale signatures).
    pub fn with_signing_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.signing_clock = clock;
        self
    }

    /// The refusal for a URL whose host is a refused IP literal (host names are checked
    /// after resolution, by the resolver).
    fn refuse_literal(&self, url: &str) -> Option<String> {
        let parsed = reqwest::Url::parse(url).ok()?;
        let host = parsed
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let ip: std::net::IpAddr = host.parse().ok()?;
        let range = self.options.private_targets.refusal(ip)?;
        Some(refusal_text(&ip.to_string(), ip, range))
    }
}

/// Why a call of an app without a record is not made while calls are signed: its key would
/// have to come from somewhere, and the only keys without a record are ones a deleted record
/// may have retired.
fn unsigned_refusal(job: &str) -> String {
    let app = job.split_once('/').map_or(job, |(app, _)| app);
    format!(
        "not called: the app {app} has no record, so no key signs its calls; create it (psu-sched app create --app {app} --base-url https://host) and give the app its key (psu-sched app key --app {app})"
    )
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
    async fn notify(&self, url: &str, body: &str, timeout: Duration) -> Result<(), NotifyError> {
        self.post_json(url, body, timeout).await
    }

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
        // The secrets as they are now (read again at run time when they come from a store).
        let secrets = self.secrets.current();
        if !secrets.is_empty() && request.key_generations.is_empty() {
            return CallResult {
                status: Status::Failed,
                http_status: None,
                output: None,
                error: Some(unsigned_refusal(request.job)),
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
        let builder = if secrets.is_empty() {
            builder
        } else {
            let t = self.signing_clock.now().timestamp();
            let app = request
                .job
                .split_once('/')
                .map_or(request.job, |(app, _)| app);
            let signed = signing::signed_string(
                &t.to_string(),
                &request.execution.to_string(),
                request.job,
                request.method.as_str(),
                &protocol::path_and_query(request.url),
                b"",
            );
            let keys =
                signing::signing_keys(&secrets, app, request.key_generations, request.key_salt);
            builder.header(
                HEADER_SIGNATURE,
                signing::signature_header(&keys, t, &signed),
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

mod post;
pub use post::{NotifyError, webhook_refusal};
#[cfg(test)]
mod tests;
