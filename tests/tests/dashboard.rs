//! The admin as the team's daily dashboard (issue 31): what happened comes before what is
//! planned, times read in one named zone per column, every page fits a phone's width, and the
//! overview shows each job's problems first.

use crate::admin::{Admin, http, seed, sign_in, temp_dir};

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
