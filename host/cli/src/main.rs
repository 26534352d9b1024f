//! `clusterai`: one command for plugin developers and node hosts.
//!
//! Parses arguments and wires the libraries together; everything testable
//! lives in the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod exit;
mod terminal;

/// Run AI tasks as sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "clusterai", version, propagate_version = true, after_help = exit::HELP)]
struct Cli {
    /// Print machine-readable JSON (for commands that support it).
    #[arg(long, global = true)]
    json: bool,

    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run, inspect and develop plugins.
    #[command(subcommand)]
    Plugin(commands::plugin::PluginCommand),
    /// Models on this node: add (hash, check with ONNX Runtime), list.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Content-addressed blobs (plugins, models): add, fetch over iroh, serve.
    #[command(subcommand)]
    Blob(commands::blob::BlobCommand),
    /// Measure a part of the node against its baseline, in one run.
    Bench(commands::bench::BenchArgs),
    /// Show where this node keeps its data and caches.
    Env,
    /// Run a node: init, start, tokens.
    #[command(subcommand)]
    Node(commands::node::NodeCommand),
    /// Submit tasks to a node and follow them.
    #[command(subcommand)]
    Task(commands::task::TaskCommand),
    /// Check signed receipts.
    #[command(subcommand)]
    Receipt(commands::receipt::ReceiptCommand),
    /// This node's account on chain: balance, stake, rewards; claim.
    Wallet(commands::wallet::WalletArgs),
    /// The embedded chain for local networks: serve it.
    #[command(subcommand)]
    Devnet(commands::devnet::DevnetCommand),
    /// A real chain on this machine: a wasmd localnet with the contracts.
    #[command(subcommand)]
    Chain(commands::chain::ChainCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Plugin(cmd) => commands::plugin::run(cmd, cli.json),
        Command::Model(cmd) => commands::model::run(cmd, cli.json),
        Command::Blob(cmd) => {
            commands::async_runtime().and_then(|rt| rt.block_on(commands::blob::run(cmd, cli.json)))
        }
        Command::Bench(args) => commands::bench::run(args, cli.json),
        Command::Env => commands::env::run(cli.json),
        Command::Node(cmd) => commands::node::run(cmd, cli.json),
        Command::Task(cmd) => commands::task::run(cmd, cli.json),
        Command::Receipt(cmd) => commands::receipt::run(cmd, cli.json),
        Command::Wallet(args) => commands::wallet::run(args, cli.json),
        Command::Devnet(cmd) => commands::devnet::run(cmd, cli.json),
        Command::Chain(cmd) => commands::chain::run(cmd, cli.json),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", terminal::on_stderr(&exit::chain(&e)));
            if e.downcast_ref::<exit::UsageError>().is_some() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::from(exit::FAILURE)
            }
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
