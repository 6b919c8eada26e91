//! Job-side verification, end to end: a real axum app using the guard, the tick calling it,
//! the moto server holding the executions; and signed requests checked by the documented
//! Python verifier.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use shared::clock::{Clock, FixedClock};
use shared::dispatch::{DispatchOptions, HttpDispatcher, PrivateTargets};
use shared::guard::{Guard, GuardError, Rejection, scheduled_job};
use shared::model::{App, AppName, BaseUrl, ExecutionId, Status};
use shared::protocol::{HEADER_EXECUTION, HEADER_JOB, HEADER_KEY, HEADER_SIGNATURE};
use shared::signing::{DEFAULT_TOLERANCE, SignatureError, app_key, verify_signature};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;
use shared::tick::tick;
use tokio::sync::Notify;

use crate::helpers::jobserver::Recorded;
use crate::helpers::python::run_with_documented_verifier;
use crate::world::{World, utc};

/// Serves `router` on 127.0.0.1:0; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn store_of(world: &World) -> Arc<dyn Store> {
    Arc::new(world.store.clone())
}

#[derive(Clone)]
struct Seen {
    store: Arc<dyn Store>,
    statuses: Arc<Mutex<Vec<Status>>>,
    headers: Arc<Mutex<Vec<HeaderMap>>>,
}

async fn report(State(seen): State<Seen>, headers: HeaderMap) -> &'static str {
    let id = headers
        .get(HEADER_EXECUTION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ExecutionId::parse(v).ok())
        .expect("execution header");
    let status = seen
        .store
        .get_execution(&id)
        .await
        .expect("read")
        .expect("exists")
        .status;
    seen.statuses.lock().expect("statuses").push(status);
    seen.headers.lock().expect("headers").push(headers);
    "report done"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_old_flow_created_running_done_runs_end_to_end_through_the_axum_guard() {
    let at = utc(2026, 7, 1, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let store = store_of(&world);
    let guard = Guard::new(store.clone(), world.clock.clone());
    let seen = Seen {
        store: store.clone(),
        statuses: Arc::default(),
        headers: Arc::default(),
    };
    let app = Router::new()
        .route(
            "/report",
            get(report).route_layer(axum::middleware::from_fn_with_state(guard, scheduled_job)),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    let mut spec = world.spec("report", "/unused", "0 9 * * *");
    spec.url = shared::model::JobUrl::parse(&format!("{base}/report")).expect("url");
    let job = world.create(spec).await;

    world.set(at);
    let summary = world.tick().await;
    assert_eq!(
        (summary.triggered, summary.succeeded),
        (1, 1),
        "{summary:?}"
    );
    assert_eq!(
        *seen.statuses.lock().expect("statuses"),
        vec![Status::Running],
        "running while the view runs"
    );
    let execs = world
        .store
        .list_executions(&job.id, 10)
        .await
        .expect("history");
    assert_eq!(execs.len(), 1);
    let e = &execs[0];
    assert_eq!(
        (e.status, e.http_status, e.output.as_deref()),
        (Status::Succeeded, Some(200), Some("report done"))
    );
    assert!(e.guard_nonce.is_some(), "the app's guard recorded the end");

    // A replay of the very request is refused, and the view does not run again.
    let replayed = seen.headers.lock().expect("headers")[0].clone();
    let response = reqwest::Client::new()
        .get(format!("{base}/report"))
        .headers(replayed)
        .send()
        .await
        .expect("replay");
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.text().await.expect("body"),
        "forbidden",
        "the response does not say why"
    );
    assert_eq!(seen.statuses.lock().expect("statuses").len(), 1);
}

/// What the checks inside the job's handler found.
#[derive(Default)]
struct Checks {
    expired: Option<Result<(), String>>,
    bad_key: Option<Result<(), String>>,
    unknown: Option<Result<(), String>>,
    winners: usize,
    again: Option<Result<(), String>>,
}

fn outcome<T>(r: Result<T, GuardError>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| match e {
        GuardError::Rejected(reason) => format!("{reason:?}"),
        other => format!("{other}"),
    })
}

#[derive(Clone)]
struct CheckState {
    store: Arc<dyn Store>,
    clock: Arc<FixedClock>,
    checks: Arc<Mutex<Checks>>,
}

async fn checking_handler(State(s): State<CheckState>, headers: HeaderMap) -> &'static str {
    // Expired: the same request seen long after its deadline.
    let late_clock = Arc::new(FixedClock::new(s.clock.now() + chrono::Duration::hours(2)));
    let late = Guard::new(s.store.clone(), late_clock);
    let expired = outcome(late.claim(&headers).await);
    let guard = Guard::new(s.store.clone(), s.clock.clone());
    let mut wrong_key = headers.clone();
    wrong_key.insert(HEADER_KEY, "0".repeat(64).parse().expect("value"));
    let bad_key = outcome(guard.claim(&wrong_key).await);
    let mut unknown_id = headers.clone();
    let id = headers
        .get(HEADER_EXECUTION)
        .and_then(|v| v.to_str().ok())
        .expect("id")
        .to_owned();
    let other = id.replace(".20260702T", ".20250702T");
    unknown_id.insert(HEADER_EXECUTION, other.parse().expect("value"));
    let unknown = outcome(guard.claim(&unknown_id).await);
    // Eight concurrent claims of the real request: exactly one wins.
    let attempts = futures::future::join_all((0..8).map(|_| guard.claim(&headers))).await;
    let mut claims: Vec<_> = attempts.into_iter().filter_map(Result::ok).collect();
    let winners = claims.len();
    let again = outcome(guard.claim(&headers).await);
    if let Some(claim) = claims.pop() {
        // The app records its own outcome, then answers 200 anyway.
        claim
            .fail(None, "no rows to report", "business rule: nothing to do")
            .await
            .expect("record");
    }
    let mut checks = s.checks.lock().expect("checks");
    *checks = Checks {
        expired: Some(expired),
        bad_key: Some(bad_key),
        unknown: Some(unknown),
        winners,
        again: Some(again),
    };
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_runs_once_and_wrong_keys_unknown_ids_repeats_and_expired_runs_are_refused() {
    let at = utc(2026, 7, 2, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let state = CheckState {
        store: store_of(&world),
        clock: world.clock.clone(),
        checks: Arc::default(),
    };
    let app = Router::new()
        .route("/check", get(checking_handler))
        .with_state(state.clone());
    let base = serve(app).await;
    let mut spec = world.spec("check", "/unused", "0 9 * * *");
    spec.url = shared::model::JobUrl::parse(&format!("{base}/check")).expect("url");
    spec.retries = 3; // never used: an execution the app claimed is not retried
    let job = world.create(spec).await;
    world.set(at);
    let summary = world.tick().await;
    assert_eq!(
        (summary.triggered, summary.failed, summary.retried),
        (1, 1, 0),
        "{summary:?}"
    );
    {
        let checks = state.checks.lock().expect("checks");
        assert_eq!(
            checks.expired,
            Some(Err(format!("{:?}", Rejection::Expired)))
        );
        assert_eq!(
            checks.bad_key,
            Some(Err(format!("{:?}", Rejection::BadKey)))
        );
        assert_eq!(
            checks.unknown,
            Some(Err(format!("{:?}", Rejection::Unknown)))
        );
        assert_eq!(checks.winners, 1, "8 concurrent claims: exactly one wins");
        assert_eq!(
            checks.again,
            Some(Err(format!("{:?}", Rejection::AlreadyRan(Status::Running))))
        );
    }
    let e = world
        .store
        .list_executions(&job.id, 10)
        .await
        .expect("history")
        .remove(0);
    assert_eq!(
        e.status,
        Status::Failed,
        "the app's outcome stands, though the HTTP answer was 200"
    );
    assert_eq!(e.output.as_deref(), Some("no rows to report"));
    assert_eq!(e.error.as_deref(), Some("business rule: nothing to do"));
    assert_eq!(
        e.http_status,
        Some(200),
        "the tick adds only the HTTP status"
    );
    for m in 1..4 {
        world.set(at + chrono::Duration::minutes(m));
        assert_eq!(world.tick().await.triggered, 0, "not retried");
    }
}

#[derive(Clone)]
struct LateState {
    guard: Guard,
    release: Arc<Notify>,
    done: Arc<Notify>,
}

async fn late_handler(State(s): State<LateState>, headers: HeaderMap) -> &'static str {
    let claim = s.guard.claim(&headers).await.expect("claim");
    // The work goes on even if the caller gives up waiting.
    let handle = tokio::spawn(async move {
        s.release.notified().await;
        let recorded = claim
            .succeed(Some(200), "late but done")
            .await
            .expect("record");
        assert!(recorded, "a late end is recorded after reconciliation");
        s.done.notify_one();
    });
    let _ = handle.await;
    "late but done"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_end_from_the_guard_still_records_the_real_outcome_after_reconciliation() {
    let at = utc(2026, 7, 3, 9, 0);
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let state = LateState {
        guard: Guard::new(store_of(&world), world.clock.clone()),
        release: Arc::new(Notify::new()),
        done: Arc::new(Notify::new()),
    };
    let app = Router::new()
        .route("/late", get(late_handler))
        .with_state(state.clone());
    let base = serve(app).await;
    let mut spec = world.spec("late", "/unused", "0 9 * * *");
    spec.url = shared::model::JobUrl::parse(&format!("{base}/late")).expect("url");
    spec.timeout = Duration::from_secs(1);
    let job = world.create(spec).await;
    world.set(at);
    let first = world.tick().await;
    assert_eq!(first.triggered, 1);
    let e = world
        .store
        .list_executions(&job.id, 10)
        .await
        .expect("history")
        .remove(0);
    assert_eq!(
        e.status,
        Status::Running,
        "the tick's timeout does not overwrite the app's claim"
    );
    world.set(at + chrono::Duration::minutes(3));
    assert_eq!(world.tick().await.reconciled, 1);
    let e = world
        .store
        .list_executions(&job.id, 10)
        .await
        .expect("history")
        .remove(0);
    assert_eq!(e.status, Status::TimedOut);
    state.release.notify_one();
    tokio::time::timeout(Duration::from_secs(10), state.done.notified())
        .await
        .expect("late end");
    let e = world
        .store
        .list_executions(&job.id, 10)
        .await
        .expect("history")
        .remove(0);
    assert_eq!(
        (e.status, e.output.as_deref()),
        (Status::Succeeded, Some("late but done"))
    );
    // The next tick counts the real outcome, and it replaces the reconciler's guess as the
    // job's last run.
    world.set(at + chrono::Duration::minutes(4));
    let next = world.tick().await;
    assert_eq!(
        (next.succeeded, next.guard_finished, next.reconciled),
        (1, 1, 0),
        "{next:?}"
    );
    let last = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job")
        .state
        .last
        .expect("a last run");
    assert_eq!((last.execution, last.status), (e.id, Status::Succeeded));
}

/// An app that answers 202 at once and records its outcome later, through its guard claim:
/// failed, with what went wrong, when `finish` is notified.
#[derive(Clone)]
struct AcceptedState {
    guard: Guard,
    finish: Arc<Notify>,
    done: Arc<Notify>,
}

async fn accepting_handler(
    State(s): State<AcceptedState>,
    headers: HeaderMap,
) -> (axum::http::StatusCode, &'static str) {
    let claim = s.guard.claim(&headers).await.expect("claim");
    tokio::spawn(async move {
        s.finish.notified().await;
        let recorded = claim
            .fail(None, "half the rows", "the export failed")
            .await
            .expect("record");
        assert!(recorded, "the end is recorded");
        s.done.notify_one();
    });
    (axum::http::StatusCode::ACCEPTED, "accepted")
}

/// A world with an "export" job (09:00 daily) on an app answering 202: ticks 09:00 (the
/// call is answered, the run goes on), then lets the app fail its run. Returns the world,
/// the job and its execution.
async fn accepted_then_failed(
    at: chrono::DateTime<chrono::Utc>,
) -> (World, shared::model::Job, shared::model::Execution) {
    let world = World::new(at - chrono::Duration::seconds(30)).await;
    let state = AcceptedState {
        guard: Guard::new(store_of(&world), world.clock.clone()),
        finish: Arc::new(Notify::new()),
        done: Arc::new(Notify::new()),
    };
    let app = Router::new()
        .route("/export", get(accepting_handler))
        .with_state(state.clone());
    let base = serve(app).await;
    let mut spec = world.spec("export", "/unused", "0 9 * * *");
    spec.url = shared::model::JobUrl::parse(&format!("{base}/export")).expect("url");
    spec.retries = 2; // never used: the app owns the outcome
    let job = world.create(spec).await;
    world.set(at);
    let first = world.tick().await;
    assert_eq!(
        (first.triggered, first.succeeded, first.failed),
        (1, 0, 0),
        "the app answered 202 and works on: {first:?}"
    );
    let e = world
        .store
        .list_executions(&job.id, 10)
        .await
        .expect("history")
        .remove(0);
    assert_eq!((e.status, e.http_status), (Status::Running, Some(202)));
    state.finish.notify_one();
    tokio::time::timeout(Duration::from_secs(10), state.done.notified())
        .await
        .expect("the app's end");
    let e = world
        .store
        .get_execution(&e.id)
        .await
        .expect("get")
        .expect("the execution");
    assert_eq!(e.status, Status::Failed);
    (world, job, e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outcome_recorded_after_a_202_is_counted_by_the_next_tick_and_is_the_jobs_last_run() {
    let at = utc(2026, 7, 7, 9, 0);
    let (world, job, e) = accepted_then_failed(at).await;
    world.store.requests().reset();
    world.set(at + chrono::Duration::minutes(1));
    let next = world.tick().await;
    assert_eq!(
        (
            next.triggered,
            next.failed,
            next.guard_finished,
            next.retried
        ),
        (0, 1, 1, 0),
        "counted, never retried: {next:?}"
    );
    // The table's format (GetItem); the Query finds its key and the BatchGetItem the
    // execution; the job's last run (GetItem + PutItem); the count (UpdateItem). The run
    // failed and this tick read no app records (nothing of it could call): the app's record
    // is read for its failure notifications (GetItem; docs/data-model.md, "Failure
    // notifications").
    assert_eq!(
        world.store.requests().snapshot(),
        std::collections::BTreeMap::from([
            ("BatchGetItem".to_owned(), 1),
            ("GetItem".to_owned(), 3),
            ("PutItem".to_owned(), 1),
            ("Query".to_owned(), 1),
            ("UpdateItem".to_owned(), 1),
        ])
    );
    let stored = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    let last = stored.state.last.expect("a last run");
    assert_eq!(
        (last.execution, last.status, Some(last.at)),
        (e.id.clone(), Status::Failed, e.finished_at)
    );
    assert_eq!(stored.state.retry, None);
    world.set(at + chrono::Duration::minutes(2));
    assert_eq!(world.tick().await.failed, 0, "counted once");
    assert_eq!(
        world
            .store
            .get_execution(&e.id)
            .await
            .expect("get")
            .map(|e| e.due_at),
        Some(None),
        "out of the due index"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outcome_recorded_after_a_202_is_counted_once_by_eight_racing_ticks() {
    let at = utc(2026, 7, 8, 9, 0);
    let (world, job, e) = accepted_then_failed(at).await;
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(Arc::new(world.other_store().await));
    }
    let dispatcher = Arc::new(world.dispatcher.clone());
    let summaries =
        crate::world::racing_ticks(&stores, &dispatcher, at + chrono::Duration::minutes(1)).await;
    let failed: u64 = summaries.iter().map(|s| s.failed).sum();
    let guard_finished: u64 = summaries.iter().map(|s| s.guard_finished).sum();
    assert_eq!((failed, guard_finished), (1, 1), "{summaries:?}");
    let last = world
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job")
        .state
        .last
        .expect("a last run");
    assert_eq!((last.execution, last.status), (e.id, Status::Failed));
}

/// A request the tick signed while the app `testapp` rotates its key (generation 2, still
/// signing with 1) and the deployment rotates its secret (two secrets, the new one first), as
/// the job server received it.
struct SignedRequest {
    request: Recorded,
    /// The deployment's secrets, in the dispatcher's order.
    secrets: Vec<String>,
    /// The request's path and query, as signed.
    path: String,
    /// The `t=` of its signature.
    t: i64,
    /// The app record's key salt.
    salt: Option<String>,
}

/// Ticks a job at /jobs/signed?app=finance of the rotating app, and captures the call.
async fn signed_request() -> SignedRequest {
    let at = utc(2026, 7, 4, 9, 0);
    let mut world = World::new(at - chrono::Duration::seconds(30)).await;
    let secrets = vec!["new-secret-1".to_owned(), "old-secret-0".to_owned()];
    world.dispatcher = HttpDispatcher::with_options(DispatchOptions {
        private_targets: PrivateTargets::AllowAll,
        signing_secrets: secrets.clone(),
        ca_certs_pem: None,
    })
    .expect("dispatcher");
    let mut app = App::new(
        AppName::parse("testapp").expect("app"),
        BaseUrl::parse(&world.server.url("")).expect("base"),
        4,
        at,
    )
    .expect("app");
    app.key_generation = 2;
    app.previous_key_generation = Some(1);
    world.store.create_app(&app).await.expect("app record");
    let salt = app.key_salt.clone();
    world
        .create(world.spec("signed", "/jobs/signed?app=finance", "0 9 * * *"))
        .await;
    world.set(at);
    world.tick().await;
    let request = world.server.requests_to("/jobs/signed").remove(0);
    let path = format!(
        "{}?{}",
        request.path,
        request.query.clone().unwrap_or_default()
    );
    let t: i64 = request
        .header(HEADER_SIGNATURE)
        .expect("signed")
        .trim_start_matches("t=")
        .split(',')
        .next()
        .expect("t")
        .parse()
        .expect("t");
    SignedRequest {
        request,
        secrets,
        path,
        t,
        salt,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_signed_during_rotations_carries_a_pair_per_generation_and_secret() {
    let signed = signed_request().await;
    let signature = signed.request.header(HEADER_SIGNATURE).expect("signed");
    let kids: Vec<&str> = signature
        .split(',')
        .filter_map(|p| p.strip_prefix("kid="))
        .collect();
    assert_eq!(
        kids,
        ["testapp:2", "testapp:2", "testapp:1", "testapp:1"],
        "{signature}"
    );
    assert_eq!(signature.matches("v2=").count(), 4, "{signature}");
    assert_eq!(signed.path, "/jobs/signed?app=finance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signed_request_verifies_in_rust_only_at_its_own_app_with_its_own_keys() {
    let SignedRequest {
        request,
        secrets,
        path,
        t,
        salt,
    } = signed_request().await;
    let now = chrono::DateTime::from_timestamp(t + 5, 0).expect("now");
    let rust = |app: &str, keys: &[String], path: &str| {
        verify_signature(
            app,
            keys,
            &request.headers,
            "GET",
            path,
            b"",
            now,
            DEFAULT_TOLERANCE,
        )
    };
    for secret in &secrets {
        for generation in [2, 1] {
            let key = app_key(secret, "testapp", generation, salt.as_deref());
            let verified = rust("testapp", &[key], &path).expect("verifies");
            assert_eq!(
                (verified.job.as_str(), verified.kid_generation),
                ("testapp/signed", generation)
            );
        }
    }
    let key = app_key(&secrets[0], "testapp", 2, salt.as_deref());
    // Captured at testapp, replayed at another app: refused, whatever that app's keys.
    let other = app_key(&secrets[0], "payroll", 2, None);
    assert_eq!(
        rust("payroll", std::slice::from_ref(&other), &path),
        Err(SignatureError::WrongApp)
    );
    assert_eq!(
        rust("testapp", &[other], &path),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        rust(
            "testapp",
            &[app_key(&secrets[0], "testapp", 3, salt.as_deref())],
            &path
        ),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        rust("testapp", &[key], "/jobs/signed?app=payroll"),
        Err(SignatureError::Mismatch)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_documented_python_verifier_accepts_a_genuine_request_and_refuses_an_altered_one() {
    let SignedRequest {
        request,
        secrets,
        path,
        t,
        salt,
    } = signed_request().await;
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                serde_json::Value::from(v.to_str().unwrap_or("")),
            )
        })
        .collect();
    let key = |app: &str, generation| {
        let salt = if app == "testapp" {
            salt.as_deref()
        } else {
            None
        };
        app_key(&secrets[0], app, generation, salt)
    };
    let old_secret = app_key(&secrets[1], "testapp", 1, salt.as_deref());
    let cases = serde_json::json!([
        {"name": "genuine, generation 2", "app": "testapp", "keys": [format!("2:{}", key("testapp", 2))], "path": path, "body": "", "now": t + 5, "want": "ok:2"},
        {"name": "genuine, generation 1", "app": "testapp", "keys": [format!("1:{}", key("testapp", 1))], "path": path, "body": "", "now": t + 5, "want": "ok:1"},
        {"name": "genuine, the old deployment secret", "app": "testapp", "keys": [format!("1:{old_secret}")], "path": path, "body": "", "now": t + 5, "want": "ok:1"},
        {"name": "genuine, a key held unlabelled", "app": "testapp", "keys": [key("testapp", 2)], "path": path, "body": "", "now": t + 5, "want": "ok"},
        {"name": "replayed at another app", "app": "payroll", "keys": [key("payroll", 2)], "path": path, "body": "", "now": t + 5, "want": "wrong_app"},
        {"name": "another app's key", "app": "testapp", "keys": [key("payroll", 2)], "path": path, "body": "", "now": t + 5, "want": "mismatch"},
        {"name": "changed path", "app": "testapp", "keys": [key("testapp", 2)], "path": "/jobs/other?app=finance", "body": "", "now": t + 5, "want": "mismatch"},
        {"name": "changed query", "app": "testapp", "keys": [key("testapp", 2)], "path": "/jobs/signed?app=payroll", "body": "", "now": t + 5, "want": "mismatch"},
        {"name": "changed body", "app": "testapp", "keys": [key("testapp", 2)], "path": path, "body": "x", "now": t + 5, "want": "mismatch"},
        {"name": "stale", "app": "testapp", "keys": [key("testapp", 2)], "path": path, "body": "", "now": t + 301, "want": "stale"},
    ]);
    let input = serde_json::json!({"headers": headers, "cases": cases});
    let lines = run_python_cases(&input);
    assert_eq!(lines.len(), 10);
    for line in lines {
        assert_eq!(
            line["got"], line["want"],
            "python verifier: {}",
            line["name"]
        );
    }
}

/// Runs the documented Python verifier on each case of `input` (`{"headers", "cases"}`, or
/// cases carrying their own headers); returns `{"name", "got", "want"}` per case, `got` being
/// `ok:<generation>` or the reason of the refusal.
fn run_python_cases(input: &serde_json::Value) -> Vec<serde_json::Value> {
    let harness = r#"
import json, sys
class Headers(dict):
    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)
def held(key):
    # The vectors' labelled keys ({"generation", "key"} or "<generation>:<key>") as the
    # documented verifier takes them: (generation, key) pairs.
    if isinstance(key, dict):
        return (key["generation"], key["key"])
    if ":" in key:
        generation, _, key = key.partition(":")
        return (int(generation), key)
    return key
data = json.load(sys.stdin)
for case in data["cases"]:
    raw = case.get("headers", data.get("headers", {}))
    headers = Headers({k.lower(): v for k, v in raw.items()})
    try:
        _, _, generation = verify(case["app"], [held(k) for k in case["keys"]], headers, case.get("method", "GET"),
                                  case["path"], case["body"].encode(), now=float(case["now"]),
                                  tolerance=case.get("tolerance", 300))
        got = "ok" if generation is None else "ok:%d" % generation
    except SignatureError as e:
        got = e.reason
    print(json.dumps({"name": case["name"], "got": got, "want": case["want"]}))
"#;
    run_with_documented_verifier(harness, input)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn the_documented_python_verifier_agrees_with_every_test_vector() {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/signing-v2-vectors.json"
        ))
        .expect("vectors"),
    )
    .expect("json");
    let cases: Vec<serde_json::Value> = vectors["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let expect = &c["expect"];
            // The documented verifier reports the held key's label (none for a bare key).
            let want = if expect["ok"] == serde_json::json!(true) {
                match expect["key_generation"].as_u64() {
                    Some(generation) => format!("ok:{generation}"),
                    None => "ok".to_owned(),
                }
            } else {
                expect["error"].as_str().expect("error").to_owned()
            };
            serde_json::json!({
                "name": c["name"],
                "headers": c["request"]["headers"],
                "method": c["request"]["method"],
                "path": c["request"]["path"],
                "body": c["request"]["body"],
                "app": c["verifier"]["app"],
                "keys": c["verifier"]["keys"],
                "now": c["verifier"]["now"],
                "tolerance": c["verifier"]["tolerance"],
                "want": want,
            })
        })
        .collect();
    let lines = run_python_cases(&serde_json::json!({ "cases": cases }));
    assert_eq!(lines.len(), cases.len());
    for line in lines {
        assert_eq!(line["got"], line["want"], "vector: {}", line["name"]);
    }
}

/// Collects everything written by the tracing subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_log_line_at_any_level_contains_a_key_or_a_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    // One thread: every task of this runtime logs through the subscriber set above.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let secrets = vec![
        "s3cr3t-signing-value-new".to_owned(),
        "s3cr3t-signing-value-old".to_owned(),
    ];
    let salt: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let keys: Vec<String> = runtime.block_on(async {
        let at = utc(2026, 7, 5, 9, 0);
        let world = World::new(at - chrono::Duration::seconds(30)).await;
        let store = store_of(&world);
        let guard = Guard::new(store.clone(), world.clock.clone());
        let seen = Seen {
            store: store.clone(),
            statuses: Arc::default(),
            headers: Arc::default(),
        };
        let app = Router::new()
            .route(
                "/report",
                get(report).route_layer(axum::middleware::from_fn_with_state(
                    guard.clone(),
                    scheduled_job,
                )),
            )
            .with_state(seen.clone());
        let base = serve(app).await;
        let mut spec = world.spec("logged", "/unused", "0 9 * * *");
        spec.url = shared::model::JobUrl::parse(&format!("{base}/report")).expect("url");
        world.create(spec).await;
        // Only an app's record signs its calls.
        let record = App::new(
            AppName::parse("testapp").expect("app"),
            BaseUrl::parse(&base).expect("base"),
            4,
            at,
        )
        .expect("app");
        world.store.create_app(&record).await.expect("app record");
        *salt.lock().expect("salt") = record.key_salt.clone();
        let dispatcher = HttpDispatcher::with_options(DispatchOptions {
            private_targets: PrivateTargets::AllowAll,
            signing_secrets: secrets.clone(),
            ca_certs_pem: None,
        })
        .expect("dispatcher");
        let other = world.store.clone();
        let clock = FixedClock::new(at);
        let summary = tick(&other, &dispatcher, &clock, &world.config)
            .await
            .expect("tick");
        assert_eq!(summary.succeeded, 1);
        // And a refused replay, which logs its reason.
        let replay = seen.headers.lock().expect("headers")[0].clone();
        assert!(guard.claim(&replay).await.is_err());
        let _: &DynamoStore = &world.store;
        seen.headers
            .lock()
            .expect("headers")
            .iter()
            .map(|h| {
                h.get(HEADER_KEY)
                    .and_then(|v| v.to_str().ok())
                    .expect("key")
                    .to_owned()
            })
            .collect()
    });
    drop(runtime);
    let logs = String::from_utf8_lossy(&capture.0.lock().expect("capture")).into_owned();
    assert!(
        logs.contains("call finished") && logs.contains("scheduler request refused"),
        "logs were captured"
    );
    assert!(
        logs.lines().count() > 50,
        "trace level was on: {} lines",
        logs.lines().count()
    );
    // One span per tick and one per execution: the call's line names both.
    let finished = logs
        .lines()
        .find(|l| l.contains("call finished"))
        .expect("a call finished line");
    assert!(
        finished.contains("tick{now=2026-07-05 09:00:00 UTC dry_run=false}")
            && finished.contains("execution{job=testapp/logged execution=")
            && finished.contains("attempt=1}"),
        "{finished}"
    );
    assert_eq!(keys.len(), 1);
    let app_keys: Vec<String> = secrets
        .iter()
        .map(|s| app_key(s, "testapp", 1, salt.lock().expect("salt").as_deref()))
        .collect();
    for secret in keys.iter().chain(&secrets).chain(&app_keys) {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
    }
}

#[test]
fn a_signature_timestamp_at_the_ends_of_i64_is_refused_not_a_panic() {
    let now = utc(2026, 7, 6, 9, 0);
    for (t, refusal) in [
        (i64::MIN.to_string(), SignatureError::Malformed),
        ("-1".to_owned(), SignatureError::Malformed),
        (i64::MAX.to_string(), SignatureError::Stale),
        ("99999999999999999999".to_owned(), SignatureError::Stale),
    ] {
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            (HEADER_SIGNATURE, format!("t={t},kid=testapp:1,v2=00")),
            (
                HEADER_EXECUTION,
                "0123456789abcdef0123456789abcdef.20260706T090000Z.s1".to_owned(),
            ),
            (HEADER_JOB, "testapp/x".to_owned()),
        ] {
            headers.insert(name, value.parse().expect("header"));
        }
        let verdict = verify_signature(
            "testapp",
            &["secret".to_owned()],
            &headers,
            "GET",
            "/jobs/x",
            b"",
            now,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(verdict, Err(refusal), "t={t}");
    }
}
