//! Hot reload: `develop.watch` rules acted on as files change.
//!
//! [`watch`] compiles each watched service's rules ([`rules`]), watches the
//! directories they can care about and nothing else ([`watcher`]: ignored
//! trees cost no inotify watch), gathers changes into batches after a short
//! quiet period ([`plan::next_batch`]), and turns each batch into at most
//! one action per service ([`plan::plan`]):
//!
//! - `sync`, `sync+restart`, `sync+exec`: the changed files go into the
//!   service's running containers as one tar through the engine's archive
//!   API (no `tar` or shell needed in the image); deleted files are removed
//!   with `rm` run in the container (the archive API cannot delete);
//!   then the restart or the rule's `exec` command;
//! - `restart`: the containers are restarted;
//! - `rebuild`: the orchestrator's `up` runs for the watched selection, so
//!   the image whose inputs changed is rebuilt (once per build config), the
//!   service recreated and awaited, and dependents with `restart: true`
//!   restarted. A failing build leaves the old containers running.
//!
//! Changes that arrive while an action runs wait in the channel for the
//! next batch: none is lost. A change to a compose file, `.env` or an
//! `env_file` reads the project again and converges it with `up`.
//!
//! The library knows nothing of terminals: it reports
//! [`WatchEvent`]s through the orchestrator's [`Reporter`].

pub mod plan;
pub mod rules;
pub mod watcher;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::build::ignore::IgnoreRules;
use crate::engine::{ContainerState, Engine, ExecSpec};
use crate::model::types::VolumeType;
use crate::model::{self, LoadedProject, ProjectOptions};
use crate::orchestrator::events::{Event, Reporter, WatchEvent};
use crate::orchestrator::spec::{project_filter, service_filter};
use crate::orchestrator::up::{UpOptions, UpSummary, up};

use self::plan::{ServicePlan, SyncOp};
use self::rules::Trigger;
use self::watcher::Watcher;

/// What can stop `watch`.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// None of the selected services has `develop.watch` rules.
    #[error("cannot watch project {project}: none of {services} has develop.watch rules")]
    NoRules { project: String, services: String },
    /// A rule's `ignore` or `include` pattern is invalid.
    #[error("cannot watch service {service}: invalid pattern in the rule for {path}: {message}")]
    Pattern {
        service: String,
        path: String,
        message: String,
    },
    /// The system's limit of inotify watches is reached.
    #[error(
        "cannot watch {path}: the system's limit of inotify watches (fs.inotify.max_user_watches) is reached; \
         raise it with `sudo sysctl fs.inotify.max_user_watches=524288` \
         (and in /etc/sysctl.conf to keep it), or ignore more directories in the rules"
    )]
    InotifyLimit { path: String },
    /// The file system cannot be watched.
    #[error("cannot watch {path}: {message}")]
    Notify { path: String, message: String },
}

impl WatchError {
    fn from_notify(e: notify::Error, path: Option<&Path>) -> Self {
        let path = path
            .map(|p| p.display().to_string())
            .or_else(|| e.paths.first().map(|p| p.display().to_string()))
            .unwrap_or_else(|| "files".to_owned());
        match e.kind {
            notify::ErrorKind::MaxFilesWatch => Self::InotifyLimit { path },
            _ => Self::Notify {
                path,
                message: e.to_string(),
            },
        }
    }
}

/// How to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The services to watch; empty for every service with rules.
    pub services: Vec<String>,
    /// How `up` runs for rebuilds and reloads (its `services` is the
    /// selection that was brought up).
    pub up: UpOptions,
    /// How to read the project again when its files change.
    pub project: ProjectOptions,
    /// The quiet period that ends a batch.
    pub quiet: Duration,
}

/// The rules of the watched services, with sync rules on bind-mounted
/// paths left out (reported once).
///
/// # Errors
/// No selected service has rules, or a pattern is invalid.
pub fn triggers(
    loaded: &LoadedProject,
    services: &[String],
    reporter: &dyn Reporter,
) -> Result<Vec<Trigger>, WatchError> {
    let mut out = Vec::new();
    for (name, service) in &loaded.project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(develop) = &service.develop else {
            continue;
        };
        let context = service.build.as_ref().map(|b| {
            let dir = PathBuf::from(&b.context);
            let dockerfile = b.dockerfile.as_ref().map(|d| dir.join(d));
            let rules = IgnoreRules::for_build(&dir, dockerfile.as_deref()).unwrap_or_default();
            (dir, rules)
        });
        for rule in &develop.watch {
            let trigger = Trigger::new(name, rule, &loaded.working_dir, context.clone())?;
            if trigger.action.syncs()
                && let Some(mount) = service.volumes.iter().find(|v| {
                    v.kind == VolumeType::Bind
                        && v.source.as_deref().is_some_and(|s| {
                            trigger.path.starts_with(rules::lexical_clean(Path::new(s)))
                        })
                })
            {
                reporter.report(Event::Watch(WatchEvent::BindMounted {
                    service: name.clone(),
                    path: format!("{} ({})", rule.path, mount.target),
                }));
                if trigger.action == crate::model::types::WatchAction::Sync {
                    continue;
                }
            }
            out.push(trigger);
        }
    }
    if out.is_empty() {
        return Err(WatchError::NoRules {
            project: loaded.name.clone(),
            services: if services.is_empty() {
                "its services".to_owned()
            } else {
                services.join(", ")
            },
        });
    }
    Ok(out)
}

/// The files whose change means the project must be read again: the
/// compose files, `.env` and the services' `env_file`s.
#[must_use]
pub fn project_files(loaded: &LoadedProject) -> Vec<PathBuf> {
    let mut files: BTreeSet<PathBuf> = loaded.config_files.iter().cloned().collect();
    files.insert(loaded.working_dir.join(".env"));
    for service in loaded.project.services.values() {
        for env_file in &service.env_file {
            files.insert(PathBuf::from(&env_file.path));
        }
    }
    files.into_iter().collect()
}

/// The running containers of a service.
async fn containers_of(
    engine: &dyn Engine,
    project: &str,
    service: &str,
) -> Result<Vec<String>, String> {
    let found = engine
        .list_containers(&[project_filter(project), service_filter(service)])
        .await
        .map_err(|e| e.to_string())?;
    Ok(found
        .into_iter()
        .filter(|c| c.state == ContainerState::Running)
        .map(|c| c.id)
        .collect())
}

/// Copies `op`'s files into the containers and deletes its deleted paths.
///
/// # Errors
/// A file cannot be read, or the engine refuses.
pub async fn sync(engine: &dyn Engine, containers: &[String], op: &SyncOp) -> Result<(), String> {
    if !op.copy.is_empty() {
        let archive =
            plan::archive(&op.copy).map_err(|e| format!("cannot read files to sync: {e}"))?;
        for id in containers {
            engine
                .upload_archive(id, "/", archive.clone())
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    if !op.delete.is_empty() {
        for id in containers {
            delete(engine, id, &op.delete).await?;
        }
    }
    Ok(())
}

/// Deletes `paths` in a container. The engine's API can write files but
/// not delete them, so this runs `rm` in the container, or busybox's when
/// the image has busybox but no `rm` link.
///
/// # Errors
/// Neither runs in the image, or the delete fails.
async fn delete(engine: &dyn Engine, container: &str, paths: &[String]) -> Result<(), String> {
    for program in [&["rm"][..], &["busybox", "rm"]] {
        let mut cmd: Vec<String> = program.iter().map(|&p| p.to_owned()).collect();
        cmd.extend(["-rf".to_owned(), "--".to_owned()]);
        cmd.extend(paths.iter().cloned());
        let spec = ExecSpec {
            cmd,
            ..ExecSpec::default()
        };
        let out = engine
            .exec(container, &spec)
            .await
            .map_err(|e| e.to_string())?;
        match out.exit_code {
            Some(0) => return Ok(()),
            // The runtime could not start it (126) or a shell did not find
            // it (127): try the next way.
            Some(126 | 127) => {}
            _ => {
                return Err(format!(
                    "cannot delete {} in the container: {}",
                    paths.join(", "),
                    out.output.trim()
                ));
            }
        }
    }
    Err(format!(
        "cannot delete {} in the container: the image has neither `rm` nor `busybox`, \
         and the engine's API cannot delete files; add `rm` to the image, or bind-mount \
         this path instead of syncing it",
        paths.join(", "),
    ))
}

/// Restarts containers (stop, then start).
async fn restart(engine: &dyn Engine, containers: &[String]) -> Result<(), String> {
    for id in containers {
        engine
            .stop_container(id, None)
            .await
            .map_err(|e| e.to_string())?;
        engine
            .start_container(id)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Acts on one service's plan (everything but rebuilds).
pub async fn apply(
    engine: &dyn Engine,
    project: &str,
    plan: &ServicePlan,
    reporter: &dyn Reporter,
) {
    let fail = |reason: String| {
        reporter.report(Event::Watch(WatchEvent::Failed {
            service: Some(plan.service.clone()),
            reason,
        }));
    };
    let containers = match containers_of(engine, project, &plan.service).await {
        Ok(c) if c.is_empty() => return fail("no running container to update".to_owned()),
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if !plan.sync.is_empty() {
        let began = Instant::now();
        if let Err(e) = sync(engine, &containers, &plan.sync).await {
            return fail(e);
        }
        reporter.report(Event::Watch(WatchEvent::Synced {
            service: plan.service.clone(),
            files: plan.sync.len(),
            elapsed: began.elapsed(),
        }));
    }
    for hook in &plan.exec {
        let spec = ExecSpec {
            cmd: hook.command.args().to_vec(),
            env: hook
                .environment
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect(),
            user: hook.user.clone(),
            working_dir: hook.working_dir.clone(),
            timeout: None,
        };
        for id in &containers {
            match engine.exec(id, &spec).await {
                Ok(out) => reporter.report(Event::Watch(WatchEvent::Executed {
                    service: plan.service.clone(),
                    command: spec.cmd.join(" "),
                    exit_code: out.exit_code,
                })),
                Err(e) => fail(e.to_string()),
            }
        }
    }
    if plan.restart {
        match restart(engine, &containers).await {
            Ok(()) => reporter.report(Event::Watch(WatchEvent::Restarted {
                service: plan.service.clone(),
                because: None,
            })),
            Err(e) => fail(e),
        }
    }
}

/// Passes every event on, and notes when each service's build ended, so
/// that a rebuild can say how long the build took and how long the
/// container took to be ready after it.
struct BuildTimes {
    inner: Arc<dyn Reporter>,
    built: std::sync::Mutex<BTreeMap<String, (Duration, Instant)>>,
}

impl Reporter for BuildTimes {
    fn report(&self, event: Event) {
        if let Event::Built {
            service, elapsed, ..
        } = &event
        {
            self.built
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(service.clone(), (*elapsed, Instant::now()));
        }
        self.inner.report(event);
    }
}

/// Runs `up` for a rebuild or a reload and reports what it did; then
/// copies the trees of `initial_sync` rules into the new containers. The
/// orchestrator's own events go to `reporter` too. `None` when it failed
/// (reported).
async fn converge(
    engine: &Arc<dyn Engine>,
    loaded: &LoadedProject,
    options: &UpOptions,
    rebuilt: &[String],
    triggers: &[Trigger],
    reporter: &Arc<dyn Reporter>,
) -> Option<UpSummary> {
    let began = Instant::now();
    let times = Arc::new(BuildTimes {
        inner: Arc::clone(reporter),
        built: std::sync::Mutex::new(BTreeMap::new()),
    });
    let result = up(engine.clone(), loaded, options, times.clone()).await;
    let done = Instant::now();
    match result {
        Ok(summary) => {
            let built = times
                .built
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            for report in &summary.services {
                if rebuilt.contains(&report.service) && report.recreated + report.created > 0 {
                    // Without a build of its own (its image was up to date,
                    // or built for another service), all of it was getting
                    // ready.
                    let ready_at = report.ready_at.map_or(done, |at| began + at);
                    let (build, ready) = built
                        .get(&report.service)
                        .map_or((Duration::ZERO, ready_at - began), |(elapsed, ended)| {
                            (*elapsed, ready_at.saturating_duration_since(*ended))
                        });
                    reporter.report(Event::Watch(WatchEvent::Rebuilt {
                        service: report.service.clone(),
                        build,
                        ready,
                    }));
                } else if report.restarted > 0 {
                    let because = rebuilt.first().cloned();
                    reporter.report(Event::Watch(WatchEvent::Restarted {
                        service: report.service.clone(),
                        because,
                    }));
                }
            }
            let new = replaced(&summary);
            initial_sync(&**engine, &loaded.name, triggers, Some(&new), &**reporter).await;
            Some(summary)
        }
        Err(e) => {
            reporter.report(Event::Watch(WatchEvent::Failed {
                service: (rebuilt.len() == 1).then(|| rebuilt[0].clone()),
                reason: kept(&e.to_string()),
            }));
            None
        }
    }
}

/// A started watch: its rules and the watcher feeding `rx`.
struct Session {
    triggers: Arc<Vec<Trigger>>,
    files: Vec<PathBuf>,
    watcher: Watcher,
}

fn start(
    loaded: &LoadedProject,
    services: &[String],
    reporter: &dyn Reporter,
    tx: mpsc::UnboundedSender<plan::Change>,
) -> Result<Session, WatchError> {
    let mut triggers = triggers(loaded, services, reporter)?;
    let dirs = watcher::prepare(&mut triggers);
    let files = project_files(loaded);
    let triggers = Arc::new(triggers);
    let watcher = Watcher::start(triggers.clone(), dirs, files.clone(), tx)?;
    let mut names: Vec<String> = triggers.iter().map(|t| t.service.clone()).collect();
    names.dedup();
    reporter.report(Event::Watch(WatchEvent::Watching {
        services: names,
        watches: watcher.watches(),
    }));
    Ok(Session {
        triggers,
        files,
        watcher,
    })
}

/// `reason` for a failure that left the old containers running: said at
/// the end of its first line, before any detail lines.
fn kept(reason: &str) -> String {
    const KEPT: &str = "(the running containers are kept)";
    match reason.split_once('\n') {
        Some((first, details)) => format!("{first} {KEPT}\n{details}"),
        None => format!("{reason} {KEPT}"),
    }
}

/// The services that have a new container after `up`.
fn replaced(summary: &UpSummary) -> Vec<String> {
    summary
        .services
        .iter()
        .filter(|r| r.created + r.recreated > 0)
        .map(|r| r.service.clone())
        .collect()
}

/// Copies the whole tree of each `initial_sync` rule into its service's
/// containers: when watching begins (`only` is `None`), and into the new
/// containers of the services in `only` after a rebuild or a reload, which
/// start from the image and so lack what was synced into the old ones.
async fn initial_sync(
    engine: &dyn Engine,
    project: &str,
    triggers: &[Trigger],
    only: Option<&[String]>,
    reporter: &dyn Reporter,
) {
    let wanted = triggers
        .iter()
        .filter(|t| t.initial_sync && only.is_none_or(|services| services.contains(&t.service)));
    for trigger in wanted {
        let op = plan::initial_sync(trigger);
        if !op.is_empty() {
            let plan = ServicePlan {
                service: trigger.service.clone(),
                sync: op,
                ..ServicePlan::default()
            };
            apply(engine, project, &plan, reporter).await;
        }
    }
}

/// Watches until cancelled (drop the future). The stack is expected to be
/// up: `watch` only acts on changes (and `initial_sync` rules).
///
/// # Errors
/// When watching cannot begin: no rules, an invalid pattern, the inotify
/// limit. Failures of single actions are reported and watching goes on.
pub async fn watch(
    engine: Arc<dyn Engine>,
    loaded: LoadedProject,
    options: WatchOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<(), WatchError> {
    let mut loaded = loaded;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut session = start(&loaded, &options.services, &*reporter, tx.clone())?;
    initial_sync(&*engine, &loaded.name, &session.triggers, None, &*reporter).await;
    while let Some(batch) = plan::next_batch(&mut rx, options.quiet, plan::MAX_WAIT).await {
        let changed_files: Vec<&PathBuf> =
            batch.iter().filter(|p| session.files.contains(p)).collect();
        if let Some(file) = changed_files.first() {
            let file = file.display().to_string();
            match model::load(&options.project) {
                Ok(reloaded) => {
                    loaded = reloaded;
                    match start(&loaded, &options.services, &*reporter, tx.clone()) {
                        Ok(s) => session = s,
                        Err(e) => reporter.report(Event::Watch(WatchEvent::Failed {
                            service: None,
                            reason: e.to_string(),
                        })),
                    }
                    let services = &options.up.services;
                    let triggers = &session.triggers;
                    if let Some(summary) =
                        converge(&engine, &loaded, &options.up, services, triggers, &reporter).await
                    {
                        reporter.report(Event::Watch(WatchEvent::Reloaded {
                            file,
                            summary: summary.line(),
                        }));
                    }
                }
                Err(errors) => reporter.report(Event::Watch(WatchEvent::Failed {
                    service: None,
                    reason: kept(&format!("cannot read {file} again: {errors}")),
                })),
            }
            continue;
        }
        let plans = plan::plan(&session.triggers, &batch);
        let rebuilds: Vec<String> = plans
            .iter()
            .filter(|p| p.rebuild)
            .map(|p| p.service.clone())
            .collect();
        let others = plans.iter().filter(|p| !p.rebuild);
        futures_util::future::join_all(
            others.map(|p| apply(&*engine, &loaded.name, p, &*reporter)),
        )
        .await;
        if !rebuilds.is_empty() {
            let triggers = &session.triggers;
            converge(
                &engine,
                &loaded,
                &options.up,
                &rebuilds,
                triggers,
                &reporter,
            )
            .await;
        }
    }
    drop(session.watcher);
    Ok(())
}

/// The watches in use of a session, by directory, for tests.
#[doc(hidden)]
#[must_use]
pub fn watched_dirs(loaded: &LoadedProject, services: &[String]) -> BTreeMap<PathBuf, ()> {
    let mut triggers =
        triggers(loaded, services, &crate::orchestrator::events::Silent).unwrap_or_default();
    watcher::prepare(&mut triggers)
        .into_iter()
        .map(|d| (d, ()))
        .collect()
}
