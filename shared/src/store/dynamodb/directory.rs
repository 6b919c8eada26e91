//! Listing every job without a Scan (docs/data-model.md, "Listing every job"): the app
//! directory in the `APPS` partition names every app that has jobs, and each app's jobs are
//! one Query of its partition. Every job create writes its app's entry; `psu-sched table
//! upgrade` writes those of jobs created before, then the directory's completion mark (`sk =
//! DIR`). Until the mark is there, listing every job falls back to a Scan.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::{StreamExt, TryStreamExt};

use super::DynamoStore;
use super::codec::{APPS_PK, DIR_KIND, Item, dir_sk, s};
use crate::model::AppName;
use crate::store::StoreError;

/// The directory's completion mark's sort key (in `APPS`): every app with jobs has its entry.
const DIR_MARK: &str = "DIR";

/// How many apps' Queries a listing keeps in flight.
const LISTING_QUERIES_AT_ONCE: usize = 8;

impl DynamoStore {
    /// Every job item of the table: one Query of `APPS`, then, with the directory complete,
    /// one Query of each app's partition (each more only past 1 MB); without it, a consistent
    /// Scan.
    pub(super) async fn query_every_job(&self) -> Result<Vec<Item>, StoreError> {
        let entries = self
            .query_all(
                "Query",
                || {
                    self.client
                        .query()
                        .table_name(&self.table)
                        .key_condition_expression("pk = :apps")
                        .expression_attribute_values(":apps", s(APPS_PK))
                        .projection_expression("sk")
                        .consistent_read(true)
                },
                None,
            )
            .await?;
        let complete = entries.iter().any(|e| {
            e.get("sk")
                .and_then(|sk| sk.as_s().ok())
                .map(String::as_str)
                == Some(DIR_MARK)
        });
        if !complete {
            return self.scan_jobs().await;
        }
        // Records (`APP#`) and directory entries (`DIR#`): an app with a record but no entry has
        // no jobs; one with an entry but no record is still listed.
        let apps: BTreeSet<String> = entries
            .iter()
            .filter_map(|e| e.get("sk")?.as_s().ok())
            .filter_map(|sk| sk.strip_prefix("DIR#").or_else(|| sk.strip_prefix("APP#")))
            .map(str::to_owned)
            .collect();
        let per_app: Vec<Vec<Item>> = futures::stream::iter(apps)
            .map(|app| async move {
                let pk = format!("APP#{app}");
                self.query_all(
                    "Query",
                    || {
                        self.client
                            .query()
                            .table_name(&self.table)
                            .key_condition_expression("pk = :pk AND begins_with(sk, :job)")
                            .expression_attribute_values(":pk", s(pk.clone()))
                            .expression_attribute_values(":job", s("JOB#"))
                            .consistent_read(true)
                    },
                    None,
                )
                .await
            })
            .buffer_unordered(LISTING_QUERIES_AT_ONCE)
            .try_collect()
            .await?;
        Ok(per_app.into_iter().flatten().collect())
    }

    /// Every job item by a consistent Scan filtered on `kind = job` (the listing of a table
    /// without the directory; the tick never scans).
    async fn scan_jobs(&self) -> Result<Vec<Item>, StoreError> {
        self.scan_all(|scan| {
            scan.filter_expression("kind = :job")
                .expression_attribute_values(":job", s("job"))
        })
        .await
    }

    async fn scan_all(
        &self,
        build: impl Fn(
            aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = build(self.client.scan().table_name(&self.table))
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| self.failed("Scan", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    /// `Store::write_app_directory`: one Scan of the jobs' partition keys (a one-time pass,
    /// not a listing), then an entry for every app found, 25 to a BatchWriteItem.
    pub(super) async fn fill_directory(&self) -> Result<usize, StoreError> {
        let jobs = self
            .scan_all(|scan| {
                scan.filter_expression("kind = :job")
                    .projection_expression("pk")
                    .expression_attribute_values(":job", s("job"))
            })
            .await?;
        let apps: BTreeSet<AppName> = jobs
            .iter()
            .filter_map(|j| j.get("pk")?.as_s().ok()?.strip_prefix("APP#"))
            .filter_map(|name| AppName::parse(name).ok())
            .collect();
        self.put_directory_entries(apps.iter()).await?;
        self.put_directory_mark().await?;
        Ok(apps.len())
    }

    /// Puts the directory's completion mark: every app with jobs has its entry (true of a new
    /// table, whose `create_table` puts it, and after [`Self::fill_directory`]).
    pub(super) async fn put_directory_mark(&self) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(APPS_PK))
            .item("sk", s(DIR_MARK))
            .item("kind", s(DIR_KIND))
            .send()
            .await
            .map_err(|e| self.failed("PutItem", e))?;
        Ok(())
    }

    /// Puts the directory entries of `apps` (idempotent: an entry is only its key and kind).
    pub(super) async fn put_directory_entries<'a>(
        &self,
        apps: impl Iterator<Item = &'a AppName>,
    ) -> Result<(), StoreError> {
        let apps: BTreeSet<&AppName> = apps.collect();
        let requests = apps
            .into_iter()
            .map(|app| {
                PutRequest::builder()
                    .item("pk", s(APPS_PK))
                    .item("sk", s(dir_sk(app)))
                    .item("kind", s(DIR_KIND))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|e| StoreError::Backend {
                        operation: "BatchWriteItem",
                        source: Box::new(e),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for chunk in requests.chunks(25) {
            self.batch_write(chunk.to_vec()).await?;
        }
        Ok(())
    }
}
