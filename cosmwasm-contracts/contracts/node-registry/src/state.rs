//! What the registry stores.

use clusterai_economy::asset::Denom;
use clusterai_economy::registry::{Claim, NodeInfo, RegistryParams, RegistryTotals};
use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, Timestamp, Uint128};
use cw_storage_plus::{Item, Map};

/// Configuration.
#[cw_serde]
pub struct Config {
    /// May change parameters.
    pub admin: Addr,
    /// Receives slashed stake.
    pub treasury: Addr,
    /// The payment denomination.
    pub denom: Denom,
    /// The only caller of `ReportOutcomes`.
    pub task_market: Option<Addr>,
    /// Parameters.
    pub params: RegistryParams,
}

/// A registered node's standing: everything that changes with stake and
/// outcomes, kept apart from its (larger, rarely written) [`NodeInfo`] so that
/// assignment and outcome reports read and write small records.
#[cw_serde]
pub struct Node {
    /// Declared memory (copied from the info, for the eligibility filter).
    pub memory_mb: u64,
    /// Bonded stake.
    pub stake: Uint128,
    /// Reputation, 0 to MAX_REPUTATION.
    pub reputation: u32,
    /// Consecutive faults.
    pub consecutive_faults: u32,
    /// Jailed until.
    pub jailed_until: Option<Timestamp>,
    /// Agreeing results.
    pub tasks_agreed: u64,
    /// Minority results.
    pub tasks_wrong: u64,
    /// Missing results.
    pub tasks_absent: u64,
    /// Stake slashed so far.
    pub slashed_total: Uint128,
}

/// Most pending claims per operator (bounds the work of `Claim` and slashing).
pub const MAX_CLAIMS: usize = 16;
/// Most nodes a single `Eligible` query looks at (bounds its gas).
pub const MAX_SCAN: usize = 500;

/// Configuration.
pub const CONFIG: Item<Config> = Item::new("config");
/// Nodes by operator.
pub const NODES: Map<&Addr, Node> = Map::new("nodes");
/// Registration data by operator.
pub const INFO: Map<&Addr, NodeInfo> = Map::new("info");
/// Index: (execution provider, operator).
pub const BY_PROVIDER: Map<(&str, &Addr), ()> = Map::new("by_provider");
/// Pending unbonding claims by operator, oldest first.
pub const CLAIMS: Map<&Addr, Vec<Claim>> = Map::new("claims");
/// Running totals of stake and claims.
pub const TOTALS: Item<RegistryTotals> = Item::new("totals");
