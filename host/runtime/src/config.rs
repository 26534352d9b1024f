//! Settings: the engine-wide configuration and the per-task limits.

use std::path::PathBuf;
use std::time::Duration;

/// Limits for one task. Every resource a plugin can consume is bounded here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Fuel units (roughly one per WebAssembly instruction). Deterministic.
    pub fuel: u64,
    /// Wall-clock deadline for the whole task, host calls excluded from preemption.
    pub timeout: Duration,
    /// Maximum linear memory, in bytes, across the task's instance.
    pub memory_bytes: u64,
    /// Maximum bytes of output data.
    pub max_output_bytes: usize,
    /// Maximum bytes of input data.
    pub max_input_bytes: usize,
    /// Bytes of stdout and of stderr kept (and allowed) per task.
    pub max_stdio_bytes: usize,
    /// Log lines kept per task; later ones are counted, not kept.
    pub max_log_lines: usize,
}

impl Default for Limits {
    /// Generous for real inference pre/post-processing, small enough that a
    /// hostile plugin is stopped in seconds.
    fn default() -> Self {
        Self {
            fuel: 20_000_000_000,
            timeout: Duration::from_secs(30),
            memory_bytes: 512 << 20,
            max_output_bytes: 16 << 20,
            max_input_bytes: 64 << 20,
            max_stdio_bytes: 64 << 10,
            max_log_lines: 256,
        }
    }
}

/// Process-wide settings of a [`Runtime`](crate::Runtime).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Tasks that may run at once; more wait for a slot.
    pub max_concurrent_tasks: u32,
    /// The largest memory limit any task may be given (sizes the pooling allocator).
    pub max_memory_bytes: u64,
    /// Deterministic mode for verifiable re-execution: NaNs canonicalised,
    /// relaxed SIMD deterministic. Fuel accounting is always deterministic,
    /// clocks are always frozen and randomness is always seeded by the input.
    pub deterministic: bool,
    /// Default limits for tasks that do not bring their own.
    pub limits: Limits,
    /// Granularity of wall-clock deadlines.
    pub epoch_tick: Duration,
    /// Bytes of each pooled linear memory kept resident (zeroed, not returned
    /// to the OS) when a slot is reused: spares tensor-heavy plugins the page
    /// faults of a fresh memory, at the cost of that much RSS per used slot.
    pub keep_resident_bytes: usize,
    /// The inference backend behind `wasi:nn`; without one, plugins that
    /// import `wasi:nn` are refused at load time with the reason.
    pub nn: Option<clusterai_nn::NnHost>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_concurrent_tasks: 16,
            max_memory_bytes: 4 << 30,
            deterministic: false,
            limits: Limits::default(),
            epoch_tick: Duration::from_millis(1),
            keep_resident_bytes: 16 << 20,
            nn: None,
        }
    }
}

impl RuntimeConfig {
    /// The default cache directory: `$CLUSTERAI_CACHE/compiled` or
    /// `~/.cache/clusterai/compiled`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("CLUSTERAI_CACHE") {
            return Some(PathBuf::from(dir).join("compiled"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/clusterai/compiled"))
    }
}
