//! The per-task host state: what a plugin's instance can see.
//!
//! Each task gets a fresh [`HostState`] in a fresh `Store`. WASI is linked
//! because Rust's std imports it, but with no authority: no preopened
//! directories, no environment, no arguments, closed stdin, every socket
//! address denied, no name lookup, frozen clocks and randomness seeded from
//! the task's input (so replicated runs agree).

use std::time::Duration;

use std::sync::Arc;

use clusterai_types::{BlobSource, ContentHash, HostMemory, TaskPolicy};
use rand::SeedableRng;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::bindings::clusterai::task::log;
use crate::bindings::v0_1::clusterai::task::log as log_v0_1;
use crate::capability::Extensions;

/// Where a task's partial output goes as the plugin emits it
/// (`clusterai:task/streaming.emit`), chunk by chunk, in order.
pub type StreamSink = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// The blobs a task may read with `clusterai:task/assets.read`: those its
/// plugin declared with format "blob", from the node's verified store.
#[derive(Clone)]
pub(crate) struct TaskAssets {
    pub(crate) source: Arc<dyn BlobSource>,
    pub(crate) allowed: Vec<ContentHash>,
}

/// How important a log line is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Finest detail.
    Trace,
    /// For developers.
    Debug,
    /// Progress.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// One line a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    /// How important it is.
    pub level: LogLevel,
    /// What the plugin said (cut to the policy's `max_log_line_bytes`).
    pub message: String,
}

/// Everything a task's store holds.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) logs_dropped: usize,
    /// What the task makes the host hold outside the sandbox, against
    /// `max_host_memory_bytes`; shared with the capabilities.
    pub(crate) host_memory: HostMemory,
    max_log_lines: usize,
    max_log_line_bytes: usize,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    /// Used in log messages on the host side.
    plugin: String,
    /// The capabilities' state for this task.
    pub(crate) extensions: Extensions,
    /// Where emitted chunks go; `None`: they are counted and dropped.
    pub(crate) stream: Option<StreamSink>,
    /// Bytes emitted so far, bounded by the task's output limit.
    pub(crate) streamed: u64,
    /// The longest sleep the plugin asked for (every sleep ends at once:
    /// the sandbox's clocks are frozen).
    pub(crate) longest_sleep: Duration,
    max_output_bytes: u64,
    /// What `assets.read` may serve, and the most one read may return.
    pub(crate) assets: Option<TaskAssets>,
    max_asset_bytes: u64,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl HostState {
    /// The state of one task of `plugin` (a name for host-side logs) under
    /// `policy`, its randomness seeded by `seed`, with the capabilities'
    /// state in `extensions` and the task's host-memory count.
    pub fn new(
        policy: &TaskPolicy,
        plugin: String,
        seed: [u8; 32],
        extensions: Extensions,
        host_memory: HostMemory,
    ) -> Self {
        // One byte past the limit: a write that crosses it leaves that byte
        // behind, so a breach is told apart from output that fills the limit
        // exactly (which is allowed).
        let pipe_capacity = usize::try_from(policy.max_stdio_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let stdout = MemoryOutputPipe::new(pipe_capacity);
        let stderr = MemoryOutputPipe::new(pipe_capacity);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(rand::rngs::StdRng::from_seed(seed))
            .insecure_random(rand::rngs::StdRng::from_seed(seed))
            .insecure_random_seed(u128::from_le_bytes(
                seed[..16].try_into().unwrap_or_default(),
            ))
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(policy.memory_bytes),
            logs: Vec::new(),
            logs_dropped: 0,
            host_memory,
            max_log_lines: usize::try_from(policy.max_log_lines).unwrap_or(usize::MAX),
            max_log_line_bytes: usize::try_from(policy.max_log_line_bytes).unwrap_or(usize::MAX),
            stdout,
            stderr,
            plugin,
            extensions,
            stream: None,
            streamed: 0,
            longest_sleep: Duration::ZERO,
            max_output_bytes: policy.max_output_bytes,
            assets: None,
            // An asset is copied into the guest's memory: it cannot be
            // larger than the memory the task may have.
            max_asset_bytes: policy.memory_bytes,
        }
    }

    /// The store's resource table.
    pub(crate) fn table_mut(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// A capability's task state of type `T` and the store's resource table,
    /// borrowed together: what a capability's host functions work on.
    /// `None` when the capability was not prepared for this task.
    pub fn extension_and_table<T: std::any::Any + Send>(
        &mut self,
    ) -> Option<(&mut T, &mut ResourceTable)> {
        let ext = self.extensions.get_mut::<T>()?;
        Some((ext, &mut self.table))
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::bindings::clusterai::task::types::Host for HostState {}

impl From<log::Level> for LogLevel {
    fn from(level: log::Level) -> Self {
        match level {
            log::Level::Trace => Self::Trace,
            log::Level::Debug => Self::Debug,
            log::Level::Info => Self::Info,
            log::Level::Warn => Self::Warn,
            log::Level::Error => Self::Error,
        }
    }
}

impl From<log_v0_1::Level> for LogLevel {
    fn from(level: log_v0_1::Level) -> Self {
        match level {
            log_v0_1::Level::Trace => Self::Trace,
            log_v0_1::Level::Debug => Self::Debug,
            log_v0_1::Level::Info => Self::Info,
            log_v0_1::Level::Warn => Self::Warn,
            log_v0_1::Level::Error => Self::Error,
        }
    }
}

impl HostState {
    /// Keeps a log line (the caller cut it to [`Self::max_log_line_bytes`]),
    /// or counts it dropped once the task has logged its most lines or the
    /// line would not fit the task's host memory.
    pub(crate) fn push_log(&mut self, level: LogLevel, message: String) {
        if self.logs.len() >= self.max_log_lines
            || self
                .host_memory
                .try_hold(message.len() as u64, "a log line")
                .is_err()
        {
            self.logs_dropped += 1;
            return;
        }
        tracing::debug!(plugin = %self.plugin, ?level, %message, "plugin log");
        self.logs.push(LogLine { level, message });
    }

    /// The longest log line kept, in bytes.
    pub(crate) fn max_log_line_bytes(&self) -> usize {
        self.max_log_line_bytes
    }

    /// Counts `len` more streamed bytes against the output limit; past it,
    /// the trap that ends the task.
    pub(crate) fn count_streamed(&mut self, len: usize) -> wasmtime::Result<()> {
        let size = self.streamed.saturating_add(len as u64);
        if size > self.max_output_bytes {
            return Err(StreamLimitExceeded {
                size,
                limit: self.max_output_bytes,
            }
            .into());
        }
        self.streamed = size;
        Ok(())
    }
}

/// Raised (a trap) when a plugin emits more than the task's output limit;
/// the runtime turns it into [`RunError::OutputTooLarge`](crate::RunError::OutputTooLarge).
#[derive(Debug, thiserror::Error)]
#[error("streamed output over the limit: {size} bytes, limit {limit}")]
pub(crate) struct StreamLimitExceeded {
    pub(crate) size: u64,
    pub(crate) limit: u64,
}

impl HostState {
    /// `assets.read`: the bytes of a declared blob, or why not.
    pub(crate) fn read_asset(&mut self, hash: &str) -> Result<Vec<u8>, String> {
        // Names are echoed back bounded: a guest string must not grow the error.
        let shown: String = hash.chars().take(80).collect();
        let parsed: ContentHash = hash
            .parse()
            .map_err(|e| format!("asset name {shown:?} is not a content hash: {e}"))?;
        let Some(assets) = &self.assets else {
            return Err("this host serves no assets".into());
        };
        if !assets.allowed.contains(&parsed) {
            return Err(format!(
                "asset {parsed} is not declared by the plugin (a model requirement with format \"blob\")"
            ));
        }
        match assets.source.read(&parsed, self.max_asset_bytes) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(format!("asset {parsed} is not held by this node")),
            Err(e) => Err(format!("asset {parsed} cannot be read: {e}")),
        }
    }
}

/// A clock that never moves: plugins get no timing side channel and replicated
/// runs see the same time.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Raised (as the error of a failed `memory.grow`) when a task's memory
/// would pass its limit; the runtime turns it into [`RunError::MemoryLimit`](crate::RunError::MemoryLimit).
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded: the memories would hold {requested} bytes together, limit {limit}")]
pub(crate) struct MemoryLimitExceeded {
    pub(crate) requested: u64,
    pub(crate) limit: u64,
}

/// Caps linear memory and table growth and records the peak. The limit is
/// on all the linear memories of a task together: a component holds
/// several core instances, each may have memories of its own, and a limit
/// per memory would let a plugin hold many times its budget.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: u64,
    /// Bytes of every linear memory of the task, now.
    total: u64,
    /// The most `total` has been.
    pub(crate) peak: u64,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            total: 0,
            peak: 0,
        }
    }
}

/// Table elements a task may have; far beyond what any real plugin needs.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A new memory grows from 0; every memory's growth adds to the total.
        let grown = (desired as u64).saturating_sub(current as u64);
        let total = self.total.saturating_add(grown);
        if total > self.limit {
            // An error (a trap) rather than `Ok(false)`: a plugin that cannot
            // get memory cannot do its task, and the caller should hear why.
            return Err(MemoryLimitExceeded {
                requested: total,
                limit: self.limit,
            }
            .into());
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        32
    }

    fn tables(&self) -> usize {
        32
    }

    fn memories(&self) -> usize {
        8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Config, Engine, Instance, Module, Store};

    /// A core module with two memories of `pages` 64 KiB pages each.
    fn two_memories(pages: u64) -> Vec<u8> {
        use wasm_encoder::{MemorySection, MemoryType};
        let mut memories = MemorySection::new();
        for _ in 0..2 {
            memories.memory(MemoryType {
                minimum: pages,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            });
        }
        let mut module = wasm_encoder::Module::new();
        module.section(&memories);
        module.finish()
    }

    /// Two memories of 40 MiB under a 64 MiB limit: the second one is
    /// refused, naming the total; alone, one fits and is the peak.
    #[test]
    fn the_limit_covers_all_memories_together() {
        let mut config = Config::new();
        config.wasm_multi_memory(true);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, two_memories(640)).unwrap();
        let mut store = Store::new(&engine, MemoryLimiter::new(64 << 20));
        store.limiter(|l| l);
        let err = Instance::new(&mut store, &module, &[]).unwrap_err();
        let e = err
            .chain()
            .find_map(|c| c.downcast_ref::<MemoryLimitExceeded>())
            .unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!((e.requested, e.limit), (80 << 20, 64 << 20));

        let mut store = Store::new(&engine, MemoryLimiter::new(96 << 20));
        store.limiter(|l| l);
        Instance::new(&mut store, &module, &[]).unwrap();
        assert_eq!(store.data().peak, 80 << 20);
    }
}
