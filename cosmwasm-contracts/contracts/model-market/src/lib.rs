//! The ClusterAI model market.
//!
//! Creators list a plugin or a model by its content hash with a licence price
//! and a per-use royalty. The royalty is capped by a governance-set maximum; a
//! creator may lower it at any time but a raise only applies after
//! `raise_delay`, and the task market fixes the royalty of a task when the
//! task is posted, so buyers are never surprised. Buyers purchase licences;
//! the task market pays royalties per settled task; creators withdraw what
//! accrued. Messages live in [`clusterai_economy::models`].

pub mod contract;
pub mod error;
pub mod msg;
pub mod state;

pub use crate::error::ContractError;
