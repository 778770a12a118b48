//! Integration-test stacks: a compose project brought up for one test,
//! ready, under a name of its own, and never left behind.
//!
//! Teams already describe their backing services (a database, a cache, a
//! migration job) in a compose file. A test asks for that stack with one
//! call and gets a [`Stack`]: every service is up and ready by the same
//! rules as `muster up` (healthchecks pass, one-shot jobs exited 0), each
//! published port has a host address, and dropping the handle tears it all
//! down (`down -v`), also when the test panics.
//!
//! ```no_run
//! use muster::harness::Compose;
//!
//! # async fn demo() -> Result<(), muster::harness::HarnessError> {
//! let stack = Compose::file("tests/compose.yaml").up().await?;
//! let db = stack.endpoint("db", 5432)?; // 127.0.0.1:49157
//! let out = stack.exec("db", ["sh", "-c", "echo ok"]).await?;
//! assert_eq!(out.exit_code, Some(0));
//! stack.down().await?; // or just let it drop
//! # let _ = db;
//! # Ok(()) }
//! ```
//!
//! # Coming from testcontainers
//!
//! | testcontainers | muster |
//! |---|---|
//! | `DockerCompose::with_local_client(&["compose.yaml"])` | [`Compose::file`]`("compose.yaml")` |
//! | `.with_env("K", "v")` | [`Compose::env`] |
//! | `.up().await` (shells out to `docker compose up -d`) | [`Compose::up`] (in-process, waits for healthchecks and one-shot jobs, fails with the probe output and log tail) |
//! | `compose.service("db")?.get_host_port_ipv4(5432)` | [`Stack::endpoint`]`("db", 5432)` |
//! | `container.exec(cmd)` | [`Stack::exec`] |
//! | `container.stdout_to_vec()` | [`Stack::logs`] |
//! | drop of the container | drop of the [`Stack`] (any runtime flavour, or none) |
//!
//! # Theory of operation
//!
//! 1. **Load** the files as `muster up` does (`.env`, overrides, profiles,
//!    interpolation from the process environment plus [`Compose::env`]).
//! 2. **Name** the project uniquely: `<name>-t<pid>-<n><stamp>`, so tests
//!    that bring the same file up in parallel, in one process or several,
//!    never share a container; publish every port on a free host port
//!    (unless [`Compose::fixed_host_ports`]), so they never share a port. Every container is labelled with its owner
//!    (host, pid, process start time; see [`owner`]).
//! 3. **Prune** (once per process): stacks whose owning process is gone
//!    (a test run that was killed) are removed first.
//! 4. **Up**: [`crate::orchestrator::up::up`] with `wait`, an overall
//!    timeout and per-service timeouts. On failure, what was started is
//!    taken down again before the error returns.
//! 5. **Drop** tears down on a thread of its own with its own runtime and
//!    engine connection, and joins it: this never needs the caller's
//!    runtime, so it works from a `current_thread` runtime, a
//!    `multi_thread` one, while a panic unwinds, or outside any runtime.

pub mod error;
pub mod owner;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;

pub use crate::engine::ExecOutput;
pub use error::HarnessError;

use crate::engine::{
    ContainerSummary, DockerEngine, Engine, EventFilter, EventObject, ExecSpec, LogOptions,
    Protocol,
};
use crate::model::{LoadedProject, ProjectOptions};
use crate::orchestrator::down::DownSummary;
use crate::orchestrator::events::{Reporter, Silent};
use crate::orchestrator::readiness::{
    self, Deadline, HealthTiming, ProbeSlots, Requirement, StateWatch, WaitFor,
};
use crate::orchestrator::spec::{self, labels as compose};
use crate::orchestrator::up::{UpOptions, UpSummary, up};

/// How long [`Compose::up`] waits for the whole stack by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A compose project to bring up for a test: which files, which services,
/// which environment, how long to wait. Build it, then call
/// [`up`](Compose::up).
#[derive(Clone)]
pub struct Compose {
    options: ProjectOptions,
    services: Vec<String>,
    completes: Vec<String>,
    project_name: Option<String>,
    timeout: Duration,
    service_timeouts: BTreeMap<String, Duration>,
    stop_timeout: Duration,
    keep: bool,
    prune: bool,
    fixed_host_ports: bool,
    engine: Option<Arc<dyn Engine>>,
    reporter: Arc<dyn Reporter>,
}

impl std::fmt::Debug for Compose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compose")
            .field("files", &self.options.files)
            .field("profiles", &self.options.profiles)
            .field("services", &self.services)
            .field("project_name", &self.project_name)
            .field("timeout", &self.timeout)
            .field("service_timeouts", &self.service_timeouts)
            .finish_non_exhaustive()
    }
}

impl Compose {
    /// The project of one compose file. A relative path is taken from the
    /// current directory (the package root, under `cargo test`); the file's
    /// directory is the project directory (its `.env` is read).
    #[must_use]
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::new().with_file(path)
    }

    /// The project compose finds in `dir` (`compose.yaml`,
    /// `docker-compose.yml`, ..., plus its `*.override.*` file).
    #[must_use]
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        let mut compose = Self::new();
        compose.options.working_dir = dir.into();
        compose
    }

    /// The project the given options describe, as the CLI reads them.
    #[must_use]
    pub fn from_options(options: ProjectOptions) -> Self {
        Self {
            options,
            ..Self::new()
        }
    }

    fn new() -> Self {
        let options = ProjectOptions::from_process().unwrap_or_else(|_| ProjectOptions {
            environment: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            ..ProjectOptions::default()
        });
        Self {
            options,
            services: Vec::new(),
            completes: Vec::new(),
            project_name: None,
            timeout: DEFAULT_TIMEOUT,
            service_timeouts: BTreeMap::new(),
            stop_timeout: Duration::ZERO,
            keep: false,
            prune: true,
            fixed_host_ports: false,
            engine: None,
            reporter: Arc::new(Silent),
        }
    }

    /// Adds a compose file; later files override earlier ones, as with
    /// several `-f`.
    #[must_use]
    pub fn with_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.files.push(path.into());
        self
    }

    /// Enables a profile.
    #[must_use]
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.options.profiles.push(profile.into());
        self
    }

    /// Sets a variable for interpolating the files (over the process
    /// environment and `.env`).
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.environment.insert(key.into(), value.into());
        self
    }

    /// Reads variables from this file instead of the project's `.env`
    /// (repeatable, as `--env-file`).
    #[must_use]
    pub fn env_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.env_files.push(path.into());
        self
    }

    /// Brings up only these services and what they depend on (repeatable;
    /// by default every service the enabled profiles allow).
    #[must_use]
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.services.push(service.into());
        self
    }

    /// Brings up only these services and what they depend on.
    #[must_use]
    pub fn services<I, S>(mut self, services: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.services.extend(services.into_iter().map(Into::into));
        self
    }

    /// Also waits until this one-shot job (a migration, a seed) has exited
    /// 0, though no other service depends on it; exiting otherwise fails
    /// [`up`](Compose::up) with its exit code and log tail. (A job others
    /// depend on with `service_completed_successfully` is waited for
    /// anyway.)
    #[must_use]
    pub fn completes(mut self, service: impl Into<String>) -> Self {
        self.completes.push(service.into());
        self
    }

    /// Uses this project name instead of a fresh unique one. Two stacks
    /// with one name are one stack: only for a test that knows it runs
    /// alone.
    #[must_use]
    pub fn project_name(mut self, name: impl Into<String>) -> Self {
        self.project_name = Some(name.into());
        self
    }

    /// How long to wait for the whole stack to be ready (default
    /// [`DEFAULT_TIMEOUT`]); healthchecks give up by their own rules first.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long to wait for one service to be ready, counted from when
    /// `up` began.
    #[must_use]
    pub fn service_timeout(mut self, service: impl Into<String>, timeout: Duration) -> Self {
        self.service_timeouts.insert(service.into(), timeout);
        self
    }

    /// How long each container gets to stop at teardown before it is
    /// killed (default zero: a test stack is thrown away).
    #[must_use]
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Leaves the stack up when the handle is dropped, for debugging; its
    /// containers are labelled so that the harness does not prune it. Take
    /// it down with `muster down -p <name> -v` (the name is
    /// [`Stack::project_name`]).
    #[must_use]
    pub fn keep(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Keeps the host ports the file gives (`"5432:5432"`). By default every
    /// published port goes to a free host port, whatever the file says, so
    /// that a file written for development can be brought up by tests
    /// running side by side; [`Stack::endpoint`] says where each went.
    #[must_use]
    pub fn fixed_host_ports(mut self, fixed: bool) -> Self {
        self.fixed_host_ports = fixed;
        self
    }

    /// Whether to remove stacks left behind by killed test processes
    /// before the first stack of this process comes up (default on).
    #[must_use]
    pub fn prune_abandoned(mut self, prune: bool) -> Self {
        self.prune = prune;
        self
    }

    /// Uses this engine rather than connecting to Docker as the docker CLI
    /// would (`DOCKER_HOST`). Teardown on drop then calls it from a thread
    /// and runtime of its own.
    #[must_use]
    pub fn engine(mut self, engine: Arc<dyn Engine>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Receives `up`'s progress events (silent by default).
    #[must_use]
    pub fn reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    /// Loads the project (under its unique name, with the owner labels),
    /// without touching the engine.
    ///
    /// # Errors
    /// [`HarnessError::Load`] when the files cannot be read or are invalid.
    pub fn load(&self) -> Result<LoadedProject, HarnessError> {
        let mut loaded = crate::model::load(&self.options).map_err(HarnessError::Load)?;
        let name = self
            .project_name
            .clone()
            .unwrap_or_else(|| unique_name(&loaded.name));
        loaded.name.clone_from(&name);
        loaded.project.name = Some(name);
        let owner = owner::owner_labels(self.keep);
        for service in loaded.project.services.values_mut() {
            service.labels.extend(owner.clone());
            if !self.fixed_host_ports {
                for port in &mut service.ports {
                    port.published = None;
                }
            }
        }
        // The networks too, so a stack killed before its containers were
        // created can be told apart by `docker network ls`.
        loaded
            .project
            .networks
            .entry("default".to_owned())
            .or_default();
        for network in loaded.project.networks.values_mut() {
            if !network.external {
                network.labels.extend(owner.clone());
            }
        }
        Ok(loaded)
    }

    /// Brings the stack up and waits until every selected service is ready
    /// (healthy when it has a healthcheck, else running; one-shot jobs
    /// others depend on exited 0).
    ///
    /// # Errors
    /// [`HarnessError::Load`] for a bad file, [`HarnessError::Connect`]
    /// without an engine, [`HarnessError::Up`] when a service failed: its
    /// message holds `up`'s forensics (exit code or health, last probe
    /// outputs, last log lines). Whatever was started is taken down again
    /// before it returns.
    pub async fn up(self) -> Result<Stack, HarnessError> {
        let loaded = self.load()?;
        let (engine, reconnect) = match &self.engine {
            Some(engine) => (Arc::clone(engine), false),
            None => {
                let engine = DockerEngine::connect()
                    .await
                    .map_err(HarnessError::Connect)?;
                (Arc::new(engine) as Arc<dyn Engine>, true)
            }
        };
        if self.prune {
            prune_once(&*engine, &*self.reporter).await;
        }
        let mut guard = Teardown {
            engine: Arc::clone(&engine),
            reconnect,
            project: loaded.name.clone(),
            stop_timeout: self.stop_timeout,
            armed: !self.keep,
        };
        let options = UpOptions {
            services: self.services.clone(),
            wait: true,
            wait_timeout: Some(self.timeout),
            service_timeouts: self.service_timeouts.clone(),
            ..UpOptions::default()
        };
        match up(
            Arc::clone(&engine),
            &loaded,
            &options,
            Arc::clone(&self.reporter),
        )
        .await
        {
            Ok(summary) => {
                let stack = Stack {
                    engine,
                    loaded,
                    summary,
                    containers: Mutex::new(Vec::new()),
                    timeout: self.timeout,
                    guard,
                };
                let ready = match stack.wait_completed(&self.completes).await {
                    Ok(()) => stack.refresh().await,
                    Err(e) => Err(e),
                };
                match ready {
                    Ok(()) => Ok(stack),
                    Err(e) => {
                        if !self.keep {
                            let _ = stack.down().await;
                        }
                        Err(e)
                    }
                }
            }
            Err(e) => {
                if guard.armed {
                    guard.armed = false;
                    // Best effort: the error that matters is `up`'s.
                    let _ = guard.run().await;
                }
                Err(HarnessError::Up(e))
            }
        }
    }
}

/// Where `muster test` writes the endpoints of `project`'s stack as JSON
/// (the file `MUSTER_ENDPOINTS` names); removed with the stack.
#[must_use]
pub fn endpoints_file(project: &str) -> PathBuf {
    std::env::temp_dir().join(format!("muster-endpoints-{project}.json"))
}

/// `<name>-t<pid>-<n><stamp>`: unique in this process by the counter,
/// among live processes by the pid, and across pid reuse by the stamp.
fn unique_name(base: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or_default()
        % 46_656; // three base-36 digits
    let base: String = base.chars().take(24).collect();
    let base = base.trim_end_matches(['-', '_']);
    format!("{base}-t{}-{n}{}", std::process::id(), base36(stamp, 3))
}

fn base36(mut n: u32, digits: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; digits];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Removes abandoned stacks once per process; failures only become notes.
async fn prune_once(engine: &dyn Engine, reporter: &dyn Reporter) {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let message = match owner::prune(engine, reporter).await {
        Ok(removed) if removed.is_empty() => return,
        Ok(removed) => format!(
            "removed test stacks left behind by test processes that are gone: {}",
            removed.join(", ")
        ),
        Err(e) => format!("could not remove abandoned test stacks: {e}"),
    };
    reporter.report(crate::orchestrator::events::Event::Note { message });
}

/// Takes a project down when dropped, unless disarmed.
struct Teardown {
    engine: Arc<dyn Engine>,
    /// Connect afresh for a teardown on drop (a [`DockerEngine`]'s pooled
    /// connections belong to the runtime that made them, which may be
    /// the very thread the drop blocks).
    reconnect: bool,
    project: String,
    stop_timeout: Duration,
    armed: bool,
}

impl Teardown {
    async fn run(&self) -> Result<DownSummary, HarnessError> {
        down_project(&*self.engine, &self.project, self.stop_timeout, &Silent).await
    }
}

async fn down_project(
    engine: &dyn Engine,
    project: &str,
    stop_timeout: Duration,
    reporter: &dyn Reporter,
) -> Result<DownSummary, HarnessError> {
    let options = crate::orchestrator::down::DownOptions {
        remove_volumes: true,
        remove_orphans: true,
        timeout: Some(stop_timeout),
        ..Default::default()
    };
    crate::orchestrator::down::down(engine, project, None, &options, reporter)
        .await
        .map_err(HarnessError::Down)
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let engine = Arc::clone(&self.engine);
        let reconnect = self.reconnect;
        let project = self.project.clone();
        let stop_timeout = self.stop_timeout;
        let joined = std::thread::Builder::new()
            .name(format!("muster-teardown-{project}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start a runtime: {e}"))?;
                runtime.block_on(async {
                    let engine: Arc<dyn Engine> = if reconnect {
                        Arc::new(DockerEngine::connect().await.map_err(|e| e.to_string())?)
                    } else {
                        engine
                    };
                    down_project(&*engine, &project, stop_timeout, &Silent)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
            })
            .map_err(|e| format!("cannot start the teardown thread: {e}"))
            .and_then(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err("the teardown thread panicked".to_owned()))
            });
        if let Err(message) = joined {
            eprintln!(
                "muster: could not tear down test stack {}: {message}; \
                 remove it with `muster down -p {} -v`",
                self.project, self.project
            );
        }
    }
}

/// A published port of a running service, as a test reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The service.
    pub service: String,
    /// The port inside the container.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// Where to reach it from the host (`127.0.0.1:49157`).
    pub address: SocketAddr,
}

impl Endpoint {
    /// The environment variable `muster test` gives it:
    /// `MUSTER_<SERVICE>_<PORT>` (`MUSTER_DB_5432`), with the service name
    /// upper-cased and anything but letters and digits turned into `_`;
    /// `_UDP` is appended for a UDP port.
    #[must_use]
    pub fn variable(&self) -> String {
        let service: String = self
            .service
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let suffix = if self.protocol == Protocol::Udp {
            "_UDP"
        } else {
            ""
        };
        format!("MUSTER_{service}_{}{suffix}", self.port)
    }
}

/// A stack that is up and ready, for one test. Dropping it tears it down
/// (`down -v`, containers killed at once unless
/// [`Compose::stop_timeout`]), also when the test panics.
pub struct Stack {
    engine: Arc<dyn Engine>,
    loaded: LoadedProject,
    summary: UpSummary,
    /// The project's containers as last listed (ports change when a
    /// container is started again).
    containers: Mutex<Vec<ContainerSummary>>,
    /// How long [`Stack::start`] waits for readiness.
    timeout: Duration,
    guard: Teardown,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("project", &self.loaded.name)
            .field("services", &self.services())
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// The stack's compose project name (unique unless
    /// [`Compose::project_name`] gave one).
    #[must_use]
    pub fn project_name(&self) -> &str {
        &self.loaded.name
    }

    /// The services brought up, in start order.
    #[must_use]
    pub fn services(&self) -> Vec<&str> {
        self.summary
            .services
            .iter()
            .map(|s| s.service.as_str())
            .collect()
    }

    /// What `up` did: each service's time to ready, the critical path.
    #[must_use]
    pub fn summary(&self) -> &UpSummary {
        &self.summary
    }

    /// The project as loaded (under the stack's name).
    #[must_use]
    pub fn project(&self) -> &LoadedProject {
        &self.loaded
    }

    /// The engine the stack runs on.
    #[must_use]
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    fn check_service(&self, service: &str) -> Result<(), HarnessError> {
        if self.summary.service(service).is_some() {
            return Ok(());
        }
        let names = self.services();
        Err(HarnessError::NoSuchService {
            project: self.loaded.name.clone(),
            service: service.to_owned(),
            suggestion: crate::model::load::suggest(service, &names).map(str::to_owned),
        })
    }

    /// The service's first container, as last listed.
    fn container(&self, service: &str) -> Result<ContainerSummary, HarnessError> {
        self.check_service(service)?;
        let containers = self
            .containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        containers
            .iter()
            .filter(|c| c.label(compose::SERVICE) == Some(service))
            .min_by_key(|c| {
                c.label(compose::CONTAINER_NUMBER)
                    .and_then(|n| n.parse::<u32>().ok())
                    .unwrap_or(u32::MAX)
            })
            .cloned()
            .ok_or_else(|| HarnessError::NotRunning {
                project: self.loaded.name.clone(),
                service: service.to_owned(),
            })
    }

    /// The host address of `service`'s published TCP `port`, as
    /// `127.0.0.1:49157` (an address published on every interface is
    /// given as `127.0.0.1`).
    ///
    /// ```no_run
    /// # async fn demo(stack: muster::harness::Stack) -> Result<(), Box<dyn std::error::Error>> {
    /// let web = stack.endpoint("web", 80)?;
    /// let stream = std::net::TcpStream::connect(web)?;
    /// # drop(stream); Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`HarnessError::NoSuchService`], [`HarnessError::NotRunning`], or
    /// [`HarnessError::NoEndpoint`] (naming what it does publish) when the
    /// port is not published.
    pub fn endpoint(&self, service: &str, port: u16) -> Result<SocketAddr, HarnessError> {
        let container = self.container(service)?;
        if !container.state.is_up() {
            return Err(HarnessError::NotRunning {
                project: self.loaded.name.clone(),
                service: service.to_owned(),
            });
        }
        container
            .ports
            .iter()
            .filter(|p| p.container_port == port && p.protocol == Protocol::Tcp)
            .find_map(address_of)
            .ok_or_else(|| HarnessError::NoEndpoint {
                service: service.to_owned(),
                port,
                published: container
                    .ports
                    .iter()
                    .filter(|p| p.host_port.is_some())
                    .map(|p| format!("{}/{}", p.container_port, protocol_name(p.protocol)))
                    .collect(),
            })
    }

    /// Every published port of every running service (first replica),
    /// sorted by service and port.
    #[must_use]
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let containers = self
            .containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<Endpoint> = Vec::new();
        for c in containers.iter() {
            let Some(service) = c.label(compose::SERVICE) else {
                continue;
            };
            if !c.state.is_up() || c.label(compose::CONTAINER_NUMBER).is_some_and(|n| n != "1") {
                continue;
            }
            for port in &c.ports {
                let Some(address) = address_of(port) else {
                    continue;
                };
                let endpoint = Endpoint {
                    service: service.to_owned(),
                    port: port.container_port,
                    protocol: port.protocol,
                    address,
                };
                // An IPv4 and an IPv6 binding of one port: keep the first.
                if !out.iter().any(|e| {
                    e.service == endpoint.service
                        && e.port == endpoint.port
                        && e.protocol == endpoint.protocol
                }) {
                    out.push(endpoint);
                }
            }
        }
        out.sort_by(|a, b| (&a.service, a.port).cmp(&(&b.service, b.port)));
        out
    }

    /// The variables `muster test` gives its command: one
    /// `MUSTER_<SERVICE>_<PORT>=127.0.0.1:49157` per endpoint (see
    /// [`Endpoint::variable`]) and `MUSTER_PROJECT`, the project name.
    /// Handy for starting the program under test as a subprocess.
    #[must_use]
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = self
            .endpoints()
            .iter()
            .map(|e| (e.variable(), e.address.to_string()))
            .collect();
        vars.push(("MUSTER_PROJECT".to_owned(), self.loaded.name.clone()));
        vars
    }

    /// Every endpoint as JSON, the file `muster test` names in
    /// `MUSTER_ENDPOINTS`:
    ///
    /// ```json
    /// {"project": "shop-t4242-0k3f",
    ///  "endpoints": [{"service": "db", "port": 5432, "protocol": "tcp",
    ///                 "address": "127.0.0.1:49157", "host": "127.0.0.1",
    ///                 "host_port": 49157, "variable": "MUSTER_DB_5432"}]}
    /// ```
    #[must_use]
    pub fn endpoints_json(&self) -> serde_json::Value {
        let endpoints: Vec<serde_json::Value> = self
            .endpoints()
            .iter()
            .map(|e| {
                serde_json::json!({
                    "service": e.service,
                    "port": e.port,
                    "protocol": protocol_name(e.protocol),
                    "address": e.address.to_string(),
                    "host": e.address.ip().to_string(),
                    "host_port": e.address.port(),
                    "variable": e.variable(),
                })
            })
            .collect();
        serde_json::json!({"project": self.loaded.name, "endpoints": endpoints})
    }

    /// The id of `service`'s (first) container.
    ///
    /// # Errors
    /// [`HarnessError::NoSuchService`] or [`HarnessError::NotRunning`].
    pub fn container_id(&self, service: &str) -> Result<String, HarnessError> {
        Ok(self.container(service)?.id)
    }

    /// Runs a command in `service`'s (first) container and returns its exit
    /// code and combined output. No shell: pass `["sh", "-c", "..."]` for
    /// one.
    ///
    /// # Errors
    /// [`HarnessError::NoSuchService`], [`HarnessError::NotRunning`], or
    /// [`HarnessError::Engine`] when the engine cannot run it. A command
    /// that fails is not an error: look at `exit_code`.
    pub async fn exec<I, S>(&self, service: &str, command: I) -> Result<ExecOutput, HarnessError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let spec = ExecSpec {
            cmd: command.into_iter().map(Into::into).collect(),
            ..ExecSpec::default()
        };
        self.exec_with(service, &spec).await
    }

    /// [`exec`](Self::exec) with every setting: environment, user, working
    /// directory, timeout.
    ///
    /// # Errors
    /// As [`exec`](Self::exec).
    pub async fn exec_with(
        &self,
        service: &str,
        spec: &ExecSpec,
    ) -> Result<ExecOutput, HarnessError> {
        let container = self.container(service)?;
        self.engine
            .exec(&container.id, spec)
            .await
            .map_err(|source| HarnessError::Engine {
                action: format!("exec {:?} in service {service:?}", spec.cmd),
                source,
            })
    }

    /// Everything `service`'s (first) container printed so far, standard
    /// output and error interleaved as they came.
    ///
    /// # Errors
    /// [`HarnessError::NoSuchService`], [`HarnessError::NotRunning`], or
    /// [`HarnessError::Engine`].
    pub async fn logs(&self, service: &str) -> Result<String, HarnessError> {
        let container = self.container(service)?;
        let mut stream = self.engine.logs(&container.id, &LogOptions::default());
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| HarnessError::Engine {
                action: format!("read the logs of service {service:?}"),
                source,
            })?;
            out.extend_from_slice(&chunk.data);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Stops `service`'s containers (after [`Compose::stop_timeout`], they
    /// are killed), to test how the rest copes.
    ///
    /// # Errors
    /// [`HarnessError::NoSuchService`] or [`HarnessError::Engine`].
    pub async fn stop(&self, service: &str) -> Result<(), HarnessError> {
        self.check_service(service)?;
        for container in self.service_containers(service).await? {
            self.engine
                .stop_container(&container.id, Some(self.guard.stop_timeout))
                .await
                .map_err(|source| HarnessError::Engine {
                    action: format!("stop service {service:?}"),
                    source,
                })?;
        }
        self.refresh().await
    }

    /// Starts `service`'s containers again and waits until they are ready
    /// (healthy when they have a healthcheck, else running). Published
    /// ports may change: ask [`endpoint`](Self::endpoint) again.
    ///
    /// # Errors
    /// [`HarnessError::NoSuchService`], [`HarnessError::Engine`], or
    /// [`HarnessError::NotReady`] with the forensics.
    pub async fn start(&self, service: &str) -> Result<(), HarnessError> {
        self.check_service(service)?;
        let containers = self.service_containers(service).await?;
        let watch = self.watch();
        for container in &containers {
            self.engine
                .start_container(&container.id)
                .await
                .map_err(|source| HarnessError::Engine {
                    action: format!("start service {service:?}"),
                    source,
                })?;
        }
        self.wait_for(service, &containers, None, &watch).await?;
        self.refresh().await
    }

    /// The project's container events from now on, for waits.
    fn watch(&self) -> StateWatch {
        StateWatch::start(
            Arc::clone(&self.engine),
            &EventFilter {
                labels: vec![spec::project_filter(&self.loaded.name)],
                objects: vec![EventObject::Container],
                since: Some(SystemTime::now()),
            },
        )
    }

    /// Waits until each of `containers` meets `requirement`; by default,
    /// healthy when it has a healthcheck, else running.
    async fn wait_for(
        &self,
        service: &str,
        containers: &[ContainerSummary],
        requirement: Option<Requirement>,
        watch: &StateWatch,
    ) -> Result<(), HarnessError> {
        let probes = ProbeSlots::new(containers.len());
        for container in containers {
            let requirement =
                match requirement {
                    Some(requirement) => requirement,
                    None => {
                        let details = self.engine.inspect_container(&container.id).await.map_err(
                            |source| HarnessError::Engine {
                                action: format!("inspect service {service:?}"),
                                source,
                            },
                        )?;
                        if HealthTiming::of(details.healthcheck.as_ref()).is_some() {
                            Requirement::Healthy
                        } else {
                            Requirement::Started
                        }
                    }
                };
            let target = WaitFor {
                id: container.id.clone(),
                name: container.name().to_owned(),
                requirement,
                healthcheck: None,
                known: None,
                deadline: Some(Deadline::after(self.timeout)),
                probe_at_once: false,
            };
            readiness::wait(&*self.engine, watch, &probes, &target)
                .await
                .map_err(|report| HarnessError::NotReady {
                    service: service.to_owned(),
                    report,
                })?;
        }
        Ok(())
    }

    /// Waits until each of `services` (one-shot jobs) has exited 0.
    async fn wait_completed(&self, services: &[String]) -> Result<(), HarnessError> {
        let watch = self.watch();
        for service in services {
            self.check_service(service)?;
            let containers = self.service_containers(service).await?;
            self.wait_for(
                service,
                &containers,
                Some(Requirement::CompletedSuccessfully),
                &watch,
            )
            .await?;
        }
        Ok(())
    }

    /// [`stop`](Self::stop), then [`start`](Self::start).
    ///
    /// # Errors
    /// As those.
    pub async fn restart(&self, service: &str) -> Result<(), HarnessError> {
        self.stop(service).await?;
        self.start(service).await
    }

    async fn service_containers(
        &self,
        service: &str,
    ) -> Result<Vec<ContainerSummary>, HarnessError> {
        let list = self
            .engine
            .list_containers(&[
                spec::project_filter(&self.loaded.name),
                spec::service_filter(service),
            ])
            .await
            .map_err(|source| HarnessError::Engine {
                action: format!("list the containers of service {service:?}"),
                source,
            })?;
        Ok(list
            .into_iter()
            .filter(|c| c.label(compose::ONEOFF) != Some("True"))
            .collect())
    }

    /// Lists the stack's containers again (their state and published
    /// ports), after something outside the handle changed them.
    ///
    /// # Errors
    /// [`HarnessError::Engine`].
    pub async fn refresh(&self) -> Result<(), HarnessError> {
        let list = self
            .engine
            .list_containers(&[spec::project_filter(&self.loaded.name)])
            .await
            .map_err(|source| HarnessError::Engine {
                action: format!("list the containers of project {}", self.loaded.name),
                source,
            })?;
        *self
            .containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = list;
        Ok(())
    }

    /// Tears the stack down now (`down -v`) and says what was removed.
    /// Dropping the handle does the same, without the answer.
    ///
    /// # Errors
    /// [`HarnessError::Down`] listing what could not be removed.
    pub async fn down(self) -> Result<DownSummary, HarnessError> {
        self.down_with(&Silent).await
    }

    /// [`down`](Self::down), reporting each step to `reporter`.
    ///
    /// # Errors
    /// As [`down`](Self::down).
    pub async fn down_with(mut self, reporter: &dyn Reporter) -> Result<DownSummary, HarnessError> {
        self.guard.armed = false;
        down_project(
            &*self.guard.engine,
            &self.guard.project,
            self.guard.stop_timeout,
            reporter,
        )
        .await
    }

    /// Leaves the stack running when the handle goes, and returns its
    /// project name: `muster down -p <name> -v` removes it later. (It still
    /// carries its owner's labels: unless it was built with
    /// [`Compose::keep`], the next harness run after this process ends
    /// prunes it.)
    #[must_use]
    pub fn keep(mut self) -> String {
        self.guard.armed = false;
        self.loaded.name.clone()
    }
}

/// The address a published port is reached at from this host.
fn address_of(port: &crate::engine::PortMapping) -> Option<SocketAddr> {
    let host_port = port.host_port.filter(|p| *p != 0)?;
    let ip = match port.host_ip.as_deref() {
        None | Some("" | "0.0.0.0" | "::") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(ip) => ip.parse().ok()?,
    };
    Some(SocketAddr::new(ip, host_port))
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
        _ => "tcp",
    }
}

#[cfg(test)]
mod tests;
