//! `depends_on`: the services a service waits for, and what it waits for.
//!
//! The list form (`[db, cache]`) means "started", required. The mapping
//! form names a condition per service, whether to restart this service
//! when the dependency restarts, and whether the dependency is required
//! (default true). Compose requires `condition` in the mapping form;
//! muster defaults it to `service_started`, as compose's own defaults do.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::de as lenient;

/// What a service waits for before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The dependency's container has started.
    #[default]
    ServiceStarted,
    /// The dependency's healthcheck passes.
    ServiceHealthy,
    /// The dependency ran to completion with exit code 0.
    ServiceCompletedSuccessfully,
}

impl Condition {
    /// The name compose uses (`service_healthy`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceStarted => "service_started",
            Self::ServiceHealthy => "service_healthy",
            Self::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn yes() -> bool {
    true
}

/// One entry of `depends_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DependsOn {
    /// What to wait for (default `service_started`).
    #[serde(default)]
    pub condition: Condition,
    /// Restart this service when the dependency is restarted or updated.
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "lenient::BoolSchema")]
    pub restart: bool,
    /// Whether the dependency must exist and start (default true); when
    /// false, a missing or failing dependency is only a warning.
    #[serde(default = "yes", deserialize_with = "lenient::bool")]
    #[schemars(with = "lenient::BoolSchema")]
    pub required: bool,
}

impl Default for DependsOn {
    fn default() -> Self {
        Self::started()
    }
}

impl DependsOn {
    /// Started, required, no restart: what the list form means.
    #[must_use]
    pub const fn started() -> Self {
        Self {
            condition: Condition::ServiceStarted,
            restart: false,
            required: true,
        }
    }
}

struct DependsVisitor;

impl<'de> Visitor<'de> for DependsVisitor {
    type Value = IndexMap<String, DependsOn>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of service names, or a mapping of service names to {condition, restart, required}")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(IndexMap::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = IndexMap::new();
        while let Some(name) = seq.next_element::<String>()? {
            out.insert(name, DependsOn::started());
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IndexMap::deserialize(MapAccessDeserializer::new(map))
    }
}

/// Reads `depends_on` in list or mapping form.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, DependsOn>, D::Error> {
    d.deserialize_any(DependsVisitor)
}

/// The schema of both forms.
pub(crate) struct DependsOnSchema;

impl JsonSchema for DependsOnSchema {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DependsOnSchema".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "additionalProperties": generator.subschema_for::<DependsOn>()},
                {"type": "null"}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "deserialize")]
        depends_on: IndexMap<String, DependsOn>,
    }

    fn read(yaml: &str) -> Result<IndexMap<String, DependsOn>, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        serde_path_to_error::deserialize::<_, Holder>(value)
            .map(|h| h.depends_on)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn list_form_means_started_and_required() {
        let d = read("{depends_on: [db, redis]}").unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["db", "redis"]);
        assert!(d.values().all(|v| *v == DependsOn::started()));
    }

    #[test]
    fn map_form() {
        let d = read(
            "{depends_on: {db: {condition: service_healthy, restart: true}, \
              init: {condition: service_completed_successfully, required: false}, cache: {}}}",
        )
        .unwrap();
        assert_eq!(d["db"].condition, Condition::ServiceHealthy);
        assert!(d["db"].restart && d["db"].required);
        assert_eq!(d["init"].condition, Condition::ServiceCompletedSuccessfully);
        assert!(!d["init"].required);
        assert_eq!(d["cache"], DependsOn::started());
        let err = read("{depends_on: {db: {condition: healthy}}}").unwrap_err();
        assert!(
            err.starts_with("depends_on.db.condition: unknown variant `healthy`, expected one of `service_started`"),
            "{err}"
        );
    }

    #[test]
    fn serializes_condition_and_required() {
        let d = read("{depends_on: [db]}").unwrap();
        assert_eq!(
            serde_yaml::to_string(&d).unwrap(),
            "db:\n  condition: service_started\n  required: true\n"
        );
    }
}
