//! What the node counts: Prometheus metrics (`/metrics`) and the recent
//! history the dashboard charts (`/v1/stats`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    plugin: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabel {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabel {
    cache: String,
}

fn seconds_histogram() -> Histogram {
    // 0.5 ms .. ~33 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

fn bytes_histogram() -> Histogram {
    // 64 KiB .. 4 GiB.
    Histogram::new(exponential_buckets(65536.0, 2.0, 17))
}

/// Seconds of history the dashboard charts, in buckets of [`BUCKET_SECS`].
const HISTORY_SECS: u64 = 300;
/// One chart point.
pub const BUCKET_SECS: u64 = 5;
/// Failures the dashboard lists.
const RECENT_FAILURES: usize = 20;
/// Latencies kept per bucket for its percentiles.
const SAMPLES_PER_BUCKET: usize = 2048;

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    tasks: Family<TaskLabels, Counter>,
    latency: Family<PluginLabel, Histogram, fn() -> Histogram>,
    run_time: Family<PluginLabel, Histogram, fn() -> Histogram>,
    fuel: Family<PluginLabel, Counter>,
    peak_memory: Histogram,
    peak_host_memory: Histogram,
    inference: Family<ProviderLabel, Histogram, fn() -> Histogram>,
    inference_memory: Histogram,
    plugin_loads: Family<CacheLabel, Counter>,
    queue_depth: Gauge,
    running: Gauge,
    iroh_bytes_served: Counter,
    served_seen: AtomicU64,
    rejected: Counter,
    history: Mutex<History>,
    /// Tasks finished since start: succeeded, failed, cancelled.
    totals: [AtomicU64; 3],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct History {
    buckets: VecDeque<Bucket>,
    failures: VecDeque<RecentFailure>,
}

#[derive(Debug, Default, Clone)]
struct Bucket {
    start_s: u64,
    finished: u64,
    failed: u64,
    latencies_us: Vec<u64>,
}

/// A task that failed recently, for the dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecentFailure {
    /// The task.
    pub id: String,
    /// Its plugin's name.
    pub plugin: String,
    /// The failure's kind.
    pub kind: String,
    /// Its message.
    pub message: String,
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
}

/// One point of the dashboard's charts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatPoint {
    /// The bucket's start (s since the Unix epoch).
    pub t: u64,
    /// Tasks finished per second over the bucket.
    pub per_second: f64,
    /// Of them, failed.
    pub failed: u64,
    /// Median submit-to-finish latency, in ms.
    pub p50_ms: f64,
    /// 99th percentile, in ms.
    pub p99_ms: f64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("clusterai");
        let tasks = Family::<TaskLabels, Counter>::default();
        let latency: Family<PluginLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(seconds_histogram);
        let run_time: Family<PluginLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(seconds_histogram);
        let fuel = Family::<PluginLabel, Counter>::default();
        let peak_memory = bytes_histogram();
        let peak_host_memory = bytes_histogram();
        let inference: Family<ProviderLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(seconds_histogram);
        let inference_memory = bytes_histogram();
        let plugin_loads = Family::<CacheLabel, Counter>::default();
        let queue_depth = Gauge::default();
        let running = Gauge::default();
        let iroh_bytes_served = Counter::default();
        let rejected = Counter::default();
        registry.register(
            "tasks",
            "Tasks finished, by plugin and outcome",
            tasks.clone(),
        );
        registry.register(
            "task_latency_seconds",
            "Time from acceptance to the end of a task",
            latency.clone(),
        );
        registry.register(
            "task_run_seconds",
            "Time a task ran in the sandbox",
            run_time.clone(),
        );
        registry.register("task_fuel", "Fuel tasks used", fuel.clone());
        registry.register(
            "task_peak_memory_bytes",
            "The largest linear memory of each task",
            peak_memory.clone(),
        );
        registry.register(
            "task_peak_host_memory_bytes",
            "The most each task made the host hold outside its sandbox at once",
            peak_host_memory.clone(),
        );
        registry.register(
            "inference_seconds",
            "Time inside ONNX Runtime per inference, by execution provider",
            inference.clone(),
        );
        registry.register(
            "inference_peak_bytes",
            "ONNX Runtime's working memory at its peak, per inference",
            inference_memory.clone(),
        );
        registry.register(
            "plugin_loads",
            "Plugins loaded, by compile-cache outcome",
            plugin_loads.clone(),
        );
        registry.register(
            "queue_depth",
            "Tasks waiting for a worker",
            queue_depth.clone(),
        );
        registry.register("tasks_running", "Tasks running now", running.clone());
        registry.register(
            "iroh_served_bytes",
            "Blob bytes served to other nodes over iroh",
            iroh_bytes_served.clone(),
        );
        registry.register(
            "tasks_rejected",
            "Submissions refused because the queue was full",
            rejected.clone(),
        );
        Self {
            registry,
            tasks,
            latency,
            run_time,
            fuel,
            peak_memory,
            peak_host_memory,
            inference,
            inference_memory,
            plugin_loads,
            queue_depth,
            running,
            iroh_bytes_served,
            served_seen: AtomicU64::new(0),
            rejected,
            history: Mutex::new(History::default()),
            totals: Default::default(),
        }
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A task ended.
    #[allow(clippy::too_many_arguments)]
    pub fn finished(
        &self,
        id: &str,
        plugin: &str,
        outcome: &str,
        failure: Option<(&str, &str)>,
        latency_us: u64,
        run_us: u64,
        fuel: u64,
        peak_memory: u64,
        peak_host_memory: u64,
    ) {
        let slot = match outcome {
            "succeeded" => 0,
            "failed" => 1,
            _ => 2,
        };
        self.totals[slot].fetch_add(1, Ordering::Relaxed);
        self.tasks
            .get_or_create(&TaskLabels {
                plugin: plugin.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        let label = PluginLabel {
            plugin: plugin.to_string(),
        };
        self.latency
            .get_or_create(&label)
            .observe(latency_us as f64 / 1e6);
        self.run_time
            .get_or_create(&label)
            .observe(run_us as f64 / 1e6);
        self.fuel.get_or_create(&label).inc_by(fuel);
        if peak_memory > 0 {
            self.peak_memory.observe(peak_memory as f64);
        }
        if peak_host_memory > 0 {
            self.peak_host_memory.observe(peak_host_memory as f64);
        }
        let now_ms = crate::task::now_ms();
        let start_s = now_ms / 1000 / BUCKET_SECS * BUCKET_SECS;
        let mut h = self.history();
        if h.buckets.back().is_none_or(|b| b.start_s != start_s) {
            h.buckets.push_back(Bucket {
                start_s,
                ..Bucket::default()
            });
            while h
                .buckets
                .front()
                .is_some_and(|b| b.start_s + HISTORY_SECS < start_s)
            {
                h.buckets.pop_front();
            }
        }
        if let Some(b) = h.buckets.back_mut() {
            b.finished += 1;
            if failure.is_some() {
                b.failed += 1;
            }
            if b.latencies_us.len() < SAMPLES_PER_BUCKET {
                b.latencies_us.push(latency_us);
            }
        }
        if let Some((kind, message)) = failure {
            h.failures.push_front(RecentFailure {
                id: id.to_string(),
                plugin: plugin.to_string(),
                kind: kind.to_string(),
                message: message.chars().take(500).collect(),
                at_ms: now_ms,
            });
            h.failures.truncate(RECENT_FAILURES);
        }
    }

    /// One inference took `micros` on `provider` and at most `peak_bytes`
    /// of ONNX Runtime's working memory at once.
    pub fn inference(&self, provider: &str, micros: u64, peak_bytes: u64) {
        self.inference
            .get_or_create(&ProviderLabel {
                provider: provider.to_string(),
            })
            .observe(micros as f64 / 1e6);
        self.inference_memory.observe(peak_bytes as f64);
    }

    /// A plugin was loaded (`hit`, `miss`, `recompiled`).
    pub fn plugin_loaded(&self, cache: &str) {
        self.plugin_loads
            .get_or_create(&CacheLabel {
                cache: cache.to_string(),
            })
            .inc();
    }

    /// A submission was refused for a full queue.
    pub fn rejected(&self) {
        self.rejected.inc();
    }

    /// The queue and running counts, and the bytes the iroh endpoint has
    /// served so far.
    pub fn set_state(&self, queued: usize, running: usize, bytes_served: u64) {
        self.queue_depth.set(queued as i64);
        self.running.set(running as i64);
        let seen = self.served_seen.swap(bytes_served, Ordering::Relaxed);
        self.iroh_bytes_served
            .inc_by(bytes_served.saturating_sub(seen));
    }

    /// The Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }

    /// The dashboard's chart points, oldest first.
    pub fn points(&self) -> Vec<StatPoint> {
        let h = self.history();
        h.buckets
            .iter()
            .map(|b| {
                let mut l = b.latencies_us.clone();
                l.sort_unstable();
                let pct = |p: f64| {
                    if l.is_empty() {
                        0.0
                    } else {
                        let rank = ((p / 100.0) * l.len() as f64).ceil() as usize;
                        l[rank.clamp(1, l.len()) - 1] as f64 / 1000.0
                    }
                };
                StatPoint {
                    t: b.start_s,
                    per_second: b.finished as f64 / BUCKET_SECS as f64,
                    failed: b.failed,
                    p50_ms: pct(50.0),
                    p99_ms: pct(99.0),
                }
            })
            .collect()
    }

    /// Tasks finished since start: (succeeded, failed, cancelled).
    pub fn totals(&self) -> (u64, u64, u64) {
        (
            self.totals[0].load(Ordering::Relaxed),
            self.totals[1].load(Ordering::Relaxed),
            self.totals[2].load(Ordering::Relaxed),
        )
    }

    /// The latest failures, newest first.
    pub fn failures(&self) -> Vec<RecentFailure> {
        self.history().failures.iter().cloned().collect()
    }
}
