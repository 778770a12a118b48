//! The compose model: reading compose files into a typed, normalized
//! [`Project`], exactly as compose reads them.
//!
//! Loading runs in one direction: find the files ([`discover`]), parse each
//! into a spanned tree ([`yaml`]), interpolate variables ([`interpolate`],
//! with [`dotenv`] files), resolve paths ([`paths`]), `include` and
//! `extends`, merge several files ([`merge`]), turn the tree into types
//! ([`types`]), and validate ([`validate`]). [`load()`] runs it all; every
//! error carries a location.

pub mod de;
pub mod discover;
pub mod dotenv;
pub mod error;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod node;
pub mod paths;
pub mod source;
pub mod types;
pub mod validate;
pub mod yaml;

pub use error::{ErrorKind, LoadError, LoadErrors, Location};
pub use load::{LoadedProject, ProjectOptions, load};
pub use node::{Key, Node, NodeKind, PathSeg, Tag};
pub use source::{FileId, Sources, Span};
pub use types::Project;
pub use validate::SelectedServices;
