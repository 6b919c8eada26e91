//! `psu-sched-tick`, the tick function for AWS Lambda. This file only wires: JSON logs to
//! stdout (level from `RUST_LOG`, default `info`), the configuration from the environment,
//! the DynamoDB and HTTP clients built once, then the Lambda runtime. The handler is
//! `psu_sched_lambda::Function`.

use std::sync::Arc;

use lambda_runtime::{Error, service_fn};
use psu_sched_lambda::Function;
use shared::clock::SystemClock;
use shared::config::{Config, Runner};
use shared::store::dynamodb::DynamoStore;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .with_target(false)
        .with_writer(std::io::stdout)
        .init();

    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    tracing::info!(
        table = %config.table,
        concurrency = config.tick.concurrency,
        private_targets = ?config.private_targets(Runner::Lambda),
        "starting"
    );
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(&sdk, config.table.clone());
    let dispatcher = config.dispatcher(Runner::Lambda)?;
    let function = Function::new(store, dispatcher, Arc::new(SystemClock), config.tick);
    tracing::info!(
        init_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "ready"
    );
    lambda_runtime::run(service_fn(|event| function.handle(event))).await
}
