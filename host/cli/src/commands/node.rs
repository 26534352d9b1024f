//! `clusterai node init|start|token`: turn a machine into a node.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use clusterai_node::config::{NodeConfig, TEMPLATE};
use clusterai_types::env;

use crate::exit::UsageError;

/// `clusterai node <command>`.
#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Write a commented config file (every setting at its default) and
    /// create the node's identity (its ed25519 key).
    Init {
        /// Where to write the config (default: `<data dir>/config.toml`).
        #[arg(long, env = env::CONFIG_VAR, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The node's data directory.
        #[arg(long, env = env::DATA_DIR_VAR, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Replace an existing config file.
        #[arg(long)]
        force: bool,
    },
    /// Run the node: HTTP API, task queue, workers, blob store over iroh.
    /// Stops cleanly on Ctrl-C or SIGTERM.
    Start {
        /// The config file (default: `<data dir>/config.toml` if it exists,
        /// else the defaults).
        #[arg(long, env = env::CONFIG_VAR, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The node's data directory (overrides the config's).
        #[arg(long, env = env::DATA_DIR_VAR, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Where the HTTP API listens (overrides the config's).
        #[arg(long, value_name = "IP:PORT")]
        http: Option<std::net::SocketAddr>,
        /// Where the iroh endpoint binds (overrides the config's).
        #[arg(long, value_name = "IP:PORT")]
        iroh: Option<std::net::SocketAddr>,
    },
    /// Make a bearer token for the API: prints it once, and the lines to
    /// add to the config (which keeps only its hash).
    Token {
        /// Who will hold it.
        name: String,
    },
    /// Register this node in the chain's node registry, staking AMOUNT
    /// from its account: its iroh id and receipt key (its ed25519 identity)
    /// and what it can run.
    Register {
        #[command(flatten)]
        chain: super::chain::ChainArgs,
        /// Tokens to stake (at least the registry's minimum).
        #[arg(long, value_name = "AMOUNT")]
        stake: u128,
        /// An execution provider the node offers (repeatable).
        #[arg(long = "provider", value_name = "NAME", default_values_t = ["cpu".to_string()])]
        providers: Vec<String>,
        /// Memory the node offers to tasks, in MiB.
        #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
        memory_mb: u64,
    },
}

/// Runs a `node` command.
pub(crate) fn run(cmd: NodeCommand, json: bool) -> anyhow::Result<ExitCode> {
    match cmd {
        NodeCommand::Init {
            config,
            data_dir,
            force,
        } => init(config, data_dir, force, json),
        NodeCommand::Start {
            config,
            data_dir,
            http,
            iroh,
        } => start(config, data_dir, http, iroh, json),
        NodeCommand::Register {
            chain,
            stake,
            providers,
            memory_mb,
        } => register(chain, stake, providers, memory_mb, json),
        NodeCommand::Token { name } => {
            anyhow::ensure!(
                !name.trim().is_empty(),
                UsageError("the token needs a name".into())
            );
            let (token, hash) = clusterai_node::auth::new_token();
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "name": name, "token": token, "blake3": hash })
                );
            } else {
                println!("token (shown once): {token}\n");
                println!("add to the node's config:\n");
                println!("[[auth.tokens]]\nname = {name:?}\nblake3 = \"{hash}\"");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    force: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let data = data_dir.unwrap_or_else(env::data_dir);
    let path = config.unwrap_or_else(|| data.join(env::CONFIG_FILE));
    if path.exists() && !force {
        return Err(UsageError(format!(
            "{} exists; pass --force to replace it",
            path.display()
        ))
        .into());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    std::fs::write(&path, TEMPLATE).with_context(|| format!("writing {}", path.display()))?;
    let identity = clusterai_store::NodeIdentity::load_or_create(&data)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "config": path,
                "data_dir": data,
                "node_id": identity.node_id().to_string(),
            })
        );
    } else {
        println!("config   {}", path.display());
        println!("data     {}", data.display());
        println!("node id  {}", identity.node_id());
        println!(
            "\nstart it with: clusterai node start --config {}",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn start(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    http: Option<std::net::SocketAddr>,
    iroh: Option<std::net::SocketAddr>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let default_path = data_dir
        .clone()
        .unwrap_or_else(env::data_dir)
        .join(env::CONFIG_FILE);
    let mut cfg = match &config {
        Some(path) => NodeConfig::load(path)?,
        None if default_path.is_file() => NodeConfig::load(&default_path)?,
        None => NodeConfig::default(),
    };
    if data_dir.is_some() {
        cfg.data_dir = data_dir;
    }
    if let Some(addr) = http {
        cfg.http.bind = addr;
    }
    if let Some(addr) = iroh {
        cfg.iroh.bind = addr;
    }
    cfg.check().map_err(UsageError)?;
    super::async_runtime()?.block_on(clusterai_node::daemon::run(cfg, |d| {
        let url = format!("http://{}", d.http_addr);
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "http": url,
                    "node_id": d.node.node_id(),
                    "dashboard": format!("{url}/"),
                })
            );
        } else {
            println!("node {} serving on {url}", d.node.node_id());
            println!("dashboard {url}/   API {url}/v1/openapi.json   press ctrl-c to stop");
        }
    }))?;
    Ok(ExitCode::SUCCESS)
}

fn register(
    chain: super::chain::ChainArgs,
    stake: u128,
    providers: Vec<String>,
    memory_mb: u64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use clusterai_economy::registry::{Capabilities, NodeInfo};
    use cosmwasm_std::HexBinary;
    crate::exit::ensure_usage!(stake > 0, "--stake needs a positive amount");
    let identity = clusterai_store::identity::NodeIdentity::load_or_create(&chain.data_dir())?;
    let id = HexBinary::from(identity.node_id().as_bytes().to_vec());
    let info = NodeInfo {
        iroh_node_id: id.clone(),
        // Receipts are signed by the same ed25519 identity.
        receipt_key: id,
        capabilities: Capabilities {
            execution_providers: providers,
            memory_mb,
        },
    };
    super::async_runtime()?.block_on(async move {
        let client = chain.connect().await?;
        let balance = client.balance(client.address()).await?;
        anyhow::ensure!(
            balance >= stake,
            "{} holds {balance}, less than the stake of {stake}",
            client.address()
        );
        let tx = client
            .register(&info, stake)
            .await
            .context("registering the node")?;
        let node = client.node(client.address()).await?;
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "operator": node.operator,
                    "stake": node.stake,
                    "reputation": node.reputation,
                    "iroh_node_id": node.info.iroh_node_id,
                    "tx": tx.hash,
                    "height": tx.height,
                })
            );
        } else {
            println!("registered {} with stake {}", node.operator, node.stake);
            println!("iroh id    {}", node.info.iroh_node_id);
            println!("tx         {} (block {})", tx.hash, tx.height);
        }
        Ok(ExitCode::SUCCESS)
    })
}
