//! The web admin (`psu-sched ui`) as a person meets it: a real process on 127.0.0.1 over a
//! seeded SQLite store, driven in headless Chromium through ChromeDriver (Debian's `chromium`
//! and `chromium-driver`, which `scripts/test` installs), with axe-core run in every page; and
//! its refusals over plain HTTP. Without the browser or axe-core these tests fail, never skip.
//! Screenshots of every page land in `<target dir>/admin-screenshots/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fantoccini::{Client, ClientBuilder, Locator};
use shared::model::{Execution, ExecutionId, LastRun, Status, Trigger};
use shared::ops::{AppInput, JobInput, JobKey, Ops, ScheduleForm, StoreSpec};
use shared::store::{Claim, Store, sqlite::SqliteStore};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cli::binary;
use crate::helpers::jobserver::{Behavior, JobServer};

/// What the failed execution's app answered: markup that must render inert, as text.
const HOSTILE_OUTPUT: &str = "<img src=x onerror=alert(1)>";

/// A job description that must render as text too.
const HOSTILE_DESCRIPTION: &str = "Nightly <script>alert(2)</script> invoices";

/// The token the tests sign in with (through --token-file).
pub(crate) const TOKEN: &str = "admin-test-token-0123456789abcdef";

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("its address")
        .port()
}

pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "psu-sched-admin-{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
}

/// The seeded store's executions: one of every status for billing/invoices.
pub(crate) struct Seeded {
    pub(crate) db: PathBuf,
    pub(crate) failed: ExecutionId,
    pub(crate) timed_out: ExecutionId,
}

/// Two apps: billing (a record; jobs invoices, dst-sundays) and hr (no record; a paused
/// job sync). invoices has an execution of every status, within the last 24 hours.
pub(crate) async fn seed(dir: &Path) -> Seeded {
    let db = dir.join("jobs.db");
    let ops = Ops::new(
        StoreSpec::from_setting(Some(&format!("sqlite:{}", db.display()))).expect("store spec"),
    );
    ops.init().await.expect("init the database");
    let now = Utc::now();
    ops.create_app(
        "billing",
        &AppInput {
            base_url: Some("https://billing.example.edu".into()),
            budget: Some("3".into()),
            timezone: None,
            ..AppInput::default()
        },
        now,
    )
    .await
    .expect("create the app billing");
    let jobs = [
        (
            "billing",
            "invoices",
            "0 * * * *",
            "UTC",
            HOSTILE_DESCRIPTION,
            false,
        ),
        (
            "billing",
            "dst-sundays",
            "30 12 * 3,11 sun",
            "America/Los_Angeles",
            "",
            false,
        ),
        (
            "billing",
            "reports",
            "15 6 * * mon-fri",
            "Europe/Paris",
            "Weekday reports",
            false,
        ),
        ("hr", "sync", "*/15 * * * *", "UTC", "", true),
    ];
    for (app, name, cron, zone, description, paused) in jobs {
        let input = JobInput {
            path: (app == "billing").then(|| format!("/jobs/{name}")),
            url: (app != "billing").then(|| format!("https://{app}.example.edu/jobs/{name}")),
            schedule: ScheduleForm {
                cron: Some(cron.into()),
                ..Default::default()
            },
            timezone: Some(zone.into()),
            description: Some(description.into()),
            paused,
            ..Default::default()
        };
        ops.create(&JobKey::parse(app, name).expect("key"), &input, now)
            .await
            .expect("create a job");
    }
    let store = SqliteStore::open(&db).await.expect("open the SQLite store");
    let hour = |h: i64| now - chrono::Duration::hours(h);
    let slot = |h: i64| {
        let t = hour(h);
        t - chrono::Duration::seconds(i64::from(chrono::Timelike::second(&t)))
    };
    let failed = add(
        &store,
        "billing",
        "invoices",
        slot(9),
        Status::Failed,
        |e| {
            e.http_status = Some(500);
            e.output = Some(HOSTILE_OUTPUT.into());
            e.error = Some("the app answered HTTP 500".into());
        },
    )
    .await;
    let timed_out = add(
        &store,
        "billing",
        "invoices",
        slot(8),
        Status::TimedOut,
        |e| {
            e.error = Some("no outcome before the deadline".into());
            e.outcome_by = Some(shared::store::RECONCILER.into());
        },
    )
    .await;
    add(
        &store,
        "billing",
        "invoices",
        slot(7),
        Status::Missed,
        |e| {
            e.started_at = None;
            e.duration_ms = None;
            e.error = Some("later than the job's max lateness".into());
        },
    )
    .await;
    add(
        &store,
        "billing",
        "invoices",
        slot(6),
        Status::Skipped,
        |e| {
            e.started_at = None;
            e.duration_ms = None;
        },
    )
    .await;
    for h in [5, 4, 3] {
        add(
            &store,
            "billing",
            "invoices",
            slot(h),
            Status::Succeeded,
            |e| {
                e.http_status = Some(200);
                e.output = Some("{\"ok\":true}".into());
            },
        )
        .await;
    }
    add(
        &store,
        "billing",
        "invoices",
        slot(2),
        Status::Running,
        |e| {
            e.finished_at = None;
            e.duration_ms = None;
        },
    )
    .await;
    add(
        &store,
        "billing",
        "invoices",
        slot(1),
        Status::Pending,
        |e| {
            e.finished_at = None;
            e.duration_ms = None;
            e.started_at = None;
        },
    )
    .await;
    add(&store, "hr", "sync", slot(10), Status::Succeeded, |e| {
        e.http_status = Some(204);
    })
    .await;
    Seeded {
        db,
        failed,
        timed_out,
    }
}

/// Writes one execution of the job at `slot` with `status` (through a claim, as a tick
/// writes), called 1.5 s late and taking 120 ms unless `adjust` says otherwise; a finished
/// one becomes the job's last run.
pub(crate) async fn add(
    store: &SqliteStore,
    app: &str,
    name: &str,
    slot: DateTime<Utc>,
    status: Status,
    adjust: impl FnOnce(&mut Execution),
) -> ExecutionId {
    let key = JobKey::parse(app, name).expect("key");
    let job = store
        .get_job(&key.app, &key.name)
        .await
        .expect("read")
        .expect("the job");
    let id = ExecutionId::new(job.id.clone(), slot, Trigger::Schedule, 1);
    let started = slot + chrono::Duration::milliseconds(1500);
    let mut execution = Execution {
        app: job.app.clone(),
        name: job.name.clone(),
        scheduled_for: slot,
        offset_ms: 0,
        attempt: 1,
        trigger: Trigger::Schedule,
        id: id.clone(),
        status,
        http_status: None,
        output: None,
        error: None,
        created_at: slot,
        started_at: Some(started),
        finished_at: Some(started + chrono::Duration::milliseconds(120)),
        duration_ms: Some(120),
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
        expires_at: Utc::now() + chrono::Duration::days(30),
    };
    adjust(&mut execution);
    let mut next = job.clone();
    next.state.version += 1;
    if status.is_final() {
        // As the tick's bookkeeping does: the outcome among the latest, then the last run.
        let run = LastRun {
            execution: id.clone(),
            status,
            at: execution.finished_at.unwrap_or(slot),
        };
        next.record_outcome(&run);
        next.state.last = Some(run);
    }
    let claim = Claim {
        job: next,
        expected_version: job.state.version,
        execution,
        token: uuid::Uuid::new_v4().to_string(),
    };
    store.claim(&claim).await.expect("write the execution");
    id
}

/// A running `psu-sched ui`, stopped on drop.
pub(crate) struct Admin {
    child: Child,
    pub(crate) base: String,
    stderr: tokio::task::JoinHandle<Vec<String>>,
}

impl Admin {
    pub(crate) async fn start(db: &Path, extra: &[&str]) -> Admin {
        Admin::start_with(db, extra, &[]).await
    }

    /// As `start`, with more environment variables.
    pub(crate) async fn start_with(db: &Path, extra: &[&str], env: &[(&str, &str)]) -> Admin {
        let store = format!("sqlite:{}", db.display());
        Admin::start_on(&store, db.parent().expect("db dir"), extra, env).await
    }

    /// As `start_with`, over the store `store` (`sqlite:FILE`, `dynamodb:TABLE`), its token
    /// file in `dir`.
    pub(crate) async fn start_on(
        store: &str,
        dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Admin {
        let port = free_port();
        let token_file = dir.join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write the token file");
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(binary())
            .args(["--store", store, "ui", "--listen", &listen])
            .arg("--token-file")
            .arg(&token_file)
            .args(extra)
            .env_remove("PSU_SCHED_STORE")
            .env_remove("PSU_SCHED_TABLE")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start psu-sched ui");
        let stderr = child.stderr.take().expect("stderr");
        let stderr = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut seen = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push(line);
            }
            seen
        });
        wait_for_port(port).await;
        Admin {
            child,
            base: format!("http://{listen}"),
            stderr,
        }
    }

    /// Stops the process; its stderr lines.
    pub(crate) async fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill().await;
        self.stderr.await.unwrap_or_default()
    }
}

pub(crate) async fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing answered on 127.0.0.1:{port} within 10 s");
}

/// ChromeDriver on a free loopback port, and a headless Chromium session through it.
pub(crate) struct Browser {
    pub(crate) driver: Child,
    pub(crate) client: Client,
    /// ChromeDriver's address (`http://127.0.0.1:PORT`), for its Chromium-only commands.
    pub(crate) driver_url: String,
}

impl Browser {
    pub(crate) async fn start() -> Browser {
        let chromium = which("chromium").unwrap_or_else(|| {
            panic!("chromium is not installed: scripts/test installs it (apt-get install chromium chromium-driver)")
        });
        let chromedriver = which("chromedriver").unwrap_or_else(|| {
            panic!("chromedriver is not installed: scripts/test installs it (apt-get install chromium-driver)")
        });
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        wait_for_port(port).await;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-background-networking",
                    "--disable-gpu",
                    "--window-size=1280,1000",
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("open a Chromium session through chromedriver");
        Browser {
            driver,
            client,
            driver_url: format!("http://127.0.0.1:{port}"),
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// axe-core's script: PSU_SCHED_TEST_AXE (scripts/test sets it), else where scripts/test
/// puts it.
pub(crate) fn axe_source() -> String {
    let path = std::env::var_os("PSU_SCHED_TEST_AXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/axe-core/package/axe.min.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {} ({e}): scripts/test fetches it with npm pack axe-core@4",
            path.display()
        )
    })
}

/// Runs axe-core in the page; the serious and critical violations, one line each.
pub(crate) async fn serious_violations(client: &Client, axe: &str) -> Vec<String> {
    client.execute(axe, vec![]).await.expect("inject axe-core");
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3) }))))
               .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
            vec![],
        )
        .await
        .expect("run axe-core");
    result
        .as_array()
        .expect("a list of violations")
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            format!(
                "{} ({}): {} at {}",
                v["id"], v["impact"], v["help"], v["nodes"]
            )
        })
        .collect()
}

pub(crate) async fn screenshot(client: &Client, name: &str) {
    let dir = target_dir().join("admin-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshots directory");
    // Chromium may refuse a screenshot while it settles a page (seen once under load:
    // "aborted by navigation"); the screenshot is a record, not a check: try again.
    let mut tries = 0;
    let png = loop {
        match client.screenshot().await {
            Ok(png) => break png,
            Err(e) if tries < 3 => {
                tries += 1;
                eprintln!("screenshot {name}: {e}; trying again");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("take a screenshot of {name}: {e}"),
        }
    };
    std::fs::write(dir.join(format!("{name}.png")), png).expect("save the screenshot");
}

pub(crate) async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element `{css}`: {e}"))
        .text()
        .await
        .expect("its text")
}

/// Visits `path`, saves a screenshot, checks axe-core and that no alert opened; the page's
/// `main` text.
pub(crate) async fn visit(
    client: &Client,
    base: &str,
    path: &str,
    name: &str,
    axe: &str,
) -> String {
    client
        .goto(&format!("{base}{path}"))
        .await
        .expect("open the page");
    assert!(
        client.get_alert_text().await.is_err(),
        "an alert opened on {path}: markup from the store ran as script"
    );
    screenshot(client, name).await;
    let violations = serious_violations(client, axe).await;
    assert!(
        violations.is_empty(),
        "axe-core on {path}:\n{}",
        violations.join("\n")
    );
    text_of(client, "main").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_shows_the_seeded_store_in_chromium_with_markup_inert_and_no_serious_axe_violation()
 {
    let axe = axe_source();
    let dir = temp_dir("browser");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &[]).await;
    let browser = Browser::start().await;
    let client = &browser.client;
    let base = admin.base.clone();

    // Without the cookie: the sign-in page, whatever the address.
    let login = visit(client, &base, "/apps/billing", "0-sign-in", &axe).await;
    assert!(login.contains("Sign in"), "{login}");

    // The login link sets the cookie and drops the token from the address bar.
    client
        .goto(&format!("{base}/login?token={TOKEN}"))
        .await
        .expect("open the login link");
    let url = client.current_url().await.expect("url");
    assert_eq!(url.path(), "/");
    assert!(
        !url.as_str().contains(TOKEN),
        "the token stayed in the address bar: {url}"
    );
    assert!(
        !client.source().await.expect("source").contains(TOKEN),
        "the page carries the token"
    );

    let overview = visit(client, &base, "/", "1-overview", &axe).await;
    for expected in [
        "billing",
        "hr",
        "invoices",
        "dst-sundays",
        "sync",
        "paused",
        "Needs attention",
        "Nothing late, failing or missed.",
    ] {
        assert!(
            overview.contains(expected),
            "the overview lacks `{expected}`:\n{overview}"
        );
    }
    let invoices_row = text_of(
        client,
        "section[aria-labelledby='app-1'] tr:has(a[href='/apps/billing/jobs/invoices'])",
    )
    .await;
    // Its last run, and its latest outcomes in words (the seeded ones that ended).
    assert!(
        invoices_row.contains("succeeded")
            && invoices_row.contains(
                "latest 7 outcomes, oldest first: failed, timed out, missed, skipped, succeeded, succeeded, succeeded"
            ),
        "{invoices_row}"
    );

    let app = visit(client, &base, "/apps/billing", "2-app", &axe).await;
    for expected in [
        "https://billing.example.edu",
        "3 calls",
        "30 12 * 3,11 SUN",
        "in March and November",
        "Europe/Paris",
        "America/Los_Angeles",
    ] {
        assert!(
            app.contains(expected),
            "the app page lacks `{expected}`:\n{app}"
        );
    }
    // Filtered and sorted by query parameters alone (no script).
    visit(
        client,
        &base,
        "/apps/billing?q=report",
        "2b-app-filtered",
        &axe,
    )
    .await;
    let rows = client
        .find_all(Locator::Css("tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1, "the filter `report` keeps one job");
    visit(
        client,
        &base,
        "/apps/billing?sort=name&dir=desc",
        "2c-app-sorted",
        &axe,
    )
    .await;
    let first = text_of(client, "tbody tr:first-child td:first-child").await;
    assert_eq!(first, "reports", "name descending starts with reports");
    let sorted = client
        .find(Locator::Css("th[aria-sort='descending']"))
        .await
        .expect("the sorted column says so");
    assert_eq!(sorted.text().await.expect("text"), "Job");

    let job = visit(client, &base, "/apps/billing/jobs/invoices", "3-job", &axe).await;
    assert!(
        job.contains(HOSTILE_DESCRIPTION),
        "the description shows as text:\n{job}"
    );
    assert!(
        client
            .find_all(Locator::Css("script"))
            .await
            .expect("scripts")
            .is_empty()
    );
    let marks = client
        .find_all(Locator::Css("figure.timeline svg a"))
        .await
        .expect("marks");
    assert_eq!(marks.len(), 9, "one mark per slot of invoices");
    let titles = client
        .find_all(Locator::Css("figure.timeline svg a title"))
        .await
        .expect("titles");
    let mut title_texts = Vec::new();
    for t in titles {
        title_texts.push(t.html(true).await.expect("title text"));
    }
    assert!(
        title_texts.iter().any(|t| t.contains("failed")
            && t.contains("duration 120 ms")
            && t.contains("lag 1.50 s")),
        "a mark's title gives status, duration and lag: {title_texts:?}"
    );
    // Punctuality: the figures psu-sched stats computes, from the seeded history.
    for expected in [
        "3 succeeded, 1 failed, 1 timed out, 1 skipped, 1 missed, 2 in flight",
        "p50 1.50 s, p95 1.50 s, p99 1.50 s (6 calls)",
        "p50 120 ms, p95 120 ms (5 calls)",
    ] {
        assert!(
            job.contains(expected),
            "the punctuality figures lack `{expected}`:\n{job}"
        );
    }
    let figure = client
        .find(Locator::Css("figure.timeline"))
        .await
        .expect("the timeline");
    let png = figure
        .screenshot()
        .await
        .expect("a screenshot of the timeline");
    std::fs::write(
        target_dir()
            .join("admin-screenshots")
            .join("3b-job-timeline.png"),
        png,
    )
    .expect("save the screenshot");
    // The marks are reachable from the keyboard.
    let focusable: bool = client
        .execute(
            "const a = document.querySelector('figure.timeline svg a'); a.focus(); return document.activeElement === a;",
            vec![],
        )
        .await
        .expect("focus a mark")
        .as_bool()
        .unwrap_or(false);
    assert!(focusable, "a timeline mark takes the focus");

    let dst = visit(
        client,
        &base,
        "/apps/billing/jobs/dst-sundays",
        "4-job-dst",
        &axe,
    )
    .await;
    assert!(dst.contains("daylight-saving change"), "{dst}");
    assert!(
        dst.contains("clocks change: UTC−08:00 → UTC−07:00")
            || dst.contains("clocks change: UTC−07:00 → UTC−08:00"),
        "{dst}"
    );

    let failed = visit(
        client,
        &base,
        &format!("/executions/{}", seeded.failed),
        "5-execution-failed",
        &axe,
    )
    .await;
    assert_eq!(
        text_of(client, "pre.output").await,
        HOSTILE_OUTPUT,
        "the output shows as text"
    );
    assert!(
        client
            .find_all(Locator::Css("main img"))
            .await
            .expect("images")
            .is_empty(),
        "the output made an element"
    );
    for expected in [
        "failed",
        "500",
        "120 ms",
        "1.50 s",
        "1 of at most 1",
        "schedule",
        "the app answered HTTP 500",
    ] {
        assert!(
            failed.contains(expected),
            "the execution page lacks `{expected}`:\n{failed}"
        );
    }
    let reconciled = visit(
        client,
        &base,
        &format!("/executions/{}", seeded.timed_out),
        "6-execution-reconciled",
        &axe,
    )
    .await;
    assert!(
        reconciled.contains("timed out") && reconciled.contains("Reconciled"),
        "{reconciled}"
    );

    let hr = visit(client, &base, "/apps/hr", "7-app-without-record", &axe).await;
    assert!(
        hr.contains("no app record") && hr.contains("paused"),
        "{hr}"
    );
    visit(client, &base, "/apps/hr/jobs/sync", "8-job-paused", &axe).await;

    let _ = browser.client.close().await;
    drop(browser.driver);
    let logs = admin.stop().await;
    assert!(
        logs.iter().all(|l| !l.contains(TOKEN)),
        "a log line carries the token: {logs:?}"
    );
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// The session cookie the login link sets (name=value).
pub(crate) async fn sign_in(client: &reqwest::Client, base: &str) -> String {
    let answer = client
        .get(format!("{base}/login?token={TOKEN}"))
        .send()
        .await
        .expect("login");
    assert_eq!(answer.status(), 303);
    let cookie = answer
        .headers()
        .get("set-cookie")
        .expect("a cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            cookie.contains(attribute),
            "the cookie lacks {attribute}: {cookie}"
        );
    }
    assert!(
        !cookie.contains(TOKEN),
        "the cookie carries the token itself"
    );
    cookie.split(';').next().expect("name=value").to_owned()
}

/// The CSRF token in a page's POST forms (every form carries the same one).
pub(crate) fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a form with the CSRF field") + marker.len();
    let token = &page[start..];
    let token = &token[..token.find('"').expect("the value's end")];
    assert!(token.len() >= 32, "a short CSRF token: {token}");
    token.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_refuses_no_token_a_foreign_host_a_foreign_origin_and_posts_when_read_only() {
    let dir = temp_dir("refusals");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &[]).await;
    let client = http();
    let base = &admin.base;

    // No token, a wrong token: the sign-in page, nothing of the store.
    for path in [
        "/",
        "/apps/billing",
        "/apps/billing/jobs/invoices",
        &format!("/executions/{}", seeded.failed),
        "/nowhere",
    ] {
        let answer = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("get");
        assert_eq!(answer.status(), 401, "{path} without a session");
        let body = answer.text().await.expect("body");
        assert!(
            body.contains("Sign in") && !body.contains("invoices"),
            "{path}: {body}"
        );
    }
    let wrong = client
        .get(format!("{base}/login?token=not-the-token-at-all"))
        .send()
        .await
        .expect("get");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    let cookie = sign_in(&client, base).await;
    let page = client
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    let body = page.text().await.expect("body");
    assert!(!body.contains(TOKEN));
    let csrf = csrf_of(&body);
    assert!(!csrf.contains(TOKEN) && !cookie.contains(&csrf));

    // A foreign Host (DNS rebinding): refused, even with the session.
    let foreign = client
        .get(format!("{base}/"))
        .header("host", "attacker.example:8710")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(foreign.status(), 421);
    assert!(!foreign.text().await.expect("body").contains("invoices"));
    // localhost is a loopback name: accepted.
    let port = base.rsplit(':').next().expect("port");
    let local = client
        .get(format!("{base}/"))
        .header("host", format!("localhost:{port}"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(local.status(), 200);

    // A POST from a foreign Origin, or with none: refused; from the admin's own: accepted.
    for origin in [Some("http://attacker.example"), Some("null"), None] {
        let mut request = client
            .post(format!("{base}/logout"))
            .header("cookie", &cookie);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let answer = request.send().await.expect("post");
        assert_eq!(answer.status(), 403, "a POST from origin {origin:?}");
        assert!(answer.headers().get("set-cookie").is_none());
    }
    // From the admin's own origin with the session, but without this session's CSRF token
    // (none, a wrong one, a form that is not one): refused, the session kept.
    for form in [
        None,
        Some("csrf=0123456789abcdef0123456789abcdef".to_owned()),
        Some("csrf=".to_owned()),
        Some(format!("other={csrf}")),
    ] {
        let mut request = client
            .post(format!("{base}/logout"))
            .header("cookie", &cookie)
            .header("origin", base.as_str());
        if let Some(form) = &form {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone());
        }
        let answer = request.send().await.expect("post");
        assert_eq!(answer.status(), 403, "a POST with form {form:?}");
        assert!(answer.headers().get("set-cookie").is_none());
        assert!(
            answer.text().await.expect("body").contains("CSRF token"),
            "the refusal says why"
        );
    }
    let own = client
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .header("origin", base.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .expect("post");
    assert_eq!(
        own.status(),
        303,
        "a POST from the admin's own origin with the token"
    );
    admin.stop().await;

    // --read-only: every POST refused, even from the admin's own origin, but sign-out's,
    // which still needs the session's token.
    let admin = Admin::start(&seeded.db, &["--read-only"]).await;
    let base = &admin.base;
    let cookie = sign_in(&client, base).await;
    let post = client
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .header("origin", base.as_str())
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 403, "sign-out without the session's token");
    let action = client
        .post(format!("{base}/apps/billing/jobs/invoices/pause"))
        .header("cookie", &cookie)
        .header("origin", base.as_str())
        .send()
        .await
        .expect("post");
    assert_eq!(action.status(), 405, "an action under --read-only");
    let job = page_text(&client, base, &cookie, "/apps/billing/jobs/invoices").await;
    for button in ["Pause", "Resume", "Run now", "Delete"] {
        assert!(
            !job.contains(&format!(">{button}")),
            "a read-only job page offers {button}"
        );
    }
    for button in ["Edit…", "New job…", "Edit app…", "Delete app…", "New app…"] {
        for page in ["/", "/apps/billing", "/apps/billing/jobs/invoices"] {
            let body = page_text(&client, base, &cookie, page).await;
            assert!(
                !body.contains(&format!(">{button}<")),
                "a read-only {page} offers {button}"
            );
        }
    }
    for form in [
        "/new-app",
        "/apps/billing/edit",
        "/apps/billing/new-job",
        "/apps/billing/jobs/invoices/edit",
        "/apps/billing/delete",
    ] {
        let shown = client
            .get(format!("{base}{form}"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get");
        assert_eq!(shown.status(), 403, "the form {form} under --read-only");
        let posted = client
            .post(format!("{base}{form}"))
            .header("cookie", &cookie)
            .header("origin", base.as_str())
            .send()
            .await
            .expect("post");
        assert_eq!(posted.status(), 405, "a POST to {form} under --read-only");
    }
    let confirm = client
        .get(format!("{base}/apps/billing/jobs/invoices/delete"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(
        confirm.status(),
        403,
        "the delete question under --read-only"
    );
    assert_eq!(
        actions(&confirm.text().await.expect("body")),
        Vec::<String>::new(),
        "a read-only confirmation page offers a delete"
    );
    let page = client
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    let body = page.text().await.expect("body");
    assert!(body.contains("read-only"), "the page says read-only");
    assert_eq!(
        actions(&body),
        Vec::<String>::new(),
        "a read-only page offers no action"
    );
    admin.stop().await;
}

/// The actions a page offers: the targets of its POST forms, but sign-out's (which changes
/// nothing in the store, and is offered under --read-only too).
fn actions(page: &str) -> Vec<String> {
    page.split("<form method=\"post\" action=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|action| *action != "/logout")
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_refuses_a_malformed_host_even_when_it_starts_with_an_allowed_name() {
    let dir = temp_dir("host");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &[]).await;
    let client = http();
    let base = &admin.base;
    let cookie = sign_in(&client, base).await;
    let port = base.rsplit(':').next().expect("port");

    // Each is refused with 421, the session notwithstanding.
    for host in [
        format!("[::1].attacker.com:{port}"),
        "[::1].attacker.com".to_owned(),
        format!("[::1]x:{port}"),
        "localhost:".to_owned(),
        "localhost:http".to_owned(),
        format!("localhost:{port}:{port}"),
        "localhost:99999".to_owned(),
        format!("127.0.0.1.attacker.com:{port}"),
        format!("localhost@attacker.com:{port}"),
        "[::1".to_owned(),
    ] {
        let answer = client
            .get(format!("{base}/"))
            .header("host", &host)
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get");
        assert_eq!(answer.status(), 421, "Host: {host}");
        assert!(
            !answer.text().await.expect("body").contains("invoices"),
            "Host {host} was shown the store"
        );
    }
    // The loopback names, with the port, without it, in any case: accepted.
    for host in [
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
    ] {
        let answer = client
            .get(format!("{base}/"))
            .header("host", &host)
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get");
        assert_eq!(answer.status(), 200, "Host: {host}");
    }
    admin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_only_the_admins_own_assets_are_served_and_no_csrf_token() {
    let dir = temp_dir("assets");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &[]).await;
    let client = http();
    let base = &admin.base;
    let cookie = sign_in(&client, base).await;
    let csrf = csrf_of(&page_text(&client, base, &cookie, "/").await);

    // The stylesheet and the script: served to anyone (the sign-in page uses them).
    for (path, kind) in [
        ("/assets/admin.css", "text/css"),
        ("/assets/admin.js", "javascript"),
    ] {
        let answer = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("get");
        assert_eq!(answer.status(), 200, "{path}");
        let content_type = answer.headers()["content-type"].to_str().expect("ascii");
        assert!(content_type.contains(kind), "{path}: {content_type}");
    }
    // Any other path under /assets/, or another method: the sign-in page, no CSRF token.
    for path in [
        "/assets/",
        "/assets/nothing.css",
        "/assets/admin.css/x",
        "/assets/admin.css.map",
    ] {
        let answer = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("get");
        assert_eq!(answer.status(), 401, "{path} without a session");
        let body = answer.text().await.expect("body");
        assert!(body.contains("Sign in"), "{path}: {body}");
        assert!(!body.contains(&csrf), "{path} shows the CSRF token: {body}");
    }
    let posted = client
        .post(format!("{base}/assets/admin.css"))
        .header("origin", base.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("x=1")
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), 401, "a POST to an asset without a session");
    let body = posted.text().await.expect("body");
    assert!(body.contains("Sign in") && !body.contains(&csrf), "{body}");
    admin.stop().await;
}

/// Whether `cookie` is still a session: `/` answers the overview, not the sign-in page.
async fn signed_in(client: &reqwest::Client, base: &str, cookie: &str) -> bool {
    let answer = client
        .get(format!("{base}/"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("get");
    let status = answer.status();
    let body = answer.text().await.expect("body");
    match status.as_u16() {
        200 if body.contains("invoices") => true,
        401 if body.contains("Sign in") && !body.contains("invoices") => false,
        _ => panic!("neither the overview nor the sign-in page ({status}): {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sign_in_is_its_own_session_with_its_own_csrf_token_and_sign_out_ends_it() {
    let dir = temp_dir("sessions");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &[]).await;
    let client = http();
    let base = &admin.base;

    // Two sign-ins (two browsers): two sessions, two CSRF tokens.
    let first = sign_in(&client, base).await;
    let second = sign_in(&client, base).await;
    // (assert!, not assert_ne!: a failure must not print a session or a token)
    assert!(first != second, "two sign-ins share a session cookie");
    let first_csrf = csrf_of(&page_text(&client, base, &first, "/").await);
    let second_csrf = csrf_of(&page_text(&client, base, &second, "/").await);
    assert!(first_csrf != second_csrf, "two sessions share a CSRF token");
    assert!(
        first_csrf == csrf_of(&page_text(&client, base, &first, "/apps/billing").await),
        "a session's pages carry one CSRF token"
    );

    // One session's token does not serve the other: refused, nothing changed.
    let crossed = post_form(
        &client,
        base,
        &first,
        "/apps/billing/jobs/invoices/pause",
        &[("csrf", second_csrf.clone())],
    )
    .await;
    assert_eq!(crossed.status(), 403, "a POST with another session's token");
    let ops = Ops::new(
        StoreSpec::from_setting(Some(&format!("sqlite:{}", seeded.db.display()))).expect("store"),
    );
    assert!(
        enabled(&ops, "billing", "invoices").await,
        "the job was paused"
    );

    // Signing out ends that session on the server: its cookie, replayed, gets the sign-in
    // page, even for an action with its own token. The other session goes on.
    let out = post_form(
        &client,
        base,
        &first,
        "/logout",
        &[("csrf", first_csrf.clone())],
    )
    .await;
    assert_eq!(out.status(), 303);
    assert!(
        !signed_in(&client, base, &first).await,
        "the cookie still works after sign-out"
    );
    let replayed = post_form(
        &client,
        base,
        &first,
        "/apps/billing/jobs/invoices/pause",
        &[("csrf", first_csrf.clone())],
    )
    .await;
    assert_eq!(replayed.status(), 401, "an action with a signed-out cookie");
    assert!(
        enabled(&ops, "billing", "invoices").await,
        "the job was paused"
    );
    assert!(
        signed_in(&client, base, &second).await,
        "sign-out ended the other session"
    );

    let stderr = admin.stop().await.join("\n");
    for secret in [&first, &second, &first_csrf, &second_csrf] {
        let value = secret.rsplit('=').next().expect("a value");
        assert!(!stderr.contains(value), "a secret in the log:\n{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_idle_past_its_expiry_ends_and_the_status_polling_does_not_keep_it() {
    let dir = temp_dir("idle");
    let seeded = seed(&dir).await;
    // An idle expiry of 3 s instead of 12 h (a hidden setting, for this test).
    let admin = Admin::start_with(&seeded.db, &[], &[("PSU_SCHED_UI_SESSION_IDLE", "3")]).await;
    let client = http();
    let base = &admin.base;
    let polling = sign_in(&client, base).await;
    let browsing = sign_in(&client, base).await;

    // For 5 s, one session only polls an execution's status (as a running execution's page
    // does), the other opens a page, each every 250 ms.
    let status = format!("{base}/executions/{}/status", seeded.failed);
    let started = std::time::Instant::now();
    let mut polled = 0;
    while started.elapsed() < Duration::from_secs(5) {
        let answer = client
            .get(&status)
            .header("cookie", &polling)
            .send()
            .await
            .expect("get");
        if answer.status() == 200 {
            polled += 1;
        }
        assert!(
            signed_in(&client, base, &browsing).await,
            "a session in use expired after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(polled > 0, "the status was never answered");
    assert!(
        !signed_in(&client, base, &polling).await,
        "a session that only polled for 5 s outlived its 3 s idle expiry"
    );
    let after = client
        .get(&status)
        .header("cookie", &polling)
        .send()
        .await
        .expect("get");
    assert_eq!(after.status(), 401, "the polling after the session ended");
    admin.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_will_not_listen_beyond_loopback_without_tls_or_behind_proxy() {
    let dir = temp_dir("listen");
    let db = dir.join("jobs.db");
    for listen in ["0.0.0.0:0", "192.0.2.10:8710"] {
        let out = std::process::Command::new(binary())
            .args([
                "--store",
                &format!("sqlite:{}", db.display()),
                "ui",
                "--listen",
                listen,
            ])
            .env_remove("PSU_SCHED_STORE")
            .env_remove("PSU_SCHED_TABLE")
            .output()
            .expect("run psu-sched ui");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{listen}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with("psu-sched: listen: ")
                && stderr.contains("--behind-proxy")
                && stderr.contains("--tls-cert"),
            "{stderr}"
        );
    }
    // A token file too short is refused, naming the flag.
    let short = dir.join("short");
    std::fs::write(&short, "abc").expect("write");
    let out = std::process::Command::new(binary())
        .args([
            "--store",
            &format!("sqlite:{}", db.display()),
            "ui",
            "--token-file",
        ])
        .arg(&short)
        .env_remove("PSU_SCHED_STORE")
        .output()
        .expect("run psu-sched ui");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("psu-sched: token-file: "));

    // Without --token-file: a generated token, shown once in the login link, works.
    let seeded = seed(&dir).await;
    let port = free_port();
    let mut child = Command::new(binary())
        .args([
            "--store",
            &format!("sqlite:{}", seeded.db.display()),
            "ui",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env_remove("PSU_SCHED_STORE")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start psu-sched ui");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let line = lines
        .next_line()
        .await
        .expect("read")
        .expect("a login line");
    let link = line
        .split("admin at ")
        .nth(1)
        .expect("the login link")
        .to_owned();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/login?token=")),
        "{line}"
    );
    wait_for_port(port).await;
    let answer = http().get(&link).send().await.expect("login");
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/");
    let _ = child.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_ui_runs_the_scheduler_and_the_admin_in_one_process_and_stops_on_sigterm() {
    let dir = temp_dir("serve-ui");
    let seeded = seed(&dir).await;
    // Nothing may come due while it runs: the seeded URLs are not on loopback.
    let ops = Ops::new(
        StoreSpec::from_setting(Some(&format!("sqlite:{}", seeded.db.display())))
            .expect("store spec"),
    );
    for name in ["invoices", "dst-sundays", "reports"] {
        ops.pause(
            &JobKey::parse("billing", name).expect("key"),
            None,
            Utc::now(),
        )
        .await
        .expect("pause");
    }
    let token_file = dir.join("token");
    std::fs::write(&token_file, TOKEN).expect("write the token file");
    let port = free_port();
    let mut serve = Command::new(binary())
        .args([
            "--store",
            &format!("sqlite:{}", seeded.db.display()),
            "serve",
            "--ui",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--token-file")
        .arg(&token_file)
        .env("PSU_SCHED_SIGNING_SECRET", "serve-ui-secret")
        .env_remove("PSU_SCHED_STORE")
        .env_remove("PSU_SCHED_TABLE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start psu-sched serve --ui");
    wait_for_port(port).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = http();
    let cookie = sign_in(&client, &base).await;
    let page = client
        .get(format!("{base}/apps/billing"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("body").contains("invoices"));

    let pid = serve.id().expect("pid");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(20), serve.wait())
        .await
        .expect("serve --ui stops within 20 s of SIGTERM")
        .expect("wait");
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut serve.stderr.take().expect("stderr"), &mut stderr)
        .await
        .expect("read stderr");
    assert!(
        status.success(),
        "serve --ui exits 0 on SIGTERM: {status:?}\n{stderr}"
    );
    assert!(stderr.contains("admin at http://127.0.0.1:"), "{stderr}");
    assert!(
        !stderr.contains(TOKEN),
        "stderr carries the token: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_the_admin_listens_beyond_loopback_serves_only_https_and_sets_a_secure_cookie() {
    let dir = temp_dir("tls");
    let seeded = seed(&dir).await;
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a self-signed certificate");
    let (cert_file, key_file, token_file) =
        (dir.join("cert.pem"), dir.join("key.pem"), dir.join("token"));
    std::fs::write(&cert_file, cert.pem()).expect("write the certificate");
    std::fs::write(&key_file, signing_key.serialize_pem()).expect("write the key");
    std::fs::write(&token_file, TOKEN).expect("write the token");
    let port = free_port();
    // Every interface is accepted with TLS; the test still connects to loopback only.
    let mut child = Command::new(binary())
        .args([
            "--store",
            &format!("sqlite:{}", seeded.db.display()),
            "ui",
            "--listen",
            &format!("0.0.0.0:{port}"),
        ])
        .arg("--tls-cert")
        .arg(&cert_file)
        .arg("--tls-key")
        .arg(&key_file)
        .arg("--token-file")
        .arg(&token_file)
        .env_remove("PSU_SCHED_STORE")
        .env_remove("PSU_SCHED_TABLE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start psu-sched ui");
    wait_for_port(port).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert.pem().as_bytes()).expect("the certificate"),
        )
        .build()
        .expect("HTTPS client");
    let base = format!("https://127.0.0.1:{port}");
    let login = client
        .get(format!("{base}/login?token={TOKEN}"))
        .send()
        .await
        .expect("login over HTTPS");
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let overview = client
        .get(format!("{base}/"))
        .header("cookie", cookie.split(';').next().expect("name=value"))
        .send()
        .await
        .expect("the overview over HTTPS");
    assert_eq!(overview.status(), 200);
    assert!(overview.text().await.expect("body").contains("billing"));
    // Plain HTTP on the same port gets no page.
    let plain = http()
        .get(format!("http://127.0.0.1:{port}/login"))
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP was answered: {plain:?}"
    );
    let _ = child.kill().await;
}

/// Clicks the button labelled `label` and waits for the page it leads to.
pub(crate) async fn click(client: &Client, label: &str) {
    // Mark the page: the form's answer is a new document without the mark. Its URL may be
    // the same (a job's actions come back to the job's page), so the URL cannot tell.
    client
        .execute("window.psuSchedOldPage = true;", vec![])
        .await
        .expect("mark the page");
    client
        .find(Locator::XPath(&format!(
            "//button[normalize-space()='{label}' and not(@hidden)]"
        )))
        .await
        .unwrap_or_else(|e| panic!("no button {label}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {label}: {e}"));
    wait_for_new_page(client, label).await;
}

/// Presses Enter in the input `css` and waits for the page the form leads to.
async fn press_enter(client: &Client, css: &str) {
    client
        .execute("window.psuSchedOldPage = true;", vec![])
        .await
        .expect("mark the page");
    let enter: char = fantoccini::key::Key::Enter.into();
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no input `{css}`: {e}"))
        .send_keys(&enter.to_string())
        .await
        .expect("press Enter");
    wait_for_new_page(client, &format!("Enter in {css}")).await;
}

/// Waits until the page marked before an action is replaced by a new, loaded one.
async fn wait_for_new_page(client: &Client, label: &str) {
    for _ in 0..200 {
        let loaded = client
            .execute(
                "return window.psuSchedOldPage === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await;
        // A script may fail while the old page unloads: try again.
        if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page after clicking {label} did not load within 10 s");
}

/// Whether the job is enabled, read from the store.
async fn enabled(ops: &Ops, app: &str, name: &str) -> bool {
    let key = JobKey::parse(app, name).expect("key");
    ops.show(&key, 0).await.expect("the job").0.enabled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_page_pauses_resumes_runs_now_and_deletes_after_asking_with_a_csrf_token() {
    let axe = axe_source();
    let dir = temp_dir("actions");
    let seeded = seed(&dir).await;
    let server = JobServer::start().await;
    server.set(
        "/jobs/ping",
        Behavior::Ok("pong from the job server".to_owned()),
    );
    let ops = Ops::new(
        StoreSpec::from_setting(Some(&format!("sqlite:{}", seeded.db.display())))
            .expect("store spec"),
    );
    let now = Utc::now();
    // An app without a record: ping calls the job server; keep stays, so the app's page is
    // still there after ping is deleted.
    for name in ["ping", "keep"] {
        ops.create(
            &JobKey::parse("local", name).expect("key"),
            &JobInput {
                url: Some(server.url(&format!("/jobs/{name}"))),
                schedule: ScheduleForm {
                    cron: Some("0 3 * * *".into()),
                    ..Default::default()
                },
                timezone: Some("UTC".into()),
                ..Default::default()
            },
            now,
        )
        .await
        .expect("create a job in local");
    }
    let admin = Admin::start(&seeded.db, &[]).await;
    let base = admin.base.clone();

    // A POST with the session and the right Origin but no CSRF token changes nothing.
    let http = http();
    let cookie = sign_in(&http, &base).await;
    for action in ["pause", "run", "delete"] {
        let answer = http
            .post(format!("{base}/apps/local/jobs/ping/{action}"))
            .header("cookie", &cookie)
            .header("origin", base.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .body("confirm=yes")
            .send()
            .await
            .expect("post");
        assert_eq!(answer.status(), 403, "{action} without the CSRF token");
    }
    assert!(enabled(&ops, "local", "ping").await, "the job was paused");
    assert_eq!(server.count("/jobs/ping"), 0, "the job was called");

    let browser = Browser::start().await;
    let client = &browser.client;
    client
        .goto(&format!("{base}/login?token={TOKEN}"))
        .await
        .expect("open the login link");
    let job = "/apps/local/jobs/ping";
    let page = visit(client, &base, job, "a1-job-actions", &axe).await;
    assert!(page.contains("Pause") && !page.contains("Resume"), "{page}");
    // A UTC job's next runs are one column: no UTC copy, no offset.
    let headers = client
        .find_all(Locator::Css("table[aria-labelledby='next'] th"))
        .await
        .expect("the next runs' headers");
    assert_eq!(headers.len(), 1, "the next runs of a UTC job");

    click(client, "Pause").await;
    assert_eq!(
        client.current_url().await.expect("url").path(),
        job,
        "{}",
        client.source().await.unwrap_or_default()
    );
    let page = text_of(client, "main").await;
    assert!(
        page.contains("the job is paused") && page.contains("Resume"),
        "{page}"
    );
    assert!(!enabled(&ops, "local", "ping").await);

    click(client, "Resume").await;
    assert_eq!(client.current_url().await.expect("url").path(), job);
    let page = text_of(client, "main").await;
    assert!(
        !page.contains("the job is paused") && page.contains("Pause"),
        "{page}"
    );
    assert!(enabled(&ops, "local", "ping").await);

    click(client, "Run now").await;
    let url = client.current_url().await.expect("url");
    assert!(url.path().starts_with("/executions/"), "{url}");
    wait_for_text(client, "main", "succeeded").await;
    let page = visit(client, &base, url.path(), "a2-run-now", &axe).await;
    assert!(
        page.contains("pong from the job server") && page.contains("succeeded"),
        "{page}"
    );
    assert_eq!(server.count("/jobs/ping"), 1);

    client
        .goto(&format!("{base}{job}"))
        .await
        .expect("open the job");
    click(client, "Delete…").await;
    let page = visit(client, &base, &format!("{job}/delete"), "a3-confirm", &axe).await;
    assert!(page.contains("Delete local/ping?"), "{page}");
    assert!(
        enabled(&ops, "local", "ping").await,
        "deleted before confirming"
    );
    click(client, "Delete local/ping").await;
    let url = client.current_url().await.expect("url");
    assert_eq!(url.path(), "/apps/local");
    let page = visit(
        client,
        &base,
        &format!("/apps/local?{}", url.query().unwrap_or("")),
        "a4-deleted",
        &axe,
    )
    .await;
    assert!(page.contains("Deleted job local/ping."), "{page}");
    assert!(
        client
            .find(Locator::Css("a[href='/apps/local/jobs/ping']"))
            .await
            .is_err(),
        "the app's page still links to the deleted job"
    );
    assert!(
        ops.show(&JobKey::parse("local", "ping").expect("key"), 0)
            .await
            .is_err(),
        "the job is still in the store"
    );

    // An error from the operations layer: one line on the page, nothing written.
    let page = page_text(&http, &base, &cookie, "/apps/local/jobs/keep").await;
    let answer = http
        .post(format!("{base}/apps/local/jobs/ping/pause"))
        .header("cookie", &cookie)
        .header("origin", base.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", csrf_of(&page)))
        .send()
        .await
        .expect("post");
    assert_eq!(answer.status(), 404, "pausing a deleted job");
    let body = answer.text().await.expect("body");
    assert!(body.contains("no job named local/ping"), "{body}");

    // Sign-out is a POST form with the token too: it ends the session.
    click(client, "Sign out").await;
    let page = visit(client, &base, "/", "a5-signed-out", &axe).await;
    assert!(page.contains("Sign in"), "{page}");
    let _ = browser.client.close().await;
    admin.stop().await;
}

/// A form body, `application/x-www-form-urlencoded`, as a browser sends it.
fn urlencoded<K: AsRef<str>>(pairs: &[(K, String)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k.as_ref()), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A job's form fields as a browser posts them, each name after `prefix`.
fn form_pairs(prefix: &str, input: &JobInput) -> Vec<(String, String)> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let named = |name: &str| format!("{prefix}{name}");
    vec![
        (named("url"), text(&input.url)),
        (named("path"), text(&input.path)),
        (named("method"), text(&input.method)),
        (named("schedule"), text(&input.schedule.cron)),
        (named("timezone"), text(&input.timezone)),
        (named("start"), text(&input.start)),
        (named("end"), text(&input.end)),
        (named("timeout"), text(&input.timeout)),
        (named("retries"), text(&input.retries)),
        (named("max_lateness"), text(&input.max_lateness)),
        (
            named("overlap"),
            shared::ops::overlap_name(input.overlap.unwrap_or_default()).to_owned(),
        ),
        (named("description"), text(&input.description)),
    ]
}

/// GETs a page with the session; its body.
async fn page_text(http: &reqwest::Client, base: &str, cookie: &str, path: &str) -> String {
    http.get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body")
}

/// POSTs a form as the admin's own page does: with the session, its Origin, urlencoded.
pub(crate) async fn post_form<K: AsRef<str>>(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
    pairs: &[(K, String)],
) -> reqwest::Response {
    http.post(format!("{base}{path}"))
        .header("cookie", cookie)
        .header("origin", base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencoded(pairs))
        .send()
        .await
        .expect("post")
}

/// Types `text` into the input `css`, replacing what it held.
pub(crate) async fn fill(client: &Client, css: &str, text: &str) {
    let input = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no input `{css}`: {e}"));
    input.clear().await.expect("clear the input");
    input.send_keys(text).await.expect("type into the input");
}

/// The value an input holds now.
async fn value_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no input `{css}`: {e}"))
        .prop("value")
        .await
        .expect("its value")
        .unwrap_or_default()
}

/// Waits until the element `css` holds `needle` (a page that updates itself); its text.
async fn wait_for_text(client: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text.contains(needle) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("`{css}` did not come to hold `{needle}` within 10 s; it holds:\n{last}");
}

/// The job, read from the store (`None`: there is none).
async fn stored(ops: &Ops, app: &str, name: &str) -> Option<shared::model::Job> {
    ops.show(&JobKey::parse(app, name).expect("key"), 0)
        .await
        .ok()
        .map(|(job, _)| job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_created_run_edited_paused_and_deleted_through_the_forms_and_bad_fields_are_shown_by_field()
 {
    let axe = axe_source();
    let dir = temp_dir("forms");
    let seeded = seed(&dir).await;
    let server = JobServer::start().await;
    // The call takes a while, so that its execution page is seen while it runs.
    server.set("/jobs/nightly", Behavior::Sleep(Duration::from_secs(4)));
    let ops = Ops::new(
        StoreSpec::from_setting(Some(&format!("sqlite:{}", seeded.db.display())))
            .expect("store spec"),
    );
    let admin = Admin::start(&seeded.db, &[]).await;
    let base = admin.base.clone();
    let browser = Browser::start().await;
    let client = &browser.client;
    client
        .goto(&format!("{base}/login?token={TOKEN}"))
        .await
        .expect("open the login link");

    // An app, through its form: first with three bad fields, then right.
    visit(client, &base, "/", "f0-overview", &axe).await;
    click(client, "New app…").await;
    visit(client, &base, "/new-app", "f1-new-app", &axe).await;
    fill(client, "#f-app", "Shop App").await;
    fill(client, "#f-base_url", "ftp://shop.example.edu").await;
    fill(client, "#f-budget", "99").await;
    click(client, "Create app").await;
    let summary = text_of(client, ".error-summary").await;
    assert!(
        summary.contains("3 problems: nothing was saved"),
        "{summary}"
    );
    assert!(
        text_of(client, "#f-base_url-error")
            .await
            .contains("scheme `ftp` is not accepted; use http or https")
    );
    assert!(
        text_of(client, "#f-budget-error")
            .await
            .contains("use a whole number of calls from 1 to 64")
    );
    assert!(
        text_of(client, "#f-app-error")
            .await
            .contains("`Shop App` is not valid")
    );
    assert_eq!(value_of(client, "#f-app").await, "Shop App");
    assert_eq!(value_of(client, "#f-budget").await, "99");
    assert!(ops.show_app("shop").await.is_err(), "an app was written");
    fill(client, "#f-app", "shop").await;
    fill(client, "#f-base_url", &server.url("")).await;
    fill(client, "#f-budget", "3").await;
    click(client, "Create app").await;
    assert_eq!(
        client.current_url().await.expect("url").path(),
        "/apps/shop"
    );
    let app = ops.show_app("shop").await.expect("the app record").app;
    assert_eq!(app.budget, 3);

    // A job: an invalid schedule and an out-of-range timeout are shown by their fields, the
    // typed values stay, and nothing is stored.
    click(client, "New job…").await;
    let form = visit(client, &base, "/apps/shop/new-job", "f2-new-job", &axe).await;
    assert!(
        form.contains("Type a schedule to see its next runs."),
        "{form}"
    );
    // The path's hint names the app's base URL.
    let hint = text_of(client, "#f-path-hint").await;
    assert!(
        hint.contains(&format!("127.0.0.1:{}", server.addr().port())),
        "{hint}"
    );
    fill(client, "#f-name", "nightly").await;
    fill(client, "#f-path", "/jobs/nightly").await;
    fill(client, "#f-timezone", "America/New_York").await;
    fill(client, "#f-schedule", "0 25 * * *").await;
    // The live preview reads the schedule as it is typed.
    wait_for_text(client, "#preview", "cron hour field `25`").await;
    fill(client, "#f-timeout", "20m").await;
    fill(client, "#f-description", "Sends <b>the</b> nightly report").await;
    click(client, "Create job").await;
    screenshot(client, "f3-new-job-errors").await;
    let violations = serious_violations(client, &axe).await;
    assert!(
        violations.is_empty(),
        "axe-core on the refused form:\n{}",
        violations.join("\n")
    );
    let summary = text_of(client, ".error-summary").await;
    assert!(
        summary.contains("2 problems: nothing was saved"),
        "{summary}"
    );
    assert!(
        text_of(client, "#f-schedule-error")
            .await
            .contains("cron hour field `25`: expected 0-23")
    );
    let timeout = text_of(client, "#f-timeout-error").await;
    assert!(
        timeout.ends_with(
            "`20m` is not accepted; use more than 0 and at most 14m (the Lambda's own limit is 15m)"
        ),
        "{timeout}"
    );
    for (input, typed) in [
        ("#f-name", "nightly"),
        ("#f-path", "/jobs/nightly"),
        ("#f-timezone", "America/New_York"),
        ("#f-schedule", "0 25 * * *"),
        ("#f-timeout", "20m"),
        ("#f-description", "Sends <b>the</b> nightly report"),
    ] {
        assert_eq!(
            value_of(client, input).await,
            typed,
            "{input} lost what was typed"
        );
    }
    let invalid = client
        .find(Locator::Css("#f-schedule"))
        .await
        .expect("the schedule input")
        .attr("aria-invalid")
        .await
        .expect("attr");
    assert_eq!(invalid.as_deref(), Some("true"));
    assert!(
        stored(&ops, "shop", "nightly").await.is_none(),
        "a job was written"
    );

    // Right this time: the preview reads it in words, then the job is created.
    fill(client, "#f-schedule", "0 9 * * mon-fri").await;
    let preview = wait_for_text(client, "#preview", "Next runs").await;
    assert!(
        preview.contains("Monday, Tuesday, Wednesday, Thursday, and Friday")
            && preview.contains("America/New_York")
            && preview.matches(" 09:00:00 E").count() == 5,
        "{preview}"
    );
    fill(client, "#f-timeout", "45s").await;
    // Enter in a field saves (the form's first, hidden, submit button), never previews.
    press_enter(client, "#f-timeout").await;
    let url = client.current_url().await.expect("url");
    assert_eq!(url.path(), "/apps/shop/jobs/nightly", "{url}");
    let page = visit(
        client,
        &base,
        "/apps/shop/jobs/nightly?created=1",
        "f4-created",
        &axe,
    )
    .await;
    assert!(
        page.contains("Created.") && page.contains("Sends <b>the</b> nightly report"),
        "{page}"
    );
    let job = stored(&ops, "shop", "nightly").await.expect("the job");
    assert_eq!(job.timeout_ms, 45_000);
    assert_eq!(job.timezone.name(), "America/New_York");
    assert_eq!(job.url.as_str(), server.url("/jobs/nightly"));
    // Listed on its app's page with its next run.
    let listing = visit(client, &base, "/apps/shop", "f5-listed", &axe).await;
    let next = job.state.next_slot.expect("a next run");
    assert!(listing.contains("nightly"), "{listing}");
    // The next run column is in UTC: relative, with the exact instant in its title.
    let cell = client
        .find(Locator::Css(&format!(
            "time[datetime='{}']",
            next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )))
        .await
        .expect("the next run's <time>");
    assert_eq!(
        cell.attr("title").await.expect("title"),
        Some(next.format("%Y-%m-%d %H:%M:%S UTC").to_string())
    );

    // Run now: the execution's page comes at once, while the call runs, and updates itself
    // when it ends.
    client
        .goto(&format!("{base}/apps/shop/jobs/nightly"))
        .await
        .expect("open the job");
    click(client, "Run now").await;
    let url = client.current_url().await.expect("url");
    assert!(url.path().starts_with("/executions/"), "{url}");
    let running = text_of(client, "main").await;
    assert!(running.contains("The run has not ended yet"), "{running}");
    screenshot(client, "f6-running").await;
    wait_for_text(client, "main", "succeeded").await;
    let http_status = client
        .find(Locator::XPath(
            "//dt[normalize-space()='HTTP status']/following-sibling::dd[1]",
        ))
        .await
        .expect("the HTTP status")
        .text()
        .await
        .expect("its text");
    assert_eq!(http_status, "200");
    assert_eq!(text_of(client, "pre.output").await, "ok");
    assert_eq!(server.count("/jobs/nightly"), 1, "one call per run");
    visit(client, &base, url.path(), "f7-ran", &axe).await;

    // Edit: the form holds the job's settings; a new schedule is saved, nothing else.
    client
        .goto(&format!("{base}/apps/shop/jobs/nightly"))
        .await
        .expect("open the job");
    click(client, "Edit…").await;
    visit(
        client,
        &base,
        "/apps/shop/jobs/nightly/edit",
        "f8-edit",
        &axe,
    )
    .await;
    assert_eq!(value_of(client, "#f-schedule").await, "0 9 * * MON-FRI");
    assert_eq!(value_of(client, "#f-timeout").await, "45s");
    assert_eq!(value_of(client, "#f-path").await, "/jobs/nightly");
    assert!(text_of(client, "#preview").await.contains("Next runs"));
    fill(client, "#f-schedule", "every 15m between 08:00-17:00").await;
    click(client, "Save changes").await;
    let page = text_of(client, "main").await;
    assert!(page.contains("Saved. Changed: schedule."), "{page}");
    let edited = stored(&ops, "shop", "nightly").await.expect("the job");
    assert_eq!(edited.schedule.to_string(), "every 15m between 08:00-17:00");
    assert_eq!(
        (edited.timeout_ms, edited.id.clone()),
        (45_000, job.id.clone())
    );

    // Pause and resume.
    click(client, "Pause").await;
    assert!(text_of(client, "main").await.contains("the job is paused"));
    assert!(!enabled(&ops, "shop", "nightly").await);
    click(client, "Resume").await;
    assert!(enabled(&ops, "shop", "nightly").await);

    // A change made elsewhere while the form is open is kept: the form writes only the
    // field it changed.
    let nightly = JobKey::parse("shop", "nightly").expect("key");
    let elsewhere = |input: JobInput| {
        let ops = &ops;
        let nightly = &nightly;
        async move {
            ops.update(nightly, &input, Utc::now())
                .await
                .expect("a change from elsewhere");
        }
    };
    click(client, "Edit…").await;
    fill(client, "#f-retries", "2").await;
    elsewhere(JobInput {
        description: Some("changed from the CLI".into()),
        ..Default::default()
    })
    .await;
    click(client, "Save changes").await;
    let page = text_of(client, "main").await;
    assert!(page.contains("Saved. Changed: retries."), "{page}");
    let merged = stored(&ops, "shop", "nightly").await.expect("the job");
    assert_eq!(
        (merged.retries, merged.description.as_str()),
        (2, "changed from the CLI")
    );

    // The same field changed elsewhere to another value: refused, nothing written, the form
    // back with the job as it is now and the person's value where they typed; saved again,
    // knowingly, it goes through.
    click(client, "Edit…").await;
    fill(client, "#f-timeout", "50s").await;
    elsewhere(JobInput {
        timeout: Some("40s".into()),
        ..Default::default()
    })
    .await;
    click(client, "Save changes").await;
    let refused = text_of(client, ".error-summary").await;
    assert!(
        refused.contains("1 problem: nothing was saved")
            && refused.contains("Someone changed this job at")
            && refused.contains(
                "Timeout: changed to `40s` after you opened this form; saving again writes yours, `50s`"
            ),
        "{refused}"
    );
    assert!(
        text_of(client, "#f-timeout-error")
            .await
            .contains("changed to `40s`")
    );
    screenshot(client, "f8b-edit-conflict").await;
    let violations = serious_violations(client, &axe).await;
    assert!(
        violations.is_empty(),
        "axe-core on the conflict:\n{}",
        violations.join("\n")
    );
    assert_eq!(value_of(client, "#f-timeout").await, "50s");
    assert_eq!(
        value_of(client, "#f-description").await,
        "changed from the CLI"
    );
    assert_eq!(
        stored(&ops, "shop", "nightly")
            .await
            .expect("the job")
            .timeout_ms,
        40_000
    );
    click(client, "Save changes").await;
    let page = text_of(client, "main").await;
    assert!(page.contains("Saved. Changed: timeout."), "{page}");
    let saved = stored(&ops, "shop", "nightly").await.expect("the job");
    assert_eq!(
        (saved.timeout_ms, saved.retries, saved.description.as_str()),
        (50_000, 2, "changed from the CLI")
    );

    // Delete after confirming.
    click(client, "Delete…").await;
    click(client, "Delete shop/nightly").await;
    assert!(
        text_of(client, "main")
            .await
            .contains("Deleted job shop/nightly.")
    );
    assert!(stored(&ops, "shop", "nightly").await.is_none());

    // Edit the app: its budget.
    click(client, "Edit app…").await;
    visit(client, &base, "/apps/shop/edit", "f9-edit-app", &axe).await;
    fill(client, "#f-budget", "0").await;
    click(client, "Save changes").await;
    assert!(
        text_of(client, "#f-budget-error")
            .await
            .contains("from 1 to 64")
    );
    assert_eq!(ops.show_app("shop").await.expect("app").app.budget, 3);
    fill(client, "#f-budget", "5").await;
    click(client, "Save changes").await;
    assert!(text_of(client, "main").await.contains("Saved."));
    assert_eq!(ops.show_app("shop").await.expect("app").app.budget, 5);

    // Delete the app record, now without jobs, after confirming.
    click(client, "Delete app…").await;
    let page = visit(client, &base, "/apps/shop/delete", "f10-delete-app", &axe).await;
    assert!(page.contains("Delete app shop?"), "{page}");
    assert!(
        ops.show_app("shop").await.is_ok(),
        "deleted before confirming"
    );
    click(client, "Delete app shop").await;
    assert_eq!(client.current_url().await.expect("url").path(), "/");
    assert!(
        text_of(client, "main")
            .await
            .contains("Deleted the app record shop.")
    );
    assert!(
        ops.show_app("shop").await.is_err(),
        "the app record is still there"
    );
    let _ = browser.client.close().await;

    // Without script: the Preview button shows the same preview and writes nothing; a form
    // without the CSRF token is refused.
    let http = http();
    let cookie = sign_in(&http, &base).await;
    let page = page_text(&http, &base, &cookie, "/apps/shop/new-job").await;
    let csrf = csrf_of(&page);
    let form = |csrf: &str, action: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("name", "later".to_owned()),
            ("url", server.url("/jobs/later")),
            ("schedule", "at 08:00,13:30 on mon".to_owned()),
            ("timezone", "Europe/Berlin".to_owned()),
            ("action", action.to_owned()),
        ]
    };
    let preview = post_form(
        &http,
        &base,
        &cookie,
        "/apps/shop/new-job",
        &form(&csrf, "preview"),
    )
    .await;
    assert_eq!(preview.status(), 200);
    let body = preview.text().await.expect("body");
    assert!(
        body.contains("Next runs") && body.matches(" CET</li>").count() == 5,
        "{body}"
    );
    assert!(
        stored(&ops, "shop", "later").await.is_none(),
        "the preview wrote a job"
    );
    let forged = post_form(
        &http,
        &base,
        &cookie,
        "/apps/shop/new-job",
        &form("", "save"),
    )
    .await;
    assert_eq!(forged.status(), 403, "a form without the CSRF token");
    assert!(
        stored(&ops, "shop", "later").await.is_none(),
        "a forged form wrote a job"
    );
    let saved = post_form(
        &http,
        &base,
        &cookie,
        "/apps/shop/new-job",
        &form(&csrf, "save"),
    )
    .await;
    assert_eq!(saved.status(), 303);
    assert!(stored(&ops, "shop", "later").await.is_some());

    // A start typed while someone else moves the job to another zone: refused (409) on
    // the zone, which the page says the start would now be read in; nothing written.
    let later = stored(&ops, "shop", "later").await.expect("later");
    let mut pairs = vec![("csrf".to_owned(), csrf.clone())];
    pairs.extend(form_pairs("shown-", &JobInput::of(&later)));
    let mut typed = JobInput::of(&later);
    typed.start = Some("2030-01-01T08:00".into());
    pairs.extend(form_pairs("", &typed));
    ops.update(
        &JobKey::parse("shop", "later").expect("key"),
        &JobInput {
            timezone: Some("America/New_York".into()),
            ..Default::default()
        },
        Utc::now(),
    )
    .await
    .expect("a change from elsewhere");
    let refused = post_form(&http, &base, &cookie, "/apps/shop/jobs/later/edit", &pairs).await;
    assert_eq!(refused.status(), 409);
    let body = refused.text().await.expect("body");
    assert!(
        body.contains("changed to `America/New_York` after you opened this form: the schedule, start and end you typed are now read in it"),
        "{body}"
    );
    assert_eq!(
        stored(&ops, "shop", "later").await.expect("later").start,
        None
    );
    // The app's form over a change made meanwhile: a field changed by both is refused
    // with 409 and nothing written; the other field's change is kept.
    let billing = ops.app("billing").await.expect("billing");
    let shown = |budget: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("shown-base_url", billing.base_url.to_string()),
            ("shown-budget", budget.to_owned()),
            ("base_url", billing.base_url.to_string()),
        ]
    };
    ops.update_app(
        "billing",
        &AppInput {
            base_url: None,
            budget: Some("11".into()),
            timezone: None,
            ..AppInput::default()
        },
        Utc::now(),
    )
    .await
    .expect("a change from elsewhere");
    let mut typed = shown(&billing.budget.to_string());
    typed.push(("budget", "12".to_owned()));
    let refused = post_form(&http, &base, &cookie, "/apps/billing/edit", &typed).await;
    assert_eq!(refused.status(), 409);
    let body = refused.text().await.expect("body");
    assert!(
        body.contains(
            "changed to `11` after you opened this form; saving again writes yours, `12`"
        ),
        "{body}"
    );
    assert_eq!(ops.app("billing").await.expect("billing").budget, 11);

    // An app with jobs is not deleted: its question says so and offers no button; a POST
    // is refused with 409.
    let question = page_text(&http, &base, &cookie, "/apps/billing/delete").await;
    assert!(
        question.contains("The app still has") && !question.contains(">Delete app billing<"),
        "{question}"
    );
    let refused = post_form(
        &http,
        &base,
        &cookie,
        "/apps/billing/delete",
        &[("csrf", csrf.clone())],
    )
    .await;
    assert_eq!(refused.status(), 409);
    let body = refused.text().await.expect("body");
    assert!(body.contains("the app billing still has"), "{body}");
    assert!(ops.show_app("billing").await.is_ok());
    let stderr = admin.stop().await.join("\n");
    assert!(
        !stderr.contains(TOKEN) && !stderr.contains(&csrf),
        "a secret in the log:\n{stderr}"
    );
}

/// The status code of one raw HTTP/1.1 request `head` (its lines, without the blank line) to
/// the admin at `base`.
async fn raw_status(base: &str, head: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    stream
        .write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_host_headers_or_a_foreign_authority_in_the_target_are_refused() {
    let dir = temp_dir("host2");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &[]).await;
    let client = http();
    let base = &admin.base;
    let cookie = sign_in(&client, base).await;
    let ours = base.trim_start_matches("http://");
    let get = |target: &str, hosts: &[&str]| {
        let mut head = format!("GET {target} HTTP/1.1");
        for host in hosts {
            head.push_str(&format!("\r\nHost: {host}"));
        }
        head.push_str(&format!("\r\nCookie: {cookie}"));
        head
    };
    // Accepted: the admin's own address, as a path or in the target.
    assert_eq!(raw_status(base, &get("/", &[ours])).await, 200);
    assert_eq!(
        raw_status(base, &get(&format!("http://{ours}/"), &[ours])).await,
        200
    );
    // Refused: a second Host (in either order), a target naming another host (RFC 9112: the
    // target's authority is the one that counts), or credentials in it.
    for head in [
        get("/", &[ours, "attacker.example"]),
        get("/", &["attacker.example", ours]),
        get("http://attacker.example/", &[ours]),
        get(&format!("http://attacker.example@{ours}/"), &[ours]),
    ] {
        let status = raw_status(base, &head).await;
        assert!(status == 400 || status == 421, "{status} for:\n{head}");
    }
    admin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_read_only_a_session_can_still_sign_out() {
    let dir = temp_dir("ro-logout");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &["--read-only"]).await;
    let client = http();
    let base = &admin.base;
    let cookie = sign_in(&client, base).await;
    let page = client
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(page.contains("Sign out"), "a sign-out button: {page}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the session's CSRF token")
        .to_owned();
    let out = client
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .header("origin", base.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .expect("post");
    assert!(
        out.status().is_redirection() || out.status().is_success(),
        "{out:?}"
    );
    let after = client
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(after.status(), 401, "the session ended");
    admin.stop().await;
}

/// A malformed name in an address is no page: the same 404 and message as an unknown address,
/// nothing of what was typed echoed back (the review found a NUL byte and a 5,000-character
/// name written into the page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_name_in_an_address_is_no_page_and_is_not_echoed() {
    let dir = temp_dir("malformed");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &[]).await;
    let client = http();
    let base = &admin.base;
    let cookie = sign_in(&client, base).await;
    let long = "x".repeat(5000);
    for path in [
        "/apps/%00".to_owned(),
        "/apps/billing/jobs/%00".to_owned(),
        "/executions/%00".to_owned(),
        format!("/apps/{long}"),
        "/apps/%FF".to_owned(),
        "/no/such/page".to_owned(),
    ] {
        let answer = client
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get");
        assert_eq!(answer.status(), 404, "{path}");
        let body = answer.text().await.expect("body");
        assert!(
            body.contains("There is no page at this address."),
            "{path}: {body}"
        );
        assert!(
            !body.contains('\0') && !body.contains(&long) && !body.contains("is not valid"),
            "{path}: the page echoes what was typed"
        );
    }
    admin.stop().await;
}
