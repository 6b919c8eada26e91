//! The table-format marker (docs/data-model.md, "The table's format"): a table records the
//! format of the items written to it, and a tick refuses a table whose format is newer than
//! the one it knows, before it reads or writes anything else, so that a rolled-back function
//! or an old CLI never ticks items it would misread. A table without a marker (written before
//! the marker existed) is format 1.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::store::{Store, TABLE_FORMAT};
use shared::tick::tick;

use crate::helpers::moto;
use crate::world::{World, utc};

/// The marker's key (docs/data-model.md).
const MARKER_PK: &str = "META";
const MARKER_SK: &str = "FORMAT";

/// Writes the marker as a later version of psu-sched would: format `format`.
pub(crate) async fn put_table_format(endpoint: &str, table: &str, format: u64) {
    moto::client(endpoint)
        .await
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(MARKER_PK.into()))
        .item("sk", AttributeValue::S(MARKER_SK.into()))
        .item("kind", AttributeValue::S("meta".into()))
        .item("format", AttributeValue::N(format.to_string()))
        .send()
        .await
        .expect("put the table-format marker");
}

/// The marker's `format`, if the table has one.
async fn table_format(endpoint: &str, table: &str) -> Option<String> {
    let out = moto::client(endpoint)
        .await
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(MARKER_PK.into()))
        .key("sk", AttributeValue::S(MARKER_SK.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get the table-format marker");
    out.item
        .and_then(|item| item.get("format").cloned())
        .map(|v| v.as_n().expect("format is a number").clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_table_records_the_format_this_version_writes() {
    let world = World::new(utc(2026, 6, 6, 9, 0)).await;
    assert_eq!(
        table_format(&world.endpoint, &world.table).await.as_deref(),
        Some("3"),
        "init writes the marker: format 3 (calls tracked by their job)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_table_is_one_shard_of_format_3_and_a_table_without_meta_of_format_1() {
    let world = World::new(utc(2026, 6, 6, 9, 0)).await;
    let legacy = shared::store::layout::TableMeta::LEGACY;
    assert_eq!(
        world.store.table_meta().await.expect("meta"),
        shared::store::layout::TableMeta {
            format: 3,
            keys_index: true,
            retention_days: Some(30),
            ..legacy
        }
    );
    assert_eq!(
        moto::index_names(&moto::client(&world.endpoint).await, &world.table).await,
        vec!["due-keys"],
        "a new table has the keys-only due index alone"
    );
    moto::client(&world.endpoint)
        .await
        .delete_item()
        .table_name(&world.table)
        .key("pk", AttributeValue::S(MARKER_PK.into()))
        .key("sk", AttributeValue::S(MARKER_SK.into()))
        .send()
        .await
        .expect("delete the marker");
    assert_eq!(world.store.table_meta().await.expect("meta"), legacy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_refuses_a_table_of_a_newer_format_and_neither_claims_nor_calls() {
    let at = utc(2026, 6, 6, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let job = world
        .create(world.spec("nightly", "/nightly", "* * * * *"))
        .await;
    put_table_format(&world.endpoint, &world.table, 1000).await;
    world.set(at);

    let err = tick(
        &world.store,
        &world.dispatcher,
        world.clock.as_ref(),
        &world.config,
    )
    .await
    .expect_err("a table of a newer format is refused");
    let text = shared::error_chain(&err);
    assert!(
        text.contains("format 1000") && text.contains(&format!("format {TABLE_FORMAT} ")),
        "the error names the table's format and the one this version knows: {text}"
    );
    assert_eq!(world.server.count("/nightly"), 0, "nothing called");
    assert!(
        world
            .store
            .list_executions(&job.id, 10)
            .await
            .expect("history")
            .is_empty(),
        "nothing claimed"
    );
    let read = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("the job");
    assert_eq!(
        read.state.version, job.state.version,
        "the job is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_a_marker_or_at_this_format_ticks() {
    let at = utc(2026, 6, 6, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    world
        .create(world.spec("nightly", "/nightly", "* * * * *"))
        .await;
    // A table created before the marker existed: no marker at all, and the index of
    // projection ALL its ticks read (`due`; the template keeps it beside `due-keys`).
    moto::add_due_index(&moto::client(&world.endpoint).await, &world.table, "due").await;
    moto::client(&world.endpoint)
        .await
        .delete_item()
        .table_name(&world.table)
        .key("pk", AttributeValue::S(MARKER_PK.into()))
        .key("sk", AttributeValue::S(MARKER_SK.into()))
        .send()
        .await
        .expect("delete the marker");
    world.set(at);
    assert_eq!(world.tick().await.succeeded, 1);
    // And one that says format 1.
    put_table_format(&world.endpoint, &world.table, 1).await;
    world.set(at + chrono::Duration::minutes(1));
    assert_eq!(world.tick().await.succeeded, 1);
    assert_eq!(world.server.count("/nightly"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_writes_nothing_to_a_table_of_a_newer_format_and_still_reads_it() {
    let cli = crate::cli::Cli::new().await;
    cli.run(&[
        "create",
        "--app",
        "billing",
        "--name",
        "nightly",
        "--url",
        "http://127.0.0.1:9/nightly",
        "--every",
        "1h",
    ])
    .await
    .ok();
    put_table_format(&cli.endpoint, &cli.table, 1000).await;

    for args in [
        &[
            "create",
            "--app",
            "billing",
            "--name",
            "hourly",
            "--url",
            "http://127.0.0.1:9/hourly",
            "--every",
            "1h",
        ][..],
        &["pause", "--app", "billing", "--name", "nightly"][..],
        &["delete", "--app", "billing", "--name", "nightly", "--yes"][..],
        &[
            "app",
            "create",
            "--app",
            "reports",
            "--base-url",
            "http://127.0.0.1:9",
        ][..],
    ] {
        let run = cli.run(args).await;
        assert_ne!(run.code, 0, "{args:?} is refused: {run:?}");
        assert!(
            run.stderr.contains("format 1000") && run.stderr.lines().count() <= 2,
            "{args:?}: one clear line naming the table's format: {run:?}"
        );
    }
    // Nothing was written: the one job, still enabled, and no app record.
    let jobs = cli.list().await;
    let jobs = jobs.as_array().expect("a list");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["name"], "nightly");
    assert_ne!(jobs[0]["state"], "paused", "{jobs:?}");
    let apps = cli.run(&["app", "list", "--json"]).await.ok();
    assert!(!apps.stdout.contains("reports"), "{apps:?}");
}
