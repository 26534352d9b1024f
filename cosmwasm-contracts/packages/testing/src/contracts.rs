//! What the suite deploys: the four contracts wrapped for cw-multi-test, the
//! payment modes and the parameters of the test deployment.

use clusterai_economy::market::MarketParams;
use clusterai_economy::registry::RegistryParams;
use cosmwasm_std::{Empty, Uint128};
use cw_multi_test::{Contract, ContractWrapper};

/// The native denom of native deployments.
pub const NATIVE_DENOM: &str = "uclai";
/// Tokens minted at genesis to the `genesis` account.
pub const GENESIS_SUPPLY: u128 = 1_000_000_000_000;

/// How the deployment is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayIn {
    /// The cw20 network token, through `Send` hooks.
    Cw20,
    /// A native denom, attached as funds.
    Native,
}

/// The token contract for cw-multi-test.
pub fn token_contract() -> Box<dyn Contract<Empty>> {
    Box::new(
        ContractWrapper::new(
            clusterai_token::contract::execute,
            clusterai_token::contract::instantiate,
            clusterai_token::contract::query,
        )
        .with_migrate(clusterai_token::contract::migrate),
    )
}

/// The node registry for cw-multi-test.
pub fn registry_contract() -> Box<dyn Contract<Empty>> {
    Box::new(
        ContractWrapper::new(
            clusterai_node_registry::contract::execute,
            clusterai_node_registry::contract::instantiate,
            clusterai_node_registry::contract::query,
        )
        .with_migrate(clusterai_node_registry::contract::migrate),
    )
}

/// The task market for cw-multi-test.
pub fn market_contract() -> Box<dyn Contract<Empty>> {
    Box::new(
        ContractWrapper::new(
            clusterai_task_market::contract::execute,
            clusterai_task_market::contract::instantiate,
            clusterai_task_market::contract::query,
        )
        .with_migrate(clusterai_task_market::contract::migrate),
    )
}

/// The model market for cw-multi-test.
pub fn models_contract() -> Box<dyn Contract<Empty>> {
    Box::new(
        ContractWrapper::new(
            clusterai_model_market::contract::execute,
            clusterai_model_market::contract::instantiate,
            clusterai_model_market::contract::query,
        )
        .with_migrate(clusterai_model_market::contract::migrate),
    )
}

/// Registry parameters of the test deployment (also the docs' worked example).
pub fn registry_params() -> RegistryParams {
    RegistryParams {
        min_stake: Uint128::new(1_000),
        unbonding_period: 7 * 86_400,
        fault_slash_bps: 1_000,
        absent_slash_bps: 200,
        wrong_penalty_bps: 20_000,
        jail_after_faults: 3,
        jail_duration: 86_400,
        reputation_reward: 10,
        reputation_fault_penalty: 100,
        reputation_absent_penalty: 50,
    }
}

/// Market parameters of the test deployment.
pub fn market_params() -> MarketParams {
    MarketParams {
        protocol_fee_bps: 500,
        min_commit_period: 60,
        max_commit_period: 86_400,
        reveal_period: 600,
        max_k: 7,
        max_inline_input: 1024,
        max_models: 4,
        assign_delay: 6,
        assign_timeout: 600,
        min_reward_per_node: Uint128::new(10),
        min_counted_k: 3,
        min_counted_nodes: 3,
    }
}

/// Largest per-use royalty in the test deployment.
pub const MAX_ROYALTY: u128 = 10_000;
/// Royalty raise delay in the test deployment.
pub const RAISE_DELAY: u64 = 86_400;
/// Bond of a listing dispute in the test deployment.
pub const DISPUTE_BOND: u128 = 5_000;
