//! A real Django project (clients/python/tests) whose view is a job through the `psu-sched`
//! package's `@scheduled_job()`, served by two waitress processes on 127.0.0.1 that share one
//! SQLite database (the runs, and the `DatabaseCache` that remembers execution ids). psu-sched
//! calls it on schedule (`tick --simulate` on SQLite, and the Lambda under `cargo lambda watch`
//! on moto); the view runs once per slot, and a replayed, re-pathed, other-app, stale or
//! unsigned request gets 403 without running it.
//!
//! The virtualenvs (one per Django version, the package's wheel installed) come from
//! `./scripts/test`, which lists them in `PSU_SCHED_TEST_DJANGO_VENVS`; without it the test uses
//! `.venvs/django42` and `.venvs/django52`.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::model::{App, AppName, BaseUrl, JobName, JobPath, NewJob};
use shared::signing::app_key;
use shared::store::Store;

use crate::cli::binary;
use crate::lambda::{Watch, free_port, function_env, table, tail, temp_log};

/// The deployment's signing secret in these tests.
const SECRET: &str = "e2e-deployment-secret";
/// The Django project's app name (its settings' `PSU_SCHED_APP`).
const APP: &str = "finance";
/// A path the scheduler sends percent-encoded, with `+` and `%2F` in its query.
const ENCODED: &str = "/scheduled/caf%C3%A9?x=a+b&y=%2F";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn project_dir() -> PathBuf {
    root().join("clients/python/tests")
}

/// The virtualenvs to serve the project from, one per Django version.
fn venvs() -> Vec<PathBuf> {
    let venvs: Vec<PathBuf> = match std::env::var("PSU_SCHED_TEST_DJANGO_VENVS") {
        Ok(list) if !list.is_empty() => list.split(':').map(PathBuf::from).collect(),
        _ => ["django42", "django52"]
            .iter()
            .map(|name| root().join(".venvs").join(name))
            .collect(),
    };
    for venv in &venvs {
        assert!(
            venv.join("bin/python").exists(),
            "{} is missing: run ./scripts/test (it builds the psu-sched wheel and the virtualenvs)",
            venv.display()
        );
    }
    venvs
}

/// One waitress process serving the project.
struct Worker {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// The Django project served by two workers over one SQLite database.
struct Site {
    /// The project's `PSU_SCHED_APP`.
    app: String,
    venv: PathBuf,
    dir: PathBuf,
    workers: Vec<Worker>,
    http: reqwest::Client,
}

impl Site {
    /// Migrates a fresh database, creates the cache table and starts two workers.
    async fn start(venv: &Path, app: &str, keys: &str) -> Site {
        let dir = std::env::temp_dir().join(format!(
            "psu-sched-django-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("the site's directory");
        let mut site = Site {
            app: app.to_owned(),
            venv: venv.to_owned(),
            dir,
            workers: Vec::new(),
            http: reqwest::Client::new(),
        };
        for args in [
            &["manage.py", "migrate", "--noinput", "-v", "0"][..],
            &["manage.py", "createcachetable"][..],
        ] {
            let out = site
                .python(keys)
                .args(args)
                .output()
                .expect("run manage.py");
            assert!(
                out.status.success(),
                "{args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for _ in 0..2 {
            let port = free_port();
            let log = temp_log("waitress");
            let out = std::fs::File::create(&log).expect("the worker's log");
            let err = out.try_clone().expect("clone the log");
            let child = site
                .python(keys)
                .args(["-m", "waitress", "--threads=4"])
                .arg(format!("--listen=127.0.0.1:{port}"))
                .arg("project.wsgi:application")
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("start waitress");
            site.workers.push(Worker { child, port, log });
        }
        for worker in &mut site.workers {
            let addr = SocketAddr::from(([127, 0, 0, 1], worker.port));
            let deadline = Instant::now() + Duration::from_secs(30);
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                if let Ok(Some(status)) = worker.child.try_wait() {
                    panic!("waitress exited ({status}):\n{}", tail(&worker.log));
                }
                assert!(
                    Instant::now() < deadline,
                    "waitress did not listen on {addr} within 30 s:\n{}",
                    tail(&worker.log)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        site
    }

    /// The venv's Python in the project's directory, with the site's database and keys.
    fn python(&self, keys: &str) -> Command {
        let mut command = Command::new(self.venv.join("bin/python"));
        command
            .current_dir(project_dir())
            .env("DJANGO_SETTINGS_MODULE", "project.settings")
            .env("PSU_SCHED_TEST_DB", self.dir.join("site.sqlite3"))
            .env("PSU_SCHED_TEST_APP", &self.app)
            .env("PSU_SCHED_KEYS", keys)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null());
        command
    }

    fn base_url(&self, worker: usize) -> String {
        format!("http://127.0.0.1:{}", self.workers[worker].port)
    }

    /// Every run the job views recorded, oldest first.
    async fn runs(&self) -> Vec<Value> {
        let url = format!("{}/test-only/runs", self.base_url(0));
        let answer = self.http.get(&url).send().await.expect("GET runs");
        assert_eq!(answer.status(), 200, "GET {url}");
        answer.json().await.expect("runs as JSON")
    }

    /// Sends `GET path` with `headers` to a worker; its status.
    async fn get(&self, worker: usize, path: &str, headers: &[(&str, &str)]) -> u16 {
        let mut request = self.http.get(format!("{}{path}", self.base_url(worker)));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("GET").status().as_u16()
    }

    /// What a worker logged (the package logs each refusal's reason).
    fn log(&self, worker: usize) -> String {
        std::fs::read_to_string(&self.workers[worker].log).unwrap_or_default()
    }

    /// A signature header made with the package's own signer (`psu_sched.sign`), its `kid`
    /// labelled with `generation` (any label: nothing signs it).
    fn forge(
        &self,
        (key, generation): (&str, u32),
        t: i64,
        execution: &str,
        job: &str,
        path: &str,
    ) -> String {
        let code = "import sys, psu_sched\n\
                    app, generation, key, t, execution, job, path = sys.argv[1:]\n\
                    print(psu_sched.sign([(app, int(generation), key)], t=int(t), \
                    execution=execution, job=job, method='GET', path=path))";
        let out = self
            .python(key)
            .args([
                "-c",
                code,
                &self.app,
                &generation.to_string(),
                key,
                &t.to_string(),
                execution,
                job,
                path,
            ])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            let _ = worker.child.kill();
            let _ = worker.child.wait();
            if std::thread::panicking() {
                eprintln!("waitress log kept at {}", worker.log.display());
            } else {
                let _ = std::fs::remove_file(&worker.log);
            }
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `psu-sched` on a SQLite file, signing with [`SECRET`].
fn psu_sched(store: &Path, args: &[&str]) -> Value {
    let out = Command::new(binary())
        .args(args)
        .arg("--json")
        .env("PSU_SCHED_STORE", format!("sqlite:{}", store.display()))
        .env("PSU_SCHED_SIGNING_SECRET", SECRET)
        .env_remove("PSU_SCHED_APP")
        .env_remove("PSU_SCHED_TZ")
        .env_remove("PSU_SCHED_TABLE")
        .env_remove("PSU_SCHED_ALLOW_PRIVATE_TARGETS")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run psu-sched");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "psu-sched {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not an instant: {v}"))
}

fn field<'a>(run: &'a Value, name: &str) -> &'a str {
    run[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {run}"))
}

/// The refusals: each gets 403, the view does not run, and the worker logs why.
async fn refusals_get_403_and_do_not_run_the_view(site: &Site, key: &str) {
    let before = site.runs().await.len();
    let captured = site.runs().await[0].clone();
    let (execution, job, path, signature) = (
        field(&captured, "execution"),
        field(&captured, "job"),
        field(&captured, "path"),
        field(&captured, "signature"),
    );
    let headers = [
        ("X-Psu-Sched-Execution", execution),
        ("X-Psu-Sched-Job", job),
        ("X-Psu-Sched-Signature", signature),
    ];
    // The captured request, replayed at the worker that ran it and at the other one: only
    // the cache they share knows it was run.
    assert_eq!(site.get(0, path, &headers).await, 403, "replayed");
    assert_eq!(site.get(1, path, &headers).await, 403, "replayed elsewhere");
    assert!(site.log(1).contains(": replayed: "), "{}", site.log(1));
    // The same signature on another path.
    assert_eq!(site.get(1, "/scheduled/other", &headers).await, 403);
    assert!(site.log(1).contains(": mismatch: "), "{}", site.log(1));
    // Signed with the right key, for a new execution, 20 minutes ago.
    let fresh = format!("{}.20261126T093000Z.s1", uuid::Uuid::new_v4().simple());
    let job = format!("{}/report", site.app);
    let stale = site.forge(
        (key, 1),
        Utc::now().timestamp() - 1200,
        &fresh,
        &job,
        "/scheduled/report",
    );
    let stale_headers = [
        ("X-Psu-Sched-Execution", fresh.as_str()),
        ("X-Psu-Sched-Job", job.as_str()),
        ("X-Psu-Sched-Signature", stale.as_str()),
    ];
    assert_eq!(site.get(1, "/scheduled/report", &stale_headers).await, 403);
    assert!(site.log(1).contains(": stale: "), "{}", site.log(1));
    // No signature at all.
    assert_eq!(
        site.get(0, "/scheduled/report", &stale_headers[..2]).await,
        403
    );
    assert!(site.log(0).contains(": malformed: "), "{}", site.log(0));
    // Numbers no key is needed to send, too large to convert: a bare 403, not a server error.
    let now = Utc::now().timestamp().to_string();
    let huge = "9".repeat(5000);
    for (t, kid) in [
        ("9".repeat(400), format!("{}:1", site.app)),
        (huge.clone(), format!("{}:1", site.app)),
        (now.clone(), format!("{}:{huge}", site.app)),
    ] {
        let signature = format!("t={t},kid={kid},v2={}", "0".repeat(64));
        let headers = [
            ("X-Psu-Sched-Execution", fresh.as_str()),
            ("X-Psu-Sched-Job", job.as_str()),
            ("X-Psu-Sched-Signature", signature.as_str()),
        ];
        assert_eq!(
            site.get(1, "/scheduled/report", &headers).await,
            403,
            "t of {} digits, kid {} characters long:\n{}",
            t.len(),
            kid.len(),
            site.log(1)
        );
    }
    assert_eq!(
        site.runs().await.len(),
        before,
        "no refused request ran the view"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_django_view_runs_once_per_slot_of_a_simulated_tick_and_refuses_replays_and_forgeries() {
    for venv in venvs() {
        // The app's record first, for its key (`app key`), then the site holding that key;
        // then the record points at the site.
        let dir = std::env::temp_dir().join(format!(
            "psu-sched-django-store-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("the store's directory");
        let store = dir.join("psu-sched.db");
        let store = store.as_path();
        let placeholder = ["--base-url", "http://127.0.0.1:9"];
        psu_sched(
            store,
            &[&["app", "create", "--app", APP][..], &placeholder[..]].concat(),
        );
        let printed = psu_sched(store, &["app", "key", "--app", APP]);
        let key = printed["key"].as_str().expect("key").to_owned();
        // The derivation under the record's own salt (an app created again gets new keys).
        assert_eq!(key.len(), 64, "{printed}");
        assert_ne!(key, app_key(SECRET, APP, 1, None), "{printed}");
        // Held labelled with its generation (`PSU_SCHED_KEYS` entries `<generation>:<key>`),
        // so the view is told which generation's key verified.
        let site = Site::start(&venv, APP, &format!("1:{key}")).await;
        psu_sched(
            store,
            &[
                "app",
                "update",
                "--app",
                APP,
                "--base-url",
                &site.base_url(0),
            ],
        );
        // Another app whose base URL is this Django project: its calls name payroll.
        psu_sched(
            store,
            &[
                "app",
                "create",
                "--app",
                "payroll",
                "--base-url",
                &site.base_url(1),
            ],
        );
        let every_minute = ["--cron", "* * * * *"];
        let report = psu_sched(
            store,
            &[
                &[
                    "create",
                    "--app",
                    APP,
                    "--name",
                    "report",
                    "--path",
                    "/scheduled/report",
                ][..],
                &every_minute[..],
            ]
            .concat(),
        );
        psu_sched(
            store,
            &[
                &[
                    "create", "--app", APP, "--name", "encoded", "--path", ENCODED,
                ][..],
                &every_minute[..],
            ]
            .concat(),
        );
        psu_sched(
            store,
            &[
                &["create", "--app", "payroll", "--name", "report"][..],
                &["--path", "/scheduled/report"][..],
                &every_minute[..],
            ]
            .concat(),
        );
        let slots: Vec<String> = report["next_runs"]
            .as_array()
            .expect("next_runs")
            .iter()
            .take(2)
            .map(|v| instant(v).to_rfc3339())
            .collect();

        for slot in &slots {
            let tick = psu_sched(store, &["tick", "--now", slot, "--simulate"]);
            assert_eq!(
                (
                    tick["triggered"].as_u64(),
                    tick["succeeded"].as_u64(),
                    tick["failed"].as_u64()
                ),
                (Some(3), Some(2), Some(1)),
                "{}: finance's two jobs ran, payroll's was refused: {tick}",
                venv.display()
            );
            // The same slot again: nothing more is called.
            let again = psu_sched(store, &["tick", "--now", slot, "--simulate"]);
            assert_eq!(again["triggered"], 0, "{again}");
        }
        let runs = site.runs().await;
        assert_eq!(
            runs.len(),
            4,
            "{}: two jobs, two slots: {runs:#?}",
            venv.display()
        );
        let mut executions: Vec<&str> = runs.iter().map(|r| field(r, "execution")).collect();
        executions.sort_unstable();
        executions.dedup();
        assert_eq!(executions.len(), 4, "one run per execution: {runs:#?}");
        for path in ["/scheduled/report", ENCODED] {
            let count = runs.iter().filter(|r| field(r, "path") == path).count();
            assert_eq!(count, 2, "{path} as sent, once per slot: {runs:#?}");
        }
        let history = psu_sched(store, &["history", "--app", "payroll", "--name", "report"]);
        for execution in history.as_array().expect("history") {
            assert_eq!(execution["http_status"], 403, "{execution}");
        }
        assert!(site.log(1).contains(": wrong_app: "), "{}", site.log(1));

        refusals_get_403_and_do_not_run_the_view(&site, &key).await;

        // A key rotation: calls carry generations 2 and 1, and the site, still on 1, runs them.
        psu_sched(store, &["app", "rotate-key", "--app", APP]);
        let third = instant(&report["next_runs"][2]);
        let tick = psu_sched(store, &["tick", "--now", &third.to_rfc3339(), "--simulate"]);
        assert_eq!(tick["succeeded"], 2, "during the rotation: {tick}");
        // After --finish only generation 2 is sent: the site's old key verifies nothing.
        psu_sched(store, &["app", "rotate-key", "--app", APP, "--finish"]);
        let fourth = (third + chrono::Duration::minutes(1)).to_rfc3339();
        let tick = psu_sched(store, &["tick", "--now", &fourth, "--simulate"]);
        assert_eq!(
            (tick["succeeded"].as_u64(), tick["failed"].as_u64()),
            (Some(0), Some(3)),
            "after the rotation, with the old key: {tick}"
        );
        let runs = site.runs().await;
        assert_eq!(runs.len(), 6, "{runs:#?}");
        assert!(
            runs.iter()
                .all(|r| r["generation"] == 1 && r["kid_generation"] == 1),
            "{runs:#?}"
        );
        // Signed with generation 1's key, its kid labelled 7 (as anyone holding the key could):
        // it runs, and the view is told generation 1, the label of the key the site holds.
        let execution = format!("{}.20261126T093000Z.s1", uuid::Uuid::new_v4().simple());
        let job = format!("{APP}/report");
        let relabelled = site.forge(
            (&key, 7),
            Utc::now().timestamp(),
            &execution,
            &job,
            "/scheduled/report",
        );
        let headers = [
            ("X-Psu-Sched-Execution", execution.as_str()),
            ("X-Psu-Sched-Job", job.as_str()),
            ("X-Psu-Sched-Signature", relabelled.as_str()),
        ];
        assert_eq!(site.get(0, "/scheduled/report", &headers).await, 201);
        let runs = site.runs().await;
        let last = &runs[runs.len() - 1];
        assert_eq!(
            (&last["generation"], &last["kid_generation"]),
            (&Value::from(1), &Value::from(7)),
            "{last}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_under_cargo_lambda_calls_the_django_view_once_per_slot() {
    let (endpoint, table, store) = table().await;
    let mut sites = Vec::new();
    for (n, venv) in venvs().into_iter().enumerate() {
        // One psu-sched app per site, each with its own key.
        let app = format!("{APP}{n}");
        // The record's salt drawn first: the site needs its key before the record can name
        // the site's address.
        let salt = uuid::Uuid::new_v4().simple().to_string();
        let key = app_key(SECRET, &app, 1, Some(&salt));
        let site = Site::start(&venv, &app, &key).await;
        let created = Utc::now() - chrono::Duration::minutes(2);
        let mut record = App::new(
            AppName::parse(&app).expect("app"),
            BaseUrl::parse(&site.base_url(0)).expect("base url"),
            4,
            created,
        )
        .expect("app record");
        record.key_salt = Some(salt);
        store.create_app(&record).await.expect("create the app");
        let path = JobPath::parse("/scheduled/report").expect("path");
        let mut spec = NewJob::new(
            record.name.clone(),
            JobName::parse("report").expect("name"),
            record.base_url.join(&path).expect("url"),
            "* * * * *".parse().expect("schedule"),
        );
        spec.path = Some(path);
        store
            .create_job(&spec.build(created).expect("job"))
            .await
            .expect("create the job");
        sites.push((key, site));
    }
    let mut env = function_env(&endpoint, &table);
    env.push(("PSU_SCHED_ALLOW_PRIVATE_TARGETS", "true".to_owned()));
    env.push(("PSU_SCHED_SIGNING_SECRET", SECRET.to_owned()));
    let watch = Watch::start(&env).await;

    let answer = watch
        .invoke("operator-tick.json")
        .await
        .unwrap_or_else(|e| panic!("the tick failed: {e}"));
    let count = Some(sites.len() as u64);
    assert_eq!(
        (answer["triggered"].as_u64(), answer["succeeded"].as_u64()),
        (count, count),
        "{answer}"
    );
    let again = watch
        .invoke("operator-tick.json")
        .await
        .unwrap_or_else(|e| panic!("the second tick failed: {e}"));
    assert_eq!(again["triggered"], 0, "the slot runs once: {again}");
    for (key, site) in &sites {
        assert_eq!(
            site.runs().await.len(),
            1,
            "{}: one slot, one run",
            site.venv.display()
        );
        refusals_get_403_and_do_not_run_the_view(site, key).await;
    }
}

/// `manage.py check` on the project, with `PSU_SCHED_TEST_CACHE` set to `cache` (or not):
/// whether it succeeded, and what it printed.
fn manage_py_check(venv: &Path, cache: Option<&str>) -> (bool, String) {
    let mut command = Command::new(venv.join("bin/python"));
    command
        .current_dir(project_dir())
        .args(["manage.py", "check"])
        .env("DJANGO_SETTINGS_MODULE", "project.settings")
        .env("PSU_SCHED_KEYS", app_key(SECRET, APP, 1, None))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PSU_SCHED_TEST_CACHE")
        .stdin(Stdio::null());
    if let Some(cache) = cache {
        command.env("PSU_SCHED_TEST_CACHE", cache);
    }
    let out = command.output().expect("run manage.py check");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

#[test]
fn manage_py_check_warns_that_a_file_based_cache_does_not_hold_replays_across_workers() {
    for venv in venvs() {
        // The project's own settings (a DatabaseCache): nothing to say.
        let (ok, printed) = manage_py_check(&venv, None);
        assert!(ok && !printed.contains("psu_sched."), "{printed}");
        // A FileBasedCache: its add checks, then sets, so two workers can both accept one
        // execution id. A warning: check still succeeds.
        let (ok, printed) = manage_py_check(&venv, Some("file"));
        assert!(ok, "{printed}");
        assert!(
            printed.contains("psu_sched.W002") && printed.contains("FileBasedCache"),
            "{}: {printed}",
            venv.display()
        );
    }
}
