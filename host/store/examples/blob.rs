//! `blob`: the `clusterai blob ...` subcommands as a stand-alone binary, for
//! the two-process tests and for trying the store without the full CLI.

use clap::Parser;
use clusterai_store::cli::{BlobCommand, run};

#[derive(Debug, Parser)]
#[command(
    name = "blob",
    about = "ClusterAI blob store (the `clusterai blob` subcommands)"
)]
struct Args {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: BlobCommand,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args.cmd, args.json).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
