//! The devnet: the four contracts running in-process on cw-multi-test, the
//! embedded default chain for a newcomer and for tests. Blocks follow the
//! wall clock on a fixed schedule, state survives restarts (a journal
//! replayed on open), and [`server`] serves it to other local processes,
//! which reach it through [`client::DevnetClient`], a [`crate::Settlement`].
//!
//! The chain runs on a thread of its own (cw-multi-test's `App` is not
//! `Send`); [`Devnet`] is a cheap, cloneable handle to it.

pub mod client;
pub mod journal;
mod ledger;
pub mod server;
pub mod tx;

use std::path::Path;
use std::sync::mpsc;

use cosmwasm_std::HexBinary;
use serde_json::Value;

pub use clusterai_economy_testing::PayIn;
pub use ledger::{
    DevnetConfig, DevnetError, FAUCET_LIMIT, devnet_market_params, devnet_registry_params,
};

use crate::settlement::{ChainError, ChainStatus, Deployment, TxResult};
use ledger::Ledger;
use tx::SignedTx;

type Job = Box<dyn FnOnce(&mut Ledger) + Send>;

/// A handle to a running devnet; the chain stops when the last handle drops.
#[derive(Debug, Clone)]
pub struct Devnet {
    jobs: mpsc::Sender<Job>,
    deployment: Deployment,
}

impl Devnet {
    /// Opens the devnet journaled in `dir` (or creates it there with
    /// `config`); with no `dir`, one that lives in memory only.
    pub fn open(dir: Option<&Path>, config: &DevnetConfig) -> Result<Self, DevnetError> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready, opened) = mpsc::channel();
        let dir = dir.map(Path::to_path_buf);
        let config = config.clone();
        std::thread::Builder::new()
            .name("devnet".into())
            .spawn(
                move || match Ledger::open_or_create(dir.as_deref(), &config) {
                    Ok(mut ledger) => {
                        let _ = ready.send(Ok(ledger.deployment().clone()));
                        for job in inbox {
                            job(&mut ledger);
                        }
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                },
            )
            .map_err(|e| DevnetError::Config(format!("cannot start the devnet thread: {e}")))?;
        let deployment = opened
            .recv()
            .map_err(|_| DevnetError::Config("the devnet thread died while opening".into()))??;
        Ok(Devnet { jobs, deployment })
    }

    /// Where its contracts live.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Ledger) -> R + Send + 'static,
    ) -> R {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |ledger| {
            let _ = reply.send(f(ledger));
        });
        self.jobs
            .send(job)
            .expect("the devnet thread lives as long as its handles");
        answer
            .await
            .expect("the devnet thread answers every job it takes")
    }

    /// The latest block.
    pub async fn status(&self) -> ChainStatus {
        self.call(|l| l.status()).await
    }

    /// The next sequence `address` must sign.
    pub async fn sequence(&self, address: String) -> u64 {
        self.call(move |l| l.sequence(&address)).await
    }

    /// Checks, journals and runs a signed transaction.
    pub async fn submit(&self, tx: SignedTx) -> Result<TxResult, ChainError> {
        self.call(move |l| l.submit(&tx)).await
    }

    /// A smart query.
    pub async fn query(&self, contract: String, msg: Value) -> Result<Value, ChainError> {
        self.call(move |l| l.query(&contract, &msg)).await
    }

    /// A bank balance.
    pub async fn native_balance(&self, address: String, denom: String) -> Result<u128, ChainError> {
        self.call(move |l| l.native_balance(&address, &denom)).await
    }

    /// Hands `amount` to `address` from the genesis supply.
    pub async fn faucet(&self, address: String, amount: u128) -> Result<TxResult, ChainError> {
        self.call(move |l| l.faucet(&address, amount)).await
    }

    /// The beacon's signature of `round`, once published.
    pub async fn beacon_round(&self, round: u64) -> Option<HexBinary> {
        self.call(move |l| l.beacon_round(round)).await
    }
}
