//! A paused app's jobs as the command line shows them (issue 32, review): `list`, `show`,
//! `create`, `update`, `resume` and `app show`, text and `--json`, through the `psu-sched`
//! binary on SQLite and on moto. While an app is paused none of its jobs is called, so none
//! of them may read `active` with a next run.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use shared::model::{App, AppName, AppPause, BaseUrl, JobName, JobUrl, NewJob, PauseReason};
use shared::ops::{JobKey, Ops};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;

use crate::both::{On, on_both_stores};
use crate::helpers::jobserver::JobServer;
use crate::helpers::moto;
use crate::pause::shop_with_two_jobs;
use crate::world::utc;

const REASON: &str = "database migration until 14:00";

/// The rows of a table the CLI printed (`list`, `app show`), each a map from its column's
/// header to its cell: columns are separated by two spaces or more, a cell holds single
/// spaces at most. Lines before the header (`app show`'s settings) and after the rows
/// (`store: ...`) are left out.
fn table_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let cells = |line: &str| -> Vec<String> {
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut lines = text.lines().skip_while(|l| !l.starts_with("APP "));
    let header = cells(
        lines
            .next()
            .unwrap_or_else(|| panic!("no table in:\n{text}")),
    );
    lines
        .map(cells)
        .take_while(|row| row.len() == header.len())
        .map(|row| header.iter().cloned().zip(row).collect())
        .collect()
}

/// The row of `app`/`name` in a table.
fn row(text: &str, app: &str, name: &str) -> BTreeMap<String, String> {
    table_rows(text)
        .into_iter()
        .find(|r| r.get("APP").map(String::as_str) == Some(app) && r["NAME"] == name)
        .unwrap_or_else(|| panic!("no row for {app}/{name} in:\n{text}"))
}

/// The job `name` of a `list --json` array.
fn listed<'a>(jobs: &'a Value, app: &str, name: &str) -> &'a Value {
    jobs.as_array()
        .expect("an array of jobs")
        .iter()
        .find(|j| j["app"] == app && j["name"] == name)
        .unwrap_or_else(|| panic!("no {app}/{name} in {jobs}"))
}

/// What a script reads of a job of a paused app: its own state, `app_paused`, the app's
/// reason, and no run to come.
#[track_caller]
fn assert_app_paused_json(job: &Value, own_state: &str) {
    assert_eq!(
        job["state"], own_state,
        "the job's own state is kept: {job}"
    );
    assert_eq!(job["app_paused"], true, "{job}");
    assert_eq!(job["app_pause_reason"], REASON, "{job}");
    assert_eq!(
        job["next_run"],
        Value::Null,
        "no run while the app is paused: {job}"
    );
    assert_eq!(job["next_call"], Value::Null, "{job}");
    if let Some(runs) = job.get("next_runs") {
        assert_eq!(runs, &Value::Array(Vec::new()), "{job}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_apps_jobs_read_paused_app_with_no_next_run_in_list_show_create_and_update() {
    on_both_stores(async |on: &On<'_>| {
        let server = JobServer::start().await;
        shop_with_two_jobs(on, &server).await;
        let report = server.url("/jobs/report");
        // A job by URL (`show` reads no app record for it otherwise), another app that stays
        // running, and a job paused on its own.
        for (app, name) in [("shop", "report"), ("other", "daily")] {
            on.ok(&[
                "--app",
                app,
                "create",
                "--name",
                name,
                "--url",
                &report,
                "--cron",
                "* * * * *",
            ])
            .await;
        }
        on.ok(&[
            "--app",
            "shop",
            "pause",
            "--name",
            "stock",
            "--reason",
            "vendor down",
        ])
        .await;
        on.ok(&["--app", "shop", "app", "pause", "--reason", REASON])
            .await;

        // `list`, every app and one: the STATE and NEXT RUN cells.
        for args in [vec!["list"], vec!["--app", "shop", "list"]] {
            let text = on.ok(&args).await.stdout;
            for name in ["orders", "report"] {
                let cells = row(&text, "shop", name);
                assert_eq!(
                    (cells["STATE"].as_str(), cells["NEXT RUN"].as_str()),
                    ("paused (app)", "-"),
                    "{args:?} on {}:\n{text}",
                    on.name()
                );
            }
            let stock = row(&text, "shop", "stock");
            assert_eq!(
                (stock["STATE"].as_str(), stock["NEXT RUN"].as_str()),
                ("paused", "-"),
                "a job paused on its own reads as before:\n{text}"
            );
        }
        let text = on.ok(&["list"]).await.stdout;
        let daily = row(&text, "other", "daily");
        assert_eq!(daily["STATE"], "active", "{text}");
        assert_ne!(daily["NEXT RUN"], "-", "{text}");

        // `list --json`: the job's own state, `app_paused`, no next run.
        let jobs = on.ok(&["list", "--json"]).await.json();
        for name in ["orders", "report"] {
            assert_app_paused_json(listed(&jobs, "shop", name), "active");
        }
        let stock = listed(&jobs, "shop", "stock");
        assert_app_paused_json(stock, "paused");
        assert_eq!(stock["pause_reason"], "vendor down", "{stock}");
        let daily = listed(&jobs, "other", "daily");
        assert_eq!(
            (
                &daily["state"],
                &daily["app_paused"],
                &daily["app_pause_reason"]
            ),
            (&Value::from("active"), &Value::Bool(false), &Value::Null),
            "{daily}"
        );
        assert!(daily["next_run"].is_string(), "{daily}");

        // `show`, by path and by URL: the state with the app's reason, no next run.
        for name in ["orders", "report"] {
            let text = on
                .ok(&["--app", "shop", "show", "--name", name])
                .await
                .stdout;
            assert!(
                text.starts_with(&format!("shop/{name} (paused (app): {REASON})\n")),
                "{name} on {}:\n{text}",
                on.name()
            );
            assert!(
                text.contains("next runs: none while the app is paused")
                    && !text.contains("next runs ("),
                "{text}"
            );
            let json = on
                .ok(&["--app", "shop", "show", "--name", name, "--json"])
                .await
                .json();
            assert_app_paused_json(&json, "active");
            assert!(json["next_runs"].is_array(), "{json}");
        }
        let text = on
            .ok(&["--app", "shop", "show", "--name", "stock"])
            .await
            .stdout;
        assert!(
            text.starts_with(&format!(
                "shop/stock (paused; its app is paused: {REASON})\n"
            )),
            "{text}"
        );

        // `update` and `create` print the job as `show` does.
        let updated = on
            .ok(&[
                "--app",
                "shop",
                "update",
                "--name",
                "orders",
                "--description",
                "nightly orders",
            ])
            .await
            .stdout;
        assert!(
            updated.starts_with(&format!("updated shop/orders (paused (app): {REASON})\n"))
                && updated.contains("next runs: none while the app is paused"),
            "{updated}"
        );
        let json = on
            .ok(&[
                "--app",
                "shop",
                "update",
                "--name",
                "orders",
                "--retries",
                "1",
                "--json",
            ])
            .await
            .json();
        assert_app_paused_json(&json, "active");
        let created = on
            .ok(&[
                "--app",
                "shop",
                "create",
                "--name",
                "fresh",
                "--url",
                &report,
                "--cron",
                "* * * * *",
                "--json",
            ])
            .await
            .json();
        assert_app_paused_json(&created, "active");

        // Resuming a job of the paused app promises no next run either.
        let resumed = on
            .ok(&["--app", "shop", "resume", "--name", "stock"])
            .await
            .stdout;
        assert!(
            !resumed.contains("next run") && resumed.contains(REASON),
            "{resumed}"
        );

        // `app show` lists its jobs as `list` does.
        let text = on.ok(&["--app", "shop", "app", "show"]).await.stdout;
        let orders = row(&text, "shop", "orders");
        assert_eq!(
            (orders["STATE"].as_str(), orders["NEXT RUN"].as_str()),
            ("paused (app)", "-"),
            "{text}"
        );

        // Once the app is resumed, its jobs read active with a next run again.
        on.ok(&["--app", "shop", "app", "resume"]).await;
        let text = on.ok(&["--app", "shop", "list"]).await.stdout;
        let orders = row(&text, "shop", "orders");
        assert_eq!(orders["STATE"], "active", "{text}");
        assert_ne!(orders["NEXT RUN"], "-", "{text}");
        let json = on
            .ok(&["--app", "shop", "show", "--name", "orders", "--json"])
            .await
            .json();
        assert_eq!(
            (&json["app_paused"], &json["app_pause_reason"]),
            (&Value::Bool(false), &Value::Null),
            "{json}"
        );
        assert!(json["next_run"].is_string(), "{json}");
        assert_eq!(
            json["next_runs"].as_array().map(Vec::len),
            Some(5),
            "{json}"
        );
        let text = on
            .ok(&["--app", "shop", "show", "--name", "orders"])
            .await
            .stdout;
        assert!(
            text.starts_with("shop/orders (active)\n") && text.contains("next runs ("),
            "{text}"
        );
    })
    .await;
}

/// What showing the app's pause costs on DynamoDB: `list` reads every app record (one
/// `Query`) or, with `--app`, the app's (one `GetItem`); `show` reads the app's record for a
/// job by URL too (one `GetItem`). Nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_app_pause_costs_one_request_more_at_most() {
    let endpoint = moto::endpoint().await;
    let store = DynamoStore::new(
        &moto::sdk_config(&endpoint).await,
        moto::unique_table_name(),
    );
    store.create_table().await.expect("create the table");
    let now = utc(2026, 12, 7, 9, 0);
    let mut shop = App::new(
        AppName::parse("shop").expect("app"),
        BaseUrl::parse("https://shop.example.edu").expect("base"),
        4,
        now,
    )
    .expect("app");
    shop.paused = Some(AppPause {
        reason: PauseReason::parse("reason", REASON).expect("reason"),
        since: now,
    });
    store.create_app(&shop).await.expect("create the app");
    // shop's job is by URL; legacy has no record.
    for app in ["shop", "legacy"] {
        let job = NewJob::new(
            AppName::parse(app).expect("app"),
            JobName::parse("report").expect("name"),
            JobUrl::parse("https://shop.example.edu/report").expect("url"),
            "* * * * *".parse().expect("schedule"),
        )
        .build(now)
        .expect("job");
        store.create_job(&job).await.expect("create the job");
    }
    let requests = store.requests().clone();
    let ops = Ops::with_store("dynamodb", Arc::new(store));
    let mut costs = Vec::new();
    for app in [None, Some("shop")] {
        requests.reset();
        ops.list(app).await.expect("list");
        let plain = requests.snapshot();
        requests.reset();
        let listing = ops.list_with_app_pauses(app).await.expect("list");
        let paused: Vec<bool> = listing
            .jobs
            .iter()
            .map(|j| listing.app_pause(j).is_some())
            .collect();
        costs.push((app, paused, plain, requests.snapshot()));
    }
    let key = JobKey::parse("shop", "report").expect("key");
    requests.reset();
    ops.show(&key, 10).await.expect("show");
    let plain = requests.snapshot();
    requests.reset();
    let (_, pause, _) = ops.show_with_app_pause(&key, 10).await.expect("show");
    assert_eq!(pause.map(|p| p.reason.to_string()).as_deref(), Some(REASON));
    let count = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    assert_eq!(
        (plain, requests.snapshot()),
        (
            count(&[("GetItem", 1), ("Query", 1)]),
            count(&[("GetItem", 2), ("Query", 1)])
        ),
        "show of a job by URL: the app's record more"
    );
    assert_eq!(
        costs,
        vec![
            (
                None,
                vec![false, true],
                count(&[("Query", 3)]),
                count(&[("Query", 4)])
            ),
            (
                Some("shop"),
                vec![true],
                count(&[("Query", 1)]),
                count(&[("GetItem", 1), ("Query", 1)])
            ),
        ],
        "list: every record (one Query) or the app's (one GetItem) more"
    );
}
