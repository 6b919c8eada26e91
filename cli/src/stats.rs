//! `psu-sched stats`: the punctuality figures of `shared::ops::stats`, as a table or as the
//! `StatsView` JSON.

use std::process::ExitCode;

use anstyle::{AnsiColor, Style};
use shared::ops::{self, JobStatsView, Ops, StatsView};

use crate::Result;
use crate::args::{Cli, StatsArgs};
use crate::output::Out;

/// Runs `stats`: checks `--since`, computes, prints.
pub async fn run(ops: &Ops, cli: &Cli, args: &StatsArgs, out: &Out) -> Result<ExitCode> {
    let since = ops::parse_since(&args.since)?;
    let view = ops.stats(cli.app.as_deref(), since).await?;
    if args.json {
        out.json(&view);
    } else if view.jobs.is_empty() {
        out.line(&format!("no jobs (store: {})", ops.spec()));
    } else {
        table(&view, args.since.trim(), out);
        out.line(&format!("store: {}", ops.spec()));
    }
    Ok(ExitCode::SUCCESS)
}

fn table(view: &StatsView, since: &str, out: &Out) {
    out.line(&format!(
        "slots since {} (the last {since}); lag = call started minus slot (plus its jitter offset, for a job with jitter); percentiles by nearest rank",
        view.since
    ));
    let header = [
        "APP",
        "JOB",
        "RUNS",
        "OK",
        "FAILED",
        "TIMED OUT",
        "MISSED",
        "SKIPPED",
        "SUCCESS",
        "LAG P50",
        "LAG P95",
        "LAG P99",
        "DURATION P50",
        "DURATION P95",
    ];
    let rows: Vec<Vec<(String, Option<Style>)>> = view.jobs.iter().map(row).collect();
    out.table(&header, &rows);
    let truncated: Vec<&JobStatsView> = view.jobs.iter().filter(|j| j.truncated).collect();
    if !truncated.is_empty() {
        out.line(&format!(
            "* truncated: one read (at most {} executions) did not reach the window's start; the figures cover:",
            view.limit
        ));
        for job in truncated {
            out.line(&format!(
                "  {}/{} from {}",
                job.app,
                job.job,
                job.oldest_slot.as_deref().unwrap_or("-")
            ));
        }
    }
}

fn row(job: &JobStatsView) -> Vec<(String, Option<Style>)> {
    let alarm = |n: u64, colour: AnsiColor| (n.to_string(), (n > 0).then(|| colour.on_default()));
    let success = match job.success_rate {
        Some(rate) => (
            format!("{:.1}%", rate * 100.0),
            Some(if rate >= 1.0 {
                AnsiColor::Green.on_default()
            } else {
                AnsiColor::Red.on_default()
            }),
        ),
        None => ("-".to_owned(), None),
    };
    let last = format!(
        "{}{}",
        ms(job.duration_ms.p95),
        if job.truncated { " *" } else { "" }
    );
    vec![
        (job.app.clone(), None),
        (job.job.clone(), None),
        (job.runs.to_string(), None),
        (job.succeeded.to_string(), None),
        alarm(job.failed, AnsiColor::Red),
        alarm(job.timed_out, AnsiColor::Red),
        alarm(job.missed, AnsiColor::Yellow),
        alarm(job.skipped, AnsiColor::Yellow),
        success,
        (ms(job.lag_ms.p50), None),
        (ms(job.lag_ms.p95), None),
        (ms(job.lag_ms.p99), None),
        (ms(job.duration_ms.p50), None),
        (last, None),
    ]
}

/// Milliseconds for people: `412 ms`, `1.3 s`, `2m05s`; `-` without a value.
fn ms(value: Option<i64>) -> String {
    let Some(v) = value else {
        return "-".to_owned();
    };
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    if a < 1000 {
        format!("{v} ms")
    } else if a < 60_000 {
        format!("{sign}{}.{} s", a / 1000, (a % 1000) / 100)
    } else {
        let s = a / 1000;
        format!("{sign}{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::ms;

    #[test]
    fn milliseconds_read_as_ms_seconds_or_minutes() {
        assert_eq!(ms(None), "-");
        assert_eq!(ms(Some(0)), "0 ms");
        assert_eq!(ms(Some(412)), "412 ms");
        assert_eq!(ms(Some(-5)), "-5 ms");
        assert_eq!(ms(Some(1_349)), "1.3 s");
        assert_eq!(ms(Some(59_999)), "59.9 s");
        assert_eq!(ms(Some(125_000)), "2m05s");
        assert_eq!(ms(Some(-61_000)), "-1m01s");
    }
}
