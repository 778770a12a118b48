//! Building services' images: build contexts (`.dockerignore`), a hash of
//! what goes into each image, and builds through the engine's API.
//!
//! # Theory of operation
//!
//! 1. **Prepare** (no engine call). For each service to build: check the
//!    context directory and the Dockerfile, parse the Dockerfile (stages,
//!    `FROM` images, `ARG`s) and check `target` against its stages, merge
//!    the build args (the file's, then `--build-arg`), read the ignore
//!    rules. Services whose builds are the same (context, Dockerfile,
//!    target, args, options) form one *group*, built once and tagged with
//!    every service's image name.
//! 2. **Order.** A group depends on another when its Dockerfile starts
//!    `FROM` (or copies `--from`) the other's image, or names the other
//!    service in `additional_contexts: {name: service:X}`. Groups run as
//!    tasks that each wait for their own dependencies, at most
//!    [`BuildOptions::max_parallel`] building at once.
//! 3. **Decide.** A group's *input hash* covers the context's files after
//!    the ignore rules (see [`context`]), the Dockerfile, the args, the
//!    target, the labels and the ids of the images it starts from. The
//!    hash is a label on the image ([`labels::HASH`]), so a group whose
//!    image carries the same hash is up to date; otherwise it is built,
//!    and the reason is told: no image yet, `--build`, or what changed
//!    (`3 files changed since the image was built`, `the Dockerfile
//!    changed`, ...).
//! 4. **Build.** The context is streamed as a tar; output is reported as
//!    events (the step, as `4/9 RUN npm ci`, and each line); the image is
//!    tagged by the builder only when the build succeeds, so a failed build
//!    leaves no half-tagged image. A failed step is reported with its last
//!    output lines and exit code.
//!
//! The engine is Docker's classic builder (BuildKit needs a session the
//! API does not give muster on Engine 20.10): `target`, args, labels,
//! `network`, `extra_hosts`, `shm_size` and `cache_from` are passed to it;
//! `additional_contexts` naming a service or a `docker-image://` are given
//! to it by pointing the Dockerfile's `FROM`/`COPY --from` at the image.

pub mod context;
pub mod dockerfile;
pub mod error;
pub mod ignore;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use self::context::{ExtraFile, Scan};
use self::dockerfile::Dockerfile;
pub use self::error::{BuildError, StepFailure};
use self::ignore::IgnoreRules;
use crate::engine::{BuildOutput, BuildSpec, Engine, EngineError};
use crate::model::LoadedProject;
use crate::orchestrator::events::{Event, Reporter};
use crate::orchestrator::spec;

/// The labels muster puts on the images it builds.
pub mod labels {
    /// The hash of everything that went into the image.
    pub const HASH: &str = "dev.muster.build.hash";
    /// The parts of that hash, as `context=<digest>,dockerfile=<h>,...`,
    /// so that a later build can say what changed.
    pub const PARTS: &str = "dev.muster.build.parts";
}

/// Whether `up` builds images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BuildPolicy {
    /// Build an image that is missing, or whose inputs changed since it
    /// was built (the default).
    #[default]
    Auto,
    /// Build every image (`--build`).
    Always,
    /// Build nothing (`--no-build`).
    Never,
}

/// How to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Build without the engine's cache.
    pub no_cache: bool,
    /// Build args over the file's (`--build-arg K=V`; `K` alone takes the
    /// value from the environment, and is left out when it is unset).
    pub args: Vec<String>,
    /// The most builds at once; 0 for no limit.
    pub max_parallel: usize,
    /// Where the stat cache and the manifests of built contexts are kept.
    pub cache_dir: PathBuf,
    /// Put muster's labels (project, service, input hash) on the images it
    /// builds (the default). The classic builder turns them into one more
    /// step, a container commit per build; without them the input hash is
    /// only kept in muster's cache, by image id, so another machine (or a
    /// cleared cache) sees the image as built outside muster.
    pub label_images: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            no_cache: false,
            args: Vec::new(),
            max_parallel: 4,
            cache_dir: context::cache_dir().join("build"),
            label_images: true,
        }
    }
}

/// One image built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The services that run it (several when they share the build).
    pub services: Vec<String>,
    /// Its names, the first service's first.
    pub images: Vec<String>,
    /// Its id.
    pub id: String,
    /// Why it was built.
    pub reason: String,
    /// How long the build took.
    pub elapsed: Duration,
}

/// What a build run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildSummary {
    /// The images built, in the order they finished.
    pub built: Vec<BuiltImage>,
    /// Services whose images matched their inputs.
    pub up_to_date: Vec<String>,
}

impl BuildSummary {
    /// The build of `service`, if its image was built.
    #[must_use]
    pub fn built(&self, service: &str) -> Option<&BuiltImage> {
        self.built
            .iter()
            .find(|b| b.services.iter().any(|s| s == service))
    }
}

/// Builds the images of `services` (those with a `build` section; others
/// are skipped), whatever their state, as `muster build` does. Images
/// they build from (other services' images) are built first when they
/// are missing or out of date.
///
/// # Errors
/// A [`BuildError`]: for a service that cannot be built (missing context
/// or Dockerfile, unknown target, bad build arg, missing base image), a
/// failed step, or the engine; several as [`BuildError::Several`].
pub async fn build(
    engine: Arc<dyn Engine>,
    loaded: &LoadedProject,
    services: &[String],
    options: &BuildOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<BuildSummary, BuildError> {
    let requests = services
        .iter()
        .map(|s| (s.clone(), Some("asked to build".to_owned())))
        .collect();
    run(engine, loaded, requests, options, reporter).await
}

/// Makes sure the images of `services` that have a `build` section exist
/// and match their inputs, building what is missing or stale (or, with
/// [`BuildPolicy::Always`], everything; with [`BuildPolicy::Never`],
/// nothing): the build phase of `up`.
///
/// # Errors
/// As [`build`].
pub async fn ensure_images(
    engine: Arc<dyn Engine>,
    loaded: &LoadedProject,
    services: &[String],
    policy: BuildPolicy,
    options: &BuildOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<BuildSummary, BuildError> {
    let force = match policy {
        BuildPolicy::Never => return Ok(BuildSummary::default()),
        BuildPolicy::Always => Some("--build".to_owned()),
        BuildPolicy::Auto => None,
    };
    let requests = services
        .iter()
        .filter(|s| {
            loaded
                .project
                .services
                .get(*s)
                .is_some_and(|svc| svc.build.is_some())
        })
        .map(|s| (s.clone(), force.clone()))
        .collect();
    run(engine, loaded, requests, options, reporter).await
}

/// One build, maybe shared by several services.
#[derive(Debug)]
struct Job {
    services: Vec<String>,
    /// Image names, the first service's first.
    tags: Vec<String>,
    /// Each service's image name, in the order of `services`.
    images: Vec<String>,
    context: PathBuf,
    /// The Dockerfile, with `additional_contexts` images put in (the
    /// image's labels are added when it is sent).
    dockerfile_text: String,
    /// The Dockerfile's path in the context, when it is a file there.
    dockerfile_rel: Option<String>,
    rules: IgnoreRules,
    parsed: Dockerfile,
    target: Option<String>,
    args: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    no_cache: bool,
    network: Option<String>,
    extra_hosts: Vec<String>,
    shm_size: Option<u64>,
    cache_from: Vec<String>,
    /// `Some(reason)` to build whatever the image's state.
    force: Option<String>,
    /// Services whose images this one builds from.
    service_deps: Vec<String>,
}

impl Job {
    fn service(&self) -> &str {
        &self.services[0]
    }

    /// What makes two services' builds the same build.
    fn key(&self) -> String {
        serde_json::json!({
            "context": self.context,
            "dockerfile": self.dockerfile_text,
            "ignore": self.rules.source,
            "target": self.target,
            "args": self.args,
            "labels": self.labels,
            "no_cache": self.no_cache,
            "network": self.network,
            "extra_hosts": self.extra_hosts,
            "shm_size": self.shm_size,
            "cache_from": self.cache_from,
        })
        .to_string()
    }
}

/// The `build` fields muster does not apply (the classic builder has no
/// way to), as `build.ssh`, for the warning `up` gives.
#[must_use]
pub fn ignored_build_fields(build: &crate::model::types::Build) -> Vec<String> {
    let present = [
        ("ssh", !build.ssh.is_empty()),
        ("secrets", !build.secrets.is_empty()),
        ("platforms", !build.platforms.is_empty()),
        ("tags", !build.tags.is_empty()),
        ("cache_to", !build.cache_to.is_empty()),
        ("no_cache_filter", !build.no_cache_filter.is_empty()),
        ("privileged", build.privileged),
        ("isolation", build.isolation.is_some()),
        ("ulimits", !build.ulimits.is_empty()),
        ("entitlements", !build.entitlements.is_empty()),
        ("pull", build.pull),
        ("provenance", build.provenance.is_some()),
        ("sbom", build.sbom.is_some()),
    ];
    present
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| format!("build.{name}"))
        .collect()
}

/// Splits `K=V` (or `K`, from the environment) and checks the name.
fn parse_arg(service: Option<&str>, text: &str) -> Result<Option<(String, String)>, BuildError> {
    let (name, value) = match text.split_once('=') {
        Some((n, v)) => (n, Some(v.to_owned())),
        None => (text, None),
    };
    check_arg_name(service, text, name)?;
    Ok(value
        .or_else(|| std::env::var(name).ok())
        .map(|v| (name.to_owned(), v)))
}

fn check_arg_name(service: Option<&str>, text: &str, name: &str) -> Result<(), BuildError> {
    let bad = |reason: &str| BuildError::BadBuildArg {
        service: service.map(str::to_owned),
        arg: text.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(bad("the name is empty (write NAME=VALUE)"));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '$' || c.is_control())
    {
        return Err(bad(
            "a build arg's name cannot hold spaces or `$` (write NAME=VALUE)",
        ));
    }
    Ok(())
}

/// Checks the command line's build args before anything runs.
///
/// # Errors
/// [`BuildError::BadBuildArg`] for the first bad one.
pub fn check_build_args(args: &[String]) -> Result<(), BuildError> {
    for arg in args {
        parse_arg(None, arg)?;
    }
    Ok(())
}

/// The name of the Dockerfile muster sends, in the context's tar (the
/// builder removes it from the context, as it is listed in the
/// `.dockerignore` sent with it).
const SENT_DOCKERFILE: &str = ".muster.Dockerfile";

/// Prepares the job of one service (step 1 of the theory of operation).
fn prepare(
    loaded: &LoadedProject,
    name: &str,
    force: Option<String>,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<Option<Job>, BuildError> {
    let Some(service) = loaded.project.services.get(name) else {
        let names: Vec<&str> = loaded.project.services.keys().map(String::as_str).collect();
        return Err(BuildError::NoSuchService {
            service: name.to_owned(),
            suggestion: crate::model::load::suggest(name, &names).map(str::to_owned),
        });
    };
    let Some(build) = &service.build else {
        return Ok(None);
    };
    let unsupported = |what: &str, why: &str| BuildError::Unsupported {
        service: name.to_owned(),
        what: what.to_owned(),
        why: why.to_owned(),
    };
    if build.is_remote_context() {
        return Err(unsupported(
            &format!("the remote build context {}", build.context),
            "muster builds from local directories; clone it and point build.context at it",
        ));
    }
    let context = loaded.working_dir.join(&build.context);
    match std::fs::metadata(&context) {
        Err(_) => {
            return Err(BuildError::MissingContext {
                service: name.to_owned(),
                path: context,
            });
        }
        Ok(m) if !m.is_dir() => {
            return Err(BuildError::ContextNotADirectory {
                service: name.to_owned(),
                path: context,
            });
        }
        Ok(_) => {}
    }
    let (dockerfile_path, mut text, from_file) = match (&build.dockerfile_inline, &build.dockerfile)
    {
        (Some(inline), _) => (context.join("<inline>"), inline.clone(), false),
        (None, dockerfile) => {
            let path = context.join(dockerfile.as_deref().unwrap_or("Dockerfile"));
            let text =
                std::fs::read_to_string(&path).map_err(|_| BuildError::MissingDockerfile {
                    service: name.to_owned(),
                    path: path.clone(),
                })?;
            (path, text, true)
        }
    };
    let parsed = Dockerfile::parse(&text);
    if let Some(target) = &build.target
        && parsed.stage_index(target).is_none()
    {
        return Err(BuildError::UnknownTarget {
            service: name.to_owned(),
            target: target.clone(),
            stages: parsed
                .stage_names()
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            dockerfile: dockerfile_path,
        });
    }

    // Args: the file's (already taken from the environment where they
    // have no value), then the command line's.
    let mut args = BTreeMap::new();
    for (key, value) in &build.args {
        check_arg_name(Some(name), key, key)?;
        if let Some(value) = value {
            args.insert(key.clone(), value.clone());
        }
    }
    for text in &options.args {
        if let Some((k, v)) = parse_arg(None, text)? {
            args.insert(k, v);
        }
    }
    let unused: Vec<&str> = args
        .keys()
        .filter(|k| !parsed.accepts_arg(k))
        .map(String::as_str)
        .collect();
    if !unused.is_empty() {
        reporter.report(Event::Note {
            message: format!(
                "service {name:?}: build args not declared by an ARG in the Dockerfile, so unused: {}",
                unused.join(", ")
            ),
        });
    }

    // additional_contexts: images by name, given to the classic builder by
    // rewriting FROM / COPY --from.
    let mut replace = BTreeMap::new();
    let mut service_deps = Vec::new();
    for (key, value) in &build.additional_contexts {
        if let Some(other) = value.strip_prefix("service:") {
            let Some(other_service) = loaded.project.services.get(other) else {
                return Err(BuildError::NoSuchService {
                    service: other.to_owned(),
                    suggestion: None,
                });
            };
            replace.insert(
                key.clone(),
                spec::image_name(&loaded.name, other, other_service),
            );
            service_deps.push(other.to_owned());
        } else if let Some(image) = value.strip_prefix("docker-image://") {
            replace.insert(key.clone(), image.to_owned());
        } else {
            return Err(unsupported(
                &format!("additional_contexts {key}: {value}"),
                "the engine's classic builder takes one context; only `service:NAME` and \
                 `docker-image://IMAGE` extra contexts can be given to it",
            ));
        }
    }
    for stage in parsed.stage_names() {
        replace.remove(stage);
    }
    if !replace.is_empty() {
        text = Dockerfile::rewrite_sources(&text, &replace);
    }
    let parsed = Dockerfile::parse(&text);

    let rules = IgnoreRules::for_build(&context, from_file.then_some(dockerfile_path.as_path()))
        .map_err(|message| BuildError::IgnoreFile {
            service: name.to_owned(),
            message,
        })?;
    let dockerfile_rel = dockerfile_path
        .strip_prefix(&context)
        .ok()
        .filter(|_| from_file)
        .map(|p| p.to_string_lossy().replace('\\', "/"));
    Ok(Some(Job {
        services: vec![name.to_owned()],
        tags: vec![spec::image_name(&loaded.name, name, service)],
        images: vec![spec::image_name(&loaded.name, name, service)],
        context,
        dockerfile_text: text,
        dockerfile_rel,
        rules,
        parsed,
        target: build.target.clone(),
        args,
        labels: build
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        no_cache: build.no_cache || options.no_cache,
        network: build.network.clone(),
        extra_hosts: build.extra_hosts.as_list(":"),
        shm_size: build.shm_size.map(|s| s.0),
        cache_from: build.cache_from.clone(),
        force,
        service_deps,
    }))
}

async fn run(
    engine: Arc<dyn Engine>,
    loaded: &LoadedProject,
    requests: Vec<(String, Option<String>)>,
    options: &BuildOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<BuildSummary, BuildError> {
    // 1. Prepare the requested services, and the services whose images
    //    they build from.
    let mut jobs: Vec<Job> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut queue: VecDeque<(String, Option<String>)> = requests.into();
    let mut errors = Vec::new();
    // Image name -> service, for services that build.
    let builders: HashMap<String, String> = loaded
        .project
        .services
        .iter()
        .filter(|(_, s)| s.build.is_some())
        .map(|(n, s)| (spec::image_name(&loaded.name, n, s), n.clone()))
        .collect();
    while let Some((name, force)) = queue.pop_front() {
        if seen.contains(&name) {
            if force.is_some()
                && let Some(job) = jobs.iter_mut().find(|j| j.services[0] == name)
                && job.force.is_none()
            {
                job.force = force;
            }
            continue;
        }
        seen.push(name.clone());
        match prepare(loaded, &name, force, options, &*reporter) {
            Ok(Some(mut job)) => {
                let images = job.parsed.external_images(job.target.as_deref(), &job.args);
                for image in images {
                    if let Some(other) = builders.get(&image)
                        && *other != name
                        && !job.service_deps.contains(other)
                    {
                        job.service_deps.push(other.clone());
                    }
                }
                for dep in &job.service_deps {
                    queue.push_back((dep.clone(), None));
                }
                jobs.push(job);
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if let Some(err) = BuildError::from_many(errors) {
        return Err(err);
    }

    // Shared builds: one job per key, tagged for every service.
    let mut groups: Vec<Job> = Vec::new();
    for job in jobs {
        let key = job.key();
        if let Some(group) = groups.iter_mut().find(|g| g.key() == key) {
            group.services.extend(job.services);
            group.images.extend(job.images.iter().cloned());
            for tag in job.tags {
                if !group.tags.contains(&tag) {
                    group.tags.push(tag);
                }
            }
            if group.force.is_none() {
                group.force = job.force;
            }
            for dep in job.service_deps {
                if !group.service_deps.contains(&dep) {
                    group.service_deps.push(dep);
                }
            }
        } else {
            groups.push(job);
        }
    }

    // 2. Order: group index -> the groups it waits for.
    let group_of = |service: &str| {
        groups
            .iter()
            .position(|g| g.services.iter().any(|s| s == service))
    };
    let deps: Vec<Vec<usize>> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut d: Vec<usize> = g
                .service_deps
                .iter()
                .filter_map(|s| group_of(s))
                .filter(|&j| j != i)
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    if let Some(cycle) = find_cycle(&deps) {
        return Err(BuildError::Cycle {
            path: cycle
                .iter()
                .map(|&i| groups[i].service().to_owned())
                .collect(),
        });
    }

    let permits = Arc::new(Semaphore::new(if options.max_parallel == 0 {
        Semaphore::MAX_PERMITS
    } else {
        options.max_parallel
    }));
    let dep_names: Vec<String> = groups.iter().map(|g| g.service().to_owned()).collect();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in &groups {
        let (tx, rx) = watch::channel(None::<bool>);
        senders.push(tx);
        receivers.push(rx);
    }
    let project = loaded.name.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (group, tx)) in groups.into_iter().zip(senders).enumerate() {
        let waits: Vec<(String, watch::Receiver<Option<bool>>)> = deps[i]
            .iter()
            .map(|&j| (dep_names[j].clone(), receivers[j].clone()))
            .collect();
        let engine = Arc::clone(&engine);
        let reporter = Arc::clone(&reporter);
        let permits = Arc::clone(&permits);
        let cache = options.cache_dir.clone();
        let label_images = options.label_images;
        let project = project.clone();
        tasks.spawn(async move {
            let service = group.service().to_owned();
            for (dependency, mut rx) in waits {
                let ok = loop {
                    if let Some(ok) = *rx.borrow_and_update() {
                        break ok;
                    }
                    if rx.changed().await.is_err() {
                        break false;
                    }
                };
                if !ok {
                    let _ = tx.send(Some(false));
                    return (service, Err(Err(dependency)));
                }
            }
            let _permit = permits.acquire().await;
            let result =
                run_group(&*engine, &group, &project, &cache, label_images, &*reporter).await;
            let _ = tx.send(Some(result.is_ok()));
            (service, result.map_err(Ok))
        });
    }
    drop(receivers);

    let mut summary = BuildSummary::default();
    let mut errors = Vec::new();
    let mut skipped = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, Ok(Outcome::Built(built)))) => summary.built.push(built),
            Ok((_, Ok(Outcome::UpToDate(services)))) => summary.up_to_date.extend(services),
            Ok((_, Err(Ok(e)))) => errors.push(e),
            Ok((service, Err(Err(dependency)))) => skipped.push((service, dependency)),
            Err(e) => errors.push(BuildError::Unsupported {
                service: String::new(),
                what: "the build task".into(),
                why: format!("it ended unexpectedly: {e}"),
            }),
        }
    }
    for (service, dependency) in skipped {
        reporter.report(Event::Skipped {
            service: service.clone(),
            because: format!("the build of {dependency:?}, whose image it uses, failed"),
        });
        errors.push(BuildError::DependencyFailed {
            service,
            dependency,
        });
    }
    match BuildError::from_many(errors) {
        Some(err) => Err(err),
        None => Ok(summary),
    }
}

/// A cycle in `deps` (group -> groups it waits for), first repeated last.
fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[i] = 1;
        stack.push(i);
        for &j in &deps[i] {
            if state[j] == 1 {
                let start = stack.iter().position(|&k| k == j).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if state[j] == 0
                && let Some(c) = visit(j, deps, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state[i] = 2;
        None
    }
    let mut state = vec![0u8; deps.len()];
    for i in 0..deps.len() {
        if state[i] == 0
            && let Some(c) = visit(i, deps, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

enum Outcome {
    Built(BuiltImage),
    UpToDate(Vec<String>),
}

/// The hash of a group's inputs, in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inputs {
    parts: BTreeMap<&'static str, String>,
}

impl Inputs {
    fn label(&self) -> String {
        self.parts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn hash(&self) -> String {
        context::sha256_hex(self.label().as_bytes())
    }
}

fn short_hash(text: &str) -> String {
    context::sha256_hex(text.as_bytes())[..16].to_owned()
}

fn parse_parts(label: &str) -> BTreeMap<String, String> {
    label
        .split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Why the image must be rebuilt: what differs between its recorded
/// inputs and the current ones.
fn explain(old_parts: &str, new: &Inputs, scan: &Scan, cache: &Path, job: &Job) -> String {
    let old = parse_parts(old_parts);
    if old.is_empty() {
        return "the image has no record of its inputs (it was not built by muster)".to_owned();
    }
    let mut reasons = Vec::new();
    let differs =
        |key: &str| old.get(key).map(String::as_str) != new.parts.get(key).map(String::as_str);
    if differs("context") {
        let digest = old.get("context").map_or("", String::as_str);
        let changed = context::changed_files(cache, digest, scan).map(|mut files| {
            // The Dockerfile has its own reason.
            files.retain(|f| Some(f) != job.dockerfile_rel.as_ref());
            files
        });
        match changed {
            Some(files) if files.is_empty() => {}
            Some(files) => {
                let n = files.len();
                let mut text = format!(
                    "{n} {} changed since the image was built (",
                    if n == 1 { "file" } else { "files" }
                );
                text.push_str(&files.iter().take(3).cloned().collect::<Vec<_>>().join(", "));
                if n > 3 {
                    text.push_str(", ...");
                }
                text.push(')');
                reasons.push(text);
            }
            _ => reasons.push("the build context changed since the image was built".to_owned()),
        }
    }
    if differs("dockerfile") {
        reasons.push("the Dockerfile changed".to_owned());
    }
    if differs("args") {
        reasons.push("the build args changed".to_owned());
    }
    if differs("target") {
        reasons.push(format!(
            "the target changed from {} to {}",
            old.get("target").map_or("-", String::as_str),
            new.parts.get("target").map_or("-", String::as_str)
        ));
    }
    if differs("base") {
        reasons.push("a base image changed".to_owned());
    }
    if differs("labels") {
        reasons.push("the build labels changed".to_owned());
    }
    if reasons.is_empty() {
        "its inputs changed".to_owned()
    } else {
        reasons.join("; ")
    }
}

async fn run_group(
    engine: &dyn Engine,
    job: &Job,
    project: &str,
    cache: &Path,
    label_images: bool,
    reporter: &dyn Reporter,
) -> Result<Outcome, BuildError> {
    let service = job.service().to_owned();
    let engine_err = |source: EngineError| BuildError::Engine {
        service: service.clone(),
        source,
    };
    // Inputs: the context (on a blocking thread), the base images' ids.
    let scan = {
        let root = job.context.clone();
        let rules = job.rules.clone();
        let cache = cache.to_path_buf();
        tokio::task::spawn_blocking(move || context::scan(&root, &rules, &cache))
            .await
            .map_err(|e| BuildError::Unsupported {
                service: service.clone(),
                what: "scanning the build context".into(),
                why: format!("the task ended unexpectedly: {e}"),
            })?
            .map_err(|source| BuildError::Context {
                service: service.clone(),
                source,
            })?
    };
    let mut base = Vec::new();
    for image in job.parsed.external_images(job.target.as_deref(), &job.args) {
        match engine.inspect_image(&image).await.map_err(engine_err)? {
            Some(details) => base.push(format!("{image}={}", details.id)),
            None => {
                return Err(BuildError::BaseImageMissing {
                    service: service.clone(),
                    image,
                });
            }
        }
    }
    let mut parts = BTreeMap::new();
    parts.insert("context", scan.digest.clone());
    parts.insert("dockerfile", short_hash(&job.dockerfile_text));
    parts.insert(
        "args",
        short_hash(
            &job.args
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect::<String>(),
        ),
    );
    parts.insert(
        "target",
        job.target.clone().unwrap_or_else(|| "-".to_owned()),
    );
    parts.insert("base", short_hash(&base.join("\n")));
    parts.insert(
        "labels",
        short_hash(
            &job.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect::<String>(),
        ),
    );
    let inputs = Inputs { parts };
    let hash = inputs.hash();
    let parts_label = inputs.label();

    // Decide.
    let primary = &job.tags[0];
    let current = engine.inspect_image(primary).await.map_err(engine_err)?;
    let reason = match (&job.force, &current) {
        (Some(reason), _) => reason.clone(),
        (None, None) => "no image yet".to_owned(),
        (None, Some(image)) if recorded_parts(image, cache).as_deref() == Some(&parts_label) => {
            // Up to date; make sure every service's name points at it.
            for tag in &job.tags[1..] {
                let same = engine
                    .inspect_image(tag)
                    .await
                    .map_err(engine_err)?
                    .is_some_and(|other| other.id == image.id);
                if !same {
                    engine.tag_image(&image.id, tag).await.map_err(engine_err)?;
                }
            }
            for (s, image) in job.services.iter().zip(&job.images) {
                reporter.report(Event::ImageUpToDate {
                    service: s.clone(),
                    image: image.clone(),
                });
            }
            return Ok(Outcome::UpToDate(job.services.clone()));
        }
        (None, Some(image)) => explain(
            recorded_parts(image, cache).as_deref().unwrap_or(""),
            &inputs,
            &scan,
            cache,
            job,
        ),
    };

    // Build.
    if job.services.len() > 1 {
        reporter.report(Event::Note {
            message: format!(
                "services {} share one build: building it once",
                job.services.join(", ")
            ),
        });
    }
    for (s, image) in job.services.iter().zip(&job.images) {
        reporter.report(Event::Building {
            service: s.clone(),
            image: image.clone(),
            reason: reason.clone(),
        });
    }
    let began = Instant::now();
    let mut image_labels = job.labels.clone();
    if label_images {
        image_labels.insert(spec::labels::PROJECT.to_owned(), project.to_owned());
        image_labels.insert(spec::labels::SERVICE.to_owned(), service.clone());
        image_labels.insert(labels::HASH.to_owned(), hash);
        image_labels.insert(labels::PARTS.to_owned(), parts_label.clone());
    }
    let build_spec = BuildSpec {
        tag: primary.clone(),
        dockerfile: SENT_DOCKERFILE.to_owned(),
        target: job.target.clone(),
        args: job.args.clone(),
        // In the Dockerfile: the classic builder makes one step of each
        // label given through the API, a second or so apiece.
        labels: BTreeMap::new(),
        no_cache: job.no_cache,
        network: job.network.clone(),
        extra_hosts: job.extra_hosts.clone(),
        shm_size: job.shm_size,
        cache_from: job.cache_from.clone(),
    };
    let scan = Arc::new(scan);
    let extra = sent_files(job, &scan, &image_labels);
    let (tar, tar_failure) = context::stream(Arc::clone(&scan), extra);
    let mut output = engine.build_image(&build_spec, tar);
    let mut step: Option<String> = None;
    let mut last_lines: VecDeque<String> = VecDeque::new();
    let mut image_id = None;
    while let Some(item) = output.next().await {
        match item {
            Ok(BuildOutput::Line(line)) => {
                if let Some(s) = parse_step(&line) {
                    last_lines.clear();
                    for service in &job.services {
                        reporter.report(Event::BuildStep {
                            service: service.clone(),
                            step: s.clone(),
                        });
                    }
                    step = Some(s);
                } else if !is_chatter(&line) {
                    if last_lines.len() == LAST_LINES {
                        last_lines.pop_front();
                    }
                    last_lines.push_back(line.clone());
                }
                reporter.report(Event::BuildOutput {
                    service: service.clone(),
                    line,
                });
            }
            Ok(BuildOutput::ImageId(id)) => image_id = Some(id),
            Err(err) => {
                if let Some(source) = tar_failure.lock().ok().and_then(|mut f| f.take()) {
                    return Err(BuildError::Context {
                        service: service.clone(),
                        source,
                    });
                }
                let message = match &err {
                    EngineError::Failed { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                let failure = StepFailure {
                    service: service.clone(),
                    step,
                    exit_code: exit_code_of(&message),
                    output: last_lines.into_iter().collect(),
                    message,
                };
                for s in &job.services {
                    reporter.report(Event::Failed {
                        service: s.clone(),
                        reason: match (&failure.step, failure.exit_code) {
                            (Some(step), Some(code)) => {
                                format!("build step {step} exited with code {code}")
                            }
                            (Some(step), None) => format!("build step {step} failed"),
                            _ => "the image build failed".to_owned(),
                        },
                    });
                }
                return Err(BuildError::StepFailed(Box::new(failure)));
            }
        }
    }
    let id = match image_id {
        Some(id) => id,
        None => engine
            .inspect_image(primary)
            .await
            .map_err(engine_err)?
            .map(|i| i.id)
            .unwrap_or_default(),
    };
    // Every other service's name, or none of them.
    let mut tagged: Vec<String> = Vec::new();
    for tag in &job.tags[1..] {
        if let Err(e) = engine.tag_image(&id, tag).await {
            for done in &tagged {
                let _ = engine.remove_image(done, false).await;
            }
            return Err(engine_err(e));
        }
        tagged.push(tag.clone());
    }
    context::save_manifest(cache, &scan);
    context::save_record(cache, &id, &parts_label);
    let elapsed = began.elapsed();
    for (s, image) in job.services.iter().zip(&job.images) {
        reporter.report(Event::Built {
            service: s.clone(),
            image: image.clone(),
            elapsed,
        });
    }
    Ok(Outcome::Built(BuiltImage {
        services: job.services.clone(),
        images: job.tags.clone(),
        id,
        reason,
        elapsed,
    }))
}

/// The files muster adds to the context's tar: the Dockerfile with the
/// image's labels in one `LABEL` at the end of the target stage, and a
/// `.dockerignore` that tells the builder to drop it from the context (the
/// context's own `.dockerignore`, when it is sent, with that line added),
/// as the docker CLI does for a Dockerfile from outside the context.
fn sent_files(job: &Job, scan: &Scan, labels: &BTreeMap<String, String>) -> Vec<ExtraFile> {
    let label_line = if labels.is_empty() {
        String::new()
    } else {
        format!(
            "LABEL {}\n",
            labels
                .iter()
                .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let text = &job.dockerfile_text;
    let end_line = job
        .target
        .as_deref()
        .and_then(|t| job.parsed.stage_index(t))
        .and_then(|i| job.parsed.stages.get(i + 1))
        .map(|next| next.line);
    let mut dockerfile = String::with_capacity(text.len() + label_line.len() + 1);
    match end_line {
        Some(line) => {
            for (n, l) in text.split_inclusive('\n').enumerate() {
                if n + 1 == line {
                    dockerfile.push_str(&label_line);
                }
                dockerfile.push_str(l);
            }
        }
        None => {
            dockerfile.push_str(text);
            if !text.ends_with('\n') {
                dockerfile.push('\n');
            }
            dockerfile.push_str(&label_line);
        }
    }
    let own_ignore = scan
        .entries
        .iter()
        .any(|e| e.path == ".dockerignore" && e.kind != context::EntryKind::Dir);
    let mut ignore = if own_ignore {
        std::fs::read(scan.root.join(".dockerignore")).unwrap_or_default()
    } else {
        b".dockerignore\n".to_vec()
    };
    ignore.extend_from_slice(format!("\n{SENT_DOCKERFILE}\n").as_bytes());
    vec![
        ExtraFile {
            path: SENT_DOCKERFILE.to_owned(),
            content: dockerfile.into_bytes(),
        },
        ExtraFile {
            path: ".dockerignore".to_owned(),
            content: ignore,
        },
    ]
}

/// A `LABEL` key or value, double-quoted, with nothing the builder would
/// expand.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The inputs an image was built from, as the [`labels::PARTS`] label
/// says, else as muster's cache remembers for its id.
fn recorded_parts(image: &crate::engine::ImageDetails, cache: &Path) -> Option<String> {
    image
        .labels
        .get(labels::PARTS)
        .cloned()
        .or_else(|| context::load_record(cache, &image.id))
}

/// How many lines of a failed step are kept to show.
const LAST_LINES: usize = 12;

/// `Step 4/9 : RUN npm ci` -> `4/9 RUN npm ci`.
fn parse_step(line: &str) -> Option<String> {
    let rest = line.strip_prefix("Step ")?;
    let (count, instruction) = rest.split_once(" : ")?;
    count
        .split_once('/')
        .filter(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())?;
    // muster's own LABEL line is long and says nothing to the user.
    let instruction =
        if instruction.starts_with("LABEL ") && instruction.contains("\"dev.muster.build.hash\"") {
            "LABEL (muster's image labels)"
        } else {
            instruction
        };
    Some(format!("{count} {instruction}"))
}

/// The classic builder's own lines, not a step's output.
fn is_chatter(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("--->")
        || t.starts_with("Removing intermediate container")
        || t.starts_with("Successfully built")
        || t.starts_with("Successfully tagged")
        || t.starts_with("Sending build context")
        || t.is_empty()
}

/// The exit code in the classic builder's `... returned a non-zero code: 3`.
fn exit_code_of(message: &str) -> Option<i64> {
    let (_, code) = message.rsplit_once("returned a non-zero code:")?;
    code.trim().parse().ok()
}

#[cfg(test)]
mod tests;
