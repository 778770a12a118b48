//! Errors of the orchestrator's verbs (`up`, `down`, `ps`, ...).
//!
//! One enum for all verbs, because they share their causes: the engine
//! failed (the [`EngineError`] already names the operation and the object;
//! the variant adds what muster was doing), a service cannot be turned into
//! a container ([`SpecError`]), a service failed, or a name given on the
//! command line is not in the file. It is `#[non_exhaustive]` so that verbs
//! can add their own variants without breaking callers.

use crate::engine::EngineError;
use crate::orchestrator::spec::SpecError;

/// An error from an orchestrator verb.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrchestratorError {
    /// The engine failed; `context` says what muster was doing, as
    /// `cannot take project shop down`.
    #[error("{context}: {source}")]
    Engine {
        /// What muster was doing.
        context: String,
        /// The engine's error (it names the operation and the object).
        source: EngineError,
    },

    /// A service cannot be turned into a container.
    #[error(transparent)]
    Spec(#[from] SpecError),

    /// A service failed; `reason` says why in one line.
    #[error("service {service:?} failed: {reason}")]
    ServiceFailed {
        /// The service.
        service: String,
        /// Why, as `exited with code 1` or `turned unhealthy`.
        reason: String,
    },

    /// A service named on the command line is not in the project.
    #[error("no such service: {service:?}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    NoSuchService {
        /// The name given.
        service: String,
        /// A defined service with a close name.
        suggestion: Option<String>,
    },

    /// An operation went on past failures and several steps failed; each
    /// is listed.
    #[error("{operation} did not finish:{}", list(errors))]
    Incomplete {
        /// What was done, as `down of project shop`.
        operation: String,
        /// Every failure, in the order they happened.
        errors: Vec<OrchestratorError>,
    },

    /// The project's file or the selection of services is not usable (a
    /// required dependency disabled by its profile, a dependency cycle).
    #[error("{0}")]
    Project(crate::model::LoadErrors),

    /// Another `up` holds the project's lock.
    #[error("cannot bring project {project:?} up: {reason} (lock file {})", path.display())]
    Locked {
        /// The project.
        project: String,
        /// The lock file.
        path: std::path::PathBuf,
        /// Why the lock could not be taken.
        reason: String,
    },

    /// Images that containers are to be created from are not present
    /// locally, and muster does not pull.
    #[error("{}", crate::orchestrator::up::describe_missing_images(missing, *pull))]
    ImagesMissing {
        /// `(service, image)` pairs.
        missing: Vec<(String, String)>,
        /// The pull policy in effect.
        pull: crate::orchestrator::up::PullPolicy,
    },

    /// A service's image could not be built.
    #[error(transparent)]
    Build(#[from] crate::build::BuildError),

    /// `up` ran, but services failed: which, why, with their forensics
    /// (exit code or health, last healthcheck outputs, last log lines),
    /// and which services were therefore not started.
    #[error("{0}")]
    UpFailed(Box<crate::orchestrator::up::UpFailure>),
}

fn list(errors: &[OrchestratorError]) -> String {
    match errors {
        [one] => format!(" {one}"),
        many => many
            .iter()
            .map(|e| format!("\n  - {e}"))
            .collect::<String>(),
    }
}

impl OrchestratorError {
    /// An engine error with what muster was doing.
    #[must_use]
    pub fn engine(context: impl Into<String>, source: EngineError) -> Self {
        Self::Engine {
            context: context.into(),
            source,
        }
    }

    /// The engine error behind this one, if it is one.
    #[must_use]
    pub fn engine_error(&self) -> Option<&EngineError> {
        match self {
            Self::Engine { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_and_where() {
        let err = OrchestratorError::engine(
            "cannot take project shop down",
            EngineError::Failed {
                op: "stop",
                object: "container shop-api-1".into(),
                status: Some(500),
                message: "boom".into(),
            },
        );
        assert_eq!(
            err.to_string(),
            "cannot take project shop down: failed to stop container shop-api-1: boom"
        );
        assert!(err.engine_error().is_some());
        let err = OrchestratorError::NoSuchService {
            service: "wbe".into(),
            suggestion: Some("web".into()),
        };
        assert_eq!(
            err.to_string(),
            "no such service: \"wbe\" (did you mean \"web\"?)"
        );
        let err = OrchestratorError::Incomplete {
            operation: "down of project shop".into(),
            errors: vec![
                OrchestratorError::ServiceFailed {
                    service: "a".into(),
                    reason: "x".into(),
                },
                OrchestratorError::ServiceFailed {
                    service: "b".into(),
                    reason: "y".into(),
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "down of project shop did not finish:\n  - service \"a\" failed: x\n  - service \"b\" failed: y"
        );
    }
}
