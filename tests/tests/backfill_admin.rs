//! The admin's backfill page (issue 32): the plan it shows is the one `psu-sched backfill
//! --dry-run` prints, slot for slot, and its button calls those slots once each.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DurationRound, Utc};
use shared::model::{
    App, AppName, AppPause, BaseUrl, Job, JobName, JobUrl, NewJob, PauseReason, Status,
};
use shared::schedule::Schedule;
use shared::store::Store;
use shared::store::sqlite::SqliteStore;

use crate::admin::{Admin, add, csrf_of, http, post_form, sign_in, temp_dir};
use crate::cli::Cli;
use crate::helpers::jobserver::JobServer;

fn text(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The slots a backfill page marks as called.
fn called_on_page(page: &str) -> BTreeSet<String> {
    page.split("<tr data-slot=\"")
        .skip(1)
        .filter(|row| row.contains("data-called=\"true\""))
        .map(|row| row[..row.find('"').expect("the slot's end")].to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_backfill_plan_is_the_clis_and_its_button_calls_each_slot_once() {
    let dir = temp_dir("backfill");
    let db = dir.join("jobs.db");
    let server = JobServer::start().await;
    let store = SqliteStore::open(&db).await.expect("open");
    // An hourly job created 4 hours ago; its live schedule is at the next hour.
    let hour = Utc::now()
        .duration_trunc(chrono::Duration::hours(1))
        .expect("an hour");
    let mut job = sweep(
        &server,
        "0 * * * *",
        hour - chrono::Duration::hours(4) + chrono::Duration::minutes(1),
    );
    job.state.next_slot = Some(hour + chrono::Duration::hours(1));
    store.create_job(&job).await.expect("create");
    let h = |n: i64| hour - chrono::Duration::hours(n);
    add(&store, "shop", "sweep", h(3), Status::Failed, |_| {}).await;
    add(&store, "shop", "sweep", h(2), Status::Succeeded, |_| {}).await;
    add(&store, "shop", "sweep", h(1), Status::Missed, |e| {
        e.started_at = None;
    })
    .await;
    drop(store);
    let (from, to) = (text(h(4)), text(hour));
    let expected: BTreeSet<String> = [h(3), h(1), hour].into_iter().map(text).collect();

    let cli = Cli {
        endpoint: String::new(),
        table: String::new(),
    };
    let store_env = format!("sqlite:{}", db.display());
    let plan = cli
        .run_with(
            &[
                "--app",
                "shop",
                "backfill",
                "--name",
                "sweep",
                "--from",
                &from,
                "--to",
                &to,
                "--dry-run",
                "--json",
            ],
            &[("PSU_SCHED_STORE", store_env.as_str())],
        )
        .await
        .ok()
        .json();
    let from_cli: BTreeSet<String> = plan["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter(|s| s["verdict"] == "call")
        .map(|s| s["slot"].as_str().expect("slot").to_owned())
        .collect();
    assert_eq!(from_cli, expected, "{plan}");

    let admin = Admin::start(&db, &[]).await;
    let http = http();
    let cookie = sign_in(&http, &admin.base).await;
    let url = format!(
        "{}/apps/shop/jobs/sweep/backfill?from={}&to={}",
        admin.base,
        urlencoding(&from),
        urlencoding(&to)
    );
    let page = get_page(&http, &url, &cookie).await;
    assert_eq!(
        called_on_page(&page),
        expected,
        "the admin's plan is the CLI's"
    );
    assert!(page.contains("Call 3 slots"), "{page}");

    let answer = post_form(
        &http,
        &admin.base,
        &cookie,
        "/apps/shop/jobs/sweep/backfill",
        &[
            ("csrf", csrf_of(&page)),
            ("from", from.clone()),
            ("to", to.clone()),
        ],
    )
    .await;
    assert_eq!(answer.status(), 303);
    server.wait_for("/sweep", 3, Duration::from_secs(20)).await;
    // Once the outcomes are recorded, the plan has nothing left to call.
    let mut left = expected.clone();
    for _ in 0..50 {
        let page = get_page(&http, &url, &cookie).await;
        left = called_on_page(&page);
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(left.is_empty(), "still to call: {left:?}");
    assert_eq!(server.count("/sweep"), 3, "each slot once");
    admin.stop().await;
}

/// The job `shop/sweep` on `server`'s `/sweep`, on `cron`, created at `at`.
fn sweep(server: &JobServer, cron: &str, at: chrono::DateTime<Utc>) -> Job {
    NewJob::new(
        AppName::parse("shop").expect("app"),
        JobName::parse("sweep").expect("name"),
        JobUrl::parse(&server.url("/sweep")).expect("url"),
        cron.parse::<Schedule>().expect("schedule"),
    )
    .build(at)
    .expect("job")
}

/// The admin's page at `url`, signed in with `cookie`.
async fn get_page(http: &reqwest::Client, url: &str, cookie: &str) -> String {
    http.get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("page")
}

fn urlencoding(text: &str) -> String {
    text.replace(':', "%3A").replace('+', "%2B")
}

/// A job re-timed inside the window: the admin's plan lists the earlier schedule's slots
/// that have an execution, the current schedule's after the change, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_backfill_plan_says_when_the_jobs_schedule_changed_inside_the_window() {
    let dir = temp_dir("backfill-retimed");
    let db = dir.join("jobs.db");
    let server = JobServer::start().await;
    let store = SqliteStore::open(&db).await.expect("open");
    let hour = Utc::now()
        .duration_trunc(chrono::Duration::hours(1))
        .expect("an hour");
    let h = |n: i64| hour - chrono::Duration::hours(n);
    // Hourly at :00 until h(2) + 10 min, at :30 since.
    let mut job = sweep(&server, "30 * * * *", h(4) + chrono::Duration::minutes(1));
    let changed = h(2) + chrono::Duration::minutes(10);
    job.past.timing_since = Some(changed);
    job.state.next_slot = Some(hour + chrono::Duration::minutes(30));
    store.create_job(&job).await.expect("create");
    add(&store, "shop", "sweep", h(3), Status::Failed, |_| {}).await;
    drop(store);
    let admin = Admin::start(&db, &[]).await;
    let http = http();
    let cookie = sign_in(&http, &admin.base).await;
    let url = format!(
        "{}/apps/shop/jobs/sweep/backfill?from={}&to={}",
        admin.base,
        urlencoding(&text(h(4))),
        urlencoding(&text(hour))
    );
    let page = get_page(&http, &url, &cookie).await;
    let half = chrono::Duration::minutes(30);
    let expected: BTreeSet<String> = [h(3), h(2) + half, h(1) + half]
        .into_iter()
        .map(text)
        .collect();
    assert_eq!(called_on_page(&page), expected, "{page}");
    assert!(
        page.contains("id=\"backfill-timing\"") && page.contains(&text(changed)),
        "{page}"
    );
    admin.stop().await;
}

/// A backfill POSTed for a job of a paused app is refused, 409, saying why (review of issue
/// 32: a hand-made POST answered "Backfill started" and called nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_posted_while_the_app_is_paused_is_refused_saying_why() {
    let dir = temp_dir("backfill-paused");
    let db = dir.join("jobs.db");
    let server = JobServer::start().await;
    let store = SqliteStore::open(&db).await.expect("open");
    let hour = Utc::now()
        .duration_trunc(chrono::Duration::hours(1))
        .expect("an hour");
    let h = |n: i64| hour - chrono::Duration::hours(n);
    let mut app = App::new(
        AppName::parse("shop").expect("app"),
        BaseUrl::parse(&server.url("")).expect("base"),
        1,
        h(5),
    )
    .expect("app");
    app.paused = Some(AppPause {
        reason: PauseReason::parse("reason", "migration").expect("reason"),
        since: h(1),
    });
    store.create_app(&app).await.expect("app");
    let mut job = sweep(&server, "0 * * * *", h(4) + chrono::Duration::minutes(1));
    job.state.next_slot = Some(hour + chrono::Duration::hours(1));
    store.create_job(&job).await.expect("create");
    add(&store, "shop", "sweep", h(3), Status::Failed, |_| {}).await;
    drop(store);
    let admin = Admin::start(&db, &[]).await;
    let http = http();
    let cookie = sign_in(&http, &admin.base).await;
    let page = get_page(
        &http,
        &format!("{}/apps/shop/jobs/sweep/backfill", admin.base),
        &cookie,
    )
    .await;
    let answer = post_form(
        &http,
        &admin.base,
        &cookie,
        "/apps/shop/jobs/sweep/backfill",
        &[
            ("csrf", csrf_of(&page)),
            ("from", text(h(4))),
            ("to", text(hour)),
            ("include_paused", "on".to_owned()),
        ],
    )
    .await;
    assert_eq!(answer.status(), 409);
    let body = answer.text().await.expect("body");
    assert!(body.contains("paused"), "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.count("/sweep"), 0);
    admin.stop().await;
}
