//! The SQLite store's `due()` on a big file: 100,000 jobs, 10 of them due. Prints the time
//! (`--no-capture` to see it); asserts only what it returns, never how long it took.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use shared::model::{AppName, Job, JobId, JobName, JobUrl, NewJob};
use shared::store::DueItem;
use shared::store::Store;
use shared::store::sqlite::SqliteStore;

use crate::helpers::tempdb::TempDb;
use crate::world::utc;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_on_a_hundred_thousand_jobs_returns_only_the_ten_due() {
    const JOBS: usize = 100_000;
    let now: DateTime<Utc> = utc(2026, 6, 1, 9, 0);
    let db = TempDb::new();
    let store = SqliteStore::open(&db.0).await.expect("open");
    let template = NewJob::new(
        AppName::parse("scale").expect("app"),
        JobName::parse("template").expect("name"),
        JobUrl::parse("https://example.edu/job").expect("url"),
        "0 9 * * *".parse().expect("schedule"),
    )
    .build(now - chrono::Duration::hours(1))
    .expect("valid job");
    let jobs: Vec<Job> = (0..JOBS)
        .map(|i| {
            let mut job = template.clone();
            job.id = JobId::new();
            job.name = JobName::parse(&format!("job{i:06}")).expect("name");
            // Every 10,000th job is due (at 09:00 or a few minutes before); the rest are
            // due tomorrow or later, or paused.
            job.state.next_slot = Some(if i % 10_000 == 0 {
                now - chrono::Duration::minutes((i / 10_000) as i64)
            } else {
                now + chrono::Duration::days(1 + (i % 30) as i64)
            });
            if i % 10_000 != 0 && i % 7 == 1 {
                job.enabled = false;
            }
            job
        })
        .collect();
    let seeding = Instant::now();
    store.import_jobs(&jobs).await.expect("seed");
    let seeded_in = seeding.elapsed();

    let first = Instant::now();
    let due = store.due(now).await.expect("due");
    let first_call = first.elapsed();
    let mut names: Vec<String> = due
        .iter()
        .map(|item| match item {
            DueItem::Job(j) => j.name.to_string(),
            DueItem::Execution(e) => format!("exec {}", e.id),
        })
        .collect();
    names.sort();
    let expected: Vec<String> = (0..10).map(|k| format!("job{:06}", k * 10_000)).collect();
    assert_eq!(names, expected);

    let mut times = Vec::new();
    for _ in 0..25 {
        let t = Instant::now();
        let due = store.due(now).await.expect("due");
        times.push(t.elapsed());
        assert_eq!(due.len(), 10);
    }
    println!(
        "sqlite due() on {JOBS} jobs, 10 due: median {:?} over 25 calls (first call, with the expiry purge: {:?}); seeding them: {:?}",
        median(times),
        first_call,
        seeded_in,
    );
}
