//! Deploys the whole ClusterAI economy (token, node registry, task market,
//! model market) in cw-multi-test, with helpers for every action and the
//! conservation check that every test ends with.
//!
//! ```
//! use clusterai_economy_testing::{Suite, PayIn};
//! let mut s = Suite::new(PayIn::Cw20);
//! let nodes = s.register_nodes(3);
//! let task = s.post_simple_task("buyer", 100_000, 3).unwrap();
//! for n in &nodes {
//!     s.commit(n, task, [1; 32], [2; 16]).unwrap();
//! }
//! for n in &nodes {
//!     s.reveal(n, task, [1; 32], [2; 16]).unwrap();
//! }
//! s.settle("anyone", task).unwrap();
//! s.check_conservation();
//! ```

use clusterai_economy::asset::PaymentDenom;
use clusterai_economy::commit::commitment;
use clusterai_economy::market::{
    self, MarketParams, MarketTotals, TaskInput, TaskResponse, TaskSpec, TaskStatus,
};
use clusterai_economy::models::{self, ListingKind};
use clusterai_economy::registry::{
    self, Capabilities, NodeInfo, NodeResponse, RegistryParams, RegistryTotals, Requirements,
};
use cosmwasm_std::{Addr, Binary, Coin, Empty, HexBinary, Timestamp, Uint128, to_json_binary};
use cw_multi_test::error::AnyResult;
use cw_multi_test::{App, AppResponse, Contract, ContractWrapper, Executor};
use cw20::{Cw20Coin, Cw20ExecuteMsg, MinterResponse};
use cw20_base::msg::InstantiateMarketingInfo;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Debug;

/// The native denom of native deployments.
pub const NATIVE_DENOM: &str = "uclai";
/// Tokens minted at genesis to the `genesis` account.
pub const GENESIS_SUPPLY: u128 = 1_000_000_000_000;
/// Stake every test node registers with.
pub const NODE_STAKE: u128 = 10_000;

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
        max_candidates: 50,
    }
}

/// Largest per-use royalty in the test deployment.
pub const MAX_ROYALTY: u128 = 10_000;
/// Royalty raise delay in the test deployment.
pub const RAISE_DELAY: u64 = 86_400;

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
                &registry::InstantiateMsg {
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
                &models::InstantiateMsg {
                    admin: None,
                    denom: denom.clone(),
                    max_royalty: Uint128::new(MAX_ROYALTY),
                    raise_delay: RAISE_DELAY,
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
                &market::InstantiateMsg {
                    admin: None,
                    treasury: treasury.to_string(),
                    denom,
                    registry: registry.to_string(),
                    model_market: models.to_string(),
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
            &registry::ExecuteMsg::SetTaskMarket {
                address: market.to_string(),
            },
            &[],
        )
        .expect("wire registry");
        app.execute_contract(
            admin.clone(),
            models.clone(),
            &models::ExecuteMsg::SetTaskMarket {
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

    /// Balance of `who` in the deployment's denomination.
    pub fn balance(&self, who: &Addr) -> u128 {
        match self.pay_in {
            PayIn::Cw20 => {
                let r: cw20::BalanceResponse = self
                    .app
                    .wrap()
                    .query_wasm_smart(
                        &self.token,
                        &cw20::Cw20QueryMsg::Balance {
                            address: who.to_string(),
                        },
                    )
                    .expect("balance");
                r.balance.u128()
            }
            PayIn::Native => self
                .app
                .wrap()
                .query_balance(who, NATIVE_DENOM)
                .expect("balance")
                .amount
                .u128(),
        }
    }

    /// Gives `amount` from genesis to the named account.
    pub fn fund(&mut self, name: &str, amount: u128) -> Addr {
        let to = self.addr(name);
        self.give(&to, amount);
        to
    }

    /// Gives `amount` from genesis to `to`.
    pub fn give(&mut self, to: &Addr, amount: u128) {
        self.known.insert(to.clone());
        let genesis = self.genesis.clone();
        match self.pay_in {
            PayIn::Cw20 => {
                let token = self.token.clone();
                self.app
                    .execute_contract(
                        genesis,
                        token,
                        &Cw20ExecuteMsg::Transfer {
                            recipient: to.to_string(),
                            amount: Uint128::new(amount),
                        },
                        &[],
                    )
                    .expect("fund");
            }
            PayIn::Native => {
                self.app
                    .send_tokens(genesis, to.clone(), &[Coin::new(amount, NATIVE_DENOM)])
                    .expect("fund");
            }
        }
    }

    /// Pays `amount` from `from` into `contract` with a call: a cw20 `Send`
    /// with `hook` or an execute of `direct` with funds attached.
    pub fn pay<H: Serialize, D: Serialize + Debug>(
        &mut self,
        from: &Addr,
        contract: &Addr,
        amount: u128,
        hook: &H,
        direct: &D,
    ) -> AnyResult<AppResponse> {
        match self.pay_in {
            PayIn::Cw20 => self.app.execute_contract(
                from.clone(),
                self.token.clone(),
                &Cw20ExecuteMsg::Send {
                    contract: contract.to_string(),
                    amount: Uint128::new(amount),
                    msg: to_json_binary(hook)?,
                },
                &[],
            ),
            PayIn::Native => {
                let funds = if amount == 0 {
                    vec![]
                } else {
                    vec![Coin::new(amount, NATIVE_DENOM)]
                };
                self.app
                    .execute_contract(from.clone(), contract.clone(), direct, &funds)
            }
        }
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

    /// Node metadata used by the helpers.
    pub fn node_info(providers: &[&str], memory_mb: u64) -> NodeInfo {
        NodeInfo {
            iroh_node_id: HexBinary::from([0xAB; 32]),
            receipt_key: HexBinary::from([0xCD; 32]),
            capabilities: Capabilities {
                execution_providers: providers.iter().map(|p| p.to_string()).collect(),
                memory_mb,
            },
        }
    }

    /// Registers the named account as a node with `stake`, funding it first.
    pub fn register(&mut self, name: &str, stake: u128, info: NodeInfo) -> AnyResult<Addr> {
        let who = self.fund(name, stake);
        let registry = self.registry.clone();
        self.pay(
            &who,
            &registry,
            stake,
            &registry::ReceiveMsg::Register(info.clone()),
            &registry::ExecuteMsg::Register(info),
        )?;
        Ok(who)
    }

    /// Registers `n` fresh CPU nodes with [`NODE_STAKE`] each.
    pub fn register_nodes(&mut self, n: usize) -> Vec<Addr> {
        (0..n)
            .map(|_| {
                self.node_count += 1;
                let name = format!("node{}", self.node_count);
                self.register(&name, NODE_STAKE, Self::node_info(&["cpu"], 4096))
                    .expect("register")
            })
            .collect()
    }

    /// A task spec with inline input, no models, commit window of 120 s.
    pub fn spec(&self, k: u8) -> TaskSpec {
        TaskSpec {
            plugin: HexBinary::from([0x11; 32]),
            input: TaskInput::Inline {
                data: Binary::from(b"hello".to_vec()),
            },
            models: vec![],
            k,
            commit_deadline: self.now().plus_seconds(120),
            requirements: Requirements::default(),
        }
    }

    /// Posts `spec` from the named buyer with `reward`, funding the buyer first.
    pub fn post(&mut self, buyer: &str, reward: u128, spec: TaskSpec) -> AnyResult<u64> {
        let who = self.fund(buyer, reward);
        self.post_from(&who, reward, spec)
    }

    /// Posts `spec` from an already funded account.
    pub fn post_from(&mut self, who: &Addr, reward: u128, spec: TaskSpec) -> AnyResult<u64> {
        let market = self.market.clone();
        let res = self.pay(
            who,
            &market,
            reward,
            &market::ReceiveMsg::PostTask(spec.clone()),
            &market::ExecuteMsg::PostTask(spec),
        )?;
        let id = res
            .events
            .iter()
            .flat_map(|e| e.attributes.iter())
            .find(|a| a.key == "task_id")
            .map(|a| a.value.parse().expect("task id"))
            .expect("post_task emits task_id");
        Ok(id)
    }

    /// Posts the default spec with replication `k`.
    pub fn post_simple_task(&mut self, buyer: &str, reward: u128, k: u8) -> AnyResult<u64> {
        let spec = self.spec(k);
        self.post(buyer, reward, spec)
    }

    /// Commits `digest` with `salt` for `node`.
    pub fn commit(
        &mut self,
        node: &Addr,
        task_id: u64,
        digest: [u8; 32],
        salt: [u8; 16],
    ) -> AnyResult<AppResponse> {
        let c = commitment(&digest, &salt, node.as_str());
        self.app.execute_contract(
            node.clone(),
            self.market.clone(),
            &market::ExecuteMsg::Commit {
                task_id,
                commitment: HexBinary::from(c),
            },
            &[],
        )
    }

    /// Reveals `digest` with `salt` for `node`.
    pub fn reveal(
        &mut self,
        node: &Addr,
        task_id: u64,
        digest: [u8; 32],
        salt: [u8; 16],
    ) -> AnyResult<AppResponse> {
        self.app.execute_contract(
            node.clone(),
            self.market.clone(),
            &market::ExecuteMsg::Reveal {
                task_id,
                digest: HexBinary::from(digest),
                salt: HexBinary::from(salt),
            },
            &[],
        )
    }

    /// Settles a task as the named caller.
    pub fn settle(&mut self, caller: &str, task_id: u64) -> AnyResult<AppResponse> {
        let who = self.addr(caller);
        self.app.execute_contract(
            who,
            self.market.clone(),
            &market::ExecuteMsg::Settle { task_id },
            &[],
        )
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

    /// A task.
    pub fn task(&self, task_id: u64) -> TaskResponse {
        self.app
            .wrap()
            .query_wasm_smart(&self.market, &market::QueryMsg::Task { task_id })
            .expect("task")
    }

    /// The assigned nodes of a task.
    pub fn assigned(&self, task_id: u64) -> Vec<Addr> {
        self.task(task_id)
            .assignments
            .into_iter()
            .map(|a| a.node)
            .collect()
    }

    /// A node.
    pub fn node(&self, who: &Addr) -> NodeResponse {
        self.app
            .wrap()
            .query_wasm_smart(
                &self.registry,
                &registry::QueryMsg::Node {
                    operator: who.to_string(),
                },
            )
            .expect("node")
    }

    /// Unclaimed task rewards of `who`.
    pub fn rewards(&self, who: &Addr) -> u128 {
        let r: Uint128 = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.market,
                &market::QueryMsg::Rewards {
                    address: who.to_string(),
                },
            )
            .expect("rewards");
        r.u128()
    }

    /// Accrued royalties of `who`.
    pub fn accrued(&self, who: &Addr) -> u128 {
        let r: Uint128 = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.models,
                &models::QueryMsg::Accrued {
                    creator: who.to_string(),
                },
            )
            .expect("accrued");
        r.u128()
    }

    /// Lists a hash as the named creator.
    pub fn list(
        &mut self,
        creator: &str,
        hash: [u8; 32],
        kind: ListingKind,
        price: u128,
        royalty: u128,
    ) -> AnyResult<Addr> {
        let who = self.addr(creator);
        let models = self.models.clone();
        self.exec(
            &who,
            &models,
            &models::ExecuteMsg::List {
                hash: HexBinary::from(hash),
                kind,
                name: "listing".into(),
                licence_price: Uint128::new(price),
                royalty: Uint128::new(royalty),
            },
        )?;
        Ok(who)
    }

    /// Buys a licence for `hash` as `who`, paying `amount`.
    pub fn buy_licence(
        &mut self,
        who: &Addr,
        hash: [u8; 32],
        amount: u128,
    ) -> AnyResult<AppResponse> {
        let models = self.models.clone();
        let h = HexBinary::from(hash);
        self.pay(
            who,
            &models,
            amount,
            &models::ReceiveMsg::BuyLicence { hash: h.clone() },
            &models::ExecuteMsg::BuyLicence { hash: h },
        )
    }

    /// A snapshot of everything observable: balances, totals, tasks, nodes,
    /// claims, rewards, listings. Equal snapshots mean nothing changed.
    pub fn snapshot(&self) -> String {
        let q = self.app.wrap();
        let mut out = String::new();
        for a in &self.known {
            out += &format!("bal {a} {}\n", self.balance(a));
        }
        for c in [&self.registry, &self.market, &self.models] {
            out += &format!("bal {c} {}\n", self.balance(c));
        }
        let rt: RegistryTotals = q
            .query_wasm_smart(&self.registry, &registry::QueryMsg::Totals {})
            .expect("totals");
        let mt: MarketTotals = q
            .query_wasm_smart(&self.market, &market::QueryMsg::Totals {})
            .expect("totals");
        let at: Uint128 = q
            .query_wasm_smart(&self.models, &models::QueryMsg::Totals {})
            .expect("totals");
        out += &format!("{rt:?} {mt:?} {at}\n");
        for n in self.all_nodes() {
            out += &format!("{n:?}\n");
            let c: registry::ClaimsResponse = q
                .query_wasm_smart(
                    &self.registry,
                    &registry::QueryMsg::Claims {
                        operator: n.operator.to_string(),
                    },
                )
                .expect("claims");
            out += &format!("{c:?}\n");
        }
        for t in self.all_tasks() {
            out += &format!("{t:?}\n");
        }
        let l: models::ListingsResponse = q
            .query_wasm_smart(
                &self.models,
                &models::QueryMsg::Listings {
                    start_after: None,
                    limit: Some(100),
                },
            )
            .expect("listings");
        out += &format!("{l:?}\n");
        for a in &self.known {
            out += &format!("rw {a} {} {}\n", self.rewards(a), self.accrued(a));
        }
        let rc: registry::ConfigResponse = q
            .query_wasm_smart(&self.registry, &registry::QueryMsg::Config {})
            .expect("config");
        let mc: market::ConfigResponse = q
            .query_wasm_smart(&self.market, &market::QueryMsg::Config {})
            .expect("config");
        let ac: models::ConfigResponse = q
            .query_wasm_smart(&self.models, &models::QueryMsg::Config {})
            .expect("config");
        out += &format!("{rc:?}\n{mc:?}\n{ac:?}\n");
        out
    }

    /// Every registered node.
    pub fn all_nodes(&self) -> Vec<NodeResponse> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let page: registry::NodesResponse = self
                .app
                .wrap()
                .query_wasm_smart(
                    &self.registry,
                    &registry::QueryMsg::Nodes {
                        start_after: start,
                        limit: Some(100),
                    },
                )
                .expect("nodes");
            let Some(last) = page.nodes.last() else { break };
            start = Some(last.operator.to_string());
            all.extend(page.nodes);
        }
        all
    }

    /// Every task.
    pub fn all_tasks(&self) -> Vec<TaskResponse> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let page: market::TasksResponse = self
                .app
                .wrap()
                .query_wasm_smart(
                    &self.market,
                    &market::QueryMsg::Tasks {
                        start_after: start,
                        limit: Some(100),
                    },
                )
                .expect("tasks");
            let Some(last) = page.tasks.last() else { break };
            start = Some(last.id);
            all.extend(page.tasks);
        }
        all
    }

    /// Runs `f`, which must fail with exactly `expected`, and checks that
    /// nothing observable changed and that conservation still holds.
    pub fn rejects<E, T>(&mut self, expected: E, f: impl FnOnce(&mut Suite) -> AnyResult<T>)
    where
        E: PartialEq + std::fmt::Display + Debug + Send + Sync + 'static,
        T: Debug,
    {
        let before = self.snapshot();
        let err = expect_err::<E>(f(self));
        assert_eq!(err, expected);
        assert_eq!(
            before,
            self.snapshot(),
            "state changed after a rejected message ({expected})"
        );
        self.check_conservation();
    }

    /// The conservation invariant. Panics, naming the broken equation, if
    /// any token was created or lost:
    ///
    /// - each contract's balance equals what its ledger says it holds
    ///   (registry: stake + unbonding claims; market: open escrows +
    ///   unclaimed rewards; model market: accrued royalties and licence income);
    /// - each ledger total equals the sum of its entries;
    /// - the balances of every account and contract add up to the genesis supply.
    pub fn check_conservation(&self) {
        let q = self.app.wrap();
        let rt: RegistryTotals = q
            .query_wasm_smart(&self.registry, &registry::QueryMsg::Totals {})
            .expect("totals");
        let mt: MarketTotals = q
            .query_wasm_smart(&self.market, &market::QueryMsg::Totals {})
            .expect("totals");
        let at: Uint128 = q
            .query_wasm_smart(&self.models, &models::QueryMsg::Totals {})
            .expect("totals");

        assert_eq!(
            self.balance(&self.registry),
            (rt.staked + rt.unbonding).u128(),
            "registry balance != stake + unbonding"
        );
        assert_eq!(
            self.balance(&self.market),
            (mt.escrowed + mt.unclaimed_rewards).u128(),
            "market balance != escrow + rewards"
        );
        assert_eq!(
            self.balance(&self.models),
            at.u128(),
            "model market balance != accrued royalties"
        );

        let nodes = self.all_nodes();
        let staked: u128 = nodes.iter().map(|n| n.stake.u128()).sum();
        assert_eq!(
            staked,
            rt.staked.u128(),
            "sum of node stakes != registry total"
        );
        let unbonding: u128 = nodes
            .iter()
            .map(|n| {
                let c: registry::ClaimsResponse = q
                    .query_wasm_smart(
                        &self.registry,
                        &registry::QueryMsg::Claims {
                            operator: n.operator.to_string(),
                        },
                    )
                    .expect("claims");
                c.claims.iter().map(|c| c.amount.u128()).sum::<u128>()
            })
            .sum();
        assert_eq!(
            unbonding,
            rt.unbonding.u128(),
            "sum of claims != registry unbonding total"
        );

        let escrowed: u128 = self
            .all_tasks()
            .iter()
            .filter(|t| t.status == TaskStatus::Open)
            .map(|t| t.reward.u128())
            .sum();
        assert_eq!(
            escrowed,
            mt.escrowed.u128(),
            "sum of open task rewards != escrow total"
        );
        let rewards: u128 = self.known.iter().map(|a| self.rewards(a)).sum();
        assert_eq!(
            rewards,
            mt.unclaimed_rewards.u128(),
            "sum of unclaimed rewards != market total"
        );
        let accrued: u128 = self.known.iter().map(|a| self.accrued(a)).sum();
        assert_eq!(
            accrued,
            at.u128(),
            "sum of accrued royalties != model market total"
        );

        let held: u128 = self.known.iter().map(|a| self.balance(a)).sum::<u128>()
            + self.balance(&self.registry)
            + self.balance(&self.market)
            + self.balance(&self.models);
        if self.pay_in == PayIn::Cw20 {
            let info: cw20::TokenInfoResponse = q
                .query_wasm_smart(&self.token, &cw20::Cw20QueryMsg::TokenInfo {})
                .expect("token info");
            assert_eq!(
                info.total_supply.u128(),
                GENESIS_SUPPLY,
                "token supply changed"
            );
        }
        assert_eq!(
            held, GENESIS_SUPPLY,
            "tokens held by accounts and contracts != genesis supply"
        );
    }
}

/// The error of type `E` behind `result` (even when wrapped, e.g. by the
/// cw20 `Send` that called a hook); panics if the call succeeded or failed
/// for another reason.
pub fn expect_err<E: std::fmt::Display + Debug + Send + Sync + 'static>(
    result: AnyResult<impl Debug>,
) -> E {
    let err = match result {
        Ok(r) => panic!("expected an error, got success: {r:?}"),
        Err(e) => e,
    };
    let text = format!("{err:?}");
    match err.downcast::<E>() {
        Ok(e) => e,
        Err(_) => panic!("expected a {}, got: {text}", std::any::type_name::<E>()),
    }
}
