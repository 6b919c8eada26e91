//! An independent, brute-force schedule matcher for the tests: it asks, for one local
//! wall-clock minute, "does this schedule fire now?". It shares no code with croner or with
//! `shared::schedule`, so the two can check each other.
#![allow(dead_code)]

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike, Weekday};

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn name_value(s: &str, names: &[&str], base: u32) -> u32 {
    let up = s.to_ascii_uppercase();
    match names.iter().position(|n| *n == up) {
        Some(i) => i as u32 + base,
        None => s.parse().unwrap_or_else(|_| panic!("bad cron value {s}")),
    }
}

/// Does a simple field (`*`, `n`, `a-b`, steps, lists, names) contain `v`?
fn simple_field(field: &str, v: u32, min: u32, max: u32, names: &[&str], base: u32) -> bool {
    field.split(',').any(|part| {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().expect("step")),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (name_value(a, names, base), name_value(b, names, base))
        } else {
            let x = name_value(range, names, base);
            (x, if part.contains('/') { max } else { x })
        };
        v >= lo && v <= hi && (v - lo).is_multiple_of(step)
    })
}

fn last_day(date: NaiveDate) -> u32 {
    let (y, m) = (date.year(), date.month());
    let first_next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    first_next.expect("date").pred_opt().expect("date").day()
}

fn is_weekday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn dom_matches(field: &str, date: NaiveDate) -> bool {
    let last = last_day(date);
    field.split(',').any(|part| {
        if part == "L" {
            date.day() == last
        } else if let Some(n) = part.strip_suffix('W') {
            // The weekday nearest to day n, within the month.
            let n: u32 = n.parse().expect("W day");
            let target =
                NaiveDate::from_ymd_opt(date.year(), date.month(), n.min(last)).expect("d");
            let nearest = if is_weekday(target) {
                target
            } else if target.weekday() == Weekday::Sat {
                if target.day() == 1 {
                    target + chrono::Days::new(2)
                } else {
                    target - chrono::Days::new(1)
                }
            } else if target.day() == last {
                target - chrono::Days::new(2)
            } else {
                target + chrono::Days::new(1)
            };
            nearest == date
        } else {
            simple_field(part, date.day(), 1, 31, &[], 0)
        }
    })
}

fn dow_matches(field: &str, date: NaiveDate) -> bool {
    let dow = date.weekday().num_days_from_sunday();
    field.split(',').any(|part| {
        if let Some(d) = part.strip_suffix('L') {
            let d = name_value(d, &DAYS, 0) % 7;
            dow == d && date.day() + 7 > last_day(date)
        } else if let Some((d, nth)) = part.split_once('#') {
            let d = name_value(d, &DAYS, 0) % 7;
            let nth: u32 = nth.parse().expect("nth");
            dow == d && (date.day() - 1) / 7 + 1 == nth
        } else {
            // 7 is Sunday as well as 0.
            simple_field(part, dow, 0, 7, &DAYS, 0)
                || (dow == 0 && simple_field(part, 7, 0, 7, &DAYS, 0))
        }
    })
}

fn expand_macro(expr: &str) -> String {
    match expr {
        "@hourly" => "0 * * * *".into(),
        "@daily" | "@midnight" => "0 0 * * *".into(),
        "@weekly" => "0 0 * * 0".into(),
        "@monthly" => "0 0 1 * *".into(),
        "@yearly" | "@annually" => "0 0 1 1 *".into(),
        other => other.into(),
    }
}

fn parse_days(list: &str) -> Vec<u32> {
    let names = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let idx = |s: &str| {
        names
            .iter()
            .position(|n| *n == s.to_ascii_uppercase())
            .expect("day") as u32
    };
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => out.extend(idx(a)..=idx(b)),
            None => out.push(idx(part)),
        }
    }
    out
}

fn hm(s: &str) -> u32 {
    let (h, m) = s.split_once(':').expect("HH:MM");
    h.parse::<u32>().expect("h") * 60 + m.parse::<u32>().expect("m")
}

/// Does `schedule` (cron, macro, `at ...` or `every ...`) fire at local wall time `local`?
pub fn fires(schedule: &str, local: NaiveDateTime) -> bool {
    let schedule = schedule.trim();
    let date = local.date();
    let minute_of_day = local.hour() * 60 + local.minute();
    let lower = schedule.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("at ") {
        let (times, days) = match rest.split_once(" on ") {
            Some((t, d)) => (t, Some(parse_days(d))),
            None => (rest, None),
        };
        let day_ok = days.is_none_or(|d| d.contains(&date.weekday().num_days_from_monday()));
        return day_ok && times.split(',').any(|t| hm(t.trim()) == minute_of_day);
    }
    if let Some(rest) = lower.strip_prefix("every ") {
        let (rest, days) = match rest.split_once(" on ") {
            Some((r, d)) => (r, Some(parse_days(d))),
            None => (rest, None),
        };
        let (every, window) = match rest.split_once(" between ") {
            Some((e, w)) => {
                let (a, b) = w.split_once('-').expect("window");
                (e, (hm(a), hm(b)))
            }
            None => (rest, (0, 23 * 60 + 59)),
        };
        let n: u32 = if let Some(h) = every.strip_suffix('h') {
            h.parse::<u32>().expect("h") * 60
        } else {
            every.trim_end_matches('m').parse().expect("minutes")
        };
        let day_ok = days.is_none_or(|d| d.contains(&date.weekday().num_days_from_monday()));
        return day_ok
            && minute_of_day >= window.0
            && minute_of_day <= window.1
            && (minute_of_day - window.0).is_multiple_of(n);
    }
    let expr = expand_macro(&lower);
    let f: Vec<&str> = expr.split_whitespace().collect();
    assert_eq!(f.len(), 5, "five fields: {schedule}");
    let upper: Vec<String> = f.iter().map(|s| s.to_ascii_uppercase()).collect();
    let minute_ok = simple_field(&upper[0], local.minute(), 0, 59, &[], 0);
    let hour_ok = simple_field(&upper[1], local.hour(), 0, 23, &[], 0);
    let month_ok = simple_field(&upper[3], date.month(), 1, 12, &MONTHS, 1);
    let (dom_star, dow_star) = (upper[2] == "*", upper[4] == "*");
    let day_ok = match (dom_star, dow_star) {
        (true, true) => true,
        (false, true) => dom_matches(&upper[2], date),
        (true, false) => dow_matches(&upper[4], date),
        (false, false) => dom_matches(&upper[2], date) || dow_matches(&upper[4], date),
    };
    minute_ok && hour_ok && month_ok && day_ok
}

#[test]
fn the_brute_force_matcher_reads_the_forms_it_is_given() {
    let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("t");
    // 2026-11-30 is the last day of November, a Monday, the fifth Monday.
    assert!(fires("15 * L * *", t("2026-11-30 09:15")));
    assert!(!fires("15 * L * *", t("2026-11-29 09:15")));
    assert!(fires("25 * * * 1#5", t("2026-11-30 09:25")));
    assert!(fires("40 * * * 1L", t("2026-11-30 09:40")));
    assert!(fires("20 * 29W * *", t("2026-11-30 08:20"))); // the 29th is a Sunday
    assert!(fires("50 * * NOV *", t("2026-11-30 08:50")));
    assert!(fires(
        "every 25m between 08:00-10:30",
        t("2026-11-30 08:50")
    ));
    assert!(!fires(
        "every 25m between 08:00-10:30",
        t("2026-11-30 10:35")
    ));
    assert!(fires("at 09:00,10:00 on mon,wed", t("2026-11-30 10:00")));
    assert!(!fires("at 09:00,10:00 on tue", t("2026-11-30 10:00")));
    assert!(fires("@hourly", t("2026-11-30 10:00")));
}
