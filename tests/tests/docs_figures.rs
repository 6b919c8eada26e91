//! The docs agree with the template: every figure a user copies from README.md or docs/*.md
//! (a parameter's default, the function's name, the number of alarms, the stack that imports
//! a retained table) is read from infra/template.yaml and compared, so changing the template
//! without the docs fails here. docs/benchmarks.md is left out: its figures are measurements,
//! some taken at other settings on purpose.

use std::collections::BTreeMap;

use regex::Regex;
use serde_norway::Value;

use crate::infra::template;

/// README.md and every docs/*.md but benchmarks.md, by file name.
fn docs() -> BTreeMap<String, String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = BTreeMap::new();
    out.insert(
        "README.md".to_owned(),
        std::fs::read_to_string(root.join("README.md")).expect("README.md"),
    );
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("a docs entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.extension().is_some_and(|e| e == "md") && name != "benchmarks.md" {
            let text = std::fs::read_to_string(&path).expect("a doc");
            out.insert(format!("docs/{name}"), text);
        }
    }
    out
}

/// Every capture group 1 of `pattern` in the docs, with the file it is in.
fn captures(pattern: &str) -> Vec<(String, String)> {
    let re = Regex::new(pattern).expect("a valid pattern");
    let mut out = Vec::new();
    for (file, text) in docs() {
        for c in re.captures_iter(&text) {
            out.push((file.clone(), c[1].to_owned()));
        }
    }
    out
}

fn parameter_default(t: &Value, name: &str) -> String {
    match &t["Parameters"][name]["Default"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("the parameter {name} has no plain default: {other:?}"),
    }
}

#[test]
fn every_parameter_default_the_docs_give_is_the_templates() {
    let t = template();
    let parameters = t["Parameters"].as_mapping().expect("Parameters");
    // "`Concurrency` (default 64)", "`TableName` (default `psu-scheduler`)".
    let found = captures(r"`(\w+)`\s+\(default\s+`?([^`,;)\s]+)");
    let re = Regex::new(r"`(\w+)`\s+\(default\s+`?([^`,;)\s]+)").expect("pattern");
    let mut checked = 0;
    for (file, text) in docs() {
        for c in re.captures_iter(&text) {
            let (name, said) = (&c[1], &c[2]);
            if !parameters.contains_key(name) {
                continue;
            }
            assert_eq!(
                said,
                parameter_default(&t, name),
                "{file} says `{name}` defaults to {said}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 6 && !found.is_empty(),
        "the docs name the parameters' defaults ({checked} found)"
    );
}

#[test]
fn the_docs_concurrency_is_the_templates_and_the_functions() {
    let t = template();
    let default = parameter_default(&t, "Concurrency");
    assert_eq!(
        default,
        shared::tick::DEFAULT_CONCURRENCY.to_string(),
        "the template's Concurrency is the code's default"
    );
    for pattern in [
        r"up\s+to\s+(\d+)\s+calls\s+at\s+once",
        r"\|\s*`PSU_SCHED_CONCURRENCY`\s*\|\s*(\d+)\s*\|",
        r"ceil\(\d+\s*/\s*(\d+)\)",
    ] {
        let found = captures(pattern);
        assert!(!found.is_empty(), "the docs say {pattern}");
        for (file, said) in found {
            assert_eq!(said, default, "{file}: {pattern} says {said}");
        }
    }
    assert!(
        captures(r"(up\s+to\s+32\b)").is_empty(),
        "an old default of 32 is left"
    );
}

#[test]
fn every_function_name_in_the_docs_is_the_one_the_template_gives() {
    let t = template();
    let sub = t["Resources"]["TickFunction"]["Properties"]["FunctionName"]["Fn::Sub"]
        .as_str()
        .expect("FunctionName is a Fn::Sub of the stack's name");
    let name = sub.replace("${AWS::StackName}", "<stack>");
    assert_ne!(name, sub, "the function's name is derived from the stack's");
    let found = captures(r"--function-name\s+(\S+)");
    assert!(found.len() >= 3, "the docs invoke the function: {found:?}");
    for (file, said) in found {
        assert_eq!(said, name, "{file} names the function {said}");
    }
    let binary = t["Resources"]["TickFunction"]["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .expect("the binary built");
    for (file, said) in captures(r"--bin\s+(\S+)") {
        assert_eq!(said, binary, "{file} builds --bin {said}");
    }
}

#[test]
fn the_docs_count_of_alarms_and_their_names_are_the_templates() {
    let t = template();
    let resources = t["Resources"].as_mapping().expect("Resources");
    let alarms = resources
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .count();
    let counts = captures(r"(\d+)\s+alarms\b");
    assert!(!counts.is_empty(), "the docs count the alarms");
    for (file, said) in counts {
        assert_eq!(said, alarms.to_string(), "{file} counts {said} alarms");
    }
    let names = captures(r"`(\w+Alarm)`");
    assert!(!names.is_empty(), "the docs name alarms");
    for (file, name) in names {
        assert!(
            resources
                .get(name.as_str())
                .is_some_and(|r| r["Type"] == "AWS::CloudWatch::Alarm"),
            "{file} names {name}, not an alarm of the template"
        );
    }
}

#[test]
fn the_cost_per_million_called_jobs_is_one_figure_everywhere() {
    let found = captures(r"about\s+\$(\d+\.\d\d)\s+per\s+million\s+called\s+jobs");
    let files: std::collections::BTreeSet<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
    assert!(
        files.contains("README.md") && files.contains("docs/deploy.md"),
        "README.md and docs/deploy.md give it: {found:?}"
    );
    let first = &found[0].1;
    for (file, said) in &found {
        assert_eq!(
            said, first,
            "{file} says ${said}, {} says ${first}",
            found[0].0
        );
    }
}

#[test]
fn every_sam_build_in_the_docs_puts_cargo_lambda_on_the_path() {
    let line = Regex::new(r"(?m)^\s*(?:PATH=\S+\s+)?sam build\b.*$").expect("pattern");
    let good =
        Regex::new(r#"^\s*PATH="\$PWD/(?:\.\./)?\.venv/bin:\$PATH" sam build\b"#).expect("pattern");
    let mut seen = 0;
    for (file, text) in docs() {
        for m in line.find_iter(&text) {
            seen += 1;
            assert!(
                good.is_match(m.as_str()),
                "{file}: `{}` needs .venv/bin (cargo-lambda, zig) on PATH",
                m.as_str().trim()
            );
        }
    }
    assert!(seen >= 1, "the docs run sam build");
}

#[test]
fn the_stack_that_imports_a_retained_table_declares_the_templates_table() {
    let t = template();
    let deploy = docs().remove("docs/deploy.md").expect("docs/deploy.md");
    let block = Regex::new(r"(?s)cat > /tmp/import-table\.yaml <<EOF\n(.*?)\n\s*EOF\n")
        .expect("pattern")
        .captures(&deploy)
        .expect("docs/deploy.md writes the import template")[1]
        .to_owned();
    let indent = block.len() - block.trim_start().len();
    let yaml: String = block
        .lines()
        .map(|l| l.get(indent.min(l.len())..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("$TABLE", "the-table");
    let import: Value = serde_norway::from_str(&yaml).expect("the import template is YAML");
    let mut table = t["Resources"]["Table"].clone();
    assert_eq!(
        table["Properties"]["TableName"],
        serde_norway::from_str::<Value>("{ Ref: TableName }").expect("YAML"),
        "the table's name is the parameter, not derived from the stack"
    );
    table["Properties"]["TableName"] = Value::String("the-table".to_owned());
    assert_eq!(
        import["Resources"]["Table"], table,
        "docs/deploy.md's import template declares the table exactly as the template does"
    );
    let resources = Regex::new(r"(?s)cat > /tmp/import-resources\.json <<EOF\n(.*?)\n\s*EOF\n")
        .expect("pattern")
        .captures(&deploy)
        .expect("docs/deploy.md writes the resources to import")[1]
        .replace("$TABLE", "the-table");
    let resources: serde_json::Value = serde_json::from_str(&resources).expect("JSON");
    assert_eq!(
        resources,
        serde_json::json!([{
            "ResourceType": "AWS::DynamoDB::Table",
            "LogicalResourceId": "Table",
            "ResourceIdentifier": { "TableName": "the-table" }
        }])
    );
}
