//! The `nn` benchmark suite: latency and throughput of inferences through the
//! wasi-nn path against native `ort` on the same session settings and inputs.
//!
//! Figures (`BenchResult` names):
//! - `latency_p50:<model>`, `latency_p99:<model>`: µs per inference, one
//!   caller; baseline `native_ort`.
//! - `throughput_c<N>:<model>` for N = 1, 2, 4: inferences per second with N
//!   concurrent callers (N sessions); baseline `native_ort` at the same N.
//!
//! The measured path is an [`InferencePath`]. [`HostApiPath`] drives
//! [`crate::NnTaskCtx`] directly (the host half of the plugin path: table
//! lookup, checks, session pool, deadline watchdog, output wrapping, one
//! output copy); the runtime supplies the full plugin path (a guest calling
//! wasi-nn) through the same trait.

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::Context;
use clusterai_types::ContentHash;
use clusterai_types::bench::{BenchReport, BenchResult, percentile};
use ort::session::SessionInputValue;
use ort::value::{DynTensor, Shape};

use crate::{NnHost, NnSettings, Tensor, TensorType, element_size, tensor};

/// One input of a benchmark model.
#[derive(Debug, Clone)]
pub struct BenchInput {
    /// The input's name in the graph.
    pub name: String,
    /// Its dimensions.
    pub dims: Vec<u32>,
    /// Its element type.
    pub ty: TensorType,
    /// Its bytes.
    pub data: Vec<u8>,
}

impl BenchInput {
    /// An input filled with a deterministic pattern of `ty` values.
    pub fn pattern(name: &str, dims: Vec<u32>, ty: TensorType) -> Self {
        let n: usize = dims.iter().map(|&d| d as usize).product();
        let mut data = Vec::with_capacity(n * element_size(ty));
        for i in 0..n {
            match ty {
                TensorType::Fp32 => {
                    data.extend_from_slice(&(((i % 251) as f32) / 251.0 - 0.5).to_le_bytes())
                }
                TensorType::I64 => data.extend_from_slice(&(((i % 97) + 1) as i64).to_le_bytes()),
                TensorType::I32 => data.extend_from_slice(&(((i % 97) + 1) as i32).to_le_bytes()),
                _ => data.extend(std::iter::repeat_n((i % 7) as u8, element_size(ty))),
            }
        }
        Self {
            name: name.into(),
            dims,
            ty,
            data,
        }
    }

    /// An input whose every element is `value` (i64 inputs such as masks
    /// and token types).
    pub fn filled_i64(name: &str, dims: Vec<u32>, value: i64) -> Self {
        let n: usize = dims.iter().map(|&d| d as usize).product();
        Self {
            name: name.into(),
            dims,
            ty: TensorType::I64,
            data: value.to_le_bytes().repeat(n),
        }
    }

    fn tensor(&self) -> Tensor {
        Tensor::new(self.dims.clone(), self.ty, self.data.clone())
    }
}

/// A model to benchmark and the inputs of one inference.
#[derive(Debug, Clone)]
pub struct BenchModel {
    /// The short name used in result names (`latency_p50:<name>`).
    pub name: String,
    /// The model file.
    pub path: PathBuf,
    /// The inputs of one inference.
    pub inputs: Vec<BenchInput>,
}

impl BenchModel {
    /// The inputs of one inference as the `tensor` plugin reads them
    /// ([`encode_catn`]): what a plugin path sends per task.
    pub fn catn_input(&self) -> Vec<u8> {
        let tensors: Vec<(&str, u8, &[u32], &[u8])> = self
            .inputs
            .iter()
            .map(|i| {
                (
                    i.name.as_str(),
                    catn_dtype(i.ty),
                    i.dims.as_slice(),
                    i.data.as_slice(),
                )
            })
            .collect();
        encode_catn(&tensors)
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The models.
    pub models: Vec<BenchModel>,
    /// Concurrency levels for throughput (the issue asks for 1, 2, 4).
    pub concurrency: Vec<usize>,
    /// Time spent measuring each figure (after warm-up).
    pub measure: Duration,
    /// Fewest samples per latency figure, whatever `measure` says.
    pub min_samples: usize,
    /// Session settings shared by both paths (the pool size is raised to the
    /// highest concurrency).
    pub settings: NnSettings,
}

impl BenchOptions {
    /// The default suite: with `test_data` (host/nn/tests/data), the tiny MLP
    /// and a 4 MiB identity (which moves bytes and nothing else: the cost of
    /// the copies); then the real models of `scripts/setup-models.sh` from
    /// the cache, with fixed inputs.
    pub fn default_suite(test_data: Option<&std::path::Path>) -> Self {
        let dir = crate::ortlib::cache_dir().join("models");
        let f32 = TensorType::Fp32;
        let mut models = Vec::new();
        if let Some(dir) = test_data {
            models.push(BenchModel {
                name: "mlp".into(),
                path: dir.join("mlp.onnx"),
                inputs: vec![BenchInput::pattern("x", vec![1, 4], f32)],
            });
            models.push(BenchModel {
                name: "identity-4mb".into(),
                path: dir.join("identity.onnx"),
                inputs: vec![BenchInput::pattern("x", vec![1 << 20], f32)],
            });
        }
        let real = [
            (
                "ppocr-det",
                vec![BenchInput::pattern("x", vec![1, 3, 320, 320], f32)],
            ),
            (
                "ppocr-cls",
                vec![BenchInput::pattern("x", vec![1, 3, 48, 192], f32)],
            ),
            (
                "ppocr-rec",
                vec![BenchInput::pattern("x", vec![1, 3, 48, 320], f32)],
            ),
            (
                "minilm-l6-int8",
                vec![
                    BenchInput::pattern("input_ids", vec![1, 32], TensorType::I64),
                    BenchInput::filled_i64("attention_mask", vec![1, 32], 1),
                    BenchInput::filled_i64("token_type_ids", vec![1, 32], 0),
                ],
            ),
        ];
        for (name, inputs) in real {
            models.push(BenchModel {
                name: name.into(),
                path: dir.join(format!("{name}.onnx")),
                inputs,
            });
        }
        Self {
            models,
            concurrency: vec![1, 2, 4],
            measure: Duration::from_secs(2),
            min_samples: 20,
            settings: NnSettings::default(),
        }
    }
}

/// Runs inferences the way the measured path does. One runner per thread.
pub trait InferencePath: Send + Sync {
    /// A label for reports.
    fn label(&self) -> &str;
    /// Prepares a runner for `model` (loaded under `hash`); the runner does
    /// one full inference per call.
    fn runner(
        &self,
        model: &BenchModel,
        hash: ContentHash,
    ) -> anyhow::Result<Box<dyn FnMut() -> anyhow::Result<()> + Send>>;
}

/// The host half of the plugin path: [`crate::NnTaskCtx`] called directly,
/// a fresh task context per inference as the runtime does per task.
#[derive(Debug, Clone)]
pub struct HostApiPath {
    host: NnHost,
}

impl HostApiPath {
    /// Over `host` (which must hold the benchmarked models).
    pub fn new(host: NnHost) -> Self {
        Self { host }
    }
}

impl InferencePath for HostApiPath {
    fn label(&self) -> &str {
        "wasi_nn_host"
    }

    fn runner(
        &self,
        model: &BenchModel,
        hash: ContentHash,
    ) -> anyhow::Result<Box<dyn FnMut() -> anyhow::Result<()> + Send>> {
        let host = self.host.clone();
        let inputs = model.inputs.clone();
        let name = hash.to_hex();
        Ok(Box::new(move || {
            let mut task = host.task_ctx(None);
            let graph = task.load_by_name(&name)?;
            let exec = task.init_execution_context(&graph)?;
            let ins = inputs
                .iter()
                .map(|i| (i.name.clone(), i.tensor()))
                .collect();
            let outs = task.compute(&exec, ins)?;
            // The guest reads every output once.
            let n: usize = outs.iter().map(|(_, t)| t.bytes().to_vec().len()).sum();
            std::hint::black_box(n);
            Ok(())
        }))
    }
}

/// Native `ort`: a session built with the same settings, inputs wrapped once
/// (no copy per call), outputs read in place.
fn native_runner(
    host: &NnHost,
    model: &BenchModel,
) -> anyhow::Result<Box<dyn FnMut() -> anyhow::Result<()> + Send>> {
    let bytes =
        std::fs::read(&model.path).with_context(|| format!("reading {}", model.path.display()))?;
    let env = crate::ortlib::environment(host.library())?;
    let (mut session, _, _) = crate::model::build_session(&env, host.settings(), &bytes)?;
    let mut values = Vec::new();
    for i in &model.inputs {
        let mut t = DynTensor::new(
            &ort::memory::Allocator::default(),
            tensor::to_ort(i.ty),
            Shape::new(i.dims.iter().map(|&d| i64::from(d))),
        )?;
        let dst = t.data_ptr_mut().cast::<u8>();
        anyhow::ensure!(!dst.is_null() || i.data.is_empty(), "null tensor buffer");
        if !i.data.is_empty() {
            // SAFETY: ONNX Runtime allocated the tensor for `dims` of `ty`,
            // which is `data.len()` bytes (built by `BenchInput`); distinct buffers.
            unsafe { std::ptr::copy_nonoverlapping(i.data.as_ptr(), dst, i.data.len()) };
        }
        values.push((i.name.clone(), t));
    }
    Ok(Box::new(move || {
        let ins: Vec<(std::borrow::Cow<'_, str>, SessionInputValue<'_>)> = values
            .iter()
            .map(|(n, t)| (n.as_str().into(), SessionInputValue::from(t.view())))
            .collect();
        let outs = session.run(ins)?;
        std::hint::black_box(outs.len());
        Ok(())
    }))
}

type Runner = Box<dyn FnMut() -> anyhow::Result<()> + Send>;

fn latencies(mut run: Runner, opts: &BenchOptions) -> anyhow::Result<Vec<f64>> {
    for _ in 0..3 {
        run()?;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < opts.min_samples || start.elapsed() < opts.measure {
        let t = Instant::now();
        run()?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        if samples.len() >= 100_000 {
            break;
        }
    }
    Ok(samples)
}

fn throughput(runners: Vec<Runner>, measure: Duration) -> anyhow::Result<f64> {
    let n = runners.len();
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut handles = Vec::with_capacity(n);
    for mut run in runners {
        let barrier = barrier.clone();
        handles.push(std::thread::spawn(move || -> anyhow::Result<u64> {
            run()?;
            barrier.wait();
            let start = Instant::now();
            let mut count = 0u64;
            while start.elapsed() < measure {
                run()?;
                count += 1;
            }
            Ok(count)
        }));
    }
    barrier.wait();
    let start = Instant::now();
    let mut total = 0u64;
    for h in handles {
        total += h
            .join()
            .map_err(|_| anyhow::anyhow!("a benchmark thread panicked"))??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Runs the suite: `path` against native `ort` for each model of `opts`.
/// `path = None` measures [`HostApiPath`] on a host built from `opts.settings`.
pub fn run(opts: &BenchOptions, path: Option<&dyn InferencePath>) -> anyhow::Result<BenchReport> {
    let max_c = opts.concurrency.iter().copied().max().unwrap_or(1);
    let mut settings = opts.settings.clone();
    settings.sessions_per_model = settings.sessions_per_model.max(max_c);
    let host = NnHost::new(settings)?;
    let host_path = HostApiPath::new(host.clone());
    let path: &dyn InferencePath = path.unwrap_or(&host_path);

    let mut report = BenchReport::new("nn");
    for model in &opts.models {
        anyhow::ensure!(
            model.path.is_file(),
            "benchmark model {} not found at {}; run scripts/setup-models.sh",
            model.name,
            model.path.display()
        );
        let hash = host.add_model_file(&model.path)?;
        tracing::info!(model = %model.name, via = path.label(), "benchmarking");

        let mut ours = latencies(path.runner(model, hash)?, opts)?;
        let mut native = latencies(native_runner(&host, model)?, opts)?;
        for p in [50.0, 99.0] {
            report.results.push(BenchResult::new(
                format!("latency_p{p:.0}:{}", model.name),
                "us",
                percentile(&mut ours, p),
                "native_ort",
                percentile(&mut native, p),
            ));
        }
        for &c in &opts.concurrency {
            let ours = (0..c)
                .map(|_| path.runner(model, hash))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let ours = throughput(ours, opts.measure)?;
            let native = (0..c)
                .map(|_| native_runner(&host, model))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let native = throughput(native, opts.measure)?;
            report.results.push(BenchResult::new(
                format!("throughput_c{c}:{}", model.name),
                "inf/s",
                ours,
                "native_ort",
                native,
            ));
        }
    }
    Ok(report)
}

/// The `tensor` plugin's compact binary input (`CATN` version 1): a count,
/// then per tensor its name, dtype code ([`catn_dtype`]), dimensions and
/// little-endian bytes. Used by the plugin-path benchmarks and tests.
pub fn encode_catn(tensors: &[(&str, u8, &[u32], &[u8])]) -> Vec<u8> {
    let mut b = b"CATN\x01".to_vec();
    b.extend((tensors.len() as u32).to_le_bytes());
    for (name, dtype, dims, data) in tensors {
        b.extend((name.len() as u16).to_le_bytes());
        b.extend(name.as_bytes());
        b.push(*dtype);
        b.push(dims.len() as u8);
        for d in *dims {
            b.extend(d.to_le_bytes());
        }
        b.extend((data.len() as u64).to_le_bytes());
        b.extend(*data);
    }
    b
}

/// The `CATN` code of an element type.
pub fn catn_dtype(ty: TensorType) -> u8 {
    use TensorType as T;
    match ty {
        T::Fp16 => 0,
        T::Fp32 => 1,
        T::Fp64 => 2,
        T::Bf16 => 3,
        T::U8 => 4,
        T::I32 => 5,
        T::I64 => 6,
    }
}
