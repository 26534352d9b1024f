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
    Accounts, Deployed, GENESIS_SUPPLY, NATIVE_DENOM, PayIn, deploy, market_params, registry_params,
};
use cosmwasm_std::{Addr, Coin, Timestamp};
use cw_multi_test::error::AnyResult;
use cw_multi_test::{App, AppResponse, Executor};
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
        let Deployed {
            token,
            registry,
            market,
            models,
        } = deploy(
            &mut app,
            &Accounts {
                admin: admin.clone(),
                treasury: treasury.clone(),
                genesis: genesis.clone(),
            },
            pay_in,
            &beacon.config,
            registry_params(),
            market_params(),
        );
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
