//! The due index's shards on DynamoDB (docs/design/scale.md, 2.2): one `Query` per shard a
//! tick reads, and the operators' pass that moves items to their app's shard.

use aws_sdk_dynamodb::types::AttributeValue as AV;
use chrono::{DateTime, Utc};

use super::codec::{GSI_PK, GSI_SK, Item, from_item, n, s, strip_keys};
use super::format::index_name;
use super::keys::TTL_ATTRIBUTE;
use super::{DynamoStore, is_condition_failure};
use crate::model::AppName;
use crate::store::layout::{shard_key, shard_of};
use crate::store::{DueItem, Resharded, ShardLease, StoreError};

impl DynamoStore {
    /// `Store::due_in`: one `Query` of the due index per shard (more when a shard's answer
    /// passes 1 MB), items due at or before `now`, oldest first across the shards. Through the
    /// `KEYS_ONLY` index ([`TableMeta::keys_index`]) the `Query` returns keys, and the items
    /// come from consistent `BatchGetItem`s (one per 100 keys found): an item whose own index
    /// key has left the shard or moved past `now` since the index saw it is left out (its
    /// entry, wherever it is now, is what counts).
    pub(super) async fn query_due(
        &self,
        now: DateTime<Utc>,
        shards: &[u32],
    ) -> Result<Vec<DueItem>, StoreError> {
        let meta = self.recent_meta().await?;
        let mut found: Vec<(i64, Item)> = Vec::new();
        let mut keys: Vec<Item> = Vec::new();
        for &shard in shards {
            let key = shard_key(shard);
            let items = self
                .query_all(
                    "Query",
                    || {
                        self.client
                            .query()
                            .table_name(&self.table)
                            .index_name(index_name(&meta))
                            .key_condition_expression("#pk = :shard AND #sk <= :now")
                            .expression_attribute_names("#pk", GSI_PK)
                            .expression_attribute_names("#sk", GSI_SK)
                            .expression_attribute_values(":shard", s(key.clone()))
                            .expression_attribute_values(":now", n(now.timestamp_millis()))
                    },
                    None,
                )
                .await
                .map_err(|e| named_index(e, index_name(&meta)))?;
            if meta.keys_index {
                keys.extend(items.into_iter().map(primary_key));
            } else {
                found.extend(items.into_iter().map(|item| (due_ms(&item), item)));
            }
        }
        // An entry moving between two shards read here may be in both for a moment: a batch
        // read refuses a key given twice.
        let mut seen = std::collections::HashSet::new();
        keys.retain(|key| {
            let text = |name: &str| key.get(name).and_then(|v| v.as_s().ok()).cloned();
            seen.insert((text("pk"), text("sk")))
        });
        if meta.keys_index && !keys.is_empty() {
            let read: std::collections::HashSet<String> =
                shards.iter().map(|&shard| shard_key(shard)).collect();
            let items = self.batch_get(keys, &[]).await?;
            found.extend(
                items
                    .into_iter()
                    .filter(|item| {
                        item.get(GSI_PK)
                            .and_then(|v| v.as_s().ok())
                            .is_some_and(|shard| read.contains(shard))
                            && item.contains_key(GSI_SK)
                            && due_ms(item) <= now.timestamp_millis()
                    })
                    .map(|item| (due_ms(&item), item)),
            );
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
        let index = index_name(&meta);
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
                            .index_name(index)
                            .key_condition_expression("#pk = :shard")
                            .expression_attribute_names("#pk", GSI_PK)
                            .expression_attribute_values(":shard", s(key.clone()))
                    },
                    None,
                )
                .await
                .map_err(|e| named_index(e, index))?;
            let entries = if meta.keys_index {
                // Keys only: the app is on the item. An item whose entry has left this shard
                // since is its writer's: the move's condition leaves it anyway.
                let keys = entries.into_iter().map(primary_key).collect();
                self.batch_get(keys, &["pk", "sk", "app", GSI_PK])
                    .await?
                    .into_iter()
                    .filter(|item| item.get(GSI_PK).and_then(|v| v.as_s().ok()) == Some(&key))
                    .collect()
            } else {
                entries
            };
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

/// A Query's failure for want of its index, naming it.
pub(super) fn named_index(error: StoreError, index: &str) -> StoreError {
    match error {
        StoreError::IndexMissing { table, .. } => StoreError::IndexMissing {
            table,
            index: index.to_owned(),
        },
        other => other,
    }
}

/// An item's primary key (`pk`, `sk`), for a batch read.
fn primary_key(mut item: Item) -> Item {
    item.retain(|name, _| name == "pk" || name == "sk");
    item
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
