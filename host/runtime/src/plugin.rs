//! A loaded plugin and the running of one task.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clusterai_types::{ContentHash, HostMemory, TaskPolicy};
use wasmtime::component::Component;
use wasmtime::{Engine, Store, Trap};

use crate::bindings::clusterai::task::types as wit;
use crate::bindings::{PluginHost, PluginHostPre, v0_1};
use crate::cache::CacheOutcome;
use crate::capability::{Capability, Extensions, TaskContext};
use crate::error::{LoadError, PluginError, RunError, Stdio};
use crate::fairness::{Fairness, TaskClock};
use crate::guest_text;
use crate::host::{
    HostState, LogLine, MemoryLimitExceeded, StreamLimitExceeded, StreamSink, TaskAssets,
};
use crate::inspect::{PLUGIN_EXPORT, PLUGIN_EXPORT_V0_1};
use crate::runtime::{EpochTicker, Runtime, Slots};

/// Wall-clock budget of `describe()` at load time.
pub const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Fuel budget of `describe()` at load time (instantiation included).
pub const DESCRIBE_FUEL: u64 = 500_000_000;
/// The most `describe()` may hand the host: the limits of its fields
/// together (about 40 KiB), rounded up. Wasmtime counts every byte it
/// copies out of the guest, so a description whose strings all point at
/// the same megabytes costs the host no more than this.
pub const DESCRIBE_COPY_BYTES: u64 = 64 << 10;

/// Room for the small fields beside the largest one in a call: a content
/// type, an error message, a tensor's dimensions.
const COPY_MARGIN_BYTES: u64 = 64 << 10;

/// The most one call of a task's may hand the host (the arguments of an
/// import, the results of `run`): the largest thing it may legitimately
/// hand over in one piece, its output or a tensor, never more than its own
/// memory holds, and a margin. Without it wasmtime copies up to 128 MiB
/// per call whatever the task's limits, and a list of strings that all
/// point at one buffer is copied once per entry.
pub fn copy_limit(policy: &TaskPolicy) -> u64 {
    policy
        .max_output_bytes
        .max(policy.max_task_tensor_bytes)
        .min(policy.memory_bytes)
        .saturating_add(COPY_MARGIN_BYTES)
}

/// What a plugin says about itself (`describe()`), checked by the host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginInfo {
    /// Short name.
    pub name: String,
    /// Version.
    pub version: String,
    /// One line for people.
    pub description: String,
    /// Accepted input content types.
    pub input_types: Vec<String>,
    /// Output content type.
    pub output_type: String,
    /// Models the host must hold.
    pub models: Vec<ModelRequirement>,
}

/// A model a plugin needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModelRequirement {
    /// The plugin's name for it.
    pub name: String,
    /// Its content hash.
    pub hash: ContentHash,
    /// Its format.
    pub format: ModelFormat,
}

/// The model formats a plugin may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// An ONNX graph, opened with `wasi:nn`.
    Onnx,
    /// A file the plugin reads itself with `clusterai:task/assets` (a
    /// tokenizer, say); world 0.2.0 on.
    Blob,
}

/// The version of the plugin world a component was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum WorldVersion {
    /// `clusterai:task@0.1.0`: no streaming, no assets.
    #[serde(rename = "0.1.0")]
    V0_1,
    /// `clusterai:task@0.2.0`.
    #[serde(rename = "0.2.0")]
    V0_2,
}

impl std::fmt::Display for WorldVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V0_1 => "0.1.0",
            Self::V0_2 => "0.2.0",
        })
    }
}

/// A pre-instantiated plugin of either world version.
enum Pre {
    V0_1(v0_1::PluginHostPre<HostState>),
    V0_2(PluginHostPre<HostState>),
}

/// An instance's exports, of either world version (same record types).
enum Exports {
    V0_1(v0_1::PluginHost),
    V0_2(PluginHost),
}

impl Pre {
    fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Exports> {
        Ok(match self {
            Self::V0_1(p) => Exports::V0_1(p.instantiate(store)?),
            Self::V0_2(p) => Exports::V0_2(p.instantiate(store)?),
        })
    }
}

impl Exports {
    fn describe(&self, store: &mut Store<HostState>) -> wasmtime::Result<wit::PluginInfo> {
        match self {
            Self::V0_1(p) => p.clusterai_task_plugin().call_describe(store),
            Self::V0_2(p) => p.clusterai_task_plugin().call_describe(store),
        }
    }

    fn run(
        &self,
        store: &mut Store<HostState>,
        input: &wit::TaskInput,
    ) -> wasmtime::Result<Result<wit::TaskOutput, wit::TaskError>> {
        match self {
            Self::V0_1(p) => p.clusterai_task_plugin().call_run(store, input),
            Self::V0_2(p) => p.clusterai_task_plugin().call_run(store, input),
        }
    }
}

/// One task's input: bytes, their content type and named parameters.
///
/// Held in the form the plugin's `run` export takes, so a task hands the bytes
/// to the guest without a copy on the host; the BLAKE3 digest that seeds the
/// task's randomness is computed once per input (a node has it already: it is
/// the input's content address), not once per run.
#[derive(Debug, Clone)]
pub struct TaskInput {
    wit: wit::TaskInput,
    seed: OnceLock<[u8; 32]>,
}

impl TaskInput {
    /// Bytes of a content type.
    pub fn new(data: Vec<u8>, content_type: impl Into<String>) -> Self {
        Self {
            wit: wit::TaskInput {
                data,
                content_type: content_type.into(),
                params: Vec::new(),
            },
            seed: OnceLock::new(),
        }
    }

    /// UTF-8 text.
    pub fn text(text: &str) -> Self {
        Self::new(text.as_bytes().to_vec(), "text/plain")
    }

    /// Adds a parameter.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.wit.params.push((key.into(), value.into()));
        self.seed = OnceLock::new();
        self
    }

    /// Adds parameters, in order.
    pub fn params(mut self, params: impl IntoIterator<Item = (String, String)>) -> Self {
        self.wit.params.extend(params);
        self.seed = OnceLock::new();
        self
    }

    /// The bytes.
    pub fn data(&self) -> &[u8] {
        &self.wit.data
    }

    /// Their content type; may be empty.
    pub fn content_type(&self) -> &str {
        &self.wit.content_type
    }

    /// The named parameters, in order.
    pub fn param_list(&self) -> &[(String, String)] {
        &self.wit.params
    }

    /// The form the plugin's `run` export takes.
    pub fn as_wit(&self) -> &wit::TaskInput {
        &self.wit
    }

    /// Seed for the task's randomness: the same input always sees the same "random" bytes.
    pub fn seed(&self) -> [u8; 32] {
        *self.seed.get_or_init(|| {
            let mut h = blake3::Hasher::new_derive_key("clusterai task random seed v1");
            h.update(&(self.wit.data.len() as u64).to_le_bytes());
            h.update(&self.wit.data);
            h.update(self.wit.content_type.as_bytes());
            for (k, v) in &self.wit.params {
                h.update(&(k.len() as u64).to_le_bytes());
                h.update(k.as_bytes());
                h.update(&(v.len() as u64).to_le_bytes());
                h.update(v.as_bytes());
            }
            *h.finalize().as_bytes()
        })
    }
}

impl PartialEq for TaskInput {
    fn eq(&self, other: &Self) -> bool {
        self.wit.data == other.wit.data
            && self.wit.content_type == other.wit.content_type
            && self.wit.params == other.wit.params
    }
}

impl Eq for TaskInput {}

impl Default for TaskInput {
    fn default() -> Self {
        Self::new(Vec::new(), "")
    }
}

/// One task's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutput {
    /// The bytes.
    pub data: Vec<u8>,
    /// Their content type.
    pub content_type: String,
}

/// What a task consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Fuel units consumed.
    pub fuel: u64,
    /// Wall time from instantiation to return.
    #[serde(serialize_with = "as_micros")]
    pub wall: Duration,
    /// The largest linear memory the instance reached, in bytes.
    pub peak_memory: u64,
    /// The most the task made the host hold outside its sandbox at once
    /// (tensors, a compute's working memory, log lines, the output), in
    /// bytes.
    pub peak_host_memory: u64,
}

fn as_micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

/// A successful task.
#[derive(Debug)]
pub struct TaskResult {
    /// The output.
    pub output: TaskOutput,
    /// What it consumed.
    pub usage: Usage,
    /// What the plugin logged (bounded).
    pub logs: Vec<LogLine>,
    /// Log lines over the bound, counted not kept.
    pub logs_dropped: usize,
    /// What it wrote to stdout (bounded).
    pub stdout: Vec<u8>,
    /// What it wrote to stderr (bounded).
    pub stderr: Vec<u8>,
    /// The capabilities' state at the end of the task (what they recorded:
    /// inferences run, providers used, ...).
    pub extensions: Extensions,
}

/// A loaded plugin: compiled, linked, pre-instantiated and described.
/// Cheap to clone; each [`run`](Self::run) gets a fresh instance.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    hash: ContentHash,
    info: PluginInfo,
    world: WorldVersion,
    pre: Pre,
    engine: Engine,
    assets: Option<Arc<dyn clusterai_types::BlobSource>>,
    capabilities: Vec<Arc<dyn Capability>>,
    slots: Arc<Slots>,
    fairness: Arc<Fairness>,
    /// The plugin's record (a [`Record`]): how its tasks are scheduled.
    record: AtomicU8,
    /// Keeps deadlines firing while this plugin can run.
    _ticker: Arc<EpochTicker>,
    default_policy: TaskPolicy,
    cache: CacheOutcome,
    compile_time: Duration,
}

/// What a plugin's own tasks have shown, which sets how its next one is
/// scheduled ([`crate::fairness`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Record {
    /// No task yet (describe() does not count): its tasks yield to fresh
    /// ones from their first tick, on the caller's thread.
    Untried,
    /// Its last task kept within its limits: fresh until it runs long.
    KeptItsLimits,
    /// Its last task (or describe()) trapped or broke a limit: a suspect,
    /// which yields from its first tick on an idle-class thread.
    BrokeALimit,
}

impl Record {
    /// Whether its tasks nap while fresh ones run from their first tick.
    fn naps_at_once(self) -> bool {
        self != Self::KeptItsLimits
    }

    /// Whether its tasks run on an idle-class thread. Not an untried
    /// plugin's: on a node whose cores are all busy, the idle class gets
    /// almost no CPU time, and no new plugin could even describe itself.
    fn idle_class(self) -> bool {
        self == Self::BrokeALimit
    }
}

impl From<u8> for Record {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::Untried,
            1 => Self::KeptItsLimits,
            _ => Self::BrokeALimit,
        }
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("hash", &self.inner.hash)
            .field("name", &self.inner.info.name)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub(crate) fn link(
        runtime: Runtime,
        hash: ContentHash,
        component: Component,
        cache: CacheOutcome,
        compile_time: Duration,
    ) -> Result<Self, LoadError> {
        let engine = runtime.engine().clone();
        let ty = component.component_type();
        if let Some((name, _)) = ty
            .imports(&engine)
            .find(|(name, _)| !runtime.is_granted(name))
        {
            return Err(LoadError::ForbiddenImport {
                import: name.to_string(),
                granted: runtime.granted_packages().join(", "),
            });
        }
        let exports: Vec<String> = ty.exports(&engine).map(|(n, _)| n.to_string()).collect();
        let world = if exports.iter().any(|n| n == PLUGIN_EXPORT) {
            WorldVersion::V0_2
        } else if exports.iter().any(|n| n == PLUGIN_EXPORT_V0_1) {
            WorldVersion::V0_1
        } else {
            return Err(LoadError::MissingExport(format!(
                "{PLUGIN_EXPORT} (or {PLUGIN_EXPORT_V0_1})"
            )));
        };
        let instance_pre = runtime
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let link = |e: wasmtime::Error| LoadError::Link(format!("{e:#}"));
        let pre = match world {
            WorldVersion::V0_2 => Pre::V0_2(PluginHostPre::new(instance_pre).map_err(link)?),
            WorldVersion::V0_1 => Pre::V0_1(v0_1::PluginHostPre::new(instance_pre).map_err(link)?),
        };
        let config = runtime.config();
        let mut plugin = Self {
            inner: Arc::new(PluginInner {
                hash,
                info: PluginInfo {
                    name: String::new(),
                    version: String::new(),
                    description: String::new(),
                    input_types: Vec::new(),
                    output_type: String::new(),
                    models: Vec::new(),
                },
                world,
                pre,
                engine,
                assets: config.assets.clone(),
                capabilities: config.capabilities.clone(),
                slots: runtime.inner.slots.clone(),
                fairness: runtime.inner.fairness.clone(),
                record: AtomicU8::new(Record::Untried as u8),
                _ticker: runtime.inner.ticker.clone(),
                default_policy: config.policy.clone(),
                cache,
                compile_time,
            }),
        };
        let info = plugin.describe()?;
        if world == WorldVersion::V0_1
            && let Some(m) = info.models.iter().find(|m| m.format == ModelFormat::Blob)
        {
            return Err(LoadError::BadInfo(format!(
                "model {:?} has format \"blob\", which plugins of world 0.1.0 cannot read \
                 (assets came with 0.2.0)",
                m.name
            )));
        }
        for capability in &plugin.inner.capabilities {
            capability.configure(&info)?;
        }
        // Only this function holds the Arc so far.
        if let Some(inner) = Arc::get_mut(&mut plugin.inner) {
            inner.info = info;
        }
        Ok(plugin)
    }

    /// What its tasks have shown so far. Relaxed: it only steers
    /// scheduling, and a task that reads it a moment late is still bounded.
    fn record(&self) -> Record {
        Record::from(self.inner.record.load(Ordering::Relaxed))
    }

    fn set_record(&self, record: Record) {
        self.inner.record.store(record as u8, Ordering::Relaxed);
    }

    fn describe(&self) -> Result<PluginInfo, LoadError> {
        // Loading gets its own, small budget: describing a plugin is building
        // a few strings, and a plugin that loops or stalls there must not
        // hold a load (and a pool slot) for a whole task's budget.
        let default = &self.inner.default_policy;
        let policy = TaskPolicy {
            timeout: default.timeout.min(DESCRIBE_TIMEOUT),
            fuel: default.fuel.min(DESCRIBE_FUEL),
            ..default.clone()
        };
        let raw = self
            .with_instance(
                &TaskInput::default(),
                &policy,
                None,
                None,
                |store, instance| instance.describe(store),
            )
            .map_err(|e| match e {
                RunError::CopyLimit { limit } => LoadError::BadInfo(format!(
                    "describe() handed the host more than {limit} bytes, \
                     more than its fields' limits allow together"
                )),
                e => LoadError::Describe(Box::new(e)),
            })?
            .0;
        validate_info(raw)
    }

    /// The version of the plugin world it was built for.
    pub fn world(&self) -> WorldVersion {
        self.inner.world
    }

    /// The plugin's content hash (BLAKE3 of its wasm bytes).
    pub fn hash(&self) -> ContentHash {
        self.inner.hash
    }

    /// What the plugin said about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.inner.info
    }

    /// Whether the compiled code came from the cache.
    pub fn cache_outcome(&self) -> &CacheOutcome {
        &self.inner.cache
    }

    /// Time spent compiling or loading the compiled code.
    pub fn compile_time(&self) -> Duration {
        self.inner.compile_time
    }

    /// The policy tasks run under when they bring none.
    pub fn default_policy(&self) -> &TaskPolicy {
        &self.inner.default_policy
    }

    /// Runs one task in a fresh instance under `policy` (the runtime's
    /// default if `None`). Blocks while all task slots are busy.
    pub fn run(
        &self,
        input: &TaskInput,
        policy: Option<&TaskPolicy>,
    ) -> Result<TaskResult, RunError> {
        self.run_streaming(input, policy, None)
    }

    /// [`run`](Self::run), with the chunks the plugin emits while it runs
    /// (`clusterai:task/streaming.emit`) handed to `sink` as they come. The
    /// chunks together count against the policy's output limit.
    pub fn run_streaming(
        &self,
        input: &TaskInput,
        policy: Option<&TaskPolicy>,
        sink: Option<StreamSink>,
    ) -> Result<TaskResult, RunError> {
        let policy = policy.unwrap_or(&self.inner.default_policy);
        let size = input.data().len() as u64;
        if size > policy.max_input_bytes {
            return Err(RunError::InputTooLarge {
                size,
                limit: policy.max_input_bytes,
            });
        }
        let info = &self.inner.info;
        let (result, state, usage) =
            self.with_instance(input, policy, Some(info), sink, |store, instance| {
                instance.run(store, input.as_wit())
            })?;
        // A result the host refuses (or cuts) broke a limit as surely as a
        // trap (see `with_instance`): the plugin's next task runs as a
        // suspect's. Without this a
        // plugin handing back 8 MiB strings in a loop would run as fresh,
        // short tasks that honest ones give way to.
        let breach = |e: RunError| {
            self.set_record(Record::BrokeALimit);
            e
        };
        // A plugin that crossed the stdio cap and then finished anyway still
        // breached it.
        for (stream, pipe) in [
            (Stdio::Stdout, &state.stdout),
            (Stdio::Stderr, &state.stderr),
        ] {
            if stdio_breached(pipe, policy) {
                return Err(breach(RunError::StdioLimit {
                    stream,
                    limit: policy.max_stdio_bytes,
                }));
            }
        }
        let output = result.map_err(|e| match plugin_error(e) {
            (e, true) => breach(e),
            (e, false) => e,
        })?;
        if let Err(e) = guest_text::check_len(
            "the output's content type",
            &output.content_type,
            guest_text::MAX_CONTENT_TYPE_BYTES,
        ) {
            return Err(breach(RunError::Plugin(PluginError::Internal(e))));
        }
        let size = output.data.len() as u64;
        if size > policy.max_output_bytes.saturating_sub(state.streamed) {
            let size = size.saturating_add(state.streamed);
            return Err(breach(RunError::OutputTooLarge {
                size,
                limit: policy.max_output_bytes,
            }));
        }
        // The output is held until the caller takes it, beside the logs
        // and whatever tensors the plugin never dropped.
        state
            .host_memory
            .try_hold(size, "the output")
            .map_err(|e| breach(e.into()))?;
        let mut usage = usage;
        usage.peak_host_memory = state.host_memory.peak();
        Ok(TaskResult {
            output: TaskOutput {
                data: output.data,
                content_type: output.content_type,
            },
            usage,
            logs: state.logs,
            logs_dropped: state.logs_dropped,
            stdout: state.stdout.contents().to_vec(),
            stderr: state.stderr.contents().to_vec(),
            extensions: state.extensions,
        })
    }

    /// Instantiates the plugin in a fresh store under `policy` (the
    /// capabilities prepared for the task), calls `f`, and turns every way
    /// that can fail into a [`RunError`]. Host panics are caught here, at the
    /// task boundary. `info` is `None` while `describe()` runs.
    fn with_instance<R>(
        &self,
        input: &TaskInput,
        policy: &TaskPolicy,
        info: Option<&PluginInfo>,
        sink: Option<StreamSink>,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<R> + Send,
    ) -> Result<(R, HostState, Usage), RunError>
    where
        R: Send,
    {
        let _slot = self.inner.slots.acquire();
        let record = self.record();
        let task = || {
            let deadline = Instant::now() + policy.timeout;
            // Counted fresh (or not) from here: preparing a task is part of it.
            let (mut clock, ticks) =
                TaskClock::start(self.inner.fairness.clone(), deadline, record.naps_at_once());
            let mut extensions = Extensions::default();
            let host_memory = HostMemory::new(policy.max_host_memory_bytes);
            let task = TaskContext {
                plugin: self.inner.hash,
                info,
                policy,
                deadline,
                host_memory: &host_memory,
            };
            for capability in &self.inner.capabilities {
                capability.prepare(&task, &mut extensions)?;
            }
            let mut state = HostState::new(
                policy,
                self.inner.info.name.clone(),
                input.seed(),
                extensions,
                host_memory.clone(),
            );
            state.stream = sink;
            state.assets = self.inner.assets.clone().map(|source| TaskAssets {
                source,
                allowed: info
                    .into_iter()
                    .flat_map(|i| i.models.iter())
                    .filter(|m| m.format == ModelFormat::Blob)
                    .map(|m| m.hash)
                    .collect(),
            });
            let mut store = Store::new(&self.inner.engine, state);
            store.limiter(|s| &mut s.limiter);
            // `info` is None while describe() runs.
            let copy_limit = match info {
                None => DESCRIBE_COPY_BYTES,
                Some(_) => copy_limit(policy),
            };
            store.set_hostcall_fuel(usize::try_from(copy_limit).unwrap_or(usize::MAX));
            store
                .set_fuel(policy.fuel)
                .map_err(|e| RunError::Host(format!("{e:#}")))?;
            store.set_epoch_deadline(ticks);
            store.epoch_deadline_callback(move |_| Ok(clock.on_tick()));
            let started = Instant::now();
            let result = self
                .inner
                .pre
                .instantiate(&mut store)
                .and_then(|instance| f(&mut store, &instance));
            let wall = started.elapsed();
            let fuel = policy.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
            let state = store.into_data();
            // A trap or a limit makes a suspect; so does asking to sleep
            // past the whole budget: the sleep ended at once, but the
            // plugin meant to hold its slot past its deadline.
            let broke_a_limit = result.is_err() || state.longest_sleep > policy.timeout;
            // Only a task that kept within its limits clears it, not
            // describe(): a plugin is untried until one task has.
            if broke_a_limit {
                self.set_record(Record::BrokeALimit);
            } else if info.is_some() {
                self.set_record(Record::KeptItsLimits);
            }
            match result {
                Ok(r) => {
                    let usage = Usage {
                        fuel,
                        wall,
                        peak_memory: state.limiter.peak,
                        peak_host_memory: state.host_memory.peak(),
                    };
                    Ok((r, state, usage))
                }
                Err(e) => Err(classify(e, &state, policy, copy_limit, wall)),
            }
        };
        // A suspect's task runs where it cannot delay fresh ones even in
        // the parts the epoch cannot interrupt.
        let outcome = self.inner.fairness.run_task(record.idle_class(), task);
        match outcome {
            Ok(r) => r,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(plugin = %self.inner.hash, %message, "host panic during a task; task aborted");
                Err(RunError::Host(message))
            }
        }
    }
}

/// The plugin's own error, its message bounded, and whether the message
/// was over the bound.
fn plugin_error(e: wit::TaskError) -> (RunError, bool) {
    let mut over = false;
    let mut cut = |m: String| {
        over |= m.len() > guest_text::MAX_MESSAGE_BYTES;
        guest_text::truncated(m, guest_text::MAX_MESSAGE_BYTES)
    };
    let e = match e {
        wit::TaskError::InvalidInput(m) => PluginError::InvalidInput(cut(m)),
        wit::TaskError::InvalidParam(m) => PluginError::InvalidParam(cut(m)),
        wit::TaskError::ModelUnavailable(m) => PluginError::ModelUnavailable(cut(m)),
        wit::TaskError::Inference(m) => PluginError::Inference(cut(m)),
        wit::TaskError::Internal(m) => PluginError::Internal(cut(m)),
    };
    (RunError::Plugin(e), over)
}

/// Names the limit or fault behind a failed call.
fn classify(
    e: wasmtime::Error,
    state: &HostState,
    policy: &TaskPolicy,
    copy_limit: u64,
    elapsed: Duration,
) -> RunError {
    // Wasmtime's own error (its type is private): a copy out of the guest
    // that ran past the store's hostcall fuel, which is the copy limit.
    if e.downcast_ref::<Trap>().is_none()
        && e.chain()
            .any(|c| c.to_string().starts_with(HOSTCALL_FUEL_EXHAUSTED))
    {
        return RunError::CopyLimit { limit: copy_limit };
    }
    if let Some(m) = e
        .chain()
        .find_map(|c| c.downcast_ref::<MemoryLimitExceeded>())
    {
        return RunError::MemoryLimit {
            requested: m.requested,
            limit: m.limit,
        };
    }
    if let Some(m) = e
        .chain()
        .find_map(|c| c.downcast_ref::<StreamLimitExceeded>())
    {
        return RunError::OutputTooLarge {
            size: m.size,
            limit: m.limit,
        };
    }
    let stdio_full = |pipe| stdio_breached(pipe, policy);
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RunError::FuelExhausted { limit: policy.fuel },
        Some(Trap::Interrupt) => RunError::Timeout {
            limit: policy.timeout,
            elapsed,
        },
        Some(Trap::StackOverflow) => RunError::StackOverflow,
        Some(trap) => {
            // A breached pipe first: Rust's std panics when a print fails,
            // and the cap, not that panic, is the cause. Only a breach counts:
            // output that fills the cap exactly is allowed, whatever follows.
            let stderr = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
            if stdio_full(&state.stdout) {
                RunError::StdioLimit {
                    stream: Stdio::Stdout,
                    limit: policy.max_stdio_bytes,
                }
            } else if stdio_full(&state.stderr) {
                RunError::StdioLimit {
                    stream: Stdio::Stderr,
                    limit: policy.max_stdio_bytes,
                }
            } else if let Some(message) = panic_message(&stderr) {
                RunError::Panic { message }
            } else {
                RunError::Trap {
                    message: trap.to_string(),
                }
            }
        }
        None => RunError::Trap {
            message: format!("{e:#}"),
        },
    }
}

/// How wasmtime's error for an exhausted hostcall fuel begins.
const HOSTCALL_FUEL_EXHAUSTED: &str =
    "too much data is being copied between the host and the guest";

/// Whether the plugin wrote past the stdio cap: the pipe holds one byte
/// more than the cap, so only a write that crossed it can fill that byte.
fn stdio_breached(pipe: &wasmtime_wasi::p2::pipe::MemoryOutputPipe, policy: &TaskPolicy) -> bool {
    pipe.contents().len() as u64 > policy.max_stdio_bytes
}

/// Extracts the message of a Rust panic from what the plugin wrote to stderr.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.find("panicked at ")?;
    let rest = &stderr[start..];
    // "panicked at src/lib.rs:10:5:\n<message>\nnote: ..."
    let (location, after) = rest["panicked at ".len()..]
        .split_once('\n')
        .unwrap_or((rest, ""));
    let message = after.split("\nnote:").next().unwrap_or("").trim();
    Some(format!(
        "{} (at {})",
        message,
        location.trim_end_matches(':')
    ))
}

/// Bounds on describe()'s fields: a description is shown to people and
/// kept for every loaded plugin, so none may be large.
const MAX_NAME_BYTES: usize = 128;
const MAX_VERSION_BYTES: usize = 64;
const MAX_DESCRIPTION_BYTES: usize = 4096;
const MAX_CONTENT_TYPES: usize = 64;
const MAX_MODELS: usize = 64;

fn validate_info(raw: wit::PluginInfo) -> Result<PluginInfo, LoadError> {
    use guest_text::{MAX_CONTENT_TYPE_BYTES, check_len};
    let bad = LoadError::BadInfo;
    check_len("its name", &raw.name, MAX_NAME_BYTES).map_err(bad)?;
    check_len("its version", &raw.version, MAX_VERSION_BYTES).map_err(bad)?;
    check_len("its description", &raw.description, MAX_DESCRIPTION_BYTES).map_err(bad)?;
    check_len("its output type", &raw.output_type, MAX_CONTENT_TYPE_BYTES).map_err(bad)?;
    if raw.input_types.len() > MAX_CONTENT_TYPES {
        return Err(bad(format!(
            "it accepts {} input types, over the limit of {MAX_CONTENT_TYPES}",
            raw.input_types.len()
        )));
    }
    for t in &raw.input_types {
        check_len("an input type", t, MAX_CONTENT_TYPE_BYTES).map_err(bad)?;
    }
    if raw.models.len() > MAX_MODELS {
        return Err(bad(format!(
            "it declares {} models, over the limit of {MAX_MODELS}",
            raw.models.len()
        )));
    }
    for m in &raw.models {
        check_len("a model name", &m.name, MAX_NAME_BYTES).map_err(bad)?;
        check_len("a model hash", &m.hash, 64).map_err(bad)?;
    }
    if raw.name.trim().is_empty() {
        return Err(LoadError::BadInfo("the plugin has no name".into()));
    }
    let models = raw
        .models
        .into_iter()
        .map(|m| {
            let hash = m.hash.parse().map_err(|e| {
                LoadError::BadInfo(format!(
                    "model {:?} has an invalid hash {:?}: {e}",
                    m.name, m.hash
                ))
            })?;
            let format = match m.format.as_str() {
                "onnx" => ModelFormat::Onnx,
                "blob" => ModelFormat::Blob,
                other => {
                    return Err(LoadError::BadInfo(format!(
                        "model {:?} has format {:?}; this host knows \"onnx\" and \"blob\"",
                        m.name,
                        other.chars().take(40).collect::<String>()
                    )));
                }
            };
            Ok(ModelRequirement {
                name: m.name,
                hash,
                format,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(PluginInfo {
        name: raw.name,
        version: raw.version,
        description: raw.description,
        input_types: raw.input_types,
        output_type: raw.output_type,
        models,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_from_rust_stderr() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:12:9:\nboom: 42\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr).unwrap(),
            "boom: 42 (at src/lib.rs:12:9)"
        );
        assert_eq!(panic_message("nothing here"), None);
    }

    #[test]
    fn a_record_sets_how_the_next_task_is_scheduled() {
        let all = [Record::Untried, Record::KeptItsLimits, Record::BrokeALimit];
        for record in all {
            assert_eq!(Record::from(record as u8), record);
        }
        let scheduling = all.map(|r| (r.naps_at_once(), r.idle_class()));
        assert_eq!(scheduling, [(true, false), (false, false), (true, true)]);
    }
}
