//! The deployment's signing secret read at run time from AWS Secrets Manager, by the ARN in
//! `PSU_SCHED_SIGNING_SECRET_ARN`: never resolved into a function's configuration, where
//! anyone allowed `lambda:GetFunctionConfiguration` could read it.
//!
//! [`RefreshingSecrets`] reads the secret at its first use (a Lambda's cold start), keeps it
//! in the dispatcher's [`SigningSecrets`], and reads it again once the configured interval
//! (`PSU_SCHED_SECRET_REFRESH_SECONDS`) has passed: a secret changed in Secrets Manager is in
//! use within that interval, without a restart or a redeploy. The first read must succeed (a
//! scheduler without its secret would send unsigned calls, each refused by its app, burning
//! the slots); a later read that fails keeps the value in hand, is logged, and is tried again
//! at the next use. Time is a parameter: [`RefreshingSecrets::ensure`] takes the instant.
//!
//! ```
//! # async fn example() -> Result<(), shared::secrets::SecretError> {
//! use std::time::Duration;
//! use shared::dispatch::SigningSecrets;
//! use shared::secrets::{ReadError, RefreshingSecrets, SecretSource};
//!
//! struct Fixed;
//! #[async_trait::async_trait]
//! impl SecretSource for Fixed {
//!     fn name(&self) -> &str { "arn:aws:secretsmanager:us-west-2:123456789012:secret:psu-AbCdEf" }
//!     async fn read(&self) -> Result<String, ReadError> { Ok("new-secret,old-secret".into()) }
//! }
//!
//! let held = SigningSecrets::default();
//! let secrets = RefreshingSecrets::new(Box::new(Fixed), held.clone(), Duration::from_secs(300));
//! secrets.ensure(chrono::Utc::now()).await?;
//! assert_eq!(held.current().len(), 2);
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::split_secrets;
use crate::dispatch::SigningSecrets;
use crate::error_chain;

/// Why a source could not give the secret: its own error, kept whole.
pub type ReadError = Box<dyn std::error::Error + Send + Sync>;

/// Where the secret is read from. Production's is [`SecretsManagerSource`].
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// What is read, as messages name it: the secret's ARN, never its value.
    fn name(&self) -> &str;
    /// The secret's current value: one or more secrets, comma-separated, newest first.
    async fn read(&self) -> Result<String, ReadError>;
}

/// The signing secret could not be had. The messages name the secret, never its value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The source failed: no such secret, not allowed to read it, Secrets Manager unreachable.
    #[error("could not read the signing secret {name}")]
    Read {
        /// The secret's ARN.
        name: String,
        /// The source's error.
        #[source]
        source: ReadError,
    },
    /// The secret holds nothing but blanks and commas.
    #[error(
        "the signing secret {name} is empty: store the deployment secret(s) in it as text, comma-separated, newest first"
    )]
    Empty {
        /// The secret's ARN.
        name: String,
    },
}

/// The secrets `source` holds now, split as `PSU_SCHED_SIGNING_SECRET` is (newest first). An
/// empty secret is an error: signing with nothing would send unsigned calls.
pub async fn read_secrets(source: &dyn SecretSource) -> Result<Vec<String>, SecretError> {
    let value = source
        .read()
        .await
        .map_err(|source_error| SecretError::Read {
            name: source.name().to_owned(),
            source: source_error,
        })?;
    let secrets = split_secrets(&value);
    if secrets.is_empty() {
        return Err(SecretError::Empty {
            name: source.name().to_owned(),
        });
    }
    Ok(secrets)
}

/// What [`RefreshingSecrets::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Read the secret (the first use, or the interval had passed).
    Read,
    /// Used the value in hand: the interval has not passed.
    Cached,
    /// Reading again failed; the value in hand stays in use (logged).
    KeptAfterFailure,
}

/// The signing secret read from a [`SecretSource`] into a [`SigningSecrets`], read again once
/// `every` has passed since the last successful read.
pub struct RefreshingSecrets {
    source: Box<dyn SecretSource>,
    secrets: SigningSecrets,
    every: Duration,
    last_read: tokio::sync::Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for RefreshingSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshingSecrets")
            .field("source", &self.source.name())
            .field("secrets", &self.secrets)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl RefreshingSecrets {
    /// Reads `source` into `secrets` (the dispatcher's, from
    /// [`HttpDispatcher::signing_secrets`](crate::dispatch::HttpDispatcher::signing_secrets))
    /// at the first [`ensure`](Self::ensure), then whenever `every` has passed.
    pub fn new(source: Box<dyn SecretSource>, secrets: SigningSecrets, every: Duration) -> Self {
        Self {
            source,
            secrets,
            every,
            last_read: tokio::sync::Mutex::new(None),
        }
    }

    /// The secret's ARN.
    pub fn name(&self) -> &str {
        self.source.name()
    }

    /// Makes the secrets current at `now`, before anything is signed: the first call reads the
    /// secret and fails if it cannot (nothing must be called unsigned); a later call reads it
    /// again when `every` has passed since the last successful read, and if that fails keeps
    /// the value in hand (logged; the next call tries again).
    pub async fn ensure(&self, now: DateTime<Utc>) -> Result<Refresh, SecretError> {
        let mut last_read = self.last_read.lock().await;
        if let Some(at) = *last_read {
            let every = chrono::Duration::from_std(self.every).unwrap_or(chrono::Duration::MAX);
            if now.signed_duration_since(at) < every {
                return Ok(Refresh::Cached);
            }
        }
        match read_secrets(self.source.as_ref()).await {
            Ok(values) => {
                let count = values.len();
                self.secrets.replace(values);
                if last_read.is_some() {
                    tracing::info!(
                        secret = self.source.name(),
                        count,
                        "signing secret read again"
                    );
                } else {
                    tracing::info!(secret = self.source.name(), count, "signing secret read");
                }
                *last_read = Some(now);
                Ok(Refresh::Read)
            }
            Err(err) if last_read.is_none() => Err(err),
            Err(err) => {
                tracing::warn!(
                    error = %error_chain(&err),
                    "kept the signing secret in hand: reading it again failed (tried again at the next tick)"
                );
                Ok(Refresh::KeptAfterFailure)
            }
        }
    }
}

/// The secret as AWS Secrets Manager holds it: `GetSecretValue` on one ARN, its `SecretString`.
#[cfg(feature = "secrets-manager")]
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
}

#[cfg(feature = "secrets-manager")]
impl SecretsManagerSource {
    /// A source reading `arn` with a client built from `sdk` (the same settings as the store's).
    pub fn new(sdk: &aws_config::SdkConfig, arn: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            arn: arn.into(),
        }
    }

    /// A source reading `arn` with the SDK's standard settings (`AWS_REGION`, `AWS_PROFILE`,
    /// `AWS_ENDPOINT_URL`...).
    pub async fn from_env(arn: impl Into<String>) -> Self {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(&sdk, arn)
    }
}

/// The secret has no text (`SecretString`): a binary secret.
#[cfg(feature = "secrets-manager")]
#[derive(Debug, thiserror::Error)]
#[error("the secret holds no text (SecretString); store the deployment secret(s) as text")]
pub struct NotText;

#[cfg(feature = "secrets-manager")]
#[async_trait]
impl SecretSource for SecretsManagerSource {
    fn name(&self) -> &str {
        &self.arn
    }

    async fn read(&self) -> Result<String, ReadError> {
        let answer = self
            .client
            .get_secret_value()
            .secret_id(&self.arn)
            .send()
            .await?;
        answer.secret_string.ok_or_else(|| NotText.into())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::TimeZone;

    use super::*;

    /// A source answering what `values` holds now (`None`: failing), counting the reads.
    struct Scripted {
        value: Mutex<Option<String>>,
        reads: AtomicUsize,
    }

    impl Scripted {
        fn set(&self, value: Option<&str>) {
            *self.value.lock().expect("lock") = value.map(str::to_owned);
        }
    }

    #[async_trait]
    impl SecretSource for std::sync::Arc<Scripted> {
        fn name(&self) -> &str {
            "arn:aws:secretsmanager:us-west-2:123456789012:secret:psu-AbCdEf"
        }
        async fn read(&self) -> Result<String, ReadError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.value
                .lock()
                .expect("lock")
                .clone()
                .ok_or_else(|| "AccessDeniedException: not allowed".into())
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0)
            .single()
            .expect("valid")
    }

    #[tokio::test]
    async fn the_secret_is_read_once_kept_for_the_interval_then_read_again_and_a_failed_refresh_keeps_it()
     {
        let source = std::sync::Arc::new(Scripted {
            value: Mutex::new(None),
            reads: AtomicUsize::new(0),
        });
        let held = SigningSecrets::default();
        let secrets = RefreshingSecrets::new(
            Box::new(source.clone()),
            held.clone(),
            Duration::from_secs(300),
        );

        // Unreadable at first use: an error naming the ARN, never the value; nothing held.
        let err = secrets.ensure(at(0)).await.expect_err("no secret yet");
        assert_eq!(
            error_chain(&err),
            "could not read the signing secret arn:aws:secretsmanager:us-west-2:123456789012:secret:psu-AbCdEf: AccessDeniedException: not allowed"
        );
        assert!(held.current().is_empty());

        source.set(Some("first, older"));
        assert_eq!(secrets.ensure(at(1)).await.expect("read"), Refresh::Read);
        assert_eq!(&*held.current(), ["first", "older"]);
        source.set(Some("second"));
        assert_eq!(
            secrets.ensure(at(300)).await.expect("kept"),
            Refresh::Cached
        );
        assert_eq!(&*held.current(), ["first", "older"]);
        assert_eq!(source.reads.load(Ordering::SeqCst), 2);

        assert_eq!(secrets.ensure(at(301)).await.expect("read"), Refresh::Read);
        assert_eq!(&*held.current(), ["second"]);

        // A failed refresh keeps the value in hand, and the next use tries again.
        source.set(None);
        assert_eq!(
            secrets.ensure(at(700)).await.expect("kept"),
            Refresh::KeptAfterFailure
        );
        assert_eq!(&*held.current(), ["second"]);
        source.set(Some(" , "));
        assert_eq!(
            secrets.ensure(at(760)).await.expect("kept"),
            Refresh::KeptAfterFailure,
            "an empty secret is no secret"
        );
        source.set(Some("third"));
        assert_eq!(secrets.ensure(at(820)).await.expect("read"), Refresh::Read);
        assert_eq!(&*held.current(), ["third"]);
        assert_eq!(source.reads.load(Ordering::SeqCst), 6);
        let printed = format!("{secrets:?} {held:?}");
        assert!(!printed.contains("third"), "{printed}");
    }
}
