//! Every way a registry message can fail.

use clusterai_economy::asset::PaymentError;
use clusterai_economy::config::AdminError;
use clusterai_economy::hash::InvalidHash;
use clusterai_economy::migrate::MigrateError;
use cosmwasm_std::{StdError, Uint128};
use thiserror::Error;

/// Errors of the node registry. Every one leaves the state unchanged.
#[derive(Error, Debug, PartialEq)]
pub enum ContractError {
    /// A storage or serialisation error.
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
    /// Only the task market may report outcomes.
    #[error("only the task market may report outcomes")]
    NotTaskMarket,
    /// The operator already has a node.
    #[error("{operator} is already registered")]
    AlreadyRegistered {
        /// The operator.
        operator: String,
    },
    /// The operator has no node.
    #[error("{operator} is not a registered node")]
    NotRegistered {
        /// The operator.
        operator: String,
    },
    /// The stake would be below the minimum.
    #[error("stake {stake} is below the minimum {min_stake}")]
    StakeBelowMinimum {
        /// The minimum.
        min_stake: Uint128,
        /// What the stake would be.
        stake: Uint128,
    },
    /// A zero amount where a positive one is needed.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// Unbonding more than is bonded.
    #[error("cannot unbond {requested}: only {stake} bonded")]
    InsufficientStake {
        /// Bonded.
        stake: Uint128,
        /// Asked for.
        requested: Uint128,
    },
    /// Too many claims pending.
    #[error("at most {max} unbonding claims may be pending; claim matured ones first")]
    TooManyClaims {
        /// The bound.
        max: usize,
    },
    /// No matured claim.
    #[error("no matured claim to withdraw")]
    NothingToClaim,
    /// Capabilities out of bounds.
    #[error("invalid capabilities: {reason}")]
    InvalidCapabilities {
        /// What was wrong.
        reason: String,
    },
    /// Parameters out of bounds.
    #[error("invalid parameters: {reason}")]
    InvalidParams {
        /// What was wrong.
        reason: String,
    },
    /// The same node twice in one report.
    #[error("the outcomes of task {task_id} were already applied")]
    AlreadyReported {
        /// The task.
        task_id: u64,
    },
    #[error("the task market is already set to {address}; it cannot be repointed")]
    TaskMarketAlreadySet {
        /// The market in place.
        address: String,
    },
    #[error("{operator} is not jailed")]
    NotJailed {
        /// The operator.
        operator: String,
    },
    #[error("{operator} is jailed until {until}")]
    StillJailed {
        /// The operator.
        operator: String,
        /// When the term ends.
        until: cosmwasm_std::Timestamp,
    },
    #[error("task {task_id} is not closed in the task market")]
    TaskNotClosed {
        /// The task.
        task_id: u64,
    },
    #[error("node {node} appears twice in the outcomes")]
    DuplicateOutcome {
        /// The node.
        node: String,
    },
    #[error("nothing to update")]
    NothingToUpdate,
}

impl From<AdminError> for ContractError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Std(e) => ContractError::Std(e),
            AdminError::NotAdmin { action } => ContractError::NotAdmin { action },
        }
    }
}
