//! Failure notifications (issue 32): an app's webhook told once that a job is failing and once
//! that it recovered, also when ticks race; a hanging webhook never delays a job's call; bad
//! settings refused; the webhook's URL (a secret) never shown. Through the `psu-sched` binary
//! on SQLite and on moto, and through the tick on moto, with real job and webhook servers on
//! 127.0.0.1 and a simulated clock.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use shared::model::{App, AppName, BaseUrl, WebhookUrl};
use shared::store::Store;

use crate::both::{On, on_both_stores, on_sqlite};
use crate::cli::{Cli, instant};
use crate::helpers::jobserver::{Behavior, JobServer, Recorded};
use crate::helpers::tempdb::TempDb;
use crate::world::{World, racing_ticks, utc};

/// A recognisable secret in the webhook's path: it must never be shown.
const SECRET: &str = "T0KEN-s3cr3t-9f8e7d";

/// The webhook's path on `server`, with the secret in it.
fn hook_path() -> String {
    format!("/hooks/services/{SECRET}")
}

fn bodies(requests: &[Recorded]) -> Vec<Value> {
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON notification"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_three_times_then_succeeding_tells_the_webhook_once_of_each_and_never_shows_its_url()
 {
    on_both_stores(async |on: &On<'_>| {
        let server = JobServer::start().await;
        let base = server.url("");
        let hook = server.url(&hook_path());
        on.ok(&[
            "--app",
            "shop",
            "app",
            "create",
            "--base-url",
            base.trim_end_matches('/'),
            "--webhook",
            &hook,
            "--notify-after",
            "2",
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
        let first = instant(&listed[0]["next_run"]);
        server.set("/jobs/orders", Behavior::Status(500));

        let mut sent = 0;
        let mut logs = String::new();
        for minute in 0..4 {
            if minute == 3 {
                server.set("/jobs/orders", Behavior::Status(200));
            }
            let at = first + Duration::minutes(minute);
            let run = on
                .ok(&[
                    "-vv",
                    "tick",
                    "--now",
                    &at.to_rfc3339(),
                    "--simulate",
                    "--json",
                ])
                .await;
            sent += run.json()["notifications_sent"].as_u64().expect("counted");
            assert_eq!(run.json()["notifications_failed"], 0, "{run:?}");
            logs.push_str(&run.stderr);
            let told = server.requests_to(&hook_path()).len();
            let expected = match minute {
                0 => 0,     // one failure: under the threshold
                1 | 2 => 1, // told at the second failure, not again at the third
                _ => 2,     // the recovery
            };
            assert_eq!(told, expected, "after tick {minute} on {}", on.name());
        }
        assert_eq!(sent, 2, "on {}", on.name());
        assert_eq!(server.count("/jobs/orders"), 4);
        let messages = bodies(&server.requests_to(&hook_path()));
        let failing = &messages[0];
        assert_eq!(failing["psu_sched"]["event"], "failing", "{failing}");
        assert_eq!(failing["psu_sched"]["app"], "shop");
        assert_eq!(failing["psu_sched"]["job"], "orders");
        assert_eq!(failing["psu_sched"]["streak"], 2);
        assert_eq!(failing["psu_sched"]["status"], "failed");
        assert_eq!(
            instant(&failing["psu_sched"]["slot"]),
            first + Duration::minutes(1)
        );
        let text = failing["text"]
            .as_str()
            .expect("a text for Slack and Teams");
        assert!(
            text.contains("shop/orders is failing") && text.contains("2 failed runs in a row"),
            "{text}"
        );
        let recovered = &messages[1];
        assert_eq!(recovered["psu_sched"]["event"], "recovered", "{recovered}");
        assert_eq!(recovered["psu_sched"]["status"], "succeeded");
        assert_eq!(recovered["psu_sched"]["streak"], 3, "it ended 3 failures");
        assert!(
            recovered["text"]
                .as_str()
                .is_some_and(|t| t.contains("shop/orders recovered")),
            "{recovered}"
        );
        let request = &server.requests_to(&hook_path())[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("content-type"), Some("application/json"));

        // The URL is a secret: shown by its host only, nowhere whole.
        let shown = on
            .ok(&["--app", "shop", "app", "show", "--json"])
            .await
            .json();
        let masked = format!("http://127.0.0.1:{}/…", server.addr().port());
        assert_eq!(shown["webhook"], masked.as_str());
        assert_eq!(shown["notify_after"], 2);
        let human = on.ok(&["--app", "shop", "app", "show"]).await.stdout;
        assert!(human.contains("after 2 failed runs in a row"), "{human}");
        let export = on.ok(&["export"]).await.stdout;
        assert!(
            export.contains("webhook = \"${SHOP_WEBHOOK}\"") && export.contains("notify_after = 2"),
            "{export}"
        );
        assert!(
            logs.contains("notification sent"),
            "the tick logs at -vv: {logs}"
        );
        for (what, text) in [
            ("app show --json", shown.to_string()),
            ("app show", human),
            ("export", export.clone()),
            ("the tick's log lines", logs),
        ] {
            assert!(
                !text.contains(SECRET),
                "{what} shows the webhook's URL: {text}"
            );
        }

        // Applying the export needs the variable; given it, nothing changes.
        let dir = std::env::temp_dir().join(format!("notify-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("schedules.toml");
        std::fs::write(&file, &export).expect("write the export");
        let file = file.display().to_string();
        let missing = on.run(&["apply", "-f", &file, "--dry-run"]).await;
        assert_eq!(missing.code, 2, "{missing:?}");
        assert!(missing.stderr.contains("SHOP_WEBHOOK"), "{missing:?}");
        let var = format!("SHOP_WEBHOOK={hook}");
        let plan = on
            .ok(&["apply", "-f", &file, "--dry-run", "--var", &var])
            .await;
        assert!(
            plan.stdout
                .contains("Plan: 0 to create, 0 to update, 0 to delete"),
            "{}",
            plan.stdout
        );
        assert!(!plan.stdout.contains(SECRET) && !plan.stderr.contains(SECRET));

        // Removed: the record has none, and nothing is posted at the next failures.
        on.ok(&["--app", "shop", "app", "update", "--no-webhook"])
            .await;
        let shown = on
            .ok(&["--app", "shop", "app", "show", "--json"])
            .await
            .json();
        assert!(shown.get("webhook").is_none(), "{shown}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_notification_settings_are_refused_by_field_and_nothing_is_written() {
    on_both_stores(async |on: &On<'_>| {
        let server = JobServer::start().await;
        let base = server.url("");
        let base = base.trim_end_matches('/');
        let link_local = format!("https://169.254.169.254/latest/{SECRET}");
        let cases: [(&[&str], &str); 4] = [
            (&["--webhook", &link_local], "psu-sched: webhook: "),
            (
                &["--webhook", "ftp://hooks.example.edu/x"],
                "psu-sched: webhook: ",
            ),
            (
                &["--webhook", "http://[fe80::1]/hook"],
                "psu-sched: webhook: ",
            ),
            (&["--notify-after", "0"], "psu-sched: notify-after: "),
        ];
        for (extra, field) in cases {
            let mut args = vec!["--app", "shop", "app", "create", "--base-url", base];
            args.extend_from_slice(extra);
            let run = on.run(&args).await;
            assert_eq!(run.code, 2, "{extra:?}: {run:?}");
            assert!(run.stderr.starts_with(field), "{extra:?}: {}", run.stderr);
            assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
            assert!(!run.stderr.contains(SECRET), "{}", run.stderr);
            let shown = on.run(&["--app", "shop", "app", "show"]).await;
            assert_ne!(shown.code, 0, "nothing was created: {shown:?}");
        }
        let accepted = on
            .run(&["--app", "shop", "app", "create", "--base-url", base])
            .await;
        assert_eq!(accepted.code, 0, "{accepted:?}");
        let before = on.ok(&["export"]).await.stdout;
        for (extra, field) in cases {
            let mut args = vec!["--app", "shop", "app", "update"];
            args.extend_from_slice(extra);
            let run = on.run(&args).await;
            assert_eq!(run.code, 2, "{extra:?}: {run:?}");
            assert!(run.stderr.starts_with(field), "{extra:?}: {}", run.stderr);
        }
        let run = on
            .run(&["--app", "shop", "app", "update", "--notify-after", "101"])
            .await;
        assert!(
            run.stderr.starts_with("psu-sched: notify-after: "),
            "{run:?}"
        );
        assert_eq!(on.ok(&["export"]).await.stdout, before, "nothing written");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_answers_500_is_tried_three_times_counted_failed_and_its_url_stays_out_of_the_log()
 {
    on_both_stores(async |on: &On<'_>| {
        let server = JobServer::start().await;
        server.set(&hook_path(), Behavior::Status(500));
        server.set("/jobs/orders", Behavior::Status(503));
        let base = server.url("");
        let hook = server.url(&hook_path());
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
        let first = instant(&listed[0]["next_run"]);
        let run = on
            .ok(&[
                "-vv",
                "tick",
                "--now",
                &first.to_rfc3339(),
                "--simulate",
                "--json",
            ])
            .await;
        let summary = run.json();
        assert_eq!(summary["failed"], 1, "{summary}");
        assert_eq!(
            (
                &summary["notifications_sent"],
                &summary["notifications_failed"]
            ),
            (&Value::from(0), &Value::from(1)),
            "{summary}"
        );
        assert_eq!(server.count(&hook_path()), 3, "three attempts");
        assert!(
            run.stderr.contains("could not send the notification")
                && run.stderr.contains("the webhook answered 500"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains(SECRET), "{}", run.stderr);
        // Not sent again: the job stays marked, the next failure tells nobody.
        let again = on
            .ok(&[
                "tick",
                "--now",
                &(first + Duration::minutes(1)).to_rfc3339(),
                "--simulate",
                "--json",
            ])
            .await
            .json();
        assert_eq!(again["notifications_failed"], 0, "{again}");
        assert_eq!(server.count(&hook_path()), 3);
    })
    .await;
}

/// The app record of the World's jobs (`testapp`), with a webhook on the job server.
async fn testapp_with_webhook(world: &World, hook: &str, notify_after: u32) {
    let mut app = App::new(
        AppName::parse("testapp").expect("app"),
        BaseUrl::parse(&world.server.url("")).expect("base"),
        4,
        world.now(),
    )
    .expect("app");
    app.webhook = Some(WebhookUrl::parse(hook).expect("webhook"));
    app.notify_after = notify_after;
    world.store.create_app(&app).await.expect("create the app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_racing_ticks_per_minute_tell_the_webhook_once_that_a_job_fails_and_once_that_it_recovered()
 {
    let start = utc(2026, 5, 4, 9, 0);
    let world = World::new(start - Duration::seconds(30)).await;
    world.server.set("/jobs/orders", Behavior::Status(500));
    let hook = world.server.url(&hook_path());
    testapp_with_webhook(&world, &hook, 2).await;
    world
        .create(world.spec("orders", "/jobs/orders", "* * * * *"))
        .await;
    let mut stores = vec![Arc::new(world.store.clone())];
    for _ in 0..3 {
        stores.push(Arc::new(world.other_store().await));
    }
    let dispatcher = Arc::new(world.dispatcher.clone());
    let mut sent = 0;
    for minute in 0..4 {
        if minute == 3 {
            world.server.set("/jobs/orders", Behavior::Status(200));
        }
        let at: DateTime<Utc> = start + Duration::minutes(minute);
        let summaries = racing_ticks(&stores, &dispatcher, at).await;
        sent += summaries.iter().map(|s| s.notifications_sent).sum::<u64>();
    }
    assert_eq!(
        world.server.count("/jobs/orders"),
        4,
        "each slot called once"
    );
    let messages = bodies(&world.server.requests_to(&hook_path()));
    let events: Vec<&str> = messages
        .iter()
        .map(|m| m["psu_sched"]["event"].as_str().expect("event"))
        .collect();
    assert_eq!(events, ["failing", "recovered"], "{messages:?}");
    assert_eq!(sent, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_webhook_does_not_delay_another_jobs_call_and_counts_as_a_failed_notification() {
    let start = utc(2026, 5, 4, 9, 0);
    let mut world = World::new(start - Duration::minutes(2)).await;
    // One call at a time: were the post made inside the failing job's work, the other job's
    // call would wait for it.
    world.config.concurrency = 1;
    world.config.notify_timeout = StdDuration::from_secs(1);
    world.server.set("/jobs/a", Behavior::Status(500));
    world
        .server
        .set(&hook_path(), Behavior::Sleep(StdDuration::from_secs(30)));
    let hook = world.server.url(&hook_path());
    testapp_with_webhook(&world, &hook, 1).await;
    // `a` is due first (a slot a minute earlier), `b` at the tick's minute.
    world.create(world.spec("a", "/jobs/a", "* * * * *")).await;
    world.set(start - Duration::seconds(30));
    world.create(world.spec("b", "/jobs/b", "* * * * *")).await;
    world.set(start);
    let began = Instant::now();
    let summary = world.tick().await;
    let took = began.elapsed();
    let a = &world.server.requests_to("/jobs/a")[0];
    let b = &world.server.requests_to("/jobs/b")[0];
    let gap = b
        .received_at
        .duration_since(a.received_at)
        .unwrap_or_default();
    assert!(
        gap < StdDuration::from_millis(900),
        "b waited {gap:?} for a's webhook"
    );
    assert_eq!(summary.failed, 1, "{summary:?}");
    assert_eq!(summary.succeeded, 1, "{summary:?}");
    assert_eq!(
        (summary.notifications_sent, summary.notifications_failed),
        (0, 1),
        "{summary:?}"
    );
    assert_eq!(world.server.count(&hook_path()), 3, "three attempts");
    // Three attempts of 1 s and two jittered waits (0.25 s, 0.5 s at most doubled).
    assert!(took < StdDuration::from_secs(6), "the tick took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_never_renders_the_webhook_keeps_it_when_its_input_is_left_empty_and_removes_it_when_asked()
 {
    use crate::admin::{Admin, csrf_of, http, post_form, sign_in, temp_dir};
    let dir = temp_dir("notify-admin");
    let db = dir.join("psu-sched.db");
    let cli = Cli::new().await;
    let on = On {
        cli: &cli,
        sqlite: Some(format!("sqlite:{}", db.display())),
    };
    on.ok(&["init"]).await;
    let server = JobServer::start().await;
    let hook = server.url(&hook_path());
    on.ok(&[
        "--app",
        "shop",
        "app",
        "create",
        "--base-url",
        "https://shop.example.edu",
        "--webhook",
        &hook,
    ])
    .await;
    let admin = Admin::start(&db, &[]).await;
    let http = http();
    let cookie = sign_in(&http, &admin.base).await;
    let get = async |path: &str| {
        http.get(format!("{}{path}", admin.base))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body")
    };
    let page = get("/apps/shop").await;
    let masked = format!("http://127.0.0.1:{}/…", server.addr().port());
    assert!(
        page.contains(&masked),
        "the app page shows its host: {page}"
    );
    let form = get("/apps/shop/edit").await;
    assert!(form.contains("name=\"webhook\""), "{form}");
    for (what, html) in [("app page", &page), ("edit form", &form)] {
        assert!(!html.contains(SECRET), "the {what} shows the webhook's URL");
    }

    // Saved with its webhook input empty: the webhook is kept, the threshold changed.
    let csrf = csrf_of(&form);
    let mut pairs: Vec<(&str, String)> = vec![
        ("csrf", csrf.clone()),
        ("base_url", "https://shop.example.edu".to_owned()),
        ("budget", "4".to_owned()),
        ("timezone", String::new()),
        ("webhook", String::new()),
        ("notify_after", "3".to_owned()),
        ("shown-base_url", "https://shop.example.edu".to_owned()),
        ("shown-budget", "4".to_owned()),
        ("shown-timezone", String::new()),
        ("shown-webhook", String::new()),
        ("shown-notify_after", "1".to_owned()),
    ];
    let saved = post_form(&http, &admin.base, &cookie, "/apps/shop/edit", &pairs).await;
    assert_eq!(saved.status(), 303, "{:?}", saved.text().await);
    let shown = on
        .ok(&["--app", "shop", "app", "show", "--json"])
        .await
        .json();
    assert_eq!(
        (shown["webhook"].as_str(), shown["notify_after"].as_u64()),
        (Some(masked.as_str()), Some(3)),
        "{shown}"
    );

    // A refused form shown again never holds the URL typed either.
    pairs[4].1 = format!("https://169.254.169.254/{SECRET}");
    pairs[10].1 = "3".to_owned();
    let refused = post_form(&http, &admin.base, &cookie, "/apps/shop/edit", &pairs).await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.expect("body");
    assert!(body.contains("link-local"), "{body}");
    assert!(!body.contains(SECRET), "{body}");

    // "Remove the webhook" removes it.
    pairs[4].1 = String::new();
    pairs.push(("remove_webhook", "on".to_owned()));
    let removed = post_form(&http, &admin.base, &cookie, "/apps/shop/edit", &pairs).await;
    assert_eq!(removed.status(), 303);
    let shown = on
        .ok(&["--app", "shop", "app", "show", "--json"])
        .await
        .json();
    assert!(shown.get("webhook").is_none(), "{shown}");
    admin.stop().await;
}

/// Review of issue 32: apps `a-b` and `a_b` were exported with one variable for both webhooks,
/// so applying the export sent one app's alerts to the other's channel. Each app's webhook has
/// a variable of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_whose_names_differ_by_a_dash_export_their_webhooks_in_two_variables() {
    let cli = Cli::new().await;
    let db = TempDb::new();
    let on = on_sqlite(&cli, &db).await;
    for app in ["a-b", "a_b"] {
        on.ok(&[
            "--app",
            app,
            "app",
            "create",
            "--base-url",
            "https://shop.example.edu",
            "--webhook",
            &format!("https://hooks.example.edu/{app}/{SECRET}"),
        ])
        .await;
    }
    let export = on.ok(&["export"]).await.stdout;
    let vars: Vec<&str> = export
        .lines()
        .filter_map(|l| l.strip_prefix("webhook = \"${"))
        .filter_map(|l| l.strip_suffix("}\""))
        .collect();
    assert_eq!(vars.len(), 2, "{export}");
    assert_ne!(vars[0], vars[1], "one variable per webhook: {export}");
}
