//! The switch of the ticks' due index from `due` (projection `ALL`) to `due-keys`
//! (`KEYS_ONLY`), without downtime (docs/design/scale.md, 2.7): a projection cannot change in
//! place, so the new index is built beside the old one (the template's update, or `init` for a
//! new table), and `META.due_index` names the one ticks read.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::{GlobalSecondaryIndexDescription, IndexStatus, ProjectionType};

use super::DynamoStore;
use super::codec::{GSI_PK, GSI_SK, s};
use super::keys::{DUE_INDEX, DUE_KEYS_INDEX};
use crate::store::layout::{TableMeta, shard_key};
use crate::store::{DueIndexSwitch, StoreError};

/// How many times the indexes are compared before a difference is reported: an index is
/// eventually consistent, and a write made between the two Queries shows in one only.
const COMPARISONS: u32 = 5;
/// The pause between two comparisons.
const COMPARE_AGAIN_AFTER: Duration = Duration::from_secs(2);

impl DynamoStore {
    /// `Store::switch_due_index`: `due-keys` must be `ACTIVE` (`DescribeTable`), not
    /// backfilling, on the due index's keys with projection `KEYS_ONLY`, and hold, on every
    /// shard, the keys `due` holds (compared up to [`COMPARISONS`] times); then
    /// `META.due_index = due-keys`, conditional on the layout's version. A table without `due`
    /// (made by `init`, or a stack without its legacy index) switches without comparing. Ticks
    /// that read a `due-keys` the table no longer has (or cannot use) are moved back to `due`
    /// when the table has it, and the problem reported.
    pub(super) async fn switch_to_keys_index(&self) -> Result<DueIndexSwitch, StoreError> {
        let meta = self.read_table_meta().await?;
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.failed("DescribeTable", e))?;
        let indexes = described
            .table()
            .map(|t| t.global_secondary_indexes())
            .unwrap_or_default();
        let has_legacy = indexes.iter().any(|i| i.index_name() == Some(DUE_INDEX));
        let problem = keys_index_problem(
            indexes
                .iter()
                .find(|i| i.index_name() == Some(DUE_KEYS_INDEX)),
        );
        if let Some(problem) = problem {
            if meta.keys_index && has_legacy {
                self.write_keys_index(meta, false).await?;
            }
            return Ok(problem);
        }
        if meta.keys_index {
            return Ok(DueIndexSwitch::AlreadyKeys);
        }
        if has_legacy {
            for shard in 0..meta.shards {
                if let Some(differs) = self.compare_shard(&shard_key(shard)).await? {
                    return Ok(differs);
                }
            }
        }
        self.write_keys_index(meta, true).await?;
        Ok(DueIndexSwitch::Switched { legacy: has_legacy })
    }

    /// Writes `META.due_index` (`keys`: `due-keys`), over `meta` or, after losing a race with
    /// another writer of the layout (a raise of the shards changes only the version and the
    /// counts), over the layout read again.
    async fn write_keys_index(&self, meta: TableMeta, keys: bool) -> Result<(), StoreError> {
        let mut meta = meta;
        while meta.keys_index != keys {
            let switched = TableMeta {
                keys_index: keys,
                version: meta.version + 1,
                ..meta
            };
            if self.write_table_meta(&switched, meta.version).await? {
                return Ok(());
            }
            meta = self.read_table_meta().await?;
        }
        Ok(())
    }

    /// `None` when both indexes hold the same keys under `shard`, within [`COMPARISONS`].
    async fn compare_shard(&self, shard: &str) -> Result<Option<DueIndexSwitch>, StoreError> {
        let mut last = None;
        for attempt in 0..COMPARISONS {
            if attempt > 0 {
                tokio::time::sleep(COMPARE_AGAIN_AFTER).await;
            }
            let old = self.index_keys(DUE_INDEX, shard).await?;
            let new = self.index_keys(DUE_KEYS_INDEX, shard).await?;
            if old == new {
                return Ok(None);
            }
            last = Some(DueIndexSwitch::Differs {
                shard: shard.to_owned(),
                only_old: old.difference(&new).count(),
                only_new: new.difference(&old).count(),
            });
        }
        Ok(last)
    }

    /// The (`pk`, `sk`) of every entry of `index` under `shard`.
    async fn index_keys(
        &self,
        index: &'static str,
        shard: &str,
    ) -> Result<BTreeSet<(String, String)>, StoreError> {
        let entries = self
            .query_all(
                "Query",
                || {
                    self.client
                        .query()
                        .table_name(&self.table)
                        .index_name(index)
                        .key_condition_expression("#gpk = :shard")
                        .projection_expression("#pk, #sk")
                        .expression_attribute_names("#gpk", GSI_PK)
                        .expression_attribute_names("#pk", "pk")
                        .expression_attribute_names("#sk", "sk")
                        .expression_attribute_values(":shard", s(shard))
                },
                None,
            )
            .await
            .map_err(|e| super::shards::named_index(e, index))?;
        Ok(entries
            .iter()
            .map(|item| {
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                (text("pk"), text("sk"))
            })
            .collect())
    }
}

/// Why the table's `due-keys` cannot be read by ticks now, if it cannot: missing, being
/// built or deleted, or on other keys or another projection than the due index's.
fn keys_index_problem(index: Option<&GlobalSecondaryIndexDescription>) -> Option<DueIndexSwitch> {
    let Some(index) = index else {
        return Some(DueIndexSwitch::Missing);
    };
    let keys: Vec<String> = index
        .key_schema()
        .iter()
        .map(|k| format!("{} {}", k.attribute_name(), k.key_type().as_str()))
        .collect();
    let wanted = [format!("{GSI_PK} HASH"), format!("{GSI_SK} RANGE")];
    if keys != wanted {
        return Some(DueIndexSwitch::Unusable(format!(
            "its keys are {}, not {} (partition) and {} (sort)",
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            },
            GSI_PK,
            GSI_SK
        )));
    }
    let projection = index
        .projection()
        .and_then(|p| p.projection_type())
        .map_or("none", |p| p.as_str());
    if projection != ProjectionType::KeysOnly.as_str() {
        return Some(DueIndexSwitch::Unusable(format!(
            "its projection is {projection}, not KEYS_ONLY"
        )));
    }
    let backfilling = index.backfilling() == Some(true);
    match index.index_status() {
        Some(IndexStatus::Active) if !backfilling => None,
        Some(IndexStatus::Deleting) => Some(DueIndexSwitch::Deleting),
        Some(status) if backfilling => Some(DueIndexSwitch::NotActive(format!(
            "{} (backfilling)",
            status.as_str()
        ))),
        Some(status) => Some(DueIndexSwitch::NotActive(status.as_str().to_owned())),
        None => Some(DueIndexSwitch::NotActive("unknown".to_owned())),
    }
}
