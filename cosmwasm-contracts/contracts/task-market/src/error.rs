//! Every way a task-market message can fail.

use clusterai_economy::asset::PaymentError;
use clusterai_economy::config::AdminError;
use clusterai_economy::hash::InvalidHash;
use clusterai_economy::migrate::MigrateError;
use cosmwasm_std::{StdError, Timestamp, Uint128};
use thiserror::Error;

/// Errors of the task market. Every one leaves the state unchanged.
#[derive(Error, Debug, PartialEq)]
pub enum ContractError {
    /// A storage, serialisation or cross-contract query error.
    #[error("{0}")]
    Std(#[from] StdError),
    /// A payment in the wrong form.
    #[error("{0}")]
    Payment(#[from] PaymentError),
    /// A hash field of the wrong length.
    #[error("{0}")]
    InvalidHash(#[from] InvalidHash),
    /// A refused migration.
    #[error("{0}")]
    Migrate(#[from] MigrateError),
    /// Only the admin may do this.
    #[error("only the admin may {action}")]
    NotAdmin {
        /// What was attempted.
        action: String,
    },
    /// Parameters out of bounds.
    #[error("invalid parameters: {reason}")]
    InvalidParams {
        /// What was wrong.
        reason: String,
    },
    /// k is zero or above the maximum.
    #[error("replication factor k must be odd and 1 to {max_k}, got {k}")]
    InvalidK {
        /// Asked for.
        k: u8,
        /// The maximum.
        max_k: u8,
    },
    /// Inline input empty or too large.
    #[error("inline input must be 1 to {max} bytes, got {len}")]
    InvalidInlineInput {
        /// Given length.
        len: usize,
        /// The maximum.
        max: u32,
    },
    /// A provider list that is too long, or an address that is empty, too
    /// long or not printable ASCII.
    #[error("invalid input providers: {reason}")]
    InvalidProviders {
        /// What was wrong.
        reason: String,
    },
    /// Too many models.
    #[error("at most {max} models per task, got {count}")]
    TooManyModels {
        /// Given.
        count: usize,
        /// The maximum.
        max: u8,
    },
    /// The same model twice.
    #[error("model {hash} is listed twice")]
    DuplicateModel {
        /// The model hash.
        hash: String,
    },
    /// Requirements out of bounds.
    #[error("invalid requirements: {reason}")]
    InvalidRequirements {
        /// What was wrong.
        reason: String,
    },
    /// A commit window outside the allowed range.
    #[error("commit_period must be {min} to {max} seconds, got {period}")]
    InvalidCommitPeriod {
        /// Given.
        period: u64,
        /// Shortest allowed.
        min: u64,
        /// Longest allowed.
        max: u64,
    },
    /// The reward does not cover fee, royalties and the least reward per node.
    #[error(
        "reward {reward} does not cover the fee {fee}, royalties {royalties} and {min_per_node} per node (k = {k})"
    )]
    RewardTooLow {
        /// Given.
        reward: Uint128,
        /// Protocol fee on it.
        fee: Uint128,
        /// Royalties owed.
        royalties: Uint128,
        /// Replication factor.
        k: u8,
        /// The least reward per node.
        min_per_node: Uint128,
    },
    /// The royalties quoted exceed what the buyer agreed to pay.
    #[error("royalties {quoted} exceed the task's max_royalties {max}")]
    RoyaltiesAboveMax {
        /// Quoted now.
        quoted: Uint128,
        /// The buyer's ceiling.
        max: Uint128,
    },
    /// A listed plugin or model needs a licence the buyer does not hold.
    #[error("a licence for {hash} is required: buy it in the model market first")]
    LicenceRequired {
        /// The listing's hash.
        hash: String,
    },
    /// The task waits for its beacon round to draw its nodes.
    #[error("task {task_id} is waiting for its beacon round to draw its nodes")]
    AwaitingDraw {
        /// The task.
        task_id: u64,
    },
    /// The task is not waiting for its assignment.
    #[error("task {task_id} is not pending assignment")]
    NotPending {
        /// The task.
        task_id: u64,
    },
    /// The task's beacon round is not published yet.
    #[error("task {task_id} is drawn by beacon round {round}, published at {at}; wait for it")]
    RoundNotYet {
        /// The task.
        task_id: u64,
        /// Its round.
        round: u64,
        /// When the round is published (unix seconds).
        at: u64,
    },
    /// No signature given for a round the market has not seen.
    #[error("the beacon's signature of round {round} is needed to assign task {task_id}")]
    BeaconNeeded {
        /// The task.
        task_id: u64,
        /// Its round.
        round: u64,
    },
    /// The signature is not the beacon's.
    #[error("{0}")]
    Beacon(#[from] clusterai_economy::beacon::BeaconError),
    /// The task waited past its assignment timeout.
    #[error("task {task_id} waited for its beacon past {deadline}: settle it to refund the buyer")]
    AssignTimedOut {
        /// The task.
        task_id: u64,
        /// Its assignment deadline.
        deadline: Timestamp,
    },
    /// The node declined the task.
    #[error("declined task {task_id}")]
    AlreadyDeclined {
        /// The task.
        task_id: u64,
    },
    /// The task has no outcomes yet.
    #[error("task {task_id} is still open")]
    StillOpen {
        /// The task.
        task_id: u64,
    },
    /// No such task.
    #[error("task {task_id} does not exist")]
    TaskNotFound {
        /// The id.
        task_id: u64,
    },
    /// The task is already settled, disputed or expired.
    #[error("task {task_id} is already closed")]
    TaskClosed {
        /// The id.
        task_id: u64,
    },
    /// The sender is not assigned to the task.
    #[error("{node} is not assigned to task {task_id}")]
    NotAssigned {
        /// The sender.
        node: String,
        /// The task.
        task_id: u64,
    },
    /// Commit after the commit deadline.
    #[error("the commit deadline of task {task_id} has passed")]
    CommitDeadlinePassed {
        /// The task.
        task_id: u64,
    },
    /// Second commit.
    #[error("already committed to task {task_id}")]
    AlreadyCommitted {
        /// The task.
        task_id: u64,
    },
    /// Reveal before every node committed and before the commit deadline.
    #[error(
        "reveals for task {task_id} open when every node has committed or declined, or at the commit deadline"
    )]
    RevealNotOpen {
        /// The task.
        task_id: u64,
    },
    /// Reveal after the reveal deadline.
    #[error("the reveal deadline of task {task_id} has passed")]
    RevealDeadlinePassed {
        /// The task.
        task_id: u64,
    },
    /// Reveal without a commitment.
    #[error("no commitment to reveal for task {task_id}")]
    NoCommitment {
        /// The task.
        task_id: u64,
    },
    /// Second reveal.
    #[error("already revealed for task {task_id}")]
    AlreadyRevealed {
        /// The task.
        task_id: u64,
    },
    /// The reveal does not match the commitment.
    #[error("digest and salt do not match the commitment")]
    CommitmentMismatch,
    /// Salt of the wrong length.
    #[error("salt must be {min} to {max} bytes, got {len}")]
    InvalidSalt {
        /// Given.
        len: usize,
        /// Minimum.
        min: usize,
        /// Maximum.
        max: usize,
    },
    /// Settle before every node revealed and before the deadline.
    #[error(
        "task {task_id} cannot be settled before {settle_after} unless every node revealed or declined"
    )]
    SettleTooEarly {
        /// The task.
        task_id: u64,
        /// The reveal deadline.
        settle_after: Timestamp,
    },
    /// Nothing to withdraw.
    #[error("no rewards to withdraw")]
    NothingToWithdraw,
}

impl From<AdminError> for ContractError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Std(e) => ContractError::Std(e),
            AdminError::NotAdmin { action } => ContractError::NotAdmin { action },
        }
    }
}
