//! The devnet's HTTP API, for the other local processes that share it
//! (nodes, the buyer's CLI, tests). Errors are a [`ChainError`] as JSON, so a
//! client gets back exactly what went wrong.
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/status` | the latest block |
//! | `GET /v1/deployment` | the contracts' addresses, denomination and beacon |
//! | `GET /v1/accounts/{address}` | the account's next sequence |
//! | `POST /v1/txs` | a signed transaction ([`SignedTx`]) → its result |
//! | `POST /v1/query` | `{contract, msg}` → the contract's answer |
//! | `GET /v1/balances/{address}/{denom}` | a bank balance |
//! | `POST /v1/faucet` | `{address, amount}` → tokens from the genesis supply |
//! | `GET /v1/beacon/{round}` | the local beacon's signature of a published round |

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Devnet;
use super::tx::SignedTx;
use crate::beacon::BeaconRound;
use crate::settlement::ChainError;

/// The largest request body: a transaction carries at most a task spec with
/// a small inline input.
pub const MAX_BODY: usize = 256 * 1024;

/// A query request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// The contract.
    pub contract: String,
    /// Its query message.
    pub msg: Value,
}

/// A faucet request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaucetRequest {
    /// The recipient.
    pub address: String,
    /// The amount, as a decimal string.
    pub amount: String,
}

/// An account's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountResponse {
    /// The address.
    pub address: String,
    /// The next sequence it must sign.
    pub sequence: u64,
}

struct ApiError(StatusCode, ChainError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<ChainError> for ApiError {
    fn from(e: ChainError) -> Self {
        let status = match &e {
            ChainError::Sequence { .. } => StatusCode::CONFLICT,
            ChainError::Contract { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ChainError::Unreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ChainError::Rejected { .. } | ChainError::Malformed { .. } => StatusCode::BAD_REQUEST,
        };
        ApiError(status, e)
    }
}

fn bad_request(reason: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, ChainError::Rejected { reason })
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        bad_request(format!("request body: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        bad_request(format!("path: {}", r.body_text()))
    }
}

/// The devnet's routes.
pub fn router(devnet: Devnet) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/deployment", get(deployment))
        .route("/v1/accounts/{address}", get(account))
        .route("/v1/txs", post(submit))
        .route("/v1/query", post(query))
        .route("/v1/balances/{address}/{denom}", get(balance))
        .route("/v1/faucet", post(faucet))
        .route("/v1/beacon/{round}", get(beacon))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(devnet)
}

/// Serves `devnet` on `listener` until the task is dropped.
pub async fn serve(devnet: Devnet, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(devnet)).await
}

async fn status(State(d): State<Devnet>) -> Json<Value> {
    Json(json!(d.status().await))
}

async fn deployment(State(d): State<Devnet>) -> Json<Value> {
    Json(json!(d.deployment()))
}

async fn account(
    State(d): State<Devnet>,
    address: Result<Path<String>, PathRejection>,
) -> Result<Json<AccountResponse>, ApiError> {
    let Path(address) = address?;
    let sequence = d.sequence(address.clone()).await;
    Ok(Json(AccountResponse { address, sequence }))
}

async fn submit(
    State(d): State<Devnet>,
    tx: Result<Json<SignedTx>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(tx) = tx?;
    Ok(Json(json!(d.submit(tx).await?)))
}

async fn query(
    State(d): State<Devnet>,
    req: Result<Json<QueryRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = req?;
    Ok(Json(d.query(req.contract, req.msg).await?))
}

async fn balance(
    State(d): State<Devnet>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((address, denom)) = path?;
    let amount = d.native_balance(address, denom).await?;
    Ok(Json(json!({ "amount": amount.to_string() })))
}

async fn faucet(
    State(d): State<Devnet>,
    req: Result<Json<FaucetRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = req?;
    let amount = req
        .amount
        .parse::<u128>()
        .map_err(|_| bad_request(format!("amount {:?} is not a whole number", req.amount)))?;
    Ok(Json(json!(d.faucet(req.address, amount).await?)))
}

async fn beacon(
    State(d): State<Devnet>,
    round: Result<Path<u64>, PathRejection>,
) -> Result<Json<BeaconRound>, ApiError> {
    let Path(round) = round?;
    match d.beacon_round(round).await {
        Some(signature) => Ok(Json(BeaconRound { round, signature })),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            ChainError::Rejected {
                reason: format!("beacon round {round} is not published yet"),
            },
        )),
    }
}
