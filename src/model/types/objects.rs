//! The top-level objects services share: `networks`, `volumes`, `secrets`,
//! `configs` and `models`, and the `include` entries the loader resolves.
//!
//! An entry may be empty (`volumes: {db: }`): a default object muster
//! creates and names `<project>_<key>`. `external: true` means the object
//! exists already and is used as is. The old form `external: {name: x}` is
//! read as `external: true` with `name: x`, as compose reads it.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::de::{self as lenient, ShortForm, parse_bool};

/// `external:` as written: a boolean, or the deprecated `{name: x}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ExternalFile {
    external: bool,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyExternal {
    #[serde(default)]
    name: Option<String>,
}

impl<'de> Deserialize<'de> for ExternalFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ExternalVisitor;
        impl<'de> Visitor<'de> for ExternalVisitor {
            type Value = ExternalFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ExternalFile, E> {
                Ok(ExternalFile::default())
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ExternalFile, E> {
                Ok(ExternalFile {
                    external: v,
                    name: None,
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ExternalFile, E> {
                parse_bool(v)
                    .map(|external| ExternalFile {
                        external,
                        name: None,
                    })
                    .ok_or_else(|| E::custom(format!("expected true or false, found {v:?}")))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ExternalFile, A::Error> {
                let legacy = LegacyExternal::deserialize(MapAccessDeserializer::new(map))?;
                Ok(ExternalFile {
                    external: true,
                    name: legacy.name,
                })
            }
        }
        d.deserialize_any(ExternalVisitor)
    }
}

impl JsonSchema for ExternalFile {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "External".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                {"type": ["boolean", "string", "null"]},
                {
                    "type": "object",
                    "deprecated": true,
                    "description": "Deprecated: set `name` and `external: true` instead.",
                    "properties": {"name": {"type": "string"}},
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// Moves a legacy `external.name` to `name`.
fn merge_external(
    name: Option<String>,
    external: ExternalFile,
) -> Result<(Option<String>, bool), String> {
    match (name, external.name) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "`name: {a}` and `external.name: {b}` differ; remove `external.name` and keep `external: true`"
        )),
        (name, legacy) => Ok((name.or(legacy), external.external)),
    }
}

/// A network services attach to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "NetworkFile")]
pub struct Network {
    /// The network's name on the engine (default `<project>_<key>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The driver (default `bridge`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Options for the driver.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: IndexMap<String, String>,
    /// IP address management.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    /// The network exists outside the project; muster neither creates nor
    /// removes it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// Isolate the network from the outside.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// Let standalone containers attach (swarm).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub attachable: bool,
    /// Enable IPv4 addressing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    /// Enable IPv6 addressing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    /// Labels of the network.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

/// A network as the file writes it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Network", extend("type" = ["object", "null"]))]
struct NetworkFile {
    /// The network's name on the engine (default `<project>_<key>`).
    #[serde(default)]
    name: Option<String>,
    /// The driver (default `bridge`).
    #[serde(default)]
    driver: Option<String>,
    /// Options for the driver.
    #[serde(default, deserialize_with = "lenient::string_map")]
    #[schemars(with = "lenient::DictSchema")]
    driver_opts: IndexMap<String, String>,
    /// IP address management.
    #[serde(default)]
    ipam: Option<Ipam>,
    /// The network exists outside the project; muster neither creates nor
    /// removes it.
    #[serde(default)]
    external: ExternalFile,
    /// Isolate the network from the outside.
    #[serde(default, deserialize_with = "lenient::bool")]
    #[schemars(with = "lenient::BoolSchema")]
    internal: bool,
    /// Let standalone containers attach (swarm).
    #[serde(default, deserialize_with = "lenient::bool")]
    #[schemars(with = "lenient::BoolSchema")]
    attachable: bool,
    /// Enable IPv4 addressing.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schemars(with = "lenient::BoolSchema")]
    enable_ipv4: Option<bool>,
    /// Enable IPv6 addressing.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schemars(with = "lenient::BoolSchema")]
    enable_ipv6: Option<bool>,
    /// Labels of the network.
    #[serde(default, deserialize_with = "lenient::labels")]
    #[schemars(with = "lenient::ListOrDictSchema")]
    labels: IndexMap<String, String>,
}

impl TryFrom<NetworkFile> for Network {
    type Error = String;

    fn try_from(f: NetworkFile) -> Result<Self, String> {
        let (name, external) = merge_external(f.name, f.external)?;
        Ok(Self {
            name,
            driver: f.driver,
            driver_opts: f.driver_opts,
            ipam: f.ipam,
            external,
            internal: f.internal,
            attachable: f.attachable,
            enable_ipv4: f.enable_ipv4,
            enable_ipv6: f.enable_ipv6,
            labels: f.labels,
        })
    }
}

/// IP address management of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    /// The IPAM driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Address pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    /// Options for the IPAM driver.
    #[serde(
        default,
        deserialize_with = "lenient::string_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "lenient::DictSchema")]
    pub options: IndexMap<String, String>,
}

/// An address pool of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    /// The subnet, in CIDR form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// The range container addresses are taken from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    /// The gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Addresses the driver must not hand out.
    #[serde(
        default,
        deserialize_with = "lenient::string_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "lenient::DictSchema")]
    pub aux_addresses: IndexMap<String, String>,
}

/// A named volume services mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "VolumeFile")]
pub struct Volume {
    /// The volume's name on the engine (default `<project>_<key>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The volume driver (default `local`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Options for the driver.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: IndexMap<String, String>,
    /// The volume exists outside the project; muster neither creates nor
    /// removes it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// Labels of the volume.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

/// A volume as the file writes it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Volume", extend("type" = ["object", "null"]))]
struct VolumeFile {
    /// The volume's name on the engine (default `<project>_<key>`).
    #[serde(default)]
    name: Option<String>,
    /// The volume driver (default `local`).
    #[serde(default)]
    driver: Option<String>,
    /// Options for the driver.
    #[serde(default, deserialize_with = "lenient::string_map")]
    #[schemars(with = "lenient::DictSchema")]
    driver_opts: IndexMap<String, String>,
    /// The volume exists outside the project; muster neither creates nor
    /// removes it.
    #[serde(default)]
    external: ExternalFile,
    /// Labels of the volume.
    #[serde(default, deserialize_with = "lenient::labels")]
    #[schemars(with = "lenient::ListOrDictSchema")]
    labels: IndexMap<String, String>,
}

impl TryFrom<VolumeFile> for Volume {
    type Error = String;

    fn try_from(f: VolumeFile) -> Result<Self, String> {
        let (name, external) = merge_external(f.name, f.external)?;
        Ok(Self {
            name,
            driver: f.driver,
            driver_opts: f.driver_opts,
            external,
            labels: f.labels,
        })
    }
}

/// A secret or a config: a file, an environment variable or inline content
/// that services mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "FileObjectFile")]
pub struct FileObject {
    /// The name on the engine (swarm); default `<project>_<key>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A file holding the value (relative to the project directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// An environment variable holding the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The value itself (configs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The object exists outside the project (swarm).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// Labels of the object.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// The driver (swarm secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Options for the driver.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: IndexMap<String, String>,
    /// The templating driver (swarm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
}

/// A secret shared by services.
pub type Secret = FileObject;
/// A config shared by services.
pub type Config = FileObject;

/// A secret or config as the file writes it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "FileObject")]
struct FileObjectFile {
    /// The name on the engine (swarm); default `<project>_<key>`.
    #[serde(default)]
    name: Option<String>,
    /// A file holding the value (relative to the project directory).
    #[serde(default)]
    file: Option<String>,
    /// An environment variable holding the value.
    #[serde(default)]
    environment: Option<String>,
    /// The value itself (configs).
    #[serde(default)]
    content: Option<String>,
    /// The object exists outside the project (swarm).
    #[serde(default)]
    external: ExternalFile,
    /// Labels of the object.
    #[serde(default, deserialize_with = "lenient::labels")]
    #[schemars(with = "lenient::ListOrDictSchema")]
    labels: IndexMap<String, String>,
    /// The driver (swarm secrets).
    #[serde(default)]
    driver: Option<String>,
    /// Options for the driver.
    #[serde(default, deserialize_with = "lenient::string_map")]
    #[schemars(with = "lenient::DictSchema")]
    driver_opts: IndexMap<String, String>,
    /// The templating driver (swarm).
    #[serde(default)]
    template_driver: Option<String>,
}

impl TryFrom<FileObjectFile> for FileObject {
    type Error = String;

    fn try_from(f: FileObjectFile) -> Result<Self, String> {
        let (name, external) = merge_external(f.name, f.external)?;
        Ok(Self {
            name,
            file: f.file,
            environment: f.environment,
            content: f.content,
            external,
            labels: f.labels,
            driver: f.driver,
            driver_opts: f.driver_opts,
            template_driver: f.template_driver,
        })
    }
}

/// An AI model services use (Docker Model Runner); kept, not acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// The name on the runner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The model to run.
    pub model: String,
    /// The context window, in tokens.
    #[serde(
        default,
        deserialize_with = "lenient::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "lenient::IntSchema")]
    pub context_size: Option<i64>,
    /// Raw flags for the inference engine.
    #[serde(
        default,
        deserialize_with = "lenient::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "lenient::ListSchema")]
    pub runtime_flags: Vec<String>,
}

/// An `include` entry: other compose files to pull into the project. The
/// loader resolves them; the model only reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Include {
    /// The compose file(s) to include.
    #[serde(deserialize_with = "lenient::string_or_list")]
    #[schemars(with = "lenient::StringOrListSchema")]
    pub path: Vec<String>,
    /// The directory the included files' relative paths start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_directory: Option<String>,
    /// Environment files for interpolating the included files.
    #[serde(
        default,
        deserialize_with = "lenient::string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "lenient::StringOrListSchema")]
    pub env_file: Vec<String>,
}

impl ShortForm for Include {
    const SHORT_SYNTAX: &'static str = "PATH";

    fn from_short(text: &str) -> Result<Vec<Self>, String> {
        Ok(vec![Self {
            path: vec![text.to_owned()],
            ..Self::default()
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: serde::de::DeserializeOwned>(yaml: &str) -> Result<T, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        serde_path_to_error::deserialize(value).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_entries_are_defaults() {
        let v: IndexMap<String, Volume> = read("{db: , logs: {}}").unwrap();
        assert_eq!(v["db"], Volume::default());
        assert_eq!(v["logs"], Volume::default());
        let n: IndexMap<String, Network> = read("{front: }").unwrap();
        assert_eq!(n["front"], Network::default());
    }

    #[test]
    fn networks() {
        let n: Network = read(
            "{driver: overlay, driver_opts: {foo: bar, baz: 1}, internal: 'true', enable_ipv6: true, \
              ipam: {driver: overlay, config: [{subnet: 172.28.0.0/16, ip_range: 172.28.5.0/24, gateway: 172.28.5.254, \
              aux_addresses: {host1: 172.28.1.5}}, {subnet: '2001:3984:3989::/64'}]}, labels: [foo=bar]}",
        )
        .unwrap();
        assert_eq!(n.driver_opts["baz"], "1");
        assert!(n.internal);
        assert_eq!(n.enable_ipv6, Some(true));
        assert_eq!(n.ipam.as_ref().unwrap().config.len(), 2);
        assert_eq!(n.labels["foo"], "bar");
        let err = read::<Network>("{drivr: x}").unwrap_err();
        assert!(
            err.starts_with("drivr: unknown field `drivr`, expected one of"),
            "{err}"
        );
    }

    #[test]
    fn external_forms() {
        let v: Volume = read("{external: true}").unwrap();
        assert!(v.external && v.name.is_none());
        let v: Volume = read("{external: {name: my-cool-volume}}").unwrap();
        assert!(v.external);
        assert_eq!(v.name.as_deref(), Some("my-cool-volume"));
        let v: Volume = read("{name: this-is-volume3, external: 'true'}").unwrap();
        assert!(v.external);
        let err = read::<Volume>("{name: a, external: {name: b}}").unwrap_err();
        assert!(err.contains("differ"), "{err}");
        assert_eq!(
            serde_yaml::to_string(&v).unwrap(),
            "name: this-is-volume3\nexternal: true\n"
        );
    }

    #[test]
    fn secrets_and_configs() {
        let s: IndexMap<String, Secret> = read(
            "{s1: {file: ./secret_data, labels: {foo: bar}}, s2: {external: {name: my_secret}}, s4: {name: bar, environment: BAR}}",
        )
        .unwrap();
        assert_eq!(s["s1"].file.as_deref(), Some("./secret_data"));
        assert_eq!(s["s2"].name.as_deref(), Some("my_secret"));
        assert_eq!(s["s4"].environment.as_deref(), Some("BAR"));
        let c: Config = read("{content: hello}").unwrap();
        assert_eq!(c.content.as_deref(), Some("hello"));
    }

    #[test]
    fn models_and_includes() {
        let m: Model =
            read("{model: ai/smollm2, context_size: 1024, runtime_flags: [--verbose]}").unwrap();
        assert_eq!(m.context_size, Some(1024));
        let err = read::<Model>("{name: x}").unwrap_err();
        assert!(err.contains("missing field `model`"), "{err}");
        #[derive(Deserialize)]
        struct H {
            #[serde(deserialize_with = "lenient::list_of")]
            include: Vec<Include>,
        }
        let h: H = read("{include: [a.yaml, {path: [b.yaml, c.yaml], project_directory: ../x, env_file: e.env}]}").unwrap();
        assert_eq!(h.include[0].path, ["a.yaml"]);
        assert_eq!(h.include[1].path, ["b.yaml", "c.yaml"]);
        assert_eq!(h.include[1].env_file, ["e.env"]);
    }
}
