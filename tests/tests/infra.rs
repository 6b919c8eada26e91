//! The infrastructure template agrees with the code: the function's environment variables
//! are the ones its configuration reads, and its role allows exactly the DynamoDB actions of
//! the tick's path. (`cfn-lint` checks the template itself, in `scripts/test`.)

use std::collections::BTreeSet;

use serde_norway::Value;
use shared::store::dynamodb::OPERATIONS;

fn template() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../infra/template.yaml"
    ))
    .expect("infra/template.yaml");
    serde_norway::from_str(&text).expect("the template is plain YAML")
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    &t["Resources"][name]
}

/// Every `dynamodb:*` action in a policy document's statements, with the statement's resources.
fn dynamodb_statements(document: &Value) -> Vec<(BTreeSet<String>, String)> {
    let mut out = Vec::new();
    for statement in document["Statement"].as_sequence().expect("statements") {
        let actions: BTreeSet<String> = match &statement["Action"] {
            Value::Sequence(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Value::String(a) => BTreeSet::from([a.clone()]),
            _ => BTreeSet::new(),
        };
        let actions: BTreeSet<String> = actions
            .into_iter()
            .filter(|a| a.starts_with("dynamodb:"))
            .collect();
        if !actions.is_empty() {
            out.push((
                actions,
                serde_norway::to_string(&statement["Resource"]).expect("resource"),
            ));
        }
    }
    out
}

fn actions_of(filter: impl Fn(&shared::store::dynamodb::Operation) -> bool) -> BTreeSet<String> {
    OPERATIONS
        .iter()
        .filter(|o| filter(o))
        .flat_map(|o| o.actions.iter().map(|a| (*a).to_owned()))
        .collect()
}

#[test]
fn the_function_environment_is_exactly_what_its_configuration_reads() {
    let t = template();
    let vars = &resource(&t, "TickFunction")["Properties"]["Environment"]["Variables"];
    let in_template: BTreeSet<String> = vars
        .as_mapping()
        .expect("variables")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let read_by_code: BTreeSet<String> = shared::config::FUNCTION_ENV
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(in_template, read_by_code);
}

#[test]
fn the_tick_role_allows_exactly_the_dynamodb_actions_of_the_tick_path() {
    let t = template();
    let policies = resource(&t, "TickRole")["Properties"]["Policies"]
        .as_sequence()
        .expect("policies");
    let mut allowed = BTreeSet::new();
    for policy in policies {
        for (actions, resources) in dynamodb_statements(&policy["PolicyDocument"]) {
            assert!(
                !actions.iter().any(|a| a.contains('*')),
                "no wildcard actions: {actions:?}"
            );
            if actions.contains("dynamodb:Query") {
                assert_eq!(
                    actions.len(),
                    1,
                    "Query gets its own statement, on the index"
                );
                assert!(
                    resources.contains("/index/due"),
                    "Query only on the due index: {resources}"
                );
            } else {
                assert!(
                    resources.contains("Table") && !resources.contains('*'),
                    "items on the table only: {resources}"
                );
            }
            allowed.extend(actions);
        }
    }
    assert_eq!(
        allowed,
        actions_of(|o| o.tick),
        "the role's actions vs OPERATIONS (tick: true)"
    );
}

#[test]
fn the_operator_policy_covers_the_cli_and_the_viewer_policy_only_reads() {
    let t = template();
    let gather = |name: &str| -> BTreeSet<String> {
        dynamodb_statements(&resource(&t, name)["Properties"]["PolicyDocument"])
            .into_iter()
            .flat_map(|(a, _)| a)
            .collect()
    };
    let operator = gather("OperatorPolicy");
    let everything_but_tables =
        actions_of(|o| !matches!(o.name, "CreateTable" | "UpdateTimeToLive"));
    assert_eq!(operator, everything_but_tables);
    assert_eq!(gather("ViewerPolicy"), actions_of(|o| o.read_only));
}

#[test]
fn the_table_has_the_keys_index_and_ttl_the_adapter_uses() {
    let t = template();
    let table = &resource(&t, "Table");
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        p["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(shared::store::dynamodb::TTL_ATTRIBUTE)
    );
    assert_eq!(
        p["GlobalSecondaryIndexes"][0]["IndexName"].as_str(),
        Some(shared::store::dynamodb::DUE_INDEX)
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
}
