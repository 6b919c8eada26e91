//! Item conversion: values to DynamoDB items and back, the items' keys, and the due index's
//! attributes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue as AV;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::keys::TTL_ATTRIBUTE;
pub(super) use super::keys::{APPS_PK, DUE, GSI_PK, GSI_SK};
use crate::model::{App, AppName, Execution, ExecutionId, Job, JobId, JobName};
use crate::store::StoreError;

/// A DynamoDB item.
pub(super) type Item = HashMap<String, AV>;

pub(super) fn s(v: impl Into<String>) -> AV {
    AV::S(v.into())
}

pub(super) fn n(v: i64) -> AV {
    AV::N(v.to_string())
}

/// Removes `Null` attributes (serde's `None`), recursively, so that `attribute_not_exists`
/// means "not set" and items stay small.
fn strip_nulls(item: &mut Item) {
    item.retain(|_, v| !matches!(v, AV::Null(_)));
    for v in item.values_mut() {
        if let AV::M(m) = v {
            strip_nulls(m);
        }
    }
}

pub(super) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Malformed(e.to_string()))?;
    strip_nulls(&mut item);
    Ok(item)
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Malformed(e.to_string()))
}

pub(super) fn job_pk(app: &AppName) -> String {
    format!("APP#{app}")
}
pub(super) fn job_sk(name: &JobName) -> String {
    format!("JOB#{name}")
}
pub(super) fn exec_pk(job: &JobId) -> String {
    format!("JOB#{job}")
}
pub(super) fn exec_sk(id: &ExecutionId) -> String {
    format!("EXEC#{}", id.slot_key())
}

pub(super) fn app_sk(name: &AppName) -> String {
    format!("APP#{name}")
}

/// The `kind` of an app's directory entry (`pk = APPS`, `sk = DIR#<app>`): an app that has or
/// had jobs, found by one Query of `APPS` (docs/data-model.md, "Listing every job").
pub(super) const DIR_KIND: &str = "dir";

pub(super) fn dir_sk(name: &AppName) -> String {
    format!("DIR#{name}")
}

/// An app record's item: `pk = APPS`, `sk = APP#<name>`, `kind = app`, and never the due
/// index's attributes (`gsi1pk`, `gsi1sk`): the due index and job listings never see it.
pub(super) fn app_item(app: &App) -> Result<Item, StoreError> {
    let mut item = to_item(app)?;
    item.insert("pk".into(), s(APPS_PK));
    item.insert("sk".into(), s(app_sk(&app.name)));
    item.insert("kind".into(), s("app"));
    Ok(item)
}

/// A job's item, in the due index under `index_key` (its app's shard: `DynamoStore::index_key`)
/// while it is due at some time.
pub(super) fn job_item(job: &Job, index_key: &str) -> Result<Item, StoreError> {
    let mut item = to_item(job)?;
    item.insert("pk".into(), s(job_pk(&job.app)));
    item.insert("sk".into(), s(job_sk(&job.name)));
    item.insert("kind".into(), s("job"));
    if let Some(at) = job.index_at() {
        item.insert(GSI_PK.into(), s(index_key));
        item.insert(GSI_SK.into(), n(at.timestamp_millis()));
    }
    Ok(item)
}

/// An execution's item, in the due index under `index_key` while it is unfinished.
pub(super) fn exec_item(exec: &Execution, index_key: &str) -> Result<Item, StoreError> {
    let mut item = to_item(exec)?;
    item.insert("pk".into(), s(exec_pk(exec.id.job_id())));
    item.insert("sk".into(), s(exec_sk(&exec.id)));
    item.insert("kind".into(), s("exec"));
    item.insert(TTL_ATTRIBUTE.into(), n(exec.expires_at.timestamp()));
    if let Some(at) = exec.index_at() {
        item.insert(GSI_PK.into(), s(index_key));
        item.insert(GSI_SK.into(), n(at.timestamp_millis()));
    }
    Ok(item)
}

pub(super) fn strip_keys(mut item: Item) -> Item {
    for k in ["pk", "sk", "kind", GSI_PK, GSI_SK, TTL_ATTRIBUTE] {
        item.remove(k);
    }
    item
}

pub(super) fn ts(at: DateTime<Utc>) -> AV {
    // The same text serde writes for a DateTime<Utc>, so conditions compare like with like.
    s(serde_json::to_value(at)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default())
}
