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
