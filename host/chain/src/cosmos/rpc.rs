//! The few CometBFT RPC methods a client needs (JSON-RPC 2.0 over HTTP):
//! `status`, `abci_query`, `broadcast_tx_sync` and `tx`. Every answer is
//! read defensively: a node that answers garbage is an error naming what
//! was wrong, never a panic.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use cosmwasm_std::Event;
use serde_json::{Value, json};

use crate::settlement::{ChainError, ChainStatus};

/// How long one RPC request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest RPC answer read (a page of contract state, a tx's events).
const MAX_ANSWER: usize = 8 * 1024 * 1024;

/// A CometBFT RPC endpoint.
#[derive(Debug, Clone)]
pub struct Rpc {
    http: reqwest::Client,
    url: String,
}

/// The result of an ABCI query.
#[derive(Debug, Clone)]
pub struct AbciAnswer {
    /// 0 on success.
    pub code: u32,
    /// The error text when `code` is not 0.
    pub log: String,
    /// The protobuf answer.
    pub value: Vec<u8>,
}

/// A transaction's result as the chain recorded it.
#[derive(Debug, Clone)]
pub struct TxRecord {
    /// The block holding it.
    pub height: u64,
    /// 0 on success.
    pub code: u32,
    /// The error text when `code` is not 0.
    pub log: String,
    /// Gas it used.
    pub gas_used: u64,
    /// Its events.
    pub events: Vec<Event>,
    /// Its result data (a protobuf `TxMsgData`).
    pub data: Vec<u8>,
}

/// What `broadcast_tx_sync` says: whether the transaction entered the mempool.
#[derive(Debug, Clone)]
pub struct CheckTx {
    /// 0 when accepted.
    pub code: u32,
    /// The error text when refused.
    pub log: String,
    /// The transaction hash (hex, upper case).
    pub hash: String,
}

fn malformed(what: &str, v: &Value) -> ChainError {
    let mut text = v.to_string();
    text.truncate(200);
    ChainError::Malformed {
        reason: format!("{what} in {text}"),
    }
}

/// The longest error text kept from a chain.
const MAX_LOG: usize = 600;

/// A chain's error text without the stack trace a recovered panic carries,
/// and bounded.
fn first_line(log: &str) -> String {
    let line = log.split("\nstack:").next().unwrap_or(log).trim_end();
    let mut end = line.len().min(MAX_LOG);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_owned()
}

/// A JSON value that is a number or a decimal string (CometBFT writes 64-bit
/// integers as strings).
fn int(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn base64_field(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::String(s) => B64.decode(s).ok(),
        _ => None,
    }
}

impl Rpc {
    /// An endpoint at `url` (e.g. `http://127.0.0.1:26657`).
    pub fn new(url: &str) -> Result<Self, ChainError> {
        let http = crate::http_client(REQUEST_TIMEOUT);
        Ok(Rpc {
            http,
            url: url.trim_end_matches('/').to_owned(),
        })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method`; returns its `result`, or the RPC error as `Err(Ok(..))`
    /// (the method's own failure, e.g. "tx not found") apart from transport
    /// failures (`Err(Err(..))`).
    async fn call(&self, method: &str, params: Value) -> Result<Result<Value, String>, ChainError> {
        let unreachable = |reason: String| ChainError::Unreachable {
            url: self.url.clone(),
            reason,
        };
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        if let Some(len) = response.content_length()
            && len as usize > MAX_ANSWER
        {
            return Err(ChainError::Malformed {
                reason: format!("{method} answered {len} bytes (most read: {MAX_ANSWER})"),
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let answer: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) if status.is_server_error() => {
                return Err(unreachable(format!("HTTP {status}")));
            }
            Err(e) => {
                return Err(ChainError::Malformed {
                    reason: format!("{method}: not JSON ({e})"),
                });
            }
        };
        if let Some(err) = answer.get("error") {
            let text = [err.get("message"), err.get("data")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(": ");
            return Ok(Err(text));
        }
        match answer.get("result") {
            Some(result) => Ok(Ok(result.clone())),
            None => Err(malformed(&format!("{method}: no result"), &answer)),
        }
    }

    async fn call_ok(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        self.call(method, params)
            .await?
            .map_err(|reason| ChainError::Rejected {
                reason: format!("{method}: {reason}"),
            })
    }

    /// The chain id and the latest block.
    pub async fn status(&self) -> Result<(String, ChainStatus), ChainError> {
        let r = self.call_ok("status", json!({})).await?;
        let chain_id = r["node_info"]["network"]
            .as_str()
            .ok_or_else(|| malformed("status: no node_info.network", &r))?
            .to_owned();
        let sync = &r["sync_info"];
        let height = int(&sync["latest_block_height"])
            .ok_or_else(|| malformed("status: no latest_block_height", &r))?;
        let time = sync["latest_block_time"]
            .as_str()
            .and_then(|t| cosmrs::tendermint::Time::parse_from_rfc3339(t).ok())
            .ok_or_else(|| malformed("status: no latest_block_time", &r))?;
        let time_ns = u64::try_from(time.unix_timestamp_nanos()).unwrap_or(0);
        Ok((chain_id, ChainStatus { height, time_ns }))
    }

    /// An ABCI query of `path` with protobuf `data`.
    pub async fn abci_query(&self, path: &str, data: &[u8]) -> Result<AbciAnswer, ChainError> {
        let r = self
            .call_ok(
                "abci_query",
                json!({"path": path, "data": hex::encode(data), "height": "0", "prove": false}),
            )
            .await?;
        let resp = &r["response"];
        let code = int(&resp["code"]).unwrap_or(0) as u32;
        let log = first_line(resp["log"].as_str().unwrap_or_default());
        let value = base64_field(&resp["value"])
            .ok_or_else(|| malformed("abci_query: value is not base64", &r))?;
        Ok(AbciAnswer { code, log, value })
    }

    /// Hands a signed transaction to the mempool.
    pub async fn broadcast_tx_sync(&self, tx: &[u8]) -> Result<CheckTx, ChainError> {
        let r = self
            .call_ok("broadcast_tx_sync", json!({"tx": B64.encode(tx)}))
            .await?;
        Ok(CheckTx {
            code: int(&r["code"]).unwrap_or(0) as u32,
            log: first_line(r["log"].as_str().unwrap_or_default()),
            hash: r["hash"]
                .as_str()
                .ok_or_else(|| malformed("broadcast_tx_sync: no hash", &r))?
                .to_owned(),
        })
    }

    /// Every transaction matching `query` (CometBFT's event query language,
    /// e.g. `wasm.task_id='3'`), oldest first, every page.
    pub async fn tx_search(&self, query: &str) -> Result<Vec<TxRecord>, ChainError> {
        const PER_PAGE: usize = 100;
        let mut out = Vec::new();
        for page in 1.. {
            let r = self
                .call_ok(
                    "tx_search",
                    json!({"query": query, "prove": false, "page": page.to_string(),
                           "per_page": PER_PAGE.to_string(), "order_by": "asc"}),
                )
                .await?;
            let txs = r["txs"]
                .as_array()
                .ok_or_else(|| malformed("tx_search: no txs", &r))?;
            for tx in txs {
                out.push(record(tx)?);
            }
            let total = int(&r["total_count"]).unwrap_or(0) as usize;
            if txs.len() < PER_PAGE || out.len() >= total {
                return Ok(out);
            }
        }
        unreachable!("the pages end")
    }

    /// The transaction with `hash` (hex), or `None` while no block holds it.
    pub async fn tx(&self, hash: &str) -> Result<Option<TxRecord>, ChainError> {
        let bytes = hex::decode(hash).map_err(|_| ChainError::Malformed {
            reason: format!("transaction hash {hash:?} is not hex"),
        })?;
        let r = match self.call("tx", json!({"hash": B64.encode(bytes)})).await? {
            Ok(r) => r,
            Err(reason) if reason.contains("not found") => return Ok(None),
            Err(reason) => return Err(ChainError::Rejected { reason }),
        };
        record(&r).map(Some)
    }
}

/// Reads a transaction result (of `tx` or of a `tx_search` page).
fn record(r: &Value) -> Result<TxRecord, ChainError> {
    let result = &r["tx_result"];
    let events = result["events"]
        .as_array()
        .map(|events| events.iter().filter_map(event).collect())
        .unwrap_or_default();
    Ok(TxRecord {
        height: int(&r["height"]).ok_or_else(|| malformed("tx: no height", r))?,
        code: int(&result["code"]).unwrap_or(0) as u32,
        log: first_line(result["log"].as_str().unwrap_or_default()),
        gas_used: int(&result["gas_used"]).unwrap_or(0),
        events,
        data: base64_field(&result["data"]).unwrap_or_default(),
    })
}

/// An ABCI event as a CosmWasm `Event` (attributes are plain strings since
/// CometBFT 0.37). Built by deserialising: `Event`'s builder refuses the
/// reserved `_contract_address` key that chains do emit.
fn event(v: &Value) -> Option<Event> {
    let attributes: Vec<Value> = v["attributes"]
        .as_array()?
        .iter()
        .filter_map(|a| {
            Some(json!({
                "key": a["key"].as_str()?,
                "value": a["value"].as_str().unwrap_or_default(),
            }))
        })
        .collect();
    serde_json::from_value(json!({"type": v["type"].as_str()?, "attributes": attributes})).ok()
}
