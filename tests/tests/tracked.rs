//! Calls in flight tracked by their job's marker (table format 3, issue 29's write cost):
//! on the moto server, what the items hold after a claim, and the crashes whose recovery now
//! goes through the job (docs/data-model.md, "Calls in flight").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use shared::model::{Execution, Job, Status};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;
use shared::tick::tick;

use crate::helpers::faultproxy::{Fault, FaultProxy};
use crate::helpers::jobserver::Behavior;
use crate::helpers::moto;
use crate::world::{World, utc};

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
