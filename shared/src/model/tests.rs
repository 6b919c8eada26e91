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
        // Review of issue 32: parsed with `jobs` (`app.example`) as the host, and accepted.
        "http:///jobs/x",
        "https:app.example/x",
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

fn schedule(text: &str) -> crate::schedule::Schedule {
    text.parse().expect("schedule")
}

#[test]
fn a_jitter_offset_is_fixed_by_the_job_and_the_slot_and_stays_under_the_jitter() {
    let id = JobId::parse("0123456789abcdef0123456789abcdef").expect("id");
    let slot = Utc
        .with_ymd_and_hms(2026, 12, 8, 2, 0, 0)
        .single()
        .expect("slot");
    // Pinned: FNV-1a 64 of "0123456789abcdef0123456789abcdef.20261208T020000Z", times 300,
    // over 2^64 (docs/data-model.md, "Jitter"). It may never change: racing ticks, stores
    // and releases must agree on it.
    let text = format!("{id}.20261208T020000Z");
    let hash = crate::hash::fnv1a_64(text.as_bytes());
    let want = i64::try_from((u128::from(hash) * 300) >> 64).expect("small");
    assert_eq!(jitter_offset(&id, slot, 300_000).num_seconds(), want);
    assert_eq!(
        jitter_offset(&id, slot, 300_000),
        jitter_offset(&id, slot, 300_000)
    );
    assert_eq!(jitter_offset(&id, slot, 0), chrono::TimeDelta::zero());
    let mut seen = std::collections::HashSet::new();
    for minute in 0..2000 {
        let slot = slot + chrono::TimeDelta::minutes(minute);
        let offset = jitter_offset(&id, slot, 300_000);
        assert!(offset >= chrono::TimeDelta::zero() && offset < chrono::TimeDelta::minutes(5));
        assert_eq!(offset.subsec_nanos(), 0, "whole seconds");
        seen.insert(offset.num_seconds());
    }
    assert!(
        seen.len() > 250,
        "spread over the window: {} values",
        seen.len()
    );
}

#[test]
fn a_jitter_not_under_the_schedules_smallest_gap_is_refused_naming_the_gap() {
    let now = Utc
        .with_ymd_and_hms(2026, 12, 7, 3, 0, 0)
        .single()
        .expect("now");
    let paris: chrono_tz::Tz = "Europe/Paris".parse().expect("zone");
    let every5 = schedule("*/5 * * * *");
    let err = validate_jitter(Duration::from_secs(600), &every5, paris, now).expect_err("10m");
    assert_eq!(
        err.to_string(),
        "jitter: 10m is not less than the schedule's smallest gap between two runs, 5m (over the next year, in Europe/Paris); use less than 5m"
    );
    assert!(validate_jitter(Duration::from_secs(300), &every5, paris, now).is_err());
    assert!(validate_jitter(Duration::from_secs(299), &every5, paris, now).is_ok());
    assert!(validate_jitter(Duration::ZERO, &every5, paris, now).is_ok());
    assert!(validate_jitter(Duration::from_secs(59), &schedule("* * * * *"), paris, now).is_ok());
    let daily = schedule("0 2 * * *");
    assert!(validate_jitter(Duration::from_secs(5 * 3600), &daily, paris, now).is_ok());
    let err = validate_jitter(Duration::from_secs(86_401), &daily, paris, now).expect_err("1d1s");
    assert_eq!(err.field, "jitter");
    assert!(err.message.contains("at most 1d"), "{err}");
}

#[test]
fn the_smallest_gap_counts_the_hour_daylight_saving_time_takes_away() {
    // 01:00 and 03:00 in New York are 2 hours apart, except on the day clocks spring forward
    // (2027-03-14, 02:00 EST becomes 03:00 EDT): 06:00Z then 07:00Z, one hour.
    let now = Utc
        .with_ymd_and_hms(2026, 12, 7, 3, 0, 0)
        .single()
        .expect("now");
    let ny: chrono_tz::Tz = "America/New_York".parse().expect("zone");
    let twice = schedule("0 1,3 * * *");
    assert_eq!(
        twice.smallest_gap(ny, now, chrono::TimeDelta::days(366)),
        Some(chrono::TimeDelta::hours(1))
    );
    assert_eq!(
        twice.smallest_gap(chrono_tz::Tz::UTC, now, chrono::TimeDelta::days(366)),
        Some(chrono::TimeDelta::hours(2)),
        "without daylight saving time"
    );
    let err = validate_jitter(Duration::from_secs(90 * 60), &twice, ny, now).expect_err("90m");
    assert!(
        err.to_string().contains(
            "smallest gap between two runs, 1h (over the next year, in America/New_York)"
        ),
        "{err}"
    );
    assert!(
        validate_jitter(
            Duration::from_secs(90 * 60),
            &twice,
            chrono_tz::Tz::UTC,
            now
        )
        .is_ok()
    );
}
