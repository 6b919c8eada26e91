//! The table itself: its creation (keys, the due index, TTL), and the operations the adapter
//! calls, which the infrastructure's IAM policies must allow.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};

use super::DynamoStore;
use super::keys::{DUE_KEYS_INDEX, TTL_ATTRIBUTE};
use super::keys::{GSI_PK, GSI_SK};
use crate::store::StoreError;

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
    // The due items behind the keys of the `KEYS_ONLY` index, read consistently.
    Operation {
        name: "BatchGetItem",
        actions: &["dynamodb:BatchGetItem"],
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
    // A job's create: a ConditionCheck of its app's record (not being deleted) and a Put of
    // the job (`rules::may_create_job`); the CLI's, not the tick's.
    Operation {
        name: "TransactWriteItems",
        actions: &["dynamodb:ConditionCheckItem", "dynamodb:PutItem"],
        tick: false,
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

impl DynamoStore {
    /// Creates the table (keys, the `KEYS_ONLY` due index alone, TTL), waits until it is
    /// active and writes its format marker (format 3, ticks reading that index). For local and development use; production tables come from the
    /// infrastructure template (without a marker: format 1).
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
                    .index_name(DUE_KEYS_INDEX)
                    .key_schema(key(GSI_PK, KeyType::Hash)?)
                    .key_schema(key(GSI_SK, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::KeysOnly)
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
            .map_err(|e| self.failed("CreateTable", e))?;
        for _ in 0..120 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| self.failed("DescribeTable", e))?;
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
            .map_err(|e| self.failed("UpdateTimeToLive", e))?;
        self.write_table_format().await?;
        // No jobs yet: the app directory is complete, and listings never Scan.
        self.put_directory_mark().await
    }
}
