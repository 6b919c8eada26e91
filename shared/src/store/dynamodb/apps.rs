//! App records: one item each under the apps' one partition (`pk = APPS`, `sk = APP#<name>`,
//! `kind = app`), outside the due index. Each write is one conditional request whose
//! condition expression [`rules`] documents clause by clause; the `Store` impl calls them.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};

use super::codec::{
    APPS_PK, DIR_KIND, Item, app_item, app_sk, dir_sk, from_item, job_item, n, s, strip_keys, ts,
};
use super::transact::Transacted;
use super::{DynamoStore, is_condition_failure};
use crate::model::{App, AppName, Job};
use crate::store::{DeleteIf, Store, StoreError, rules};

/// How many times a job's create is sent when its transaction was refused but neither of its
/// conditions is found failing when read back (the app's record changed in between).
const CREATE_ATTEMPTS: usize = 3;

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

    /// `Store::create_job`: one TransactWriteItems ([`rules::may_create_job`]): a
    /// `ConditionCheck` that the app's record is there and not being deleted (a job by path:
    /// `attribute_exists(pk) AND attribute_not_exists(deleting)`), or absent or not being
    /// deleted (a job by URL: `attribute_not_exists(pk) OR attribute_not_exists(deleting)`),
    /// and the job's `Put` under
    /// `attribute_not_exists(pk)`. Refused, consistent reads tell which: the job by that name
    /// (this very create, applied before and its answer lost, is `Done`; another is `Taken`, by
    /// [`rules::create_job`]), else the app's record being deleted.
    pub(super) async fn write_job_created(&self, job: &Job) -> Result<(), StoreError> {
        let built = |e| StoreError::Backend {
            operation: "TransactWriteItems",
            source: Box::new(e),
        };
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(APPS_PK))
            .key("sk", s(app_sk(&job.app)))
            .condition_expression(if job.path.is_some() {
                "attribute_exists(pk) AND attribute_not_exists(#deleting)"
            } else {
                "attribute_not_exists(pk) OR attribute_not_exists(#deleting)"
            })
            .expression_attribute_names("#deleting", "deleting")
            .build()
            .map_err(built)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(job_item(job, &self.index_key(&job.app))?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(built)?;
        // The app's entry in the directory, so that listing every job finds the app without a
        // Scan (an app without a record included); unconditional, it is the same for every job.
        let directory = Update::builder()
            .table_name(&self.table)
            .key("pk", s(APPS_PK))
            .key("sk", s(dir_sk(&job.app)))
            .update_expression("SET #kind = :dir")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":dir", s(DIR_KIND))
            .build()
            .map_err(built)?;
        for attempt in 1..=CREATE_ATTEMPTS {
            let request = self
                .client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(check.clone())
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().put(put.clone()).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .update(directory.clone())
                        .build(),
                )
                // A retry of this very request (the SDK's, after a lost answer) is the same
                // transaction to DynamoDB; each of our own attempts is a new one.
                .client_request_token(format!("{}-{attempt}", job.id));
            if self.transact(request).await? == Transacted::Applied {
                return Ok(());
            }
            let stored = self.get_job(&job.app, &job.name).await?;
            match rules::create_job(stored.as_ref(), job) {
                rules::Create::Done => return Ok(()),
                rules::Create::Taken => {
                    return Err(StoreError::AlreadyExists(job.app.clone(), job.name.clone()));
                }
                rules::Create::Write => {}
            }
            if !rules::may_create_job(self.read_app(&job.app).await?.as_ref(), job) {
                return Err(StoreError::AppDeleting(job.app.clone()));
            }
        }
        Err(StoreError::AppDeleting(job.app.clone()))
    }

    /// `Store::delete_app_at`: a DeleteItem under `#created = :created AND #version = :v`
    /// ([`rules::may_delete_app`]); refused, a consistent read tells `Gone` from `Changed`.
    pub(super) async fn write_app_deleted_at(&self, read: &App) -> Result<DeleteIf, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(APPS_PK))
            .key("sk", s(app_sk(&read.name)))
            .condition_expression("#created = :created AND #version = :v")
            .expression_attribute_names("#created", "created_at")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":created", ts(read.created_at))
            .expression_attribute_values(":v", n(read.version as i64))
            .send()
            .await;
        match result {
            Ok(_) => Ok(DeleteIf::Deleted),
            Err(e) if is_condition_failure(&e) => Ok(match self.read_app(&read.name).await? {
                None => DeleteIf::Gone,
                Some(_) => DeleteIf::Changed,
            }),
            Err(e) => Err(self.failed("DeleteItem", e)),
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
