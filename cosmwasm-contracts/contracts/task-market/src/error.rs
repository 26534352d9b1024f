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
    #[error("replication factor k must be 1 to {max_k}, got {k}")]
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
    /// The commit deadline is not in the future.
    #[error("commit deadline {deadline} is not after the current time {now}")]
    DeadlineInPast {
        /// Given.
        deadline: Timestamp,
        /// Block time.
        now: Timestamp,
    },
    /// The commit deadline leaves too little time.
    #[error("commit deadline {deadline} is sooner than the earliest allowed {earliest}")]
    DeadlineTooSoon {
        /// Given.
        deadline: Timestamp,
        /// Earliest allowed.
        earliest: Timestamp,
    },
    /// The commit deadline is too far away.
    #[error("commit deadline {deadline} is later than the latest allowed {latest}")]
    DeadlineTooFar {
        /// Given.
        deadline: Timestamp,
        /// Latest allowed.
        latest: Timestamp,
    },
    /// The reward does not cover fee, royalties and one unit per node.
    #[error(
        "reward {reward} does not cover the fee {fee}, royalties {royalties} and at least 1 per node (k = {k})"
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
    },
    /// A listed plugin or model needs a licence the buyer does not hold.
    #[error("a licence for {hash} is required: buy it in the model market first")]
    LicenceRequired {
        /// The listing's hash.
        hash: String,
    },
    /// Fewer eligible nodes than k.
    #[error("only {eligible} eligible nodes for k = {k}")]
    NotEnoughNodes {
        /// Eligible nodes found.
        eligible: usize,
        /// Replication factor.
        k: u8,
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
        "reveals for task {task_id} open when every node has committed or at the commit deadline"
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
    #[error("task {task_id} cannot be settled before {settle_after} unless every node revealed")]
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
