//! What the task market stores.
//!
//! A task is split so that the records written on every commit and reveal
//! stay small: [`TaskState`] (status, deadlines, counters, assigned nodes,
//! royalties) and [`TaskBody`] (what to run, written once), plus one
//! [`Slot`] per assigned node.

use clusterai_economy::asset::Denom;
use clusterai_economy::market::{MarketParams, MarketTotals, RoyaltyShare, TaskInput, TaskStatus};
use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, HexBinary, Timestamp, Uint128};
use cw_storage_plus::{Item, Map};

/// Configuration.
#[cw_serde]
pub struct Config {
    /// May change parameters.
    pub admin: Addr,
    /// Receives protocol fees.
    pub treasury: Addr,
    /// The payment denomination.
    pub denom: Denom,
    /// The node registry.
    pub registry: Addr,
    /// The model market.
    pub model_market: Addr,
    /// Parameters.
    pub params: MarketParams,
}

/// The part of a task every commit and reveal reads and writes: kept small.
#[cw_serde]
pub struct TaskState {
    /// Replication factor.
    pub k: u8,
    /// Commitments received.
    pub commits: u8,
    /// Reveals received.
    pub reveals: u8,
    /// Commit deadline.
    pub commit_deadline: Timestamp,
    /// Reveal deadline.
    pub reveal_deadline: Timestamp,
    /// Status.
    pub status: TaskStatus,
}

/// Who pays whom: read when the task is posted and settled.
#[cw_serde]
pub struct TaskTerms {
    /// Who posted and paid.
    pub buyer: Addr,
    /// Escrowed reward.
    pub reward: Uint128,
    /// Assigned nodes, in draw order.
    pub nodes: Vec<Addr>,
    /// Royalties owed on success.
    pub royalties: Vec<RoyaltyShare>,
}

/// The part of a task written once.
#[cw_serde]
pub struct TaskBody {
    /// Plugin hash.
    pub plugin: HexBinary,
    /// Input.
    pub input: TaskInput,
    /// Model hashes.
    pub models: Vec<HexBinary>,
    /// Posted at.
    pub posted_at: Timestamp,
    /// Assignment seed.
    pub seed: HexBinary,
}

/// One assigned node's progress.
#[cw_serde]
#[derive(Default)]
pub struct Slot {
    /// Its commitment.
    pub commitment: Option<HexBinary>,
    /// Its revealed digest.
    pub digest: Option<HexBinary>,
}

/// Configuration.
pub const CONFIG: Item<Config> = Item::new("config");
/// The next task id.
pub const NEXT_ID: Item<u64> = Item::new("next_id");
/// A running hash of every assignment seed, mixed into the next seed.
pub const ENTROPY: Item<HexBinary> = Item::new("entropy");
/// Task state by id.
pub const TASKS: Map<u64, TaskState> = Map::new("tasks");
/// Task terms by id.
pub const TERMS: Map<u64, TaskTerms> = Map::new("terms");
/// Task body by id.
pub const BODIES: Map<u64, TaskBody> = Map::new("bodies");
/// Slots by (task, node).
pub const SLOTS: Map<(u64, &Addr), Slot> = Map::new("slots");
/// Index: (node, task) for every assignment.
pub const ASSIGNED: Map<(&Addr, u64), ()> = Map::new("assigned");
/// Unclaimed rewards by address.
pub const REWARDS: Map<&Addr, Uint128> = Map::new("rewards");
/// Running totals.
pub const TOTALS: Item<MarketTotals> = Item::new("totals");
