//! DynamoDB writes whose answer is lost (issue 13): the fault proxy forwards the request to
//! moto, which applies it, and closes the connection without answering; the SDK sends the
//! same request again. The store must recognise its own earlier write in the answer to the
//! retry, not report what the retry alone saw ("already exists", "no job named"). The same
//! for app records (issue 16).

use chrono::{TimeZone, Utc};
use shared::model::{App, AppName, BaseUrl, Job, JobName, JobUrl, NewJob};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;

use crate::helpers::faultproxy::{Fault, FaultProxy};
use crate::helpers::moto;

/// A fresh table on moto, a store on it directly, and one through a fault proxy.
struct Faulty {
    direct: DynamoStore,
    faulty: DynamoStore,
    proxy: FaultProxy,
}

impl Faulty {
    async fn new() -> Faulty {
        let endpoint = moto::endpoint().await;
        let table = moto::unique_table_name();
        let direct = DynamoStore::new(&moto::sdk_config(&endpoint).await, table.clone());
        direct.create_table().await.expect("create the test table");
        let proxy = FaultProxy::start(&endpoint).await;
        let faulty = DynamoStore::new(&moto::sdk_config(&proxy.url()).await, table);
        Faulty {
            direct,
            faulty,
            proxy,
        }
    }
}

fn job(name: &str) -> Job {
    NewJob::new(
        AppName::parse("lost").expect("app"),
        JobName::parse(name).expect("name"),
        JobUrl::parse(&format!("https://example.edu/{name}")).expect("url"),
        "0 * * * *".parse().expect("schedule"),
    )
    .build(
        Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0)
            .single()
            .expect("instant"),
    )
    .expect("valid job")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_lost_is_recognised_as_its_own() {
    let t = Faulty::new().await;
    let j = job("created");
    // A job's create is one transaction (its app's record checked with it).
    t.proxy
        .set_plan_for("TransactWriteItems", vec![Some(Fault::DropAnswer)]);
    let created = t.faulty.create_job(&j).await;
    let stats = t.proxy.stats();
    assert_eq!(
        (stats.dropped_answers, stats.operation("TransactWriteItems")),
        (1, 2),
        "applied, its answer dropped, sent again by the SDK"
    );
    created.expect("the job this request created is no other job's");
    assert_eq!(
        t.direct.get_job(&j.app, &j.name).await.expect("get"),
        Some(j)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_of_a_taken_name_is_still_refused_when_its_answer_was_lost() {
    let t = Faulty::new().await;
    let first = job("taken");
    t.direct.create_job(&first).await.expect("create");
    let second = job("taken");
    t.proxy
        .set_plan_for("TransactWriteItems", vec![Some(Fault::DropAnswer)]);
    match t.faulty.create_job(&second).await {
        Err(shared::store::StoreError::AlreadyExists(..)) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        t.direct
            .get_job(&first.app, &first.name)
            .await
            .expect("get"),
        Some(first)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_whose_answer_was_lost_still_returns_the_deleted_job() {
    let t = Faulty::new().await;
    let j = job("deleted");
    t.direct.create_job(&j).await.expect("create");
    t.proxy
        .set_plan_for("DeleteItem", vec![Some(Fault::DropAnswer)]);
    let deleted = t.faulty.delete_job(&j.app, &j.name).await.expect("delete");
    let stats = t.proxy.stats();
    assert_eq!(
        (stats.dropped_answers, stats.operation("DeleteItem")),
        (1, 2),
        "applied, its answer dropped, sent again by the SDK"
    );
    assert_eq!(
        deleted,
        Some(j.clone()),
        "the job this request deleted, not \"no job named\""
    );
    assert_eq!(t.direct.get_job(&j.app, &j.name).await.expect("get"), None);
}

/// An app record (issue 16) created at 08:00 and a fraction of a second.
fn app(name: &str) -> App {
    App::new(
        AppName::parse(name).expect("app"),
        BaseUrl::parse(&format!("https://{name}.example.edu")).expect("base url"),
        4,
        Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0)
            .single()
            .expect("instant")
            + chrono::Duration::nanoseconds(987_654_321),
    )
    .expect("valid app")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_create_whose_answer_was_lost_is_recognised_as_its_own() {
    let t = Faulty::new().await;
    let a = app("billing");
    t.proxy
        .set_plan_for("PutItem", vec![Some(Fault::DropAnswer)]);
    let created = t.faulty.create_app(&a).await;
    let stats = t.proxy.stats();
    assert_eq!(
        (stats.dropped_answers, stats.operation("PutItem")),
        (1, 2),
        "applied, its answer dropped, sent again by the SDK"
    );
    created.expect("the record this request created is its own, not AppExists");
    assert_eq!(t.direct.get_app(&a.name).await.expect("get"), Some(a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_create_of_a_taken_name_is_still_refused_when_its_answer_was_lost() {
    let t = Faulty::new().await;
    let first = app("billing");
    t.direct.create_app(&first).await.expect("create");
    let mut second = app("billing");
    second.budget = 9;
    t.proxy
        .set_plan_for("PutItem", vec![Some(Fault::DropAnswer)]);
    match t.faulty.create_app(&second).await {
        Err(shared::store::StoreError::AppExists(name)) => assert_eq!(name, first.name),
        other => panic!("expected AppExists, got {other:?}"),
    }
    assert_eq!(
        t.direct.get_app(&first.name).await.expect("get"),
        Some(first)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_put_whose_answer_was_lost_is_recognised_as_its_own() {
    let t = Faulty::new().await;
    let a = app("billing");
    t.direct.create_app(&a).await.expect("create");
    let mut next = a.clone();
    next.budget = 8;
    next.updated_at = a.updated_at + chrono::Duration::minutes(1);
    next.version = a.version + 1;
    t.proxy
        .set_plan_for("PutItem", vec![Some(Fault::DropAnswer)]);
    let put = t.faulty.put_app(&next, a.version).await.expect("put");
    assert_eq!(t.proxy.stats().operation("PutItem"), 2, "sent again");
    assert!(put, "the stored record is already exactly this write");
    assert_eq!(t.direct.get_app(&a.name).await.expect("get"), Some(next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_delete_whose_answer_was_lost_still_returns_the_deleted_record() {
    let t = Faulty::new().await;
    let a = app("billing");
    t.direct.create_app(&a).await.expect("create");
    t.proxy
        .set_plan_for("DeleteItem", vec![Some(Fault::DropAnswer)]);
    let deleted = t.faulty.delete_app(&a.name).await.expect("delete");
    assert_eq!(t.proxy.stats().operation("DeleteItem"), 2, "sent again");
    assert_eq!(deleted, Some(a.clone()));
    assert_eq!(t.direct.get_app(&a.name).await.expect("get"), None);
}
