//! Errors from the container engine, worded for the person who has to fix
//! them.
//!
//! Every variant names the operation and the object it was applied to, and
//! keeps the engine's own message, so that a failure reads
//! `failed to start container shop-api-1: driver failed programming external
//! connectivity ...: port is already allocated` rather than "status 500".
//! Callers branch on [`EngineError::is_not_found`] and
//! [`EngineError::is_conflict`] (a missing object during `down`, a name
//! already taken during `up`) and on [`EngineError::ImageMissing`], to which
//! they add the service's name.

use std::time::Duration;

use super::types::ApiVersion;

/// An error from talking to the container engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The engine could not be reached at all: no socket, connection
    /// refused, no answer, or an answer that is not the Docker Engine API.
    #[error("cannot reach the Docker engine at {address}: {reason}. {hint}")]
    Unreachable {
        /// The address tried, as `unix:///var/run/docker.sock` or `tcp://host:2376`.
        address: String,
        /// What went wrong, as the operating system or the engine said it.
        reason: String,
        /// What to check, including where the address came from.
        hint: String,
    },

    /// `DOCKER_HOST` (or the configured address, or the TLS settings) cannot
    /// be used.
    #[error("cannot use the Docker engine address {address:?}: {reason}")]
    InvalidHost {
        /// The address as given.
        address: String,
        /// Why it cannot be used, and what to do instead.
        reason: String,
    },

    /// The engine speaks an API older than muster supports.
    #[error(
        "the Docker engine at {address} speaks API {api_version}, but muster needs API \
         {minimum} or newer (Docker Engine 20.10 or newer)"
    )]
    UnsupportedApi {
        /// The address of the engine.
        address: String,
        /// The newest API version the engine speaks.
        api_version: ApiVersion,
        /// The oldest API version muster supports.
        minimum: ApiVersion,
    },

    /// The object does not exist (HTTP 404).
    #[error("failed to {op} {object}: {message}")]
    NotFound {
        /// The operation, as a verb: `start`, `inspect`, `remove`, ...
        op: &'static str,
        /// The object, as `container shop-api-1` or `network shop_default`.
        object: String,
        /// The engine's message.
        message: String,
    },

    /// The object's state or name conflicts with the request (HTTP 409): a
    /// name already in use, a running container removed without force, a
    /// network still in use.
    #[error("failed to {op} {object}: {message}")]
    Conflict {
        /// The operation, as a verb.
        op: &'static str,
        /// The object, as `container shop-api-1`.
        object: String,
        /// The engine's message.
        message: String,
    },

    /// A container was to be created from an image that is not present
    /// locally. muster does not pull images; the caller adds which service
    /// wanted the image.
    #[error(
        "failed to create container {container}: image {image:?} is not present locally, \
         and muster does not pull images: build it or load it first"
    )]
    ImageMissing {
        /// The container that was to be created.
        container: String,
        /// The image reference, as given.
        image: String,
    },

    /// The engine did not answer in time.
    #[error("failed to {op} {object}: the Docker engine did not answer within {}", seconds(*.after))]
    Timeout {
        /// The operation, as a verb.
        op: &'static str,
        /// The object.
        object: String,
        /// How long muster waited.
        after: Duration,
    },

    /// The connection to the engine broke during the operation.
    #[error(
        "failed to {op} {object}: lost the connection to the Docker engine at {address}: {message}"
    )]
    Connection {
        /// The operation, as a verb.
        op: &'static str,
        /// The object.
        object: String,
        /// The engine's address.
        address: String,
        /// What the transport said.
        message: String,
    },

    /// The engine refused or failed the operation for another reason.
    #[error("failed to {op} {object}: {message}")]
    Failed {
        /// The operation, as a verb.
        op: &'static str,
        /// The object.
        object: String,
        /// The HTTP status the engine answered with, when it answered.
        status: Option<u16>,
        /// The engine's message.
        message: String,
    },

    /// The request itself is inconsistent and was not sent.
    #[error("invalid {object}: {message}")]
    InvalidSpec {
        /// The object, as `container shop-api-1`.
        object: String,
        /// What is wrong with it.
        message: String,
    },
}

impl EngineError {
    /// Whether the object did not exist (including a missing image on create).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. } | Self::ImageMissing { .. })
    }

    /// Whether the request conflicted with the object's name or state.
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    /// Whether the engine could not be reached, or the connection to it was
    /// lost: retrying the same operation elsewhere will not help.
    #[must_use]
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Connection { .. })
    }
}

/// `1 s`, `1.5 s`, `250 ms`: short durations as people write them.
pub(crate) fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_operation_and_the_object() {
        let err = EngineError::Failed {
            op: "start",
            object: "container shop-api-1".into(),
            status: Some(500),
            message: "driver failed programming external connectivity: port is already allocated"
                .into(),
        };
        assert_eq!(
            err.to_string(),
            "failed to start container shop-api-1: driver failed programming external \
             connectivity: port is already allocated"
        );
        let err = EngineError::ImageMissing {
            container: "shop-api-1".into(),
            image: "shop/api:dev".into(),
        };
        assert!(
            err.to_string()
                .contains("image \"shop/api:dev\" is not present locally")
        );
        assert!(err.is_not_found());
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(seconds(Duration::from_millis(250)), "250 ms");
        assert_eq!(seconds(Duration::from_secs(2)), "2 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
