//! The infrastructure template agrees with the code: the function's environment variables
//! are the ones its configuration reads, and its role allows exactly the DynamoDB actions of
//! the tick's path. (`cfn-lint` checks the template itself, in `scripts/test`.)

use std::collections::BTreeSet;

use serde_norway::Value;
use shared::store::dynamodb::OPERATIONS;

pub(crate) fn template() -> Value {
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

/// Every `dynamodb:*` action in a policy document's statements, with the statement's resources
/// and its condition (`Null` without one).
fn dynamodb_statements(document: &Value) -> Vec<(BTreeSet<String>, String, Value)> {
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
                statement["Condition"].clone(),
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
    let (mut queried_due, mut queried_apps) = (false, false);
    for policy in policies {
        for (actions, resources, condition) in dynamodb_statements(&policy["PolicyDocument"]) {
            assert!(
                !actions.iter().any(|a| a.contains('*')),
                "no wildcard actions: {actions:?}"
            );
            if actions.contains("dynamodb:Query") {
                assert_eq!(
                    actions.len(),
                    1,
                    "Query gets its own statements, on the index and on the apps' partition"
                );
                if resources.contains("/index/due") {
                    // Both indexes: ticks read `due` until the switch, `due-keys` after.
                    assert!(
                        resources.contains("/index/due-keys") && !resources.contains('*'),
                        "Query on both due indexes, no wildcard: {resources}"
                    );
                    queried_due = true;
                } else {
                    // On the table, only the app records' one partition (list_apps).
                    assert!(
                        resources.contains("Table") && !resources.contains('*'),
                        "Query on the table itself: {resources}"
                    );
                    let keys = &condition["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"];
                    assert_eq!(
                        keys.as_sequence()
                            .map(|k| k.iter().filter_map(Value::as_str).collect::<Vec<_>>()),
                        Some(vec![shared::store::dynamodb::APPS_PK]),
                        "Query on the table only under the apps' partition key: {condition:?}"
                    );
                    queried_apps = true;
                }
            } else {
                assert!(
                    resources.contains("Table") && !resources.contains('*'),
                    "items on the table only: {resources}"
                );
            }
            allowed.extend(actions);
        }
    }
    assert!(
        queried_due && queried_apps,
        "the role queries the due index and the app records"
    );
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
            .flat_map(|(a, _, _)| a)
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
    assert_eq!(
        table["DeletionPolicy"].as_str(),
        Some("RetainExceptOnCreate")
    );
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        p["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(shared::store::dynamodb::TTL_ATTRIBUTE)
    );
    // Both indexes while the legacy one is kept (ticks read `due` until `table upgrade`
    // switches them), `due-keys` alone after; the same keys, projections ALL and KEYS_ONLY.
    let choice = p["GlobalSecondaryIndexes"]["Fn::If"]
        .as_sequence()
        .expect("the indexes depend on LegacyDueIndex");
    assert_eq!(choice[0].as_str(), Some("KeepLegacyDueIndex"));
    let indexes = |v: &Value| -> Vec<(String, String, Vec<String>)> {
        v.as_sequence()
            .expect("a list of indexes")
            .iter()
            .map(|i| {
                let keys = i["KeySchema"]
                    .as_sequence()
                    .expect("key schema")
                    .iter()
                    .map(|k| {
                        format!(
                            "{} {}",
                            k["AttributeName"].as_str().unwrap_or(""),
                            k["KeyType"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                (
                    i["IndexName"].as_str().unwrap_or("").to_owned(),
                    i["Projection"]["ProjectionType"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                    keys,
                )
            })
            .collect()
    };
    let key = vec!["gsi1pk HASH".to_owned(), "gsi1sk RANGE".to_owned()];
    let keys_only = (
        shared::store::dynamodb::DUE_KEYS_INDEX.to_owned(),
        "KEYS_ONLY".to_owned(),
        key.clone(),
    );
    let all = (
        shared::store::dynamodb::DUE_INDEX.to_owned(),
        "ALL".to_owned(),
        key,
    );
    assert_eq!(indexes(&choice[1]), vec![keys_only.clone(), all]);
    assert_eq!(indexes(&choice[2]), vec![keys_only]);
    let parameter = &t["Parameters"]["LegacyDueIndex"];
    assert_eq!(parameter["Default"].as_str(), Some("true"));
    assert_eq!(
        t["Conditions"]["KeepLegacyDueIndex"]["Fn::Equals"][0]["Ref"].as_str(),
        Some("LegacyDueIndex")
    );
    assert_eq!(
        t["Conditions"]["KeepLegacyDueIndex"]["Fn::Equals"][1].as_str(),
        Some("true")
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
}

/// The template's alarms on the function's own metrics (those in the EMF line's namespace):
/// (resource name, alarm properties).
fn metric_alarms<'a>(t: &'a Value, namespace: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .filter(|(_, r)| r["Properties"]["Namespace"].as_str() == Some(namespace))
        .map(|(name, r)| (name.as_str().expect("a name"), &r["Properties"]))
        .collect()
}

/// The dimension names of an alarm (none when the template gives no `Dimensions`).
fn alarm_dimensions(alarm: &Value) -> Vec<String> {
    alarm["Dimensions"]
        .as_sequence()
        .map(|dims| {
            dims.iter()
                .map(|d| d["Name"].as_str().expect("a dimension name").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_reconciliation_alarm_watches_the_reconciled_metric_as_the_function_emits_it() {
    let t = template();
    // What the function prints after a completed tick: its namespace, its metrics (over its
    // metric sets: the counts, and the heartbeat) and their one dimension set.
    let line = psu_sched_lambda::metrics::emf(
        &shared::tick::TickSummary::default(),
        None,
        chrono::Utc::now(),
        "a-stack",
        psu_sched_lambda::metrics::TickEnd::Completed,
    );
    let namespace = psu_sched_lambda::metrics::NAMESPACE;
    let mut emitted: BTreeSet<&str> = BTreeSet::new();
    let mut dimension_sets = BTreeSet::new();
    for directive in line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .expect("metric sets")
    {
        assert_eq!(directive["Namespace"].as_str(), Some(namespace));
        emitted.extend(
            directive["Metrics"]
                .as_array()
                .expect("metrics")
                .iter()
                .map(|m| m["Name"].as_str().expect("a metric name")),
        );
        dimension_sets.insert(directive["Dimensions"].to_string());
    }
    assert_eq!(
        dimension_sets.len(),
        1,
        "one dimension set: {dimension_sets:?}"
    );
    let dimension_sets = line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        .as_array()
        .expect("dimension sets");
    assert_eq!(
        dimension_sets.len(),
        1,
        "one dimension set: {dimension_sets:?}"
    );
    let dimensions: Vec<String> = dimension_sets[0]
        .as_array()
        .expect("a dimension set")
        .iter()
        .map(|d| d.as_str().expect("a dimension").to_owned())
        .collect();

    let alarms = metric_alarms(&t, namespace);
    for (name, alarm) in &alarms {
        let metric = alarm["MetricName"].as_str().expect("a metric name");
        assert!(
            emitted.contains(metric),
            "{name} watches {metric}, which the function does not emit: {emitted:?}"
        );
        assert_eq!(
            alarm_dimensions(alarm),
            dimensions,
            "{name}: an alarm matches a metric only with the same dimensions"
        );
    }
    let reconciled: Vec<_> = alarms
        .iter()
        .filter(|(_, a)| a["MetricName"].as_str() == Some("Reconciled"))
        .collect();
    assert_eq!(
        reconciled.len(),
        1,
        "one alarm on Reconciled in {namespace}: {:?}",
        alarms.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    let (name, alarm) = reconciled[0];
    assert_eq!(alarm["Statistic"].as_str(), Some("Sum"), "{name}");
    assert_eq!(alarm["Threshold"].as_u64(), Some(1), "{name}");
    assert_eq!(
        alarm["ComparisonOperator"].as_str(),
        Some("GreaterThanOrEqualToThreshold"),
        "{name}"
    );
    assert_eq!(
        alarm["TreatMissingData"].as_str(),
        Some("notBreaching"),
        "{name}: no tick, no reconciliation"
    );
    assert!(
        serde_norway::to_string(&alarm["AlarmActions"])
            .expect("actions")
            .contains("AlarmTopic"),
        "{name} notifies the alarm topic"
    );
    let description = alarm["AlarmDescription"].as_str().unwrap_or_default();
    assert!(
        description.contains("no outcome"),
        "{name} says what it covers: {description}"
    );
}

#[test]
fn the_timed_out_alarm_claims_only_the_calls_that_timed_out() {
    let t = template();
    let alarms = metric_alarms(&t, psu_sched_lambda::metrics::NAMESPACE);
    let (name, alarm) = alarms
        .iter()
        .find(|(_, a)| a["MetricName"].as_str() == Some("TimedOut"))
        .expect("an alarm on TimedOut");
    let description = alarm["AlarmDescription"].as_str().unwrap_or_default();
    // `TimedOut` counts the calls the tick saw time out; an execution with no outcome by its
    // deadline is counted in `Reconciled` (shared::tick::TickSummary), with its own alarm.
    assert!(
        description.contains("timed out") && !description.contains("no outcome"),
        "{name}: {description}"
    );
}

/// The `secretsmanager:*` statements of a policy document, a conditional one (`Fn::If: [cond,
/// statement, AWS::NoValue]`) as its statement: (condition, actions, resource).
fn secret_statements(document: &Value) -> Vec<(Option<String>, BTreeSet<String>, Value)> {
    let mut out = Vec::new();
    for item in document["Statement"].as_sequence().expect("statements") {
        let (condition, statement) = match item.get("Fn::If") {
            Some(branches) => (branches[0].as_str().map(str::to_owned), &branches[1]),
            None => (None, item),
        };
        let actions: BTreeSet<String> = match &statement["Action"] {
            Value::Sequence(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Value::String(a) => BTreeSet::from([a.clone()]),
            _ => BTreeSet::new(),
        };
        if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
            out.push((condition, actions, statement["Resource"].clone()));
        }
    }
    out
}

#[test]
fn the_signing_secret_is_read_at_run_time_by_its_arn_never_resolved_into_the_environment() {
    let t = template();
    let function = resource(&t, "TickFunction");
    let vars = &function["Properties"]["Environment"]["Variables"];
    let text = serde_norway::to_string(&function).expect("the function");
    assert!(
        !text.contains("resolve:secretsmanager"),
        "no secret is resolved into the function's configuration: {text}"
    );
    assert!(
        vars.get(shared::config::ENV_SIGNING_SECRET).is_none(),
        "{} is not set by the template: {vars:?}",
        shared::config::ENV_SIGNING_SECRET
    );
    let arn_ref: Value = serde_norway::from_str("{ Ref: SigningSecretArn }").expect("yaml");
    assert_eq!(
        vars.get("PSU_SCHED_SIGNING_SECRET_ARN"),
        Some(&arn_ref),
        "the function gets the secret's ARN: {vars:?}"
    );
}

#[test]
fn only_the_tick_role_and_the_signer_policy_read_the_signing_secret() {
    let t = template();
    let arn_ref: Value = serde_norway::from_str("{ Ref: SigningSecretArn }").expect("yaml");
    let on_the_arn_alone =
        |name: &str, statements: &[(Option<String>, BTreeSet<String>, Value)]| {
            assert_eq!(statements.len(), 1, "{name}: {statements:?}");
            let (_, actions, resources) = &statements[0];
            assert_eq!(
                actions,
                &BTreeSet::from(["secretsmanager:GetSecretValue".to_owned()]),
                "{name}"
            );
            assert!(
                resources == &arn_ref
                    || resources.as_sequence().map(Vec::as_slice)
                        == Some(std::slice::from_ref(&arn_ref)),
                "{name}: GetSecretValue on the secret's ARN alone: {resources:?}"
            );
        };
    let tick: Vec<_> = resource(&t, "TickRole")["Properties"]["Policies"]
        .as_sequence()
        .expect("policies")
        .iter()
        .flat_map(|p| secret_statements(&p["PolicyDocument"]))
        .collect();
    on_the_arn_alone("TickRole", &tick);
    assert_eq!(
        tick[0].0.as_deref(),
        Some("HasSigningSecret"),
        "TickRole: only when a secret is given (an empty ARN is no resource)"
    );
    // The signer: `app key` and signed `run`/`tick` read the secret, from which every app's
    // key derives; a policy of its own, given to the few who hand out keys.
    let signer = resource(&t, "SignerPolicy");
    assert_eq!(
        signer["Condition"].as_str(),
        Some("HasSigningSecret"),
        "SignerPolicy exists only when a secret is given"
    );
    on_the_arn_alone(
        "SignerPolicy",
        &secret_statements(&signer["Properties"]["PolicyDocument"]),
    );
    assert_eq!(
        t["Outputs"]["SignerPolicyArn"]["Condition"].as_str(),
        Some("HasSigningSecret")
    );
    // Whoever pauses or edits jobs must not be able to derive every app's key and forge calls.
    for name in ["OperatorPolicy", "ViewerPolicy"] {
        let statements = secret_statements(&resource(&t, name)["Properties"]["PolicyDocument"]);
        assert!(
            statements.is_empty(),
            "{name} reads no secret: {statements:?}"
        );
    }
}

/// The heartbeat alarm: the one alarm on the function's metrics that treats missing data as
/// breaching (every other one is quiet when nothing happens). (resource name, properties)
pub(crate) fn heartbeat_alarm(t: &Value) -> (&str, &Value) {
    let breaching: Vec<_> = metric_alarms(t, psu_sched_lambda::metrics::NAMESPACE)
        .into_iter()
        .filter(|(_, a)| a["TreatMissingData"].as_str() == Some("breaching"))
        .collect();
    assert_eq!(
        breaching.len(),
        1,
        "one alarm breaching on missing data: {:?}",
        breaching.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    breaching[0]
}

#[test]
fn a_heartbeat_alarm_fires_when_no_tick_completes_for_the_configured_minutes() {
    let t = template();
    let (name, alarm) = heartbeat_alarm(&t);
    let minutes: Value = serde_norway::from_str("{ Ref: HeartbeatMinutes }").expect("yaml");
    assert_eq!(
        t["Parameters"]["HeartbeatMinutes"]["Default"].as_u64(),
        Some(5),
        "five minutes unless the operator says otherwise"
    );
    // One period a minute, and the alarm only after that many in a row without a completed
    // tick (a missing minute counts as breaching).
    assert_eq!(alarm["Period"].as_u64(), Some(60), "{name}");
    assert_eq!(alarm["EvaluationPeriods"], minutes, "{name}");
    assert_eq!(alarm["DatapointsToAlarm"], minutes, "{name}");
    assert_eq!(alarm["Statistic"].as_str(), Some("Sum"), "{name}");
    // A completed tick a minute per group: one group that stops fires it too.
    let groups: Value = serde_norway::from_str("{ Ref: Groups }").expect("yaml");
    assert_eq!(alarm["Threshold"], groups, "{name}");
    assert_eq!(
        alarm["ComparisonOperator"].as_str(),
        Some("LessThanThreshold"),
        "{name}"
    );
    assert!(
        serde_norway::to_string(&alarm["AlarmActions"])
            .expect("actions")
            .contains("AlarmTopic"),
        "{name} notifies the alarm topic"
    );
}

#[test]
fn every_alarm_on_the_functions_metrics_filters_on_its_own_stack() {
    let t = template();
    let stack: Value = serde_norway::from_str("{ Ref: AWS::StackName }").expect("yaml");
    let vars = &resource(&t, "TickFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        vars.get("PSU_SCHED_STACK"),
        Some(&stack),
        "the function names its stack in its metrics: {vars:?}"
    );
    let alarms = metric_alarms(&t, psu_sched_lambda::metrics::NAMESPACE);
    assert!(alarms.len() >= 6, "{alarms:?}");
    for (name, alarm) in &alarms {
        let dimensions = alarm["Dimensions"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        assert_eq!(dimensions.len(), 1, "{name}: {dimensions:?}");
        assert_eq!(dimensions[0]["Name"].as_str(), Some("Stack"), "{name}");
        assert_eq!(
            dimensions[0]["Value"], stack,
            "{name} watches this stack's figures, not another stack's in the same region"
        );
    }
}

#[test]
fn a_deferred_alarm_fires_when_slots_stay_deferred_for_a_quarter_of_an_hour() {
    let t = template();
    let alarms = metric_alarms(&t, psu_sched_lambda::metrics::NAMESPACE);
    let (name, alarm) = alarms
        .iter()
        .find(|(_, a)| a["MetricName"].as_str() == Some("Deferred"))
        .expect("an alarm on Deferred (docs/lambda.md advises one)");
    // Minimum over each period: every tick of the period deferred something, i.e. a job whose
    // call never fits, not one busy tick.
    assert_eq!(alarm["Statistic"].as_str(), Some("Minimum"), "{name}");
    assert_eq!(alarm["Threshold"].as_u64(), Some(1), "{name}");
    assert_eq!(
        alarm["ComparisonOperator"].as_str(),
        Some("GreaterThanOrEqualToThreshold"),
        "{name}"
    );
    let window =
        alarm["Period"].as_u64().unwrap_or(0) * alarm["EvaluationPeriods"].as_u64().unwrap_or(0);
    assert_eq!(window, 900, "{name}: a quarter of an hour");
    assert_eq!(
        alarm["TreatMissingData"].as_str(),
        Some("notBreaching"),
        "{name}: no tick is the heartbeat's business"
    );
}

/// Evaluates the template condition `name` for the parameter `Groups` = `groups`.
fn groups_condition(t: &Value, name: &str, groups: u32) -> bool {
    fn eval(t: &Value, v: &Value, groups: u32) -> bool {
        if let Some(args) = v.get("Fn::Equals").and_then(Value::as_sequence) {
            let side = |x: &Value| match x.get("Ref").and_then(Value::as_str) {
                Some("Groups") => groups.to_string(),
                _ => x
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{x:?}")),
            };
            return side(&args[0]) == side(&args[1]);
        }
        if let Some(args) = v.get("Fn::Or").and_then(Value::as_sequence) {
            return args.iter().any(|a| eval(t, a, groups));
        }
        if let Some(args) = v.get("Fn::Not").and_then(Value::as_sequence) {
            return !eval(t, &args[0], groups);
        }
        if let Some(name) = v.get("Condition").and_then(Value::as_str) {
            return eval(t, &t["Conditions"][name], groups);
        }
        panic!("a condition this test cannot evaluate: {v:?}");
    }
    eval(t, &t["Conditions"][name], groups)
}

#[test]
fn the_schedule_invokes_the_published_alias_so_a_rollback_is_one_alias_update() {
    let t = template();
    let function = &resource(&t, "TickFunction")["Properties"];
    // SAM publishes a version on each code change and points the alias `live` at it; the
    // schedule rules invoke that alias, not $LATEST.
    assert_eq!(
        function["AutoPublishAlias"].as_str(),
        Some("live"),
        "the function is published as versions behind the alias `live`"
    );
    assert!(
        function.get("Events").is_none(),
        "no SAM event: the schedule is the group rules below"
    );
    let alias: Value = serde_norway::from_str("{ Ref: TickFunction.Alias }").expect("yaml");
    let mut rules = 0;
    for (name, r) in t["Resources"].as_mapping().expect("resources") {
        let name = name.as_str().unwrap_or_default();
        match r["Type"].as_str().unwrap_or_default() {
            "AWS::Events::Rule" => {
                rules += 1;
                let targets = r["Properties"]["Targets"].as_sequence().expect("targets");
                assert_eq!(targets.len(), 1, "{name}");
                assert_eq!(targets[0]["Arn"], alias, "{name} invokes the alias");
            }
            "AWS::Lambda::Permission" => {
                assert_eq!(r["Properties"]["FunctionName"], alias, "{name}");
                let source = serde_norway::to_string(&r["Properties"]["SourceArn"]).expect("arn");
                assert!(
                    source.contains(name.trim_end_matches("Permission")),
                    "{name} lets only its own rule invoke: {source}"
                );
            }
            "AWS::Scheduler::Schedule" => panic!("{name} would bypass the group rules"),
            _ => {}
        }
    }
    assert_eq!(rules, 16, "a rule for each group up to 16");
    assert_eq!(
        t["Outputs"]["LiveAliasArn"]["Value"], alias,
        "the alias is an output, to invoke and to roll back"
    );
}

/// Issue 29: rule k (and its permission) exists exactly when k < Groups, fires every minute,
/// retries into the dead-letter queue, and sends {"tick": {"group": k, "of": Groups, "time":
/// <the rule's time>}}, which the function reads as group k of Groups.
#[test]
fn one_rule_a_minute_per_group_sends_its_group_and_the_minute_it_fired_for() {
    let t = template();
    let allowed: Vec<u32> = t["Parameters"]["Groups"]["AllowedValues"]
        .as_sequence()
        .expect("allowed values")
        .iter()
        .map(|v| v.as_u64().expect("a number") as u32)
        .collect();
    assert_eq!(allowed, [1, 2, 4, 8, 16]);
    assert_eq!(t["Parameters"]["Groups"]["Default"].as_u64(), Some(1));
    for groups in allowed {
        let mut present = Vec::new();
        for k in 0..16u32 {
            let rule = resource(&t, &format!("TickGroup{k}"));
            let permission = resource(&t, &format!("TickGroup{k}Permission"));
            assert_eq!(rule["Condition"], permission["Condition"], "group {k}");
            let exists = match rule["Condition"].as_str() {
                None => true,
                Some(name) => groups_condition(&t, name, groups),
            };
            if !exists {
                continue;
            }
            present.push(k);
            let target = &rule["Properties"]["Targets"][0];
            assert_eq!(
                rule["Properties"]["ScheduleExpression"].as_str(),
                Some("rate(1 minute)")
            );
            assert_eq!(
                target["RetryPolicy"]["MaximumRetryAttempts"].as_u64(),
                Some(2)
            );
            assert!(
                serde_norway::to_string(&target["DeadLetterConfig"])
                    .expect("dlq")
                    .contains("TickDeadLetterQueue")
            );
            let transformer = &target["InputTransformer"];
            assert_eq!(
                transformer["InputPathsMap"]["time"].as_str(),
                Some("$.time")
            );
            // EventBridge puts a string value in quotes where its placeholder stands unquoted
            // in a JSON template; Fn::Sub puts the parameter's value.
            let template = transformer["InputTemplate"]["Fn::Sub"]
                .as_str()
                .expect("a Fn::Sub of the input")
                .replace("${Groups}", &groups.to_string())
                .replace("<time>", "\"2026-11-26T09:30:00Z\"");
            let payload: serde_json::Value =
                serde_json::from_str(&template).expect("the input is JSON");
            assert_eq!(
                psu_sched_lambda::request::parse(&payload).expect("the function accepts it"),
                psu_sched_lambda::request::Request::Scheduled {
                    time: Some("2026-11-26T09:30:00Z".parse().expect("time")),
                    group: shared::store::layout::Group::new(k, groups).expect("a group"),
                },
                "Groups = {groups}, rule {k}"
            );
        }
        assert_eq!(
            present,
            (0..groups).collect::<Vec<_>>(),
            "Groups = {groups}: rules 0 to {}",
            groups - 1
        );
    }
}
/// The `ec2:*` statements of the tick role: (the `Fn::If` condition they sit under, actions).
fn network_interface_statements(t: &Value) -> Vec<(Option<String>, BTreeSet<String>)> {
    let mut out = Vec::new();
    for policy in resource(t, "TickRole")["Properties"]["Policies"]
        .as_sequence()
        .expect("policies")
    {
        for item in policy["PolicyDocument"]["Statement"]
            .as_sequence()
            .expect("statements")
        {
            let (condition, statement) = match item.get("Fn::If") {
                Some(branches) => (branches[0].as_str().map(str::to_owned), &branches[1]),
                None => (None, item),
            };
            let actions: BTreeSet<String> = statement["Action"]
                .as_sequence()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if actions.iter().any(|a| a.starts_with("ec2:")) {
                out.push((condition, actions));
            }
        }
    }
    out
}

#[test]
fn the_vpc_parameters_reach_the_function_and_network_interface_rights_exist_only_in_a_vpc() {
    let t = template();
    for name in ["SubnetIds", "SecurityGroupIds"] {
        let parameter = &t["Parameters"][name];
        assert_eq!(
            parameter["Type"].as_str(),
            Some("CommaDelimitedList"),
            "{name}"
        );
        assert_eq!(
            parameter["Default"].as_str(),
            Some(""),
            "{name}: empty by default, no VPC (today's behaviour)"
        );
    }
    let in_vpc = serde_norway::to_string(&t["Conditions"]["InVpc"]).expect("condition");
    assert!(in_vpc.contains("SubnetIds"), "InVpc: {in_vpc}");

    let vpc_config = &resource(&t, "TickFunction")["Properties"]["VpcConfig"]["Fn::If"];
    let expected: Value = serde_norway::from_str(
        "[InVpc, { SubnetIds: { Ref: SubnetIds }, SecurityGroupIds: { Ref: SecurityGroupIds } }, { Ref: AWS::NoValue }]",
    )
    .expect("yaml");
    assert_eq!(
        vpc_config, &expected,
        "the function is in the VPC given, and in none without one"
    );

    let eni = network_interface_statements(&t);
    assert_eq!(
        eni.len(),
        1,
        "one statement for the network interfaces: {eni:?}"
    );
    let (condition, actions) = &eni[0];
    assert_eq!(
        condition.as_deref(),
        Some("InVpc"),
        "network interface rights only in a VPC"
    );
    for action in [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
    ] {
        assert!(actions.contains(action), "{action}: {actions:?}");
    }
    let managed =
        serde_norway::to_string(&resource(&t, "TickRole")["Properties"]["ManagedPolicyArns"])
            .expect("managed policies");
    assert!(
        !managed.contains("AWSLambdaVPCAccessExecutionRole"),
        "the managed VPC policy would also allow logs on every log group: {managed}"
    );
}

#[test]
fn per_app_metrics_are_a_parameter_off_by_default_that_reaches_the_function() {
    let t = template();
    let parameter = &t["Parameters"]["AppMetrics"];
    assert_eq!(
        parameter["Default"].as_str(),
        Some("false"),
        "off by default"
    );
    assert_eq!(
        parameter["AllowedValues"],
        serde_norway::from_str::<Value>(r#"["true", "false"]"#).expect("YAML")
    );
    let vars = &resource(&t, "TickFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        vars[shared::config::ENV_APP_METRICS]["Ref"].as_str(),
        Some("AppMetrics")
    );
}

#[test]
fn the_alarm_topic_is_one_cloudwatch_may_publish_to() {
    // CloudWatch cannot use the AWS-managed key alias/aws/sns (its key policy cannot grant
    // cloudwatch.amazonaws.com): alarms would go to ALARM and send nothing.
    let t = template();
    let topic = &resource(&t, "AlarmTopic")["Properties"];
    assert_ne!(
        topic["KmsMasterKeyId"].as_str(),
        Some("alias/aws/sns"),
        "the AWS-managed SNS key silences every alarm"
    );
}

/// Every `Ref` and `${...}` in `value`: parameters and resources it reads.
fn references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Mapping(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    (Some("Ref"), Value::String(name)) => {
                        out.insert(name.clone());
                    }
                    (Some("Fn::Sub"), Value::String(text)) => sub_names(text, out),
                    (Some("Fn::Sub"), Value::Sequence(parts)) => {
                        if let Some(text) = parts.first().and_then(Value::as_str) {
                            sub_names(text, out);
                        }
                        for part in parts.iter().skip(1) {
                            references(part, out);
                        }
                    }
                    _ => references(inner, out),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

fn sub_names(text: &str, out: &mut BTreeSet<String>) {
    for part in text.split("${").skip(1) {
        if let Some(name) = part.split('}').next() {
            out.insert(name.split('.').next().unwrap_or(name).to_owned());
        }
    }
}

#[test]
fn a_change_of_any_setting_the_function_reads_publishes_a_new_version() {
    // AutoPublishAlias publishes a version only when the code or the Version's own properties
    // change: a deploy changing only a parameter (the VPC, the signing secret's ARN) would
    // leave `live` on a version with the old settings. The Version's description names every
    // setting, so changing one replaces the Version and moves `live`.
    let t = template();
    let properties = &resource(&t, "TickFunction")["Properties"];
    let mut read = BTreeSet::new();
    references(&properties["Environment"], &mut read);
    references(&properties["VpcConfig"], &mut read);
    references(&properties["Layers"], &mut read);
    // Pseudo parameters: AWS::NoValue, and AWS::StackName, which a stack never changes.
    read.retain(|name| !name.starts_with("AWS::"));
    for expected in [
        "SubnetIds",
        "SecurityGroupIds",
        "SigningSecretArn",
        "Concurrency",
        "CaCertificatesLayerArn",
    ] {
        assert!(
            read.contains(expected),
            "the function reads {expected}: {read:?}"
        );
    }
    let mut described = BTreeSet::new();
    references(&properties["VersionDescription"], &mut described);
    let missing: Vec<_> = read.difference(&described).collect();
    assert!(
        missing.is_empty(),
        "VersionDescription leaves out {missing:?}: changing one would not publish a version"
    );
}

#[test]
fn a_failed_first_create_leaves_no_table_behind_and_later_ones_keep_it() {
    let t = template();
    let table = resource(&t, "Table");
    assert_eq!(
        table["DeletionPolicy"].as_str(),
        Some("RetainExceptOnCreate")
    );
    assert_eq!(table["UpdateReplacePolicy"].as_str(), Some("Retain"));
}

#[test]
fn a_secret_name_is_refused_for_its_arn_and_the_vpc_parameters_come_together() {
    let t = template();
    let pattern = t["Parameters"]["SigningSecretArn"]["AllowedPattern"]
        .as_str()
        .expect("SigningSecretArn has an AllowedPattern");
    // CloudFormation matches the whole value.
    let re = regex::Regex::new(&format!("^(?:{pattern})$")).expect("a regex");
    for ok in [
        "",
        "arn:aws:secretsmanager:us-west-2:123456789012:secret:psu-sched/prod/signing-AbCdEf",
        "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x-AbCdEf",
    ] {
        assert!(re.is_match(ok), "{ok:?} is accepted");
    }
    for bad in [
        "psu-sched/signing",
        "arn:aws:secretsmanager:us-west-2:123456789012:secret:*",
        "arn:aws:s3:::bucket",
    ] {
        assert!(!re.is_match(bad), "{bad:?} is refused");
    }
    // A Rules assertion: SubnetIds and SecurityGroupIds both given or both empty.
    let rules = serde_norway::to_string(&t["Rules"]).expect("Rules");
    assert!(
        rules.contains("SubnetIds") && rules.contains("SecurityGroupIds"),
        "a rule ties the VPC parameters together: {rules}"
    );
}

#[test]
fn the_dead_letter_queue_takes_messages_only_from_the_stacks_own_rule() {
    let t = template();
    let statements =
        &resource(&t, "TickDeadLetterQueuePolicy")["Properties"]["PolicyDocument"]["Statement"];
    let statements = statements.as_sequence().expect("statements");
    assert_eq!(statements.len(), 1);
    let arns = statements[0]["Condition"]["ArnEquals"]["aws:SourceArn"]
        .as_sequence()
        .expect("a list of the rules' ARNs");
    assert_eq!(arns.len(), 16, "only the stack's 16 group rules");
    for (k, arn) in arns.iter().enumerate() {
        // Rule 0 always; rule k under its condition (Fn::If with AWS::NoValue otherwise).
        let get_att = match arn.get("Fn::If") {
            Some(branches) => &branches[1]["Fn::GetAtt"],
            None => &arn["Fn::GetAtt"],
        };
        assert_eq!(
            get_att[0].as_str(),
            Some(format!("TickGroup{k}").as_str()),
            "rule {k}: {arn:?}"
        );
    }
}

#[test]
fn a_private_cas_certificates_come_from_a_layer_only_when_one_is_given() {
    let t = template();
    let parameter = &t["Parameters"]["CaCertificatesLayerArn"];
    assert_eq!(parameter["Default"].as_str(), Some(""), "none by default");
    let pattern = parameter["AllowedPattern"]
        .as_str()
        .expect("an AllowedPattern");
    let re = regex::Regex::new(&format!("^(?:{pattern})$")).expect("a regex");
    assert!(re.is_match(""));
    assert!(re.is_match("arn:aws:lambda:us-west-2:123456789012:layer:psu-sched-ca:3"));
    assert!(
        !re.is_match("psu-sched-ca"),
        "a layer version's ARN, not its name"
    );
    assert!(
        !re.is_match("arn:aws:lambda:us-west-2:123456789012:layer:psu-sched-ca"),
        "a version of the layer"
    );
    let properties = &resource(&t, "TickFunction")["Properties"];
    let layers = serde_norway::to_string(&properties["Layers"]).expect("Layers");
    assert!(
        layers.contains("HasCaLayer") && layers.contains("CaCertificatesLayerArn"),
        "the layer only when given: {layers}"
    );
    let file = serde_norway::to_string(
        &properties["Environment"]["Variables"][shared::config::ENV_CA_CERTS_FILE],
    )
    .expect("the variable");
    assert!(
        file.contains("HasCaLayer") && file.contains("/opt/psu-sched/ca.pem"),
        "the file in the layer, only with it: {file}"
    );
}
