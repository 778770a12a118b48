//! A scripted, in-memory [`Engine`] for tests: the scheduler, readiness and
//! convergence are tested against it in milliseconds, without a daemon.
//!
//! [`FakeEngine`] keeps containers, networks, volumes and images in memory
//! and plays each container's life from a [`Script`], chosen by container
//! name, by service label (`com.docker.compose.service`) or by image: how
//! long `start` takes, when the healthcheck's test starts (or stops)
//! passing, when the main process exits and with what code, what it logs,
//! and how long one run of the test takes. Time is tokio's: under a paused
//! test runtime (`#[tokio::test(start_paused = true)]`) the fake's sleeps
//! cost no wall-clock time, and a whole `up` of a slow stack runs in
//! milliseconds while every timestamp stays exact.
//!
//! Every call is recorded, in order, with the virtual time since the fake
//! was made ([`FakeEngine::calls`]), together with what happened inside the
//! "engine" (a container became running, ran a healthcheck, exited), so that
//! tests read like "api was started after db's probe passed" or "web and
//! worker started at the same moment".
//!
//! # Theory of operation
//!
//! - `start_container` waits the script's `start_delay`, marks the container
//!   running, emits `start`, and spawns one task that plays the rest of the
//!   run: the engine's own healthchecks (every `interval`, or
//!   `start_interval` during `start_period`, counting failures after the
//!   start period and turning `unhealthy` after `retries` of them) and the
//!   exit. Stopping, killing or removing the container ends that task.
//! - `exec` answers with the script's probe truth at the moment it ends:
//!   every command is taken to be the healthcheck's test. It takes the
//!   script's `probe_duration`, bounded by the exec's timeout.
//! - `events` replays the history since `filter.since` and then follows
//!   live events, subscribing under the same lock that emits them, so none
//!   is lost or doubled. Event times are the real [`SystemTime`] (which a
//!   paused runtime does not stop), so `since` taken with
//!   `SystemTime::now()` works as against a real engine.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::types::{
    BuildContext, BuildOutput, BuildSpec, ContainerDetails, ContainerSpec, ContainerState,
    ContainerStatus, ContainerSummary, EngineEvent, EngineVersion, EventAction, EventFilter,
    EventObject, ExecOutput, ExecSpec, Health, HealthProbe, HealthStatus, HealthcheckSpec,
    ImageDetails, LabelFilter, LogChunk, LogOptions, LogStream, NetworkAttachment, NetworkEndpoint,
    NetworkSpec, NetworkSummary, PortMapping, RemoveContainerOptions, VolumeSpec, VolumeSummary,
};
use super::{ApiVersion, Engine, EngineError, EngineFuture, EngineStream};

/// The label that names a container's service, for [`FakeEngine::script_service`].
const SERVICE_LABEL: &str = "com.docker.compose.service";

/// How many events a slow subscriber may fall behind before it skips some.
const EVENT_BUFFER: usize = 16_384;

/// When a container's healthcheck test passes, measured from the moment
/// the container is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// It fails before this much time and passes from then on.
    PassesAfter(Duration),
    /// It never passes.
    Never,
    /// It passes until this much time, and fails from then on.
    FailsAfter(Duration),
}

impl Default for Probe {
    fn default() -> Self {
        Self::PassesAfter(Duration::ZERO)
    }
}

impl Probe {
    /// Whether the test passes `elapsed` after the container started.
    #[must_use]
    pub fn passes_at(self, elapsed: Duration) -> bool {
        match self {
            Self::PassesAfter(after) => elapsed >= after,
            Self::Never => false,
            Self::FailsAfter(after) => elapsed < after,
        }
    }
}

/// How one container behaves. Build it with the methods:
///
/// ```
/// use std::time::Duration;
/// use muster::engine::fake::Script;
///
/// let db = Script::new()
///     .start_delay(Duration::from_millis(200))
///     .passes_after(Duration::from_secs(2))
///     .logs(["listening on 5432"]);
/// let migrate = Script::new().exits_after(Duration::from_secs(1), 0);
/// # let _ = (db, migrate);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// How long `create_container` takes.
    pub create_delay: Duration,
    /// How long `start_container` takes before the container runs.
    pub start_delay: Duration,
    /// When the healthcheck's test passes.
    pub probe: Probe,
    /// How long one run of the test takes (bounded by its timeout).
    pub probe_duration: Duration,
    /// What a passing run of the test prints.
    pub probe_pass_output: String,
    /// What a failing run of the test prints.
    pub probe_fail_output: String,
    /// The main process exits this long after starting, with this code.
    pub exit: Option<(Duration, i64)>,
    /// The lines the container prints when it starts.
    pub logs: Vec<String>,
    /// The engine never runs the healthcheck itself (as Podman without
    /// its timers): only `exec` probes see the test pass.
    pub no_engine_checks: bool,
}

impl Script {
    /// A container that starts at once, passes its healthcheck at once and
    /// runs until stopped.
    #[must_use]
    pub fn new() -> Self {
        Self {
            probe_pass_output: "ok\n".into(),
            probe_fail_output: "not ready\n".into(),
            ..Self::default()
        }
    }

    /// `start_container` takes `delay`.
    #[must_use]
    pub fn start_delay(mut self, delay: Duration) -> Self {
        self.start_delay = delay;
        self
    }

    /// `create_container` takes `delay`.
    #[must_use]
    pub fn create_delay(mut self, delay: Duration) -> Self {
        self.create_delay = delay;
        self
    }

    /// The healthcheck's test passes from `after` the start on.
    #[must_use]
    pub fn passes_after(mut self, after: Duration) -> Self {
        self.probe = Probe::PassesAfter(after);
        self
    }

    /// The healthcheck's test never passes.
    #[must_use]
    pub fn never_passes(mut self) -> Self {
        self.probe = Probe::Never;
        self
    }

    /// The healthcheck's test passes until `after` the start, then fails.
    #[must_use]
    pub fn fails_after(mut self, after: Duration) -> Self {
        self.probe = Probe::FailsAfter(after);
        self
    }

    /// One run of the test takes `duration`.
    #[must_use]
    pub fn probe_duration(mut self, duration: Duration) -> Self {
        self.probe_duration = duration;
        self
    }

    /// What passing and failing runs of the test print.
    #[must_use]
    pub fn probe_output(mut self, pass: &str, fail: &str) -> Self {
        pass.clone_into(&mut self.probe_pass_output);
        fail.clone_into(&mut self.probe_fail_output);
        self
    }

    /// The engine does not run the healthcheck itself.
    #[must_use]
    pub fn no_engine_checks(mut self) -> Self {
        self.no_engine_checks = true;
        self
    }

    /// The main process exits `after` the start with `code`.
    #[must_use]
    pub fn exits_after(mut self, after: Duration, code: i64) -> Self {
        self.exit = Some((after, code));
        self
    }

    /// The container prints these lines when it starts.
    #[must_use]
    pub fn logs<I, S>(mut self, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.logs = lines.into_iter().map(Into::into).collect();
        self
    }
}

/// What a recorded [`Call`] was: a method of [`Engine`], or (the last
/// three) something the fake engine did by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// [`Engine::ping`].
    Ping,
    /// [`Engine::version`].
    Version,
    /// [`Engine::list_containers`].
    ListContainers,
    /// [`Engine::inspect_container`].
    InspectContainer,
    /// [`Engine::create_container`].
    CreateContainer,
    /// [`Engine::start_container`] (when it was called; see [`Op::Running`]).
    StartContainer,
    /// [`Engine::stop_container`].
    StopContainer,
    /// [`Engine::kill_container`].
    KillContainer,
    /// [`Engine::remove_container`].
    RemoveContainer,
    /// [`Engine::wait_container`].
    WaitContainer,
    /// [`Engine::exec`]; the detail is `exit 0`, `exit 1`, `timed out` or
    /// `not running`, as of when it ended.
    Exec,
    /// [`Engine::logs`].
    Logs,
    /// [`Engine::events`].
    Events,
    /// [`Engine::create_network`].
    CreateNetwork,
    /// [`Engine::list_networks`].
    ListNetworks,
    /// [`Engine::remove_network`].
    RemoveNetwork,
    /// [`Engine::connect_network`].
    ConnectNetwork,
    /// [`Engine::disconnect_network`].
    DisconnectNetwork,
    /// [`Engine::create_volume`].
    CreateVolume,
    /// [`Engine::list_volumes`].
    ListVolumes,
    /// [`Engine::remove_volume`].
    RemoveVolume,
    /// [`Engine::inspect_image`].
    InspectImage,
    /// [`Engine::remove_image`].
    RemoveImage,
    /// [`Engine::build_image`] (the object is the tag).
    BuildImage,
    /// [`Engine::upload_archive`] (the object is the container; the detail
    /// the files unpacked, by full path, comma-separated).
    UploadArchive,
    /// [`Engine::tag_image`] (the object is the new tag).
    TagImage,
    /// The engine: a container is now running.
    Running,
    /// The engine: it ran a container's healthcheck; the detail is
    /// `exit 0` or `exit 1`.
    HealthCheck,
    /// The engine: a container's main process exited; the detail is
    /// `exit <code>`.
    Exited,
}

/// One recorded call or happening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// When, since the fake was made (tokio's clock).
    pub at: Duration,
    /// What.
    pub op: Op,
    /// On what: a container's name, a network's or volume's name, an image.
    pub object: String,
    /// The outcome, for [`Op::Exec`], [`Op::HealthCheck`] and [`Op::Exited`].
    pub detail: String,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>8.3}s {:?} {}",
            self.at.as_secs_f64(),
            self.op,
            self.object
        )?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// A build the fake engine ran: what was asked, and the paths in the
/// context tar it was sent (in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeBuild {
    /// The build request.
    pub spec: BuildSpec,
    /// The paths of the context's entries, as archived.
    pub files: Vec<String>,
}

/// An in-memory, scripted container engine. Cheap to clone: clones share
/// the same state.
#[derive(Clone)]
pub struct FakeEngine {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    events: broadcast::Sender<EngineEvent>,
    epoch: Instant,
}

#[derive(Default)]
struct State {
    next_id: u64,
    next_port: u16,
    images: BTreeSet<String>,
    /// How often each image was rebuilt: its id changes each time.
    image_builds: HashMap<String, u32>,
    /// The paths each image declares as `VOLUME`.
    image_volumes: HashMap<String, Vec<String>>,
    /// Labels and ids of images made by builds (others have none, and the
    /// id `sha256:<name>`).
    image_meta: HashMap<String, (String, BTreeMap<String, String>)>,
    builds: Vec<FakeBuild>,
    build_delays: HashMap<String, Duration>,
    by_image: HashMap<String, Script>,
    by_service: HashMap<String, Script>,
    by_name: HashMap<String, Script>,
    default_script: Option<Script>,
    /// By id, in creation order (ids grow).
    containers: BTreeMap<String, FakeContainer>,
    networks: BTreeMap<String, NetworkSummary>,
    volumes: BTreeMap<String, VolumeSummary>,
    calls: Vec<Call>,
    history: Vec<EngineEvent>,
    failures: Vec<(Op, String, String)>,
}

struct FakeContainer {
    id: String,
    spec: ContainerSpec,
    /// The id of its image when it was created.
    image_id: String,
    script: Script,
    created: SystemTime,
    state: ContainerState,
    exit_code: i64,
    started_at: Option<SystemTime>,
    finished_at: Option<SystemTime>,
    /// When the current run began, on tokio's clock.
    running_since: Option<Instant>,
    health: Option<Health>,
    /// Bumped on every start and stop, so a stale life task stops acting.
    run: u64,
    networks: Vec<NetworkAttachment>,
    ports: Vec<PortMapping>,
    logs: Vec<String>,
    /// Files unpacked by [`Engine::upload_archive`], by full path.
    files: BTreeMap<String, Vec<u8>>,
}

impl fmt::Debug for FakeEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("FakeEngine")
            .field("containers", &state.containers.len())
            .field("networks", &state.networks.len())
            .field("volumes", &state.volumes.len())
            .field("calls", &state.calls.len())
            .finish_non_exhaustive()
    }
}

impl Default for FakeEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeEngine {
    /// An empty engine: no images, no containers. Its clock starts now.
    #[must_use]
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    next_port: 32768,
                    ..State::default()
                }),
                events,
                epoch: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// Makes `image` present locally.
    pub fn add_image(&self, image: &str) -> &Self {
        self.lock().images.insert(image.to_owned());
        self
    }

    /// Gives `image` a new id, as a rebuild under the same tag does.
    pub fn rebuild_image(&self, image: &str) -> &Self {
        let mut state = self.lock();
        state.images.insert(image.to_owned());
        state.image_meta.remove(image);
        *state.image_builds.entry(image.to_owned()).or_default() += 1;
        self
    }

    /// Makes `image` declare `paths` as `VOLUME`s.
    pub fn image_volumes(&self, image: &str, paths: &[&str]) -> &Self {
        let mut state = self.lock();
        state.images.insert(image.to_owned());
        state.image_volumes.insert(
            image.to_owned(),
            paths.iter().map(|p| (*p).to_owned()).collect(),
        );
        self
    }

    /// Builds tagged `tag` take `delay`.
    pub fn build_delay(&self, tag: &str, delay: Duration) -> &Self {
        self.lock().build_delays.insert(tag.to_owned(), delay);
        self
    }

    /// The builds run so far, in the order they finished.
    #[must_use]
    pub fn builds(&self) -> Vec<FakeBuild> {
        self.lock().builds.clone()
    }

    /// Containers of `image` follow `script` (and the image is present).
    pub fn script_image(&self, image: &str, script: Script) -> &Self {
        let mut state = self.lock();
        state.images.insert(image.to_owned());
        state.by_image.insert(image.to_owned(), script);
        self
    }

    /// Containers labelled as service `service` follow `script`.
    pub fn script_service(&self, service: &str, script: Script) -> &Self {
        self.lock().by_service.insert(service.to_owned(), script);
        self
    }

    /// The container named `name` follows `script` (checked before the
    /// service and the image).
    pub fn script_container(&self, name: &str, script: Script) -> &Self {
        self.lock().by_name.insert(name.to_owned(), script);
        self
    }

    /// Containers no other script matches follow `script` (else
    /// [`Script::new`]).
    pub fn script_default(&self, script: Script) -> &Self {
        self.lock().default_script = Some(script);
        self
    }

    /// The next call of `op` on `object` (a container's name, a network's,
    /// ...) fails with an [`EngineError::Failed`] carrying `message`.
    pub fn fail_next(&self, op: Op, object: &str, message: &str) -> &Self {
        self.lock()
            .failures
            .push((op, object.to_owned(), message.to_owned()));
        self
    }

    /// The virtual time since the fake was made.
    #[must_use]
    pub fn now(&self) -> Duration {
        self.shared.epoch.elapsed()
    }

    /// Every call and happening so far, in order.
    #[must_use]
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The calls of one kind, in order.
    #[must_use]
    pub fn calls_of(&self, op: Op) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.op == op)
            .cloned()
            .collect()
    }

    /// When `op` first happened to `object`.
    #[must_use]
    pub fn first(&self, op: Op, object: &str) -> Option<Duration> {
        self.lock()
            .calls
            .iter()
            .find(|c| c.op == op && c.object == object)
            .map(|c| c.at)
    }

    /// When the container named `name` last became running.
    #[must_use]
    pub fn running_at(&self, name: &str) -> Option<Duration> {
        self.lock()
            .calls
            .iter()
            .rev()
            .find(|c| c.op == Op::Running && c.object == name)
            .map(|c| c.at)
    }

    /// When a run of the healthcheck test first passed in container `name`,
    /// run by muster (exec) or by the engine, whichever came first.
    #[must_use]
    pub fn probe_passed_at(&self, name: &str) -> Option<Duration> {
        self.lock()
            .calls
            .iter()
            .find(|c| {
                matches!(c.op, Op::Exec | Op::HealthCheck)
                    && c.object == name
                    && c.detail == "exit 0"
            })
            .map(|c| c.at)
    }

    /// When each exec in container `name` ended, in order.
    #[must_use]
    pub fn exec_times(&self, name: &str) -> Vec<Duration> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.op == Op::Exec && c.object == name)
            .map(|c| c.at)
            .collect()
    }

    /// Every container, as `list_containers` would list it.
    #[must_use]
    pub fn containers(&self) -> Vec<ContainerSummary> {
        let state = self.lock();
        state
            .containers
            .values()
            .map(FakeContainer::summary)
            .collect()
    }

    /// The names of the networks.
    #[must_use]
    pub fn network_names(&self) -> Vec<String> {
        self.lock().networks.keys().cloned().collect()
    }

    /// The names of the volumes.
    #[must_use]
    pub fn volume_names(&self) -> Vec<String> {
        self.lock().volumes.keys().cloned().collect()
    }

    /// A file [`Engine::upload_archive`] put into a container (by name or
    /// id), by its full path.
    #[must_use]
    pub fn file_in(&self, container: &str, path: &str) -> Option<Vec<u8>> {
        let state = self.lock();
        state.find(container)?.files.get(path).cloned()
    }

    /// The spec a container was created with.
    #[must_use]
    pub fn spec_of(&self, name: &str) -> Option<ContainerSpec> {
        let state = self.lock();
        state.find(name).map(|c| c.spec.clone())
    }

    /// Every recorded call, one per line, for failure messages.
    #[must_use]
    pub fn transcript(&self) -> String {
        self.lock()
            .calls
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Records a call and takes an injected failure for it, if any.
    fn call(&self, state: &mut State, op: Op, object: &str) -> Result<(), EngineError> {
        state.calls.push(Call {
            at: self.now(),
            op,
            object: object.to_owned(),
            detail: String::new(),
        });
        state.take_failure(op, object)
    }

    fn record(&self, state: &mut State, op: Op, object: &str, detail: String) {
        state.calls.push(Call {
            at: self.now(),
            op,
            object: object.to_owned(),
            detail,
        });
    }

    /// Records and broadcasts a container event, under the state lock.
    fn emit(
        &self,
        state: &mut State,
        id: &str,
        action: EventAction,
        raw: &str,
        extra: &[(&str, String)],
    ) {
        let Some(container) = state.containers.get(id) else {
            return;
        };
        let mut attributes = container.spec.labels.clone();
        attributes.insert("name".into(), container.spec.name.clone());
        attributes.insert("image".into(), container.spec.image.clone());
        for (k, v) in extra {
            attributes.insert((*k).to_owned(), v.clone());
        }
        let event = EngineEvent {
            object: EventObject::Container,
            action,
            raw_action: raw.to_owned(),
            id: id.to_owned(),
            attributes,
            time: Some(SystemTime::now()),
        };
        state.history.push(event.clone());
        let _ = self.events.send(event);
    }
}

impl State {
    /// The id `image` has now: `sha256:<name>`, with `@<n>` after its n-th
    /// rebuild.
    fn image_id(&self, image: &str) -> String {
        if let Some((id, _)) = self.image_meta.get(image) {
            return id.clone();
        }
        match self.image_builds.get(image) {
            None | Some(0) => format!("sha256:{image}"),
            Some(n) => format!("sha256:{image}@{n}"),
        }
    }

    /// Fails with the failure injected for `op` on `object`, if any.
    fn take_failure(&mut self, op: Op, object: &str) -> Result<(), EngineError> {
        if let Some(i) = self
            .failures
            .iter()
            .position(|(o, name, _)| *o == op && name == object)
        {
            let (_, object, message) = self.failures.remove(i);
            return Err(EngineError::Failed {
                op: verb(op),
                object: format!("{} {object}", noun(op)),
                status: Some(500),
                message,
            });
        }
        Ok(())
    }

    /// A container by id, id prefix or name.
    fn find(&self, key: &str) -> Option<&FakeContainer> {
        let id = self.id_of(key)?;
        self.containers.get(&id)
    }

    fn id_of(&self, key: &str) -> Option<String> {
        if self.containers.contains_key(key) {
            return Some(key.to_owned());
        }
        self.containers
            .values()
            .find(|c| c.spec.name == key || (key.len() >= 12 && c.id.starts_with(key)))
            .map(|c| c.id.clone())
    }

    /// The name of the container `key` names, or `key` itself.
    fn name_of(&self, key: &str) -> String {
        self.find(key)
            .map_or_else(|| key.to_owned(), |c| c.spec.name.clone())
    }

    fn script_for(&self, spec: &ContainerSpec) -> Script {
        self.by_name
            .get(&spec.name)
            .or_else(|| {
                spec.labels
                    .get(SERVICE_LABEL)
                    .and_then(|s| self.by_service.get(s))
            })
            .or_else(|| self.by_image.get(&spec.image))
            .or(self.default_script.as_ref())
            .cloned()
            .unwrap_or_else(Script::new)
    }
}

fn verb(op: Op) -> &'static str {
    match op {
        Op::Ping => "ping",
        Op::Version => "read the version of",
        Op::ListContainers | Op::ListNetworks | Op::ListVolumes => "list",
        Op::InspectContainer | Op::InspectImage => "inspect",
        Op::CreateContainer | Op::CreateNetwork | Op::CreateVolume => "create",
        Op::StartContainer | Op::Running => "start",
        Op::StopContainer => "stop",
        Op::KillContainer => "kill",
        Op::RemoveContainer | Op::RemoveNetwork | Op::RemoveVolume | Op::RemoveImage => "remove",
        Op::BuildImage => "build",
        Op::TagImage => "tag",
        Op::UploadArchive => "copy files into",
        Op::WaitContainer | Op::Exited => "wait for",
        Op::Exec | Op::HealthCheck => "run",
        Op::Logs => "read the logs of",
        Op::Events => "watch",
        Op::ConnectNetwork => "connect",
        Op::DisconnectNetwork => "disconnect",
    }
}

fn noun(op: Op) -> &'static str {
    match op {
        Op::CreateNetwork | Op::ListNetworks | Op::RemoveNetwork => "network",
        Op::CreateVolume | Op::ListVolumes | Op::RemoveVolume => "volume",
        Op::InspectImage | Op::RemoveImage | Op::BuildImage | Op::TagImage => "image",
        Op::Ping | Op::Version | Op::Events => "engine",
        _ => "container",
    }
}

fn not_found(op: &'static str, kind: &str, object: &str) -> EngineError {
    EngineError::NotFound {
        op,
        object: format!("{kind} {object}"),
        message: format!("No such {kind}: {object}"),
    }
}

fn conflict(op: &'static str, kind: &str, object: &str, message: String) -> EngineError {
    EngineError::Conflict {
        op,
        object: format!("{kind} {object}"),
        message,
    }
}

/// The labels of a Dockerfile's `LABEL "key"="value" ...` lines (the
/// double-quoted form muster writes).
fn dockerfile_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("LABEL ") else {
            continue;
        };
        let mut words = Vec::new();
        let mut current = String::new();
        let mut chars = rest.chars();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' if quoted => current.extend(chars.next()),
                '"' if quoted => {
                    words.push(std::mem::take(&mut current));
                    quoted = false;
                }
                '"' => quoted = true,
                _ if quoted => current.push(c),
                _ => {}
            }
        }
        for pair in words.chunks(2) {
            if let [k, v] = pair {
                labels.insert(k.clone(), v.clone());
            }
        }
    }
    labels
}

fn matches_labels(labels: &BTreeMap<String, String>, filters: &[LabelFilter]) -> bool {
    filters.iter().all(|f| match &f.value {
        Some(v) => labels.get(&f.key) == Some(v),
        None => labels.contains_key(&f.key),
    })
}

/// The healthcheck the engine would run, with its defaults filled in.
#[derive(Debug, Clone, Copy)]
struct Timing {
    interval: Duration,
    timeout: Duration,
    retries: u32,
    start_period: Duration,
    start_interval: Duration,
}

impl Timing {
    fn of(spec: Option<&HealthcheckSpec>) -> Option<Self> {
        let spec = spec?;
        match spec.test.first().map(String::as_str) {
            None | Some("NONE") => return None,
            Some(_) => {}
        }
        let interval = spec.interval.unwrap_or(Duration::from_secs(30));
        Some(Self {
            interval,
            timeout: spec.timeout.unwrap_or(Duration::from_secs(30)),
            retries: spec.retries.unwrap_or(3),
            start_period: spec.start_period.unwrap_or_default(),
            start_interval: spec.start_interval.unwrap_or(interval),
        })
    }

    /// The pause before the check after `elapsed`.
    fn step(self, elapsed: Duration) -> Duration {
        if elapsed < self.start_period {
            self.start_interval
        } else {
            self.interval
        }
        .max(Duration::from_millis(1))
    }
}

impl FakeContainer {
    fn summary(&self) -> ContainerSummary {
        ContainerSummary {
            id: self.id.clone(),
            names: vec![self.spec.name.clone()],
            image: self.spec.image.clone(),
            image_id: self.image_id.clone(),
            labels: self.spec.labels.clone(),
            state: self.state,
            status: match self.state {
                ContainerState::Running => "Up".to_owned(),
                ContainerState::Exited => format!("Exited ({})", self.exit_code),
                other => other.to_string(),
            },
            health: self.health.as_ref().map(|h| h.status),
            ports: self.ports.clone(),
            created: Some(self.created),
        }
    }

    fn details(&self, networks: &BTreeMap<String, NetworkSummary>) -> ContainerDetails {
        ContainerDetails {
            id: self.id.clone(),
            name: self.spec.name.clone(),
            image: self.spec.image.clone(),
            image_id: self.image_id.clone(),
            created: Some(self.created),
            labels: self.spec.labels.clone(),
            config_hash: self
                .spec
                .labels
                .get("com.docker.compose.config-hash")
                .cloned(),
            status: ContainerStatus {
                state: self.state,
                running: self.state == ContainerState::Running,
                paused: false,
                restarting: false,
                oom_killed: false,
                dead: self.state == ContainerState::Dead,
                pid: if self.state == ContainerState::Running {
                    4242
                } else {
                    0
                },
                exit_code: self.exit_code,
                error: String::new(),
                started_at: self.started_at,
                finished_at: self.finished_at,
                health: self.health.clone(),
            },
            restart_count: 0,
            ports: self.ports.clone(),
            networks: self
                .networks
                .iter()
                .map(|a| {
                    let endpoint = NetworkEndpoint {
                        network_id: networks
                            .get(&a.network)
                            .map_or_else(String::new, |n| n.id.clone()),
                        aliases: a.aliases.clone(),
                        ip_address: a.ipv4_address.clone(),
                    };
                    (a.network.clone(), endpoint)
                })
                .collect(),
            mounts: Vec::new(),
            env: self
                .spec
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            cmd: self.spec.cmd.clone().unwrap_or_default(),
            entrypoint: self.spec.entrypoint.clone().unwrap_or_default(),
            healthcheck: self.spec.healthcheck.clone(),
        }
    }
}

impl FakeEngine {
    /// Marks a running container stopped with `code`, ending its run.
    fn halt(shared: &Shared, state: &mut State, id: &str, code: i64) {
        let name = {
            let Some(c) = state.containers.get_mut(id) else {
                return;
            };
            if !c.state.is_up() {
                return;
            }
            c.state = ContainerState::Exited;
            c.exit_code = code;
            c.finished_at = Some(SystemTime::now());
            c.running_since = None;
            c.run += 1;
            c.spec.name.clone()
        };
        shared.record(state, Op::Exited, &name, format!("exit {code}"));
        shared.emit(
            state,
            id,
            EventAction::Die,
            "die",
            &[("exitCode", code.to_string())],
        );
    }

    /// Plays one run of a container: the engine's healthchecks and the exit.
    async fn live(shared: Arc<Shared>, id: String, run: u64, started: Instant) {
        let (script, timing) = {
            let state = shared.lock();
            let Some(c) = state.containers.get(&id) else {
                return;
            };
            let timing =
                Timing::of(c.spec.healthcheck.as_ref()).filter(|_| !c.script.no_engine_checks);
            (c.script.clone(), timing)
        };
        let exit_at = script.exit.map(|(after, code)| (started + after, code));
        let mut next_check = timing.map(|t| started + t.step(Duration::ZERO));
        loop {
            let exit_first = match (exit_at, next_check) {
                (Some((exit, _)), Some(check)) => exit <= check,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return,
            };
            let at = if exit_first {
                exit_at.map(|(t, _)| t)
            } else {
                next_check
            };
            let Some(at) = at else { return };
            tokio::time::sleep_until(at).await;
            let mut state = shared.lock();
            let current = state
                .containers
                .get(&id)
                .is_some_and(|c| c.run == run && c.state == ContainerState::Running);
            if !current {
                return;
            }
            if exit_first {
                let code = exit_at.map_or(0, |(_, code)| code);
                Self::halt(&shared, &mut state, &id, code);
                return;
            }
            let Some(timing) = timing else { return };
            let elapsed = at - started;
            let timed_out = script.probe_duration > timing.timeout;
            let passed = !timed_out && script.probe.passes_at(elapsed);
            let (exit_code, output) = if timed_out {
                (-1, "Health check exceeded timeout\n".to_owned())
            } else if passed {
                (0, script.probe_pass_output.clone())
            } else {
                (1, script.probe_fail_output.clone())
            };
            let mut changed = None;
            let name = {
                let Some(c) = state.containers.get_mut(&id) else {
                    return;
                };
                let health = c.health.get_or_insert_with(Health::default);
                let now = SystemTime::now();
                health.log.push(HealthProbe {
                    start: Some(now),
                    end: Some(now),
                    exit_code,
                    output,
                });
                if health.log.len() > 5 {
                    health.log.remove(0);
                }
                let before = health.status;
                if passed {
                    health.failing_streak = 0;
                    health.status = HealthStatus::Healthy;
                } else if elapsed >= timing.start_period {
                    health.failing_streak += 1;
                    if health.failing_streak >= timing.retries {
                        health.status = HealthStatus::Unhealthy;
                    }
                }
                if health.status != before {
                    changed = Some(health.status);
                }
                c.spec.name.clone()
            };
            shared.record(
                &mut state,
                Op::HealthCheck,
                &name,
                format!("exit {exit_code}"),
            );
            if let Some(status) = changed {
                shared.emit(
                    &mut state,
                    &id,
                    EventAction::HealthStatus(status),
                    &format!("health_status: {status}"),
                    &[],
                );
            }
            next_check = Some(at + timing.step(elapsed));
        }
    }
}

impl Engine for FakeEngine {
    fn ping(&self) -> EngineFuture<'_, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared.call(&mut state, Op::Ping, "engine")
        })
    }

    fn version(&self) -> EngineFuture<'_, EngineVersion> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared.call(&mut state, Op::Version, "engine")?;
            Ok(EngineVersion {
                version: "fake".into(),
                api_version: ApiVersion::MINIMUM,
                min_api_version: Some(ApiVersion::new(1, 12)),
                negotiated: ApiVersion::MINIMUM,
                os: "linux".into(),
                arch: "amd64".into(),
            })
        })
    }

    fn list_containers<'a>(
        &'a self,
        labels: &'a [LabelFilter],
    ) -> EngineFuture<'a, Vec<ContainerSummary>> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared
                .call(&mut state, Op::ListContainers, "containers")?;
            Ok(state
                .containers
                .values()
                .filter(|c| matches_labels(&c.spec.labels, labels))
                .map(FakeContainer::summary)
                .collect())
        })
    }

    fn inspect_container<'a>(&'a self, container: &'a str) -> EngineFuture<'a, ContainerDetails> {
        Box::pin(async move {
            let mut state = self.lock();
            let name = state.name_of(container);
            self.shared.call(&mut state, Op::InspectContainer, &name)?;
            let state = &*state;
            state
                .find(container)
                .map(|c| c.details(&state.networks))
                .ok_or_else(|| not_found("inspect", "container", container))
        })
    }

    fn create_container<'a>(&'a self, spec: &'a ContainerSpec) -> EngineFuture<'a, String> {
        Box::pin(async move {
            let delay = {
                let mut state = self.lock();
                self.shared
                    .call(&mut state, Op::CreateContainer, &spec.name)?;
                state.script_for(spec).create_delay
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut state = self.lock();
            if !state.images.contains(&spec.image) {
                return Err(EngineError::ImageMissing {
                    container: spec.name.clone(),
                    image: spec.image.clone(),
                });
            }
            if spec.name.is_empty() {
                return Err(EngineError::InvalidSpec {
                    object: "container".into(),
                    message: "the name is empty".into(),
                });
            }
            if state.id_of(&spec.name).is_some() {
                return Err(conflict(
                    "create",
                    "container",
                    &spec.name,
                    format!(
                        "Conflict. The container name \"/{}\" is already in use",
                        spec.name
                    ),
                ));
            }
            if spec.network_mode.is_none() {
                for attachment in &spec.networks {
                    if !state.networks.contains_key(&attachment.network) {
                        return Err(not_found("create", "network", &attachment.network));
                    }
                }
            }
            state.next_id += 1;
            let id = format!("{:064x}", state.next_id);
            let script = state.script_for(spec);
            let ports = spec
                .ports
                .iter()
                .map(|p| PortMapping {
                    container_port: p.container_port,
                    protocol: p.protocol,
                    host_ip: p
                        .published
                        .as_ref()
                        .map(|p| p.host_ip.clone().unwrap_or_else(|| "0.0.0.0".into())),
                    host_port: None,
                })
                .collect();
            let container = FakeContainer {
                id: id.clone(),
                image_id: state.image_id(&spec.image),
                spec: spec.clone(),
                logs: Vec::new(),
                files: BTreeMap::new(),
                script,
                created: SystemTime::now(),
                state: ContainerState::Created,
                exit_code: 0,
                started_at: None,
                finished_at: None,
                running_since: None,
                health: None,
                run: 0,
                networks: if spec.network_mode.is_none() {
                    spec.networks.clone()
                } else {
                    Vec::new()
                },
                ports,
            };
            state.containers.insert(id.clone(), container);
            self.shared
                .emit(&mut state, &id, EventAction::Create, "create", &[]);
            Ok(id)
        })
    }

    fn start_container<'a>(&'a self, container: &'a str) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let delay = {
                let mut state = self.lock();
                let name = state.name_of(container);
                self.shared.call(&mut state, Op::StartContainer, &name)?;
                let Some(c) = state.find(container) else {
                    return Err(not_found("start", "container", container));
                };
                if c.state == ContainerState::Running {
                    return Ok(());
                }
                c.script.start_delay
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut state = self.lock();
            let Some(id) = state.id_of(container) else {
                return Err(not_found("start", "container", container));
            };
            let (run, name) = {
                let mut next_port = state.next_port;
                let Some(c) = state.containers.get_mut(&id) else {
                    return Err(not_found("start", "container", container));
                };
                if c.state == ContainerState::Running {
                    return Ok(());
                }
                c.state = ContainerState::Running;
                c.exit_code = 0;
                c.started_at = Some(SystemTime::now());
                c.finished_at = None;
                c.running_since = Some(Instant::now());
                c.run += 1;
                c.health = Timing::of(c.spec.healthcheck.as_ref()).map(|_| Health::default());
                for (port, spec) in c.ports.iter_mut().zip(&c.spec.ports) {
                    if let Some(published) = &spec.published {
                        let wanted = published.host_ports.start;
                        port.host_port = Some(if wanted == 0 {
                            next_port += 1;
                            next_port
                        } else {
                            wanted
                        });
                    }
                }
                let lines = c.script.logs.clone();
                c.logs.extend(lines);
                let run = c.run;
                let name = c.spec.name.clone();
                state.next_port = next_port;
                (run, name)
            };
            self.shared
                .record(&mut state, Op::Running, &name, String::new());
            self.shared
                .emit(&mut state, &id, EventAction::Start, "start", &[]);
            drop(state);
            tokio::spawn(Self::live(
                Arc::clone(&self.shared),
                id,
                run,
                Instant::now(),
            ));
            Ok(())
        })
    }

    fn stop_container<'a>(
        &'a self,
        container: &'a str,
        _timeout: Option<Duration>,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            let name = state.name_of(container);
            self.shared.call(&mut state, Op::StopContainer, &name)?;
            let Some(id) = state.id_of(container) else {
                return Err(not_found("stop", "container", container));
            };
            if state.containers.get(&id).is_some_and(|c| c.state.is_up()) {
                self.shared.emit(
                    &mut state,
                    &id,
                    EventAction::Kill,
                    "kill",
                    &[("signal", "15".into())],
                );
                Self::halt(&self.shared, &mut state, &id, 143);
                self.shared
                    .emit(&mut state, &id, EventAction::Stop, "stop", &[]);
            }
            Ok(())
        })
    }

    fn kill_container<'a>(
        &'a self,
        container: &'a str,
        signal: Option<&'a str>,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            let name = state.name_of(container);
            self.shared.call(&mut state, Op::KillContainer, &name)?;
            let Some(id) = state.id_of(container) else {
                return Err(not_found("kill", "container", container));
            };
            if !state.containers.get(&id).is_some_and(|c| c.state.is_up()) {
                return Err(conflict(
                    "kill",
                    "container",
                    container,
                    format!("Container {id} is not running"),
                ));
            }
            let signal = signal.unwrap_or("SIGKILL");
            self.shared.emit(
                &mut state,
                &id,
                EventAction::Kill,
                "kill",
                &[("signal", signal.to_owned())],
            );
            let code = if signal == "SIGKILL" || signal == "9" {
                137
            } else {
                143
            };
            Self::halt(&self.shared, &mut state, &id, code);
            Ok(())
        })
    }

    fn remove_container<'a>(
        &'a self,
        container: &'a str,
        options: RemoveContainerOptions,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            let name = state.name_of(container);
            self.shared.call(&mut state, Op::RemoveContainer, &name)?;
            let Some(id) = state.id_of(container) else {
                return Err(not_found("remove", "container", container));
            };
            if state.containers.get(&id).is_some_and(|c| c.state.is_up()) {
                if !options.force {
                    return Err(conflict(
                        "remove",
                        "container",
                        container,
                        format!(
                            "You cannot remove a running container {id}. Stop the container \
                             before attempting removal or force remove"
                        ),
                    ));
                }
                Self::halt(&self.shared, &mut state, &id, 137);
            }
            self.shared
                .emit(&mut state, &id, EventAction::Destroy, "destroy", &[]);
            state.containers.remove(&id);
            Ok(())
        })
    }

    fn wait_container<'a>(&'a self, container: &'a str) -> EngineFuture<'a, i64> {
        Box::pin(async move {
            let (id, mut events) = {
                let mut state = self.lock();
                let name = state.name_of(container);
                self.shared.call(&mut state, Op::WaitContainer, &name)?;
                let Some(c) = state.find(container) else {
                    return Err(not_found("wait for", "container", container));
                };
                if !c.state.is_up() {
                    return Ok(c.exit_code);
                }
                (c.id.clone(), self.shared.events.subscribe())
            };
            loop {
                match events.recv().await {
                    Ok(event) if event.id == id && event.action == EventAction::Die => {
                        return Ok(event.exit_code().unwrap_or(0));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let state = self.lock();
                        match state.containers.get(&id) {
                            Some(c) if !c.state.is_up() => return Ok(c.exit_code),
                            Some(_) => {}
                            None => return Err(not_found("wait for", "container", container)),
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(not_found("wait for", "container", container));
                    }
                }
            }
        })
    }

    fn exec<'a>(&'a self, container: &'a str, spec: &'a ExecSpec) -> EngineFuture<'a, ExecOutput> {
        Box::pin(async move {
            let (id, name, duration) = {
                let mut state = self.lock();
                let name = state.name_of(container);
                if let Err(e) = state.take_failure(Op::Exec, &name) {
                    self.shared
                        .record(&mut state, Op::Exec, &name, "failed".into());
                    return Err(e);
                }
                let Some(c) = state.find(container) else {
                    self.shared
                        .record(&mut state, Op::Exec, &name, "no such container".into());
                    return Err(not_found("run", "container", container));
                };
                if spec.cmd.is_empty() {
                    return Err(EngineError::InvalidSpec {
                        object: format!("command for container {name}"),
                        message: "the command is empty".into(),
                    });
                }
                (c.id.clone(), name, c.script.probe_duration)
            };
            let timed_out = spec.timeout.is_some_and(|t| t < duration);
            let waited = spec.timeout.map_or(duration, |t| t.min(duration));
            if !waited.is_zero() {
                tokio::time::sleep(waited).await;
            }
            let mut state = self.lock();
            let outcome = state.containers.get(&id).map(|c| {
                let running = c.state == ContainerState::Running;
                let elapsed = c.running_since.map(|s| s.elapsed());
                (running, elapsed, c.script.clone())
            });
            let Some((running, elapsed, script)) = outcome else {
                self.shared
                    .record(&mut state, Op::Exec, &name, "no such container".into());
                return Err(not_found("run", "container", container));
            };
            if !running {
                self.shared
                    .record(&mut state, Op::Exec, &name, "not running".into());
                return Err(conflict(
                    "run",
                    "container",
                    &name,
                    format!("Container {id} is not running"),
                ));
            }
            if timed_out {
                self.shared
                    .record(&mut state, Op::Exec, &name, "timed out".into());
                return Ok(ExecOutput {
                    exit_code: None,
                    output: String::new(),
                    timed_out: true,
                });
            }
            let passed = script.probe.passes_at(elapsed.unwrap_or_default());
            self.shared.record(
                &mut state,
                Op::Exec,
                &name,
                format!("exit {}", u8::from(!passed)),
            );
            Ok(ExecOutput {
                exit_code: Some(i64::from(!passed)),
                output: if passed {
                    script.probe_pass_output
                } else {
                    script.probe_fail_output
                },
                timed_out: false,
            })
        })
    }

    fn logs(&self, container: &str, options: &LogOptions) -> EngineStream<LogChunk> {
        let mut state = self.lock();
        let name = state.name_of(container);
        if let Err(e) = self.shared.call(&mut state, Op::Logs, &name) {
            return Box::pin(futures_util::stream::iter([Err(e)]));
        }
        let Some(c) = state.find(container) else {
            let err = not_found("read the logs of", "container", container);
            return Box::pin(futures_util::stream::iter([Err(err)]));
        };
        let skip = options.tail.map_or(0, |n| {
            c.logs
                .len()
                .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX))
        });
        let chunks: Vec<_> = c
            .logs
            .iter()
            .skip(skip)
            .map(|line| {
                Ok(LogChunk {
                    stream: LogStream::Stdout,
                    data: Bytes::from(format!("{line}\n")),
                })
            })
            .collect();
        Box::pin(futures_util::stream::iter(chunks))
    }

    fn events(&self, filter: &EventFilter) -> EngineStream<EngineEvent> {
        {
            let mut state = self.lock();
            if let Err(e) = self.shared.call(&mut state, Op::Events, "engine") {
                return Box::pin(futures_util::stream::iter([Err(e)]));
            }
        }
        let shared = Arc::clone(&self.shared);
        let filter = filter.clone();
        let keep = filter.clone();
        let stream = futures_util::stream::once(async move {
            // Subscribe under the lock that emits, so the backlog and the
            // live events neither overlap nor leave a gap.
            let (backlog, receiver) = {
                let state = shared.lock();
                let backlog: VecDeque<EngineEvent> = state
                    .history
                    .iter()
                    .filter(|e| match (filter.since, e.time) {
                        (Some(since), Some(time)) => time >= since,
                        (Some(_), None) => false,
                        (None, _) => false,
                    })
                    .cloned()
                    .collect();
                (backlog, shared.events.subscribe())
            };
            let live = futures_util::stream::unfold(receiver, |mut receiver| async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => return Some((event, receiver)),
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            });
            futures_util::stream::iter(backlog).chain(live)
        })
        .flatten()
        .filter(move |event| {
            let wanted = (keep.objects.is_empty() || keep.objects.contains(&event.object))
                && matches_labels(&event.attributes, &keep.labels);
            std::future::ready(wanted)
        })
        .map(Ok);
        Box::pin(stream)
    }

    fn create_network<'a>(&'a self, spec: &'a NetworkSpec) -> EngineFuture<'a, String> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared
                .call(&mut state, Op::CreateNetwork, &spec.name)?;
            if state.networks.contains_key(&spec.name) {
                return Err(conflict(
                    "create",
                    "network",
                    &spec.name,
                    format!("network with name {} already exists", spec.name),
                ));
            }
            state.next_id += 1;
            let id = format!("{:064x}", state.next_id);
            state.networks.insert(
                spec.name.clone(),
                NetworkSummary {
                    id: id.clone(),
                    name: spec.name.clone(),
                    driver: spec.driver.clone().unwrap_or_else(|| "bridge".into()),
                    labels: spec.labels.clone(),
                    internal: spec.internal,
                    attachable: spec.attachable,
                },
            );
            Ok(id)
        })
    }

    fn list_networks<'a>(
        &'a self,
        labels: &'a [LabelFilter],
    ) -> EngineFuture<'a, Vec<NetworkSummary>> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared.call(&mut state, Op::ListNetworks, "networks")?;
            Ok(state
                .networks
                .values()
                .filter(|n| matches_labels(&n.labels, labels))
                .cloned()
                .collect())
        })
    }

    fn remove_network<'a>(&'a self, network: &'a str) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            let key = state
                .networks
                .values()
                .find(|n| n.name == network || n.id == network)
                .map(|n| n.name.clone());
            self.shared.call(
                &mut state,
                Op::RemoveNetwork,
                key.as_deref().unwrap_or(network),
            )?;
            let Some(key) = key else {
                return Err(not_found("remove", "network", network));
            };
            let in_use = state
                .containers
                .values()
                .any(|c| c.networks.iter().any(|a| a.network == key));
            if in_use {
                return Err(conflict(
                    "remove",
                    "network",
                    network,
                    format!("error while removing network: network {key} has active endpoints"),
                ));
            }
            state.networks.remove(&key);
            Ok(())
        })
    }

    fn connect_network<'a>(
        &'a self,
        container: &'a str,
        attachment: &'a NetworkAttachment,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            let name = state.name_of(container);
            self.shared.call(&mut state, Op::ConnectNetwork, &name)?;
            if !state.networks.contains_key(&attachment.network) {
                return Err(not_found("connect", "network", &attachment.network));
            }
            let Some(id) = state.id_of(container) else {
                return Err(not_found("connect", "container", container));
            };
            if let Some(c) = state.containers.get_mut(&id) {
                c.networks.retain(|a| a.network != attachment.network);
                c.networks.push(attachment.clone());
            }
            Ok(())
        })
    }

    fn disconnect_network<'a>(
        &'a self,
        container: &'a str,
        network: &'a str,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            let name = state.name_of(container);
            self.shared.call(&mut state, Op::DisconnectNetwork, &name)?;
            let Some(id) = state.id_of(container) else {
                return Err(not_found("disconnect", "container", container));
            };
            if let Some(c) = state.containers.get_mut(&id) {
                c.networks.retain(|a| a.network != network);
            }
            Ok(())
        })
    }

    fn create_volume<'a>(&'a self, spec: &'a VolumeSpec) -> EngineFuture<'a, VolumeSummary> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared.call(&mut state, Op::CreateVolume, &spec.name)?;
            let volume = state
                .volumes
                .entry(spec.name.clone())
                .or_insert_with(|| VolumeSummary {
                    name: spec.name.clone(),
                    driver: spec.driver.clone().unwrap_or_else(|| "local".into()),
                    labels: spec.labels.clone(),
                    mountpoint: format!("/var/lib/docker/volumes/{}/_data", spec.name),
                });
            Ok(volume.clone())
        })
    }

    fn list_volumes<'a>(
        &'a self,
        labels: &'a [LabelFilter],
    ) -> EngineFuture<'a, Vec<VolumeSummary>> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared.call(&mut state, Op::ListVolumes, "volumes")?;
            Ok(state
                .volumes
                .values()
                .filter(|v| matches_labels(&v.labels, labels))
                .cloned()
                .collect())
        })
    }

    fn remove_volume<'a>(&'a self, volume: &'a str, _force: bool) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared.call(&mut state, Op::RemoveVolume, volume)?;
            let in_use = state.containers.values().any(|c| {
                c.spec.mounts.iter().any(|m| {
                    matches!(&m.kind, super::types::MountKind::Volume { source: Some(s), .. } if s == volume)
                })
            });
            if in_use {
                return Err(conflict(
                    "remove",
                    "volume",
                    volume,
                    format!("remove {volume}: volume is in use"),
                ));
            }
            state
                .volumes
                .remove(volume)
                .map(|_| ())
                .ok_or_else(|| not_found("remove", "volume", volume))
        })
    }

    fn inspect_image<'a>(&'a self, image: &'a str) -> EngineFuture<'a, Option<ImageDetails>> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared.call(&mut state, Op::InspectImage, image)?;
            let id = state.image_id(image);
            let labels = state
                .image_meta
                .get(image)
                .map(|(_, labels)| labels.clone())
                .unwrap_or_default();
            Ok(state.images.contains(image).then(|| ImageDetails {
                id,
                repo_tags: vec![image.to_owned()],
                volumes: state.image_volumes.get(image).cloned().unwrap_or_default(),
                labels,
                ..Default::default()
            }))
        })
    }

    fn remove_image<'a>(&'a self, image: &'a str, _force: bool) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared.call(&mut state, Op::RemoveImage, image)?;
            state.image_meta.remove(image);
            if state.images.remove(image) {
                Ok(())
            } else {
                Err(not_found("remove", "image", image))
            }
        })
    }

    fn build_image(&self, spec: &BuildSpec, context: BuildContext) -> EngineStream<BuildOutput> {
        let engine = self.clone();
        let spec = spec.clone();
        let run = async move {
            let tag = spec.tag.clone();
            let failed = {
                let mut state = engine.lock();
                engine.shared.call(&mut state, Op::BuildImage, &tag).err()
            };
            if let Some(err) = failed {
                return vec![Err(err)];
            }
            let chunks: Vec<Result<Bytes, std::io::Error>> = context.collect().await;
            let mut bytes = Vec::new();
            for chunk in chunks {
                match chunk {
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(e) => {
                        return vec![Err(EngineError::Failed {
                            op: "build",
                            object: format!("image {tag}"),
                            status: None,
                            message: format!("reading the build context: {e}"),
                        })];
                    }
                }
            }
            let mut files = Vec::new();
            let mut labels = spec.labels.clone();
            let mut archive = tar::Archive::new(bytes.as_slice());
            if let Ok(entries) = archive.entries() {
                for mut entry in entries.flatten() {
                    let Ok(path) = entry.path().map(|p| p.to_string_lossy().into_owned()) else {
                        continue;
                    };
                    if path == spec.dockerfile {
                        let mut text = String::new();
                        let _ = std::io::Read::read_to_string(&mut entry, &mut text);
                        labels.extend(dockerfile_labels(&text));
                    }
                    files.push(path);
                }
            }
            let delay = engine.lock().build_delays.get(&tag).copied();
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let mut state = engine.lock();
            let n = state.builds.len() + 1;
            let id = format!("sha256:build{n}");
            state.images.insert(tag.clone());
            state.image_meta.insert(tag.clone(), (id.clone(), labels));
            let target = spec.target.clone().unwrap_or_default();
            state.builds.push(FakeBuild { spec, files });
            vec![
                Ok(BuildOutput::Line(format!("Step 1/1 : FROM {target}"))),
                Ok(BuildOutput::ImageId(id)),
            ]
        };
        Box::pin(futures_util::stream::once(run).flat_map(futures_util::stream::iter))
    }

    fn tag_image<'a>(&'a self, image: &'a str, tag: &'a str) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            self.shared.call(&mut state, Op::TagImage, tag)?;
            let source = state
                .image_meta
                .iter()
                .find(|(name, (id, _))| name.as_str() == image || id == image)
                .map(|(_, meta)| meta.clone());
            match source {
                Some(meta) => {
                    state.images.insert(tag.to_owned());
                    state.image_meta.insert(tag.to_owned(), meta);
                    Ok(())
                }
                None if state.images.contains(image) => {
                    state.images.insert(tag.to_owned());
                    Ok(())
                }
                None => Err(not_found("tag", "image", image)),
            }
        })
    }

    fn upload_archive<'a>(
        &'a self,
        container: &'a str,
        path: &'a str,
        archive: bytes::Bytes,
    ) -> EngineFuture<'a, ()> {
        Box::pin(async move {
            let mut unpacked = Vec::new();
            let mut tar = tar::Archive::new(&archive[..]);
            let entries = tar.entries().map_err(|e| EngineError::InvalidSpec {
                object: format!("archive for container {container}"),
                message: e.to_string(),
            })?;
            for entry in entries {
                let mut entry = entry.map_err(|e| EngineError::InvalidSpec {
                    object: format!("archive for container {container}"),
                    message: e.to_string(),
                })?;
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                let name = entry
                    .path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut content = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut content).map_err(|e| {
                    EngineError::InvalidSpec {
                        object: format!("archive for container {container}"),
                        message: e.to_string(),
                    }
                })?;
                let full = format!("{}/{}", path.trim_end_matches('/'), name);
                unpacked.push((full, content));
            }
            let mut state = self.lock();
            let name = state.name_of(container);
            let detail = unpacked
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(",");
            if let Err(e) = state.take_failure(Op::UploadArchive, &name) {
                self.shared
                    .record(&mut state, Op::UploadArchive, &name, "failed".into());
                return Err(e);
            }
            let Some(id) = state.find(container).map(|c| c.id.clone()) else {
                return Err(not_found("copy files into", "container", container));
            };
            self.shared
                .record(&mut state, Op::UploadArchive, &name, detail);
            if let Some(c) = state.containers.get_mut(&id) {
                c.files.extend(unpacked);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, healthcheck: Option<HealthcheckSpec>) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            image: "img".into(),
            healthcheck,
            ..Default::default()
        }
    }

    fn check(interval_ms: u64, retries: u32) -> HealthcheckSpec {
        HealthcheckSpec {
            test: vec!["CMD".into(), "true".into()],
            interval: Some(Duration::from_millis(interval_ms)),
            retries: Some(retries),
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_scripted_container_runs_checks_and_exits_on_time() {
        let engine = FakeEngine::new();
        engine.script_image(
            "img",
            Script::new()
                .start_delay(Duration::from_millis(200))
                .passes_after(Duration::from_secs(2))
                .exits_after(Duration::from_secs(5), 3),
        );
        let since = SystemTime::now();
        let mut events = engine.events(&EventFilter {
            since: Some(since),
            ..Default::default()
        });
        let id = engine
            .create_container(&spec("a", Some(check(1000, 3))))
            .await
            .unwrap();
        engine.start_container(&id).await.unwrap();
        assert_eq!(engine.running_at("a"), Some(Duration::from_millis(200)));
        let code = engine.wait_container("a").await.unwrap();
        assert_eq!(code, 3);
        assert_eq!(engine.now(), Duration::from_millis(5200));
        assert_eq!(
            engine.probe_passed_at("a"),
            Some(Duration::from_millis(2200))
        );

        let mut seen = Vec::new();
        while let Some(Ok(event)) = events.next().await {
            seen.push(event.raw_action.clone());
            if event.action == EventAction::Die {
                assert_eq!(event.exit_code(), Some(3));
                break;
            }
        }
        assert_eq!(seen, ["create", "start", "health_status: healthy", "die"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_check_turns_unhealthy_after_its_retries() {
        let engine = FakeEngine::new();
        engine.script_image("img", Script::new().never_passes());
        engine
            .create_container(&spec("a", Some(check(500, 2))))
            .await
            .unwrap();
        engine.start_container("a").await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let details = engine.inspect_container("a").await.unwrap();
        let health = details.status.health.unwrap();
        assert_eq!(health.status, HealthStatus::Unhealthy);
        assert_eq!(health.failing_streak, 2);
        assert_eq!(health.log.len(), 2);
        assert_eq!(health.log[0].output, "not ready\n");
    }

    #[tokio::test(start_paused = true)]
    async fn exec_answers_the_probe_truth_when_it_ends() {
        let engine = FakeEngine::new();
        engine.script_image(
            "img",
            Script::new()
                .passes_after(Duration::from_millis(300))
                .probe_duration(Duration::from_millis(100)),
        );
        engine.create_container(&spec("a", None)).await.unwrap();
        engine.start_container("a").await.unwrap();
        let probe = ExecSpec {
            cmd: vec!["true".into()],
            timeout: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        assert!(!engine.exec("a", &probe).await.unwrap().success());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(engine.exec("a", &probe).await.unwrap().success());
        assert_eq!(
            engine.exec_times("a"),
            [Duration::from_millis(100), Duration::from_millis(300)]
        );
        let short = ExecSpec {
            timeout: Some(Duration::from_millis(50)),
            ..probe
        };
        assert!(engine.exec("a", &short).await.unwrap().timed_out);
    }

    #[tokio::test(start_paused = true)]
    async fn events_replay_since_and_filter_by_label() {
        let engine = FakeEngine::new();
        engine.add_image("img");
        let mut labelled = spec("a", None);
        labelled.labels.insert("p".into(), "1".into());
        let before = SystemTime::now();
        engine.create_container(&labelled).await.unwrap();
        engine.create_container(&spec("b", None)).await.unwrap();
        let mut events = engine.events(&EventFilter {
            labels: vec![LabelFilter::equals("p", "1")],
            since: Some(before),
            ..Default::default()
        });
        let first = events.next().await.unwrap().unwrap();
        assert_eq!(
            (first.name(), &first.action),
            (Some("a"), &EventAction::Create)
        );
        engine.start_container("b").await.unwrap();
        engine.start_container("a").await.unwrap();
        let next = events.next().await.unwrap().unwrap();
        assert_eq!(
            (next.name(), &next.action),
            (Some("a"), &EventAction::Start)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn names_conflict_and_missing_images_are_errors() {
        let engine = FakeEngine::new();
        let err = engine.create_container(&spec("a", None)).await.unwrap_err();
        assert!(matches!(err, EngineError::ImageMissing { .. }), "{err}");
        engine.add_image("img");
        engine.create_container(&spec("a", None)).await.unwrap();
        let err = engine.create_container(&spec("a", None)).await.unwrap_err();
        assert!(err.is_conflict(), "{err}");
        engine.fail_next(Op::StartContainer, "a", "port is already allocated");
        let err = engine.start_container("a").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to start container a: port is already allocated"
        );
        engine.start_container("a").await.unwrap();
        let err = engine
            .remove_container("a", RemoveContainerOptions::default())
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{err}");
    }
}
