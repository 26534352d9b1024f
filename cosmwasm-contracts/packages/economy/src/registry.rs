//! Messages of the node registry: stake, unbonding, slashing, jailing,
//! reputation, node metadata and the stake-weighted draw.

use crate::asset::PaymentDenom;
use cosmwasm_schema::{QueryResponses, cw_serde};
use cosmwasm_std::{Addr, HexBinary, Timestamp, Uint128};
use cw20::Cw20ReceiveMsg;

/// Reputation a node starts with.
pub const INITIAL_REPUTATION: u32 = 500;
/// The highest reputation.
pub const MAX_REPUTATION: u32 = 1000;

/// Parameters governance may change.
#[cw_serde]
pub struct RegistryParams {
    /// Stake a node must hold to register and to be assigned tasks.
    pub min_stake: Uint128,
    /// Seconds between `Unbond` and the moment the claim can be withdrawn.
    pub unbonding_period: u64,
    /// Share of stake (bps) slashed when a node reveals a minority digest.
    pub fault_slash_bps: u16,
    /// Share of stake (bps) slashed when a node never commits (a node that
    /// commits and withholds its reveal is slashed `fault_slash_bps`).
    pub absent_slash_bps: u16,
    /// A wrong or withheld vote also forfeits at least this share (bps, up to
    /// 100 000) of what the vote would have earned, and a node is drawn for a
    /// task only if its stake covers that for every vote: cheating on a
    /// large task cannot be cheaper than the stake a small node risks.
    pub wrong_penalty_bps: u32,
    /// Consecutive faults (wrong, withheld or absent) after which a node is
    /// jailed: it leaves the draw until it sends `Unjail` after its term.
    pub jail_after_faults: u32,
    /// Seconds a jailed node cannot be assigned tasks.
    pub jail_duration: u64,
    /// Reputation gained per agreeing result.
    pub reputation_reward: u32,
    /// Reputation lost per minority result.
    pub reputation_fault_penalty: u32,
    /// Reputation lost per missing commitment.
    pub reputation_absent_penalty: u32,
}

/// What a node declares it can run.
#[cw_serde]
pub struct Capabilities {
    /// Execution providers, e.g. `cpu`, `cuda` (1 to 8, each 1 to 32 of `[a-z0-9_-]`).
    pub execution_providers: Vec<String>,
    /// Memory available to tasks, in MiB (non-zero).
    pub memory_mb: u64,
}

/// What a task needs from a node.
#[cw_serde]
#[derive(Default)]
pub struct Requirements {
    /// An execution provider the node must declare.
    pub execution_provider: Option<String>,
    /// The least memory (MiB) the node must declare.
    pub min_memory_mb: Option<u64>,
}

/// Registration data of a node.
#[cw_serde]
pub struct NodeInfo {
    /// The iroh node id (the ed25519 public key of the node's endpoint), 32 bytes.
    pub iroh_node_id: HexBinary,
    /// The ed25519 public key that signs receipts, 32 bytes.
    pub receipt_key: HexBinary,
    /// Declared capabilities.
    pub capabilities: Capabilities,
}

/// Instantiate the registry.
#[cw_serde]
pub struct InstantiateMsg {
    /// Who may change parameters (governance later); the sender if absent.
    pub admin: Option<String>,
    /// Where slashed stake goes.
    pub treasury: String,
    /// The payment denomination of the deployment.
    pub denom: PaymentDenom,
    /// Initial parameters.
    pub params: RegistryParams,
}

/// Execute messages.
#[cw_serde]
pub enum ExecuteMsg {
    /// Register the sender as a node, staking the attached native funds.
    Register(NodeInfo),
    /// Add the attached native funds to the sender's stake.
    Stake {},
    /// cw20 hook: the payload is a [`ReceiveMsg`].
    Receive(Cw20ReceiveMsg),
    /// Change the sender's node metadata.
    UpdateNode {
        /// New iroh node id.
        iroh_node_id: Option<HexBinary>,
        /// New receipt key.
        receipt_key: Option<HexBinary>,
        /// New capabilities.
        capabilities: Option<Capabilities>,
    },
    /// Start unbonding `amount` of the sender's stake. What remains must be
    /// zero (the node leaves) or at least the minimum stake.
    Unbond {
        /// Amount to unbond.
        amount: Uint128,
    },
    /// Withdraw every matured claim of the sender.
    Claim {},
    /// Apply the outcomes of a closed task (task market only, once per
    /// task, and only for a task the market's own state shows closed).
    ReportOutcomes {
        /// The closed task.
        task_id: u64,
        /// Whether the task counts for reputation and fault clearing.
        counts: bool,
        /// What one vote earned, or would have: the base of the penalty of
        /// a wrong or withheld vote.
        vote_pay: Uint128,
        /// One entry per node whose standing changes.
        outcomes: Vec<NodeOutcome>,
    },
    /// Return to the draw after a jail term has passed (the jailed node).
    Unjail {},
    /// Name the task market, the only contract allowed to report outcomes
    /// (admin, once: the link cannot be repointed afterwards).
    SetTaskMarket {
        /// The task market's address.
        address: String,
    },
    /// Change parameters (admin).
    UpdateParams(RegistryParams),
    /// Hand the admin role over, e.g. to governance (admin).
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
    /// Register the cw20 sender as a node, staking the sent amount.
    Register(NodeInfo),
    /// Add the sent amount to the cw20 sender's stake.
    Stake {},
}

/// How a node did in one closed task.
#[cw_serde]
pub enum Outcome {
    /// Revealed the majority digest.
    Agreed,
    /// Revealed another digest: slashed `fault_slash_bps`.
    Wrong,
    /// Committed, then withheld its reveal: slashed `fault_slash_bps`, as if
    /// wrong (withholding must never beat revealing a losing answer).
    Withheld,
    /// Neither committed nor declined: slashed `absent_slash_bps`.
    Absent,
}

/// One node's outcome.
#[cw_serde]
pub struct NodeOutcome {
    /// The node operator.
    pub node: String,
    /// How many votes it held.
    pub votes: u8,
    /// What happened.
    pub outcome: Outcome,
}

/// Queries.
#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    /// Configuration and parameters.
    #[returns(ConfigResponse)]
    Config {},
    /// One node.
    #[returns(NodeResponse)]
    Node {
        /// The operator address.
        operator: String,
    },
    /// All nodes, by operator address.
    #[returns(NodesResponse)]
    Nodes {
        /// Page after this operator.
        start_after: Option<String>,
        /// Page size.
        limit: Option<u32>,
    },
    /// Nodes that declare an execution provider, by operator address.
    #[returns(NodesResponse)]
    NodesByProvider {
        /// The execution provider.
        provider: String,
        /// Page after this operator.
        start_after: Option<String>,
        /// Page size.
        limit: Option<u32>,
    },
    /// Nodes that may be assigned a task now: enough stake, not jailed,
    /// meeting `requirements`, not operated by `exclude`.
    #[returns(EligibleResponse)]
    Eligible {
        /// What the task needs.
        requirements: Requirements,
        /// An operator to leave out (the buyer).
        exclude: Option<String>,
        /// Page after this operator.
        start_after: Option<String>,
        /// Page size.
        limit: Option<u32>,
    },
    /// Draws `k` votes for a task, with replacement, each node with a
    /// chance proportional to its stake in the pool as it stood at the start
    /// of block `height` (the pool of `requirements.execution_provider`, or
    /// of every node). Nodes that are not eligible now (jailed, below the
    /// minimum stake, short of `min_memory_mb`, or `exclude`) are redrawn.
    /// The task market's assignment: see the registry's `select` module.
    #[returns(SelectedResponse)]
    SelectNodes {
        /// The assignment seed (32 bytes).
        seed: HexBinary,
        /// How many votes to draw.
        k: u8,
        /// What the task needs.
        requirements: Requirements,
        /// Operators to leave out (the buyer; on a re-execution, the nodes
        /// of the first committee). At most 16.
        exclude: Vec<String>,
        /// The block whose stake counts.
        height: u64,
        /// What one vote of the task earns: nodes whose stake cannot cover
        /// `wrong_penalty_bps` of it for all k votes are redrawn.
        vote_pay: Uint128,
    },
    /// Pending unbonding claims of an operator.
    #[returns(ClaimsResponse)]
    Claims {
        /// The operator.
        operator: String,
    },
    /// Totals held by the registry (for the conservation invariant).
    #[returns(RegistryTotals)]
    Totals {},
}

/// Configuration.
#[cw_serde]
pub struct ConfigResponse {
    /// Admin (governance).
    pub admin: Addr,
    /// Where slashed stake goes.
    pub treasury: Addr,
    /// The payment denomination.
    pub denom: crate::asset::Denom,
    /// The task market, once set.
    pub task_market: Option<Addr>,
    /// Parameters.
    pub params: RegistryParams,
}

/// A node as stored.
#[cw_serde]
pub struct NodeResponse {
    /// The operator (also the node's key in the registry).
    pub operator: Addr,
    /// Registration data.
    pub info: NodeInfo,
    /// Bonded stake.
    pub stake: Uint128,
    /// Reputation, 0 to [`MAX_REPUTATION`].
    pub reputation: u32,
    /// Consecutive faults since the last agreeing result or jailing.
    pub consecutive_faults: u32,
    /// Jailed until this time, if jailed.
    pub jailed_until: Option<Timestamp>,
    /// Tasks where the node agreed with the majority.
    pub tasks_agreed: u64,
    /// Tasks where the node revealed a minority digest.
    pub tasks_wrong: u64,
    /// Tasks where the node committed and withheld its reveal.
    pub tasks_withheld: u64,
    /// Tasks where the node never committed.
    pub tasks_absent: u64,
    /// The stake that counts in the draw now (zero while jailed or below
    /// the minimum stake).
    pub weight: Uint128,
    /// Stake slashed so far.
    pub slashed_total: Uint128,
}

/// A page of nodes.
#[cw_serde]
pub struct NodesResponse {
    /// The nodes.
    pub nodes: Vec<NodeResponse>,
}

/// A node that may be assigned a task, with its weight inputs.
#[cw_serde]
pub struct EligibleNode {
    /// The operator.
    pub operator: Addr,
    /// Bonded stake.
    pub stake: Uint128,
    /// Reputation.
    pub reputation: u32,
}

/// A page of eligible nodes.
#[cw_serde]
pub struct EligibleResponse {
    /// The nodes.
    pub nodes: Vec<EligibleNode>,
}

/// One node drawn for a task.
#[cw_serde]
pub struct SelectedNode {
    /// The operator.
    pub operator: Addr,
    /// How many of the k votes it drew.
    pub votes: u8,
}

/// The nodes drawn by `SelectNodes`.
#[cw_serde]
pub struct SelectedResponse {
    /// The chosen operators, in first-draw order, with their votes; empty if
    /// `k` eligible votes could not be drawn.
    pub nodes: Vec<SelectedNode>,
    /// Nodes with stake in the pool at the snapshot height.
    pub eligible: u32,
}

/// One unbonding claim.
#[cw_serde]
pub struct Claim {
    /// Amount.
    pub amount: Uint128,
    /// When it can be withdrawn.
    pub release_at: Timestamp,
}

/// Claims of one operator.
#[cw_serde]
pub struct ClaimsResponse {
    /// The claims, oldest first.
    pub claims: Vec<Claim>,
}

/// Totals held by the registry.
#[cw_serde]
pub struct RegistryTotals {
    /// Sum of bonded stake.
    pub staked: Uint128,
    /// Sum of unbonding claims not yet withdrawn.
    pub unbonding: Uint128,
}
