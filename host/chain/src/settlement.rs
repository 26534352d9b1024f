//! [`Settlement`]: everything the node and the buyer do on chain, over any
//! chain that runs the four contracts.
//!
//! An implementation provides four primitives (status, a signed execute, a
//! smart query, a native balance); the protocol's actions are built on them
//! once, here, so every chain speaks the same messages in the same way.

use async_trait::async_trait;
use clusterai_economy::asset::PaymentDenom;
use clusterai_economy::beacon::BeaconConfig;
use clusterai_economy::market::{self, TaskResponse, TaskSpec};
use clusterai_economy::registry::{self, NodeInfo, NodeResponse};
use cosmwasm_std::{Binary, Coin, Event, HexBinary, Uint128};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Where the contracts of a deployment live, and how to pay them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// The chain's id.
    pub chain_id: String,
    /// Its bech32 address prefix.
    pub prefix: String,
    /// The cw20 token.
    pub token: String,
    /// The node registry.
    pub registry: String,
    /// The task market.
    pub market: String,
    /// The model market.
    pub models: String,
    /// What the contracts are paid in.
    pub denom: PaymentDenom,
    /// The randomness beacon the market draws nodes with.
    pub beacon: BeaconConfig,
    /// The block time the chain aims for, in milliseconds.
    pub block_time_ms: u64,
}

/// The chain's latest block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// Its height.
    pub height: u64,
    /// Its time, in nanoseconds since the Unix epoch.
    pub time_ns: u64,
}

impl ChainStatus {
    /// The block time in whole seconds (what the contracts compare).
    pub fn time_secs(&self) -> u64 {
        self.time_ns / 1_000_000_000
    }
}

/// A transaction the chain included and executed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxResult {
    /// Its hash (hex).
    pub hash: String,
    /// The block that holds it.
    pub height: u64,
    /// Gas used, where the chain measures it (0 on the devnet).
    pub gas_used: u64,
    /// The events it emitted.
    pub events: Vec<Event>,
    /// The data it returned.
    pub data: Option<Binary>,
}

impl TxResult {
    /// The value of attribute `key` of the first `wasm` event that has it.
    pub fn wasm_attribute(&self, key: &str) -> Option<&str> {
        self.events
            .iter()
            .filter(|e| e.ty == "wasm")
            .flat_map(|e| &e.attributes)
            .find(|a| a.key == key)
            .map(|a| a.value.as_str())
    }
}

/// What an account holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    /// The address.
    pub address: String,
    /// Its balance in the deployment's denomination.
    pub balance: Uint128,
    /// Its stake in the registry (zero if it is not a node).
    pub stake: Uint128,
    /// Rewards credited in the market and not yet withdrawn.
    pub rewards: Uint128,
}

/// Why a chain operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainError {
    /// The chain could not be reached (retry later).
    #[error("chain at {url} unreachable: {reason}")]
    Unreachable {
        /// Where it was sought.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The transaction was signed for a sequence the account has moved past
    /// (retry with the chain's sequence).
    #[error("account sequence mismatch: the chain expects {expected}, the transaction has {got}")]
    Sequence {
        /// What the chain expects.
        expected: u64,
        /// What the transaction carried.
        got: u64,
    },
    /// The chain refused the transaction before executing it (signature,
    /// fees, gas, size).
    #[error("the chain refused the transaction: {reason}")]
    Rejected {
        /// Its reason.
        reason: String,
    },
    /// A contract refused the message; nothing changed.
    #[error("{contract} refused {action}: {reason}")]
    Contract {
        /// The contract's address.
        contract: String,
        /// The message's name.
        action: String,
        /// The contract's error.
        reason: String,
    },
    /// The chain answered something this client cannot read.
    #[error("the chain answered garbage: {reason}")]
    Malformed {
        /// What could not be read.
        reason: String,
    },
}

impl ChainError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ChainError::Unreachable { .. } | ChainError::Sequence { .. }
        )
    }
}

/// The name of a message: its one top-level key (`{"commit": {...}}` → `commit`).
pub fn action_name(msg: &Value) -> String {
    msg.as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_else(|| "a message".to_owned())
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("contract messages serialise")
}

fn from_value<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> Result<T, ChainError> {
    serde_json::from_value(value).map_err(|e| ChainError::Malformed {
        reason: format!("{what}: {e}"),
    })
}

/// Everything the node and the buyer do on chain.
#[async_trait]
pub trait Settlement: Send + Sync + std::fmt::Debug {
    /// The deployment this client speaks to.
    fn deployment(&self) -> &Deployment;

    /// The account that signs this client's transactions.
    fn address(&self) -> &str;

    /// The latest block.
    async fn status(&self) -> Result<ChainStatus, ChainError>;

    /// Starts following the task market's transactions: `wake` is notified
    /// on each one, and after every reconnect (so that the caller catches up
    /// by querying), until it is dropped. `false` when this chain has no
    /// event stream, and the caller must rely on polling alone.
    fn follow_market(&self, wake: &std::sync::Arc<tokio::sync::Notify>) -> bool {
        let _ = wake;
        false
    }

    /// Executes `msg` on `contract` with `funds` attached, signed by this
    /// account, and waits until a block holds it.
    async fn execute(
        &self,
        contract: &str,
        msg: &Value,
        funds: &[Coin],
    ) -> Result<TxResult, ChainError>;

    /// A smart query of `contract`.
    async fn query(&self, contract: &str, msg: &Value) -> Result<Value, ChainError>;

    /// The bank balance of `address` in `denom`.
    async fn native_balance(&self, address: &str, denom: &str) -> Result<u128, ChainError>;

    /// Pays `amount` into `contract` with a call: a cw20 `send` carrying
    /// `hook`, or `direct` with native funds attached.
    async fn pay(
        &self,
        contract: &str,
        amount: u128,
        hook: Value,
        direct: Value,
    ) -> Result<TxResult, ChainError> {
        match self.deployment().denom.clone() {
            PaymentDenom::Cw20 { address } => {
                let hook = Binary::new(serde_json::to_vec(&hook).expect("json"));
                let send = json!({"send": {
                    "contract": contract,
                    "amount": amount.to_string(),
                    "msg": hook,
                }});
                self.execute(&address, &send, &[]).await
            }
            PaymentDenom::Native { denom } => {
                let funds = if amount == 0 {
                    vec![]
                } else {
                    vec![Coin::new(amount, denom)]
                };
                self.execute(contract, &direct, &funds).await
            }
        }
    }

    /// Sends native `amount` to `to` (a bank send).
    async fn send_native(&self, to: &str, amount: Coin) -> Result<TxResult, ChainError>;

    /// Sends `amount` of the deployment's denomination to `to`.
    async fn transfer(&self, to: &str, amount: u128) -> Result<TxResult, ChainError> {
        match self.deployment().denom.clone() {
            PaymentDenom::Cw20 { address } => {
                let msg = json!({"transfer": {"recipient": to, "amount": amount.to_string()}});
                self.execute(&address, &msg, &[]).await
            }
            PaymentDenom::Native { denom } => self.send_native(to, Coin::new(amount, denom)).await,
        }
    }

    /// Registers this account as a node, staking `stake`.
    async fn register(&self, info: &NodeInfo, stake: u128) -> Result<TxResult, ChainError> {
        let registry = self.deployment().registry.clone();
        self.pay(
            &registry,
            stake,
            to_value(&registry::ReceiveMsg::Register(info.clone())),
            to_value(&registry::ExecuteMsg::Register(info.clone())),
        )
        .await
    }

    /// Adds `amount` to this node's stake.
    async fn add_stake(&self, amount: u128) -> Result<TxResult, ChainError> {
        let registry = self.deployment().registry.clone();
        self.pay(
            &registry,
            amount,
            to_value(&registry::ReceiveMsg::Stake {}),
            to_value(&registry::ExecuteMsg::Stake {}),
        )
        .await
    }

    /// The node registered by `operator`.
    async fn node(&self, operator: &str) -> Result<NodeResponse, ChainError> {
        let registry = self.deployment().registry.clone();
        let v = self
            .query(
                &registry,
                &to_value(&registry::QueryMsg::Node {
                    operator: operator.to_owned(),
                }),
            )
            .await?;
        from_value("node", v)
    }

    /// Posts a task escrowing `reward`; returns its id.
    async fn post_task(&self, spec: &TaskSpec, reward: u128) -> Result<u64, ChainError> {
        let market = self.deployment().market.clone();
        let tx = self
            .pay(
                &market,
                reward,
                to_value(&market::ReceiveMsg::PostTask(spec.clone())),
                to_value(&market::ExecuteMsg::PostTask(spec.clone())),
            )
            .await?;
        tx.wasm_attribute("task_id")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| ChainError::Malformed {
                reason: "post_task emitted no task_id".into(),
            })
    }

    /// One task.
    async fn task(&self, task_id: u64) -> Result<TaskResponse, ChainError> {
        let market = self.deployment().market.clone();
        let v = self
            .query(&market, &to_value(&market::QueryMsg::Task { task_id }))
            .await?;
        from_value("task", v)
    }

    /// Every task id assigned to `node`, after `start_after`, every page.
    async fn assigned_tasks(
        &self,
        node: &str,
        start_after: Option<u64>,
    ) -> Result<Vec<u64>, ChainError> {
        let market = self.deployment().market.clone();
        let mut ids = Vec::new();
        let mut after = start_after;
        loop {
            let v = self
                .query(
                    &market,
                    &to_value(&market::QueryMsg::Assigned {
                        node: node.to_owned(),
                        start_after: after,
                        limit: Some(clusterai_economy::MAX_LIMIT),
                    }),
                )
                .await?;
            let page: market::AssignedResponse = from_value("assigned", v)?;
            let full = page.task_ids.len() == clusterai_economy::MAX_LIMIT as usize;
            after = page.task_ids.last().copied().or(after);
            ids.extend(page.task_ids);
            if !full {
                return Ok(ids);
            }
        }
    }

    /// Draws a pending task's nodes with the beacon's `signature` of its round.
    async fn assign(
        &self,
        task_id: u64,
        signature: Option<HexBinary>,
    ) -> Result<TxResult, ChainError> {
        let market = self.deployment().market.clone();
        self.execute(
            &market,
            &to_value(&market::ExecuteMsg::Assign { task_id, signature }),
            &[],
        )
        .await
    }

    /// Steps back from an assigned task before committing.
    async fn decline(&self, task_id: u64) -> Result<TxResult, ChainError> {
        let market = self.deployment().market.clone();
        self.execute(
            &market,
            &to_value(&market::ExecuteMsg::Decline { task_id }),
            &[],
        )
        .await
    }

    /// Commits to an output ([`clusterai_economy::commit::commitment`]).
    async fn commit(&self, task_id: u64, commitment: [u8; 32]) -> Result<TxResult, ChainError> {
        let market = self.deployment().market.clone();
        self.execute(
            &market,
            &to_value(&market::ExecuteMsg::Commit {
                task_id,
                commitment: HexBinary::from(commitment),
            }),
            &[],
        )
        .await
    }

    /// Reveals the digest and salt committed to.
    async fn reveal(
        &self,
        task_id: u64,
        digest: [u8; 32],
        salt: &[u8],
    ) -> Result<TxResult, ChainError> {
        let market = self.deployment().market.clone();
        self.execute(
            &market,
            &to_value(&market::ExecuteMsg::Reveal {
                task_id,
                digest: HexBinary::from(digest),
                salt: HexBinary::from(salt),
            }),
            &[],
        )
        .await
    }

    /// Settles a task whose votes are in or whose deadlines passed.
    async fn settle(&self, task_id: u64) -> Result<TxResult, ChainError> {
        let market = self.deployment().market.clone();
        self.execute(
            &market,
            &to_value(&market::ExecuteMsg::Settle { task_id }),
            &[],
        )
        .await
    }

    /// Withdraws this account's rewards.
    async fn withdraw_rewards(&self) -> Result<TxResult, ChainError> {
        let market = self.deployment().market.clone();
        self.execute(
            &market,
            &to_value(&market::ExecuteMsg::WithdrawRewards {}),
            &[],
        )
        .await
    }

    /// The balance of `address` in the deployment's denomination.
    async fn balance(&self, address: &str) -> Result<u128, ChainError> {
        match self.deployment().denom.clone() {
            PaymentDenom::Cw20 { address: token } => {
                let v = self
                    .query(&token, &json!({"balance": {"address": address}}))
                    .await?;
                let r: cw20::BalanceResponse = from_value("balance", v)?;
                Ok(r.balance.u128())
            }
            PaymentDenom::Native { denom } => self.native_balance(address, &denom).await,
        }
    }

    /// Rewards credited to `address` in the market, not yet withdrawn.
    async fn rewards(&self, address: &str) -> Result<u128, ChainError> {
        let market = self.deployment().market.clone();
        let v = self
            .query(
                &market,
                &to_value(&market::QueryMsg::Rewards {
                    address: address.to_owned(),
                }),
            )
            .await?;
        let r: Uint128 = from_value("rewards", v)?;
        Ok(r.u128())
    }

    /// Balance, stake and rewards of `address`.
    async fn wallet(&self, address: &str) -> Result<Wallet, ChainError> {
        let stake = match self.node(address).await {
            Ok(n) => n.stake,
            // Not a node: no stake. Anything else is a real failure.
            Err(ChainError::Contract { .. }) => Uint128::zero(),
            Err(e) => return Err(e),
        };
        Ok(Wallet {
            address: address.to_owned(),
            balance: Uint128::new(self.balance(address).await?),
            stake,
            rewards: Uint128::new(self.rewards(address).await?),
        })
    }
}
