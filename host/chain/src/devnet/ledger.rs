//! The devnet's state machine: the four contracts on cw-multi-test, blocks on
//! a fixed schedule, signed transactions with account sequences, a faucet and
//! a local beacon; every accepted transaction journaled before it runs.

use std::collections::HashMap;
use std::path::Path;

use clusterai_economy::asset::PaymentDenom;
use clusterai_economy::market::MarketParams;
use clusterai_economy::registry::RegistryParams;
use clusterai_economy_testing::{
    Accounts, Deployed, GENESIS_SUPPLY, NATIVE_DENOM, PayIn, TestBeacon, deploy, registry_params,
};
use cosmwasm_std::testing::MockApi;
use cosmwasm_std::{
    Addr, Api, BankMsg, Binary, BlockInfo, Coin, CosmosMsg, HexBinary, Timestamp, Uint128, WasmMsg,
};
use cw_multi_test::{App, AppBuilder, AppResponse, Executor};
use serde_json::Value;

use super::journal::{Entry, Genesis, Journal, JournalError};
use super::tx::{SignedTx, TxMsg};
use crate::account::DEFAULT_PREFIX;
use crate::settlement::{ChainError, ChainStatus, Deployment, TxResult, action_name};

/// How a new devnet is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevnetConfig {
    /// The chain id.
    pub chain_id: String,
    /// Block time, in milliseconds.
    pub block_time_ms: u64,
    /// What the contracts are paid in.
    pub pay_in: PayIn,
    /// Seconds between beacon rounds.
    pub beacon_period: u64,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        DevnetConfig {
            chain_id: "clusterai-devnet".into(),
            block_time_ms: 1_000,
            pay_in: PayIn::Cw20,
            beacon_period: 1,
        }
    }
}

/// The most the faucet hands out at once.
pub const FAUCET_LIMIT: u128 = 1_000_000_000;

/// Market parameters of the devnet: short windows, so a task settles in
/// seconds; the rest as a production deployment would set them.
pub fn devnet_market_params(beacon_period: u64) -> MarketParams {
    MarketParams {
        protocol_fee_bps: 500,
        min_commit_period: 5,
        max_commit_period: 86_400,
        reveal_period: 30,
        max_k: 7,
        max_inline_input: 4_096,
        max_models: 4,
        assign_delay: beacon_period,
        assign_timeout: 300,
        min_reward_per_node: Uint128::new(10),
        min_counted_k: 3,
        min_counted_nodes: 3,
    }
}

/// Registry parameters of the devnet: a minute to unbond, a minute in jail.
pub fn devnet_registry_params() -> RegistryParams {
    RegistryParams {
        unbonding_period: 60,
        jail_duration: 60,
        ..registry_params()
    }
}

/// The devnet's state.
pub(crate) struct Ledger {
    app: App,
    genesis: Genesis,
    deployment: Deployment,
    beacon: TestBeacon,
    faucet: Addr,
    sequences: HashMap<String, u64>,
    journal: Option<Journal>,
    status: ChainStatus,
    clock: ChainClock,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("chain_id", &self.genesis.chain_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Why a devnet could not be created or reopened.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// Its journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A replayed transaction no longer passes its checks.
    #[error("replaying the devnet journal: {0}")]
    Replay(String),
    /// A setting it cannot run with.
    #[error("devnet config: {0}")]
    Config(String),
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The devnet's sense of now: the wall clock, but never behind the wall
/// time at opening plus the monotonic time since. A host clock stepped back
/// (as NTP does on a fresh machine) would otherwise hold the chain at one
/// height until it caught up, and tasks posted meanwhile would see no nodes
/// in their stake snapshot.
struct ChainClock {
    wall: fn() -> u64,
    wall_at_open: u64,
    opened: std::time::Instant,
}

impl ChainClock {
    fn new(wall: fn() -> u64) -> Self {
        Self {
            wall,
            wall_at_open: wall(),
            opened: std::time::Instant::now(),
        }
    }

    fn now_ns(&self) -> u64 {
        let monotonic = self
            .wall_at_open
            .saturating_add(self.opened.elapsed().as_nanos() as u64);
        (self.wall)().max(monotonic)
    }
}

impl Ledger {
    /// Opens the devnet journaled in `dir`, or creates one there with
    /// `config`; with no `dir`, a devnet that lives in memory only.
    pub(crate) fn open_or_create(
        dir: Option<&Path>,
        config: &DevnetConfig,
    ) -> Result<Self, DevnetError> {
        if config.block_time_ms == 0 || config.beacon_period == 0 {
            return Err(DevnetError::Config(
                "block time and beacon period must be positive".into(),
            ));
        }
        let Some(dir) = dir else {
            return Ok(Self::from_genesis(new_genesis(config), None));
        };
        if dir.join(super::journal::JOURNAL_FILE).exists() {
            let (journal, entries) = Journal::open(dir)?;
            let Some(Entry::Genesis(genesis)) = entries.first() else {
                unreachable!("Journal::open checks the first line");
            };
            let mut ledger = Self::from_genesis(genesis.clone(), None);
            for entry in &entries[1..] {
                ledger.replay(entry)?;
            }
            ledger.journal = Some(journal);
            tracing::info!(chain_id = %ledger.genesis.chain_id, entries = entries.len(), "reopened the devnet");
            Ok(ledger)
        } else {
            let genesis = new_genesis(config);
            let journal = Journal::create(dir, &genesis)?;
            tracing::info!(chain_id = %genesis.chain_id, dir = %dir.display(), "created a devnet");
            Ok(Self::from_genesis(genesis, Some(journal)))
        }
    }

    fn from_genesis(genesis: Genesis, journal: Option<Journal>) -> Self {
        let pay_in = if genesis.pay_in == "native" {
            PayIn::Native
        } else {
            PayIn::Cw20
        };
        let block = BlockInfo {
            height: 1,
            time: Timestamp::from_nanos(genesis.genesis_time_ns),
            chain_id: genesis.chain_id.clone(),
        };
        let api = MockApi::default().with_prefix(DEFAULT_PREFIX);
        let accounts = Accounts {
            admin: api.addr_make("admin"),
            treasury: api.addr_make("treasury"),
            genesis: api.addr_make("genesis"),
        };
        let faucet = accounts.genesis.clone();
        let mut app =
            AppBuilder::new()
                .with_api(api)
                .with_block(block)
                .build(|router, _, storage| {
                    if pay_in == PayIn::Native {
                        router
                            .bank
                            .init_balance(
                                storage,
                                &faucet,
                                vec![Coin::new(GENESIS_SUPPLY, NATIVE_DENOM)],
                            )
                            .expect("genesis balance");
                    }
                });
        let beacon = TestBeacon::new(
            genesis.beacon_secret,
            genesis.genesis_time_ns / 1_000_000_000,
            genesis.beacon_period,
        );
        let Deployed {
            token,
            registry,
            market,
            models,
        } = deploy(
            &mut app,
            &accounts,
            pay_in,
            &beacon.config,
            devnet_registry_params(),
            devnet_market_params(genesis.beacon_period),
        );
        let denom = match pay_in {
            PayIn::Cw20 => PaymentDenom::Cw20 {
                address: token.to_string(),
            },
            PayIn::Native => PaymentDenom::Native {
                denom: NATIVE_DENOM.into(),
            },
        };
        let deployment = Deployment {
            chain_id: genesis.chain_id.clone(),
            prefix: DEFAULT_PREFIX.into(),
            token: token.to_string(),
            registry: registry.to_string(),
            market: market.to_string(),
            models: models.to_string(),
            denom,
            beacon: beacon.config.clone(),
            block_time_ms: genesis.block_time_ms,
        };
        let status = ChainStatus {
            height: 1,
            time_ns: genesis.genesis_time_ns,
        };
        Ledger {
            app,
            genesis,
            deployment,
            beacon,
            faucet: accounts.genesis,
            sequences: HashMap::new(),
            journal,
            status,
            clock: ChainClock::new(now_ns),
        }
    }

    /// The deployment.
    pub(crate) fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// Moves the chain to the block of wall-clock time `now_ns`: block `h`
    /// begins at genesis + (h - 1) × block time. Never goes back.
    fn advance_to(&mut self, now_ns: u64) {
        let block_ns = self.genesis.block_time_ms * 1_000_000;
        let elapsed = now_ns.saturating_sub(self.genesis.genesis_time_ns);
        let height = 1 + elapsed / block_ns;
        if height > self.status.height {
            self.set_block(
                height,
                self.genesis.genesis_time_ns + (height - 1) * block_ns,
            );
        }
    }

    fn set_block(&mut self, height: u64, time_ns: u64) {
        self.status = ChainStatus { height, time_ns };
        self.app.update_block(|b| {
            b.height = height;
            b.time = Timestamp::from_nanos(time_ns);
        });
    }

    /// The latest block (as of now).
    pub(crate) fn status(&mut self) -> ChainStatus {
        self.advance_to(self.clock.now_ns());
        self.status
    }

    /// The next sequence `address` must sign.
    pub(crate) fn sequence(&self, address: &str) -> u64 {
        self.sequences.get(address).copied().unwrap_or(0)
    }

    /// Checks, journals and runs a transaction.
    pub(crate) fn submit(&mut self, tx: &SignedTx) -> Result<TxResult, ChainError> {
        self.advance_to(self.clock.now_ns());
        let (signer, doc) =
            tx.verify(&self.deployment.prefix)
                .map_err(|e| ChainError::Rejected {
                    reason: e.to_string(),
                })?;
        if doc.chain_id != self.genesis.chain_id {
            return Err(ChainError::Rejected {
                reason: format!(
                    "signed for chain {:?}, this is {:?}",
                    doc.chain_id, self.genesis.chain_id
                ),
            });
        }
        let expected = self.sequence(&signer);
        if doc.sequence != expected {
            return Err(ChainError::Sequence {
                expected,
                got: doc.sequence,
            });
        }
        if let Some(journal) = &mut self.journal {
            journal
                .append(&Entry::Tx {
                    height: self.status.height,
                    time_ns: self.status.time_ns,
                    tx: tx.clone(),
                })
                .map_err(|e| ChainError::Rejected {
                    reason: e.to_string(),
                })?;
        }
        self.sequences.insert(signer.clone(), expected + 1);
        let (contract, action) = match &doc.msg {
            TxMsg::Execute { contract, msg, .. } => (contract.clone(), action_name(msg)),
            TxMsg::Send { .. } => ("bank".to_owned(), "send".to_owned()),
        };
        let response = self
            .run(&signer, doc.msg)
            .map_err(|reason| ChainError::Contract {
                contract,
                action,
                reason,
            })?;
        Ok(self.result(tx.hash(), response))
    }

    fn run(&mut self, signer: &str, msg: TxMsg) -> Result<AppResponse, String> {
        let sender = Addr::unchecked(signer);
        let msg = match msg {
            TxMsg::Execute {
                contract,
                msg,
                funds,
            } => {
                let contract = self
                    .app
                    .api()
                    .addr_validate(&contract)
                    .map_err(|e| format!("invalid contract address {contract:?}: {e}"))?;
                CosmosMsg::Wasm(WasmMsg::Execute {
                    contract_addr: contract.into_string(),
                    msg: Binary::new(serde_json::to_vec(&msg).expect("json")),
                    funds,
                })
            }
            TxMsg::Send { to, amount } => {
                let to = self
                    .app
                    .api()
                    .addr_validate(&to)
                    .map_err(|e| format!("invalid recipient {to:?}: {e}"))?;
                CosmosMsg::Bank(BankMsg::Send {
                    to_address: to.into_string(),
                    amount,
                })
            }
        };
        // cw-multi-test runs each message in a transaction: a failure
        // leaves no trace.
        self.app
            .execute(sender, msg)
            .map_err(|e| format!("{:#}", e.root_cause()))
    }

    fn result(&self, hash: String, response: AppResponse) -> TxResult {
        TxResult {
            hash,
            height: self.status.height,
            gas_used: 0,
            events: response.events,
            data: response.data,
        }
    }

    /// Hands `amount` of the payment denomination to `address` from genesis.
    pub(crate) fn faucet(&mut self, address: &str, amount: u128) -> Result<TxResult, ChainError> {
        self.advance_to(self.clock.now_ns());
        if amount == 0 || amount > FAUCET_LIMIT {
            return Err(ChainError::Rejected {
                reason: format!("the faucet gives 1 to {FAUCET_LIMIT} at a time, not {amount}"),
            });
        }
        self.app
            .api()
            .addr_validate(address)
            .map_err(|e| ChainError::Rejected {
                reason: format!("invalid address {address:?}: {e}"),
            })?;
        if let Some(journal) = &mut self.journal {
            journal
                .append(&Entry::Faucet {
                    height: self.status.height,
                    time_ns: self.status.time_ns,
                    address: address.to_owned(),
                    amount: amount.to_string(),
                })
                .map_err(|e| ChainError::Rejected {
                    reason: e.to_string(),
                })?;
        }
        let response = self
            .give(address, amount)
            .map_err(|reason| ChainError::Contract {
                contract: "faucet".into(),
                action: "give".into(),
                reason,
            })?;
        let hash = hex::encode_upper(faucet_hash(address, amount, self.status.height));
        Ok(self.result(hash, response))
    }

    fn give(&mut self, address: &str, amount: u128) -> Result<AppResponse, String> {
        let faucet = self.faucet.clone();
        let msg = match &self.deployment.denom {
            PaymentDenom::Cw20 { address: token } => CosmosMsg::Wasm(WasmMsg::Execute {
                contract_addr: token.clone(),
                msg: Binary::new(
                    serde_json::to_vec(&cw20::Cw20ExecuteMsg::Transfer {
                        recipient: address.to_owned(),
                        amount: Uint128::new(amount),
                    })
                    .expect("json"),
                ),
                funds: vec![],
            }),
            PaymentDenom::Native { denom } => CosmosMsg::Bank(BankMsg::Send {
                to_address: address.to_owned(),
                amount: vec![Coin::new(amount, denom.clone())],
            }),
        };
        self.app
            .execute(faucet, msg)
            .map_err(|e| format!("{:#}", e.root_cause()))
    }

    fn replay(&mut self, entry: &Entry) -> Result<(), DevnetError> {
        match entry {
            Entry::Genesis(_) => Err(DevnetError::Replay("a second genesis".into())),
            Entry::Tx {
                height,
                time_ns,
                tx,
            } => {
                self.set_block(*height, *time_ns);
                let (signer, doc) = tx
                    .verify(&self.deployment.prefix)
                    .map_err(|e| DevnetError::Replay(e.to_string()))?;
                self.sequences.insert(signer.clone(), doc.sequence + 1);
                // Its outcome is what it was the first time.
                let _ = self.run(&signer, doc.msg);
                Ok(())
            }
            Entry::Faucet {
                height,
                time_ns,
                address,
                amount,
            } => {
                self.set_block(*height, *time_ns);
                let amount = amount
                    .parse()
                    .map_err(|_| DevnetError::Replay(format!("faucet amount {amount:?}")))?;
                self.give(address, amount).map_err(DevnetError::Replay)?;
                Ok(())
            }
        }
    }

    /// A smart query.
    pub(crate) fn query(&mut self, contract: &str, msg: &Value) -> Result<Value, ChainError> {
        self.advance_to(self.clock.now_ns());
        self.app
            .wrap()
            .query_wasm_smart::<Value>(contract, msg)
            .map_err(|e| ChainError::Contract {
                contract: contract.to_owned(),
                action: format!("query {}", action_name(msg)),
                reason: e.to_string(),
            })
    }

    /// A bank balance.
    pub(crate) fn native_balance(
        &mut self,
        address: &str,
        denom: &str,
    ) -> Result<u128, ChainError> {
        self.app
            .wrap()
            .query_balance(address, denom)
            .map(|c| c.amount.u128())
            .map_err(|e| ChainError::Rejected {
                reason: format!("balance of {address:?}: {e}"),
            })
    }

    /// The beacon's signature of `round`, once the round is published by
    /// the chain's clock (the market compares a round with block time, which
    /// trails the wall clock by up to a block).
    pub(crate) fn beacon_round(&mut self, round: u64) -> Option<HexBinary> {
        let now = self.status().time_secs();
        (round >= 1 && self.beacon.config.round_at(now) >= round).then(|| self.beacon.sign(round))
    }
}

/// A faucet grant's id: unique per recipient, amount and block.
fn faucet_hash(address: &str, amount: u128, height: u64) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(format!("faucet/{address}/{amount}/{height}")).into()
}

fn new_genesis(config: &DevnetConfig) -> Genesis {
    Genesis {
        chain_id: config.chain_id.clone(),
        block_time_ms: config.block_time_ms,
        pay_in: match config.pay_in {
            PayIn::Cw20 => "cw20".into(),
            PayIn::Native => "native".into(),
        },
        genesis_time_ns: now_ns(),
        // Kept in the journal: this beacon is for local networks only.
        beacon_secret: rand::random::<u64>() | 1,
        beacon_period: config.beacon_period,
    }
}

#[cfg(test)]
mod tests {
    use super::ChainClock;

    /// A wall clock stepped back 30 s after the devnet opened.
    fn stepped_back() -> u64 {
        super::now_ns() - 30_000_000_000
    }

    #[test]
    fn the_chain_clock_keeps_moving_when_the_wall_clock_steps_back() {
        let clock = ChainClock {
            wall: stepped_back,
            wall_at_open: super::now_ns(),
            opened: std::time::Instant::now(),
        };
        let first = clock.now_ns();
        assert!(first >= clock.wall_at_open);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let later = clock.now_ns();
        assert!(
            later >= first + 20_000_000,
            "the chain clock moved {} ns in 20 ms",
            later - first
        );
    }

    #[test]
    fn the_chain_clock_follows_a_wall_clock_that_steps_forward() {
        fn ahead() -> u64 {
            super::now_ns() + 30_000_000_000
        }
        let clock = ChainClock::new(super::now_ns);
        let forward = ChainClock {
            wall: ahead,
            ..clock
        };
        assert!(forward.now_ns() >= super::now_ns() + 29_000_000_000);
    }
}
