//! Consistent batch reads: the items behind the keys a `KEYS_ONLY` index returns
//! (docs/design/scale.md, 2.5, "A `KEYS_ONLY` index").

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::DynamoStore;
use super::codec::Item;
use crate::store::StoreError;

/// The most keys one `BatchGetItem` takes.
pub(super) const BATCH_GET_KEYS: usize = 100;

impl DynamoStore {
    /// The items at `keys` (each a `pk` and `sk`), read consistently: one `BatchGetItem` per
    /// [`BATCH_GET_KEYS`], resending what DynamoDB leaves unprocessed (with backoff). Keys
    /// without an item are left out; the order is not the keys'. `projection` names the
    /// attributes to read (all when empty).
    pub(super) async fn batch_get(
        &self,
        keys: Vec<Item>,
        projection: &[&str],
    ) -> Result<Vec<Item>, StoreError> {
        let names: HashMap<String, String> = projection
            .iter()
            .enumerate()
            .map(|(i, name)| (format!("#a{i}"), (*name).to_owned()))
            .collect();
        let expression = (0..projection.len())
            .map(|i| format!("#a{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_KEYS) {
            let request = |keys: Vec<Item>| {
                let projected = !projection.is_empty();
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .set_projection_expression(projected.then(|| expression.clone()))
                    .set_expression_attribute_names(projected.then(|| names.clone()))
                    .build()
                    .map_err(|e| StoreError::Backend {
                        operation: "BatchGetItem",
                        source: Box::new(e),
                    })
            };
            let mut pending = HashMap::from([(self.table.clone(), request(chunk.to_vec())?)]);
            let mut backoff = Duration::from_millis(50);
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(|e| self.failed("BatchGetItem", e))?;
                for (_, items) in out.responses.unwrap_or_default() {
                    found.extend(items);
                }
                pending = out.unprocessed_keys.unwrap_or_default();
                pending.retain(|_, v| !v.keys().is_empty());
                if !pending.is_empty() {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        Ok(found)
    }
}
