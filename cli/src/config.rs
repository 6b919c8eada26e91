//! What more than one command needs from the environment: the configuration (signing
//! secrets included) and the warning printed when calls go out unsigned.

use shared::config::{Config, ENV_SIGNING_SECRET};
use shared::ops;
use shared::secrets::SecretsManagerSource;

use crate::args::Cli;
use crate::output::Out;
use crate::{Failure, Result};

/// The configuration from the environment. With `--signing-secret-arn` (or
/// `PSU_SCHED_SIGNING_SECRET_ARN`) the signing secrets are read from that Secrets Manager
/// secret, as the tick function reads them, so no secret is pasted into a shell.
pub async fn config(cli: &Cli) -> Result<Config> {
    let mut config = Config::from_env().map_err(ops::OpsError::from)?;
    if let Some(arn) = cli.signing_secret_arn.as_deref().map(str::trim)
        && !arn.is_empty()
        && config.signing_secret_arn.as_deref() != Some(arn)
    {
        config = config
            .with_signing_secret_arn(arn)
            .map_err(ops::OpsError::from)?;
    }
    if let Some(arn) = &config.signing_secret_arn {
        let source = SecretsManagerSource::from_env(arn.clone()).await;
        config.signing_secrets = shared::secrets::read_secrets(&source)
            .await
            .map_err(|e| Failure::Runtime(e.into()))?;
    }
    Ok(config)
}

/// The one line `run` and a writing `tick` print on stderr when they sent calls unsigned: an
/// app that verifies signatures refuses them (403), which history alone shows only as a 403.
pub fn warn_if_unsigned(config: &Config, sent: bool, out: &Out) {
    if sent && config.signing_secrets.is_empty() {
        out.note(&format!(
            "psu-sched: warning: calls are sent unsigned: no signing secret is configured ({ENV_SIGNING_SECRET}, or --signing-secret-arn); apps that verify signatures refuse them (403)"
        ));
    }
}
