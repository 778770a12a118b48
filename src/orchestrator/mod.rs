//! Making the engine match the file: `up`, `down`, `ps`.
//!
//! The orchestrator compares what the project asks for with what runs
//! (found by compose's labels, with a hash of each service's effective
//! config), and creates, recreates, starts, stops or removes only what
//! differs. It talks to the engine only through [`crate::engine::Engine`]
//! and reports only through [`events::Reporter`], so it is tested on a
//! scripted fake in milliseconds and on the real engine for what the
//! engine does.

pub mod anonymous;
pub mod down;
pub mod error;
pub mod events;
pub mod ps;
pub mod readiness;
pub mod spec;
pub mod up;
