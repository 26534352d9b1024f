//! Messages of the task market: escrowed tasks, assignment by a randomness
//! beacon, declines, commit/reveal, settlement and refunds.

use crate::asset::PaymentDenom;
use crate::beacon::BeaconConfig;
use crate::registry::{NodeOutcome, Requirements};
use cosmwasm_schema::{QueryResponses, cw_serde};
use cosmwasm_std::{Addr, Binary, HexBinary, Timestamp, Uint128};
use cw20::Cw20ReceiveMsg;

/// Parameters governance may change. A change never reaches an open task:
/// its fee, windows and shares are fixed in its terms when it is posted.
#[cw_serde]
pub struct MarketParams {
    /// Protocol fee on every task, in bps, paid to the treasury (kept also
    /// when a task expires: posting is never free).
    pub protocol_fee_bps: u16,
    /// Shortest commit window a buyer may ask for, in seconds.
    pub min_commit_period: u64,
    /// Longest commit window a buyer may ask for, in seconds.
    pub max_commit_period: u64,
    /// Length of the reveal window after the commit deadline, in seconds.
    pub reveal_period: u64,
    /// Largest replication factor (odd).
    pub max_k: u8,
    /// Largest inline input, in bytes.
    pub max_inline_input: u32,
    /// Most models per task.
    pub max_models: u8,
    /// Seconds from posting to the beacon round that draws the task's nodes
    /// (at least the beacon's period, so the round is unknown when posting).
    pub assign_delay: u64,
    /// Seconds a posted task waits for its beacon round before it expires.
    pub assign_timeout: u64,
    /// Least reward per vote, after the fee and royalties; also what a
    /// declined vote earns (paying for the node's decline), so posting what
    /// nobody can serve costs the fee and this much per vote.
    pub min_reward_per_node: Uint128,
    /// Least k for a task's outcomes to raise reputation or clear faults.
    pub min_counted_k: u8,
    /// Least eligible nodes in the task's pool, when it was posted, for its
    /// outcomes to raise reputation or clear faults.
    pub min_counted_nodes: u32,
}

/// The input of a task.
#[cw_serde]
pub enum TaskInput {
    /// BLAKE3 of an input blob that nodes fetch over iroh.
    Hash {
        /// The 32-byte hash.
        hash: HexBinary,
        /// Where the nodes fetch it (and the plugin and models they lack):
        /// iroh endpoint addresses, `NODE_ID[@IP:PORT,...]`, at most
        /// [`MAX_PROVIDERS`] of at most [`MAX_PROVIDER_LEN`] printable ASCII
        /// bytes each. The buyer's own endpoint, typically, which also takes
        /// the nodes' results.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        providers: Vec<String>,
    },
    /// A small input carried in the message (at most `max_inline_input` bytes).
    Inline {
        /// The bytes.
        data: Binary,
    },
}

/// The most providers a task may name.
pub const MAX_PROVIDERS: usize = 4;

/// The longest provider address, in bytes.
pub const MAX_PROVIDER_LEN: usize = 256;

/// What a buyer asks for.
#[cw_serde]
pub struct TaskSpec {
    /// BLAKE3 of the plugin component.
    pub plugin: HexBinary,
    /// The input.
    pub input: TaskInput,
    /// BLAKE3 of each model the plugin loads.
    pub models: Vec<HexBinary>,
    /// Replication factor: how many votes decide the output (odd, 1..=max_k,
    /// so that a tie cannot be forced).
    pub k: u8,
    /// Seconds the assigned nodes have to commit once the task is assigned;
    /// reveals are accepted for `reveal_period` after that.
    pub commit_period: u64,
    /// What the nodes must be able to do.
    pub requirements: Requirements,
    /// The most royalties (plugin and models together) the buyer agrees to
    /// pay; the post is refused if the quote is higher.
    pub max_royalties: Option<Uint128>,
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
    /// The randomness beacon that draws every task's nodes (fixed for the
    /// contract's life: see [`crate::beacon`]).
    pub beacon: BeaconConfig,
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
    /// Draws the nodes of a pending task from its beacon round (anyone, once
    /// the round is published). `signature` is the beacon's signature of the
    /// round; it may be left out once any task has brought that round.
    Assign {
        /// The task.
        task_id: u64,
        /// The beacon's signature of the task's round (48 bytes).
        signature: Option<HexBinary>,
    },
    /// An assigned node that cannot run the task (an input nobody serves, a
    /// model it cannot get) steps back before committing: no fault, and the
    /// task's least reward per vote for its trouble.
    Decline {
        /// The task.
        task_id: u64,
    },
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
    /// Settle a task: anyone, once every node that did not decline revealed,
    /// the reveal deadline passed, the commit deadline passed with no
    /// commitment, or the task waited for its beacon past `assign_timeout`.
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
    /// Waiting for its beacon round to draw its nodes: after posting, or
    /// after a first committee disagreed with no majority, to draw a second
    /// one that re-executes the task (see `TaskResponse::reexecution`).
    Pending,
    /// Assigned: accepting commitments, then reveals.
    Open,
    /// A strict majority of the k votes agreed on `digest`; rewards paid.
    Settled {
        /// The winning digest.
        digest: HexBinary,
    },
    /// Reveals but no strict majority, even after a re-execution (or none
    /// was possible): the fee went to the treasury, each revealed vote
    /// earned its share (each declined vote its decline pay), and the buyer
    /// got back the rest.
    Disputed,
    /// No reveal at all (or no nodes, or no beacon in time): the buyer got
    /// back the reward less the fee (and the decline pay of declined votes).
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
    /// Whether the listing's authorship was disputed when the task was
    /// posted: the share then goes to the model market, which holds it until
    /// the dispute is resolved; otherwise the task market credits the
    /// creator in its own ledger (withdrawn with `withdraw_rewards`).
    pub held: bool,
}

/// One assigned node and its progress.
#[cw_serde]
pub struct Assignment {
    /// The node operator.
    pub node: Addr,
    /// How many of the k votes it holds (nodes are drawn with replacement,
    /// so that splitting stake over many nodes gains nothing).
    pub votes: u8,
    /// Whether it belongs to the re-execution committee.
    pub reexecution: bool,
    /// Whether it declined the task.
    pub declined: bool,
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
    /// How each node did in a closed task, as the node registry applies it.
    #[returns(OutcomesResponse)]
    Outcomes {
        /// The task.
        task_id: u64,
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
    /// The randomness beacon.
    pub beacon: BeaconConfig,
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
    /// Replication factor (votes).
    pub k: u8,
    /// Escrowed reward.
    pub reward: Uint128,
    /// The protocol fee in bps, fixed at posting.
    pub fee_bps: u16,
    /// What a declined vote earns, fixed at posting.
    pub decline_pay: Uint128,
    /// Royalties owed on success, fixed at posting.
    pub royalties: Vec<RoyaltyShare>,
    /// Posted at.
    pub posted_at: Timestamp,
    /// The block whose stake the draw uses (stake as it stood when it began).
    pub snapshot_height: u64,
    /// The beacon round that draws the nodes.
    pub round: u64,
    /// Seconds to commit once assigned.
    pub commit_period: u64,
    /// Seconds to reveal after the commit deadline.
    pub reveal_period: u64,
    /// Commit deadline, once assigned.
    pub commit_deadline: Option<Timestamp>,
    /// Reveal deadline, once assigned.
    pub reveal_deadline: Option<Timestamp>,
    /// The assignment seed, once assigned (binds every output digest to this task).
    pub seed: Option<HexBinary>,
    /// Whether its outcomes count for reputation (k, reward and pool size).
    pub counts: bool,
    /// Whether its first committee disagreed and a second one, drawn from a
    /// later round without the first's nodes, re-executes it: the second
    /// committee's majority then judges every revealed digest.
    pub reexecution: bool,
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

/// The namespace of the task market's task state records (a cw-storage-plus
/// `Map<u64, _>`): part of the interface, since the registry reads a record
/// with a raw query.
pub const TASK_STATES: &str = "tasks";

/// The raw storage key of task `task_id`'s state record in the task market:
/// the registry reads it to check that a reported task exists and is closed.
pub fn task_state_key(task_id: u64) -> Vec<u8> {
    cw_storage_plus::Map::<u64, ()>::new(TASK_STATES)
        .key(task_id)
        .to_vec()
}

/// Whether a task state record (the bytes under [`task_state_key`]) is of a
/// closed task: its status tag (byte 6) says settled, disputed or expired.
pub fn task_record_closed(record: &[u8]) -> bool {
    matches!(record.get(6), Some(1..=3))
}

/// How the nodes of a closed task did.
#[cw_serde]
pub struct OutcomesResponse {
    /// Whether the task counts for reputation and fault clearing.
    pub counts: bool,
    /// What one vote earned, or would have (the pool over k): the base of
    /// the penalty of a wrong or withheld vote.
    pub vote_pay: Uint128,
    /// One entry per node whose standing changes (declined nodes have none).
    pub outcomes: Vec<NodeOutcome>,
}

/// Totals held by the market.
#[cw_serde]
pub struct MarketTotals {
    /// Sum of rewards escrowed in open tasks.
    pub escrowed: Uint128,
    /// Sum of rewards credited to nodes and not yet withdrawn.
    pub unclaimed_rewards: Uint128,
}
