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
