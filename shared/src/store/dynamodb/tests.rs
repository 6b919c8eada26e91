//! The adapter's error paths that moto cannot produce (issue 13): a transaction cancelled for
//! throttling or a conflict. The client is the SDK's own, with its HTTP answers mocked by
//! `aws-smithy-mocks`: each answer is written as DynamoDB sends it (status, `__type`, the
//! cancellation reasons), and the SDK's deserializer and retry classifier read it.
//!
//! The paths moto does produce (a failed condition, a lost answer) are tested against moto, in
//! `tests/tests/conformance.rs` and `tests/tests/tick.rs`.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, TimeZone, Utc};

use super::codec::{DUE, Item, exec_item, job_item};
use super::{DynamoStore, RequestCounter};
use crate::model::{
    AppName, Execution, ExecutionId, Job, JobName, JobUrl, NewJob, Status, Trigger,
};
use crate::store::{Claim, ClaimOutcome, Store, StoreError};

/// A store on a client whose every request is answered by the first of `rules` made for its
/// operation (a request no rule answers panics).
fn mocked(rules: &[&Rule]) -> DynamoStore {
    let client: Client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules);
    DynamoStore {
        client,
        table: "mocked".to_owned(),
        counter: RequestCounter::default(),
        endpoint: None,
        region_missing: false,
        // The marker read just now: the mocked requests are the method's own.
        meta_known: std::sync::Arc::new(std::sync::Mutex::new(Some((
            std::time::Instant::now(),
            crate::store::layout::TableMeta::LEGACY,
        )))),
    }
}

/// DynamoDB's answer to a cancelled transaction: HTTP 400, a `TransactionCanceledException`
/// with one reason per item of the transaction (`None` where that item was fine).
fn cancelled(reasons: &[&str]) -> HttpResponse {
    let reasons: Vec<serde_json::Value> = reasons
        .iter()
        .map(|code| match *code {
            "None" => serde_json::json!({ "Code": "None" }),
            code => serde_json::json!({ "Code": code, "Message": message_of(code) }),
        })
        .collect();
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            reasons
                .iter()
                .map(|r| r["Code"].as_str().unwrap_or("None"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "CancellationReasons": reasons,
    });
    let mut response = HttpResponse::new(
        StatusCode::try_from(400).expect("a valid status"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

/// The messages DynamoDB gives with each reason.
fn message_of(code: &str) -> &'static str {
    match code {
        "ConditionalCheckFailed" => "The conditional request failed",
        "TransactionConflict" => "Transaction is ongoing for the item",
        "ThrottlingError" => {
            "Throughput exceeds the current capacity for one or more global secondary indexes. DynamoDB is automatically scaling your index so please try again shortly."
        }
        "ProvisionedThroughputExceeded" => {
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API"
        }
        _ => "",
    }
}

/// A transaction answered with `answer` every time it is sent.
fn transact_always(answer: fn() -> HttpResponse) -> Rule {
    mock!(Client::transact_write_items)
        .sequence()
        .http_response(answer)
        .repeatedly()
        .build()
}

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, h, m, 0)
        .single()
        .expect("valid instant")
}

fn job() -> Job {
    NewJob::new(
        AppName::parse("mocked").expect("app"),
        JobName::parse("job").expect("name"),
        JobUrl::parse("https://example.edu/job").expect("url"),
        "0 * * * *".parse().expect("schedule"),
    )
    .build(at(8, 0))
    .expect("job")
}

/// A claim by `token` of the job's 09:00 slot.
fn claim(job: &Job, token: &str) -> Claim {
    let mut next = job.clone();
    next.state.version = job.state.version + 1;
    next.state.writer = Some(token.to_owned());
    next.state.next_slot = Some(at(10, 0));
    let slot = at(9, 0);
    let execution = Execution {
        id: ExecutionId::new(job.id.clone(), slot, Trigger::Schedule, 1),
        app: job.app.clone(),
        name: job.name.clone(),
        scheduled_for: slot,
        offset_ms: 0,
        attempt: 1,
        trigger: Trigger::Schedule,
        status: Status::Pending,
        http_status: None,
        output: None,
        error: None,
        created_at: slot,
        started_at: None,
        finished_at: None,
        duration_ms: None,
        coalesced: 0,
        url: job.url.clone(),
        method: job.method,
        timeout_ms: job.timeout_ms,
        retries: job.retries,
        key_hash: None,
        claimed_by: Some(token.to_owned()),
        dispatched_by: None,
        guard_nonce: None,
        outcome_by: None,
        counted_by: None,
        due_at: Some(slot + chrono::Duration::seconds(60)),
        backfill: false,
        tracked: false,
        expires_at: slot + chrono::Duration::days(30),
    };
    Claim {
        job: next,
        expected_version: job.state.version,
        execution,
        token: token.to_owned(),
    }
}

/// The claim's read-back of its execution, answering the execution as claimed by `token`.
fn execution_claimed_by(claim: &Claim, token: &str) -> Rule {
    let mut execution = claim.execution.clone();
    execution.claimed_by = Some(token.to_owned());
    let item = exec_item(&execution, DUE).expect("an item");
    mock!(Client::get_item).then_output(move || {
        GetItemOutput::builder()
            .set_item(Some(item.clone()))
            .build()
    })
}

/// The claim's read-back of its execution, finding none: only a failed condition is followed
/// by it, so the tests of other failures count its calls (none).
fn no_execution() -> Rule {
    mock!(Client::get_item).then_output(|| GetItemOutput::builder().build())
}

#[tokio::test]
async fn a_claim_cancelled_for_throttling_is_a_throttled_store_error_not_a_lost_race() {
    for reason in ["ThrottlingError", "ProvisionedThroughputExceeded"] {
        let rule = match reason {
            "ThrottlingError" => transact_always(|| cancelled(&["None", "ThrottlingError"])),
            _ => transact_always(|| cancelled(&["ProvisionedThroughputExceeded", "None"])),
        };
        let read_back = no_execution();
        let store = mocked(&[&rule, &read_back]);
        let j = job();
        match store.claim(&claim(&j, "t")).await {
            Err(StoreError::Throttled { operation, .. }) => {
                assert_eq!(operation, "TransactWriteItems", "{reason}");
            }
            other => panic!("{reason}: expected a throttled store error, got {other:?}"),
        }
        assert_eq!(
            rule.num_calls(),
            1,
            "{reason}: sent once (the SDK's own retries are for the whole request's throttling)"
        );
        assert_eq!(
            read_back.num_calls(),
            0,
            "{reason}: not taken for a lost race"
        );
    }
}

#[tokio::test]
async fn a_claim_cancelled_by_a_transaction_conflict_is_sent_again_and_wins() {
    let rule = mock!(Client::transact_write_items)
        .sequence()
        .http_response(|| cancelled(&["TransactionConflict", "None"]))
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let read_back = no_execution();
    let store = mocked(&[&rule, &read_back]);
    let j = job();
    assert_eq!(
        store.claim(&claim(&j, "t")).await.expect("claim"),
        ClaimOutcome::Won
    );
    assert_eq!(rule.num_calls(), 3, "two conflicts, then applied");
    assert_eq!(read_back.num_calls(), 0);
}

#[tokio::test]
async fn a_claim_that_keeps_conflicting_is_a_store_error_after_a_bounded_number_of_attempts() {
    let rule = transact_always(|| cancelled(&["None", "TransactionConflict"]));
    let read_back = no_execution();
    let store = mocked(&[&rule, &read_back]);
    let j = job();
    match store.claim(&claim(&j, "t")).await {
        Err(StoreError::Backend { operation, source }) => {
            assert_eq!(operation, "TransactWriteItems");
            let chain = format!("{source:?}");
            assert!(chain.contains("TransactionConflict"), "{chain}");
        }
        other => panic!("expected a store error, got {other:?}"),
    }
    assert_eq!(
        rule.num_calls(),
        super::transact::CONFLICT_ATTEMPTS,
        "sent again a few times, not forever"
    );
    assert_eq!(read_back.num_calls(), 0, "not taken for a lost race");
}

#[tokio::test]
async fn a_claim_cancelled_by_a_failed_condition_is_told_apart_by_its_execution() {
    let j = job();
    let mine = claim(&j, "t");
    // Someone else's claim holds the slot: lost.
    let transact = transact_always(|| cancelled(&["ConditionalCheckFailed", "None"]));
    let read_back = execution_claimed_by(&mine, "u");
    let store = mocked(&[&transact, &read_back]);
    assert_eq!(store.claim(&mine).await.expect("claim"), ClaimOutcome::Lost);
    assert_eq!((transact.num_calls(), read_back.num_calls()), (1, 1));
    // This very claim, applied before (its answer lost): won.
    let transact =
        transact_always(|| cancelled(&["ConditionalCheckFailed", "ConditionalCheckFailed"]));
    let read_back = execution_claimed_by(&mine, "t");
    let store = mocked(&[&transact, &read_back]);
    assert_eq!(store.claim(&mine).await.expect("claim"), ClaimOutcome::Won);
    assert_eq!((transact.num_calls(), read_back.num_calls()), (1, 1));
}

// ---------------------------------------------------------------------------------------
// delete_job: a job read, then deleted under the condition that it is still as read

/// An attribute value in DynamoDB's JSON, as the wire carries it.
fn wire_value(value: &AttributeValue) -> serde_json::Value {
    use serde_json::json;
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::M(m) => json!({ "M": wire_item(m) }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(wire_value).collect::<Vec<_>>() }),
        other => panic!("not used by the store's items: {other:?}"),
    }
}

fn wire_item(item: &Item) -> serde_json::Value {
    serde_json::Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), wire_value(v)))
            .collect(),
    )
}

/// An HTTP answer as DynamoDB sends it.
fn answer(status: u16, body: serde_json::Value) -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

/// The job with one more version, written by a tick.
fn moved_on(job: &Job) -> Job {
    let mut next = job.clone();
    next.state.version += 1;
    next.state.writer = Some("a tick".to_owned());
    next.state.next_slot = Some(at(10, 0));
    next
}

/// DynamoDB's answer to a write refused by its condition, with the item that was there.
fn condition_failed(item: Option<serde_json::Value>) -> HttpResponse {
    let mut body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
    });
    if let Some(item) = item {
        body["Item"] = item;
    }
    answer(400, body)
}

type DeleteRule = aws_smithy_mocks::RuleBuilder<
    aws_sdk_dynamodb::operation::delete_item::DeleteItemInput,
    aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput,
    aws_sdk_dynamodb::operation::delete_item::DeleteItemError,
>;

/// A delete rule that answers only a DeleteItem conditioned on `job`'s id (any other request
/// finds no rule, and the mocked client panics).
fn delete_of(job: &Job) -> DeleteRule {
    let id = AttributeValue::S(job.id.as_str().to_owned());
    mock!(Client::delete_item).match_requests(move |req| {
        req.condition_expression() == Some("#id = :id")
            && req.expression_attribute_values().and_then(|v| v.get(":id")) == Some(&id)
    })
}

#[tokio::test]
async fn a_delete_returns_the_job_as_it_was_deleted_when_a_tick_wrote_it_since_the_read() {
    let read = job();
    let changed = moved_on(&read);
    let read_item = wire_item(&job_item(&read, DUE).expect("item"));
    let changed_item = wire_item(&job_item(&changed, DUE).expect("item"));
    let get = mock!(Client::get_item)
        .sequence()
        .http_response(move || answer(200, serde_json::json!({ "Item": read_item.clone() })))
        .build();
    let delete = delete_of(&read)
        .sequence()
        .http_response(move || {
            answer(
                200,
                serde_json::json!({ "Attributes": changed_item.clone() }),
            )
        })
        .build();
    let store = mocked(&[&get, &delete]);
    assert_eq!(
        store
            .delete_job(&read.app, &read.name)
            .await
            .expect("delete"),
        Some(changed),
        "the job as it was when deleted"
    );
    assert_eq!((get.num_calls(), delete.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_delete_never_deletes_a_job_created_again_under_the_name_since_its_read() {
    let read = job();
    let mut again = job();
    again.url = JobUrl::parse("https://example.edu/again").expect("url");
    let read_item = wire_item(&job_item(&read, DUE).expect("item"));
    let again_item = wire_item(&job_item(&again, DUE).expect("item"));
    let get = mock!(Client::get_item)
        .sequence()
        .http_response(move || answer(200, serde_json::json!({ "Item": read_item.clone() })))
        .build();
    // The delete is conditioned on the id read: refused, the new job there.
    let delete = delete_of(&read)
        .sequence()
        .http_response(move || condition_failed(Some(again_item.clone())))
        .build();
    let store = mocked(&[&get, &delete]);
    assert_eq!(
        store
            .delete_job(&read.app, &read.name)
            .await
            .expect("delete"),
        Some(read),
        "the job read is gone, as asked; the new one is not touched"
    );
    assert_eq!((get.num_calls(), delete.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_delete_that_finds_the_job_gone_since_its_read_returns_the_job_it_read() {
    let read = job();
    let item = wire_item(&job_item(&read, DUE).expect("item"));
    let get = mock!(Client::get_item)
        .sequence()
        .http_response(move || answer(200, serde_json::json!({ "Item": item.clone() })))
        .build();
    // Gone: this very delete, applied before its answer was lost (the SDK sent it again), or
    // another one at the same moment. Either way the job the caller asked to delete is gone.
    let delete = delete_of(&read)
        .sequence()
        .http_response(|| condition_failed(None))
        .build();
    let store = mocked(&[&get, &delete]);
    assert_eq!(
        store
            .delete_job(&read.app, &read.name)
            .await
            .expect("delete"),
        Some(read)
    );
    assert_eq!((get.num_calls(), delete.num_calls()), (1, 1));
}
