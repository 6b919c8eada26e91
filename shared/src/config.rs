//! Typed configuration from the environment, with the same variable names everywhere (the
//! Lambda, the CLI, the template). AWS settings are not here: they come from the SDK's own
//! chain (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`...).

use std::time::Duration;

use crate::store::dynamodb::DEFAULT_TABLE;
use crate::tick::{DEFAULT_CONCURRENCY, DEFAULT_RETENTION, TickConfig};

/// `PSU_SCHED_TABLE`: the DynamoDB table (default `psu-scheduler`).
pub const ENV_TABLE: &str = "PSU_SCHED_TABLE";
/// `PSU_SCHED_CONCURRENCY`: calls in flight at once (default 32).
pub const ENV_CONCURRENCY: &str = "PSU_SCHED_CONCURRENCY";
/// `PSU_SCHED_RETENTION_DAYS`: days execution records are kept (default 30).
pub const ENV_RETENTION_DAYS: &str = "PSU_SCHED_RETENTION_DAYS";

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
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table.
    pub table: String,
    /// The tick's settings.
    pub tick: TickConfig,
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
        Ok(Self { table, tick })
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
        assert_eq!(config.tick.concurrency, 32);
        assert_eq!(config.tick.retention, Duration::from_secs(30 * 24 * 3600));
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
