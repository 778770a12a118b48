//! What can go wrong when a test brings a stack up and uses it.

use crate::engine::EngineError;
use crate::model::LoadErrors;
use crate::orchestrator::error::OrchestratorError;
use crate::orchestrator::readiness::NotReady;
use crate::orchestrator::up::UpFailure;

/// An error of the test harness. Each variant names what was being done
/// and to which service; [`HarnessError::Up`] carries `up`'s whole report
/// (which service failed, its last probe outputs and log lines).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The compose file(s) could not be read or are invalid.
    #[error("cannot load the compose project: {0}")]
    Load(#[source] LoadErrors),

    /// The container engine cannot be reached.
    #[error("cannot reach the container engine: {0}")]
    Connect(#[source] EngineError),

    /// The stack did not come up (and was torn down again). For a service
    /// that failed, the message holds its forensics; see
    /// [`HarnessError::up_failure`].
    #[error("{0}")]
    Up(#[source] OrchestratorError),

    /// A service name given to the handle is not one the stack runs.
    #[error("project {project:?} runs no service {service:?}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    NoSuchService {
        /// The stack's project name.
        project: String,
        /// The name given.
        service: String,
        /// A service with a close name.
        suggestion: Option<String>,
    },

    /// The service has no running container.
    #[error("service {service:?} of project {project:?} has no running container")]
    NotRunning {
        /// The stack's project name.
        project: String,
        /// The service.
        service: String,
    },

    /// The service does not publish the port on the host.
    #[error(
        "service {service:?} does not publish port {port}/tcp on the host ({}); \
         add `ports: [\"{port}\"]` to it in the compose file (muster then binds a free host port)",
        if published.is_empty() { "it publishes none".to_owned() } else { format!("it publishes {}", published.join(", ")) }
    )]
    NoEndpoint {
        /// The service.
        service: String,
        /// The container port asked for.
        port: u16,
        /// What it does publish, as `8080/tcp`.
        published: Vec<String>,
    },

    /// An engine call on a service failed; `action` says which, as
    /// `exec in service "db"`.
    #[error("cannot {action}: {source}")]
    Engine {
        /// What was being done.
        action: String,
        /// The engine's error.
        source: EngineError,
    },

    /// A service started again by the handle did not become ready, or a
    /// job named with [`Compose::completes`](crate::harness::Compose::completes)
    /// did not exit 0.
    #[error("service {service:?} is not ready: {report}")]
    NotReady {
        /// The service.
        service: String,
        /// Why, with the forensics.
        report: Box<NotReady>,
    },

    /// Tearing the stack down left something behind.
    #[error("cannot tear the stack down: {0}")]
    Down(#[source] OrchestratorError),
}

impl HarnessError {
    /// `up`'s report when the stack did not come up because services
    /// failed: which, why, and their forensics.
    #[must_use]
    pub fn up_failure(&self) -> Option<&UpFailure> {
        match self {
            Self::Up(OrchestratorError::UpFailed(failure)) => Some(failure),
            _ => None,
        }
    }
}
