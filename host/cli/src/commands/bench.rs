//! `clusterai bench <suite>`: figures beside their baselines, measured in the same run.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use clusterai_types::bench::BenchReport;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Which part to measure.
    suite: Suite,
    /// Print one JSON object: {"suite", "results": [{"name", "unit", "value", "baseline", "baseline_value", "ratio"}]}.
    #[arg(long)]
    json: bool,
    /// Scale the number of iterations (1.0 = default; smaller is quicker and noisier).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Suite {
    /// Warm task start vs. the naive path; cached load vs. compile.
    Runtime,
}

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.scale > 0.0 && args.scale.is_finite(),
        "--scale must be a positive number, got {}",
        args.scale
    );
    let report = match args.suite {
        Suite::Runtime => runtime(args.scale)?,
    };
    print(&report, args.json)?;
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

pub(crate) fn print(report: &BenchReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
