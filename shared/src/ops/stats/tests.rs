//! The punctuality figures from executions built by hand: the percentile method, what is and
//! is not a lag sample, the window and the bound of the read.

use std::sync::Arc;

use chrono::{Duration as Span, TimeZone};

use super::*;
use crate::model::{ExecutionId, Job};
use crate::ops::{JobInput, ScheduleForm};
use crate::store::Claim;
use crate::store::memory::MemoryStore;

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid")
}

async fn job_in(ops: &Ops, store: &MemoryStore, name: &str) -> Job {
    let key = JobKey::parse("billing", name).expect("key");
    let input = JobInput {
        url: Some("https://billing.example.edu/jobs/x".into()),
        schedule: ScheduleForm {
            every: Some("5m".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ops.create(&key, &input, noon() - Span::days(40))
        .await
        .expect("create");
    store
        .get_job(&key.app, &key.name)
        .await
        .expect("get")
        .expect("job")
}

/// An execution of `job` for `slot`: `status`, started `lag` after the slot (None: never
/// started), taking `took` ms.
fn run(
    job: &Job,
    slot: DateTime<Utc>,
    trigger: Trigger,
    attempt: u32,
    status: Status,
    lag: Option<i64>,
    took: Option<u64>,
) -> Execution {
    let started_at = lag.map(|ms| slot + Span::milliseconds(ms));
    Execution {
        id: ExecutionId::new(job.id.clone(), slot, trigger, attempt),
        app: job.app.clone(),
        name: job.name.clone(),
        scheduled_for: slot,
        offset_ms: 0,
        attempt,
        trigger,
        status,
        http_status: None,
        output: None,
        error: None,
        created_at: slot,
        started_at,
        finished_at: None,
        duration_ms: took,
        coalesced: 0,
        url: job.url.clone(),
        method: job.method,
        timeout_ms: job.timeout_ms,
        retries: job.retries,
        key_hash: None,
        claimed_by: None,
        dispatched_by: None,
        guard_nonce: None,
        outcome_by: None,
        counted_by: None,
        due_at: None,
        backfill: false,
        tracked: false,
        expires_at: slot + Span::days(400),
    }
}

/// Writes `executions` through the store's own claim, as ticks would.
async fn seed(store: &MemoryStore, job: &Job, executions: Vec<Execution>) {
    let mut current = store
        .get_job(&job.app, &job.name)
        .await
        .expect("get")
        .expect("job");
    for (i, mut execution) in executions.into_iter().enumerate() {
        let token = format!("seed-{}-{i}", job.name);
        execution.claimed_by = Some(token.clone());
        let mut next = current.clone();
        next.state.version += 1;
        next.state.writer = Some(token.clone());
        let claim = Claim {
            job: next.clone(),
            expected_version: current.state.version,
            execution,
            token,
        };
        assert_eq!(
            store.claim(&claim).await.expect("claim"),
            crate::store::ClaimOutcome::Won
        );
        current = next;
    }
}

#[test]
fn nearest_rank_takes_the_sample_at_rank_p_n_over_100_rounded_up() {
    // The textbook example: 15, 20, 35, 40, 50.
    let five = [15, 20, 35, 40, 50];
    assert_eq!(nearest_rank(&five, 5), Some(15), "rank 1, never 0");
    assert_eq!(nearest_rank(&five, 30), Some(20));
    assert_eq!(nearest_rank(&five, 40), Some(20));
    assert_eq!(nearest_rank(&five, 50), Some(35));
    assert_eq!(nearest_rank(&five, 100), Some(50));
    let hundred: Vec<i64> = (1..=100).collect();
    assert_eq!(nearest_rank(&hundred, 50), Some(50));
    assert_eq!(nearest_rank(&hundred, 95), Some(95));
    assert_eq!(nearest_rank(&hundred, 99), Some(99));
    let ten: Vec<i64> = (1..=10).collect();
    assert_eq!(nearest_rank(&ten, 95), Some(10), "rank ceil(9.5) = 10");
    assert_eq!(nearest_rank(&[7], 99), Some(7));
    assert_eq!(nearest_rank(&[], 50), None);
    assert_eq!(
        Percentiles::of(vec![300, -5, 100, 200]),
        Percentiles {
            samples: 4,
            p50: Some(100),
            p95: Some(300),
            p99: Some(300),
            max: Some(300),
        },
        "any order; a start before the slot stays negative"
    );
    assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
}

#[tokio::test]
async fn lag_counts_first_attempts_of_called_slots_and_missed_runs_count_only_in_their_status() {
    let store = Arc::new(MemoryStore::new());
    let ops = Ops::with_store("memory", store.clone());
    let job = job_in(&ops, &store, "invoices").await;
    let t = |m: i64| noon() - Span::minutes(m);
    let s = Trigger::Schedule;
    let runs = vec![
        run(&job, t(50), s, 1, Status::Succeeded, Some(120), Some(40)),
        run(&job, t(45), s, 1, Status::Succeeded, Some(80), Some(60)),
        run(&job, t(40), s, 1, Status::Failed, Some(1_500), Some(20)),
        // The retry's start is its backoff after the slot: not a lag sample.
        run(&job, t(40), s, 2, Status::Succeeded, Some(31_000), Some(30)),
        run(&job, t(35), s, 1, Status::TimedOut, Some(200), Some(10_000)),
        // Never called: no start, no duration.
        run(&job, t(30), s, 1, Status::Missed, None, None),
        run(&job, t(25), s, 1, Status::Skipped, None, None),
        // A manual run: its slot is its start; counted, and its duration too.
        run(
            &job,
            t(22),
            Trigger::Manual,
            1,
            Status::Succeeded,
            Some(0),
            Some(50),
        ),
        // Sent, no outcome yet.
        run(&job, t(20), s, 1, Status::Pending, Some(90), None),
    ];
    seed(&store, &job, runs).await;

    let view = ops
        .job_stats_at("billing", "invoices", Duration::from_secs(3600), noon())
        .await
        .expect("stats");
    assert_eq!(
        (view.runs, view.manual, view.retries, view.in_flight),
        (9, 1, 1, 1)
    );
    assert_eq!(
        (
            view.succeeded,
            view.failed,
            view.timed_out,
            view.skipped,
            view.missed
        ),
        (4, 1, 1, 1, 1)
    );
    assert_eq!(
        view.success_rate,
        Some(4.0 / 8.0),
        "missed and skipped count as not succeeded"
    );
    // Lag samples: 120, 80, 1500, 200, 90 (sorted 80, 90, 120, 200, 1500).
    assert_eq!(
        view.lag_ms,
        Percentiles {
            samples: 5,
            p50: Some(120),
            p95: Some(1_500),
            p99: Some(1_500),
            max: Some(1_500),
        }
    );
    // Durations: 40, 60, 20, 30, 10000, 50 (sorted 20, 30, 40, 50, 60, 10000).
    assert_eq!(
        view.duration_ms,
        Percentiles {
            samples: 6,
            p50: Some(40),
            p95: Some(10_000),
            p99: Some(10_000),
            max: Some(10_000),
        }
    );
    assert_eq!(view.oldest_slot.as_deref(), Some("2026-11-26T11:10:00Z"));
    assert!(!view.truncated);
    assert_eq!(
        (view.app.as_str(), view.job.as_str()),
        ("billing", "invoices")
    );

    // The window: the last 30 minutes start at 11:30, the missed slot's.
    let recent = ops
        .job_stats_at("billing", "invoices", Duration::from_secs(1800), noon())
        .await
        .expect("stats");
    assert_eq!((recent.runs, recent.missed, recent.succeeded), (4, 1, 1));
    assert_eq!(recent.oldest_slot.as_deref(), Some("2026-11-26T11:30:00Z"));
    assert_eq!(recent.lag_ms.samples, 1);
}

#[tokio::test]
async fn a_job_without_runs_has_null_figures_and_every_job_is_listed_by_app_and_name() {
    let store = Arc::new(MemoryStore::new());
    let ops = Ops::with_store("memory", store.clone());
    let quiet = job_in(&ops, &store, "quiet").await;
    let busy = job_in(&ops, &store, "busy").await;
    // A run before the window is not counted.
    seed(
        &store,
        &quiet,
        vec![run(
            &quiet,
            noon() - Span::days(8),
            Trigger::Schedule,
            1,
            Status::Failed,
            Some(5),
            Some(5),
        )],
    )
    .await;
    seed(
        &store,
        &busy,
        vec![run(
            &busy,
            noon() - Span::hours(1),
            Trigger::Schedule,
            1,
            Status::Succeeded,
            Some(5),
            Some(5),
        )],
    )
    .await;
    let stats = ops
        .stats_at(None, Duration::from_secs(7 * 86_400), noon())
        .await
        .expect("stats");
    assert_eq!(stats.since, "2026-11-19T12:00:00Z");
    assert_eq!(stats.generated_at, "2026-11-26T12:00:00Z");
    assert_eq!(stats.limit, STATS_LIMIT);
    let names: Vec<&str> = stats.jobs.iter().map(|j| j.job.as_str()).collect();
    assert_eq!(names, ["busy", "quiet"]);
    let quiet = &stats.jobs[1];
    assert_eq!((quiet.runs, quiet.failed), (0, 0));
    assert_eq!(quiet.success_rate, None);
    assert_eq!(quiet.lag_ms, Percentiles::default());
    assert_eq!(quiet.oldest_slot, None);
    assert_eq!(stats.jobs[0].success_rate, Some(1.0));
    let other_app = ops
        .stats_at(Some("payroll"), Duration::from_secs(86_400), noon())
        .await
        .expect("stats");
    assert!(other_app.jobs.is_empty());
}

#[tokio::test]
async fn the_read_stops_at_its_limit_and_says_the_figures_are_truncated() {
    let store = Arc::new(MemoryStore::new());
    let ops = Ops::with_store("memory", store.clone());
    let job = job_in(&ops, &store, "minutely").await;
    let runs = (0..=STATS_LIMIT as i64)
        .map(|m| {
            run(
                &job,
                noon() - Span::minutes(m + 1),
                Trigger::Schedule,
                1,
                Status::Succeeded,
                Some(m),
                Some(1),
            )
        })
        .collect();
    seed(&store, &job, runs).await;
    let view = ops
        .job_stats_at("billing", "minutely", Duration::from_secs(86_400), noon())
        .await
        .expect("stats");
    assert!(view.truncated);
    assert_eq!(view.runs, STATS_LIMIT as u64, "the newest {STATS_LIMIT}");
    assert_eq!(view.lag_ms.max, Some(STATS_LIMIT as i64 - 1));
    let oldest = noon() - Span::minutes(STATS_LIMIT as i64);
    assert_eq!(view.oldest_slot, Some(rfc3339(oldest)));
    // A window that the page covers is not truncated.
    let within = ops
        .job_stats_at("billing", "minutely", Duration::from_secs(600), noon())
        .await
        .expect("stats");
    assert_eq!((within.runs, within.truncated), (10, false));
}

#[test]
fn since_takes_durations_with_their_unit_within_a_year() {
    assert_eq!(parse_since("7d"), Ok(Duration::from_secs(7 * 86_400)));
    assert_eq!(parse_since("24h"), Ok(Duration::from_secs(86_400)));
    assert_eq!(parse_since("90m"), Ok(Duration::from_secs(5400)));
    let refused = |text: &str| parse_since(text).expect_err(text).to_string();
    assert_eq!(
        refused("7"),
        "since: `7` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)"
    );
    assert_eq!(
        refused("a week"),
        "since: `a week` is not a duration; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)"
    );
    for bad in ["30s", "0m", "367d"] {
        assert_eq!(
            refused(bad),
            format!(
                "since: `{bad}` is not accepted; use a duration from 1m to 366d (e.g. 7d, 24h, 90m)"
            )
        );
    }
}

#[tokio::test]
async fn bad_input_is_refused_by_field_before_the_store_is_read() {
    let ops = Ops::with_store("memory", Arc::new(MemoryStore::new()));
    let refused = |r: Result<StatsView, OpsError>| match r {
        Err(OpsError::Invalid(e)) => e.path.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        refused(
            ops.stats_at(Some("Bad App"), Duration::from_secs(60), noon())
                .await
        ),
        "app"
    );
    assert_eq!(
        refused(ops.stats_at(None, Duration::from_secs(1), noon()).await),
        "since"
    );
    assert!(matches!(
        ops.job_stats_at("billing", "nope", Duration::from_secs(60), noon())
            .await,
        Err(OpsError::NotFound(..))
    ));
}

/// Every field the stats views serialise is documented in docs/cli.md.
#[tokio::test]
async fn every_stats_json_field_is_documented_in_the_cli_guide() {
    let guide = include_str!("../../../../docs/cli.md");
    let store = Arc::new(MemoryStore::new());
    let ops = Ops::with_store("memory", store.clone());
    job_in(&ops, &store, "a").await;
    let stats = ops
        .stats_at(None, Duration::from_secs(60), noon())
        .await
        .expect("stats");
    let value = serde_json::to_value(&stats).expect("json");
    let mut objects = vec![value.clone(), value["jobs"][0].clone()];
    objects.push(value["jobs"][0]["lag_ms"].clone());
    let mut fields = Vec::new();
    for object in &objects {
        fields.extend(object.as_object().expect("object").keys().cloned());
    }
    assert!(fields.contains(&"p99".to_owned()) && fields.contains(&"truncated".to_owned()));
    for field in fields {
        assert!(
            guide.contains(&format!("`{field}`")),
            "`{field}` is not documented in docs/cli.md"
        );
    }
}
