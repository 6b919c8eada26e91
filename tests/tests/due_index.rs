//! The due index a table's ticks read (`META.due_index`) against the indexes the table has:
//! what the tick and `table upgrade` say and do when the two disagree (docs/deploy.md,
//! "Upgrading the due index"). Found by a review of the switch against the real binary; each
//! test failed first.

use aws_sdk_dynamodb::types::{
    AttributeValue, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, KeySchemaElement,
    KeyType, Projection, ProjectionType,
};

use crate::cli::Cli;
use crate::helpers::moto;

/// Deletes the table's `META` item: a table made by the template, never upgraded.
async fn forget_meta(cli: &Cli) {
    moto::client(&cli.endpoint)
        .await
        .delete_item()
        .table_name(&cli.table)
        .key("pk", AttributeValue::S("META".into()))
        .key("sk", AttributeValue::S("FORMAT".into()))
        .send()
        .await
        .expect("delete META");
}

/// A job due every minute, so that a tick has something to read.
async fn a_job(cli: &Cli) {
    cli.run(&[
        "create",
        "--app",
        "shop",
        "--name",
        "sweep",
        "--url",
        "http://127.0.0.1:9/sweep",
        "--every",
        "1m",
    ])
    .await
    .ok();
}

/// A new stack with `LegacyDueIndex=false`: `due-keys` alone and no `META` yet, so ticks would
/// read `due`. The tick says which index is missing and what to run; `table upgrade` switches
/// the ticks to `due-keys` (there is no `due` to compare with), and the tick then works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_on_a_table_without_the_index_its_layout_names_says_which_and_what_to_run() {
    let cli = Cli::new().await;
    a_job(&cli).await;
    forget_meta(&cli).await;
    let tick = cli.run(&["tick", "--dry-run"]).await;
    assert_eq!(tick.code, 1, "{tick:?}");
    let line = tick.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{tick:?}");
    assert!(
        line.contains("no index `due`") && line.contains("psu-sched table upgrade"),
        "names the missing index and the command: {line}"
    );
    assert!(
        !line.contains("does not exist: run `psu-sched init`"),
        "{line}"
    );

    let upgraded = cli
        .run(&["table", "upgrade", "--yes", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(upgraded["due_index"]["state"], "keys", "{upgraded}");
    assert_eq!(upgraded["table"]["due_index"], "due-keys", "{upgraded}");
    cli.run(&["tick", "--dry-run"]).await.ok();
}

/// `META` names `due-keys` but the table lost it (a template rolled back past this release):
/// the tick names it; `table upgrade` does not call that "already", it moves the ticks back to
/// `due`, says so, and exits 1 (the switch is not done); the tick works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_upgrade_moves_the_ticks_back_to_due_when_due_keys_is_gone() {
    let cli = Cli::new().await;
    a_job(&cli).await;
    let client = moto::client(&cli.endpoint).await;
    moto::add_due_index(&client, &cli.table, "due").await;
    moto::delete_index(&client, &cli.table, "due-keys").await;
    let tick = cli.run(&["tick", "--dry-run"]).await;
    assert_eq!(tick.code, 1, "{tick:?}");
    assert!(tick.stderr.contains("no index `due-keys`"), "{tick:?}");

    let upgrade = cli.run(&["table", "upgrade", "--yes", "--json"]).await;
    assert_eq!(upgrade.code, 1, "the switch is not done: {upgrade:?}");
    let answer = upgrade.json();
    assert_eq!(answer["due_index"]["state"], "missing", "{answer}");
    assert_eq!(
        answer["table"]["due_index"], "due",
        "back to `due`: {answer}"
    );
    cli.run(&["tick", "--dry-run"]).await.ok();
    let human = cli.run(&["table", "upgrade"]).await;
    assert_eq!(human.code, 1, "{human:?}");
    assert!(human.stdout.contains("no `due-keys` index"), "{human:?}");
}

/// A `due-keys` index on other keys than the due index's (`gsi1pk` alone) is refused by
/// name, the ticks left on `due`, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_upgrade_refuses_a_due_keys_index_on_other_keys() {
    let cli = Cli::new().await;
    a_job(&cli).await;
    forget_meta(&cli).await;
    let client = moto::client(&cli.endpoint).await;
    moto::add_due_index(&client, &cli.table, "due").await;
    moto::delete_index(&client, &cli.table, "due-keys").await;
    let hash_only = CreateGlobalSecondaryIndexAction::builder()
        .index_name("due-keys")
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("gsi1pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .expect("index");
    client
        .update_table()
        .table_name(&cli.table)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(hash_only)
                .build(),
        )
        .send()
        .await
        .expect("UpdateTable");
    let upgrade = cli.run(&["table", "upgrade", "--yes", "--json"]).await;
    assert_eq!(upgrade.code, 1, "{upgrade:?}");
    let answer = upgrade.json();
    assert_eq!(answer["due_index"]["state"], "unusable", "{answer}");
    assert!(
        answer["due_index"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("gsi1sk")),
        "{answer}"
    );
    assert_eq!(answer["table"]["due_index"], "due", "{answer}");
    cli.run(&["tick", "--dry-run"]).await.ok();
}
