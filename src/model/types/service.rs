//! A service: the containers of one image with their settings, in the
//! normalized form every other part of muster reads.
//!
//! Every key of the Compose Specification's service is accepted, so a file
//! compose loads loads here too; muster acts on most of them and keeps the
//! rest (swarm-only settings, Windows options) so `config` prints them.
//! Besides the data, [`Service`] answers what the graph needs
//! ([`Service::dependencies`]: `depends_on` plus the edges compose adds for
//! `links`, `network_mode`/`ipc`/`pid: service:X`, `volumes_from` and
//! `build.additional_contexts: service:X`) and what the orchestrator needs
//! ([`Service::replicas`]), and resolves its relative paths
//! ([`Service::resolve_paths`]).

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self as serde_de, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::build::Build;
use super::command::Command;
use super::de::{self, ShortForm};
use super::depends::{self, Condition, DependsOn, DependsOnSchema};
use super::deploy::{self, Deploy, DeviceRequest, GpusSchema};
use super::develop::{Develop, ServiceHook};
use super::duration::Duration;
use super::health::Healthcheck;
use super::hosts::ExtraHosts;
use super::limits::{BlkioConfig, Ulimit};
use super::ports::Port;
use super::refs::{self, EnvFile, FileReference};
use super::size::{self, ByteSize};
use super::volumes::ServiceVolume;

/// Environment variables: a name without a value (`None`) is taken from the
/// shell muster runs in.
pub type Environment = IndexMap<String, Option<String>>;

/// Labels and similar `KEY: VALUE` metadata.
pub type Labels = IndexMap<String, String>;

/// A service of the project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("type" = ["object", "null"]))]
pub struct Service {
    /// Annotations of the containers (OCI).
    #[serde(
        default,
        deserialize_with = "de::labels",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub annotations: Labels,
    /// Whether `up` attaches to the service's logs (default true).
    #[serde(
        default,
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub attach: Option<bool>,
    /// Block IO limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    /// How to build the image: a context directory, or a mapping.
    #[serde(
        default,
        deserialize_with = "de::opt_short_or_long",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::ShortOrLong<Build>")]
    pub build: Option<Build>,
    /// Linux capabilities to add (`NET_ADMIN`, `ALL`).
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub cap_add: Vec<String>,
    /// Linux capabilities to drop.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub cap_drop: Vec<String>,
    /// The cgroup namespace: `host` or `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// The parent cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// Overrides the image's command (`CMD`). An empty list clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Configs to mount: names, or mappings with source and target.
    #[serde(
        default,
        deserialize_with = "de::list_of",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ShortOrLongList<FileReference>")]
    pub configs: Vec<FileReference>,
    /// The container's name, instead of `<project>-<service>-<n>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Usable CPUs (Windows).
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub cpu_count: Option<i64>,
    /// Usable CPU percentage (Windows).
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::NumberSchema")]
    pub cpu_percent: Option<f64>,
    /// The CPU CFS period, in microseconds.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub cpu_period: Option<i64>,
    /// The CPU CFS quota, in microseconds.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub cpu_quota: Option<i64>,
    /// The CPU real-time period, in microseconds (or a duration).
    #[serde(
        default,
        deserialize_with = "micros",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub cpu_rt_period: Option<i64>,
    /// The CPU real-time runtime, in microseconds (or a duration).
    #[serde(
        default,
        deserialize_with = "micros",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub cpu_rt_runtime: Option<i64>,
    /// The relative CPU weight.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub cpu_shares: Option<i64>,
    /// CPUs, as a number of cores (`1.5`).
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::NumberSchema")]
    pub cpus: Option<f64>,
    /// The CPUs to run on (`0-3`, `0,1`).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::TextSchema")]
    pub cpuset: Option<String>,
    /// The credential spec of a managed service account (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpec>,
    /// Services to start first, and what to wait for.
    #[serde(
        default,
        deserialize_with = "depends::deserialize",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "DependsOnSchema")]
    pub depends_on: IndexMap<String, DependsOn>,
    /// Replicas, resources and swarm settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    /// Development settings: `watch` rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub develop: Option<Develop>,
    /// Rules for the cgroup's allowed devices.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub device_cgroup_rules: Vec<String>,
    /// Host devices to map into the container.
    #[serde(
        default,
        deserialize_with = "de::list_of",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ShortOrLongList<Device>")]
    pub devices: Vec<Device>,
    /// DNS servers.
    #[serde(
        default,
        deserialize_with = "de::string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::StringOrListSchema")]
    pub dns: Vec<String>,
    /// DNS resolver options.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub dns_opt: Vec<String>,
    /// DNS search domains.
    #[serde(
        default,
        deserialize_with = "de::string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::StringOrListSchema")]
    pub dns_search: Vec<String>,
    /// The container's domain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// Overrides the image's entrypoint. An empty list clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Command>,
    /// Files of environment variables, read in order before `environment`.
    #[serde(
        default,
        deserialize_with = "de::one_or_list_of",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::OneOrList<EnvFile>")]
    pub env_file: Vec<EnvFile>,
    /// Environment variables; a name without a value is taken from the
    /// shell.
    #[serde(
        default,
        deserialize_with = "de::mapping_with_equals",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub environment: Environment,
    /// Ports the container exposes to other services only (`3000`,
    /// `8000-8010/udp`).
    #[serde(
        default,
        deserialize_with = "expose",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub expose: Vec<String>,
    /// The service this one extends (the loader resolves it).
    #[serde(default, deserialize_with = "de::opt_short_or_long", skip_serializing)]
    #[schemars(with = "de::ShortOrLong<Extends>")]
    pub extends: Option<Extends>,
    /// Containers outside the project to link (`name` or `name:alias`).
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub external_links: Vec<String>,
    /// Extra `/etc/hosts` lines.
    #[serde(default, skip_serializing_if = "ExtraHosts::is_empty")]
    pub extra_hosts: ExtraHosts,
    /// GPUs: `all`, or a list of device requests.
    #[serde(
        default,
        deserialize_with = "deploy::gpus",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "GpusSchema")]
    pub gpus: Vec<DeviceRequest>,
    /// Extra groups for the container's user.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub group_add: Vec<String>,
    /// How the engine checks the container's health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// The container's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The image to run (and the tag a build gets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Run an init process that forwards signals and reaps zombies.
    #[serde(
        default,
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub init: Option<bool>,
    /// The IPC namespace: `host`, `shareable`, or `service:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// The isolation technology (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// Files of labels, read before `labels`.
    #[serde(
        default,
        deserialize_with = "de::string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::StringOrListSchema")]
    pub label_file: Vec<String>,
    /// Labels of the containers.
    #[serde(
        default,
        deserialize_with = "de::labels",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub labels: Labels,
    /// Services to link: `service` or `service:alias` (legacy; services
    /// reach each other by name anyway).
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub links: Vec<String>,
    /// The logging driver and its options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// The container's MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// The memory limit (`512m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<ByteSize>,
    /// The memory soft limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<ByteSize>,
    /// Memory swappiness, 0 to 100.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub mem_swappiness: Option<i64>,
    /// Memory plus swap, in bytes; `-1` for unlimited swap.
    #[serde(
        default,
        deserialize_with = "size::swap::deserialize",
        serialize_with = "size::swap::serialize",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "ByteSize")]
    pub memswap_limit: Option<i64>,
    /// AI models the service uses (Docker Model Runner).
    #[serde(
        default,
        deserialize_with = "names_or_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "NamesOrMap<ServiceModel>")]
    pub models: IndexMap<String, Option<ServiceModel>>,
    /// The network namespace: `bridge`, `host`, `none`, `service:NAME` or
    /// `container:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Networks to join, with per-network settings.
    #[serde(
        default,
        deserialize_with = "names_or_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "NamesOrMap<ServiceNetwork>")]
    pub networks: IndexMap<String, Option<ServiceNetwork>>,
    /// Disable the OOM killer.
    #[serde(
        default,
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub oom_kill_disable: Option<bool>,
    /// The OOM score adjustment, -1000 to 1000.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub oom_score_adj: Option<i64>,
    /// The PID namespace: `host` or `service:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// The most processes (`-1` for unlimited).
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub pids_limit: Option<i64>,
    /// The platform to run (`linux/amd64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Ports to publish: `"8080:80"`-style strings, numbers, or mappings;
    /// one entry per container port.
    #[serde(
        default,
        deserialize_with = "de::list_of",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ShortOrLongList<Port>")]
    pub ports: Vec<Port>,
    /// Commands to run in the container after it starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<ServiceHook>,
    /// Commands to run in the container before it stops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<ServiceHook>,
    /// Run with extended privileges.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub privileged: bool,
    /// Profiles the service belongs to; without any it always runs.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub profiles: Vec<String>,
    /// An external provider that manages the service instead of the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// When to pull the image: `always`, `never`, `missing`, `build`,
    /// `if_not_present`, `daily`, `weekly`, `every_<duration>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    /// For `pull_policy: refresh`, the age after which to pull again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_refresh_after: Option<String>,
    /// Mount the container's root filesystem read-only.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub read_only: bool,
    /// The restart policy: `no`, `always`, `on-failure[:N]`,
    /// `unless-stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// The OCI runtime (`runc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// How many containers to run (same as `deploy.replicas`).
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub scale: Option<u32>,
    /// Secrets to mount: names, or mappings with source and target.
    #[serde(
        default,
        deserialize_with = "refs::secrets",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ShortOrLongList<FileReference>")]
    pub secrets: Vec<FileReference>,
    /// Security options (`label=...`, `seccomp=...`).
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub security_opt: Vec<String>,
    /// The size of `/dev/shm` (`64m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    /// Keep stdin open.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub stdin_open: bool,
    /// How long to wait after the stop signal before killing (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    /// The signal that stops the container (default `SIGTERM`).
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::TextSchema")]
    pub stop_signal: Option<String>,
    /// Storage driver options.
    #[serde(
        default,
        deserialize_with = "de::string_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::DictSchema")]
    pub storage_opt: IndexMap<String, String>,
    /// Kernel parameters (`net.core.somaxconn: 1024`).
    #[serde(
        default,
        deserialize_with = "de::labels",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::ListOrDictSchema")]
    pub sysctls: IndexMap<String, String>,
    /// Paths to mount as tmpfs (`/run`, `/tmp:size=64m`).
    #[serde(
        default,
        deserialize_with = "de::string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::StringOrListSchema")]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub tty: bool,
    /// Ulimits (`nofile: {soft: 1024, hard: 2048}`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub ulimits: IndexMap<String, Ulimit>,
    /// Mount the engine's API socket and credentials.
    #[serde(
        default,
        deserialize_with = "de::bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    #[schemars(with = "de::BoolSchema")]
    pub use_api_socket: bool,
    /// The user (and group) to run as: `name`, `uid`, `uid:gid`.
    #[serde(
        default,
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::TextSchema")]
    pub user: Option<String>,
    /// The user namespace mode (`host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    /// The UTS namespace mode (`host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    /// Mounts: `"SOURCE:TARGET[:OPTIONS]"` strings or mappings.
    #[serde(
        default,
        deserialize_with = "de::list_of",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ShortOrLongList<ServiceVolume>")]
    pub volumes: Vec<ServiceVolume>,
    /// Mount all volumes of other services (`service[:ro]`) or containers
    /// (`container:name[:ro]`).
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub volumes_from: Vec<String>,
    /// The working directory of the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// The service's `x-` extension keys (filled by the loader).
    #[serde(skip_deserializing, flatten)]
    #[schemars(skip)]
    pub extensions: IndexMap<String, serde_yaml::Value>,
}

/// `cpu_rt_period`/`cpu_rt_runtime`: microseconds, or a duration.
fn micros<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match de::scalar(d, "microseconds, or a duration like 950ms")? {
        de::Scalar::Null => Ok(None),
        de::Scalar::Int(i) => Ok(Some(i)),
        de::Scalar::UInt(u) => i64::try_from(u).map(Some).map_err(serde_de::Error::custom),
        de::Scalar::Str(s) => match s.trim().parse::<i64>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => Duration::parse(&s)
                .map_err(serde_de::Error::custom)
                .and_then(|d| i64::try_from(d.0.as_micros()).map_err(serde_de::Error::custom))
                .map(Some),
        },
        other => Err(serde_de::Error::custom(format!(
            "expected microseconds or a duration, found {}",
            other.describe()
        ))),
    }
}

/// `expose`: ports or ranges, each checked.
fn expose<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let entries = de::strings(d)?;
    for entry in &entries {
        super::ports::check_expose(entry).map_err(serde_de::Error::custom)?;
    }
    Ok(entries)
}

struct NamesOrMapVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for NamesOrMapVisitor<T> {
    type Value = IndexMap<String, Option<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of names, or a mapping of names to settings")
    }

    fn visit_unit<E: serde_de::Error>(self) -> Result<Self::Value, E> {
        Ok(IndexMap::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = IndexMap::new();
        while let Some(name) = seq.next_element::<String>()? {
            out.insert(name, None);
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IndexMap::deserialize(serde_de::value::MapAccessDeserializer::new(map))
    }
}

/// A list of names, or a mapping of names to settings (or null).
fn names_or_map<'de, D, T>(d: D) -> Result<IndexMap<String, Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_any(NamesOrMapVisitor(std::marker::PhantomData))
}

/// The schema of a list of names or a mapping of names to `T`.
struct NamesOrMap<T>(std::marker::PhantomData<T>);

impl<T: JsonSchema> JsonSchema for NamesOrMap<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("NamesOrMap_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {
                    "type": "object",
                    "additionalProperties": {"oneOf": [generator.subschema_for::<T>(), {"type": "null"}]}
                },
                {"type": "null"}
            ]
        })
    }
}

/// How a service joins one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    /// More names the service is reachable by on this network.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub aliases: Vec<String>,
    /// Options for the network driver.
    #[serde(
        default,
        deserialize_with = "de::string_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::DictSchema")]
    pub driver_opts: IndexMap<String, String>,
    /// The priority of this network's gateway as default route.
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub gw_priority: Option<i64>,
    /// The interface name in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    /// A static IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    /// A static IPv6 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// Link-local addresses.
    #[serde(
        default,
        deserialize_with = "de::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "de::ListSchema")]
    pub link_local_ips: Vec<String>,
    /// The MAC address on this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// The order networks are connected in (higher first).
    #[serde(
        default,
        deserialize_with = "de::opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "de::IntSchema")]
    pub priority: Option<i64>,
}

/// A service's use of a top-level model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceModel {
    /// The variable that gets the model's endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_var: Option<String>,
    /// The variable that gets the model's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_var: Option<String>,
}

/// The logging driver of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// The driver (`json-file`, `local`, `syslog`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Options for the driver.
    #[serde(
        default,
        deserialize_with = "de::string_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "de::DictSchema")]
    pub options: IndexMap<String, String>,
}

/// The service another one extends, as written (the loader resolves it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Extends {
    /// The service to extend.
    pub service: String,
    /// The file it is in (default: this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl ShortForm for Extends {
    const SHORT_SYNTAX: &'static str = "SERVICE";

    fn from_short(text: &str) -> Result<Vec<Self>, String> {
        Ok(vec![Self {
            service: text.to_owned(),
            file: None,
        }])
    }
}

/// A device of the host mapped into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// The device on the host (`/dev/ttyUSB0`).
    pub source: String,
    /// The path in the container (default: the same as the source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The cgroup permissions, some of `rwm` (default `rwm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
}

impl ShortForm for Device {
    const SHORT_SYNTAX: &'static str = "HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]]";

    fn from_short(text: &str) -> Result<Vec<Self>, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, permissions) = match parts.as_slice() {
            [s] => (*s, *s, "rwm"),
            [s, t] => (*s, *t, "rwm"),
            [s, t, p] => (*s, *t, *p),
            _ => {
                return Err(format!(
                    "invalid device {text:?}: expected {}; use the long syntax \
                     (source, target, permissions) for paths with colons",
                    Self::SHORT_SYNTAX
                ));
            }
        };
        Ok(vec![Self {
            source: source.to_owned(),
            target: Some(target.to_owned()),
            permissions: Some(permissions.to_owned()),
        }])
    }
}

/// The credential spec of a managed service account (Windows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    /// The name of a config holding the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// A file holding the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A registry value holding the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
}

/// An external provider managing a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// The provider (a plugin or binary name).
    #[serde(rename = "type")]
    pub kind: String,
    /// Options for the provider: each a value or a list of values.
    #[serde(
        default,
        deserialize_with = "provider_options",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "ProviderOptionsSchema")]
    pub options: IndexMap<String, Vec<String>>,
}

/// The schema of provider options: values or lists of values.
struct ProviderOptionsSchema;

impl JsonSchema for ProviderOptionsSchema {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ProviderOptionsSchema".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["object", "null"],
            "additionalProperties": {
                "oneOf": [
                    {"type": ["string", "number", "boolean"]},
                    {"type": "array", "items": {"type": ["string", "number", "boolean"]}}
                ]
            }
        })
    }
}

fn provider_options<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, Vec<String>>, D::Error> {
    struct Values(Vec<String>);
    impl<'de> Deserialize<'de> for Values {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            de::string_or_list(d).map(Values)
        }
    }
    let map: IndexMap<String, Values> = IndexMap::deserialize(d)?;
    Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// Why one service depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DependencyKind {
    /// `depends_on`.
    DependsOn,
    /// `links: [service]`.
    Link,
    /// `network_mode: service:X`.
    NetworkMode,
    /// `ipc: service:X`.
    Ipc,
    /// `pid: service:X`.
    Pid,
    /// `volumes_from: [service]`.
    VolumesFrom,
    /// `build.additional_contexts: {name: service:X}`.
    BuildContext,
}

impl DependencyKind {
    /// The key that makes the dependency.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::DependsOn => "depends_on",
            Self::Link => "links",
            Self::NetworkMode => "network_mode",
            Self::Ipc => "ipc",
            Self::Pid => "pid",
            Self::VolumesFrom => "volumes_from",
            Self::BuildContext => "build.additional_contexts",
        }
    }
}

impl fmt::Display for DependencyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// An edge of the service graph: this service depends on `service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependency<'a> {
    /// The service depended on.
    pub service: &'a str,
    /// The key that made the edge.
    pub kind: DependencyKind,
    /// What to wait for (implicit edges wait for `service_started`).
    pub condition: Condition,
    /// Whether the dependency must exist and start.
    pub required: bool,
    /// Whether to restart this service when the dependency restarts.
    pub restart: bool,
}

impl Service {
    /// How many containers to run: `scale`, else `deploy.replicas`, else 1.
    #[must_use]
    pub fn replicas(&self) -> u32 {
        self.scale
            .or_else(|| self.deploy.as_ref().and_then(|d| d.replicas))
            .unwrap_or(1)
    }

    /// The services this one depends on, each once, in this order:
    /// `depends_on`, then the edges compose adds itself (`links`,
    /// `network_mode`/`ipc`/`pid: service:X`, `volumes_from` other than
    /// `container:X`, `build.additional_contexts: service:X`). An implicit
    /// edge waits for `service_started` and is required; like compose,
    /// links and namespace edges also restart this service.
    #[must_use]
    pub fn dependencies(&self) -> Vec<Dependency<'_>> {
        fn add<'a>(
            out: &mut Vec<Dependency<'a>>,
            service: &'a str,
            kind: DependencyKind,
            restart: bool,
        ) {
            if !out.iter().any(|d| d.service == service) {
                out.push(Dependency {
                    service,
                    kind,
                    condition: Condition::ServiceStarted,
                    required: true,
                    restart,
                });
            }
        }
        let mut out: Vec<Dependency<'_>> = self
            .depends_on
            .iter()
            .map(|(service, d)| Dependency {
                service,
                kind: DependencyKind::DependsOn,
                condition: d.condition,
                required: d.required,
                restart: d.restart,
            })
            .collect();
        for link in &self.links {
            add(
                &mut out,
                link.split(':').next().unwrap_or(link),
                DependencyKind::Link,
                true,
            );
        }
        for (kind, mode) in [
            (DependencyKind::NetworkMode, &self.network_mode),
            (DependencyKind::Ipc, &self.ipc),
            (DependencyKind::Pid, &self.pid),
        ] {
            if let Some(service) = mode.as_deref().and_then(|m| m.strip_prefix("service:")) {
                add(&mut out, service, kind, true);
            }
        }
        for from in &self.volumes_from {
            if !from.starts_with("container:") {
                let service = from.split(':').next().unwrap_or(from);
                add(&mut out, service, DependencyKind::VolumesFrom, false);
            }
        }
        if let Some(build) = &self.build {
            for service in build.service_contexts() {
                add(&mut out, service, DependencyKind::BuildContext, false);
            }
        }
        out
    }

    /// Adds the implicit edges of [`Service::dependencies`] to `depends_on`,
    /// as compose does before printing a project.
    pub fn add_implicit_depends_on(&mut self) {
        let implicit: Vec<(String, DependsOn)> = self
            .dependencies()
            .into_iter()
            .filter(|d| d.kind != DependencyKind::DependsOn)
            .map(|d| {
                (
                    d.service.to_owned(),
                    DependsOn {
                        condition: d.condition,
                        restart: d.restart,
                        required: d.required,
                    },
                )
            })
            .collect();
        self.depends_on.extend(implicit);
    }

    /// The named volumes the service mounts (`type: volume` with a source).
    pub fn named_volumes(&self) -> impl Iterator<Item = &str> {
        self.volumes.iter().filter_map(ServiceVolume::volume_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::depends::Condition;

    fn service(yaml: &str) -> Service {
        try_service(yaml).unwrap()
    }

    fn try_service(yaml: &str) -> Result<Service, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        serde_path_to_error::deserialize(value).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_service() {
        assert_eq!(service("{}"), Service::default());
        assert_eq!(service("null"), Service::default());
    }

    #[test]
    fn replicas_from_scale_or_deploy() {
        assert_eq!(service("{}").replicas(), 1);
        assert_eq!(service("{scale: 3}").replicas(), 3);
        assert_eq!(service("{deploy: {replicas: '2'}}").replicas(), 2);
        assert_eq!(service("{scale: 4, deploy: {replicas: 2}}").replicas(), 4);
        assert_eq!(service("{scale: 0}").replicas(), 0);
    }

    #[test]
    fn dependencies_explicit_and_implicit() {
        let s = service(
            "{depends_on: {db: {condition: service_healthy}}, links: [db:database, cache, 'logger:log'], \
              network_mode: 'service:vpn', ipc: 'service:shm', pid: host, \
              volumes_from: ['data:ro', 'container:other', 'cache:rw'], \
              build: {context: ., additional_contexts: {base: 'service:base', lib: ../lib}}}",
        );
        let deps: Vec<(&str, DependencyKind, Condition, bool)> = s
            .dependencies()
            .iter()
            .map(|d| (d.service, d.kind, d.condition, d.restart))
            .collect();
        assert_eq!(
            deps,
            [
                (
                    "db",
                    DependencyKind::DependsOn,
                    Condition::ServiceHealthy,
                    false
                ),
                (
                    "cache",
                    DependencyKind::Link,
                    Condition::ServiceStarted,
                    true
                ),
                (
                    "logger",
                    DependencyKind::Link,
                    Condition::ServiceStarted,
                    true
                ),
                (
                    "vpn",
                    DependencyKind::NetworkMode,
                    Condition::ServiceStarted,
                    true
                ),
                ("shm", DependencyKind::Ipc, Condition::ServiceStarted, true),
                (
                    "data",
                    DependencyKind::VolumesFrom,
                    Condition::ServiceStarted,
                    false
                ),
                (
                    "base",
                    DependencyKind::BuildContext,
                    Condition::ServiceStarted,
                    false
                ),
            ]
        );
        let mut s = s;
        s.add_implicit_depends_on();
        assert_eq!(
            s.depends_on.keys().collect::<Vec<_>>(),
            ["db", "cache", "logger", "vpn", "shm", "data", "base"]
        );
        assert_eq!(s.depends_on["db"].condition, Condition::ServiceHealthy);
    }

    #[test]
    fn networks_list_or_map() {
        let s = service("{networks: [front, back]}");
        assert_eq!(s.networks.keys().collect::<Vec<_>>(), ["front", "back"]);
        assert!(s.networks.values().all(Option::is_none));
        let s = service(
            "{networks: {some: {aliases: [a1, a3]}, other: {ipv4_address: 172.16.238.10, priority: 100}, plain: }}",
        );
        assert_eq!(s.networks["some"].as_ref().unwrap().aliases, ["a1", "a3"]);
        assert_eq!(s.networks["other"].as_ref().unwrap().priority, Some(100));
        assert_eq!(s.networks["plain"], None);
    }

    #[test]
    fn devices_short_and_long() {
        let s = service(
            "{devices: ['/dev/ttyUSB0', '/dev/a:/dev/b', '/dev/c:/dev/d:r', {source: /dev/e, permissions: rw}]}",
        );
        assert_eq!(s.devices[0].target.as_deref(), Some("/dev/ttyUSB0"));
        assert_eq!(s.devices[1].permissions.as_deref(), Some("rwm"));
        assert_eq!(s.devices[2].permissions.as_deref(), Some("r"));
        assert_eq!(s.devices[3].source, "/dev/e");
        assert!(
            try_service("{devices: ['a:b:c:d']}")
                .unwrap_err()
                .contains("invalid device")
        );
    }

    #[test]
    fn errors_point_at_the_key() {
        let err = try_service("{ports: ['80:80:80:80']}").unwrap_err();
        assert!(
            err.starts_with("ports[0]: invalid port \"80:80:80:80\""),
            "{err}"
        );
        let err = try_service("{stop_grace_period: 5x}").unwrap_err();
        assert!(
            err.starts_with("stop_grace_period: invalid duration \"5x\""),
            "{err}"
        );
        let err = try_service("{shm_size: 12Q}").unwrap_err();
        assert!(err.starts_with("shm_size: invalid size \"12Q\""), "{err}");
        let err = try_service("{volumes: ['a::b']}").unwrap_err();
        assert!(
            err.starts_with("volumes[0]: invalid volume \"a::b\""),
            "{err}"
        );
        let err = try_service("{expose: [http]}").unwrap_err();
        assert!(err.starts_with("expose: invalid expose \"http\""), "{err}");
        let err = try_service("{depends_on: {db: {condition: service_healthy, restrat: true}}}")
            .unwrap_err();
        assert!(err.starts_with("depends_on.db"), "{err}");
        assert!(err.contains("unknown field `restrat`"), "{err}");
        let err = try_service("{imag: x}").unwrap_err();
        assert!(
            err.starts_with("imag: unknown field `imag`")
                || err.starts_with("unknown field `imag`"),
            "{err}"
        );
        let err = try_service("{ports: '80:80'}").unwrap_err();
        assert!(err.contains("write it as a list"), "{err}");
    }

    #[test]
    fn lenient_scalars() {
        let s = service(
            "{tty: 'true', stdin_open: 'yes', privileged: false, init: 'true', cpus: '1.5', scale: '2', user: 1000, mem_limit: 1g, memswap_limit: -1}",
        );
        assert!(s.tty && s.stdin_open && !s.privileged);
        assert_eq!(s.init, Some(true));
        assert_eq!(s.cpus, Some(1.5));
        assert_eq!(s.scale, Some(2));
        assert_eq!(s.user.as_deref(), Some("1000"));
        assert_eq!(s.mem_limit, Some(ByteSize(1 << 30)));
        assert_eq!(s.memswap_limit, Some(-1));
    }
}
