//! Failure notifications' lesser rules (review of issue 32): an answer that trying again
//! cannot change (a redirect, a 4xx other than 408 and 429) is not retried; a `notify-after`
//! given to an app without a webhook says it does nothing yet. Through the `psu-sched` binary
//! on SQLite, with real job and webhook servers on 127.0.0.1 and a simulated clock.

use serde_json::Value;

use crate::both::{On, on_sqlite};
use crate::cli::{Cli, instant};
use crate::helpers::jobserver::{Behavior, JobServer};
use crate::helpers::tempdb::TempDb;

/// An app `shop` on `server` whose webhook is `server`'s `/hook`, with a job `orders` every
/// minute answering 500; the tick at its first slot, its summary.
async fn a_failing_tick(on: &On<'_>, server: &JobServer) -> Value {
    server.set("/jobs/orders", Behavior::Status(500));
    let base = server.url("");
    let hook = server.url("/hook");
    on.ok(&[
        "--app",
        "shop",
        "app",
        "create",
        "--base-url",
        base.trim_end_matches('/'),
        "--webhook",
        &hook,
    ])
    .await;
    on.ok(&[
        "--app",
        "shop",
        "create",
        "--name",
        "orders",
        "--path",
        "/jobs/orders",
        "--cron",
        "* * * * *",
    ])
    .await;
    let listed = on.ok(&["list", "--app", "shop", "--json"]).await.json();
    on.tick(instant(&listed[0]["next_run"])).await
}

/// A webhook answering a redirect, then one answering 404: each posted once (they were
/// tried three times: following no redirect and refused, trying again changes nothing),
/// counted failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answer_that_trying_again_cannot_change_is_not_retried() {
    let cli = Cli::new().await;
    for (answer, name) in [
        (
            Behavior::Redirect("https://example.invalid/elsewhere".into()),
            "302",
        ),
        (Behavior::Status(404), "404"),
    ] {
        let db = TempDb::new();
        let on = on_sqlite(&cli, &db).await;
        let server = JobServer::start().await;
        server.set("/hook", answer);
        let summary = a_failing_tick(&on, &server).await;
        assert_eq!(summary["notifications_failed"], 1, "{name}: {summary}");
        assert_eq!(server.count("/hook"), 1, "{name}: posted once");
    }
}

/// `--notify-after` on an app without a webhook is kept, and the command says it does
/// nothing until a webhook is given (it was accepted without a word).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_after_without_a_webhook_says_it_does_nothing_yet() {
    let cli = Cli::new().await;
    let db = TempDb::new();
    let on = on_sqlite(&cli, &db).await;
    for args in [
        &[
            "--app",
            "shop",
            "app",
            "create",
            "--base-url",
            "http://127.0.0.1:9",
            "--notify-after",
            "3",
        ][..],
        &["--app", "shop", "app", "update", "--notify-after", "2"][..],
    ] {
        let run = on.ok(args).await;
        assert!(
            run.stderr.contains("notify-after")
                && run.stderr.contains("no webhook")
                && run.stderr.contains("--webhook"),
            "{args:?}: {run:?}"
        );
    }
    let shown = on
        .ok(&["--app", "shop", "app", "show", "--json"])
        .await
        .json();
    assert_eq!(shown["notify_after"], 2, "{shown}");
    let text = on.ok(&["--app", "shop", "app", "show"]).await;
    assert!(
        text.stdout
            .contains("none (notify-after 2 kept for when one is given)"),
        "{text:?}"
    );
}

/// The event of each notification `server` received at `path`.
fn events(server: &JobServer, path: &str) -> Vec<String> {
    server
        .requests_to(path)
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("a JSON notification");
            body["psu_sched"]["event"]
                .as_str()
                .expect("an event")
                .to_owned()
        })
        .collect()
}

/// A webhook replaced while a job is failing is told at the job's next failure, then of its
/// recovery; the replaced one hears nothing more (the new one heard only of the recovery).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_replaced_mid_failure_hears_of_the_failure_then_of_the_recovery() {
    let cli = Cli::new().await;
    let db = TempDb::new();
    let on = on_sqlite(&cli, &db).await;
    let server = JobServer::start().await;
    let first = a_failing_tick(&on, &server).await;
    assert_eq!(first["notifications_sent"], 1, "{first}");
    let second_hook = server.url("/hook-2");
    on.ok(&["--app", "shop", "app", "update", "--webhook", &second_hook])
        .await;
    let listed = on.ok(&["list", "--app", "shop", "--json"]).await.json();
    let next = instant(&listed[0]["next_run"]);
    on.tick(next).await;
    server.set("/jobs/orders", Behavior::Ok("done".into()));
    on.tick(next + chrono::Duration::minutes(1)).await;
    assert_eq!(events(&server, "/hook"), vec!["failing"]);
    assert_eq!(events(&server, "/hook-2"), vec!["failing", "recovered"]);
}

/// A webhook removed and given again (the same URL) while a job is failing, with no run in
/// between, is told at the job's next failure (review of issue 32: nobody was told, the
/// marker of the first telling stood for the webhook given again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_removed_and_given_again_with_no_run_between_hears_of_the_failure() {
    let cli = Cli::new().await;
    let db = TempDb::new();
    let on = on_sqlite(&cli, &db).await;
    let server = JobServer::start().await;
    a_failing_tick(&on, &server).await;
    let hook = server.url("/hook");
    on.ok(&["--app", "shop", "app", "update", "--no-webhook"])
        .await;
    on.ok(&["--app", "shop", "app", "update", "--webhook", &hook])
        .await;
    let listed = on.ok(&["list", "--app", "shop", "--json"]).await.json();
    let next = instant(&listed[0]["next_run"]);
    on.tick(next).await;
    assert_eq!(events(&server, "/hook"), vec!["failing", "failing"]);
}
