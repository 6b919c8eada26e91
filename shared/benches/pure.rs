//! Micro-benchmarks of the pure parts a tick leans on: a schedule's next slot (cron and
//! `at`, with a time zone), a job's due check and next slot within start/end, and item
//! mapping (JSON and the DynamoDB item, both through serde).
//!
//! Run (figures in docs/benchmarks.md):
//! `cargo bench -p psu-sched-shared --bench pure -- --warm-up-time 1 --measurement-time 3`
// A bad fixture panics the benchmark set-up: a failed benchmark, not a bug to handle.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::hint::black_box;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use shared::model::{AppName, Job, JobName, JobUrl, NewJob};
use shared::schedule::Schedule;

/// The instant every benchmark computes from: a Friday, 00:55 UTC.
fn after() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 0, 55, 17)
        .single()
        .expect("a valid instant")
}

fn schedule(text: &str) -> Schedule {
    text.parse().expect("a valid schedule")
}

fn job(text: &str, tz: Tz) -> Job {
    let mut new = NewJob::new(
        AppName::parse("bench").expect("app"),
        JobName::parse("nightly-report").expect("name"),
        JobUrl::parse("https://reports.example.edu/jobs/nightly").expect("url"),
        schedule(text),
    );
    new.timezone = tz;
    new.description = "Builds the nightly report".to_owned();
    new.build(after() - chrono::Duration::days(1))
        .expect("a valid job")
}

fn next_slot(c: &mut Criterion) {
    let cases: [(&str, &str, Tz); 4] = [
        ("every 15 min, UTC", "*/15 * * * *", Tz::UTC),
        (
            "weekdays 09:30, Los Angeles",
            "30 9 * * 1-5",
            Tz::America__Los_Angeles,
        ),
        ("second Friday 09:00, UTC", "0 9 * * 5#2", Tz::UTC),
        (
            "at 08:00,13:30 on mon,wed, Berlin",
            "at 08:00,13:30 on mon,wed",
            Tz::Europe__Berlin,
        ),
    ];
    let mut group = c.benchmark_group("next_slot");
    for (name, text, tz) in cases {
        let schedule = schedule(text);
        let from = after();
        group.bench_function(name, |b| {
            b.iter(|| black_box(&schedule).next_after(black_box(from), black_box(tz)))
        });
    }
    group.finish();
}

fn job_checks(c: &mut Criterion) {
    let job = job("30 9 * * 1-5", Tz::America__Los_Angeles);
    let from = after();
    let mut group = c.benchmark_group("job");
    group.bench_function("due_at", |b| b.iter(|| black_box(&job).due_at()));
    group.bench_function("slot_after (weekdays 09:30, Los Angeles)", |b| {
        b.iter(|| black_box(&job).slot_after(black_box(from)))
    });
    group.finish();
}

fn item_mapping(c: &mut Criterion) {
    let job = job("30 9 * * 1-5", Tz::America__Los_Angeles);
    let json = serde_json::to_string(&job).expect("a job serialises");
    let item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(&job).expect("a job maps to an item");
    let mut group = c.benchmark_group("item");
    // Reading a job back parses its schedule text: measured apart to see its share.
    group.bench_function("schedule from text (30 9 * * 1-5)", |b| {
        b.iter(|| black_box("30 9 * * 1-5").parse::<Schedule>())
    });
    group.bench_function("job to JSON", |b| {
        b.iter(|| serde_json::to_string(black_box(&job)))
    });
    group.bench_function("job from JSON", |b| {
        b.iter(|| serde_json::from_str::<Job>(black_box(&json)))
    });
    group.bench_function("job to DynamoDB item (serde_dynamo)", |b| {
        b.iter(|| serde_dynamo::to_item::<_, HashMap<String, AttributeValue>>(black_box(&job)))
    });
    group.bench_function("job from DynamoDB item (serde_dynamo)", |b| {
        b.iter_batched(
            || item.clone(),
            serde_dynamo::from_item::<HashMap<String, AttributeValue>, Job>,
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, next_slot, job_checks, item_mapping);
criterion_main!(benches);
