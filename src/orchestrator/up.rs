//! `up`: make the engine hold what the file asks for, and start each
//! service the moment its own dependencies are ready.
//!
//! # Theory of operation
//!
//! 1. **Lock.** One `up` per project at a time: an advisory lock on a file
//!    in the system temp dir named after the project ([`ProjectLock`]). A
//!    second `up` waits for the first, up to [`UpOptions::lock_timeout`],
//!    then refuses with a message saying why.
//! 2. **Plan.** List the project's containers by label (one call) and, per
//!    selected service and replica, compare the container's
//!    `com.docker.compose.config-hash` label with [`spec::config_hash`]:
//!    keep a matching running container, start a matching stopped one,
//!    recreate one that differs (or with `force_recreate`), create a
//!    missing replica, remove replicas beyond the scale. Every container
//!    spec is computed here, so a service that cannot become a container
//!    fails before anything is touched; so does an image that is missing
//!    (muster does not pull).
//! 3. **Prepare.** Orphans (containers of services the file no longer has)
//!    are removed with `remove_orphans`, else named in a note; networks and
//!    named volumes are created, in parallel, idempotently.
//! 4. **Run.** One task per service, all at once. Each publishes its
//!    progress (created, started, healthy, completed) on a `watch`
//!    channel. A task first converges its containers (creation needs no
//!    dependency, except for `network_mode`/`ipc`/`pid: service:x` and
//!    `volumes_from`, which need `x`'s container to exist), then waits
//!    until each of its dependencies' own conditions hold, starts, and
//!    then tracks what its dependents need (healthy, or completed) with
//!    [`readiness::wait`]. Nothing waits for a "level": a service starts
//!    the moment its own dependencies are ready. Engine calls that change
//!    things are bounded by a semaphore ([`UpOptions::max_parallel`]);
//!    waiting is not.
//! 5. **Report.** A dependency that fails makes its dependents skip (each
//!    says why), and `up` returns [`OrchestratorError::UpFailed`] listing
//!    the failure, its forensics, and what was not started. Otherwise the
//!    [`UpSummary`] gives each service's time to ready and the critical
//!    path (`ready in 4.8 s: db 2.3 s -> api 1.3 s -> web 1.2 s`).
//!
//! Every object is labelled when it is created, so an `up` interrupted at
//! any point (Ctrl-C drops the future, which aborts the tasks) leaves only
//! objects the next `up` converges and `down` removes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::{join_all, try_join_all};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::engine::{
    ContainerSpec, ContainerState, ContainerSummary, Engine, EngineError, EventFilter, EventObject,
    HealthcheckSpec, ImageDetails, MountInfo, MountKind, MountSpec,
};
use crate::graph::{Dependency, EdgeKind, Selection};
use crate::model::{ErrorKind, LoadError, LoadErrors, LoadedProject};
use crate::orchestrator::anonymous;
use crate::orchestrator::error::OrchestratorError;
use crate::orchestrator::events::{Changes, Event, ObjectKind, Reporter};
use crate::orchestrator::readiness::{
    self, Deadline, HealthTiming, NotReady, Observation, ProbeSlots, Requirement, StateWatch,
    WaitFor, seconds,
};
use crate::orchestrator::spec::{self, labels};

/// Whether `up` may pull images. muster has no registry client: an image
/// that is not present locally is an error under either policy, naming
/// the image and the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PullPolicy {
    /// Never pull (`--pull never`).
    Never,
    /// Pull what is missing (`--pull missing`, the default); with no
    /// registry, a missing image is reported as such.
    #[default]
    Missing,
}

/// What `up` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpOptions {
    /// Only these services (and, unless `no_deps`, what they depend on);
    /// empty for every enabled service.
    pub services: Vec<String>,
    /// Do not bring up the dependencies of the named services.
    pub no_deps: bool,
    /// Recreate containers even when their config did not change.
    pub force_recreate: bool,
    /// Never recreate existing containers, even when their config changed.
    pub no_recreate: bool,
    /// When recreating, give the new container fresh anonymous volumes
    /// instead of the old container's (`-V`).
    pub renew_anon_volumes: bool,
    /// Create containers, but do not start them.
    pub no_start: bool,
    /// Remove containers of services the file no longer defines.
    pub remove_orphans: bool,
    /// Also wait until every selected service is ready (healthy when it
    /// has a healthcheck, else running), not only those others depend on.
    pub wait: bool,
    /// Give up on any readiness wait this long after `up` began.
    pub wait_timeout: Option<Duration>,
    /// Give up waiting for these services' readiness this long after `up`
    /// began (the earlier of this and `wait_timeout` holds).
    pub service_timeouts: BTreeMap<String, Duration>,
    /// Whether images may be pulled.
    pub pull: PullPolicy,
    /// The most engine calls that change things at once; 0 for no limit.
    pub max_parallel: usize,
    /// How long to wait for another `up` of the same project to finish.
    pub lock_timeout: Duration,
    /// When to build services' images (`--build`, `--no-build`).
    pub build: crate::build::BuildPolicy,
    /// How to build them.
    pub build_options: crate::build::BuildOptions,
}

impl Default for UpOptions {
    fn default() -> Self {
        Self {
            services: Vec::new(),
            no_deps: false,
            force_recreate: false,
            no_recreate: false,
            renew_anon_volumes: false,
            no_start: false,
            remove_orphans: false,
            wait: false,
            wait_timeout: None,
            service_timeouts: BTreeMap::new(),
            pull: PullPolicy::default(),
            max_parallel: 32,
            lock_timeout: Duration::from_secs(60),
            build: crate::build::BuildPolicy::default(),
            build_options: crate::build::BuildOptions::default(),
        }
    }
}

/// What `up` did to one service, and when it was ready.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceReport {
    /// The service.
    pub service: String,
    /// Its containers, by replica number.
    pub containers: Vec<String>,
    /// Containers created for missing replicas.
    pub created: usize,
    /// Containers recreated because their config changed (or were forced).
    pub recreated: usize,
    /// Existing stopped containers started.
    pub started: usize,
    /// Containers removed (replicas beyond the scale).
    pub removed: usize,
    /// Running containers left alone.
    pub unchanged: usize,
    /// Running containers restarted because a dependency declared with
    /// `restart: true` was (re)created or started.
    pub restarted: usize,
    /// The fields whose change made it recreate.
    pub changes: Vec<String>,
    /// What "ready" meant for it: what its dependents (or `wait`) needed.
    pub ready_means: Option<Requirement>,
    /// When it was ready, since `up` began.
    pub ready_at: Option<Duration>,
    /// How long it took itself: from when its dependencies allowed it to
    /// go (or `up` began) to ready.
    pub took: Option<Duration>,
    /// The dependency it waited for last, if any.
    pub waited_for: Option<String>,
}

impl ServiceReport {
    /// Whether anything was done to it.
    #[must_use]
    pub fn changed(&self) -> bool {
        self.created + self.recreated + self.started + self.restarted + self.removed > 0
    }
}

/// One step of the critical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStep {
    /// The service.
    pub service: String,
    /// Its share of the time to ready.
    pub took: Duration,
}

/// What `up` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpSummary {
    /// The project.
    pub project: String,
    /// Each selected service, in start order.
    pub services: Vec<ServiceReport>,
    /// The chain of services that decided how long `up` took, first to
    /// last; each step's time is its own share.
    pub critical_path: Vec<PathStep>,
    /// How long `up` took.
    pub elapsed: Duration,
    /// Orphan containers removed.
    pub orphans_removed: Vec<String>,
    /// Networks created.
    pub networks_created: Vec<String>,
    /// Volumes created.
    pub volumes_created: Vec<String>,
    /// Whether containers were only created (`no_start`).
    pub no_start: bool,
}

impl UpSummary {
    /// Whether nothing at all changed: the stack was up to date.
    #[must_use]
    pub fn is_up_to_date(&self) -> bool {
        self.services.iter().all(|s| !s.changed())
            && self.orphans_removed.is_empty()
            && self.networks_created.is_empty()
            && self.volumes_created.is_empty()
    }

    /// The report of one service.
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&ServiceReport> {
        self.services.iter().find(|s| s.service == name)
    }

    /// One line for the user: `ready in 4.8 s: db 2.3 s -> api 1.3 s ->
    /// web 1.2 s`, or that the stack is up to date.
    #[must_use]
    pub fn line(&self) -> String {
        let n = self.services.len();
        let services = if n == 1 { "service" } else { "services" };
        if self.no_start {
            let created: usize = self.services.iter().map(|s| s.created + s.recreated).sum();
            return format!("created {created} containers for {n} {services} (not started)");
        }
        if self.is_up_to_date() {
            return format!("up to date: {n} {services} already running as the file says");
        }
        let path = self
            .critical_path
            .iter()
            .map(|s| format!("{} {}", s.service, seconds_short(s.took)))
            .collect::<Vec<_>>()
            .join(" -> ");
        if path.is_empty() {
            format!("done in {}", seconds_short(self.elapsed))
        } else {
            format!("ready in {}: {path}", seconds_short(self.elapsed))
        }
    }
}

/// `4.8 s`: one decimal, as the summary line shows times.
fn seconds_short(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// A service that failed during `up`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFailure {
    /// The service.
    pub service: String,
    /// Why, in one line (`exited with code 1`, `turned unhealthy`, or the
    /// engine's error).
    pub reason: String,
    /// The container that failed to become ready, with the forensics.
    pub report: Option<NotReady>,
}

/// A service that was not started because a dependency failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedService {
    /// The service.
    pub service: String,
    /// Why, as `dependency "migrate" exited with code 1`.
    pub because: String,
}

/// Why `up` did not bring the whole stack up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpFailure {
    /// The project.
    pub project: String,
    /// The services that failed, with why and what was seen.
    pub failed: Vec<ServiceFailure>,
    /// The services not started because of them.
    pub not_started: Vec<SkippedService>,
    /// The services that did come up.
    pub ready: Vec<String>,
}

impl fmt::Display for UpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failed.len();
        write!(
            f,
            "project {:?} did not come up: {failed} {} failed",
            self.project,
            if failed == 1 { "service" } else { "services" }
        )?;
        if !self.not_started.is_empty() {
            write!(f, ", {} not started because of it", self.not_started.len())?;
        }
        for failure in &self.failed {
            write!(
                f,
                "\n\nservice {:?} failed: {}",
                failure.service, failure.reason
            )?;
            if let Some(report) = &failure.report {
                write!(f, "\n  {}", report.to_string().replace('\n', "\n  "))?;
            }
        }
        if !self.not_started.is_empty() {
            f.write_str("\n\nnot started:")?;
            for skipped in &self.not_started {
                write!(f, "\n  {}: {}", skipped.service, skipped.because)?;
            }
        }
        if !self.ready.is_empty() {
            write!(f, "\n\nrunning: {}", self.ready.join(", "))?;
        }
        Ok(())
    }
}

/// Describes images that are not present locally, for
/// [`OrchestratorError::ImagesMissing`].
#[must_use]
pub fn describe_missing_images(missing: &[(String, String)], pull: PullPolicy) -> String {
    let why = match pull {
        PullPolicy::Never => "and pulling is off (--pull never)",
        PullPolicy::Missing => "and muster cannot pull images (no registry)",
    };
    let mut out = String::new();
    for (i, (service, image)) in missing.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "image {image:?} of service {service:?} is not present locally, {why}"
        ));
    }
    out.push_str("\nhelp: build the image (or `docker load` it) first, then run `up` again");
    out
}

/// An advisory lock on a project, so that two `up`s of one project do not
/// race. It is a file in the system temp dir named after the project; the
/// lock goes when this value is dropped (or the process ends).
///
/// The holder deletes the file before it unlocks, so none pile up. Whoever
/// was waiting on the deleted file then holds a lock on nothing: after
/// locking, a taker checks that the path still names the file it locked,
/// and starts over when it does not.
#[derive(Debug)]
pub struct ProjectLock {
    file: std::fs::File,
    path: PathBuf,
}

impl ProjectLock {
    /// The lock file of `project`.
    #[must_use]
    pub fn path(project: &str) -> PathBuf {
        std::env::temp_dir().join(format!("muster-{project}.lock"))
    }

    /// Takes the lock of `project`, waiting up to `wait` for whoever holds
    /// it (with a note to `reporter` when it has to wait).
    ///
    /// # Errors
    /// [`OrchestratorError::Locked`] when it is still held after `wait`,
    /// or the lock file cannot be opened.
    pub async fn acquire(
        project: &str,
        wait: Duration,
        reporter: &dyn Reporter,
    ) -> Result<Self, OrchestratorError> {
        let path = Self::path(project);
        let locked = |reason: String| OrchestratorError::Locked {
            project: project.to_owned(),
            path: path.clone(),
            reason,
        };
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| locked(format!("cannot open the lock file: {e}")))
        };
        let mut file = open()?;
        let began = Instant::now();
        let mut noted = false;
        loop {
            match file.try_lock() {
                Ok(()) if is_same_file(&file, &path) => return Ok(Self { file, path }),
                Ok(()) => {
                    // Its holder deleted it as we waited: take the new one.
                    file = open()?;
                    continue;
                }
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(locked(format!("cannot lock the lock file: {e}")));
                }
            }
            if began.elapsed() >= wait {
                return Err(locked(format!(
                    "another `muster up` of this project is still running after waiting {}; \
                     try again when it has finished",
                    seconds(wait)
                )));
            }
            if !noted {
                noted = true;
                reporter.report(Event::Note {
                    message: format!(
                        "waiting for another `muster up` of project {project:?} to finish"
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The lock file.
    #[must_use]
    pub fn file_path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        // Deleted while still held, so no one can lock it in between.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Whether `path` still names `file`.
#[cfg(unix)]
fn is_same_file(file: &std::fs::File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `path` still names `file` (elsewhere an open file cannot be
/// deleted, so it does).
#[cfg(not(unix))]
fn is_same_file(_file: &std::fs::File, path: &std::path::Path) -> bool {
    path.exists()
}

// ---------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------

/// What to do with one replica.
#[derive(Debug, Clone)]
enum Action {
    /// It runs and matches the file.
    Keep(ContainerSummary),
    /// It matches the file but does not run.
    Start(ContainerSummary),
    /// It is missing.
    Create,
    /// It differs from the file, its image was rebuilt, or recreation was
    /// forced.
    Recreate(ContainerSummary),
}

#[derive(Debug, Clone)]
struct Replica {
    name: String,
    /// The container the file asks for.
    spec: ContainerSpec,
    action: Action,
}

/// Everything one service's task needs, owned.
#[derive(Debug, Clone)]
struct ServicePlan {
    service: String,
    replicas: Vec<Replica>,
    /// Containers beyond the scale, to remove.
    extra: Vec<ContainerSummary>,
    /// Fields that changed, when recreating.
    changes: Vec<String>,
    /// Its healthcheck as the file gives it.
    healthcheck: Option<HealthcheckSpec>,
    /// What its dependents need beyond `started`.
    needs: BTreeSet<Requirement>,
    /// With `wait`: also wait until it is ready by itself.
    wait_ready: bool,
    dependencies: Vec<Dependency>,
}

fn select(loaded: &LoadedProject, options: &UpOptions) -> Result<Selection, OrchestratorError> {
    let names: Vec<&str> = loaded.project.services.keys().map(String::as_str).collect();
    for service in &options.services {
        if !loaded.project.services.contains_key(service) {
            return Err(OrchestratorError::NoSuchService {
                service: service.clone(),
                suggestion: crate::model::load::suggest(service, &names).map(str::to_owned),
            });
        }
    }
    if options.no_deps {
        let graph = loaded.graph().map_err(OrchestratorError::Project)?;
        graph
            .select_no_deps(&options.services, &loaded.profiles)
            .map_err(|e| {
                OrchestratorError::Project(LoadErrors::from(LoadError::new(
                    ErrorKind::Reference,
                    e.to_string(),
                )))
            })
    } else {
        loaded
            .select(&options.services)
            .map(|s| s.selection)
            .map_err(OrchestratorError::Project)
    }
}

fn number_of(container: &ContainerSummary) -> Option<u32> {
    container.label(labels::CONTAINER_NUMBER)?.parse().ok()
}

fn plan(
    loaded: &LoadedProject,
    selection: &Selection,
    existing: &[ContainerSummary],
    options: &UpOptions,
) -> Result<Vec<ServicePlan>, OrchestratorError> {
    let order: Vec<String> = selection
        .start_order()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut needs: HashMap<&str, BTreeSet<Requirement>> = HashMap::new();
    for name in &order {
        for dep in selection.dependencies(name) {
            let requirement = Requirement::from(dep.condition);
            if requirement != Requirement::Started {
                needs
                    .entry(dep.service.as_str())
                    .or_default()
                    .insert(requirement);
            }
        }
    }
    let mut plans = Vec::with_capacity(order.len());
    for name in &order {
        let Some(service) = loaded.project.services.get(name) else {
            continue;
        };
        let hash = spec::config_hash(loaded, name);
        let scale = service.replicas();
        let mut by_number: BTreeMap<u32, Vec<&ContainerSummary>> = BTreeMap::new();
        let mut extra = Vec::new();
        for c in existing.iter().filter(|c| {
            c.label(labels::SERVICE) == Some(name.as_str())
                && c.label(labels::ONEOFF) != Some("True")
        }) {
            match number_of(c) {
                Some(n) if (1..=scale).contains(&n) => by_number.entry(n).or_default().push(c),
                _ => extra.push(c.clone()),
            }
        }
        let mut replicas = Vec::new();
        let mut changes = BTreeSet::new();
        let mut healthcheck = None;
        for n in 1..=scale {
            let spec = spec::container_spec(loaded, name, n)?;
            if n == 1 {
                healthcheck.clone_from(&spec.healthcheck);
            }
            let mut found = by_number.remove(&n).unwrap_or_default();
            // Prefer a running one; any others with the same number go.
            found.sort_by_key(|c| !c.state.is_up());
            let mut found = found.into_iter();
            let first = found.next();
            extra.extend(found.cloned());
            let action = match first {
                None => Action::Create,
                Some(c) => {
                    let stale = c.label(labels::CONFIG_HASH) != Some(hash.hash.as_str());
                    let broken = matches!(c.state, ContainerState::Dead | ContainerState::Removing);
                    if options.force_recreate || broken || (stale && !options.no_recreate) {
                        if options.force_recreate {
                            changes.insert("--force-recreate".to_owned());
                        } else if broken {
                            changes.insert(format!("state ({})", c.state));
                        } else {
                            let fields = spec::changed_fields(
                                c.label(labels::CONFIG_FIELDS).unwrap_or_default(),
                                &hash,
                            );
                            if fields.is_empty() {
                                changes.insert("config-hash".to_owned());
                            }
                            changes.extend(fields);
                        }
                        Action::Recreate(c.clone())
                    } else if c.state.is_up() {
                        Action::Keep(c.clone())
                    } else {
                        Action::Start(c.clone())
                    }
                }
            };
            replicas.push(Replica {
                name: spec::container_name(&loaded.name, name, service, n),
                spec,
                action,
            });
        }
        plans.push(ServicePlan {
            service: name.clone(),
            replicas,
            extra,
            changes: changes.into_iter().collect(),
            healthcheck,
            needs: needs.remove(name.as_str()).unwrap_or_default(),
            wait_ready: options.wait,
            dependencies: selection.dependencies(name).to_vec(),
        });
    }
    Ok(plans)
}

/// Checks that every image a container will be created from is present.
/// Looks up every image the plan uses, once each. A container whose image
/// was rebuilt since it was created (same reference, new id) is recreated,
/// as compose does, unless `no_recreate`; an image that is missing where a
/// container must be created is an error naming the image and its
/// services (muster does not pull).
async fn check_images(
    engine: &dyn Engine,
    plans: &mut [ServicePlan],
    options: &UpOptions,
    context: &str,
) -> Result<HashMap<String, ImageDetails>, OrchestratorError> {
    let wanted: BTreeSet<&str> = plans
        .iter()
        .flat_map(|p| p.replicas.iter().map(|r| r.spec.image.as_str()))
        .collect();
    let found = join_all(wanted.iter().map(|image| engine.inspect_image(image))).await;
    let mut images = HashMap::new();
    for (image, found) in wanted.into_iter().zip(found) {
        match found {
            Ok(Some(details)) => {
                images.insert(image.to_owned(), details);
            }
            Ok(None) => {}
            Err(e) => return Err(OrchestratorError::engine(context, e)),
        }
    }

    let mut missing = Vec::new();
    for plan in plans.iter_mut() {
        let mut rebuilt = false;
        for replica in &mut plan.replicas {
            let current = images.get(&replica.spec.image);
            if let (Action::Keep(c) | Action::Start(c), Some(image)) = (&replica.action, current)
                && !options.no_recreate
                && !c.image_id.is_empty()
                && c.image_id != image.id
            {
                replica.action = Action::Recreate(c.clone());
                rebuilt = true;
            }
            let needs_image = matches!(replica.action, Action::Create | Action::Recreate(_));
            let user = (plan.service.clone(), replica.spec.image.clone());
            if needs_image && current.is_none() && !missing.contains(&user) {
                missing.push(user);
            }
        }
        if rebuilt && !plan.changes.iter().any(|c| c == IMAGE_REBUILT) {
            plan.changes.push(IMAGE_REBUILT.to_owned());
        }
    }
    if missing.is_empty() {
        Ok(images)
    } else {
        missing.sort();
        Err(OrchestratorError::ImagesMissing {
            missing,
            pull: options.pull,
        })
    }
}

/// Keeps only the conditions some dependent will wait for. A dependent
/// waits for its dependencies' conditions only when it starts something:
/// a replica to create, recreate or start, or a restart because a
/// dependency declared with `restart: true` is renewed. On an unchanged
/// stack no one waits, so no healthcheck is probed (unless `wait`).
fn drop_needs_no_one_waits_for(plans: &mut [ServicePlan]) {
    let starts: HashMap<String, bool> = plans
        .iter()
        .map(|p| {
            let starts = p
                .replicas
                .iter()
                .any(|r| !matches!(r.action, Action::Keep(_)));
            (p.service.clone(), starts)
        })
        .collect();
    let starts = |service: &str| starts.get(service).copied().unwrap_or(true);
    let mut awaited: HashMap<String, BTreeSet<Requirement>> = HashMap::new();
    for dependent in plans.iter() {
        for dep in &dependent.dependencies {
            if starts(&dependent.service) || (dep.restart && starts(&dep.service)) {
                awaited
                    .entry(dep.service.clone())
                    .or_default()
                    .insert(Requirement::from(dep.condition));
            }
        }
    }
    for plan in plans.iter_mut() {
        let awaited = awaited.remove(&plan.service).unwrap_or_default();
        plan.needs.retain(|r| awaited.contains(r));
    }
}

/// The longest a background start yields to other starts in flight.
const BACKGROUND_DEFER: Duration = Duration::from_millis(500);

/// What changed, when the image was rebuilt under the same reference.
const IMAGE_REBUILT: &str = "image id";

/// The anonymous volumes of a container being recreated that its successor
/// keeps, as compose keeps them: at each path where the file asks for an
/// anonymous volume, or where the image declares a `VOLUME` the file does
/// not mount otherwise, the old container's volume is mounted again. Data
/// a service keeps there (a database's files) survives a config change.
fn keep_anonymous_volumes(
    spec: &mut ContainerSpec,
    old_mounts: &[MountInfo],
    image_volumes: &[String],
) {
    for old in old_mounts {
        let Some(name) = old
            .name
            .as_deref()
            .filter(|n| anonymous::is_anonymous_volume(n))
        else {
            continue;
        };
        if old.kind != "volume" {
            continue;
        }
        match spec.mounts.iter_mut().find(|m| m.target == old.destination) {
            Some(MountSpec {
                kind: MountKind::Volume { source, .. },
                ..
            }) if source.is_none() => *source = Some(name.to_owned()),
            Some(_) => {}
            None if image_volumes.contains(&old.destination) => spec.mounts.push(MountSpec {
                target: old.destination.clone(),
                kind: MountKind::Volume {
                    source: Some(name.to_owned()),
                    no_copy: false,
                },
                read_only: !old.read_write,
            }),
            None => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

/// How far a service got, as its dependents see it.
#[derive(Debug, Clone, Default)]
enum Slot {
    #[default]
    Pending,
    /// Since `up` began.
    Holds(Duration),
    /// Why, as dependents will say it (`exited with code 1`).
    Failed(Arc<str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Created,
    Started,
    Healthy,
    Completed,
}

impl From<Requirement> for Stage {
    fn from(r: Requirement) -> Self {
        match r {
            Requirement::Started => Self::Started,
            Requirement::Healthy => Self::Healthy,
            Requirement::CompletedSuccessfully => Self::Completed,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Status {
    /// Whether this `up` created, recreated or started any of its
    /// containers: dependents with `restart: true` restart theirs.
    renewed: bool,
    created: Slot,
    started: Slot,
    healthy: Slot,
    completed: Slot,
}

impl Status {
    fn slot(&self, stage: Stage) -> &Slot {
        match stage {
            Stage::Created => &self.created,
            Stage::Started => &self.started,
            Stage::Healthy => &self.healthy,
            Stage::Completed => &self.completed,
        }
    }

    fn slot_mut(&mut self, stage: Stage) -> &mut Slot {
        match stage {
            Stage::Created => &mut self.created,
            Stage::Started => &mut self.started,
            Stage::Healthy => &mut self.healthy,
            Stage::Completed => &mut self.completed,
        }
    }

    /// Fails every stage still pending.
    fn fail_pending(&mut self, why: &Arc<str>) {
        for slot in [
            &mut self.created,
            &mut self.started,
            &mut self.healthy,
            &mut self.completed,
        ] {
            if matches!(slot, Slot::Pending) {
                *slot = Slot::Failed(Arc::clone(why));
            }
        }
    }
}

/// What every service task shares.
struct Ctx {
    engine: Arc<dyn Engine>,
    reporter: Arc<dyn Reporter>,
    permits: Semaphore,
    watch: StateWatch,
    probes: ProbeSlots,
    /// The images the plan uses, as found.
    images: HashMap<String, ImageDetails>,
    renew_anon_volumes: bool,
    began: Instant,
    deadline: Option<Deadline>,
    /// Per-service deadlines (`UpOptions::service_timeouts`).
    service_deadlines: HashMap<String, Deadline>,
    no_start: bool,
}

impl Ctx {
    fn since_start(&self) -> Duration {
        self.began.elapsed()
    }

    fn report(&self, event: Event) {
        self.reporter.report(event);
    }

    /// When to give up waiting for `service`: the earlier of the overall
    /// and its own deadline.
    fn deadline_for(&self, service: &str) -> Option<Deadline> {
        match (self.deadline, self.service_deadlines.get(service)) {
            (Some(all), Some(own)) if own.at < all.at => Some(*own),
            (all, own) => all.or(own.copied()),
        }
    }

    /// Runs one engine call that changes things, within the bound.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        let _permit = self.permits.acquire().await.ok();
        call.await
    }

    /// Stops and removes a container, reporting each step; with
    /// `anonymous_volumes`, its anonymous volumes go with it (nothing will
    /// mount them again).
    async fn retire(
        &self,
        container: &ContainerSummary,
        anonymous_volumes: bool,
    ) -> Result<(), EngineError> {
        let name = container.name().to_owned();
        if container.state.is_up() {
            self.report(Event::Stopping {
                kind: ObjectKind::Container,
                name: name.clone(),
            });
            self.bounded(self.engine.stop_container(&container.id, None))
                .await?;
            self.report(Event::Stopped {
                kind: ObjectKind::Container,
                name: name.clone(),
            });
        }
        self.report(Event::Removing {
            kind: ObjectKind::Container,
            name: name.clone(),
        });
        match self
            .bounded(anonymous::remove_container(
                &*self.engine,
                &container.id,
                anonymous_volumes,
            ))
            .await
        {
            Err(e) if !e.is_not_found() => return Err(e),
            _ => {}
        }
        self.report(Event::Removed {
            kind: ObjectKind::Container,
            name,
        });
        Ok(())
    }

    async fn create(&self, service: &str, spec: &ContainerSpec) -> Result<String, String> {
        self.report(Event::Creating {
            kind: ObjectKind::Container,
            name: spec.name.clone(),
        });
        match self.bounded(self.engine.create_container(spec)).await {
            Ok(id) => {
                self.report(Event::Created {
                    kind: ObjectKind::Container,
                    name: spec.name.clone(),
                });
                Ok(id)
            }
            Err(EngineError::ImageMissing { image, .. }) => Err(format!(
                "image {image:?} of service {service:?} is not present locally, and muster \
                 does not pull images: build or load it first"
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The spec for the container that replaces `old`: `spec`, keeping
    /// `old`'s anonymous volumes unless they are to be renewed; and whether
    /// it keeps any.
    async fn successor_spec(
        &self,
        old: &ContainerSummary,
        spec: &ContainerSpec,
    ) -> (ContainerSpec, bool) {
        let mut successor = spec.clone();
        if self.renew_anon_volumes {
            return (successor, false);
        }
        // A container that cannot be inspected has nothing left to keep.
        if let Ok(details) = self.engine.inspect_container(&old.id).await {
            let image_volumes = self
                .images
                .get(&spec.image)
                .map_or(&[][..], |i| i.volumes.as_slice());
            keep_anonymous_volumes(&mut successor, &details.mounts, image_volumes);
        }
        let kept = successor.mounts != spec.mounts;
        (successor, kept)
    }

    /// Starts a container. A start others may wait on is counted as in
    /// flight, for probes and background starts to let it go first.
    async fn start(
        &self,
        service: &str,
        id: &str,
        name: &str,
        background: bool,
    ) -> Result<(), String> {
        self.report(Event::Starting {
            service: service.to_owned(),
            container: name.to_owned(),
        });
        let _starting = (!background).then(|| self.probes.starting());
        self.bounded(self.engine.start_container(id))
            .await
            .map_err(|e| e.to_string())?;
        self.report(Event::Started {
            service: service.to_owned(),
            container: name.to_owned(),
        });
        Ok(())
    }
}

/// One replica after converging: its id, and whether it still needs a start.
#[derive(Debug, Clone)]
struct Prepared {
    id: String,
    name: String,
    needs_start: bool,
    known: Option<Observation>,
}

/// How one service's task ended.
#[derive(Debug)]
struct Outcome {
    report: ServiceReport,
    /// When its dependencies allowed it to go, since `up` began.
    gate_at: Duration,
    /// The dependency whose condition held last, and when.
    gate: Option<(String, Duration)>,
    /// When each stage held.
    stages: Vec<(Stage, Duration)>,
    result: Result<(), Stop>,
}

#[derive(Debug)]
enum Stop {
    Skipped(String),
    Failed(Box<ServiceFailure>),
}

/// Waits until `dep`'s `stage` holds; the time it held, or why it never will.
async fn wait_stage(
    dep: &str,
    stage: Stage,
    mut status: watch::Receiver<Status>,
) -> Result<(String, Duration), String> {
    loop {
        match status.borrow_and_update().slot(stage) {
            Slot::Holds(at) => return Ok((dep.to_owned(), *at)),
            Slot::Failed(why) => return Err(format!("dependency {dep:?} {why}")),
            Slot::Pending => {}
        }
        if status.changed().await.is_err() {
            return match status.borrow().slot(stage) {
                Slot::Holds(at) => Ok((dep.to_owned(), *at)),
                Slot::Failed(why) => Err(format!("dependency {dep:?} {why}")),
                Slot::Pending => Err(format!("dependency {dep:?} stopped unexpectedly")),
            };
        }
    }
}

/// Waits for all of `waits`, failing at the first failure; the one that
/// held last.
async fn wait_all(
    waits: Vec<(String, Stage, watch::Receiver<Status>)>,
) -> Result<Option<(String, Duration)>, String> {
    let held = try_join_all(
        waits
            .into_iter()
            .map(|(dep, stage, rx)| async move { wait_stage(&dep, stage, rx).await }),
    )
    .await?;
    Ok(held.into_iter().max_by_key(|(_, at)| *at))
}

/// Whether creating a container needs the dependency's container to exist.
fn needs_container(kind: EdgeKind) -> bool {
    matches!(
        kind,
        EdgeKind::NetworkMode | EdgeKind::Ipc | EdgeKind::Pid | EdgeKind::VolumesFrom
    )
}

struct Task {
    ctx: Arc<Ctx>,
    plan: ServicePlan,
    deps: Vec<(Dependency, watch::Receiver<Status>)>,
    status: watch::Sender<Status>,
}

impl Task {
    fn set(&self, stage: Stage, slot: Slot) {
        self.status.send_modify(|s| *s.slot_mut(stage) = slot);
    }

    fn fail(&self, why: &str) {
        let why: Arc<str> = Arc::from(why);
        self.status.send_modify(|s| s.fail_pending(&why));
    }

    async fn run(self) -> Outcome {
        let service = self.plan.service.clone();
        let mut outcome = Outcome {
            report: ServiceReport {
                service: service.clone(),
                containers: self.plan.replicas.iter().map(|r| r.name.clone()).collect(),
                changes: self.plan.changes.clone(),
                ..ServiceReport::default()
            },
            gate_at: Duration::ZERO,
            gate: None,
            stages: Vec::new(),
            result: Ok(()),
        };
        outcome.result = self.drive(&mut outcome).await;
        match &outcome.result {
            Ok(()) => self.fail("ended before it was ready"),
            Err(Stop::Skipped(_)) => self.fail("was not started"),
            Err(Stop::Failed(f)) => self.fail(&f.reason),
        }
        outcome
    }

    fn failed(&self, reason: String, report: Option<NotReady>) -> Stop {
        self.ctx.report(Event::Failed {
            service: self.plan.service.clone(),
            reason: reason.clone(),
        });
        Stop::Failed(Box::new(ServiceFailure {
            service: self.plan.service.clone(),
            reason,
            report,
        }))
    }

    fn skipped(&self, because: String) -> Stop {
        self.ctx.report(Event::Skipped {
            service: self.plan.service.clone(),
            because: because.clone(),
        });
        Stop::Skipped(because)
    }

    fn dep_waits(
        &self,
        filter: impl Fn(&Dependency) -> Option<Stage>,
    ) -> Vec<(String, Stage, watch::Receiver<Status>)> {
        self.deps
            .iter()
            .filter_map(|(dep, rx)| {
                filter(dep).map(|stage| (dep.service.clone(), stage, rx.clone()))
            })
            .collect()
    }

    async fn drive(&self, outcome: &mut Outcome) -> Result<(), Stop> {
        let ctx = &self.ctx;
        let service = self.plan.service.as_str();

        // 1. Converge the containers; only namespace and volume sharing
        //    need the dependency's container first.
        let before_create = self.dep_waits(|d| needs_container(d.kind).then_some(Stage::Created));
        if let Err(because) = wait_all(before_create).await {
            return Err(self.skipped(because));
        }
        let mut prepared = self.converge(outcome).await?;
        let renewed = prepared.iter().any(|p| p.needs_start);
        let created = ctx.since_start();
        self.status.send_modify(|s| {
            s.renewed = renewed;
            s.created = Slot::Holds(created);
        });
        if ctx.no_start {
            let now = ctx.since_start();
            for stage in [Stage::Started, Stage::Healthy, Stage::Completed] {
                self.set(stage, Slot::Holds(now));
            }
            return Ok(());
        }

        // 2. Wait for the dependencies' own conditions, then start. A
        //    service whose containers all run as the file says starts
        //    nothing, so it need not wait, unless a dependency it restarts
        //    with was renewed: on an unchanged stack every service is
        //    checked at once rather than level by level.
        if !prepared.iter().any(|p| p.needs_start) && !self.restarts_with_a_dependency().await {
            return self.track_and_report(&prepared, outcome).await;
        }
        let gates = self.dep_waits(|d| Some(Stage::from(Requirement::from(d.condition))));
        let pending: Vec<(String, String)> = self
            .deps
            .iter()
            .filter(|(d, rx)| {
                matches!(
                    rx.borrow()
                        .slot(Stage::from(Requirement::from(d.condition))),
                    Slot::Pending
                )
            })
            .map(|(d, _)| (d.service.clone(), d.condition.as_str().to_owned()))
            .collect();
        if !pending.is_empty() {
            ctx.report(Event::Waiting {
                service: service.to_owned(),
                on: pending,
            });
        }
        match wait_all(gates).await {
            Ok(gate) => {
                outcome.gate_at = gate.as_ref().map_or(Duration::ZERO, |(_, at)| *at);
                outcome.gate = gate;
            }
            Err(because) => return Err(self.skipped(because)),
        }
        self.restart_for_dependencies(&mut prepared, &mut outcome.report)
            .await?;
        let background = self.is_background();
        if background {
            // Let the starts others wait on go first: the engine serializes
            // concurrent starts, and no one waits on this one. Yielding
            // lets the services whose gates opened with it count theirs.
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            ctx.probes.starts_settled(BACKGROUND_DEFER).await;
        }
        let starts = prepared
            .iter()
            .filter(|p| p.needs_start)
            .map(|p| ctx.start(service, &p.id, &p.name, background));
        if let Some(Err(reason)) = join_all(starts).await.into_iter().find(Result::is_err) {
            return Err(self.failed(reason, None));
        }
        self.track_and_report(&prepared, outcome).await
    }

    /// Whether nothing waits on this service's start: no dependent needs
    /// more than its start and it has no healthcheck in the file, so its
    /// readiness is being started. Such a start yields to others in flight.
    fn is_background(&self) -> bool {
        self.plan.needs.is_empty() && self.plan.healthcheck.is_none()
    }

    /// Whether a dependency declared with `restart: true` was created,
    /// recreated or started by this `up` (known once it has converged).
    async fn restarts_with_a_dependency(&self) -> bool {
        let converged = self.dep_waits(|d| d.restart.then_some(Stage::Created));
        // A dependency that failed to converge restarts nothing.
        let _ = wait_all(converged).await;
        self.deps
            .iter()
            .any(|(dep, status)| dep.restart && status.borrow().renewed)
    }

    /// Marks the service started, then tracks what its dependents (or
    /// `wait`) need and reports it ready.
    async fn track_and_report(
        &self,
        prepared: &[Prepared],
        outcome: &mut Outcome,
    ) -> Result<(), Stop> {
        let ctx = &self.ctx;
        let service = self.plan.service.as_str();
        let started = ctx.since_start();
        self.set(Stage::Started, Slot::Holds(started));
        outcome.stages.push((Stage::Started, started));

        // 3. Track what the dependents (or `wait`) need.
        let mut needs = self.plan.needs.clone();
        if self.plan.wait_ready && self.has_healthcheck(prepared).await {
            needs.insert(Requirement::Healthy);
        }
        let tracks = needs.iter().map(|r| self.track(*r, prepared));
        let mut failure = None;
        for (requirement, result) in needs.iter().zip(join_all(tracks).await) {
            let stage = Stage::from(*requirement);
            match result {
                Ok(at) => {
                    self.set(stage, Slot::Holds(at));
                    outcome.stages.push((stage, at));
                }
                Err(report) => {
                    let reason = report.cause.to_string();
                    self.set(stage, Slot::Failed(Arc::from(reason.as_str())));
                    failure.get_or_insert((reason, report));
                }
            }
        }
        if let Some((reason, report)) = failure {
            return Err(self.failed(reason, Some(*report)));
        }
        let (means, ready_at) = outcome.stages.iter().max_by_key(|(_, at)| *at).map_or(
            (Requirement::Started, started),
            |(stage, at)| {
                let means = match stage {
                    Stage::Healthy => Requirement::Healthy,
                    Stage::Completed => Requirement::CompletedSuccessfully,
                    Stage::Created | Stage::Started => Requirement::Started,
                };
                (means, *at)
            },
        );
        outcome.report.ready_means = Some(means);
        outcome.report.ready_at = Some(ready_at);
        outcome.report.took = Some(ready_at.saturating_sub(outcome.gate_at));
        outcome.report.waited_for = outcome.gate.as_ref().map(|(d, _)| d.clone());
        ctx.report(Event::Ready {
            service: service.to_owned(),
            elapsed: ready_at,
        });
        Ok(())
    }

    /// Stops the running containers it keeps when a dependency declared
    /// with `restart: true` was created, recreated or started by this `up`
    /// (compose's rule), so that the start below restarts them once that
    /// dependency is ready again.
    async fn restart_for_dependencies(
        &self,
        prepared: &mut [Prepared],
        report: &mut ServiceReport,
    ) -> Result<(), Stop> {
        let because: Vec<String> = self
            .deps
            .iter()
            .filter(|(dep, status)| dep.restart && status.borrow().renewed)
            .map(|(dep, _)| dep.service.clone())
            .collect();
        if because.is_empty() {
            return Ok(());
        }
        let ctx = &self.ctx;
        report.restarted = prepared.iter().filter(|p| !p.needs_start).count();
        let stops = prepared.iter_mut().filter(|p| !p.needs_start).map(|p| {
            ctx.report(Event::Restarting {
                service: self.plan.service.clone(),
                container: p.name.clone(),
                because: because.clone(),
            });
            p.needs_start = true;
            p.known = None;
            ctx.bounded(ctx.engine.stop_container(&p.id, None))
        });
        match join_all(stops).await.into_iter().find_map(Result::err) {
            Some(e) => Err(self.failed(e.to_string(), None)),
            None => Ok(()),
        }
    }

    /// Removes extra replicas and creates, recreates or keeps the others.
    async fn converge(&self, outcome: &mut Outcome) -> Result<Vec<Prepared>, Stop> {
        let ctx = &self.ctx;
        let service = self.plan.service.as_str();
        let report = &mut outcome.report;
        let removals = self.plan.extra.iter().map(|c| ctx.retire(c, true));
        if let Some(Err(e)) = join_all(removals).await.into_iter().find(Result::is_err) {
            return Err(self.failed(e.to_string(), None));
        }
        report.removed = self.plan.extra.len();
        if self
            .plan
            .replicas
            .iter()
            .any(|r| matches!(r.action, Action::Recreate(_)))
        {
            ctx.report(Event::Recreating {
                service: service.to_owned(),
                changes: Changes {
                    fields: self.plan.changes.clone(),
                },
            });
        }
        for replica in &self.plan.replicas {
            match &replica.action {
                Action::Keep(_) => report.unchanged += 1,
                Action::Start(_) => report.started += 1,
                Action::Create => report.created += 1,
                Action::Recreate(_) => report.recreated += 1,
            }
        }
        if report.unchanged == self.plan.replicas.len() && report.removed == 0 {
            ctx.report(Event::UpToDate {
                service: service.to_owned(),
            });
        }
        let work = self.plan.replicas.iter().map(|replica| async move {
            match &replica.action {
                Action::Keep(c) => Ok(Prepared {
                    id: c.id.clone(),
                    name: replica.name.clone(),
                    needs_start: false,
                    known: Some(Observation {
                        state: c.state,
                        health: c.health,
                        has_healthcheck: c.health.is_some(),
                        ..Observation::default()
                    }),
                }),
                Action::Start(c) => Ok(Prepared {
                    id: c.id.clone(),
                    name: replica.name.clone(),
                    needs_start: true,
                    known: None,
                }),
                Action::Create => ctx.create(service, &replica.spec).await.map(|id| Prepared {
                    id,
                    name: replica.name.clone(),
                    needs_start: true,
                    known: None,
                }),
                Action::Recreate(old) => {
                    let (spec, kept) = ctx.successor_spec(old, &replica.spec).await;
                    ctx.retire(old, !kept).await.map_err(|e| e.to_string())?;
                    ctx.create(service, &spec).await.map(|id| Prepared {
                        id,
                        name: replica.name.clone(),
                        needs_start: true,
                        known: None,
                    })
                }
            }
        });
        let mut prepared = Vec::with_capacity(self.plan.replicas.len());
        for result in join_all(work).await {
            match result {
                Ok(p) => prepared.push(p),
                Err(reason) => return Err(self.failed(reason, None)),
            }
        }
        Ok(prepared)
    }

    /// Whether the service's containers have a healthcheck (the file's, or
    /// the image's).
    async fn has_healthcheck(&self, prepared: &[Prepared]) -> bool {
        match &self.plan.healthcheck {
            Some(h) if !h.test.is_empty() => HealthTiming::of(Some(h)).is_some(),
            Some(_) | None => {
                let Some(first) = prepared.first() else {
                    return false;
                };
                self.ctx
                    .engine
                    .inspect_container(&first.id)
                    .await
                    .is_ok_and(|d| HealthTiming::of(d.healthcheck.as_ref()).is_some())
            }
        }
    }

    /// Waits until every replica meets `requirement`; when the last did.
    async fn track(
        &self,
        requirement: Requirement,
        prepared: &[Prepared],
    ) -> Result<Duration, Box<NotReady>> {
        let ctx = &self.ctx;
        let waits = prepared.iter().map(|p| async move {
            let target = WaitFor {
                id: p.id.clone(),
                name: p.name.clone(),
                requirement,
                healthcheck: self.plan.healthcheck.clone(),
                known: if p.needs_start { None } else { p.known.clone() },
                deadline: ctx.deadline_for(&self.plan.service),
                probe_at_once: !p.needs_start,
            };
            readiness::wait(&*ctx.engine, &ctx.watch, &ctx.probes, &target).await?;
            if requirement == Requirement::CompletedSuccessfully {
                ctx.report(Event::Exited {
                    service: self.plan.service.clone(),
                    container: p.name.clone(),
                    code: 0,
                });
            }
            Ok::<_, Box<NotReady>>(ctx.since_start())
        });
        let times = try_join_all(waits).await?;
        Ok(times.into_iter().max().unwrap_or_else(|| ctx.since_start()))
    }
}

/// The chain of services that decided when the last one was ready.
fn critical_path(outcomes: &HashMap<String, Outcome>) -> Vec<PathStep> {
    let Some(last) = outcomes
        .values()
        .filter_map(|o| Some((o.report.ready_at?, o)))
        // On a tie, the one further down a chain (a dependent started the
        // moment its dependency was ready), then the first by name.
        .max_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.gate_at.cmp(&b.1.gate_at))
                .then_with(|| b.1.report.service.cmp(&a.1.report.service))
        })
    else {
        return Vec::new();
    };
    let (mut end, mut current) = last;
    let mut steps = Vec::new();
    loop {
        steps.push(PathStep {
            service: current.report.service.clone(),
            took: end.saturating_sub(current.gate_at),
        });
        let Some((dep, at)) = &current.gate else {
            break;
        };
        let Some(next) = outcomes.get(dep) else {
            break;
        };
        if steps.len() > outcomes.len() {
            break;
        }
        end = *at;
        current = next;
    }
    steps.reverse();
    steps
}

/// Brings `loaded` up on `engine`: converges its containers, networks and
/// volumes to the file and starts each service as soon as its
/// dependencies are ready. See the module docs for how.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use muster::engine::DockerEngine;
/// use muster::model::{ProjectOptions, load};
/// use muster::orchestrator::events::Silent;
/// use muster::orchestrator::up::{UpOptions, up};
///
/// let loaded = load(&ProjectOptions::from_process()?)?;
/// let engine = Arc::new(DockerEngine::connect().await?);
/// let summary = up(engine, &loaded, &UpOptions::default(), Arc::new(Silent)).await?;
/// println!("{}", summary.line());
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`OrchestratorError::NoSuchService`] or [`OrchestratorError::Project`]
/// for a bad selection, [`OrchestratorError::Spec`] for a service that
/// cannot become a container, [`OrchestratorError::ImagesMissing`],
/// [`OrchestratorError::Locked`] when another `up` holds the project,
/// [`OrchestratorError::Engine`] when the engine fails before any service
/// runs, and [`OrchestratorError::UpFailed`] with the whole report when a
/// service fails.
pub async fn up(
    engine: Arc<dyn Engine>,
    loaded: &LoadedProject,
    options: &UpOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<UpSummary, OrchestratorError> {
    let began = Instant::now();
    let project = loaded.name.clone();
    let context = format!("cannot bring project {project} up");

    let selection = select(loaded, options)?;
    let _lock = ProjectLock::acquire(&project, options.lock_timeout, &*reporter).await?;
    // Events from here on are watched: take the time before anything runs.
    let since = SystemTime::now();
    for note in selection.notes() {
        reporter.report(Event::Note {
            message: note.to_string(),
        });
    }
    let selected: Vec<String> = selection
        .start_order()
        .into_iter()
        .map(str::to_owned)
        .collect();
    for name in &selected {
        if let Some(service) = loaded.project.services.get(name) {
            let ignored = spec::ignored_fields(service);
            if !ignored.is_empty() {
                reporter.report(Event::Note {
                    message: format!(
                        "service {name:?}: muster does not apply {} yet",
                        ignored
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }

    // Build what is missing or out of date first (see `crate::build`).
    crate::build::ensure_images(
        Arc::clone(&engine),
        loaded,
        &selected,
        options.build,
        &options.build_options,
        Arc::clone(&reporter),
    )
    .await?;

    let filter = [spec::project_filter(&project)];
    let existing = engine
        .list_containers(&filter)
        .await
        .map_err(|e| OrchestratorError::engine(&context, e))?;
    let mut plans = plan(loaded, &selection, &existing, options)?;
    let images = check_images(&*engine, &mut plans, options, &context).await?;
    drop_needs_no_one_waits_for(&mut plans);

    let permits = if options.max_parallel == 0 {
        Semaphore::MAX_PERMITS
    } else {
        options.max_parallel
    };
    let ctx = Arc::new(Ctx {
        engine: Arc::clone(&engine),
        reporter: Arc::clone(&reporter),
        permits: Semaphore::new(permits),
        watch: StateWatch::start(
            Arc::clone(&engine),
            &EventFilter {
                labels: filter.to_vec(),
                objects: vec![EventObject::Container],
                since: Some(since),
            },
        ),
        probes: ProbeSlots::default(),
        images,
        renew_anon_volumes: options.renew_anon_volumes,
        began,
        deadline: options.wait_timeout.map(|timeout| Deadline {
            at: began + timeout,
            timeout,
        }),
        service_deadlines: options
            .service_timeouts
            .iter()
            .map(|(service, timeout)| {
                let deadline = Deadline {
                    at: began + *timeout,
                    timeout: *timeout,
                };
                (service.clone(), deadline)
            })
            .collect(),
        no_start: options.no_start,
    });

    let orphans_removed = orphans(&ctx, loaded, &existing, options.remove_orphans)
        .await
        .map_err(|e| OrchestratorError::engine(&context, e))?;
    let (networks_created, volumes_created) = prepare(&ctx, loaded, &selected)
        .await
        .map_err(|e| OrchestratorError::engine(&context, e))?;

    // One task per service; each waits for its own dependencies.
    let mut senders = HashMap::new();
    let mut receivers = HashMap::new();
    for plan in &plans {
        let (tx, rx) = watch::channel(Status::default());
        senders.insert(plan.service.clone(), tx);
        receivers.insert(plan.service.clone(), rx);
    }
    let mut tasks = JoinSet::new();
    let mut task_names = HashMap::new();
    for plan in plans {
        let Some(status) = senders.remove(&plan.service) else {
            continue;
        };
        let deps = plan
            .dependencies
            .iter()
            .filter_map(|d| Some((d.clone(), receivers.get(&d.service)?.clone())))
            .collect();
        let name = plan.service.clone();
        let task = Task {
            ctx: Arc::clone(&ctx),
            plan,
            deps,
            status,
        };
        let handle = tasks.spawn(task.run());
        task_names.insert(handle.id(), name);
    }
    drop(receivers);

    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    let mut crashed = Vec::new();
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, outcome)) => {
                outcomes.insert(outcome.report.service.clone(), outcome);
            }
            Err(e) => {
                let name = task_names.get(&e.id()).cloned().unwrap_or_default();
                crashed.push(ServiceFailure {
                    service: name,
                    reason: format!("muster's task for it ended unexpectedly: {e}"),
                    report: None,
                });
            }
        }
    }

    let elapsed = began.elapsed();
    let mut failure = UpFailure {
        project: project.clone(),
        failed: crashed,
        ..UpFailure::default()
    };
    let mut reports = Vec::with_capacity(selected.len());
    for name in &selected {
        let Some(outcome) = outcomes.get(name) else {
            continue;
        };
        match &outcome.result {
            Ok(()) => failure.ready.push(name.clone()),
            Err(Stop::Skipped(because)) => failure.not_started.push(SkippedService {
                service: name.clone(),
                because: because.clone(),
            }),
            Err(Stop::Failed(f)) => failure.failed.push((**f).clone()),
        }
        reports.push(outcome.report.clone());
    }
    if !failure.failed.is_empty() || !failure.not_started.is_empty() {
        return Err(OrchestratorError::UpFailed(Box::new(failure)));
    }
    let summary = UpSummary {
        project,
        critical_path: critical_path(&outcomes),
        services: reports,
        elapsed,
        orphans_removed,
        networks_created,
        volumes_created,
        no_start: options.no_start,
    };
    reporter.report(Event::Done {
        summary: summary.line(),
    });
    Ok(summary)
}

/// Removes (or notes) containers of services the file no longer defines.
async fn orphans(
    ctx: &Ctx,
    loaded: &LoadedProject,
    existing: &[ContainerSummary],
    remove: bool,
) -> Result<Vec<String>, EngineError> {
    let found: Vec<&ContainerSummary> = existing
        .iter()
        .filter(|c| c.label(labels::ONEOFF) != Some("True"))
        .filter(|c| {
            c.label(labels::SERVICE)
                .is_none_or(|s| !loaded.project.services.contains_key(s))
        })
        .collect();
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = found.iter().map(|c| c.name().to_owned()).collect();
    if !remove {
        ctx.report(Event::Note {
            message: format!(
                "found containers of services the file does not define ({}); \
                 remove them with --remove-orphans",
                names.join(", ")
            ),
        });
        return Ok(Vec::new());
    }
    for result in join_all(found.iter().map(|c| ctx.retire(c, true))).await {
        result?;
    }
    Ok(names)
}

/// Creates the networks and volumes the selected services use, in
/// parallel; what exists is left alone, and external ones must exist.
async fn prepare(
    ctx: &Ctx,
    loaded: &LoadedProject,
    selected: &[String],
) -> Result<(Vec<String>, Vec<String>), EngineError> {
    let networks = spec::networks(loaded, selected);
    let volumes = spec::volumes(loaded, selected);
    let engine = &*ctx.engine;
    let any_external = networks.iter().any(|n| n.external) || volumes.iter().any(|v| v.external);
    let project_filter = [spec::project_filter(&loaded.name)];
    let filter: &[_] = if any_external { &[] } else { &project_filter };
    let (have_networks, have_volumes) = tokio::join!(
        async {
            if networks.is_empty() {
                Ok(Vec::new())
            } else {
                engine.list_networks(filter).await
            }
        },
        async {
            if volumes.is_empty() {
                Ok(Vec::new())
            } else {
                engine.list_volumes(filter).await
            }
        }
    );
    let have_networks: BTreeSet<String> = have_networks?.into_iter().map(|n| n.name).collect();
    let have_volumes: BTreeSet<String> = have_volumes?.into_iter().map(|v| v.name).collect();

    for network in networks.iter().filter(|n| n.external) {
        if !have_networks.contains(&network.name) {
            return Err(EngineError::NotFound {
                op: "use",
                object: format!("external network {}", network.name),
                message: format!(
                    "network {} is declared external but does not exist: create it first \
                     (docker network create {})",
                    network.name, network.name
                ),
            });
        }
    }
    for volume in volumes.iter().filter(|v| v.external) {
        if !have_volumes.contains(&volume.name) {
            return Err(EngineError::NotFound {
                op: "use",
                object: format!("external volume {}", volume.name),
                message: format!(
                    "volume {} is declared external but does not exist: create it first \
                     (docker volume create {})",
                    volume.name, volume.name
                ),
            });
        }
    }

    let new_networks = networks
        .iter()
        .filter(|n| !n.external && !have_networks.contains(&n.name))
        .map(|n| async move {
            ctx.report(Event::Creating {
                kind: ObjectKind::Network,
                name: n.name.clone(),
            });
            match ctx.bounded(engine.create_network(&n.spec)).await {
                Ok(_) => {
                    ctx.report(Event::Created {
                        kind: ObjectKind::Network,
                        name: n.name.clone(),
                    });
                    Ok(Some(n.name.clone()))
                }
                // Made by someone else in the meantime: fine.
                Err(e) if e.is_conflict() => Ok(None),
                Err(e) => Err(e),
            }
        });
    let new_volumes = volumes
        .iter()
        .filter(|v| !v.external && !have_volumes.contains(&v.name))
        .map(|v| async move {
            ctx.report(Event::Creating {
                kind: ObjectKind::Volume,
                name: v.name.clone(),
            });
            ctx.bounded(engine.create_volume(&v.spec)).await?;
            ctx.report(Event::Created {
                kind: ObjectKind::Volume,
                name: v.name.clone(),
            });
            Ok::<_, EngineError>(v.name.clone())
        });
    let (networks, volumes) = tokio::join!(join_all(new_networks), join_all(new_volumes));
    let mut created_networks = Vec::new();
    for n in networks {
        created_networks.extend(n?);
    }
    let mut created_volumes = Vec::new();
    for v in volumes {
        created_volumes.push(v?);
    }
    Ok((created_networks, created_volumes))
}

#[cfg(test)]
mod tests;
