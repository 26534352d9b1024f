//! The randomness beacon as clients reach it: [`BeaconClient`] fetches a
//! published round's signature, [`LocalBeacon`] publishes rounds on a local
//! network (devnet, localnet) with a key this machine holds. A production
//! deployment names drand's quicknet instead; the market verifies every
//! signature, so a beacon client never has to be trusted.
//!
//! Route: `GET /v1/beacon/{round}` → `{"round": N, "signature": "<hex>"}`,
//! 404 before the round is published.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use clusterai_economy::beacon::BeaconConfig;
use clusterai_economy_testing::TestBeacon;
use cosmwasm_std::HexBinary;
use serde::{Deserialize, Serialize};

use crate::settlement::ChainError;

/// A published beacon round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BeaconRound {
    /// The round.
    pub round: u64,
    /// The beacon's signature of it.
    pub signature: HexBinary,
}

/// Fetches published rounds from a beacon's HTTP endpoint.
#[derive(Debug, Clone)]
pub struct BeaconClient {
    http: reqwest::Client,
    url: String,
}

impl BeaconClient {
    /// A client of the beacon at `url`.
    pub fn new(url: &str) -> Self {
        BeaconClient {
            http: crate::http_client(Duration::from_secs(10)),
            url: url.trim_end_matches('/').to_owned(),
        }
    }

    /// The signature of `round`, or `None` while it is not published.
    pub async fn round(&self, round: u64) -> Result<Option<HexBinary>, ChainError> {
        let unreachable = |reason: String| ChainError::Unreachable {
            url: self.url.clone(),
            reason,
        };
        let response = self
            .http
            .get(format!("{}/v1/beacon/{round}", self.url))
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK => {
                let r: BeaconRound = response.json().await.map_err(|e| ChainError::Malformed {
                    reason: format!("beacon round {round}: {e}"),
                })?;
                if r.round != round {
                    return Err(ChainError::Malformed {
                        reason: format!("asked the beacon for round {round}, got {}", r.round),
                    });
                }
                Ok(Some(r.signature))
            }
            s => Err(unreachable(format!("beacon answered HTTP {s}"))),
        }
    }
}

/// A beacon whose key this machine holds: for local networks only (whoever
/// holds the key knows every round in advance).
#[derive(Debug, Clone)]
pub struct LocalBeacon {
    beacon: Arc<TestBeacon>,
}

impl LocalBeacon {
    /// The beacon whose secret is kept in `path` (created, mode 0600, with a
    /// random secret if missing), round 1 at `genesis_time`.
    pub fn load_or_create(
        path: &Path,
        genesis_time: u64,
        period: u64,
    ) -> Result<Self, std::io::Error> {
        let secret = match std::fs::read_to_string(path) {
            Ok(text) => text.trim().parse::<u64>().map_err(|_| {
                std::io::Error::other(format!("{} does not hold a beacon secret", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = rand::random::<u64>() | 1;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                std::io::Write::write_all(&mut options.open(path)?, secret.to_string().as_bytes())?;
                secret
            }
            Err(e) => return Err(e),
        };
        Ok(LocalBeacon {
            beacon: Arc::new(TestBeacon::new(secret, genesis_time, period)),
        })
    }

    /// Its public parameters.
    pub fn config(&self) -> &BeaconConfig {
        &self.beacon.config
    }

    /// The signature of `round` if it is published at unix time `now`.
    pub fn published(&self, round: u64, now: u64) -> Option<HexBinary> {
        (round >= 1 && self.beacon.config.round_at(now) >= round).then(|| self.beacon.sign(round))
    }

    /// Its route, publishing by the wall clock.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/beacon/{round}", get(serve_round))
            .with_state(self.clone())
    }
}

async fn serve_round(
    State(beacon): State<LocalBeacon>,
    UrlPath(round): UrlPath<u64>,
) -> Result<axum::Json<BeaconRound>, (StatusCode, String)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match beacon.published(round, now) {
        Some(signature) => Ok(axum::Json(BeaconRound { round, signature })),
        None => Err((
            StatusCode::NOT_FOUND,
            format!("beacon round {round} is not published yet"),
        )),
    }
}
