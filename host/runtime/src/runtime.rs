//! The process-wide runtime: engine, linker, compile cache, task slots.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use clusterai_types::ContentHash;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::{CacheOutcome, CompileCache};
use crate::config::RuntimeConfig;
use crate::error::LoadError;
use crate::fairness::Fairness;
use crate::host::HostState;
use crate::inspect::check_header;
use crate::plugin::Plugin;

/// Packages whose interfaces every plugin may import; the runtime's
/// capabilities add theirs. Anything else is refused at load time.
pub const GRANTED_PACKAGES: &[&str] = &[
    "clusterai:task",
    "wasi:cli",
    "wasi:io",
    "wasi:clocks",
    "wasi:random",
    "wasi:filesystem",
    "wasi:sockets",
];

/// Runs plugins. Cheap to clone; clones share the engine, cache and task slots.
#[derive(Clone, Debug)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) config: RuntimeConfig,
    cache: Option<CompileCache>,
    pub(crate) slots: Arc<Slots>,
    /// Short tasks first: shared by every task of every plugin.
    pub(crate) fairness: Arc<Fairness>,
    /// Plugins loaded in this process, by content hash.
    loaded: Mutex<Loaded>,
    /// Components refused for a reason of their own, by content hash: a
    /// second upload of the same bytes is not compiled or described again.
    refused: Mutex<Refused>,
    /// Shared with every loaded plugin, so that a task still running when
    /// the runtime is dropped keeps its deadline.
    pub(crate) ticker: Arc<EpochTicker>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The plugins a runtime holds, within a budget of compiled code: past it,
/// the least recently used go (a task running one keeps its own handle).
#[derive(Default)]
struct Loaded {
    /// Hash -> (plugin, bytes of compiled code, last use).
    plugins: HashMap<ContentHash, (Plugin, usize, u64)>,
    bytes: usize,
    clock: u64,
}

impl Loaded {
    fn len(&self) -> usize {
        self.plugins.len()
    }

    /// The plugin, now the most recently used.
    fn get(&mut self, hash: &ContentHash) -> Option<Plugin> {
        self.clock += 1;
        let clock = self.clock;
        self.plugins.get_mut(hash).map(|(p, _, used)| {
            *used = clock;
            p.clone()
        })
    }

    fn insert(&mut self, hash: ContentHash, plugin: Plugin, bytes: usize, budget: usize) {
        self.clock += 1;
        if let Some((_, old, _)) = self.plugins.insert(hash, (plugin, bytes, self.clock)) {
            self.bytes -= old;
        }
        self.bytes += bytes;
        while self.bytes > budget && self.plugins.len() > 1 {
            let oldest = self
                .plugins
                .iter()
                .filter(|(h, _)| **h != hash)
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(h, _)| *h);
            let Some(oldest) = oldest else { break };
            if let Some((_, b, _)) = self.plugins.remove(&oldest) {
                self.bytes -= b;
                tracing::debug!(plugin = %oldest, "evicted from the loaded plugins");
            }
        }
    }
}

/// Stops the epoch ticker when the last runtime or plugin holding it goes.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Advances `engine`'s epoch every `tick` on a thread of its own, so that
    /// deadlines can interrupt running wasm, until the ticker is dropped.
    fn start(engine: Engine, tick: std::time::Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("clusterai-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            });
        if let Err(e) = spawned {
            // Without a ticker deadlines cannot fire; fuel still bounds every task.
            tracing::error!(error = %e, "cannot start the epoch ticker: wall-clock deadlines disabled");
        }
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Builds the engine and linker. Fails only on an impossible configuration.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(&config))?;
        let mut linker = base_linker(&engine)?;
        for capability in &config.capabilities {
            capability.add_to_linker(&mut linker)?;
        }
        let cache = match &config.cache_dir {
            Some(dir) => Some(CompileCache::new(dir, &engine, config.cache_budget_bytes)?),
            None => None,
        };
        let ticker = Arc::new(EpochTicker::start(engine.clone(), config.epoch_tick));
        Ok(Self {
            inner: Arc::new(Inner {
                slots: Arc::new(Slots::new(config.max_concurrent_tasks as usize)),
                fairness: Arc::new(Fairness::new(config.long_task_after, config.epoch_tick)),
                engine,
                linker,
                config,
                cache,
                loaded: Mutex::new(Loaded::default()),
                refused: Mutex::new(Refused::default()),
                ticker,
            }),
        })
    }

    /// The engine, for callers that link more host capabilities.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The packages a plugin may import here: the base ones and those of
    /// the runtime's capabilities.
    pub fn granted_packages(&self) -> Vec<&'static str> {
        let mut out = GRANTED_PACKAGES.to_vec();
        for c in &self.inner.config.capabilities {
            out.extend(c.packages());
        }
        out
    }

    /// Whether an import (`package/interface@version`) is in a granted package.
    pub fn is_granted(&self, import: &str) -> bool {
        let package = import.split('/').next().unwrap_or(import);
        GRANTED_PACKAGES.contains(&package)
            || self
                .inner
                .config
                .capabilities
                .iter()
                .any(|c| c.packages().contains(&package))
    }

    /// How many plugins this process holds loaded.
    pub fn loaded_count(&self) -> usize {
        self.lock_loaded().len()
    }

    /// The settings this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Validates, compiles (or loads from cache), links and describes a plugin.
    /// Loading the same bytes twice in one process returns the first result.
    ///
    /// Before compiling, the component's size, structure, imports and
    /// exports are checked ([`crate::precheck`]); only a plugin that loads
    /// is written to the compile cache.
    pub fn load(&self, wasm: &[u8]) -> Result<Plugin, LoadError> {
        let hash = ContentHash::of(wasm);
        if let Some(plugin) = self.lock_loaded().get(&hash) {
            return Ok(plugin);
        }
        let refused = self.lock_refused().get(&hash);
        if let Some(refusal) = refused {
            // Nobody waits on a refusal asked again: it is answered after
            // the tasks running now, so a loop of such requests (a hostile
            // uploader) takes idle time, not theirs.
            self.inner.fairness.yield_to_fresh();
            return Err(match refusal {
                Refusal::ForGood(reason) => LoadError::RefusedBefore { reason },
                Refusal::Until(reason, until) => LoadError::TimedOutRecently {
                    reason,
                    retry_in: until.saturating_duration_since(Instant::now()),
                },
            });
        }
        let result = self.load_new(hash, wasm);
        if let Err(e) = &result {
            if e.is_intrinsic() {
                self.lock_refused()
                    .insert(hash, Refusal::ForGood(e.to_string()));
            } else if e.is_describe_timeout() {
                let until = Instant::now() + RETRY_TIMED_OUT_AFTER;
                self.lock_refused()
                    .insert(hash, Refusal::Until(e.to_string(), until));
            }
        }
        result
    }

    fn load_new(&self, hash: ContentHash, wasm: &[u8]) -> Result<Plugin, LoadError> {
        check_header(wasm)?;
        crate::precheck::check(self, wasm)?;
        let started = Instant::now();
        let (component, outcome) = self.compile(&hash, wasm)?;
        let compile_time = started.elapsed();
        let fresh = outcome != CacheOutcome::Hit;
        let plugin = Plugin::link(self.clone(), hash, component.clone(), outcome, compile_time)?;
        if fresh && let Some(cache) = &self.inner.cache {
            cache.insert(&hash, &component);
        }
        let image = component.image_range();
        let bytes = (image.end as usize).saturating_sub(image.start as usize);
        self.lock_loaded().insert(
            hash,
            plugin.clone(),
            bytes,
            self.inner.config.max_loaded_bytes,
        );
        Ok(plugin)
    }

    /// Compiles `wasm` (hash `hash`), or takes it from the disk cache when
    /// there is one; the caller stores what it compiled once it loaded.
    fn compile(
        &self,
        hash: &ContentHash,
        wasm: &[u8],
    ) -> Result<(wasmtime::component::Component, CacheOutcome), LoadError> {
        let (found, outcome) = match &self.inner.cache {
            Some(cache) => cache.lookup(&self.inner.engine, hash),
            None => (None, CacheOutcome::Miss),
        };
        match found {
            Some(component) => Ok((component, outcome)),
            None => wasmtime::component::Component::new(&self.inner.engine, wasm)
                .map(|c| (c, outcome))
                .map_err(crate::inspect::invalid_from),
        }
    }

    /// Reads and loads a plugin file.
    pub fn load_file(&self, path: &std::path::Path) -> Result<Plugin, LoadError> {
        let wasm = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.load(&wasm)
    }

    fn lock_refused(&self) -> std::sync::MutexGuard<'_, Refused> {
        self.inner.refused.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_loaded(&self) -> std::sync::MutexGuard<'_, Loaded> {
        // A panic while holding this lock cannot leave the map half-updated
        // (single insert), so a poisoned lock is still usable.
        self.inner.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A linker with what every plugin may import: WASI (locked down by
/// [`HostState`]) and the task world's log and types. A runtime adds its
/// capabilities to it; a caller driving wasmtime directly (the naive path of
/// the benchmarks) can use it as it is.
pub fn base_linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    crate::clock::freeze_sleeps(&mut linker)?;
    // log (world 0.2.0 and 0.1.0), streaming and assets: their arguments
    // are read in the guest's memory.
    crate::in_place::add_to_linker(&mut linker)?;
    crate::bindings::clusterai::task::types::add_to_linker::<HostState, HasSelf<HostState>>(
        &mut linker,
        |s| s,
    )?;
    Ok(linker)
}

fn engine_config(config: &RuntimeConfig) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    let slots = config.max_concurrent_tasks.max(1);
    // A Rust wasm32-wasip2 component has one main core module plus a few
    // small adapter instances; size the pool for that, with room to spare.
    // Slots for `describe()` at load time come from the same pool.
    pool.total_component_instances(slots * 2 + 8)
        .total_core_instances((slots * 2 + 8) * 16)
        .total_memories((slots * 2 + 8) * 4)
        .total_tables((slots * 2 + 8) * 4)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_core_instances_per_component(32)
        .max_memory_size(config.max_memory_bytes as usize)
        // Memory beyond this is returned to the OS when a slot is reused,
        // instead of being kept resident.
        .linear_memory_keep_resident(config.keep_resident_bytes)
        .table_keep_resident(1 << 16)
        // Where the kernel has PAGEMAP_SCAN (Linux 6.7+), reset only the
        // pages a task touched instead of memsetting the whole resident part.
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut cfg = Config::new();
    cfg.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .max_wasm_stack(1 << 20)
        .cranelift_nan_canonicalization(config.deterministic)
        .relaxed_simd_deterministic(config.deterministic);
    cfg
}

/// A counting semaphore bounding tasks in flight (and so pool slots in use).
#[derive(Debug)]
pub(crate) struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A held task slot; released on drop, also during unwinding.
pub(crate) struct SlotGuard<'a>(&'a Slots);

impl Slots {
    fn new(n: usize) -> Self {
        Self {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    pub(crate) fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        SlotGuard(self)
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// The most refused components remembered; the oldest are forgotten first.
const MAX_REFUSED: usize = 1024;

/// How long a component whose `describe()` ran out of time is refused
/// before it is compiled and described again: long beside the load budget,
/// so that bytes which spend it each time cost the node a few percent of
/// one core at most, short for an operator retrying after a busy spell.
pub const RETRY_TIMED_OUT_AFTER: Duration = Duration::from_secs(60);

/// Why a component is refused without being compiled again.
#[derive(Debug, Clone)]
enum Refusal {
    /// Its bytes alone decide: refused on every try.
    ForGood(String),
    /// It ran out of time; tried again after the instant.
    Until(String, Instant),
}

/// Refusals by content hash, oldest first out.
#[derive(Debug, Default)]
struct Refused {
    reasons: HashMap<ContentHash, Refusal>,
    order: std::collections::VecDeque<ContentHash>,
}

impl Refused {
    /// The refusal of `hash`, if it still stands.
    fn get(&mut self, hash: &ContentHash) -> Option<Refusal> {
        let refusal = self.reasons.get(hash)?;
        if let Refusal::Until(_, until) = refusal
            && Instant::now() >= *until
        {
            self.reasons.remove(hash);
            self.order.retain(|h| h != hash);
            return None;
        }
        Some(refusal.clone())
    }

    fn insert(&mut self, hash: ContentHash, reason: Refusal) {
        if self.reasons.insert(hash, reason).is_none() {
            self.order.push_back(hash);
        }
        while self.order.len() > MAX_REFUSED {
            if let Some(old) = self.order.pop_front() {
                self.reasons.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_for_a_while_is_forgotten_once_it_expires() {
        let (a, b) = (ContentHash::of(b"a"), ContentHash::of(b"b"));
        let mut refused = Refused::default();
        refused.insert(a, Refusal::Until("timed out".into(), Instant::now()));
        let later = Instant::now() + Duration::from_secs(60);
        refused.insert(b, Refusal::Until("timed out".into(), later));
        assert!(refused.get(&a).is_none());
        assert!(matches!(refused.get(&b), Some(Refusal::Until(_, u)) if u == later));
        // Forgotten in full: its place in the eviction order too.
        assert_eq!(refused.order, [b]);
    }
}
