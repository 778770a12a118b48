//! `schema/compose.schema.json` is generated from the model's types
//! ([`muster::model::types::json_schema`]) and committed, so editors can
//! use it (`# yaml-language-server: $schema=...`). This test fails when the
//! committed file is stale; `UPDATE_SCHEMA=1 cargo test --test schema`
//! writes it anew.
//!
//! It also checks the schema against real files: every awesome-compose
//! sample must be valid under it. The check is a small validator for the
//! parts of JSON Schema the generated schema uses (`type`, `properties`,
//! `additionalProperties`, `patternProperties`, `required`, `enum`,
//! `const`, `items`, `anyOf`/`oneOf`/`allOf`, `$ref`; `oneOf` is checked
//! as `anyOf`), written here rather than pulling in a full validator crate
//! (`jsonschema` brings dozens of dependencies) for one test.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/compose.schema.json")
}

fn generated() -> String {
    let schema = muster::model::types::json_schema();
    let mut text = serde_json::to_string_pretty(&schema).expect("serialize the schema");
    text.push('\n');
    text
}

#[test]
fn committed_schema_is_up_to_date() {
    let path = schema_path();
    let fresh = generated();
    if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).expect("write schema/compose.schema.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "schema/compose.schema.json is stale: run UPDATE_SCHEMA=1 cargo test --test schema"
    );
}

#[test]
fn schema_is_draft_7_and_describes_services() {
    let schema = muster::model::types::json_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert!(
        schema["properties"]["services"].is_object(),
        "the top level has `services`"
    );
}

/// A validator for the JSON Schema subset the generated schema uses.
struct Validator<'a> {
    root: &'a Value,
}

impl Validator<'_> {
    /// Every problem with `value` at `path`, empty when it is valid.
    fn check(&self, schema: &Value, value: &Value, path: &str, depth: usize) -> Vec<String> {
        assert!(depth < 200, "runaway $ref at {path}");
        let schema = match schema {
            Value::Bool(true) => return Vec::new(),
            Value::Bool(false) => return vec![format!("{path}: nothing is allowed here")],
            Value::Object(schema) => schema,
            _ => return vec![format!("{path}: bad schema {schema}")],
        };
        let mut errors = Vec::new();
        if let Some(Value::String(reference)) = schema.get("$ref") {
            errors.extend(self.check(self.resolve(reference), value, path, depth + 1));
        }
        if let Some(types) = schema.get("type")
            && !type_matches(types, value)
        {
            errors.push(format!("{path}: {value} is not of type {types}"));
            return errors;
        }
        if let Some(Value::Array(options)) = schema.get("enum")
            && !options.contains(value)
        {
            errors.push(format!("{path}: {value} is not one of {options:?}"));
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            errors.push(format!("{path}: {value} is not {constant}"));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(options)) = schema.get(key) {
                let mut matched = 0;
                let mut nearest: Option<Vec<String>> = None;
                for option in options {
                    let found = self.check(option, value, path, depth + 1);
                    if found.is_empty() {
                        matched += 1;
                    } else if nearest.as_ref().is_none_or(|n| found.len() < n.len()) {
                        nearest = Some(found);
                    }
                }
                if matched == 0 {
                    errors.push(format!("{path}: matches none of {key}"));
                    errors.extend(nearest.unwrap_or_default());
                }
            }
        }
        if let Some(Value::Array(all)) = schema.get("allOf") {
            for option in all {
                errors.extend(self.check(option, value, path, depth + 1));
            }
        }
        if let Value::Object(object) = value {
            errors.extend(self.check_object(schema, object, path, depth));
        }
        if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                errors.extend(self.check(item_schema, item, &format!("{path}[{i}]"), depth + 1));
            }
        }
        errors
    }

    fn check_object(
        &self,
        schema: &Map<String, Value>,
        object: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(Value::Array(required)) = schema.get("required") {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    errors.push(format!("{path}: `{key}` is required"));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let patterns = schema.get("patternProperties").and_then(Value::as_object);
        for (key, item) in object {
            let child = format!("{path}.{key}");
            if let Some(property) = properties.and_then(|p| p.get(key)) {
                errors.extend(self.check(property, item, &child, depth + 1));
                continue;
            }
            // The generated schema only uses prefix patterns such as `^x-`.
            let pattern = patterns.and_then(|p| {
                p.iter().find(|(pattern, _)| {
                    pattern
                        .strip_prefix('^')
                        .is_some_and(|prefix| key.starts_with(prefix))
                })
            });
            if let Some((_, pattern_schema)) = pattern {
                errors.extend(self.check(pattern_schema, item, &child, depth + 1));
                continue;
            }
            match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => errors.push(format!("{child}: unknown key")),
                Some(additional) => {
                    errors.extend(self.check(additional, item, &child, depth + 1));
                }
                None => {}
            }
        }
        errors
    }

    fn resolve(&self, reference: &str) -> &Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local $ref: {reference}"));
        self.root
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"))
    }
}

fn type_matches(types: &Value, value: &Value) -> bool {
    let one = |t: &str| match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        other => panic!("unknown type {other}"),
    };
    match types {
        Value::String(t) => one(t),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(one),
        _ => true,
    }
}

/// A compose file as JSON, the way an editor's YAML language server sees
/// it (YAML 1.2 core schema; `<<` merge keys applied).
fn yaml_to_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read a compose file");
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    yaml.apply_merge().expect("merge keys");
    serde_json::to_value(yaml).expect("YAML that is JSON")
}

#[test]
fn awesome_compose_samples_are_valid_under_the_schema() {
    let schema = muster::model::types::json_schema();
    let validator = Validator { root: &schema };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/awesome-compose");
    assert!(root.is_dir(), "the corpus is missing: {}", root.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("read awesome-compose")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .flat_map(|dir| {
            [
                "compose.yaml",
                "compose.yml",
                "docker-compose.yaml",
                "docker-compose.yml",
            ]
            .into_iter()
            .map(move |name| dir.join(name))
        })
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 39, "found {} files", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let errors = validator.check(&schema, &yaml_to_json(file), "", 0);
        if !errors.is_empty() {
            failures.push(format!("{}:\n  {}", file.display(), errors.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let schema = muster::model::types::json_schema();
    let validator = Validator { root: &schema };
    let check = |json: Value| validator.check(&schema, &json, "", 0);
    assert!(check(serde_json::json!({"services": {"web": {"image": "nginx"}}})).is_empty());
    assert!(
        check(serde_json::json!({"services": {"web": {"image": "nginx", "x-note": 1}}})).is_empty(),
        "x- keys are allowed in closed objects"
    );
    let errors = check(serde_json::json!({"services": {"web": {"imagee": "nginx"}}}));
    assert!(
        errors
            .iter()
            .any(|e| e.contains(".services.web.imagee: unknown key")),
        "{errors:?}"
    );
    let errors = check(serde_json::json!({"services": {"web": {"privileged": []}}}));
    assert!(!errors.is_empty(), "a list is no boolean");
}
