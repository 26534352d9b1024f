//! The deployed economy: [`Suite`], its deployment, accounts and clock. The
//! helpers for each concern are `impl Suite` blocks in the submodules.

mod funds;
mod invariants;
mod market;
mod models;
mod registry;

pub use invariants::expect_err;
pub use registry::NODE_STAKE;

use crate::beacon::TestBeacon;
use crate::contracts::{
    DISPUTE_BOND, GENESIS_SUPPLY, MAX_ROYALTY, NATIVE_DENOM, PayIn, RAISE_DELAY, market_contract,
    market_params, models_contract, registry_contract, registry_params, token_contract,
};
use clusterai_economy::asset::PaymentDenom;
use cosmwasm_std::{Addr, Coin, Timestamp, Uint128};
use cw_multi_test::error::AnyResult;
use cw_multi_test::{App, AppResponse, Executor};
use cw20::{Cw20Coin, MinterResponse};
use cw20_base::msg::InstantiateMarketingInfo;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Debug;

/// The deployed economy.
pub struct Suite {
    /// The chain.
    pub app: App,
    /// How it is paid.
    pub pay_in: PayIn,
    /// The token (deployed in both modes; used for payments only in `Cw20`).
    pub token: Addr,
    /// The node registry.
    pub registry: Addr,
    /// The task market.
    pub market: Addr,
    /// The model market.
    pub models: Addr,
    /// Admin of every contract.
    pub admin: Addr,
    /// The treasury.
    pub treasury: Addr,
    /// Holds the genesis supply.
    pub genesis: Addr,
    /// The randomness beacon the market trusts (the test holds its key).
    pub beacon: TestBeacon,
    /// Every address that ever held or was owed tokens.
    pub known: BTreeSet<Addr>,
    node_count: usize,
}

impl std::fmt::Debug for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suite")
            .field("pay_in", &self.pay_in)
            .field("market", &self.market)
            .finish_non_exhaustive()
    }
}

impl Suite {
    /// Deploys everything, paid in `pay_in`.
    pub fn new(pay_in: PayIn) -> Self {
        let mut app = App::default();
        let api = *app.api();
        let admin = api.addr_make("admin");
        let treasury = api.addr_make("treasury");
        let genesis = api.addr_make("genesis");
        // Round 1 a day before the chain's first block, a round every 3 s.
        let beacon = TestBeacon::new(0x5eed_cafe, app.block_info().time.seconds() - 86_400, 3);
        if pay_in == PayIn::Native {
            app.init_modules(|router, _, storage| {
                router
                    .bank
                    .init_balance(
                        storage,
                        &genesis,
                        vec![Coin::new(GENESIS_SUPPLY, NATIVE_DENOM)],
                    )
                    .expect("genesis balance")
            });
        }
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
                    params: registry_params(),
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
                    beacon: beacon.config.clone(),
                    params: market_params(),
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
        let known = [&admin, &treasury, &genesis].into_iter().cloned().collect();
        Suite {
            app,
            pay_in,
            token,
            registry,
            market,
            models,
            admin,
            treasury,
            genesis,
            beacon,
            known,
            node_count: 0,
        }
    }

    /// The address of a named account (and remembers it for conservation).
    pub fn addr(&mut self, name: &str) -> Addr {
        let a = self.app.api().addr_make(name);
        self.known.insert(a.clone());
        a
    }

    /// Moves the chain forward by `seconds` (and one block per 5 seconds).
    pub fn advance(&mut self, seconds: u64) {
        self.app.update_block(|b| {
            b.time = b.time.plus_seconds(seconds);
            b.height += seconds.div_ceil(5).max(1);
        });
    }

    /// Block time.
    pub fn now(&self) -> Timestamp {
        self.app.block_info().time
    }

    /// Executes `msg` on `contract` as `sender` with no funds.
    pub fn exec<M: Serialize + Debug>(
        &mut self,
        sender: &Addr,
        contract: &Addr,
        msg: &M,
    ) -> AnyResult<AppResponse> {
        self.app
            .execute_contract(sender.clone(), contract.clone(), msg, &[])
    }
}
