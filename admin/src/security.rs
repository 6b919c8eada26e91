//! The checks every request passes (docs/admin.md, Security): the `Host` allow-list, POSTs
//! from the admin's own origin only (none under `--read-only`), the session cookie (the login
//! link's token exchanged for it), and the security headers on every response.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::context::SessionCsrf;
use crate::{AdminError, Settings};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "psu_sched_admin";

/// What is served without a session, on GET only: the admin's stylesheet (the sign-in page
/// uses it) and script, routed in router.rs. Any other path, under `/assets/` too, needs
/// the session.
const PUBLIC_ASSETS: [&str; 2] = ["/assets/admin.css", "/assets/admin.js"];

/// How long a session lasts unused: 12 hours. Every request of the session renews it but an
/// execution's status, which a running execution's page polls by itself.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 60 * 60);

/// The most sessions held at once: a sign-in beyond them ends the one unused the longest.
const MAX_SESSIONS: usize = 64;

/// The shortest token a `--token-file` may hold.
const MIN_TOKEN: usize = 16;

/// Every response's Content-Security-Policy: the admin's own stylesheet and script (served
/// from the binary; no inline script or style, no `eval`), requests only to itself, no
/// framing, forms only to itself.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A secret compared in constant time and never printed by `Debug`.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// 32 random bytes, hex.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// The token in `path` (surrounding whitespace dropped), at least 16 characters.
    pub fn from_file(path: &Path) -> Result<Self, AdminError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            AdminError::Token(format!(
                "could not read {}: {e}; give a file holding the token",
                path.display()
            ))
        })?;
        let token = text.trim();
        if token.chars().count() < MIN_TOKEN || token.chars().any(char::is_whitespace) {
            return Err(AdminError::Token(format!(
                "{} does not hold a usable token; put one line of at least {MIN_TOKEN} characters without spaces in it",
                path.display()
            )));
        }
        Ok(Self(token.to_owned()))
    }

    /// Whether `given` is this token, in time independent of where they differ.
    pub fn matches(&self, given: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(given.as_bytes()))
    }

    /// The secret itself: for the login link shown once, and nowhere else.
    pub(crate) fn reveal(&self) -> &str {
        &self.0
    }
}

/// A signed-in browser: the cookie's value and the CSRF token every POST of it carries in its
/// `csrf` field, both random, unrelated to each other and to the login token.
struct Session {
    id: Token,
    csrf: Token,
    /// When a request of the session (not the status polling) last came.
    used: Instant,
}

/// The sessions held on the server. Only the login link's exchange creates one; one ends
/// at sign-out, after `idle` unused, or when [`MAX_SESSIONS`] newer ones are held; a
/// restart ends them all. The time is a parameter of each call.
struct Sessions {
    idle: Duration,
    held: Mutex<Vec<Session>>,
}

impl Sessions {
    fn new(idle: Duration) -> Self {
        Self {
            idle,
            held: Mutex::new(Vec::new()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<Session>> {
        // A panic while holding the lock leaves the list whole (each change is one call).
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new session, used at `now`: its cookie value. The expired ones are dropped, and the
    /// one unused the longest when [`MAX_SESSIONS`] are held.
    fn create(&self, now: Instant) -> Token {
        let mut held = self.held();
        held.retain(|s| now.saturating_duration_since(s.used) < self.idle);
        if held.len() >= MAX_SESSIONS
            && let Some(oldest) = held
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.used)
                .map(|(i, _)| i)
        {
            held.swap_remove(oldest);
        }
        let id = Token::generate();
        held.push(Session {
            id: id.clone(),
            csrf: Token::generate(),
            used: now,
        });
        id
    }

    /// The CSRF token of the session whose cookie value is `id`, when it has not been unused
    /// for `idle` at `now`; `renew` marks it used at `now`. Every held session is compared
    /// (in constant time), so the time taken says nothing of which matched.
    fn find(&self, id: &str, now: Instant, renew: bool) -> Option<Token> {
        let mut held = self.held();
        let mut found = None;
        for (i, session) in held.iter().enumerate() {
            if session.id.matches(id) {
                found = Some(i);
            }
        }
        let i = found?;
        if now.saturating_duration_since(held[i].used) >= self.idle {
            held.swap_remove(i);
            return None;
        }
        if renew {
            held[i].used = now;
        }
        Some(held[i].csrf.clone())
    }

    /// Ends the session whose cookie value is `id`, if it is held.
    fn end(&self, id: &str) {
        self.held().retain(|s| !s.id.matches(id));
    }
}

/// What the checks need, built once.
pub(crate) struct Guard {
    token: Token,
    sessions: Sessions,
    secure: bool,
    read_only: bool,
    hosts: Vec<HostName>,
}

impl Guard {
    pub(crate) fn new(settings: &Settings, local: SocketAddr) -> Self {
        let ip = local.ip();
        let listen = (!ip.is_unspecified()).then(|| match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        });
        let mut hosts: Vec<HostName> = ["localhost", "127.0.0.1", "[::1]"]
            .into_iter()
            .map(str::to_owned)
            .chain(listen)
            .filter_map(|h| HostName::parse(&h))
            .collect();
        hosts.extend(settings.allow_hosts.iter().cloned());
        Self {
            token: settings.token.clone(),
            sessions: Sessions::new(settings.session_idle),
            // The browser sees HTTPS under TLS, and behind the TLS-terminating proxy.
            secure: settings.tls.is_some() || settings.behind_proxy,
            read_only: settings.read_only,
            hosts,
        }
    }

    /// Whether the `Host` header names this admin: it parses ([`HostName::parse`]) to an
    /// allowed name with any port, or to an allowed `name:port` exactly.
    fn host_allowed(&self, host: &str) -> bool {
        HostName::parse(host).is_some_and(|given| {
            self.hosts
                .iter()
                .any(|h| h.name == given.name && (h.port.is_none() || h.port == given.port))
        })
    }

    /// The session the request's cookie names, if it is live at `now`: its cookie value and
    /// CSRF token; `renew` marks it used.
    fn session(&self, headers: &HeaderMap, now: Instant, renew: bool) -> Option<(String, Token)> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == COOKIE)
            .find_map(|(_, value)| {
                self.sessions
                    .find(value, now, renew)
                    .map(|csrf| (value.to_owned(), csrf))
            })
    }

    fn cookie(&self, value: &str, max_age: Option<u32>) -> String {
        let mut cookie = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }
}

/// A `Host` header's value, parsed strictly (RFC 9110's `uri-host [ ":" port ]`, less what
/// a browser never sends): a DNS name (letters, digits and hyphens in dot-separated labels),
/// an IPv4 address or a bracketed IPv6 address, then nothing or `:` and a port of 1 to 5
/// digits below 65536. `[::1].attacker.com:8710` and `localhost:` are not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostName {
    /// Lowercase; an IPv6 address in brackets, in its canonical form.
    name: String,
    port: Option<u16>,
}

impl HostName {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (name, port) = if let Some(rest) = text.strip_prefix('[') {
            let (address, after) = rest.split_once(']')?;
            let address = address.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?),
            };
            (format!("[{address}]"), port)
        } else {
            let (name, port) = match text.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (text, None),
            };
            let label = |l: &str| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            };
            if name.len() > 253 || !name.split('.').all(label) {
                return None;
            }
            (name.to_ascii_lowercase(), port)
        };
        let port = match port {
            None => None,
            Some(digits) => {
                if digits.is_empty()
                    || digits.len() > 5
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                Some(digits.parse::<u16>().ok()?)
            }
        };
        Some(Self { name, port })
    }
}

/// The login link's query.
#[derive(serde::Deserialize)]
struct Login {
    token: Option<String>,
}

/// A refusal: a status and one line of text (never echoing a secret).
fn refuse(status: StatusCode, line: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{line}\n"),
    )
        .into_response()
}

/// The middleware: Host, then POST's origin and `--read-only`, then login or session, and
/// the security headers on whatever comes out.
pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = decide(&guard, request, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: under it a browser sends `Origin: null` with a form's POST (Fetch,
        // "serializing a request origin"), and the Origin check refuses every action.
        // `same-origin` still sends no Referer to any other site.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn decide(guard: &Guard, request: Request, next: Next) -> Response {
    let headers = request.headers();
    // One Host (RFC 9112, 3.2); with an absolute-form target, its authority is the host that
    // counts, whatever Host says.
    let mut hosts = headers.get_all(header::HOST).iter();
    let first = hosts
        .next()
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let host = match (hosts.next(), request.uri().authority()) {
        (Some(_), _) => None,
        (None, Some(authority)) => Some(authority.as_str().to_owned()),
        (None, None) => first,
    };
    let Some(host) = host.filter(|h| guard.host_allowed(h)) else {
        tracing::warn!("admin: refused a request for a host not in the allow-list");
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this Host is not one the admin answers for; add it with --allow-host if it is yours",
        );
    };
    if request.method() == Method::POST {
        // Signing out changes nothing in the store: a read-only admin's session may end too.
        if guard.read_only && request.uri().path() != "/logout" {
            return refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                "the admin runs with --read-only: it changes nothing",
            );
        }
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let same = origin
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(scheme, authority)| {
                (scheme == "https" || (scheme == "http" && !guard.secure))
                    && authority.eq_ignore_ascii_case(&host)
            });
        if !same {
            tracing::warn!("admin: refused a POST from another origin");
            return refuse(
                StatusCode::FORBIDDEN,
                "a POST must come from the admin's own pages (its Origin header is missing or foreign)",
            );
        }
    }
    let path = request.uri().path().to_owned();
    let path = path.as_str();
    if request.method() == Method::GET && PUBLIC_ASSETS.contains(&path) {
        return next.run(request).await;
    }
    let now = Instant::now();
    if path == "/login" && request.method() == Method::GET {
        let token = axum::extract::Query::<Login>::try_from_uri(request.uri())
            .ok()
            .and_then(|q| q.0.token);
        return match token {
            Some(token) if guard.token.matches(&token) => {
                // A session this browser held is replaced, not kept beside the new one.
                if let Some((old, _)) = guard.session(headers, now, false) {
                    guard.sessions.end(&old);
                }
                let id = guard.sessions.create(now);
                // The token leaves the address bar at once: the cookie carries the session.
                let mut response =
                    (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
                if let Ok(cookie) = HeaderValue::from_str(&guard.cookie(id.reveal(), None)) {
                    response.headers_mut().insert(header::SET_COOKIE, cookie);
                }
                response
            }
            Some(_) => {
                tracing::warn!("admin: refused a login with a wrong token");
                crate::views::login_page(StatusCode::UNAUTHORIZED, true)
            }
            None if guard.session(headers, now, true).is_some() => {
                (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
            }
            None => crate::views::login_page(StatusCode::UNAUTHORIZED, false),
        };
    }
    let renew = !(request.method() == Method::GET && is_status_polling(path));
    let Some((id, csrf)) = guard.session(headers, now, renew) else {
        return crate::views::login_page(StatusCode::UNAUTHORIZED, false);
    };
    let mut request = if request.method() == Method::POST {
        match csrf_checked(&csrf, request).await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        }
    } else {
        request
    };
    if path == "/logout" && request.method() == Method::POST {
        guard.sessions.end(&id);
        let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
        if let Ok(cookie) = HeaderValue::from_str(&guard.cookie("", Some(0))) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        return response;
    }
    request.extensions_mut().insert(SessionCsrf(csrf));
    next.run(request).await
}

/// Whether `path` is an execution's status (`/executions/{id}/status`), which a running
/// execution's page polls by itself: it does not renew the session.
fn is_status_polling(path: &str) -> bool {
    path.strip_prefix("/executions/")
        .and_then(|rest| rest.strip_suffix("/status"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// The largest POST body read: the admin's forms send a few short fields.
const MAX_FORM: usize = 64 * 1024;

/// A POST form's CSRF field.
#[derive(serde::Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// The POST `request` back, its body read, when its form's `csrf` field is `csrf`, its
/// session's token (compared in constant time); else a 403 and nothing reaches a handler.
async fn csrf_checked(csrf: &Token, request: Request) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "a POST body must be a short form (at most 64 KiB)",
        )
    })?;
    let given = axum::extract::Form::<CsrfField>::from_request(
        Request::from_parts(parts.clone(), axum::body::Body::from(bytes.clone())),
        &(),
    )
    .await
    .ok()
    .and_then(|form| form.0.csrf);
    match given {
        Some(token) if csrf.matches(&token) => {
            Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
        }
        _ => {
            tracing::warn!("admin: refused a POST without this session's CSRF token");
            Err(refuse(
                StatusCode::FORBIDDEN,
                "a POST must carry this session's CSRF token (reload the page and submit its form again)",
            ))
        }
    }
}

#[cfg(test)]
mod tests;
