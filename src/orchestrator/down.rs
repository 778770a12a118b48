//! `down`: stop and remove a project's containers, then its networks, and
//! its named volumes and images when asked.
//!
//! Everything is found by compose's project label, never from the file
//! alone, so `down` cleans up after an `up` that failed or was interrupted
//! half-way, after the file changed, and with no file at all.
//!
//! # Theory of operation
//!
//! 1. List the project's containers. With a file, a container whose service
//!    the file no longer defines (or a one-off container) is an orphan: it is
//!    removed only with `remove_orphans`, and otherwise counted in a note.
//! 2. Work out who depends on whom: from the file's graph, or, for services
//!    the file does not know (or without a file), from the
//!    `com.docker.compose.depends_on` label compose and muster put on every
//!    container.
//! 3. Stop in reverse dependency order, as parallel as the graph allows: a
//!    service stops as soon as every service that depends on it has
//!    stopped, not when a whole "level" is done. Each container is removed
//!    right after its service stopped. At most [`MAX_PARALLEL`] engine
//!    calls run at once.
//! 4. Remove the project's networks (never external ones), then, with
//!    `remove_volumes`, its named volumes (never external ones), then the
//!    images asked for with `rmi`. When only some services were taken down
//!    and other containers of the project remain, networks and volumes stay.
//!
//! `down` goes on past failures, so that one stuck container does not keep
//! the rest alive, and reports them all at the end as
//! [`OrchestratorError::Incomplete`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Semaphore;

use crate::engine::{ContainerSummary, Engine, EngineError};
use crate::model::LoadedProject;
use crate::orchestrator::anonymous;
use crate::orchestrator::error::OrchestratorError;
use crate::orchestrator::events::{Event, ObjectKind, Reporter};
use crate::orchestrator::spec::{self, labels};

/// The most engine calls `down` makes at once. A stop mostly waits for the
/// container's grace period, so a low bound made a wide project take one
/// grace period per batch (25 containers at 8: four); `up` allows as many.
pub const MAX_PARALLEL: usize = 32;

/// Which images `down --rmi` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rmi {
    /// Only images built for services without an `image:` (named
    /// `<project>-<service>`).
    Local,
    /// Every image the services use.
    All,
}

/// What `down` removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownOptions {
    /// Only these services, and the services that depend on them; empty
    /// for the whole project.
    pub services: Vec<String>,
    /// Also remove named volumes (and containers' anonymous volumes): `-v`.
    pub remove_volumes: bool,
    /// Also remove containers of services the file no longer defines, and
    /// one-off containers.
    pub remove_orphans: bool,
    /// How long each container gets to stop before it is killed; `None`
    /// uses each container's own `stop_grace_period` (10 s by default).
    pub timeout: Option<Duration>,
    /// Which images to remove, if any.
    pub rmi: Option<Rmi>,
}

/// What `down` removed and what it left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownSummary {
    /// Containers removed, by name, sorted.
    pub containers: Vec<String>,
    /// Networks removed, sorted.
    pub networks: Vec<String>,
    /// Volumes removed, sorted.
    pub volumes: Vec<String>,
    /// Images removed, sorted.
    pub images: Vec<String>,
    /// Orphan containers found and left in place (no `remove_orphans`).
    pub orphans: Vec<String>,
}

impl DownSummary {
    /// Whether nothing at all was removed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.networks.is_empty()
            && self.volumes.is_empty()
            && self.images.is_empty()
    }
}

/// Stops and removes `project`'s containers, networks, and (when asked)
/// volumes and images, reporting each step to `reporter`.
///
/// `loaded` is the project's file when there is one: it gives the
/// dependency order and tells orphans apart. Without it, everything with
/// the project label goes, in the order the containers' labels give.
///
/// # Errors
/// [`OrchestratorError::NoSuchService`] for a requested service the file
/// does not define; [`OrchestratorError::Engine`] when the project's
/// objects cannot be listed; [`OrchestratorError::Incomplete`] listing every
/// step that failed (the others are done anyway).
pub async fn down(
    engine: &dyn Engine,
    project: &str,
    loaded: Option<&LoadedProject>,
    options: &DownOptions,
    reporter: &dyn Reporter,
) -> Result<DownSummary, OrchestratorError> {
    let context = || format!("cannot take project {project} down");
    if let Some(loaded) = loaded {
        let names: Vec<&str> = loaded.project.services.keys().map(String::as_str).collect();
        for service in &options.services {
            if !loaded.project.services.contains_key(service) {
                return Err(OrchestratorError::NoSuchService {
                    service: service.clone(),
                    suggestion: crate::model::load::suggest(service, &names).map(str::to_owned),
                });
            }
        }
    }

    let filter = [spec::project_filter(project)];
    let containers = engine
        .list_containers(&filter)
        .await
        .map_err(|e| OrchestratorError::engine(context(), e))?;

    let in_file = |service: &str| loaded.is_none_or(|l| l.project.services.contains_key(service));
    let deps = dependencies(loaded, &containers);
    let targets: Option<BTreeSet<String>> =
        (!options.services.is_empty()).then(|| with_dependents(&options.services, &deps));

    let mut summary = DownSummary::default();
    let mut to_remove = Vec::new();
    let mut left = 0usize;
    for container in containers {
        let service = service_of(&container);
        let orphan = container.label(labels::ONEOFF) == Some("True") || !in_file(service);
        if orphan {
            if options.remove_orphans {
                to_remove.push(container);
            } else {
                summary.orphans.push(container.name().to_owned());
                left += 1;
            }
        } else if targets.as_ref().is_none_or(|t| t.contains(service)) {
            to_remove.push(container);
        } else {
            left += 1;
        }
    }
    summary.orphans.sort();
    if !summary.orphans.is_empty() {
        reporter.report(Event::Note {
            message: format!(
                "found {} orphan container{} ({}) for project {project}: their services are not in \
                 the file any more; run down with --remove-orphans to remove them",
                summary.orphans.len(),
                if summary.orphans.len() == 1 { "" } else { "s" },
                summary.orphans.join(", ")
            ),
        });
    }

    let semaphore = Semaphore::new(MAX_PARALLEL);
    let work = Work {
        engine,
        reporter,
        semaphore: &semaphore,
        options,
    };
    let mut errors = Vec::new();
    let removed = work.containers(to_remove, &deps, &mut errors).await;
    left += removed.failed;
    summary.containers = removed.names;
    summary.containers.sort();

    if options.services.is_empty() || left == 0 {
        summary.networks = work.networks(project, loaded, &mut errors).await;
        if options.remove_volumes {
            summary.volumes = work.volumes(project, loaded, &mut errors).await;
        }
    }
    if let Some(rmi) = options.rmi {
        let images = images_to_remove(project, loaded, &removed.containers, targets.as_ref(), rmi);
        summary.images = work.images(images, &mut errors).await;
    }

    if summary.is_empty() && errors.is_empty() && summary.orphans.is_empty() {
        reporter.report(Event::Note {
            message: format!("nothing to remove for project {project}"),
        });
    }
    reporter.report(Event::Done {
        summary: describe(&summary),
    });
    if errors.is_empty() {
        Ok(summary)
    } else {
        Err(OrchestratorError::Incomplete {
            operation: format!("down of project {project}"),
            errors,
        })
    }
}

/// `removed 3 containers, 1 network`.
fn describe(summary: &DownSummary) -> String {
    let mut parts = Vec::new();
    for (n, what) in [
        (summary.containers.len(), "container"),
        (summary.networks.len(), "network"),
        (summary.volumes.len(), "volume"),
        (summary.images.len(), "image"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}{}", if n == 1 { "" } else { "s" }));
        }
    }
    if parts.is_empty() {
        "removed nothing".to_owned()
    } else {
        format!("removed {}", parts.join(", "))
    }
}

fn service_of(container: &ContainerSummary) -> &str {
    container.label(labels::SERVICE).unwrap_or_default()
}

/// Each service's dependencies: from the file's graph for the services it
/// defines, from the containers' `depends_on` labels for the others.
fn dependencies(
    loaded: Option<&LoadedProject>,
    containers: &[ContainerSummary],
) -> HashMap<String, Vec<String>> {
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(graph) = loaded.and_then(|l| l.graph().ok()) {
        for service in graph.services() {
            let on = graph
                .dependencies(service)
                .iter()
                .map(|d| d.service.clone())
                .collect();
            deps.insert(service.to_owned(), on);
        }
    }
    for container in containers {
        let service = service_of(container);
        if !deps.contains_key(service)
            && let Some(label) = container.label(labels::DEPENDS_ON)
        {
            deps.insert(service.to_owned(), spec::parse_depends_on_label(label));
        }
    }
    deps
}

/// `requested` and every service that depends on them, transitively: taking
/// a service down takes down what needs it.
fn with_dependents(requested: &[String], deps: &HashMap<String, Vec<String>>) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = requested.iter().cloned().collect();
    let mut queue: Vec<String> = requested.to_vec();
    while let Some(service) = queue.pop() {
        for (dependent, on) in deps {
            if on.contains(&service) && out.insert(dependent.clone()) {
                queue.push(dependent.clone());
            }
        }
    }
    out
}

/// Images for `--rmi`: the built ones (`<project>-<service>`) of the
/// services taken down, and with [`Rmi::All`] also the images they named.
fn images_to_remove(
    project: &str,
    loaded: Option<&LoadedProject>,
    removed: &[ContainerSummary],
    targets: Option<&BTreeSet<String>>,
    rmi: Rmi,
) -> Vec<String> {
    let mut images = BTreeSet::new();
    if let Some(loaded) = loaded {
        for (name, service) in &loaded.project.services {
            if targets.is_some_and(|t| !t.contains(name)) {
                continue;
            }
            if service.image.is_none() || rmi == Rmi::All {
                images.insert(spec::image_name(&loaded.name, name, service));
            }
        }
    }
    for container in removed {
        let built = format!("{project}-{}", service_of(container)).to_lowercase();
        let image = container.image.as_str();
        if rmi == Rmi::All || image == built || image.strip_suffix(":latest") == Some(&built) {
            images.insert(image.to_owned());
        }
    }
    images.into_iter().filter(|i| !i.is_empty()).collect()
}

type Task<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// What a finished task did.
enum Outcome {
    /// Every container of `service` is stopped (or failed to).
    Stopped { service: String },
    /// A container was removed (`Ok(name)`), or not.
    Removed(Result<String, EngineError>),
}

/// The containers removed by [`Work::containers`].
struct Removed {
    names: Vec<String>,
    containers: Vec<ContainerSummary>,
    failed: usize,
}

/// What every step shares.
struct Work<'a> {
    engine: &'a dyn Engine,
    reporter: &'a dyn Reporter,
    semaphore: &'a Semaphore,
    options: &'a DownOptions,
}

impl Work<'_> {
    /// Stops `containers` in reverse dependency order, as parallel as the
    /// graph allows, removing each right after its service stopped.
    async fn containers(
        &self,
        containers: Vec<ContainerSummary>,
        deps: &HashMap<String, Vec<String>>,
        errors: &mut Vec<OrchestratorError>,
    ) -> Removed {
        let mut by_service: BTreeMap<String, Vec<ContainerSummary>> = BTreeMap::new();
        for container in containers {
            by_service
                .entry(service_of(&container).to_owned())
                .or_default()
                .push(container);
        }
        // For each service, the services (being taken down) it depends on,
        // and how many of those being taken down depend on it.
        let mut depends_on: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut blockers: HashMap<&str, usize> =
            by_service.keys().map(|s| (s.as_str(), 0)).collect();
        for service in by_service.keys() {
            let mut on: Vec<&str> = deps
                .get(service)
                .into_iter()
                .flatten()
                .filter_map(|d| by_service.get_key_value(d).map(|(k, _)| k.as_str()))
                .filter(|d| *d != service)
                .collect();
            on.sort_unstable();
            on.dedup();
            for d in &on {
                *blockers.entry(d).or_default() += 1;
            }
            depends_on.insert(service.as_str(), on);
        }

        let mut pending: BTreeSet<&str> = by_service.keys().map(String::as_str).collect();
        let mut tasks: FuturesUnordered<Task<'_>> = FuturesUnordered::new();
        let mut removed = Removed {
            names: Vec::new(),
            containers: Vec::new(),
            failed: 0,
        };
        loop {
            let ready: Vec<&str> = pending
                .iter()
                .copied()
                .filter(|s| blockers.get(s).copied().unwrap_or(0) == 0)
                .collect();
            for service in ready {
                pending.remove(service);
                let list = &by_service[service];
                tasks.push(Box::pin(self.stop_service(service, list)));
            }
            if tasks.is_empty() {
                if pending.is_empty() {
                    break;
                }
                // Labels that form a cycle (never the file's graph, which is
                // checked): stop the rest together rather than wait forever.
                for service in &pending {
                    blockers.insert(service, 0);
                }
                continue;
            }
            match tasks.next().await {
                Some(Outcome::Stopped { service }) => {
                    for d in depends_on.get(service.as_str()).into_iter().flatten() {
                        if let Some(n) = blockers.get_mut(d) {
                            *n = n.saturating_sub(1);
                        }
                    }
                    for container in &by_service[&service] {
                        tasks.push(Box::pin(self.remove_container(container)));
                    }
                }
                Some(Outcome::Removed(Ok(name))) => {
                    if let Some(c) = by_service.values().flatten().find(|c| c.name() == name) {
                        removed.containers.push(c.clone());
                    }
                    removed.names.push(name);
                }
                Some(Outcome::Removed(Err(e))) => {
                    removed.failed += 1;
                    errors.push(OrchestratorError::engine("cannot remove a container", e));
                }
                None => break,
            }
        }
        removed
    }

    /// Stops the running containers of one service, in parallel.
    async fn stop_service(&self, service: &str, containers: &[ContainerSummary]) -> Outcome {
        futures_util::future::join_all(containers.iter().map(|c| self.stop_container(c))).await;
        Outcome::Stopped {
            service: service.to_owned(),
        }
    }

    /// Stops one container if it runs. A failure is only a note: the
    /// removal that follows kills it.
    async fn stop_container(&self, container: &ContainerSummary) {
        if !container.state.is_up() {
            return;
        }
        let _permit = self.semaphore.acquire().await.ok();
        let name = container.name().to_owned();
        self.reporter.report(Event::Stopping {
            kind: ObjectKind::Container,
            name: name.clone(),
        });
        match self
            .engine
            .stop_container(&container.id, self.options.timeout)
            .await
        {
            Ok(()) => self.reporter.report(Event::Stopped {
                kind: ObjectKind::Container,
                name,
            }),
            Err(e) if e.is_not_found() => {}
            Err(e) => self.reporter.report(Event::Note {
                message: format!("{e}; removing it by force"),
            }),
        }
    }

    /// Removes one container (killing it if it still runs).
    async fn remove_container(&self, container: &ContainerSummary) -> Outcome {
        let _permit = self.semaphore.acquire().await.ok();
        let name = container.name().to_owned();
        self.reporter.report(Event::Removing {
            kind: ObjectKind::Container,
            name: name.clone(),
        });
        let removed =
            anonymous::remove_container(self.engine, &container.id, self.options.remove_volumes);
        match removed.await {
            // Gone already, or being removed by someone else.
            Ok(()) | Err(EngineError::NotFound { .. } | EngineError::Conflict { .. }) => {
                self.reporter.report(Event::Removed {
                    kind: ObjectKind::Container,
                    name: name.clone(),
                });
                Outcome::Removed(Ok(name))
            }
            Err(e) => Outcome::Removed(Err(e)),
        }
    }

    /// Removes the project's networks, except external ones; one still in
    /// use (by an orphan, or another project's container) stays, with a
    /// note.
    async fn networks(
        &self,
        project: &str,
        loaded: Option<&LoadedProject>,
        errors: &mut Vec<OrchestratorError>,
    ) -> Vec<String> {
        let external: BTreeSet<String> = loaded
            .map(|l| {
                l.project
                    .networks
                    .iter()
                    .filter(|(_, n)| n.external)
                    .map(|(key, _)| spec::network_name(l, key))
                    .collect()
            })
            .unwrap_or_default();
        let networks = match self
            .engine
            .list_networks(&[spec::project_filter(project)])
            .await
        {
            Ok(list) => list,
            Err(e) => {
                errors.push(OrchestratorError::engine(
                    format!("cannot take project {project} down"),
                    e,
                ));
                return Vec::new();
            }
        };
        let names: Vec<String> = networks
            .into_iter()
            .map(|n| n.name)
            .filter(|n| !external.contains(n))
            .collect();
        self.remove_each(ObjectKind::Network, &names, errors, |name| {
            self.engine.remove_network(name)
        })
        .await
    }

    /// Removes the project's named volumes, except external ones.
    async fn volumes(
        &self,
        project: &str,
        loaded: Option<&LoadedProject>,
        errors: &mut Vec<OrchestratorError>,
    ) -> Vec<String> {
        let external: BTreeSet<String> = loaded
            .map(|l| {
                l.project
                    .volumes
                    .iter()
                    .filter(|(_, v)| v.external)
                    .map(|(key, _)| spec::volume_name(l, key))
                    .collect()
            })
            .unwrap_or_default();
        let volumes = match self
            .engine
            .list_volumes(&[spec::project_filter(project)])
            .await
        {
            Ok(list) => list,
            Err(e) => {
                errors.push(OrchestratorError::engine(
                    format!("cannot take project {project} down"),
                    e,
                ));
                return Vec::new();
            }
        };
        let names: Vec<String> = volumes
            .into_iter()
            .map(|v| v.name)
            .filter(|n| !external.contains(n))
            .collect();
        self.remove_each(ObjectKind::Volume, &names, errors, |name| {
            self.engine.remove_volume(name, false)
        })
        .await
    }

    /// Removes each named object with `remove`, in parallel within the
    /// bound, reporting each; returns the names removed.
    async fn remove_each<'n>(
        &'n self,
        kind: ObjectKind,
        names: &'n [String],
        errors: &mut Vec<OrchestratorError>,
        remove: impl Fn(&'n str) -> crate::engine::EngineFuture<'n, ()>,
    ) -> Vec<String> {
        let remove = &remove;
        let results = futures_util::future::join_all(names.iter().map(|name| async move {
            let _permit = self.semaphore.acquire().await.ok();
            self.reporter.report(Event::Removing {
                kind,
                name: name.clone(),
            });
            (name, remove(name).await)
        }))
        .await;
        self.settle(kind, results, errors)
    }

    /// Removes the images that exist among `images`.
    async fn images(
        &self,
        images: Vec<String>,
        errors: &mut Vec<OrchestratorError>,
    ) -> Vec<String> {
        let mut present = Vec::new();
        for image in images {
            match self.engine.inspect_image(&image).await {
                Ok(Some(_)) => present.push(image),
                Ok(None) => {}
                Err(e) => errors.push(OrchestratorError::engine("cannot remove an image", e)),
            }
        }
        let results = futures_util::future::join_all(present.iter().map(|name| async move {
            let _permit = self.semaphore.acquire().await.ok();
            self.reporter.report(Event::Removing {
                kind: ObjectKind::Image,
                name: name.clone(),
            });
            (name, self.engine.remove_image(name, false).await)
        }))
        .await;
        self.settle(ObjectKind::Image, results, errors)
    }

    /// Reports removals: done, already gone, still in use (a note), or
    /// failed (an error).
    fn settle(
        &self,
        kind: ObjectKind,
        results: Vec<(&String, Result<(), EngineError>)>,
        errors: &mut Vec<OrchestratorError>,
    ) -> Vec<String> {
        let mut removed = Vec::new();
        for (name, result) in results {
            match result {
                Ok(()) => {
                    self.reporter.report(Event::Removed {
                        kind,
                        name: name.clone(),
                    });
                    removed.push(name.clone());
                }
                Err(e) if e.is_not_found() => {}
                Err(e) if e.is_conflict() => self.reporter.report(Event::Note {
                    message: format!("{e}; it is still in use, so it stays"),
                }),
                Err(e) => errors.push(OrchestratorError::engine(
                    format!("cannot remove {}", kind_word(kind)),
                    e,
                )),
            }
        }
        removed.sort();
        removed
    }
}

fn kind_word(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Container => "a container",
        ObjectKind::Network => "a network",
        ObjectKind::Volume => "a volume",
        ObjectKind::Image => "an image",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(pairs: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(s, on)| {
                (
                    (*s).to_owned(),
                    on.iter().map(|d| (*d).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn taking_a_service_down_takes_its_dependents_down() {
        let deps = deps(&[
            ("web", &["api"]),
            ("api", &["db"]),
            ("db", &[]),
            ("cache", &[]),
        ]);
        let out = with_dependents(&["db".to_owned()], &deps);
        assert_eq!(out.into_iter().collect::<Vec<_>>(), ["api", "db", "web"]);
        let out = with_dependents(&["web".to_owned()], &deps);
        assert_eq!(out.into_iter().collect::<Vec<_>>(), ["web"]);
    }

    #[test]
    fn summaries_read_like_sentences() {
        let summary = DownSummary {
            containers: vec!["a".into(), "b".into()],
            networks: vec!["n".into()],
            ..DownSummary::default()
        };
        assert_eq!(describe(&summary), "removed 2 containers, 1 network");
        assert_eq!(describe(&DownSummary::default()), "removed nothing");
    }

    #[test]
    fn rmi_local_takes_only_built_images() {
        let container = |service: &str, image: &str| ContainerSummary {
            image: image.into(),
            labels: BTreeMap::from([(labels::SERVICE.to_owned(), service.to_owned())]),
            ..ContainerSummary::default()
        };
        let removed = [container("api", "shop-api"), container("db", "postgres:16")];
        assert_eq!(
            images_to_remove("shop", None, &removed, None, Rmi::Local),
            ["shop-api"]
        );
        assert_eq!(
            images_to_remove("shop", None, &removed, None, Rmi::All),
            ["postgres:16", "shop-api"]
        );
    }
}
