//! The due index's shards on DynamoDB (docs/design/scale.md, 2.2): one `Query` per shard a
//! tick reads, and the operators' pass that moves items to their app's shard.

use aws_sdk_dynamodb::types::AttributeValue as AV;
use chrono::{DateTime, Utc};

use super::codec::{GSI_PK, GSI_SK, Item, from_item, n, s, strip_keys};
use super::keys::{DUE_INDEX, TTL_ATTRIBUTE};
use super::{DynamoStore, is_condition_failure};
use crate::model::AppName;
use crate::store::layout::{shard_key, shard_of};
use crate::store::{DueItem, Resharded, ShardLease, StoreError};

impl DynamoStore {
    /// `Store::due_in`: one `Query` of the due index per shard (more when a shard's answer
    /// passes 1 MB), items due at or before `now`, oldest first across the shards.
    pub(super) async fn query_due(
        &self,
        now: DateTime<Utc>,
        shards: &[u32],
    ) -> Result<Vec<DueItem>, StoreError> {
        let mut found: Vec<(i64, Item)> = Vec::new();
        for &shard in shards {
            let key = shard_key(shard);
            let items = self
                .query_all(
                    "Query",
                    || {
                        self.client
                            .query()
                            .table_name(&self.table)
                            .index_name(DUE_INDEX)
                            .key_condition_expression("#pk = :shard AND #sk <= :now")
                            .expression_attribute_names("#pk", GSI_PK)
                            .expression_attribute_names("#sk", GSI_SK)
                            .expression_attribute_values(":shard", s(key.clone()))
                            .expression_attribute_values(":now", n(now.timestamp_millis()))
                    },
                    None,
                )
                .await?;
            found.extend(items.into_iter().map(|item| (due_ms(&item), item)));
        }
        // Each shard's answer is in order already; a stable sort merges them.
        found.sort_by_key(|(at, _)| *at);
        found.into_iter().map(|(_, item)| due_item(item)).collect()
    }

    /// `Store::reshard`: reads every shard's entries (keys, kind, app), and moves each entry
    /// whose app belongs in another shard (by the shard count writers use now) with an
    /// UpdateItem conditional on the shard it was found in: an item rewritten since (by a
    /// writer, which put it where it belongs, or out of the index) is left alone.
    pub(super) async fn move_to_shards(&self) -> Result<Resharded, StoreError> {
        let meta = self.read_table_meta().await?;
        let writers = meta.writer_shards(Utc::now());
        // Every shard's entries first, then the moves: an entry moved into a shard not read
        // yet would otherwise be counted a second time.
        let mut found: Vec<(String, Item)> = Vec::new();
        for shard in 0..meta.shards {
            let key = shard_key(shard);
            let entries = self
                .query_all(
                    "Query",
                    || {
                        self.client
                            .query()
                            .table_name(&self.table)
                            .index_name(DUE_INDEX)
                            .key_condition_expression("#pk = :shard")
                            .projection_expression("#p, #s, #app")
                            .expression_attribute_names("#p", "pk")
                            .expression_attribute_names("#s", "sk")
                            .expression_attribute_names("#app", "app")
                            .expression_attribute_names("#pk", GSI_PK)
                            .expression_attribute_values(":shard", s(key.clone()))
                    },
                    None,
                )
                .await?;
            found.extend(entries.into_iter().map(|entry| (key.clone(), entry)));
        }
        let mut done = Resharded::default();
        for (key, entry) in found {
            let app = entry
                .get("app")
                .and_then(|v| v.as_s().ok())
                .and_then(|name| AppName::parse(name).ok())
                .ok_or_else(|| {
                    StoreError::Malformed(format!(
                        "an item in the due index's shard {key} has no app name"
                    ))
                })?;
            let target = shard_key(shard_of(&app, writers));
            if target == key {
                done.in_place += 1;
            } else if self.move_entry(&entry, &key, &target).await? {
                done.moved += 1;
            } else {
                done.changed += 1;
            }
        }
        Ok(done)
    }

    /// `Store::lease_shard`: one UpdateItem of `pk = LEASES, sk = <shard>#<minute>`, its
    /// condition [`rules::may_take_lease`] clause by clause (no lease, the same holder, or one
    /// whose `until` passed). The item expires a day after its minute.
    pub(super) async fn write_lease(
        &self,
        lease: &ShardLease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(LEASES_PK))
            .key("sk", s(lease_sk(lease)))
            .update_expression("SET #kind = :kind, holder = :me, #until = :until, #ttl = :ttl")
            .condition_expression("attribute_not_exists(pk) OR holder = :me OR #until < :now")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":kind", s("lease"))
            .expression_attribute_values(":me", s(lease.holder.clone()))
            .expression_attribute_values(":until", n(lease.until.timestamp_millis()))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(
                ":ttl",
                n((lease.minute + chrono::Duration::days(1)).timestamp()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }

    /// `Store::release_shard`: `until` set to the past if the holder still has it.
    pub(super) async fn write_lease_released(&self, lease: &ShardLease) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(LEASES_PK))
            .key("sk", s(lease_sk(lease)))
            .update_expression("SET #until = :past")
            .condition_expression("holder = :me")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":me", s(lease.holder.clone()))
            .expression_attribute_values(":past", n(0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }

    /// Moves one item's index entry from shard key `from` to `to` if it is still in `from`.
    async fn move_entry(&self, entry: &Item, from: &str, to: &str) -> Result<bool, StoreError> {
        let key = |name: &str| entry.get(name).cloned().unwrap_or(AV::S(String::new()));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key("pk"))
            .key("sk", key("sk"))
            .update_expression("SET #pk = :to")
            .condition_expression("#pk = :from")
            .expression_attribute_names("#pk", GSI_PK)
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }
}

/// The partition of the shard leases: no job (`APP#`), execution (`JOB#`), app record
/// (`APPS`) or the `META` item shares it.
const LEASES_PK: &str = "LEASES";

/// A lease's sort key: `<shard>#<minute, epoch seconds>`.
fn lease_sk(lease: &ShardLease) -> String {
    format!("{}#{}", lease.shard, lease.minute.timestamp())
}

/// The index sort key of an item (epoch milliseconds); 0 if it has none (it then came from
/// an index that has it, so it has).
fn due_ms(item: &Item) -> i64 {
    item.get(GSI_SK)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A due-index item as the job or execution it is.
fn due_item(item: Item) -> Result<DueItem, StoreError> {
    let kind = item
        .get("kind")
        .and_then(|k| k.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let item = strip_keys(item);
    match kind.as_str() {
        "job" => Ok(DueItem::Job(Box::new(from_item(item)?))),
        "exec" => Ok(DueItem::Execution(Box::new(from_item(item)?))),
        other => Err(StoreError::Malformed(format!(
            "unknown item kind `{other}` in the due index"
        ))),
    }
}
