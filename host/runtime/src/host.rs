//! The per-task host state: what a plugin's instance can see.
//!
//! Each task gets a fresh [`HostState`] in a fresh `Store`. WASI is linked
//! because Rust's std imports it, but with no authority: no preopened
//! directories, no environment, no arguments, closed stdin, every socket
//! address denied, no name lookup, frozen clocks and randomness seeded from
//! the task's input (so replicated runs agree).

use std::time::Duration;

use rand::SeedableRng;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::bindings::clusterai::task::log::{self, Level};

/// One line a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// What the plugin said (truncated to 4 KiB).
    pub message: String,
}

const MAX_LOG_LINE: usize = 4096;

/// Everything a task's store holds.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) logs_dropped: usize,
    max_log_lines: usize,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    /// Used in log messages on the host side.
    plugin: String,
    /// The task's `wasi:nn` state; `Some` whenever the runtime links wasi:nn.
    pub(crate) nn: Option<clusterai_nn::NnTaskCtx>,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl HostState {
    pub(crate) fn new(
        nn: Option<clusterai_nn::NnTaskCtx>,
        plugin: String,
        seed: [u8; 32],
        memory_bytes: u64,
        max_stdio: usize,
        max_log_lines: usize,
    ) -> Self {
        let stdout = MemoryOutputPipe::new(max_stdio);
        let stderr = MemoryOutputPipe::new(max_stdio);
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
            limiter: MemoryLimiter::new(memory_bytes),
            logs: Vec::new(),
            logs_dropped: 0,
            max_log_lines,
            stdout,
            stderr,
            plugin,
            nn,
        }
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

/// The `wasi:nn` view of a task, for [`clusterai_nn::add_to_linker`].
pub(crate) fn nn_view(state: &mut HostState) -> clusterai_nn::NnView<'_> {
    clusterai_nn::NnView {
        // Invariant: the runtime links wasi:nn only when it has an NnHost, and
        // then gives every task's state a context (plugin.rs). Were it ever
        // broken, the panic is caught at the task boundary.
        ctx: state
            .nn
            .as_mut()
            .expect("wasi:nn is linked only with a task context"),
        table: &mut state.table,
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: Level, mut message: String) {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        if self.logs.len() >= self.max_log_lines {
            self.logs_dropped += 1;
            return;
        }
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        tracing::debug!(plugin = %self.plugin, level, %message, "plugin log");
        self.logs.push(LogLine { level, message });
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
#[error("memory limit exceeded: asked for {requested} bytes, limit {limit}")]
pub(crate) struct MemoryLimitExceeded {
    pub(crate) requested: u64,
    pub(crate) limit: u64,
}

/// Caps linear memory and table growth and records the peak.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: u64,
    pub(crate) peak: u64,
}

impl MemoryLimiter {
    fn new(limit: u64) -> Self {
        Self { limit, peak: 0 }
    }
}

/// Table elements a task may have; far beyond what any real plugin needs.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.limit {
            // An error (a trap) rather than `Ok(false)`: a plugin that cannot
            // get memory cannot do its task, and the caller should hear why.
            return Err(MemoryLimitExceeded {
                requested: desired,
                limit: self.limit,
            }
            .into());
        }
        self.peak = self.peak.max(desired);
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
