//! Errors of the token contract.

use clusterai_economy::migrate::MigrateError;
use cosmwasm_std::StdError;
use thiserror::Error;

/// Errors of the token: cw20-base's own, plus the network's checks.
#[derive(Error, Debug, PartialEq)]
pub enum ContractError {
    /// A storage or serialisation error.
    #[error("{0}")]
    Std(#[from] StdError),
    /// An error of cw20-base.
    #[error("{0}")]
    Cw20(#[from] cw20_base::ContractError),
    /// A refused migration.
    #[error("{0}")]
    Migrate(#[from] MigrateError),
    /// The network token must have a minter.
    #[error("the network token needs a minter")]
    MinterRequired,
    /// The network token must carry marketing info.
    #[error("the network token needs marketing info (project, description, marketing address)")]
    MarketingRequired,
}
