//! The `api` suite: a node in-process on loopback, driven over HTTP by a
//! small keep-alive load generator, against the same tasks run in-process on
//! the node's own runtime (the same loaded plugin, the same policy, the same
//! number of tasks at once as the node's worker pool).
//!
//! What the HTTP figures pay for beyond the baseline: the request and its
//! JSON, the durable queue (the task and its input committed before the
//! answer), the scheduler hand-off, the signed receipt, and the answer's
//! JSON; the load generator shares the machine's cores with the node.
//!
//! Figures: `tasks_per_s_c64:hello`, `tasks_per_s_c8:ocr` (tasks/s, baseline
//! `in_process_c64:hello` / `in_process_c8:ocr`), `latency_p50_c1:hello` and
//! `latency_p99_c64:hello` (µs, baseline in-process at the same concurrency).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use clusterai_node::service::refusal_text;
use clusterai_node::{Daemon, Node, NodeConfig};
use clusterai_runtime::{Plugin, TaskInput};
use clusterai_types::{ContentHash, TaskPolicy};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::report::{BenchReport, BenchResult, micros, percentile};

/// What the suite runs and for how long.
#[derive(Debug)]
pub struct ApiBench {
    /// The `hello` plugin.
    pub hello: Vec<u8>,
    /// The `ocr` plugin.
    pub ocr: Vec<u8>,
    /// A PNG for the OCR tasks.
    pub ocr_image: Vec<u8>,
    /// Model files the node preloads (those the OCR plugin declares among them).
    pub models: Vec<PathBuf>,
    /// How long each throughput figure is measured (after a warm-up).
    pub measure: Duration,
    /// Sequential tasks for the c=1 latency.
    pub latency_samples: usize,
}

/// One kind of task, as the HTTP client and the in-process path send it.
/// The in-process path builds its input once and shares it, as a caller
/// of the runtime would.
struct Job {
    body: Vec<u8>,
    plugin: Plugin,
    input: Arc<TaskInput>,
    policy: Arc<TaskPolicy>,
}

/// Runs the suite. Needs a multi-threaded tokio runtime.
pub async fn run(bench: &ApiBench) -> anyhow::Result<BenchReport> {
    let dir = tempfile::tempdir()?;
    let mut config = NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..NodeConfig::default()
    };
    config.http.bind = "127.0.0.1:0".parse()?;
    config.iroh.bind = "127.0.0.1:0".parse()?;
    // 64 callers with `wait` must never meet a full queue.
    config.queue.capacity = config.queue.capacity.max(1024);
    config.preload.models = bench.models.clone();
    let daemon = Daemon::start(config).await?;
    let node = daemon.node.clone();
    let started = Instant::now();
    while let Err(why) = node.readiness() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the node is not ready: {why}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let workers = node.config().workers();
    tracing::info!(addr = %daemon.http_addr, workers, "node ready");

    let hello = job(&node, &bench.hello, b"bench".to_vec(), "text/plain").await?;
    let ocr = job(&node, &bench.ocr, bench.ocr_image.clone(), "image/png").await?;
    let addr = daemon.http_addr;
    let mut report = BenchReport::new("api");

    // Warm both paths (compile cache, sessions, connections).
    measure_http(addr, &hello, 4, Duration::from_millis(500)).await?;
    measure_local(&hello, 4, workers, Duration::from_millis(500)).await?;
    measure_http(addr, &ocr, 2, Duration::from_millis(500)).await?;
    measure_local(&ocr, 2, workers, Duration::from_millis(500)).await?;

    let mut http = latencies_c1_http(addr, &hello, bench.latency_samples).await?;
    let mut local = latencies_c1_local(&hello, bench.latency_samples).await?;
    report.results.push(BenchResult::new(
        "latency_p50_c1:hello",
        "us",
        percentile(&mut http, 50.0),
        "in_process_p50_c1:hello",
        percentile(&mut local, 50.0),
    ));

    let mut http = measure_http(addr, &hello, 64, bench.measure).await?;
    let mut local = measure_local(&hello, 64, workers, bench.measure).await?;
    report.results.push(BenchResult::new(
        "tasks_per_s_c64:hello",
        "tasks/s",
        http.rate(),
        "in_process_c64:hello",
        local.rate(),
    ));
    report.results.push(BenchResult::new(
        "latency_p99_c64:hello",
        "us",
        percentile(&mut http.latencies, 99.0),
        "in_process_p99_c64:hello",
        percentile(&mut local.latencies, 99.0),
    ));

    let http = measure_http(addr, &ocr, 8, bench.measure).await?;
    let local = measure_local(&ocr, 8, workers, bench.measure).await?;
    report.results.push(BenchResult::new(
        "tasks_per_s_c8:ocr",
        "tasks/s",
        http.rate(),
        "in_process_c8:ocr",
        local.rate(),
    ));

    daemon.stop(Duration::from_secs(10)).await?;
    Ok(report)
}

/// Uploads `wasm` and builds the task both paths run.
async fn job(
    node: &Arc<Node>,
    wasm: &[u8],
    input: Vec<u8>,
    content_type: &str,
) -> anyhow::Result<Job> {
    let record = node
        .add_plugin(wasm.to_vec())
        .await
        .map_err(|r| anyhow::anyhow!("uploading a plugin: {}", refusal_text(&r)))?;
    let plugin = node
        .plugin(record.hash)
        .await
        .map_err(|r| anyhow::anyhow!("loading {}: {}", record.name, refusal_text(&r)))?;
    let body = serde_json::to_vec(&serde_json::json!({
        "plugin": record.hash,
        "input": {"base64": base64::engine::general_purpose::STANDARD.encode(&input)},
        "content_type": content_type,
    }))?;
    let policy = node
        .config()
        .limits
        .apply(&Default::default(), &[] as &[ContentHash])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (input, policy) = (
        Arc::new(TaskInput::new(input, content_type)),
        Arc::new(policy),
    );
    // Both paths must do real work: one task in-process proves it (on a
    // blocking thread, as tasks run: capabilities may block on the store).
    let (p, i, l) = (plugin.clone(), input.clone(), policy.clone());
    tokio::task::spawn_blocking(move || p.run(&i, Some(&l)))
        .await?
        .with_context(|| format!("{} failed in-process", plugin.info().name))?;
    Ok(Job {
        body,
        plugin,
        input,
        policy,
    })
}

/// Tasks finished in a window, and each one's latency in µs.
struct Window {
    done: usize,
    elapsed: Duration,
    latencies: Vec<f64>,
}

impl Window {
    fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }
}

/// `callers` connections each submitting `job` with `wait` until `window` ends.
async fn measure_http(
    addr: SocketAddr,
    job: &Job,
    callers: usize,
    window: Duration,
) -> anyhow::Result<Window> {
    let body = Arc::new(job.body.clone());
    let start = Instant::now();
    let end = start + window;
    let mut handles = Vec::new();
    for _ in 0..callers {
        let body = body.clone();
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                conn.submit(&body).await?;
                latencies.push(micros(t.elapsed()));
            }
            anyhow::Ok(latencies)
        }));
    }
    collect(handles, start).await
}

/// `callers` callers each running `job` on the node's runtime until `window`
/// ends, at most `slots` at once (the node's worker pool).
async fn measure_local(
    job: &Job,
    callers: usize,
    slots: usize,
    window: Duration,
) -> anyhow::Result<Window> {
    let permits = Arc::new(tokio::sync::Semaphore::new(slots));
    let start = Instant::now();
    let end = start + window;
    let mut handles = Vec::new();
    for _ in 0..callers {
        let permits = permits.clone();
        let (plugin, input, policy) = (job.plugin.clone(), job.input.clone(), job.policy.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let permit = permits.clone().acquire_owned().await?;
                let (plugin, input, policy) = (plugin.clone(), input.clone(), policy.clone());
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    plugin.run(&input, Some(&policy))
                })
                .await??;
                latencies.push(micros(t.elapsed()));
            }
            anyhow::Ok(latencies)
        }));
    }
    collect(handles, start).await
}

async fn collect(
    handles: Vec<tokio::task::JoinHandle<anyhow::Result<Vec<f64>>>>,
    start: Instant,
) -> anyhow::Result<Window> {
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await??);
    }
    Ok(Window {
        done: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    })
}

async fn latencies_c1_http(addr: SocketAddr, job: &Job, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut conn = Conn::connect(addr).await?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        conn.submit(&job.body).await?;
        out.push(micros(t.elapsed()));
    }
    Ok(out)
}

async fn latencies_c1_local(job: &Job, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (plugin, input, policy) = (job.plugin.clone(), job.input.clone(), job.policy.clone());
        let t = Instant::now();
        tokio::task::spawn_blocking(move || plugin.run(&input, Some(&policy))).await??;
        out.push(micros(t.elapsed()));
    }
    Ok(out)
}

/// One keep-alive HTTP/1.1 connection that submits tasks with `wait`.
struct Conn {
    stream: BufReader<TcpStream>,
    head: Vec<u8>,
    line: String,
    body: Vec<u8>,
}

/// What a finished, successful task's answer contains.
const SUCCEEDED: &[u8] = br#""state":"succeeded""#;

impl Conn {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            head: format!(
                "POST /v1/tasks?wait=60 HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: "
            )
            .into_bytes(),
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// Submits `body` and reads the answer; anything but a succeeded task
    /// is an error (a figure over failures would measure nothing).
    async fn submit(&mut self, body: &[u8]) -> anyhow::Result<()> {
        let mut request = self.head.clone();
        request.extend_from_slice(format!("{}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
        self.stream.get_mut().write_all(&request).await?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await?;
        let status = self.line.split(' ').nth(1).unwrap_or("").to_string();
        let mut length = None;
        loop {
            self.line.clear();
            anyhow::ensure!(
                self.stream.read_line(&mut self.line).await? > 0,
                "the node closed the connection"
            );
            let header = self.line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = Some(v.trim().parse::<usize>()?);
            }
        }
        let length = length.context("an answer without content-length")?;
        self.body.resize(length, 0);
        self.stream.read_exact(&mut self.body).await?;
        anyhow::ensure!(
            status == "200" && self.body.windows(SUCCEEDED.len()).any(|w| w == SUCCEEDED),
            "the node answered {status}: {}",
            String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
        );
        Ok(())
    }
}
