//! The typed, normalized compose model.
//!
//! The loader hands over one `serde_yaml::Value` per project: files parsed,
//! variables interpolated, `extends` and `include` resolved, files merged,
//! and `x-` extension keys taken out of every object (they come back in the
//! `extensions` fields). This module turns that value into a [`Project`].
//!
//! Compose lets most keys be written in a short and a long form
//! (`ports: ["8080:80"]` or `ports: [{target: 80, published: 8080}]`); the
//! types here hold only the long form, so nothing downstream parses
//! compose syntax again. Reading is as lenient as compose (a string
//! `"true"` from a variable is a boolean; a number is a string where a
//! string is wanted), and as strict as it where it matters: every object
//! denies unknown keys (the loader turns serde's "unknown field" into a
//! "did you mean"), and bad ports, durations, sizes and volumes say what
//! is wrong and show the form that works.
//!
//! Writing (`serde::Serialize`) gives the normalized long form with empty
//! values left out: what `muster config` prints, close to
//! `docker compose config`. [`json_schema`] describes the file format
//! (short and long forms) for editors.

mod build;
mod command;
mod de;
mod depends;
mod deploy;
mod develop;
mod duration;
mod health;
mod hosts;
mod limits;
mod objects;
mod ports;
mod refs;
mod schema;
mod service;
mod size;
mod volumes;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use build::Build;
pub use command::Command;
pub use depends::{Condition, DependsOn};
pub use deploy::{
    Deploy, DeviceRequest, DiscreteResourceSpec, GenericResource, Placement, PlacementPreference,
    ResourceLimits, ResourceReservations, Resources, RestartPolicy, UpdateConfig,
};
pub use develop::{Develop, ServiceHook, WatchAction, WatchRule};
pub use duration::Duration;
pub use health::Healthcheck;
pub use hosts::ExtraHosts;
pub use limits::{BlkioConfig, ThrottleDevice, Ulimit, WeightDevice};
pub use objects::{Config, FileObject, Include, Ipam, IpamPool, Model, Network, Secret, Volume};
pub use ports::{PORT_SYNTAX, Port};
pub use refs::{EnvFile, FileMode, FileReference};
pub use schema::json_schema;
pub use service::{
    CredentialSpec, Dependency, DependencyKind, Device, Environment, Extends, Labels, Logging,
    Provider, Service, ServiceModel, ServiceNetwork,
};
pub use size::ByteSize;
pub use volumes::{
    BindOptions, ImageOptions, ServiceVolume, TmpfsOptions, VOLUME_SYNTAX, VolumeOptions,
    VolumeType, is_host_path,
};

/// A compose project: the whole file, normalized.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "Compose file (muster)",
    description = "A compose file as muster reads it: the Compose Specification, with short and long forms."
)]
pub struct Project {
    /// Obsolete; accepted and ignored.
    #[serde(default, deserialize_with = "de::opt_string", skip_serializing)]
    #[schemars(with = "de::TextSchema")]
    pub version: Option<String>,
    /// The project's name, unless `-p` or `COMPOSE_PROJECT_NAME` gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Other compose files to pull in, each with its own project directory
    /// (resolved by the loader).
    #[serde(default, deserialize_with = "de::list_of", skip_serializing)]
    #[schemars(with = "de::ShortOrLongList<Include>")]
    pub include: Vec<Include>,
    /// The services, by name.
    #[serde(default)]
    pub services: IndexMap<String, Service>,
    /// Networks services attach to, by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, Network>,
    /// Named volumes services mount, by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub volumes: IndexMap<String, Volume>,
    /// Secrets services mount, by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, Secret>,
    /// Configs services mount, by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub configs: IndexMap<String, Config>,
    /// AI models services use (Docker Model Runner), by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub models: IndexMap<String, Model>,
    /// The top-level `x-` extension keys (filled by the loader).
    #[serde(skip_deserializing, flatten)]
    #[schemars(skip)]
    pub extensions: IndexMap<String, serde_yaml::Value>,
}

#[cfg(test)]
mod tests;
