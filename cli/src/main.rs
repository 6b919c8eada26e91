//! `psu-sched`: the developers' command line. For now it runs one tick against a DynamoDB
//! table; the full command set (create, list, update, ...) is its own issue.

use std::process::ExitCode;

use shared::clock::SystemClock;
use shared::dispatch::HttpDispatcher;
use shared::store::dynamodb::{DEFAULT_TABLE, DynamoStore};
use shared::tick::{TickConfig, tick};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("tick") => {}
        Some("--version") | Some("-V") => {
            println!("psu-sched {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("usage: psu-sched tick   (runs one tick on the table in PSU_SCHED_TABLE)");
            return ExitCode::from(2);
        }
    }
    let table = std::env::var("PSU_SCHED_TABLE").unwrap_or_else(|_| DEFAULT_TABLE.to_owned());
    let store = DynamoStore::from_env(table).await;
    let dispatcher = match HttpDispatcher::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("psu-sched: {e}");
            return ExitCode::from(1);
        }
    };
    match tick(&store, &dispatcher, &SystemClock, &TickConfig::default()).await {
        Ok(summary) => {
            println!("{}", serde_json::to_string(&summary).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut line = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                line.push_str(": ");
                line.push_str(&s.to_string());
                source = s.source();
            }
            eprintln!("psu-sched: {line}");
            ExitCode::from(1)
        }
    }
}
