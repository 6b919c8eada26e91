//! The legacy fixture (issue 29, step 1 of docs/design/scale.md): a table created and filled
//! by psu-sched before the sharded due index, in that code's item layout, still ticks
//! correctly after every later change to the store.
//!
//! `tests/fixtures/legacy-v1.json` holds every item of such a table, in DynamoDB's JSON (as
//! `aws dynamodb scan` prints it), sorted by `pk` then `sk`, without a `META` item (a table
//! deployed by the template has none). [`write_the_legacy_fixture`] dumped it from a scripted
//! run of the code at its `written_by` commit: today's public APIs only (ops, the store, the
//! tick at fixed instants, a real job server), on a table created with the layout of that time
//! ([`create_legacy_table`]). Every URL in it starts with `base_url_placeholder`, which the
//! loader replaces with its own job server's. The fixture is a record of that layout: never
//! regenerate it from code after issue 29's store changes. To write it again from such a
//! commit, by hand:
//!
//! ```text
//! cargo nextest run -p psu-sched-tests --run-ignored only legacy::write_the_legacy_fixture
//! ```
//!
//! Its states, built by ticks every minute from 09:25 to its `now` N = 2026-11-26T09:30:00Z,
//! with calls signed (apps `billing` and `reports` have records, `legacy` never had one, and
//! `retired`'s was deleted), and what the three ticks at N + 1, + 2 and + 3 minutes must do:
//!
//! | job | what it is | at N | 09:31, 09:32, 09:33 |
//! |---|---|---|---|
//! | billing/every-minute | by path, `* * * * *` | 6 succeeded | called each minute |
//! | billing/even-minutes | by path, `*/2 * * * *` | 3 succeeded | called at 09:32 |
//! | billing/by-url | by URL (POST), its app has a record | 6 succeeded | called each minute |
//! | billing/paused | paused at 09:27:30 | 3 succeeded, out of the index | never called |
//! | billing/ended | ended at 09:27 | 3 succeeded, out of the index | never called |
//! | billing/retrying | hourly at :30, 2 retries | 09:30 failed (500), attempt 2 due 09:30:30 | attempt 2 called at 09:31 |
//! | billing/hung | hourly at :29, 1 retry | 09:29 sent by a tick that died during the call: no outcome, deadline 09:30:30 | reconciled at 09:31, attempt 2 called at 09:32 |
//! | billing/never-sent | hourly at :30 | 09:30 claimed by a tick whose store failed before it sent it: due 09:31 | sent once at 09:31 |
//! | billing/guarded | `*/2 * * * *`, 5 min timeout | 09:26 run by the app's guard, its end recorded at N after the call's answer, not yet counted; 09:28 and 09:30 skipped | the end counted at 09:31, called at 09:32 |
//! | reports/every-minute | by path; its record has no key salt (written before salts) | 6 succeeded | called each minute, signed with the unsalted key |
//! | legacy/by-url | by URL, its app has no record | 6 failed (no key signs it) | recorded failed each minute, never called |
//! | retired/by-path | by path, its app's record deleted | 6 failed (no base URL) | recorded failed each minute, never called |

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as AV, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, PutRequest, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, WriteRequest,
};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use shared::clock::FixedClock;
use shared::dispatch::{DispatchOptions, HttpDispatcher, PrivateTargets};
use shared::model::{
    App, AppName, BaseUrl, DEFAULT_APP_BUDGET, ExecutionId, JobName, Status, Trigger,
};
use shared::ops::{AppInput, JobInput, JobKey, Ops, ScheduleForm};
use shared::protocol::{
    HEADER_ATTEMPT, HEADER_EXECUTION, HEADER_KEY, HEADER_SCHEDULED_FOR, format_slot, key_hash,
};
use shared::signing::{DEFAULT_TOLERANCE, app_key, verify_signature};
use shared::store::dynamodb::DynamoStore;
use shared::store::layout::{TableMeta, shard_key, shard_of};
use shared::store::{DueIndexSwitch, DueItem, GuardEnd, SHARDED_FORMAT, Store};
use shared::tick::{AppFigures, TickConfig, TickError, TickSummary, tick};

use crate::helpers::faultproxy::{Fault, FaultProxy};
use crate::helpers::jobserver::{Behavior, JobServer, Recorded};
use crate::helpers::moto;
use crate::world::init_tracing;

/// The fixture, relative to this crate.
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/legacy-v1.json");
/// What every URL in the fixture starts with, in place of the job server that built it.
const PLACEHOLDER: &str = "http://127.0.0.1:9";
/// The deployment secret calls are signed with, here and in the generator: a test value,
/// never stored (the records keep only their key generation and salt).
const SIGNING_SECRET: &str = "legacy-fixture-test-secret-not-a-real-one";
/// The nonce of the app's guard that ran billing/guarded's 09:26 slot.
const GUARD_NONCE: &str = "legacy-fixture-guard";

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, h, m, s)
        .single()
        .expect("a valid instant")
}

/// The fixture's `now`: the instant its state was built at.
fn fixture_now() -> DateTime<Utc> {
    at(9, 30, 0)
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// A dispatcher that signs every call with [`SIGNING_SECRET`] and may call loopback.
fn signing_dispatcher() -> HttpDispatcher {
    HttpDispatcher::with_options(DispatchOptions {
        private_targets: PrivateTargets::AllowAll,
        signing_secrets: vec![SIGNING_SECRET.to_owned()],
        ca_certs_pem: None,
    })
    .expect("http client")
}

/// Creates `table` as psu-sched created and deployed it before issue 29, written out here so
/// that later changes to `DynamoStore::create_table` leave it as it was: keys `pk`/`sk`
/// (strings), one global index `due` on `gsi1pk` (string) and `gsi1sk` (number) projecting
/// ALL attributes, on-demand billing, TTL on `expires`; no format marker.
async fn create_legacy_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .expect("key schema element")
    };
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .expect("attribute definition")
    };
    let due = GlobalSecondaryIndex::builder()
        .index_name("due")
        .key_schema(key("gsi1pk", KeyType::Hash))
        .key_schema(key("gsi1sk", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("the due index");
    client
        .create_table()
        .table_name(table)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::S))
        .attribute_definitions(attribute("gsi1pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("gsi1sk", ScalarAttributeType::N))
        .global_secondary_indexes(due)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable");
    for _ in 0..120 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("DescribeTable");
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires")
                .enabled(true)
                .build()
                .expect("TTL specification"),
        )
        .send()
        .await
        .expect("UpdateTimeToLive");
}

// ---------------------------------------------------------------------------------------
// DynamoDB JSON

/// An attribute value in DynamoDB's JSON (`{"S": "..."}`, `{"N": "..."}`, ...), maps with
/// their names sorted.
fn json_of(value: &AV) -> Value {
    match value {
        AV::S(s) => json!({ "S": s }),
        AV::N(n) => json!({ "N": n }),
        AV::Bool(b) => json!({ "BOOL": b }),
        AV::Null(b) => json!({ "NULL": b }),
        AV::M(m) => json!({ "M": json_of_item(m) }),
        AV::L(l) => json!({ "L": l.iter().map(json_of).collect::<Vec<_>>() }),
        AV::Ss(ss) => json!({ "SS": ss }),
        AV::Ns(ns) => json!({ "NS": ns }),
        other => panic!("an attribute type psu-sched never writes: {other:?}"),
    }
}

fn json_of_item(item: &HashMap<String, AV>) -> Value {
    let sorted: BTreeMap<&String, Value> = item.iter().map(|(k, v)| (k, json_of(v))).collect();
    serde_json::to_value(sorted).expect("a JSON object")
}

/// An attribute value from DynamoDB's JSON, every placeholder URL (`http://127.0.0.1:9/...`)
/// moved to `base`.
fn attribute_of(value: &Value, base: &str) -> AV {
    let Some((kind, inner)) = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    else {
        panic!("not a DynamoDB JSON value: {value}");
    };
    let strings = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("a list")
            .iter()
            .map(|v| v.as_str().expect("a string").to_owned())
            .collect()
    };
    match (kind.as_str(), inner) {
        ("S", Value::String(s)) => {
            AV::S(s.replace(&format!("{PLACEHOLDER}/"), &format!("{base}/")))
        }
        ("N", Value::String(n)) => AV::N(n.clone()),
        ("BOOL", Value::Bool(b)) => AV::Bool(*b),
        ("NULL", Value::Bool(b)) => AV::Null(*b),
        ("M", Value::Object(m)) => AV::M(
            m.iter()
                .map(|(k, v)| (k.clone(), attribute_of(v, base)))
                .collect(),
        ),
        ("L", Value::Array(l)) => AV::L(l.iter().map(|v| attribute_of(v, base)).collect()),
        ("SS", list) => AV::Ss(strings(list)),
        ("NS", list) => AV::Ns(strings(list)),
        _ => panic!("a DynamoDB JSON value this loader does not know: {value}"),
    }
}

/// Every item of `table`: a consistent, paginated Scan.
async fn scan_all(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<HashMap<String, AV>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Scan");
        items.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return items,
        }
    }
}

/// Writes `items` (DynamoDB JSON) into `table`, 25 a BatchWriteItem, with the placeholder
/// URLs moved to `base`.
async fn load(client: &aws_sdk_dynamodb::Client, table: &str, items: &[Value], base: &str) {
    let requests: Vec<WriteRequest> = items
        .iter()
        .map(|item| {
            let item = item
                .as_object()
                .expect("an item is an object")
                .iter()
                .map(|(k, v)| (k.clone(), attribute_of(v, base)))
                .collect();
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("put request"),
                )
                .build()
        })
        .collect();
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        for _ in 0..10 {
            let written = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .expect("BatchWriteItem");
            pending = written
                .unprocessed_items()
                .and_then(|left| left.get(table))
                .cloned()
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
        }
        assert!(pending.is_empty(), "items left unprocessed: {pending:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The fixture

struct Fixture {
    text: String,
    now: DateTime<Utc>,
    items: Vec<Value>,
}

fn read_fixture() -> Fixture {
    let text = std::fs::read_to_string(FIXTURE).unwrap_or_else(|e| {
        panic!("read {FIXTURE}: {e}; write it with legacy::write_the_legacy_fixture")
    });
    let json: Value = serde_json::from_str(&text).expect("the fixture is JSON");
    let now = DateTime::parse_from_rfc3339(json["now"].as_str().expect("`now` is a string"))
        .expect("`now` is RFC 3339")
        .with_timezone(&Utc);
    let items = json["items"].as_array().expect("`items` is a list").clone();
    Fixture { text, now, items }
}

/// A string or number attribute of a DynamoDB JSON item.
fn attr<'a>(item: &'a Value, name: &str) -> Option<&'a str> {
    let value = item.get(name)?;
    value
        .get("S")
        .or_else(|| value.get("N"))
        .and_then(Value::as_str)
}

/// A boolean attribute of a DynamoDB JSON item.
fn flag(item: &Value, name: &str) -> Option<bool> {
    item.get(name)?.get("BOOL")?.as_bool()
}

/// Checks what every reader of the fixture relies on, and says what it holds: each item has
/// `pk`, `sk` and `kind`, in `pk`-then-`sk` order, each key once; no `META` item; every URL
/// starts with the placeholder and nothing else names the job server that built it; no
/// signing secret. Returns how many items of each kind and state it holds.
fn census(text: &str) -> BTreeMap<String, usize> {
    let json: Value = serde_json::from_str(text).expect("the fixture is JSON");
    let written_by = json["written_by"]
        .as_str()
        .expect("`written_by` is a string");
    assert!(
        written_by.len() == 40 && written_by.chars().all(|c| c.is_ascii_hexdigit()),
        "`written_by` is a git commit: {written_by}"
    );
    DateTime::parse_from_rfc3339(json["now"].as_str().expect("`now` is a string"))
        .expect("`now` is RFC 3339");
    assert_eq!(json["base_url_placeholder"], PLACEHOLDER);
    let items = json["items"].as_array().expect("`items` is a list");
    let mut keys = Vec::new();
    let mut counts = BTreeMap::new();
    for item in items {
        let (Some(pk), Some(sk), Some(kind)) =
            (attr(item, "pk"), attr(item, "sk"), attr(item, "kind"))
        else {
            panic!("an item without pk, sk or kind: {item}");
        };
        assert_ne!(
            pk, "META",
            "the format marker is not part of a deployed table"
        );
        keys.push((pk.to_owned(), sk.to_owned()));
        let state = match kind {
            "app" if item.get("key_salt").is_some() => "app with a key salt".to_owned(),
            "app" => "app without a key salt".to_owned(),
            "job" => {
                let target = if item.get("path").is_some() {
                    "by path"
                } else {
                    "by URL"
                };
                let state = if flag(item, "enabled") == Some(false) {
                    "paused"
                } else if item.get("gsi1pk").is_some() {
                    "due"
                } else {
                    "ended"
                };
                format!("job {target}, {state}")
            }
            "exec" => {
                let status = attr(item, "status").expect("an execution has a status");
                match status {
                    "pending" if item.get("dispatched_by").is_some() => {
                        "exec pending, sent, no outcome".to_owned()
                    }
                    "pending" => "exec pending, never sent".to_owned(),
                    _ if item.get("guard_nonce").is_some() && item.get("gsi1pk").is_some() => {
                        format!("exec {status} by the app's guard, not yet counted")
                    }
                    _ => format!("exec {status}"),
                }
            }
            other => panic!("an item of unknown kind `{other}`: {item}"),
        };
        *counts.entry(state).or_insert(0) += 1;
    }
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "items sorted by pk then sk, each key once");
    assert!(
        text.contains(&format!("\"{PLACEHOLDER}/")),
        "URLs use the placeholder"
    );
    assert_eq!(
        text.matches("http://").count(),
        text.matches(&format!("{PLACEHOLDER}/")).count() + 1,
        "every URL starts with the placeholder (the + 1: base_url_placeholder itself)"
    );
    assert_eq!(
        text.matches("127.0.0.1").count(),
        text.matches(PLACEHOLDER).count(),
        "no other address of the job server that built it"
    );
    assert!(!text.contains(SIGNING_SECRET), "no signing secret");
    counts
}

/// What the fixture holds, by kind and state (see the module's table).
fn expected_census() -> BTreeMap<String, usize> {
    [
        ("app with a key salt", 1),
        ("app without a key salt", 1),
        // every-minute, even-minutes, retrying, hung, never-sent, guarded, reports'
        // every-minute, retired's by-path.
        ("job by path, due", 8),
        ("job by URL, due", 2),
        ("job by path, paused", 1),
        ("job by path, ended", 1),
        // every-minute 6, even-minutes 3, by-url 6, paused 3, ended 3, reports 6.
        ("exec succeeded", 27),
        // legacy's by-url 6, retired's by-path 6, retrying's 09:30.
        ("exec failed", 13),
        ("exec skipped", 2),
        ("exec pending, sent, no outcome", 1),
        ("exec pending, never sent", 1),
        ("exec succeeded by the app's guard, not yet counted", 1),
    ]
    .into_iter()
    .map(|(state, n)| (state.to_owned(), n))
    .collect()
}

#[test]
fn the_legacy_fixture_is_well_formed_and_holds_every_state() {
    let fixture = read_fixture();
    assert_eq!(census(&fixture.text), expected_census());
    assert_eq!(fixture.now, fixture_now());
    assert_eq!(fixture.items.len(), 59);
}

// ---------------------------------------------------------------------------------------
// After the upgrade

/// `(scheduled for, attempt)` of each request the job server received, by path.
fn calls_by_path(requests: &[Recorded]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut calls: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in requests {
        calls.entry(r.path.clone()).or_default().push((
            r.header(HEADER_SCHEDULED_FOR).unwrap_or("?").to_owned(),
            r.header(HEADER_ATTEMPT).unwrap_or("?").to_owned(),
        ));
    }
    calls
}

/// A tick's figures, by name (every field but `now`, `apps`, `dry_run` and `duration_ms`).
fn figures(s: &TickSummary) -> Vec<(&'static str, u64)> {
    vec![
        ("due", s.due),
        ("triggered", s.triggered),
        ("succeeded", s.succeeded),
        ("failed", s.failed),
        ("timed_out", s.timed_out),
        ("skipped", s.skipped),
        ("missed", s.missed),
        ("retried", s.retried),
        ("reconciled", s.reconciled),
        ("guard_finished", s.guard_finished),
        ("deferred", s.deferred),
        ("errors", s.errors),
    ]
}

/// `(app, triggered, succeeded, failed)`; timed out is 0 throughout.
fn app_figures(rows: &[(&str, u64, u64, u64)]) -> BTreeMap<String, AppFigures> {
    rows.iter()
        .map(|&(app, triggered, succeeded, failed)| {
            (
                app.to_owned(),
                AppFigures {
                    triggered,
                    succeeded,
                    failed,
                    timed_out: 0,
                },
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_written_before_shards_ticks_every_due_slot_once() {
    tick_the_fixture(1, 1).await;
}

/// Acceptance 1 of issue 29, second half: the same table with its due index raised to 4
/// shards before the first tick (writers switching at once), every item still under `DUE`;
/// the ticks move what they write to its app's shard, `reshard` after the first one moves the
/// rest, and the calls and history are exactly those at one shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_written_before_shards_raised_to_four_ticks_every_due_slot_once() {
    tick_the_fixture(4, SHARDED_FORMAT).await;
}

/// The same after `table upgrade`'s format 3 (calls in flight tracked by their job), at
/// four shards: the fixture's claims, calls and guard ends in the index are finished as they
/// were claimed, and the new claims are tracked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_written_before_upgraded_to_format_3_at_four_shards_ticks_every_due_slot_once() {
    tick_the_fixture(4, shared::store::NEW_TABLE_FORMAT).await;
}

/// Every `gsi1pk` of the table's items that are in the due index.
async fn index_keys(client: &aws_sdk_dynamodb::Client, table: &str) -> BTreeMap<String, String> {
    scan_all(client, table)
        .await
        .into_iter()
        .filter_map(|item| {
            let key = item.get("gsi1pk")?.as_s().ok()?.clone();
            let app = item.get("app")?.as_s().ok()?.clone();
            let sk = item.get("sk")?.as_s().ok()?.clone();
            Some((format!("{app} {sk}"), key))
        })
        .collect()
}

/// Loads the fixture, raises the table to `shards` (when more than 1) at `format`, ticks it
/// at N + 1, 2 and 3 minutes and checks every call and the history.
async fn tick_the_fixture(shards: u32, format: u64) {
    init_tracing();
    let fixture = read_fixture();
    let n = fixture.now;
    let server = JobServer::start().await;
    let base = server.url("");
    let endpoint = moto::endpoint().await;
    let client = moto::client(&endpoint).await;
    let table = moto::unique_table_name();
    create_legacy_table(&client, &table).await;
    load(&client, &table, &fixture.items, &base).await;
    let store = DynamoStore::new(&moto::sdk_config(&endpoint).await, &table);
    let dispatcher = signing_dispatcher();
    let clock = FixedClock::new(n);
    let config = TickConfig::default();
    if shards > 1 {
        let before = store.table_meta().await.expect("the layout");
        assert_eq!(
            before,
            TableMeta::LEGACY,
            "a table without META is one shard"
        );
        let mut raised = before
            .raise(shards, Utc::now(), Utc::now())
            .expect("a raise");
        raised.format = format;
        assert!(store.put_table_meta(&raised, 0).await.expect("raise"));
        let keys = index_keys(&client, &table).await;
        assert!(!keys.is_empty() && keys.values().all(|k| k == "DUE"));
    }
    let keys_index = format >= shared::store::NEW_TABLE_FORMAT;
    if keys_index {
        // `table upgrade`'s last step, as an operator meets it: no `due-keys` yet (the stack
        // not updated), then the template's update adds it beside `due`, and the switch
        // compares the two and moves the ticks to it, once.
        assert_eq!(
            store.switch_due_index().await.expect("switch"),
            DueIndexSwitch::Missing
        );
        assert!(!store.table_meta().await.expect("layout").keys_index);
        moto::add_due_index(&client, &table, "due-keys").await;
        assert_eq!(
            store.switch_due_index().await.expect("switch"),
            DueIndexSwitch::Switched { legacy: true }
        );
        assert_eq!(
            store.switch_due_index().await.expect("switch again"),
            DueIndexSwitch::AlreadyKeys
        );
        assert!(store.table_meta().await.expect("layout").keys_index);
    }

    let mut summaries = Vec::new();
    for minute in 1..=3 {
        clock.set(n + minutes(minute));
        let summary = tick(&store, &dispatcher, &clock, &config)
            .await
            .unwrap_or_else(|e| panic!("the tick at N + {minute} min: {e:?}"));
        assert_eq!(summary.now, n + minutes(minute));
        summaries.push(summary);
        if shards > 1 && minute == 1 {
            // Some items were rewritten into their shard by the tick; the rest still under
            // `DUE` (a job not due yet), which `reshard` moves.
            let keys = index_keys(&client, &table).await;
            assert!(keys.values().any(|k| k == "DUE"), "{keys:?}");
            assert!(keys.values().any(|k| k != "DUE"), "{keys:?}");
            let moved = store.reshard().await.expect("reshard");
            assert!(moved.moved > 0, "{moved:?}");
            let again = store.reshard().await.expect("reshard again");
            assert_eq!(again.moved, 0, "re-running moves nothing: {again:?}");
        }
        if keys_index && minute == 1 {
            // The template's second update (LegacyDueIndex=false): `due` is deleted, and the
            // next ticks read `due-keys` alone.
            moto::delete_index(&client, &table, "due").await;
            assert_eq!(moto::index_names(&client, &table).await, vec!["due-keys"]);
        }
    }
    if shards > 1 {
        // Every entry is in its app's shard.
        for (item, key) in index_keys(&client, &table).await {
            let app = AppName::parse(item.split(' ').next().expect("app")).expect("app");
            assert_eq!(key, shard_key(shard_of(&app, shards)), "{item}");
        }
    }

    // 09:31: the every-minute jobs (billing's two, reports', legacy's refused by the
    // dispatcher, retired's recorded failed without a call), retrying's attempt 2, the claim
    // never sent; hung reconciled and its retry scheduled; the guard's end counted.
    assert_eq!(
        figures(&summaries[0]),
        figures(&TickSummary {
            due: 7,
            triggered: 6,
            succeeded: 6,
            failed: 2,
            retried: 1,
            reconciled: 1,
            guard_finished: 1,
            ..TickSummary::default()
        })
    );
    assert_eq!(
        summaries[0].apps,
        app_figures(&[
            ("billing", 4, 5, 0),
            ("legacy", 1, 0, 1),
            ("reports", 1, 1, 0),
            ("retired", 0, 0, 1),
        ])
    );
    // 09:32: the every-minute jobs, even-minutes, guarded (free again), hung's attempt 2.
    assert_eq!(
        figures(&summaries[1]),
        figures(&TickSummary {
            due: 8,
            triggered: 7,
            succeeded: 6,
            failed: 2,
            ..TickSummary::default()
        })
    );
    assert_eq!(
        summaries[1].apps,
        app_figures(&[
            ("billing", 5, 5, 0),
            ("legacy", 1, 0, 1),
            ("reports", 1, 1, 0),
            ("retired", 0, 0, 1),
        ])
    );
    // 09:33: the every-minute jobs only.
    assert_eq!(
        figures(&summaries[2]),
        figures(&TickSummary {
            due: 5,
            triggered: 4,
            succeeded: 3,
            failed: 2,
            ..TickSummary::default()
        })
    );
    assert_eq!(
        summaries[2].apps,
        app_figures(&[
            ("billing", 2, 2, 0),
            ("legacy", 1, 0, 1),
            ("reports", 1, 1, 0),
            ("retired", 0, 0, 1),
        ])
    );

    // Each due slot called once, nothing else: paused, ended, the app without a record and
    // the deleted app's job never.
    let slot = |m: u32| format_slot(at(9, m, 0));
    let each_minute = vec![
        (slot(31), "1".to_owned()),
        (slot(32), "1".to_owned()),
        (slot(33), "1".to_owned()),
    ];
    let requests = server.requests();
    let expected: BTreeMap<String, Vec<(String, String)>> = [
        ("/billing/every-minute", each_minute.clone()),
        ("/billing/by-url", each_minute.clone()),
        ("/reports/every-minute", each_minute),
        ("/billing/even-minutes", vec![(slot(32), "1".to_owned())]),
        ("/billing/retrying", vec![(slot(30), "2".to_owned())]),
        ("/billing/never-sent", vec![(slot(30), "1".to_owned())]),
        ("/billing/hung", vec![(slot(29), "2".to_owned())]),
        ("/billing/guarded", vec![(slot(32), "1".to_owned())]),
    ]
    .into_iter()
    .map(|(path, calls)| (path.to_owned(), calls))
    .collect();
    assert_eq!(calls_by_path(&requests), expected);
    let executions: BTreeSet<&str> = requests
        .iter()
        .filter_map(|r| r.header(HEADER_EXECUTION))
        .collect();
    assert_eq!(
        executions.len(),
        requests.len(),
        "no execution called twice"
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.path == "/billing/by-url")
            .all(|r| r.method == "POST")
    );

    // Signed with each app's key as its record derives it: billing's with its salt, reports'
    // (a record written before salts) without.
    let billing_salt = fixture
        .items
        .iter()
        .find(|i| attr(i, "pk") == Some("APPS") && attr(i, "sk") == Some("APP#billing"))
        .and_then(|i| attr(i, "key_salt"))
        .expect("billing's record has a key salt");
    let reports = fixture
        .items
        .iter()
        .find(|i| attr(i, "pk") == Some("APPS") && attr(i, "sk") == Some("APP#reports"))
        .expect("reports' record");
    assert_eq!(reports.get("key_salt"), None);
    for r in &requests {
        let (app, salt) = if r.path.starts_with("/billing/") {
            ("billing", Some(billing_salt))
        } else {
            ("reports", None)
        };
        let target = match &r.query {
            Some(q) => format!("{}?{q}", r.path),
            None => r.path.clone(),
        };
        verify_signature(
            app,
            &[app_key(SIGNING_SECRET, app, 1, salt)],
            &r.headers,
            &r.method,
            &target,
            &r.body,
            Utc::now(),
            DEFAULT_TOLERANCE,
        )
        .unwrap_or_else(|e| panic!("{} {}: {e}", r.method, r.path));
    }

    // History intact: each job's executions are the fixture's and the new ones, with the
    // statuses a user would read.
    let mut expected_history: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut jobs = Vec::new();
    for item in &fixture.items {
        match attr(item, "kind") {
            Some("job") => jobs.push((
                attr(item, "app").expect("app").to_owned(),
                attr(item, "name").expect("name").to_owned(),
            )),
            Some("exec") => {
                expected_history.insert(
                    (
                        format!(
                            "{}/{}",
                            attr(item, "app").expect("app"),
                            attr(item, "name").expect("name")
                        ),
                        attr(item, "sk").expect("sk").to_owned(),
                    ),
                    attr(item, "status").expect("status").to_owned(),
                );
            }
            _ => {}
        }
    }
    assert_eq!(jobs.len(), 12);
    // New executions, and the fixture's two that move on (hung's call reconciled, the claim
    // never sent sent).
    let mut set = |job: &str, time: &str, attempt: u32, status: &str| {
        expected_history.insert(
            (
                job.to_owned(),
                format!("EXEC#20261126T{time}Z#s{attempt:02}"),
            ),
            status.to_owned(),
        );
    };
    for time in ["093100", "093200", "093300"] {
        for job in [
            "billing/every-minute",
            "billing/by-url",
            "reports/every-minute",
        ] {
            set(job, time, 1, "succeeded");
        }
        for job in ["legacy/by-url", "retired/by-path"] {
            set(job, time, 1, "failed");
        }
    }
    set("billing/even-minutes", "093200", 1, "succeeded");
    set("billing/guarded", "093200", 1, "succeeded");
    set("billing/retrying", "093000", 2, "succeeded");
    set("billing/hung", "092900", 1, "timed_out");
    set("billing/hung", "092900", 2, "succeeded");
    set("billing/never-sent", "093000", 1, "succeeded");
    let mut history: BTreeMap<(String, String), String> = BTreeMap::new();
    for (app, name) in &jobs {
        let job = store
            .get_job(
                &AppName::parse(app).expect("app"),
                &JobName::parse(name).expect("name"),
            )
            .await
            .expect("get the job")
            .unwrap_or_else(|| panic!("the job {app}/{name} is still there"));
        if name == "paused" {
            assert!(!job.enabled, "billing/paused stays paused");
        }
        for e in store.list_executions(&job.id, 1000).await.expect("history") {
            history.insert(
                (format!("{app}/{name}"), format!("EXEC#{}", e.id.slot_key())),
                e.status.to_string(),
            );
        }
    }
    assert_eq!(history, expected_history);
    assert_eq!(history.len(), 45 + 19);
}

// ---------------------------------------------------------------------------------------
// The generator

/// The commit of this worktree's HEAD. Refuses while the code that writes items (shared,
/// the Lambda, the CLI) has uncommitted changes: the fixture names the code that wrote it.
fn head_commit() -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?} failed");
        String::from_utf8(out.stdout).expect("git's output is UTF-8")
    };
    let dirty = git(&[
        "status",
        "--porcelain",
        "--",
        "shared",
        "lambda",
        "cli",
        "Cargo.lock",
    ]);
    assert!(
        dirty.trim().is_empty(),
        "commit the code first: the fixture names the commit that wrote it\n{dirty}"
    );
    git(&["rev-parse", "HEAD"]).trim().to_owned()
}

fn job_input(target: &str, cron: &str) -> JobInput {
    let mut input = JobInput {
        schedule: ScheduleForm {
            cron: Some(cron.to_owned()),
            ..ScheduleForm::default()
        },
        ..JobInput::default()
    };
    if target.starts_with('/') {
        input.path = Some(target.to_owned());
    } else {
        input.url = Some(target.to_owned());
    }
    input
}

fn key(app: &str, name: &str) -> JobKey {
    JobKey::parse(app, name).expect("job key")
}

/// Writes tests/fixtures/legacy-v1.json from a scripted run of this commit's code (see the
/// module's documentation for the states and the command).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the committed fixture; run by hand only (see the module's documentation)"]
async fn write_the_legacy_fixture() {
    init_tracing();
    let written_by = head_commit();
    let endpoint = moto::endpoint().await;
    let client = moto::client(&endpoint).await;
    let table = moto::unique_table_name();
    create_legacy_table(&client, &table).await;
    let sdk = moto::sdk_config(&endpoint).await;
    let store = DynamoStore::new(&sdk, &table);
    let ops = Ops::with_store(
        format!("dynamodb:{table}"),
        Arc::new(DynamoStore::new(&sdk, &table)),
    );
    let server = JobServer::start().await;
    let base = server.url("");
    let dispatcher = signing_dispatcher();
    let config = TickConfig::default();
    let clock = FixedClock::new(at(9, 24, 30));
    let tick_at = |t: DateTime<Utc>| {
        clock.set(t);
        tick(&store, &dispatcher, &clock, &config)
    };

    // 09:24:30: the apps and jobs.
    let setup = at(9, 24, 30);
    for app in ["billing", "retired"] {
        let input = AppInput {
            base_url: Some(format!("{base}/{app}")),
            budget: None,
            timezone: None,
            ..AppInput::default()
        };
        ops.create_app(app, &input, setup)
            .await
            .expect("create app");
    }
    // A record written before key salts: today's type, without its salt.
    let mut reports = App::new(
        AppName::parse("reports").expect("app"),
        BaseUrl::parse(&format!("{base}/reports")).expect("base URL"),
        DEFAULT_APP_BUDGET,
        setup,
    )
    .expect("app");
    reports.key_salt = None;
    store.create_app(&reports).await.expect("create reports");
    let creates = [
        (
            "billing",
            "every-minute",
            job_input("/every-minute", "* * * * *"),
        ),
        (
            "billing",
            "even-minutes",
            job_input("/even-minutes", "*/2 * * * *"),
        ),
        (
            "billing",
            "by-url",
            JobInput {
                method: Some("POST".into()),
                ..job_input(&format!("{base}/billing/by-url"), "* * * * *")
            },
        ),
        ("billing", "paused", job_input("/paused", "* * * * *")),
        (
            "billing",
            "ended",
            JobInput {
                end: Some("2026-11-26T09:27:00Z".into()),
                ..job_input("/ended", "* * * * *")
            },
        ),
        (
            "billing",
            "retrying",
            JobInput {
                retries: Some("2".into()),
                ..job_input("/retrying", "30 * * * *")
            },
        ),
        (
            "billing",
            "guarded",
            JobInput {
                timeout: Some("5m".into()),
                ..job_input("/guarded", "*/2 * * * *")
            },
        ),
        (
            "reports",
            "every-minute",
            job_input("/every-minute", "* * * * *"),
        ),
        (
            "legacy",
            "by-url",
            job_input(&format!("{base}/legacy/by-url"), "* * * * *"),
        ),
        ("retired", "by-path", job_input("/by-path", "* * * * *")),
    ];
    for (app, name, input) in &creates {
        ops.create(&key(app, name), input, setup)
            .await
            .expect("create job");
    }
    // The record deleted while a job by path still names the app.
    store
        .delete_app(&AppName::parse("retired").expect("app"))
        .await
        .expect("delete retired")
        .expect("retired's record was there");
    server.set("/billing/guarded", Behavior::Sleep(Duration::from_secs(1)));
    server.set("/billing/retrying", Behavior::Status(500));
    server.set("/billing/hung", Behavior::Sleep(Duration::from_secs(3600)));

    tick_at(at(9, 25, 0)).await.expect("tick 09:25");

    // 09:26: the app's guard claims billing/guarded's call while it runs; the call's answer
    // then leaves it running (in flight until its end).
    clock.set(at(9, 26, 0));
    let (summary, guarded) = tokio::join!(tick(&store, &dispatcher, &clock, &config), async {
        let seen = server
            .wait_for("/billing/guarded", 1, Duration::from_secs(30))
            .await;
        let request = seen.first().expect("billing/guarded was called");
        let id = ExecutionId::parse(request.header(HEADER_EXECUTION).expect("execution"))
            .expect("execution id");
        let key = request.header(HEADER_KEY).expect("key");
        assert!(
            store
                .guard_start(&id, &key_hash(key), GUARD_NONCE, at(9, 26, 1))
                .await
                .expect("guard start")
        );
        id
    });
    summary.expect("tick 09:26");
    let running = store
        .get_execution(&guarded)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        (running.status, running.http_status),
        (Status::Running, Some(200))
    );

    tick_at(at(9, 27, 0)).await.expect("tick 09:27");
    ops.pause(&key("billing", "paused"), None, at(9, 27, 30))
        .await
        .expect("pause");
    tick_at(at(9, 28, 0)).await.expect("tick 09:28");
    tick_at(at(9, 29, 0)).await.expect("tick 09:29");

    // billing/hung, created at 09:28:30 but written after the 09:29 tick read the index; a
    // second tick at 09:29 calls it and dies during the call (its future dropped): sent, no
    // outcome, reconciled after its deadline (09:29 + 30 s timeout + 60 s grace).
    let hung = ops
        .create(
            &key("billing", "hung"),
            &JobInput {
                retries: Some("1".into()),
                ..job_input("/hung", "29 * * * *")
            },
            at(9, 28, 30),
        )
        .await
        .expect("create hung");
    clock.set(at(9, 29, 0));
    tokio::select! {
        ended = tick(&store, &dispatcher, &clock, &config) => {
            panic!("the tick was to die during billing/hung's call; it ended: {ended:?}")
        }
        seen = server.wait_for("/billing/hung", 1, Duration::from_secs(30)) => {
            assert_eq!(seen.len(), 1, "billing/hung was called");
        }
    }

    tick_at(at(9, 30, 0)).await.expect("tick 09:30");

    // billing/never-sent, created at 09:29:30 but written after the 09:30 tick read the
    // index; a second tick at 09:30 claims it, then its store fails every UpdateItem (no SDK
    // retries): the mark is never written, nor the give-back. Claimed, never sent, due when
    // the claim's lease ends (09:31).
    let never_sent = ops
        .create(
            &key("billing", "never-sent"),
            &job_input("/never-sent", "30 * * * *"),
            at(9, 29, 30),
        )
        .await
        .expect("create never-sent");
    let proxy = FaultProxy::start(&endpoint).await;
    let no_retries = moto::sdk_config(&proxy.url())
        .await
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    let failing = DynamoStore::new(&no_retries, &table);
    proxy.set_plan_for("UpdateItem", vec![Some(Fault::ServerError); 100]);
    clock.set(at(9, 30, 0));
    match tick(&failing, &dispatcher, &clock, &config).await {
        Err(TickError::Incomplete { summary, .. }) => {
            assert_eq!(
                (summary.due, summary.triggered, summary.errors),
                (1, 0, 1),
                "{summary:?}"
            );
        }
        other => panic!("the tick was to fail after its claim: {other:?}"),
    }
    proxy.clear();
    assert_eq!(server.count("/billing/never-sent"), 0);

    // The guard records the end of billing/guarded's 09:26 run at N, after the 09:30 ticks.
    let end = GuardEnd {
        status: Status::Succeeded,
        http_status: None,
        output: Some("report sent".into()),
        error: None,
        finished_at: fixture_now(),
        duration_ms: 239_000,
    };
    assert!(
        store
            .guard_end(&guarded, GUARD_NONCE, &end)
            .await
            .expect("guard end")
    );

    // What the next tick will find due, by today's store.
    let mut due: Vec<String> = store
        .due(fixture_now() + minutes(1))
        .await
        .expect("due")
        .iter()
        .map(|item| match item {
            DueItem::Job(j) => format!("job {}/{}", j.app, j.name),
            DueItem::Execution(e) => format!("exec {}/{} {}", e.app, e.name, e.status),
        })
        .collect();
    due.sort();
    assert_eq!(
        due,
        [
            "exec billing/guarded succeeded",
            "exec billing/hung pending",
            "exec billing/never-sent pending",
            "job billing/by-url",
            "job billing/every-minute",
            "job billing/retrying",
            "job legacy/by-url",
            "job reports/every-minute",
            "job retired/by-path",
        ]
    );
    let hung_call = store
        .get_execution(&ExecutionId::new(
            hung.id.clone(),
            at(9, 29, 0),
            Trigger::Schedule,
            1,
        ))
        .await
        .expect("get")
        .expect("hung's execution");
    assert!(hung_call.dispatched_by.is_some() && hung_call.status == Status::Pending);
    let orphan = store
        .get_execution(&ExecutionId::new(
            never_sent.id.clone(),
            at(9, 30, 0),
            Trigger::Schedule,
            1,
        ))
        .await
        .expect("get")
        .expect("never-sent's execution");
    assert_eq!(
        (orphan.dispatched_by, orphan.due_at),
        (None, Some(at(9, 31, 0)))
    );

    // The dump.
    let mut items: Vec<HashMap<String, AV>> = scan_all(&client, &table)
        .await
        .into_iter()
        .filter(|item| item.get("pk") != Some(&AV::S("META".to_owned())))
        .collect();
    let key_of = |item: &HashMap<String, AV>| {
        let text = |name: &str| match item.get(name) {
            Some(AV::S(s)) => s.clone(),
            other => panic!("{name} is not a string: {other:?}"),
        };
        (text("pk"), text("sk"))
    };
    items.sort_by_key(key_of);
    let lines: Vec<String> = items
        .iter()
        .map(|item| serde_json::to_string(&json_of_item(item)).expect("JSON"))
        .collect();
    let text = format!(
        "{{\n  \"written_by\": {},\n  \"now\": {},\n  \"base_url_placeholder\": {},\n  \"items\": [\n    {}\n  ]\n}}\n",
        json!(written_by),
        json!(fixture_now().to_rfc3339_opts(SecondsFormat::Secs, true)),
        json!(PLACEHOLDER),
        lines.join(",\n    "),
    )
    .replace(&base, PLACEHOLDER);
    assert!(
        !text.contains(&format!(":{}", server.addr().port())),
        "the job server's port is gone"
    );
    assert_eq!(census(&text), expected_census());
    std::fs::write(FIXTURE, text).expect("write the fixture");
}
