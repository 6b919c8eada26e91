//! The switch of the ticks' due index from `due` (projection `ALL`) to `due-keys`
//! (`KEYS_ONLY`), without downtime (docs/design/scale.md, 2.7): a projection cannot change in
//! place, so the new index is built beside the old one (the template's update, or `init` for a
//! new table), and `META.due_index` names the one ticks read.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::IndexStatus;

use super::DynamoStore;
use super::codec::{GSI_PK, s};
use super::keys::{DUE_INDEX, DUE_KEYS_INDEX};
use crate::store::layout::{TableMeta, shard_key};
use crate::store::{DueIndexSwitch, StoreError};

/// How many times the indexes are compared before a difference is reported: an index is
/// eventually consistent, and a write made between the two Queries shows in one only.
const COMPARISONS: u32 = 5;
/// The pause between two comparisons.
const COMPARE_AGAIN_AFTER: Duration = Duration::from_secs(2);

impl DynamoStore {
    /// `Store::switch_due_index`: `due-keys` must be `ACTIVE` (`DescribeTable`) and hold, on
    /// every shard, the keys `due` holds (compared up to [`COMPARISONS`] times); then
    /// `META.due_index = due-keys`, conditional on the layout's version. A table without
    /// `due` (made by `init`) reads `due-keys` from the start.
    pub(super) async fn switch_to_keys_index(&self) -> Result<DueIndexSwitch, StoreError> {
        let meta = self.read_table_meta().await?;
        if meta.keys_index {
            return Ok(DueIndexSwitch::AlreadyKeys);
        }
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
        let Some(keys) = indexes
            .iter()
            .find(|i| i.index_name() == Some(DUE_KEYS_INDEX))
        else {
            return Ok(DueIndexSwitch::Missing);
        };
        let backfilling = keys.backfilling() == Some(true);
        match keys.index_status() {
            Some(IndexStatus::Active) if !backfilling => {}
            status => {
                let status = match status {
                    Some(s) if backfilling => format!("{} (backfilling)", s.as_str()),
                    Some(s) => s.as_str().to_owned(),
                    None => "unknown".to_owned(),
                };
                return Ok(DueIndexSwitch::NotActive(status));
            }
        }
        if indexes.iter().any(|i| i.index_name() == Some(DUE_INDEX)) {
            for shard in 0..meta.shards {
                if let Some(differs) = self.compare_shard(&shard_key(shard)).await? {
                    return Ok(differs);
                }
            }
        }
        // A raise of the shard count meanwhile changes the version, not the indexes' content
        // (both index every item): write again over the layout read again.
        let mut meta = meta;
        loop {
            let switched = TableMeta {
                keys_index: true,
                version: meta.version + 1,
                ..meta
            };
            if self.write_table_meta(&switched, meta.version).await? {
                return Ok(DueIndexSwitch::Switched);
            }
            meta = self.read_table_meta().await?;
            if meta.keys_index {
                return Ok(DueIndexSwitch::AlreadyKeys);
            }
        }
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
            .await?;
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
