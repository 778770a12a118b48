//! What a project must satisfy beyond its types, and the last resolving
//! steps that need the whole project.
//!
//! Types catch a bad port or an unknown key; this module catches what needs
//! more than one value to see: a dependency on a service that does not
//! exist, a dependency cycle, a volume or network used but not declared, two
//! services with one `container_name`, a service with nothing to run. It
//! reports every problem it finds at once, each pointing at the line.

use std::collections::HashMap;

use super::dotenv;
use super::error::{ErrorKind, LoadError, LoadErrors, Location};
use super::load::{LoadedProject, suggest};
use super::node::PathSeg;
use super::types::{Condition, Service};
use crate::graph::{self, GraphError, ServiceGraph, ServiceNode};

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_owned())
}

/// Reads each service's `env_file`s and folds them into `environment`
/// (values written in `environment` win), and fills pass-through variables
/// (`environment: [FOO]`) from the project environment where it has them.
///
/// # Errors
/// A required env file that is missing or malformed.
pub fn resolve_environment(loaded: &mut LoadedProject) -> Result<(), LoadErrors> {
    let mut errors = Vec::new();
    let names: Vec<String> = loaded.project.services.keys().cloned().collect();
    for name in names {
        let service = &loaded.project.services[&name];
        let mut from_files: indexmap::IndexMap<String, Option<String>> = indexmap::IndexMap::new();
        for (i, env_file) in service.env_file.iter().enumerate() {
            let at = || {
                loaded.locate(&[
                    key("services"),
                    key(&name),
                    key("env_file"),
                    PathSeg::Index(i),
                ])
            };
            let text = match std::fs::read_to_string(&env_file.path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !env_file.required => {
                    continue;
                }
                Err(e) => {
                    let mut err = LoadError::new(
                        ErrorKind::Reference,
                        format!(
                            "service {name:?}: env file {} cannot be read: {e}",
                            env_file.path
                        ),
                    )
                    .at(at());
                    if e.kind() == std::io::ErrorKind::NotFound {
                        err = err.help(
                            "create the file, fix the path (relative to the project directory), or mark it optional with `required: false`",
                        );
                    }
                    errors.push(err);
                    continue;
                }
            };
            let lookup = |var: &str| loaded.environment.get(var).cloned();
            let parsed = if env_file.format.as_deref() == Some("raw") {
                dotenv::parse_raw_with_lookup(&text, &lookup)
            } else {
                dotenv::parse(&text, &lookup)
            };
            match parsed {
                Ok(values) => from_files.extend(values.into_iter().map(|(k, v)| (k, Some(v)))),
                Err(e) => errors.push(
                    LoadError::new(ErrorKind::Syntax, format!("invalid env file: {}", e.message))
                        .at(line_location(&env_file.path, &text, e.line))
                        .related(at(), format!("read for service {name:?}"))
                        .help("each line should be KEY=VALUE, with quotes around values that hold spaces or #"),
                ),
            }
        }
        let service = loaded
            .project
            .services
            .get_mut(&name)
            .expect("name came from this map");
        let explicit = std::mem::take(&mut service.environment);
        let mut environment = from_files;
        for (k, v) in explicit {
            environment.insert(k, v);
        }
        for (k, v) in &mut environment {
            if v.is_none() {
                v.clone_from(&loaded.environment.get(k).cloned());
            }
        }
        service.environment = environment;
        if let Some(build) = &mut service.build {
            for (k, v) in &mut build.args {
                if v.is_none() {
                    v.clone_from(&loaded.environment.get(k).cloned());
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(LoadErrors(errors))
    }
}

/// The location of a line of a file that is not a compose file.
fn line_location(path: &str, text: &str, line: usize) -> Location {
    let mut sources = super::source::Sources::default();
    let id = sources.add(path, text);
    Location::of(&sources, sources.line_span(id, line))
}

/// The service graph's view of a service.
fn graph_node(name: &str, service: &Service) -> ServiceNode {
    ServiceNode {
        name: name.to_owned(),
        profiles: service.profiles.clone(),
        dependencies: service
            .dependencies()
            .into_iter()
            .map(|d| graph::Dependency {
                service: d.service.to_owned(),
                kind: d.kind,
                condition: d.condition,
                restart: d.restart,
                required: d.required,
            })
            .collect(),
    }
}

impl LoadedProject {
    /// The dependency graph of every service.
    ///
    /// # Errors
    /// Undefined dependencies and cycles, located in the file.
    pub fn graph(&self) -> Result<ServiceGraph, LoadErrors> {
        let nodes = self
            .project
            .services
            .iter()
            .map(|(name, service)| graph_node(name, service))
            .collect();
        ServiceGraph::new(nodes).map_err(|e| LoadErrors::from(self.graph_error(&e)))
    }

    /// The services to act on: those named (all active ones when none are)
    /// and what they depend on, with notes on optional dependencies skipped.
    ///
    /// # Errors
    /// An unknown service name, or a required dependency that is disabled.
    pub fn select(&self, requested: &[String]) -> Result<SelectedServices, LoadErrors> {
        let graph = self.graph()?;
        let selection = graph
            .select(requested, &self.profiles)
            .map_err(|e| LoadErrors::from(self.graph_error(&e)))?;
        Ok(SelectedServices {
            order: selection
                .start_order()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            notes: selection.notes().iter().map(ToString::to_string).collect(),
            selection,
        })
    }

    /// Locates a graph error at the key that causes it.
    fn graph_error(&self, error: &GraphError) -> LoadError {
        let mut err = LoadError::new(ErrorKind::Reference, error.to_string());
        match error {
            GraphError::UndefinedDependency {
                service,
                dependency,
                kind,
                ..
            } => {
                err = err.at(self.locate_edge(service, dependency, *kind)).help(
                    "define that service, fix the name, or mark the dependency `required: false`",
                );
            }
            GraphError::Cycle { edges, .. } => {
                err.kind = ErrorKind::Cycle;
                if let Some(edge) = edges.first() {
                    err = err.at(self.locate_edge(&edge.from, &edge.to, edge.kind));
                }
                err = err.help("remove one of the dependencies in the cycle");
            }
            GraphError::DependencyDisabled {
                service,
                dependency,
                kind,
                profiles,
                ..
            } => {
                err = err
                    .at(self.locate_edge(service, dependency, *kind))
                    .help(format!(
                        "enable its profile with --profile {} (or COMPOSE_PROFILES)",
                        profiles.first().map_or("NAME", String::as_str)
                    ));
            }
            GraphError::NoSuchService { .. } => {
                err = err.help("`muster config --services` lists the services");
            }
            _ => {}
        }
        err
    }

    fn locate_edge(&self, service: &str, dependency: &str, kind: graph::EdgeKind) -> Location {
        let mut path = vec![key("services"), key(service)];
        match kind {
            graph::EdgeKind::DependsOn => {
                path.push(key("depends_on"));
                // The list form has no key per dependency: point at the item.
                let index = self
                    .tree
                    .lookup(&path)
                    .0
                    .as_seq()
                    .and_then(|list| list.iter().position(|n| n.as_str() == Some(dependency)));
                path.push(index.map_or_else(|| key(dependency), PathSeg::Index));
            }
            graph::EdgeKind::BuildContext => {
                path.push(key("build"));
                path.push(key("additional_contexts"));
            }
            other => path.push(key(other.key())),
        }
        self.locate(&path)
    }
}

/// The services an operation acts on, in start order.
#[derive(Debug, Clone)]
pub struct SelectedServices {
    /// Service names, dependencies first.
    pub order: Vec<String>,
    /// Optional dependencies that were skipped, and why.
    pub notes: Vec<String>,
    /// The graph's selection (dependencies, dependents, levels).
    pub selection: graph::Selection,
}

/// Checks the project as a whole; reports every problem found.
///
/// # Errors
/// Every problem, located.
pub fn validate(loaded: &mut LoadedProject) -> Result<(), LoadErrors> {
    let mut errors = Vec::new();
    let project = &loaded.project;
    let mut container_names: HashMap<&str, &str> = HashMap::new();
    for (name, service) in &project.services {
        let at = |path: &[&str]| {
            let mut full = vec![key("services"), key(name)];
            full.extend(path.iter().map(|k| key(k)));
            loaded.locate(&full)
        };
        if service.image.is_none() && service.build.is_none() && service.provider.is_none() {
            errors.push(
                LoadError::new(
                    ErrorKind::InvalidValue,
                    format!("service {name:?} has neither an image nor a build context specified"),
                )
                .at(at(&[]))
                .help("add `image: NAME` to run an existing image, or `build: DIR` to build one"),
            );
        }
        if let Some(container_name) = service.container_name.as_deref() {
            if let Some(other) = container_names.insert(container_name, name) {
                errors.push(
                    LoadError::new(
                        ErrorKind::Invalid,
                        format!(
                            "services {other:?} and {name:?} both use container_name {container_name:?}"
                        ),
                    )
                    .at(at(&["container_name"]))
                    .related(
                        loaded.locate(&[key("services"), key(other), key("container_name")]),
                        "first used here",
                    )
                    .help("container names are unique on the engine: give each service its own, or remove them"),
                );
            }
            if service.replicas() > 1 {
                errors.push(
                    LoadError::new(
                        ErrorKind::Invalid,
                        format!(
                            "service {name:?} sets container_name but asks for {} replicas",
                            service.replicas()
                        ),
                    )
                    .at(at(&["container_name"]))
                    .help(
                        "a container name is unique: remove container_name to run several replicas",
                    ),
                );
            }
        }
        for (dep, depends_on) in &service.depends_on {
            if depends_on.condition != Condition::ServiceHealthy {
                continue;
            }
            if let Some(target) = project.services.get(dep)
                && target.healthcheck.as_ref().is_some_and(|h| h.is_disabled())
            {
                errors.push(
                    LoadError::new(
                        ErrorKind::Invalid,
                        format!(
                            "service {name:?} waits for {dep:?} to be healthy, but {dep:?} disables its healthcheck"
                        ),
                    )
                    .at(at(&["depends_on", dep]))
                    .help(format!(
                        "give {dep:?} a healthcheck, or wait with `condition: service_started`"
                    )),
                );
            }
        }
        for network in service.networks.keys() {
            if network != "default" && !project.networks.contains_key(network) {
                errors.push(undeclared(
                    loaded,
                    name,
                    "networks",
                    network,
                    project.networks.keys(),
                ));
            }
        }
        for (i, volume) in service.volumes.iter().enumerate() {
            let Some(volume) = volume.volume_name() else {
                continue;
            };
            if !project.volumes.contains_key(volume) {
                let mut err = undeclared(loaded, name, "volumes", volume, project.volumes.keys());
                err = err.at(loaded.locate(&[
                    key("services"),
                    key(name),
                    key("volumes"),
                    PathSeg::Index(i),
                ]));
                errors.push(err);
            }
        }
        if let Some(restart) = service.restart.as_deref()
            && !valid_restart(restart)
        {
            errors.push(
                LoadError::new(
                    ErrorKind::InvalidValue,
                    format!("`services.{name}.restart`: invalid restart policy {restart:?}"),
                )
                .at(Location::of(
                    &loaded.sources,
                    loaded
                        .tree
                        .lookup(&[key("services"), key(name), key("restart")])
                        .0
                        .span,
                ))
                .help("use `no`, `always`, `on-failure[:MAX_RETRIES]` or `unless-stopped`"),
            );
        }
        for (field, refs, declared) in [
            ("secrets", &service.secrets, &project.secrets),
            ("configs", &service.configs, &project.configs),
        ] {
            for (i, r) in refs.iter().enumerate() {
                if !declared.contains_key(&r.source) {
                    let mut err = LoadError::new(
                        ErrorKind::Reference,
                        format!(
                            "service {name:?} refers to undefined {} {:?}",
                            field.trim_end_matches('s'),
                            r.source
                        ),
                    )
                    .at(loaded.locate(&[key("services"), key(name), key(field), PathSeg::Index(i)]))
                    .help(format!("declare it under the top-level `{field}:`"));
                    let names: Vec<&str> = declared.keys().map(String::as_str).collect();
                    if let Some(s) = suggest(&r.source, &names) {
                        err = err.help(format!("did you mean {s:?}?"));
                    }
                    errors.push(err);
                }
            }
        }
    }
    // Undefined dependencies and cycles, over every service.
    if let Err(e) = loaded.graph() {
        errors.extend(e.0);
    }
    // The healthcheck check needs no image inspection when the file says it.
    for (name, service) in &project.services {
        for (dep, depends_on) in &service.depends_on {
            if depends_on.condition == Condition::ServiceHealthy
                && project
                    .services
                    .get(dep)
                    .is_some_and(|t| t.healthcheck.as_ref().is_none_or(|h| !h.has_test()))
            {
                let warning = format!(
                    "service {name:?} waits for {dep:?} to be healthy, but {dep:?} defines no healthcheck in the file; its image must have a HEALTHCHECK"
                );
                if !loaded.warnings.contains(&warning) {
                    loaded.warnings.push(warning);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(LoadErrors(errors))
    }
}

/// A restart policy the engine accepts.
fn valid_restart(policy: &str) -> bool {
    match policy.split_once(':') {
        None => matches!(policy, "no" | "always" | "on-failure" | "unless-stopped"),
        Some(("on-failure", retries)) => retries.parse::<u32>().is_ok(),
        Some(_) => false,
    }
}

fn undeclared<'a>(
    loaded: &LoadedProject,
    service: &str,
    field: &str,
    name: &str,
    declared: impl Iterator<Item = &'a String>,
) -> LoadError {
    let kind = field.trim_end_matches('s');
    let mut err = LoadError::new(
        ErrorKind::Reference,
        format!("service {service:?} refers to undefined {kind} {name:?}"),
    )
    .at(loaded.locate(&[key("services"), key(service), key(field), key(name)]));
    let names: Vec<&str> = declared.map(String::as_str).collect();
    err = match suggest(name, &names) {
        Some(s) => err.help(format!("did you mean {s:?}?")),
        None => err.help(format!(
            "declare it under the top-level `{field}:` (`{field}: {{{name}: {{}}}}`)"
        )),
    };
    err
}
