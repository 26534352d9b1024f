//! The chain worker: the node's side of the task market.
//!
//! Every poll it reads the tasks the market assigned to this node's account
//! and moves each one step: run it in the node's own sandbox (through the
//! same queue, limits and receipts as any task), commit to the output's
//! task-bound digest before the commit deadline, reveal once every vote is
//! in or the window closed, settle when the votes are revealed, and withdraw
//! what the market credited. A task it cannot run (a plugin, model or input
//! it does not hold, a failure in the sandbox) is declined in time, which
//! the protocol does not punish.
//!
//! What it promised is written to disk before it is sent: a node restarted
//! between commit and reveal finds its digest and salt and still reveals.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use clusterai_chain::{ChainError, Settlement};
use clusterai_economy::commit::{commitment, task_digest};
use clusterai_economy::market::{TaskInput, TaskResponse, TaskStatus};
use clusterai_store::{BlobFormat, FetchOptions, Provider};
use clusterai_types::ContentHash;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::canonical::Canonical;
use crate::results::{self, DeliveryHeader};
use crate::service::{InputBody, Node, Refusal, SubmitTask, refusal_text};
use crate::task::TaskState;

/// How the worker answers (anything but `Honest` exists for tests of the
/// protocol's defences).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs every task and reveals its true output.
    #[default]
    Honest,
    /// Runs every task, then commits to and reveals a wrong output (with a
    /// receipt as valid-looking as an honest one).
    WrongOutput,
    /// Honest, but votes with an output whose JSON numbers differ in the
    /// last digits, as another machine's floating point might.
    Jitter,
}

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Time between two looks at the chain.
    pub poll: Duration,
    /// How it answers.
    pub behaviour: Behaviour,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            poll: Duration::from_millis(500),
            behaviour: Behaviour::Honest,
        }
    }
}

/// Where the worker is with one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Running in the node (its local task id).
    Running {
        /// The node's task id.
        local: String,
    },
    /// Committed (or about to): what it will reveal.
    Committed {
        /// The task-bound output digest (hex).
        digest: String,
        /// The salt of the commitment (hex).
        salt: String,
        /// BLAKE3 of the output it ran to.
        output: ContentHash,
        /// The node's task id of the run (empty in files written before
        /// results were delivered).
        #[serde(default)]
        local: String,
    },
    /// Revealed; waiting for settlement.
    Revealed {
        /// BLAKE3 of the output it ran to.
        output: ContentHash,
    },
    /// Declined, with why.
    Declined {
        /// The reason.
        reason: String,
    },
    /// Nothing more to do.
    Done,
}

/// The worker's durable memory: one phase per task id still in play, and
/// the id up to which every assigned task is done (forgotten, never looked
/// at again).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Ledger {
    tasks: BTreeMap<u64, Phase>,
    #[serde(default)]
    done_through: Option<u64>,
}

impl Ledger {
    /// Forgets the tasks done before the oldest one still in play.
    fn prune(&mut self) {
        while let Some((&id, Phase::Done)) = self.tasks.first_key_value() {
            self.tasks.remove(&id);
            self.done_through = Some(id);
        }
    }
}

/// A handle to a running worker.
#[derive(Debug)]
pub struct ChainWorker {
    handle: tokio::task::JoinHandle<()>,
}

impl ChainWorker {
    /// Starts the worker for `node` on `chain`; its memory lives in
    /// `<data dir>/chain/worker.json`.
    pub fn spawn(
        node: Arc<Node>,
        chain: Arc<dyn Settlement>,
        options: WorkerOptions,
    ) -> anyhow::Result<Self> {
        let dir = node.config().data_dir().join("chain");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("worker.json");
        let ledger = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ledger::default(),
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        let mut worker = Worker {
            node,
            chain,
            options,
            path,
            ledger,
        };
        let handle = tokio::spawn(async move { worker.run().await });
        Ok(ChainWorker { handle })
    }

    /// Stops the worker (what it promised is already on disk).
    pub fn stop(&self) {
        self.handle.abort();
    }
}

impl Drop for ChainWorker {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

struct Worker {
    node: Arc<Node>,
    chain: Arc<dyn Settlement>,
    options: WorkerOptions,
    path: PathBuf,
    ledger: Ledger,
}

/// What one step of a task asks for next.
enum Step {
    /// Nothing to do until the next poll.
    Wait,
    /// Phase changed: save it.
    Moved(Phase),
}

impl Worker {
    async fn run(&mut self) {
        // Chain events cut a poll's wait short; polling alone still finds
        // every task (and is all there is on a chain without events).
        let wake = Arc::new(tokio::sync::Notify::new());
        let events = self.chain.follow_market(&wake);
        tracing::info!(
            account = self.chain.address(),
            events,
            "chain worker started"
        );
        let mut failures = 0u32;
        loop {
            match self.tick().await {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    if e.is_retryable() {
                        tracing::warn!(error = %e, "chain unavailable; retrying");
                    } else {
                        tracing::error!(error = %e, "chain worker step failed");
                    }
                }
            }
            // Back off while the chain is away: up to 16 polls.
            let wait = self.options.poll * 2u32.pow(failures.min(4));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = wake.notified(), if failures == 0 => {}
            }
        }
    }

    fn save(&self) -> std::io::Result<()> {
        clusterai_types::files::write_atomic(
            &self.path,
            &serde_json::to_vec(&self.ledger).expect("json"),
        )
    }

    async fn tick(&mut self) -> Result<(), ChainError> {
        let me = self.chain.address().to_owned();
        // Tasks up to the last one done before any still in play need no look.
        let ids = self
            .chain
            .assigned_tasks(&me, self.ledger.done_through)
            .await?;
        let now = self.chain.status().await?.time_ns;
        let mut closed = false;
        for id in ids {
            if self.ledger.tasks.get(&id) == Some(&Phase::Done) {
                continue;
            }
            let task = self.chain.task(id).await?;
            match self.step(&me, &task, now).await {
                Ok(Step::Wait) => {}
                Ok(Step::Moved(phase)) => {
                    closed |= phase == Phase::Done;
                    tracing::debug!(task = id, ?phase, "chain task moved");
                    self.ledger.tasks.insert(id, phase);
                    if let Err(e) = self.save() {
                        tracing::error!(error = %e, path = %self.path.display(), "cannot save the worker's state");
                    }
                }
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => tracing::warn!(task = id, error = %e, "chain task step refused"),
            }
        }
        if closed {
            self.ledger.prune();
            if let Err(e) = self.save() {
                tracing::error!(error = %e, path = %self.path.display(), "cannot save the worker's state");
            }
        }
        if closed && self.chain.rewards(&me).await? > 0 {
            self.chain.withdraw_rewards().await?;
            tracing::info!("withdrew rewards");
        }
        Ok(())
    }

    /// Moves task `task` one step.
    async fn step(&self, me: &str, task: &TaskResponse, now_ns: u64) -> Result<Step, ChainError> {
        let phase = self.ledger.tasks.get(&task.id).cloned();
        match task.status {
            TaskStatus::Settled { .. } | TaskStatus::Disputed | TaskStatus::Expired => {
                return Ok(Step::Moved(Phase::Done));
            }
            // A re-execution waiting for its draw: our part, if any, is done.
            TaskStatus::Pending => return Ok(Step::Wait),
            TaskStatus::Open => {}
        }
        let committee: Vec<_> = task
            .assignments
            .iter()
            .filter(|a| a.reexecution == task.reexecution)
            .collect();
        let Some(slot) = committee.iter().find(|a| a.node.as_str() == me) else {
            // Assigned to an earlier committee only.
            return Ok(Step::Moved(Phase::Done));
        };
        let commit_deadline = deadline_of(task.commit_deadline);
        let reveal_deadline = deadline_of(task.reveal_deadline);
        if slot.declined {
            return Ok(Step::Moved(Phase::Done));
        }
        if slot.commitment.is_none() {
            if now_ns > commit_deadline {
                tracing::warn!(task = task.id, "the commit window closed before an output");
                return Ok(Step::Moved(Phase::Done));
            }
            // Too close to the deadline to finish and commit: declining is
            // free, an absent vote is slashed.
            let margin = self.margin_ns();
            if matches!(phase, Some(Phase::Running { .. }))
                && now_ns.saturating_add(margin) > commit_deadline
                && !self.finished(&phase)
            {
                return self
                    .decline(task, "the task did not finish in time to commit".into())
                    .await;
            }
            return self.run_and_commit(me, task, phase).await;
        }
        if slot.digest.is_none() {
            let Some(Phase::Committed {
                digest,
                salt,
                output,
                local,
            }) = phase
            else {
                // Committed by an earlier life of this node that lost its
                // state: nothing to reveal with.
                return Ok(Step::Moved(Phase::Done));
            };
            let all_in = committee
                .iter()
                .all(|a| a.declined || a.commitment.is_some());
            if !all_in && now_ns <= commit_deadline {
                return Ok(Step::Wait);
            }
            if now_ns > reveal_deadline {
                return Ok(Step::Moved(Phase::Done));
            }
            let digest = hex32(&digest)?;
            let salt = hex::decode(&salt).map_err(|e| malformed("salt", e))?;
            self.chain.reveal(task.id, digest, &salt).await?;
            tracing::info!(task = task.id, "revealed");
            self.deliver(task, &local);
            return Ok(Step::Moved(Phase::Revealed { output }));
        }
        // Revealed: settle once every vote is revealed, or the window closed.
        let all_revealed = committee.iter().all(|a| a.declined || a.digest.is_some());
        if all_revealed || now_ns > reveal_deadline {
            match self.chain.settle(task.id).await {
                Ok(_) => tracing::info!(task = task.id, "settled"),
                // Another node settled it first.
                Err(ChainError::Contract { reason, .. }) => {
                    tracing::debug!(task = task.id, %reason, "settle refused")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Step::Wait)
    }

    async fn run_and_commit(
        &self,
        me: &str,
        task: &TaskResponse,
        phase: Option<Phase>,
    ) -> Result<Step, ChainError> {
        match phase {
            None => match self.obtain_and_submit(task).await {
                Ok(local) => Ok(Step::Moved(Phase::Running { local })),
                Err(reason) => self.decline(task, reason).await,
            },
            Some(Phase::Running { local }) => {
                let record = match self.node.task(&Caller { token: None }, &local) {
                    Ok(r) => r,
                    Err(e) => return self.decline(task, refusal_text(&e).to_owned()).await,
                };
                if !record.state.is_final() {
                    return Ok(Step::Wait);
                }
                let Some(success) = record.success() else {
                    let reason = match &record.outcome {
                        Some(crate::task::Outcome::Failure(f)) => {
                            format!("the task failed here: {}: {}", f.kind, f.message)
                        }
                        _ => format!("the task ended {}", record.state.as_str()),
                    };
                    return self.decline(task, reason).await;
                };
                debug_assert_eq!(record.state, TaskState::Succeeded);
                let seed = seed(task)?;
                let output = success.output;
                // The vote is on the output in the form its plugin declares.
                let voted = match self.voted_hash(&record).await {
                    Ok(h) => h,
                    Err(reason) => return self.decline(task, reason).await,
                };
                let answered = match self.options.behaviour {
                    Behaviour::Honest | Behaviour::Jitter => *voted.as_bytes(),
                    Behaviour::WrongOutput => {
                        *ContentHash::of(&[voted.as_bytes().as_slice(), b"wrong"].concat())
                            .as_bytes()
                    }
                };
                let digest = task_digest(&seed, &answered);
                let salt: [u8; 32] = rand::random();
                let phase = Phase::Committed {
                    digest: hex::encode(digest),
                    salt: hex::encode(salt),
                    output,
                    local: local.clone(),
                };
                // On disk before on chain: a restart must find the salt.
                let mut ledger = self.ledger.clone();
                ledger.tasks.insert(task.id, phase.clone());
                clusterai_types::files::write_atomic(
                    &self.path,
                    &serde_json::to_vec(&ledger).expect("json"),
                )
                .map_err(|e| ChainError::Rejected {
                    reason: format!("cannot save the commitment: {e}"),
                })?;
                self.chain
                    .commit(task.id, commitment(&digest, &salt, me))
                    .await?;
                tracing::info!(task = task.id, %output, "committed");
                Ok(Step::Moved(phase))
            }
            // The commitment was saved but did not reach the chain: send it again.
            Some(Phase::Committed {
                digest,
                salt,
                output,
                local,
            }) => {
                let d = hex32(&digest)?;
                let s = hex::decode(&salt).map_err(|e| malformed("salt", e))?;
                self.chain.commit(task.id, commitment(&d, &s, me)).await?;
                Ok(Step::Moved(Phase::Committed {
                    digest,
                    salt,
                    output,
                    local,
                }))
            }
            Some(Phase::Declined { reason }) => {
                // The decline did not reach the chain: send it again.
                self.decline(task, reason).await
            }
            Some(Phase::Revealed { .. }) | Some(Phase::Done) => Ok(Step::Wait),
        }
    }

    /// The hash a finished local task votes with: of its output in the
    /// canonical form its plugin declares (exact bytes by default).
    async fn voted_hash(&self, record: &crate::task::TaskRecord) -> Result<ContentHash, String> {
        let success = record.success().expect("a succeeded task");
        let form = self.canonical_form(record.plugin).await?;
        let jitter = self.options.behaviour == Behaviour::Jitter;
        if form == Canonical::Exact && !jitter {
            return Ok(success.output);
        }
        let mut output = self
            .node
            .output(record)
            .await
            .map_err(|e| format!("the output cannot be read: {}", refusal_text(&e)))?;
        if jitter {
            output = jittered(&output);
        }
        Ok(ContentHash::of(&form.apply(&output)?))
    }

    /// The canonical form plugin `plugin` declares.
    async fn canonical_form(&self, plugin: ContentHash) -> Result<Canonical, String> {
        let info = self
            .node
            .plugin_record(plugin)
            .await
            .map_err(|e| format!("plugin {plugin}: {}", refusal_text(&e)))?;
        Canonical::of_output_type(&info.output_type)
    }

    /// Sends the output and receipt of local task `local` to the task's
    /// providers, in the background: the first that takes it is enough.
    /// Best effort: the chain has settled on the digest whether or not the
    /// buyer is still there to take the bytes.
    fn deliver(&self, task: &TaskResponse, local: &str) {
        let TaskInput::Hash { providers, .. } = &task.input else {
            return;
        };
        let providers: Vec<Provider> = providers.iter().filter_map(|p| p.parse().ok()).collect();
        if providers.is_empty() || local.is_empty() {
            return;
        }
        let node = self.node.clone();
        let (task_id, local) = (task.id, local.to_owned());
        let chain_id = self.chain.deployment().chain_id.clone();
        tokio::spawn(async move {
            let Ok(record) = node.task(&Caller { token: None }, &local) else {
                return;
            };
            let Some(success) = record.success() else {
                return;
            };
            let output = match node.output(&record).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(
                        task = task_id,
                        error = refusal_text(&e),
                        "no output to deliver"
                    );
                    return;
                }
            };
            let canonical = match node.plugin_record(record.plugin).await {
                Ok(info) => Canonical::of_output_type(&info.output_type).unwrap_or_default(),
                Err(_) => Canonical::Exact,
            };
            let header = DeliveryHeader {
                chain_id,
                task_id,
                content_type: success.content_type.clone(),
                canonical: canonical.to_string(),
                receipt: success.receipt.clone(),
            };
            for to in &providers {
                match results::deliver(node.blobs.endpoint(), to, &header, &output).await {
                    Ok(()) => {
                        tracing::info!(task = task_id, %to, "result delivered");
                        return;
                    }
                    Err(e) => tracing::warn!(task = task_id, error = %e, "result not delivered"),
                }
            }
        });
    }

    /// How long before the commit deadline a commitment must be on its way:
    /// two blocks and a poll.
    fn margin_ns(&self) -> u64 {
        let block = self.chain.deployment().block_time_ms.max(1) * 1_000_000;
        2 * block + self.options.poll.as_nanos() as u64
    }

    /// Whether the local run of a `Running` phase has ended.
    fn finished(&self, phase: &Option<Phase>) -> bool {
        match phase {
            Some(Phase::Running { local }) => self
                .node
                .task(&Caller { token: None }, local)
                .map(|r| r.state.is_final())
                .unwrap_or(true),
            _ => true,
        }
    }

    async fn decline(&self, task: &TaskResponse, reason: String) -> Result<Step, ChainError> {
        tracing::warn!(task = task.id, %reason, "declining");
        self.chain.decline(task.id).await?;
        Ok(Step::Moved(Phase::Declined { reason }))
    }

    /// Fetches what the task needs and this node lacks from the task's
    /// providers (verified on the way in), then hands the task to the
    /// node's own queue; the reason it cannot otherwise.
    async fn obtain_and_submit(&self, task: &TaskResponse) -> Result<String, String> {
        let needs = TaskBlobs::of(task)?;
        // Fetching must leave time to run and commit.
        let now = self
            .chain
            .status()
            .await
            .map_err(|e| format!("the chain is unavailable: {e}"))?
            .time_ns;
        let left = deadline_of(task.commit_deadline)
            .saturating_sub(now)
            .saturating_sub(self.margin_ns());
        let fetching = self.obtain(&needs);
        match tokio::time::timeout(Duration::from_nanos(left), fetching).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(format!(
                    "fetching the task's blobs did not finish within the {} ms before its commit deadline",
                    left / 1_000_000
                ));
            }
        }
        self.submit(task, &needs).await
    }

    /// Makes the plugin, models and input held here: each one missing is
    /// fetched from the task's providers and, for plugins and models,
    /// checked by loading it as an upload would be.
    async fn obtain(&self, needs: &TaskBlobs) -> Result<(), String> {
        let missing_plugin = matches!(
            self.node.plugin_record(needs.plugin).await,
            Err(Refusal::NotFound(_))
        );
        if missing_plugin {
            let wasm = self.fetch(needs, "plugin", needs.plugin).await?;
            self.node
                .add_plugin(wasm)
                .await
                .map_err(|e| format!("plugin {}: {}", needs.plugin, refusal_text(&e)))?;
        }
        for &m in &needs.models {
            if matches!(self.node.model(m).await, Err(Refusal::NotFound(_))) {
                let bytes = self.fetch(needs, "model", m).await?;
                self.node
                    .add_model(bytes)
                    .await
                    .map_err(|e| format!("model {m}: {}", refusal_text(&e)))?;
            }
        }
        if let Some(input) = needs.input_hash {
            let held = self
                .node
                .store()
                .has(input)
                .await
                .map_err(|e| format!("the blob store: {e}"))?;
            if !held {
                self.fetch(needs, "input", input).await?;
            }
        }
        Ok(())
    }

    /// Fetches `hash` (the task's `what`) from the task's providers.
    async fn fetch(
        &self,
        needs: &TaskBlobs,
        what: &str,
        hash: ContentHash,
    ) -> Result<Vec<u8>, String> {
        if needs.providers.is_empty() {
            return Err(format!(
                "{what} {hash} is not held by this node and the task names no provider"
            ));
        }
        tracing::info!(%hash, what, providers = needs.providers.len(), "fetching");
        let report = self
            .node
            .blobs
            .fetcher(FetchOptions::default())
            .fetch(hash, BlobFormat::Raw, &needs.providers)
            .await
            .map_err(|e| format!("cannot fetch {what} {hash}: {e}"))?;
        tracing::info!(%hash, what, bytes = report.downloaded, secs = report.elapsed_secs, "fetched");
        let bytes = self
            .node
            .store()
            .read(hash)
            .await
            .map_err(|e| format!("{what} {hash} fetched but unreadable: {e}"))?;
        Ok(bytes.to_vec())
    }

    /// Hands the task to the node's own queue; the reason it cannot otherwise.
    async fn submit(&self, task: &TaskResponse, needs: &TaskBlobs) -> Result<String, String> {
        let plugin = needs.plugin;
        let input = match (&task.input, needs.input_hash) {
            (TaskInput::Inline { data }, _) => data.to_vec(),
            (TaskInput::Hash { .. }, Some(hash)) => self
                .node
                .store()
                .read(hash)
                .await
                .map_err(|e| format!("input {hash} is not held by this node: {e}"))?
                .to_vec(),
            (TaskInput::Hash { .. }, None) => unreachable!("a hash input has its hash"),
        };
        let models = needs.models.clone();
        // The market carries bytes without a content type: text when they
        // are UTF-8 (as plugins that read text expect), bytes otherwise.
        let input = match String::from_utf8(input) {
            Ok(text) => InputBody {
                text: Some(text),
                ..InputBody::default()
            },
            Err(e) => InputBody {
                base64: Some(base64::engine::general_purpose::STANDARD.encode(e.as_bytes())),
                ..InputBody::default()
            },
        };
        let request = SubmitTask {
            plugin,
            input,
            content_type: None,
            params: BTreeMap::new(),
            models,
            limits: Default::default(),
            // A restarted node that submits again gets the same local task.
            idempotency_key: Some(format!(
                "chain/{}/{}/{}",
                self.chain.deployment().chain_id,
                task.id,
                task.reexecution
            )),
        };
        match self.node.submit(&Caller { token: None }, request).await {
            Ok((record, _)) => Ok(record.id),
            Err(Refusal::TooMany { message, .. }) => Err(format!("the node is full: {message}")),
            Err(e) => Err(refusal_text(&e).to_owned()),
        }
    }
}

/// The blobs a task names, and where to fetch those this node lacks.
struct TaskBlobs {
    plugin: ContentHash,
    models: Vec<ContentHash>,
    /// The input's hash, unless it is carried inline.
    input_hash: Option<ContentHash>,
    providers: Vec<Provider>,
}

impl TaskBlobs {
    /// Reads them from the task; a malformed hash is a reason to decline,
    /// a malformed provider is only skipped (the others may serve).
    fn of(task: &TaskResponse) -> Result<Self, String> {
        let hash = |what: &str, h: &[u8]| {
            <[u8; 32]>::try_from(h)
                .map(ContentHash::from_bytes)
                .map_err(|_| format!("the {what} hash is not 32 bytes"))
        };
        let plugin = hash("plugin", task.plugin.as_slice())?;
        let models = task
            .models
            .iter()
            .map(|m| hash("model", m.as_slice()))
            .collect::<Result<_, _>>()?;
        let (input_hash, providers) = match &task.input {
            TaskInput::Inline { .. } => (None, Vec::new()),
            TaskInput::Hash { hash: h, providers } => {
                let parsed = providers
                    .iter()
                    .filter_map(|p| match p.parse::<Provider>() {
                        Ok(p) => Some(p),
                        Err(e) => {
                            tracing::warn!(task = task.id, error = %e, "skipping a provider");
                            None
                        }
                    })
                    .collect();
                (Some(hash("input", h.as_slice())?), parsed)
            }
        };
        Ok(TaskBlobs {
            plugin,
            models,
            input_hash,
            providers,
        })
    }
}

fn deadline_of(t: Option<cosmwasm_std::Timestamp>) -> u64 {
    t.map_or(0, |t| t.nanos())
}

/// `output` with every JSON number nudged by a part in ten million (the
/// bytes as they are when they are not JSON).
fn jittered(output: &[u8]) -> Vec<u8> {
    fn nudge(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let x = n.as_f64().expect("an f64") * (1.0 + 1e-7);
                if let Some(n) = serde_json::Number::from_f64(x) {
                    *v = serde_json::Value::Number(n);
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(nudge),
            serde_json::Value::Object(o) => o.values_mut().for_each(nudge),
            _ => {}
        }
    }
    match serde_json::from_slice::<serde_json::Value>(output) {
        Ok(mut v) => {
            nudge(&mut v);
            serde_json::to_vec(&v).expect("JSON values serialise")
        }
        Err(_) => output.to_vec(),
    }
}

fn malformed(what: &str, e: impl std::fmt::Display) -> ChainError {
    ChainError::Malformed {
        reason: format!("{what}: {e}"),
    }
}

fn hex32(s: &str) -> Result<[u8; 32], ChainError> {
    hex::decode(s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| malformed("digest", "not 32 bytes of hex"))
}

fn seed(task: &TaskResponse) -> Result<[u8; 32], ChainError> {
    task.seed
        .as_ref()
        .and_then(|s| s.as_slice().try_into().ok())
        .ok_or_else(|| malformed("seed", "an open task without a 32-byte seed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_changes_the_bytes_but_not_the_rounded_form() {
        let out = br#"[{"label":"cat","score":0.583333333}]"#;
        let nudged = jittered(out);
        assert_ne!(Canonical::Exact.apply(out), Canonical::Exact.apply(&nudged));
        let r3 = Canonical::Round(3);
        assert_eq!(r3.apply(out).unwrap(), r3.apply(&nudged).unwrap());
        assert_eq!(jittered(b"not json"), b"not json");
    }

    #[test]
    fn done_tasks_before_the_oldest_in_play_are_forgotten() {
        let mut ledger = Ledger::default();
        let running = Phase::Running { local: "x".into() };
        for (id, phase) in [
            (3, Phase::Done),
            (5, Phase::Done),
            (8, running.clone()),
            (9, Phase::Done),
        ] {
            ledger.tasks.insert(id, phase);
        }
        ledger.prune();
        assert_eq!(ledger.done_through, Some(5));
        assert_eq!(ledger.tasks.keys().copied().collect::<Vec<_>>(), [8, 9]);
        ledger.tasks.insert(8, Phase::Done);
        ledger.prune();
        assert_eq!(ledger.done_through, Some(9));
        assert!(ledger.tasks.is_empty());
        // A file written before `done_through` existed still reads.
        let old: Ledger = serde_json::from_str(r#"{"tasks":{"4":"done"}}"#).unwrap();
        assert_eq!(old.done_through, None);
        assert_eq!(old.tasks[&4], Phase::Done);
    }
}
