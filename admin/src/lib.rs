//! The psu-sched web admin: server-rendered pages over the operations layer
//! ([`shared::ops::Ops`]), behind a token, for the people who look after the apps' jobs.
//!
//! Pages: the overview (every app and its jobs' health), an app (its jobs, sortable and
//! filterable), a job (settings, next runs with the DST changes called out, a timeline of its
//! executions), an execution. The job page's actions (pause, resume, run now, delete after a
//! confirmation page) are POST forms over the same layer. They work without JavaScript; the CSS
//! is embedded in the binary.
//!
//! The security model (docs/admin.md): a token is always required (a login link exchanges it
//! for an `HttpOnly; SameSite=Strict` cookie), the `Host` header is checked against an
//! allow-list, every POST must come from the admin's own origin and carry the session's CSRF
//! token in a hidden field (and is refused under `--read-only`), and every response carries a
//! restrictive Content-Security-Policy. Sessions are held on the server: each has its own CSRF
//! token and ends at sign-out or after [`SESSION_IDLE`] unused. It binds to loopback unless
//! TLS or an explicit `--behind-proxy` is given.
//!
//! # Where things go
//!
//! The admin is laid out by resource. Each module below names only those listed after it:
//!
//! | module | holds | a new ... goes |
//! |---|---|---|
//! | `security` (+ `security/tests.rs`) | the checks every request passes first | check: here |
//! | `router` | every route, one line each, and nothing else | route: one line here |
//! | `handlers/` | a folder per resource (`apps/`, `jobs/`, `executions/`), a file per verb (`show`, `new`, `edit`, `delete`, `actions`), and the overview, preview and assets; `handlers/form.rs` reads a posted form | page or action: a handler in its resource's folder; form: `get` and `post` there |
//! | `paths` | extractors that parse the path parameters once (`AppPath`, `JobPath`, `ExecutionPath`) and answer 404 themselves | path parameter: an extractor here |
//! | `error` | the one error every handler returns (`?` on the operations layer), its status mapping, and the layer that draws a refusal inside the page frame | error status: its one mapping here |
//! | `views/` | the view models: one template struct per page (templates/NAME.html) and the function building it from the operations layer's data; `views/form.rs` the form's fields | page: its template and its struct here; a job field's hint or widget: `job_field` in `views/job_form.rs` (the job form shows every field of `shared::ops::FIELDS` without it, as a text box) |
//! | `context`, `format` | what a handler is given (the shared state, the request's session); how values read | |
//!
//! Handlers name paths, error and views; paths name error; error names views; views name
//! context and format. So there is no module cycle (`scripts/check-structure` checks it).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use shared::ops::{Ops, StoreSpec};
//!
//! let ops = Arc::new(Ops::new(StoreSpec::from_setting(Some("sqlite:/tmp/jobs.db"))?));
//! let settings = admin::Settings::parse(&admin::Options::default())?;
//! let server = admin::Server::bind(settings).await?;
//! eprintln!("{}", server.login_link());
//! server.run(ops, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```

mod answers;
mod context;
mod error;
mod format;
mod handlers;
mod paths;
mod router;
mod security;
mod views;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use shared::ops::Ops;

pub use security::{SESSION_IDLE, Token};

/// The address the admin listens on by default.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8710);

/// The admin's options as typed on the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `ADDR:PORT` (default [`DEFAULT_LISTEN`]).
    pub listen: Option<String>,
    /// A file holding the token; without it a token is generated.
    pub token_file: Option<PathBuf>,
    /// Refuse every POST; offer no action.
    pub read_only: bool,
    /// A TLS-terminating proxy is in front: a non-loopback address is allowed without TLS.
    pub behind_proxy: bool,
    /// PEM certificate chain (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (with `tls_cert`).
    pub tls_key: Option<PathBuf>,
    /// More host names the `Host` header may carry (the proxy's public name...).
    pub allow_hosts: Vec<String>,
    /// How long a session lasts unused ([`SESSION_IDLE`] when `None`): shorter in tests.
    pub session_idle: Option<std::time::Duration>,
}

/// Why the admin could not start: bad options (exit 2) or a runtime failure.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// `--listen` is not accepted.
    #[error("listen: {0}")]
    Listen(String),
    /// `--token-file` is not accepted.
    #[error("token-file: {0}")]
    Token(String),
    /// `--tls-cert` / `--tls-key` are not accepted.
    #[error("tls: {0}")]
    Tls(String),
    /// `--allow-host` is not accepted.
    #[error("allow-host: {0}")]
    AllowHost(String),
    /// The server failed while running.
    #[error("the admin server failed: {0}")]
    Serve(#[source] std::io::Error),
}

impl AdminError {
    /// True for bad options (nothing was served): exit 2.
    pub fn is_input(&self) -> bool {
        !matches!(self, AdminError::Serve(_))
    }
}

/// The options, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    listen: SocketAddr,
    token: Token,
    generated: bool,
    read_only: bool,
    behind_proxy: bool,
    tls: Option<(PathBuf, PathBuf)>,
    allow_hosts: Vec<security::HostName>,
    session_idle: std::time::Duration,
}

impl Settings {
    /// Checks the options: the address (loopback, or TLS, or `--behind-proxy`), the token
    /// file, the TLS pair and the extra host names. Each refusal is one line naming the flag.
    pub fn parse(options: &Options) -> Result<Self, AdminError> {
        let listen = match options.listen.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_LISTEN,
            Some(text) => text.parse::<SocketAddr>().map_err(|_| {
                AdminError::Listen(format!(
                    "`{text}` is not accepted; use an address and port: 127.0.0.1:8710 or [::1]:8710"
                ))
            })?,
        };
        let tls = match (&options.tls_cert, &options.tls_key) {
            (Some(cert), Some(key)) => {
                for (flag, path) in [("--tls-cert", cert), ("--tls-key", key)] {
                    if !path.is_file() {
                        return Err(AdminError::Tls(format!(
                            "{flag} {} is not a readable file; give a PEM file",
                            path.display()
                        )));
                    }
                }
                Some((cert.clone(), key.clone()))
            }
            (None, None) => None,
            _ => {
                return Err(AdminError::Tls(
                    "give both --tls-cert and --tls-key (PEM files), or neither".to_owned(),
                ));
            }
        };
        if !listen.ip().is_loopback() && tls.is_none() && !options.behind_proxy {
            return Err(AdminError::Listen(format!(
                "{listen} is not a loopback address; serving there needs --tls-cert and --tls-key, or --behind-proxy when a TLS-terminating proxy is in front (the default is {DEFAULT_LISTEN})"
            )));
        }
        let (token, generated) = match &options.token_file {
            Some(path) => (Token::from_file(path)?, false),
            None => (Token::generate(), true),
        };
        let mut allow_hosts = Vec::new();
        for host in &options.allow_hosts {
            let host = host.trim();
            let Some(parsed) = security::HostName::parse(host) else {
                return Err(AdminError::AllowHost(format!(
                    "`{host}` is not accepted; use a host name or address as the browser sends it in Host (admin.example.edu, or admin.example.edu:8443)"
                )));
            };
            allow_hosts.push(parsed);
        }
        Ok(Self {
            listen,
            token,
            generated,
            read_only: options.read_only,
            behind_proxy: options.behind_proxy,
            tls,
            allow_hosts,
            session_idle: options.session_idle.unwrap_or(SESSION_IDLE),
        })
    }
}

/// The admin, bound to its address and ready to serve.
pub struct Server {
    settings: Settings,
    listener: tokio::net::TcpListener,
    local: SocketAddr,
}

impl Server {
    /// Binds the listening socket.
    pub async fn bind(settings: Settings) -> Result<Self, AdminError> {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|e| {
                AdminError::Listen(format!("could not listen on {}: {e}", settings.listen))
            })?;
        let local = listener.local_addr().map_err(AdminError::Serve)?;
        Ok(Self {
            settings,
            listener,
            local,
        })
    }

    /// The address it listens on (the port chosen when 0 was given).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The line to show once at start: the login link, with the token when it was generated
    /// (the only place it is ever shown), else the address and where the token comes from.
    pub fn login_link(&self) -> String {
        let scheme = if self.settings.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let host = if self.local.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.local.port())
        } else {
            self.local
        };
        if self.settings.generated {
            format!(
                "admin at {scheme}://{host}/login?token={}",
                self.settings.token.reveal()
            )
        } else {
            format!("admin at {scheme}://{host}/login (sign in with the token in --token-file)")
        }
    }

    /// The router, for tests and benchmarks that drive it in process.
    pub fn router(&self, ops: Arc<Ops>) -> Router {
        router(ops, &self.settings, self.local)
    }

    /// Serves until `shutdown` completes.
    pub async fn run(
        self,
        ops: Arc<Ops>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AdminError> {
        let app = router(ops, &self.settings, self.local);
        tracing::info!(address = %self.local, read_only = self.settings.read_only, "admin listening");
        match &self.settings.tls {
            None => axum::serve(self.listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(AdminError::Serve),
            Some((cert, key)) => {
                // Two TLS providers may be compiled into the tree; choose aws-lc-rs (what the
                // SDK's client already uses). An error means one is installed already.
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(|e| {
                        AdminError::Tls(format!("could not load the certificate and key: {e}"))
                    })?;
                let handle = axum_server::Handle::new();
                let stopper = handle.clone();
                tokio::spawn(async move {
                    shutdown.await;
                    stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
                });
                let listener = self.listener.into_std().map_err(AdminError::Serve)?;
                axum_server::from_tcp_rustls(listener, config)
                    .map_err(AdminError::Serve)?
                    .handle(handle)
                    .serve(app.into_make_service())
                    .await
                    .map_err(AdminError::Serve)
            }
        }
    }
}

fn router(ops: Arc<Ops>, settings: &Settings, local: SocketAddr) -> Router {
    let guard = Arc::new(security::Guard::new(settings, local));
    router::routes(context::Shared {
        ops,
        read_only: settings.read_only,
        bulk: Arc::default(),
    })
    .layer(axum::middleware::from_fn_with_state(guard, security::check))
}
