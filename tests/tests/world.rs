//! A test's own world: a fresh table on the moto server, a store on it, a real job server on
//! 127.0.0.1, and a clock the test moves.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use shared::clock::FixedClock;
use shared::dispatch::HttpDispatcher;
use shared::model::{AppName, Job, JobName, JobUrl, NewJob};
use shared::schedule::Schedule;
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;
use shared::tick::{TickConfig, TickSummary, tick};

use crate::helpers::jobserver::JobServer;
use crate::helpers::moto;

pub struct World {
    pub endpoint: String,
    pub table: String,
    pub store: DynamoStore,
    pub server: JobServer,
    pub dispatcher: HttpDispatcher,
    pub clock: Arc<FixedClock>,
    pub config: TickConfig,
}

/// Runs one tick at `now` on each store at once (released together by a barrier), as
/// concurrent schedulers would, and returns their summaries.
pub async fn racing_ticks<S: Store + 'static>(
    stores: &[Arc<S>],
    dispatcher: &Arc<HttpDispatcher>,
    now: DateTime<Utc>,
) -> Vec<TickSummary> {
    let clock = Arc::new(FixedClock::new(now));
    let barrier = Arc::new(tokio::sync::Barrier::new(stores.len()));
    let handles: Vec<_> = stores
        .iter()
        .map(|store| {
            let (store, clock, barrier, dispatcher) = (
                store.clone(),
                clock.clone(),
                barrier.clone(),
                dispatcher.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                tick(
                    store.as_ref(),
                    dispatcher.as_ref(),
                    clock.as_ref(),
                    &TickConfig::default(),
                )
                .await
            })
        })
        .collect();
    let mut summaries = Vec::with_capacity(handles.len());
    for handle in handles {
        summaries.push(handle.await.expect("join").expect("tick"));
    }
    summaries
}

pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid test instant")
}

/// Quiet unless TEST_LOG=1.
pub fn init_tracing() {
    if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

impl World {
    pub async fn new(start: DateTime<Utc>) -> World {
        init_tracing();
        let endpoint = moto::endpoint().await;
        let table = moto::unique_table_name();
        let store = DynamoStore::new(&moto::sdk_config(&endpoint).await, &table);
        store.create_table().await.expect("create the test table");
        World {
            endpoint,
            table,
            store,
            server: JobServer::start().await,
            dispatcher: HttpDispatcher::new().expect("http client"),
            clock: Arc::new(FixedClock::new(start)),
            config: TickConfig::default(),
        }
    }

    /// Another store on the same table with its own client (another tick's).
    pub async fn other_store(&self) -> DynamoStore {
        DynamoStore::new(&moto::sdk_config(&self.endpoint).await, &self.table)
    }

    /// A job spec calling `path` on the job server.
    pub fn spec(&self, name: &str, path: &str, schedule: &str) -> NewJob {
        NewJob::new(
            AppName::parse("testapp").expect("app"),
            JobName::parse(name).expect("name"),
            JobUrl::parse(&self.server.url(path)).expect("url"),
            schedule.parse::<Schedule>().expect("schedule"),
        )
    }

    /// Creates a job from a spec, as of the clock's now.
    pub async fn create(&self, spec: NewJob) -> Job {
        use shared::store::Store;
        let job = spec.build(self.now()).expect("valid job");
        self.store.create_job(&job).await.expect("create job");
        job
    }

    pub fn now(&self) -> DateTime<Utc> {
        use shared::clock::Clock;
        self.clock.now()
    }

    pub fn set(&self, at: DateTime<Utc>) {
        self.clock.set(at);
    }

    pub async fn tick(&self) -> TickSummary {
        tick(
            &self.store,
            &self.dispatcher,
            self.clock.as_ref(),
            &self.config,
        )
        .await
        .expect("tick")
    }

    /// Ticks at every minute from `from` (inclusive) to `to` (exclusive).
    pub async fn tick_minutes(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<TickSummary> {
        let mut out = Vec::new();
        let mut t = from;
        while t < to {
            self.set(t);
            out.push(self.tick().await);
            t += chrono::Duration::minutes(1);
        }
        out
    }
}

pub const SECOND: Duration = Duration::from_secs(1);
