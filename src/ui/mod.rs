//! Rendering for people: diagnostics now; progress reporters later.
//!
//! The library never prints; the CLI hands what it gets to these functions.

pub mod diagnostics;
pub mod logs;
pub mod progress;
