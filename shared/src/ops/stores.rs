//! Which store the operations use, as a person names it (`sqlite:PATH`, `dynamodb:TABLE`),
//! opening it, and making it ready (`init`).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::error::{FieldError, Message, OpsError};
use crate::config::{Config, ENV_TABLE};
use crate::model::AppName;
use crate::store::dynamodb::DynamoStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};

/// Where the jobs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// A DynamoDB table, reached with the SDK's standard settings.
    Dynamo(String),
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A store opened by the caller ([`super::Ops::with_store`]), by its name.
    Given(String),
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSpec::Dynamo(table) => write!(f, "dynamodb:{table}"),
            StoreSpec::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreSpec::Given(name) => f.write_str(name),
        }
    }
}

impl StoreSpec {
    /// True for a DynamoDB table (the only store with shards and an app directory).
    pub fn is_dynamo(&self) -> bool {
        matches!(self, StoreSpec::Dynamo(_))
    }

    /// The store `setting` names (`sqlite:PATH` or `dynamodb:TABLE`); without one, the
    /// table in `PSU_SCHED_TABLE` when set, else the embedded file
    /// `$XDG_DATA_HOME/psu-sched/psu-sched.db` (the platform's data directory).
    pub fn from_setting(setting: Option<&str>) -> Result<Self, OpsError> {
        match setting.map(str::trim).filter(|s| !s.is_empty()) {
            None => {
                if std::env::var(ENV_TABLE).is_ok_and(|t| !t.trim().is_empty()) {
                    Ok(StoreSpec::Dynamo(Config::from_env()?.table))
                } else {
                    Ok(StoreSpec::Sqlite(default_sqlite_path()?))
                }
            }
            Some(spec) => match spec.split_once(':') {
                Some(("dynamodb", table)) if !table.is_empty() => {
                    Ok(StoreSpec::Dynamo(table.to_owned()))
                }
                Some(("sqlite", path)) if !path.is_empty() => Ok(StoreSpec::Sqlite(path.into())),
                _ => Err(FieldError::plain(
                    "store",
                    format!("`{spec}` is not accepted; use sqlite:PATH or dynamodb:TABLE"),
                )
                .into()),
            },
        }
    }
}

/// The embedded store's default file: `$XDG_DATA_HOME/psu-sched/psu-sched.db`, else the
/// platform's data directory (`~/.local/share` on Linux).
fn default_sqlite_path() -> Result<PathBuf, FieldError> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(dirs::data_dir)
        .ok_or_else(|| {
            FieldError::new(
                "store",
                Message::text("no data directory (HOME is not set); give ")
                    .field("store")
                    .and(" sqlite:PATH"),
            )
        })?;
    Ok(base.join("psu-sched").join("psu-sched.db"))
}

/// An open store of any kind.
pub(super) enum AnyStore {
    Dynamo(DynamoStore),
    Sqlite(SqliteStore),
    Given(Arc<dyn Store>),
}

impl AnyStore {
    pub(super) fn as_store(&self) -> &dyn Store {
        match self {
            AnyStore::Dynamo(s) => s,
            AnyStore::Sqlite(s) => s,
            AnyStore::Given(s) => s.as_ref(),
        }
    }
}

pub(super) async fn open(spec: &StoreSpec) -> Result<AnyStore, OpsError> {
    Ok(match spec {
        StoreSpec::Dynamo(table) => AnyStore::Dynamo(DynamoStore::from_env(table.clone()).await),
        StoreSpec::Sqlite(path) => {
            AnyStore::Sqlite(SqliteStore::open(path).await.map_err(|e| OpsError::Open {
                path: path.display().to_string(),
                source: Box::new(e),
            })?)
        }
        StoreSpec::Given(name) => {
            return Err(FieldError::plain("store", format!("`{name}` was not opened")).into());
        }
    })
}

/// What `init` found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Init {
    /// The database (SQLite, or a store opened by the caller) is ready.
    Ready,
    /// The DynamoDB table was already there.
    TableExists(String),
    /// The DynamoDB table was created.
    TableCreated(String),
}

pub(super) async fn init(store: &AnyStore) -> Result<Init, OpsError> {
    let AnyStore::Dynamo(store) = store else {
        return Ok(Init::Ready);
    };
    let probe = AppName::parse("psu-sched-init").map_err(FieldError::from)?;
    match store.list_jobs(Some(&probe)).await {
        Ok(_) => return Ok(Init::TableExists(store.table().to_owned())),
        Err(StoreError::TableMissing(_)) => {}
        Err(source) => {
            return Err(OpsError::Store {
                doing: "read the table",
                source,
            });
        }
    }
    store
        .create_table()
        .await
        .map_err(OpsError::store("create the table"))?;
    Ok(Init::TableCreated(store.table().to_owned()))
}
