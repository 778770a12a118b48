//! What can go wrong while building a [`ServiceGraph`](super::ServiceGraph)
//! or selecting services from it.
//!
//! Every variant carries the names involved and the [`EdgeKind`] of the
//! offending reference, so the caller can point at the right key in the
//! compose file (`depends_on`, `links`, `network_mode`, ...). The `Display`
//! form is one line, in compose's wording where compose has one.

use std::fmt::Write as _;

use super::EdgeKind;

/// One step of a dependency cycle: `from` depends on `to` through `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CycleEdge {
    /// The service that declares the dependency.
    pub from: String,
    /// The service it depends on.
    pub to: String,
    /// The key that declares it.
    pub kind: EdgeKind,
}

/// Why a dependency graph could not be built, or a selection made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Two services have the same name.
    #[error("service {service:?} is defined more than once")]
    DuplicateService {
        /// The repeated name.
        service: String,
    },

    /// A required dependency names a service that is not defined at all.
    #[error(
        "service {service:?} depends on undefined service {dependency:?}{}",
        did_you_mean(.suggestion)
    )]
    UndefinedDependency {
        /// The service that declares the dependency.
        service: String,
        /// The name it refers to.
        dependency: String,
        /// The key that declares it.
        kind: EdgeKind,
        /// A defined service with a close name, if there is one.
        suggestion: Option<String>,
    },

    /// Services depend on each other in a loop.
    ///
    /// `path` starts at the lexicographically smallest service of the cycle
    /// and follows the edges; the first service is not repeated at the end.
    /// `edges[i]` goes from `path[i]` to `path[(i + 1) % path.len()]`.
    #[error("dependency cycle detected: {}", cycle_text(.path))]
    Cycle {
        /// The services of the cycle, in edge order.
        path: Vec<String>,
        /// The edges of the cycle, with the key that declares each.
        edges: Vec<CycleEdge>,
    },

    /// A service named on the command line (or by a library caller) does
    /// not exist.
    #[error("no such service: {service:?}{}", did_you_mean(.suggestion))]
    NoSuchService {
        /// The name asked for.
        service: String,
        /// A defined service with a close name, if there is one.
        suggestion: Option<String>,
    },

    /// A selected service requires a service whose profiles are all
    /// inactive. Compose refuses this too: naming a service activates its
    /// own profiles, not those of its dependencies.
    #[error(
        "service {dependency:?} is required by {service:?} but is disabled: {}",
        inactive_profiles(.profiles)
    )]
    DependencyDisabled {
        /// The selected service that declares the dependency.
        service: String,
        /// The disabled service it requires.
        dependency: String,
        /// The key that declares it.
        kind: EdgeKind,
        /// The disabled service's profiles; activating any one enables it.
        profiles: Vec<String>,
    },
}

/// `; did you mean "db"?`, or nothing.
fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean {s:?}?"),
        None => String::new(),
    }
}

/// `a -> b -> c -> a`
fn cycle_text(path: &[String]) -> String {
    let mut out = String::new();
    for name in path {
        out.push_str(name);
        out.push_str(" -> ");
    }
    if let Some(first) = path.first() {
        out.push_str(first);
    }
    out
}

/// `its profile "dev" is not active`, or
/// `none of its profiles ("dev", "test") is active`.
fn inactive_profiles(profiles: &[String]) -> String {
    match profiles {
        [] => "it is not enabled".to_owned(),
        [one] => format!("its profile {one:?} is not active"),
        many => format!("none of its profiles ({}) is active", quoted_list(many)),
    }
}

/// `"a", "b", "c"`
pub(super) fn quoted_list(items: &[String]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{item:?}");
    }
    out
}
