//! Tests of the test helpers themselves, against real parts: a real HTTP client, moto and the
//! AWS SDK.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::faultproxy::{Fault, FaultProxy};
use crate::helpers::jobserver::{Behavior, JobServer};
use crate::helpers::moto;

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}

async fn create_table(client: &Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
}

async fn item_exists(client: &Client, table: &str, pk: &str) -> bool {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
        .is_some()
}

#[tokio::test]
async fn the_job_server_records_a_get_with_its_query_and_headers() {
    let server = JobServer::start().await;
    let before = SystemTime::now();

    let response = http_client()
        .get(server.url("/jobs/a?x=1&y=two"))
        .header("x-psu-test", "hello")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/jobs/a");
    assert_eq!(request.query.as_deref(), Some("x=1&y=two"));
    assert_eq!(request.header("x-psu-test"), Some("hello"));
    assert!(request.body.is_empty());
    assert!(request.received_at >= before && request.received_at <= SystemTime::now());
    assert_eq!(server.count("/jobs/a"), 1);
    assert_eq!(server.count("/jobs/b"), 0);
    assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
}

#[tokio::test]
async fn the_job_server_records_a_post_body_even_when_it_answers_an_error() {
    let server = JobServer::start().await;
    server.set("/fail", Behavior::Status(503));

    let response = http_client()
        .post(server.url("/fail"))
        .body("{\"job\":1}")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 503);
    let recorded = server.requests_to("/fail");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(&recorded[0].body[..], b"{\"job\":1}");
    assert_eq!(recorded[0].query, None);
}

#[tokio::test]
async fn the_job_server_answers_each_behavior() {
    let server = JobServer::start().await;
    server.set("/status", Behavior::Status(418));
    server.set("/ok", Behavior::Ok("hello".into()));
    server.set("/sleep", Behavior::Sleep(Duration::from_millis(300)));
    server.set("/big", Behavior::Big(1_000_003));
    server.set("/redirect", Behavior::Redirect("/elsewhere".into()));
    let http = http_client();

    let status = http.get(server.url("/status")).send().await.unwrap();
    assert_eq!(status.status(), 418);
    assert_eq!(status.text().await.unwrap(), "status 418");

    let ok = http.get(server.url("/ok")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "hello");

    let started = Instant::now();
    let slept = http.get(server.url("/sleep")).send().await.unwrap();
    assert_eq!(slept.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let big = http.get(server.url("/big")).send().await.unwrap();
    assert_eq!(big.status(), 200);
    let body = big.bytes().await.unwrap();
    assert_eq!(body.len(), 1_000_003);
    assert!(body.iter().all(|&b| b == b'x'));

    let redirect = http.get(server.url("/redirect")).send().await.unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(redirect.headers()["location"], "/elsewhere");

    let unknown = http.delete(server.url("/never/set")).send().await.unwrap();
    assert_eq!(unknown.status(), 200);
    assert_eq!(unknown.text().await.unwrap(), "ok");

    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/status",
            "/ok",
            "/sleep",
            "/big",
            "/redirect",
            "/never/set"
        ]
    );
}

#[tokio::test]
async fn a_sleeping_request_does_not_hold_up_the_others() {
    let server = JobServer::start().await;
    server.set("/slow", Behavior::Sleep(Duration::from_secs(3)));
    let http = http_client();

    let slow = tokio::spawn(http.get(server.url("/slow")).send());
    let arrived = server.wait_for("/slow", 1, Duration::from_secs(5)).await;
    assert_eq!(
        arrived.len(),
        1,
        "the slow request is recorded before it sleeps"
    );

    let started = Instant::now();
    let fast = http.get(server.url("/fast")).send().await.unwrap();
    assert_eq!(fast.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!slow.is_finished());
    slow.abort();
}

#[tokio::test]
async fn wait_for_returns_once_enough_requests_arrived_or_the_time_is_up() {
    let server = JobServer::start().await;
    let url = server.url("/tick");
    tokio::spawn(async move {
        let http = http_client();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            http.put(&url).send().await.unwrap();
        }
    });

    assert_eq!(
        server
            .wait_for("/tick", 3, Duration::from_secs(5))
            .await
            .len(),
        3
    );
    let started = Instant::now();
    assert_eq!(
        server
            .wait_for("/tick", 4, Duration::from_millis(200))
            .await
            .len(),
        3
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_dropped_job_server_refuses_new_connections() {
    let server = JobServer::start().await;
    let url = server.url("/");
    assert!(http_client().get(&url).send().await.is_ok());
    drop(server);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    let err = fresh.get(&url).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn the_proxy_passes_requests_through_to_moto() {
    let endpoint = moto::endpoint().await;
    let proxy = FaultProxy::start(&endpoint).await;
    let through_proxy = moto::client(&proxy.url()).await;
    let direct = moto::client(&endpoint).await;
    let table = moto::unique_table_name();

    create_table(&through_proxy, &table).await;
    through_proxy
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("a".into()))
        .send()
        .await
        .unwrap();

    let described = direct
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.table().and_then(|t| t.table_name()),
        Some(table.as_str())
    );
    assert!(item_exists(&direct, &table, "a").await);
    let stats = proxy.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.forwarded, 2);
    assert_eq!(stats.operation("CreateTable"), 1);
    assert_eq!(stats.operation("PutItem"), 1);
    assert!(stats.faults.is_empty());
}

#[tokio::test]
async fn a_throttled_request_is_retried_by_the_sdk_and_the_call_succeeds() {
    let endpoint = moto::endpoint().await;
    let proxy = FaultProxy::start(&endpoint).await;
    let client = moto::client(&proxy.url()).await;
    let table = moto::unique_table_name();
    create_table(&moto::client(&endpoint).await, &table).await;

    proxy.set_plan(vec![Some(Fault::Throttle)]);
    client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("a".into()))
        .send()
        .await
        .expect("the SDK retries a throttled request");

    let stats = proxy.stats();
    assert_eq!(stats.throttled, 1);
    assert_eq!(stats.operation("PutItem"), 2);
    assert_eq!(stats.forwarded, 1);
    assert_eq!(stats.faults, [("PutItem".to_owned(), Fault::Throttle)]);
    assert!(item_exists(&client, &table, "a").await);
}

#[tokio::test]
async fn a_dropped_answer_applies_the_write_upstream_and_is_counted() {
    let endpoint = moto::endpoint().await;
    let proxy = FaultProxy::start(&endpoint).await;
    let client = moto::client(&proxy.url()).await;
    let direct = moto::client(&endpoint).await;
    let table = moto::unique_table_name();
    create_table(&direct, &table).await;

    proxy.set_plan_for("PutItem", vec![Some(Fault::DropAnswer)]);
    let started = Instant::now();
    let outcome = client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("dropped".into()))
        .send()
        .await;
    let elapsed = started.elapsed();

    assert!(item_exists(&direct, &table, "dropped").await);
    let stats = proxy.stats();
    assert_eq!(stats.dropped_answers, 1);
    assert_eq!(stats.faults, [("PutItem".to_owned(), Fault::DropAnswer)]);
    match outcome {
        // The SDK took the closed connection for a transient error and sent the write again.
        Ok(_) => assert_eq!(stats.operation("PutItem"), 2),
        Err(err) => {
            let err = aws_sdk_dynamodb::error::DisplayErrorContext(err);
            assert_eq!(stats.operation("PutItem"), 1, "{err}");
        }
    }
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[tokio::test]
async fn a_dropped_answer_closes_the_connection_without_sending_a_byte() {
    let upstream = JobServer::start().await;
    let proxy = FaultProxy::start(&upstream.url("")).await;
    proxy.set_plan(vec![Some(Fault::DropAnswer)]);

    let mut stream = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(b"POST /job?n=1 HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // A clean close (EOF) or a reset: either way, no byte of an answer.
    let _closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the proxy closes the connection promptly");

    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let forwarded = upstream.requests_to("/job");
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].query.as_deref(), Some("n=1"));
    assert_eq!(&forwarded[0].body[..], b"hello");

    let next = http_client().get(proxy.url() + "/job").send().await;
    assert!(
        next.is_ok(),
        "the plan has run out, so the next request passes through"
    );
}

#[tokio::test]
async fn injected_errors_are_answered_without_reaching_the_upstream() {
    let upstream = JobServer::start().await;
    let proxy = FaultProxy::start(&upstream.url("")).await;
    proxy.set_plan(vec![Some(Fault::ServerError), None, Some(Fault::Throttle)]);
    let http = http_client();
    let send = || {
        http.post(proxy.url() + "/x")
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .body("{}")
            .send()
    };

    let server_error = send().await.unwrap();
    assert_eq!(server_error.status(), 500);
    assert!(
        server_error
            .text()
            .await
            .unwrap()
            .contains("#InternalServerError")
    );
    let passed = send().await.unwrap();
    assert_eq!(passed.status(), 200);
    let throttled = send().await.unwrap();
    assert_eq!(throttled.status(), 400);
    assert_eq!(
        throttled.headers()["content-type"],
        "application/x-amz-json-1.0"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&throttled.bytes().await.unwrap()).unwrap();
    assert_eq!(
        body["__type"],
        "com.amazonaws.dynamodb.v20120810#ThrottlingException"
    );
    assert_eq!(send().await.unwrap().status(), 200);

    assert_eq!(upstream.count("/x"), 2);
    let stats = proxy.stats();
    assert_eq!(
        (
            stats.requests,
            stats.forwarded,
            stats.server_errors,
            stats.throttled
        ),
        (4, 2, 1, 1)
    );
    assert_eq!(stats.operation("GetItem"), 4);

    proxy.set_plan(vec![Some(Fault::ServerError)]);
    proxy.clear();
    assert_eq!(send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_random_faults() {
    async fn faults(seed: u64) -> Vec<(String, Fault)> {
        let upstream = JobServer::start().await;
        let proxy = FaultProxy::start(&upstream.url("")).await;
        proxy.set_random(seed, 0.2, 0.2, 0.2);
        let http = http_client();
        for _ in 0..50 {
            // A dropped answer is an error here; only the faults' sequence matters.
            let _ = http.get(proxy.url() + "/r").send().await;
        }
        let stats = proxy.stats();
        assert_eq!(stats.requests, 50);
        assert_eq!(stats.forwarded, 50 - stats.throttled - stats.server_errors);
        stats.faults
    }

    let first = faults(7).await;
    assert!(
        first.len() > 10 && first.len() < 45,
        "{} faults",
        first.len()
    );
    for fault in [Fault::Throttle, Fault::ServerError, Fault::DropAnswer] {
        assert!(first.iter().any(|(_, f)| *f == fault), "no {fault:?}");
    }
    assert_eq!(faults(7).await, first);
    assert_ne!(faults(8).await, first);
}

#[test]
fn unique_table_names_differ() {
    let a = moto::unique_table_name();
    let b = moto::unique_table_name();
    assert!(a.starts_with("psu-test-"), "{a}");
    assert_ne!(a, b);
    assert!(a.len() <= 255);
}
