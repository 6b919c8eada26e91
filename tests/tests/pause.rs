//! Operator controls (issue 32): an app paused and resumed (`app pause|resume`), a job's own
//! pause with a reason, and the history of a deleted job (`history --job-id`), through the
//! `psu-sched` binary on SQLite and on moto, with a real job server and a simulated clock.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::admin::{Admin, Browser, TOKEN, axe_source, click, fill, temp_dir, text_of, visit};
use crate::both::{On, on_both_stores};
use crate::cli::{Cli, instant};
use crate::helpers::jobserver::JobServer;

/// The app `shop` calling `server`, with two jobs by path every minute; the first slot.
pub(crate) async fn shop_with_two_jobs(on: &On<'_>, server: &JobServer) -> DateTime<Utc> {
    let base = server.url("");
    let base = base.trim_end_matches('/');
    on.ok(&["--app", "shop", "app", "create", "--base-url", base])
        .await;
    for name in ["orders", "stock"] {
        let path = format!("/jobs/{name}");
        on.ok(&[
            "--app",
            "shop",
            "create",
            "--name",
            name,
            "--path",
            &path,
            "--cron",
            "* * * * *",
        ])
        .await;
    }
    let listed = on.ok(&["list", "--app", "shop", "--json"]).await.json();
    instant(&listed[0]["next_run"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_app_is_not_called_for_two_ticks_its_jobs_unchanged_and_after_resume_each_next_slot_is_called_once()
 {
    on_both_stores(async |on: &On<'_>| {
        let server = JobServer::start().await;
        let first = shop_with_two_jobs(on, &server).await;
        let before = on.export().await;

        let paused = on
            .ok(&[
                "--app",
                "shop",
                "app",
                "pause",
                "--reason",
                "database migration until 14:00",
            ])
            .await;
        assert!(
            paused.stdout.starts_with("paused the app shop"),
            "{paused:?}"
        );
        let shown = on
            .ok(&["--app", "shop", "app", "show", "--json"])
            .await
            .json();
        assert_eq!(shown["paused"], true, "{shown}");
        assert_eq!(shown["pause_reason"], "database migration until 14:00");
        let human = on.ok(&["--app", "shop", "app", "show"]).await.stdout;
        assert!(
            human.contains("paused since") && human.contains("database migration until 14:00"),
            "{human}"
        );

        // Two ticks: both jobs due each time, no call; each slot recorded skipped.
        for at in [first, first + Duration::minutes(1)] {
            let tick = on.tick(at).await;
            assert_eq!(
                (
                    tick["due"].as_u64(),
                    tick["triggered"].as_u64(),
                    tick["skipped"].as_u64()
                ),
                (Some(2), Some(0), Some(2)),
                "{} at {at}: {tick}",
                on.name()
            );
        }
        assert_eq!(
            server.requests().len(),
            0,
            "a job of the paused app was called"
        );
        let history = on
            .ok(&["--app", "shop", "history", "--name", "orders", "--json"])
            .await
            .json();
        let history = history.as_array().expect("executions");
        assert_eq!(history.len(), 2, "{history:?}");
        for e in history {
            assert_eq!(e["status"], "skipped", "{e}");
            assert_eq!(
                e["error"], "not called: app paused: database migration until 14:00",
                "{e}"
            );
        }
        // A manual run of a job of the paused app is refused too.
        let run = on.run(&["--app", "shop", "run", "--name", "orders"]).await;
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("app resume --app shop"), "{run:?}");
        assert_eq!(server.requests().len(), 0);

        let resumed = on.ok(&["--app", "shop", "app", "resume"]).await;
        assert!(
            resumed.stdout.starts_with("resumed the app shop"),
            "{resumed:?}"
        );
        let again = on.ok(&["--app", "shop", "app", "resume"]).await;
        assert!(
            again.stdout.contains("is not paused; nothing written"),
            "{again:?}"
        );
        // Not a job was rewritten: the export reads as before the pause.
        assert_eq!(on.export().await, before, "the jobs' definitions changed");

        // The next slot is called once per job, and once only.
        let next = first + Duration::minutes(2);
        let tick = on.tick(next).await;
        assert_eq!(
            (tick["triggered"].as_u64(), tick["succeeded"].as_u64()),
            (Some(2), Some(2)),
            "{tick}"
        );
        let tick = on.tick(next).await;
        assert_eq!(tick["triggered"], 0, "{tick}");
        assert_eq!(server.count("/jobs/orders"), 1);
        assert_eq!(server.count("/jobs/stock"), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_jobs_history_is_read_by_the_id_delete_prints() {
    on_both_stores(async |on: &On<'_>| {
        let server = JobServer::start().await;
        let first = shop_with_two_jobs(on, &server).await;
        on.tick(first).await;
        on.tick(first + Duration::minutes(1)).await;
        assert_eq!(server.count("/jobs/orders"), 2);
        let id = on
            .ok(&["--app", "shop", "show", "--name", "orders", "--json"])
            .await
            .json()["id"]
            .as_str()
            .expect("id")
            .to_owned();

        let deleted = on
            .ok(&[
                "--app", "shop", "delete", "--name", "orders", "--yes", "--json",
            ])
            .await
            .json();
        assert_eq!(deleted["job_id"], id.as_str(), "{deleted}");
        assert_eq!(deleted["purged"], Value::Null, "{deleted}");
        let human = on
            .ok(&["--app", "shop", "delete", "--name", "stock", "--yes"])
            .await
            .stdout;
        assert!(human.contains("psu-sched history --job-id "), "{human}");

        let history = on.ok(&["history", "--job-id", &id, "--json"]).await.json();
        let history = history.as_array().expect("executions");
        assert_eq!(history.len(), 2, "{history:?}");
        assert!(
            history.iter().all(|e| e["status"] == "succeeded"),
            "{history:?}"
        );
        assert!(history[0]["id"].as_str().expect("id").starts_with(&id));
        let text = on.ok(&["history", "--job-id", &id]).await.stdout;
        assert!(text.contains("succeeded"), "{text}");

        let bad = on.run(&["history", "--job-id", "not-an-id"]).await;
        assert_eq!(bad.code, 2, "{bad:?}");
        assert_eq!(bad.stderr.trim().lines().count(), 1, "{bad:?}");
        assert!(bad.stderr.contains("job-id:"), "{bad:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pause_reasons_and_an_unknown_app_are_refused_naming_the_field_and_nothing_is_written()
{
    on_both_stores(async |on: &On<'_>| {
        let server = JobServer::start().await;
        shop_with_two_jobs(on, &server).await;
        let long = "x".repeat(201);
        for (args, field) in [
            (
                vec!["--app", "shop", "app", "pause", "--reason", ""],
                "reason",
            ),
            (
                vec!["--app", "shop", "app", "pause", "--reason", "   "],
                "reason",
            ),
            (
                vec!["--app", "shop", "app", "pause", "--reason", &long],
                "reason",
            ),
            (
                vec!["--app", "shop", "app", "pause", "--reason", "two\nlines"],
                "reason",
            ),
            (vec!["--app", "shop", "app", "pause"], "--reason"),
            (
                vec!["--app", "shop", "app", "resume", "--reason", "x"],
                "--reason",
            ),
            (
                vec!["--app", "shop", "pause", "--name", "orders", "--reason", ""],
                "reason",
            ),
            (
                vec![
                    "--app", "shop", "pause", "--name", "orders", "--reason", &long,
                ],
                "reason",
            ),
            (
                vec![
                    "--app", "shop", "resume", "--name", "orders", "--reason", "x",
                ],
                "--reason",
            ),
        ] {
            let run = on.run(&args).await;
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            assert!(run.stderr.contains(field), "{args:?}: {run:?}");
            if field == "reason" {
                assert_eq!(run.stderr.trim().lines().count(), 1, "{args:?}: {run:?}");
                assert!(run.stderr.contains("1 to 200 characters"), "{run:?}");
            }
        }
        let unknown = on
            .run(&["--app", "nosuch", "app", "pause", "--reason", "x"])
            .await;
        assert_eq!(unknown.code, 1, "{unknown:?}");
        assert!(
            unknown.stderr.contains("no app named nosuch"),
            "{unknown:?}"
        );
        // Nothing written: the app runs, the job runs, no reason anywhere.
        let app = on
            .ok(&["--app", "shop", "app", "show", "--json"])
            .await
            .json();
        assert_eq!(app["paused"], false, "{app}");
        let job = on
            .ok(&["--app", "shop", "show", "--name", "orders", "--json"])
            .await
            .json();
        assert_eq!(
            (job["state"].as_str(), &job["pause_reason"]),
            (Some("active"), &Value::Null)
        );
        assert!(!on.export().await.contains("paused"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pauses_and_their_reasons_go_through_export_and_apply_unchanged() {
    on_both_stores(async |on: &On<'_>| {
        let server = JobServer::start().await;
        shop_with_two_jobs(on, &server).await;
        on.ok(&[
            "--app",
            "shop",
            "app",
            "pause",
            "--reason",
            "peak \"sale\" week",
        ])
        .await;
        let paused = on
            .ok(&[
                "--app",
                "shop",
                "pause",
                "--name",
                "stock",
                "--reason",
                "vendor API down",
            ])
            .await;
        assert!(paused.stdout.contains("vendor API down"), "{paused:?}");
        let show = on
            .ok(&["--app", "shop", "show", "--name", "stock"])
            .await
            .stdout;
        assert!(
            show.contains("pause reason") && show.contains("vendor API down"),
            "{show}"
        );

        let export = on.export().await;
        assert!(
            export.contains("pause_reason = \"vendor API down\""),
            "{export}"
        );
        assert_eq!(export.matches("pause_reason = ").count(), 2, "{export}");
        assert!(export.contains("sale"), "{export}");
        let dir = temp_dir("pause-export");
        let file = dir.join("schedules.toml");
        std::fs::write(&file, &export).expect("write the export");
        let file = file.display().to_string();
        let plan = on
            .ok(&["apply", "-f", &file, "--dry-run", "--json"])
            .await
            .json();
        assert_eq!(
            (plan["create"].as_u64(), plan["update"].as_u64()),
            (Some(0), Some(0)),
            "{plan}"
        );

        // A file that says nothing of the pauses keeps them, reasons included.
        let silent: String = export
            .lines()
            .filter(|l| !l.starts_with("paused") && !l.starts_with("pause_reason"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&file, &silent).expect("write");
        let plan = on
            .ok(&["apply", "-f", &file, "--dry-run", "--json"])
            .await
            .json();
        assert_eq!(plan["update"], 0, "{plan}");
        assert!(
            plan["steps"]
                .as_array()
                .expect("steps")
                .iter()
                .any(|s| s["stays_paused"] == true),
            "{plan}"
        );

        // `paused = false` resumes the app and the job, and clears the reasons.
        let resume = silent.replace(
            "[[apps.jobs]]\nname = \"stock\"\n",
            "[[apps.jobs]]\nname = \"stock\"\npaused = false\n",
        );
        let resume = resume.replacen("\n[[apps.jobs]]", "paused = false\n\n[[apps.jobs]]", 1);
        std::fs::write(&file, &resume).expect("write");
        on.ok(&["apply", "-f", &file, "--yes"]).await;
        let app = on
            .ok(&["--app", "shop", "app", "show", "--json"])
            .await
            .json();
        assert_eq!(
            (&app["paused"], &app["pause_reason"]),
            (&Value::Bool(false), &Value::Null)
        );
        let job = on
            .ok(&["--app", "shop", "show", "--name", "stock", "--json"])
            .await
            .json();
        assert_eq!(
            (job["state"].as_str(), &job["pause_reason"]),
            (Some("active"), &Value::Null)
        );

        // A reason without a pause is refused in a file, naming the key, nothing written.
        let bad = silent.replacen(
            "\n[[apps.jobs]]",
            "pause_reason = \"why\"\n\n[[apps.jobs]]",
            1,
        );
        std::fs::write(&file, &bad).expect("write");
        let refused = on.run(&["apply", "-f", &file, "--yes"]).await;
        assert_eq!(refused.code, 2, "{refused:?}");
        assert!(refused.stderr.contains("pause_reason"), "{refused:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_shows_a_paused_app_and_its_reason_escaped_and_pauses_and_resumes_it() {
    let axe = axe_source();
    let dir = temp_dir("pause-admin");
    let db = dir.join("psu-sched.db");
    let store = format!("sqlite:{}", db.display());
    let cli = Cli::new().await;
    let on = On {
        cli: &cli,
        sqlite: Some(store.clone()),
    };
    on.ok(&["init"]).await;
    let server = JobServer::start().await;
    shop_with_two_jobs(&on, &server).await;
    on.ok(&[
        "--app",
        "shop",
        "app",
        "pause",
        "--reason",
        "<script>alert(1)</script> migration",
    ])
    .await;
    let admin = Admin::start(&db, &[]).await;
    let base = admin.base.clone();
    let browser = Browser::start().await;
    let client = &browser.client;
    client
        .goto(&format!("{base}/login?token={TOKEN}"))
        .await
        .expect("open the login link");

    // The overview and the app page show the pause and its reason, as text.
    let page = visit(client, &base, "/", "p1-overview-paused", &axe).await;
    assert!(
        page.contains("App shop is paused: <script>alert(1)</script> migration"),
        "{page}"
    );
    let page = visit(client, &base, "/apps/shop", "p2-app-paused", &axe).await;
    assert!(page.contains("Paused since"), "{page}");
    assert_eq!(
        text_of(client, "#paused-app .pause-reason").await,
        "<script>alert(1)</script> migration"
    );
    click(client, "Resume app").await;
    let page = text_of(client, "main").await;
    assert!(
        !page.contains("Paused since") && page.contains("Pause app"),
        "{page}"
    );
    let app = on
        .ok(&["--app", "shop", "app", "show", "--json"])
        .await
        .json();
    assert_eq!(app["paused"], false, "{app}");

    fill(client, "#pause-reason", "quarterly close").await;
    click(client, "Pause app").await;
    assert_eq!(
        text_of(client, "#paused-app .pause-reason").await,
        "quarterly close"
    );
    let app = on
        .ok(&["--app", "shop", "app", "show", "--json"])
        .await
        .json();
    assert_eq!(app["pause_reason"], "quarterly close", "{app}");

    // A job's own pause from its page, with a reason shown there.
    client
        .goto(&format!("{base}/apps/shop/jobs/orders"))
        .await
        .expect("open the job");
    fill(client, "#pause-reason", "waiting for the vendor").await;
    click(client, "Pause").await;
    let page = visit(
        client,
        &base,
        "/apps/shop/jobs/orders",
        "p3-job-paused",
        &axe,
    )
    .await;
    assert!(page.contains("waiting for the vendor"), "{page}");
    let _ = browser.client.close().await;
    admin.stop().await;

    // Read-only: the page shows the pause, with no form to change it.
    let admin = Admin::start(&db, &["--read-only"]).await;
    let http = crate::admin::http();
    let cookie = crate::admin::sign_in(&http, &admin.base).await;
    let page = http
        .get(format!("{}/apps/shop", admin.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(page.contains("quarterly close"), "{page}");
    assert!(!page.contains("/apps/shop/resume"), "{page}");
    admin.stop().await;
}
