//! muster: a health-aware local development orchestrator that runs the
//! compose files you already have.
//!
//! The library is what the `muster` binary is built on, and what other
//! projects call from their integration tests:
//!
//! - [`model`] reads compose files into a typed [`model::Project`], exactly
//!   as compose reads them, with errors that point at the line;
//! - [`graph`] orders services by their dependencies and selects them by
//!   name and profile;
//! - [`build`] builds services' images (contexts, `.dockerignore`, input
//!   hashes);
//! - [`engine`] is the seam in front of the container engine (bollard);
//! - [`logs`] merges and follows the output of a project's containers;
//! - [`harness`] brings a compose stack up for an integration test, ready
//!   and under a unique name, and tears it down when the handle drops;
//! - [`cli`] and [`ui`] are the command line and its rendering.

pub mod build;
pub mod cli;
pub mod engine;
pub mod graph;
pub mod harness;
pub mod logs;
pub mod model;
pub mod orchestrator;
pub mod ui;
pub mod watch;
