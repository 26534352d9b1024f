//! `clusterai devnet serve`: the embedded chain (the contracts in-process,
//! persisted under the data directory) served to local nodes and buyers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use clusterai_chain::devnet::{Devnet, DevnetConfig, PayIn, server};
use clusterai_types::env;

/// `clusterai devnet <command>`.
#[derive(Debug, Subcommand)]
pub(crate) enum DevnetCommand {
    /// Run the devnet until Ctrl-C. Its directory keeps the chain: run it
    /// again to continue where it stopped. Prints its URL first.
    Serve {
        /// The devnet's directory (default: `<data dir>/devnet`).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Where to listen (port 0 picks a free one).
        #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:26658")]
        listen: SocketAddr,
        /// Block time in milliseconds (a new devnet only).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
        block_time_ms: u64,
        /// Pay in a native denom instead of the cw20 token (a new devnet only).
        #[arg(long)]
        native: bool,
    },
    /// Run a whole local network until Ctrl-C: the devnet and N nodes,
    /// staked, holding the example plugins and their models, working for
    /// the chain. Prints the devnet's URL, each node's dashboard and the
    /// plugins' hashes.
    Up(Box<super::devnet_up::UpArgs>),
}

/// Runs a `devnet` command.
pub(crate) fn run(cmd: DevnetCommand, json: bool) -> anyhow::Result<ExitCode> {
    let (dir, listen, block_time_ms, native) = match cmd {
        DevnetCommand::Up(args) => return super::devnet_up::run(*args, json),
        DevnetCommand::Serve {
            dir,
            listen,
            block_time_ms,
            native,
        } => (dir, listen, block_time_ms, native),
    };
    let dir = dir.unwrap_or_else(|| env::data_dir().join("devnet"));
    let config = DevnetConfig {
        block_time_ms,
        pay_in: if native { PayIn::Native } else { PayIn::Cw20 },
        ..DevnetConfig::default()
    };
    let devnet = Devnet::open(Some(&dir), &config)
        .with_context(|| format!("opening the devnet in {}", dir.display()))?;
    super::async_runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let deployment = devnet.deployment().clone();
        if json {
            println!(
                "{}",
                serde_json::json!({ "url": url, "dir": dir, "deployment": deployment })
            );
        } else {
            println!("devnet {url}");
            println!("dir      {}", dir.display());
            println!("chain    {}", deployment.chain_id);
            println!("token    {}", deployment.token);
            println!("registry {}", deployment.registry);
            println!("market   {}", deployment.market);
            println!("models   {}", deployment.models);
        }
        tokio::select! {
            served = server::serve(devnet, listener) => served.context("serving the devnet")?,
            () = clusterai_node::daemon::wait_for_signal() => eprintln!("stopped"),
        }
        Ok(ExitCode::SUCCESS)
    })
}
