//! Runs the `transfer` bench suite and prints its JSON report, as
//! `clusterai bench transfer --json` will.
//!
//! `cargo run --release -p clusterai-store --example bench_transfer -- [SIZE_MIB] [STREAMS] [SEGMENT_KIB]`

use clusterai_store::bench::{TransferBench, transfer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut bench = TransferBench::default();
    if let Some(mib) = args.first() {
        bench.size = mib.parse::<u64>()? << 20;
    }
    if let Some(streams) = args.get(1) {
        bench.fetch.streams_per_provider = streams.parse()?;
    }
    if let Some(kib) = args.get(2) {
        bench.fetch.segment_bytes = kib.parse::<u64>()? << 10;
    }
    let report = transfer(&bench).await?;
    eprint!("{}", report.to_table());
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
