//! The shared test kit of the host crates.
//!
//! - [`skip`]: the one rule for a test that needs something heavy (ONNX
//!   Runtime, the pinned models, a GPU): it may skip locally, saying why,
//!   and never under `CI=true` unless the thing cannot exist there.
//! - [`ChildGuard`]: a child process that is killed when the test ends,
//!   whichever way it ends.
//! - [`wait`]: readiness waits with a deadline (a condition, a TCP port, a
//!   line of output).
//! - [`http`]: a minimal HTTP client for nodes running as child processes.
//! - [`plugins`]: the built plugins and hostile test programs, found only
//!   through the `clusterai-test-programs` build.
//! - [`chain`]: a buyer's side on a chain: a node's registration, a task
//!   posted and assigned, waiting for it to close.

#![deny(missing_docs)]

pub mod chain;
pub mod http;
pub mod plugins;
pub mod skip;
pub mod wait;

mod child;

pub use child::ChildGuard;

/// The repository's root folder.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}
