//! `psu-sched`: the developers' command line. It parses flags, calls one operation of the
//! library's operations layer (`shared::ops`) per command and prints the result: creating,
//! changing, running and inspecting jobs, and running one tick of the very code the Lambda
//! runs. It holds no validation and makes no store call of its own.
//!
//! Exit codes: 0 success, 1 runtime failure (store, network, a manual run that did not
//! succeed), 2 bad input (nothing was written).
//!
//! Where a new command goes: its arguments in `args.rs` (doc comments are the help text), its
//! function in the file of its group (`jobs`, `apps`, `tick`, `setup`) or in a file of its own
//! (as `stats`, `table`, `apply`), and one arm in `commands.rs`, the match that calls it. What
//! several commands read from the environment is in `config.rs`; printing is in `output.rs`.

mod app_args;
mod apply;
mod apps;
mod args;
mod backfill;
mod commands;
mod config;
mod group;
mod jobs;
mod output;
mod setup;
mod stats;
mod table;
mod tick;
mod ui;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
use shared::ops::{FieldError, Ops, OpsError, Segment, StoreSpec};
use shared::store::StoreError;

use args::Cli;

/// Why a command failed: bad input (exit 2, nothing written) or a runtime failure (exit 1).
enum Failure {
    Input(String),
    Runtime(anyhow::Error),
}

impl From<OpsError> for Failure {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Invalid(field) => Failure::Input(field_line(&field)),
            OpsError::Config(config) => Failure::Input(config.to_string()),
            e @ (OpsError::Unset { .. } | OpsError::Rotation(_)) => Failure::Input(e.to_string()),
            e @ OpsError::Store {
                source: shared::store::StoreError::OneShardOnly,
                ..
            } => Failure::Input(shared::error_chain(&e)),
            OpsError::NothingToChange => Failure::Input(
                "update: nothing to change; give at least one option (see psu-sched update --help)"
                    .to_owned(),
            ),
            other => Failure::Runtime(other.into()),
        }
    }
}

impl From<FieldError> for Failure {
    fn from(e: FieldError) -> Self {
        Failure::Input(field_line(&e))
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

type Result<T, E = Failure> = std::result::Result<T, E>;

/// The operations over the store `--store` names (every command's, `apply` and `export`
/// included).
fn ops(cli: &Cli) -> Result<Ops> {
    Ok(Ops::new(StoreSpec::from_setting(cli.store.as_deref())?))
}

/// A refused input as one line, the field named as on this command line: `max-lateness:
/// ...`, with the other fields it mentions written as flags (`--every`).
fn field_line(e: &FieldError) -> String {
    let label: Vec<String> = e
        .path
        .segments()
        .iter()
        .map(|s| match s {
            Segment::Key(k) => flag_name(k),
            Segment::Index(i) => format!("[{i}]"),
        })
        .collect();
    let message = e.message.render(|key| match key {
        "count" => "-n".to_owned(),
        k => format!("--{}", flag_name(k)),
    });
    format!("{}: {message}", label.join("."))
}

/// An input's key as this command line names it: `max_lateness` is `max-lateness`, `count`
/// is `n`; settings from the environment (upper case) keep their names.
fn flag_name(key: &str) -> String {
    match key {
        "count" => "n".to_owned(),
        k if k.chars().any(|c| c.is_ascii_uppercase()) => k.to_owned(),
        k => k.replace('_', "-"),
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Whether --tz was typed on this command line (for `update`, the PSU_SCHED_TZ default
    // must not change a job's zone).
    let tz_typed = matches
        .subcommand()
        .map(|(_, m)| m.value_source("tz") == Some(ValueSource::CommandLine))
        .unwrap_or(false)
        || matches.value_source("tz") == Some(ValueSource::CommandLine);
    init_tracing(cli.verbose);
    let verbose = cli.verbose;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("psu-sched: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli, tz_typed)) {
        Ok(code) => code,
        Err(Failure::Input(line)) => {
            eprintln!("psu-sched: {line}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(err)) => {
            eprintln!("psu-sched: {}", explain(&err));
            if verbose > 0 {
                for (i, cause) in err.chain().enumerate() {
                    eprintln!("  {i}: {cause}");
                }
            }
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr: warnings from psu-sched only by default (the SDK's own warnings are
/// noise here), more with -v / -vv, or whatever RUST_LOG says.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "error,shared=warn,psu_sched=warn",
        1 => "warn,shared=info,psu_sched=info",
        _ => "info,shared=debug,psu_sched=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
}

/// One plain sentence for a runtime failure, chosen by the store error's kind (never by its
/// text).
fn explain(err: &anyhow::Error) -> String {
    let store = err.chain().find_map(|e| e.downcast_ref::<StoreError>());
    match store {
        Some(e @ (StoreError::TableMissing(_) | StoreError::IndexMissing { .. })) => e.to_string(),
        Some(e @ StoreError::AlreadyExists(..)) => {
            format!("{e}; nothing changed (use `psu-sched update` to change it)")
        }
        Some(e @ StoreError::AppExists(..)) => {
            format!("{e}; nothing changed (use `psu-sched app update` to change it)")
        }
        Some(e @ StoreError::AppDeleting(..)) => format!("{e}; nothing changed"),
        Some(StoreError::Credentials { .. }) => {
            "no AWS credentials found, or they were refused as unknown or expired: set AWS_PROFILE (and sign in again if it uses SSO), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for a local table, any dummy values)".to_owned()
        }
        Some(StoreError::NoRegion { .. }) => {
            "no AWS region set: set AWS_REGION (or a region in your AWS profile)".to_owned()
        }
        Some(StoreError::Unavailable { .. }) => format!(
            "DynamoDB is unreachable at {}; check the endpoint and your network",
            endpoint_name()
        ),
        Some(StoreError::Throttled { .. }) => format!(
            "DynamoDB kept throttling the requests at {}; try again, or raise the table's capacity",
            endpoint_name()
        ),
        Some(e) => format!("{err}: {e}"),
        None => err.to_string(),
    }
}

/// The DynamoDB endpoint in use, for error messages.
fn endpoint_name() -> String {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return format!("{v} (from {var})");
        }
    }
    match std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")) {
        Ok(region) if !region.is_empty() => format!("the AWS endpoint for region {region}"),
        _ => "the AWS endpoint (no region set: set AWS_REGION)".to_owned(),
    }
}

/// Completes on the first SIGINT or SIGTERM (serve then finishes the ticks under way); a
/// second one quits at once: whatever was still in flight is reconciled by a later tick.
pub(crate) async fn stop_then_quit() {
    shutdown_signal().await;
    eprintln!(
        "psu-sched: stopping: no new tick; waiting for the calls in flight (Ctrl-C again quits at once)"
    );
    tokio::spawn(async {
        shutdown_signal().await;
        eprintln!("psu-sched: quitting now; a later tick reconciles the calls left in flight");
        std::process::exit(130);
    });
}

/// Completes on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
