//! Every way a model-market message can fail.

use clusterai_economy::asset::PaymentError;
use clusterai_economy::config::AdminError;
use clusterai_economy::hash::InvalidHash;
use clusterai_economy::migrate::MigrateError;
use cosmwasm_std::{StdError, Uint128};
use thiserror::Error;

/// Errors of the model market. Every one leaves the state unchanged.
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
    /// Only the listing's creator may do this.
    #[error("only the creator of {hash} may change it")]
    NotCreator {
        /// The listing.
        hash: String,
    },
    /// Only the task market may record royalties.
    #[error("only the task market may record royalties")]
    NotTaskMarket,
    /// The hash is listed already.
    #[error("{hash} is already listed")]
    AlreadyListed {
        /// The listing.
        hash: String,
    },
    /// No such listing.
    #[error("{hash} is not listed")]
    NotListed {
        /// The hash.
        hash: String,
    },
    /// The listing was delisted.
    #[error("{hash} was delisted")]
    Delisted {
        /// The listing.
        hash: String,
    },
    /// Royalty above the cap.
    #[error("royalty {royalty} is above the maximum {max_royalty}")]
    RoyaltyAboveMax {
        /// Asked for.
        royalty: Uint128,
        /// The cap.
        max_royalty: Uint128,
    },
    /// The listing needs no licence.
    #[error("{hash} is free to use: no licence to buy")]
    NoLicenceNeeded {
        /// The listing.
        hash: String,
    },
    /// The payment is not the licence price.
    #[error("licence costs exactly {price}, got {paid}")]
    WrongPrice {
        /// Price.
        price: Uint128,
        /// Paid.
        paid: Uint128,
    },
    /// A licence is held already.
    #[error("a licence for {hash} is already held")]
    AlreadyLicensed {
        /// The listing.
        hash: String,
    },
    /// Royalty shares do not add up to the payment.
    #[error("royalty shares sum to {shares}, but {paid} was paid")]
    RoyaltyMismatch {
        /// Sum of the shares.
        shares: Uint128,
        /// Paid.
        paid: Uint128,
    },
    /// Nothing to withdraw.
    #[error("nothing to withdraw")]
    NothingToWithdraw,
    /// Name empty or too long.
    #[error("name must be 1 to 64 bytes")]
    InvalidName,
    /// A change that changes nothing.
    #[error("the value is unchanged")]
    Unchanged,
    /// A configuration value out of range.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// The task market link is set once.
    #[error("the task market is already set to {address}; it cannot be repointed")]
    TaskMarketAlreadySet {
        /// The market in place.
        address: String,
    },
    /// A task's royalties were already recorded.
    #[error("royalties of task {task_id} were already recorded")]
    AlreadyRecorded {
        /// The task.
        task_id: u64,
    },
    /// The market would owe more than it holds.
    #[error("the market holds {held} but would owe {owed}: refusing to credit unbacked income")]
    Unbacked {
        /// Its balance.
        held: Uint128,
        /// What it would owe.
        owed: Uint128,
    },
    /// A dispute is already open.
    #[error("{hash} is already disputed")]
    AlreadyDisputed {
        /// The listing.
        hash: String,
    },
    /// No dispute is open.
    #[error("{hash} is not disputed")]
    NotDisputed {
        /// The listing.
        hash: String,
    },
    /// The creator cannot dispute their own listing.
    #[error("the creator of {hash} cannot dispute it")]
    OwnListing {
        /// The listing.
        hash: String,
    },
    /// The bond must be paid exactly.
    #[error("a dispute bond is exactly {bond}, got {paid}")]
    WrongBond {
        /// The bond.
        bond: Uint128,
        /// Paid.
        paid: Uint128,
    },
}

impl From<AdminError> for ContractError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Std(e) => ContractError::Std(e),
            AdminError::NotAdmin { action } => ContractError::NotAdmin { action },
        }
    }
}
