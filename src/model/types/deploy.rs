//! `deploy`: replicas, resources, restart policy and the swarm settings
//! compose keeps for compatibility. muster acts on `replicas` and
//! `resources`; the rest is read, kept and printed by `config`.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::de::{self, Scalar};
use super::duration::Duration;
use super::size::ByteSize;

/// A service's deployment settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// `replicated` (the default) or `global`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `vip` or `dnsrr` (swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_mode: Option<String>,
    /// How many containers to run.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub replicas: Option<u32>,
    /// Labels of the service (swarm), not of its containers.
    #[serde(
        default,
        deserialize_with = "de::labels",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub labels: IndexMap<String, String>,
    /// How to roll back a failed update (swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// How to update the service (swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    /// Resource limits and reservations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// When to restart containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Where to place containers (swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// How a service is updated or rolled back (swarm).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Containers to update at once.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub parallelism: Option<u64>,
    /// Time between groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// `continue`, `pause` or `rollback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    /// Time to watch each task for failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Duration>,
    /// The failure rate to tolerate.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::NumberSchema")]
    pub max_failure_ratio: Option<f64>,
    /// `stop-first` or `start-first`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// Resource limits and reservations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// The most a container may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceLimits>,
    /// What a container is guaranteed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<ResourceReservations>,
}

/// Resource limits of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceLimits {
    /// CPUs, as a number of cores (`0.5`).
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::NumberSchema")]
    pub cpus: Option<f64>,
    /// Memory (`512m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// The most processes (`-1` for unlimited).
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub pids: Option<i64>,
}

/// Resource reservations of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceReservations {
    /// CPUs, as a number of cores (`0.25`).
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::NumberSchema")]
    pub cpus: Option<f64>,
    /// Memory (`256m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// User-defined resources (swarm).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
    /// Devices (GPUs) the container needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRequest>,
}

/// A user-defined resource (swarm).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenericResource {
    /// A countable resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discrete_resource_spec: Option<DiscreteResourceSpec>,
}

/// A countable user-defined resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscreteResourceSpec {
    /// The kind (`gpu`, `ssd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How many.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub value: Option<i64>,
}

/// A request for devices, such as GPUs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    /// Capabilities the devices need (`gpu`, `compute`, `utility`).
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub capabilities: Vec<String>,
    /// How many devices; `-1` (written `all`) for all of them.
    #[serde(
        default,
        deserialize_with = "device_count",
        serialize_with = "serialize_count",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub count: Option<i64>,
    /// Specific device ids.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub device_ids: Vec<String>,
    /// The device driver (`nvidia`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(
        default,
        deserialize_with = "de::labels",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub options: IndexMap<String, String>,
}

fn device_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match de::scalar(d, "a number of devices, or all")? {
        Scalar::Null => Ok(None),
        Scalar::Str(s) if s.trim().eq_ignore_ascii_case("all") => Ok(Some(-1)),
        Scalar::Str(s) => s.trim().parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "expected a number of devices or \"all\", found {s:?}"
            ))
        }),
        Scalar::Int(i) => Ok(Some(i)),
        Scalar::UInt(u) => i64::try_from(u)
            .map(Some)
            .map_err(|_| serde::de::Error::custom("the count is too large")),
        other => Err(serde::de::Error::custom(format!(
            "expected a number of devices or \"all\", found {}",
            other.describe()
        ))),
    }
}

#[allow(clippy::ref_option)]
fn serialize_count<S: Serializer>(count: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match count {
        Some(-1) => s.serialize_str("all"),
        Some(n) => s.serialize_i64(*n),
        None => s.serialize_none(),
    }
}

/// `gpus:` is `all`, or a list of device requests.
pub(crate) fn gpus<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeviceRequest>, D::Error> {
    struct GpusVisitor;
    impl<'de> serde::de::Visitor<'de> for GpusVisitor {
        type Value = Vec<DeviceRequest>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("\"all\" or a list of device requests")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v == "all" {
                Ok(vec![DeviceRequest {
                    capabilities: vec!["gpu".to_owned()],
                    count: Some(-1),
                    ..DeviceRequest::default()
                }])
            } else {
                Err(E::custom(format!(
                    "expected \"all\" or a list of device requests, found {v:?}"
                )))
            }
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(GpusVisitor)
}

/// The schema of `gpus`.
pub(crate) struct GpusSchema;

impl JsonSchema for GpusSchema {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GpusSchema".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                {"type": "string", "enum": ["all"]},
                {"type": "array", "items": generator.subschema_for::<DeviceRequest>()}
            ]
        })
    }
}

/// When to restart containers (swarm's form; muster maps it to the engine's
/// restart policy when `restart` is unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Time between restart attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// The most attempts.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub max_attempts: Option<u64>,
    /// The window in which a restart counts as successful.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

/// Where to place containers (swarm).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Constraints on nodes (`node.role==manager`).
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub constraints: Vec<String>,
    /// Preferences for spreading containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
    /// The most replicas on one node.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub max_replicas_per_node: Option<u64>,
}

/// A placement preference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementPreference {
    /// Spread evenly over the values of this node label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<Deploy, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        serde_path_to_error::deserialize(value).map_err(|e| e.to_string())
    }

    #[test]
    fn full_deploy() {
        let d = read(
            "{mode: replicated, replicas: '6', labels: [FOO=BAR], \
              rollback_config: {parallelism: 3, delay: 10s, failure_action: continue, monitor: 60s, max_failure_ratio: 0.3, order: start-first}, \
              update_config: {parallelism: 3, delay: 10s}, \
              resources: {limits: {cpus: '0.001', memory: 50M, pids: 100}, \
                reservations: {cpus: 0.0001, memory: 20M, generic_resources: [{discrete_resource_spec: {kind: gpu, value: 2}}], \
                  devices: [{capabilities: [gpu], count: all, driver: nvidia}]}}, \
              restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 120s}, \
              placement: {constraints: [node=foo], max_replicas_per_node: 5, preferences: [{spread: node.labels.az}]}, \
              endpoint_mode: dnsrr}",
        )
        .unwrap();
        assert_eq!(d.replicas, Some(6));
        let resources = d.resources.unwrap();
        let limits = resources.limits.unwrap();
        assert_eq!(limits.cpus, Some(0.001));
        assert_eq!(limits.memory, Some(ByteSize(50 << 20)));
        let reservations = resources.reservations.unwrap();
        assert_eq!(reservations.devices[0].count, Some(-1));
        assert_eq!(
            d.rollback_config.unwrap().monitor,
            Some(Duration::from_secs(60))
        );
        assert_eq!(d.restart_policy.unwrap().max_attempts, Some(3));
    }

    #[test]
    fn limits_reject_reservation_keys() {
        let err = read("{resources: {limits: {devices: []}}}").unwrap_err();
        assert!(
            err.starts_with("resources.limits.devices: unknown field `devices`"),
            "{err}"
        );
    }

    #[test]
    fn gpus_all_or_list() {
        #[derive(Deserialize)]
        struct H {
            #[serde(deserialize_with = "gpus")]
            gpus: Vec<DeviceRequest>,
        }
        let h: H = serde_yaml::from_str("gpus: all").unwrap();
        assert_eq!(h.gpus[0].count, Some(-1));
        let h: H = serde_yaml::from_str("gpus: [{driver: nvidia, count: 2}]").unwrap();
        assert_eq!(h.gpus[0].count, Some(2));
        assert_eq!(
            serde_yaml::to_string(&DeviceRequest {
                count: Some(-1),
                ..DeviceRequest::default()
            })
            .unwrap(),
            "count: all\n"
        );
    }
}
