//! The `hostile` suite: honest tasks at full tilt, alone and then beside
//! hostile plugins of every class, in one runtime.
//!
//! - `honest_throughput` (tasks/s): honest tasks (hello, and a real model
//!   through the `tensor` plugin) while hostile plugins run beside them,
//!   against the same workers with no hostile neighbours.
//! - `honest_latency_p99` (ms): the same two runs' 99th percentile task
//!   latency.
//! - `host_peak_rss_mb` (MiB): the process's peak resident memory during the
//!   attack, against what the configuration allows: the resident memory
//!   before it plus every concurrent task's memory limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clusterai_runtime::{Plugin, Runtime, TaskInput};
use clusterai_types::TaskPolicy;

use crate::nn::Runner;
use crate::report::{BenchReport, BenchResult, percentile};

/// A hostile program and the input that sets it off.
#[derive(Debug)]
pub struct Attack {
    /// Its name, for the log.
    pub name: String,
    /// The component.
    pub wasm: Vec<u8>,
    /// What to run it on; `None`: only load it (an attack on loading).
    pub input: Option<TaskInput>,
}

/// What the suite runs.
pub struct HostileBench {
    /// Honest tasks, each a closure that runs one task.
    pub honest: Vec<Box<dyn Fn() -> Runner + Send + Sync>>,
    /// Hostile programs, run in turn by the hostile workers.
    pub attacks: Vec<Attack>,
    /// How long each phase lasts.
    pub phase: Duration,
    /// Threads running honest tasks.
    pub honest_workers: usize,
    /// Threads running hostile tasks.
    pub hostile_workers: usize,
    /// The policy hostile tasks run under.
    pub hostile_policy: TaskPolicy,
    /// The memory limit honest tasks run under.
    pub honest_memory_bytes: u64,
}

impl std::fmt::Debug for HostileBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileBench")
            .field("honest", &self.honest.len())
            .field("attacks", &self.attacks)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

/// Honest tasks done and their latencies (ms) over one phase.
struct Phase {
    done: usize,
    latencies: Vec<f64>,
    elapsed: Duration,
}

/// Runs both phases in `runtime` and reports the figures.
pub fn run(runtime: &Runtime, bench: &HostileBench) -> anyhow::Result<BenchReport> {
    // Warm-up: every honest task once, every attack loaded once.
    for make in &bench.honest {
        make()()?;
    }
    let hostile: Vec<(Option<Plugin>, &Attack)> = bench
        .attacks
        .iter()
        .map(|a| (runtime.load(&a.wasm).ok(), a))
        .collect();

    let alone = honest_phase(bench, &[], runtime)?;
    let rss_before = rss_kib("VmRSS").unwrap_or(0);
    let beside = honest_phase(bench, &hostile, runtime)?;
    // The high-water mark of the whole run: the attack phase holds the most.
    let peak_kib = rss_kib("VmHWM").unwrap_or(0);

    let tput = |p: &Phase| p.done as f64 / p.elapsed.as_secs_f64();
    let (tput_alone, tput_beside) = (tput(&alone), tput(&beside));
    let (mut a, mut b) = (alone.latencies, beside.latencies);
    let budgets_mib = (bench.hostile_workers as u64 * bench.hostile_policy.memory_bytes
        + bench.honest_workers as u64 * bench.honest_memory_bytes) as f64
        / (1 << 20) as f64;
    let mut report = BenchReport::new("hostile");
    report.results.push(BenchResult::new(
        "honest_throughput",
        "tasks/s",
        tput_beside,
        "no_hostile_neighbours",
        tput_alone,
    ));
    report.results.push(BenchResult::new(
        "honest_latency_p99",
        "ms",
        percentile(&mut b, 99.0),
        "no_hostile_neighbours",
        percentile(&mut a, 99.0),
    ));
    report.results.push(BenchResult::new(
        "host_peak_rss_mb",
        "MiB",
        peak_kib as f64 / 1024.0,
        "configured_budgets",
        rss_before as f64 / 1024.0 + budgets_mib,
    ));
    Ok(report)
}

/// One phase: honest workers for `bench.phase`, with hostile workers beside
/// them when `hostile` is not empty.
fn honest_phase(
    bench: &HostileBench,
    hostile: &[(Option<Plugin>, &Attack)],
    runtime: &Runtime,
) -> anyhow::Result<Phase> {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let results = std::thread::scope(|s| {
        let mut honest = Vec::new();
        for w in 0..bench.honest_workers {
            let stop = &stop;
            honest.push(s.spawn(move || -> anyhow::Result<(usize, Vec<f64>)> {
                let mut runners: Vec<Runner> = bench.honest.iter().map(|m| m()).collect();
                let (mut done, mut latencies) = (0, Vec::new());
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let n = runners.len();
                    runners[i % n]()?;
                    latencies.push(t.elapsed().as_secs_f64() * 1e3);
                    done += 1;
                    i += 1;
                }
                Ok((done, latencies))
            }));
        }
        if !hostile.is_empty() {
            for w in 0..bench.hostile_workers {
                let stop = &stop;
                s.spawn(move || {
                    let mut i = w;
                    while !stop.load(Ordering::Relaxed) {
                        let (plugin, attack) = &hostile[i % hostile.len()];
                        match (plugin, &attack.input) {
                            (Some(p), Some(input)) => {
                                let _ = p.run(input, Some(&bench.hostile_policy));
                            }
                            // A load attack: loaded anew each time (the
                            // refused never enter the loaded set).
                            _ => {
                                let _ = runtime.load(&attack.wasm);
                            }
                        }
                        i += 1;
                    }
                });
            }
        }
        std::thread::sleep(bench.phase);
        stop.store(true, Ordering::Relaxed);
        honest
            .into_iter()
            .map(|h| h.join().expect("honest worker"))
            .collect::<Vec<_>>()
    });
    let elapsed = started.elapsed();
    let mut phase = Phase {
        done: 0,
        latencies: Vec::new(),
        elapsed,
    };
    for r in results {
        let (done, latencies) = r?;
        phase.done += done;
        phase.latencies.extend(latencies);
    }
    Ok(phase)
}

/// A memory figure of this process from /proc/self/status, in KiB.
fn rss_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
