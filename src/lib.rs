//! muster: a health-aware local development orchestrator that runs the
//! compose files you already have.
//!
//! The library is what the `muster` binary is built on, and what other
//! projects call from their integration tests. See `DESIGN.md`-style notes
//! in each module for why it is shaped as it is.

pub mod graph;
pub mod model;
