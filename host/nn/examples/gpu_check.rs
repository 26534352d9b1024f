//! Runs one real model through the plugin path (the tensor plugin, wasi:nn)
//! on the CUDA provider and on CPU; prints both latencies and the largest
//! difference between the outputs. Driven by scripts/gpu-check.sh, which
//! provides the GPU build of ONNX Runtime and checks the CUDA libraries.
//!
//!     gpu_check [MODEL.onnx] [INPUT-NAME] [DIMS, e.g. 1,3,640,640] [RUNS]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clusterai_nn::{CudaFallback, ExecutionProvider, NnHost, NnSettings, ProviderKind, TensorType};
use clusterai_types::bench::percentile;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| clusterai_nn::ortlib::cache_dir().join("models/ppocr-det.onnx"));
    let input = args.get(1).cloned().unwrap_or_else(|| "x".into());
    let dims: Vec<u32> = args
        .get(2)
        .map_or("1,3,640,640", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("DIMS: comma-separated integers")?;
    let runs: usize = args.get(3).map_or(Ok(20), |r| r.parse())?;
    let data =
        clusterai_nn::bench::BenchInput::pattern(&input, dims.clone(), TensorType::Fp32).data;
    let request = clusterai_nn::bench::encode_catn(&[(
        &input,
        clusterai_nn::bench::catn_dtype(TensorType::Fp32),
        &dims,
        &data,
    )]);

    let mut results = Vec::new();
    for provider in [
        ExecutionProvider::Cuda { device_id: 0 },
        ExecutionProvider::Cpu,
    ] {
        let settings = NnSettings {
            execution_provider: provider,
            cuda_fallback: CudaFallback::Error,
            intra_op_threads: 4,
            ..NnSettings::default()
        };
        let host = NnHost::new(settings)?;
        let hash = host
            .add_model_file(&model)
            .with_context(|| format!("opening {} on {provider:?}", model.display()))?;
        let info = host.model_info(&hash).context("model vanished")?;
        let want = match provider {
            ExecutionProvider::Cuda { .. } => ProviderKind::Cuda,
            ExecutionProvider::Cpu => ProviderKind::Cpu,
        };
        if info.execution_provider != want {
            bail!(
                "asked for {want}, the session runs on {}",
                info.execution_provider
            );
        }
        let h = harness::Harness::new(host);
        let pre = h.pre(&h.component("tensor"));
        let hex = hash.to_hex();
        let once = || -> anyhow::Result<Vec<u8>> {
            let (r, _) = h.run_task(
                &pre,
                request.clone(),
                "application/x-clusterai-tensors",
                &[("model", &hex)],
            );
            Ok(r.map_err(|e| anyhow::anyhow!("{e:?}"))?.0)
        };
        for _ in 0..3 {
            once()?;
        }
        let mut ms = Vec::with_capacity(runs);
        let mut last = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            last = once()?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let out = harness::parse_binary(&last);
        let (name, dtype, out_dims, bytes) = out.into_iter().next().context("no output")?;
        if dtype != 1 {
            bail!("output {name} is not f32");
        }
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        println!(
            "{:<5} p50 {:>9.2} ms  p90 {:>9.2} ms  ({runs} runs through the tensor plugin; output {name} {out_dims:?})",
            want.to_string(),
            percentile(&mut ms.clone(), 50.0),
            percentile(&mut ms, 90.0),
        );
        results.push(values);
    }
    let (gpu, cpu) = (&results[0], &results[1]);
    if gpu.len() != cpu.len() {
        bail!("outputs differ in size: {} vs {}", gpu.len(), cpu.len());
    }
    let max = gpu
        .iter()
        .zip(cpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("max |cuda - cpu| = {max:e} over {} values", gpu.len());
    Ok(())
}
