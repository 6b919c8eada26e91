use std::collections::{BTreeSet, HashSet};

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Weekday};
use chrono_tz::America::Los_Angeles;
use chrono_tz::Australia::Lord_Howe;
use chrono_tz::Europe::London;

use super::cron::{CRON_DAY_NAMES, MONTH_NAMES};
use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn sched(text: &str) -> Schedule {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str) -> String {
    match text.parse::<Schedule>() {
        Ok(s) => panic!("{text} parsed as {s}"),
        Err(e) => e.to_string(),
    }
}

/// The slots in `(from, until]`, by iterating `next_after`, as `MM-DDTHH:MMZ`.
fn slots(schedule: &Schedule, tz: Tz, from: &str, until: &str) -> Vec<String> {
    let until = utc(until);
    let mut out = Vec::new();
    let mut t = utc(from);
    while let Some(next) = schedule.next_after(t, tz) {
        if next > until {
            break;
        }
        assert!(next > t, "{schedule}: {next} is not after {t}");
        out.push(next.format("%m-%dT%H:%MZ").to_string());
        t = next;
    }
    out
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---- DST in America/Los_Angeles ------------------------------------------------------

#[test]
fn a_fixed_time_in_the_spring_forward_gap_runs_once_at_the_first_instant_after_it() {
    let s = sched("30 2 * * *");
    assert_eq!(
        slots(
            &s,
            Los_Angeles,
            "2026-03-07T00:00:00Z",
            "2026-03-10T00:00:00Z"
        ),
        strings(&["03-07T10:30Z", "03-08T10:00Z", "03-09T09:30Z"])
    );
}

#[test]
fn a_fixed_time_in_the_fall_back_overlap_runs_once_at_its_first_occurrence() {
    let s = sched("30 1 * * *");
    assert_eq!(
        slots(
            &s,
            Los_Angeles,
            "2026-10-31T00:00:00Z",
            "2026-11-03T00:00:00Z"
        ),
        strings(&["10-31T08:30Z", "11-01T08:30Z", "11-02T09:30Z"])
    );
}

#[test]
fn a_list_of_hours_and_an_at_schedule_run_once_per_wall_time_on_the_fall_back_day() {
    let expected = strings(&[
        "10-31T08:30Z",
        "10-31T20:30Z",
        "11-01T08:30Z",
        "11-01T21:30Z",
        "11-02T09:30Z",
        "11-02T21:30Z",
    ]);
    for text in ["30 1,13 * * *", "at 01:30,13:30"] {
        let s = sched(text);
        assert!(s.is_fixed_time(), "{text}");
        assert_eq!(
            slots(
                &s,
                Los_Angeles,
                "2026-10-31T00:00:00Z",
                "2026-11-03T00:00:00Z"
            ),
            expected,
            "{text}"
        );
    }
}

#[test]
fn an_hourly_schedule_runs_at_both_one_oclocks_when_clocks_fall_back() {
    let s = sched("0 * * * *");
    assert!(!s.is_fixed_time());
    assert_eq!(
        slots(
            &s,
            Los_Angeles,
            "2026-11-01T06:30:00Z",
            "2026-11-01T10:30:00Z"
        ),
        strings(&[
            "11-01T07:00Z",
            "11-01T08:00Z",
            "11-01T09:00Z",
            "11-01T10:00Z"
        ])
    );
}

#[test]
fn an_hourly_schedule_has_no_two_oclock_slot_when_clocks_spring_forward() {
    let s = sched("0 * * * *");
    let got = slots(
        &s,
        Los_Angeles,
        "2026-03-08T07:30:00Z",
        "2026-03-08T11:30:00Z",
    );
    assert_eq!(
        got,
        strings(&[
            "03-08T08:00Z",
            "03-08T09:00Z",
            "03-08T10:00Z",
            "03-08T11:00Z"
        ])
    );
    let walls: Vec<String> = ["2026-03-08T08:00:00Z", "2026-03-08T10:00:00Z"]
        .iter()
        .map(|t| {
            utc(t)
                .with_timezone(&Los_Angeles)
                .format("%H:%M")
                .to_string()
        })
        .collect();
    assert_eq!(walls, ["00:00", "03:00"]);
}

#[test]
fn every_fifteen_minutes_runs_every_real_quarter_hour_across_both_transitions() {
    let s = sched("*/15 * * * *");
    for (from, until, short_day, long_day) in [
        (
            "2026-03-07T00:00:00Z",
            "2026-03-10T00:00:00Z",
            "2026-03-08",
            None,
        ),
        (
            "2026-10-31T00:00:00Z",
            "2026-11-03T00:00:00Z",
            "",
            Some("2026-11-01"),
        ),
    ] {
        let mut t = utc(from);
        let mut per_day = std::collections::BTreeMap::<String, usize>::new();
        while let Some(next) = s.next_after(t, Los_Angeles) {
            if next > utc(until) {
                break;
            }
            assert_eq!(next - t, TimeDelta::minutes(15).max(next - t));
            if t > utc(from) {
                assert_eq!(next - t, TimeDelta::minutes(15), "after {t}");
            }
            let local = next.with_timezone(&Los_Angeles).date_naive().to_string();
            *per_day.entry(local).or_default() += 1;
            t = next;
        }
        if !short_day.is_empty() {
            assert_eq!(per_day[short_day], 92);
        }
        if let Some(day) = long_day {
            assert_eq!(per_day[day], 100);
        }
    }
    // The quarter hours around the gap and the overlap.
    assert_eq!(
        slots(
            &s,
            Los_Angeles,
            "2026-03-08T09:30:00Z",
            "2026-03-08T10:15:00Z"
        ),
        strings(&["03-08T09:45Z", "03-08T10:00Z", "03-08T10:15Z"])
    );
    assert_eq!(
        slots(
            &s,
            Los_Angeles,
            "2026-11-01T08:30:00Z",
            "2026-11-01T09:15:00Z"
        ),
        strings(&["11-01T08:45Z", "11-01T09:00Z", "11-01T09:15Z"])
    );
}

#[test]
fn a_gap_shifted_slot_and_a_real_three_oclock_slot_are_one_slot() {
    let s = sched("30 2 * * *");
    let both = sched("30 2,3 * * *");
    assert_eq!(
        slots(
            &both,
            Los_Angeles,
            "2026-03-08T00:00:00Z",
            "2026-03-08T23:00:00Z"
        ),
        strings(&["03-08T10:00Z", "03-08T10:30Z"])
    );
    let three = sched("0 2,3 * * *");
    assert_eq!(
        slots(
            &three,
            Los_Angeles,
            "2026-03-08T00:00:00Z",
            "2026-03-08T23:00:00Z"
        ),
        strings(&["03-08T10:00Z"])
    );
    assert_eq!(
        s.next_after(utc("2026-03-08T09:59:59.5Z"), Los_Angeles),
        Some(utc("2026-03-08T10:00:00Z"))
    );
}

// ---- A reference matcher, independent of croner -----------------------------------------

/// A schedule as the reference understands it.
struct Reference {
    /// Wall minutes of a matching day.
    minutes: Vec<bool>,
    day: Box<dyn Fn(NaiveDate) -> bool>,
    fixed: bool,
}

/// Values of one simple cron field: lists of `*`, `a`, `a-b`, each optionally `/step`.
fn ref_field(text: &str, min: u32, max: u32, names: &[&str], name_base: u32) -> Vec<u32> {
    let value = |s: &str| -> u32 {
        let upper = s.to_uppercase();
        match names.iter().position(|n| *n == upper) {
            Some(i) => name_base + i as u32,
            None => s
                .parse()
                .unwrap_or_else(|_| panic!("reference cannot read `{s}`")),
        }
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<usize>().unwrap()),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a), value(b))
        } else {
            (value(range), value(range))
        };
        out.extend((lo..=hi).step_by(step));
    }
    out
}

fn ref_cron(expr: &str) -> Reference {
    let f: Vec<&str> = expr.split_whitespace().collect();
    assert_eq!(f.len(), 5);
    let mins = ref_field(f[0], 0, 59, &[], 0);
    let hours = ref_field(f[1], 0, 23, &[], 0);
    let mut minutes = vec![false; 1440];
    for h in &hours {
        for m in &mins {
            minutes[(h * 60 + m) as usize] = true;
        }
    }
    let doms: HashSet<u32> = ref_field(f[2], 1, 31, &[], 0).into_iter().collect();
    let months: HashSet<u32> = ref_field(f[3], 1, 12, &MONTH_NAMES, 1)
        .into_iter()
        .collect();
    let dows: HashSet<u32> = ref_field(f[4], 0, 7, &CRON_DAY_NAMES, 0)
        .into_iter()
        .map(|d| d % 7)
        .collect();
    let (dom_star, dow_star) = (f[2] == "*", f[4] == "*");
    let plain = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == ',');
    Reference {
        minutes,
        fixed: plain(f[0]) && plain(f[1]),
        day: Box::new(move |d: NaiveDate| {
            let dom = doms.contains(&d.day());
            let dow = dows.contains(&d.weekday().num_days_from_sunday());
            months.contains(&d.month())
                && match (dom_star, dow_star) {
                    (true, true) => true,
                    (true, false) => dow,
                    (false, true) => dom,
                    (false, false) => dom || dow,
                }
        }),
    }
}

fn ref_weekly(minutes_of_day: &[u32], days: &[Weekday], fixed: bool) -> Reference {
    let mut minutes = vec![false; 1440];
    for &m in minutes_of_day {
        minutes[m as usize] = true;
    }
    let days: Vec<Weekday> = days.to_vec();
    Reference {
        minutes,
        fixed,
        day: Box::new(move |d: NaiveDate| days.contains(&d.weekday())),
    }
}

/// A real instant, its wall clock, and the wall clock one sweep step earlier.
type Wall = (i64, NaiveDateTime, NaiveDateTime);

/// Every slot among `walls` (real instants in order, `step` seconds apart, except that
/// instants off the whole wall minute may be left out), applying the DST rules directly.
fn ref_slots(r: &Reference, walls: &[Wall], step: i64) -> Vec<i64> {
    let whole_minute = |w: NaiveDateTime| w.second() == 0;
    let matches = |w: NaiveDateTime| {
        whole_minute(w) && r.minutes[(w.hour() * 60 + w.minute()) as usize] && (r.day)(w.date())
    };
    let mut seen: HashSet<NaiveDateTime> = HashSet::new();
    let mut out = BTreeSet::new();
    // Wall minutes skipped by a gap run once, at the first whole wall minute after it.
    let mut skipped = false;
    for &(t, wall, p) in walls {
        if r.fixed && wall - p > TimeDelta::seconds(step) {
            let mut w = p.with_second(0).unwrap() + TimeDelta::minutes(1);
            while w < wall {
                skipped |= matches(w) && seen.insert(w);
                w += TimeDelta::minutes(1);
            }
        }
        if skipped && whole_minute(wall) {
            out.insert(t);
            skipped = false;
        }
        if matches(wall) && (!r.fixed || seen.insert(wall)) {
            out.insert(t);
        }
    }
    out.into_iter().collect()
}

/// Every `step` seconds in `[from, to)` with its wall clock in `tz`, keeping only instants
/// on a whole wall minute or just after a jump of the clock.
fn walls(tz: Tz, from: i64, to: i64, step: i64) -> Vec<Wall> {
    let wall = |t: i64| {
        DateTime::from_timestamp(t, 0)
            .unwrap()
            .with_timezone(&tz)
            .naive_local()
    };
    let mut prev = wall(from - step);
    let mut out = Vec::new();
    for t in (from..to).step_by(step as usize) {
        let w = wall(t);
        if w.second() == 0 || w - prev != TimeDelta::seconds(step) {
            out.push((t, w, prev));
        }
        prev = w;
    }
    out
}

/// Compares `next_after` with the reference over `[from, to)` (Unix seconds); `walls`
/// (`step` seconds apart) cover a few more days on each side.
fn compare(
    s: &Schedule,
    r: &Reference,
    tz: Tz,
    (walls, step): (&[Wall], i64),
    (from, to): (i64, i64),
) -> usize {
    let sweep_to = walls.last().map_or(to, |w| w.0 + step);
    let expected = ref_slots(r, walls, step);
    let mut checks = 0;
    let mut check = |after: DateTime<Utc>| {
        let i = expected.partition_point(|&e| e <= after.timestamp());
        let got = s.next_after(after, tz).map(|g| g.timestamp());
        match expected.get(i) {
            Some(&e) => assert_eq!(
                got,
                Some(e),
                "{s} in {tz} after {after}: expected {}",
                DateTime::from_timestamp(e, 0).unwrap()
            ),
            None => assert!(
                got.is_none_or(|g| g >= sweep_to),
                "{s} in {tz} after {after}"
            ),
        }
        checks += 1;
    };
    // Every slot in the window, from the instant before it and from the slot itself.
    for &e in expected.iter().filter(|&&e| e >= from && e < to) {
        check(DateTime::from_timestamp(e - 1, 0).unwrap());
        check(DateTime::from_timestamp(e, 0).unwrap());
    }
    // And arbitrary instants, with a fraction of a second.
    let mut t = from;
    while t < to {
        check(DateTime::from_timestamp(t, 250_000_000).unwrap());
        t += 11 * 60 + 7;
    }
    checks
}

/// Compares a dozen cron expressions and three old-form schedules with the reference in
/// `tz` over windows of `half_width` days either side of each of `centres`, sweeping real
/// time `step` seconds at a time.
fn agrees_with_the_reference(tz: Tz, centres: &[&str], half_width: i64, step: i64) {
    let exprs = [
        // Fixed-time.
        "30 2 * * *",
        "30 1 * * *",
        "30 1,13 * * *",
        "0,30 0,1,2,3 * * *",
        "45 23 * * *",
        "0 2 1,15 * SUN",
        "15 9 * * MON-FRI",
        // Interval.
        "*/15 * * * *",
        "0 * * * *",
        "*/7 1-3 * * *",
        "10-20/5 0-4 * * *",
        "30 */2 * * *",
        "* 2 * * SAT,SUN",
        "0 0-23/3 * MAR,APR,OCT,NOV *",
    ];
    let mut cases: Vec<(Schedule, Reference)> =
        exprs.iter().map(|e| (sched(e), ref_cron(e))).collect();
    use Weekday::*;
    cases.push((
        sched("at 01:30,02:15,13:00 on mon-fri,sun"),
        ref_weekly(&[90, 135, 780], &[Mon, Tue, Wed, Thu, Fri, Sun], true),
    ));
    let every25: Vec<u32> = (40..=190).step_by(25).collect();
    cases.push((
        sched("every 25m between 00:40-03:10"),
        ref_weekly(&every25, &[Mon, Tue, Wed, Thu, Fri, Sat, Sun], false),
    ));
    let every90: Vec<u32> = (0..1440).step_by(90).collect();
    cases.push((
        sched("every 90m on sat,sun"),
        ref_weekly(&every90, &[Sat, Sun], false),
    ));
    for (s, r) in &cases {
        assert_eq!(s.is_fixed_time(), r.fixed, "{s}");
    }

    let mut checks = 0;
    for centre in centres {
        let centre = utc(&format!("{centre}T00:00:00Z")).timestamp();
        let (from, to) = (
            centre - half_width * SECS_PER_DAY,
            centre + half_width * SECS_PER_DAY,
        );
        let margin = 2 * SECS_PER_DAY;
        let walls = walls(tz, from - margin, to + margin, step);
        for (s, r) in &cases {
            checks += compare(s, r, tz, (&walls, step), (from, to));
        }
    }
    assert!(
        checks as i64 > 500 * half_width * centres.len() as i64,
        "{checks}"
    );
}

#[test]
fn next_after_agrees_with_a_brute_force_reference_in_los_angeles() {
    agrees_with_the_reference(Los_Angeles, &["2026-03-08", "2026-11-01"], 16, 60);
}

#[test]
fn next_after_agrees_with_a_brute_force_reference_in_london() {
    agrees_with_the_reference(London, &["2026-03-29", "2026-10-25"], 16, 60);
}

#[test]
fn next_after_agrees_with_a_brute_force_reference_on_lord_howe_island() {
    // DST there moves the clock by 30 minutes.
    agrees_with_the_reference(Lord_Howe, &["2026-04-05", "2026-10-04"], 16, 60);
}

#[test]
fn next_after_agrees_with_a_brute_force_reference_in_utc() {
    agrees_with_the_reference(chrono_tz::UTC, &["2026-06-15"], 16, 60);
}

#[test]
fn next_after_agrees_with_the_reference_when_samoa_skipped_a_whole_day() {
    // 2011-12-30 does not exist in Pacific/Apia: the clock went from -10 to +14.
    agrees_with_the_reference(chrono_tz::Pacific::Apia, &["2011-12-30"], 5, 60);
    let s = sched("0 12 * * *");
    assert_eq!(
        slots(
            &s,
            chrono_tz::Pacific::Apia,
            "2011-12-29T00:00:00Z",
            "2011-12-31T00:00:00Z"
        ),
        strings(&["12-29T22:00Z", "12-30T10:00Z", "12-30T22:00Z"])
    );
}

#[test]
fn next_after_agrees_with_the_reference_when_alaska_repeated_a_whole_day() {
    // In 1867 Sitka went from +14:58:47 to -09:01:13, living October 18th twice; offsets
    // with seconds need a second-by-second sweep.
    agrees_with_the_reference(chrono_tz::America::Sitka, &["1867-10-19"], 1, 1);
}

#[test]
fn next_after_agrees_with_the_reference_when_manila_skipped_a_whole_day() {
    // Manila skipped 1844-12-31, going from -15:56:08 to +08:03:52.
    agrees_with_the_reference(chrono_tz::Asia::Manila, &["1845-01-01"], 1, 1);
}

#[test]
fn the_general_minute_by_minute_path_agrees_with_the_fast_transition_path() {
    let exprs = [
        "30 2 * * *",
        "30 1,13 * * *",
        "*/15 * * * *",
        "0 * * * *",
        "* 1-2 * * *",
    ];
    let days = [
        (Los_Angeles, "2026-03-08"),
        (Los_Angeles, "2026-11-01"),
        (London, "2026-03-29"),
        (London, "2026-10-25"),
        (Lord_Howe, "2026-04-05"),
        (Lord_Howe, "2026-10-04"),
    ];
    for expr in exprs {
        let s = sched(expr);
        for (tz, date) in days {
            let start = utc(&format!("{date}T00:00:00Z")).timestamp();
            let day = start / SECS_PER_DAY;
            let mut a = start - SECS_PER_DAY;
            while a < start + 2 * SECS_PER_DAY {
                let (fast, stable) = s.first_on_day(day, a, tz).unwrap();
                assert!(!stable, "{date} in {tz}");
                assert_eq!(fast, s.enumerate_day(day, a, tz), "{expr} {tz} {date} {a}");
                a += 7 * 60;
            }
        }
    }
}

// ---- Day-of-month and day-of-week features ---------------------------------------------

fn utc_slots(text: &str, from: &str, count: usize) -> Vec<String> {
    let s = sched(text);
    let mut t = utc(from);
    (0..count)
        .map(|_| {
            t = s.next_after(t, chrono_tz::UTC).unwrap();
            t.format("%Y-%m-%d %H:%M").to_string()
        })
        .collect()
}

#[test]
fn a_hash_picks_the_nth_weekday_of_the_month() {
    assert_eq!(
        utc_slots("0 9 * * 5#2", "2026-01-01T00:00:00Z", 3),
        ["2026-01-09 09:00", "2026-02-13 09:00", "2026-03-13 09:00"]
    );
}

#[test]
fn l_in_day_of_month_is_the_last_day_and_in_day_of_week_the_last_such_weekday() {
    assert_eq!(
        utc_slots("0 9 L * *", "2026-01-01T00:00:00Z", 3),
        ["2026-01-31 09:00", "2026-02-28 09:00", "2026-03-31 09:00"]
    );
    assert_eq!(
        utc_slots("0 9 * * 5L", "2026-01-01T00:00:00Z", 3),
        ["2026-01-30 09:00", "2026-02-27 09:00", "2026-03-27 09:00"]
    );
}

#[test]
fn w_picks_the_nearest_weekday() {
    assert_eq!(
        utc_slots("0 9 15W * *", "2026-01-01T00:00:00Z", 3),
        ["2026-01-15 09:00", "2026-02-16 09:00", "2026-03-16 09:00"]
    );
    assert_eq!(
        utc_slots("0 9 15W * *", "2026-08-01T00:00:00Z", 1),
        ["2026-08-14 09:00"]
    );
    assert_eq!(
        utc_slots("0 9 LW * *", "2026-01-01T00:00:00Z", 3),
        ["2026-01-30 09:00", "2026-02-27 09:00", "2026-03-31 09:00"]
    );
}

#[test]
fn day_and_month_names_work_in_any_case_and_seven_is_sunday() {
    assert_eq!(
        utc_slots("0 9 * JAN,jun Mon", "2026-01-20T00:00:00Z", 3),
        ["2026-01-26 09:00", "2026-06-01 09:00", "2026-06-08 09:00"]
    );
    assert_eq!(
        utc_slots("0 0 * * 7", "2026-01-01T00:00:00Z", 1),
        ["2026-01-04 00:00"]
    );
    assert_eq!(
        utc_slots("0 0 * * fri-sun", "2026-01-01T00:00:00Z", 4),
        [
            "2026-01-02 00:00",
            "2026-01-03 00:00",
            "2026-01-04 00:00",
            "2026-01-09 00:00"
        ]
    );
    assert_eq!(sched("0 9 * jan,jun mon").to_string(), "0 9 * JAN,JUN MON");
}

#[test]
fn day_of_month_and_day_of_week_combine_with_or() {
    assert_eq!(
        utc_slots("0 9 13 * FRI", "2026-01-01T00:00:00Z", 4),
        [
            "2026-01-02 09:00",
            "2026-01-09 09:00",
            "2026-01-13 09:00",
            "2026-01-16 09:00"
        ]
    );
}

#[test]
fn macros_expand_to_cron_and_keep_their_name() {
    let from = "2026-01-01T10:00:00Z";
    for (text, shown, fixed, next) in [
        ("@hourly", "@hourly", false, "2026-01-01 11:00"),
        ("@DAILY", "@daily", true, "2026-01-02 00:00"),
        ("@midnight", "@midnight", true, "2026-01-02 00:00"),
        ("@weekly", "@weekly", true, "2026-01-04 00:00"),
        ("@monthly", "@monthly", true, "2026-02-01 00:00"),
        ("@yearly", "@yearly", true, "2027-01-01 00:00"),
        (" @Annually ", "@annually", true, "2027-01-01 00:00"),
    ] {
        let s = sched(text);
        assert_eq!(s.to_string(), shown);
        assert_eq!(s.is_fixed_time(), fixed, "{text}");
        assert_eq!(utc_slots(text, from, 1), [next], "{text}");
    }
    assert_eq!(sched("@daily").describe(), sched("0 0 * * *").describe());
    assert_eq!(
        err("@fortnightly"),
        "unknown macro `@fortnightly`: expected @hourly, @daily, @midnight, @weekly, \
         @monthly, @yearly or @annually"
    );
}

// ---- The old app's forms ------------------------------------------------------------------

#[test]
fn at_runs_at_each_time_on_the_listed_days() {
    // 2026-01-01 is a Thursday.
    assert_eq!(
        utc_slots("at 13:30,08:00 on mon,wed", "2026-01-01T00:00:00Z", 5),
        [
            "2026-01-05 08:00",
            "2026-01-05 13:30",
            "2026-01-07 08:00",
            "2026-01-07 13:30",
            "2026-01-12 08:00"
        ]
    );
    assert_eq!(
        utc_slots("AT 8:00", "2026-01-01T09:00:00Z", 2),
        ["2026-01-02 08:00", "2026-01-03 08:00"]
    );
    assert_eq!(
        utc_slots("at 23:00 on fri-mon", "2026-01-01T00:00:00Z", 5),
        [
            "2026-01-02 23:00",
            "2026-01-03 23:00",
            "2026-01-04 23:00",
            "2026-01-05 23:00",
            "2026-01-09 23:00"
        ]
    );
}

#[test]
fn every_restarts_each_day_at_the_window_start() {
    assert_eq!(
        utc_slots("every 90m between 08:00-17:00", "2026-01-01T00:00:00Z", 9),
        [
            "2026-01-01 08:00",
            "2026-01-01 09:30",
            "2026-01-01 11:00",
            "2026-01-01 12:30",
            "2026-01-01 14:00",
            "2026-01-01 15:30",
            "2026-01-01 17:00",
            "2026-01-02 08:00",
            "2026-01-02 09:30"
        ]
    );
    assert_eq!(
        utc_slots("every 7h", "2026-01-01T00:00:00Z", 5),
        [
            "2026-01-01 07:00",
            "2026-01-01 14:00",
            "2026-01-01 21:00",
            "2026-01-02 00:00",
            "2026-01-02 07:00"
        ]
    );
    assert_eq!(
        utc_slots(
            "every 2h between 9:00 - 12:59 on sat",
            "2026-01-01T00:00:00Z",
            4
        ),
        [
            "2026-01-03 09:00",
            "2026-01-03 11:00",
            "2026-01-10 09:00",
            "2026-01-10 11:00"
        ]
    );
    assert_eq!(
        utc_slots("every 24h", "2026-01-01T00:00:00Z", 2),
        ["2026-01-02 00:00", "2026-01-03 00:00"]
    );
    assert_eq!(
        utc_slots(
            "every 1m on sun between 23:58-23:59",
            "2026-01-01T00:00:00Z",
            3
        ),
        ["2026-01-04 23:58", "2026-01-04 23:59", "2026-01-11 23:58"]
    );
    assert!(!sched("every 15m").is_fixed_time());
}

#[test]
fn the_constructors_build_the_same_schedules_as_the_text_forms() {
    use Weekday::*;
    let at = Schedule::at(&[(13, 30), (8, 0), (8, 0)], Some(vec![Wed, Mon])).unwrap();
    assert_eq!(at, sched("at 08:00,13:30 on mon,wed"));
    assert_eq!(at.to_string(), "at 08:00,13:30 on mon,wed");
    let every = Schedule::every(
        90,
        Some(((8, 0), (17, 0))),
        Some(vec![Fri, Mon, Tue, Wed, Thu]),
    )
    .unwrap();
    assert_eq!(
        every.to_string(),
        "every 90m between 08:00-17:00 on mon-fri"
    );
    assert_eq!(every, sched("every 90m between 8:00-17:00 on mon-fri"));
    assert_eq!(
        Schedule::every(120, None, None).unwrap().to_string(),
        "every 2h"
    );
    assert_eq!(
        Schedule::at(&[(24, 0)], None).unwrap_err().to_string(),
        "at time `24:00`: expected HH:MM from 00:00 to 23:59 (e.g. 8:00, 13:30)"
    );
    assert!(matches!(
        Schedule::at(&[], None),
        Err(ScheduleError::Syntax { form: "at", .. })
    ));
    assert_eq!(
        Schedule::at(&[(8, 0)], Some(vec![])),
        Err(ScheduleError::NoDays)
    );
    assert_eq!(
        Schedule::every(0, None, None),
        Err(ScheduleError::Interval("0m".to_string()))
    );
    assert_eq!(
        Schedule::every(1441, None, None),
        Err(ScheduleError::Interval("1441m".to_string()))
    );
    assert_eq!(
        Schedule::every(15, Some(((17, 0), (8, 0))), None),
        Err(ScheduleError::Window("17:00-08:00".to_string()))
    );
    assert!(matches!(
        Schedule::every(15, Some(((8, 60), (9, 0))), None),
        Err(ScheduleError::Time {
            context: "between window start",
            ..
        })
    ));
}

// ---- Rejections ---------------------------------------------------------------------------

#[test]
fn a_cron_that_never_fires_is_rejected() {
    assert_eq!(
        err("0 0 30 2 *"),
        "schedule never fires: `0 0 30 2 *` matches no date"
    );
    assert_eq!(
        err("0 0 31 4 *"),
        "schedule never fires: `0 0 31 4 *` matches no date"
    );
    assert_eq!(
        err("0 0 31 apr,jun *"),
        "schedule never fires: `0 0 31 APR,JUN *` matches no date"
    );
    // The fifth Friday of February happens only every 28 years or so.
    assert!(err("0 0 * 2 5#5").starts_with("schedule fires too rarely: `0 0 * 2 5#5`"));
    // February 29th is fine.
    assert_eq!(
        utc_slots("0 0 29 2 *", "2097-03-01T00:00:00Z", 1),
        ["2104-02-29 00:00"]
    );
}

#[test]
fn seconds_and_years_are_rejected_with_a_clear_message() {
    let message = "seconds are not supported: the scheduler runs once a minute; use 5 fields \
                   (minute hour day-of-month month day-of-week)";
    assert_eq!(err("0 0 9 * * *"), message);
    assert_eq!(err("0 0 9 * * * 2026"), message);
    assert_eq!(
        err("0 9 * *"),
        "cron expression has 4 fields: expected 5 (minute hour day-of-month month day-of-week)"
    );
    assert_eq!(
        err("noon"),
        "cron expression has 1 field: expected 5 (minute hour day-of-month month day-of-week)"
    );
    assert!(err("0 0 9 * * * 2026 x").starts_with("cron expression has 8 fields"));
    assert!(err("   ").starts_with("empty schedule: expected a 5-field cron expression"));
}

#[test]
fn each_bad_cron_field_is_named_in_the_error() {
    for (expr, field, value) in [
        ("61 * * * *", "minute", "61"),
        ("*/0 * * * *", "minute", "*/0"),
        ("a * * * *", "minute", "A"),
        ("0 24 * * *", "hour", "24"),
        ("0 5-1 * * *", "hour", "5-1"),
        ("0 0 32 * *", "day-of-month", "32"),
        ("0 0 15X * *", "day-of-month", "15X"),
        ("0 0 * 13 *", "month", "13"),
        ("0 0 * MON *", "month", "MON"),
        ("0 0 * * 8", "day-of-week", "8"),
        ("0 0 * * 1#6", "day-of-week", "1#6"),
        ("0 0 * * JAN", "day-of-week", "JAN"),
        ("0 0 * * MONDAY", "day-of-week", "MONDAY"),
    ] {
        let message = err(expr);
        assert!(
            message.starts_with(&format!("cron {field} field `{value}`: expected ")),
            "{expr}: {message}"
        );
        assert!(!message.contains('\n'));
    }
    assert_eq!(
        err("61 * * * *"),
        "cron minute field `61`: expected 0-59, `*`, a list, a range or a step"
    );
    assert!(err("0 0 13 * +5").starts_with("cron day-of-week field `+5`: the `+` (AND)"));
}

#[test]
fn bad_times_days_intervals_and_windows_are_named_in_the_error() {
    assert_eq!(
        err("at 24:00"),
        "at time `24:00`: expected HH:MM from 00:00 to 23:59 (e.g. 8:00, 13:30)"
    );
    assert!(err("at 9:5").starts_with("at time `9:5`: expected HH:MM"));
    assert!(err("at 08:00,").starts_with("at time ``"));
    assert!(err("at 123:00").starts_with("at time `123:00`"));
    assert!(err("at 08:00 on funday").starts_with("day `funday`: expected mon, tue"));
    assert!(err("at 08:00 on mon-xyz").starts_with("day `xyz`"));
    assert!(err("at 08:00 on").starts_with("`on` needs at least one day"));
    assert_eq!(
        err("at"),
        "at schedule `at`: expected `at HH:MM[,HH:MM...] [on DAYS]`"
    );
    for bad in ["0m", "25h", "1441m", "2d", "90s", "99999999h"] {
        assert!(
            err(&format!("every {bad}")).starts_with(&format!("every interval `{bad}`: ")),
            "{bad}"
        );
    }
    // One duration grammar (issue 12): a number needs its unit, here as in every flag.
    assert_eq!(
        err("every 90"),
        "every `90` has no unit; use a number with s, m, h or d (e.g. 30s, 15m, 1h30m)"
    );
    for bad in ["+5", "m", "5x"] {
        assert!(
            err(&format!("every {bad}")).starts_with(&format!("every `{bad}` is not a duration")),
            "{bad}"
        );
    }
    assert_eq!(
        err("every 15m between 17:00-08:00"),
        "between window `17:00-08:00`: expected HH:MM-HH:MM with the end not before the start"
    );
    assert!(err("every 15m between 8:00").starts_with("between window `8:00`"));
    assert!(err("every 15m between 8:00-24:00").starts_with("between window end `24:00`"));
    assert!(err("every 15m sometimes").starts_with("every schedule `every 15m sometimes`"));
    assert!(err("every").starts_with("every schedule `every`: expected `every DURATION"));
    assert!(err("every 15m on mon on tue").starts_with("every schedule `every 15m on mon on tue`"));
}

// ---- Text and serde round trips -----------------------------------------------------------

#[test]
fn display_is_canonical_and_parses_back_to_an_equal_schedule() {
    for (text, canonical) in [
        ("  30 9 * * 1-5 ", "30 9 * * 1-5"),
        ("0  9\t* jan-mar mon#2", "0 9 * JAN-MAR MON#2"),
        ("0 9 15w * ?", "0 9 15W * ?"),
        ("0 9 l * 5l", "0 9 L * 5L"),
        ("@Weekly", "@weekly"),
        (
            "AT 13:30, 8:00,08:00 ON wed,Mon",
            "at 08:00,13:30 on mon,wed",
        ),
        ("at 8:00 on sun,mon-sun", "at 08:00"),
        ("at 8:00 on sat,sun,tue", "at 08:00 on tue,sat,sun"),
        ("at 8:00 on fri-mon", "at 08:00 on mon,fri-sun"),
        (
            "every 90m between 8:00 - 17:00 on mon-fri",
            "every 90m between 08:00-17:00 on mon-fri",
        ),
        ("every 120m between 00:00-23:59", "every 2h"),
        ("every 2H on WED", "every 2h on wed"),
        ("every 60s on mon,tue", "every 1m on mon,tue"),
        ("every 24h", "every 24h"),
    ] {
        let s = sched(text);
        assert_eq!(s.to_string(), canonical, "{text}");
        let again: Schedule = s.to_string().parse().unwrap();
        assert_eq!(again, s, "{text}");
        assert_eq!(again.to_string(), canonical);
        assert_eq!(format!("{s:?}"), format!("Schedule({canonical:?})"));
    }
    assert_ne!(sched("@daily"), sched("0 0 * * *"));
    assert_eq!(sched("0 0 * * *").clone(), sched("0 0 * * *"));
}

#[test]
fn serde_uses_the_canonical_string() {
    let list = vec![
        sched("30 9 * * mon-fri"),
        sched("@hourly"),
        sched("at 8:00 on mon"),
        sched("every 90m between 08:00-17:00"),
    ];
    let json = serde_json::to_string(&list).unwrap();
    assert_eq!(
        json,
        r#"["30 9 * * MON-FRI","@hourly","at 08:00 on mon","every 90m between 08:00-17:00"]"#
    );
    let back: Vec<Schedule> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, list);
    let bad = serde_json::from_str::<Schedule>(r#""0 0 30 2 *""#).unwrap_err();
    assert!(bad.to_string().contains("schedule never fires"), "{bad}");
}

// ---- Descriptions and classification ------------------------------------------------------

#[test]
fn a_stored_schedule_is_parsed_once_and_bad_text_is_still_refused() {
    let read = |json: &str| serde_json::from_str::<Schedule>(json);
    let first = read("\"17 4 * * 2\"").expect("valid");
    let again = read("\"17 4 * * 2\"").expect("valid");
    assert!(
        Arc::ptr_eq(&first.0, &again.0),
        "the second read reuses the first parse"
    );
    assert_eq!(again, sched("17 4 * * 2"));
    assert_eq!(again.to_string(), "17 4 * * 2");
    for _ in 0..2 {
        let err = read("\"61 4 * * 2\"").expect_err("minute 61");
        assert!(err.to_string().contains("minute"), "{err}");
    }
}

#[test]
fn describe_uses_croner_for_cron_and_plain_words_for_the_old_forms() {
    assert_eq!(
        sched("30 9 * * 1-5").describe(),
        "At 09:30, on Monday, Tuesday, Wednesday, Thursday, and Friday."
    );
    assert_eq!(
        sched("at 08:00,13:30 on mon,wed").describe(),
        "At 08:00 and 13:30, on Monday and Wednesday."
    );
    assert_eq!(
        sched("at 7:00,12:00,18:00").describe(),
        "At 07:00, 12:00 and 18:00."
    );
    assert_eq!(
        sched("every 90m between 08:00-17:00 on mon-fri,sun").describe(),
        "Every 90 minutes from 08:00 through 17:00 each day, on Monday through Friday and \
         Sunday."
    );
    assert_eq!(sched("every 15m").describe(), "Every 15 minutes.");
    assert_eq!(sched("every 1m").describe(), "Every minute.");
    assert_eq!(sched("every 60m").describe(), "Every hour.");
    assert_eq!(
        sched("every 7h on sat").describe(),
        "Every 7 hours, counted from 00:00 each day, on Saturday."
    );
}

#[test]
fn fixed_time_means_plain_numbers_or_lists_in_minute_and_hour() {
    for (text, fixed) in [
        ("30 9 * * *", true),
        ("0,30 9,17 * * *", true),
        ("0 9 L * 5#2", true),
        ("@daily", true),
        ("@weekly", true),
        ("@monthly", true),
        ("@yearly", true),
        ("@hourly", false),
        ("at 08:00", true),
        ("*/15 * * * *", false),
        ("0 * * * *", false),
        ("0 9-17 * * *", false),
        ("0-5 9 * * *", false),
        ("0 */2 * * *", false),
        ("every 1h", false),
    ] {
        assert_eq!(sched(text).is_fixed_time(), fixed, "{text}");
    }
}

#[test]
fn next_after_is_none_beyond_chronos_range_and_handles_far_dates() {
    let s = sched("*/5 * * * *");
    assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC, Los_Angeles), None);
    assert_eq!(
        s.next_after(utc("1900-01-01T00:00:00Z"), chrono_tz::UTC),
        Some(utc("1900-01-01T00:05:00Z"))
    );
    // At the very edge of chrono's range there may be no answer, but no panic either.
    let _ = s.next_after(DateTime::<Utc>::MIN_UTC, chrono_tz::UTC);
}
