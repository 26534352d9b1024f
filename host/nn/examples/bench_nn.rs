//! `clusterai bench nn` through the nn test harness: the plugin path (the tensor
//! plugin in a fresh instance per inference, through wasi:nn) against native
//! `ort` on the same session settings and inputs.
//!
//!     cargo run --release -p clusterai-nn --example bench_nn -- [--json] [--host-api] [--measure-ms N] [--models a,b]
//!
//! Needs scripts/setup-onnxruntime.sh and scripts/setup-models.sh.

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use clusterai_nn::bench::{BenchOptions, run};
use clusterai_nn::{NnHost, NnSettings};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let host_api = args.iter().any(|a| a == "--host-api");
    let only: Vec<String> = args
        .iter()
        .position(|a| a == "--models")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let measure = args
        .iter()
        .position(|a| a == "--measure-ms")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse::<u64>())
        .transpose()?
        .unwrap_or(1500);
    let data = harness::root().join("host/nn/tests/data");
    let mut opts = BenchOptions::default_suite(Some(&data));
    opts.measure = Duration::from_millis(measure);
    if !only.is_empty() {
        opts.models.retain(|m| only.contains(&m.name));
    }
    let report = if host_api {
        run(&opts, None)?
    } else {
        let host = NnHost::new(NnSettings {
            sessions_per_model: 4,
            ..NnSettings::default()
        })?;
        for m in &opts.models {
            host.add_model_file(&m.path)?;
        }
        let path = harness::PluginPath::new(Arc::new(harness::Harness::new(host)));
        run(&opts, Some(&path))?
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
