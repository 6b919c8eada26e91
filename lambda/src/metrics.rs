//! One CloudWatch Embedded Metric Format (EMF) line per tick: CloudWatch Logs turns it into
//! metrics in the `PsuScheduler` namespace, so dashboards and alarms need no SDK call.
//! `Deferred` (slots left for the next tick because their call would not fit before the
//! deadline) is there too: a job whose timeout never fits shows up as a `Deferred` that never
//! drops to 0. `Reconciled` counts executions that had no outcome by their deadline (a tick
//! that died after sending the call, a guard that never recorded the end, a claim whose job
//! went away before it was sent), marked `timed_out` by the tick; `Retried` the retries
//! scheduled; `GuardFinished` the outcomes an app's guard recorded after its call's answer
//! (a 202), counted by the next tick (and in `Succeeded` or `Failed` too); `Errors` the due items whose work stopped at a store failure (the invocation
//! then fails too, after printing the line). For a job with jitter, `Due` and `Missed` count
//! from the slot plus its jitter offset, when its call is due (docs/data-model.md, "Jitter").
//! `infra/template.yaml` alarms on `Failed`, `TimedOut`,
//! `Reconciled`, `Missed` and `Deferred`, and on the heartbeat's absence (below).
//!
//! `NotificationsSent` and `NotificationsFailed` count the failure notifications posted to
//! apps' webhooks, and those that failed every attempt (docs/admin.md, "Failure
//! notifications").
//!
//! Every metric carries one dimension, [`STACK_DIMENSION`]: the stack that runs the function
//! (`PSU_SCHED_STACK`, set by the template from `AWS::StackName`), so that two stacks in one
//! account and region (development and test) keep their figures, and their alarms, apart.
//!
//! The heartbeat: a tick that completed adds a second metric set to its line, [`HEARTBEAT`]
//! (`TickCompleted` = 1); the line an incomplete tick prints before the invocation fails does
//! not carry it. The template alarms when it is missing for some minutes, whatever the
//! reason (the rule disabled, the function failing to start or failing every tick, throttled).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use shared::tick::TickSummary;

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "PsuScheduler";

/// The dimension every metric carries: the stack's name (`shared::config::Config::stack`).
pub const STACK_DIMENSION: &str = "Stack";

/// The heartbeat metric: 1 in the line of a tick that completed, absent from any other.
pub const HEARTBEAT: &str = "TickCompleted";

/// How the tick whose line is printed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickEnd {
    /// It completed: the line carries the heartbeat.
    Completed,
    /// It stopped at a store failure (the invocation fails after the line): no heartbeat.
    Incomplete,
}

/// The EMF object for one tick of the stack `stack`. `delivery_delay_ms` (how long after the
/// EventBridge event's `time` the tick started) is left out when unknown (an operator's
/// invocation); the heartbeat is there only when `end` is [`TickEnd::Completed`].
pub fn emf(
    summary: &TickSummary,
    delivery_delay_ms: Option<u64>,
    at: DateTime<Utc>,
    stack: &str,
    end: TickEnd,
) -> Value {
    let mut values: Vec<(&str, &str, u64)> = vec![
        ("Due", "Count", summary.due),
        ("Triggered", "Count", summary.triggered),
        ("Succeeded", "Count", summary.succeeded),
        ("Failed", "Count", summary.failed),
        ("TimedOut", "Count", summary.timed_out),
        ("Skipped", "Count", summary.skipped),
        ("Missed", "Count", summary.missed),
        ("Deferred", "Count", summary.deferred),
        ("Retried", "Count", summary.retried),
        ("Reconciled", "Count", summary.reconciled),
        ("GuardFinished", "Count", summary.guard_finished),
        ("Errors", "Count", summary.errors),
        ("NotificationsSent", "Count", summary.notifications_sent),
        ("NotificationsFailed", "Count", summary.notifications_failed),
        ("DurationMs", "Milliseconds", summary.duration_ms),
    ];
    if let Some(delay) = delivery_delay_ms {
        values.push(("DeliveryDelayMs", "Milliseconds", delay));
    }
    let definitions: Vec<Value> = values
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut sets = vec![json!({
        "Namespace": NAMESPACE,
        "Dimensions": [[STACK_DIMENSION]],
        "Metrics": definitions,
    })];
    if end == TickEnd::Completed {
        sets.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": [[STACK_DIMENSION]],
            "Metrics": [{"Name": HEARTBEAT, "Unit": "Count"}],
        }));
    }
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": sets,
        }),
    );
    line.insert(STACK_DIMENSION.into(), stack.into());
    for (name, _, value) in values {
        line.insert(name.into(), value.into());
    }
    if end == TickEnd::Completed {
        line.insert(HEARTBEAT.into(), 1.into());
    }
    Value::Object(line)
}

/// The dimension naming the app in the per-app lines ([`app_lines`]).
pub const APP_DIMENSION: &str = "App";

/// The per-app metrics of one tick (`PSU_SCHED_APP_METRICS`): one EMF object per app in
/// [`TickSummary::apps`], with the dimensions `Stack` and `App` and its `Triggered`,
/// `Succeeded`, `Failed` and `TimedOut`. They are other metrics than the stack's own (a metric
/// is its name and its dimensions), so the stack's alarms are unchanged; an alarm on one app
/// filters on both dimensions.
pub fn app_lines(summary: &TickSummary, at: DateTime<Utc>, stack: &str) -> Vec<Value> {
    summary
        .apps
        .iter()
        .map(|(app, figures)| {
            json!({
                "_aws": {
                    "Timestamp": at.timestamp_millis(),
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [[STACK_DIMENSION, APP_DIMENSION]],
                        "Metrics": [
                            {"Name": "Triggered", "Unit": "Count"},
                            {"Name": "Succeeded", "Unit": "Count"},
                            {"Name": "Failed", "Unit": "Count"},
                            {"Name": "TimedOut", "Unit": "Count"},
                        ],
                    }],
                },
                STACK_DIMENSION: stack,
                APP_DIMENSION: app,
                "Triggered": figures.triggered,
                "Succeeded": figures.succeeded,
                "Failed": figures.failed,
                "TimedOut": figures.timed_out,
            })
        })
        .collect()
}

/// How late a delivery was: from the event's `time` to `started`, never negative.
pub fn delivery_delay_ms(event_time: DateTime<Utc>, started: DateTime<Utc>) -> u64 {
    u64::try_from(started.signed_duration_since(event_time).num_milliseconds()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use shared::tick::AppFigures;

    use super::*;

    #[test]
    fn each_app_gets_a_line_with_the_stack_and_the_app_as_dimensions() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 26, 9, 30, 2)
            .single()
            .expect("valid");
        let mut summary = TickSummary {
            now: at,
            ..TickSummary::default()
        };
        assert!(
            app_lines(&summary, at, "prod").is_empty(),
            "no call, no line"
        );
        summary.apps.insert(
            "billing".to_owned(),
            AppFigures {
                triggered: 3,
                succeeded: 1,
                failed: 1,
                timed_out: 1,
            },
        );
        summary.apps.insert(
            "reports".to_owned(),
            AppFigures {
                triggered: 1,
                succeeded: 1,
                ..AppFigures::default()
            },
        );
        let lines = app_lines(&summary, at, "prod");
        assert_eq!(lines.len(), 2);
        let billing = &lines[0];
        let directive = &billing["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Stack", "App"]]));
        assert_eq!(
            (&billing["Stack"], &billing["App"]),
            (&json!("prod"), &json!("billing"))
        );
        for name in ["Triggered", "Succeeded", "Failed", "TimedOut"] {
            assert!(
                directive["Metrics"]
                    .as_array()
                    .expect("metrics")
                    .iter()
                    .any(|m| m["Name"] == name),
                "{name} is declared"
            );
        }
        assert_eq!(
            (
                &billing["Triggered"],
                &billing["Succeeded"],
                &billing["Failed"],
                &billing["TimedOut"]
            ),
            (&json!(3), &json!(1), &json!(1), &json!(1))
        );
        assert_eq!(lines[1]["App"], "reports");
        assert_eq!(lines[1]["Failed"], 0, "zeros are published, for a rate");
    }

    #[test]
    fn the_emf_line_declares_every_metric_it_carries_in_the_namespace() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 26, 9, 30, 2)
            .single()
            .expect("valid");
        let summary = TickSummary {
            now: at,
            due: 3,
            triggered: 2,
            succeeded: 1,
            failed: 1,
            skipped: 1,
            retried: 2,
            reconciled: 4,
            guard_finished: 5,
            duration_ms: 42,
            ..TickSummary::default()
        };
        let line = emf(
            &summary,
            Some(2_000),
            at,
            "psu-sched-prod",
            TickEnd::Completed,
        );
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "PsuScheduler");
        assert_eq!(directive["Dimensions"], json!([["Stack"]]));
        assert_eq!(line["Stack"], "psu-sched-prod");
        assert_eq!(line["_aws"]["Timestamp"], at.timestamp_millis());
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| m["Name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            names,
            [
                "Due",
                "Triggered",
                "Succeeded",
                "Failed",
                "TimedOut",
                "Skipped",
                "Missed",
                "Deferred",
                "Retried",
                "Reconciled",
                "GuardFinished",
                "Errors",
                "NotificationsSent",
                "NotificationsFailed",
                "DurationMs",
                "DeliveryDelayMs"
            ]
        );
        for name in names {
            assert!(line[name].is_u64(), "{name} has a value");
        }
        assert_eq!(
            (line["Due"].as_u64(), line["Failed"].as_u64()),
            (Some(3), Some(1))
        );
        assert_eq!(
            (line["Retried"].as_u64(), line["Reconciled"].as_u64()),
            (Some(2), Some(4))
        );
        assert_eq!(line["GuardFinished"], 5);
        assert_eq!(line["Errors"], 0, "no store failure");
        assert_eq!(line["DeliveryDelayMs"], 2_000);

        let without = emf(&summary, None, at, "default", TickEnd::Completed);
        assert!(without.get("DeliveryDelayMs").is_none());
        assert_eq!(
            without["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .map(Vec::len),
            Some(15)
        );
    }

    /// The metric names a line declares, over all its metric sets, with each set's dimensions.
    fn declared(line: &Value) -> Vec<(String, Value)> {
        line["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("metric sets")
            .iter()
            .flat_map(|set| {
                set["Metrics"]
                    .as_array()
                    .expect("metrics")
                    .iter()
                    .map(|m| {
                        (
                            m["Name"].as_str().expect("name").to_owned(),
                            set["Dimensions"].clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn only_a_completed_tick_carries_the_heartbeat_and_every_metric_has_the_stack_dimension() {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 6, 19, 0, 0)
            .single()
            .expect("valid");
        let summary = TickSummary {
            now: at,
            errors: 1,
            ..TickSummary::default()
        };
        let completed = emf(&summary, None, at, "psu-sched-test", TickEnd::Completed);
        let incomplete = emf(&summary, None, at, "psu-sched-test", TickEnd::Incomplete);
        let heartbeat = |line: &Value| {
            declared(line)
                .into_iter()
                .filter(|(name, _)| name == "TickCompleted")
                .count()
        };
        assert_eq!(heartbeat(&completed), 1, "{completed}");
        assert_eq!(completed["TickCompleted"], 1);
        assert_eq!(heartbeat(&incomplete), 0, "{incomplete}");
        assert!(incomplete.get("TickCompleted").is_none(), "{incomplete}");
        for line in [&completed, &incomplete] {
            for (name, dimensions) in declared(line) {
                assert_eq!(dimensions, json!([["Stack"]]), "{name}");
            }
            assert_eq!(line["Stack"], "psu-sched-test");
        }
    }

    #[test]
    fn a_delivery_delay_is_never_negative() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
            .single()
            .expect("valid");
        assert_eq!(
            delivery_delay_ms(t, t + chrono::Duration::milliseconds(1500)),
            1500
        );
        assert_eq!(delivery_delay_ms(t, t - chrono::Duration::seconds(1)), 0);
    }
}
