//! Typed configuration from the environment, with the same variable names everywhere (the
//! Lambda, the CLI, the template). AWS settings are not here: they come from the SDK's own
//! chain (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`...).

use std::time::Duration;

use crate::dispatch::{BuildError, DispatchOptions, HttpDispatcher, PrivateTargets};
use crate::tick::{DEFAULT_CONCURRENCY, DEFAULT_RETENTION, TickConfig};

/// The DynamoDB table's name when `PSU_SCHED_TABLE` is unset (the old app's).
pub const DEFAULT_TABLE: &str = "psu-scheduler";

/// `PSU_SCHED_TABLE`: the DynamoDB table (default `psu-scheduler`).
pub const ENV_TABLE: &str = "PSU_SCHED_TABLE";
/// `PSU_SCHED_CONCURRENCY`: calls in flight at once (default 64).
pub const ENV_CONCURRENCY: &str = "PSU_SCHED_CONCURRENCY";
/// `PSU_SCHED_RETENTION_DAYS`: days execution records are kept (default 30).
pub const ENV_RETENTION_DAYS: &str = "PSU_SCHED_RETENTION_DAYS";
/// `PSU_SCHED_ALLOW_PRIVATE_TARGETS`: `true` lets jobs call every address; `false` refuses
/// loopback, link-local (cloud metadata), the metadata addresses and unspecified. Unset: the
/// Lambda refuses them all, the CLI allows loopback only (see [`Config::private_targets`]).
pub const ENV_ALLOW_PRIVATE_TARGETS: &str = "PSU_SCHED_ALLOW_PRIVATE_TARGETS";
/// `PSU_SCHED_SIGNING_SECRET`: the secret(s) requests are signed with, comma-separated so a
/// new one can be added before the old one is removed (rotation). Optional; for local use (a
/// deployment gives [`ENV_SIGNING_SECRET_ARN`] instead, so the value is in no configuration).
pub const ENV_SIGNING_SECRET: &str = "PSU_SCHED_SIGNING_SECRET";
/// `PSU_SCHED_SIGNING_SECRET_ARN`: the ARN of the Secrets Manager secret holding the signing
/// secret(s) (same format as `PSU_SCHED_SIGNING_SECRET`), read at run time
/// ([`crate::secrets`]). Optional; not together with `PSU_SCHED_SIGNING_SECRET`.
pub const ENV_SIGNING_SECRET_ARN: &str = "PSU_SCHED_SIGNING_SECRET_ARN";
/// `PSU_SCHED_SECRET_REFRESH_SECONDS`: how long a secret read from Secrets Manager is used
/// before it is read again (default 300): a changed secret is in use within this time.
pub const ENV_SECRET_REFRESH: &str = "PSU_SCHED_SECRET_REFRESH_SECONDS";
/// The default of `PSU_SCHED_SECRET_REFRESH_SECONDS`: five minutes.
pub const DEFAULT_SECRET_REFRESH: Duration = Duration::from_secs(300);
/// `PSU_SCHED_STACK`: the name of the stack the function runs in (the template sets it from
/// `AWS::StackName`), the `Stack` dimension of its metrics (default `default`).
pub const ENV_STACK: &str = "PSU_SCHED_STACK";
/// The stack's name when `PSU_SCHED_STACK` is unset (a function run by hand, the CLI).
pub const DEFAULT_STACK: &str = "default";
/// `PSU_SCHED_APP_METRICS`: `true` makes the function print, besides its line per tick, one
/// EMF line per app it called, with the dimensions `Stack` and `App` (default `false`: each
/// app adds metrics to the bill; docs/lambda.md, "Per-app metrics").
pub const ENV_APP_METRICS: &str = "PSU_SCHED_APP_METRICS";

/// `PSU_SCHED_CA_CERTS_FILE`: a file of PEM certificates of the CAs to trust besides the
/// system's roots, for apps whose HTTPS certificate a private CA signed (unset: the system's
/// roots only). The template sets it when a layer holds the file (docs/deploy.md).
pub const ENV_CA_CERTS_FILE: &str = "PSU_SCHED_CA_CERTS_FILE";

/// Every environment variable the tick function reads (`RUST_LOG` sets its log level). The
/// infrastructure template sets exactly these; a test checks it.
pub const FUNCTION_ENV: &[&str] = &[
    ENV_TABLE,
    ENV_CONCURRENCY,
    ENV_RETENTION_DAYS,
    ENV_ALLOW_PRIVATE_TARGETS,
    ENV_SIGNING_SECRET_ARN,
    ENV_SECRET_REFRESH,
    ENV_STACK,
    ENV_APP_METRICS,
    ENV_CA_CERTS_FILE,
    "RUST_LOG",
];

/// The secrets of a `PSU_SCHED_SIGNING_SECRET` value: comma-separated, newest first, blanks
/// dropped.
pub fn split_secrets(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The largest CA file read: a bundle of a few hundred certificates (Mozilla's whole store is
/// about 220 KB). A path to something endless (`/dev/zero`) is refused, not read forever.
const MAX_CA_FILE: u64 = 1 << 20;

/// `true` or `false`, in any case, around blanks.
fn boolean(variable: &'static str, value: String) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError {
            variable,
            value,
            accepted: "true or false",
        }),
    }
}

/// What a CA file must be, for its error line.
const CA_FILE_ACCEPTED: &str =
    "a readable file of one or more PEM certificates (-----BEGIN CERTIFICATE-----), up to 1 MiB";

/// The file at `path` when it holds one or more PEM certificates that decode, within
/// [`MAX_CA_FILE`], and no private key; else what is wrong with it.
fn read_ca_certs(path: &str) -> Result<Vec<u8>, &'static str> {
    use std::io::Read;
    // A regular file only: opening a FIFO would wait for a writer forever.
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    if !regular {
        return Err(CA_FILE_ACCEPTED);
    }
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_FILE + 1).read_to_end(&mut pem))
        .map_err(|_| CA_FILE_ACCEPTED)?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(CA_FILE_ACCEPTED);
    }
    // A key has no business in a trust store, and this file is deployed (a Lambda layer).
    if pem
        .windows(b"PRIVATE KEY".len())
        .any(|w| w == b"PRIVATE KEY")
    {
        return Err(
            "certificates only: the file holds a private key, which must not be deployed; keep the CA's certificate and remove its key",
        );
    }
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| CA_FILE_ACCEPTED)?;
    if certs.is_empty() {
        return Err(CA_FILE_ACCEPTED);
    }
    // The PEM framing is not all: the TLS layer decodes each certificate when the client is
    // built, and a damaged one must be refused here, naming the variable.
    reqwest::Client::builder()
        .tls_certs_merge(certs)
        .build()
        .map_err(
            |_| "one of its PEM certificates does not decode (a damaged or cut-off certificate)",
        )?;
    Ok(pem)
}

/// A configuration value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}=`{value}`: {accepted}")]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// What is accepted.
    pub accepted: &'static str,
}

/// The scheduler's settings.
#[derive(Clone)]
pub struct Config {
    /// The DynamoDB table.
    pub table: String,
    /// The tick's settings.
    pub tick: TickConfig,
    /// `PSU_SCHED_ALLOW_PRIVATE_TARGETS` as set: `None` when unset (each runner's default
    /// applies, see [`Config::private_targets`]).
    pub allow_private_targets: Option<bool>,
    /// The request-signing secrets, newest first as given (empty when unset). Never printed:
    /// `Debug` shows only how many there are.
    pub signing_secrets: Vec<String>,
    /// The ARN of the Secrets Manager secret to read the signing secrets from at run time
    /// (`PSU_SCHED_SIGNING_SECRET_ARN`); `signing_secrets` is then empty until it is read.
    pub signing_secret_arn: Option<String>,
    /// How long a secret read from Secrets Manager is used before it is read again.
    pub secret_refresh: Duration,
    /// The stack's name (`PSU_SCHED_STACK`): the `Stack` dimension of the function's metrics,
    /// which the stack's alarms filter on.
    pub stack: String,
    /// `PSU_SCHED_APP_METRICS`: the function's per-app metrics are on.
    pub app_metrics: bool,
    /// The PEM certificates read from `PSU_SCHED_CA_CERTS_FILE` (checked to hold at least
    /// one certificate), trusted besides the system's roots.
    pub ca_certs_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("table", &self.table)
            .field("tick", &self.tick)
            .field("allow_private_targets", &self.allow_private_targets)
            .field(
                "signing_secrets",
                &format_args!("[{} redacted]", self.signing_secrets.len()),
            )
            .field("signing_secret_arn", &self.signing_secret_arn)
            .field("secret_refresh", &self.secret_refresh)
            .field("stack", &self.stack)
            .field("app_metrics", &self.app_metrics)
            .field("ca_certs_pem", &self.ca_certs_pem.as_ref().map(Vec::len))
            .finish()
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let table = get(ENV_TABLE).unwrap_or_else(|| DEFAULT_TABLE.to_owned());
        let mut tick = TickConfig::default();
        if let Some(value) = get(ENV_CONCURRENCY) {
            tick.concurrency = value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or(ConfigError {
                    variable: ENV_CONCURRENCY,
                    value,
                    accepted: "a whole number from 1 to 1024",
                })?;
        } else {
            tick.concurrency = DEFAULT_CONCURRENCY;
        }
        if let Some(value) = get(ENV_RETENTION_DAYS) {
            let days = value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or(ConfigError {
                    variable: ENV_RETENTION_DAYS,
                    value,
                    accepted: "a whole number of days from 1 to 3650",
                })?;
            tick.retention = Duration::from_secs(days * 24 * 3600);
        } else {
            tick.retention = DEFAULT_RETENTION;
        }
        let allow_private_targets = get(ENV_ALLOW_PRIVATE_TARGETS)
            .map(|value| boolean(ENV_ALLOW_PRIVATE_TARGETS, value))
            .transpose()?;
        let signing_secrets = match get(ENV_SIGNING_SECRET) {
            None => Vec::new(),
            Some(value) => {
                let secrets = split_secrets(&value);
                if secrets.is_empty() {
                    // Taken for unset, it would turn signing off without a word.
                    return Err(ConfigError {
                        variable: ENV_SIGNING_SECRET,
                        value: "(not shown)".to_owned(),
                        accepted: "holds no secret, only commas and blanks; give the secret (new,old while rotating), or unset it to send calls unsigned",
                    });
                }
                secrets
            }
        };
        let secret_refresh = match get(ENV_SECRET_REFRESH) {
            None => DEFAULT_SECRET_REFRESH,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .map(Duration::from_secs)
                .ok_or(ConfigError {
                    variable: ENV_SECRET_REFRESH,
                    value,
                    accepted: "a whole number of seconds from 1 to 86400",
                })?,
        };
        // A CloudWatch dimension value: 1 to 1024 characters; a stack name is at most 128
        // letters, digits and hyphens.
        let stack = match get(ENV_STACK) {
            None => DEFAULT_STACK.to_owned(),
            Some(value) => {
                let name = value.trim();
                if name.len() <= 128
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    name.to_owned()
                } else {
                    return Err(ConfigError {
                        variable: ENV_STACK,
                        value,
                        accepted: "a stack name: up to 128 letters, digits, hyphens and underscores",
                    });
                }
            }
        };
        let app_metrics = get(ENV_APP_METRICS)
            .map(|value| boolean(ENV_APP_METRICS, value))
            .transpose()?
            .unwrap_or(false);
        let ca_certs_pem = match get(ENV_CA_CERTS_FILE) {
            None => None,
            Some(value) => Some(read_ca_certs(value.trim()).map_err(|accepted| ConfigError {
                variable: ENV_CA_CERTS_FILE,
                value,
                accepted,
            })?),
        };
        let config = Self {
            table,
            tick,
            allow_private_targets,
            signing_secrets,
            signing_secret_arn: None,
            secret_refresh,
            stack,
            app_metrics,
            ca_certs_pem,
        };
        match get(ENV_SIGNING_SECRET_ARN) {
            Some(arn) => config.with_signing_secret_arn(&arn),
            None => Ok(config),
        }
    }

    /// The configuration reading its signing secrets from the Secrets Manager secret `arn`
    /// (the CLI's `--signing-secret-arn`). Refused when it is not an ARN (its value is then not
    /// repeated: it may be a secret pasted in the wrong place) or when
    /// `PSU_SCHED_SIGNING_SECRET` is set too.
    pub fn with_signing_secret_arn(mut self, arn: &str) -> Result<Self, ConfigError> {
        let arn = arn.trim();
        if !(arn.starts_with("arn:") && arn.contains(":secretsmanager:")) {
            return Err(ConfigError {
                variable: ENV_SIGNING_SECRET_ARN,
                value: "(not shown)".to_owned(),
                accepted: "the ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX)",
            });
        }
        if !self.signing_secrets.is_empty() {
            return Err(ConfigError {
                variable: ENV_SIGNING_SECRET_ARN,
                value: arn.to_owned(),
                accepted: "unset while PSU_SCHED_SIGNING_SECRET is set: give the secret one way",
            });
        }
        self.signing_secret_arn = Some(arn.to_owned());
        Ok(self)
    }
}

/// Where the scheduler's code runs: it decides what an unset
/// `PSU_SCHED_ALLOW_PRIVATE_TARGETS` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The tick function in AWS: nothing private unless allowed.
    Lambda,
    /// The CLI on an operator's or developer's machine (`run`, `tick`, `serve`): local jobs
    /// live on loopback.
    Cli,
}

impl Config {
    /// Which private addresses jobs may call when run by `runner`: `true` allows all and
    /// `false` refuses all, anywhere; unset, the Lambda refuses all and the CLI allows
    /// loopback only (link-local and the metadata addresses stay refused: a job URL on
    /// 169.254.169.254 is never called from an operator's machine either).
    pub fn private_targets(&self, runner: Runner) -> PrivateTargets {
        match (self.allow_private_targets, runner) {
            (Some(true), _) => PrivateTargets::AllowAll,
            (Some(false), _) | (None, Runner::Lambda) => PrivateTargets::Refuse,
            (None, Runner::Cli) => PrivateTargets::AllowLoopback,
        }
    }

    /// The dispatcher's options for `runner`: the private-target policy, and the signing
    /// secrets whenever they are set.
    pub fn dispatch_options(&self, runner: Runner) -> DispatchOptions {
        DispatchOptions {
            private_targets: self.private_targets(runner),
            signing_secrets: self.signing_secrets.clone(),
            ca_certs_pem: self.ca_certs_pem.clone(),
        }
    }

    /// The scheduler's dispatcher for `runner`: signing secrets and private targets as
    /// configured. The Lambda and every CLI command (`run`, `tick`, `serve`) build theirs here.
    pub fn dispatcher(&self, runner: Runner) -> Result<HttpDispatcher, BuildError> {
        HttpDispatcher::with_options(self.dispatch_options(runner))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = read(&[]).expect("defaults");
        assert_eq!(config.table, "psu-scheduler");
        assert_eq!(config.tick.concurrency, 64);
        assert_eq!(config.tick.retention, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(config.allow_private_targets, None);
        assert!(config.signing_secrets.is_empty());
        assert_eq!(config.signing_secret_arn, None);
        assert_eq!(config.secret_refresh, Duration::from_secs(300));
        assert_eq!(config.stack, "default");
    }

    #[test]
    fn the_stack_name_is_read_and_checked() {
        let config = read(&[(ENV_STACK, "psu-sched-prod")]).expect("valid");
        assert_eq!(config.stack, "psu-sched-prod");
        let err = read(&[(ENV_STACK, "prod stack")]).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "PSU_SCHED_STACK=`prod stack`: a stack name: up to 128 letters, digits, hyphens and underscores"
        );
        assert!(read(&[(ENV_STACK, &"a".repeat(129))]).is_err());
    }

    const ARN: &str = "arn:aws:secretsmanager:us-west-2:123456789012:secret:psu-sched-AbCdEf";

    #[test]
    fn the_signing_secret_arn_and_its_refresh_interval_are_read_and_checked() {
        let config =
            read(&[(ENV_SIGNING_SECRET_ARN, ARN), (ENV_SECRET_REFRESH, "60")]).expect("valid");
        assert_eq!(config.signing_secret_arn.as_deref(), Some(ARN));
        assert_eq!(config.secret_refresh, Duration::from_secs(60));
        assert!(config.signing_secrets.is_empty(), "read at run time");
        assert!(format!("{config:?}").contains(ARN));

        let err = read(&[(ENV_SIGNING_SECRET_ARN, "s3cret-pasted-here")]).expect_err("no ARN");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(
            err.to_string().starts_with("PSU_SCHED_SIGNING_SECRET_ARN="),
            "{err}"
        );
        let err = read(&[
            (ENV_SIGNING_SECRET_ARN, ARN),
            (ENV_SIGNING_SECRET, "s3cret"),
        ])
        .expect_err("one way");
        assert!(err.to_string().contains("give the secret one way"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        for bad in ["0", "86401", "5m"] {
            let err = read(&[(ENV_SECRET_REFRESH, bad)]).expect_err("refused");
            assert_eq!(
                err.to_string(),
                format!(
                    "PSU_SCHED_SECRET_REFRESH_SECONDS=`{bad}`: a whole number of seconds from 1 to 86400"
                )
            );
        }
    }

    #[test]
    fn private_targets_are_three_state_and_unset_means_each_runners_default() {
        use PrivateTargets::{AllowAll, AllowLoopback, Refuse};
        let cases = [
            (None, Refuse, AllowLoopback),
            (Some("true"), AllowAll, AllowAll),
            (Some("TRUE"), AllowAll, AllowAll),
            (Some("false"), Refuse, Refuse),
        ];
        for (value, lambda, cli) in cases {
            let vars: Vec<(&str, &str)> = value
                .map(|v| vec![(ENV_ALLOW_PRIVATE_TARGETS, v)])
                .unwrap_or_default();
            let config = read(&vars).expect("valid");
            assert_eq!(config.private_targets(Runner::Lambda), lambda, "{value:?}");
            assert_eq!(config.private_targets(Runner::Cli), cli, "{value:?}");
        }
        let err = read(&[(ENV_ALLOW_PRIVATE_TARGETS, "yes")]).expect_err("rejected");
        assert_eq!(
            err.to_string(),
            "PSU_SCHED_ALLOW_PRIVATE_TARGETS=`yes`: true or false"
        );
    }

    #[test]
    fn a_ca_file_must_be_readable_and_hold_a_certificate() {
        assert!(read(&[]).expect("valid").ca_certs_pem.is_none());
        let dir = std::env::temp_dir().join(format!("psu-sched-config-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello").expect("write");
        let fifo = dir.join("fifo.pem");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        for path in [
            not_pem,
            dir.join("missing.pem"),
            "/dev/zero".into(),
            dir.clone(),
            fifo,
        ] {
            let path = path.to_str().expect("UTF-8").to_owned();
            let err = read(&[(ENV_CA_CERTS_FILE, &path)]).expect_err("refused");
            assert_eq!(
                err.to_string(),
                format!(
                    "PSU_SCHED_CA_CERTS_FILE=`{path}`: a readable file of one or more PEM certificates (-----BEGIN CERTIFICATE-----), up to 1 MiB"
                )
            );
        }
        let key = dir.join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        )
        .expect("write");
        let err = read(&[(ENV_CA_CERTS_FILE, key.to_str().expect("UTF-8"))]).expect_err("a key");
        assert!(err.to_string().contains("holds a private key"), "{err}");
        let damaged = dir.join("damaged.pem");
        std::fs::write(
            &damaged,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let err =
            read(&[(ENV_CA_CERTS_FILE, damaged.to_str().expect("UTF-8"))]).expect_err("damaged");
        assert!(err.to_string().contains("does not decode"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn per_app_metrics_are_off_unless_set_to_true() {
        assert!(!read(&[]).expect("valid").app_metrics);
        assert!(
            read(&[(ENV_APP_METRICS, "TRUE")])
                .expect("valid")
                .app_metrics
        );
        assert!(
            !read(&[(ENV_APP_METRICS, "false")])
                .expect("valid")
                .app_metrics
        );
        let err = read(&[(ENV_APP_METRICS, "1")]).expect_err("rejected");
        assert_eq!(err.to_string(), "PSU_SCHED_APP_METRICS=`1`: true or false");
    }

    #[test]
    fn signing_secrets_are_comma_separated_for_rotation_and_never_printed() {
        let config = read(&[(ENV_SIGNING_SECRET, " new-secret , old-secret,")]).expect("valid");
        assert_eq!(config.signing_secrets, vec!["new-secret", "old-secret"]);
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("new-secret") && !printed.contains("old-secret"),
            "{printed}"
        );
        assert!(printed.contains("[2 redacted]"), "{printed}");
    }

    #[test]
    fn a_signing_secret_of_only_commas_and_blanks_is_refused_not_taken_for_unset() {
        for value in [",", " , ", " ,, "] {
            let err = read(&[(ENV_SIGNING_SECRET, value)]).expect_err(value);
            assert_eq!(err.variable, ENV_SIGNING_SECRET, "{value:?}");
            assert!(err.to_string().contains("holds no secret"), "{err}");
        }
        // Empty (or blank) is unset: calls are not signed.
        for value in ["", "  "] {
            let config = read(&[(ENV_SIGNING_SECRET, value)]).expect("unset");
            assert!(config.signing_secrets.is_empty(), "{value:?}");
        }
    }

    #[test]
    fn a_bad_value_names_the_variable_and_what_is_accepted() {
        let err = read(&[(ENV_CONCURRENCY, "zero")]).expect_err("rejected");
        assert_eq!(
            err.to_string(),
            "PSU_SCHED_CONCURRENCY=`zero`: a whole number from 1 to 1024"
        );
        let config = read(&[(ENV_TABLE, "jobs"), (ENV_RETENTION_DAYS, "7")]).expect("valid");
        assert_eq!(
            (config.table.as_str(), config.tick.retention.as_secs()),
            ("jobs", 7 * 86400)
        );
    }
}
