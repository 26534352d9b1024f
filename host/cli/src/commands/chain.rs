//! `clusterai chain localnet`, and how every on-chain command finds its
//! chain ([`ChainArgs`]): the devnet by its URL, or a Cosmos chain by its RPC
//! URL and the file naming its contracts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use clusterai_chain::localnet::{Localnet, LocalnetConfig};
use clusterai_chain::{AccountKey, Settlement};
use clusterai_types::env;

/// The devnet's default address (`clusterai devnet serve`).
pub(crate) const DEFAULT_DEVNET: &str = "http://127.0.0.1:26658";

/// Which chain an on-chain command talks to.
#[derive(Debug, Clone, Args)]
pub(crate) struct ChainArgs {
    /// The chain: the devnet's URL, or a Cosmos chain's RPC URL together
    /// with `--deployment`.
    #[arg(long, env = "CLUSTERAI_CHAIN", value_name = "URL", default_value = DEFAULT_DEVNET)]
    pub(crate) chain: String,
    /// Where the contracts are on a Cosmos chain: a deployment or
    /// `localnet.json` file (written by `clusterai chain localnet`).
    #[arg(long, env = "CLUSTERAI_DEPLOYMENT", value_name = "FILE")]
    pub(crate) deployment: Option<PathBuf>,
    /// A Cosmos chain's price of a unit of gas, in `--fee-denom`.
    #[arg(long, value_name = "PRICE", default_value_t = 0.0)]
    pub(crate) gas_price: f64,
    /// The denom a Cosmos chain's fees are paid in.
    #[arg(long, value_name = "DENOM", default_value = "stake")]
    pub(crate) fee_denom: String,
    /// The node's data directory, which holds its account key (`account.key`).
    #[arg(long, env = env::DATA_DIR_VAR, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
}

impl ChainArgs {
    /// The data directory.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(env::data_dir)
    }

    /// A client signing as this node's account (created on first use).
    pub(crate) async fn connect(&self) -> anyhow::Result<std::sync::Arc<dyn Settlement>> {
        let key = AccountKey::load_or_create(&self.data_dir())?;
        crate::exit::ensure_usage!(
            self.gas_price.is_finite() && self.gas_price >= 0.0,
            "--gas-price must be a number, 0 or more"
        );
        let fees = clusterai_chain::cosmos::CosmosConfig {
            gas_price: self.gas_price,
            fee_denom: self.fee_denom.clone(),
            ..Default::default()
        };
        Ok(clusterai_chain::connect(&self.chain, self.deployment.as_deref(), key, fees).await?)
    }
}

/// `clusterai chain <command>`.
#[derive(Debug, Subcommand)]
pub(crate) enum ChainCommand {
    /// Run a real single-validator wasmd chain on loopback with the
    /// contracts deployed, until Ctrl-C. Its directory keeps the chain: run
    /// it again to continue.
    Localnet {
        /// The chain's directory (default: `<data dir>/localnet`).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The wasmd binary (build it with `scripts/setup-wasmd.sh`).
        #[arg(long, env = "CLUSTERAI_WASMD", value_name = "FILE")]
        wasmd: PathBuf,
        /// The optimised contract artifacts.
        #[arg(
            long,
            env = "CLUSTERAI_ARTIFACTS",
            value_name = "DIR",
            default_value = "cosmwasm-contracts/artifacts"
        )]
        artifacts: PathBuf,
        /// The chain id.
        #[arg(long, default_value = "clusterai-local")]
        chain_id: String,
        /// Block time in milliseconds.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(100..=60_000))]
        block_time_ms: u64,
        /// Fund an account once the chain is up: gas money and AMOUNT of the
        /// payment token from the admin (repeatable).
        #[arg(long, value_name = "ADDRESS=AMOUNT", value_parser = parse_fund)]
        fund: Vec<(String, u128)>,
    },
}

/// Runs a `chain` command.
pub(crate) fn run(cmd: ChainCommand, json: bool) -> anyhow::Result<ExitCode> {
    match cmd {
        ChainCommand::Localnet {
            dir,
            wasmd,
            artifacts,
            chain_id,
            block_time_ms,
            fund,
        } => {
            let dir = dir.unwrap_or_else(|| env::data_dir().join("localnet"));
            super::async_runtime()?.block_on(async move {
                eprintln!("starting wasmd in {} ...", dir.display());
                let mut net = Localnet::start(LocalnetConfig {
                    wasmd,
                    dir: dir.clone(),
                    artifacts,
                    chain_id,
                    block_time_ms,
                    beacon_period: 1,
                })
                .await?;
                for (address, amount) in &fund {
                    net.fund(address, *amount).await?;
                    eprintln!("funded {address} with {amount}");
                }
                let info = net.info().clone();
                if json {
                    println!("{}", serde_json::to_string(&info)?);
                } else {
                    println!("rpc      {}", info.rpc_url);
                    println!("beacon   {}", info.beacon_url);
                    println!("token    {}", info.deployment.token);
                    println!("registry {}", info.deployment.registry);
                    println!("market   {}", info.deployment.market);
                    println!("models   {}", info.deployment.models);
                    println!("admin    {}", net.admin_key().address("wasm"));
                    println!(
                        "\nclients: --chain {} --deployment {}",
                        info.rpc_url,
                        dir.join("localnet.json").display()
                    );
                }
                clusterai_node::daemon::wait_for_signal().await;
                net.stop().await?;
                eprintln!("stopped");
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// `ADDRESS=AMOUNT`.
fn parse_fund(s: &str) -> Result<(String, u128), String> {
    let (address, amount) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not ADDRESS=AMOUNT"))?;
    let amount = amount
        .parse()
        .map_err(|_| format!("{amount:?} is not a whole amount"))?;
    Ok((address.to_owned(), amount))
}
