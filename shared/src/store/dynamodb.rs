//! The DynamoDB adapter: one table, one sparse index on the next due time.
//!
//! Items (see `docs/data-model.md`):
//! - job: `pk = APP#<app>`, `sk = JOB#<name>`, `kind = job`;
//! - execution: `pk = JOB#<job id>`, `sk = EXEC#<slot>#<s|m><attempt>`, `kind = exec`,
//!   `expires` (epoch seconds, the table's TTL attribute).
//!
//! Both carry `gsi1pk = DUE` and `gsi1sk = <epoch seconds>` while the tick has something to
//! do with them (a job's next slot or retry; an execution's lease or deadline). Paused and
//! ended jobs, and finished executions, drop out of the index, so the tick's one Query reads
//! only what is due.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue as AV;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, Put, PutRequest, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TransactWriteItem, WriteRequest,
};
use aws_smithy_runtime_api::box_error::BoxError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Claim, ClaimOutcome, DueItem, GuardEnd, Outcome, Recorded, Store, StoreError};
use crate::model::{AppName, Execution, ExecutionId, Job, JobId, JobName, Status};

/// The due index's name.
pub const DUE_INDEX: &str = "due";
/// The TTL attribute (epoch seconds) on executions.
pub const TTL_ATTRIBUTE: &str = "expires";

/// A DynamoDB operation the adapter calls, with the IAM actions it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The API name (`TransactWriteItems`), as in `X-Amz-Target`.
    pub name: &'static str,
    /// The IAM actions it needs (for a transaction: those of the writes it contains).
    pub actions: &'static [&'static str],
    /// True when the tick's path calls it (the Lambda's role allows exactly these).
    pub tick: bool,
    /// True when it reads only (the viewer policy allows exactly these).
    pub read_only: bool,
}

/// Every DynamoDB operation this adapter calls. The infrastructure template's IAM is checked
/// against this list by a test.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "Query",
        actions: &["dynamodb:Query"],
        tick: true,
        read_only: true,
    },
    Operation {
        name: "GetItem",
        actions: &["dynamodb:GetItem"],
        tick: true,
        read_only: true,
    },
    Operation {
        name: "PutItem",
        actions: &["dynamodb:PutItem"],
        tick: true,
        read_only: false,
    },
    Operation {
        name: "UpdateItem",
        actions: &["dynamodb:UpdateItem"],
        tick: true,
        read_only: false,
    },
    // The claim: a Put of the job and a Put of the execution.
    Operation {
        name: "TransactWriteItems",
        actions: &["dynamodb:PutItem"],
        tick: true,
        read_only: false,
    },
    Operation {
        name: "DeleteItem",
        actions: &["dynamodb:DeleteItem"],
        tick: false,
        read_only: false,
    },
    Operation {
        name: "BatchWriteItem",
        actions: &["dynamodb:BatchWriteItem"],
        tick: false,
        read_only: false,
    },
    Operation {
        name: "Scan",
        actions: &["dynamodb:Scan"],
        tick: false,
        read_only: true,
    },
    Operation {
        name: "DescribeTable",
        actions: &["dynamodb:DescribeTable"],
        tick: false,
        read_only: true,
    },
    Operation {
        name: "CreateTable",
        actions: &["dynamodb:CreateTable"],
        tick: false,
        read_only: false,
    },
    Operation {
        name: "UpdateTimeToLive",
        actions: &["dynamodb:UpdateTimeToLive"],
        tick: false,
        read_only: false,
    },
];

const GSI_PK: &str = "gsi1pk";
const GSI_SK: &str = "gsi1sk";
const DUE: &str = "DUE";

type Item = HashMap<String, AV>;

/// Counts the HTTP requests the client sends to DynamoDB, by operation, retries included.
/// Attached to every [`DynamoStore`] client; tests and benchmarks read it.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl RequestCounter {
    /// Requests so far, by operation (`Query`, `TransactWriteItems`...).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// All requests so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    /// Forgets the counts.
    pub fn reset(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "psu-sched-request-counter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        if let Ok(mut c) = self.counts.lock() {
            *c.entry(op).or_default() += 1;
        }
        Ok(())
    }
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    counter: RequestCounter,
    endpoint: Option<String>,
}

/// The DynamoDB endpoint `sdk_config` leads the client to, decided as the SDK's
/// `Config::from(&SdkConfig)` decides it: one set in code wins; else the service-specific one
/// (`AWS_ENDPOINT_URL_DYNAMODB`, or a profile's `[services]`; the SDK's loader already drops
/// them under `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`); else the global one. `None`: AWS's
/// own endpoint for the region.
fn endpoint_of(sdk_config: &aws_config::SdkConfig) -> Option<String> {
    if sdk_config.get_origin("endpoint_url").is_client_config() {
        return sdk_config.endpoint_url().map(str::to_owned);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("DynamoDB")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build();
    key.ok()
        .and_then(|key| sdk_config.service_config()?.load_config(key))
        .or_else(|| sdk_config.endpoint_url().map(str::to_owned))
}

/// True when `endpoint` is an http(s) URL whose host is `localhost` or a loopback address.
pub fn is_loopback_endpoint(endpoint: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(endpoint) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn backend<E, R>(operation: &'static str, table: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if err.code() == Some("ResourceNotFoundException") {
        return StoreError::TableMissing(table.to_owned());
    }
    StoreError::Backend {
        operation,
        source: Box::new(err),
    }
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(
        err.code(),
        Some("ConditionalCheckFailedException") | Some("TransactionCanceledException")
    )
}

fn s(v: impl Into<String>) -> AV {
    AV::S(v.into())
}

fn n(v: i64) -> AV {
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

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Malformed(e.to_string()))?;
    strip_nulls(&mut item);
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Malformed(e.to_string()))
}

fn job_pk(app: &AppName) -> String {
    format!("APP#{app}")
}
fn job_sk(name: &JobName) -> String {
    format!("JOB#{name}")
}
fn exec_pk(job: &JobId) -> String {
    format!("JOB#{job}")
}
fn exec_sk(id: &ExecutionId) -> String {
    format!("EXEC#{}", id.slot_key())
}

fn job_item(job: &Job) -> Result<Item, StoreError> {
    let mut item = to_item(job)?;
    item.insert("pk".into(), s(job_pk(&job.app)));
    item.insert("sk".into(), s(job_sk(&job.name)));
    item.insert("kind".into(), s("job"));
    if let Some(at) = job.due_at() {
        item.insert(GSI_PK.into(), s(DUE));
        item.insert(GSI_SK.into(), n(at.timestamp_millis()));
    }
    Ok(item)
}

fn exec_item(exec: &Execution) -> Result<Item, StoreError> {
    let mut item = to_item(exec)?;
    item.insert("pk".into(), s(exec_pk(exec.id.job_id())));
    item.insert("sk".into(), s(exec_sk(&exec.id)));
    item.insert("kind".into(), s("exec"));
    item.insert(TTL_ATTRIBUTE.into(), n(exec.expires_at.timestamp()));
    if let Some(at) = exec.due_at {
        item.insert(GSI_PK.into(), s(DUE));
        item.insert(GSI_SK.into(), n(at.timestamp_millis()));
    }
    Ok(item)
}

fn strip_keys(mut item: Item) -> Item {
    for k in ["pk", "sk", "kind", GSI_PK, GSI_SK, TTL_ATTRIBUTE] {
        item.remove(k);
    }
    item
}

fn ts(at: DateTime<Utc>) -> AV {
    // The same text serde writes for a DateTime<Utc>, so conditions compare like with like.
    s(serde_json::to_value(at)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default())
}

impl DynamoStore {
    /// A store on `table`, with a client built from `sdk_config` (the SDK's default chain:
    /// `AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`... all work).
    pub fn new(sdk_config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let counter = RequestCounter::default();
        let config = aws_sdk_dynamodb::config::Builder::from(sdk_config)
            .interceptor(counter.clone())
            .build();
        Self {
            client: Client::from_conf(config),
            table: table.into(),
            counter,
            endpoint: endpoint_of(sdk_config),
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

    /// The request counter of this store's client.
    pub fn requests(&self) -> &RequestCounter {
        &self.counter
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table (keys, due index, TTL) and waits until it is active. For local and
    /// development use; production tables come from the infrastructure template.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
        };
        let attr = |name: &str, t: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
        };
        let built = (|| -> Result<_, aws_sdk_dynamodb::error::BuildError> {
            Ok((
                vec![key("pk", KeyType::Hash)?, key("sk", KeyType::Range)?],
                vec![
                    attr("pk", ScalarAttributeType::S)?,
                    attr("sk", ScalarAttributeType::S)?,
                    attr(GSI_PK, ScalarAttributeType::S)?,
                    attr(GSI_SK, ScalarAttributeType::N)?,
                ],
                GlobalSecondaryIndex::builder()
                    .index_name(DUE_INDEX)
                    .key_schema(key(GSI_PK, KeyType::Hash)?)
                    .key_schema(key(GSI_SK, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()?,
            ))
        })();
        let (keys, attrs, gsi, ttl) = built.map_err(|e| StoreError::Backend {
            operation: "CreateTable",
            source: Box::new(e),
        })?;
        self.client
            .create_table()
            .table_name(&self.table)
            .set_key_schema(Some(keys))
            .set_attribute_definitions(Some(attrs))
            .global_secondary_indexes(gsi)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| backend("CreateTable", &self.table, e))?;
        for _ in 0..120 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| backend("DescribeTable", &self.table, e))?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| backend("UpdateTimeToLive", &self.table, e))?;
        Ok(())
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
            .map_err(|e| backend("GetItem", &self.table, e))?;
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
            let out = q
                .send()
                .await
                .map_err(|e| backend(operation, &self.table, e))?;
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
                .map_err(|e| backend("BatchWriteItem", &self.table, e))?;
            pending = out.unprocessed_items.unwrap_or_default();
            pending.retain(|_, v| !v.is_empty());
            if !pending.is_empty() {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        Ok(())
    }

    fn job_condition(job: &Job, expected_version: u64) -> (String, Item) {
        let mut values: Item = HashMap::new();
        values.insert(":ev".into(), n(expected_version as i64));
        let mut cond = "#state.#version = :ev".to_owned();
        if let Some(writer) = &job.state.writer {
            values.insert(":nv".into(), n(job.state.version as i64));
            values.insert(":w".into(), s(writer.clone()));
            cond = format!("({cond} OR (#state.#version = :nv AND #state.#writer = :w))");
        }
        (format!("attribute_exists(pk) AND {cond}"), values)
    }
}

fn job_names(job: &Job) -> HashMap<String, String> {
    let mut names = HashMap::from([
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

    async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(job)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                Err(StoreError::AlreadyExists(job.app.clone(), job.name.clone()))
            }
            Err(e) => Err(backend("PutItem", &self.table, e)),
        }
    }

    async fn import_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        for chunk in jobs.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for job in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(job_item(job)?))
                    .build()
                    .map_err(|e| StoreError::Backend {
                        operation: "BatchWriteItem",
                        source: Box::new(e),
                    })?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            self.batch_write(requests).await?;
        }
        Ok(())
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
            None => {
                // Listing every app's jobs is an operator's command, not the tick's path:
                // a filtered Scan is acceptable here (the tick never scans).
                let mut items = Vec::new();
                let mut start: Option<Item> = None;
                loop {
                    let out = self
                        .client
                        .scan()
                        .table_name(&self.table)
                        .filter_expression("kind = :job")
                        .expression_attribute_values(":job", s("job"))
                        .set_exclusive_start_key(start.take())
                        .consistent_read(true)
                        .send()
                        .await
                        .map_err(|e| backend("Scan", &self.table, e))?;
                    items.extend(out.items.unwrap_or_default());
                    match out.last_evaluated_key {
                        Some(k) if !k.is_empty() => start = Some(k),
                        _ => break,
                    }
                }
                items
            }
        };
        let mut jobs: Vec<Job> = items
            .into_iter()
            .map(|i| from_item(strip_keys(i)))
            .collect::<Result<_, _>>()?;
        jobs.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
        Ok(jobs)
    }

    async fn put_job(&self, job: &Job, expected_version: u64) -> Result<bool, StoreError> {
        let (cond, values) = Self::job_condition(job, expected_version);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(job)?))
            .condition_expression(cond)
            .set_expression_attribute_names(Some(job_names(job)))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend("PutItem", &self.table, e)),
        }
    }

    async fn delete_job(&self, app: &AppName, name: &JobName) -> Result<Option<Job>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(app)))
            .key("sk", s(job_sk(name)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend("DeleteItem", &self.table, e))?;
        match out.attributes {
            Some(item) if !item.is_empty() => Ok(Some(from_item(strip_keys(item))?)),
            _ => Ok(None),
        }
    }

    async fn due(&self, now: DateTime<Utc>) -> Result<Vec<DueItem>, StoreError> {
        let items = self
            .query_all(
                "Query",
                || {
                    self.client
                        .query()
                        .table_name(&self.table)
                        .index_name(DUE_INDEX)
                        .key_condition_expression("#pk = :due AND #sk <= :now")
                        .expression_attribute_names("#pk", GSI_PK)
                        .expression_attribute_names("#sk", GSI_SK)
                        .expression_attribute_values(":due", s(DUE))
                        .expression_attribute_values(":now", n(now.timestamp_millis()))
                },
                None,
            )
            .await?;
        let mut due = Vec::with_capacity(items.len());
        for item in items {
            let kind = item
                .get("kind")
                .and_then(|k| k.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let item = strip_keys(item);
            match kind.as_str() {
                "job" => due.push(DueItem::Job(Box::new(from_item(item)?))),
                "exec" => due.push(DueItem::Execution(Box::new(from_item(item)?))),
                other => {
                    return Err(StoreError::Malformed(format!(
                        "unknown item kind `{other}` in the due index"
                    )));
                }
            }
        }
        Ok(due)
    }

    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let (job_cond, job_values) = Self::job_condition(&claim.job, claim.expected_version);
        let put_job = Put::builder()
            .table_name(&self.table)
            .set_item(Some(job_item(&claim.job)?))
            .condition_expression(job_cond)
            .set_expression_attribute_names(Some(job_names(&claim.job)))
            .set_expression_attribute_values(Some(job_values))
            .build()
            .map_err(|e| StoreError::Backend {
                operation: "TransactWriteItems",
                source: Box::new(e),
            })?;
        let put_exec = Put::builder()
            .table_name(&self.table)
            .set_item(Some(exec_item(&claim.execution)?))
            .condition_expression(
                "attribute_not_exists(pk) OR (claimed_by = :tok AND attribute_not_exists(dispatched_by))",
            )
            .expression_attribute_values(":tok", s(claim.token.clone()))
            .build()
            .map_err(|e| StoreError::Backend { operation: "TransactWriteItems", source: Box::new(e) })?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_job).build())
            .transact_items(TransactWriteItem::builder().put(put_exec).build())
            // Real DynamoDB treats a retry with the same token as the same transaction.
            .client_request_token(claim.token.clone())
            .send()
            .await;
        match result {
            Ok(_) => Ok(ClaimOutcome::Won),
            Err(e) if is_condition_failure(&e) => {
                // Either someone else won, or this very claim was applied and its answer
                // lost, and the job has moved on since. The execution's token tells.
                let item = self
                    .get_item(
                        exec_pk(claim.execution.id.job_id()),
                        exec_sk(&claim.execution.id),
                    )
                    .await?;
                let ours = item
                    .and_then(|i| i.get("claimed_by").and_then(|v| v.as_s().ok()).cloned())
                    .is_some_and(|t| t == claim.token);
                Ok(if ours {
                    ClaimOutcome::Won
                } else {
                    ClaimOutcome::Lost
                })
            }
            Err(e) => Err(backend("TransactWriteItems", &self.table, e)),
        }
    }

    async fn mark_dispatched(
        &self,
        id: &ExecutionId,
        token: &str,
        key_hash: &str,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_execution(id)
            .update_expression(
                "SET dispatched_by = :tok, key_hash = :kh, started_at = :at, due_at = :dl, #gpk = :due, #gsk = :dln",
            )
            .condition_expression(
                "attribute_exists(pk) AND #st = :pending AND (attribute_not_exists(dispatched_by) OR dispatched_by = :tok)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#gpk", GSI_PK)
            .expression_attribute_names("#gsk", GSI_SK)
            .expression_attribute_values(":tok", s(token))
            .expression_attribute_values(":kh", s(key_hash))
            .expression_attribute_values(":at", ts(at))
            .expression_attribute_values(":dl", ts(deadline))
            .expression_attribute_values(":due", s(DUE))
            .expression_attribute_values(":dln", n(deadline.timestamp_millis()))
            .expression_attribute_values(":pending", s(Status::Pending.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend("UpdateItem", &self.table, e)),
        }
    }

    async fn record_outcome(
        &self,
        id: &ExecutionId,
        token: &str,
        outcome: &Outcome,
    ) -> Result<Recorded, StoreError> {
        let mut set = vec![
            "#st = :st",
            "finished_at = :fin",
            "duration_ms = :dur",
            "outcome_by = :tok",
        ];
        let mut values: Item = HashMap::from([
            (":st".to_owned(), s(outcome.status.as_str())),
            (":fin".to_owned(), ts(outcome.finished_at)),
            (":dur".to_owned(), n(outcome.duration_ms as i64)),
            (":tok".to_owned(), s(token)),
            (":pending".to_owned(), s(Status::Pending.as_str())),
        ]);
        if let Some(code) = outcome.http_status {
            set.push("http_status = :hs");
            values.insert(":hs".into(), n(i64::from(code)));
        }
        if let Some(output) = &outcome.output {
            set.push("#out = :out");
            values.insert(":out".into(), s(output.clone()));
        }
        if let Some(error) = &outcome.error {
            set.push("#err = :err");
            values.insert(":err".into(), s(error.clone()));
        }
        let mut names = HashMap::from([
            ("#st".to_owned(), "status".to_owned()),
            ("#gpk".to_owned(), GSI_PK.to_owned()),
            ("#gsk".to_owned(), GSI_SK.to_owned()),
        ]);
        if outcome.output.is_some() {
            names.insert("#out".into(), "output".into());
        }
        if outcome.error.is_some() {
            names.insert("#err".into(), "error".into());
        }
        let result = self
            .update_execution(id)
            .update_expression(format!("SET {} REMOVE due_at, #gpk, #gsk", set.join(", ")))
            // Pending and sent by this tick; or already recorded by this very write (a retry
            // after a lost answer).
            .condition_expression("(#st = :pending AND dispatched_by = :tok) OR outcome_by = :tok")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => return Ok(Recorded::Recorded),
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(backend("UpdateItem", &self.table, e)),
        }
        // Not pending any more: the app's guard claimed it (then the outcome is the app's,
        // and the tick adds only the HTTP status), or it was reconciled meanwhile.
        let Some(item) = self.get_item(exec_pk(id.job_id()), exec_sk(id)).await? else {
            return Ok(Recorded::NotOurs);
        };
        let exec: Execution = from_item(strip_keys(item))?;
        if exec.dispatched_by.as_deref() != Some(token) || exec.guard_nonce.is_none() {
            return Ok(Recorded::NotOurs);
        }
        let mut update = self
            .update_execution(id)
            .condition_expression("dispatched_by = :tok AND attribute_exists(guard_nonce)")
            .expression_attribute_values(":tok", s(token));
        let mut set = Vec::new();
        if let (Some(code), None) = (outcome.http_status, exec.http_status) {
            set.push("SET http_status = :hs");
            update = update.expression_attribute_values(":hs", n(i64::from(code)));
        }
        if exec.status.is_final() {
            set.push("REMOVE due_at, #gpk, #gsk");
            update = update
                .expression_attribute_names("#gpk", GSI_PK)
                .expression_attribute_names("#gsk", GSI_SK);
        }
        if !set.is_empty() {
            match update.update_expression(set.join(" ")).send().await {
                Ok(_) => {}
                Err(e) if is_condition_failure(&e) => return Ok(Recorded::NotOurs),
                Err(e) => return Err(backend("UpdateItem", &self.table, e)),
            }
        }
        Ok(Recorded::GuardOwned(exec.status))
    }

    async fn reconcile(
        &self,
        seen: &Execution,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // rules::reconcile: what the tick saw must have a deadline and no outcome yet.
        let Some(seen_due) = seen.due_at.filter(|_| super::rules::may_reconcile(seen)) else {
            return Ok(false);
        };
        let result = self
            .update_execution(&seen.id)
            .update_expression(
                "SET #st = :to, #err = :err, finished_at = :now, outcome_by = :rec REMOVE due_at, #gpk, #gsk",
            )
            // Still as seen; or already written by this very request (a retry after a lost answer).
            .condition_expression(
                "(#st = :seen AND due_at = :seen_due) OR (outcome_by = :rec AND finished_at = :now AND #err = :err)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_names("#gpk", GSI_PK)
            .expression_attribute_names("#gsk", GSI_SK)
            .expression_attribute_values(":to", s(Status::TimedOut.as_str()))
            .expression_attribute_values(":err", s(error))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":rec", s(super::RECONCILER))
            .expression_attribute_values(":seen", s(seen.status.as_str()))
            .expression_attribute_values(":seen_due", ts(seen_due))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend("UpdateItem", &self.table, e)),
        }
    }

    async fn guard_start(
        &self,
        id: &ExecutionId,
        key_hash: &str,
        nonce: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_execution(id)
            .update_expression("SET #st = :running, guard_nonce = :n, started_at = :at")
            .condition_expression("#st = :pending AND key_hash = :kh")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":running", s(Status::Running.as_str()))
            .expression_attribute_values(":pending", s(Status::Pending.as_str()))
            .expression_attribute_values(":n", s(nonce))
            .expression_attribute_values(":kh", s(key_hash))
            .expression_attribute_values(":at", ts(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => {
                // A retried request whose first try was applied finds its own nonce.
                let Some(item) = self.get_item(exec_pk(id.job_id()), exec_sk(id)).await? else {
                    return Ok(false);
                };
                let exec: Execution = from_item(strip_keys(item))?;
                Ok(exec.status == Status::Running && exec.guard_nonce.as_deref() == Some(nonce))
            }
            Err(e) => Err(backend("UpdateItem", &self.table, e)),
        }
    }

    async fn guard_end(
        &self,
        id: &ExecutionId,
        nonce: &str,
        end: &GuardEnd,
    ) -> Result<bool, StoreError> {
        let mut set = vec!["#st = :st", "finished_at = :fin", "duration_ms = :dur"];
        let mut remove = vec!["due_at", "#gpk", "#gsk"];
        let mut values: Item = HashMap::from([
            (":st".to_owned(), s(end.status.as_str())),
            (":fin".to_owned(), ts(end.finished_at)),
            (":dur".to_owned(), n(end.duration_ms as i64)),
            (":n".to_owned(), s(nonce)),
            (":running".to_owned(), s(Status::Running.as_str())),
            (":timed_out".to_owned(), s(Status::TimedOut.as_str())),
            (":rec".to_owned(), s(super::RECONCILER)),
        ]);
        if let Some(code) = end.http_status {
            set.push("http_status = :hs");
            values.insert(":hs".into(), n(i64::from(code)));
        }
        match &end.output {
            Some(output) => {
                set.push("#out = :out");
                values.insert(":out".into(), s(output.clone()));
            }
            None => remove.push("#out"),
        }
        match &end.error {
            Some(error) => {
                set.push("#err = :err");
                values.insert(":err".into(), s(error.clone()));
            }
            None => remove.push("#err"),
        }
        let names = HashMap::from([
            ("#st".to_owned(), "status".to_owned()),
            ("#out".to_owned(), "output".to_owned()),
            ("#err".to_owned(), "error".to_owned()),
            ("#gpk".to_owned(), GSI_PK.to_owned()),
            ("#gsk".to_owned(), GSI_SK.to_owned()),
        ]);
        let result = self
            .update_execution(id)
            .update_expression(format!("SET {} REMOVE {}", set.join(", "), remove.join(", ")))
            .condition_expression(
                "guard_nonce = :n AND (#st = :running OR (#st = :timed_out AND outcome_by = :rec) OR (#st = :st AND finished_at = :fin))",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend("UpdateItem", &self.table, e)),
        }
    }

    async fn get_execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        match self.get_item(exec_pk(id.job_id()), exec_sk(id)).await? {
            Some(item) => Ok(Some(from_item(strip_keys(item))?)),
            None => Ok(None),
        }
    }

    async fn delete_executions(&self, job: &JobId) -> Result<usize, StoreError> {
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
}

#[cfg(test)]
mod tests {
    use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

    use super::{endpoint_of, is_loopback_endpoint};

    /// A service configuration (as the environment and profile give the SDK) with one
    /// DynamoDB endpoint.
    #[derive(Debug)]
    struct DynamoEndpoint(&'static str);

    impl LoadServiceConfig for DynamoEndpoint {
        fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
            (key.service_id() == "DynamoDB" && key.env() == "AWS_ENDPOINT_URL")
                .then(|| self.0.to_owned())
        }
    }

    #[test]
    fn the_endpoint_is_the_one_the_sdk_uses() {
        // A service-specific endpoint (AWS_ENDPOINT_URL_DYNAMODB, or a profile's [services])
        // outranks the global one that did not come from code.
        let remote = aws_config::SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:8000")
            .service_config(DynamoEndpoint("https://dynamodb.example"))
            .build();
        assert_eq!(
            endpoint_of(&remote).as_deref(),
            Some("https://dynamodb.example")
        );
        let local = aws_config::SdkConfig::builder()
            .endpoint_url("https://dynamodb.example")
            .service_config(DynamoEndpoint("http://127.0.0.1:8000"))
            .build();
        assert_eq!(
            endpoint_of(&local).as_deref(),
            Some("http://127.0.0.1:8000")
        );
        let global = aws_config::SdkConfig::builder()
            .endpoint_url("http://localhost:8000")
            .build();
        assert_eq!(
            endpoint_of(&global).as_deref(),
            Some("http://localhost:8000")
        );
    }

    #[test]
    fn only_a_loopback_endpoint_is_a_local_table() {
        for local in [
            "http://127.0.0.1:5000",
            "http://localhost:8000",
            "http://[::1]:8000/",
            "https://127.8.0.1",
        ] {
            assert!(is_loopback_endpoint(local), "{local}");
        }
        for remote in [
            "https://dynamodb.us-west-2.amazonaws.com",
            "http://10.0.0.5:8000",
            "http://localhost.example.com",
            "http://169.254.169.254",
            "not a url",
        ] {
            assert!(!is_loopback_endpoint(remote), "{remote}");
        }
    }
}
