//! The `hostile` suite: honest tasks at a steady rate, alone and then
//! beside hostile plugins of every class, in one runtime.
//!
//! The honest rate is half of what the honest workers manage alone at full
//! tilt (measured first, in the same run): a node serving paying tasks with
//! room to spare, as a node should. Each honest task has its slot in a fixed
//! schedule and its latency counts from that slot, not from when it started,
//! so a node that falls behind pays for the whole queue (no coordinated
//! omission). Hostile workers run back to back, as fast as the runtime lets
//! them.
//!
//! - `honest_throughput` (tasks/s): honest tasks done (hello, and a real
//!   model through the `tensor` plugin) while hostile plugins run beside
//!   them, against the same schedule with no hostile neighbours.
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
    /// How long each phase lasts in all (run in alternating rounds).
    pub phase: Duration,
    /// The share of the honest workers' full-tilt throughput offered as the
    /// steady rate (0.5: half).
    pub honest_load: f64,
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
#[derive(Default)]
struct Phase {
    done: usize,
    latencies: Vec<f64>,
    elapsed: Duration,
}

impl Phase {
    /// This phase and `other` together.
    fn add(&mut self, other: Phase) {
        self.done += other.done;
        self.latencies.extend(other.latencies);
        self.elapsed += other.elapsed;
    }
}

/// Rounds of the two phases, alternating; each lasts a third of `phase`.
const ROUNDS: u32 = 3;

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

    // Full tilt alone sets the steady rate (a quarter phase is enough).
    let capacity = full_tilt(bench, bench.phase / 4)?;
    let interval = Duration::from_secs_f64(
        bench.honest_workers as f64 / (capacity * bench.honest_load).max(1e-3),
    );
    tracing::info!(
        capacity_per_s = capacity,
        rate_per_s = capacity * bench.honest_load,
        "honest tasks at a steady rate"
    );
    // The two phases alternate in rounds, so that a slow spell of the
    // machine (a shared, virtual one swings by a factor of several) lands
    // on both rather than on one of them.
    let rss_before = rss_kib("VmRSS").unwrap_or(0);
    let round = bench.phase / ROUNDS;
    let (mut alone, mut beside) = (Phase::default(), Phase::default());
    for _ in 0..ROUNDS {
        alone.add(honest_phase(bench, round, &[], runtime, interval)?);
        beside.add(honest_phase(bench, round, &hostile, runtime, interval)?);
    }
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

/// Honest tasks per second with every honest worker running back to back,
/// alone, for `time`.
fn full_tilt(bench: &HostileBench, time: Duration) -> anyhow::Result<f64> {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let done = std::thread::scope(|s| {
        let workers: Vec<_> = (0..bench.honest_workers)
            .map(|w| {
                let stop = &stop;
                s.spawn(move || -> anyhow::Result<usize> {
                    let mut runners: Vec<Runner> = bench.honest.iter().map(|m| m()).collect();
                    let mut done = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let n = runners.len();
                        runners[(w + done) % n]()?;
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        std::thread::sleep(time);
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|h| h.join().expect("honest worker"))
            .sum::<anyhow::Result<usize>>()
    })?;
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// One round of a phase: each honest worker runs a task every `interval`
/// for `length`, with hostile workers beside them when `hostile` is not
/// empty. A worker behind its schedule runs the next task at once.
fn honest_phase(
    bench: &HostileBench,
    length: Duration,
    hostile: &[(Option<Plugin>, &Attack)],
    runtime: &Runtime,
    interval: Duration,
) -> anyhow::Result<Phase> {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let end = started + length;
    let results = std::thread::scope(|s| {
        let mut honest = Vec::new();
        for w in 0..bench.honest_workers {
            honest.push(
                named("bench-honest")
                    .spawn_scoped(s, move || -> anyhow::Result<(usize, Vec<f64>)> {
                        let mut runners: Vec<Runner> = bench.honest.iter().map(|m| m()).collect();
                        let (mut done, mut latencies) = (0, Vec::new());
                        // Workers start staggered across one interval.
                        let mut slot = started
                            + interval.mul_f64(w as f64 / bench.honest_workers.max(1) as f64);
                        while slot < end {
                            if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                            let n = runners.len();
                            runners[(w + done) % n]()?;
                            latencies.push(slot.elapsed().as_secs_f64() * 1e3);
                            done += 1;
                            slot += interval;
                        }
                        Ok((done, latencies))
                    })
                    .expect("a thread for an honest worker"),
            );
        }
        if !hostile.is_empty() {
            for w in 0..bench.hostile_workers {
                let stop = &stop;
                named("bench-hostile")
                    .spawn_scoped(s, move || {
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
                    })
                    .expect("a thread for a hostile worker");
            }
        }
        // Joined before the hostile workers are stopped, and without
        // unwinding here: a panicked honest worker must still stop them.
        let results = honest.into_iter().map(|h| h.join()).collect::<Vec<_>>();
        stop.store(true, Ordering::Relaxed);
        results
    });
    // Until the last honest task finished: a node that fell behind its
    // schedule shows it as a lower rate.
    let elapsed = started.elapsed();
    let mut phase = Phase {
        done: 0,
        latencies: Vec::new(),
        elapsed,
    };
    for r in results {
        let (done, latencies) = r.map_err(|_| anyhow::anyhow!("an honest worker panicked"))??;
        phase.done += done;
        phase.latencies.extend(latencies);
    }
    Ok(phase)
}

/// A bench thread named for profilers (`perf sched`, `top -H`).
fn named(name: &str) -> std::thread::Builder {
    std::thread::Builder::new().name(name.into())
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
