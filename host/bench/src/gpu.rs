//! The `gpu` suite: every pinned model through the plugin path on the CUDA
//! execution provider against CPU, and how far their outputs differ.
//!
//! Figures, per pinned ONNX model:
//! - `latency_p50:<model>` (ms): CUDA, baseline `cpu`;
//! - `max_abs_diff:<model>`: the largest |cuda − cpu| over every output
//!   value, baseline `tolerance` (1e-3): a ratio under 1 means they agree.
//!
//! Needs the GPU build of ONNX Runtime (`ORT_DYLIB_PATH`) and the CUDA
//! libraries it loads; `scripts/gpu-check.sh` provides both. CUDA must not
//! fall back to CPU: the suite fails if a session would.

use std::time::Instant;

use anyhow::{Context, bail};
use clusterai_nn::{Accelerator, CudaFallback, ExecutionProvider, NnHost, NnSettings};
use clusterai_runtime::{RuntimeConfig, TaskInput};
use clusterai_types::TaskPolicy;

use crate::catn;
use crate::nn::BenchModel;
use crate::report::{BenchReport, BenchResult, percentile};

/// The largest difference between CUDA and CPU outputs taken as agreement.
pub const TOLERANCE: f64 = 1e-3;

/// Runs the suite over `models`: `runs` timed inferences per model and
/// provider, with `tensor_wasm` (the `tensor` example plugin) and `threads`
/// CPU threads.
pub fn run(
    tensor_wasm: &[u8],
    models: &[BenchModel],
    runs: usize,
    threads: usize,
) -> anyhow::Result<BenchReport> {
    let mut report = BenchReport::new("gpu");
    // One ONNX Runtime per process: both hosts share the (GPU) library.
    let mut hosts = Vec::new();
    for accelerator in [Accelerator::Cuda { device_id: 0 }, Accelerator::Cpu] {
        let host = NnHost::new(NnSettings {
            accelerator,
            cuda_fallback: CudaFallback::Error,
            intra_op_threads: threads,
            ..NnSettings::default()
        })?;
        let runtime =
            clusterai_node::compose::runtime(RuntimeConfig::default(), Some(host.clone()))?;
        let plugin = runtime.load(tensor_wasm)?;
        hosts.push((accelerator, host, plugin));
    }
    for model in models {
        let mut outputs = Vec::new();
        let mut medians = Vec::new();
        for (accelerator, host, plugin) in &hosts {
            let hash = host
                .add_model_file(&model.path)
                .with_context(|| format!("opening {} on {accelerator:?}", model.path.display()))?;
            let info = host.model_info(&hash).context("model vanished")?;
            let want = match accelerator {
                Accelerator::Cuda { .. } => ExecutionProvider::Cuda,
                Accelerator::Cpu => ExecutionProvider::Cpu,
            };
            if info.execution_provider != want {
                bail!(
                    "{}: asked for {want}, the session runs on {}",
                    model.name,
                    info.execution_provider
                );
            }
            let input = TaskInput::new(model.catn_input(), "application/x-clusterai-tensors")
                .param("model", hash.to_hex());
            let policy = TaskPolicy {
                models: vec![hash],
                ..TaskPolicy::default()
            };
            let mut last = Vec::new();
            let mut ms = Vec::with_capacity(runs);
            for i in 0..runs + 3 {
                let t = Instant::now();
                let result = plugin.run(&input, Some(&policy))?;
                if i >= 3 {
                    ms.push(t.elapsed().as_secs_f64() * 1e3);
                }
                last = result.output.data;
            }
            medians.push(percentile(&mut ms, 50.0));
            outputs.push(f32_values(&last)?);
        }
        let (gpu, cpu) = (&outputs[0], &outputs[1]);
        if gpu.len() != cpu.len() {
            bail!(
                "{}: outputs differ in size: {} vs {}",
                model.name,
                gpu.len(),
                cpu.len()
            );
        }
        let max = gpu
            .iter()
            .zip(cpu)
            .map(|(a, b)| f64::from((a - b).abs()))
            .fold(0.0f64, f64::max);
        report.results.push(BenchResult::new(
            format!("latency_p50:{}", model.name),
            "ms",
            medians[0],
            "cpu",
            medians[1],
        ));
        report.results.push(BenchResult::new(
            format!("max_abs_diff:{}", model.name),
            "abs",
            max,
            "tolerance",
            TOLERANCE,
        ));
    }
    Ok(report)
}

/// Every f32 value of the tensor plugin's CATN output.
fn f32_values(output: &[u8]) -> anyhow::Result<Vec<f32>> {
    let tensors = catn::decode(output).context("the tensor plugin's output is not CATN")?;
    let f32_code = catn::dtype_code("f32").unwrap_or_default();
    Ok(tensors
        .iter()
        .filter(|(_, dtype, _, _)| *dtype == f32_code)
        .flat_map(|(_, _, _, data)| {
            data.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        })
        .collect())
}
