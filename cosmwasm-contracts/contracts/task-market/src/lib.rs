//! The ClusterAI task market.
//!
//! A buyer posts a task (plugin hash, input, model hashes, replication factor
//! k, commit deadline) and escrows the reward. The market picks k eligible
//! nodes from the node registry, weighted by stake and reputation, from a
//! seed the buyer does not control (see [`assign`]). Each node commits to its
//! output digest, then reveals it; settlement pays the strict-majority nodes
//! (after the protocol fee and the creators' royalties), has the registry
//! slash the others, and refunds the buyer when there is no majority or no
//! answer at all. Messages live in [`clusterai_economy::market`].

pub mod assign;
pub mod contract;
pub mod error;
pub mod msg;
pub mod state;

pub use crate::error::ContractError;
