//! One CloudWatch Embedded Metric Format (EMF) line per tick: CloudWatch Logs turns it into
//! metrics in the `PsuScheduler` namespace, so dashboards and alarms need no SDK call.
//! `Deferred` (slots left for the next tick because their call would not fit before the
//! deadline) is there too: a job whose timeout never fits shows up as a `Deferred` that never
//! drops to 0. `Reconciled` counts executions that had no outcome by their deadline (a tick
//! that died after sending the call, a guard that never recorded the end, a claim whose job
//! went away before it was sent), marked `timed_out` by the tick; `Retried` the retries
//! scheduled; `GuardFinished` the outcomes an app's guard recorded after its call's answer
//! (a 202), counted by the next tick (and in `Succeeded` or `Failed` too); `Errors` the due items whose work stopped at a store failure (the invocation
//! then fails too, after printing the line). `infra/template.yaml` alarms on `Failed`, `TimedOut`, `Reconciled` and `Missed`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use shared::tick::TickSummary;

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "PsuScheduler";

/// The EMF object for one tick. `delivery_delay_ms` (how long after the EventBridge event's
/// `time` the tick started) is left out when unknown (an operator's invocation).
pub fn emf(summary: &TickSummary, delivery_delay_ms: Option<u64>, at: DateTime<Utc>) -> Value {
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
        ("DurationMs", "Milliseconds", summary.duration_ms),
    ];
    if let Some(delay) = delivery_delay_ms {
        values.push(("DeliveryDelayMs", "Milliseconds", delay));
    }
    let definitions: Vec<Value> = values
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": definitions,
            }],
        }),
    );
    for (name, _, value) in values {
        line.insert(name.into(), value.into());
    }
    Value::Object(line)
}

/// How late a delivery was: from the event's `time` to `started`, never negative.
pub fn delivery_delay_ms(event_time: DateTime<Utc>, started: DateTime<Utc>) -> u64 {
    u64::try_from(started.signed_duration_since(event_time).num_milliseconds()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

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
        let line = emf(&summary, Some(2_000), at);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "PsuScheduler");
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

        let without = emf(&summary, None, at);
        assert!(without.get("DeliveryDelayMs").is_none());
        assert_eq!(
            without["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .map(Vec::len),
            Some(13)
        );
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
