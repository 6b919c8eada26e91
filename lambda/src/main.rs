//! `psu-sched-tick`, the tick function for AWS Lambda. This file only wires: JSON logs to
//! stdout (level from `RUST_LOG`, default `info`), the configuration from the environment,
//! the DynamoDB and HTTP clients built once, then the Lambda runtime. The handler is
//! `psu_sched_lambda::Function`.

use std::sync::Arc;

use lambda_runtime::{Error, service_fn};
use psu_sched_lambda::Function;
use shared::clock::SystemClock;
use shared::config::{Config, Runner};
use shared::secrets::{RefreshingSecrets, SecretsManagerSource};
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
        signing_secret_arn = config.signing_secret_arn.as_deref(),
        stack = %config.stack,
        app_metrics = config.app_metrics,
        private_ca = config.ca_certs_pem.is_some(),
        "starting"
    );
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(&sdk, config.table.clone());
    let dispatcher = config.dispatcher(Runner::Lambda)?;
    // The secret is read by the first tick, not here: an init failure would only be retried
    // as a new cold start, and a tick's failure names the secret in the invocation's error.
    let secrets = config.signing_secret_arn.as_ref().map(|arn| {
        RefreshingSecrets::new(
            Box::new(SecretsManagerSource::new(&sdk, arn)),
            dispatcher.signing_secrets(),
            config.secret_refresh,
        )
    });
    let mut function = Function::new(store, dispatcher, Arc::new(SystemClock), config.tick)
        .with_stack(config.stack.clone())
        .with_app_metrics(config.app_metrics);
    if let Some(secrets) = secrets {
        function = function.with_secrets(secrets);
    }
    tracing::info!(
        init_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "ready"
    );
    lambda_runtime::run(service_fn(|event| function.handle(event))).await
}
