//! The ClusterAI task market.
//!
//! A buyer posts a task (plugin hash, input, model hashes, odd replication
//! factor k, commit window) and escrows the reward. A later beacon round
//! draws k stake-weighted votes from the node registry (see [`assign`]).
//! Each drawn node commits to its task-bound output digest, then reveals it,
//! or declines without fault. Settlement pays the strict-majority votes
//! (after the protocol fee and the creators' royalties, both fixed at
//! posting) and has the registry slash wrong, withheld and absent nodes;
//! without a majority the revealed votes are paid their share and the buyer
//! gets the rest back; the fee is never refunded. Messages live in
//! [`clusterai_economy::market`].

pub mod assign;
pub mod contract;
pub mod error;
pub mod msg;
pub mod state;

pub use crate::error::ContractError;
