//! Shared vocabulary of ClusterAI.
//!
//! Small on purpose: every host crate and the contracts' interface package
//! depend on it, so it carries only what crosses crate boundaries and no
//! heavy dependency.
//!
//! - [`ContentHash`]: the BLAKE3 address of a plugin, model or other blob.
//! - [`policy`]: [`TaskPolicy`], every limit one task runs under, with its
//!   documented defaults and the checks a node applies to a request.
//! - [`receipt`]: the one receipt a node signs for every result, which the
//!   contracts settle on.
//! - [`signing`]: the one signing scheme (domain-separated messages) used for
//!   receipts and every other statement a node key signs.
//! - [`host_memory`]: [`HostMemory`], what a task makes the host hold outside
//!   its sandbox, against the policy's one budget.
//! - [`provider`]: the execution providers that can run a model.
//! - [`source`]: [`BlobSource`], how a capability gets a blob by hash.
//! - [`env`](mod@env): the node's data and cache directories, their subfolders, the
//!   default ports and the environment variables that move them.
//! - [`files`]: opening and replacing the node's own files without following
//!   links or replacing devices and directories someone planted.
//! - [`models`] and [`pins`]: constants generated from `models/models.toml`
//!   and `pins.toml`, the only lists of pinned models and versions.

#![deny(missing_docs)]

pub mod env;
pub mod files;
mod hash;
pub mod host_memory;
pub mod models;
pub mod pins;
pub mod policy;
pub mod provider;
pub mod receipt;
pub mod signing;
pub mod source;

pub use hash::{ContentHash, ParseHashError};
pub use host_memory::{HostMemory, HostMemoryExceeded};
pub use policy::{PolicyError, PolicyRequest, TaskPolicy};
pub use provider::ExecutionProvider;
pub use receipt::{Receipt, SignedReceipt};
pub use source::{BlobSource, SourceError};
