//! `psu-sched ui` and `psu-sched serve --ui`: the web admin (the `admin` crate) over the
//! store --store names.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use shared::ops::Ops;

use crate::{Failure, Result};

/// The admin's options (`ui`, and `serve --ui`).
#[derive(Debug, Args)]
pub struct UiArgs {
    /// Where the admin listens: 127.0.0.1:8710 by default. Another address than loopback
    /// needs --tls-cert and --tls-key, or --behind-proxy.
    #[arg(long, value_name = "ADDR:PORT", env = "PSU_SCHED_UI_LISTEN")]
    pub listen: Option<String>,

    /// A file holding the token to sign in with; without it a token is generated and shown
    /// once, in the login link.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Offer no action and refuse every POST.
    #[arg(long)]
    pub read_only: bool,

    /// A TLS-terminating proxy is in front: allows a non-loopback --listen without TLS
    /// (name the proxy's public host with --allow-host).
    #[arg(long)]
    pub behind_proxy: bool,

    /// A PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Another host name the browser may use in Host (repeatable): the proxy's public name.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,

    /// Seconds a session lasts unused (12 hours by default). Hidden: for tests.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "PSU_SCHED_UI_SESSION_IDLE",
        hide = true,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub session_idle: Option<u64>,
}

impl UiArgs {
    fn options(&self) -> admin::Options {
        admin::Options {
            listen: self.listen.clone(),
            token_file: self.token_file.clone(),
            read_only: self.read_only,
            behind_proxy: self.behind_proxy,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            allow_hosts: self.allow_hosts.clone(),
            session_idle: self.session_idle.map(std::time::Duration::from_secs),
        }
    }
}

impl From<admin::AdminError> for Failure {
    fn from(e: admin::AdminError) -> Self {
        if e.is_input() {
            Failure::Input(e.to_string())
        } else {
            Failure::Runtime(e.into())
        }
    }
}

/// The admin, checked and bound: the login link printed (on stderr) once.
pub async fn start(args: &UiArgs) -> Result<admin::Server> {
    let settings = admin::Settings::parse(&args.options())?;
    let server = admin::Server::bind(settings).await?;
    eprintln!("psu-sched: {}", server.login_link());
    Ok(server)
}

/// `psu-sched ui`: serves the admin until SIGINT or SIGTERM.
pub async fn ui(ops: Ops, args: &UiArgs) -> Result<ExitCode> {
    let server = start(args).await?;
    server.run(Arc::new(ops), crate::shutdown_signal()).await?;
    eprintln!("psu-sched: admin stopped");
    Ok(ExitCode::SUCCESS)
}
