//! Racing ticks against DynamoDB through a proxy that throttles, answers 500 and drops the
//! answers of writes it applied (the SDK then retries them): every due slot is still called
//! exactly once. CI runs a few fault seeds; all 20, with their figures:
//!
//! ```sh
//! PSU_SCHED_FAULT_SEEDS=1-20 ./scripts/test faults:: --no-capture
//! ```

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::model::Status;
use shared::protocol::{HEADER_SCHEDULED_FOR, format_slot};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;
use shared::tick::tick;

use crate::helpers::faultproxy::FaultProxy;
use crate::helpers::moto;
use crate::world::{World, utc};

/// Jobs due at the faulty minute.
const JOBS: usize = 20;
/// Ticks racing at that minute, each with its own client.
const RACERS: usize = 4;

/// The seeds in `PSU_SCHED_FAULT_SEEDS` (`1-20` or `1,5,9`), else 1, 2 and 3.
fn seeds() -> Vec<u64> {
    let Ok(text) = std::env::var("PSU_SCHED_FAULT_SEEDS") else {
        return vec![1, 2, 3];
    };
    text.split(',')
        .flat_map(|part| match part.trim().split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.parse().expect("seed"), b.parse().expect("seed"));
                (a..=b).collect::<Vec<_>>()
            }
            None => vec![part.trim().parse().expect("seed")],
        })
        .collect()
}

/// One faulty minute with racing ticks, then clean ticks: the slots each job's server saw,
/// and the statuses of each job's executions.
async fn run(seed: u64) -> (Vec<Vec<String>>, Vec<Vec<Status>>, String) {
    let at = utc(2026, 6, 2, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let proxy = FaultProxy::start(&world.endpoint).await;
    let mut jobs = Vec::new();
    for i in 0..JOBS {
        let spec = world.spec(&format!("f{i}"), &format!("/f{i}"), "0 9 * * *");
        jobs.push(world.create(spec).await);
    }
    let mut stores = Vec::new();
    for _ in 0..RACERS {
        let config = moto::sdk_config(&proxy.url()).await;
        stores.push(Arc::new(DynamoStore::new(&config, &world.table)));
    }
    // Faults on 35% of requests: throttles, 500s, and writes applied whose answers are lost.
    proxy.set_random(seed, 0.12, 0.08, 0.15);
    let errors = race(&stores, &world, at).await;
    let stats = proxy.stats();
    proxy.clear();
    // Clean ticks after it (the claim lease is 60 s; call deadlines 90 s).
    for minutes in [1, 2, 3, 5] {
        world.set(at + chrono::Duration::minutes(minutes));
        world.tick().await;
    }
    let seen = (0..JOBS)
        .map(|i| {
            world
                .server
                .requests_to(&format!("/f{i}"))
                .iter()
                .map(|r| r.header(HEADER_SCHEDULED_FOR).unwrap_or("?").to_owned())
                .collect()
        })
        .collect();
    let mut statuses = Vec::new();
    for job in &jobs {
        let executions = world
            .store
            .list_executions(&job.id, 10)
            .await
            .expect("history");
        statuses.push(executions.iter().map(|e| e.status).collect());
    }
    let figures = format!(
        "{} requests: {} throttled, {} answered 500, {} answers dropped after the write; {errors} of {RACERS} ticks incomplete (a store error on some of their work)",
        stats.requests, stats.throttled, stats.server_errors, stats.dropped_answers
    );
    (seen, statuses, figures)
}

/// The racing ticks at `at`, released together; how many returned an error.
async fn race(stores: &[Arc<DynamoStore>], world: &World, at: DateTime<Utc>) -> usize {
    world.set(at);
    let barrier = Arc::new(tokio::sync::Barrier::new(stores.len()));
    let handles: Vec<_> = stores
        .iter()
        .map(|store| {
            let (store, barrier) = (store.clone(), barrier.clone());
            let (dispatcher, clock, config) = (
                world.dispatcher.clone(),
                world.clock.clone(),
                world.config.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let store: &dyn Store = store.as_ref();
                tick(store, &dispatcher, clock.as_ref(), &config).await
            })
        })
        .collect();
    let mut errors = 0;
    for handle in handles {
        if handle.await.expect("join").is_err() {
            errors += 1;
        }
    }
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_slot_is_called_exactly_once_under_faults_and_racing_ticks() {
    let slot = format_slot(utc(2026, 6, 2, 9, 0));
    let mut failures = Vec::new();
    for seed in seeds() {
        let (seen, statuses, figures) = run(seed).await;
        let lost = seen.iter().filter(|s| s.is_empty()).count();
        let doubled = seen.iter().filter(|s| s.len() > 1).count();
        eprintln!("seed {seed}: {lost} slots never called, {doubled} called twice; {figures}");
        for (i, slots) in seen.iter().enumerate() {
            if slots != std::slice::from_ref(&slot) {
                failures.push(format!("seed {seed}: job f{i} saw {slots:?}"));
            }
            if statuses[i] != [Status::Succeeded] {
                failures.push(format!("seed {seed}: job f{i} recorded {:?}", statuses[i]));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
