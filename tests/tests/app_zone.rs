//! An app's default time zone (issue 31): set by `app create|update --timezone`, the admin's
//! app form and an app's `timezone` in `apply -f`; a job created without a zone takes it;
//! existing jobs keep theirs; `export` writes it and applying the export plans no change.

use crate::admin::{Admin, csrf_of, http, post_form, sign_in, temp_dir};
use crate::cli::Cli;
use crate::helpers::moto;

/// The zone `psu-sched show --json` gives the job.
async fn zone_of(cli: &Cli, app: &str, name: &str) -> String {
    let show = cli
        .run(&["--app", app, "show", "--name", name, "--json"])
        .await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    let json: serde_json::Value = serde_json::from_str(&show.stdout).expect("json");
    json["timezone"].as_str().expect("a zone").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_without_a_zone_takes_its_apps_default_through_the_cli_and_the_admin() {
    let cli = Cli::new().await;
    let created = cli
        .run(&[
            "--app",
            "shop",
            "app",
            "create",
            "--base-url",
            "https://shop.example.edu",
            "--timezone",
            "America/Los_Angeles",
        ])
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(
        created.stdout.contains("new jobs in America/Los_Angeles"),
        "{}",
        created.stdout
    );
    // PSU_SCHED_TZ unset (the helper removes it): no zone given.
    let job = cli
        .run(&[
            "--app",
            "shop",
            "create",
            "--name",
            "nightly",
            "--path",
            "/n",
            "--cron",
            "0 2 * * *",
        ])
        .await;
    assert_eq!(job.code, 0, "{}", job.stderr);
    assert_eq!(
        zone_of(&cli, "shop", "nightly").await,
        "America/Los_Angeles"
    );
    // A zone given wins over the app's.
    let job = cli
        .run(&[
            "--app",
            "shop",
            "--tz",
            "Asia/Tokyo",
            "create",
            "--name",
            "tokyo",
            "--path",
            "/t",
            "--cron",
            "0 2 * * *",
        ])
        .await;
    assert_eq!(job.code, 0, "{}", job.stderr);
    assert_eq!(zone_of(&cli, "shop", "tokyo").await, "Asia/Tokyo");

    // A bad zone: one line naming the field, nothing changed.
    let bad = cli
        .run(&[
            "--app",
            "shop",
            "app",
            "update",
            "--timezone",
            "Mars/Olympus",
        ])
        .await;
    assert_eq!(bad.code, 2);
    assert_eq!(bad.stderr.trim().lines().count(), 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("timezone"), "{}", bad.stderr);

    // A new default: existing jobs keep their zone, new ones take it.
    let moved = cli
        .run(&[
            "--app",
            "shop",
            "app",
            "update",
            "--timezone",
            "Europe/Paris",
        ])
        .await;
    assert_eq!(moved.code, 0, "{}", moved.stderr);
    assert_eq!(
        zone_of(&cli, "shop", "nightly").await,
        "America/Los_Angeles"
    );

    // The admin: the new-job form is filled with the app's zone; a job posted with the zone
    // emptied takes it too; the app's form changes it.
    let dir = temp_dir("app-zone");
    let endpoint = moto::endpoint().await;
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", moto::REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let admin = Admin::start_on(&format!("dynamodb:{}", cli.table), &dir, &[], &env).await;
    let client = http();
    let base = admin.base.clone();
    let cookie = sign_in(&client, &base).await;
    let form = client
        .get(format!("{base}/apps/shop/new-job"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("the form")
        .text()
        .await
        .expect("its text");
    assert!(
        form.contains("name=\"timezone\"") && form.contains("value=\"Europe/Paris\""),
        "the zone field holds the app's zone"
    );
    let csrf = csrf_of(&form);
    let saved = post_form(
        &client,
        &base,
        &cookie,
        "/apps/shop/new-job",
        &[
            ("csrf", csrf.clone()),
            ("name", "weekly".to_owned()),
            ("path", "/w".to_owned()),
            ("schedule", "0 9 * * mon".to_owned()),
            ("timezone", String::new()),
        ],
    )
    .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(zone_of(&cli, "shop", "weekly").await, "Europe/Paris");
    let edit = post_form(
        &client,
        &base,
        &cookie,
        "/apps/shop/edit",
        &[
            ("csrf", csrf.clone()),
            ("shown-base_url", "https://shop.example.edu".to_owned()),
            ("shown-budget", "4".to_owned()),
            ("shown-timezone", "Europe/Paris".to_owned()),
            ("base_url", "https://shop.example.edu".to_owned()),
            ("budget", "4".to_owned()),
            ("timezone", "Australia/Sydney".to_owned()),
        ],
    )
    .await;
    assert_eq!(edit.status(), 303);
    let app = cli.run(&["--app", "shop", "app", "show", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&app.stdout).expect("json");
    assert_eq!(json["timezone"], "Australia/Sydney");
    for (job, zone) in [
        ("nightly", "America/Los_Angeles"),
        ("tokyo", "Asia/Tokyo"),
        ("weekly", "Europe/Paris"),
    ] {
        assert_eq!(
            zone_of(&cli, "shop", job).await,
            zone,
            "{job} keeps its zone"
        );
    }
    admin.stop().await;
}

/// An app declaring a default zone, a job without one and a job in UTC.
const FILE: &str = r#"
[[apps]]
name = "fleet"
base_url = "https://fleet.example.edu"
timezone = "America/Los_Angeles"

[[apps.jobs]]
name = "local"
path = "/local"
cron = "0 9 * * *"

[[apps.jobs]]
name = "utc"
path = "/utc"
cron = "0 9 * * *"
timezone = "UTC"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_reads_an_apps_zone_for_its_jobs_without_one_and_its_export_applies_with_no_change() {
    let cli = Cli::new().await;
    let folder = temp_dir("app-zone-apply");
    let file = folder.join("schedules.toml");
    std::fs::write(&file, FILE).expect("write");
    let run = cli
        .run(&["apply", "-f", &file.display().to_string(), "--yes"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("America/Los_Angeles"),
        "the plan shows the app's zone: {}",
        run.stdout
    );
    assert_eq!(zone_of(&cli, "fleet", "local").await, "America/Los_Angeles");
    assert_eq!(zone_of(&cli, "fleet", "utc").await, "UTC");
    let app = cli.run(&["--app", "fleet", "app", "show", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&app.stdout).expect("json");
    assert_eq!(json["timezone"], "America/Los_Angeles");

    // A bad zone: its line and column, the field named, nothing written.
    let bad = folder.join("bad.toml");
    std::fs::write(&bad, FILE.replace("America/Los_Angeles", "Mars/Olympus")).expect("write");
    let run = cli
        .run(&["apply", "-f", &bad.display().to_string(), "--yes"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(":5:") && run.stderr.contains("apps[0].timezone"),
        "{}",
        run.stderr
    );

    // export -> apply: no change. The export writes the app's zone and the UTC job's own.
    let exported = cli.run(&["export"]).await.ok().stdout;
    assert!(
        exported.contains("timezone = \"America/Los_Angeles\"")
            && exported.contains("timezone = \"UTC\""),
        "{exported}"
    );
    let copy = folder.join("export.toml");
    std::fs::write(&copy, &exported).expect("write");
    let run = cli
        .run(&[
            "apply",
            "-f",
            &copy.display().to_string(),
            "--prune",
            "--dry-run",
        ])
        .await
        .ok();
    assert!(
        run.stdout
            .contains("No changes: the store is as the file says."),
        "{exported}\n{}",
        run.stdout
    );
}

/// `--tz` (the zone dates are read in) given to `app create|update` instead of `--timezone`
/// is refused in one line naming both, and nothing is written: it would not be the app's
/// default zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tz_instead_of_timezone_on_an_app_is_refused_naming_both() {
    let cli = Cli::new().await;
    let create = [
        "--app",
        "tokyo",
        "app",
        "create",
        "--base-url",
        "https://tokyo.example.edu",
        "--tz",
        "Asia/Tokyo",
    ];
    let refused = cli.run(&create).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(refused.stderr.trim().lines().count(), 1, "{refused:?}");
    assert!(
        refused.stderr.contains("--timezone") && refused.stderr.contains("--tz"),
        "{refused:?}"
    );
    let shown = cli.run(&["--app", "tokyo", "app", "show"]).await;
    assert_ne!(shown.code, 0, "nothing was created: {shown:?}");
    // PSU_SCHED_TZ in the environment is the reading zone, not a flag: no refusal.
    let from_env = cli
        .run_with(&create[..6], &[("PSU_SCHED_TZ", "Asia/Tokyo")])
        .await;
    assert_eq!(from_env.code, 0, "{from_env:?}");
}
