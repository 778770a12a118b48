//! The engine-neutral vocabulary of [`Engine`](super::Engine): what muster
//! asks the engine to create, and what it reads back.
//!
//! These types exist so that nothing above the engine layer sees bollard:
//! the orchestrator and its scripted fakes speak only in these small structs,
//! and `DockerEngine` translates them to and from the Docker Engine API.
//! They carry what muster needs, not the whole API; add a field when a caller
//! needs it. Every struct implements `Default`, so callers and fakes write
//! `ContainerSpec { name, image, ..Default::default() }`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

/// A Docker Engine API version, as `1.41`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ApiVersion {
    /// The major version (1 for every engine so far).
    pub major: u32,
    /// The minor version.
    pub minor: u32,
}

impl ApiVersion {
    /// The oldest API muster supports: Docker Engine 20.10.
    pub const MINIMUM: Self = Self::new(1, 41);

    /// `major.minor`.
    #[must_use]
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ApiVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (major, minor) = s
            .trim()
            .split_once('.')
            .ok_or_else(|| format!("API version {s:?} is not of the form MAJOR.MINOR"))?;
        let parse = |part: &str| {
            part.parse::<u32>()
                .map_err(|_| format!("API version {s:?} is not of the form MAJOR.MINOR"))
        };
        Ok(Self::new(parse(major)?, parse(minor)?))
    }
}

/// What the engine says about itself, and the API version muster speaks to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EngineVersion {
    /// The engine's own version, as `20.10.24`.
    pub version: String,
    /// The newest API version the engine speaks.
    pub api_version: ApiVersion,
    /// The oldest API version the engine speaks, when it says.
    pub min_api_version: Option<ApiVersion>,
    /// The API version muster uses with this engine: the older of the
    /// engine's and muster's newest.
    pub negotiated: ApiVersion,
    /// The engine's operating system, as `linux`.
    pub os: String,
    /// The engine's architecture, as `amd64`.
    pub arch: String,
}

/// A label condition for listing and watching objects: `key` (the label is
/// present) or `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LabelFilter {
    /// The label's key.
    pub key: String,
    /// The value it must have, or `None` for any value.
    pub value: Option<String>,
}

impl LabelFilter {
    /// Objects that carry label `key` with any value.
    #[must_use]
    pub fn exists(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: None,
        }
    }

    /// Objects whose label `key` is `value`.
    #[must_use]
    pub fn equals(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

impl fmt::Display for LabelFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}={value}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// A transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    /// TCP, the default.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" | "" => Ok(Self::Tcp),
            "udp" => Ok(Self::Udp),
            "sctp" => Ok(Self::Sctp),
            _ => Err(format!(
                "unknown protocol {s:?} (expected tcp, udp or sctp)"
            )),
        }
    }
}

/// The lifecycle state of a container, as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ContainerState {
    /// Created and never started, or reset.
    #[default]
    Created,
    /// Running (its health may still be starting).
    Running,
    /// Paused.
    Paused,
    /// Being restarted by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Exited; see the exit code.
    Exited,
    /// Dead: the engine failed to stop or remove it.
    Dead,
    /// A state this version of muster does not know.
    Unknown,
}

impl ContainerState {
    /// The state for the engine's word (`running`, `exited`, ...).
    #[must_use]
    pub fn from_engine(word: &str) -> Self {
        match word {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            _ => Self::Unknown,
        }
    }

    /// Whether the container's process is up (running, paused or restarting).
    #[must_use]
    pub fn is_up(self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Restarting)
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Unknown => "unknown",
        })
    }
}

/// The health of a container that has a healthcheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HealthStatus {
    /// No check has passed yet, and the retries are not used up.
    #[default]
    Starting,
    /// The last check passed.
    Healthy,
    /// `retries` checks in a row failed.
    Unhealthy,
}

impl HealthStatus {
    /// The status for the engine's word; `None` for `none` or an unknown word.
    #[must_use]
    pub fn from_engine(word: &str) -> Option<Self> {
        match word {
            "starting" => Some(Self::Starting),
            "healthy" => Some(Self::Healthy),
            "unhealthy" => Some(Self::Unhealthy),
            _ => None,
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        })
    }
}

/// A container port and where it is published on the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PortMapping {
    /// The port inside the container.
    pub container_port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// The host address it is published on (`0.0.0.0`, `::`, `127.0.0.1`),
    /// when published.
    pub host_ip: Option<String>,
    /// The host port, when published; never 0 once the container runs.
    pub host_port: Option<u16>,
}

/// A container as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSummary {
    /// The full id.
    pub id: String,
    /// The names, without the engine's leading `/`.
    pub names: Vec<String>,
    /// The image reference it was created from.
    pub image: String,
    /// The id of the image it was created from (`sha256:...`); empty when
    /// the engine does not say.
    pub image_id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its lifecycle state.
    pub state: ContainerState,
    /// The engine's human status, as `Up 3 seconds (healthy)`.
    pub status: String,
    /// Its health, when it has a healthcheck.
    pub health: Option<HealthStatus>,
    /// Its ports and where they are published.
    pub ports: Vec<PortMapping>,
    /// When it was created.
    pub created: Option<SystemTime>,
}

impl ContainerSummary {
    /// The container's name (the first one), or its id when it has none.
    #[must_use]
    pub fn name(&self) -> &str {
        self.names.first().map_or(self.id.as_str(), String::as_str)
    }

    /// The value of label `key`.
    #[must_use]
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// One run of a container's healthcheck, as the engine recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthProbe {
    /// When the run started.
    pub start: Option<SystemTime>,
    /// When it ended.
    pub end: Option<SystemTime>,
    /// Its exit code: 0 passed, 1 failed, -1 could not run or timed out.
    pub exit_code: i64,
    /// Its output (the engine keeps the first 4 KiB).
    pub output: String,
}

/// A container's health, with the engine's last few probes (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    /// The current status.
    pub status: HealthStatus,
    /// How many probes in a row have failed.
    pub failing_streak: u32,
    /// The last probes, oldest first (the engine keeps five).
    pub log: Vec<HealthProbe>,
}

/// The runtime state of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerStatus {
    /// The lifecycle state.
    pub state: ContainerState,
    /// Whether it is running (also true while paused or restarting).
    pub running: bool,
    /// Whether it is paused.
    pub paused: bool,
    /// Whether it is being restarted.
    pub restarting: bool,
    /// Whether it was killed for running out of memory.
    pub oom_killed: bool,
    /// Whether it is dead.
    pub dead: bool,
    /// The main process's pid on the host, or 0.
    pub pid: i64,
    /// The last exit code (0 before the first exit).
    pub exit_code: i64,
    /// The engine's error, as when the process could not be started.
    pub error: String,
    /// When it last started.
    pub started_at: Option<SystemTime>,
    /// When it last exited.
    pub finished_at: Option<SystemTime>,
    /// Its health, when it has a healthcheck.
    pub health: Option<Health>,
}

/// One network a container is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkEndpoint {
    /// The network's id.
    pub network_id: String,
    /// The container's aliases on this network.
    pub aliases: Vec<String>,
    /// The container's IPv4 address on this network.
    pub ip_address: Option<String>,
}

/// A mount of a running or created container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountInfo {
    /// `bind`, `volume`, `tmpfs`, ...
    pub kind: String,
    /// The volume's name, for volumes.
    pub name: Option<String>,
    /// The host path or the volume's mount point.
    pub source: String,
    /// The path in the container.
    pub destination: String,
    /// Whether it is writable.
    pub read_write: bool,
}

/// What the engine knows about one container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerDetails {
    /// The full id.
    pub id: String,
    /// The name, without the engine's leading `/`.
    pub name: String,
    /// The image reference it was created from, as given.
    pub image: String,
    /// The id of that image.
    pub image_id: String,
    /// When it was created.
    pub created: Option<SystemTime>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The value of its `com.docker.compose.config-hash` label.
    pub config_hash: Option<String>,
    /// Its runtime state.
    pub status: ContainerStatus,
    /// How often its restart policy restarted it.
    pub restart_count: i64,
    /// Its ports and where they are published (host ports resolved once running).
    pub ports: Vec<PortMapping>,
    /// The networks it is attached to, by name.
    pub networks: BTreeMap<String, NetworkEndpoint>,
    /// Its mounts.
    pub mounts: Vec<MountInfo>,
    /// Its environment, as `KEY=value`.
    pub env: Vec<String>,
    /// Its command.
    pub cmd: Vec<String>,
    /// Its entrypoint.
    pub entrypoint: Vec<String>,
    /// Its healthcheck, when it has one (from the image or the spec).
    pub healthcheck: Option<HealthcheckSpec>,
}

impl ContainerDetails {
    /// Its health status, when it has a healthcheck.
    #[must_use]
    pub fn health_status(&self) -> Option<HealthStatus> {
        self.status.health.as_ref().map(|h| h.status)
    }

    /// The host address and port that `container_port`/`protocol` is
    /// published on, preferring an IPv4 binding.
    #[must_use]
    pub fn published_port(&self, container_port: u16, protocol: Protocol) -> Option<(String, u16)> {
        let mut bound = self
            .ports
            .iter()
            .filter(|p| p.container_port == container_port && p.protocol == protocol)
            .filter_map(|p| Some((p.host_ip.clone().unwrap_or_default(), p.host_port?)))
            .collect::<Vec<_>>();
        bound.sort_by_key(|(ip, _)| ip.contains(':'));
        bound.into_iter().next()
    }
}

/// A range of host ports; `0..=0` lets the engine choose a free port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortRange {
    /// The first port, or 0 for any free port.
    pub start: u16,
    /// The last port (equal to `start` for a single port).
    pub end: u16,
}

impl PortRange {
    /// Any free port, chosen by the engine.
    #[must_use]
    pub const fn any() -> Self {
        Self { start: 0, end: 0 }
    }

    /// Exactly `port`.
    #[must_use]
    pub const fn single(port: u16) -> Self {
        Self {
            start: port,
            end: port,
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.end > self.start {
            write!(f, "{}-{}", self.start, self.end)
        } else {
            write!(f, "{}", self.start)
        }
    }
}

/// Where a container port is published on the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PublishedPort {
    /// The host address (`127.0.0.1`); `None` for all addresses.
    pub host_ip: Option<String>,
    /// The host port or ports; the engine picks one free port of a range.
    pub host_ports: PortRange,
}

/// A container port to expose, and optionally publish.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PortSpec {
    /// The port inside the container.
    pub container_port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// Where to publish it; `None` only exposes it to other containers.
    pub published: Option<PublishedPort>,
}

/// What to mount at a path in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A host path.
    Bind {
        /// The host path (absolute).
        source: PathBuf,
        /// Create the host path as a directory when it is missing (compose's
        /// short syntax does); otherwise a missing path is an error.
        create_host_path: bool,
    },
    /// A named volume, or an anonymous one when `source` is `None`.
    Volume {
        /// The volume's full name (`<project>_<name>`).
        source: Option<String>,
        /// Do not copy the image's files at the target into a new volume.
        no_copy: bool,
    },
    /// A tmpfs.
    Tmpfs {
        /// Its size in bytes; `None` for the engine's default.
        size: Option<u64>,
        /// Its mode, as `0o1777`.
        mode: Option<u32>,
    },
}

impl Default for MountKind {
    fn default() -> Self {
        Self::Volume {
            source: None,
            no_copy: false,
        }
    }
}

/// A mount of a container to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountSpec {
    /// The path in the container.
    pub target: String,
    /// What is mounted there.
    pub kind: MountKind,
    /// Mount it read-only.
    pub read_only: bool,
}

/// A network to attach a container to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkAttachment {
    /// The network's full name (`<project>_default`).
    pub network: String,
    /// The names the container answers to on this network, besides its own.
    pub aliases: Vec<String>,
    /// A fixed IPv4 address on this network.
    pub ipv4_address: Option<String>,
}

/// When the engine restarts a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Never (the default).
    #[default]
    No,
    /// Always, unless removed; also when the engine starts.
    Always,
    /// Always, unless stopped by hand.
    UnlessStopped,
    /// When it exits with a non-zero code, at most `max_retries` times.
    OnFailure {
        /// The most restarts; `None` for no limit.
        max_retries: Option<u32>,
    },
}

/// A healthcheck, in the engine's terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthcheckSpec {
    /// The test: `["CMD", prog, args...]`, `["CMD-SHELL", "script"]`, or
    /// `["NONE"]` to disable the image's healthcheck.
    pub test: Vec<String>,
    /// Time between checks; `None` for the engine's default (30 s).
    pub interval: Option<Duration>,
    /// How long one check may take; `None` for the default (30 s).
    pub timeout: Option<Duration>,
    /// Failures in a row that make the container unhealthy; `None` for 3.
    pub retries: Option<u32>,
    /// Grace period during which failures do not count.
    pub start_period: Option<Duration>,
    /// Time between checks during the start period (API 1.44+, ignored by
    /// older engines).
    pub start_interval: Option<Duration>,
}

/// A resource limit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ulimit {
    /// Its name, as `nofile`.
    pub name: String,
    /// The soft limit.
    pub soft: i64,
    /// The hard limit.
    pub hard: i64,
}

/// Everything needed to create one container.
///
/// The first entry of `networks` is attached when the container is created;
/// the others are connected right after, before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    /// Its name (`<project>-<service>-<n>`).
    pub name: String,
    /// The image reference; it must be present locally.
    pub image: String,
    /// The command; `None` keeps the image's.
    pub cmd: Option<Vec<String>>,
    /// The entrypoint; `None` keeps the image's, an empty list clears it.
    pub entrypoint: Option<Vec<String>>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The working directory.
    pub working_dir: Option<String>,
    /// The user, as `uid[:gid]` or a name.
    pub user: Option<String>,
    /// The hostname.
    pub hostname: Option<String>,
    /// Ports to expose and publish.
    pub ports: Vec<PortSpec>,
    /// Bind mounts, volumes and tmpfs mounts.
    pub mounts: Vec<MountSpec>,
    /// Networks to attach, with aliases.
    pub networks: Vec<NetworkAttachment>,
    /// `host`, `none`, `bridge` or `container:<id>`; `None` uses the first
    /// network of `networks` (or the engine's default bridge).
    pub network_mode: Option<String>,
    /// The restart policy.
    pub restart: RestartPolicy,
    /// Run an init process as PID 1; `None` for the engine's default.
    pub init: Option<bool>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Keep standard input open.
    pub stdin_open: bool,
    /// The signal that stops it, as `SIGTERM`.
    pub stop_signal: Option<String>,
    /// How long a stop waits before killing; whole seconds (rounded up).
    pub stop_timeout: Option<Duration>,
    /// The healthcheck; `None` keeps the image's.
    pub healthcheck: Option<HealthcheckSpec>,
    /// Extra `/etc/hosts` entries, as `host:ip`.
    pub extra_hosts: Vec<String>,
    /// Capabilities to add.
    pub cap_add: Vec<String>,
    /// Capabilities to drop.
    pub cap_drop: Vec<String>,
    /// Run privileged.
    pub privileged: bool,
    /// Mount the root filesystem read-only.
    pub read_only: bool,
    /// The size of `/dev/shm` in bytes.
    pub shm_size: Option<u64>,
    /// Resource limits.
    pub ulimits: Vec<Ulimit>,
}

/// How to remove a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoveContainerOptions {
    /// Kill it first if it runs.
    pub force: bool,
    /// Also remove its anonymous volumes.
    pub volumes: bool,
}

/// A command to run in a running container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecSpec {
    /// The command and its arguments (no shell unless you ask for one).
    pub cmd: Vec<String>,
    /// Extra environment variables, as `KEY=value`.
    pub env: Vec<String>,
    /// The user to run as; `None` for the container's.
    pub user: Option<String>,
    /// The working directory; `None` for the container's.
    pub working_dir: Option<String>,
    /// How long to wait for it; `None` waits for as long as it runs.
    pub timeout: Option<Duration>,
}

/// What a command run in a container did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// Its exit code; `None` when it timed out (it may still be running:
    /// the engine cannot kill an exec).
    pub exit_code: Option<i64>,
    /// Its standard output and error, interleaved as they came, lossily
    /// decoded as UTF-8 and cut at 1 MiB.
    pub output: String,
    /// Whether the timeout ran out before it exited.
    pub timed_out: bool,
}

impl ExecOutput {
    /// Whether it exited with code 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Which output stream a log chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogStream {
    /// Standard output (and all output of a container with a terminal).
    #[default]
    Stdout,
    /// Standard error.
    Stderr,
}

/// A piece of a container's output: usually one line, with its newline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogChunk {
    /// Which stream it came from.
    pub stream: LogStream,
    /// The bytes (prefixed with an RFC 3339 timestamp and a space when
    /// timestamps were asked for).
    pub data: Bytes,
}

/// Which logs to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogOptions {
    /// Keep streaming new output until the container stops.
    pub follow: bool,
    /// Only the last `n` lines; `None` for all.
    pub tail: Option<u64>,
    /// Only output since then (whole seconds).
    pub since: Option<SystemTime>,
    /// Only output before then (whole seconds); a follow ends there.
    pub until: Option<SystemTime>,
    /// Prefix each line with the engine's timestamp.
    pub timestamps: bool,
}

/// The kind of object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum EventObject {
    /// A container.
    #[default]
    Container,
    /// A network.
    Network,
    /// A volume.
    Volume,
    /// An image.
    Image,
    /// Anything else, by the engine's word.
    Other(String),
}

impl EventObject {
    /// The kind for the engine's word (`container`, `network`, ...).
    #[must_use]
    pub fn from_engine(word: &str) -> Self {
        match word {
            "container" => Self::Container,
            "network" => Self::Network,
            "volume" => Self::Volume,
            "image" => Self::Image,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The engine's word for it, as used in event filters.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Container => "container",
            Self::Network => "network",
            Self::Volume => "volume",
            Self::Image => "image",
            Self::Other(word) => word,
        }
    }
}

/// What happened, for the events muster reacts to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EventAction {
    /// Created.
    Create,
    /// Started.
    Start,
    /// Restarted.
    Restart,
    /// Stopped (after `die`).
    Stop,
    /// Sent a signal.
    Kill,
    /// The main process exited; see [`EngineEvent::exit_code`].
    Die,
    /// Killed for running out of memory.
    Oom,
    /// Paused.
    Pause,
    /// Unpaused.
    Unpause,
    /// Removed.
    Destroy,
    /// Its health changed.
    HealthStatus(HealthStatus),
    /// A container was connected to a network.
    Connect,
    /// A container was disconnected from a network.
    Disconnect,
    /// Anything else (`exec_start: ...`, `attach`, `mount`, ...).
    #[default]
    Other,
}

impl EventAction {
    /// The action for the engine's word (`start`, `health_status: healthy`).
    #[must_use]
    pub fn from_engine(word: &str) -> Self {
        if let Some(health) = word.strip_prefix("health_status:") {
            return HealthStatus::from_engine(health.trim())
                .map_or(Self::Other, Self::HealthStatus);
        }
        match word {
            "create" => Self::Create,
            "start" => Self::Start,
            "restart" => Self::Restart,
            "stop" => Self::Stop,
            "kill" => Self::Kill,
            "die" => Self::Die,
            "oom" => Self::Oom,
            "pause" => Self::Pause,
            "unpause" => Self::Unpause,
            "destroy" => Self::Destroy,
            "connect" => Self::Connect,
            "disconnect" => Self::Disconnect,
            _ => Self::Other,
        }
    }
}

/// Something that happened to an object, as the engine reported it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EngineEvent {
    /// The kind of object.
    pub object: EventObject,
    /// What happened.
    pub action: EventAction,
    /// The engine's own word for it, as `health_status: healthy`.
    pub raw_action: String,
    /// The object's id (for a network event, the network's).
    pub id: String,
    /// The event's attributes: for containers, `name`, `image`, `exitCode`
    /// and the container's labels; for networks, `name` and `container`.
    pub attributes: BTreeMap<String, String>,
    /// When it happened, by the engine's clock.
    pub time: Option<SystemTime>,
}

impl EngineEvent {
    /// The object's name, from the attributes.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.attributes.get("name").map(String::as_str)
    }

    /// The exit code of a `die` event.
    #[must_use]
    pub fn exit_code(&self) -> Option<i64> {
        self.attributes.get("exitCode")?.parse().ok()
    }

    /// An attribute (for containers, labels are attributes too).
    #[must_use]
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// Which events to receive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFilter {
    /// Only objects with all these labels (network and volume events carry
    /// no labels, so a label filter keeps only container events).
    pub labels: Vec<LabelFilter>,
    /// Only these kinds of objects; empty for all.
    pub objects: Vec<EventObject>,
    /// Replay events since then first. The stream subscribes when it is
    /// first polled: pass a time taken before the actions you watch for, so
    /// that none is missed.
    pub since: Option<SystemTime>,
}

/// A network to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkSpec {
    /// Its full name (`<project>_default`).
    pub name: String,
    /// Its driver; `None` for `bridge`.
    pub driver: Option<String>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// No route to the outside.
    pub internal: bool,
    /// Standalone containers may attach (swarm overlay networks).
    pub attachable: bool,
    /// Enable IPv6.
    pub enable_ipv6: bool,
}

/// A network as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkSummary {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its driver.
    pub driver: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Whether it is internal.
    pub internal: bool,
    /// Whether it is attachable.
    pub attachable: bool,
}

/// A volume to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeSpec {
    /// Its full name (`<project>_<name>`).
    pub name: String,
    /// Its driver; `None` for `local`.
    pub driver: Option<String>,
    /// Driver options.
    pub driver_opts: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A volume as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeSummary {
    /// Its name.
    pub name: String,
    /// Its driver.
    pub driver: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Where its data is on the engine's host.
    pub mountpoint: String,
}

/// What the engine knows about a local image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageDetails {
    /// Its id (`sha256:...`).
    pub id: String,
    /// Its tags.
    pub repo_tags: Vec<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// When it was built.
    pub created: Option<SystemTime>,
    /// Its size in bytes.
    pub size: i64,
    /// The paths its `VOLUME` instructions declare, sorted.
    pub volumes: Vec<String>,
}

/// An image to build. The build context comes beside it, as a tar stream
/// ([`BuildContext`]); `dockerfile` is a path inside that tar.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildSpec {
    /// The name the image is tagged with once the build succeeds (a failed
    /// build tags nothing).
    pub tag: String,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    /// The stage to build; `None` for the last.
    pub target: Option<String>,
    /// Build arguments.
    pub args: BTreeMap<String, String>,
    /// Labels for the image.
    pub labels: BTreeMap<String, String>,
    /// Build without the cache.
    pub no_cache: bool,
    /// The network for `RUN` steps.
    pub network: Option<String>,
    /// Extra `/etc/hosts` entries for `RUN` steps, as `host:ip`.
    pub extra_hosts: Vec<String>,
    /// The size of `/dev/shm` for `RUN` steps, in bytes.
    pub shm_size: Option<u64>,
    /// Local images to take the build cache from.
    pub cache_from: Vec<String>,
}

/// What a build says while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOutput {
    /// One line of output (a step, `Step 4/9 : RUN npm ci`, or what a
    /// step's command printed), without its newline.
    Line(String),
    /// The id of the image built; it comes once, at the end.
    ImageId(String),
}

/// A build context: the bytes of a tar archive, streamed. An error item
/// ends the upload (and the build).
pub type BuildContext = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static>,
>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_parse_and_order() {
        let v: ApiVersion = "1.41".parse().unwrap();
        assert_eq!(v, ApiVersion::MINIMUM);
        assert!("1.44".parse::<ApiVersion>().unwrap() > v);
        assert!("1.9".parse::<ApiVersion>().unwrap() < v);
        assert!("latest".parse::<ApiVersion>().is_err());
        assert_eq!(v.to_string(), "1.41");
    }

    #[test]
    fn health_events_carry_the_status() {
        assert_eq!(
            EventAction::from_engine("health_status: healthy"),
            EventAction::HealthStatus(HealthStatus::Healthy)
        );
        assert_eq!(EventAction::from_engine("die"), EventAction::Die);
        assert_eq!(
            EventAction::from_engine("exec_start: sh -c true"),
            EventAction::Other
        );
        assert_eq!(
            EventObject::from_engine("container"),
            EventObject::Container
        );
    }

    #[test]
    fn published_port_prefers_ipv4() {
        let details = ContainerDetails {
            ports: vec![
                PortMapping {
                    container_port: 80,
                    protocol: Protocol::Tcp,
                    host_ip: Some("::".into()),
                    host_port: Some(4000),
                },
                PortMapping {
                    container_port: 80,
                    protocol: Protocol::Tcp,
                    host_ip: Some("0.0.0.0".into()),
                    host_port: Some(4001),
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            details.published_port(80, Protocol::Tcp),
            Some(("0.0.0.0".to_owned(), 4001))
        );
        assert_eq!(details.published_port(81, Protocol::Tcp), None);
    }
}
