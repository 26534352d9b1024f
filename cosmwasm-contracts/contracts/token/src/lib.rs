//! The ClusterAI network token: [cw20-base] as is, with a minter (for the
//! genesis distribution and later governance-approved issuance) and marketing
//! info (project, description, logo).
//!
//! The token contract adds nothing to cw20-base's logic; it exists so the
//! network's artifact has its own cw2 name (for migrations) and so the
//! instantiate message is checked for what the network needs: a minter and
//! marketing info must be present.
//!
//! [cw20-base]: https://crates.io/crates/cw20-base

pub mod contract;
pub mod error;

pub use crate::error::ContractError;
