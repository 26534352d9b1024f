//! The interface of the ClusterAI economy: what the token, the node registry,
//! the task market and the model market say to each other and to clients.
//!
//! The contracts depend on this crate, never on each other, so a client (the
//! node's chain client, a test suite, another contract) can speak to any of
//! them with only this crate. The modules:
//!
//! - [`asset`]: the one payment denomination of a deployment (a cw20 token or
//!   a native denom), how to accept it and how to pay it out;
//! - [`beacon`]: the drand-style randomness beacon that draws each task's nodes;
//! - [`hash`]: 32-byte content hashes (BLAKE3 of plugins, models, inputs and
//!   outputs) as they travel in messages;
//! - [`commit`]: the task-bound output digest and the commitment a node posts
//!   before revealing it;
//! - [`receipt`]: the receipt a node signs for every result;
//! - [`registry`], [`market`], [`models`]: the messages of each contract;
//! - [`codec`]: the binary encoding of the records hot paths store;
//! - [`config`]: each contract's configuration record and its admin.
#![deny(missing_docs)]

pub mod asset;
pub mod beacon;
pub mod codec;
pub mod commit;
pub mod config;
pub mod hash;
pub mod market;
pub mod migrate;
pub mod models;
pub mod receipt;
pub mod registry;

/// Basis points in one whole (100 %).
pub const BPS_DENOMINATOR: u16 = 10_000;

/// Longest time parameter any contract accepts (a year, in seconds): a
/// window, delay or jail term beyond it would lock funds or nodes for good.
pub const MAX_TIME_PARAM: u64 = 365 * 86_400;

/// Default and maximum page sizes of every paginated query.
pub const DEFAULT_LIMIT: u32 = 30;
/// See [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: u32 = 100;

/// Clamps a requested page size to `1..=MAX_LIMIT`.
pub fn page_limit(limit: Option<u32>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize
}
