//! The ClusterAI node registry.
//!
//! Nodes register with an operator address, their iroh node id, the ed25519
//! key that signs receipts and their declared capabilities, and bond at least
//! the minimum stake. Unbonding waits `unbonding_period` before a claim can be
//! withdrawn. Tasks draw their nodes from stake-weighted pools kept with
//! their history (see [`select`]). Only the task market may report outcomes,
//! once per task, and the registry reads them from the market's state:
//! agreeing nodes gain reputation (on tasks that count); nodes that revealed
//! a minority digest, withheld their reveal or never answered lose
//! reputation and a share of their stake (which goes to the treasury), and
//! are jailed after repeated faults. Messages live in
//! [`clusterai_economy::registry`].

pub mod contract;
pub mod error;
pub mod msg;
pub mod select;
pub mod state;

pub use crate::error::ContractError;
