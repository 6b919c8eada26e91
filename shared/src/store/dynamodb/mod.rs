//! The DynamoDB adapter: one table, one sparse index on the next due time.
//!
//! Items (see `docs/data-model.md`):
//! - job: `pk = APP#<app>`, `sk = JOB#<name>`, `kind = job`;
//! - execution: `pk = JOB#<job id>`, `sk = EXEC#<slot>#<s|m><attempt>`, `kind = exec`,
//!   `expires` (epoch seconds, the table's TTL attribute);
//! - app record: `pk = APPS`, `sk = APP#<name>`, `kind = app`: all in one partition, so
//!   `list_apps` is one Query; never in the due index;
//! - the table-format marker: `pk = META`, `sk = FORMAT`, `kind = meta`, `format` (a number).
//!
//! Jobs and executions carry `gsi1pk = DUE` and `gsi1sk = <epoch milliseconds>` while the tick has something to
//! do with them (a job's next slot or retry; an execution's lease or deadline). Paused and
//! ended jobs, and finished executions, drop out of the index, so the tick's one Query reads
//! only what is due.
//!
//! Here: the store, its client and the [`Store`] impl's reads and job writes. Beside it:
//! `codec.rs` (values to items and back, keys), `apps.rs` (app records), `table.rs` (table creation, the operations IAM
//! must allow), `counter.rs` (requests counted), `endpoint.rs` (local endpoint or AWS's), `format.rs` (the table-format marker), `keys.rs` (the names codec and table share),
//! `transact.rs` (TransactWriteItems and its cancellation reasons) and `transitions.rs` (an
//! execution's conditional writes, each documented clause by clause against
//! [`rules`](super::rules)).

mod apps;
mod batch;
mod codec;
#[cfg(any(test, feature = "test-util"))]
mod counter;
mod directory;
mod endpoint;
mod format;
mod keys;
mod shards;
mod switch;
mod table;
#[cfg(test)]
mod tests;
mod transact;
mod transitions;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{DateTime, Utc};

use super::layout::TableMeta;
use super::{
    Claim, ClaimOutcome, DeleteIf, DueItem, ExecutionPage, GuardEnd, Outcome, Recorded, Store,
    StoreError,
};
use super::{DueIndexSwitch, Resharded, ShardLease};
use crate::model::{App, AppName, Execution, ExecutionId, Job, JobId, JobName};
use codec::{Item, exec_pk, exec_sk, from_item, job_item, job_pk, job_sk, n, s, strip_keys};
use endpoint::endpoint_of;

#[cfg(any(test, feature = "test-util"))]
pub use counter::RequestCounter;
pub use endpoint::is_loopback_endpoint;
pub use keys::APPS_PK;
pub use keys::{DUE_INDEX, DUE_KEYS_INDEX, TTL_ATTRIBUTE};
pub use table::{OPERATIONS, Operation};

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Requests counted by operation (tests and benchmarks only).
    #[cfg(any(test, feature = "test-util"))]
    counter: RequestCounter,
    endpoint: Option<String>,
    /// No region in the configuration: every request fails before it is sent.
    region_missing: bool,
    /// When this process last read the layout of a table whose format it knows, and that
    /// layout (`format.rs`): writes read the `META` item again once it is older than
    /// `FORMAT_RECHECK`, and put items in the due index's shards it names.
    meta_known: Arc<Mutex<Option<(Instant, TableMeta)>>>,
}

/// What kind of failure an SDK error is, read from its type and its error code (never from
/// its text).
enum Failure {
    Unavailable,
    Credentials,
    Throttled,
    Other,
}

fn failure_kind<E, R>(err: &SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err.code() {
        Some(
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded",
        ) => return Failure::Throttled,
        Some(
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "MissingAuthenticationTokenException"
            | "ExpiredTokenException"
            | "IncompleteSignatureException",
        ) => return Failure::Credentials,
        _ => {}
    }
    // No credentials at all: the credentials provider's error is in the chain.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<aws_credential_types::provider::error::CredentialsError>() {
            return Failure::Credentials;
        }
        source = e.source();
    }
    match err {
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => Failure::Unavailable,
        SdkError::TimeoutError(_) => Failure::Unavailable,
        _ => Failure::Other,
    }
}

/// A single-item write refused by its condition. A transaction's cancellation is read by its
/// reasons instead (`transact.rs`): only some of them are a failed condition.
fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    /// A store on `table`, with a client built from `sdk_config` (the SDK's default chain:
    /// `AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`... all work).
    pub fn new(sdk_config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let builder = aws_sdk_dynamodb::config::Builder::from(sdk_config);
        #[cfg(any(test, feature = "test-util"))]
        let counter = RequestCounter::default();
        #[cfg(any(test, feature = "test-util"))]
        let builder = builder.interceptor(counter.clone());
        Self {
            client: Client::from_conf(builder.build()),
            table: table.into(),
            #[cfg(any(test, feature = "test-util"))]
            counter,
            endpoint: endpoint_of(sdk_config),
            region_missing: sdk_config.region().is_none(),
            meta_known: Arc::default(),
        }
    }

    /// Loads the SDK's default configuration from the environment and builds a store.
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(&config, table)
    }

    /// The endpoint set in the configuration (`AWS_ENDPOINT_URL_DYNAMODB`,
    /// `AWS_ENDPOINT_URL`, or in code); `None` means AWS's own for the region.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The request counter of this store's client (feature `test-util`: tests and benchmarks).
    #[cfg(any(test, feature = "test-util"))]
    pub fn requests(&self) -> &RequestCounter {
        &self.counter
    }

    /// The underlying client (feature `test-util`: tests and benchmarks).
    #[cfg(any(test, feature = "test-util"))]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The store error for a failed request, by kind: the table missing, no region, the
    /// network, credentials, throttling, or anything else.
    pub(super) fn failed<E, R>(&self, operation: &'static str, err: SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        // DynamoDB answers a Query of an index the table lacks with a ValidationException
        // naming the index (moto: ResourceNotFoundException "Invalid index").
        if matches!(
            err.code(),
            Some("ResourceNotFoundException" | "ValidationException")
        ) && err.message().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("does not have the specified index") || m.contains("invalid index")
        }) {
            return StoreError::IndexMissing {
                table: self.table.clone(),
                index: String::new(),
            };
        }
        if err.code() == Some("ResourceNotFoundException") {
            return StoreError::TableMissing(self.table.clone());
        }
        let kind = failure_kind(&err);
        let source: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
        match kind {
            // Not sent at all: without a region the SDK can neither resolve nor sign.
            Failure::Other if self.region_missing => StoreError::NoRegion { operation, source },
            Failure::Unavailable => StoreError::Unavailable { operation, source },
            Failure::Credentials => StoreError::Credentials { operation, source },
            Failure::Throttled => StoreError::Throttled { operation, source },
            Failure::Other => StoreError::Backend { operation, source },
        }
    }

    async fn get_item(&self, pk: String, sk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.failed("GetItem", e))?;
        Ok(out.item)
    }

    /// An UpdateItem of one execution's item.
    fn update_execution(
        &self,
        id: &ExecutionId,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(exec_pk(id.job_id())))
            .key("sk", s(exec_sk(id)))
    }

    /// The Query for a job's executions (`pk = JOB#<id>`, `sk` from `EXEC#`), one page.
    fn executions_query(
        &self,
        job: &JobId,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :exec)")
            .expression_attribute_values(":pk", s(exec_pk(job)))
            .expression_attribute_values(":exec", s("EXEC#"))
    }

    async fn query_all(
        &self,
        operation: &'static str,
        build: impl Fn() -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = build().set_exclusive_start_key(start.take());
            if let Some(limit) = limit {
                let left = limit.saturating_sub(items.len()).clamp(1, 1000);
                q = q.limit(i32::try_from(left).unwrap_or(1000));
            }
            let out = q.send().await.map_err(|e| self.failed(operation, e))?;
            items.extend(out.items.unwrap_or_default());
            if limit.is_some_and(|l| items.len() >= l) {
                break;
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Sends up to 25 writes in one BatchWriteItem, resending what DynamoDB leaves
    /// unprocessed (with backoff) until every write is applied.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut pending = HashMap::from([(self.table.clone(), requests)]);
        let mut backoff = Duration::from_millis(50);
        while !pending.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(|e| self.failed("BatchWriteItem", e))?;
            pending = out.unprocessed_items.unwrap_or_default();
            pending.retain(|_, v| !v.is_empty());
            if !pending.is_empty() {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        Ok(())
    }

    /// The condition of a job's replacement, [`rules::may_replace_job`](super::rules::may_replace_job)
    /// clause by clause: the job exists (`attribute_exists(pk)`), is the same job (`#id = :id`:
    /// not one deleted and created again under its name) and is at the version the writer read
    /// (`#state.#version = :ev`) or is this very write (`#state.#version = :nv AND
    /// #state.#writer = :w`, only with a writer token).
    fn job_condition(job: &Job, expected_version: u64) -> (String, Item) {
        let mut values: Item = HashMap::new();
        values.insert(":id".into(), s(job.id.as_str()));
        values.insert(":ev".into(), n(expected_version as i64));
        let mut cond = "#state.#version = :ev".to_owned();
        if let Some(writer) = &job.state.writer {
            values.insert(":nv".into(), n(job.state.version as i64));
            values.insert(":w".into(), s(writer.clone()));
            cond = format!("({cond} OR (#state.#version = :nv AND #state.#writer = :w))");
        }
        (
            format!("attribute_exists(pk) AND #id = :id AND {cond}"),
            values,
        )
    }
}

fn job_names(job: &Job) -> HashMap<String, String> {
    let mut names = HashMap::from([
        ("#id".to_owned(), "id".to_owned()),
        ("#state".to_owned(), "state".to_owned()),
        ("#version".to_owned(), "version".to_owned()),
    ]);
    if job.state.writer.is_some() {
        names.insert("#writer".to_owned(), "writer".to_owned());
    }
    names
}

#[async_trait]
impl Store for DynamoStore {
    fn is_local(&self) -> bool {
        self.endpoint.as_deref().is_some_and(is_loopback_endpoint)
    }

    fn has_app_directory(&self) -> bool {
        true
    }

    async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        self.ensure_format().await?;
        self.write_job_created(job).await
    }

    async fn import_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        self.ensure_format().await?;
        for chunk in jobs.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for job in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(job_item(job, &self.index_key(&job.app))?))
                    .build()
                    .map_err(|e| StoreError::Backend {
                        operation: "BatchWriteItem",
                        source: Box::new(e),
                    })?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            self.batch_write(requests).await?;
        }
        self.put_directory_entries(jobs.iter().map(|job| &job.app))
            .await
    }

    async fn get_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        match self.get_item(job_pk(app), job_sk(name)).await? {
            Some(item) => Ok(Some(from_item(strip_keys(item))?)),
            None => Ok(None),
        }
    }

    async fn list_jobs(&self, app: Option<&AppName>) -> Result<Vec<Job>, StoreError> {
        let items = match app {
            Some(app) => {
                let pk = job_pk(app);
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
                .await?
            }
            None => self.query_every_job().await?,
        };
        let mut jobs: Vec<Job> = items
            .into_iter()
            .map(|i| from_item(strip_keys(i)))
            .collect::<Result<_, _>>()?;
        jobs.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
        Ok(jobs)
    }

    async fn put_job(&self, job: &Job, expected_version: u64) -> Result<bool, StoreError> {
        self.ensure_format().await?;
        let (cond, values) = Self::job_condition(job, expected_version);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(job, &self.index_key(&job.app))?))
            .condition_expression(cond)
            .set_expression_attribute_names(Some(job_names(job)))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("PutItem", e)),
        }
    }

    async fn delete_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        self.ensure_format().await?;
        // Read first: an unconditional DeleteItem whose answer is lost is sent again by the
        // SDK, finds nothing and answers nothing, and the deleted job (its id, to purge its
        // history) would be lost with the answer. The delete is conditioned on the id read,
        // so neither it nor the SDK's retry of it ever deletes a job created again under the
        // name meanwhile.
        let Some(read) = self.get_job(app, name).await? else {
            return Ok(None);
        };
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(app)))
            .key("sk", s(job_sk(name)))
            .condition_expression("#id = :id")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":id", s(read.id.as_str()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match result {
            // The job as it was deleted (a tick may have written it since the read).
            Ok(out) => match out.attributes {
                Some(item) if !item.is_empty() => Ok(Some(from_item(strip_keys(item))?)),
                _ => Ok(Some(read)),
            },
            // The job read is gone: deleted by this very request, whose answer was lost (the
            // SDK sent it again), or by another delete at the same moment. Either way it is
            // gone, as asked; telling the two apart would change nothing for the caller.
            Err(e) if is_condition_failure(&e) => Ok(Some(read)),
            Err(e) => Err(self.failed("DeleteItem", e)),
        }
    }

    async fn delete_job_if_unchanged(&self, read: &Job) -> Result<DeleteIf, StoreError> {
        self.ensure_format().await?;
        let updated_at = serde_dynamo::to_attribute_value(read.updated_at)
            .map_err(|e| StoreError::Malformed(format!("updated_at: {e}")))?;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(&read.app)))
            .key("sk", s(job_sk(&read.name)))
            .condition_expression("#id = :id AND #updated = :updated")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_values(":id", s(read.id.as_str()))
            .expression_attribute_values(":updated", updated_at)
            .send()
            .await;
        match result {
            Ok(_) => Ok(DeleteIf::Deleted),
            // Refused: a consistent read tells a changed job from none (deleted already, or
            // this very delete sent again by the SDK after its answer was lost).
            Err(e) if is_condition_failure(&e) => {
                Ok(match self.get_job(&read.app, &read.name).await? {
                    Some(_) => DeleteIf::Changed,
                    None => DeleteIf::Gone,
                })
            }
            Err(e) => Err(self.failed("DeleteItem", e)),
        }
    }

    async fn create_app(&self, app: &App) -> Result<(), StoreError> {
        self.ensure_format().await?;
        self.write_app_created(app).await
    }

    async fn get_app(&self, name: &AppName) -> Result<Option<App>, StoreError> {
        self.read_app(name).await
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        self.read_apps().await
    }

    async fn table_format(&self) -> Result<u64, StoreError> {
        self.read_table_format().await
    }

    async fn table_meta(&self) -> Result<TableMeta, StoreError> {
        self.read_table_meta().await
    }

    async fn put_table_meta(
        &self,
        meta: &TableMeta,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        self.write_table_meta(meta, expected_version).await
    }

    async fn lease_shard(
        &self,
        lease: &ShardLease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write_lease(lease, now).await
    }

    async fn release_shard(&self, lease: &ShardLease) -> Result<(), StoreError> {
        self.write_lease_released(lease).await
    }

    async fn write_app_directory(&self) -> Result<usize, StoreError> {
        self.ensure_format().await?;
        self.fill_directory().await
    }

    async fn reshard(&self) -> Result<Resharded, StoreError> {
        self.ensure_format().await?;
        self.move_to_shards().await
    }

    async fn switch_due_index(&self) -> Result<DueIndexSwitch, StoreError> {
        self.ensure_format().await?;
        self.switch_to_keys_index().await
    }

    async fn put_app(&self, app: &App, expected_version: u64) -> Result<bool, StoreError> {
        self.ensure_format().await?;
        self.write_app_put(app, expected_version).await
    }

    async fn delete_app(&self, name: &AppName) -> Result<Option<App>, StoreError> {
        self.ensure_format().await?;
        self.write_app_deleted(name).await
    }

    async fn delete_app_at(&self, read: &App) -> Result<DeleteIf, StoreError> {
        self.ensure_format().await?;
        self.write_app_deleted_at(read).await
    }

    async fn due_in(&self, now: DateTime<Utc>, shards: &[u32]) -> Result<Vec<DueItem>, StoreError> {
        self.query_due(now, shards).await
    }

    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        self.ensure_format().await?;
        self.write_claim(claim).await
    }

    async fn mark_dispatched(
        &self,
        id: &ExecutionId,
        token: &str,
        key_hash: &str,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write_dispatched(id, token, key_hash, at, deadline)
            .await
    }

    async fn release_dispatch(
        &self,
        id: &ExecutionId,
        token: &str,
        due_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write_released(id, token, due_at).await
    }

    async fn record_outcome(
        &self,
        id: &ExecutionId,
        token: &str,
        outcome: &Outcome,
    ) -> Result<Recorded, StoreError> {
        self.write_outcome(id, token, outcome).await
    }

    async fn untrack(&self, seen: &Execution) -> Result<bool, StoreError> {
        self.ensure_format().await?;
        self.write_untracked(seen).await
    }

    async fn reconcile(
        &self,
        seen: &Execution,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write_reconciled(seen, error, now).await
    }

    async fn guard_start(
        &self,
        id: &ExecutionId,
        key_hash: &str,
        nonce: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write_guard_start(id, key_hash, nonce, at).await
    }

    async fn guard_end(
        &self,
        id: &ExecutionId,
        nonce: &str,
        end: &GuardEnd,
    ) -> Result<bool, StoreError> {
        self.write_guard_end(id, nonce, end).await
    }

    async fn take_guard_end(&self, seen: &Execution, token: &str) -> Result<bool, StoreError> {
        self.write_guard_end_taken(seen, token).await
    }

    async fn get_execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        match self.get_item(exec_pk(id.job_id()), exec_sk(id)).await? {
            Some(item) => Ok(Some(from_item(strip_keys(item))?)),
            None => Ok(None),
        }
    }

    async fn delete_executions(&self, job: &JobId) -> Result<usize, StoreError> {
        self.ensure_format().await?;
        let items = self
            .query_all(
                "Query",
                || self.executions_query(job).projection_expression("pk, sk"),
                None,
            )
            .await?;
        let count = items.len();
        for chunk in items.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for item in chunk {
                let key: Item = item
                    .iter()
                    .filter(|(k, _)| *k == "pk" || *k == "sk")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let delete = aws_sdk_dynamodb::types::DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map_err(|e| StoreError::Backend {
                        operation: "BatchWriteItem",
                        source: Box::new(e),
                    })?;
                requests.push(WriteRequest::builder().delete_request(delete).build());
            }
            self.batch_write(requests).await?;
        }
        Ok(count)
    }

    async fn list_executions(
        &self,
        job: &JobId,
        limit: usize,
    ) -> Result<Vec<Execution>, StoreError> {
        let items = self
            .query_all(
                "Query",
                || {
                    self.executions_query(job)
                        .scan_index_forward(false)
                        .consistent_read(true)
                },
                Some(limit),
            )
            .await?;
        items
            .into_iter()
            .take(limit)
            .map(|i| from_item(strip_keys(i)))
            .collect()
    }

    async fn executions_since(
        &self,
        job: &JobId,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<ExecutionPage, StoreError> {
        // One Query and never a second page: `sk` from the window's first slot key to the
        // end of the executions' keys (`~` sorts after every slot key), newest first, one item
        // more than the limit to tell whether the window goes on. Eventually consistent (half
        // the read cost): figures over days do not need the last second's write.
        let from = format!("EXEC#{}", ExecutionId::slot_key_from(since));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(exec_pk(job)))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s("EXEC#~"))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| self.failed("Query", e))?;
        let items = out.items.unwrap_or_default();
        let cut = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let more = items.len() > limit || cut;
        let executions = items
            .into_iter()
            .take(limit)
            .map(|i| from_item(strip_keys(i)))
            .collect::<Result<_, _>>()?;
        Ok(ExecutionPage { executions, more })
    }
}
