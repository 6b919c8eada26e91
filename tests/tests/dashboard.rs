//! The admin as the team's daily dashboard (issue 31): what happened comes before what is
//! planned, times read in one named zone per column, every page fits a phone's width, and the
//! overview shows each job's problems first.

use std::collections::BTreeMap;
use std::sync::Arc;

use fantoccini::Client;
use shared::model::{AppName, Job, JobName, JobUrl, NewJob};
use shared::ops::Ops;
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;

use crate::admin::{
    Admin, Browser, TOKEN, add, axe_source, click, csrf_of, http, screenshot, seed,
    serious_violations, sign_in, temp_dir,
};
use crate::helpers::jobserver::{Behavior, JobServer};
use crate::helpers::moto;

/// Where `needle` first appears in `page`, or a failure naming it.
fn at(page: &str, needle: &str) -> usize {
    page.find(needle)
        .unwrap_or_else(|| panic!("the page lacks `{needle}`:\n{page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_page_shows_its_latest_runs_and_punctuality_before_its_upcoming_runs() {
    let dir = temp_dir("job-order");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &[]).await;
    let client = http();
    let cookie = sign_in(&client, &admin.base).await;
    let page = client
        .get(format!("{}/apps/billing/jobs/invoices", admin.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("the job page")
        .text()
        .await
        .expect("its text");
    let timeline = at(&page, "<h2 id=\"timeline\">");
    let punctuality = at(&page, "<h2 id=\"punctuality\">");
    let recent = at(&page, "<h2 id=\"recent\">");
    let next = at(&page, "<h2 id=\"next\">");
    let settings = at(&page, "<h2>Settings</h2>");
    assert!(
        timeline < punctuality && punctuality < recent && recent < next && next < settings,
        "the order: timeline {timeline}, punctuality {punctuality}, recent {recent}, next {next}, settings {settings}"
    );
    admin.stop().await;
}

/// Every `<time>` element of `page`: its `datetime`, its `title` and its text.
fn times(page: &str) -> Vec<(String, String, String)> {
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(tag[start..start + tag[start..].find('"')?].to_owned())
    };
    page.split("<time ")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find('>').expect("the tag's end")];
            let text = &rest[tag.len() + 1..rest.find("</time>").expect("</time>")];
            (
                attr(tag, "datetime").expect("a datetime"),
                attr(tag, "title").expect("a title"),
                text.to_owned(),
            )
        })
        .collect()
}

async fn page(client: &reqwest::Client, cookie: &str, url: &str) -> String {
    let answer = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("the page");
    assert_eq!(answer.status(), 200, "{url}");
    answer.text().await.expect("its text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_and_app_pages_show_relative_times_with_the_exact_utc_instant_in_a_time_element()
 {
    let dir = temp_dir("times");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &[]).await;
    let client = http();
    let cookie = sign_in(&client, &admin.base).await;
    for path in ["/", "/apps/billing"] {
        let html = page(&client, &cookie, &format!("{}{path}", admin.base)).await;
        for header in ["Last run (UTC)", "Next run (UTC)"] {
            assert!(html.contains(header), "{path} lacks the header `{header}`");
        }
        let found = times(&html);
        assert!(found.len() >= 4, "{path}: {found:?}");
        for (datetime, title, text) in &found {
            let t: chrono::DateTime<chrono::Utc> = datetime.parse().expect("RFC 3339");
            // One zone in every column: the exact instant in UTC, the text relative to now.
            assert_eq!(title, &t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
            assert!(
                text == "just now" || text.ends_with(" ago") || text.starts_with("in "),
                "{path}: `{text}` is not a relative time"
            );
        }
    }
    // The overview gives each job its last run: billing/invoices last ended about 3 hours
    // ago (the seed's last finished execution), hr/sync about 10.
    let overview = page(&client, &cookie, &format!("{}/", admin.base)).await;
    for (job, ago) in [("invoices", "3 h ago"), ("sync", "10 h ago")] {
        let row = overview
            .split("<tr>")
            .find(|r| r.contains(&format!("/jobs/{job}\"")) && !r.contains("details"))
            .unwrap_or_else(|| panic!("no row of {job}"));
        assert!(
            row.contains("succeeded") && row.contains(&format!(">{ago}</time>")),
            "{job}'s row lacks its last run, succeeded {ago}: {row}"
        );
    }
    admin.stop().await;
}

/// Sets the page's viewport to `width` px (and 900 high) through the DevTools protocol:
/// headless Chromium's windows are at least 500 px wide, so a phone's width is emulated.
async fn set_width(browser: &Browser, width: u32) {
    let session = browser
        .client
        .session_id()
        .await
        .expect("the session")
        .expect("an id");
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/session/{session}/goog/cdp/execute",
            browser.driver_url
        ))
        .json(&serde_json::json!({
            "cmd": "Emulation.setDeviceMetricsOverride",
            "params": { "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": false },
        }))
        .send()
        .await
        .expect("send the DevTools command");
    assert!(
        answer.status().is_success(),
        "Emulation.setDeviceMetricsOverride: {}",
        answer.text().await.unwrap_or_default()
    );
}

/// What the page measures at its width: the window's inner width, the viewport's (that less
/// a vertical scroll bar), the page's scroll width, and the
/// visible elements (not clipped away for screen readers only) that reach beyond the viewport
/// or are cut off by a box that hides or scrolls its overflow (one line each).
async fn measure(client: &Client) -> (u64, u64, u64, Vec<String>) {
    let found = client
        .execute(
            "const iw = window.innerWidth, vw = document.documentElement.clientWidth;
             const sw = document.documentElement.scrollWidth, bad = [];
             const name = el => el.tagName.toLowerCase() + (typeof el.className === 'string' && el.className ? '.' + el.className.split(' ').join('.') : '');
             for (const el of document.querySelectorAll('body *')) {
               const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
               if (r.width <= 1 || r.height <= 1 || cs.visibility === 'hidden') continue;
               // Hidden on purpose, for screen readers: clipped to nothing, or moved off-screen.
               let hidden = false;
               for (let a = el; a && !hidden; a = a.parentElement) {
                 const c = getComputedStyle(a);
                 hidden = c.clip !== 'auto' || c.clipPath !== 'none' || a.classList.contains('skip');
               }
               if (hidden) continue;
               const text = (el.textContent || '').trim().slice(0, 50);
               if (r.right > vw + 0.5) bad.push(`${name(el)} ends at ${Math.round(r.right)} px: ${text}`);
               if (cs.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1)
                 bad.push(`${name(el)} cuts off or scrolls ${el.scrollWidth - el.clientWidth} px (overflow-x ${cs.overflowX}): ${text}`);
             }
             return [iw, vw, sw, bad];",
            vec![],
        )
        .await
        .expect("measure the page");
    let width = |v: &serde_json::Value| v.as_f64().expect("a number") as u64;
    let bad = found[3]
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    (width(&found[0]), width(&found[1]), width(&found[2]), bad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phones_width_and_a_desktops_with_no_serious_axe_violation() {
    let axe = axe_source();
    let dir = temp_dir("widths");
    let seeded = seed(&dir).await;
    // A failing job too, so that the attention list has a line with its streak and error.
    let store = shared::store::sqlite::SqliteStore::open(&seeded.db)
        .await
        .expect("open the store");
    for minutes in [20, 10] {
        let slot = chrono::Utc::now() - chrono::Duration::minutes(minutes);
        let slot = slot - chrono::Duration::seconds(chrono::Timelike::second(&slot).into());
        add(&store, "billing", "reports", slot, shared::model::Status::Failed, |e| {
            e.http_status = Some(503);
            e.error = Some("the job answered 503 Service Unavailable: the report server is down for maintenance until further notice".into());
        })
        .await;
    }
    let admin = Admin::start(&seeded.db, &[]).await;
    let browser = Browser::start().await;
    let client = &browser.client;
    let base = admin.base.clone();
    client
        .goto(&format!("{base}/login?token={TOKEN}"))
        .await
        .expect("sign in");
    let failed = format!("/executions/{}", seeded.failed);
    let pages = [
        ("overview", "/"),
        ("app", "/apps/billing"),
        ("app-without-record", "/apps/hr"),
        ("job", "/apps/billing/jobs/invoices"),
        ("job-dst", "/apps/billing/jobs/dst-sundays"),
        ("execution", failed.as_str()),
        ("new-job", "/apps/billing/new-job"),
        ("edit-job", "/apps/billing/jobs/invoices/edit"),
        ("delete-job", "/apps/billing/jobs/invoices/delete"),
        ("new-app", "/new-app"),
        ("edit-app", "/apps/billing/edit"),
    ];
    let mut problems = Vec::new();
    for width in [1280, 390, 360] {
        set_width(&browser, width).await;
        for (name, path) in pages {
            client
                .goto(&format!("{base}{path}"))
                .await
                .expect("open the page");
            let (window, viewport, scroll, cut) = measure(client).await;
            eprintln!("{width} px {path}: viewport {viewport}, page scroll width {scroll}");
            screenshot(client, &format!("w{width}-{name}")).await;
            if window != u64::from(width) {
                problems.push(format!("{path} at {width}: the window is {window} px"));
            }
            if scroll != viewport {
                problems.push(format!(
                    "{path} at {width}: the page scrolls sideways ({scroll} px in {viewport})"
                ));
            }
            problems.extend(cut.into_iter().map(|c| format!("{path} at {width}: {c}")));
            problems.extend(
                serious_violations(client, &axe)
                    .await
                    .into_iter()
                    .map(|v| format!("{path} at {width}: axe-core: {v}")),
            );
        }
        // The bulk form, in the browser: tick two jobs, pause (then resume) them; the page
        // of results fits too.
        client
            .goto(&format!("{base}/"))
            .await
            .expect("the overview");
        for job in ["dst-sundays", "reports"] {
            client
                .find(fantoccini::Locator::Css(&format!(
                    "input[type=checkbox][value^='billing/{job}/']"
                )))
                .await
                .expect("the job's checkbox")
                .click()
                .await
                .expect("tick it");
        }
        let action = if width == 390 { "Resume" } else { "Pause" };
        click(client, action).await;
        let (window, viewport, scroll, cut) = measure(client).await;
        screenshot(client, &format!("w{width}-bulk-results")).await;
        let main = client
            .find(fantoccini::Locator::Css("main"))
            .await
            .expect("main")
            .text()
            .await
            .expect("its text");
        if !main.contains("2 done, 0 not done.") {
            problems.push(format!("bulk {action} at {width}: {main}"));
        }
        if window != u64::from(width) || scroll != viewport {
            problems.push(format!(
                "bulk results at {width}: {scroll} px in {viewport}"
            ));
        }
        problems.extend(
            cut.into_iter()
                .map(|c| format!("bulk results at {width}: {c}")),
        );
        problems.extend(
            serious_violations(client, &axe)
                .await
                .into_iter()
                .map(|v| format!("bulk results at {width}: axe-core: {v}")),
        );
    }
    let _ = browser.client.close().await;
    drop(browser.driver);
    admin.stop().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A DynamoDB table on moto holding `jobs` jobs of the app fleet: `nightly`, called every
/// minute at `server`'s `/nightly` (which answers 500), and `jobs - 1` more that run once a
/// year (written through the store at once, as an import does), after three ticks on the
/// simulated clock from `start`. Its store, table and endpoint.
async fn fleet(
    jobs: usize,
    server: &JobServer,
    start: chrono::DateTime<chrono::Utc>,
) -> (DynamoStore, String, String) {
    let endpoint = moto::endpoint().await;
    let table = moto::unique_table_name();
    let store = DynamoStore::new(&moto::sdk_config(&endpoint).await, &table);
    store.create_table().await.expect("create the table");
    let app = AppName::parse("fleet").expect("app");
    let built = start - chrono::Duration::seconds(30);
    let mut all: Vec<Job> = (1..jobs)
        .map(|i| {
            NewJob::new(
                app.clone(),
                JobName::parse(&format!("yearly-{i:04}")).expect("name"),
                JobUrl::parse(&server.url(&format!("/yearly/{i}"))).expect("url"),
                "0 0 1 1 *".parse().expect("schedule"),
            )
            .build(built)
            .expect("job")
        })
        .collect();
    all.push(
        NewJob::new(
            app.clone(),
            JobName::parse("nightly").expect("name"),
            JobUrl::parse(&server.url("/nightly")).expect("url"),
            "* * * * *".parse().expect("schedule"),
        )
        .build(built)
        .expect("job"),
    );
    store.import_jobs(&all).await.expect("import the jobs");
    let dispatcher = shared::dispatch::HttpDispatcher::new().expect("client");
    for m in 0..3 {
        let clock = shared::clock::FixedClock::new(start + chrono::Duration::minutes(m));
        shared::tick::tick(
            &store,
            &dispatcher,
            &clock,
            &shared::tick::TickConfig::default(),
        )
        .await
        .expect("tick");
    }
    (store, table, endpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_three_times_heads_the_attention_list_and_the_overview_reads_as_much_for_1000_jobs_as_for_10()
 {
    let server = JobServer::start().await;
    server.set("/nightly", Behavior::Status(500));
    // The next whole minute: the ticks call its slot and the two after it.
    let now = chrono::Utc::now();
    let start = now - chrono::Duration::seconds(chrono::Timelike::second(&now).into())
        + chrono::Duration::minutes(1);
    let mut counted: Vec<BTreeMap<String, u64>> = Vec::new();
    for jobs in [10, 1000] {
        let (store, table, endpoint) = fleet(jobs, &server, start).await;
        let requests = store.requests().clone();
        let ops = Ops::with_store("dynamodb", Arc::new(store.clone()));
        // A table the template created is completed by `table upgrade`: the jobs are then
        // listed by a Query per app, never a Scan of the history.
        ops.upgrade_table()
            .await
            .expect("upgrade")
            .expect("a directory");
        requests.reset();
        let overview = ops
            .overview(start + chrono::Duration::minutes(3))
            .await
            .expect("overview");
        counted.push(requests.snapshot());
        assert_eq!(overview.jobs.len(), jobs);
        let nightly = overview
            .jobs
            .iter()
            .find(|h| h.job.name.as_str() == "nightly")
            .expect("nightly");
        assert_eq!(
            (
                nightly.job.state.streak,
                nightly.job.state.outcomes.as_str()
            ),
            (3, "fff")
        );
        if jobs > 10 {
            continue;
        }
        // The record stays small: what the outcomes and the streak add, as JSON (about what
        // they add to the DynamoDB item).
        let mut bare = nightly.job.clone();
        bare.state.outcomes.clear();
        bare.state.streak = 0;
        let size = |j: &Job| serde_json::to_string(j).expect("json").len();
        eprintln!(
            "the job record: {} bytes as JSON, {} of them the outcomes and the streak",
            size(&nightly.job),
            size(&nightly.job) - size(&bare)
        );
        assert!(size(&nightly.job) - size(&bare) <= 40 && size(&nightly.job) < 1024);

        // What a person sees: the admin over the same table.
        let dir = temp_dir("attention");
        let env = [
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_REGION", moto::REGION),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        let admin = Admin::start_on(&format!("dynamodb:{table}"), &dir, &[], &env).await;
        let client = http();
        let cookie = sign_in(&client, &admin.base).await;
        let html = page(&client, &cookie, &format!("{}/", admin.base)).await;
        let attention = &html[at(&html, "id=\"attention\"")..at(&html, "</section>")];
        let last = nightly.job.state.last.as_ref().expect("a last run");
        let line = attention
            .split("<tr>")
            .find(|r| r.contains("fleet/nightly"))
            .unwrap_or_else(|| panic!("nightly is not in the attention list:\n{attention}"));
        for expected in [
            "failed",
            "3 runs in a row",
            "the job answered 500 Internal Server Error",
            "href=\"/apps/fleet/jobs/nightly\"",
            &format!("href=\"/executions/{}\"", last.execution),
        ] {
            assert!(
                line.contains(expected),
                "the line lacks `{expected}`: {line}"
            );
        }
        assert!(
            html.contains("latest 3 outcomes, oldest first: failed, failed, failed"),
            "nightly's row shows its latest outcomes"
        );
        admin.stop().await;
    }
    eprintln!(
        "the overview's store requests: 10 jobs {:?}, 1,000 jobs {:?}",
        counted[0], counted[1]
    );
    assert_eq!(
        counted[0], counted[1],
        "as many requests for 1,000 jobs as for 10"
    );
    assert_eq!(
        server.requests_to("/nightly").len(),
        6,
        "three calls of nightly per table"
    );
}

/// The bulk form's checkbox values on `page`, by job (`app/name`).
fn checkboxes(page: &str) -> BTreeMap<String, String> {
    page.split("name=\"job\" value=\"")
        .skip(1)
        .map(|rest| {
            let value = &rest[..rest.find('"').expect("the value's end")];
            let mut parts = value.splitn(3, '/');
            let job = format!(
                "{}/{}",
                parts.next().expect("app"),
                parts.next().expect("name")
            );
            (job, value.to_owned())
        })
        .collect()
}

/// `value` percent-encoded for a form body.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Posts the bulk form as a browser does without JavaScript: `action` and the ticked `jobs`.
async fn bulk(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    csrf: Option<&str>,
    action: &str,
    jobs: &[&String],
) -> (u16, String) {
    let (status, text, _) = bulk_answer(client, base, cookie, csrf, action, jobs).await;
    (status, text)
}

/// [`bulk`], with the address the answer came from (after redirects).
async fn bulk_answer(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    csrf: Option<&str>,
    action: &str,
    jobs: &[&String],
) -> (u16, String, String) {
    let mut fields: Vec<(&str, &str)> = Vec::new();
    if let Some(csrf) = csrf {
        fields.push(("csrf", csrf));
    }
    fields.push(("action", action));
    fields.extend(jobs.iter().map(|j| ("job", j.as_str())));
    let answer = client
        .post(format!("{base}/jobs/bulk"))
        .header("cookie", cookie)
        .header("origin", base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            fields
                .iter()
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect::<Vec<_>>()
                .join("&"),
        )
        .send()
        .await
        .expect("post the bulk form");
    // Done: a redirect to the answer's own page (the test's client follows none).
    if answer.status() == reqwest::StatusCode::SEE_OTHER {
        let location = answer
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("a location")
            .to_owned();
        let url = format!("{base}{location}");
        return (200, page(client, cookie, &url).await, url);
    }
    let url = answer.url().to_string();
    (
        answer.status().as_u16(),
        answer.text().await.expect("its text"),
        url,
    )
}

/// The result line of `job` on a bulk action's answer.
fn result_of<'a>(page: &'a str, job: &str) -> &'a str {
    let rows: Vec<&str> = page
        .split("<tr>")
        .filter(|r| r.contains(&format!(">{job}</a>")))
        .collect();
    assert_eq!(rows.len(), 1, "one result line for {job}:\n{page}");
    rows[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_pause_resume_and_run_now_act_once_on_each_job_as_shown_and_leave_one_changed_since() {
    use shared::ops::{JobInput, JobKey, ScheduleForm, StoreSpec};

    let server = JobServer::start().await;
    let dir = temp_dir("bulk");
    let db = dir.join("jobs.db");
    let ops =
        Ops::new(StoreSpec::from_setting(Some(&format!("sqlite:{}", db.display()))).expect("spec"));
    ops.init().await.expect("init");
    let now = chrono::Utc::now();
    for (app, name) in [("ops", "a"), ("ops", "b"), ("ops", "c"), ("other", "d")] {
        let input = JobInput {
            url: Some(server.url(&format!("/{app}/{name}"))),
            schedule: ScheduleForm {
                cron: Some("0 0 1 1 *".into()),
                ..ScheduleForm::default()
            },
            ..JobInput::default()
        };
        ops.create(&JobKey::parse(app, name).expect("key"), &input, now)
            .await
            .expect("create");
    }
    let enabled = |name: &'static str| {
        let ops = &ops;
        async move {
            ops.job(&JobKey::parse("ops", name).expect("key"))
                .await
                .expect("the job")
                .enabled
        }
    };
    let admin = Admin::start(&db, &[]).await;
    let base = admin.base.clone();
    let client = http();
    let cookie = sign_in(&client, &base).await;

    // Filters narrow the list, by query parameters alone.
    let filtered = page(&client, &cookie, &format!("{base}/?app=ops")).await;
    assert_eq!(checkboxes(&filtered).len(), 3, "app=ops keeps a, b and c");
    let overview = page(&client, &cookie, &format!("{base}/")).await;
    let shown = checkboxes(&overview);
    assert_eq!(shown.len(), 4);
    let csrf = csrf_of(&overview);
    let three: Vec<&String> = ["ops/a", "ops/b", "ops/c"]
        .iter()
        .map(|j| &shown[*j])
        .collect();

    // c is changed by someone else after the page was shown.
    ops.update(
        &JobKey::parse("ops", "c").expect("key"),
        &JobInput {
            description: Some("changed meanwhile".into()),
            ..JobInput::default()
        },
        chrono::Utc::now(),
    )
    .await
    .expect("update c");

    // Without the CSRF token: refused, nothing paused.
    let (status, _) = bulk(&client, &base, &cookie, None, "pause", &three).await;
    assert_eq!(status, 403);
    assert!(enabled("a").await && enabled("b").await);
    // Bad input: one line naming the field, nothing paused.
    let garbage = "ops/a/not-an-id/yesterday".to_owned();
    // A job named twice (a run now would call it twice).
    let twice = vec![three[0], three[1], three[0]];
    for (action, jobs, field) in [
        ("pause", vec![&garbage], "job:"),
        ("delete", three.clone(), "action:"),
        ("pause", Vec::new(), "job:"),
        ("run", twice, "job:"),
    ] {
        let (status, answer) = bulk(&client, &base, &cookie, Some(&csrf), action, &jobs).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains(field), "{field} in {answer}");
    }
    assert!(enabled("a").await && enabled("b").await);

    let (status, answer) = bulk(&client, &base, &cookie, Some(&csrf), "pause", &three).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("2 done, 1 not done."), "{answer}");
    assert!(result_of(&answer, "ops/a").contains("paused"));
    assert!(result_of(&answer, "ops/b").contains("paused"));
    let c = result_of(&answer, "ops/c");
    assert!(
        c.contains("not done:") && c.contains("after the page was shown"),
        "{c}"
    );
    assert!(!enabled("a").await && !enabled("b").await);
    assert!(enabled("c").await, "c, changed since, is untouched");
    let c_job = ops
        .job(&JobKey::parse("ops", "c").expect("key"))
        .await
        .expect("c");
    assert_eq!(c_job.description, "changed meanwhile");

    // The filter by state shows the two paused; resume them from that page.
    let paused = page(&client, &cookie, &format!("{base}/?state=paused")).await;
    let shown = checkboxes(&paused);
    assert_eq!(shown.keys().collect::<Vec<_>>(), ["ops/a", "ops/b"]);
    let two: Vec<&String> = shown.values().collect();
    let (status, answer) = bulk(&client, &base, &cookie, Some(&csrf), "resume", &two).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("2 done, 0 not done."), "{answer}");
    assert!(enabled("a").await && enabled("b").await);

    // By last status: none has run yet, so none failed; the page says how many it hides.
    let failed = page(&client, &cookie, &format!("{base}/?status=failed")).await;
    assert!(checkboxes(&failed).is_empty());
    assert!(failed.contains("4 jobs hidden by the filters."), "{failed}");

    // Run now, from a fresh page: each of the three called exactly once.
    let shown = checkboxes(&page(&client, &cookie, &format!("{base}/")).await);
    let three: Vec<&String> = ["ops/a", "ops/b", "ops/c"]
        .iter()
        .map(|j| &shown[*j])
        .collect();
    let (status, answer, answered_at) =
        bulk_answer(&client, &base, &cookie, Some(&csrf), "run", &three).await;
    assert_eq!(status, 200, "{answer}");
    // The answer is a page of its own (POST, then a redirect): reloading it runs nothing.
    assert!(
        answered_at.starts_with(&format!("{base}/jobs/bulk/")),
        "the answer's address: {answered_at}"
    );
    let reloaded = page(&client, &cookie, &answered_at).await;
    for job in ["ops/a", "ops/b", "ops/c"] {
        assert_eq!(result_of(&reloaded, job), result_of(&answer, job));
    }
    // Another session's answer is no page of this one.
    let other = sign_in(&client, &base).await;
    let foreign = client
        .get(&answered_at)
        .header("cookie", &other)
        .send()
        .await
        .expect("the answer, from another session");
    assert_eq!(foreign.status(), 404);
    for job in ["ops/a", "ops/b", "ops/c"] {
        assert!(
            result_of(&answer, job).contains("run started"),
            "{job}: {answer}"
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.requests().len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for name in ["a", "b", "c"] {
        assert_eq!(
            server.requests_to(&format!("/ops/{name}")).len(),
            1,
            "ops/{name} called once"
        );
    }
    assert!(
        server.requests_to("/other/d").is_empty(),
        "d was not ticked"
    );
    admin.stop().await;

    // Read-only: no checkbox, no bulk form, and its POST refused.
    let admin = Admin::start(&db, &["--read-only"]).await;
    let cookie = sign_in(&client, &admin.base).await;
    let overview = page(&client, &cookie, &format!("{}/", admin.base)).await;
    assert!(!overview.contains("type=\"checkbox\"") && !overview.contains("/jobs/bulk"));
    let (status, _) = bulk(&client, &admin.base, &cookie, Some(&csrf), "pause", &three).await;
    assert_eq!(status, 405);
    assert!(enabled("a").await);
    admin.stop().await;
}

/// A filter value the lists do not know is refused in one line naming the parameter (not a
/// list that hides every job under a form that shows "any"), and never echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_filter_value_is_refused_naming_the_parameter() {
    let dir = temp_dir("filters");
    let seeded = seed(&dir).await;
    let admin = Admin::start(&seeded.db, &[]).await;
    let client = http();
    let cookie = sign_in(&client, &admin.base).await;
    for (path, field) in [
        ("/?status=bogus", "status:"),
        ("/?state=%22%3E%3Cx", "state:"),
        ("/apps/billing?status=bogus", "status:"),
        ("/apps/billing?state=weird", "state:"),
    ] {
        let answer = client
            .get(format!("{}{path}", admin.base))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("the page");
        assert_eq!(answer.status(), 400, "{path}");
        let text = answer.text().await.expect("its text");
        assert!(text.contains(field), "{path}: {text}");
        assert!(
            !text.contains("bogus") && !text.contains("weird") && !text.contains("\"><x"),
            "{path} echoes the value: {text}"
        );
    }
    // Known values and empty ones are filters.
    for path in ["/?status=failed&state=", "/apps/billing?state=active"] {
        page(&client, &cookie, &format!("{}{path}", admin.base)).await;
    }
    admin.stop().await;
}
