//! The buyer's side of the task market: serve a task's input over iroh,
//! post the task naming this endpoint as its provider, have it assigned
//! once its beacon round is out, and take the nodes' results, keeping only
//! outputs whose digest won on chain, sent by the nodes that revealed it,
//! with receipts that verify against the keys those nodes registered.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clusterai_chain::beacon::BeaconClient;
use clusterai_chain::{ChainError, Settlement};
use clusterai_economy::commit::task_digest;
use clusterai_economy::market::{MAX_PROVIDER_LEN, TaskInput, TaskResponse, TaskSpec, TaskStatus};
use clusterai_economy::registry::Requirements;
use clusterai_store::{AllowList, Node as BlobNode, NodeConfig as BlobNodeConfig};
use clusterai_types::{ContentHash, SignedReceipt};
use cosmwasm_std::{HexBinary, Uint128};
use serde::Serialize;
use tokio::sync::{Mutex, mpsc};

use crate::canonical::Canonical;
use crate::results::{Inbox, RESULTS_ALPN, Received};

/// How long the receipts of the other winning nodes may trail the first
/// good delivery.
const RECEIPT_GRACE: Duration = Duration::from_secs(5);

/// The largest output a buyer takes.
pub const MAX_OUTPUT_BYTES: usize = 16 << 20;

/// What a buyer asks the market for.
#[derive(Debug, Clone)]
pub struct Order {
    /// The plugin.
    pub plugin: ContentHash,
    /// The models it loads.
    pub models: Vec<ContentHash>,
    /// The input bytes (served over iroh by hash).
    pub input: Vec<u8>,
    /// Replication: how many votes decide.
    pub replicas: u8,
    /// What the task pays, in the chain's payment token.
    pub reward: u128,
    /// Seconds the nodes have to commit once assigned.
    pub commit_period: u64,
    /// The most royalties the buyer agrees to pay.
    pub max_royalties: Option<u128>,
}

/// A receipt the buyer checked.
#[derive(Debug, Clone, Serialize)]
pub struct CheckedReceipt {
    /// The node's chain account.
    pub operator: String,
    /// Its receipt, signature verified.
    pub receipt: SignedReceipt,
}

/// How a task ended, from the buyer's side.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The task as the chain closed it.
    pub task: TaskResponse,
    /// The winning output, when the task settled and a node that revealed
    /// it delivered it.
    pub output: Option<Vec<u8>>,
    /// Its content type, as the delivering node said.
    pub content_type: Option<String>,
    /// The checked receipts of the winning output.
    pub receipts: Vec<CheckedReceipt>,
    /// Deliveries thrown away, with why.
    pub refused: Vec<String>,
}

/// A buyer: an iroh endpoint that serves inputs and takes results, and a
/// chain account that posts and pays.
pub struct Buyer {
    blobs: BlobNode,
    inbox: Mutex<mpsc::Receiver<Received>>,
    chain: Arc<dyn Settlement>,
    beacon: BeaconClient,
}

impl std::fmt::Debug for Buyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buyer")
            .field("node", &self.blobs.node_id())
            .finish_non_exhaustive()
    }
}

impl Buyer {
    /// Starts the buyer's endpoint on `bind` with its key and store in
    /// `data_dir` (any peer may fetch what it pinned: the inputs it posts).
    pub async fn start(
        data_dir: &Path,
        bind: SocketAddr,
        chain: Arc<dyn Settlement>,
        beacon: BeaconClient,
    ) -> anyhow::Result<Self> {
        let (inbox, rx) = Inbox::new(MAX_OUTPUT_BYTES);
        let mut config = BlobNodeConfig::new(data_dir);
        config.bind = bind;
        let blobs = BlobNode::spawn_with(
            config,
            AllowList::new().allow_any_peer(),
            vec![(RESULTS_ALPN.to_vec(), Box::new(inbox))],
        )
        .await
        .context("starting the buyer's iroh endpoint")?;
        Ok(Buyer {
            blobs,
            inbox: Mutex::new(rx),
            chain,
            beacon,
        })
    }

    /// This endpoint as a task names it: `NODE_ID@IP:PORT,...`, with as
    /// many of its addresses as the market's length limit takes.
    pub fn provider(&self) -> String {
        let mut text = self.blobs.node_id().to_string();
        let mut sep = '@';
        for ip in self.blobs.addr().ip_addrs() {
            let next = format!("{sep}{ip}");
            if text.len() + next.len() > MAX_PROVIDER_LEN {
                break;
            }
            text.push_str(&next);
            sep = ',';
        }
        text
    }

    /// Pins `bytes` (a plugin or model the nodes may lack) so that the
    /// nodes of the tasks this buyer posts can fetch them; returns the hash.
    pub async fn offer(&self, bytes: Vec<u8>) -> anyhow::Result<ContentHash> {
        Ok(self.blobs.store().import_bytes(bytes).await?)
    }

    /// Pins the input, posts the task naming this endpoint, and returns its id.
    pub async fn post(&self, order: &Order) -> anyhow::Result<u64> {
        let input = self
            .blobs
            .store()
            .import_bytes(order.input.clone())
            .await
            .context("adding the input to the buyer's store")?;
        let hex = |h: &ContentHash| HexBinary::from(h.as_bytes().to_vec());
        let spec = TaskSpec {
            plugin: hex(&order.plugin),
            input: TaskInput::Hash {
                hash: hex(&input),
                providers: vec![self.provider()],
            },
            models: order.models.iter().map(hex).collect(),
            k: order.replicas,
            commit_period: order.commit_period,
            requirements: Requirements::default(),
            max_royalties: order.max_royalties.map(Uint128::new),
        };
        let id = self.chain.post_task(&spec, order.reward).await?;
        tracing::info!(task = id, %input, "posted");
        Ok(id)
    }

    /// Assigns task `id` once its beacon round is published and a block
    /// has reached it; gives up after `within`.
    pub async fn assign(&self, id: u64, within: Duration) -> anyhow::Result<()> {
        let task = self.chain.task(id).await?;
        if task.status != TaskStatus::Pending {
            return Ok(());
        }
        let deadline = Instant::now() + within;
        loop {
            if let Some(sig) = self.beacon.round(task.round).await? {
                match self.chain.assign(id, Some(sig)).await {
                    Ok(_) => return Ok(()),
                    // Block time has not reached the round yet.
                    Err(ChainError::Contract { reason, .. }) if reason.contains("wait for it") => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "task {id} was not assigned within {} s: beacon round {} not usable yet",
                    within.as_secs(),
                    task.round
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until task `id` closes and (if it settled) a node that revealed
    /// the winning digest delivers the output; gives up after `within`.
    pub async fn wait(&self, id: u64, within: Duration) -> anyhow::Result<Answer> {
        let deadline = Instant::now() + within;
        let mut received: Vec<Received> = Vec::new();
        let mut inbox = self.inbox.lock().await;
        // Once a good output is in, the other winners' receipts get a
        // moment to arrive.
        let mut grace: Option<Instant> = None;
        loop {
            while let Ok(r) = inbox.try_recv() {
                if r.header.task_id == id && r.header.chain_id == self.chain.deployment().chain_id {
                    received.push(r);
                }
            }
            let task = self.chain.task(id).await?;
            if !matches!(task.status, TaskStatus::Open | TaskStatus::Pending) {
                let answer = self.check(task, &received).await?;
                let TaskStatus::Settled { digest } = &answer.task.status else {
                    return Ok(answer);
                };
                // Settled: wait (until the deadline) for a good delivery,
                // then briefly for every winner's receipt.
                let winners = answer
                    .task
                    .assignments
                    .iter()
                    .filter(|a| a.digest.as_ref() == Some(digest))
                    .map(|a| a.node.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
                if answer.output.is_some() {
                    let until = *grace.get_or_insert_with(|| Instant::now() + RECEIPT_GRACE);
                    if answer.receipts.len() >= winners || Instant::now() > until {
                        return Ok(answer);
                    }
                }
                if Instant::now() > deadline {
                    return Ok(answer);
                }
            } else if Instant::now() > deadline {
                bail!("task {id} is still open after {} s", within.as_secs());
            }
            tokio::select! {
                Some(r) = inbox.recv() => {
                    if r.header.task_id == id
                        && r.header.chain_id == self.chain.deployment().chain_id
                    {
                        received.push(r);
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            }
        }
    }

    /// Keeps the deliveries that carry the winning output.
    async fn check(&self, task: TaskResponse, received: &[Received]) -> anyhow::Result<Answer> {
        let mut answer = Answer {
            output: None,
            content_type: None,
            receipts: Vec::new(),
            refused: Vec::new(),
            task,
        };
        let TaskStatus::Settled { digest } = &answer.task.status else {
            return Ok(answer);
        };
        let seed: [u8; 32] = answer
            .task
            .seed
            .as_ref()
            .and_then(|s| s.as_slice().try_into().ok())
            .context("a settled task without a 32-byte seed")?;
        for r in received {
            match self.check_one(&answer.task, &seed, digest, r).await {
                Ok(operator) => {
                    if answer.output.is_none() {
                        answer.output = Some(r.output.clone());
                        answer.content_type = Some(r.header.content_type.clone());
                    }
                    if !answer.receipts.iter().any(|c| c.operator == operator) {
                        answer.receipts.push(CheckedReceipt {
                            operator,
                            receipt: r.header.receipt.clone(),
                        });
                    }
                }
                Err(why) => answer.refused.push(format!("from {}: {why}", r.from)),
            }
        }
        Ok(answer)
    }

    /// The operator of the node behind a good delivery, or why it is not.
    async fn check_one(
        &self,
        task: &TaskResponse,
        seed: &[u8; 32],
        digest: &HexBinary,
        r: &Received,
    ) -> Result<String, String> {
        let output = ContentHash::of(&r.output);
        // The vote was on the output's canonical form (the plugin's
        // declaration, as the node says: a false one can only make the
        // buyer take an output that has the winning form).
        let form: Canonical = r.header.canonical.parse()?;
        let voted = ContentHash::of(&form.apply(&r.output)?);
        if task_digest(seed, voted.as_bytes()).as_slice() != digest.as_slice() {
            return Err("its output is not the one that won".into());
        }
        let receipt = &r.header.receipt.receipt;
        if receipt.output != output {
            return Err("its receipt names another output".into());
        }
        if receipt.plugin.as_bytes().as_slice() != task.plugin.as_slice() {
            return Err("its receipt names another plugin".into());
        }
        // The sender must be a node that revealed the winning digest.
        for a in &task.assignments {
            if a.digest.as_ref() != Some(digest) {
                continue;
            }
            let node = self
                .chain
                .node(a.node.as_str())
                .await
                .map_err(|e| e.to_string())?;
            if node.info.iroh_node_id.as_slice() != r.from.as_bytes() {
                continue;
            }
            if hex::decode(&receipt.node).ok().as_deref() != Some(node.info.receipt_key.as_slice())
            {
                return Err("its receipt is not signed with the node's registered key".into());
            }
            verify_signature(&r.header.receipt)?;
            return Ok(a.node.to_string());
        }
        Err("the sender did not reveal the winning digest".into())
    }

    /// Stops the endpoint.
    pub async fn shutdown(&self) {
        if let Err(e) = self.blobs.shutdown().await {
            tracing::warn!(error = %e, "buyer shutdown");
        }
    }
}

/// Checks a receipt's signature against the node key it names.
pub fn verify_signature(signed: &SignedReceipt) -> Result<(), String> {
    let key: iroh::PublicKey = signed
        .receipt
        .node
        .parse()
        .map_err(|e| format!("the node {:?} is not a node key: {e}", signed.receipt.node))?;
    let bytes: [u8; 64] = hex::decode(&signed.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is not 64 bytes of hex")?;
    key.verify(
        &signed.receipt.signing_message(),
        &iroh::Signature::from_bytes(&bytes),
    )
    .map_err(|_| "the signature does not verify for this receipt and node key".to_string())
}
