//! [`CosmosClient`]: a [`Settlement`] on a running CosmWasm chain (wasmd or
//! any Cosmos SDK chain with `x/wasm`), over CometBFT's RPC.
//!
//! Every transaction is simulated first (a contract that would refuse costs
//! nothing and leaves the sequence alone), sent with the simulated gas times
//! a margin at the configured gas price, and confirmed by hash. The account
//! sequence is cached and re-read when the chain says it moved. Queries are
//! smart queries over `abci_query`.

pub mod events;
pub mod rpc;

use std::str::FromStr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cosmrs::proto::cosmos::auth::v1beta1::{
    BaseAccount, QueryAccountRequest, QueryAccountResponse,
};
use cosmrs::proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
use cosmrs::proto::cosmwasm::wasm::v1::{
    QuerySmartContractStateRequest, QuerySmartContractStateResponse,
};
use cosmrs::proto::prost::Message;
use cosmrs::tx::{Fee, Msg, SignDoc, SignerInfo};
use cosmrs::{AccountId, Any, Denom};
use cosmwasm_std::{Binary, Coin};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::account::AccountKey;
use crate::settlement::{ChainError, ChainStatus, Deployment, Settlement, TxResult, action_name};
use rpc::Rpc;

/// How a client pays for and waits on its transactions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CosmosConfig {
    /// Price of one unit of gas, in `fee_denom`.
    pub gas_price: f64,
    /// The denomination fees are paid in.
    pub fee_denom: String,
    /// Gas limit = simulated gas × this margin.
    pub gas_adjustment: f64,
    /// How long to wait for a block to hold a sent transaction, in seconds.
    pub confirm_timeout_secs: u64,
}

impl Default for CosmosConfig {
    fn default() -> Self {
        CosmosConfig {
            gas_price: 0.0,
            fee_denom: "stake".into(),
            gas_adjustment: 1.4,
            confirm_timeout_secs: 30,
        }
    }
}

/// How many times a transaction is re-signed after a sequence mismatch.
const SEQUENCE_RETRIES: usize = 3;
/// How often a sent transaction is looked for.
const CONFIRM_POLL: Duration = Duration::from_millis(200);

/// An account on a Cosmos chain, signing its own transactions.
#[derive(Debug)]
pub struct CosmosClient {
    rpc: Rpc,
    key: AccountKey,
    address: String,
    deployment: Deployment,
    config: CosmosConfig,
    /// Account number and next sequence, once read; the lock also keeps this
    /// account's transactions in order.
    account: Mutex<Option<(u64, u64)>>,
}

/// What a transaction does, before it is signed.
enum TxKind<'a> {
    Execute {
        contract: &'a str,
        msg: &'a Value,
        funds: &'a [Coin],
    },
    Send {
        to: &'a str,
        amount: Coin,
    },
    Store {
        wasm: &'a [u8],
    },
    Instantiate {
        code_id: u64,
        msg: &'a Value,
        label: &'a str,
    },
}

impl TxKind<'_> {
    /// (contract, action) for error messages.
    fn names(&self) -> (String, String) {
        match self {
            TxKind::Execute { contract, msg, .. } => ((*contract).to_owned(), action_name(msg)),
            TxKind::Send { .. } => ("bank".into(), "send".into()),
            TxKind::Store { .. } => ("x/wasm".into(), "store_code".into()),
            TxKind::Instantiate { label, .. } => ((*label).to_owned(), "instantiate".into()),
        }
    }
}

fn account_id(address: &str) -> Result<AccountId, ChainError> {
    AccountId::from_str(address).map_err(|e| ChainError::Rejected {
        reason: format!("invalid address {address:?}: {e}"),
    })
}

fn coins(funds: &[Coin]) -> Result<Vec<cosmrs::Coin>, ChainError> {
    funds
        .iter()
        .map(|c| {
            Ok(cosmrs::Coin {
                denom: Denom::from_str(&c.denom).map_err(|e| ChainError::Rejected {
                    reason: format!("invalid denom {:?}: {e}", c.denom),
                })?,
                amount: c.amount.u128(),
            })
        })
        .collect()
}

fn bad_proto(what: &str, e: impl std::fmt::Display) -> ChainError {
    ChainError::Malformed {
        reason: format!("{what}: {e}"),
    }
}

/// The contract's own words inside the SDK's wrapping ("failed to execute
/// message; message index: 0: <why>: execute wasm contract failed [...] with
/// gas used: ...").
fn contract_reason(log: &str) -> String {
    let inner = log
        .split_once("message index: 0: ")
        .map_or(log, |(_, rest)| rest);
    for suffix in [
        ": execute wasm contract failed",
        ": instantiate wasm contract failed",
        ": query wasm contract failed",
    ] {
        if let Some((reason, _)) = inner.split_once(suffix) {
            return reason.to_owned();
        }
    }
    inner.to_owned()
}

/// The sequence a chain expects, from its "account sequence mismatch,
/// expected 5, got 4" error.
fn expected_sequence(log: &str) -> Option<(u64, u64)> {
    let rest = log.split_once("account sequence mismatch, expected ")?.1;
    let (expected, rest) = rest.split_once(", got ")?;
    let got: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((expected.trim().parse().ok()?, got.parse().ok()?))
}

fn is_contract_failure(log: &str) -> bool {
    log.contains("wasm contract failed")
}

impl CosmosClient {
    /// Connects to the chain at `rpc_url` as `key`, for the contracts of
    /// `deployment` (whose chain id must be the chain's).
    pub async fn connect(
        rpc_url: &str,
        deployment: Deployment,
        key: AccountKey,
        config: CosmosConfig,
    ) -> Result<Self, ChainError> {
        let rpc = Rpc::new(rpc_url)?;
        let (chain_id, _) = rpc.status().await?;
        if chain_id != deployment.chain_id {
            return Err(ChainError::Rejected {
                reason: format!(
                    "the chain at {rpc_url} is {chain_id:?}, the deployment is on {:?}",
                    deployment.chain_id
                ),
            });
        }
        let address = key.address(&deployment.prefix);
        Ok(CosmosClient {
            rpc,
            key,
            address,
            deployment,
            config,
            account: Mutex::new(None),
        })
    }

    /// The RPC endpoint.
    pub fn rpc_url(&self) -> &str {
        self.rpc.url()
    }

    /// Account number and sequence of this account, as the chain has them.
    async fn read_account(&self) -> Result<(u64, u64), ChainError> {
        let request = QueryAccountRequest {
            address: self.address.clone(),
        };
        let answer = self
            .rpc
            .abci_query(
                "/cosmos.auth.v1beta1.Query/Account",
                &request.encode_to_vec(),
            )
            .await?;
        if answer.code != 0 {
            return Err(ChainError::Rejected {
                reason: format!(
                    "account {} is not on chain (fund it first): {}",
                    self.address, answer.log
                ),
            });
        }
        let response = QueryAccountResponse::decode(answer.value.as_slice())
            .map_err(|e| bad_proto("account", e))?;
        let any = response
            .account
            .ok_or_else(|| bad_proto("account", "empty"))?;
        let base =
            BaseAccount::decode(any.value.as_slice()).map_err(|e| bad_proto("base account", e))?;
        Ok((base.account_number, base.sequence))
    }

    fn message(&self, kind: &TxKind<'_>) -> Result<Any, ChainError> {
        let sender = account_id(&self.address)?;
        let any = match kind {
            TxKind::Execute {
                contract,
                msg,
                funds,
            } => cosmrs::cosmwasm::MsgExecuteContract {
                sender,
                contract: account_id(contract)?,
                msg: serde_json::to_vec(msg).expect("json"),
                funds: coins(funds)?,
            }
            .to_any(),
            TxKind::Send { to, amount } => cosmrs::bank::MsgSend {
                from_address: sender,
                to_address: account_id(to)?,
                amount: coins(std::slice::from_ref(amount))?,
            }
            .to_any(),
            TxKind::Store { wasm } => cosmrs::cosmwasm::MsgStoreCode {
                sender,
                wasm_byte_code: wasm.to_vec(),
                instantiate_permission: None,
            }
            .to_any(),
            TxKind::Instantiate {
                code_id,
                msg,
                label,
            } => cosmrs::cosmwasm::MsgInstantiateContract {
                admin: Some(sender.clone()),
                sender,
                code_id: *code_id,
                label: Some((*label).to_owned()),
                msg: serde_json::to_vec(msg).expect("json"),
                funds: vec![],
            }
            .to_any(),
        };
        any.map_err(|e| ChainError::Rejected {
            reason: format!("cannot encode the message: {e}"),
        })
    }

    fn sign(&self, msg: &Any, account: (u64, u64), gas: u64) -> Result<Vec<u8>, ChainError> {
        let encode = |e: cosmrs::ErrorReport| ChainError::Rejected {
            reason: format!("cannot sign: {e}"),
        };
        let body = cosmrs::tx::Body::new(vec![msg.clone()], "", 0u32);
        let signer = cosmrs::crypto::secp256k1::SigningKey::from_slice(&self.key.secret_bytes())
            .map_err(encode)?;
        let fee_amount = (gas as f64 * self.config.gas_price).ceil() as u128;
        let fee = Fee::from_amount_and_gas(
            cosmrs::Coin {
                denom: Denom::from_str(&self.config.fee_denom).map_err(encode)?,
                amount: fee_amount,
            },
            gas,
        );
        let auth = SignerInfo::single_direct(Some(signer.public_key()), account.1).auth_info(fee);
        let chain_id = cosmrs::tendermint::chain::Id::try_from(self.deployment.chain_id.clone())
            .map_err(|e| ChainError::Rejected {
                reason: format!("chain id: {e}"),
            })?;
        let doc = SignDoc::new(&body, &auth, &chain_id, account.0).map_err(encode)?;
        doc.sign(&signer)
            .and_then(|raw| raw.to_bytes())
            .map_err(encode)
    }

    /// Gas the transaction would use, or why it would fail.
    async fn simulate(&self, tx: Vec<u8>) -> Result<Result<u64, String>, ChainError> {
        #[allow(deprecated)]
        let request = SimulateRequest {
            tx: None,
            tx_bytes: tx,
        };
        let answer = self
            .rpc
            .abci_query(
                "/cosmos.tx.v1beta1.Service/Simulate",
                &request.encode_to_vec(),
            )
            .await?;
        if answer.code != 0 {
            return Ok(Err(answer.log));
        }
        let response = SimulateResponse::decode(answer.value.as_slice())
            .map_err(|e| bad_proto("simulate", e))?;
        Ok(Ok(response.gas_info.map_or(0, |g| g.gas_used)))
    }

    async fn send(&self, kind: TxKind<'_>) -> Result<TxResult, ChainError> {
        let (contract, action) = kind.names();
        let refused = |reason: String| ChainError::Contract {
            contract: contract.clone(),
            action: action.clone(),
            reason: contract_reason(&reason),
        };
        let msg = self.message(&kind)?;
        let mut cached = self.account.lock().await;
        let mut attempts = 0;
        let record = loop {
            let account = match *cached {
                Some(a) => a,
                None => self.read_account().await?,
            };
            let draft = self.sign(&msg, account, 0)?;
            let simulated = match self.simulate(draft).await? {
                Ok(gas) => gas,
                Err(log) => {
                    if let Some((expected, _)) = expected_sequence(&log)
                        && attempts < SEQUENCE_RETRIES
                    {
                        attempts += 1;
                        *cached = Some((account.0, expected));
                        continue;
                    }
                    *cached = None;
                    return Err(if is_contract_failure(&log) {
                        refused(log)
                    } else if log.contains("Block (unix) time must never be empty") {
                        // A chain restarted and not yet past its first block.
                        ChainError::Unreachable {
                            url: self.rpc.url().to_owned(),
                            reason: "the chain is restarting (no block since)".into(),
                        }
                    } else {
                        ChainError::Rejected {
                            reason: format!("simulating {action}: {log}"),
                        }
                    });
                }
            };
            let gas = ((simulated as f64) * self.config.gas_adjustment).ceil() as u64;
            let tx = self.sign(&msg, account, gas.max(50_000))?;
            let check = self.rpc.broadcast_tx_sync(&tx).await;
            let check = match check {
                Ok(c) => c,
                Err(e) => {
                    *cached = None;
                    return Err(e);
                }
            };
            if check.code != 0 {
                if let Some((expected, _)) = expected_sequence(&check.log)
                    && attempts < SEQUENCE_RETRIES
                {
                    attempts += 1;
                    *cached = Some((account.0, expected));
                    continue;
                }
                *cached = None;
                return Err(match expected_sequence(&check.log) {
                    Some((expected, got)) => ChainError::Sequence { expected, got },
                    None => ChainError::Rejected {
                        reason: format!("broadcasting {action}: {}", check.log),
                    },
                });
            }
            *cached = Some((account.0, account.1 + 1));
            break self.confirm(&check.hash).await?;
        };
        drop(cached);
        if record.code != 0 {
            return Err(refused(record.log));
        }
        Ok(TxResult {
            hash: record.hash,
            height: record.height,
            gas_used: record.gas_used,
            events: record.events,
            data: (!record.data.is_empty()).then(|| Binary::new(record.data)),
        })
    }

    /// Waits until a block holds transaction `hash`.
    async fn confirm(&self, hash: &str) -> Result<Confirmed, ChainError> {
        let deadline = Instant::now() + Duration::from_secs(self.config.confirm_timeout_secs);
        loop {
            if let Some(r) = self.rpc.tx(hash).await? {
                return Ok(Confirmed {
                    hash: hash.to_owned(),
                    height: r.height,
                    code: r.code,
                    log: r.log,
                    gas_used: r.gas_used,
                    events: r.events,
                    data: r.data,
                });
            }
            if Instant::now() > deadline {
                return Err(ChainError::Unreachable {
                    url: self.rpc.url().to_owned(),
                    reason: format!(
                        "no block holds transaction {hash} after {} s",
                        self.config.confirm_timeout_secs
                    ),
                });
            }
            tokio::time::sleep(CONFIRM_POLL).await;
        }
    }

    /// Uploads a contract; returns its code id.
    pub async fn store_code(&self, wasm: &[u8]) -> Result<u64, ChainError> {
        let tx = self.send(TxKind::Store { wasm }).await?;
        tx.events
            .iter()
            .filter(|e| e.ty == "store_code")
            .flat_map(|e| &e.attributes)
            .find(|a| a.key == "code_id")
            .and_then(|a| a.value.parse().ok())
            .ok_or_else(|| bad_proto("store_code", "no code_id event"))
    }

    /// Instantiates code `code_id` with `msg` (this account as its admin);
    /// returns the contract's address.
    pub async fn instantiate(
        &self,
        code_id: u64,
        msg: &Value,
        label: &str,
    ) -> Result<String, ChainError> {
        let tx = self
            .send(TxKind::Instantiate {
                code_id,
                msg,
                label,
            })
            .await?;
        tx.events
            .iter()
            .filter(|e| e.ty == "instantiate")
            .flat_map(|e| &e.attributes)
            .find(|a| a.key == "_contract_address")
            .map(|a| a.value.clone())
            .ok_or_else(|| bad_proto("instantiate", "no _contract_address event"))
    }
}

struct Confirmed {
    hash: String,
    height: u64,
    code: u32,
    log: String,
    gas_used: u64,
    events: Vec<cosmwasm_std::Event>,
    data: Vec<u8>,
}

#[async_trait]
impl Settlement for CosmosClient {
    fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    fn follow_market(&self, wake: &std::sync::Arc<tokio::sync::Notify>) -> bool {
        tokio::spawn(events::follow(
            events::websocket_url(self.rpc.url()),
            self.deployment.market.clone(),
            std::sync::Arc::downgrade(wake),
        ));
        true
    }

    fn address(&self) -> &str {
        &self.address
    }

    async fn status(&self) -> Result<ChainStatus, ChainError> {
        Ok(self.rpc.status().await?.1)
    }

    async fn execute(
        &self,
        contract: &str,
        msg: &Value,
        funds: &[Coin],
    ) -> Result<TxResult, ChainError> {
        self.send(TxKind::Execute {
            contract,
            msg,
            funds,
        })
        .await
    }

    async fn query(&self, contract: &str, msg: &Value) -> Result<Value, ChainError> {
        let request = QuerySmartContractStateRequest {
            address: contract.to_owned(),
            query_data: serde_json::to_vec(msg).expect("json"),
        };
        let answer = self
            .rpc
            .abci_query(
                "/cosmwasm.wasm.v1.Query/SmartContractState",
                &request.encode_to_vec(),
            )
            .await?;
        if answer.code != 0 {
            return Err(ChainError::Contract {
                contract: contract.to_owned(),
                action: format!("query {}", action_name(msg)),
                reason: contract_reason(&answer.log),
            });
        }
        let response = QuerySmartContractStateResponse::decode(answer.value.as_slice())
            .map_err(|e| bad_proto("smart query", e))?;
        serde_json::from_slice(&response.data).map_err(|e| bad_proto("smart query answer", e))
    }

    async fn native_balance(&self, address: &str, denom: &str) -> Result<u128, ChainError> {
        let request = QueryBalanceRequest {
            address: address.to_owned(),
            denom: denom.to_owned(),
        };
        let answer = self
            .rpc
            .abci_query(
                "/cosmos.bank.v1beta1.Query/Balance",
                &request.encode_to_vec(),
            )
            .await?;
        if answer.code != 0 {
            return Err(ChainError::Rejected {
                reason: format!("balance of {address}: {}", answer.log),
            });
        }
        let response = QueryBalanceResponse::decode(answer.value.as_slice())
            .map_err(|e| bad_proto("balance", e))?;
        match response.balance {
            None => Ok(0),
            Some(c) => c.amount.parse().map_err(|e| bad_proto("balance amount", e)),
        }
    }

    async fn send_native(&self, to: &str, amount: Coin) -> Result<TxResult, ChainError> {
        self.send(TxKind::Send { to, amount }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_errors_are_read_for_their_meaning() {
        let log = "failed to execute message; message index: 0: task 3 is not open: execute wasm contract failed [CosmWasm/wasmd/x/wasm/keeper/keeper.go:363] with gas used: '111612': unknown request";
        assert!(is_contract_failure(log));
        assert_eq!(contract_reason(log), "task 3 is not open");
        assert_eq!(
            expected_sequence(
                "account sequence mismatch, expected 7, got 5: incorrect account sequence"
            ),
            Some((7, 5))
        );
        assert_eq!(expected_sequence("out of gas"), None);
    }
}
