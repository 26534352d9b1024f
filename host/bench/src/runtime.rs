//! The `runtime` suite: our task path against the naive one, measured in one run.
//!
//! - `warm_start_p50` / `warm_start_p99` (µs): a task start plus a call of
//!   `run` on a loaded plugin (pooling allocator, `InstancePre`, compiled
//!   once), against the naive path that builds a `Linker`, compiles the
//!   component from its bytes and instantiates it for every task.
//! - `cached_load` (ms): loading the precompiled component from the compile
//!   cache (checksum verified) against compiling it with Cranelift.

use std::time::{Duration, Instant};

use clusterai_runtime::bindings::PluginHost;
use clusterai_runtime::capability::Extensions;
use clusterai_runtime::{CacheOutcome, CompileCache, HostState, Runtime, RuntimeConfig, TaskInput};
use clusterai_types::TaskPolicy;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, Store};

use crate::report::{BenchReport, BenchResult, micros, percentile};

/// How many samples to take of each figure.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeBenchOptions {
    /// Warm task starts measured (after a warm-up of a tenth as many).
    pub warm_iterations: usize,
    /// Naive-path tasks measured (each compiles: tens of milliseconds).
    pub naive_iterations: usize,
    /// Cached loads and compiles measured.
    pub load_iterations: usize,
}

impl Default for RuntimeBenchOptions {
    fn default() -> Self {
        Self {
            warm_iterations: 5000,
            naive_iterations: 30,
            load_iterations: 30,
        }
    }
}

/// Runs the suite on `wasm` (the `hello` plugin) and reports the figures.
pub fn run(wasm: &[u8], options: RuntimeBenchOptions) -> anyhow::Result<BenchReport> {
    let input = TaskInput::text("bench");

    let runtime = Runtime::new(RuntimeConfig::default())?;
    let plugin = runtime.load(wasm)?;
    for _ in 0..options.warm_iterations / 10 {
        plugin.run(&input, None)?;
    }
    let mut warm = Vec::with_capacity(options.warm_iterations);
    for _ in 0..options.warm_iterations {
        let started = Instant::now();
        plugin.run(&input, None)?;
        warm.push(micros(started.elapsed()));
    }

    let mut naive = Vec::with_capacity(options.naive_iterations);
    let naive_engine = Engine::new(&Config::new())?;
    for _ in 0..options.naive_iterations {
        let started = Instant::now();
        naive_task(&naive_engine, wasm, &input)?;
        naive.push(micros(started.elapsed()));
    }

    let (cached, compiled) = load_times(runtime.engine(), wasm, options.load_iterations)?;

    let mut report = BenchReport::new("runtime");
    report.results.push(BenchResult::new(
        "warm_start_p50",
        "us",
        percentile(&mut warm, 50.0),
        "naive_path",
        percentile(&mut naive, 50.0),
    ));
    report.results.push(BenchResult::new(
        "warm_start_p99",
        "us",
        percentile(&mut warm, 99.0),
        "naive_path",
        percentile(&mut naive, 99.0),
    ));
    report.results.push(BenchResult::new(
        "cached_load",
        "ms",
        cached,
        "compile",
        compiled,
    ));
    Ok(report)
}

/// One task the way a first attempt would do it: everything from scratch.
fn naive_task(engine: &Engine, wasm: &[u8], input: &TaskInput) -> anyhow::Result<()> {
    // The same interfaces as the runtime, but a new linker for every task.
    let linker = clusterai_runtime::base_linker(engine)?;
    let component = Component::new(engine, wasm)?;
    let policy = TaskPolicy::default();
    let state = HostState::new(
        &policy,
        "naive".into(),
        input.seed(),
        Extensions::default(),
        clusterai_types::HostMemory::new(policy.max_host_memory_bytes),
    );
    let mut store = Store::new(engine, state);
    let instance = PluginHost::instantiate(&mut store, &component, &linker)?;
    instance
        .clusterai_task_plugin()
        .call_run(&mut store, input.as_wit())?
        .map_err(|e| anyhow::anyhow!("naive run failed: {e:?}"))?;
    Ok(())
}

/// Median milliseconds of a verified cache load and of a Cranelift compile.
fn load_times(engine: &Engine, wasm: &[u8], iterations: usize) -> anyhow::Result<(f64, f64)> {
    let dir = std::env::temp_dir().join(format!("clusterai-bench-cache-{}", std::process::id()));
    let cache = CompileCache::new(&dir, engine, u64::MAX)?;
    let hash = clusterai_types::ContentHash::of(wasm);
    cache.load_or_compile(engine, &hash, wasm)?;
    let mut cached = Vec::with_capacity(iterations);
    let mut compiled = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let (_, outcome) = cache.load_or_compile(engine, &hash, wasm)?;
        cached.push(millis(started.elapsed()));
        anyhow::ensure!(
            outcome == CacheOutcome::Hit,
            "cache entry was not reused: {outcome:?}"
        );
        let started = Instant::now();
        Component::new(engine, wasm)?;
        compiled.push(millis(started.elapsed()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok((
        percentile(&mut cached, 50.0),
        percentile(&mut compiled, 50.0),
    ))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
