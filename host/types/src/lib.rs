//! Shared vocabulary of ClusterAI hosts.
//!
//! Small on purpose: every host crate depends on it, so it carries only the
//! types that cross crate boundaries.
//!
//! - [`ContentHash`]: the BLAKE3 address of a plugin, model or other blob.
//! - [`bench`]: the JSON report every `clusterai bench <suite> --json` prints.

#![deny(missing_docs)]

pub mod bench;
mod hash;

pub use hash::{ContentHash, ParseHashError};
