//! A paused app's jobs in the web admin (issue 32): while the app is paused, its page and the
//! overview read its jobs as paused with no next run, and a job's own page says the app is
//! paused, offers no run now and warns that a backfill calls nothing; after the resume they
//! read as before. In headless Chromium over SQLite, axe-core run in every page.

use fantoccini::{Client, Locator};

use crate::admin::{Admin, Browser, TOKEN, axe_source, temp_dir, text_of, visit};
use crate::both::On;
use crate::cli::Cli;
use crate::helpers::jobserver::JobServer;
use crate::pause::shop_with_two_jobs;

/// The reason the app is paused with: markup that must show as text.
const REASON: &str = "<b>database</b> migration until 14:00";

/// The text of the cell `label` (its `data-label`) in the row of the job linked as `job`.
async fn cell(client: &Client, job: &str, label: &str) -> String {
    let xpath = format!("//tr[td/a[normalize-space()='{job}']]/td[@data-label='{label}']");
    client
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no cell {label} in the row of {job}: {e}"))
        .text()
        .await
        .expect("its text")
}

/// The class of the state shown in the row of `job` (the word's own element).
async fn state_class(client: &Client, job: &str) -> String {
    let xpath = format!("//tr[td/a[normalize-space()='{job}']]/td[@data-label='State']/span");
    client
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no state element in the row of {job}: {e}"))
        .attr("class")
        .await
        .expect("class")
        .unwrap_or_default()
}

/// The buttons labelled `label` that can be pressed.
async fn enabled_buttons(client: &Client, label: &str) -> usize {
    client
        .find_all(Locator::XPath(&format!(
            "//button[normalize-space()='{label}' and not(@disabled)]"
        )))
        .await
        .expect("find buttons")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_apps_jobs_read_paused_with_no_next_run_and_their_page_says_why_nothing_runs() {
    let axe = axe_source();
    let dir = temp_dir("pause-admin-jobs");
    let db = dir.join("psu-sched.db");
    let cli = Cli::new().await;
    let on = On {
        cli: &cli,
        sqlite: Some(format!("sqlite:{}", db.display())),
    };
    on.ok(&["init"]).await;
    let server = JobServer::start().await;
    shop_with_two_jobs(&on, &server).await;
    // stock is paused itself too: it reads paused, as before.
    on.ok(&[
        "--app", "shop", "pause", "--name", "stock", "--reason", "recount",
    ])
    .await;
    on.ok(&["--app", "shop", "app", "pause", "--reason", REASON])
        .await;
    let admin = Admin::start(&db, &[]).await;
    let base = admin.base.clone();
    let browser = Browser::start().await;
    let client = &browser.client;
    client
        .goto(&format!("{base}/login?token={TOKEN}"))
        .await
        .expect("open the login link");

    // The app page: orders, active itself, reads paused because of the app, with no run to
    // come; stock reads paused.
    visit(client, &base, "/apps/shop", "q1-app-paused-jobs", &axe).await;
    assert_eq!(cell(client, "orders", "State").await, "paused (app)");
    assert_eq!(
        cell(client, "orders", "Next run (UTC)").await,
        "— (app paused)"
    );
    assert!(
        state_class(client, "orders").await.contains("state-paused"),
        "the app-paused state is not styled as paused"
    );
    assert_eq!(cell(client, "stock", "State").await, "paused");
    assert_eq!(cell(client, "stock", "Next run (UTC)").await, "— (paused)");
    assert!(state_class(client, "stock").await.contains("state-paused"));
    // The state filter keeps what the rows read: both are paused, none active.
    for (state, shown) in [("active", "0 of 2"), ("paused", "2 of 2")] {
        client
            .goto(&format!("{base}/apps/shop?state={state}"))
            .await
            .expect("filter the app's jobs");
        assert_eq!(
            text_of(client, "#shown").await,
            format!("{shown} jobs shown."),
            "state={state}"
        );
    }

    // The overview reads them the same way.
    visit(client, &base, "/", "q2-overview-paused-jobs", &axe).await;
    assert_eq!(cell(client, "orders", "State").await, "paused (app)");
    assert_eq!(
        cell(client, "orders", "Next run (UTC)").await,
        "— (app paused)"
    );

    // The job page says the app is paused, with its reason as text and a link to the app,
    // offers no run now, warns that a backfill calls nothing, and promises no next run.
    let page = visit(
        client,
        &base,
        "/apps/shop/jobs/orders",
        "q3-job-of-paused-app",
        &axe,
    )
    .await;
    assert_eq!(text_of(client, "#paused-app .pause-reason").await, REASON);
    let notice = text_of(client, "#paused-app").await;
    assert!(
        notice.contains("None of its jobs is called until the app is resumed"),
        "{notice}"
    );
    client
        .find(Locator::Css("#paused-app a[href='/apps/shop']"))
        .await
        .expect("the notice links to the app's page");
    assert_eq!(enabled_buttons(client, "Run now").await, 0, "{page}");
    assert!(
        page.contains("Run now: not while the app is paused"),
        "{page}"
    );
    assert!(
        page.contains("while the app is paused, a backfill calls nothing: every slot is left"),
        "{page}"
    );
    assert!(
        page.contains("None while the app is paused: each slot that comes due is recorded skipped"),
        "{page}"
    );
    assert!(
        client
            .find_all(Locator::Css("table[aria-labelledby='next']"))
            .await
            .expect("find")
            .is_empty(),
        "the job page lists next runs while its app is paused:\n{page}"
    );

    // The backfill page says so before any plan is asked for.
    visit(
        client,
        &base,
        "/apps/shop/jobs/orders/backfill",
        "q4-backfill-of-paused-app",
        &axe,
    )
    .await;
    assert_eq!(text_of(client, "#paused-app .pause-reason").await, REASON);

    // Resumed: the job page offers run now again and lists its next runs; the rows read
    // active with a time.
    on.ok(&["--app", "shop", "app", "resume"]).await;
    let page = visit(
        client,
        &base,
        "/apps/shop/jobs/orders",
        "q5-job-resumed",
        &axe,
    )
    .await;
    assert!(!page.contains("app is paused"), "{page}");
    assert_eq!(enabled_buttons(client, "Run now").await, 1, "{page}");
    client
        .find(Locator::Css("table[aria-labelledby='next']"))
        .await
        .expect("the next runs are listed again");
    visit(client, &base, "/apps/shop", "q6-app-resumed", &axe).await;
    assert_eq!(cell(client, "orders", "State").await, "active");
    assert_ne!(
        cell(client, "orders", "Next run (UTC)").await,
        "— (app paused)"
    );
    assert_eq!(cell(client, "stock", "State").await, "paused");

    let _ = browser.client.close().await;
    admin.stop().await;
}
