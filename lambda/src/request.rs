//! What the function accepts: an EventBridge Scheduled Event, or an operator payload.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// The shapes the function accepts, as named in every rejection.
pub const ACCEPTED_SHAPES: &str = "accepted payloads: an EventBridge Scheduled Event \
({\"detail-type\": \"Scheduled Event\", \"source\": \"aws.events\", \"time\": \"<RFC 3339>\", ...}) \
or an operator payload {\"now\": \"<RFC 3339>\", \"dry_run\": true|false} (both fields optional)";

/// The `detail-type` of the event an EventBridge schedule rule sends.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// One invocation's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The EventBridge rule's event. The tick runs on the system clock; `time` (the minute
    /// the rule fired for) only measures how late the delivery was.
    Scheduled {
        /// The event's `time`, when present.
        time: Option<DateTime<Utc>>,
    },
    /// An operator's invocation.
    Operator {
        /// The instant to tick at (default: the clock). Ahead of the clock only in a dry run.
        now: Option<DateTime<Utc>>,
        /// Report what would run; write nothing and call nothing.
        dry_run: bool,
    },
}

/// A payload that is none of the accepted shapes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised payload: {reason}; {ACCEPTED_SHAPES}")]
pub struct BadPayload {
    /// What is wrong with it.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorPayload {
    #[serde(default)]
    now: Option<DateTime<Utc>>,
    #[serde(default)]
    dry_run: bool,
}

fn bad(reason: impl Into<String>) -> BadPayload {
    BadPayload {
        reason: reason.into(),
    }
}

/// Reads a payload. An object with `detail-type` or `source` is read as an EventBridge event
/// (and must be a Scheduled Event); any other object as an operator payload (unknown fields
/// are refused, so a typo never turns a dry run into a real one).
pub fn parse(payload: &Value) -> Result<Request, BadPayload> {
    let Value::Object(map) = payload else {
        let kind = match payload {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        return Err(bad(format!("the payload is {kind}, not a JSON object")));
    };
    if map.contains_key("detail-type") || map.contains_key("source") {
        let event: EventBridgeEvent = serde_json::from_value(payload.clone())
            .map_err(|e| bad(format!("an EventBridge event that does not parse ({e})")))?;
        if event.detail_type != SCHEDULED_EVENT {
            return Err(bad(format!(
                "an EventBridge event of type `{}` from `{}`, not a `{SCHEDULED_EVENT}`",
                event.detail_type, event.source
            )));
        }
        return Ok(Request::Scheduled { time: event.time });
    }
    let operator: OperatorPayload = serde_json::from_value(payload.clone())
        .map_err(|e| bad(format!("not an operator payload ({e})")))?;
    Ok(Request::Operator {
        now: operator.now,
        dry_run: operator.dry_run,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_scheduled_event_fixture_is_a_scheduled_request_with_its_time() {
        let request = parse(&fixture("scheduled-event.json")).expect("accepted");
        assert_eq!(
            request,
            Request::Scheduled {
                time: Some(
                    Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
                        .single()
                        .expect("valid")
                )
            }
        );
    }

    #[test]
    fn operator_payloads_take_an_optional_now_and_dry_run() {
        assert_eq!(
            parse(&fixture("operator-dry-run.json")).expect("accepted"),
            Request::Operator {
                now: Some(
                    Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
                        .single()
                        .expect("valid")
                ),
                dry_run: true
            }
        );
        assert_eq!(
            parse(&json!({})).expect("accepted"),
            Request::Operator {
                now: None,
                dry_run: false
            }
        );
        assert_eq!(
            parse(&json!({"now": "2026-11-26T01:30:00-08:00"})).expect("accepted"),
            Request::Operator {
                now: Some(
                    Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
                        .single()
                        .expect("valid")
                ),
                dry_run: false
            }
        );
    }

    #[test]
    fn anything_else_is_refused_naming_the_accepted_shapes() {
        let cases = [
            (fixture("malformed.json"), "not an operator payload"),
            (json!({"now": "tomorrow"}), "not an operator payload"),
            (json!({"dry_run": "yes"}), "not an operator payload"),
            (json!({"dryrun": true}), "unknown field `dryrun`"),
            (json!([1, 2]), "the payload is an array"),
            (Value::Null, "the payload is null"),
            (
                json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}),
                "not a `Scheduled Event`",
            ),
            (
                json!({"detail-type": "Scheduled Event"}),
                "an EventBridge event that does not parse",
            ),
        ];
        for (payload, reason) in cases {
            let err = parse(&payload).expect_err("refused");
            let text = err.to_string();
            assert!(text.contains(reason), "{payload}: {text}");
            assert!(
                text.contains("EventBridge Scheduled Event") && text.contains("\"dry_run\""),
                "{text}"
            );
        }
    }
}
