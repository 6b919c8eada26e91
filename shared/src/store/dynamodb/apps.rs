//! App records: one item each under the apps' one partition (`pk = APPS`, `sk = APP#<name>`,
//! `kind = app`), outside the due index. Each write is one conditional request whose
//! condition expression [`rules`] documents clause by clause; the `Store` impl calls them.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::codec::{APPS_PK, Item, app_item, app_sk, from_item, n, s, strip_keys, ts};
use super::{DynamoStore, is_condition_failure};
use crate::model::{App, AppName};
use crate::store::{StoreError, rules};

impl DynamoStore {
    /// `Store::create_app`: a PutItem under `attribute_not_exists(pk)`; a refusal's old item is
    /// judged by [`rules::create_app`].
    pub(super) async fn write_app_created(&self, app: &App) -> Result<(), StoreError> {
        let Some(there) = self.put_if_absent(app_item(app)?).await? else {
            return Ok(());
        };
        let there: Option<App> = there.map(from_item).transpose()?;
        match rules::create_app(there.as_ref(), app) {
            rules::Create::Done => Ok(()),
            // Refused without the item: the name was taken when the condition was checked.
            rules::Create::Taken | rules::Create::Write => {
                Err(StoreError::AppExists(app.name.clone()))
            }
        }
    }

    /// `Store::get_app`: one consistent GetItem.
    pub(super) async fn read_app(&self, name: &AppName) -> Result<Option<App>, StoreError> {
        match self.get_item(APPS_PK.to_owned(), app_sk(name)).await? {
            Some(item) => Ok(Some(from_item(strip_keys(item))?)),
            None => Ok(None),
        }
    }

    /// `Store::list_apps`: one consistent Query of the apps' partition (one page per MB of
    /// records), sorted by name as its sort key is.
    pub(super) async fn read_apps(&self) -> Result<Vec<App>, StoreError> {
        let items = self
            .query_all(
                "Query",
                || {
                    self.client
                        .query()
                        .table_name(&self.table)
                        .key_condition_expression("pk = :pk AND begins_with(sk, :app)")
                        .expression_attribute_values(":pk", s(APPS_PK))
                        .expression_attribute_values(":app", s("APP#"))
                        .consistent_read(true)
                },
                None,
            )
            .await?;
        let mut apps: Vec<App> = items
            .into_iter()
            .map(|i| from_item(strip_keys(i)))
            .collect::<Result<_, _>>()?;
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(apps)
    }

    /// `Store::put_app`: a PutItem under [`rules::may_replace_app`]'s condition, clause by
    /// clause: `attribute_exists(pk) AND #created = :created AND (#version = :ev OR
    /// (#version = :nv AND #base = :base AND #budget = :budget AND #updated = :updated))`.
    pub(super) async fn write_app_put(
        &self,
        app: &App,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let names = HashMap::from(
            [
                ("#created", "created_at"),
                ("#version", "version"),
                ("#base", "base_url"),
                ("#budget", "budget"),
                ("#updated", "updated_at"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let values: Item = HashMap::from([
            (":created".to_owned(), ts(app.created_at)),
            (":ev".to_owned(), n(expected_version as i64)),
            (":nv".to_owned(), n(app.version as i64)),
            (":base".to_owned(), s(app.base_url.as_str())),
            (":budget".to_owned(), n(i64::from(app.budget))),
            (":updated".to_owned(), ts(app.updated_at)),
        ]);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(app_item(app)?))
            .condition_expression(
                "attribute_exists(pk) AND #created = :created AND (#version = :ev OR \
                 (#version = :nv AND #base = :base AND #budget = :budget AND #updated = :updated))",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("PutItem", e)),
        }
    }

    /// `Store::delete_app`, as `delete_job` does it: a consistent GetItem, then a DeleteItem
    /// conditioned on the `created_at` read (`#created = :created`), so neither it nor the
    /// SDK's retry of it deletes a record created again under the name meanwhile; refused, the
    /// record read is gone (this very delete retried, or another one) and is returned.
    pub(super) async fn write_app_deleted(
        &self,
        name: &AppName,
    ) -> Result<Option<App>, StoreError> {
        let Some(read) = self.read_app(name).await? else {
            return Ok(None);
        };
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(APPS_PK))
            .key("sk", s(app_sk(name)))
            .condition_expression("#created = :created")
            .expression_attribute_names("#created", "created_at")
            .expression_attribute_values(":created", ts(read.created_at))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes {
                Some(item) if !item.is_empty() => Ok(Some(from_item(strip_keys(item))?)),
                _ => Ok(Some(read)),
            },
            Err(e) if is_condition_failure(&e) => Ok(Some(read)),
            Err(e) => Err(self.failed("DeleteItem", e)),
        }
    }
}

impl DynamoStore {
    /// Puts a new item under `attribute_not_exists(pk)`. `None`: written. `Some(old)`: refused,
    /// with the item that was there (its keys stripped) when DynamoDB returned it, so the
    /// caller can tell its own earlier write (a retry after a lost answer) from another one.
    pub(super) async fn put_if_absent(
        &self,
        item: Item,
    ) -> Result<Option<Option<Item>>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(e) if is_condition_failure(&e) => Ok(Some(match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(refused) => {
                    refused.item.filter(|i| !i.is_empty()).map(strip_keys)
                }
                _ => None,
            })),
            Err(e) => Err(self.failed("PutItem", e)),
        }
    }
}
