//! The dependency graph of a project's services: which service needs which,
//! which services a command touches, and in what order they start and stop.
//!
//! Every verb asks the graph the same questions. `up` starts dependencies
//! first and waits on their conditions; `down` stops in reverse; `up api`
//! pulls in what `api` needs, and `up --no-deps api` does not; profiles hide
//! services unless they are named. Those answers must be compose's answers,
//! and they must be the same on every run, so they live here, once, and are
//! tested without an engine.
//!
//! The graph takes plain [`ServiceNode`]s rather than the typed compose
//! model: the model reduces each service's `depends_on`, `links`,
//! `network_mode: service:x`, `ipc`/`pid: service:x`, `volumes_from` and
//! `build.additional_contexts: service:x` to [`Dependency`] entries, and the
//! graph knows nothing else about compose (nor anything about Docker).
//!
//! # Theory of operation
//!
//! 1. [`ServiceGraph::new`] resolves every dependency by name. A required
//!    dependency on an undefined service is an error (with a "did you mean"
//!    suggestion); an optional one is kept aside and reported when a
//!    selection skips it. Any cycle is an error that prints the whole path,
//!    `dependency cycle detected: a -> b -> a`, starting at the smallest
//!    name so the message is the same every run.
//! 2. [`ServiceGraph::select`] applies profiles and the requested services
//!    the way docker compose v2 does, follows dependencies, and drops
//!    optional ones that are absent, each with a [`Note`]. The result is a
//!    [`Selection`].
//! 3. A [`Selection`] answers the ordering questions: start order, stop
//!    order, direct dependencies and dependents, levels.
//!
//! The order in which services were given (file order) breaks every tie, so
//! plans, messages and notes are stable.

mod error;
mod selection;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

use indexmap::IndexMap;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

pub use error::{CycleEdge, GraphError};
pub use selection::{Note, Selection, SkipReason};

/// Why one service depends on another (the compose key that declares it),
/// and what it waits for: the model's own types, so the two never drift.
pub use crate::model::types::{Condition, DependencyKind as EdgeKind};

/// One service's dependency on another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The name of the service depended on.
    pub service: String,
    /// The key that declares the dependency.
    pub kind: EdgeKind,
    /// What to wait for before starting the dependent service.
    pub condition: Condition,
    /// Restart this service when the dependency restarts.
    pub restart: bool,
    /// When false, a dependency that is absent (not defined, or its
    /// profiles inactive) is skipped with a [`Note`] instead of failing.
    pub required: bool,
}

impl Dependency {
    /// A required dependency that waits for `service_started` and does not
    /// restart: what every implicit edge (links, `network_mode`, ...) is.
    #[must_use]
    pub fn new(service: impl Into<String>, kind: EdgeKind) -> Self {
        Self {
            service: service.into(),
            kind,
            condition: Condition::ServiceStarted,
            restart: false,
            required: true,
        }
    }
}

/// A service as the graph sees it: its name, profiles and dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNode {
    /// The service's name (its key under `services:`).
    pub name: String,
    /// Its `profiles`; empty means always enabled.
    pub profiles: Vec<String>,
    /// Everything it depends on, in declaration order.
    pub dependencies: Vec<Dependency>,
}

impl ServiceNode {
    /// A service with no profiles and no dependencies.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            profiles: Vec::new(),
            dependencies: Vec::new(),
        }
    }
}

/// The dependency graph of a project's services, checked for undefined
/// references and cycles.
///
/// Cheap to clone (shared), and [`Selection`]s made from it share it too.
///
/// ```
/// use muster::graph::{Dependency, EdgeKind, ServiceGraph, ServiceNode};
///
/// let mut web = ServiceNode::new("web");
/// web.dependencies.push(Dependency::new("db", EdgeKind::DependsOn));
/// let graph = ServiceGraph::new(vec![web, ServiceNode::new("db")])?;
///
/// let plan = graph.select(&[], &[])?;
/// assert_eq!(plan.start_order(), ["db", "web"]);
/// assert_eq!(plan.stop_order(), ["web", "db"]);
/// # Ok::<(), muster::graph::GraphError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServiceGraph {
    inner: Arc<Inner>,
}

/// The shared state of a graph. Service `i` (file order) is node `i` of
/// `graph`; an edge goes from the dependent service to its dependency.
#[derive(Debug)]
struct Inner {
    services: IndexMap<String, ServiceNode>,
    /// For each service, for each of its dependencies: the index of the
    /// service it names, or `None` for an undefined optional one.
    targets: Vec<Vec<Option<usize>>>,
    graph: DiGraph<(), EdgeKind>,
}

impl ServiceGraph {
    /// Builds the graph of `services`, given in file order.
    ///
    /// # Errors
    ///
    /// [`GraphError::DuplicateService`] if two services share a name,
    /// [`GraphError::UndefinedDependency`] for a required dependency on a
    /// service that is not defined (the first in file order), and
    /// [`GraphError::Cycle`] if services depend on each other in a loop.
    pub fn new(services: Vec<ServiceNode>) -> Result<Self, GraphError> {
        let mut map = IndexMap::with_capacity(services.len());
        for node in services {
            if map.contains_key(&node.name) {
                return Err(GraphError::DuplicateService { service: node.name });
            }
            map.insert(node.name.clone(), node);
        }

        let edge_count = map.values().map(|n| n.dependencies.len()).sum();
        let mut graph = DiGraph::with_capacity(map.len(), edge_count);
        for _ in 0..map.len() {
            graph.add_node(());
        }
        let mut targets = Vec::with_capacity(map.len());
        for (i, node) in map.values().enumerate() {
            let mut resolved = Vec::with_capacity(node.dependencies.len());
            for dep in &node.dependencies {
                match map.get_index_of(&dep.service) {
                    Some(j) => {
                        graph.add_edge(NodeIndex::new(i), NodeIndex::new(j), dep.kind);
                        resolved.push(Some(j));
                    }
                    None if dep.required => {
                        return Err(GraphError::UndefinedDependency {
                            service: node.name.clone(),
                            dependency: dep.service.clone(),
                            kind: dep.kind,
                            suggestion: suggest(&dep.service, map.keys()),
                        });
                    }
                    None => resolved.push(None),
                }
            }
            targets.push(resolved);
        }

        let inner = Inner {
            services: map,
            targets,
            graph,
        };
        if let Some(cycle) = inner.find_cycle() {
            return Err(cycle);
        }
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Selects the services a command acts on, following their
    /// dependencies, as docker compose v2 does:
    ///
    /// - With no `requested` services: every service whose `profiles` are
    ///   empty or include an active profile (`"*"` activates them all).
    /// - With `requested` services: those services, even if their profiles
    ///   are inactive (naming a service activates its profiles), plus their
    ///   dependencies, transitively.
    ///
    /// A dependency that is absent (not defined, or none of its profiles
    /// active) is skipped with a [`Note`] when it is optional, and is an
    /// error when it is required.
    ///
    /// # Errors
    ///
    /// [`GraphError::NoSuchService`] for a requested service that does not
    /// exist, and [`GraphError::DependencyDisabled`] for a required
    /// dependency whose profiles are all inactive.
    pub fn select(
        &self,
        requested: &[String],
        active_profiles: &[String],
    ) -> Result<Selection, GraphError> {
        Selection::build(&self.inner, requested, active_profiles, true)
    }

    /// Like [`select`](Self::select) but follows no dependencies, for
    /// `up --no-deps`: only the requested services (or, with none, the
    /// enabled ones). Dependencies on services outside the selection are
    /// dropped without notes; those between selected services are kept.
    ///
    /// # Errors
    ///
    /// [`GraphError::NoSuchService`] for a requested service that does not
    /// exist.
    pub fn select_no_deps(
        &self,
        requested: &[String],
        active_profiles: &[String],
    ) -> Result<Selection, GraphError> {
        Selection::build(&self.inner, requested, active_profiles, false)
    }

    /// The number of services.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.services.len()
    }

    /// Whether there are no services.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.services.is_empty()
    }

    /// Whether `service` is defined.
    #[must_use]
    pub fn contains(&self, service: &str) -> bool {
        self.inner.services.contains_key(service)
    }

    /// All service names, in file order.
    #[must_use]
    pub fn services(&self) -> Vec<&str> {
        self.inner.services.keys().map(String::as_str).collect()
    }

    /// The service called `service`, as it was given.
    #[must_use]
    pub fn node(&self, service: &str) -> Option<&ServiceNode> {
        self.inner.services.get(service)
    }

    /// Every dependency `service` declares, as given (including optional
    /// ones on undefined services); empty for an unknown service.
    #[must_use]
    pub fn dependencies(&self, service: &str) -> &[Dependency] {
        self.inner
            .services
            .get(service)
            .map_or(&[], |n| n.dependencies.as_slice())
    }

    /// The services that declare a dependency on `service`, in file order,
    /// regardless of profiles; empty for an unknown service.
    #[must_use]
    pub fn dependents(&self, service: &str) -> Vec<&str> {
        let Some(i) = self.inner.services.get_index_of(service) else {
            return Vec::new();
        };
        let mut from: Vec<usize> = self
            .inner
            .graph
            .neighbors_directed(NodeIndex::new(i), petgraph::Direction::Incoming)
            .map(NodeIndex::index)
            .collect();
        from.sort_unstable();
        from.dedup();
        from.into_iter().map(|j| self.inner.name(j)).collect()
    }
}

impl Inner {
    fn name(&self, i: usize) -> &str {
        self.services
            .get_index(i)
            .map_or("", |(name, _)| name.as_str())
    }

    /// The cycle to report, if there is any: the one through the
    /// lexicographically smallest service that is on a cycle, and among
    /// those the shortest, ties broken by declaration order.
    fn find_cycle(&self) -> Option<GraphError> {
        let n = self.services.len();
        let mut best: Option<(usize, Vec<NodeIndex>)> = None;
        for scc in tarjan_scc(&self.graph) {
            let cyclic = match scc.as_slice() {
                [one] => self.targets[one.index()].contains(&Some(one.index())),
                _ => true,
            };
            if !cyclic {
                continue;
            }
            let Some(start) = scc
                .iter()
                .map(|v| v.index())
                .min_by(|&a, &b| self.name(a).cmp(self.name(b)))
            else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|(b, _)| self.name(start) < self.name(*b))
            {
                best = Some((start, scc));
            }
        }
        let (start, scc) = best?;

        // Breadth-first from `start` inside its component, back to `start`.
        let mut in_scc = vec![false; n];
        for v in &scc {
            in_scc[v.index()] = true;
        }
        // prev[v] = (u, k): reached v through dependency k of u.
        let mut prev: Vec<Option<(usize, usize)>> = vec![None; n];
        let mut visited = vec![false; n];
        visited[start] = true;
        let mut queue = VecDeque::from([start]);
        while let Some(u) = queue.pop_front() {
            for (k, target) in self.targets[u].iter().enumerate() {
                let Some(v) = *target else { continue };
                if v == start {
                    return Some(self.cycle_error(start, &prev, (u, k)));
                }
                if in_scc[v] && !visited[v] {
                    visited[v] = true;
                    prev[v] = Some((u, k));
                    queue.push_back(v);
                }
            }
        }
        None
    }

    /// The error for the cycle that closes with dependency `last.1` of
    /// `last.0` back to `start`, walking `prev` back from `last.0`.
    fn cycle_error(
        &self,
        start: usize,
        prev: &[Option<(usize, usize)>],
        last: (usize, usize),
    ) -> GraphError {
        let mut steps = vec![last];
        let mut at = last.0;
        while at != start {
            let Some(step) = prev[at] else { break };
            steps.push(step);
            at = step.0;
        }
        steps.reverse();
        let mut path = Vec::with_capacity(steps.len());
        let mut edges = Vec::with_capacity(steps.len());
        for (u, k) in steps {
            let dep = &self.services[u].dependencies[k];
            path.push(self.name(u).to_owned());
            edges.push(CycleEdge {
                from: self.name(u).to_owned(),
                to: dep.service.clone(),
                kind: dep.kind,
            });
        }
        GraphError::Cycle { path, edges }
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a
/// typo; the first in order wins a tie.
///
/// Jaro-Winkler alone misses transpositions in short names (`wbe` for
/// `web`), so an edit distance (with transpositions) counts too.
fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a String>) -> Option<String> {
    let mut best: Option<(f64, &String)> = None;
    for candidate in candidates {
        let jaro = strsim::jaro_winkler(word, candidate);
        let edits = strsim::normalized_damerau_levenshtein(word, candidate);
        if jaro <= 0.8 && edits < 0.6 {
            continue;
        }
        let score = jaro.max(edits);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c.clone())
}
