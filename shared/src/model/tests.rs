//! The model's unit tests.

#[test]
fn a_capped_text_fits_its_limit_on_a_character_boundary_and_marks_the_cut() {
    assert_eq!(cap_text("short".into(), 10), "short");
    let capped = cap_text("é".repeat(1000), 101);
    assert!(capped.len() <= 101, "{}", capped.len());
    assert!(capped.ends_with('…'));
    assert!(capped.starts_with("éé"));
    let exact = cap_text("x".repeat(1024), 1024);
    assert_eq!(exact.len(), 1024, "at the limit: kept whole");
}
use chrono::TimeZone;

use std::time::Duration;

use chrono::Utc;

use super::*;

#[test]
fn names_accept_letters_digits_dash_and_underscore_starting_with_a_letter_or_digit() {
    for ok in [
        "a",
        "billing",
        "Nightly_Report-2",
        "9lives",
        &"x".repeat(64),
    ] {
        assert!(AppName::parse(ok).is_ok(), "{ok}");
        assert!(JobName::parse(ok).is_ok(), "{ok}");
    }
    for bad in ["", "-x", "_x", "a b", "a/b", "é", &"x".repeat(65)] {
        let err = JobName::parse(bad).expect_err(bad);
        assert_eq!(err.field, "name");
        assert!(err.to_string().starts_with("name: "), "{err}");
    }
}

#[test]
fn urls_must_be_http_or_https_without_credentials() {
    assert!(JobUrl::parse("https://app.example.edu/scheduler/run?x=1").is_ok());
    assert!(JobUrl::parse("http://127.0.0.1:8000/job").is_ok());
    for bad in [
        "ftp://host/x",
        "file:///etc/passwd",
        "https://user:pw@host/x",
        "not a url",
        "http://",
    ] {
        let err = JobUrl::parse(bad).expect_err(bad);
        assert_eq!(err.field, "url", "{bad}: {err}");
    }
}

#[test]
fn an_execution_id_encodes_its_key_and_round_trips() {
    let job = JobId::new();
    let slot = Utc
        .with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
        .single()
        .expect("valid");
    let id = ExecutionId::new(job.clone(), slot, Trigger::Schedule, 2);
    let text = id.to_string();
    assert_eq!(text, format!("{job}.20261126T093000Z.s2"));
    assert_eq!(ExecutionId::parse(&text).expect("parse"), id);
    assert_eq!(id.slot_key(), "20261126T093000Z#s02");
    for bad in [
        "",
        "x.y.z",
        &format!("{job}.20261126T093000Z.s0"),
        &format!("{job}.2026.s1"),
    ] {
        assert!(ExecutionId::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_new_job_rejects_bad_bounds_timeouts_and_retries() {
    let now = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid");
    let spec = NewJob::new(
        AppName::parse("app").expect("app"),
        JobName::parse("job").expect("name"),
        JobUrl::parse("https://example.edu/job").expect("url"),
        "0 9 * * *".parse().expect("schedule"),
    );
    let mut s = spec.clone();
    s.timeout = Duration::from_secs(15 * 60);
    assert_eq!(s.build(now).expect_err("timeout").field, "timeout");
    let mut s = spec.clone();
    s.retries = 6;
    assert_eq!(s.build(now).expect_err("retries").field, "retries");
    let mut s = spec.clone();
    s.start = Some(now + chrono::Duration::days(2));
    s.end = Some(now + chrono::Duration::days(1));
    assert_eq!(s.build(now).expect_err("bounds").field, "end");
    let job = spec.build(now).expect("valid");
    assert_eq!(job.state.next_slot, Some(now + chrono::Duration::hours(9)));
}

#[test]
fn an_unknown_time_zone_suggests_close_names() {
    let err = parse_timezone("America/Los_Angles").expect_err("typo");
    assert_eq!(err.field, "timezone");
    let err = parse_timezone("Los_Angeles").expect_err("no region");
    assert!(err.to_string().contains("America/Los_Angeles"), "{err}");
}
