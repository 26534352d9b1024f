//! What the suite deploys: the four contracts wrapped for cw-multi-test, the
//! payment modes and the parameters of the test deployment.

use clusterai_economy::asset::PaymentDenom;
use clusterai_economy::beacon::BeaconConfig;
use clusterai_economy::market::MarketParams;
use clusterai_economy::registry::RegistryParams;
use cosmwasm_std::{Addr, Empty, Uint128};
use cw_multi_test::{App, Contract, ContractWrapper, Executor};
use cw20::{Cw20Coin, MinterResponse};
use cw20_base::msg::InstantiateMarketingInfo;

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

/// The accounts a deployment names.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// Admin of every contract (and the token's minter).
    pub admin: Addr,
    /// Where protocol fees and slashed stake go.
    pub treasury: Addr,
    /// Holds the genesis supply.
    pub genesis: Addr,
}

/// The addresses of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// The cw20 token (deployed in both modes; the payment only in `Cw20`).
    pub token: Addr,
    /// The node registry.
    pub registry: Addr,
    /// The task market.
    pub market: Addr,
    /// The model market.
    pub models: Addr,
}

/// Stores and instantiates the four contracts on `app`, paid in `pay_in`,
/// and links the registry and the model market to the task market. In
/// `Native` mode the genesis account must already hold the native supply.
pub fn deploy(
    app: &mut App,
    accounts: &Accounts,
    pay_in: PayIn,
    beacon: &BeaconConfig,
    registry_params: RegistryParams,
    market_params: MarketParams,
) -> Deployed {
    let Accounts {
        admin,
        treasury,
        genesis,
    } = accounts;
    let token_code = app.store_code(token_contract());
    let registry_code = app.store_code(registry_contract());
    let market_code = app.store_code(market_contract());
    let models_code = app.store_code(models_contract());
    let token = app
        .instantiate_contract(
            token_code,
            admin.clone(),
            &cw20_base::msg::InstantiateMsg {
                name: "ClusterAI".into(),
                symbol: "CLAI".into(),
                decimals: 6,
                initial_balances: vec![Cw20Coin {
                    address: genesis.to_string(),
                    amount: Uint128::new(if pay_in == PayIn::Cw20 {
                        GENESIS_SUPPLY
                    } else {
                        1
                    }),
                }],
                mint: Some(MinterResponse {
                    minter: admin.to_string(),
                    cap: None,
                }),
                marketing: Some(InstantiateMarketingInfo {
                    project: Some("ClusterAI".into()),
                    description: Some("Pays for AI tasks on the ClusterAI network".into()),
                    marketing: Some(admin.to_string()),
                    logo: None,
                }),
            },
            &[],
            "token",
            Some(admin.to_string()),
        )
        .expect("token");
    let denom = match pay_in {
        PayIn::Cw20 => PaymentDenom::Cw20 {
            address: token.to_string(),
        },
        PayIn::Native => PaymentDenom::Native {
            denom: NATIVE_DENOM.into(),
        },
    };
    let registry = app
        .instantiate_contract(
            registry_code,
            admin.clone(),
            &clusterai_economy::registry::InstantiateMsg {
                admin: None,
                treasury: treasury.to_string(),
                denom: denom.clone(),
                params: registry_params,
            },
            &[],
            "node-registry",
            Some(admin.to_string()),
        )
        .expect("registry");
    let models = app
        .instantiate_contract(
            models_code,
            admin.clone(),
            &clusterai_economy::models::InstantiateMsg {
                admin: None,
                denom: denom.clone(),
                max_royalty: Uint128::new(MAX_ROYALTY),
                raise_delay: RAISE_DELAY,
                dispute_bond: Uint128::new(DISPUTE_BOND),
            },
            &[],
            "model-market",
            Some(admin.to_string()),
        )
        .expect("model market");
    let market = app
        .instantiate_contract(
            market_code,
            admin.clone(),
            &clusterai_economy::market::InstantiateMsg {
                admin: None,
                treasury: treasury.to_string(),
                denom,
                registry: registry.to_string(),
                model_market: models.to_string(),
                beacon: beacon.clone(),
                params: market_params,
            },
            &[],
            "task-market",
            Some(admin.to_string()),
        )
        .expect("task market");
    app.execute_contract(
        admin.clone(),
        registry.clone(),
        &clusterai_economy::registry::ExecuteMsg::SetTaskMarket {
            address: market.to_string(),
        },
        &[],
    )
    .expect("wire registry");
    app.execute_contract(
        admin.clone(),
        models.clone(),
        &clusterai_economy::models::ExecuteMsg::SetTaskMarket {
            address: market.to_string(),
        },
        &[],
    )
    .expect("wire model market");
    Deployed {
        token,
        registry,
        market,
        models,
    }
}
