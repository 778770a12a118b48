//! Why a build did not happen or failed, worded for the person who fixes it.

use std::fmt;
use std::path::PathBuf;

use super::context::ContextError;
use crate::engine::EngineError;

/// A build step that failed, with what it printed last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// The service (the first, when several share the build).
    pub service: String,
    /// The step, as `4/9 RUN npm ci`, when the builder said.
    pub step: Option<String>,
    /// The step command's exit code, when it was one that exited.
    pub exit_code: Option<i64>,
    /// The last lines the step printed (the builder's own chatter left out).
    pub output: Vec<String>,
    /// The builder's message.
    pub message: String,
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service {:?}: the image build failed", self.service)?;
        if let Some(step) = &self.step {
            write!(f, " at step {step}")?;
        }
        match self.exit_code {
            Some(code) => write!(f, ": exit code {code}")?,
            None => write!(f, ": {}", self.message)?,
        }
        if !self.output.is_empty() {
            f.write_str("\n  last output:")?;
            for line in &self.output {
                write!(f, "\n    | {line}")?;
            }
        }
        if self.exit_code.is_some() {
            write!(f, "\n  {}", self.message)?;
        }
        Ok(())
    }
}

/// An error of `muster build` or of the build phase of `up`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The build context directory does not exist.
    #[error(
        "service {service:?}: the build context {} does not exist (build.context is relative to the compose file's directory)",
        path.display()
    )]
    MissingContext {
        /// The service.
        service: String,
        /// The context directory.
        path: PathBuf,
    },

    /// The build context is not a directory.
    #[error("service {service:?}: the build context {} is not a directory", path.display())]
    ContextNotADirectory {
        /// The service.
        service: String,
        /// The path.
        path: PathBuf,
    },

    /// The Dockerfile does not exist.
    #[error(
        "service {service:?}: Dockerfile {} not found (build.dockerfile is relative to the build context)",
        path.display()
    )]
    MissingDockerfile {
        /// The service.
        service: String,
        /// Where it was looked for.
        path: PathBuf,
    },

    /// `target` names a stage the Dockerfile does not have.
    #[error(
        "service {service:?}: target stage {target:?} not found in Dockerfile; {}",
        stage_list(stages)
    )]
    UnknownTarget {
        /// The service.
        service: String,
        /// The target asked for.
        target: String,
        /// The stages the Dockerfile names, in order.
        stages: Vec<String>,
        /// The Dockerfile.
        dockerfile: PathBuf,
    },

    /// A base image is not present locally, and nothing can be pulled.
    #[error(
        "service {service:?}: base image {image:?} is not present locally, and muster cannot pull \
         it (no registry): build it or load it (`docker load`) first"
    )]
    BaseImageMissing {
        /// The service.
        service: String,
        /// The image, as the Dockerfile names it.
        image: String,
    },

    /// A build argument cannot be used.
    #[error("bad build arg {arg:?}{}: {reason}", service.as_ref().map(|s| format!(" for service {s:?}")).unwrap_or_default())]
    BadBuildArg {
        /// The service, when the argument comes from its file.
        service: Option<String>,
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The `.dockerignore` cannot be read or has a bad pattern.
    #[error("service {service:?}: {message}")]
    IgnoreFile {
        /// The service.
        service: String,
        /// What is wrong, with the file.
        message: String,
    },

    /// A file of the context cannot be read.
    #[error("service {service:?}: reading the build context: {source}")]
    Context {
        /// The service.
        service: String,
        /// The file and the system's error.
        source: ContextError,
    },

    /// The build asks for something muster cannot do with this engine.
    #[error("service {service:?}: {what} is not supported: {why}")]
    Unsupported {
        /// The service.
        service: String,
        /// What was asked.
        what: String,
        /// Why not, and what to do instead.
        why: String,
    },

    /// A build step failed.
    #[error("{0}")]
    StepFailed(Box<StepFailure>),

    /// The engine failed.
    #[error("service {service:?}: {source}")]
    Engine {
        /// The service.
        service: String,
        /// The engine's error.
        source: EngineError,
    },

    /// Builds depend on each other in a circle.
    #[error("build dependency cycle: {}", path.join(" -> "))]
    Cycle {
        /// The services, first repeated at the end.
        path: Vec<String>,
    },

    /// A service was not built because the image it builds from failed.
    #[error(
        "service {service:?} was not built: the build of {dependency:?}, whose image it uses, failed"
    )]
    DependencyFailed {
        /// The service not built.
        service: String,
        /// The service whose build failed.
        dependency: String,
    },

    /// A service named on the command line is not in the project.
    #[error("no such service: {service:?}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    NoSuchService {
        /// The name given.
        service: String,
        /// A defined service with a close name.
        suggestion: Option<String>,
    },

    /// Several builds failed; each is listed.
    #[error("{} builds failed:{}", .0.len(), .0.iter().map(|e| format!("\n\n{e}")).collect::<String>())]
    Several(Vec<BuildError>),
}

impl BuildError {
    /// One error for many: itself when there is one.
    #[must_use]
    pub fn from_many(mut errors: Vec<Self>) -> Option<Self> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(Self::Several(errors)),
        }
    }
}

fn stage_list(stages: &[String]) -> String {
    if stages.is_empty() {
        "it has no named stages (name one with `FROM image AS name`)".to_owned()
    } else {
        format!("stages: {}", stages.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_targets_list_the_stages() {
        let err = BuildError::UnknownTarget {
            service: "api".into(),
            target: "dev".into(),
            stages: vec!["builder".into(), "runtime".into()],
            dockerfile: "Dockerfile".into(),
        };
        assert_eq!(
            err.to_string(),
            "service \"api\": target stage \"dev\" not found in Dockerfile; stages: builder, runtime"
        );
    }

    #[test]
    fn failed_steps_show_their_output_and_code() {
        let err = BuildError::StepFailed(Box::new(StepFailure {
            service: "api".into(),
            step: Some("3/5 RUN make".into()),
            exit_code: Some(2),
            output: vec!["compiling".into(), "error: boom".into()],
            message: "The command '/bin/sh -c make' returned a non-zero code: 2".into(),
        }));
        assert_eq!(
            err.to_string(),
            "service \"api\": the image build failed at step 3/5 RUN make: exit code 2\n  \
             last output:\n    | compiling\n    | error: boom\n  \
             The command '/bin/sh -c make' returned a non-zero code: 2"
        );
    }
}
