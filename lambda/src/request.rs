//! What the function accepts: an EventBridge Scheduled Event, or an operator payload.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use shared::store::layout::Group;

/// The shapes the function accepts, as named in every rejection.
pub const ACCEPTED_SHAPES: &str = "accepted payloads: a group's scheduled tick \
{\"tick\": {\"group\": g, \"of\": G, \"time\": \"<RFC 3339>\"}} (0 <= g < G <= 64), \
an EventBridge Scheduled Event \
({\"detail-type\": \"Scheduled Event\", \"source\": \"aws.events\", \"time\": \"<RFC 3339>\", ...}), \
or an operator payload {\"now\": \"<RFC 3339>\", \"dry_run\": true|false, \"group\": g, \"of\": G} \
(all optional; group and of together)";

/// The `detail-type` of the event an EventBridge schedule rule sends.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// One invocation's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A schedule rule's invocation: a group's (`{"tick": {...}}`, the template's rules), or
    /// EventBridge's Scheduled Event (every shard: group 0 of 1). The tick runs on the system
    /// clock; `time` (the minute the rule fired for) names the minute whose shard leases it
    /// takes and measures how late the delivery was.
    Scheduled {
        /// The event's `time`, when present.
        time: Option<DateTime<Utc>>,
        /// The shards to work on.
        group: Group,
    },
    /// An operator's invocation.
    Operator {
        /// The instant to tick at (default: the clock). Ahead of the clock only in a dry run.
        now: Option<DateTime<Utc>>,
        /// Report what would run; write nothing and call nothing.
        dry_run: bool,
        /// The shards to work on (default: every one).
        group: Group,
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
    #[serde(default)]
    group: Option<u32>,
    #[serde(default)]
    of: Option<u32>,
}

/// `{"tick": {"group": g, "of": G, "time": "..."}}`, what the template's rule for group g
/// sends (its input transformer keeps the rule's `time`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupEvent {
    tick: GroupTick,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupTick {
    group: u32,
    of: u32,
    time: DateTime<Utc>,
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
    if map.contains_key("tick") {
        let event: GroupEvent = serde_json::from_value(payload.clone())
            .map_err(|e| bad(format!("a group's tick that does not parse ({e})")))?;
        let group = Group::new(event.tick.group, event.tick.of)
            .map_err(|e| bad(format!("a group's tick of {e}")))?;
        return Ok(Request::Scheduled {
            time: Some(event.tick.time),
            group,
        });
    }
    if map.contains_key("detail-type") || map.contains_key("source") {
        let event: EventBridgeEvent = serde_json::from_value(payload.clone())
            .map_err(|e| bad(format!("an EventBridge event that does not parse ({e})")))?;
        if event.detail_type != SCHEDULED_EVENT {
            return Err(bad(format!(
                "an EventBridge event of type `{}` from `{}`, not a `{SCHEDULED_EVENT}`",
                event.detail_type, event.source
            )));
        }
        return Ok(Request::Scheduled {
            time: event.time,
            group: Group::ALL,
        });
    }
    let operator: OperatorPayload = serde_json::from_value(payload.clone())
        .map_err(|e| bad(format!("not an operator payload ({e})")))?;
    let group = match (operator.group, operator.of) {
        (None, None) => Group::ALL,
        (Some(g), Some(of)) => {
            Group::new(g, of).map_err(|e| bad(format!("an operator payload with {e}")))?
        }
        _ => {
            return Err(bad(
                "an operator payload with `group` without `of` or `of` without `group`: give both",
            ));
        }
    };
    Ok(Request::Operator {
        now: operator.now,
        dry_run: operator.dry_run,
        group,
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
                ),
                group: Group::ALL,
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
                dry_run: true,
                group: Group::ALL,
            }
        );
        assert_eq!(
            parse(&json!({})).expect("accepted"),
            Request::Operator {
                now: None,
                dry_run: false,
                group: Group::ALL,
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
                dry_run: false,
                group: Group::ALL,
            }
        );
    }

    #[test]
    fn a_groups_tick_names_its_group_and_keeps_the_rules_time() {
        assert_eq!(
            parse(&fixture("group-event.json")).expect("accepted"),
            Request::Scheduled {
                time: Some(
                    Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
                        .single()
                        .expect("valid")
                ),
                group: Group::new(2, 4).expect("a group"),
            }
        );
        assert_eq!(
            parse(&json!({"dry_run": true, "group": 1, "of": 2})).expect("accepted"),
            Request::Operator {
                now: None,
                dry_run: true,
                group: Group::new(1, 2).expect("a group"),
            }
        );
        for (payload, reason) in [
            (
                json!({"tick": {"group": 4, "of": 4, "time": "2026-11-26T09:30:00Z"}}),
                "a group's tick of group `4/4`: expected g/G",
            ),
            (
                json!({"tick": {"group": 0, "of": 65, "time": "2026-11-26T09:30:00Z"}}),
                "0 <= g < G <= 64",
            ),
            (
                json!({"tick": {"group": 0, "of": 4}}),
                "a group's tick that does not parse (missing field `time`",
            ),
            (
                json!({"tick": {"group": 0, "of": 4, "time": "2026-11-26T09:30:00Z", "dry_run": true}}),
                "unknown field `dry_run`",
            ),
            (json!({"group": 1}), "give both"),
            (json!({"of": 2}), "give both"),
            (
                json!({"group": 2, "of": 2}),
                "an operator payload with group `2/2`",
            ),
        ] {
            let text = parse(&payload).expect_err("refused").to_string();
            assert!(text.contains(reason), "{payload}: {text}");
            assert!(text.contains("{\"tick\": {\"group\": g"), "{text}");
        }
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
