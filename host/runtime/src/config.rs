//! The engine-wide configuration of a [`Runtime`](crate::Runtime).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clusterai_types::{BlobSource, TaskPolicy};

use crate::capability::Capability;
use crate::precheck::CompileLimits;

/// Process-wide settings of a [`Runtime`](crate::Runtime).
///
/// | setting | default |
/// |---|---|
/// | `cache_dir` | none (no disk cache); nodes use `clusterai_types::env::compiled_dir()` |
/// | `max_concurrent_tasks` | 16 |
/// | `max_memory_bytes` | 4 GiB (the largest memory any task may be given) |
/// | `deterministic` | false |
/// | `policy` | [`TaskPolicy::default`] |
/// | `epoch_tick` | 1 ms |
/// | `keep_resident_bytes` | 16 MiB |
/// | `capabilities` | none: WASI (locked down) and the task world only |
/// | `assets` | none: `clusterai:task/assets.read` answers that there are none |
/// | `compile_limits` | [`CompileLimits::default`]: 64 MiB, 1 MiB per function, ... |
/// | `cache_budget_bytes` | 1 GiB of compiled components on disk |
/// | `max_loaded_bytes` | 1 GiB of compiled code held in memory |
/// | `long_task_after` | 50 ms: longer tasks nap while fresh ones run |
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
    /// The policy of tasks that do not bring their own (and of `describe()`).
    pub policy: TaskPolicy,
    /// Granularity of wall-clock deadlines.
    pub epoch_tick: Duration,
    /// Bytes of each pooled linear memory kept resident (zeroed, not returned
    /// to the OS) when a slot is reused: spares tensor-heavy plugins the page
    /// faults of a fresh memory, at the cost of that much RSS per used slot.
    pub keep_resident_bytes: usize,
    /// Host capabilities beyond the sandbox's base interfaces (inference, ...).
    pub capabilities: Vec<Arc<dyn Capability>>,
    /// Where `clusterai:task/assets.read` finds the blobs plugins declare
    /// (format "blob"): the node's verified store.
    pub assets: Option<Arc<dyn BlobSource>>,
    /// What a component may be before it is compiled.
    pub compile_limits: CompileLimits,
    /// The most bytes the on-disk compile cache keeps; the least recently
    /// used entries go first.
    pub cache_budget_bytes: u64,
    /// The most compiled code loaded plugins hold in memory; the least
    /// recently used plugins are dropped from the runtime's table first
    /// (tasks still running keep theirs).
    pub max_loaded_bytes: usize,
    /// A task that has run this long yields the CPU to fresh tasks: while
    /// any runs, it naps between ticks (short tasks first; a long task
    /// alone runs at full speed). `None`: every task runs at full speed.
    pub long_task_after: Option<Duration>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_concurrent_tasks: 16,
            max_memory_bytes: 4 << 30,
            deterministic: false,
            policy: TaskPolicy::default(),
            epoch_tick: Duration::from_millis(1),
            keep_resident_bytes: 16 << 20,
            capabilities: Vec::new(),
            assets: None,
            compile_limits: CompileLimits::default(),
            cache_budget_bytes: 1 << 30,
            max_loaded_bytes: 1 << 30,
            long_task_after: Some(Duration::from_millis(50)),
        }
    }
}
