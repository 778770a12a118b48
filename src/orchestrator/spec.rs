//! The desired state: what the engine should hold for a project, as engine
//! requests.
//!
//! This is where a compose service becomes a [`ContainerSpec`], a top-level
//! network a [`NetworkSpec`] and a named volume a [`VolumeSpec`], with the
//! names and labels compose v2 gives them (`<project>-<service>-<n>`,
//! `<project>_default`, `<project>_<volume>`, `com.docker.compose.*`), so
//! that `docker compose ps`, `docker ps --filter label=...` and muster itself
//! all see the same stack, and so that `up` and `down` find every object by
//! label alone, even after a crash.
//!
//! It also computes each service's config hash: `up` compares it with the
//! `com.docker.compose.config-hash` label of the running containers to
//! decide what to recreate, and with muster's own `dev.muster.config-fields`
//! label (a short hash per top-level field) to say *which* fields changed.
//!
//! Everything here is a pure function of the loaded project (plus reading
//! `label_file`s): no engine, so it is tested in milliseconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::engine::{
    ContainerSpec, HealthcheckSpec, LabelFilter, MountKind, MountSpec, NetworkAttachment,
    NetworkSpec, PortRange, PortSpec, Protocol, PublishedPort, RestartPolicy, Ulimit, VolumeSpec,
};
use crate::model::LoadedProject;
use crate::model::types::{Service, ServiceVolume, VolumeType};

/// The labels muster puts on what it creates: compose v2's, plus its own.
///
/// Compose's tools find a project's objects by these, so they are spelled
/// exactly as compose spells them (`pkg/api/labels.go`).
pub mod labels {
    /// The project an object belongs to (containers, networks, volumes).
    pub const PROJECT: &str = "com.docker.compose.project";
    /// The service a container runs.
    pub const SERVICE: &str = "com.docker.compose.service";
    /// The replica number of a container, from 1.
    pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
    /// `True` for one-off containers (`compose run`), `False` otherwise.
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    /// The hash of the service's effective config (see [`super::config_hash`]).
    pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
    /// The absolute project directory.
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    /// The compose files, absolute, comma-separated.
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    /// The version of the tool that created the object.
    pub const VERSION: &str = "com.docker.compose.version";
    /// The dependencies of a container's service, as compose writes them:
    /// `db:service_healthy:false,cache:service_started:true`
    /// (`service:condition:restart`). `down` orders stops by it when there
    /// is no compose file.
    pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
    /// The key of a network under `networks:`.
    pub const NETWORK: &str = "com.docker.compose.network";
    /// The key of a volume under `volumes:`.
    pub const VOLUME: &str = "com.docker.compose.volume";
    /// The id (digest) of the image a container was created from; `up` may
    /// set it to notice rebuilt images.
    pub const IMAGE: &str = "com.docker.compose.image";
    /// muster's own: a short hash per top-level service field, as
    /// `environment=1a2b3c4d,image=5e6f7a8b`, so that `up` can say which
    /// fields changed (see [`super::changed_fields`]).
    pub const CONFIG_FIELDS: &str = "dev.muster.config-fields";
}

/// The value of [`labels::VERSION`]: muster's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A service cannot be turned into a container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The project has no service of that name.
    #[error("service {service:?} is not defined in the project")]
    UnknownService {
        /// The name asked for.
        service: String,
    },
    /// A field's value cannot be used.
    #[error("service {service:?}: `{field}`: {message}")]
    Invalid {
        /// The service.
        service: String,
        /// The field, as `ports` or `volumes[2]`.
        field: String,
        /// What is wrong, and what would work.
        message: String,
    },
    /// A field asks for something muster does not do.
    #[error("service {service:?}: `{field}`: {message} (not supported by muster)")]
    Unsupported {
        /// The service.
        service: String,
        /// The field.
        field: String,
        /// What is not supported.
        message: String,
    },
}

impl SpecError {
    fn invalid(service: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            service: service.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn unsupported(service: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Unsupported {
            service: service.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The filter that finds every object of `project`.
#[must_use]
pub fn project_filter(project: &str) -> LabelFilter {
    LabelFilter::equals(labels::PROJECT, project)
}

/// The filter that finds the containers of one service (use it together
/// with [`project_filter`]).
#[must_use]
pub fn service_filter(service: &str) -> LabelFilter {
    LabelFilter::equals(labels::SERVICE, service)
}

/// A container's name: the service's `container_name` when set, else
/// compose v2's `<project>-<service>-<number>`.
#[must_use]
pub fn container_name(project: &str, service_name: &str, service: &Service, number: u32) -> String {
    service
        .container_name
        .clone()
        .unwrap_or_else(|| format!("{project}-{service_name}-{number}"))
}

/// The image a service's containers run: its `image`, else the name compose
/// gives a built image, `<project>-<service>` (lowercase, as image names
/// must be).
#[must_use]
pub fn image_name(project: &str, service_name: &str, service: &Service) -> String {
    service
        .image
        .clone()
        .unwrap_or_else(|| format!("{project}-{service_name}").to_lowercase())
}

/// The engine name of the network declared under `networks:` as `key`:
/// its `name:`, else `<project>_<key>` (an external network without a
/// name is called `key`).
#[must_use]
pub fn network_name(project: &LoadedProject, key: &str) -> String {
    match project.project.networks.get(key) {
        Some(n) => match (&n.name, n.external) {
            (Some(name), _) => name.clone(),
            (None, true) => key.to_owned(),
            (None, false) => format!("{}_{key}", project.name),
        },
        None => format!("{}_{key}", project.name),
    }
}

/// The engine name of the volume declared under `volumes:` as `key`: its
/// `name:`, else `<project>_<key>` (an external volume without a name is
/// called `key`).
#[must_use]
pub fn volume_name(project: &LoadedProject, key: &str) -> String {
    match project.project.volumes.get(key) {
        Some(v) => match (&v.name, v.external) {
            (Some(name), _) => name.clone(),
            (None, true) => key.to_owned(),
            (None, false) => format!("{}_{key}", project.name),
        },
        None => format!("{}_{key}", project.name),
    }
}

/// The keys of the project networks a service joins, in compose's order
/// (highest `priority` first, then by name): its `networks`, or `default`
/// when it names none; none at all with a `network_mode`.
#[must_use]
pub fn service_networks(service: &Service) -> Vec<String> {
    if service.network_mode.is_some() {
        return Vec::new();
    }
    if service.networks.is_empty() {
        return vec!["default".to_owned()];
    }
    let mut keys: Vec<(i64, &String)> = service
        .networks
        .iter()
        .map(|(k, v)| (v.as_ref().and_then(|n| n.priority).unwrap_or(0), k))
        .collect();
    keys.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    keys.into_iter().map(|(_, k)| k.clone()).collect()
}

/// A network the project needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPlan {
    /// Its key under `networks:` (`default` for the implicit one).
    pub key: String,
    /// Its name on the engine.
    pub name: String,
    /// It exists outside the project: it must exist, and muster neither
    /// creates nor removes it.
    pub external: bool,
    /// What to create (when not external).
    pub spec: NetworkSpec,
}

/// A named volume the project needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumePlan {
    /// Its key under `volumes:`.
    pub key: String,
    /// Its name on the engine.
    pub name: String,
    /// It exists outside the project: it must exist, and muster neither
    /// creates nor removes it.
    pub external: bool,
    /// What to create (when not external).
    pub spec: VolumeSpec,
}

/// The labels compose puts on a project's network or volume.
fn object_labels(
    project: &LoadedProject,
    kind_label: &str,
    key: &str,
    custom: &indexmap::IndexMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> =
        custom.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.insert(labels::PROJECT.to_owned(), project.name.clone());
    out.insert(kind_label.to_owned(), key.to_owned());
    out.insert(labels::VERSION.to_owned(), VERSION.to_owned());
    out
}

/// The networks the `selected` services join, in declaration order (the
/// implicit `default` first): only those, so `up api` does not create the
/// networks of services it does not run.
///
/// IPAM settings (`ipam:`) are not passed to the engine yet.
#[must_use]
pub fn networks(project: &LoadedProject, selected: &[String]) -> Vec<NetworkPlan> {
    let mut used: Vec<String> = Vec::new();
    for name in selected {
        if let Some(service) = project.project.services.get(name) {
            for key in service_networks(service) {
                if !used.contains(&key) {
                    used.push(key);
                }
            }
        }
    }
    let declared = &project.project.networks;
    let mut keys: Vec<&String> = Vec::new();
    if let Some(default) = used.iter().find(|k| *k == "default")
        && !declared.contains_key("default")
    {
        keys.push(default);
    }
    keys.extend(declared.keys().filter(|k| used.contains(k)));
    keys.into_iter()
        .map(|key| {
            let network = declared.get(key.as_str()).cloned().unwrap_or_default();
            let name = network_name(project, key);
            NetworkPlan {
                key: key.clone(),
                external: network.external,
                spec: NetworkSpec {
                    name: name.clone(),
                    driver: network.driver.clone(),
                    options: network
                        .driver_opts
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    labels: object_labels(project, labels::NETWORK, key, &network.labels),
                    internal: network.internal,
                    attachable: network.attachable,
                    enable_ipv6: network.enable_ipv6.unwrap_or(false),
                },
                name,
            }
        })
        .collect()
}

/// The named volumes the `selected` services mount, in declaration order.
#[must_use]
pub fn volumes(project: &LoadedProject, selected: &[String]) -> Vec<VolumePlan> {
    let mut used: Vec<&str> = Vec::new();
    for name in selected {
        if let Some(service) = project.project.services.get(name) {
            for key in service.named_volumes() {
                if !used.contains(&key) {
                    used.push(key);
                }
            }
        }
    }
    project
        .project
        .volumes
        .iter()
        .filter(|(key, _)| used.contains(&key.as_str()))
        .map(|(key, volume)| {
            let name = volume_name(project, key);
            VolumePlan {
                key: key.clone(),
                external: volume.external,
                spec: VolumeSpec {
                    name: name.clone(),
                    driver: volume.driver.clone(),
                    driver_opts: volume
                        .driver_opts
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    labels: object_labels(project, labels::VOLUME, key, &volume.labels),
                },
                name,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The config hash
// ---------------------------------------------------------------------------

/// The hash of a service's effective config, whole and per field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigHash {
    /// Hex SHA-256 of the canonical JSON of the service's config: the value
    /// of [`labels::CONFIG_HASH`].
    pub hash: String,
    /// Top-level field name to a short hash of its value.
    pub fields: BTreeMap<String, String>,
}

impl ConfigHash {
    /// The value of [`labels::CONFIG_FIELDS`]: `field=hash` pairs, sorted,
    /// comma-separated.
    #[must_use]
    pub fn fields_label(&self) -> String {
        let mut out = String::new();
        for (i, (field, hash)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{field}={hash}");
        }
        out
    }
}

/// Fields that do not change the container, left out of the hash as
/// compose's `ServiceHash` leaves them out (`build`, `pull_policy`, `scale`,
/// `deploy.replicas`, `depends_on`, `profiles`), plus those that only steer
/// muster (`develop`, `attach`, `pull_refresh_after`) and `env_file`, whose
/// content is in `environment` already (its path is not what matters).
/// Changing the number of replicas or a watch rule must not recreate
/// running containers.
const NOT_HASHED: [&str; 9] = [
    "env_file",
    "build",
    "pull_policy",
    "pull_refresh_after",
    "scale",
    "depends_on",
    "profiles",
    "develop",
    "attach",
];

/// Writes `value` as JSON with every object's keys sorted, so that the
/// order a file lists keys in (say, environment variables) does not change
/// the hash.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The hashed part of a service, as a JSON object.
fn hashed_fields(service: &Service) -> serde_json::Map<String, Value> {
    let value = serde_json::to_value(service)
        // Only an `x-` extension with non-string keys fails to convert; its
        // debug form is still a stable description of the service.
        .unwrap_or_else(|_| Value::String(format!("{service:?}")));
    let mut map = match value {
        Value::Object(map) => map,
        other => serde_json::Map::from_iter([("service".to_owned(), other)]),
    };
    for field in NOT_HASHED {
        map.remove(field);
    }
    let deploy_left = match map.get_mut("deploy") {
        Some(Value::Object(deploy)) => {
            deploy.remove("replicas");
            !deploy.is_empty()
        }
        Some(_) => true,
        None => false,
    };
    if !deploy_left {
        map.remove("deploy");
    }
    map
}

/// The config hash of `service`: a SHA-256 of the canonical JSON of its
/// normalized config (paths resolved, `env_file`s folded into
/// `environment`), without the fields that do not change the container
/// (see the `NOT_HASHED` list: replicas, dependencies, build settings, ...).
/// A service the project does not define hashes as an empty service.
///
/// The same file always gives the same hash; the hash is muster's, not
/// compose's (compose hashes its Go types), so containers made by one tool
/// look changed to the other.
#[must_use]
pub fn config_hash(project: &LoadedProject, service: &str) -> ConfigHash {
    let mut service = project
        .project
        .services
        .get(service)
        .cloned()
        .unwrap_or_default();
    // The labels the container gets, not the files they come from; an
    // unreadable file stays as its path (`container_spec` reports it).
    if !service.label_file.is_empty()
        && let Ok(mut merged) = read_label_files(&project.working_dir, &service)
    {
        merged.extend(service.labels.drain(..));
        service.labels = merged;
        service.label_file.clear();
    }
    let map = hashed_fields(&service);
    let mut fields = BTreeMap::new();
    for (field, value) in &map {
        let mut text = String::new();
        canonical(value, &mut text);
        let mut short = sha256_hex(text.as_bytes());
        short.truncate(8);
        fields.insert(field.clone(), short);
    }
    let mut text = String::new();
    canonical(&Value::Object(map), &mut text);
    ConfigHash {
        hash: sha256_hex(text.as_bytes()),
        fields,
    }
}

/// The fields that differ between a container's
/// [`labels::CONFIG_FIELDS`] label (`old_label`) and `new`: changed, added
/// or removed, sorted. Empty when `old_label` is empty (a container made by
/// another tool): the caller then only knows, from the config hash, that
/// something changed.
#[must_use]
pub fn changed_fields(old_label: &str, new: &ConfigHash) -> Vec<String> {
    if old_label.trim().is_empty() {
        return Vec::new();
    }
    let old: BTreeMap<&str, &str> = old_label
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let mut changed: Vec<String> = new
        .fields
        .iter()
        .filter(|(field, hash)| old.get(field.as_str()) != Some(&hash.as_str()))
        .map(|(field, _)| field.clone())
        .collect();
    changed.extend(
        old.keys()
            .filter(|field| !new.fields.contains_key(**field))
            .map(|field| (*field).to_owned()),
    );
    changed.sort();
    changed.dedup();
    changed
}

// ---------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------

/// Top-level service fields that [`container_spec`] applies, or that steer
/// the orchestrator rather than the container.
const HANDLED_FIELDS: &[&str] = &[
    "attach",
    "build",
    "cap_add",
    "cap_drop",
    "command",
    "configs",
    "container_name",
    "depends_on",
    "deploy",
    "develop",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extra_hosts",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "label_file",
    "labels",
    "network_mode",
    "networks",
    "ports",
    "privileged",
    "profiles",
    "pull_policy",
    "read_only",
    "restart",
    "scale",
    "secrets",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "volumes",
    "working_dir",
];

/// The fields of `service` that muster does not apply to its containers
/// (yet): top-level ones such as `dns` or `mem_limit`, `deploy` settings
/// other than `replicas` and `restart_policy`, and mount options such as
/// `volumes.bind.propagation`. `up` shows them as a note rather than
/// failing, so that files written for compose still run. Extension (`x-`)
/// keys are never listed.
#[must_use]
pub fn ignored_fields(service: &Service) -> Vec<String> {
    let mut out: Vec<String> = fields::present_fields(service)
        .into_iter()
        .filter(|key| !key.starts_with("x-") && !HANDLED_FIELDS.contains(&key.as_str()))
        .collect();
    out.extend(
        fields::present_fields(&service.deploy)
            .into_iter()
            .filter(|key| !matches!(key.as_str(), "replicas" | "restart_policy"))
            .map(|key| format!("deploy.{key}")),
    );
    for volume in &service.volumes {
        if let Some(bind) = &volume.bind {
            if bind.propagation.is_some() {
                out.push("volumes.bind.propagation".to_owned());
            }
            if bind.selinux.is_some() {
                out.push("volumes.bind.selinux".to_owned());
            }
            if bind.recursive.is_some() {
                out.push("volumes.bind.recursive".to_owned());
            }
        }
        if volume.volume.as_ref().is_some_and(|v| v.subpath.is_some()) {
            out.push("volumes.volume.subpath".to_owned());
        }
        if volume.consistency.is_some() {
            out.push("volumes.consistency".to_owned());
        }
    }
    if let Some(build) = &service.build {
        out.extend(crate::build::ignored_build_fields(build));
    }
    for network in service.networks.values().flatten() {
        if network.ipv6_address.is_some() {
            out.push("networks.ipv6_address".to_owned());
        }
        if network.mac_address.is_some() {
            out.push("networks.mac_address".to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `dependency:condition:restart` entries, as compose's `depends_on` label.
fn depends_on_label(service: &Service) -> String {
    service
        .dependencies()
        .iter()
        .map(|d| format!("{}:{}:{}", d.service, d.condition, d.restart))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a [`labels::DEPENDS_ON`] value into the services named, in order.
#[must_use]
pub fn parse_depends_on_label(label: &str) -> Vec<String> {
    label
        .split(',')
        .filter_map(|entry| entry.split(':').next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The labels of one container: the service's own (`label_file`s first,
/// then `labels`), then compose's, which win.
fn container_labels(
    project: &LoadedProject,
    name: &str,
    service: &Service,
    number: u32,
) -> Result<BTreeMap<String, String>, SpecError> {
    let mut out: BTreeMap<String, String> = read_label_files(&project.working_dir, service)
        .map_err(|message| SpecError::invalid(name, "label_file", message))?
        .into_iter()
        .collect();
    out.extend(service.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let hash = config_hash(project, name);
    let files: Vec<String> = project
        .config_files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    for (key, value) in [
        (labels::PROJECT, project.name.clone()),
        (labels::SERVICE, name.to_owned()),
        (labels::CONTAINER_NUMBER, number.to_string()),
        (labels::ONEOFF, "False".to_owned()),
        (labels::CONFIG_HASH, hash.hash.clone()),
        (labels::CONFIG_FIELDS, hash.fields_label()),
        (
            labels::WORKING_DIR,
            project.working_dir.display().to_string(),
        ),
        (labels::CONFIG_FILES, files.join(",")),
        (labels::VERSION, VERSION.to_owned()),
        (labels::DEPENDS_ON, depends_on_label(service)),
    ] {
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

/// The labels of a service's `label_file`s, in order (later files win).
fn read_label_files(
    working_dir: &Path,
    service: &Service,
) -> Result<indexmap::IndexMap<String, String>, String> {
    let mut out = indexmap::IndexMap::new();
    for file in &service.label_file {
        let path = absolute(working_dir, file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let parsed = crate::model::dotenv::parse(&text, &|_| None)
            .map_err(|e| format!("{} line {}: {}", path.display(), e.line, e.message))?;
        out.extend(parsed);
    }
    Ok(out)
}

fn absolute(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        crate::model::paths::clean(&base.join(path))
    }
}

fn protocol(service: &str, field: &str, text: &str) -> Result<Protocol, SpecError> {
    text.parse()
        .map_err(|e: String| SpecError::invalid(service, field, e))
}

/// `ports` (all published, on a free port when no host port is given) and
/// `expose` (not published).
fn ports(name: &str, service: &Service) -> Result<Vec<PortSpec>, SpecError> {
    let mut out = Vec::new();
    for port in &service.ports {
        let host_ports = match port.published.as_deref().map(str::trim) {
            None | Some("") => PortRange::any(),
            Some(text) => {
                let (start, end) = port.published_range().ok_or_else(|| {
                    SpecError::invalid(
                        name,
                        "ports",
                        format!("published port {text:?} is not a port or a range of ports"),
                    )
                })?;
                PortRange { start, end }
            }
        };
        out.push(PortSpec {
            container_port: port.target,
            protocol: protocol(name, "ports", &port.protocol)?,
            published: Some(PublishedPort {
                host_ip: port.host_ip.clone().filter(|ip| !ip.is_empty()),
                host_ports,
            }),
        });
    }
    for entry in &service.expose {
        let (range, proto) = entry.split_once('/').unwrap_or((entry, "tcp"));
        let proto = protocol(name, "expose", proto)?;
        let number = |t: &str| {
            t.trim().parse::<u16>().map_err(|_| {
                SpecError::invalid(
                    name,
                    "expose",
                    format!("{entry:?} is not a port or a range"),
                )
            })
        };
        let (start, end) = match range.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let p = number(range)?;
                (p, p)
            }
        };
        for container_port in start..=end {
            if !out
                .iter()
                .any(|p| p.container_port == container_port && p.protocol == proto)
            {
                out.push(PortSpec {
                    container_port,
                    protocol: proto,
                    published: None,
                });
            }
        }
    }
    Ok(out)
}

/// One entry of `volumes`.
fn mount(
    project: &LoadedProject,
    name: &str,
    index: usize,
    volume: &ServiceVolume,
) -> Result<MountSpec, SpecError> {
    let field = || format!("volumes[{index}]");
    let kind = match volume.kind {
        VolumeType::Bind => {
            let source = volume.source.as_deref().unwrap_or_default();
            if source.is_empty() {
                return Err(SpecError::invalid(
                    name,
                    field(),
                    "a bind mount needs a source",
                ));
            }
            MountKind::Bind {
                source: absolute(&project.working_dir, source),
                create_host_path: volume.bind.as_ref().is_none_or(|b| b.create_host_path),
            }
        }
        VolumeType::Volume => MountKind::Volume {
            source: volume.volume_name().map(|key| volume_name(project, key)),
            no_copy: volume.volume.as_ref().is_some_and(|v| v.nocopy),
        },
        VolumeType::Tmpfs => MountKind::Tmpfs {
            size: volume.tmpfs.as_ref().and_then(|t| t.size).map(|s| s.0),
            mode: volume.tmpfs.as_ref().and_then(|t| t.mode).map(|m| m.0),
        },
        VolumeType::Npipe | VolumeType::Cluster | VolumeType::Image => {
            let kind = serde_json::to_value(volume.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(SpecError::unsupported(
                name,
                field(),
                format!("mounts of type {kind}"),
            ));
        }
    };
    Ok(MountSpec {
        target: volume.target.clone(),
        kind,
        read_only: volume.read_only,
    })
}

/// One entry of the service's `tmpfs` list: `/path[:size=N,mode=M]`.
fn tmpfs(name: &str, entry: &str) -> Result<MountSpec, SpecError> {
    let (target, options) = entry.split_once(':').unwrap_or((entry, ""));
    let (mut size, mut mode) = (None, None);
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("size", value)) => {
                size = Some(
                    crate::model::types::ByteSize::parse(value)
                        .map_err(|e| SpecError::invalid(name, "tmpfs", e))?
                        .0,
                );
            }
            Some(("mode", value)) => {
                mode = Some(u32::from_str_radix(value, 8).map_err(|_| {
                    SpecError::invalid(
                        name,
                        "tmpfs",
                        format!("mode {value:?} is not an octal file mode, like 1777"),
                    )
                })?);
            }
            _ => {
                return Err(SpecError::unsupported(
                    name,
                    "tmpfs",
                    format!("the tmpfs option {option:?} (only size and mode are)"),
                ));
            }
        }
    }
    Ok(MountSpec {
        target: target.to_owned(),
        kind: MountKind::Tmpfs { size, mode },
        read_only: false,
    })
}

/// File-based `secrets` and `configs`, bind-mounted read-only as compose
/// does (secrets under `/run/secrets/`, configs at `/<name>` by default).
fn file_mounts(
    project: &LoadedProject,
    name: &str,
    service: &Service,
) -> Result<Vec<MountSpec>, SpecError> {
    let mut out = Vec::new();
    let sets = [
        (
            "secrets",
            &service.secrets,
            &project.project.secrets,
            "/run/secrets/",
        ),
        ("configs", &service.configs, &project.project.configs, "/"),
    ];
    for (field, refs, declared, base) in sets {
        for r in refs {
            let object = declared.get(&r.source).ok_or_else(|| {
                SpecError::invalid(name, field, format!("{:?} is not declared", r.source))
            })?;
            let Some(file) = &object.file else {
                return Err(SpecError::unsupported(
                    name,
                    field,
                    format!(
                        "{:?} is not a file; only file-based {field} can be mounted",
                        r.source
                    ),
                ));
            };
            let target = match r.target.as_deref() {
                Some(t) if t.starts_with('/') => t.to_owned(),
                Some(t) => format!("{base}{t}"),
                None => format!("{base}{}", r.source),
            };
            out.push(MountSpec {
                target,
                kind: MountKind::Bind {
                    source: absolute(&project.working_dir, file),
                    create_host_path: false,
                },
                read_only: true,
            });
        }
    }
    Ok(out)
}

/// `restart`, overridden by `deploy.restart_policy` as in compose.
fn restart_policy(name: &str, service: &Service) -> Result<RestartPolicy, SpecError> {
    let parse = |condition: &str, retries: Option<u32>| match condition {
        "" | "no" | "none" => Ok(RestartPolicy::No),
        "always" | "any" => Ok(RestartPolicy::Always),
        "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
        "on-failure" => Ok(RestartPolicy::OnFailure {
            max_retries: retries,
        }),
        other => Err(SpecError::invalid(
            name,
            "restart",
            format!(
                "{other:?} is not a restart policy (no, always, on-failure[:N], unless-stopped)"
            ),
        )),
    };
    if let Some(policy) = service
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
    {
        let retries = policy
            .max_attempts
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        return parse(policy.condition.as_deref().unwrap_or("any"), retries);
    }
    let Some(text) = service.restart.as_deref() else {
        return Ok(RestartPolicy::No);
    };
    let (condition, retries) = match text.split_once(':') {
        Some((condition, n)) => (
            condition,
            Some(n.trim().parse::<u32>().map_err(|_| {
                SpecError::invalid(
                    name,
                    "restart",
                    format!("{n:?} in {text:?} is not a number of retries"),
                )
            })?),
        ),
        None => (text, None),
    };
    parse(condition.trim(), retries)
}

fn healthcheck(service: &Service) -> Option<HealthcheckSpec> {
    let h = service.healthcheck.as_ref()?;
    if h.is_disabled() {
        return Some(HealthcheckSpec {
            test: vec!["NONE".to_owned()],
            ..HealthcheckSpec::default()
        });
    }
    Some(HealthcheckSpec {
        test: h.test.clone().unwrap_or_default(),
        interval: h.interval.map(|d| d.0),
        timeout: h.timeout.map(|d| d.0),
        retries: h.retries.map(|r| u32::try_from(r).unwrap_or(u32::MAX)),
        start_period: h.start_period.map(|d| d.0),
        start_interval: h.start_interval.map(|d| d.0),
    })
}

/// `network_mode` in the engine's terms: `service:X` becomes
/// `container:<X's first container>`.
fn network_mode(project: &LoadedProject, name: &str, mode: &str) -> Result<String, SpecError> {
    if let Some(other) = mode.strip_prefix("service:") {
        let target = project.project.services.get(other).ok_or_else(|| {
            SpecError::invalid(
                name,
                "network_mode",
                format!("service {other:?} is not defined"),
            )
        })?;
        return Ok(format!(
            "container:{}",
            container_name(&project.name, other, target, 1)
        ));
    }
    Ok(mode.to_owned())
}

/// The networks a container joins, with its aliases: its own name, the
/// service's name (so that other services reach it by name) and the
/// declared aliases.
fn attachments(
    project: &LoadedProject,
    name: &str,
    service: &Service,
    container: &str,
) -> Vec<NetworkAttachment> {
    service_networks(service)
        .into_iter()
        .map(|key| {
            let settings = service.networks.get(&key).cloned().flatten();
            let mut aliases = vec![container.to_owned(), name.to_owned()];
            for alias in settings.iter().flat_map(|s| s.aliases.iter()) {
                if !aliases.contains(alias) {
                    aliases.push(alias.clone());
                }
            }
            NetworkAttachment {
                network: network_name(project, &key),
                aliases,
                ipv4_address: settings.and_then(|s| s.ipv4_address),
            }
        })
        .collect()
}

/// The container to create for replica `number` (from 1) of `service`.
///
/// Fields muster does not apply are listed by [`ignored_fields`]; the ones
/// it cannot honour at all are errors.
///
/// # Errors
/// [`SpecError`] for an unknown service, a service with neither `image`
/// nor `build`, `container_name` with more than one replica, `network_mode`
/// together with `networks`, an unreadable `label_file`, a secret or config
/// that is not a file, and mounts or options muster does not support.
pub fn container_spec(
    project: &LoadedProject,
    service: &str,
    number: u32,
) -> Result<ContainerSpec, SpecError> {
    let name = service;
    let service = project
        .project
        .services
        .get(name)
        .ok_or_else(|| SpecError::UnknownService {
            service: name.to_owned(),
        })?;
    if service.image.is_none() && service.build.is_none() {
        return Err(SpecError::invalid(
            name,
            "image",
            "the service has neither `image` nor `build`",
        ));
    }
    if service.container_name.is_some() && service.replicas() > 1 {
        return Err(SpecError::invalid(
            name,
            "container_name",
            format!(
                "a fixed container name allows one container, but the service asks for {}; \
                 remove `container_name` or the replicas",
                service.replicas()
            ),
        ));
    }
    if service.network_mode.is_some() && !service.networks.is_empty() {
        return Err(SpecError::invalid(
            name,
            "network_mode",
            "`network_mode` and `networks` cannot both be set",
        ));
    }
    let container = container_name(&project.name, name, service, number);

    let mut mounts = Vec::new();
    for (i, volume) in service.volumes.iter().enumerate() {
        mounts.push(mount(project, name, i, volume)?);
    }
    for entry in &service.tmpfs {
        mounts.push(tmpfs(name, entry)?);
    }
    for file in file_mounts(project, name, service)? {
        if !mounts.iter().any(|m| m.target == file.target) {
            mounts.push(file);
        }
    }

    let network_mode = service
        .network_mode
        .as_deref()
        .map(|mode| network_mode(project, name, mode))
        .transpose()?;

    Ok(ContainerSpec {
        image: image_name(&project.name, name, service),
        cmd: service.command.as_ref().map(|c| c.0.clone()),
        entrypoint: service.entrypoint.as_ref().map(|c| c.0.clone()),
        env: service
            .environment
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect(),
        labels: container_labels(project, name, service, number)?,
        working_dir: service.working_dir.clone(),
        user: service.user.clone(),
        hostname: service.hostname.clone(),
        ports: ports(name, service)?,
        mounts,
        networks: attachments(project, name, service, &container),
        network_mode,
        restart: restart_policy(name, service)?,
        init: service.init,
        tty: service.tty,
        stdin_open: service.stdin_open,
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service.stop_grace_period.map(|d| d.0),
        healthcheck: healthcheck(service),
        extra_hosts: service.extra_hosts.as_list(":"),
        cap_add: service.cap_add.clone(),
        cap_drop: service.cap_drop.clone(),
        privileged: service.privileged,
        read_only: service.read_only,
        shm_size: service.shm_size.map(|s| s.0),
        ulimits: service
            .ulimits
            .iter()
            .map(|(name, u)| Ulimit {
                name: name.clone(),
                soft: u.soft(),
                hard: u.hard(),
            })
            .collect(),
        name: container,
    })
}

mod fields;
#[cfg(test)]
mod tests;
