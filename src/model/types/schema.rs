//! The JSON Schema of the file format muster reads, generated from the
//! model's types.
//!
//! The schema describes what a user may write, short forms included, not
//! the normalized model: a port may be `8080:80` or a mapping, a boolean
//! may be a string (it may come from a variable). Every object that denies
//! unknown keys still allows `x-` extension keys, as compose does.
//! Descriptions come from the types' doc comments.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::Project;

/// The JSON Schema (draft 7) of a compose file as muster reads it.
#[must_use]
pub fn json_schema() -> Value {
    let generator = SchemaSettings::draft07().for_deserialize().into_generator();
    let mut schema = generator.into_root_schema_for::<Project>().to_value();
    tidy(&mut schema);
    schema
}

/// Lets every closed object (`additionalProperties: false`) take `x-` keys,
/// and drops what only matters to the Rust side (`writeOnly` for keys
/// `config` does not print, `default: null` of optional fields).
fn tidy(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("writeOnly");
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            if map.get("additionalProperties") == Some(&Value::Bool(false))
                && map.contains_key("properties")
            {
                let patterns = map.entry("patternProperties").or_insert_with(|| json!({}));
                if let Some(patterns) = patterns.as_object_mut() {
                    patterns.insert("^x-".to_owned(), json!({}));
                }
            }
            for child in map.values_mut() {
                tidy(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}
