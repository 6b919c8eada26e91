//! One conformance suite for every `Store` adapter: each contract documented on
//! `shared::store::Store` is written once, as `async fn contract(store: &Adapter)`, and run
//! against the memory, SQLite and DynamoDB (moto) adapters by [`contract!`], which makes
//! `conformance::<contract>::on_memory`, `::on_sqlite` and `::on_dynamodb`.
//!
//! A difference in behaviour between adapters is a bug. Where an adapter is known to break a
//! contract, its test is `#[ignore]`d with the reason (file, method, what differs), so the
//! disagreement stays visible (`cargo nextest run --run-ignored only conformance::`) until
//! the adapter is fixed.
//!
//! The order in which `due()` returns items is not part of the contract (the trait promises
//! none), so due sets are compared as sets.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use shared::clock::FixedClock;
use shared::model::{
    App, AppName, BaseUrl, Execution, ExecutionId, Job, JobName, JobPath, JobUrl, NewJob,
    PendingRetry, Status, Trigger,
};
use shared::store::dynamodb::DynamoStore;
use shared::store::layout::{TableMeta, shard_of};
use shared::store::memory::MemoryStore;
use shared::store::sqlite::SqliteStore;
use shared::store::{
    Claim, ClaimOutcome, DeleteIf, DueItem, GuardEnd, Outcome, RECONCILER, Recorded,
    SHARDED_FORMAT, ShardLease, Store, StoreError,
};
use shared::testing::FakeDispatch;
use shared::tick::{TickConfig, TickSummary, tick};

use crate::helpers::moto;

// ---------------------------------------------------------------------------------------
// The adapters

/// A SQLite store whose retention purge runs by a clock stopped in 2000: the contracts run at
/// instants of 2026 that the wall clock has passed, and a purge by the wall clock would
/// delete their executions (retention has its own test, in the SQLite store).
pub(crate) async fn open_sqlite(path: &std::path::Path) -> SqliteStore {
    let store = SqliteStore::open(path)
        .await
        .expect("open the SQLite store");
    let epoch = chrono::DateTime::from_timestamp(946_684_800, 0).expect("2000-01-01");
    store.set_purge_clock(Arc::new(shared::clock::FixedClock::new(epoch)));
    store
}

enum Backend {
    Memory,
    Sqlite(PathBuf),
    Dynamo { endpoint: String, table: String },
}

/// A fresh, empty store of one adapter, and the means to open another handle on the same data
/// (another tick's connection or client).
pub struct Adapter {
    store: Arc<dyn Store>,
    backend: Backend,
}

impl Adapter {
    async fn memory() -> Adapter {
        Adapter {
            store: Arc::new(MemoryStore::new()),
            backend: Backend::Memory,
        }
    }

    async fn sqlite() -> Adapter {
        let path = crate::helpers::tempdb::temp_db_path();
        let store = open_sqlite(&path).await;
        Adapter {
            store: Arc::new(store),
            backend: Backend::Sqlite(path),
        }
    }

    async fn dynamodb() -> Adapter {
        let endpoint = moto::endpoint().await;
        let table = moto::unique_table_name();
        let store = DynamoStore::new(&moto::sdk_config(&endpoint).await, table.clone());
        store.create_table().await.expect("create the test table");
        Adapter {
            store: Arc::new(store),
            backend: Backend::Dynamo { endpoint, table },
        }
    }

    /// Another handle on the same data: the same memory store, another connection to the
    /// SQLite file, another client on the DynamoDB table.
    async fn another(&self) -> Arc<dyn Store> {
        match &self.backend {
            Backend::Memory => self.store.clone(),
            Backend::Sqlite(path) => Arc::new(open_sqlite(path).await),
            Backend::Dynamo { endpoint, table } => Arc::new(DynamoStore::new(
                &moto::sdk_config(endpoint).await,
                table.clone(),
            )),
        }
    }
}

impl Deref for Adapter {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        if let Backend::Sqlite(path) = &self.backend
            && let Some(dir) = path.parent()
        {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Generates `mod $name { on_memory, on_sqlite, on_dynamodb }`, each running the contract
/// `$name` on a fresh store of that adapter. An adapter known to break the contract is named
/// with the reason, and its test is ignored.
macro_rules! contract {
    ($name:ident) => {
        contract!(@gen $name, [], [], []);
    };
    ($name:ident, memory = $why:literal) => {
        contract!(@gen $name, [#[ignore = $why]], [], []);
    };
    ($name:ident, dynamodb = $why:literal) => {
        contract!(@gen $name, [], [], [#[ignore = $why]]);
    };
    ($name:ident, memory = $m:literal, dynamodb = $d:literal) => {
        contract!(@gen $name, [#[ignore = $m]], [], [#[ignore = $d]]);
    };
    (@gen $name:ident, [$(#[$m:meta])*], [$(#[$s:meta])*], [$(#[$d:meta])*]) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$m])*
            async fn on_memory() {
                super::$name(&super::Adapter::memory().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$s])*
            async fn on_sqlite() {
                super::$name(&super::Adapter::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$d])*
            async fn on_dynamodb() {
                super::$name(&super::Adapter::dynamodb().await).await;
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Builders

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, h, m, 0)
        .single()
        .expect("valid instant")
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A job of `app` named `name`, hourly, created at 08:00, first slot 09:00, version 0.
fn job_in(app: &str, name: &str) -> Job {
    NewJob::new(
        AppName::parse(app).expect("app"),
        JobName::parse(name).expect("name"),
        JobUrl::parse(&format!("https://example.edu/{name}")).expect("url"),
        "0 * * * *".parse().expect("schedule"),
    )
    .build(at(8, 0) + secs(30))
    .expect("valid job")
}

fn job(name: &str) -> Job {
    job_in("conformance", name)
}

/// `job` as written by `writer` over its current version.
fn next_version(job: &Job, writer: &str) -> Job {
    let mut next = job.clone();
    next.state.version = job.state.version + 1;
    next.state.writer = Some(writer.to_owned());
    next
}

/// A claim by `token` of `slot` (attempt 1) for `job` as read: the job's next slot moves an
/// hour on, and the new pending execution's lease ends a minute after the slot.
fn claim_of(job: &Job, slot: DateTime<Utc>, token: &str) -> Claim {
    claim_attempt(job, slot, 1, token)
}

fn claim_attempt(job: &Job, slot: DateTime<Utc>, attempt: u32, token: &str) -> Claim {
    let mut next = next_version(job, token);
    next.state.next_slot = Some(slot + chrono::Duration::hours(1));
    let id = ExecutionId::new(job.id.clone(), slot, Trigger::Schedule, attempt);
    let execution = Execution {
        app: job.app.clone(),
        name: job.name.clone(),
        scheduled_for: slot,
        offset_ms: 0,
        attempt,
        trigger: Trigger::Schedule,
        id,
        status: Status::Pending,
        http_status: None,
        output: None,
        error: None,
        created_at: slot,
        started_at: None,
        finished_at: None,
        duration_ms: None,
        coalesced: 0,
        url: job.url.clone(),
        method: job.method,
        timeout_ms: job.timeout_ms,
        retries: job.retries,
        key_hash: None,
        claimed_by: Some(token.to_owned()),
        dispatched_by: None,
        guard_nonce: None,
        outcome_by: None,
        counted_by: None,
        due_at: Some(slot + secs(60)),
        backfill: false,
        tracked: false,
        expires_at: slot + chrono::Duration::days(30),
    };
    Claim {
        job: next,
        expected_version: job.state.version,
        execution,
        token: token.to_owned(),
    }
}

/// Creates a job and claims its 09:00 slot with token `t`; returns the claim.
async fn claimed(store: &Adapter, name: &str) -> Claim {
    let j = job(name);
    store.create_job(&j).await.expect("create");
    let claim = claim_of(&j, at(9, 0), "t");
    assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
    claim
}

/// Creates, claims and sends (token `t`, key hash `hash`, deadline 09:01:30) a job's 09:00 slot.
async fn dispatched(store: &Adapter, name: &str) -> ExecutionId {
    let claim = claimed(store, name).await;
    let id = claim.execution.id.clone();
    assert!(
        store
            .mark_dispatched(&id, "t", "hash", at(9, 0), deadline())
            .await
            .expect("mark")
    );
    id
}

fn deadline() -> DateTime<Utc> {
    at(9, 1) + secs(30)
}

fn succeeded(http: u16) -> Outcome {
    Outcome {
        status: Status::Succeeded,
        http_status: Some(http),
        output: Some("ok".into()),
        error: None,
        finished_at: at(9, 0) + secs(2),
        duration_ms: 2000,
    }
}

fn guard_end(status: Status, finished: DateTime<Utc>) -> GuardEnd {
    GuardEnd {
        status,
        http_status: None,
        output: Some("report sent".into()),
        error: None,
        finished_at: finished,
        duration_ms: 1500,
    }
}

async fn exec(store: &Adapter, id: &ExecutionId) -> Execution {
    store
        .get_execution(id)
        .await
        .expect("get execution")
        .expect("the execution exists")
}

async fn stored(store: &Adapter, j: &Job) -> Job {
    store
        .get_job(&j.app, &j.name)
        .await
        .expect("get job")
        .expect("the job exists")
}

/// What `due(now)` returned, as `job:<name>` and `exec:<id>`.
async fn due_set(store: &Adapter, now: DateTime<Utc>) -> BTreeSet<String> {
    let items = store.due(now).await.expect("due");
    let set: BTreeSet<String> = items.iter().map(describe).collect();
    assert_eq!(set.len(), items.len(), "due() returns each item once");
    set
}

fn describe(item: &DueItem) -> String {
    match item {
        DueItem::Job(j) => format!("job:{}", j.name),
        DueItem::Execution(e) => format!("exec:{}", e.id),
    }
}

fn names(jobs: &[Job]) -> BTreeSet<String> {
    jobs.iter()
        .map(|j| format!("{}/{}", j.app, j.name))
        .collect()
}

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------
// Jobs

contract!(a_job_cannot_be_created_twice);
async fn a_job_cannot_be_created_twice(store: &Adapter) {
    let first = job("nightly");
    store.create_job(&first).await.expect("create");
    let mut second = job("nightly");
    second.description = "another".into();
    match store.create_job(&second).await {
        Err(StoreError::AlreadyExists(app, name)) => {
            assert_eq!((app, name), (first.app.clone(), first.name.clone()));
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        stored(store, &first).await,
        first,
        "the first job is untouched"
    );
}

contract!(create_job_recognises_its_own_earlier_write);
/// Issue 13: a create whose answer was lost and that the client sent again finds its own job
/// (the same id) in place: it answers as the first request did. DynamoDB's lost answers are
/// in `lost_answers.rs`; here, every store agrees on the rule.
async fn create_job_recognises_its_own_earlier_write(store: &Adapter) {
    let j = job("created-once");
    store.create_job(&j).await.expect("create");
    store
        .create_job(&j)
        .await
        .expect("the same job (same id) again is this very create, retried");
    assert_eq!(stored(store, &j).await, j);
    // Even after a tick moved it on, the job is still the one this request created.
    let claim = claim_of(&j, at(9, 0), "t");
    assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
    store.create_job(&j).await.expect("a late retry");
    assert_eq!(stored(store, &j).await, claim.job, "nothing is rewritten");
}

contract!(a_job_reads_back_exactly_as_written_and_a_missing_one_is_none);
async fn a_job_reads_back_exactly_as_written_and_a_missing_one_is_none(store: &Adapter) {
    let mut j = job("full");
    j.description = "every field set".into();
    j.retries = 2;
    j.end = Some(at(23, 0));
    j.state.retry = Some(PendingRetry {
        slot: at(7, 0),
        attempt: 2,
        trigger: Trigger::Schedule,
        at: at(7, 1),
    });
    store.create_job(&j).await.expect("create");
    assert_eq!(stored(store, &j).await, j);
    let missing = store
        .get_job(&j.app, &JobName::parse("nothing").expect("name"))
        .await
        .expect("get");
    assert_eq!(missing, None);
}

contract!(jobs_are_listed_per_app_and_for_all_apps);
async fn jobs_are_listed_per_app_and_for_all_apps(store: &Adapter) {
    for (app, name) in [("billing", "a"), ("billing", "b"), ("reports", "a")] {
        store.create_job(&job_in(app, name)).await.expect("create");
    }
    let billing = AppName::parse("billing").expect("app");
    let listed = store.list_jobs(Some(&billing)).await.expect("list");
    assert_eq!(names(&listed), set(["billing/a", "billing/b"]));
    assert_eq!(listed.len(), 2);
    let all = store.list_jobs(None).await.expect("list all");
    assert_eq!(names(&all), set(["billing/a", "billing/b", "reports/a"]));
    assert_eq!(all.len(), 3);
    let none = AppName::parse("nobody").expect("app");
    assert!(store.list_jobs(Some(&none)).await.expect("list").is_empty());
}

contract!(import_overwrites_existing_jobs_and_adds_new_ones);
async fn import_overwrites_existing_jobs_and_adds_new_ones(store: &Adapter) {
    let old = job("kept");
    store.create_job(&old).await.expect("create");
    let mut replaced = job("kept");
    replaced.description = "imported".into();
    let added = job("added");
    store
        .import_jobs(&[replaced.clone(), added.clone()])
        .await
        .expect("import");
    assert_eq!(stored(store, &old).await, replaced);
    assert_eq!(stored(store, &added).await, added);
    assert_eq!(store.list_jobs(None).await.expect("list").len(), 2);
}

contract!(put_job_replaces_a_job_still_at_the_expected_version);
async fn put_job_replaces_a_job_still_at_the_expected_version(store: &Adapter) {
    let j = job("edit");
    store.create_job(&j).await.expect("create");
    let mut next = next_version(&j, "w1");
    next.description = "edited".into();
    assert!(store.put_job(&next, 0).await.expect("put"));
    assert_eq!(stored(store, &j).await, next);
}

contract!(put_job_refuses_a_stale_version);
async fn put_job_refuses_a_stale_version(store: &Adapter) {
    let j = job("stale");
    store.create_job(&j).await.expect("create");
    let v1 = next_version(&j, "w1");
    assert!(store.put_job(&v1, 0).await.expect("put v1"));
    let v2 = next_version(&v1, "w2");
    assert!(store.put_job(&v2, 1).await.expect("put v2"));
    // A writer that read version 1 and writes version 2 over it.
    let mut late = next_version(&v1, "w3");
    late.description = "late".into();
    assert!(!store.put_job(&late, 1).await.expect("put late"));
    assert_eq!(stored(store, &j).await, v2, "the newer write stays");
}

contract!(put_job_recognises_its_own_earlier_write);
async fn put_job_recognises_its_own_earlier_write(store: &Adapter) {
    let j = job("retried");
    store.create_job(&j).await.expect("create");
    let next = next_version(&j, "w1");
    assert!(store.put_job(&next, 0).await.expect("put"));
    // The answer was lost; the client sends the same write again.
    assert!(
        store.put_job(&next, 0).await.expect("retried put"),
        "the same new version by the same writer is this very write"
    );
    assert_eq!(stored(store, &j).await, next);
}

contract!(put_job_refuses_another_writer_of_the_same_version);
async fn put_job_refuses_another_writer_of_the_same_version(store: &Adapter) {
    let j = job("raced");
    store.create_job(&j).await.expect("create");
    let mine = next_version(&j, "w1");
    assert!(store.put_job(&mine, 0).await.expect("put"));
    let mut theirs = next_version(&j, "w2");
    theirs.description = "theirs".into();
    assert!(!store.put_job(&theirs, 0).await.expect("other put"));
    assert_eq!(stored(store, &j).await, mine);
}

contract!(put_job_without_a_writer_token_is_never_taken_for_a_retry);
async fn put_job_without_a_writer_token_is_never_taken_for_a_retry(store: &Adapter) {
    let j = job("tokenless");
    store.create_job(&j).await.expect("create");
    let mut first = j.clone();
    first.state.version = 1;
    first.description = "first".into();
    assert!(store.put_job(&first, 0).await.expect("put"));
    let mut second = j.clone();
    second.state.version = 1;
    second.description = "second, from a stale read".into();
    assert!(
        !store.put_job(&second, 0).await.expect("stale put"),
        "without a token there is no own write to recognise: version 0 is gone"
    );
    assert_eq!(stored(store, &j).await, first);
}

contract!(put_job_does_not_create_a_missing_job);
async fn put_job_does_not_create_a_missing_job(store: &Adapter) {
    let j = job("ghost");
    assert!(
        !store
            .put_job(&next_version(&j, "w1"), 0)
            .await
            .expect("put")
    );
    assert_eq!(store.get_job(&j.app, &j.name).await.expect("get"), None);
}

contract!(put_job_refuses_a_write_of_a_job_deleted_and_created_again);
/// Issue 13: the version alone does not say which job a write is for. A job deleted and
/// created again under its name is another job (another id) whose version may happen to be
/// the one an old writer expects.
async fn put_job_refuses_a_write_of_a_job_deleted_and_created_again(store: &Adapter) {
    let old = job("reborn");
    store.create_job(&old).await.expect("create");
    let old_v1 = next_version(&old, "w1");
    assert!(store.put_job(&old_v1, 0).await.expect("put v1"));
    store
        .delete_job(&old.app, &old.name)
        .await
        .expect("delete")
        .expect("the old job was there");
    let mut new = job("reborn");
    new.url = JobUrl::parse("https://example.edu/reborn-v2").expect("url");
    store.create_job(&new).await.expect("create again");
    let new_v1 = next_version(&new, "editor");
    assert!(store.put_job(&new_v1, 0).await.expect("edit the new job"));
    // The old job's writer, still holding version 1 of the old job.
    let mut late = next_version(&old_v1, "w2");
    late.description = "the old job's bookkeeping".into();
    assert!(
        !store.put_job(&late, 1).await.expect("late put"),
        "a write for the old job (another id) is refused, whatever its version"
    );
    assert_eq!(
        stored(store, &new).await,
        new_v1,
        "the new job is untouched"
    );
}

contract!(delete_job_returns_the_job_once_and_leaves_its_executions);
async fn delete_job_returns_the_job_once_and_leaves_its_executions(store: &Adapter) {
    let claim = claimed(store, "doomed").await;
    let j = &claim.job;
    assert_eq!(
        store.delete_job(&j.app, &j.name).await.expect("delete"),
        Some(claim.job.clone())
    );
    assert_eq!(store.get_job(&j.app, &j.name).await.expect("get"), None);
    assert_eq!(
        store.delete_job(&j.app, &j.name).await.expect("delete"),
        None
    );
    assert!(
        store
            .get_execution(&claim.execution.id)
            .await
            .expect("get")
            .is_some(),
        "executions stay until they expire"
    );
}

contract!(a_delete_if_unchanged_ignores_the_ticks_bookkeeping_and_keeps_a_job_a_person_changed);
async fn a_delete_if_unchanged_ignores_the_ticks_bookkeeping_and_keeps_a_job_a_person_changed(
    store: &Adapter,
) {
    // The tick's claim moved the job's version, not its updated_at: deleted.
    let read = job("pruned");
    store.create_job(&read).await.expect("create");
    let claim = claim_of(&read, at(9, 0), "t");
    assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
    assert_ne!(stored(store, &read).await.state.version, read.state.version);
    assert_eq!(
        store.delete_job_if_unchanged(&read).await.expect("delete"),
        DeleteIf::Deleted
    );
    assert_eq!(
        store.get_job(&read.app, &read.name).await.expect("get"),
        None
    );
    assert_eq!(
        store.delete_job_if_unchanged(&read).await.expect("again"),
        DeleteIf::Gone,
        "a delete sent again finds nothing, and says so"
    );

    // A person changed it after it was read (update, pause, resume move updated_at): kept.
    let read = job("edited");
    store.create_job(&read).await.expect("create");
    let mut edited = next_version(&read, "ops");
    edited.updated_at = read.updated_at + secs(1);
    edited.description = "changed by a person".into();
    assert!(
        store
            .put_job(&edited, read.state.version)
            .await
            .expect("put")
    );
    assert_eq!(
        store.delete_job_if_unchanged(&read).await.expect("delete"),
        DeleteIf::Changed
    );
    assert_eq!(
        stored(store, &read).await,
        edited,
        "kept as the person left it"
    );

    // Another job created under the name since: kept.
    let old = job("renewed");
    store.create_job(&old).await.expect("create");
    store.delete_job(&old.app, &old.name).await.expect("delete");
    let mut new = job("renewed");
    new.id = shared::model::JobId::new();
    store.create_job(&new).await.expect("create again");
    assert_eq!(
        store.delete_job_if_unchanged(&old).await.expect("delete"),
        DeleteIf::Changed
    );
    assert_eq!(stored(store, &new).await.id, new.id);
}

// ---------------------------------------------------------------------------------------
// App records (issue 16)

/// An app record named `name`, base URL `https://<name>.example.edu/prefix`, budget 4,
/// created at 08:00 and a fraction of a second (the instant must read back to the nanosecond).
fn app(name: &str) -> App {
    let mut app = App::new(
        AppName::parse(name).expect("app name"),
        BaseUrl::parse(&format!("https://{name}.example.edu/prefix")).expect("base url"),
        4,
        at(8, 0) + chrono::Duration::nanoseconds(123_456_789),
    )
    .expect("valid app");
    // One salt for every call, so that two calls describe the same record.
    app.key_salt = Some("00112233445566778899aabbccddeeff".to_owned());
    app
}

/// `app` as edited: budget `budget`, a minute later, the next version.
fn edited(app: &App, budget: u32) -> App {
    let mut next = app.clone();
    next.budget = budget;
    next.updated_at = app.updated_at + secs(60);
    next.version = app.version + 1;
    next
}

async fn stored_app(store: &Adapter, name: &AppName) -> Option<App> {
    store.get_app(name).await.expect("get app")
}

contract!(an_app_reads_back_exactly_as_written_and_a_missing_one_is_none);
async fn an_app_reads_back_exactly_as_written_and_a_missing_one_is_none(store: &Adapter) {
    let mut a = app("billing");
    a.budget = 17;
    a.updated_at = a.created_at + secs(5);
    store.create_app(&a).await.expect("create app");
    assert_eq!(stored_app(store, &a.name).await, Some(a.clone()));
    let missing = AppName::parse("nobody").expect("app name");
    assert_eq!(stored_app(store, &missing).await, None);
}

contract!(an_app_cannot_be_created_twice_and_the_first_stays_untouched);
async fn an_app_cannot_be_created_twice_and_the_first_stays_untouched(store: &Adapter) {
    let first = app("billing");
    store.create_app(&first).await.expect("create app");
    let mut second = app("billing");
    second.base_url = BaseUrl::parse("https://elsewhere.example.edu").expect("base url");
    match store.create_app(&second).await {
        Err(e @ StoreError::AppExists(_)) => {
            assert_eq!(e.to_string(), "an app named billing already exists");
        }
        other => panic!("expected AppExists, got {other:?}"),
    }
    // Another instant, the same contents: another create, refused too.
    let mut later = first.clone();
    later.created_at = first.created_at + secs(1);
    later.updated_at = later.created_at;
    assert!(matches!(
        store.create_app(&later).await,
        Err(StoreError::AppExists(name)) if name == first.name
    ));
    assert_eq!(stored_app(store, &first.name).await, Some(first.clone()));
    assert_eq!(store.list_apps().await.expect("list apps"), vec![first]);
}

contract!(create_app_recognises_its_own_earlier_write);
/// A create whose answer was lost and that the client sent again finds its own record (the
/// same instant, the same contents) in place: it answers as the first request did. Once the
/// record changed, a late retry hears `AppExists` (a refusal, never an overwrite:
/// `rules::create_app`).
async fn create_app_recognises_its_own_earlier_write(store: &Adapter) {
    let a = app("billing");
    store.create_app(&a).await.expect("create app");
    store
        .create_app(&a)
        .await
        .expect("the same record again is this very create, retried");
    assert_eq!(stored_app(store, &a.name).await, Some(a.clone()));
    let next = edited(&a, 8);
    assert!(store.put_app(&next, a.version).await.expect("put app"));
    assert!(matches!(
        store.create_app(&a).await,
        Err(StoreError::AppExists(_))
    ));
    assert_eq!(
        stored_app(store, &a.name).await,
        Some(next),
        "nothing is rewritten"
    );
}

contract!(apps_are_listed_sorted_by_name_and_never_with_jobs);
async fn apps_are_listed_sorted_by_name_and_never_with_jobs(store: &Adapter) {
    assert!(store.list_apps().await.expect("list apps").is_empty());
    for name in ["reports", "Admissions", "billing", "0-legacy", "billing-v2"] {
        store.create_app(&app(name)).await.expect("create app");
    }
    for (a, name) in [("billing", "nightly"), ("reports", "weekly")] {
        store
            .create_job(&job_in(a, name))
            .await
            .expect("create job");
    }
    let listed: Vec<String> = store
        .list_apps()
        .await
        .expect("list apps")
        .iter()
        .map(|a| a.name.to_string())
        .collect();
    assert_eq!(
        listed,
        ["0-legacy", "Admissions", "billing", "billing-v2", "reports"],
        "every app, by name (byte order), and no job"
    );
    let full = store.list_apps().await.expect("list apps");
    assert_eq!(full[2], app("billing"), "each record as written");
}

contract!(put_app_replaces_an_app_still_at_the_expected_version_and_recognises_its_retry);
async fn put_app_replaces_an_app_still_at_the_expected_version_and_recognises_its_retry(
    store: &Adapter,
) {
    let a = app("billing");
    store.create_app(&a).await.expect("create app");
    let next = edited(&a, 9);
    assert!(store.put_app(&next, a.version).await.expect("put app"));
    assert_eq!(stored_app(store, &a.name).await, Some(next.clone()));
    // The same write again (its answer was lost): the stored record is already exactly it.
    assert!(store.put_app(&next, a.version).await.expect("retry"));
    assert_eq!(stored_app(store, &a.name).await, Some(next));
}

contract!(put_app_refuses_a_stale_version_and_writes_nothing);
async fn put_app_refuses_a_stale_version_and_writes_nothing(store: &Adapter) {
    let a = app("billing");
    store.create_app(&a).await.expect("create app");
    let first = edited(&a, 9);
    assert!(store.put_app(&first, a.version).await.expect("put app"));
    // Another writer that also read version 1: refused, the first write stands.
    let mut stale = edited(&a, 2);
    stale.base_url = BaseUrl::parse("https://stale.example.edu").expect("base url");
    assert!(!store.put_app(&stale, a.version).await.expect("put app"));
    assert_eq!(stored_app(store, &a.name).await, Some(first.clone()));
    // A writer of the same version with other contents is not taken for a retry.
    let mut same_version = edited(&a, 3);
    same_version.updated_at = first.updated_at;
    assert!(!store.put_app(&same_version, a.version).await.expect("put"));
    assert_eq!(stored_app(store, &a.name).await, Some(first.clone()));
    // A put never creates a missing app.
    let ghost = edited(&app("ghost"), 5);
    assert!(!store.put_app(&ghost, 1).await.expect("put app"));
    assert_eq!(stored_app(store, &ghost.name).await, None);
    // A record deleted and created again under the name is another record, even at the
    // version an old writer expects.
    store.delete_app(&a.name).await.expect("delete app");
    let mut again = app("billing");
    again.created_at = a.created_at + secs(3600);
    again.updated_at = again.created_at;
    store.create_app(&again).await.expect("create again");
    assert!(!store.put_app(&edited(&a, 7), a.version).await.expect("put"));
    assert_eq!(stored_app(store, &a.name).await, Some(again));
}

contract!(delete_app_returns_the_app_once_then_none);
async fn delete_app_returns_the_app_once_then_none(store: &Adapter) {
    let a = app("billing");
    let kept = app("reports");
    store.create_app(&a).await.expect("create app");
    store.create_app(&kept).await.expect("create app");
    assert_eq!(
        store.delete_app(&a.name).await.expect("delete app"),
        Some(a.clone())
    );
    assert_eq!(stored_app(store, &a.name).await, None);
    assert_eq!(store.delete_app(&a.name).await.expect("delete app"), None);
    assert_eq!(store.list_apps().await.expect("list apps"), vec![kept]);
}

contract!(no_job_is_created_for_an_app_whose_record_is_being_deleted);
async fn no_job_is_created_for_an_app_whose_record_is_being_deleted(store: &Adapter) {
    let a = app("billing");
    store.create_app(&a).await.expect("create app");
    let mut marked = a.clone();
    marked.deleting = true;
    marked.version = a.version + 1;
    assert!(store.put_app(&marked, a.version).await.expect("mark"));
    let j = job_in("billing", "nightly");
    assert!(matches!(
        store.create_job(&j).await,
        Err(StoreError::AppDeleting(ref name)) if name == &a.name
    ));
    assert!(
        store
            .list_jobs(Some(&a.name))
            .await
            .expect("list")
            .is_empty(),
        "nothing written"
    );
    // A job by URL of an app without a record may be created; one by path may not (it was
    // resolved at a record that is gone).
    store
        .create_job(&job_in("reports", "nightly"))
        .await
        .expect("an app without a record");
    let mut by_path = job_in("payroll", "nightly");
    by_path.path = Some(JobPath::parse("/nightly").expect("path"));
    assert!(matches!(
        store.create_job(&by_path).await,
        Err(StoreError::AppDeleting(_))
    ));
    // The mark taken back: the job may be created.
    let mut kept = marked.clone();
    kept.deleting = false;
    kept.version = marked.version + 1;
    assert!(store.put_app(&kept, marked.version).await.expect("unmark"));
    store.create_job(&j).await.expect("created once unmarked");
    // Its own earlier create, retried after a lost answer, is still recognised.
    store.create_job(&j).await.expect("a retry");
}

contract!(delete_app_at_deletes_only_the_record_as_read);
async fn delete_app_at_deletes_only_the_record_as_read(store: &Adapter) {
    let a = app("billing");
    store.create_app(&a).await.expect("create app");
    let changed = edited(&a, 9);
    assert!(store.put_app(&changed, a.version).await.expect("put app"));
    assert_eq!(
        store.delete_app_at(&a).await.expect("delete"),
        DeleteIf::Changed,
        "written since it was read: kept"
    );
    assert_eq!(stored_app(store, &a.name).await, Some(changed.clone()));
    assert_eq!(
        store.delete_app_at(&changed).await.expect("delete"),
        DeleteIf::Deleted
    );
    assert_eq!(stored_app(store, &a.name).await, None);
    assert_eq!(
        store.delete_app_at(&changed).await.expect("delete again"),
        DeleteIf::Gone
    );
}

contract!(app_records_never_show_in_job_listings_nor_in_due);
async fn app_records_never_show_in_job_listings_nor_in_due(store: &Adapter) {
    for name in ["billing", "reports"] {
        store.create_app(&app(name)).await.expect("create app");
    }
    let j = job_in("billing", "nightly");
    store.create_job(&j).await.expect("create job");
    let billing = AppName::parse("billing").expect("app name");
    assert_eq!(
        names(&store.list_jobs(Some(&billing)).await.expect("list")),
        set(["billing/nightly"])
    );
    assert_eq!(
        names(&store.list_jobs(None).await.expect("list all")),
        set(["billing/nightly"])
    );
    // Far past every instant the records carry: only the job is due.
    let far = at(8, 0) + chrono::Duration::days(3650);
    assert_eq!(due_set(store, far).await, set(["job:nightly"]));
}

contract!(an_app_and_a_job_of_the_same_name_coexist);
async fn an_app_and_a_job_of_the_same_name_coexist(store: &Adapter) {
    let a = app("billing");
    let j = job_in("billing", "billing");
    store.create_app(&a).await.expect("create app");
    store.create_job(&j).await.expect("a job of the app's name");
    assert_eq!(stored_app(store, &a.name).await, Some(a.clone()));
    assert_eq!(stored(store, &j).await, j);
    assert_eq!(
        store.delete_job(&j.app, &j.name).await.expect("delete job"),
        Some(j.clone())
    );
    assert_eq!(stored_app(store, &a.name).await, Some(a.clone()));
    store.create_job(&j).await.expect("create the job again");
    assert_eq!(store.delete_app(&a.name).await.expect("delete"), Some(a));
    assert_eq!(
        stored(store, &j).await,
        j,
        "the job outlives its app's record"
    );
}

/// Not a contract (the request count is DynamoDB's): listing every app is one `Query` of the
/// apps' partition, never a `Scan`, so a tick can read them all in one request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_every_app_is_listed_by_one_query() {
    let endpoint = moto::endpoint().await;
    let store = DynamoStore::new(
        &moto::sdk_config(&endpoint).await,
        moto::unique_table_name(),
    );
    store.create_table().await.expect("create the test table");
    for i in 0..30 {
        store
            .create_app(&app(&format!("app-{i:02}")))
            .await
            .expect("create app");
    }
    store
        .create_job(&job_in("app-00", "nightly"))
        .await
        .expect("create job");
    store.requests().reset();
    let apps = store.list_apps().await.expect("list apps");
    assert_eq!(apps.len(), 30);
    assert_eq!(
        store.requests().snapshot(),
        std::collections::BTreeMap::from([("Query".to_owned(), 1)])
    );
}

// ---------------------------------------------------------------------------------------
// due()

contract!(due_returns_exactly_the_due_jobs_and_executions);
async fn due_returns_exactly_the_due_jobs_and_executions(store: &Adapter) {
    let now = at(9, 0);
    // Jobs: next slot before now, exactly now, after now; a retry due; paused; ended.
    let mut past = job("past");
    past.state.next_slot = Some(at(8, 59));
    let mut exact = job("exact");
    exact.state.next_slot = Some(now);
    let mut future = job("future");
    future.state.next_slot = Some(at(9, 1));
    let mut retry = job("retry");
    retry.state.next_slot = Some(at(10, 0));
    retry.state.retry = Some(PendingRetry {
        slot: at(8, 0),
        attempt: 2,
        trigger: Trigger::Schedule,
        at: at(8, 30),
    });
    let mut paused = job("paused");
    paused.enabled = false;
    paused.state.next_slot = Some(at(8, 0));
    let mut ended = job("ended");
    ended.state.next_slot = None;
    for j in [&past, &exact, &future, &retry, &paused, &ended] {
        store.create_job(j).await.expect("create");
    }
    // Executions: lease passed; lease not passed; finished.
    let lapsed = claim_of(&job("lapsed"), at(8, 58), "a"); // lease ends 08:59
    let leased = claim_of(&job("leased"), at(8, 59) + secs(30), "b"); // lease ends 09:00:30
    let finished = claim_of(&job("finished"), at(8, 0), "c");
    for c in [&lapsed, &leased, &finished] {
        let mut bare = c.job.clone();
        bare.state = Default::default();
        bare.enabled = false; // keep the execution's own job out of the due set
        store.create_job(&bare).await.expect("create");
        let mut claim = c.clone();
        claim.expected_version = 0;
        claim.job = next_version(&bare, &c.token);
        assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
    }
    let id = &finished.execution.id;
    assert!(
        store
            .mark_dispatched(id, "c", "h", at(8, 0), at(8, 2))
            .await
            .expect("mark")
    );
    assert_eq!(
        store
            .record_outcome(id, "c", &succeeded(200))
            .await
            .expect("record"),
        Recorded::Recorded
    );

    let expected: BTreeSet<String> = [
        "job:past".to_owned(),
        "job:exact".to_owned(),
        "job:retry".to_owned(),
        format!("exec:{}", lapsed.execution.id),
    ]
    .into();
    assert_eq!(due_set(store, now).await, expected);
    // Each item comes back whole.
    for item in store.due(now).await.expect("due") {
        match item {
            DueItem::Job(j) if j.name.as_str() == "past" => assert_eq!(*j, past),
            DueItem::Execution(e) => assert_eq!(*e, lapsed.execution),
            _ => {}
        }
    }
    assert_eq!(
        due_set(store, at(7, 0)).await,
        BTreeSet::new(),
        "nothing is due before its time"
    );
}

contract!(due_follows_every_write_of_a_job);
async fn due_follows_every_write_of_a_job(store: &Adapter) {
    let mut j = job("moving");
    j.state.next_slot = Some(at(9, 0));
    store.create_job(&j).await.expect("create");
    assert_eq!(due_set(store, at(9, 0)).await, set(["job:moving"]));

    let mut paused = next_version(&j, "pause");
    paused.enabled = false;
    assert!(store.put_job(&paused, 0).await.expect("pause"));
    assert_eq!(due_set(store, at(9, 0)).await, BTreeSet::new(), "paused");

    let mut resumed = next_version(&paused, "resume");
    resumed.enabled = true;
    assert!(store.put_job(&resumed, 1).await.expect("resume"));
    assert_eq!(due_set(store, at(9, 0)).await, set(["job:moving"]));

    // Claiming the slot moves the job to 10:00; the execution is due when its lease ends.
    let claim = claim_of(&resumed, at(9, 0), "t");
    assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
    assert_eq!(due_set(store, at(9, 0) + secs(59)).await, BTreeSet::new());
    let exec_item = format!("exec:{}", claim.execution.id);
    assert_eq!(
        due_set(store, at(9, 1)).await,
        [exec_item.clone()].into(),
        "the lease ended"
    );
    assert!(
        store
            .mark_dispatched(&claim.execution.id, "t", "h", at(9, 0), deadline())
            .await
            .expect("mark")
    );
    assert_eq!(
        due_set(store, at(9, 1)).await,
        BTreeSet::new(),
        "sent: due at the deadline"
    );
    assert_eq!(due_set(store, deadline()).await, [exec_item].into());
    store
        .record_outcome(&claim.execution.id, "t", &succeeded(200))
        .await
        .expect("record");
    assert_eq!(
        due_set(store, deadline()).await,
        BTreeSet::new(),
        "finished"
    );
    assert_eq!(due_set(store, at(10, 0)).await, set(["job:moving"]));

    let mut ended = next_version(&claim.job, "end");
    ended.state.next_slot = None;
    assert!(
        store
            .put_job(&ended, claim.job.state.version)
            .await
            .expect("end")
    );
    assert_eq!(due_set(store, at(23, 0)).await, BTreeSet::new(), "ended");
    store.delete_job(&j.app, &j.name).await.expect("delete");
    let mut back = job("moving");
    back.state.next_slot = Some(at(9, 0));
    store.import_jobs(&[back]).await.expect("import");
    assert_eq!(due_set(store, at(23, 0)).await, set(["job:moving"]));
}

contract!(an_item_due_a_fraction_of_a_second_after_now_is_not_due_yet);
async fn an_item_due_a_fraction_of_a_second_after_now_is_not_due_yet(store: &Adapter) {
    let mut j = job("subsecond");
    j.state.next_slot = Some(at(9, 0) + chrono::Duration::milliseconds(500));
    store.create_job(&j).await.expect("create");
    assert_eq!(due_set(store, at(9, 0)).await, BTreeSet::new());
    assert_eq!(
        due_set(store, at(9, 0) + chrono::Duration::milliseconds(500)).await,
        set(["job:subsecond"])
    );
}

// ---------------------------------------------------------------------------------------
// claim

contract!(a_claim_writes_the_job_and_the_execution_together);
async fn a_claim_writes_the_job_and_the_execution_together(store: &Adapter) {
    let claim = claimed(store, "claimed").await;
    assert_eq!(stored(store, &claim.job).await, claim.job);
    assert_eq!(exec(store, &claim.execution.id).await, claim.execution);
    let other = ExecutionId::new(claim.job.id.clone(), at(10, 0), Trigger::Schedule, 1);
    assert_eq!(store.get_execution(&other).await.expect("get"), None);
}

contract!(a_retried_claim_recognises_itself);
async fn a_retried_claim_recognises_itself(store: &Adapter) {
    let claim = claimed(store, "retried").await;
    assert_eq!(
        store.claim(&claim).await.expect("retried claim"),
        ClaimOutcome::Won
    );
    assert_eq!(stored(store, &claim.job).await, claim.job);
    assert_eq!(exec(store, &claim.execution.id).await, claim.execution);
    assert_eq!(
        store
            .list_executions(&claim.job.id, 10)
            .await
            .expect("list")
            .len(),
        1
    );
}

contract!(a_retried_claim_still_wins_after_its_job_and_execution_moved_on);
async fn a_retried_claim_still_wins_after_its_job_and_execution_moved_on(store: &Adapter) {
    let claim = claimed(store, "moved-on").await;
    let id = claim.execution.id.clone();
    assert!(
        store
            .mark_dispatched(&id, "t", "hash", at(9, 0), deadline())
            .await
            .expect("mark")
    );
    let mut bookkeeping = next_version(&claim.job, "after");
    bookkeeping.description = "after the call".into();
    assert!(store.put_job(&bookkeeping, 1).await.expect("put"));
    assert_eq!(
        store.claim(&claim).await.expect("late retry"),
        ClaimOutcome::Won,
        "the execution carries this claim's token: it was written"
    );
    assert_eq!(
        stored(store, &claim.job).await,
        bookkeeping,
        "nothing is rewritten"
    );
    assert_eq!(
        exec(store, &id).await.dispatched_by.as_deref(),
        Some("t"),
        "the execution stays sent"
    );
}

contract!(a_claim_over_a_stale_version_loses_and_writes_nothing);
async fn a_claim_over_a_stale_version_loses_and_writes_nothing(store: &Adapter) {
    let j = job("stale-claim");
    store.create_job(&j).await.expect("create");
    let edit = next_version(&j, "editor");
    assert!(store.put_job(&edit, 0).await.expect("edit"));
    let claim = claim_of(&j, at(9, 0), "t");
    assert_eq!(
        store.claim(&claim).await.expect("claim"),
        ClaimOutcome::Lost
    );
    assert_eq!(stored(store, &j).await, edit);
    assert_eq!(
        store.get_execution(&claim.execution.id).await.expect("get"),
        None,
        "no execution without the job write"
    );
}

contract!(a_claim_from_a_stale_copy_of_a_job_deleted_and_created_again_loses);
/// Issue 13: a tick that read the old job (say, a stale copy in DynamoDB's due index) claims
/// its slot after the job was deleted and created again at the same version: the claim is for
/// another job and must write nothing.
async fn a_claim_from_a_stale_copy_of_a_job_deleted_and_created_again_loses(store: &Adapter) {
    let old = job("stale-copy");
    store.create_job(&old).await.expect("create");
    store.delete_job(&old.app, &old.name).await.expect("delete");
    let mut new = job("stale-copy");
    new.url = JobUrl::parse("https://example.edu/stale-copy-v2").expect("url");
    store.create_job(&new).await.expect("create again");
    assert_eq!(
        (old.state.version, new.state.version),
        (0, 0),
        "the same version"
    );
    let claim = claim_of(&old, at(9, 0), "t");
    assert_eq!(
        store.claim(&claim).await.expect("claim"),
        ClaimOutcome::Lost
    );
    assert_eq!(stored(store, &new).await, new, "the new job is untouched");
    assert_eq!(
        store.get_execution(&claim.execution.id).await.expect("get"),
        None,
        "no execution of the old job"
    );
}

contract!(a_claim_of_an_existing_execution_loses_and_writes_nothing);
async fn a_claim_of_an_existing_execution_loses_and_writes_nothing(store: &Adapter) {
    let first = claimed(store, "taken").await;
    // Another tick, at the current version, claims the same slot and attempt.
    let second = claim_of(&first.job, at(9, 0), "u");
    assert_eq!(
        store.claim(&second).await.expect("claim"),
        ClaimOutcome::Lost
    );
    assert_eq!(stored(store, &first.job).await, first.job);
    assert_eq!(exec(store, &first.execution.id).await, first.execution);
    // Another attempt of the same slot is another execution.
    let retry = claim_attempt(&first.job, at(9, 0), 2, "u");
    assert_eq!(store.claim(&retry).await.expect("claim"), ClaimOutcome::Won);
}

contract!(of_eight_concurrent_claims_of_a_slot_exactly_one_wins);
async fn of_eight_concurrent_claims_of_a_slot_exactly_one_wins(store: &Adapter) {
    let j = job("raced-slot");
    store.create_job(&j).await.expect("create");
    let mut handles = Vec::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    for i in 0..8 {
        let other = store.another().await;
        let claim = claim_of(&j, at(9, 0), &format!("tick{i}"));
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            (
                claim.token.clone(),
                other.claim(&claim).await.expect("claim"),
            )
        }));
    }
    let mut winners = Vec::new();
    for h in handles {
        let (token, outcome) = h.await.expect("join");
        if outcome == ClaimOutcome::Won {
            winners.push(token);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    let e = exec(
        store,
        &ExecutionId::new(j.id.clone(), at(9, 0), Trigger::Schedule, 1),
    )
    .await;
    assert_eq!(e.claimed_by.as_deref(), Some(winners[0].as_str()));
    assert_eq!(
        stored(store, &j).await.state.writer.as_deref(),
        Some(winners[0].as_str())
    );
}

// ---------------------------------------------------------------------------------------
// A job deleted and created again while the tick works on the old one

/// A job of `conformance` named `name` calling `url` every minute (a call may take 5 min),
/// created at `created`.
fn minutely(name: &str, url: &str, created: DateTime<Utc>) -> Job {
    let mut spec = NewJob::new(
        AppName::parse("conformance").expect("app"),
        JobName::parse(name).expect("name"),
        JobUrl::parse(url).expect("url"),
        "* * * * *".parse().expect("schedule"),
    );
    spec.timeout = std::time::Duration::from_secs(300);
    spec.build(created).expect("valid job")
}

/// Runs a tick at `now` on `store` with `dispatch`, in its own task.
fn spawn_tick(
    store: Arc<dyn Store>,
    dispatch: Arc<FakeDispatch>,
    now: DateTime<Utc>,
) -> tokio::task::JoinHandle<TickSummary> {
    tokio::spawn(async move {
        tick(
            store.as_ref(),
            dispatch.as_ref(),
            &FixedClock::new(now),
            &TickConfig::default(),
        )
        .await
        .expect("tick")
    })
}

/// Waits until `dispatch` has received `n` calls (they are then held at its gate).
async fn calls_arrived(dispatch: &FakeDispatch, n: usize) {
    for _ in 0..2000 {
        if dispatch.calls().len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("expected {n} calls, got {:?}", dispatch.calls());
}

contract!(a_job_created_again_while_a_call_of_the_old_one_is_in_flight_keeps_its_definition);
/// Issue 13. The old job's 09:00 call is still in flight when the job is deleted and created
/// again under its name (another URL); a tick at 09:01 claims the new job's 09:01 slot
/// (the new job's version 1, the version the old job's tick wrote at its claim). The old
/// call then ends, and its tick writes the old job's bookkeeping: were it taken for the new
/// job's, the new job would be the old one again (old URL, next slot 09:01), and the 09:01
/// slot would be called a second time.
async fn a_job_created_again_while_a_call_of_the_old_one_is_in_flight_keeps_its_definition(
    store: &Adapter,
) {
    let old = minutely("reborn", "https://example.edu/old", at(8, 59) + secs(30));
    store.create_job(&old).await.expect("create");

    // 09:00: the old job's call goes out and hangs.
    let old_call = Arc::new(FakeDispatch::default());
    let old_gate = old_call.hold();
    let old_tick = spawn_tick(store.another().await, old_call.clone(), at(9, 0));
    calls_arrived(&old_call, 1).await;

    // 09:00:20: deleted and created again, calling another URL.
    store.delete_job(&old.app, &old.name).await.expect("delete");
    let new = minutely("reborn", "https://example.edu/new", at(9, 0) + secs(20));
    store.create_job(&new).await.expect("create again");

    // 09:01: the new job's first slot goes out; its call is still running when...
    let new_call = Arc::new(FakeDispatch::default());
    let new_gate = new_call.hold();
    let new_tick = spawn_tick(store.another().await, new_call.clone(), at(9, 1));
    calls_arrived(&new_call, 1).await;

    // ... the old call ends, and the old job's tick finishes its bookkeeping; then the new one.
    old_gate.notify_one();
    let old_summary = old_tick.await.expect("join");
    assert_eq!(
        old_summary.succeeded, 1,
        "the old call's outcome is recorded"
    );
    new_gate.notify_one();
    let new_summary = new_tick.await.expect("join");
    assert_eq!(new_summary.succeeded, 1);

    // 09:01:30: nothing is due; in particular not 09:01 again.
    let later_call = Arc::new(FakeDispatch::default());
    let later = spawn_tick(
        store.another().await,
        later_call.clone(),
        at(9, 1) + secs(30),
    )
    .await
    .expect("join");
    let urls = |d: &FakeDispatch| -> Vec<String> { d.calls().into_iter().map(|c| c.url).collect() };
    assert_eq!(urls(&old_call), ["https://example.edu/old"]);
    assert_eq!(urls(&new_call), ["https://example.edu/new"]);
    assert!(
        later_call.calls().is_empty(),
        "the 09:01 slot was called again: {:?} ({later:?})",
        later_call.calls()
    );
    let now = stored(store, &new).await;
    assert_eq!(
        (&now.id, now.url.as_str()),
        (&new.id, "https://example.edu/new"),
        "the job keeps its new definition"
    );
    assert_eq!(now.state.next_slot, Some(at(9, 2)), "09:01 was claimed");
    let history: Vec<DateTime<Utc>> = store
        .list_executions(&new.id, 10)
        .await
        .expect("history")
        .iter()
        .map(|e| e.scheduled_for)
        .collect();
    assert_eq!(history, [at(9, 1)]);
}

// ---------------------------------------------------------------------------------------
// mark_dispatched / record_outcome

contract!(mark_dispatched_sends_a_pending_execution_for_one_token_only);
async fn mark_dispatched_sends_a_pending_execution_for_one_token_only(store: &Adapter) {
    let claim = claimed(store, "send").await;
    let id = &claim.execution.id;
    assert!(
        store
            .mark_dispatched(id, "t", "hash", at(9, 0), deadline())
            .await
            .expect("mark")
    );
    let e = exec(store, id).await;
    assert_eq!(e.status, Status::Pending);
    assert_eq!(e.dispatched_by.as_deref(), Some("t"));
    assert_eq!(e.key_hash.as_deref(), Some("hash"));
    assert_eq!(e.started_at, Some(at(9, 0)));
    assert_eq!(e.due_at, Some(deadline()));
    assert!(
        store
            .mark_dispatched(id, "t", "hash", at(9, 0), deadline())
            .await
            .expect("retried mark"),
        "a retry by the same token is its own"
    );
    assert!(
        !store
            .mark_dispatched(id, "u", "other", at(9, 0), deadline())
            .await
            .expect("other mark"),
        "another token may not send it again"
    );
    assert_eq!(exec(store, id).await.key_hash.as_deref(), Some("hash"));
    let missing = ExecutionId::new(claim.job.id.clone(), at(11, 0), Trigger::Schedule, 1);
    assert!(
        !store
            .mark_dispatched(&missing, "t", "hash", at(9, 0), deadline())
            .await
            .expect("missing")
    );
}

contract!(mark_dispatched_refuses_an_execution_no_longer_pending);
async fn mark_dispatched_refuses_an_execution_no_longer_pending(store: &Adapter) {
    let id = dispatched(store, "done").await;
    store
        .record_outcome(&id, "t", &succeeded(200))
        .await
        .expect("record");
    assert!(
        !store
            .mark_dispatched(&id, "t", "hash", at(9, 5), at(9, 6))
            .await
            .expect("mark")
    );
    assert_eq!(exec(store, &id).await.status, Status::Succeeded);
}

contract!(record_outcome_records_the_senders_outcome_and_recognises_its_retry);
async fn record_outcome_records_the_senders_outcome_and_recognises_its_retry(store: &Adapter) {
    let id = dispatched(store, "outcome").await;
    let outcome = succeeded(200);
    assert_eq!(
        store
            .record_outcome(&id, "t", &outcome)
            .await
            .expect("record"),
        Recorded::Recorded
    );
    let e = exec(store, &id).await;
    assert_eq!(e.status, Status::Succeeded);
    assert_eq!(e.http_status, Some(200));
    assert_eq!(e.output.as_deref(), Some("ok"));
    assert_eq!(e.error, None);
    assert_eq!(e.finished_at, Some(outcome.finished_at));
    assert_eq!(e.duration_ms, Some(2000));
    assert_eq!(e.outcome_by.as_deref(), Some("t"));
    assert_eq!(e.due_at, None);
    assert_eq!(
        store
            .record_outcome(&id, "t", &outcome)
            .await
            .expect("retried record"),
        Recorded::Recorded,
        "a retry by the same token is recognised"
    );
    assert_eq!(exec(store, &id).await, e);
    assert_eq!(
        store
            .record_outcome(&id, "u", &succeeded(500))
            .await
            .expect("other record"),
        Recorded::NotOurs
    );
    assert_eq!(exec(store, &id).await, e, "another token changes nothing");
}

contract!(record_outcome_is_not_ours_before_sending_or_for_a_missing_execution);
async fn record_outcome_is_not_ours_before_sending_or_for_a_missing_execution(store: &Adapter) {
    let claim = claimed(store, "unsent").await;
    let id = &claim.execution.id;
    assert_eq!(
        store
            .record_outcome(id, "t", &succeeded(200))
            .await
            .expect("record"),
        Recorded::NotOurs,
        "not sent yet"
    );
    assert_eq!(exec(store, id).await, claim.execution);
    let missing = ExecutionId::new(claim.job.id.clone(), at(11, 0), Trigger::Schedule, 1);
    assert_eq!(
        store
            .record_outcome(&missing, "t", &succeeded(200))
            .await
            .expect("record"),
        Recorded::NotOurs
    );
    assert_eq!(store.get_execution(&missing).await.expect("get"), None);
}

contract!(after_guard_start_the_outcome_is_the_apps_and_the_tick_adds_the_http_status);
async fn after_guard_start_the_outcome_is_the_apps_and_the_tick_adds_the_http_status(
    store: &Adapter,
) {
    let id = dispatched(store, "guarded").await;
    assert!(
        store
            .guard_start(&id, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("start")
    );
    let mut failed = succeeded(502);
    failed.status = Status::Failed;
    assert_eq!(
        store
            .record_outcome(&id, "t", &failed)
            .await
            .expect("record"),
        Recorded::GuardOwned(Status::Running)
    );
    let e = exec(store, &id).await;
    assert_eq!(e.status, Status::Running, "the app's run goes on");
    assert_eq!(e.http_status, Some(502), "the tick adds the HTTP status");
    assert_eq!(e.outcome_by, None);
    assert_eq!(e.due_at, Some(deadline()), "still due at its deadline");
    assert!(
        store
            .guard_end(&id, "n1", &guard_end(Status::Succeeded, at(9, 0) + secs(3)))
            .await
            .expect("end")
    );
    assert_eq!(
        store
            .record_outcome(&id, "t", &failed)
            .await
            .expect("record"),
        Recorded::GuardOwned(Status::Succeeded)
    );
    let e = exec(store, &id).await;
    assert_eq!(
        (e.status, e.http_status, e.due_at),
        (Status::Succeeded, Some(502), None)
    );
    assert_eq!(
        e.counted_by.as_deref(),
        Some("t"),
        "the sender counts the app's end it found"
    );
    assert_eq!(e.output.as_deref(), Some("report sent"));
    assert_eq!(
        store
            .record_outcome(&id, "t", &failed)
            .await
            .expect("retried record"),
        Recorded::GuardOwned(Status::Succeeded),
        "the same record, retried"
    );
    assert_eq!(
        store
            .record_outcome(&id, "u", &failed)
            .await
            .expect("record"),
        Recorded::NotOurs,
        "only the sender hears about the guard"
    );
}

// ---------------------------------------------------------------------------------------
// release_dispatch (issue 13: a send marked but never made is given back)

/// When the 09:00 slot's send is given back: before the claim's lease ends (09:01).
fn released_at() -> DateTime<Utc> {
    at(9, 0) + secs(10)
}

contract!(release_dispatch_gives_back_the_send_its_token_marked_and_recognises_its_retry);
async fn release_dispatch_gives_back_the_send_its_token_marked_and_recognises_its_retry(
    store: &Adapter,
) {
    let claim = claimed(store, "release").await;
    let id = &claim.execution.id;
    assert!(
        store
            .mark_dispatched(id, "t", "hash", at(9, 0), deadline())
            .await
            .expect("mark")
    );
    assert!(
        store
            .release_dispatch(id, "t", released_at())
            .await
            .expect("release"),
        "the token that marked it sent gives the send back"
    );
    // Claimed, not sent: the claim as written, due at the release's instant.
    let mut expected = claim.execution.clone();
    expected.due_at = Some(released_at());
    let e = exec(store, id).await;
    assert_eq!(e, expected);
    assert_eq!(
        (e.dispatched_by, e.key_hash, e.started_at),
        (None, None, None)
    );
    assert!(
        store
            .release_dispatch(id, "t", released_at())
            .await
            .expect("retried release"),
        "the same release, retried (its answer lost), is recognised"
    );
    assert_eq!(exec(store, id).await, expected, "and changes nothing");
    assert_eq!(
        store
            .record_outcome(id, "t", &succeeded(200))
            .await
            .expect("record"),
        Recorded::NotOurs,
        "a send given back has no outcome to record"
    );
    assert_eq!(exec(store, id).await, expected);
}

contract!(release_dispatch_refuses_a_send_it_did_not_mark);
async fn release_dispatch_refuses_a_send_it_did_not_mark(store: &Adapter) {
    let claim = claimed(store, "release-other").await;
    let id = &claim.execution.id;
    assert!(
        !store
            .release_dispatch(id, "t", released_at())
            .await
            .expect("release"),
        "never marked sent: nothing to give back (its due time is still the claim's lease)"
    );
    assert_eq!(exec(store, id).await, claim.execution, "nothing written");
    assert!(
        store
            .mark_dispatched(id, "u", "other", at(9, 0), deadline())
            .await
            .expect("mark")
    );
    let sent = exec(store, id).await;
    assert!(
        !store
            .release_dispatch(id, "t", released_at())
            .await
            .expect("release"),
        "another token's send is not ours to give back"
    );
    assert_eq!(exec(store, id).await, sent, "nothing written");
    let missing = ExecutionId::new(claim.job.id.clone(), at(11, 0), Trigger::Schedule, 1);
    assert!(
        !store
            .release_dispatch(&missing, "t", released_at())
            .await
            .expect("missing")
    );
    assert_eq!(store.get_execution(&missing).await.expect("get"), None);
}

contract!(release_dispatch_refuses_once_the_guard_started_it_or_an_outcome_was_recorded);
async fn release_dispatch_refuses_once_the_guard_started_it_or_an_outcome_was_recorded(
    store: &Adapter,
) {
    let guarded = dispatched(store, "release-guarded").await;
    assert!(
        store
            .guard_start(&guarded, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("start")
    );
    let running = exec(store, &guarded).await;
    assert!(
        !store
            .release_dispatch(&guarded, "t", released_at())
            .await
            .expect("release"),
        "the app's guard claimed it: the job may be running"
    );
    assert_eq!(exec(store, &guarded).await, running, "nothing written");

    let finished = dispatched(store, "release-finished").await;
    assert_eq!(
        store
            .record_outcome(&finished, "t", &succeeded(200))
            .await
            .expect("record"),
        Recorded::Recorded
    );
    let done = exec(store, &finished).await;
    assert!(
        !store
            .release_dispatch(&finished, "t", released_at())
            .await
            .expect("release"),
        "an outcome was recorded"
    );
    assert_eq!(exec(store, &finished).await, done, "nothing written");

    let lost = dispatched(store, "release-reconciled").await;
    let seen = exec(store, &lost).await;
    assert!(
        store
            .reconcile(&seen, "no outcome", deadline() + secs(5))
            .await
            .expect("reconcile")
    );
    let timed_out = exec(store, &lost).await;
    assert!(
        !store
            .release_dispatch(&lost, "t", released_at())
            .await
            .expect("release"),
        "reconciled"
    );
    assert_eq!(exec(store, &lost).await, timed_out, "nothing written");
}

contract!(a_released_execution_is_due_at_its_release_instant_and_a_later_tick_sends_it);
async fn a_released_execution_is_due_at_its_release_instant_and_a_later_tick_sends_it(
    store: &Adapter,
) {
    let claim = claimed(store, "release-send").await;
    let id = claim.execution.id.clone();
    assert!(
        store
            .mark_dispatched(&id, "t", "hash", at(9, 0), deadline())
            .await
            .expect("mark")
    );
    assert!(
        store
            .release_dispatch(&id, "t", released_at())
            .await
            .expect("release")
    );
    assert_eq!(
        due_set(store, released_at() - secs(1)).await,
        BTreeSet::new()
    );
    let due = store.due(released_at()).await.expect("due");
    assert_eq!(due.len(), 1, "{due:?}");
    let DueItem::Execution(found) = &due[0] else {
        panic!("the released execution is due, not a job: {due:?}");
    };
    assert_eq!((&found.id, found.due_at), (&id, Some(released_at())));
    assert_eq!(found.dispatched_by, None);

    // A later tick finds a claim never sent and sends it (the orphan path), once.
    let dispatch = Arc::new(FakeDispatch::default());
    let summary = spawn_tick(
        store.another().await,
        dispatch.clone(),
        released_at() + secs(5),
    )
    .await
    .expect("join");
    let calls = dispatch.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        (calls[0].url.as_str(), calls[0].execution.as_str()),
        (claim.job.url.as_str(), id.to_string().as_str())
    );
    assert_eq!(
        (summary.triggered, summary.succeeded, summary.reconciled),
        (1, 1, 0),
        "{summary:?}"
    );
    let e = exec(store, &id).await;
    assert_eq!(e.status, Status::Succeeded);
    assert_ne!(
        e.dispatched_by.as_deref(),
        Some("t"),
        "sent by the later tick"
    );
    assert_eq!(
        due_set(store, released_at() + secs(5)).await,
        BTreeSet::new()
    );
}

// ---------------------------------------------------------------------------------------
// reconcile

contract!(reconcile_times_out_an_execution_still_as_seen_and_recognises_its_retry);
async fn reconcile_times_out_an_execution_still_as_seen_and_recognises_its_retry(store: &Adapter) {
    let id = dispatched(store, "lost").await;
    let seen = exec(store, &id).await;
    let now = deadline() + secs(5);
    assert!(
        store
            .reconcile(&seen, "no outcome", now)
            .await
            .expect("reconcile")
    );
    let e = exec(store, &id).await;
    assert_eq!(e.status, Status::TimedOut);
    assert_eq!(e.error.as_deref(), Some("no outcome"));
    assert_eq!(e.finished_at, Some(now));
    assert_eq!(e.outcome_by.as_deref(), Some(RECONCILER));
    assert_eq!(e.due_at, None);
    assert_eq!(due_set(store, now).await, BTreeSet::new());
    assert!(
        store
            .reconcile(&seen, "no outcome", now)
            .await
            .expect("retried reconcile"),
        "the same reconciliation, retried"
    );
    assert!(
        !store
            .reconcile(&seen, "no outcome", now + secs(60))
            .await
            .expect("another reconcile"),
        "a later reconciler finds it moved on"
    );
    assert_eq!(
        store
            .record_outcome(&id, "t", &succeeded(200))
            .await
            .expect("late record"),
        Recorded::NotOurs,
        "a late tick outcome does not overwrite the reconciliation"
    );
    assert_eq!(exec(store, &id).await, e);
}

contract!(reconcile_refuses_an_execution_that_moved_on);
async fn reconcile_refuses_an_execution_that_moved_on(store: &Adapter) {
    let claim = claimed(store, "moved").await;
    let id = claim.execution.id.clone();
    let seen_claimed = exec(store, &id).await;
    assert!(
        store
            .mark_dispatched(&id, "t", "hash", at(9, 0), deadline())
            .await
            .expect("mark")
    );
    assert!(
        !store
            .reconcile(&seen_claimed, "lease", at(9, 1))
            .await
            .expect("reconcile"),
        "sent since it was seen (its due time moved)"
    );
    let seen_sent = exec(store, &id).await;
    store
        .record_outcome(&id, "t", &succeeded(200))
        .await
        .expect("record");
    assert!(
        !store
            .reconcile(&seen_sent, "deadline", deadline())
            .await
            .expect("reconcile"),
        "finished since it was seen"
    );
    assert_eq!(exec(store, &id).await.status, Status::Succeeded);
    let mut ghost = seen_sent.clone();
    ghost.id = ExecutionId::new(claim.job.id.clone(), at(11, 0), Trigger::Schedule, 1);
    assert!(
        !store
            .reconcile(&ghost, "x", deadline())
            .await
            .expect("missing")
    );
}

contract!(reconcile_refuses_an_execution_it_saw_without_a_deadline);
/// Found by issue 15: SQLite and DynamoDB refused this, the memory store timed it out. An
/// execution with no deadline has none that passed.
async fn reconcile_refuses_an_execution_it_saw_without_a_deadline(store: &Adapter) {
    let j = job("no-deadline");
    store.create_job(&j).await.expect("create");
    let mut claim = claim_of(&j, at(9, 0), "t");
    claim.execution.due_at = None;
    assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
    let seen = exec(store, &claim.execution.id).await;
    assert_eq!((seen.status, seen.due_at), (Status::Pending, None));
    assert!(
        !store
            .reconcile(&seen, "no outcome", deadline())
            .await
            .expect("reconcile"),
        "refused"
    );
    assert_eq!(
        exec(store, &claim.execution.id).await,
        seen,
        "nothing written"
    );
}

// ---------------------------------------------------------------------------------------
// guard_start / guard_end

contract!(guard_start_claims_a_sent_execution_once_with_the_right_key_hash);
async fn guard_start_claims_a_sent_execution_once_with_the_right_key_hash(store: &Adapter) {
    let claim = claimed(store, "guard").await;
    let id = claim.execution.id.clone();
    assert!(
        !store
            .guard_start(&id, "hash", "n1", at(9, 0))
            .await
            .expect("start"),
        "not sent: no key hash yet"
    );
    assert!(
        store
            .mark_dispatched(&id, "t", "hash", at(9, 0), deadline())
            .await
            .expect("mark")
    );
    assert!(
        !store
            .guard_start(&id, "wrong", "n1", at(9, 0))
            .await
            .expect("start"),
        "wrong key hash"
    );
    assert!(
        store
            .guard_start(&id, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("start")
    );
    let e = exec(store, &id).await;
    assert_eq!(e.status, Status::Running);
    assert_eq!(e.guard_nonce.as_deref(), Some("n1"));
    assert_eq!(e.started_at, Some(at(9, 0) + secs(1)));
    assert!(
        !store
            .guard_start(&id, "hash", "n2", at(9, 0) + secs(2))
            .await
            .expect("start"),
        "another guard (a replayed request) does not run it again"
    );
    assert_eq!(exec(store, &id).await, e);
    let missing = ExecutionId::new(claim.job.id.clone(), at(11, 0), Trigger::Schedule, 1);
    assert!(
        !store
            .guard_start(&missing, "hash", "n1", at(9, 0))
            .await
            .expect("start")
    );
}

contract!(a_retried_guard_start_recognises_its_own_nonce);
async fn a_retried_guard_start_recognises_its_own_nonce(store: &Adapter) {
    let id = dispatched(store, "guard-retry").await;
    assert!(
        store
            .guard_start(&id, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("start")
    );
    assert!(
        store
            .guard_start(&id, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("retried start")
    );
    assert_eq!(exec(store, &id).await.guard_nonce.as_deref(), Some("n1"));
}

contract!(guard_end_records_the_apps_outcome_for_the_claiming_guard_only);
async fn guard_end_records_the_apps_outcome_for_the_claiming_guard_only(store: &Adapter) {
    let id = dispatched(store, "guard-end").await;
    let end = guard_end(Status::Failed, at(9, 0) + secs(4));
    assert!(
        !store.guard_end(&id, "n1", &end).await.expect("end"),
        "no guard claimed it"
    );
    assert!(
        store
            .guard_start(&id, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("start")
    );
    assert!(
        !store.guard_end(&id, "n2", &end).await.expect("end"),
        "another nonce"
    );
    let mut end = end;
    end.error = Some("the report failed".into());
    end.http_status = Some(500);
    assert!(store.guard_end(&id, "n1", &end).await.expect("end"));
    let e = exec(store, &id).await;
    assert_eq!(e.status, Status::Failed);
    assert_eq!(e.error.as_deref(), Some("the report failed"));
    assert_eq!(e.output.as_deref(), Some("report sent"));
    assert_eq!(e.http_status, Some(500));
    assert_eq!(e.finished_at, Some(at(9, 0) + secs(4)));
    assert_eq!(e.duration_ms, Some(1500));
    assert_eq!(
        e.due_at,
        Some(at(9, 0) + secs(4)),
        "due at its end, until a tick counts it"
    );
    assert!(
        due_set(store, at(9, 0) + secs(4))
            .await
            .contains(&format!("exec:{id}"))
    );
    let other = guard_end(Status::Succeeded, at(9, 0) + secs(9));
    assert!(
        !store.guard_end(&id, "n1", &other).await.expect("end"),
        "a second, different end is refused"
    );
    assert_eq!(exec(store, &id).await, e);
}

contract!(a_retried_guard_end_recognises_itself);
async fn a_retried_guard_end_recognises_itself(store: &Adapter) {
    let id = dispatched(store, "guard-end-retry").await;
    assert!(
        store
            .guard_start(&id, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("start")
    );
    let end = guard_end(Status::Succeeded, at(9, 0) + secs(4));
    assert!(store.guard_end(&id, "n1", &end).await.expect("end"));
    let e = exec(store, &id).await;
    assert!(
        store.guard_end(&id, "n1", &end).await.expect("retried end"),
        "the same end, retried"
    );
    assert_eq!(exec(store, &id).await, e);
}

contract!(a_late_guard_end_after_reconciliation_records_the_real_outcome);
async fn a_late_guard_end_after_reconciliation_records_the_real_outcome(store: &Adapter) {
    let id = dispatched(store, "late-end").await;
    assert!(
        store
            .guard_start(&id, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("start")
    );
    let seen = exec(store, &id).await;
    assert!(
        store
            .reconcile(&seen, "no outcome by the deadline", deadline())
            .await
            .expect("reconcile")
    );
    assert_eq!(exec(store, &id).await.status, Status::TimedOut);
    assert_eq!(
        store
            .record_outcome(&id, "t", &succeeded(200))
            .await
            .expect("record"),
        Recorded::GuardOwned(Status::TimedOut)
    );
    let end = guard_end(Status::Succeeded, deadline() + secs(30));
    assert!(
        store.guard_end(&id, "n1", &end).await.expect("late end"),
        "the real outcome wins over the reconciler's guess"
    );
    let e = exec(store, &id).await;
    assert_eq!(e.status, Status::Succeeded);
    assert_eq!(e.finished_at, Some(deadline() + secs(30)));
    assert_eq!(
        e.due_at,
        Some(deadline() + secs(30)),
        "due again, for a tick to count the real outcome"
    );
    assert!(
        !store
            .guard_end(&id, "n2", &guard_end(Status::Failed, deadline() + secs(40)))
            .await
            .expect("end"),
        "another nonce still may not"
    );
}

contract!(take_guard_end_takes_an_ended_execution_once_and_recognises_its_retry);
async fn take_guard_end_takes_an_ended_execution_once_and_recognises_its_retry(store: &Adapter) {
    let id = dispatched(store, "take").await;
    assert!(
        store
            .guard_start(&id, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("start")
    );
    let running = exec(store, &id).await;
    assert!(
        !store.take_guard_end(&running, "t1").await.expect("take"),
        "still running: nothing to count"
    );
    let end = guard_end(Status::Failed, at(9, 0) + secs(4));
    assert!(store.guard_end(&id, "n1", &end).await.expect("end"));
    let seen = exec(store, &id).await;
    assert!(store.take_guard_end(&seen, "t1").await.expect("take"));
    let e = exec(store, &id).await;
    assert_eq!(
        (e.status, e.due_at, e.counted_by.as_deref()),
        (Status::Failed, None, Some("t1"))
    );
    assert!(
        !due_set(store, deadline() + secs(60))
            .await
            .contains(&format!("exec:{id}")),
        "out of the due index"
    );
    assert!(
        store
            .take_guard_end(&seen, "t1")
            .await
            .expect("retried take"),
        "this very take, retried"
    );
    assert!(
        !store.take_guard_end(&seen, "t2").await.expect("take"),
        "taken once"
    );
    assert!(
        store.guard_end(&id, "n1", &end).await.expect("retried end"),
        "the guard's end, retried"
    );
    assert_eq!(
        exec(store, &id).await,
        e,
        "a retried end does not put a counted end back in the index"
    );
}

contract!(take_guard_end_refuses_what_is_not_an_end_still_as_seen);
async fn take_guard_end_refuses_what_is_not_an_end_still_as_seen(store: &Adapter) {
    // Reconciled, with no end from a guard: final, but not due.
    let id = dispatched(store, "reconciled").await;
    let seen = exec(store, &id).await;
    assert!(
        store
            .reconcile(&seen, "no outcome", deadline())
            .await
            .expect("reconcile")
    );
    let reconciled = exec(store, &id).await;
    assert!(
        !store.take_guard_end(&reconciled, "t1").await.expect("take"),
        "no due time: nothing to take"
    );
    assert_eq!(exec(store, &id).await, reconciled);
    // An end seen with another due time than the stored one.
    let id = dispatched(store, "moved-end").await;
    assert!(
        store
            .guard_start(&id, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("start")
    );
    let end = guard_end(Status::Succeeded, at(9, 0) + secs(4));
    assert!(store.guard_end(&id, "n1", &end).await.expect("end"));
    let mut stale = exec(store, &id).await;
    stale.due_at = Some(at(9, 0) + secs(3));
    assert!(!store.take_guard_end(&stale, "t1").await.expect("take"));
    assert_eq!(
        exec(store, &id).await.due_at,
        Some(at(9, 0) + secs(4)),
        "still due"
    );
}

contract!(the_sender_hears_of_an_end_another_tick_counted_as_not_ours);
async fn the_sender_hears_of_an_end_another_tick_counted_as_not_ours(store: &Adapter) {
    let id = dispatched(store, "counted").await;
    assert!(
        store
            .guard_start(&id, "hash", "n1", at(9, 0) + secs(1))
            .await
            .expect("start")
    );
    let end = guard_end(Status::Succeeded, at(9, 0) + secs(3));
    assert!(store.guard_end(&id, "n1", &end).await.expect("end"));
    let seen = exec(store, &id).await;
    assert!(store.take_guard_end(&seen, "other").await.expect("take"));
    assert_eq!(
        store
            .record_outcome(&id, "t", &succeeded(202))
            .await
            .expect("record"),
        Recorded::NotOurs,
        "another tick counted it"
    );
    let e = exec(store, &id).await;
    assert_eq!(
        (e.status, e.http_status, e.due_at, e.counted_by.as_deref()),
        (Status::Succeeded, Some(202), None, Some("other")),
        "the sender still adds the HTTP status"
    );
}

// ---------------------------------------------------------------------------------------
// get_execution / list_executions / delete_executions

contract!(executions_are_listed_newest_slot_first_up_to_the_limit);
async fn executions_are_listed_newest_slot_first_up_to_the_limit(store: &Adapter) {
    let mut j = job("history");
    store.create_job(&j).await.expect("create");
    let other = job("neighbour");
    store.create_job(&other).await.expect("create");
    let neighbour = claim_of(&other, at(9, 0), "x");
    assert_eq!(
        store.claim(&neighbour).await.expect("claim"),
        ClaimOutcome::Won
    );
    // Claimed out of order: 11:00, 09:00, 10:00 attempt 1 and 2, 12:00.
    let mut ids = Vec::new();
    for (h, attempt) in [(11, 1), (9, 1), (10, 1), (10, 2), (12, 1)] {
        let token = format!("t{h}{attempt}");
        let claim = claim_attempt(&j, at(h, 0), attempt, &token);
        assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
        ids.push(claim.execution.id.clone());
        j = claim.job;
    }
    let listed = |execs: Vec<Execution>| -> Vec<String> {
        execs.into_iter().map(|e| e.id.to_string()).collect()
    };
    // Newest slot first; within a slot, the later attempt first.
    let newest: Vec<String> = [(12, 1), (11, 1), (10, 2), (10, 1), (9, 1)]
        .iter()
        .map(|(h, a)| ExecutionId::new(j.id.clone(), at(*h, 0), Trigger::Schedule, *a).to_string())
        .collect();
    assert_eq!(
        listed(store.list_executions(&j.id, 100).await.expect("list")),
        newest
    );
    assert_eq!(
        listed(store.list_executions(&j.id, 3).await.expect("list")),
        newest[..3].to_vec()
    );
    assert_eq!(
        exec(store, &ids[0]).await.scheduled_for,
        at(11, 0),
        "each reads back by id"
    );
}

contract!(delete_executions_removes_only_that_jobs_history);
async fn delete_executions_removes_only_that_jobs_history(store: &Adapter) {
    let mut j = job("purged");
    store.create_job(&j).await.expect("create");
    for (h, token) in [(9, "a"), (10, "b"), (11, "c")] {
        let claim = claim_of(&j, at(h, 0), token);
        assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
        j = claim.job;
    }
    let kept = claimed(store, "kept").await;
    assert_eq!(store.delete_executions(&j.id).await.expect("delete"), 3);
    assert!(
        store
            .list_executions(&j.id, 10)
            .await
            .expect("list")
            .is_empty()
    );
    let gone = ExecutionId::new(j.id.clone(), at(9, 0), Trigger::Schedule, 1);
    assert_eq!(store.get_execution(&gone).await.expect("get"), None);
    assert_eq!(
        store.delete_executions(&j.id).await.expect("delete again"),
        0
    );
    assert_eq!(exec(store, &kept.execution.id).await, kept.execution);
    assert_eq!(stored(store, &j).await, j, "the job itself stays");
}

// ---------------------------------------------------------------------------------------
// Shards of the due index (docs/data-model.md, "Shards of the due index")

/// Like [`contract!`], on the adapters whose due index can have several shards: memory and
/// DynamoDB. SQLite keeps one shard by design (its own test below says so).
macro_rules! sharded_contract {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_memory() {
                super::$name(&super::Adapter::memory().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_dynamodb() {
                super::$name(&super::Adapter::dynamodb().await).await;
            }
        }
    };
}

/// Raises `store`'s due index to `shards`, writers switching at `switch_at`.
async fn raise_at(store: &dyn Store, shards: u32, switch_at: DateTime<Utc>) -> TableMeta {
    let before = store.table_meta().await.expect("the layout");
    let mut after = before
        .raise(shards, switch_at, Utc::now())
        .expect("a raise");
    after.format = after.format.max(SHARDED_FORMAT);
    assert!(
        store
            .put_table_meta(&after, before.version)
            .await
            .expect("write the layout"),
        "nobody else raised it"
    );
    assert_eq!(store.table_meta().await.expect("the layout"), after);
    after
}

/// Raises `store`'s due index to `shards`, writers switching at once.
async fn raise(store: &dyn Store, shards: u32) -> TableMeta {
    raise_at(store, shards, Utc::now()).await
}

/// The name of an app whose items go to shard `k` of `of` (by the layout's fixed hash).
fn app_in_shard(k: u32, of: u32) -> String {
    (0..1000)
        .map(|i| format!("app-{i}"))
        .find(|name| shard_of(&AppName::parse(name).expect("app"), of) == k)
        .expect("an app in every shard")
}

/// What `due_in(now, shards)` returned, as [`due_set`] does.
async fn due_in_set(store: &dyn Store, now: DateTime<Utc>, shards: &[u32]) -> BTreeSet<String> {
    store
        .due_in(now, shards)
        .await
        .expect("due_in")
        .iter()
        .map(describe)
        .collect()
}

contract!(a_new_store_is_of_the_new_format_with_one_shard);
async fn a_new_store_is_of_the_new_format_with_one_shard(store: &Adapter) {
    // SQLite has no `META` item: one shard, its calls indexed as they always were.
    let format = match store.backend {
        Backend::Sqlite(_) => 1,
        _ => shared::store::NEW_TABLE_FORMAT,
    };
    // A new DynamoDB table has the keys-only due index alone, and its ticks read it.
    let keys_index = matches!(store.backend, Backend::Dynamo { .. });
    assert_eq!(
        store.table_meta().await.expect("layout"),
        TableMeta {
            format,
            keys_index,
            // Recorded for DynamoDB's ticks and CLIs to agree on: the default, 30 days.
            retention_days: keys_index.then_some(30),
            ..TableMeta::LEGACY
        }
    );
    assert_eq!(store.table_format().await.expect("format"), format);
    let j = job("one-shard");
    store.create_job(&j).await.expect("create");
    assert_eq!(
        due_in_set(&**store, at(9, 0), &[0]).await,
        set(["job:one-shard"])
    );
    assert_eq!(due_in_set(&**store, at(9, 0), &[1]).await, set([]));
}

sharded_contract!(due_reads_only_the_shards_asked);
async fn due_reads_only_the_shards_asked(store: &Adapter) {
    raise(&**store, 4).await;
    for k in 0..4 {
        let j = job_in(&app_in_shard(k, 4), &format!("in-{k}"));
        store.create_job(&j).await.expect("create");
    }
    for k in 0..4 {
        assert_eq!(
            due_in_set(&**store, at(9, 0), &[k]).await,
            set([format!("job:in-{k}").as_str()]),
            "shard {k}"
        );
    }
    assert_eq!(
        due_in_set(&**store, at(9, 0), &[0, 2]).await,
        set(["job:in-0", "job:in-2"])
    );
    assert_eq!(
        due_set(store, at(9, 0)).await,
        set(["job:in-0", "job:in-1", "job:in-2", "job:in-3"]),
        "due() reads every shard"
    );
    // A claim puts the job and its execution in the app's shard.
    let j1 = stored(store, &job_in(&app_in_shard(1, 4), "in-1")).await;
    let claim = claim_of(&j1, at(9, 0), "t1");
    assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
    let lease_over = at(9, 5);
    assert_eq!(
        due_in_set(&**store, lease_over, &[1]).await,
        set([format!("exec:{}", claim.execution.id).as_str()])
    );
    assert!(
        !due_in_set(&**store, lease_over, &[0, 2, 3])
            .await
            .iter()
            .any(|d| d.starts_with("exec:"))
    );
}

sharded_contract!(an_item_under_a_lower_shard_is_found_after_a_raise_and_reshard_moves_it);
async fn an_item_under_a_lower_shard_is_found_after_a_raise_and_reshard_moves_it(store: &Adapter) {
    let mut jobs = Vec::new();
    for k in 0..4 {
        let j = job_in(&app_in_shard(k, 4), &format!("old-{k}"));
        store.create_job(&j).await.expect("create");
        jobs.push(j);
    }
    raise(&**store, 4).await;
    let all = set(["job:old-0", "job:old-1", "job:old-2", "job:old-3"]);
    assert_eq!(
        due_in_set(&**store, at(9, 0), &[0]).await,
        all,
        "still under DUE"
    );
    assert_eq!(due_in_set(&**store, at(9, 0), &[1, 2, 3]).await, set([]));
    assert_eq!(due_set(store, at(9, 0)).await, all);
    // A write after the raise puts the job in its shard.
    let moved = next_version(&jobs[2], "w");
    assert!(store.put_job(&moved, 0).await.expect("put"));
    assert_eq!(
        due_in_set(&**store, at(9, 0), &[2]).await,
        set(["job:old-2"])
    );
    // The operators' pass moves the rest; run again, it moves nothing.
    let done = store.reshard().await.expect("reshard");
    assert_eq!(
        (done.moved, done.changed, done.in_place),
        (2, 0, 2),
        "{done:?}"
    );
    for k in 0..4 {
        assert_eq!(
            due_in_set(&**store, at(9, 0), &[k]).await,
            set([format!("job:old-{k}").as_str()]),
            "shard {k}"
        );
    }
    let again = store.reshard().await.expect("reshard again");
    assert_eq!((again.moved, again.in_place), (0, 4), "{again:?}");
}

sharded_contract!(writers_keep_the_old_count_until_the_switch_while_readers_read_the_new);
async fn writers_keep_the_old_count_until_the_switch_while_readers_read_the_new(store: &Adapter) {
    raise_at(&**store, 4, Utc::now() + chrono::Duration::hours(1)).await;
    let other = store.another().await;
    let meta = other.table_meta().await.expect("layout");
    assert_eq!((meta.shards, meta.shards_before), (4, 1));
    let app = app_in_shard(3, 4);
    other
        .create_job(&job_in(&app, "early"))
        .await
        .expect("create");
    assert_eq!(
        due_in_set(&**store, at(9, 0), &[0]).await,
        set(["job:early"])
    );
    assert_eq!(due_in_set(&**store, at(9, 0), &[3]).await, set([]));
}

sharded_contract!(a_raise_is_conditional_on_the_layout_it_read);
async fn a_raise_is_conditional_on_the_layout_it_read(store: &Adapter) {
    let read = store.table_meta().await.expect("layout");
    let two = read.raise(2, Utc::now(), Utc::now()).expect("raise");
    let four = read.raise(4, Utc::now(), Utc::now()).expect("raise");
    assert!(store.put_table_meta(&two, read.version).await.expect("put"));
    assert!(
        !store
            .put_table_meta(&four, read.version)
            .await
            .expect("put"),
        "a raise from a stale read loses"
    );
    assert_eq!(store.table_meta().await.expect("layout"), two);
    assert!(
        two.raise(1, Utc::now(), Utc::now()).is_err(),
        "the count never goes down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_keeps_one_shard_and_says_so() {
    let store = Adapter::sqlite().await;
    let meta = store.table_meta().await.expect("layout");
    assert_eq!(meta, TableMeta::LEGACY);
    let raised = meta.raise(4, Utc::now(), Utc::now()).expect("raise");
    let err = store
        .put_table_meta(&raised, meta.version)
        .await
        .expect_err("refused");
    assert!(matches!(err, StoreError::OneShardOnly), "{err:?}");
    assert!(err.to_string().contains("one due-index shard"), "{err}");
    store.create_job(&job("kept")).await.expect("create");
    assert_eq!(store.reshard().await.expect("reshard").moved, 0);
    assert_eq!(due_in_set(&*store, at(9, 0), &[0]).await, set(["job:kept"]));
    assert_eq!(due_in_set(&*store, at(9, 0), &[1]).await, set([]));
}

sharded_contract!(a_shard_lease_is_held_by_one_tick_per_minute_until_it_lapses_or_is_given_back);
async fn a_shard_lease_is_held_by_one_tick_per_minute_until_it_lapses_or_is_given_back(
    store: &Adapter,
) {
    let now = Utc::now();
    let lease = |holder: &str, minute: DateTime<Utc>, until: DateTime<Utc>| ShardLease {
        shard: 2,
        minute,
        holder: holder.to_owned(),
        until,
    };
    let until = now + secs(600);
    let a = lease("a", at(9, 0), until);
    assert!(
        store.lease_shard(&a, now).await.expect("lease"),
        "free: taken"
    );
    assert!(
        store.lease_shard(&a, now).await.expect("lease"),
        "the same holder again (a retry): held"
    );
    let b = lease("b", at(9, 0), until);
    assert!(
        !store.lease_shard(&b, now).await.expect("lease"),
        "held by a"
    );
    let other_minute = lease("b", at(9, 1), until);
    assert!(
        store.lease_shard(&other_minute, now).await.expect("lease"),
        "another minute is another lease"
    );
    let other_shard = ShardLease {
        shard: 3,
        ..b.clone()
    };
    assert!(
        store.lease_shard(&other_shard, now).await.expect("lease"),
        "another shard is another lease"
    );
    // Lapsed: a's time is over.
    assert!(
        store.lease_shard(&b, until + secs(1)).await.expect("lease"),
        "a lease whose holder's time ran out is taken"
    );
    // Given back: another may take it at once.
    store.release_shard(&b).await.expect("release");
    store
        .release_shard(&a)
        .await
        .expect("a's release of b's lease does nothing");
    let c = lease("c", at(9, 0), until);
    assert!(
        store.lease_shard(&c, now).await.expect("lease"),
        "given back: taken"
    );
    store.release_shard(&b).await.expect("b no longer holds it");
    assert!(
        !store.lease_shard(&a, now).await.expect("lease"),
        "a release by a former holder gives back nothing"
    );
}

contract!(untrack_gives_a_tracked_call_its_own_index_entry_once);
async fn untrack_gives_a_tracked_call_its_own_index_entry_once(store: &Adapter) {
    let j = job("tracked");
    store.create_job(&j).await.expect("create");
    let mut claim = claim_of(&j, at(9, 0), "t");
    claim.execution.tracked = true;
    assert_eq!(store.claim(&claim).await.expect("claim"), ClaimOutcome::Won);
    let id = claim.execution.id.clone();
    let exec = format!("exec:{id}");
    assert!(
        !due_set(store, at(9, 5)).await.contains(&exec),
        "a tracked call has no index entry"
    );
    let seen = store.get_execution(&id).await.expect("get").expect("exec");
    assert!(store.untrack(&seen).await.expect("untrack"));
    assert!(due_set(store, at(9, 5)).await.contains(&exec));
    assert!(
        !due_set(store, at(9, 0)).await.contains(&exec),
        "due at its lease, as a claim of format 1"
    );
    let again = store.get_execution(&id).await.expect("get").expect("exec");
    assert!(!again.tracked);
    assert!(
        !store.untrack(&again).await.expect("untrack again"),
        "nothing left to do"
    );
}
