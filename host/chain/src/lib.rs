//! The node's view of the ClusterAI contracts.
//!
//! - [`Settlement`]: everything a node or a buyer does on chain (register,
//!   stake, post, assign, commit, reveal, settle, withdraw, balances), built
//!   once on four primitives that each chain client provides;
//! - [`account`]: the secp256k1 account key, kept apart from the node's
//!   ed25519 identity;
//! - [`devnet`]: the contracts in-process on cw-multi-test, persisted and
//!   served over HTTP, with [`devnet::client::DevnetClient`] to reach it.

pub mod account;
pub mod beacon;
pub mod cosmos;
pub mod devnet;
pub mod localnet;
mod settlement;

pub use account::AccountKey;
pub use settlement::{
    ChainError, ChainStatus, Deployment, Settlement, TxResult, Wallet, action_name,
};

/// Why a chain could not be reached at start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The deployment file.
    #[error("deployment {path}: {reason}")]
    Deployment {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The chain (its error names the URL).
    #[error("{source}")]
    Chain {
        /// Its URL.
        url: String,
        /// What went wrong.
        source: ChainError,
    },
}

/// Reads a deployment from a deployment file or a `localnet.json`.
pub fn read_deployment(path: &std::path::Path) -> Result<Deployment, ConnectError> {
    let bad = |reason: String| ConnectError::Deployment {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    if let Ok(info) = serde_json::from_str::<localnet::LocalnetInfo>(&text) {
        return Ok(info.deployment);
    }
    serde_json::from_str(&text).map_err(|_| bad("neither a deployment nor a localnet.json".into()))
}

/// A client signing as `key`: of the devnet at `url`, or, with a
/// `deployment` file, of the Cosmos chain whose RPC is at `url`, paying
/// fees as `fees` says.
pub async fn connect(
    url: &str,
    deployment: Option<&std::path::Path>,
    key: AccountKey,
    fees: cosmos::CosmosConfig,
) -> Result<std::sync::Arc<dyn Settlement>, ConnectError> {
    let chain = |source| ConnectError::Chain {
        url: url.to_owned(),
        source,
    };
    Ok(match deployment {
        None => std::sync::Arc::new(
            devnet::client::DevnetClient::connect(url, key)
                .await
                .map_err(chain)?,
        ),
        Some(path) => std::sync::Arc::new(
            cosmos::CosmosClient::connect(url, read_deployment(path)?, key, fees)
                .await
                .map_err(chain)?,
        ),
    })
}

/// An HTTP client with `timeout` per request. Installs ring as the process's
/// TLS crypto provider first if none is (reqwest panics without one when a
/// binary builds it with TLS but no provider).
pub(crate) fn http_client(timeout: std::time::Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("an HTTP client with a timeout builds")
}
