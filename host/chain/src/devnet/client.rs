//! [`DevnetClient`]: a [`Settlement`] over the devnet's HTTP API, signing
//! with the account's own key.

use std::time::Duration;

use async_trait::async_trait;
use cosmwasm_std::{Coin, HexBinary};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;

use super::server::{AccountResponse, FaucetRequest, QueryRequest};
use super::tx::{SignDoc, SignedTx, TxMsg};
use crate::account::AccountKey;
use crate::beacon::BeaconClient;
use crate::settlement::{ChainError, ChainStatus, Deployment, Settlement, TxResult};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a transaction is re-signed after a sequence mismatch.
const SEQUENCE_RETRIES: usize = 3;

/// A devnet account, signing its own transactions.
#[derive(Debug)]
pub struct DevnetClient {
    http: reqwest::Client,
    url: String,
    key: AccountKey,
    address: String,
    deployment: Deployment,
    /// The next sequence to sign, if known; the lock also keeps this
    /// account's transactions in order.
    sequence: Mutex<Option<u64>>,
}

impl DevnetClient {
    /// Connects to the devnet at `url` (e.g. `http://127.0.0.1:26658`) as `key`.
    pub async fn connect(url: &str, key: AccountKey) -> Result<Self, ChainError> {
        let http = crate::http_client(REQUEST_TIMEOUT);
        let url = url.trim_end_matches('/').to_owned();
        let deployment: Deployment =
            read(&url, http.get(format!("{url}/v1/deployment")).send().await).await?;
        let address = key.address(&deployment.prefix);
        Ok(DevnetClient {
            http,
            url,
            key,
            address,
            deployment,
            sequence: Mutex::new(None),
        })
    }

    /// The devnet's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Asks the devnet's faucet for `amount` for `address`.
    pub async fn faucet(&self, address: &str, amount: u128) -> Result<TxResult, ChainError> {
        self.post(
            "/v1/faucet",
            &FaucetRequest {
                address: address.to_owned(),
                amount: amount.to_string(),
            },
        )
        .await
    }

    /// The devnet's beacon (served at the devnet's own URL).
    pub fn beacon(&self) -> BeaconClient {
        BeaconClient::new(&self.url)
    }

    /// The devnet beacon's signature of `round`, or `None` before it is published.
    pub async fn beacon_round(&self, round: u64) -> Result<Option<HexBinary>, ChainError> {
        self.beacon().round(round).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ChainError> {
        let sent = self.http.get(format!("{}{path}", self.url)).send().await;
        read(&self.url, sent).await
    }

    async fn post<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ChainError> {
        let sent = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await;
        read(&self.url, sent).await
    }

    async fn chain_sequence(&self) -> Result<u64, ChainError> {
        let a: AccountResponse = self.get(&format!("/v1/accounts/{}", self.address)).await?;
        Ok(a.sequence)
    }

    async fn broadcast(&self, msg: TxMsg) -> Result<TxResult, ChainError> {
        let mut sequence = self.sequence.lock().await;
        let mut attempts = 0;
        loop {
            let seq = match *sequence {
                Some(s) => s,
                None => self.chain_sequence().await?,
            };
            let doc = SignDoc {
                chain_id: self.deployment.chain_id.clone(),
                sequence: seq,
                msg: msg.clone(),
            };
            let tx = SignedTx::sign(&self.key, &doc);
            let result: Result<TxResult, ChainError> = self.post("/v1/txs", &tx).await;
            match &result {
                // Executed, or refused by the contract: the sequence is spent.
                Ok(_) | Err(ChainError::Contract { .. }) => *sequence = Some(seq + 1),
                Err(ChainError::Sequence { expected, .. }) if attempts < SEQUENCE_RETRIES => {
                    tracing::debug!(expected, had = seq, "account sequence moved; re-signing");
                    *sequence = Some(*expected);
                    attempts += 1;
                    continue;
                }
                // Anything else leaves the sequence unknown: ask next time.
                Err(_) => *sequence = None,
            }
            return result;
        }
    }
}

/// Reads an answer: the value on success, the devnet's [`ChainError`]
/// otherwise, `Unreachable` when there was no answer (or a server error
/// without one), and `Malformed` for anything else.
async fn read<T: DeserializeOwned>(
    url: &str,
    sent: reqwest::Result<reqwest::Response>,
) -> Result<T, ChainError> {
    let unreachable = |reason: String| ChainError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    let response = sent.map_err(|e| unreachable(e.to_string()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if status == StatusCode::OK {
        return serde_json::from_slice(&body).map_err(|e| ChainError::Malformed {
            reason: format!("{e} in {}", preview(&body)),
        });
    }
    match serde_json::from_slice::<ChainError>(&body) {
        Ok(e) => Err(e),
        Err(_) if status.is_server_error() => {
            Err(unreachable(format!("HTTP {status}: {}", preview(&body))))
        }
        Err(_) => Err(ChainError::Malformed {
            reason: format!("HTTP {status}: {}", preview(&body)),
        }),
    }
}

/// The start of a body, for error messages.
fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[async_trait]
impl Settlement for DevnetClient {
    fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    fn address(&self) -> &str {
        &self.address
    }

    async fn status(&self) -> Result<ChainStatus, ChainError> {
        self.get("/v1/status").await
    }

    async fn execute(
        &self,
        contract: &str,
        msg: &Value,
        funds: &[Coin],
    ) -> Result<TxResult, ChainError> {
        self.broadcast(TxMsg::Execute {
            contract: contract.to_owned(),
            msg: msg.clone(),
            funds: funds.to_vec(),
        })
        .await
    }

    async fn query(&self, contract: &str, msg: &Value) -> Result<Value, ChainError> {
        self.post(
            "/v1/query",
            &QueryRequest {
                contract: contract.to_owned(),
                msg: msg.clone(),
            },
        )
        .await
    }

    async fn native_balance(&self, address: &str, denom: &str) -> Result<u128, ChainError> {
        let v: Value = self.get(&format!("/v1/balances/{address}/{denom}")).await?;
        v.get("amount")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| ChainError::Malformed {
                reason: format!("balance {v}"),
            })
    }

    async fn send_native(&self, to: &str, amount: Coin) -> Result<TxResult, ChainError> {
        self.broadcast(TxMsg::Send {
            to: to.to_owned(),
            amount: vec![amount],
        })
        .await
    }
}
