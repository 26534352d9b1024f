//! The `nn` suite: latency and throughput of inferences through the plugin
//! path against native `ort` on the same session settings and inputs.
//!
//! Figures (`BenchResult` names):
//! - `latency_p50:<model>`, `latency_p99:<model>`: µs per inference, one
//!   caller; baseline `native_ort`.
//! - `throughput_c<N>:<model>` for N = 1, 2, 4: inferences per second with N
//!   concurrent callers (N sessions); baseline `native_ort` at the same N.
//!
//! The models are every pinned ONNX model (`models/models.toml`, with the
//! inputs its `[model.bench]` gives) plus two test models: a tiny MLP and a
//! 4 MiB identity, which moves bytes and nothing else (the cost of the
//! copies). The measured path is an [`InferencePath`]: [`PluginPath`] (a
//! task of the `tensor` example plugin per inference, through the runtime
//! and its wasi-nn capability, as a buyer's task runs) or [`HostApiPath`]
//! (the host half alone: `NnTaskCtx` called directly).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::Context;
use clusterai_nn::{ModelAccess, NnHost, NnSettings, Tensor, parse_type_name};
use clusterai_runtime::{Plugin, TaskInput};
use clusterai_types::models::{self, Fill, ModelKind};
use clusterai_types::{ContentHash, TaskPolicy};
use ort::session::SessionInputValue;
use ort::value::{DynTensor, Shape};

use crate::catn;
use crate::report::{BenchReport, BenchResult, micros, percentile};

/// One input of a benchmark model.
#[derive(Debug, Clone)]
pub struct BenchInput {
    /// The input's name in the graph.
    pub name: String,
    /// Its dimensions.
    pub dims: Vec<u32>,
    /// Its element type (wasi-nn short name: `f32`, `i64`, ...).
    pub dtype: &'static str,
    /// Its bytes.
    pub data: Vec<u8>,
}

impl BenchInput {
    /// An input of `dims` and `dtype` filled as `fill` says.
    pub fn new(name: &str, dims: &[u32], dtype: &'static str, fill: Fill) -> anyhow::Result<Self> {
        let size = catn::element_size(dtype)
            .with_context(|| format!("input {name}: unknown dtype {dtype:?}"))?;
        let n: usize = dims.iter().map(|&d| d as usize).product();
        let mut data = Vec::with_capacity(n * size);
        for i in 0..n {
            match (fill, dtype) {
                (Fill::Value(v), "i64") => data.extend_from_slice(&v.to_le_bytes()),
                (Fill::Value(v), "i32") => data.extend_from_slice(&(v as i32).to_le_bytes()),
                (Fill::Value(v), "f32") => data.extend_from_slice(&(v as f32).to_le_bytes()),
                (Fill::Pattern, "f32") => {
                    data.extend_from_slice(&(((i % 251) as f32) / 251.0 - 0.5).to_le_bytes())
                }
                (Fill::Pattern, "i64") => {
                    data.extend_from_slice(&(((i % 97) + 1) as i64).to_le_bytes())
                }
                (Fill::Pattern, "i32") => {
                    data.extend_from_slice(&(((i % 97) + 1) as i32).to_le_bytes())
                }
                _ => data.extend(std::iter::repeat_n((i % 7) as u8, size)),
            }
        }
        Ok(Self {
            name: name.into(),
            dims: dims.to_vec(),
            dtype,
            data,
        })
    }

    fn tensor(&self) -> anyhow::Result<Tensor> {
        let ty = parse_type_name(self.dtype).context("dtype")?;
        Ok(Tensor::new(self.dims.clone(), ty, self.data.clone()))
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
    /// ([`catn::encode`]): what a plugin path sends per task.
    pub fn catn_input(&self) -> Vec<u8> {
        let tensors: Vec<catn::CatnTensor<'_>> = self
            .inputs
            .iter()
            .map(|i| {
                (
                    i.name.as_str(),
                    catn::dtype_code(i.dtype).unwrap_or(u8::MAX),
                    i.dims.as_slice(),
                    i.data.as_slice(),
                )
            })
            .collect();
        catn::encode(&tensors)
    }

    /// Every pinned ONNX model with its `[model.bench]` inputs, from the
    /// files the set-up verified into the cache.
    pub fn pinned() -> anyhow::Result<Vec<Self>> {
        models::ALL
            .iter()
            .filter(|m| m.kind == ModelKind::Onnx)
            .map(|m| {
                Ok(Self {
                    name: m.name.into(),
                    path: m.cached_path(),
                    inputs: m
                        .bench_inputs
                        .iter()
                        .map(|i| BenchInput::new(i.name, i.dims, i.dtype, i.fill))
                        .collect::<anyhow::Result<_>>()?,
                })
            })
            .collect()
    }

    /// The test models of `test_data` (the nn crate's `tests/data`): the
    /// tiny MLP and the 4 MiB identity.
    pub fn test_models(test_data: &Path) -> anyhow::Result<Vec<Self>> {
        Ok(vec![
            Self {
                name: "mlp".into(),
                path: test_data.join("mlp.onnx"),
                inputs: vec![BenchInput::new("x", &[1, 4], "f32", Fill::Pattern)?],
            },
            Self {
                name: "identity-4mb".into(),
                path: test_data.join("identity.onnx"),
                inputs: vec![BenchInput::new("x", &[1 << 20], "f32", Fill::Pattern)?],
            },
        ])
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The models.
    pub models: Vec<BenchModel>,
    /// Concurrency levels for throughput.
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
    /// The default suite: the test models of `test_data` (when given), then
    /// every pinned model.
    pub fn default_suite(test_data: Option<&Path>) -> anyhow::Result<Self> {
        let mut models = match test_data {
            Some(dir) => BenchModel::test_models(dir)?,
            None => Vec::new(),
        };
        models.extend(BenchModel::pinned()?);
        Ok(Self {
            models,
            concurrency: vec![1, 2, 4],
            measure: Duration::from_secs(2),
            min_samples: 20,
            settings: NnSettings::default(),
        })
    }

    /// The settings both paths run with: the pool sized for the highest
    /// concurrency.
    pub fn session_settings(&self) -> NnSettings {
        let max_c = self.concurrency.iter().copied().max().unwrap_or(1);
        NnSettings {
            sessions_per_model: self.settings.sessions_per_model.max(max_c),
            ..self.settings.clone()
        }
    }
}

/// A runner does one full inference per call. One runner per thread.
pub type Runner = Box<dyn FnMut() -> anyhow::Result<()> + Send>;

/// Runs inferences the way the measured path does.
pub trait InferencePath: Send + Sync {
    /// A label for logs.
    fn label(&self) -> &str;
    /// Prepares a runner for `model` (loaded under `hash`).
    fn runner(&self, model: &BenchModel, hash: ContentHash) -> anyhow::Result<Runner>;
}

/// The host half of the plugin path: `NnTaskCtx` called directly, a fresh
/// task context per inference as the runtime makes per task.
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

    fn runner(&self, model: &BenchModel, hash: ContentHash) -> anyhow::Result<Runner> {
        let host = self.host.clone();
        let inputs = model.inputs.clone();
        let name = hash.to_hex();
        let policy = TaskPolicy::default();
        Ok(Box::new(move || {
            let mut task = host.task_ctx(&policy, ModelAccess::Any, None);
            let graph = task.load_by_name(&name)?;
            let exec = task.init_execution_context(&graph)?;
            let ins = inputs
                .iter()
                .map(|i| Ok((i.name.clone(), i.tensor()?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let outs = task.compute(&exec, ins)?;
            // The guest reads every output once.
            let n: usize = outs.iter().map(|(_, t)| t.bytes().to_vec().len()).sum();
            std::hint::black_box(n);
            Ok(())
        }))
    }
}

/// The full plugin path: the `tensor` example plugin in a fresh instance per
/// inference, through a runtime with the wasi-nn capability; the task names
/// the model it opens.
#[derive(Debug, Clone)]
pub struct PluginPath {
    plugin: Plugin,
}

impl PluginPath {
    /// `tensor` is the `tensor` example plugin, loaded in a runtime whose
    /// wasi-nn host holds the benchmarked models.
    pub fn new(tensor: Plugin) -> Self {
        Self { plugin: tensor }
    }
}

impl InferencePath for PluginPath {
    fn label(&self) -> &str {
        "plugin"
    }

    fn runner(&self, model: &BenchModel, hash: ContentHash) -> anyhow::Result<Runner> {
        let input = TaskInput::new(model.catn_input(), "application/x-clusterai-tensors")
            .param("model", hash.to_hex());
        let policy = TaskPolicy {
            models: vec![hash],
            ..self.plugin.default_policy().clone()
        };
        let plugin = self.plugin.clone();
        Ok(Box::new(move || {
            let result = plugin.run(&input, Some(&policy))?;
            std::hint::black_box(result.output.data.len());
            Ok(())
        }))
    }
}

/// Native `ort`: a session built with the same settings, inputs wrapped once
/// (no copy per call), outputs read in place.
fn native_runner(host: &NnHost, model: &BenchModel) -> anyhow::Result<Runner> {
    let bytes =
        std::fs::read(&model.path).with_context(|| format!("reading {}", model.path.display()))?;
    let mut session = host.native_session(&bytes)?;
    let mut values = Vec::new();
    for i in &model.inputs {
        let ty = parse_type_name(i.dtype).context("dtype")?;
        let mut t = DynTensor::new(
            &ort::memory::Allocator::default(),
            ort_type(ty),
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

fn ort_type(ty: clusterai_nn::TensorType) -> ort::value::TensorElementType {
    use clusterai_nn::TensorType as T;
    use ort::value::TensorElementType as E;
    match ty {
        T::Fp16 => E::Float16,
        T::Fp32 => E::Float32,
        T::Fp64 => E::Float64,
        T::Bf16 => E::Bfloat16,
        T::U8 => E::Uint8,
        T::I32 => E::Int32,
        T::I64 => E::Int64,
    }
}

fn latencies(mut run: Runner, opts: &BenchOptions) -> anyhow::Result<Vec<f64>> {
    for _ in 0..3 {
        run()?;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < opts.min_samples || start.elapsed() < opts.measure {
        let t = Instant::now();
        run()?;
        samples.push(micros(t.elapsed()));
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

/// Runs the suite: `path` against native `ort` for each model of `opts`;
/// `host` must have been built from [`BenchOptions::session_settings`] and
/// is where the models are added.
pub fn run(
    opts: &BenchOptions,
    host: &NnHost,
    path: &dyn InferencePath,
) -> anyhow::Result<BenchReport> {
    let mut report = BenchReport::new("nn");
    for model in &opts.models {
        anyhow::ensure!(
            model.path.is_file(),
            "benchmark model {} not found at {} (the set-up fetches the pinned models)",
            model.name,
            model.path.display()
        );
        let hash = host.add_model_file(&model.path)?;
        tracing::info!(model = %model.name, via = path.label(), "benchmarking");

        let mut ours = latencies(path.runner(model, hash)?, opts)?;
        let mut native = latencies(native_runner(host, model)?, opts)?;
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
                .map(|_| native_runner(host, model))
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
