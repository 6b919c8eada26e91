//! Calls in flight tracked by their job's marker (table format 3, issue 29's write cost):
//! on the moto server, what the items hold after a claim, and the crashes whose recovery now
//! goes through the job (docs/data-model.md, "Calls in flight").

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue as AV;
use chrono::{DateTime, Utc};
use shared::model::{Execution, Job, Status};
use shared::ops::{Applied, JobKey, Ops, parse_file};
use shared::store::dynamodb::DynamoStore;
use shared::store::{DueItem, Store};
use shared::tick::tick;

use crate::helpers::faultproxy::{Fault, FaultProxy};
use crate::helpers::jobserver::Behavior;
use crate::helpers::moto;
use crate::world::{World, utc};

/// An item of the world's table, read consistently.
async fn raw(world: &World, pk: &str, sk: &str) -> HashMap<String, AV> {
    moto::client(&world.endpoint)
        .await
        .get_item()
        .table_name(&world.table)
        .key("pk", AV::S(pk.to_owned()))
        .key("sk", AV::S(sk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the item exists")
}

/// The due-index key (`gsi1pk`, `gsi1sk`) of a raw item, if it is in the index.
fn index_key(item: &HashMap<String, AV>) -> Option<(String, i64)> {
    let pk = item.get("gsi1pk")?.as_s().ok()?.clone();
    let sk = item.get("gsi1sk")?.as_n().ok()?.parse().ok()?;
    Some((pk, sk))
}

fn job_item_key(job: &Job) -> (String, String) {
    (format!("APP#{}", job.app), format!("JOB#{}", job.name))
}

async fn executions(world: &World, job: &Job) -> Vec<Execution> {
    world
        .store
        .list_executions(&job.id, 100)
        .await
        .expect("executions")
}

/// A store on the world's table whose requests go through a fault proxy.
async fn faulty(world: &World) -> (FaultProxy, DynamoStore) {
    let proxy = FaultProxy::start(&world.endpoint).await;
    let store = DynamoStore::new(&moto::sdk_config(&proxy.url()).await, &world.table);
    (proxy, store)
}

/// A tick through `store` that must fail (the proxy's faults stand for a crash).
async fn dying_tick(world: &World, store: &DynamoStore, at: DateTime<Utc>) {
    world.set(at);
    let died = tick(
        store,
        &world.dispatcher,
        world.clock.as_ref(),
        &world.config,
    )
    .await;
    assert!(died.is_err(), "the store failure fails the tick: {died:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_indexes_no_execution_and_leaves_its_jobs_key_until_the_call_is_resolved() {
    let at = utc(2026, 7, 1, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let job = world
        .create(world.spec("tracked", "/tracked", "0 9 * * *"))
        .await;
    let (pk, sk) = job_item_key(&job);
    let before = index_key(&raw(&world, &pk, &sk).await).expect("the job is in the index");
    assert_eq!(before.1, at.timestamp_millis());

    // Every UpdateItem fails: the claim lands, "mark sent" never does (a tick that died
    // right after its claim).
    let (proxy, store) = faulty(&world).await;
    proxy.set_plan_for("UpdateItem", vec![Some(Fault::ServerError); 50]);
    dying_tick(&world, &store, at).await;
    proxy.clear();

    let claimed = raw(&world, &pk, &sk).await;
    assert_eq!(
        index_key(&claimed),
        Some(before.clone()),
        "the claim left the job's index entry where it was"
    );
    let execs = executions(&world, &job).await;
    assert_eq!(execs.len(), 1);
    assert!(execs[0].tracked && execs[0].dispatched_by.is_none());
    let exec_item = raw(
        &world,
        &format!("JOB#{}", job.id),
        &format!("EXEC#{}", execs[0].id.slot_key()),
    )
    .await;
    assert_eq!(
        index_key(&exec_item),
        None,
        "the execution is not in the index"
    );
    let due = world
        .store
        .due(at + chrono::Duration::seconds(30))
        .await
        .expect("due");
    let names: Vec<String> = due
        .iter()
        .map(|item| match item {
            DueItem::Job(j) => format!("job {}", j.name),
            DueItem::Execution(e) => format!("execution {}", e.id),
        })
        .collect();
    assert_eq!(names, ["job tracked"]);

    // Within the lease nothing is sent; after it a tick sends the claim, once, and the
    // bookkeeping moves the job's key to its next slot.
    world.set(at + chrono::Duration::seconds(30));
    assert_eq!(world.tick().await.triggered, 0);
    for m in 1..4 {
        world.set(at + chrono::Duration::minutes(m));
        world.tick().await;
    }
    assert_eq!(world.server.count("/tracked"), 1);
    let statuses: Vec<Status> = executions(&world, &job)
        .await
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [Status::Succeeded]);
    let done = raw(&world, &pk, &sk).await;
    assert_eq!(
        index_key(&done),
        Some((
            before.0,
            (at + chrono::Duration::days(1)).timestamp_millis()
        ))
    );
    let stored = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("read")
        .expect("job");
    assert!(stored.state.inflight.is_empty(), "{:?}", stored.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_that_dies_after_the_outcome_leaves_the_retry_and_the_last_run_to_the_next_tick() {
    // The call failed and its outcome was recorded, then the job's bookkeeping (a PutItem)
    // never landed. A later tick finds the job through its marker and does it: the last run
    // is the failure, and the retry the job asked for runs once.
    let at = utc(2026, 7, 2, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    world.server.set("/flaky", Behavior::Status(500));
    let mut spec = world.spec("flaky", "/flaky", "0 9 * * *");
    spec.retries = 1;
    let job = world.create(spec).await;
    let (proxy, store) = faulty(&world).await;
    proxy.set_plan_for("PutItem", vec![Some(Fault::ServerError); 50]);
    dying_tick(&world, &store, at).await;
    proxy.clear();
    assert_eq!(world.server.count("/flaky"), 1);
    let recorded = executions(&world, &job).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].status,
        Status::Failed,
        "the outcome was recorded"
    );

    let mut retried = 0;
    for m in 1..6 {
        world.set(at + chrono::Duration::minutes(m));
        retried += world.tick().await.retried;
    }
    assert_eq!(retried, 1);
    assert_eq!(
        world.server.count("/flaky"),
        2,
        "the call and its one retry"
    );
    let execs = executions(&world, &job).await;
    let by_attempt: BTreeMap<u32, Status> = execs.iter().map(|e| (e.attempt, e.status)).collect();
    assert_eq!(
        by_attempt,
        BTreeMap::from([(1, Status::Failed), (2, Status::Failed)])
    );
    let stored = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("read")
        .expect("job");
    let last = stored.state.last.expect("a last run");
    assert_eq!((last.execution.attempt(), last.status), (2, Status::Failed));
    assert!(stored.state.inflight.is_empty() && stored.state.retry.is_none());
}

/// How a tick dies in [`deleted_with_a_call_in_flight`]: right after its claim (every
/// "mark sent" fails), or after sending the call (every outcome write fails).
#[derive(Clone, Copy)]
enum Died {
    AfterClaim,
    AfterSending,
}

/// A job whose tick died with its call in flight, then deleted (`delete`, or `apply --prune`
/// of a file without it); later ticks past the call's deadline. Returns the job's executions.
async fn deleted_with_a_call_in_flight(
    died: Died,
    prune: bool,
    at: DateTime<Utc>,
) -> Vec<Execution> {
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let job = world
        .create(world.spec("doomed", "/doomed", "0 9 * * *"))
        .await;
    let (proxy, store) = faulty(&world).await;
    let plan = match died {
        Died::AfterClaim => vec![Some(Fault::ServerError); 50],
        Died::AfterSending => std::iter::once(None)
            .chain(std::iter::repeat_n(Some(Fault::ServerError), 50))
            .collect(),
    };
    proxy.set_plan_for("UpdateItem", plan);
    dying_tick(&world, &store, at).await;
    proxy.clear();
    let ops = Ops::with_store("dynamodb", Arc::new(world.other_store().await));
    if prune {
        let file = "[[apps]]\nname = \"testapp\"\n";
        let desired = parse_file("schedules.toml", file, &|_| None).expect("the file");
        let plan = ops.plan(&desired, true).await.expect("a plan");
        let applied = ops.apply_plan(&plan, at, |_, _| {}).await.expect("apply");
        assert!(
            applied.iter().all(|a| matches!(a, Applied::Done)),
            "{applied:?}"
        );
    } else {
        let key = JobKey::parse("testapp", "doomed").expect("key");
        ops.delete(&key, false).await.expect("delete");
    }
    for m in 1..5 {
        world.set(at + chrono::Duration::minutes(m));
        world.tick().await;
    }
    let calls = match died {
        Died::AfterClaim => 0,
        Died::AfterSending => 1,
    };
    assert_eq!(world.server.count("/doomed"), calls);
    executions(&world, &job).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_job_records_its_claim_never_sent_as_not_called() {
    let execs = deleted_with_a_call_in_flight(Died::AfterClaim, false, utc(2026, 7, 3, 9, 0)).await;
    assert_eq!(execs.len(), 1);
    assert_eq!(execs[0].status, Status::TimedOut, "{execs:?}");
    assert!(
        execs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("not called")),
        "{execs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_job_whose_tick_died_during_its_call_records_the_call_timed_out() {
    let execs =
        deleted_with_a_call_in_flight(Died::AfterSending, false, utc(2026, 7, 4, 9, 0)).await;
    assert_eq!(execs.len(), 1);
    assert_eq!(execs[0].status, Status::TimedOut, "{execs:?}");
    assert!(
        execs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no outcome was recorded")),
        "{execs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pruning_a_job_with_calls_in_flight_records_them_as_deleting_it_does() {
    for (died, day) in [(Died::AfterClaim, 5), (Died::AfterSending, 6)] {
        let execs = deleted_with_a_call_in_flight(died, true, utc(2026, 7, day, 9, 0)).await;
        assert_eq!(execs.len(), 1);
        assert_eq!(execs[0].status, Status::TimedOut, "{execs:?}");
    }
}
