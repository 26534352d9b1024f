//! `clusterai bench <suite>`: figures beside their baselines, measured in the same run.

use std::process::ExitCode;

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use clusterai_bench::BenchReport;
use clusterai_runtime::RuntimeConfig;

use crate::exit::{UsageError, ensure_usage};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Which part to measure.
    suite: Suite,
    /// Scale the number of iterations (1.0 = default; smaller is quicker and noisier).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// nn and gpu only: measure just these models (comma-separated names,
    /// e.g. `ppocr-det,mlp`); default: all of them.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    models: Vec<String>,
    /// hostile only: run just these hostile programs beside the honest
    /// tasks (comma-separated, e.g. `sleeper,memory_bomb`), to see which
    /// one costs them; default: all of them.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    attacks: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    /// Warm task start vs. the naive path; cached load vs. compile.
    Runtime,
    /// Each model through the plugin path vs. native ONNX Runtime: latency and throughput.
    Nn,
    /// A 256 MiB blob over iroh vs. a TCP copy; two providers vs. one; BLAKE3.
    Transfer,
    /// A node over HTTP on loopback (durable queue, signed receipts) vs. the
    /// same tasks in-process: tasks/s and latency.
    Api,
    /// Each pinned model on CUDA vs. CPU, and how far their outputs differ
    /// (needs an NVIDIA GPU and the GPU build of ONNX Runtime).
    Gpu,
    /// The network on a real wasmd chain (`CLUSTERAI_WASMD`, else the
    /// set-up's cached build): three nodes and a buyer; post to settled vs.
    /// the protocol's floor, transactions and gas per task.
    Chain,
    /// Honest tasks (hello, a real model) beside hostile plugins of every
    /// class vs. alone: throughput, p99 latency, and peak memory vs. the
    /// configured budgets.
    Hostile,
    /// SmolLM2 through the chat plugin vs. the same graph driven natively:
    /// time to first token and tokens/s at prompts of 16 and 256 tokens
    /// (beside llama.cpp when the set-up could build it).
    Llm,
}

/// `json`: print one JSON object: {"suite", "results": [{"name", "unit", "value", "baseline", "baseline_value", "ratio"}]}.
pub(crate) fn run(args: BenchArgs, json: bool) -> anyhow::Result<ExitCode> {
    ensure_usage!(
        args.scale > 0.0 && args.scale.is_finite(),
        "--scale must be a positive number, got {}",
        args.scale
    );
    ensure_usage!(
        args.models.is_empty() || matches!(args.suite, Suite::Nn | Suite::Gpu),
        "--models applies to the nn and gpu suites only"
    );
    ensure_usage!(
        args.attacks.is_empty() || args.suite == Suite::Hostile,
        "--attacks applies to the hostile suite only"
    );
    let report = match args.suite {
        Suite::Runtime => runtime(args.scale)?,
        Suite::Transfer => transfer(args.scale)?,
        Suite::Nn => nn(args.scale, &args.models)?,
        Suite::Gpu => gpu(args.scale, &args.models)?,
        Suite::Api => api(args.scale)?,
        Suite::Llm => llm(args.scale)?,
        Suite::Chain => chain(args.scale)?,
        Suite::Hostile => hostile(args.scale, &args.attacks)?,
    };
    print(&report, json)?;
    Ok(ExitCode::SUCCESS)
}

fn runtime(scale: f64) -> anyhow::Result<BenchReport> {
    use clusterai_bench::runtime::{RuntimeBenchOptions, run};
    let wasm = super::plugin::example_plugin("hello")?;
    let defaults = RuntimeBenchOptions::default();
    let scaled = |n: usize| ((n as f64 * scale).round() as usize).max(3);
    run(
        &wasm,
        RuntimeBenchOptions {
            warm_iterations: scaled(defaults.warm_iterations),
            naive_iterations: scaled(defaults.naive_iterations),
            load_iterations: scaled(defaults.load_iterations),
        },
    )
}

fn hostile(scale: f64, only: &[String]) -> anyhow::Result<BenchReport> {
    use clusterai_bench::hostile::{Attack, HostileBench, run};
    use clusterai_bench::nn::{BenchModel, InferencePath, PluginPath};
    use clusterai_runtime::TaskInput;
    use clusterai_types::TaskPolicy;
    let (honest_workers, hostile_workers) = (2, 2);
    let test_data = super::plugin::repo_path("host/nn/tests/data")
        .context("the nn test models (host/nn/tests/data) are not here")?;
    let mlp = BenchModel::test_models(&test_data)?
        .into_iter()
        .find(|m| m.name == "mlp")
        .context("no mlp test model")?;
    let nn = clusterai_nn::NnHost::new(clusterai_nn::NnSettings::default())?;
    let hash = nn.add_model_file(&mlp.path)?;
    let runtime = clusterai_node::compose::runtime(
        RuntimeConfig {
            max_concurrent_tasks: (honest_workers + hostile_workers) as u32,
            ..RuntimeConfig::default()
        },
        Some(nn),
    )?;
    let hello = runtime.load(&super::plugin::example_plugin("hello")?)?;
    let tensor = PluginPath::new(runtime.load(&super::plugin::example_plugin("tensor")?)?);
    let honest_memory_bytes = hello
        .default_policy()
        .memory_bytes
        .max(TaskPolicy::default().memory_bytes);
    let model_task = move || tensor.runner(&mlp, hash).expect("the mlp runner");
    let hello_task = move || -> clusterai_bench::nn::Runner {
        let hello = hello.clone();
        Box::new(move || {
            hello.run(&TaskInput::text("honest"), None)?;
            Ok(())
        })
    };
    let attack = |name: &str, input: Option<&str>| -> anyhow::Result<Attack> {
        Ok(Attack {
            name: name.into(),
            wasm: super::plugin::example_plugin(name)?,
            input: input.map(TaskInput::text),
        })
    };
    let mut attacks = vec![
        attack("spin_forever", Some("x"))?,
        attack("memory_bomb", Some("x"))?,
        attack("sleeper", Some("3600"))?,
        attack("stdout_flood", Some("x"))?,
        attack("stack_overflow", Some("x"))?,
        attack("string_bomb", Some("error"))?,
        attack("string_bomb", Some("content-type"))?,
        attack("describe_bomb", None)?,
        attack("describe_loop", None)?,
    ];
    keep_named(
        "--attacks",
        "hostile program",
        &mut attacks,
        |a| &a.name,
        only,
    )?;
    let bench = HostileBench {
        honest: vec![Box::new(hello_task), Box::new(model_task)],
        attacks,
        phase: Duration::from_secs_f64((10.0 * scale).max(1.0)),
        honest_load: 0.5,
        honest_workers,
        hostile_workers,
        hostile_policy: TaskPolicy {
            timeout: Duration::from_secs(2),
            fuel: 2_000_000_000,
            memory_bytes: 64 << 20,
            ..TaskPolicy::default()
        },
        honest_memory_bytes,
    };
    run(&runtime, &bench)
}

/// Keeps the models named by `--models`, refusing a name the suite lacks.
fn select(
    models: &mut Vec<clusterai_bench::nn::BenchModel>,
    only: &[String],
) -> anyhow::Result<()> {
    keep_named("--models", "benchmark model", models, |m| &m.name, only)
}

/// Keeps the `items` named in `only` (all of them if it is empty), refusing
/// a name none has: `flag` and `what` name them in the error.
fn keep_named<T>(
    flag: &str,
    what: &str,
    items: &mut Vec<T>,
    name: impl Fn(&T) -> &String,
    only: &[String],
) -> anyhow::Result<()> {
    if only.is_empty() {
        return Ok(());
    }
    let mut known: Vec<String> = items.iter().map(|i| name(i).clone()).collect();
    known.dedup();
    if let Some(bad) = only.iter().find(|n| !known.contains(n)) {
        return Err(UsageError(format!(
            "{flag}: no {what} {bad:?}; the suite has {}",
            known.join(", ")
        ))
        .into());
    }
    items.retain(|i| only.contains(name(i)));
    Ok(())
}

fn nn(scale: f64, only: &[String]) -> anyhow::Result<BenchReport> {
    use clusterai_bench::nn::{BenchOptions, PluginPath, run};
    let test_data = super::plugin::repo_path("host/nn/tests/data");
    let mut opts = BenchOptions::default_suite(test_data.as_deref())?;
    select(&mut opts.models, only)?;
    opts.measure = opts.measure.mul_f64(scale);
    opts.min_samples = ((opts.min_samples as f64 * scale).round() as usize).max(3);
    let max_c = opts.concurrency.iter().copied().max().unwrap_or(1);
    // Both paths run on sessions with the same settings.
    let nn = clusterai_nn::NnHost::new(opts.session_settings())?;
    let runtime = clusterai_node::compose::runtime(
        RuntimeConfig {
            max_concurrent_tasks: (max_c * 2) as u32,
            ..RuntimeConfig::default()
        },
        Some(nn.clone()),
    )?;
    let path = PluginPath::new(runtime.load(&super::plugin::example_plugin("tensor")?)?);
    run(&opts, &nn, &path)
}

fn gpu(scale: f64, only: &[String]) -> anyhow::Result<BenchReport> {
    let runs = ((20.0 * scale).round() as usize).max(3);
    let mut models = clusterai_bench::nn::BenchModel::pinned()?;
    select(&mut models, only)?;
    clusterai_bench::gpu::run(&super::plugin::example_plugin("tensor")?, &models, runs, 4)
}

fn llm(scale: f64) -> anyhow::Result<BenchReport> {
    use clusterai_bench::llm::{LlmOptions, run};
    use clusterai_types::models::{SMOLLM2_135M, SMOLLM2_TOKENIZER};
    let read = |m: &clusterai_types::models::PinnedModel| {
        std::fs::read(m.cached_path()).with_context(|| {
            format!(
                "model {} is not set up ({}): scripts/setup-models.sh makes it",
                m.name,
                m.cached_path().display()
            )
        })
    };
    let model = read(&SMOLLM2_135M)?;
    let tokenizer = read(&SMOLLM2_TOKENIZER)?;
    let defaults = LlmOptions::default();
    let opts = LlmOptions {
        runs: ((defaults.runs as f64 * scale).round() as usize).max(1),
        llama_cpp_tokens_per_s: llama_cpp_tokens_per_s()?,
        ..defaults
    };
    // The plugin finds the tokenizer by hash in a folder of blobs, the model
    // in the wasi-nn table; both paths run sessions with the same settings.
    let blobs = tempfile::tempdir()?;
    let assets = clusterai_types::source::DirSource::new(blobs.path(), None);
    assets.add(&tokenizer)?;
    // Two threads per session, as llama.cpp is measured with.
    let nn = clusterai_nn::NnHost::new(clusterai_nn::NnSettings {
        intra_op_threads: 2,
        ..clusterai_nn::NnSettings::default()
    })?;
    nn.add_model_bytes(model.clone().into())?;
    let runtime = clusterai_node::compose::runtime(
        RuntimeConfig {
            assets: Some(std::sync::Arc::new(assets)),
            ..RuntimeConfig::default()
        },
        Some(nn.clone()),
    )?;
    let plugin = runtime.load(&super::plugin::example_plugin("chat")?)?;
    run(&opts, &nn, &plugin, &model, &tokenizer)
}

/// llama.cpp's decoding speed on the same GGUF, measured by
/// scripts/llama-cpp-bench.sh when the set-up could build llama-cpp-python;
/// `None` (with a note) otherwise.
fn llama_cpp_tokens_per_s() -> anyhow::Result<Option<f64>> {
    let Some(script) = super::plugin::repo_path("scripts/llama-cpp-bench.sh") else {
        return Ok(None);
    };
    let out = std::process::Command::new(script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running scripts/llama-cpp-bench.sh")?;
    if !out.status.success() {
        eprintln!("note: llama.cpp is not measured (scripts/llama-cpp-bench.sh failed)");
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .context("scripts/llama-cpp-bench.sh printed no JSON")?;
    Ok(v["tokens_per_s"].as_f64())
}

fn api(scale: f64) -> anyhow::Result<BenchReport> {
    let image = super::plugin::repo_path("plugins/examples/ocr/golden/text.png")
        .context("the OCR sample image (plugins/examples/ocr/golden) is not here")?;
    let models = clusterai_types::models::ALL
        .iter()
        .filter(|m| m.kind == clusterai_types::models::ModelKind::Onnx)
        .map(|m| m.cached_path())
        .collect();
    let bench = clusterai_bench::api::ApiBench {
        hello: super::plugin::example_plugin("hello")?,
        ocr: super::plugin::example_plugin("ocr")?,
        ocr_image: std::fs::read(&image)
            .with_context(|| format!("cannot read {}", image.display()))?,
        models,
        measure: Duration::from_secs(5).mul_f64(scale),
        latency_samples: ((300.0 * scale).round() as usize).max(10),
    };
    super::async_runtime()?.block_on(clusterai_bench::api::run(&bench))
}

fn chain(scale: f64) -> anyhow::Result<BenchReport> {
    let wasmd = match std::env::var_os("CLUSTERAI_WASMD") {
        Some(p) => std::path::PathBuf::from(p),
        None => clusterai_types::env::cache_dir()
            .join("wasmd")
            .join(clusterai_types::pins::WASMD_VERSION)
            .join("wasmd"),
    };
    anyhow::ensure!(
        wasmd.exists(),
        "no wasmd at {}: build it with scripts/setup-wasmd.sh (or set CLUSTERAI_WASMD)",
        wasmd.display()
    );
    let artifacts =
        super::plugin::repo_path("cosmwasm-contracts/artifacts/clusterai_task_market.wasm")
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
            .context(
                "no contract artifacts: build them with scripts/test-contracts.sh --artifacts-only",
            )?;
    let bench = clusterai_bench::chain::ChainBench {
        wasmd,
        artifacts,
        hello: super::plugin::example_plugin("hello")?,
        tasks: ((10.0 * scale).round() as usize).max(2),
        block_time_ms: 500,
        vm_gas_bench: vm_gas_bench(),
    };
    super::async_runtime()?.block_on(clusterai_bench::chain::run(&bench))
}

/// The cosmwasm-vm gas tool `scripts/bench-chain.sh` builds, if it has.
fn vm_gas_bench() -> Option<std::path::PathBuf> {
    let target = std::env::var_os("CLUSTERAI_CW_TARGET")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| clusterai_types::env::cache_dir().join("cw-target"));
    let tool = target.join("release/gas-bench");
    if tool.is_file() {
        Some(tool)
    } else {
        eprintln!(
            "chain: no {} (scripts/bench-chain.sh builds it): gas_per_task_vs_vm is left out",
            tool.display()
        );
        None
    }
}

fn transfer(scale: f64) -> anyhow::Result<BenchReport> {
    let defaults = clusterai_bench::transfer::TransferBench::default();
    let mb = |n: u64| (((n as f64 * scale) as u64) >> 20).max(1) << 20;
    let bench = clusterai_bench::transfer::TransferBench {
        size: mb(defaults.size),
        capped_size: mb(defaults.capped_size),
        ..defaults
    };
    super::async_runtime()?.block_on(clusterai_bench::transfer::transfer(&bench))
}

pub(crate) fn print(report: &BenchReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
