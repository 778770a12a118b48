//! The container engine, behind one trait.
//!
//! The orchestrator asks for everything it needs from the engine through
//! [`Engine`]: list and inspect containers, create/start/stop/kill/remove
//! them, wait for them, run commands in them, read their logs, watch events,
//! and manage networks, volumes and images. [`DockerEngine`] implements it on
//! the Docker Engine API with bollard (Docker 20.10 / API 1.41 and newer;
//! meant for Podman's compatible service too, untested there). Scheduling
//! and failure handling are tested against scripted fakes of the same trait,
//! in milliseconds.
//!
//! The trait speaks only the small types of [`types`], never bollard's, and
//! every failure is an [`EngineError`] that names the operation and the
//! object and keeps the engine's message.
//!
//! # Why boxed futures
//!
//! Methods return [`EngineFuture`] (a boxed `Send` future) rather than being
//! `async fn`s, so that `Engine` is dyn-compatible: the orchestrator holds an
//! `Arc<dyn Engine>` and hands clones to spawned tasks without a generic
//! parameter on every type, and tests swap in a fake at run time. One
//! allocation per engine call is nothing next to an HTTP round trip.
//! Streams ([`EngineStream`]) own what they need (`'static`), so they can be
//! moved into tasks too.

mod connect;
mod convert;
mod docker;
mod error;
pub mod fake;
pub mod types;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;

pub use connect::{DEFAULT_HOST, EngineConfig, HostSource, TlsConfig};
pub use docker::DockerEngine;
pub use error::EngineError;
pub use types::{
    ApiVersion, BuildContext, BuildOutput, BuildSpec, ContainerDetails, ContainerSpec,
    ContainerState, ContainerStatus, ContainerSummary, EngineEvent, EngineVersion, EventAction,
    EventFilter, EventObject, ExecOutput, ExecSpec, Health, HealthProbe, HealthStatus,
    HealthcheckSpec, ImageDetails, LabelFilter, LogChunk, LogOptions, LogStream, MountInfo,
    MountKind, MountSpec, NetworkAttachment, NetworkEndpoint, NetworkSpec, NetworkSummary,
    PortMapping, PortRange, PortSpec, Protocol, PublishedPort, RemoveContainerOptions,
    RestartPolicy, Ulimit, VolumeSpec, VolumeSummary,
};

/// The future every [`Engine`] method returns.
pub type EngineFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, EngineError>> + Send + 'a>>;

/// A stream of items from the engine (log chunks, events). It owns what it
/// needs and ends when the engine ends it; an error item is usually the last.
pub type EngineStream<T> = Pin<Box<dyn Stream<Item = Result<T, EngineError>> + Send + 'static>>;

/// Everything muster asks of a container engine.
///
/// Containers, networks and volumes are named by name or id. Methods that
/// find nothing fail with [`EngineError::NotFound`], except
/// [`inspect_image`](Engine::inspect_image), which answers `None`.
pub trait Engine: Send + Sync + fmt::Debug {
    /// Checks that the engine answers.
    fn ping(&self) -> EngineFuture<'_, ()>;

    /// The engine's version and the API version muster uses with it.
    fn version(&self) -> EngineFuture<'_, EngineVersion>;

    /// Containers in any state that carry all of `labels`.
    fn list_containers<'a>(
        &'a self,
        labels: &'a [LabelFilter],
    ) -> EngineFuture<'a, Vec<ContainerSummary>>;

    /// What the engine knows about one container.
    fn inspect_container<'a>(&'a self, container: &'a str) -> EngineFuture<'a, ContainerDetails>;

    /// Creates a container (not started) and returns its id. The first of
    /// `spec.networks` is attached at creation and the others right after;
    /// if that fails, the container is removed again. A missing image is
    /// [`EngineError::ImageMissing`]: nothing is pulled.
    fn create_container<'a>(&'a self, spec: &'a ContainerSpec) -> EngineFuture<'a, String>;

    /// Starts a created or stopped container; starting a running one is not
    /// an error.
    fn start_container<'a>(&'a self, container: &'a str) -> EngineFuture<'a, ()>;

    /// Sends the stop signal, waits up to `timeout` (the container's own stop
    /// timeout when `None`), then kills. Stopping a stopped container is not
    /// an error.
    fn stop_container<'a>(
        &'a self,
        container: &'a str,
        timeout: Option<Duration>,
    ) -> EngineFuture<'a, ()>;

    /// Sends `signal` (`SIGKILL` when `None`). A container that does not run
    /// is [`EngineError::Conflict`].
    fn kill_container<'a>(
        &'a self,
        container: &'a str,
        signal: Option<&'a str>,
    ) -> EngineFuture<'a, ()>;

    /// Removes a container.
    fn remove_container<'a>(
        &'a self,
        container: &'a str,
        options: RemoveContainerOptions,
    ) -> EngineFuture<'a, ()>;

    /// Waits until the container is not running and returns its exit code
    /// (at once for a container that does not run).
    fn wait_container<'a>(&'a self, container: &'a str) -> EngineFuture<'a, i64>;

    /// Runs a command in a running container and collects its exit code and
    /// combined output. When `spec.timeout` runs out, answers with
    /// `timed_out` set rather than an error.
    fn exec<'a>(&'a self, container: &'a str, spec: &'a ExecSpec) -> EngineFuture<'a, ExecOutput>;

    /// A container's output. The request is sent when the stream is first
    /// polled.
    fn logs(&self, container: &str, options: &LogOptions) -> EngineStream<LogChunk>;

    /// Events, as they happen (and since `filter.since` first). The request
    /// is sent when the stream is first polled.
    fn events(&self, filter: &EventFilter) -> EngineStream<EngineEvent>;

    /// Creates a network and returns its id. A network of that name that
    /// already exists is [`EngineError::Conflict`].
    fn create_network<'a>(&'a self, spec: &'a NetworkSpec) -> EngineFuture<'a, String>;

    /// Networks that carry all of `labels`.
    fn list_networks<'a>(
        &'a self,
        labels: &'a [LabelFilter],
    ) -> EngineFuture<'a, Vec<NetworkSummary>>;

    /// Removes a network; one still in use is [`EngineError::Conflict`].
    fn remove_network<'a>(&'a self, network: &'a str) -> EngineFuture<'a, ()>;

    /// Connects a container to `attachment.network` with its aliases.
    fn connect_network<'a>(
        &'a self,
        container: &'a str,
        attachment: &'a NetworkAttachment,
    ) -> EngineFuture<'a, ()>;

    /// Disconnects a container from a network.
    fn disconnect_network<'a>(
        &'a self,
        container: &'a str,
        network: &'a str,
    ) -> EngineFuture<'a, ()>;

    /// Creates a volume, or returns the existing one of that name.
    fn create_volume<'a>(&'a self, spec: &'a VolumeSpec) -> EngineFuture<'a, VolumeSummary>;

    /// Volumes that carry all of `labels`.
    fn list_volumes<'a>(
        &'a self,
        labels: &'a [LabelFilter],
    ) -> EngineFuture<'a, Vec<VolumeSummary>>;

    /// Removes a volume; one still in use is [`EngineError::Conflict`].
    fn remove_volume<'a>(&'a self, volume: &'a str, force: bool) -> EngineFuture<'a, ()>;

    /// A local image, or `None` when it is not present.
    fn inspect_image<'a>(&'a self, image: &'a str) -> EngineFuture<'a, Option<ImageDetails>>;

    /// Removes a local image (untags it, and deletes it when no tag is left).
    fn remove_image<'a>(&'a self, image: &'a str, force: bool) -> EngineFuture<'a, ()>;

    /// Builds an image from `context` (a tar stream, sent as it is read,
    /// never held whole) and tags it `spec.tag` when the build succeeds. The
    /// stream gives the build's output and, last, the image id; a failing
    /// step ends it with an error carrying the engine's message. The
    /// request is sent when the stream is first polled.
    fn build_image(&self, spec: &BuildSpec, context: BuildContext) -> EngineStream<BuildOutput>;

    /// Tags a local image (by id or name) as `tag` too.
    fn tag_image<'a>(&'a self, image: &'a str, tag: &'a str) -> EngineFuture<'a, ()>;

    /// Unpacks `archive` (a tar) into the container's filesystem under the
    /// directory `path`, which must exist (`PUT /containers/{id}/archive`).
    /// Works on a stopped container too and needs nothing in the image.
    fn upload_archive<'a>(
        &'a self,
        container: &'a str,
        path: &'a str,
        archive: bytes::Bytes,
    ) -> EngineFuture<'a, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_dyn_compatible_and_shareable() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<std::sync::Arc<dyn Engine>>();
        shareable::<DockerEngine>();
    }
}
