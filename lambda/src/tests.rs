//! The function's unit tests: the handler invoked with the fixtures' payloads, on the memory
//! store (or a failing one) with a fake dispatcher and a fixed clock.

use chrono::TimeZone;
use serde_json::json;
use shared::clock::FixedClock;
use shared::model::{AppName, Job, JobName, JobUrl, NewJob, Status};
use shared::store::ShardLease;
use shared::store::memory::MemoryStore;
use shared::testing::FakeDispatch;
use shared::tick::TickSummary;

use super::*;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// 2026-11-26 at h:m:s UTC (the fixtures' day; the scheduled event is for 09:30:00).
fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, h, m, s)
        .single()
        .expect("valid")
}

/// A function over a memory store holding one every-minute job created at 09:29:10,
/// with the clock at `now`.
async fn function(
    now: DateTime<Utc>,
    status: Status,
) -> (Function<MemoryStore, FakeDispatch>, Job) {
    let store = MemoryStore::new();
    let job = NewJob::new(
        AppName::parse("app").expect("app"),
        JobName::parse("every-minute").expect("name"),
        JobUrl::parse("https://app.example/scheduler/run").expect("url"),
        "* * * * *".parse().expect("schedule"),
    )
    .build(at(9, 29, 10))
    .expect("job");
    store.create_job(&job).await.expect("create");
    let function = Function::new(
        store,
        FakeDispatch::answering(status),
        Arc::new(FixedClock::new(now)),
        TickConfig::default(),
    );
    (function, job)
}

/// Rewrites the stored job after `change`; returns it as stored.
async fn change_job(
    function: &Function<MemoryStore, FakeDispatch>,
    job: &Job,
    change: impl FnOnce(&mut Job),
) -> Job {
    let mut changed = job.clone();
    change(&mut changed);
    changed.state.version = job.state.version + 1;
    assert!(
        function
            .store
            .put_job(&changed, job.state.version)
            .await
            .expect("put")
    );
    changed
}

async fn history(function: &Function<MemoryStore, FakeDispatch>, job: &Job) -> Vec<Status> {
    function
        .store
        .list_executions(&job.id, 10)
        .await
        .expect("history")
        .iter()
        .map(|e| e.status)
        .collect()
}

#[tokio::test]
async fn a_scheduled_event_runs_one_tick_and_answers_its_summary_with_metrics() {
    let (function, job) = function(at(9, 30, 2), Status::Succeeded).await;
    let answer = function
        .invoke(
            fixture("scheduled-event.json"),
            Some(Duration::from_secs(60)),
        )
        .await
        .expect("tick");
    let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
    assert_eq!(summary.now, at(9, 30, 2));
    assert_eq!(
        (summary.due, summary.triggered, summary.succeeded),
        (1, 1, 1)
    );
    assert_eq!(function.dispatcher.calls().len(), 1);
    assert_eq!(history(&function, &job).await, vec![Status::Succeeded]);
    let metrics = answer.metrics.expect("an EMF line");
    assert_eq!(metrics["Triggered"], 1);
    assert_eq!(
        metrics["DeliveryDelayMs"], 2_000,
        "from the event's time to the tick"
    );
}

#[tokio::test]
async fn per_app_lines_follow_the_ticks_line_only_when_they_are_on() {
    let (off, _) = function(at(9, 30, 2), Status::Failed).await;
    let answer = off
        .invoke(fixture("scheduled-event.json"), None)
        .await
        .expect("tick");
    assert!(answer.metrics.is_some());
    assert!(answer.app_metrics.is_empty(), "off by default");

    let (on, job) = function(at(9, 30, 2), Status::Failed).await;
    let answer = on
        .with_app_metrics(true)
        .invoke(fixture("scheduled-event.json"), None)
        .await
        .expect("tick");
    assert_eq!(answer.app_metrics.len(), 1, "{:?}", answer.app_metrics);
    let line = &answer.app_metrics[0];
    assert_eq!(line["App"], job.app.to_string());
    assert_eq!(line["Stack"], shared::config::DEFAULT_STACK);
    assert_eq!(
        (&line["Triggered"], &line["Failed"]),
        (&json!(1), &json!(1))
    );
}

/// A secret that cannot be read (no such secret, or not allowed).
struct Unreadable;

#[async_trait::async_trait]
impl shared::secrets::SecretSource for Unreadable {
    fn name(&self) -> &str {
        "arn:aws:secretsmanager:us-west-2:123456789012:secret:psu-sched-AbCdEf"
    }
    async fn read(&self) -> Result<String, shared::secrets::ReadError> {
        Err("AccessDeniedException: not authorized to perform GetSecretValue".into())
    }
}

#[tokio::test]
async fn an_unreadable_signing_secret_at_a_cold_start_fails_the_invocation_before_any_claim() {
    let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
    let function = function.with_secrets(RefreshingSecrets::new(
        Box::new(Unreadable),
        shared::dispatch::SigningSecrets::default(),
        Duration::from_secs(300),
    ));
    let err = function
        .invoke(fixture("operator-tick.json"), None)
        .await
        .expect_err("no secret, no tick");
    assert_eq!(err.type_name(), "SigningSecretUnreadable");
    assert_eq!(
        error_chain(&err),
        "the tick did not start (nothing was claimed): could not read the signing secret arn:aws:secretsmanager:us-west-2:123456789012:secret:psu-sched-AbCdEf: AccessDeniedException: not authorized to perform GetSecretValue"
    );
    assert!(function.dispatcher.calls().is_empty());
    assert!(history(&function, &job).await.is_empty(), "nothing claimed");
    // A dry run calls nothing and needs no secret.
    function
        .invoke(fixture("operator-dry-run.json"), None)
        .await
        .expect("a dry run");
}

#[tokio::test]
async fn a_failing_job_does_not_fail_the_invocation() {
    let (function, job) = function(at(9, 30, 0), Status::Failed).await;
    let answer = function
        .invoke(fixture("operator-tick.json"), None)
        .await
        .expect("the invocation succeeds");
    let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
    assert_eq!((summary.triggered, summary.failed), (1, 1));
    assert_eq!(history(&function, &job).await, vec![Status::Failed]);
    let metrics = answer.metrics.expect("an EMF line");
    assert_eq!(metrics["Failed"], 1);
    assert!(
        metrics.get("DeliveryDelayMs").is_none(),
        "no event time, no delay"
    );
}

#[tokio::test]
async fn a_dry_run_reports_what_would_run_and_writes_and_calls_nothing() {
    let (function, job) = function(at(9, 10, 0), Status::Succeeded).await;
    // The fixture looks at 09:30, ahead of the clock: allowed for a dry run.
    let answer = function
        .invoke(fixture("operator-dry-run.json"), None)
        .await
        .expect("dry run");
    assert!(answer.metrics.is_none(), "a dry run is not a tick");
    let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
    assert!(summary.dry_run);
    assert_eq!(summary.now, at(9, 30, 0));
    assert_eq!(
        (summary.due, summary.triggered, summary.succeeded),
        (1, 1, 0),
        "would call one job"
    );
    assert!(function.dispatcher.calls().is_empty());
    assert!(history(&function, &job).await.is_empty());
    let stored = function
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(stored, job, "the job is untouched");
}

#[tokio::test]
async fn a_dry_run_counts_a_slot_past_its_max_lateness_as_missed() {
    let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
    change_job(&function, &job, |j| j.max_lateness_ms = 10_000).await;
    let answer = function
        .invoke(
            json!({"now": "2026-11-26T09:45:30Z", "dry_run": true}),
            None,
        )
        .await
        .expect("dry run");
    let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
    assert_eq!(
        (summary.missed, summary.triggered),
        (1, 0),
        "09:45 is 30 s late, more than 10 s"
    );
    assert!(history(&function, &job).await.is_empty());
}

#[tokio::test]
async fn a_malformed_payload_is_a_bad_payload_error_naming_the_accepted_shapes() {
    let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
    let err = function
        .invoke(fixture("malformed.json"), None)
        .await
        .expect_err("refused");
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "BadPayload");
    assert!(
        diagnostic
            .error_message
            .contains("EventBridge Scheduled Event")
            && diagnostic.error_message.contains("\"dry_run\": true|false"),
        "{}",
        diagnostic.error_message
    );
    assert!(function.dispatcher.calls().is_empty());
    assert!(history(&function, &job).await.is_empty());
}

#[tokio::test]
async fn a_real_tick_refuses_a_now_ahead_of_the_clock_or_long_past() {
    let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
    let err = function
        .invoke(json!({"now": "2026-11-26T09:31:00Z"}), None)
        .await
        .expect_err("refused");
    assert_eq!(err.type_name(), "NowAhead");
    assert!(err.to_string().contains("only a dry run may look ahead"));
    let err = function
        .invoke(
            json!({"now": "2026-11-26T09:00:00Z", "dry_run": false}),
            None,
        )
        .await
        .expect_err("refused");
    assert_eq!(err.type_name(), "NowTooOld");
    assert!(function.dispatcher.calls().is_empty());
    assert!(history(&function, &job).await.is_empty());

    // A `now` a few seconds back runs, at that instant.
    let answer = function
        .invoke(json!({"now": "2026-11-26T09:29:59Z"}), None)
        .await
        .expect("tick");
    let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
    assert_eq!((summary.now, summary.due), (at(9, 29, 59), 0));
}

#[tokio::test]
async fn a_dry_run_far_ahead_finds_the_latest_slot_and_one_past_year_9999_is_refused() {
    let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
    // Four billion minutes of backlog: the latest slot is the one at `now`, not a slot
    // somewhere along the way.
    let answer = function
        .invoke(
            json!({"now": "9999-12-31T23:59:00Z", "dry_run": true}),
            None,
        )
        .await
        .expect("dry run");
    let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
    assert_eq!(
        (summary.due, summary.triggered, summary.missed),
        (1, 1, 0),
        "{summary:?}"
    );

    let latest = serde_json::to_value(DateTime::<Utc>::MAX_UTC).expect("json");
    let err = function
        .invoke(json!({"now": latest, "dry_run": true}), None)
        .await
        .expect_err("refused");
    assert_eq!(err.type_name(), "BadPayload", "{err}");
    assert!(err.to_string().contains("9999"), "{err}");
    assert!(function.dispatcher.calls().is_empty());
    assert!(history(&function, &job).await.is_empty());
}

#[test]
fn the_remaining_time_comes_from_an_epoch_deadline_and_nonsense_means_none() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_000);
    assert_eq!(
        remaining_time(1_795_000_060_000, now),
        Some(Duration::from_secs(60))
    );
    assert_eq!(remaining_time(1_794_999_999_000, now), Some(Duration::ZERO));
    assert_eq!(remaining_time(0, now), None);
    assert_eq!(
        remaining_time(600_000, now),
        None,
        "cargo lambda watch's value"
    );
}

#[tokio::test]
async fn a_slot_whose_call_would_not_fit_before_the_deadline_is_left_unclaimed() {
    let (function, job) = function(at(9, 30, 0), Status::Succeeded).await;
    // The job's timeout is 30 s: it does not fit in 20 s.
    let answer = function
        .invoke(
            fixture("scheduled-event.json"),
            Some(Duration::from_secs(20)),
        )
        .await
        .expect("not an error: the next tick runs it");
    let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
    assert_eq!((summary.deferred, summary.triggered), (1, 0));
    assert!(function.dispatcher.calls().is_empty());
    assert!(history(&function, &job).await.is_empty());
    let stored = function
        .store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(stored, job, "the slot is left for the next tick");
}

#[tokio::test]
async fn a_call_overrunning_its_timeout_is_stopped_before_the_deadline() {
    let (mut function, job) = function(at(9, 30, 0), Status::Succeeded).await;
    change_job(&function, &job, |j| j.timeout_ms = 100).await;
    // This dispatcher ignores the timeout: the backstop has to stop the tick.
    function
        .dispatcher
        .delay_every_call(Duration::from_secs(30));
    function.tick.deadline_margin = Duration::from_millis(100);
    let function = function.with_margin(Duration::from_millis(1000));
    let started = std::time::Instant::now();
    let err = function
        .invoke(
            fixture("scheduled-event.json"),
            Some(Duration::from_millis(1500)),
        )
        .await
        .expect_err("stopped");
    assert_eq!(err.type_name(), "DeadlineReached");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(450) && elapsed < Duration::from_millis(1400),
        "stopped a margin before the deadline: {elapsed:?}"
    );
    assert_eq!(function.dispatcher.calls().len(), 1, "the call fitted");
}

#[tokio::test]
async fn a_store_failure_for_one_job_fails_the_invocation_with_the_emf_line_of_what_completed() {
    use shared::testing::FailingStore;

    let store = FailingStore::new();
    let mut names = Vec::new();
    for name in ["kept", "broken"] {
        let job = NewJob::new(
            AppName::parse("app").expect("app"),
            JobName::parse(name).expect("name"),
            JobUrl::parse("https://app.example/run").expect("url"),
            "* * * * *".parse().expect("schedule"),
        )
        .build(at(9, 29, 10))
        .expect("job");
        store.create_job(&job).await.expect("create");
        names.push(job.name);
    }
    store.fail_job_writes_of(&names[1]);
    let function = Function::new(
        store,
        FakeDispatch::answering(Status::Succeeded),
        Arc::new(FixedClock::new(at(9, 30, 2))),
        TickConfig::default(),
    );
    let err = function
        .invoke(fixture("scheduled-event.json"), None)
        .await
        .expect_err("the invocation fails");
    assert_eq!(err.type_name(), "StoreFailure");
    let line = err
        .metrics()
        .expect("an EMF line of what completed")
        .clone();
    assert_eq!(
        (
            line["Due"].as_u64(),
            line["Triggered"].as_u64(),
            line["Succeeded"].as_u64(),
            line["Errors"].as_u64()
        ),
        (Some(2), Some(2), Some(2), Some(1)),
        "{line}"
    );
    assert_eq!(line["DeliveryDelayMs"], 2_000);
    let diagnostic = Diagnostic::from(err);
    assert_eq!(
        diagnostic.error_message,
        "the tick failed: the store failed during the tick, for 1 of its due items (the rest completed): the store's PutItem request failed: injected by FailingStore"
    );
    assert_eq!(function.dispatcher.calls().len(), 2);
}

#[tokio::test]
async fn a_store_failure_fails_the_invocation_with_a_typed_diagnostic() {
    use aws_sdk_dynamodb::config::Credentials;
    // Nothing listens on port 1: every request fails at once, and retries are off.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:1")
        .region(aws_config::Region::new("us-west-2"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let function = Function::new(
        shared::store::dynamodb::DynamoStore::new(&sdk, "psu-scheduler"),
        FakeDispatch::answering(Status::Succeeded),
        Arc::new(FixedClock::new(at(9, 30, 0))),
        TickConfig::default(),
    );
    let err = function
        .invoke(fixture("scheduled-event.json"), None)
        .await
        .expect_err("a store failure");
    assert!(
        err.metrics().is_none(),
        "nothing completed, nothing to count"
    );
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "StoreFailure");
    assert!(
        diagnostic
            .error_message
            // Typed since the store errors were (Unavailable: nothing listens there). The first
            // request is the table-format marker's GetItem.
            .starts_with("the tick failed: the store failed during the tick: the store's GetItem request could not reach the store"),
        "{}",
        diagnostic.error_message
    );
}

/// Issue 29: a rule's invocation leases its shards for the minute the rule fired for, so a
/// duplicate delivery of that minute, arriving while the first one still holds the shard,
/// leaves it and calls nothing; an operator's invocation takes no lease.
#[tokio::test]
async fn a_scheduled_invocation_leaves_a_shard_another_holds_for_its_minute() {
    let (function, job) = function(at(9, 31, 5), Status::Succeeded).await;
    // Another invocation of the 09:30 event holds shard 0, the job's, for that minute; this
    // duplicate is delivered late, at 09:31:05 by the clock.
    let held = ShardLease {
        shard: 0,
        minute: at(9, 30, 0),
        holder: "the first delivery".to_owned(),
        until: Utc::now() + chrono::Duration::minutes(15),
    };
    assert!(
        function
            .store
            .lease_shard(&held, Utc::now())
            .await
            .expect("lease")
    );
    for payload in [
        fixture("scheduled-event.json"),
        json!({"tick": {"group": 0, "of": 1, "time": "2026-11-26T09:30:00Z"}}),
    ] {
        let answer = function.invoke(payload, None).await.expect("tick");
        let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
        assert_eq!(
            (summary.triggered, summary.busy_shards),
            (0, 1),
            "{summary:?}"
        );
    }
    assert!(function.dispatcher.calls().is_empty());
    assert!(history(&function, &job).await.is_empty());
    // An operator's tick takes no lease: it works the shard.
    let answer = function
        .invoke(json!({}), None)
        .await
        .expect("an operator's tick");
    let summary: TickSummary = serde_json::from_value(answer.response).expect("a summary");
    assert_eq!(
        (summary.triggered, summary.busy_shards),
        (1, 0),
        "{summary:?}"
    );
}
