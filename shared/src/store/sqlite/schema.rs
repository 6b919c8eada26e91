//! The schema, connecting to the file, and the row codec: jobs, executions and apps to rows (a
//! JSON `body` beside the columns they are found by) and back.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend;
use crate::model::{App, AppName, Execution, ExecutionId, Job};
use crate::store::StoreError;

/// The schema version this code writes (`PRAGMA user_version`): 1, jobs and executions; 2, app
/// records (issue 16).
pub const SCHEMA_VERSION: i64 = 2;
/// How long a connection waits for another one's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema of version 1, as first written: a new file gets it, then every migration.
pub(super) const SCHEMA_V1: &str = "
CREATE TABLE jobs (
    app    TEXT NOT NULL,
    name   TEXT NOT NULL,
    id     TEXT NOT NULL,
    due_at INTEGER,
    body   TEXT NOT NULL,
    PRIMARY KEY (app, name)
) WITHOUT ROWID;
CREATE INDEX jobs_due ON jobs (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE executions (
    job_id     TEXT NOT NULL,
    slot_key   TEXT NOT NULL,
    due_at     INTEGER,
    expires_at INTEGER NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (job_id, slot_key)
) WITHOUT ROWID;
CREATE INDEX executions_due ON executions (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX executions_expires ON executions (expires_at);
";

/// The migrations, in order: `(the version it brings the file to, its SQL)`. An existing file
/// gets those above its own version, in the same transaction as the version's update.
const MIGRATIONS: &[(i64, &str)] = &[(
    2,
    "
CREATE TABLE apps (
    name TEXT NOT NULL PRIMARY KEY,
    body TEXT NOT NULL
) WITHOUT ROWID;
",
)];

/// Opens (creating if needed) the file, sets the connection up and brings the schema to
/// [`SCHEMA_VERSION`].
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| backend("SQLite create directory", e))?;
    }
    let mut conn = Connection::open(path).map_err(|e| backend("SQLite open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| backend("SQLite busy_timeout", e))?;
    // WAL: readers never block the writer, and a commit is one append. The returned mode is
    // checked: a file system without shared memory (some network mounts) stays in another
    // mode, which is still correct, only slower.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| backend("SQLite PRAGMA journal_mode", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "SQLite did not switch to WAL mode");
    }
    // FULL: a claim is on disk before its call is sent, even across a power loss.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| backend("SQLite PRAGMA synchronous", e))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| backend("SQLite BEGIN", e))?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| backend("SQLite PRAGMA user_version", e))?;
    match version {
        0..SCHEMA_VERSION => {
            // A new file starts at version 1, then migrates like any older file.
            let from = if version == 0 {
                tx.execute_batch(SCHEMA_V1)
                    .map_err(|e| backend("SQLite CREATE TABLE", e))?;
                1
            } else {
                version
            };
            for (_, sql) in MIGRATIONS.iter().filter(|(to, _)| *to > from) {
                tx.execute_batch(sql)
                    .map_err(|e| backend("SQLite migrate schema", e))?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(|e| backend("SQLite PRAGMA user_version", e))?;
        }
        SCHEMA_VERSION => {}
        other => {
            return Err(StoreError::Malformed(format!(
                "{} has schema version {other}; this psu-sched knows up to {SCHEMA_VERSION}: upgrade psu-sched",
                path.display()
            )));
        }
    }
    tx.commit().map_err(|e| backend("SQLite COMMIT", e))?;
    Ok(conn)
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Malformed(e.to_string()))
}

pub(super) fn from_json<T: DeserializeOwned>(body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Malformed(e.to_string()))
}

/// Epoch microseconds: the unit of the `due_at` and `expires_at` columns.
pub(super) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(super) fn read_job(
    conn: &Connection,
    app: &str,
    name: &str,
) -> Result<Option<Job>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM jobs WHERE app = ?1 AND name = ?2")
        .and_then(|mut st| st.query_row(params![app, name], |r| r.get(0)).optional())
        .map_err(|e| backend("SQLite SELECT job", e))?;
    body.as_deref().map(from_json).transpose()
}

pub(super) fn write_job(conn: &Connection, job: &Job) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO jobs (app, name, id, due_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (app, name) DO UPDATE SET id = excluded.id, due_at = excluded.due_at, body = excluded.body",
    )
    .and_then(|mut st| {
        st.execute(params![
            job.app.as_str(),
            job.name.as_str(),
            job.id.as_str(),
            job.index_at().map(micros),
            to_json(job).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
        ])
    })
    .map_err(|e| backend("SQLite write job", e))?;
    Ok(())
}

pub(super) fn read_exec(
    conn: &Connection,
    id: &ExecutionId,
) -> Result<Option<Execution>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM executions WHERE job_id = ?1 AND slot_key = ?2")
        .and_then(|mut st| {
            st.query_row(params![id.job_id().as_str(), id.slot_key()], |r| r.get(0))
                .optional()
        })
        .map_err(|e| backend("SQLite SELECT execution", e))?;
    body.as_deref().map(from_json).transpose()
}

pub(super) fn write_exec(conn: &Connection, exec: &Execution) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO executions (job_id, slot_key, due_at, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (job_id, slot_key) DO UPDATE SET due_at = excluded.due_at, expires_at = excluded.expires_at, body = excluded.body",
    )
    .and_then(|mut st| {
        st.execute(params![
            exec.id.job_id().as_str(),
            exec.id.slot_key(),
            exec.index_at().map(micros),
            micros(exec.expires_at),
            to_json(exec).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
        ])
    })
    .map_err(|e| backend("SQLite write execution", e))?;
    Ok(())
}

pub(super) fn read_app(conn: &Connection, name: &AppName) -> Result<Option<App>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM apps WHERE name = ?1")
        .and_then(|mut st| {
            st.query_row(params![name.as_str()], |r| r.get(0))
                .optional()
        })
        .map_err(|e| backend("SQLite SELECT app", e))?;
    body.as_deref().map(from_json).transpose()
}

pub(super) fn write_app(conn: &Connection, app: &App) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO apps (name, body) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET body = excluded.body",
    )
    .and_then(|mut st| {
        st.execute(params![
            app.name.as_str(),
            to_json(app).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
        ])
    })
    .map_err(|e| backend("SQLite write app", e))?;
    Ok(())
}
