//! A loaded plugin and the running of one task.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clusterai_types::ContentHash;
use wasmtime::component::Component;
use wasmtime::{Engine, Store, Trap};

use crate::bindings::clusterai::task::types as wit;
use crate::bindings::{PluginHost, PluginHostPre};
use crate::cache::CacheOutcome;
use crate::config::Limits;
use crate::error::{LoadError, PluginError, RunError};
use crate::host::{HostState, LogLine, MemoryLimitExceeded};
use crate::inspect::{PLUGIN_EXPORT, is_granted};
use crate::runtime::{Runtime, Slots};

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
    /// Its format (`onnx`).
    pub format: String,
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
    pub(crate) fn as_wit(&self) -> &wit::TaskInput {
        &self.wit
    }

    /// Seed for the task's randomness: the same input always sees the same "random" bytes.
    fn seed(&self) -> [u8; 32] {
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
}

fn as_micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

/// A successful task.
#[derive(Debug, Clone)]
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
    /// Each inference the task ran and the execution provider that ran it
    /// (for receipts: CPU or CUDA, never guessed).
    pub inferences: Vec<clusterai_nn::ProviderUse>,
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
    pre: PluginHostPre<HostState>,
    engine: Engine,
    nn: Option<clusterai_nn::NnHost>,
    slots: Arc<Slots>,
    default_limits: Limits,
    epoch_tick: Duration,
    cache: CacheOutcome,
    compile_time: Duration,
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
        let has_nn = runtime.nn().is_some();
        if let Some((name, _)) = ty
            .imports(&engine)
            .find(|(name, _)| !is_granted(name, has_nn))
        {
            if name.starts_with("wasi:nn/") {
                return Err(LoadError::NoInference {
                    import: name.to_string(),
                });
            }
            return Err(LoadError::ForbiddenImport {
                import: name.to_string(),
                granted: crate::GRANTED_PACKAGES.join(", "),
            });
        }
        if !ty.exports(&engine).any(|(name, _)| name == PLUGIN_EXPORT) {
            return Err(LoadError::MissingExport(PLUGIN_EXPORT.to_string()));
        }
        let instance_pre = runtime
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre =
            PluginHostPre::new(instance_pre).map_err(|e| LoadError::Link(format!("{e:#}")))?;
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
                pre,
                engine,
                nn: runtime.nn().cloned(),
                slots: runtime.inner.slots.clone(),
                default_limits: config.limits.clone(),
                epoch_tick: config.epoch_tick,
                cache,
                compile_time,
            }),
        };
        let info = plugin.describe()?;
        // Only this function holds the Arc so far.
        if let Some(inner) = Arc::get_mut(&mut plugin.inner) {
            inner.info = info;
        }
        Ok(plugin)
    }

    fn describe(&self) -> Result<PluginInfo, LoadError> {
        let limits = self.inner.default_limits.clone();
        let raw = self
            .with_instance(&TaskInput::default(), &limits, |store, instance| {
                instance.clusterai_task_plugin().call_describe(store)
            })
            .map_err(|e| LoadError::Describe(Box::new(e)))?
            .0;
        validate_info(raw)
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

    /// Runs one task in a fresh instance under `limits` (the runtime's defaults if `None`).
    /// Blocks while all task slots are busy.
    pub fn run(&self, input: &TaskInput, limits: Option<&Limits>) -> Result<TaskResult, RunError> {
        let limits = limits.unwrap_or(&self.inner.default_limits);
        if input.data().len() > limits.max_input_bytes {
            return Err(RunError::InputTooLarge {
                size: input.data().len(),
                limit: limits.max_input_bytes,
            });
        }
        self.check_models()?;
        let (result, state, usage) = self.with_instance(input, limits, |store, instance| {
            instance
                .clusterai_task_plugin()
                .call_run(store, input.as_wit())
        })?;
        let output = result.map_err(plugin_error)?;
        if output.data.len() > limits.max_output_bytes {
            return Err(RunError::OutputTooLarge {
                size: output.data.len(),
                limit: limits.max_output_bytes,
            });
        }
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
            inferences: state
                .nn
                .as_ref()
                .map(|nn| nn.providers_used().to_vec())
                .unwrap_or_default(),
        })
    }

    /// The models the plugin declares must be in the backend's table: a
    /// missing one is named here instead of surfacing as a `not-found` deep
    /// inside the plugin.
    fn check_models(&self) -> Result<(), RunError> {
        let Some(nn) = &self.inner.nn else {
            return Ok(());
        };
        for m in &self.inner.info.models {
            match nn.ensure_model(&m.hash) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(RunError::Plugin(PluginError::ModelUnavailable(format!(
                        "model {:?} ({}) is not on this node: add it with `clusterai model add` \
                         or fetch it with `clusterai blob get`",
                        m.name, m.hash
                    ))));
                }
                Err(e) => {
                    return Err(RunError::Plugin(PluginError::ModelUnavailable(format!(
                        "model {:?} ({}): {}",
                        m.name, m.hash, e.message
                    ))));
                }
            }
        }
        Ok(())
    }

    /// Instantiates the plugin in a fresh store under `limits`, calls `f`, and
    /// turns every way that can fail into a [`RunError`]. Host panics are
    /// caught here, at the task boundary.
    fn with_instance<R>(
        &self,
        input: &TaskInput,
        limits: &Limits,
        f: impl FnOnce(&mut Store<HostState>, &PluginHost) -> wasmtime::Result<R>,
    ) -> Result<(R, HostState, Usage), RunError> {
        let _slot = self.inner.slots.acquire();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let deadline = Instant::now() + limits.timeout;
            let nn = self
                .inner
                .nn
                .as_ref()
                .map(|host| host.task_ctx(Some(deadline)));
            let state = HostState::new(
                nn,
                self.inner.info.name.clone(),
                input.seed(),
                limits.memory_bytes,
                limits.max_stdio_bytes,
                limits.max_log_lines,
            );
            let mut store = Store::new(&self.inner.engine, state);
            store.limiter(|s| &mut s.limiter);
            store
                .set_fuel(limits.fuel)
                .map_err(|e| RunError::Host(format!("{e:#}")))?;
            let tick = self.inner.epoch_tick.as_nanos().max(1);
            store.set_epoch_deadline(limits.timeout.as_nanos().div_ceil(tick) as u64);
            store.epoch_deadline_trap();
            let started = Instant::now();
            let result = self
                .inner
                .pre
                .instantiate(&mut store)
                .and_then(|instance| f(&mut store, &instance));
            let wall = started.elapsed();
            let fuel = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
            let state = store.into_data();
            match result {
                Ok(r) => {
                    let usage = Usage {
                        fuel,
                        wall,
                        peak_memory: state.limiter.peak,
                    };
                    Ok((r, state, usage))
                }
                Err(e) => Err(classify(e, &state, limits)),
            }
        }));
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

fn plugin_error(e: wit::TaskError) -> RunError {
    RunError::Plugin(match e {
        wit::TaskError::InvalidInput(m) => PluginError::InvalidInput(m),
        wit::TaskError::InvalidParam(m) => PluginError::InvalidParam(m),
        wit::TaskError::ModelUnavailable(m) => PluginError::ModelUnavailable(m),
        wit::TaskError::Inference(m) => PluginError::Inference(m),
        wit::TaskError::Internal(m) => PluginError::Internal(m),
    })
}

/// Names the limit or fault behind a failed call.
fn classify(e: wasmtime::Error, state: &HostState, limits: &Limits) -> RunError {
    if let Some(m) = e
        .chain()
        .find_map(|c| c.downcast_ref::<MemoryLimitExceeded>())
    {
        return RunError::MemoryLimit {
            requested: m.requested,
            limit: m.limit,
        };
    }
    let stdio_full = |pipe: &wasmtime_wasi::p2::pipe::MemoryOutputPipe| {
        pipe.contents().len() >= limits.max_stdio_bytes
    };
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RunError::FuelExhausted { limit: limits.fuel },
        Some(Trap::Interrupt) => RunError::Timeout {
            limit: limits.timeout,
        },
        Some(Trap::StackOverflow) => RunError::StackOverflow,
        Some(trap) => {
            // A full pipe first: Rust's std panics when a print fails, and
            // the cap, not that panic, is the cause.
            let stderr = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
            if stdio_full(&state.stdout) {
                RunError::StdioLimit {
                    stream: "stdout",
                    limit: limits.max_stdio_bytes,
                }
            } else if stdio_full(&state.stderr) {
                RunError::StdioLimit {
                    stream: "stderr",
                    limit: limits.max_stdio_bytes,
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

fn validate_info(raw: wit::PluginInfo) -> Result<PluginInfo, LoadError> {
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
            if m.format != "onnx" {
                return Err(LoadError::BadInfo(format!(
                    "model {:?} has format {:?}; this host runs \"onnx\"",
                    m.name, m.format
                )));
            }
            Ok(ModelRequirement {
                name: m.name,
                hash,
                format: m.format,
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
}
