//! Messages of the task market: escrowed tasks, assignment, commit/reveal,
//! settlement and refunds.

use crate::asset::PaymentDenom;
use crate::registry::Requirements;
use cosmwasm_schema::{QueryResponses, cw_serde};
use cosmwasm_std::{Addr, Binary, HexBinary, Timestamp, Uint128};
use cw20::Cw20ReceiveMsg;

/// Parameters governance may change.
#[cw_serde]
pub struct MarketParams {
    /// Protocol fee on every settled reward, in bps, paid to the treasury.
    pub protocol_fee_bps: u16,
    /// Shortest commit window a buyer may ask for, in seconds.
    pub min_commit_period: u64,
    /// Longest commit window a buyer may ask for, in seconds.
    pub max_commit_period: u64,
    /// Length of the reveal window after the commit deadline, in seconds.
    pub reveal_period: u64,
    /// Largest replication factor.
    pub max_k: u8,
    /// Largest inline input, in bytes.
    pub max_inline_input: u32,
    /// Most models per task.
    pub max_models: u8,
    /// Most eligible nodes considered when assigning a task (bounds gas).
    pub max_candidates: u32,
}

/// The input of a task.
#[cw_serde]
pub enum TaskInput {
    /// BLAKE3 of an input blob that nodes fetch over iroh.
    Hash {
        /// The 32-byte hash.
        hash: HexBinary,
    },
    /// A small input carried in the message (at most `max_inline_input` bytes).
    Inline {
        /// The bytes.
        data: Binary,
    },
}

/// What a buyer asks for.
#[cw_serde]
pub struct TaskSpec {
    /// BLAKE3 of the plugin component.
    pub plugin: HexBinary,
    /// The input.
    pub input: TaskInput,
    /// BLAKE3 of each model the plugin loads.
    pub models: Vec<HexBinary>,
    /// Replication factor: how many nodes run the task (odd or even, 1..=max_k).
    pub k: u8,
    /// Commitments are accepted until this time; reveals until
    /// `commit_deadline + reveal_period`.
    pub commit_deadline: Timestamp,
    /// What the nodes must be able to do.
    pub requirements: Requirements,
}

/// Instantiate the task market.
#[cw_serde]
pub struct InstantiateMsg {
    /// Who may change parameters; the sender if absent.
    pub admin: Option<String>,
    /// Where protocol fees go.
    pub treasury: String,
    /// The payment denomination (the same as the other contracts').
    pub denom: PaymentDenom,
    /// The node registry.
    pub registry: String,
    /// The model market.
    pub model_market: String,
    /// Initial parameters.
    pub params: MarketParams,
}

/// Execute messages.
#[cw_serde]
pub enum ExecuteMsg {
    /// Post a task, escrowing the attached native funds as the reward.
    PostTask(TaskSpec),
    /// cw20 hook: the payload is a [`ReceiveMsg`].
    Receive(Cw20ReceiveMsg),
    /// An assigned node commits to its output (see `commit::commitment`).
    Commit {
        /// The task.
        task_id: u64,
        /// 32-byte commitment.
        commitment: HexBinary,
    },
    /// An assigned node that committed reveals its digest and salt.
    Reveal {
        /// The task.
        task_id: u64,
        /// 32-byte output digest.
        digest: HexBinary,
        /// The salt used in the commitment (16 to 64 bytes).
        salt: HexBinary,
    },
    /// Settle a task: anyone, once every node revealed or the reveal
    /// deadline passed (or the commit deadline passed with no commitment).
    Settle {
        /// The task.
        task_id: u64,
    },
    /// Withdraw the sender's unclaimed rewards.
    WithdrawRewards {},
    /// Change parameters (admin).
    UpdateParams(MarketParams),
    /// Hand the admin role over (admin).
    UpdateAdmin {
        /// The new admin.
        admin: String,
    },
    /// Change the treasury (admin).
    UpdateTreasury {
        /// The new treasury.
        treasury: String,
    },
}

/// cw20 hook payloads.
#[cw_serde]
pub enum ReceiveMsg {
    /// Post a task, escrowing the sent amount; the cw20 sender is the buyer.
    PostTask(TaskSpec),
}

/// Where a task stands.
#[cw_serde]
pub enum TaskStatus {
    /// Accepting commitments, then reveals.
    Open,
    /// A strict majority agreed on `digest`; rewards paid.
    Settled {
        /// The winning digest.
        digest: HexBinary,
    },
    /// Reveals but no strict majority: the buyer was refunded.
    Disputed,
    /// No reveal at all before the deadline: the buyer was refunded.
    Expired,
}

/// A royalty owed on a task, fixed when the task is posted.
#[cw_serde]
pub struct RoyaltyShare {
    /// The listed hash (plugin or model).
    pub hash: HexBinary,
    /// Its creator.
    pub creator: Addr,
    /// Amount per use.
    pub amount: Uint128,
}

/// One assigned node and its progress.
#[cw_serde]
pub struct Assignment {
    /// The node operator.
    pub node: Addr,
    /// Its commitment, once made.
    pub commitment: Option<HexBinary>,
    /// Its revealed digest, once revealed.
    pub digest: Option<HexBinary>,
}

/// Queries.
#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    /// Configuration and parameters.
    #[returns(ConfigResponse)]
    Config {},
    /// One task.
    #[returns(TaskResponse)]
    Task {
        /// The task.
        task_id: u64,
    },
    /// Tasks by id.
    #[returns(TasksResponse)]
    Tasks {
        /// Page after this id.
        start_after: Option<u64>,
        /// Page size.
        limit: Option<u32>,
    },
    /// Ids of tasks a node was assigned, by id.
    #[returns(AssignedResponse)]
    Assigned {
        /// The node operator.
        node: String,
        /// Page after this id.
        start_after: Option<u64>,
        /// Page size.
        limit: Option<u32>,
    },
    /// Unclaimed rewards of an address.
    #[returns(Uint128)]
    Rewards {
        /// The address.
        address: String,
    },
    /// Totals held by the market (for the conservation invariant).
    #[returns(MarketTotals)]
    Totals {},
}

/// Configuration.
#[cw_serde]
pub struct ConfigResponse {
    /// Admin.
    pub admin: Addr,
    /// Where fees go.
    pub treasury: Addr,
    /// The payment denomination.
    pub denom: crate::asset::Denom,
    /// The node registry.
    pub registry: Addr,
    /// The model market.
    pub model_market: Addr,
    /// Parameters.
    pub params: MarketParams,
}

/// A task as stored.
#[cw_serde]
pub struct TaskResponse {
    /// Id.
    pub id: u64,
    /// Who posted and paid.
    pub buyer: Addr,
    /// Plugin hash.
    pub plugin: HexBinary,
    /// Input.
    pub input: TaskInput,
    /// Model hashes.
    pub models: Vec<HexBinary>,
    /// Replication factor.
    pub k: u8,
    /// Escrowed reward.
    pub reward: Uint128,
    /// Royalties owed on success, fixed at posting.
    pub royalties: Vec<RoyaltyShare>,
    /// Posted at.
    pub posted_at: Timestamp,
    /// Commit deadline.
    pub commit_deadline: Timestamp,
    /// Reveal deadline.
    pub reveal_deadline: Timestamp,
    /// The assignment seed.
    pub seed: HexBinary,
    /// Assigned nodes and their progress.
    pub assignments: Vec<Assignment>,
    /// Status.
    pub status: TaskStatus,
}

/// A page of tasks.
#[cw_serde]
pub struct TasksResponse {
    /// The tasks.
    pub tasks: Vec<TaskResponse>,
}

/// Task ids assigned to a node.
#[cw_serde]
pub struct AssignedResponse {
    /// Ids.
    pub task_ids: Vec<u64>,
}

/// Totals held by the market.
#[cw_serde]
pub struct MarketTotals {
    /// Sum of rewards escrowed in open tasks.
    pub escrowed: Uint128,
    /// Sum of rewards credited to nodes and not yet withdrawn.
    pub unclaimed_rewards: Uint128,
}
