//! Listing every job without a Scan (issue 29, acceptance 4, second half; docs/data-model.md,
//! "Listing every job"): on a table with history, `list`, `export`, `stats` and the admin's
//! overview read the app directory and each app's partition, a fixed number of `Query`s
//! independent of history, once `table upgrade` completed the directory; before it, they scan.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::model::{App, AppName, BaseUrl, JobName, JobUrl, NewJob};
use shared::ops::Ops;
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;

use crate::helpers::jobserver::JobServer;
use crate::helpers::moto;
use crate::world::utc;

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_listing_reads_the_app_directory_in_a_fixed_number_of_queries_and_no_scan() {
    let endpoint = moto::endpoint().await;
    let table = moto::unique_table_name();
    let sdk = moto::sdk_config(&endpoint).await;
    let store = DynamoStore::new(&sdk, &table);
    store.create_table().await.expect("create the table");
    let server = JobServer::start().await;
    let start = utc(2026, 6, 14, 9, 0);
    // billing and reports have records; legacy's jobs are by URL, without one.
    for app in ["billing", "reports"] {
        let record = App::new(
            AppName::parse(app).expect("app"),
            BaseUrl::parse(&server.url("")).expect("base"),
            4,
            start - chrono::Duration::hours(1),
        )
        .expect("record");
        store.create_app(&record).await.expect("create app");
    }
    let mut jobs = Vec::new();
    for (app, n) in [("billing", 3), ("reports", 2), ("legacy", 2)] {
        for i in 0..n {
            let job = NewJob::new(
                AppName::parse(app).expect("app"),
                JobName::parse(&format!("job-{i}")).expect("name"),
                JobUrl::parse(&server.url(&format!("/{app}/job-{i}"))).expect("url"),
                "* * * * *".parse().expect("schedule"),
            )
            .build(start - chrono::Duration::seconds(30))
            .expect("job");
            jobs.push(job);
        }
    }
    store.create_job(&jobs[0]).await.expect("create");
    store.import_jobs(&jobs[1..]).await.expect("import");
    // History: five minutes of runs.
    let dispatcher = shared::dispatch::HttpDispatcher::new().expect("client");
    for m in 0..5 {
        let clock = shared::clock::FixedClock::new(start + chrono::Duration::minutes(m));
        shared::tick::tick(
            &store,
            &dispatcher,
            &clock,
            &shared::tick::TickConfig::default(),
        )
        .await
        .expect("tick");
    }
    // legacy's jobs as a version before the directory wrote them: without its entry, and the
    // table without the directory's completion mark (made before `init` wrote it).
    for sk in ["DIR#legacy", "DIR"] {
        moto::client(&endpoint)
            .await
            .delete_item()
            .table_name(&table)
            .key("pk", AttributeValue::S("APPS".into()))
            .key("sk", AttributeValue::S(sk.into()))
            .send()
            .await
            .expect("delete an entry");
    }
    let requests = store.requests().clone();
    let ops = Ops::with_store("dynamodb", Arc::new(store));
    let week = Duration::from_secs(7 * 86_400);

    requests.reset();
    assert_eq!(ops.list(None).await.expect("list").len(), 7);
    assert_eq!(
        requests.snapshot(),
        counts(&[("Query", 1), ("Scan", 1)]),
        "before the upgrade: the directory is not known complete, so a Scan"
    );

    let upgraded = ops
        .upgrade_table()
        .await
        .expect("upgrade")
        .expect("a DynamoDB table has a directory");
    assert_eq!(
        (upgraded.apps, upgraded.meta.format),
        (3, 3),
        "legacy's entry written again"
    );

    for (what, expected) in [
        ("list", counts(&[("Query", 1 + 3)])),
        ("export", counts(&[("Query", 1 + 3 + 1)])),
        ("stats", counts(&[("Query", 1 + 3 + 7)])),
        // The jobs' own records: no history read (no job is failing, so no latest error).
        ("overview", counts(&[("Query", 1 + 3 + 1)])),
    ] {
        requests.reset();
        match what {
            "list" => assert_eq!(ops.list(None).await.expect("list").len(), 7),
            "export" => {
                let text = ops.export(None).await.expect("export");
                assert!(text.contains("legacy"), "{text}");
            }
            "stats" => assert_eq!(ops.stats(None, week).await.expect("stats").jobs.len(), 7),
            _ => {
                let overview = ops
                    .overview(start + chrono::Duration::minutes(5))
                    .await
                    .expect("overview");
                assert_eq!(overview.jobs.len(), 7);
            }
        }
        assert_eq!(
            requests.snapshot(),
            expected,
            "{what}: no Scan, a Query per app"
        );
    }
}

/// A table made by `init` has an empty, complete app directory: its listings never Scan, with
/// no `table upgrade`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_table_lists_every_job_from_the_directory_without_an_upgrade() {
    let endpoint = moto::endpoint().await;
    let table = moto::unique_table_name();
    let store = DynamoStore::new(&moto::sdk_config(&endpoint).await, &table);
    store.create_table().await.expect("create the table");
    let job = NewJob::new(
        AppName::parse("billing").expect("app"),
        JobName::parse("invoices").expect("name"),
        JobUrl::parse("https://billing.example.edu/invoices").expect("url"),
        "0 9 * * *".parse().expect("schedule"),
    )
    .build(utc(2026, 6, 14, 9, 0))
    .expect("job");
    store.create_job(&job).await.expect("create");
    let requests = store.requests().clone();
    let ops = Ops::with_store("dynamodb", Arc::new(store));
    requests.reset();
    assert_eq!(ops.list(None).await.expect("list").len(), 1);
    assert_eq!(requests.snapshot(), counts(&[("Query", 2)]));
}
