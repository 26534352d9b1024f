//! `clusterai bench <suite>`: figures beside their baselines, measured in the same run.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use clusterai_types::bench::BenchReport;

use crate::exit::{UsageError, ensure_usage};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Which part to measure.
    suite: Suite,
    /// Scale the number of iterations (1.0 = default; smaller is quicker and noisier).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// nn only: measure just these models (comma-separated names, e.g.
    /// `ppocr-det,mlp`); default: all of them.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    models: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Suite {
    /// Warm task start vs. the naive path; cached load vs. compile.
    Runtime,
    /// Each model through the plugin path vs. native ONNX Runtime: latency and throughput.
    Nn,
    /// A 256 MiB blob over iroh vs. a TCP copy; two providers vs. one; BLAKE3.
    Transfer,
}

/// `json`: print one JSON object: {"suite", "results": [{"name", "unit", "value", "baseline", "baseline_value", "ratio"}]}.
pub(crate) fn run(args: BenchArgs, json: bool) -> anyhow::Result<ExitCode> {
    ensure_usage!(
        args.scale > 0.0 && args.scale.is_finite(),
        "--scale must be a positive number, got {}",
        args.scale
    );
    ensure_usage!(
        args.models.is_empty() || matches!(args.suite, Suite::Nn),
        "--models applies to the nn suite only"
    );
    let report = match args.suite {
        Suite::Runtime => runtime(args.scale)?,
        Suite::Transfer => transfer(args.scale)?,
        Suite::Nn => nn(args.scale, &args.models)?,
    };
    print(&report, json)?;
    Ok(ExitCode::SUCCESS)
}

fn runtime(scale: f64) -> anyhow::Result<BenchReport> {
    let wasm = super::plugin::example_plugin("hello")?;
    let defaults = clusterai_runtime::bench::RuntimeBenchOptions::default();
    let scaled = |n: usize| ((n as f64 * scale).round() as usize).max(3);
    clusterai_runtime::bench::run(
        &wasm,
        clusterai_runtime::bench::RuntimeBenchOptions {
            warm_iterations: scaled(defaults.warm_iterations),
            naive_iterations: scaled(defaults.naive_iterations),
            load_iterations: scaled(defaults.load_iterations),
        },
    )
}

fn nn(scale: f64, only: &[String]) -> anyhow::Result<BenchReport> {
    use clusterai_nn::bench::BenchOptions;
    use clusterai_nn::{NnHost, NnSettings};
    let test_data = super::plugin::repo_path("host/nn/tests/data");
    let mut opts = BenchOptions::default_suite(test_data.as_deref());
    if !only.is_empty() {
        let known: Vec<String> = opts.models.iter().map(|m| m.name.clone()).collect();
        if let Some(bad) = only.iter().find(|n| !known.contains(n)) {
            return Err(UsageError(format!(
                "--models: no benchmark model {bad:?}; the suite has {}",
                known.join(", ")
            ))
            .into());
        }
        opts.models.retain(|m| only.contains(&m.name));
    }
    opts.measure = opts.measure.mul_f64(scale);
    opts.min_samples = ((opts.min_samples as f64 * scale).round() as usize).max(3);
    let max_c = opts.concurrency.iter().copied().max().unwrap_or(1);
    // Same session settings as the native baseline (which `run` builds from opts.settings).
    let nn = NnHost::new(NnSettings {
        sessions_per_model: opts.settings.sessions_per_model.max(max_c),
        ..opts.settings.clone()
    })?;
    for m in &opts.models {
        anyhow::ensure!(
            m.path.is_file(),
            "benchmark model {} not found at {}; run scripts/setup-models.sh",
            m.name,
            m.path.display()
        );
        nn.add_model_file(&m.path)?;
    }
    let runtime = clusterai_runtime::Runtime::new(clusterai_runtime::RuntimeConfig {
        nn: Some(nn),
        max_concurrent_tasks: (max_c * 2) as u32,
        ..clusterai_runtime::RuntimeConfig::default()
    })?;
    let path = clusterai_runtime::bench::TensorPluginPath::new(
        &runtime,
        &super::plugin::example_plugin("tensor")?,
    )?;
    clusterai_nn::bench::run(&opts, Some(&path))
}

fn transfer(scale: f64) -> anyhow::Result<BenchReport> {
    let defaults = clusterai_store::bench::TransferBench::default();
    let mb = |n: u64| (((n as f64 * scale) as u64) >> 20).max(1) << 20;
    let bench = clusterai_store::bench::TransferBench {
        size: mb(defaults.size),
        capped_size: mb(defaults.capped_size),
        ..defaults
    };
    super::async_runtime()?.block_on(clusterai_store::bench::transfer(&bench))
}

pub(crate) fn print(report: &BenchReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
