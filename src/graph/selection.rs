//! The services one command acts on, and the order to act on them in.
//!
//! A [`Selection`] is computed once per command from a
//! [`ServiceGraph`](super::ServiceGraph): profiles applied, requested
//! services and their dependencies pulled in, absent optional dependencies
//! dropped with a [`Note`] each. Everything after that (start order, stop
//! order, who waits for whom) reads only the selection, so the orchestrator
//! never sees an edge to a service it is not going to run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::Arc;

use super::error::quoted_list;
use super::{Dependency, EdgeKind, GraphError, Inner, suggest};

/// Why an optional dependency was left out of a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// No service of that name is defined.
    Undefined,
    /// The service is defined, but none of its profiles is active.
    ProfileInactive {
        /// The dependency's profiles.
        profiles: Vec<String>,
    },
}

/// An optional dependency that a selection skipped, for the user to see.
///
/// Displays as `api: optional dependency "metrics" is not running (profile
/// "obs" is not active); skipping it`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The selected service that declares the dependency.
    pub service: String,
    /// The dependency that was skipped.
    pub dependency: String,
    /// The key that declares it.
    pub kind: EdgeKind,
    /// Why it was skipped.
    pub reason: SkipReason,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            service,
            dependency,
            ..
        } = self;
        write!(f, "{service}: optional dependency {dependency:?} ")?;
        match &self.reason {
            SkipReason::Undefined => f.write_str("is not defined")?,
            SkipReason::ProfileInactive { profiles } => match profiles.as_slice() {
                [] => f.write_str("is not running")?,
                [one] => write!(f, "is not running (profile {one:?} is not active)")?,
                many => write!(
                    f,
                    "is not running (profiles {} are not active)",
                    quoted_list(many)
                )?,
            },
        }
        f.write_str("; skipping it")
    }
}

/// The services a command acts on, with the dependencies between them.
///
/// Made by [`ServiceGraph::select`](super::ServiceGraph::select) or
/// [`ServiceGraph::select_no_deps`](super::ServiceGraph::select_no_deps).
/// It shares the graph it came from and is cheap to clone.
#[derive(Debug, Clone)]
pub struct Selection {
    graph: Arc<Inner>,
    /// Graph indices of the selected services, in file order. The position
    /// of a service here is its "slot".
    services: Vec<usize>,
    /// For each graph index, its slot if selected.
    slot_of: Vec<Option<usize>>,
    /// Graph indices of the requested services, in request order, unique.
    requested: Vec<usize>,
    /// Per slot: the dependencies kept (both ends selected).
    dependencies: Vec<Vec<Dependency>>,
    /// Per slot: the slots it depends on, unique.
    depends_on: Vec<Vec<usize>>,
    /// Per slot: the slots that depend on it, unique, ascending.
    dependents: Vec<Vec<usize>>,
    /// Slots in start order.
    order: Vec<usize>,
    notes: Vec<Note>,
    profiles: Vec<String>,
}

impl Selection {
    pub(super) fn build(
        graph: &Arc<Inner>,
        requested: &[String],
        active_profiles: &[String],
        follow: bool,
    ) -> Result<Self, GraphError> {
        let n = graph.services.len();

        let mut roots = Vec::with_capacity(requested.len());
        let mut is_root = vec![false; n];
        for name in requested {
            let Some(i) = graph.services.get_index_of(name.as_str()) else {
                return Err(GraphError::NoSuchService {
                    service: name.clone(),
                    suggestion: suggest(name, graph.services.keys()),
                });
            };
            if !is_root[i] {
                is_root[i] = true;
                roots.push(i);
            }
        }

        let (profiles, enabled) = effective_profiles(graph, &roots, active_profiles);
        let requested = roots.clone();
        if requested.is_empty() {
            roots = (0..n).filter(|&i| enabled[i]).collect();
        }

        let mut selected = vec![false; n];
        for &r in &roots {
            selected[r] = true;
        }
        if follow {
            let mut stack = roots.clone();
            while let Some(u) = stack.pop() {
                for &v in graph.targets[u].iter().flatten() {
                    if enabled[v] && !selected[v] {
                        selected[v] = true;
                        stack.push(v);
                    }
                }
            }
        }

        let services: Vec<usize> = (0..n).filter(|&i| selected[i]).collect();
        let mut slot_of = vec![None; n];
        for (slot, &i) in services.iter().enumerate() {
            slot_of[i] = Some(slot);
        }

        let mut notes = Vec::new();
        let mut dependencies = Vec::with_capacity(services.len());
        let mut depends_on = Vec::with_capacity(services.len());
        let mut dependents = vec![Vec::new(); services.len()];
        for (slot, &i) in services.iter().enumerate() {
            let node = &graph.services[i];
            let mut kept = Vec::with_capacity(node.dependencies.len());
            let mut on: Vec<usize> = Vec::with_capacity(node.dependencies.len());
            for (dep, target) in node.dependencies.iter().zip(&graph.targets[i]) {
                match *target {
                    Some(t) if selected[t] => {
                        kept.push(dep.clone());
                        let Some(t_slot) = slot_of[t] else { continue };
                        if !on.contains(&t_slot) {
                            on.push(t_slot);
                            dependents[t_slot].push(slot);
                        }
                    }
                    // `--no-deps`: what is not selected is not started.
                    _ if !follow => {}
                    None => notes.push(Note {
                        service: node.name.clone(),
                        dependency: dep.service.clone(),
                        kind: dep.kind,
                        reason: SkipReason::Undefined,
                    }),
                    // Followed but not selected: its profiles are inactive.
                    Some(t) => {
                        let target_profiles = graph.services[t].profiles.clone();
                        if dep.required {
                            return Err(GraphError::DependencyDisabled {
                                service: node.name.clone(),
                                dependency: dep.service.clone(),
                                kind: dep.kind,
                                profiles: target_profiles,
                            });
                        }
                        notes.push(Note {
                            service: node.name.clone(),
                            dependency: dep.service.clone(),
                            kind: dep.kind,
                            reason: SkipReason::ProfileInactive {
                                profiles: target_profiles,
                            },
                        });
                    }
                }
            }
            dependencies.push(kept);
            depends_on.push(on);
        }

        let order = topological(&depends_on, &dependents);
        Ok(Self {
            graph: Arc::clone(graph),
            services,
            slot_of,
            requested,
            dependencies,
            depends_on,
            dependents,
            order,
            notes,
            profiles,
        })
    }

    fn name(&self, slot: usize) -> &str {
        self.graph.name(self.services[slot])
    }

    fn slot(&self, service: &str) -> Option<usize> {
        let i = self.graph.services.get_index_of(service)?;
        self.slot_of[i]
    }

    /// The number of selected services.
    #[must_use]
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether nothing is selected.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Whether `service` is selected.
    #[must_use]
    pub fn contains(&self, service: &str) -> bool {
        self.slot(service).is_some()
    }

    /// The selected services, in file order.
    #[must_use]
    pub fn services(&self) -> Vec<&str> {
        (0..self.services.len()).map(|s| self.name(s)).collect()
    }

    /// The services that were asked for by name, in the order asked, each
    /// once; empty when none were (all enabled services were selected).
    #[must_use]
    pub fn requested(&self) -> Vec<&str> {
        self.requested.iter().map(|&i| self.graph.name(i)).collect()
    }

    /// The profiles in effect: the active ones, plus those that naming a
    /// service activated.
    #[must_use]
    pub fn active_profiles(&self) -> &[String] {
        &self.profiles
    }

    /// Optional dependencies that were skipped, in file order of the
    /// services that declare them.
    #[must_use]
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// The order to start services in: every service after all of its
    /// dependencies; among services that could go next, the one first in
    /// the file.
    #[must_use]
    pub fn start_order(&self) -> Vec<&str> {
        self.order.iter().map(|&s| self.name(s)).collect()
    }

    /// The order to stop services in: the reverse of
    /// [`start_order`](Self::start_order), every service before its
    /// dependencies.
    #[must_use]
    pub fn stop_order(&self) -> Vec<&str> {
        self.order.iter().rev().map(|&s| self.name(s)).collect()
    }

    /// The direct dependencies of `service` that are part of the
    /// selection, as declared (skipped optional ones removed); empty for a
    /// service that is not selected.
    #[must_use]
    pub fn dependencies(&self, service: &str) -> &[Dependency] {
        self.slot(service)
            .map_or(&[], |s| self.dependencies[s].as_slice())
    }

    /// The selected services that depend directly on `service`, in file
    /// order; empty for a service that is not selected.
    #[must_use]
    pub fn dependents(&self, service: &str) -> Vec<&str> {
        self.slot(service).map_or_else(Vec::new, |s| {
            self.dependents[s].iter().map(|&d| self.name(d)).collect()
        })
    }

    /// The services grouped by depth: level 0 has no dependencies, level
    /// `k` depends on something at level `k - 1` and nothing deeper. Each
    /// level is in file order. Handy for display; the orchestrator starts
    /// each service as soon as its own dependencies allow.
    #[must_use]
    pub fn levels(&self) -> Vec<Vec<&str>> {
        let mut level = vec![0usize; self.services.len()];
        let mut depth = 0;
        for &s in &self.order {
            let l = self.depends_on[s]
                .iter()
                .map(|&d| level[d] + 1)
                .max()
                .unwrap_or(0);
            level[s] = l;
            depth = depth.max(l + 1);
        }
        let mut levels = vec![Vec::new(); depth];
        for (s, &l) in level.iter().enumerate() {
            levels[l].push(self.name(s));
        }
        levels
    }
}

/// The profiles in effect and, per service, whether it is enabled.
///
/// Naming a service activates its own profiles, as in compose, but not
/// those of its dependencies. `"*"` activates every profile.
fn effective_profiles(
    graph: &Inner,
    named: &[usize],
    active_profiles: &[String],
) -> (Vec<String>, Vec<bool>) {
    let mut profiles: Vec<String> = Vec::with_capacity(active_profiles.len());
    for p in active_profiles {
        if !profiles.contains(p) {
            profiles.push(p.clone());
        }
    }
    let all = profiles.iter().any(|p| p == "*");
    let is_enabled = |profiles: &[String], own: &[String]| {
        all || own.is_empty() || own.iter().any(|p| profiles.contains(p))
    };
    for &i in named {
        let own = &graph.services[i].profiles;
        if !is_enabled(&profiles, own) {
            for p in own {
                if !profiles.contains(p) {
                    profiles.push(p.clone());
                }
            }
        }
    }
    let enabled = graph
        .services
        .values()
        .map(|s| is_enabled(&profiles, &s.profiles))
        .collect();
    (profiles, enabled)
}

/// Kahn's algorithm, always taking the ready slot first in file order.
/// The graph was checked for cycles, so every slot comes out.
fn topological(depends_on: &[Vec<usize>], dependents: &[Vec<usize>]) -> Vec<usize> {
    let mut waiting: Vec<usize> = depends_on.iter().map(Vec::len).collect();
    let mut ready: BinaryHeap<Reverse<usize>> = waiting
        .iter()
        .enumerate()
        .filter(|&(_, &w)| w == 0)
        .map(|(s, _)| Reverse(s))
        .collect();
    let mut order = Vec::with_capacity(depends_on.len());
    while let Some(Reverse(s)) = ready.pop() {
        order.push(s);
        for &d in &dependents[s] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(Reverse(d));
            }
        }
    }
    order
}
