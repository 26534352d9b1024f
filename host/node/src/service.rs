//! The node: the runtime with its capabilities, the blob store on its iroh
//! endpoint, the task database, the scheduler and the workers, wired
//! together. The HTTP API ([`crate::api`]) is a thin layer over this.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use clusterai_nn::{InputLimits, ModelInfo, NnHost, NnSettings};
use clusterai_runtime::{LoadError, Plugin, RuntimeConfig};
use clusterai_store::{AllowList, BlobStore, Node as BlobNode, NodeConfig as BlobNodeConfig};
use clusterai_types::{ContentHash, PolicyRequest, env};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Auth, Caller, Denied};
use crate::config::{self, NodeConfig};
use crate::db::{TaskDb, Write};
use crate::events::{Events, TaskEvent};
use crate::metrics::Metrics;
use crate::registry::{self, MODEL_TAG, PLUGIN_TAG, PluginRecord};
use crate::scheduler::Scheduler;
use crate::task::{Outcome, TaskFailure, TaskRecord, TaskState, new_task_id, now_ms};

/// Inputs up to this size stay in the task database (and in memory while
/// queued); larger ones go to the blob store.
const INLINE_INPUT_BYTES: usize = 1 << 20;

/// A buyer's task, as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitTask {
    /// The plugin, by hash (upload it first with `POST /v1/plugins`).
    pub plugin: ContentHash,
    /// The input.
    pub input: InputBody,
    /// The input's content type (default `text/plain` for text,
    /// `application/octet-stream` otherwise).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Named parameters for the plugin.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// Models the task pays for and the plugin may open, beside those it
    /// declares.
    #[serde(default)]
    pub models: Vec<ContentHash>,
    /// Limits to lower (never raise) from the node's.
    #[serde(default)]
    pub limits: PolicyRequest,
    /// A key that makes a retried submission return the task it made
    /// the first time (and refuses a different request under the same key).
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A task's input: exactly one of the fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputBody {
    /// UTF-8 text.
    #[serde(default)]
    pub text: Option<String>,
    /// Bytes, base64 (standard alphabet, padded).
    #[serde(default)]
    pub base64: Option<String>,
    /// A blob this node holds, by hash.
    #[serde(default)]
    pub blob: Option<ContentHash>,
}

/// Why the node refused or could not do something: a kind the API maps to
/// a status, and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request is malformed or makes no sense (400).
    BadRequest(String),
    /// Something it names is not here (404).
    NotFound(String),
    /// It conflicts with the state of things (409).
    Conflict(String),
    /// Too large (413).
    TooLarge(String),
    /// Well-formed but unusable (422).
    Unprocessable(String),
    /// Over a rate, a quota or the queue (429).
    TooMany {
        /// What is over.
        message: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// The node cannot take it now (503).
    Unavailable(String),
    /// The node failed (500); the message is logged, not shown.
    Internal(String),
}

impl From<Denied> for Refusal {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Unauthorized(m) => Refusal::BadRequest(m.into()),
            Denied::RateLimited(after) => Refusal::TooMany {
                message: "over this token's request rate".into(),
                retry_after: after,
            },
            Denied::QuotaExceeded(after) => Refusal::TooMany {
                message: "over this token's daily task quota".into(),
                retry_after: after,
            },
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    Refusal::Internal(e.to_string())
}

/// How a plugin that did not load is refused: for what its bytes are
/// (422), or for the node's state now, which a later try may not meet: a
/// describe() out of time on a busy node (503), or the same bytes tried
/// again within the runtime's wait after such a timeout (429, with how
/// long is left).
fn load_refusal(e: &LoadError) -> Refusal {
    match e {
        LoadError::TimedOutRecently { retry_in, .. } => Refusal::TooMany {
            message: e.to_string(),
            retry_after: *retry_in,
        },
        e if e.is_describe_timeout() => Refusal::Unavailable(e.to_string()),
        e => Refusal::Unprocessable(e.to_string()),
    }
}

/// A task queued or running, held in memory.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) record: TaskRecord,
    /// The input when small (larger ones are read when the task runs).
    pub(crate) input: Option<Arc<Vec<u8>>>,
    pub(crate) running: bool,
    pub(crate) cancel: bool,
}

/// What the dashboard and `/v1/node` show of the node.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeInfo {
    /// The node id: its ed25519 public key, which signs its receipts.
    pub node_id: String,
    /// The node software's version.
    pub version: String,
    /// Where other nodes fetch its blobs: `NODE_ID@IP:PORT`.
    pub iroh_addr: String,
    /// The execution provider its models run on (`none` without inference).
    pub execution_provider: clusterai_types::ExecutionProvider,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Whether it is ready (see `/readyz`).
    pub ready: bool,
    /// Workers (tasks that run at once).
    pub workers: usize,
    /// Tasks accepted and not finished, at most.
    pub queue_capacity: usize,
    /// The most any task may use.
    pub limits: clusterai_types::TaskPolicy,
}

/// The node.
pub struct Node {
    pub(crate) config: NodeConfig,
    pub(crate) runtime: clusterai_runtime::Runtime,
    pub(crate) nn: Option<NnHost>,
    pub(crate) blobs: BlobNode,
    pub(crate) db: TaskDb,
    pub(crate) scheduler: Scheduler,
    pub(crate) events: Events,
    pub(crate) metrics: Metrics,
    pub(crate) auth: Auth,
    pub(crate) plugins: RwLock<HashMap<ContentHash, Plugin>>,
    pub(crate) pending: Mutex<HashMap<String, Pending>>,
    /// Idempotency keys being accepted right now (two racing requests with
    /// one key make one task).
    in_flight_keys: Mutex<HashSet<String>>,
    pub(crate) running: AtomicUsize,
    started: Instant,
    node_id: String,
    readiness: RwLock<Result<(), String>>,
    pub(crate) shutting_down: AtomicBool,
    workers: usize,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts a node: opens the blob store and iroh endpoint, ONNX Runtime,
    /// the runtime, the task database; re-queues tasks a previous run left
    /// unfinished; adds the preloaded files; starts the workers and the
    /// clean-up. Must run inside a multi-threaded tokio runtime.
    pub async fn start(config: NodeConfig) -> anyhow::Result<Arc<Self>> {
        let data = config.data_dir();
        std::fs::create_dir_all(&data)?;
        let mut allow = AllowList::new();
        for id in &config.iroh.allow {
            allow = allow.with_peers([id.parse::<iroh::EndpointId>()?]);
        }
        let mut blob_config = BlobNodeConfig::new(&data);
        blob_config.bind = config.iroh.bind;
        let blobs = BlobNode::spawn(blob_config, allow).await?;
        let node_id = blobs.node_id().to_string();

        let workers = config.workers();
        let (nn, readiness) = if config.inference.enabled {
            let source = clusterai_store::StoreSource::new(
                blobs.store().clone(),
                tokio::runtime::Handle::current(),
            );
            let mut settings = NnSettings {
                model_source: Some(Arc::new(source)),
                intra_op_threads: config.inference.intra_op_threads,
                sessions_per_model: config.inference.sessions_per_model,
                accelerator: match config.inference.accelerator {
                    config::Accelerator::Cpu => clusterai_nn::Accelerator::Cpu,
                    config::Accelerator::Cuda => clusterai_nn::Accelerator::Cuda {
                        device_id: config.inference.cuda_device,
                    },
                },
                cuda_fallback: match config.inference.cuda_fallback {
                    config::CudaFallback::Error => clusterai_nn::CudaFallback::Error,
                    config::CudaFallback::Cpu => clusterai_nn::CudaFallback::UseCpu,
                },
                allow_undeclared_models: config.inference.allow_undeclared_models,
                ..NnSettings::default()
            };
            for l in &config.inference.model_limits {
                // Checked by the config's validation.
                let hash = l.model.parse()?;
                let limits = l
                    .inputs
                    .iter()
                    .fold(InputLimits::new(), |acc, (name, dims)| {
                        acc.with(name.clone(), dims.clone())
                    });
                settings.input_limits.insert(hash, limits);
            }
            match NnHost::new(settings) {
                Ok(nn) => (Some(nn), Ok(())),
                Err(e) => {
                    tracing::error!(error = %e, "inference is unavailable");
                    (None, Err(format!("ONNX Runtime is not loaded: {e}")))
                }
            }
        } else {
            (None, Ok(()))
        };
        let runtime = crate::compose::runtime(
            RuntimeConfig {
                cache_dir: Some(env::compiled_dir()),
                // Workers, plus room for plugins being described at upload.
                max_concurrent_tasks: (workers + 2) as u32,
                max_memory_bytes: config.limits.memory_bytes.max(64 << 20),
                policy: config.limits.clone(),
                ..RuntimeConfig::default()
            },
            nn.clone(),
        )?;
        let db = TaskDb::open(&env::tasks_db(&data))?;
        let node = Arc::new(Self {
            scheduler: Scheduler::new(config.queue.capacity as usize),
            auth: Auth::new(&config.auth.tokens),
            config,
            runtime,
            nn,
            blobs,
            db,
            events: Events::default(),
            metrics: Metrics::new(),
            plugins: RwLock::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            in_flight_keys: Mutex::new(HashSet::new()),
            running: AtomicUsize::new(0),
            started: Instant::now(),
            node_id,
            readiness: RwLock::new(readiness),
            shutting_down: AtomicBool::new(false),
            workers,
        });
        node.recover().await?;
        node.preload().await?;
        for _ in 0..workers {
            tokio::spawn(node.clone().worker());
        }
        tokio::spawn(node.clone().clean_up());
        tracing::info!(node = %node.node_id, workers, "node started");
        Ok(node)
    }

    /// The node id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The config it runs with.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The blob store.
    pub fn store(&self) -> &BlobStore {
        self.blobs.store()
    }

    /// The access control.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Ready to serve: `Err` says why not.
    pub fn readiness(&self) -> Result<(), String> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err("the node is shutting down".into());
        }
        self.readiness
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-queues what a previous run left unfinished; fails what was
    /// interrupted too often.
    async fn recover(&self) -> anyhow::Result<()> {
        let unfinished = self.db.unfinished()?;
        let mut failed = Vec::new();
        for mut record in unfinished {
            if record.state == TaskState::Running
                && record.attempts >= self.config.queue.max_attempts
            {
                record.state = TaskState::Failed;
                record.finished_ms = Some(now_ms());
                record.outcome = Some(Outcome::Failure(TaskFailure {
                    kind: "interrupted".into(),
                    message: format!(
                        "the node stopped while this task ran, {} times; it is not run again",
                        record.attempts
                    ),
                }));
                failed.push(Write::Task(Box::new(record)));
                continue;
            }
            tracing::info!(task = %record.id, attempts = record.attempts, "re-queued after a restart");
            record.state = TaskState::Queued;
            self.scheduler.admit_recovered();
            let (plugin, id) = (record.plugin, record.id.clone());
            self.lock_pending().insert(
                id.clone(),
                Pending {
                    record,
                    input: None,
                    running: false,
                    cancel: false,
                },
            );
            self.scheduler.push(plugin, id);
        }
        if !failed.is_empty() {
            self.db.write(failed, true).await?;
        }
        Ok(())
    }

    /// Adds the config's preloaded plugins and models.
    async fn preload(&self) -> anyhow::Result<()> {
        for path in self.config.preload.models.clone() {
            let bytes = read(&path)?;
            self.add_model(bytes).await.map_err(|e| {
                anyhow::anyhow!("preloading model {}: {}", path.display(), refusal_text(&e))
            })?;
        }
        for path in self.config.preload.plugins.clone() {
            let bytes = read(&path)?;
            self.add_plugin(bytes).await.map_err(|e| {
                anyhow::anyhow!("preloading plugin {}: {}", path.display(), refusal_text(&e))
            })?;
        }
        Ok(())
    }

    pub(crate) fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a plugin: refused (and nothing stored) unless it loads here.
    pub async fn add_plugin(&self, wasm: Vec<u8>) -> Result<PluginRecord, Refusal> {
        let (plugin, record) = registry::add_plugin(&self.runtime, self.store(), wasm)
            .await
            .map_err(|e| match e {
                registry::RegistryError::Plugin(e) => load_refusal(&e),
                other => internal(other),
            })?;
        self.metrics
            .plugin_loaded(cache_name(plugin.cache_outcome()));
        self.plugins
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(plugin.hash(), plugin);
        Ok(record)
    }

    /// Adds a model: refused (and nothing stored) unless ONNX Runtime opens it.
    pub async fn add_model(&self, bytes: Vec<u8>) -> Result<ModelInfo, Refusal> {
        let nn = self
            .nn
            .as_ref()
            .ok_or_else(|| Refusal::Conflict("inference is not available on this node".into()))?;
        registry::add_model(nn, self.store(), bytes)
            .await
            .map_err(|e| match e {
                registry::RegistryError::Model(e) => Refusal::Unprocessable(e.to_string()),
                other => internal(other),
            })
    }

    /// The plugins held.
    pub async fn plugins(&self) -> Result<Vec<PluginRecord>, Refusal> {
        registry::records(self.store(), PLUGIN_TAG)
            .await
            .map_err(internal)
    }

    /// One plugin's record.
    pub async fn plugin_record(&self, hash: ContentHash) -> Result<PluginRecord, Refusal> {
        registry::record(self.store(), PLUGIN_TAG, hash)
            .await
            .map_err(internal)?
            .ok_or_else(|| Refusal::NotFound(format!("no plugin {hash} on this node")))
    }

    /// The models held.
    pub async fn models(&self) -> Result<Vec<ModelInfo>, Refusal> {
        registry::records(self.store(), MODEL_TAG)
            .await
            .map_err(internal)
    }

    /// One model's record.
    pub async fn model(&self, hash: ContentHash) -> Result<ModelInfo, Refusal> {
        registry::record(self.store(), MODEL_TAG, hash)
            .await
            .map_err(internal)?
            .ok_or_else(|| Refusal::NotFound(format!("no model {hash} on this node")))
    }

    /// The loaded plugin `hash`: from memory, else from the store (loaded
    /// through the compile cache).
    pub async fn plugin(&self, hash: ContentHash) -> Result<Plugin, Refusal> {
        if let Some(p) = self
            .plugins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
        {
            return Ok(p.clone());
        }
        if registry::record::<PluginRecord>(self.store(), PLUGIN_TAG, hash)
            .await
            .map_err(internal)?
            .is_none()
        {
            return Err(Refusal::NotFound(format!(
                "no plugin {hash} on this node; upload it with POST /v1/plugins"
            )));
        }
        let wasm = self.store().read(hash).await.map_err(internal)?;
        let runtime = self.runtime.clone();
        let plugin = tokio::task::spawn_blocking(move || runtime.load(&wasm))
            .await
            .map_err(internal)?
            .map_err(|e| Refusal::Unprocessable(format!("plugin {hash} does not load: {e}")))?;
        self.metrics
            .plugin_loaded(cache_name(plugin.cache_outcome()));
        self.plugins
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, plugin.clone());
        Ok(plugin)
    }

    /// Accepts a task: checks it, stores it durably, queues it. Returns the
    /// record and whether it already existed (a repeated idempotency key).
    pub async fn submit(
        &self,
        caller: &Caller,
        req: SubmitTask,
    ) -> Result<(TaskRecord, bool), Refusal> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(Refusal::Unavailable("the node is shutting down".into()));
        }
        let plugin = self.plugin(req.plugin).await?;
        let policy = self
            .config
            .limits
            .apply(&req.limits, &req.models)
            .map_err(|e| Refusal::BadRequest(format!("limits: {e}")))?;
        let (data, default_type) = self.input_bytes(&req.input).await?;
        if data.len() as u64 > policy.max_input_bytes {
            return Err(Refusal::TooLarge(format!(
                "the input is {} bytes, over the limit of {} bytes",
                data.len(),
                policy.max_input_bytes
            )));
        }
        for m in &req.models {
            if !self.store().has(*m).await.map_err(internal)? {
                return Err(Refusal::NotFound(format!(
                    "no model {m} on this node; upload it with POST /v1/models"
                )));
            }
        }
        let content_type = req
            .content_type
            .clone()
            .unwrap_or_else(|| default_type.into());
        if content_type.len() > 255 || content_type.chars().any(|c| c.is_control()) {
            return Err(Refusal::BadRequest(
                "content_type must be at most 255 characters without control characters".into(),
            ));
        }
        let input_hash = ContentHash::of(&data);
        let digest = request_digest(&req, input_hash, &content_type);

        let key = match &req.idempotency_key {
            Some(k) if k.is_empty() || k.len() > 256 => {
                return Err(Refusal::BadRequest(
                    "idempotency_key must be 1 to 256 characters".into(),
                ));
            }
            Some(k) => Some(format!("{}\n{k}", caller.token.as_deref().unwrap_or(""))),
            None => None,
        };
        let _key_guard = match &key {
            Some(k) => {
                let guard = KeyGuard::take(&self.in_flight_keys, k).ok_or_else(|| {
                    Refusal::Conflict(
                        "a request with this idempotency key is being accepted".into(),
                    )
                })?;
                if let Some(id) = self.db.idempotent(k).map_err(internal)? {
                    let existing = self
                        .db
                        .task(&id)
                        .map_err(internal)?
                        .ok_or_else(|| internal("an idempotency key names a missing task"))?;
                    if existing.request_digest == digest {
                        return Ok((existing, true));
                    }
                    return Err(Refusal::Conflict(format!(
                        "idempotency key {:?} was used for a different request (task {})",
                        req.idempotency_key.as_deref().unwrap_or(""),
                        existing.id
                    )));
                }
                Some(guard)
            }
            None => None,
        };
        self.auth.charge_task(caller)?;
        if !self.scheduler.admit() {
            self.metrics.rejected();
            return Err(Refusal::TooMany {
                message: format!(
                    "the queue is full ({} tasks accepted and not finished)",
                    self.scheduler.capacity()
                ),
                retry_after: Duration::from_secs(1),
            });
        }
        let id = new_task_id();
        let input_in_blobs = data.len() > INLINE_INPUT_BYTES;
        let record = TaskRecord {
            id: id.clone(),
            seq: self.db.next_seq(),
            state: TaskState::Queued,
            plugin: plugin.hash(),
            plugin_name: plugin.info().name.clone(),
            input: input_hash,
            input_size: data.len() as u64,
            input_in_blobs,
            content_type,
            params: req.params.into_iter().collect(),
            policy,
            owner: caller.token.clone(),
            idempotency_key: req.idempotency_key.clone(),
            request_digest: digest,
            created_ms: now_ms(),
            started_ms: None,
            finished_ms: None,
            attempts: 0,
            outcome: None,
        };
        let data = Arc::new(data);
        let mut writes = vec![Write::Task(Box::new(record.clone()))];
        if input_in_blobs {
            let kept = match self.store().import_bytes(data.as_ref().clone()).await {
                Ok(_) => self.store().sync().await,
                Err(e) => Err(e),
            };
            if let Err(e) = kept {
                self.scheduler.release();
                return Err(internal(e));
            }
        } else {
            writes.push(Write::Input(id.clone(), data.as_ref().clone()));
        }
        if let Some(k) = &key {
            writes.push(Write::Idempotency(k.clone(), id.clone()));
        }
        if let Err(e) = self.db.write(writes, true).await {
            self.scheduler.release();
            return Err(internal(e));
        }
        self.lock_pending().insert(
            id.clone(),
            Pending {
                record: record.clone(),
                input: (!input_in_blobs).then_some(data),
                running: false,
                cancel: false,
            },
        );
        self.events.send(
            &id,
            TaskEvent::Queued {
                at_ms: record.created_ms,
            },
        );
        self.scheduler.push(record.plugin, id);
        Ok((record, false))
    }

    async fn input_bytes(&self, input: &InputBody) -> Result<(Vec<u8>, &'static str), Refusal> {
        use base64::Engine as _;
        match (&input.text, &input.base64, &input.blob) {
            (Some(t), None, None) => Ok((t.as_bytes().to_vec(), "text/plain")),
            (None, Some(b), None) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map(|d| (d, "application/octet-stream"))
                .map_err(|e| Refusal::BadRequest(format!("input.base64 is not base64: {e}"))),
            (None, None, Some(h)) => match self.store().read(*h).await {
                Ok(b) => Ok((b.to_vec(), "application/octet-stream")),
                Err(clusterai_store::StoreError::NotFound(_)) => Err(Refusal::NotFound(format!(
                    "input.blob: no blob {h} on this node"
                ))),
                Err(e) => Err(internal(e)),
            },
            _ => Err(Refusal::BadRequest(
                "input must have exactly one of text, base64 or blob".into(),
            )),
        }
    }

    /// The record of task `id`, if `caller` may see it.
    pub fn task(&self, caller: &Caller, id: &str) -> Result<TaskRecord, Refusal> {
        if !crate::task::is_task_id(id) {
            return Err(Refusal::BadRequest(format!(
                "{id:?} is not a task id (32 lowercase hex characters)"
            )));
        }
        let record = self.lock_pending().get(id).map(|p| p.record.clone());
        let record = match record {
            Some(r) => r,
            None => self
                .db
                .task(id)
                .map_err(internal)?
                .ok_or_else(|| Refusal::NotFound(format!("no task {id}")))?,
        };
        if caller.token.is_some() && record.owner != caller.token {
            return Err(Refusal::NotFound(format!("no task {id}")));
        }
        Ok(record)
    }

    /// The output bytes of a succeeded task.
    pub async fn output(&self, record: &TaskRecord) -> Result<Vec<u8>, Refusal> {
        let Some(s) = record.success() else {
            return Err(Refusal::Conflict(format!(
                "task {} has no output: it is {}",
                record.id,
                record.state.as_str()
            )));
        };
        if s.output_in_blobs {
            return self
                .store()
                .read(s.output)
                .await
                .map(|b| b.to_vec())
                .map_err(internal);
        }
        self.db
            .output(&record.id)
            .map_err(internal)?
            .ok_or_else(|| internal(format!("the output of task {} is missing", record.id)))
    }

    /// Tasks newest first: `state` filters, `before` pages (an acceptance
    /// number from a previous page), at most `limit`.
    pub fn list(
        &self,
        caller: &Caller,
        state: Option<TaskState>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, Refusal> {
        let pending: HashMap<String, TaskRecord> = self
            .lock_pending()
            .iter()
            .map(|(k, p)| (k.clone(), p.record.clone()))
            .collect();
        self.db
            .list(before, limit, |r| {
                let state_now = pending.get(&r.id).map_or(r.state, |p| p.state);
                (caller.token.is_none() || r.owner == caller.token)
                    && state.is_none_or(|s| s == state_now)
            })
            .map(|list| {
                list.into_iter()
                    .map(|r| pending.get(&r.id).cloned().unwrap_or(r))
                    .collect()
            })
            .map_err(internal)
    }

    /// Cancels a task: a queued one at once, a running one when its run
    /// returns (its output is then discarded).
    pub async fn cancel(&self, caller: &Caller, id: &str) -> Result<TaskRecord, Refusal> {
        let record = self.task(caller, id)?;
        if record.state.is_final() {
            return Err(Refusal::Conflict(format!(
                "task {id} is already {}",
                record.state.as_str()
            )));
        }
        let queued = {
            let mut pending = self.lock_pending();
            let Some(p) = pending.get_mut(id) else {
                return Err(Refusal::Conflict(format!("task {id} is finishing")));
            };
            if p.running {
                p.cancel = true;
                None
            } else if self.scheduler.remove(p.record.plugin, id) {
                pending.remove(id).map(|p| p.record)
            } else {
                p.cancel = true;
                None
            }
        };
        match queued {
            Some(mut record) => {
                record.state = TaskState::Cancelled;
                record.finished_ms = Some(now_ms());
                self.db
                    .write(vec![Write::Task(Box::new(record.clone()))], true)
                    .await
                    .map_err(internal)?;
                self.scheduler.finished();
                self.events.send(
                    id,
                    TaskEvent::Finished {
                        at_ms: now_ms(),
                        state: TaskState::Cancelled,
                        error: None,
                    },
                );
                Ok(record)
            }
            None => self.task(caller, id),
        }
    }

    /// What the node is.
    pub fn info(&self) -> NodeInfo {
        let addr = self.blobs.addr();
        let ips: Vec<String> = addr.ip_addrs().map(|a| a.to_string()).collect();
        let provider = match (&self.nn, self.config.inference.accelerator) {
            (None, _) => clusterai_types::ExecutionProvider::None,
            (Some(_), config::Accelerator::Cpu) => clusterai_types::ExecutionProvider::Cpu,
            (Some(_), config::Accelerator::Cuda) => clusterai_types::ExecutionProvider::Cuda,
        };
        NodeInfo {
            node_id: self.node_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            iroh_addr: format!("{}@{}", self.node_id, ips.join(",")),
            execution_provider: provider,
            uptime_secs: self.started.elapsed().as_secs(),
            ready: self.readiness().is_ok(),
            workers: self.workers,
            queue_capacity: self.scheduler.capacity(),
            limits: self.config.limits.clone(),
        }
    }

    /// Counts by state: the unfinished from memory, the finished from the
    /// metrics since start.
    pub fn queue_counts(&self) -> (usize, usize) {
        let (queued, _) = self.scheduler.counts();
        (queued, self.running.load(Ordering::Relaxed))
    }

    /// Updates the gauges before a scrape.
    pub fn refresh_metrics(&self) {
        let (queued, running) = self.queue_counts();
        self.metrics
            .set_state(queued, running, self.blobs.bytes_served());
    }

    /// Follows task `id`'s events.
    pub fn subscribe(&self, id: &str) -> tokio::sync::broadcast::Receiver<TaskEvent> {
        self.events.subscribe(id)
    }

    /// Stops taking tasks, lets running ones finish for up to `grace` (the
    /// rest stay queued in the database and run after the next start),
    /// flushes the database and closes the store.
    pub async fn shutdown(&self, grace: Duration) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.scheduler.close();
        let deadline = Instant::now() + grace;
        while self.running.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.running.load(Ordering::Relaxed);
        if left > 0 {
            tracing::warn!(
                tasks = left,
                "shutting down with tasks running: they run again after the next start"
            );
        }
        // A durable commit makes every earlier write durable too.
        if let Err(e) = self.db.write(Vec::new(), true).await {
            tracing::error!(error = %e, "flushing the task database");
        }
        if let Err(e) = self.blobs.shutdown().await {
            tracing::warn!(error = %e, "closing the blob store");
        }
    }

    /// Deletes finished tasks past their retention, every minute.
    async fn clean_up(self: Arc<Self>) {
        let every = Duration::from_secs(60.min(self.config.queue.retention_secs.max(1)));
        loop {
            tokio::time::sleep(every).await;
            if self.shutting_down.load(Ordering::Relaxed) {
                return;
            }
            if let Err(e) = self.expire().await {
                tracing::warn!(error = %e, "expiring old tasks");
            }
        }
    }

    /// Deletes finished tasks older than the retention; how many.
    pub async fn expire(&self) -> anyhow::Result<usize> {
        let cutoff = now_ms().saturating_sub(self.config.queue.retention_secs * 1000);
        let expired = self.db.expired(cutoff)?;
        let mut writes = Vec::new();
        for r in &expired {
            if r.input_in_blobs {
                self.store().unpin(r.input).await.ok();
            }
            if let Some(s) = r.success()
                && s.output_in_blobs
            {
                self.store().unpin(s.output).await.ok();
            }
            writes.push(Write::Delete {
                id: r.id.clone(),
                seq: r.seq,
                idempotency: r
                    .idempotency_key
                    .as_ref()
                    .map(|k| format!("{}\n{k}", r.owner.as_deref().unwrap_or(""))),
            });
        }
        let n = expired.len();
        if n > 0 {
            self.db.write(writes, true).await?;
            tracing::info!(tasks = n, "expired finished tasks");
        }
        Ok(n)
    }
}

/// Holds an idempotency key as being accepted; released on drop.
struct KeyGuard<'a> {
    set: &'a Mutex<HashSet<String>>,
    key: String,
}

impl<'a> KeyGuard<'a> {
    fn take(set: &'a Mutex<HashSet<String>>, key: &str) -> Option<Self> {
        let mut s = set.lock().unwrap_or_else(|e| e.into_inner());
        s.insert(key.to_string()).then(|| Self {
            set,
            key: key.to_string(),
        })
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// BLAKE3 over everything that makes a request what it is.
fn request_digest(req: &SubmitTask, input: ContentHash, content_type: &str) -> ContentHash {
    let canonical = serde_json::json!({
        "plugin": req.plugin,
        "input": input,
        "content_type": content_type,
        "params": req.params,
        "models": req.models,
        "limits": req.limits,
    });
    ContentHash::of(canonical.to_string().as_bytes())
}

fn cache_name(outcome: &clusterai_runtime::CacheOutcome) -> &'static str {
    match outcome {
        clusterai_runtime::CacheOutcome::Hit => "hit",
        clusterai_runtime::CacheOutcome::Miss => "miss",
        clusterai_runtime::CacheOutcome::Recompiled(_) => "recompiled",
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// A refusal's message.
pub fn refusal_text(r: &Refusal) -> &str {
    match r {
        Refusal::BadRequest(m)
        | Refusal::NotFound(m)
        | Refusal::Conflict(m)
        | Refusal::TooLarge(m)
        | Refusal::Unprocessable(m)
        | Refusal::Unavailable(m)
        | Refusal::Internal(m) => m,
        Refusal::TooMany { message, .. } => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterai_runtime::RunError;

    #[test]
    fn a_plugin_that_did_not_load_is_refused_for_its_bytes_or_for_now() {
        let timeout = || RunError::Timeout {
            limit: Duration::from_secs(2),
            elapsed: Duration::from_secs(2),
        };
        let fuel = RunError::FuelExhausted { limit: 1 };
        assert!(matches!(
            load_refusal(&LoadError::Describe(Box::new(timeout()))),
            Refusal::Unavailable(m) if m.contains("deadline")
        ));
        assert!(matches!(
            load_refusal(&LoadError::Describe(Box::new(fuel))),
            Refusal::Unprocessable(m) if m.contains("fuel")
        ));
        let again = LoadError::TimedOutRecently {
            reason: LoadError::Describe(Box::new(timeout())).to_string(),
            retry_in: Duration::from_secs(42),
        };
        assert!(matches!(
            load_refusal(&again),
            Refusal::TooMany { message, retry_after }
                if retry_after == Duration::from_secs(42) && message.contains("42 s")
        ));
        assert!(matches!(
            load_refusal(&LoadError::NotAComponent),
            Refusal::Unprocessable(_)
        ));
    }
}
