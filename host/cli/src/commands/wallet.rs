//! `clusterai wallet`: this node's account on chain: balance, stake and
//! rewards; withdraw rewards; devnet tokens from the faucet.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use clusterai_chain::devnet::client::DevnetClient;
use clusterai_chain::{AccountKey, Wallet};

use super::chain::ChainArgs;
use crate::exit::ensure_usage;

/// `clusterai wallet`.
#[derive(Debug, Args)]
pub(crate) struct WalletArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Withdraw the rewards the market holds for this account.
    #[arg(long)]
    claim: bool,
    /// Ask the devnet's faucet for this many tokens first (devnet only).
    #[arg(long, value_name = "AMOUNT")]
    faucet: Option<u128>,
}

/// Runs `wallet`.
pub(crate) fn run(args: WalletArgs, json: bool) -> anyhow::Result<ExitCode> {
    ensure_usage!(
        args.faucet.is_none() || args.chain.deployment.is_none(),
        "--faucet works on the devnet only (a real chain has no faucet)"
    );
    ensure_usage!(args.faucet != Some(0), "--faucet needs a positive amount");
    super::async_runtime()?.block_on(async move {
        let client = args.chain.connect().await?;
        let address = client.address().to_owned();
        if let Some(amount) = args.faucet {
            let key = AccountKey::load_or_create(&args.chain.data_dir())?;
            let devnet = DevnetClient::connect(&args.chain.chain, key).await?;
            devnet
                .faucet(&address, amount)
                .await
                .context("asking the faucet")?;
        }
        let mut claimed = 0;
        if args.claim {
            claimed = client.rewards(&address).await?;
            if claimed > 0 {
                client
                    .withdraw_rewards()
                    .await
                    .context("withdrawing rewards")?;
            }
        }
        let wallet: Wallet = client.wallet(&address).await?;
        if json {
            let mut v = serde_json::to_value(&wallet)?;
            v["claimed"] = claimed.to_string().into();
            println!("{v}");
        } else {
            println!("address  {}", wallet.address);
            println!("balance  {}", wallet.balance);
            println!("stake    {}", wallet.stake);
            println!("rewards  {}", wallet.rewards);
            if args.claim {
                println!("claimed  {claimed}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
