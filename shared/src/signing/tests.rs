//! The shared test vectors (`docs/signing-v2-vectors.json`): written from the cases below,
//! checked against the file, and every case verified as the file says. The Python package's
//! tests read the same file.

use super::*;
use serde_json::{Value, json};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/signing-v2-vectors.json"
);
const SECRET: &str = "test-deployment-secret-not-for-use";
const OLD_SECRET: &str = "old-deployment-secret-not-for-use";
const T: i64 = 1_800_000_000;
/// Two app records' salts (an app deleted and created again under its name).
const SALT: &str = "5f0c1e7a9b2d4c6e8f1a3b5c7d9e0f21";
const OTHER_SALT: &str = "c3a9e1f7b5d2048e6a1c3f5b7d9e2a40";
const EXECUTION: &str = "0123456789abcdef0123456789abcdef.20270115T080000Z.s1";

/// What the scheduler signs for one case.
struct Sign<'a> {
    t: i64,
    secrets: &'a [&'a str],
    /// The app whose keys sign (the `kid`s name it).
    key_app: &'a str,
    generations: &'a [u32],
    job: &'a str,
    method: &'a str,
    path: &'a str,
    body: &'a str,
}

impl Default for Sign<'_> {
    fn default() -> Self {
        Self {
            t: T,
            secrets: &[SECRET],
            key_app: "finance",
            generations: &[1],
            job: "finance/report",
            method: "GET",
            path: "/scheduled/report",
            body: "",
        }
    }
}

/// What the verifier is given, where it differs from what was signed.
#[derive(Default)]
struct Check<'a> {
    app: Option<&'a str>,
    /// (deployment secret, generation) of each key the app holds; default: generation 1.
    keys: Option<&'a [(&'a str, u32)]>,
    now: Option<i64>,
    method: Option<&'a str>,
    path: Option<&'a str>,
    body: Option<&'a str>,
    /// The signature header replaced (`None`: as signed; `Some(None)`: absent).
    header: Option<Option<String>>,
    /// Headers left out.
    drop: &'a [&'a str],
    /// The signature's app in the job header replaced (a request naming another app).
    job: Option<&'a str>,
    /// The execution header replaced (the signature still covers [`EXECUTION`]).
    execution: Option<&'a str>,
    /// How the verifier's keys are written, and whether the expectation names the generation
    /// of the held key that verified (`key_generation`; cases from issue 27 item 5 on).
    labels: Labels,
}

/// How a case writes the keys its verifier holds.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Labels {
    /// Bare keys, and no `key_generation` in the expectation (the cases written before labels).
    #[default]
    Bare,
    /// Bare keys; the expectation says `key_generation: null`.
    Unlabelled,
    /// `{"generation": g, "key": k}`.
    Objects,
    /// `"<g>:<k>"`.
    Text,
}

fn case(name: &str, sign: Sign<'_>, check: Check<'_>) -> Value {
    let keys: Vec<(KeyId, String)> = sign
        .generations
        .iter()
        .flat_map(|g| {
            sign.secrets.iter().map(move |s| {
                (
                    KeyId {
                        app: sign.key_app.to_owned(),
                        generation: *g,
                    },
                    app_key(s, sign.key_app, *g, None),
                )
            })
        })
        .collect();
    let signed = signed_string(
        &sign.t.to_string(),
        EXECUTION,
        sign.job,
        sign.method,
        sign.path,
        sign.body.as_bytes(),
    );
    let header = match check.header {
        Some(replaced) => replaced,
        None => Some(signature_header(&keys, sign.t, &signed)),
    };
    let mut headers = serde_json::Map::new();
    for (name, value) in [
        (
            "X-Psu-Sched-Execution",
            Some(check.execution.unwrap_or(EXECUTION).to_owned()),
        ),
        (
            "X-Psu-Sched-Job",
            Some(check.job.unwrap_or(sign.job).to_owned()),
        ),
        ("X-Psu-Sched-Signature", header),
    ] {
        if let Some(value) = value
            && !check.drop.contains(&name)
        {
            headers.insert(name.to_owned(), json!(value));
        }
    }
    let app = check.app.unwrap_or("finance");
    let held = check.keys.unwrap_or(&[(SECRET, 1)]);
    let request = json!({
        "method": check.method.unwrap_or(sign.method),
        "path": check.path.unwrap_or(sign.path),
        "body": check.body.unwrap_or(sign.body),
        "headers": headers,
    });
    let keys: Vec<Value> = held
        .iter()
        .map(|(s, g)| {
            let key = app_key(s, app, *g, None);
            match check.labels {
                Labels::Bare | Labels::Unlabelled => json!(key),
                Labels::Objects => json!({ "generation": g, "key": key }),
                Labels::Text => json!(format!("{g}:{key}")),
            }
        })
        .collect();
    let verifier = json!({
        "app": app,
        "keys": keys,
        "now": check.now.unwrap_or(T),
        "tolerance": DEFAULT_TOLERANCE.as_secs(),
    });
    let expect = match run(&request, &verifier) {
        Ok(v) => {
            let mut expect = json!({
                "ok": true,
                "execution": v.execution.to_string(),
                "job": v.job,
                // The kid's label, as sent (unverified): what the cases before labels recorded.
                "generation": v.kid_generation,
                // What the verifier signed: `t` as the header writes it.
                "signed": signed_string(
                    request["headers"]["X-Psu-Sched-Signature"]
                        .as_str()
                        .and_then(|h| h.split(',').find_map(|p| p.strip_prefix("t=")))
                        .expect("t"),
                    EXECUTION,
                    &v.job,
                    request["method"].as_str().expect("method"),
                    request["path"].as_str().expect("path"),
                    request["body"].as_str().expect("body").as_bytes(),
                ),
            });
            if check.labels != Labels::Bare {
                expect["key_generation"] = json!(v.generation);
            }
            expect
        }
        Err(e) => json!({ "ok": false, "error": e.code() }),
    };
    json!({ "name": name, "request": request, "verifier": verifier, "expect": expect })
}

/// Verifies one vector's request with its verifier's settings.
fn run(request: &Value, verifier: &Value) -> Result<Verified, SignatureError> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut headers = http::HeaderMap::new();
    for (name, value) in request["headers"].as_object().into_iter().flatten() {
        headers.insert(
            http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).expect("name"),
            text(value).parse().expect("value"),
        );
    }
    // A key is a string (`<key>` or `<generation>:<key>`) or `{"generation", "key"}`.
    let keys: Vec<HeldKey> = verifier["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| match k.as_str() {
            Some(written) => written.parse().expect("a held key"),
            None => HeldKey::labelled(
                text(&k["key"]),
                u32::try_from(k["generation"].as_u64().expect("generation")).expect("u32"),
            ),
        })
        .collect();
    verify_signature(
        &text(&verifier["app"]),
        &keys,
        &headers,
        &text(&request["method"]),
        &text(&request["path"]),
        text(&request["body"]).as_bytes(),
        DateTime::from_timestamp(verifier["now"].as_i64().expect("now"), 0).expect("now"),
        Duration::from_secs(verifier["tolerance"].as_u64().expect("tolerance")),
    )
}

/// A header whose `kid` names `kid_app` but whose signature is made with `key_app`'s key over
/// a GET of `/scheduled/report` for `job`.
fn forged(kid_app: &str, key_app: &str, job: &str) -> String {
    signature_header(
        &[(
            KeyId {
                app: kid_app.to_owned(),
                generation: 1,
            },
            app_key(SECRET, key_app, 1, None),
        )],
        T,
        &signed_string(
            &T.to_string(),
            EXECUTION,
            job,
            "GET",
            "/scheduled/report",
            b"",
        ),
    )
}

/// A header written by hand: `t=<t>,kid=<kid>,v2=<finance's key over a GET of
/// /scheduled/report with `signed_t` as the timestamp line>`.
fn by_hand(t: &str, kid: &str, signed_t: &str) -> String {
    let signed = signed_string(
        signed_t,
        EXECUTION,
        "finance/report",
        "GET",
        "/scheduled/report",
        b"",
    );
    format!(
        "t={t},kid={kid},v2={}",
        hmac_hex(
            app_key(SECRET, "finance", 1, None).as_bytes(),
            signed.as_bytes()
        )
    )
}

fn vectors() -> Value {
    let rotating = &[2, 1];
    let cases = vec![
        case(
            "a GET with an empty body",
            Sign::default(),
            Check::default(),
        ),
        case(
            "a percent-encoded non-ASCII path, as sent (the job's URL was /scheduled/café/日本)",
            Sign {
                path: "/scheduled/caf%C3%A9/%E6%97%A5%E6%9C%AC",
                ..Sign::default()
            },
            Check::default(),
        ),
        case(
            "the same path decoded by the app before verifying: refused",
            Sign {
                path: "/scheduled/caf%C3%A9/%E6%97%A5%E6%9C%AC",
                ..Sign::default()
            },
            Check {
                path: Some("/scheduled/café/日本"),
                ..Check::default()
            },
        ),
        case(
            "a query with + and %2F, as sent",
            Sign {
                path: "/scheduled/report?q=a+b&next=%2Fhome%2Fx",
                ..Sign::default()
            },
            Check::default(),
        ),
        case(
            "the same query decoded by the app before verifying: refused",
            Sign {
                path: "/scheduled/report?q=a+b&next=%2Fhome%2Fx",
                ..Sign::default()
            },
            Check {
                path: Some("/scheduled/report?q=a b&next=/home/x"),
                ..Check::default()
            },
        ),
        case(
            "a POST with a non-empty body",
            Sign {
                method: "POST",
                body: "{\"full\":true}",
                ..Sign::default()
            },
            Check::default(),
        ),
        case(
            "the body changed",
            Sign {
                method: "POST",
                body: "{\"full\":true}",
                ..Sign::default()
            },
            Check {
                body: Some("{\"full\":false}"),
                ..Check::default()
            },
        ),
        case(
            "the method changed",
            Sign::default(),
            Check {
                method: Some("POST"),
                ..Check::default()
            },
        ),
        case(
            "the path changed",
            Sign::default(),
            Check {
                path: Some("/scheduled/purge"),
                ..Check::default()
            },
        ),
        case(
            "during a rotation: the app still on generation 1",
            Sign {
                generations: rotating,
                ..Sign::default()
            },
            Check::default(),
        ),
        case(
            "during a rotation: the app already on generation 2",
            Sign {
                generations: rotating,
                ..Sign::default()
            },
            Check {
                keys: Some(&[(SECRET, 2)]),
                ..Check::default()
            },
        ),
        case(
            "after the rotation's finish: generation 1 no longer verifies",
            Sign {
                generations: &[2],
                ..Sign::default()
            },
            Check::default(),
        ),
        case(
            "an app holding both generations while it deploys",
            Sign {
                generations: &[2],
                ..Sign::default()
            },
            Check {
                keys: Some(&[(SECRET, 2), (SECRET, 1)]),
                ..Check::default()
            },
        ),
        case(
            "during a rotation of the deployment secret: an app on the old secret's key",
            Sign {
                secrets: &[SECRET, OLD_SECRET],
                ..Sign::default()
            },
            Check {
                keys: Some(&[(OLD_SECRET, 1)]),
                ..Check::default()
            },
        ),
        case(
            "a request captured at finance, replayed at payroll",
            Sign::default(),
            Check {
                app: Some("payroll"),
                ..Check::default()
            },
        ),
        case(
            "signed with finance's key, naming payroll's key and job, verified at payroll",
            Sign {
                job: "payroll/report",
                ..Sign::default()
            },
            Check {
                app: Some("payroll"),
                header: Some(Some(forged("payroll", "finance", "payroll/report"))),
                ..Check::default()
            },
        ),
        case(
            "signed with payroll's key but naming finance's key and job, verified at finance",
            Sign {
                key_app: "payroll",
                ..Sign::default()
            },
            Check {
                header: Some(Some(forged("finance", "payroll", "finance/report"))),
                ..Check::default()
            },
        ),
        case(
            "a job header changed to another app's job",
            Sign::default(),
            Check {
                job: Some("payroll/report"),
                ..Check::default()
            },
        ),
        case(
            "a job header changed to another job of the same app",
            Sign::default(),
            Check {
                job: Some("finance/purge"),
                ..Check::default()
            },
        ),
        case(
            "exactly 300 s old: accepted",
            Sign::default(),
            Check {
                now: Some(T + 300),
                ..Check::default()
            },
        ),
        case(
            "301 s old: stale",
            Sign::default(),
            Check {
                now: Some(T + 301),
                ..Check::default()
            },
        ),
        case(
            "301 s in the future: stale",
            Sign::default(),
            Check {
                now: Some(T - 301),
                ..Check::default()
            },
        ),
        case(
            "behind a proxy that strips /finance: the app passes the path it received",
            Sign {
                path: "/finance/scheduled/report",
                ..Sign::default()
            },
            Check {
                path: Some("/scheduled/report"),
                ..Check::default()
            },
        ),
        case(
            "behind a proxy that strips /finance: the app passes the prefix and the path",
            Sign {
                path: "/finance/scheduled/report",
                ..Sign::default()
            },
            Check::default(),
        ),
        case(
            "no signature header",
            Sign::default(),
            Check {
                header: Some(None),
                ..Check::default()
            },
        ),
        case(
            "a v2 without a kid",
            Sign::default(),
            Check {
                header: Some(Some(format!("t={T},v2={}", "0".repeat(64)))),
                ..Check::default()
            },
        ),
        case(
            "a timestamp that is not a number",
            Sign::default(),
            Check {
                header: Some(Some(format!("t=soon,kid=finance:1,v2={}", "0".repeat(64)))),
                ..Check::default()
            },
        ),
        case(
            "no execution header",
            Sign::default(),
            Check {
                drop: &["X-Psu-Sched-Execution"],
                ..Check::default()
            },
        ),
        case(
            "an unknown part (a later scheme) is skipped",
            Sign::default(),
            Check {
                header: Some(Some(format!(
                    "{},v9=ignored",
                    forged("finance", "finance", "finance/report")
                ))),
                ..Check::default()
            },
        ),
        case(
            "a t with a plus sign",
            Sign::default(),
            Check {
                header: Some(Some(by_hand(&format!("+{T}"), "finance:1", &T.to_string()))),
                ..Check::default()
            },
        ),
        case(
            "a negative t",
            Sign::default(),
            Check {
                header: Some(Some(by_hand("-1", "finance:1", "-1"))),
                ..Check::default()
            },
        ),
        case(
            "two t parts",
            Sign::default(),
            Check {
                header: Some(Some(format!(
                    "t={T},{}",
                    forged("finance", "finance", "finance/report")
                ))),
                ..Check::default()
            },
        ),
        case(
            "a kid generation with a plus sign",
            Sign::default(),
            Check {
                header: Some(Some(by_hand(&T.to_string(), "finance:+1", &T.to_string()))),
                ..Check::default()
            },
        ),
        case(
            "a t with a leading zero is signed as written",
            Sign::default(),
            Check {
                header: Some(Some(by_hand(
                    &format!("0{T}"),
                    "finance:1",
                    &format!("0{T}"),
                ))),
                ..Check::default()
            },
        ),
        case(
            "a t beyond 64 bits",
            Sign::default(),
            Check {
                header: Some(Some(by_hand(
                    "99999999999999999999",
                    "finance:1",
                    "99999999999999999999",
                ))),
                ..Check::default()
            },
        ),
        case(
            "a job header without a job name",
            Sign {
                job: "finance/",
                ..Sign::default()
            },
            Check::default(),
        ),
        case(
            "a job header whose name has a space",
            Sign {
                job: "finance/daily report",
                ..Sign::default()
            },
            Check::default(),
        ),
    ];
    // Numbers beyond their bounds (issue 27, item 4): appended, so the cases above stay
    // byte-identical. One rule in Rust and Python: a `t` beyond 64 bits is as stale as can be,
    // a `kid` generation beyond 32 bits is malformed, an attempt beyond 32 bits or a slot that
    // is no date is a malformed execution header; leading zeros are only zeros.
    let mut cases = cases;
    let nines = |n: usize| "9".repeat(n);
    let padded_t = format!("{}{T}", "0".repeat(5000 - T.to_string().len()));
    let padded_generation = format!("finance:{}1", "0".repeat(4999));
    let big_kid = format!("finance:{}", nines(5000));
    let long_attempt = format!("{}.20270115T080000Z.s{}", &EXECUTION[..32], nines(5000));
    let numbers = [
        (
            "a t of 400 digits",
            by_hand(&nines(400), "finance:1", &nines(400)),
            None,
        ),
        (
            "a t of 5,000 digits",
            by_hand(&nines(5000), "finance:1", &nines(5000)),
            None,
        ),
        (
            "a t of 5,000 digits, leading zeros then the time, signed as written",
            by_hand(&padded_t, "finance:1", &padded_t),
            None,
        ),
        (
            "a kid generation of 5,000 digits",
            by_hand(&T.to_string(), &big_kid, &T.to_string()),
            None,
        ),
        (
            "a kid generation beyond 32 bits",
            by_hand(&T.to_string(), "finance:4294967297", &T.to_string()),
            None,
        ),
        (
            "a kid generation of 5,000 digits, leading zeros then 1",
            by_hand(&T.to_string(), &padded_generation, &T.to_string()),
            None,
        ),
        (
            "an attempt beyond 32 bits",
            by_hand(&T.to_string(), "finance:1", &T.to_string()),
            Some(format!("{}.20270115T080000Z.s4294967296", &EXECUTION[..32])),
        ),
        (
            "an attempt of 5,000 digits",
            by_hand(&T.to_string(), "finance:1", &T.to_string()),
            Some(long_attempt),
        ),
        (
            "a slot that is no date (month 13)",
            by_hand(&T.to_string(), "finance:1", &T.to_string()),
            Some(format!("{}.20271315T080000Z.s1", &EXECUTION[..32])),
        ),
    ];
    for (name, header, execution) in &numbers {
        cases.push(case(
            name,
            Sign::default(),
            Check {
                header: Some(Some(header.clone())),
                execution: execution.as_deref(),
                ..Check::default()
            },
        ));
    }
    // The generation reported is the held key's label, never the kid's (issue 27, item 5):
    // appended. Each is signed with generation 1's key and labelled `kid=finance:7`, or as
    // the scheduler signs during a rotation.
    let relabelled = || by_hand(&T.to_string(), "finance:7", &T.to_string());
    let both: &[(&str, u32)] = &[(SECRET, 2), (SECRET, 1)];
    for (name, header, keys, labels) in [
        (
            "generation 1's key, its kid labelled 7; the app holds generation 1's key, labelled",
            Some(relabelled()),
            None,
            Labels::Objects,
        ),
        (
            "generation 1's key, its kid labelled 7; the app holds both generations, labelled as text",
            Some(relabelled()),
            Some(both),
            Labels::Text,
        ),
        (
            "generation 1's key, its kid labelled 7; the app holds the key unlabelled",
            Some(relabelled()),
            None,
            Labels::Unlabelled,
        ),
        (
            "during a rotation, the app holding both generations, labelled",
            None,
            Some(both),
            Labels::Objects,
        ),
    ] {
        cases.push(case(
            name,
            Sign {
                generations: if header.is_none() { &[2, 1] } else { &[1] },
                ..Sign::default()
            },
            Check {
                header: header.map(Some),
                keys,
                labels,
                ..Check::default()
            },
        ));
    }
    // Records written before salts first (their keys as deployed), then salted records'
    // (appended: the entries above stay byte-identical).
    let derivation: Vec<Value> = [
        (SECRET, "finance", 1, None),
        (SECRET, "finance", 2, None),
        (OLD_SECRET, "finance", 1, None),
        (SECRET, "payroll", 1, None),
        (SECRET, "finance", 1, Some(SALT)),
        (SECRET, "finance", 1, Some(OTHER_SALT)),
        (SECRET, "finance", 2, Some(SALT)),
    ]
    .iter()
    .map(|(secret, app, generation, salt)| {
        let mut entry = json!({
            "deployment_secret": secret,
            "app": app,
            "generation": generation,
        });
        if let Some(salt) = salt {
            entry["salt"] = json!(salt);
        }
        entry["key"] = json!(app_key(secret, app, *generation, *salt));
        entry
    })
    .collect();
    json!({
        "scheme": "v2",
        "about": "Request-signing test vectors, shared by the Rust and Python tests; see docs/verifying-requests.md. Regenerate with PSU_SCHED_WRITE_VECTORS=1 cargo test -p psu-sched-shared signing.",
        "derivation": derivation,
        "cases": cases,
    })
}

#[test]
fn the_vectors_file_is_current() {
    let mut text = serde_json::to_string_pretty(&vectors()).expect("json");
    text.push('\n');
    if std::env::var_os("PSU_SCHED_WRITE_VECTORS").is_some() {
        std::fs::write(VECTORS, &text).expect("write the vectors");
    }
    let stored = std::fs::read_to_string(VECTORS).expect("docs/signing-v2-vectors.json");
    assert!(
        stored == text,
        "docs/signing-v2-vectors.json differs from the cases in shared/src/signing/tests.rs; regenerate it with PSU_SCHED_WRITE_VECTORS=1"
    );
}

#[test]
fn every_vector_verifies_as_the_file_says() {
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(VECTORS).expect("vectors")).expect("json");
    for entry in stored["derivation"].as_array().expect("derivation") {
        let generation = u32::try_from(entry["generation"].as_u64().expect("g")).expect("u32");
        assert_eq!(
            app_key(
                entry["deployment_secret"].as_str().expect("secret"),
                entry["app"].as_str().expect("app"),
                generation,
                entry["salt"].as_str(),
            ),
            entry["key"].as_str().expect("key")
        );
    }
    let cases = stored["cases"].as_array().expect("cases");
    let mut seen = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let expect = &case["expect"];
        match run(&case["request"], &case["verifier"]) {
            Ok(v) => {
                assert_eq!(expect["ok"], json!(true), "{name}: verified");
                assert_eq!(
                    expect["execution"],
                    json!(v.execution.to_string()),
                    "{name}"
                );
                assert_eq!(expect["job"], json!(v.job), "{name}");
                assert_eq!(expect["generation"], json!(v.kid_generation), "{name}");
                assert_eq!(
                    expect.get("key_generation").unwrap_or(&Value::Null),
                    &json!(v.generation),
                    "{name}"
                );
                seen.insert("ok");
            }
            Err(e) => {
                assert_eq!(expect["error"], json!(e.code()), "{name}: {e}");
                seen.insert(e.code());
            }
        }
    }
    // Every outcome is exercised.
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            "malformed",
            "mismatch",
            "missing_header",
            "ok",
            "stale",
            "wrong_app"
        ]
    );
}

#[test]
fn the_expected_outcomes_are_the_ones_the_cases_describe() {
    // The file is generated by the code it tests: pin the outcome of each case here, so a
    // change in the verifier cannot silently rewrite what the vectors expect.
    let outcomes: Vec<(String, String)> = vectors()["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let e = &c["expect"];
            let outcome = if e["ok"] == json!(true) {
                match e.get("key_generation") {
                    Some(key) => format!("ok:{} key:{key}", e["generation"]),
                    None => format!("ok:{}", e["generation"]),
                }
            } else {
                e["error"].as_str().expect("error").to_owned()
            };
            (c["name"].as_str().expect("name").to_owned(), outcome)
        })
        .collect();
    let expected = [
        "ok:1",
        "ok:1",
        "mismatch",
        "ok:1",
        "mismatch",
        "ok:1",
        "mismatch",
        "mismatch",
        "mismatch",
        "ok:1",
        "ok:2",
        "mismatch",
        "ok:2",
        "ok:1",
        "wrong_app",
        "mismatch",
        "mismatch",
        "wrong_app",
        "mismatch",
        "ok:1",
        "stale",
        "stale",
        "mismatch",
        "ok:1",
        "malformed",
        "malformed",
        "malformed",
        "missing_header",
        "ok:1",
        "malformed",
        "malformed",
        "malformed",
        "malformed",
        "ok:1",
        "stale",
        "missing_header",
        "missing_header",
        // Numbers beyond their bounds.
        "stale",
        "stale",
        "ok:1",
        "malformed",
        "malformed",
        "ok:1",
        "missing_header",
        "missing_header",
        "missing_header",
        // The held key's label, never the kid's.
        "ok:7 key:1",
        "ok:7 key:1",
        "ok:7 key:null",
        "ok:2 key:2",
    ];
    let got: Vec<&str> = outcomes.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!(got, expected, "{outcomes:#?}");
}

#[test]
fn keys_differ_by_app_generation_and_secret_and_are_64_hex() {
    let a1 = app_key(SECRET, "finance", 1, None);
    assert_eq!(a1.len(), 64);
    assert!(
        a1.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_ne!(a1, app_key(SECRET, "finance", 2, None));
    assert_ne!(a1, app_key(SECRET, "payroll", 1, None));
    assert_ne!(a1, app_key(OLD_SECRET, "finance", 1, None));
    // A record's salt makes its keys its own: the same name and generation under another
    // record (deleted and created again) or without a salt give other keys.
    let salted = app_key(SECRET, "finance", 1, Some(SALT));
    assert_eq!(salted.len(), 64);
    assert_ne!(salted, a1);
    assert_ne!(salted, app_key(SECRET, "finance", 1, Some(OTHER_SALT)));
}

#[test]
fn a_held_key_is_written_bare_or_labelled_and_its_debug_hides_it() {
    let key = app_key(SECRET, "finance", 1, None);
    assert_eq!(key.parse(), Ok(HeldKey::new(key.clone())));
    assert_eq!(
        format!("2:{key}").parse(),
        Ok(HeldKey::labelled(key.clone(), 2))
    );
    for bad in [
        format!("x:{key}"),
        format!("-1:{key}"),
        format!("4294967296:{key}"),
        "2:".to_owned(),
    ] {
        let refused = bad.parse::<HeldKey>().expect_err(&bad);
        assert!(!refused.to_string().contains(&key));
    }
    let shown = format!("{:?}", HeldKey::labelled(key.clone(), 2));
    assert!(
        !shown.contains(&key) && shown.contains("Some(2)"),
        "{shown}"
    );
}

#[test]
fn the_generation_reported_is_the_held_keys_label_never_the_kids() {
    // Signed with generation 1's key, labelled kid=finance:7.
    let key = app_key(SECRET, "finance", 1, None);
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        (HEADER_EXECUTION, EXECUTION.to_owned()),
        (HEADER_JOB, "finance/report".to_owned()),
        (
            HEADER_SIGNATURE,
            by_hand(&T.to_string(), "finance:7", &T.to_string()),
        ),
    ] {
        headers.insert(name, value.parse().expect("header"));
    }
    let verify = |keys: &[HeldKey]| {
        verify_signature(
            "finance",
            keys,
            &headers,
            "GET",
            "/scheduled/report",
            b"",
            DateTime::from_timestamp(T, 0).expect("now"),
            DEFAULT_TOLERANCE,
        )
        .map(|v| (v.generation, v.kid_generation))
    };
    let second = HeldKey::labelled(app_key(SECRET, "finance", 2, None), 2);
    assert_eq!(
        verify(&[second, HeldKey::labelled(key.clone(), 1)]),
        Ok((Some(1), 7))
    );
    assert_eq!(verify(&[HeldKey::new(key.clone())]), Ok((None, 7)));
    // Bare keys as before: `&[String]` still verifies.
    let bare = verify_signature(
        "finance",
        std::slice::from_ref(&key),
        &headers,
        "GET",
        "/scheduled/report",
        b"",
        DateTime::from_timestamp(T, 0).expect("now"),
        DEFAULT_TOLERANCE,
    );
    assert_eq!(bare.map(|v| v.generation), Ok(None));
}
