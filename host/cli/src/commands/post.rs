//! `clusterai task post`: a buyer's task on the chain's market. The input
//! (and a plugin or model given as a file) is served over iroh from this
//! process while the drawn nodes fetch it; with `--wait`, the winning
//! output and the receipts of the nodes that agreed on it are printed.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use clap::Args;
use clusterai_chain::beacon::BeaconClient;
use clusterai_chain::localnet::LocalnetInfo;
use clusterai_economy::market::TaskStatus;
use clusterai_node::buyer::{Answer, Buyer, Order};
use clusterai_types::ContentHash;

use super::chain::ChainArgs;
use crate::exit::{self, ensure_usage};
use crate::terminal::{on_stderr, on_stdout};

/// `clusterai task post`.
#[derive(Debug, Args)]
pub(crate) struct PostArgs {
    /// The plugin: its hash (the nodes hold it), or a .wasm file served
    /// from here to the nodes that lack it.
    #[arg(long, value_name = "HASH|FILE")]
    plugin: String,
    /// The input file, served from here over iroh.
    #[arg(long, short, value_name = "FILE")]
    input: std::path::PathBuf,
    /// A model the plugin loads: its hash, or a file served from here;
    /// repeatable.
    #[arg(long = "model", value_name = "HASH|FILE")]
    models: Vec<String>,
    /// Replication: how many votes decide the output (odd).
    #[arg(long, default_value_t = 3)]
    replicas: u8,
    /// What the task pays, in the chain's payment token.
    #[arg(long, value_name = "AMOUNT")]
    reward: u128,
    /// Seconds the drawn nodes have to commit.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    commit_period: u64,
    /// The most royalties (plugin and models) to agree to.
    #[arg(long, value_name = "AMOUNT")]
    max_royalties: Option<u128>,
    /// Wait for the result (at most this many seconds; default 300) and
    /// print the winning output and receipts.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "300")]
    wait: Option<u64>,
    /// The UDP address the nodes reach this process at.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// The beacon that draws the nodes (default: the devnet's, or the one
    /// `--deployment`'s localnet.json names).
    #[arg(long, value_name = "URL")]
    beacon: Option<String>,
    #[command(flatten)]
    chain: ChainArgs,
}

/// Runs `task post`.
pub(crate) fn run(args: PostArgs, json: bool) -> anyhow::Result<ExitCode> {
    ensure_usage!(
        args.replicas % 2 == 1,
        "--replicas must be odd, got {}",
        args.replicas
    );
    ensure_usage!(args.reward > 0, "--reward must be positive");
    let input = super::task::read_file(&args.input)?;
    let beacon = beacon_url(&args)?;
    super::async_runtime()?.block_on(async move {
        let chain = args.chain.connect().await?;
        let buyer = Buyer::start(
            &args.chain.data_dir().join("buyer"),
            args.bind,
            chain.clone(),
            BeaconClient::new(&beacon),
        )
        .await?;
        let result = post(&buyer, &args, input, json, chain.as_ref()).await;
        buyer.shutdown().await;
        result
    })
}

async fn post(
    buyer: &Buyer,
    args: &PostArgs,
    input: Vec<u8>,
    json: bool,
    chain: &dyn clusterai_chain::Settlement,
) -> anyhow::Result<ExitCode> {
    let plugin = blob(buyer, "--plugin", &args.plugin).await?;
    let mut models = Vec::new();
    for m in &args.models {
        models.push(blob(buyer, "--model", m).await?);
    }
    let order = Order {
        plugin,
        models,
        input,
        replicas: args.replicas,
        reward: args.reward,
        commit_period: args.commit_period,
        max_royalties: args.max_royalties,
    };
    let id = buyer.post(&order).await.context("posting the task")?;
    eprintln!("posted task {id}; waiting for its beacon round to draw the nodes");
    buyer.assign(id, Duration::from_secs(60)).await?;
    eprintln!(
        "task {id} assigned; serving its input from {}",
        buyer.provider()
    );
    let Some(wait) = args.wait else {
        // Serve until every drawn node has committed or declined: by then
        // they have what they need.
        let deadline = Instant::now() + Duration::from_secs(args.commit_period + 10);
        loop {
            let task = chain.task(id).await?;
            let done = task
                .assignments
                .iter()
                .all(|a| a.declined || a.commitment.is_some());
            if done || task.status != TaskStatus::Open || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if json {
            println!("{}", serde_json::json!({ "task_id": id }));
        } else {
            println!("{id}");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let answer = buyer.wait(id, Duration::from_secs(wait)).await?;
    Ok(report(id, &answer, json))
}

/// A plugin or model: a hash as given, or a file offered to the nodes.
async fn blob(buyer: &Buyer, flag: &str, value: &str) -> anyhow::Result<ContentHash> {
    if let Ok(hash) = value.parse::<ContentHash>() {
        return Ok(hash);
    }
    let path = Path::new(value);
    if !path.is_file() {
        return Err(exit::UsageError(format!(
            "{flag} {value:?} is neither a 64-hex hash nor a file"
        ))
        .into());
    }
    let bytes = super::task::read_file(&path.to_path_buf())?;
    buyer.offer(bytes).await
}

/// The beacon's URL: `--beacon`, the localnet's, or the devnet's.
fn beacon_url(args: &PostArgs) -> anyhow::Result<String> {
    if let Some(b) = &args.beacon {
        return Ok(b.clone());
    }
    match &args.chain.deployment {
        None => Ok(args.chain.chain.clone()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let info: LocalnetInfo = serde_json::from_str(&text).map_err(|_| {
                exit::UsageError(format!(
                    "{} names no beacon (it is not a localnet.json): give --beacon",
                    path.display()
                ))
            })?;
            Ok(info.beacon_url)
        }
    }
}

/// Prints the answer; exit 0 only for a settled task with its output.
fn report(id: u64, answer: &Answer, json: bool) -> ExitCode {
    let status = match &answer.task.status {
        TaskStatus::Settled { .. } => "settled",
        TaskStatus::Disputed => "disputed",
        TaskStatus::Expired => "expired",
        TaskStatus::Open | TaskStatus::Pending => "open",
    };
    let text = answer
        .output
        .as_deref()
        .and_then(|o| std::str::from_utf8(o).ok());
    if json {
        let mut v = serde_json::json!({
            "task_id": id,
            "status": status,
            "content_type": answer.content_type,
            "receipts": answer.receipts,
            "refused": answer.refused,
        });
        if let Some(o) = &answer.output {
            v["output"] = match text {
                Some(t) => serde_json::json!({ "text": t }),
                None => serde_json::json!({
                    "base64": base64::engine::general_purpose::STANDARD.encode(o)
                }),
            };
        }
        println!("{v}");
    } else {
        for why in &answer.refused {
            eprintln!("warning: a delivery was refused: {}", on_stderr(why));
        }
        for r in &answer.receipts {
            eprintln!(
                "receipt: node {} (account {}), output {}, signature verified",
                r.receipt.receipt.node, r.operator, r.receipt.receipt.output
            );
        }
        match (&answer.output, text) {
            (Some(_), Some(t)) => print!("{}", on_stdout(t)),
            (Some(o), None) => {
                use std::io::Write;
                let _ = std::io::stdout().write_all(o);
            }
            (None, _) => eprintln!("error: task {id} ended {status} without a delivered output"),
        }
    }
    if answer.output.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    }
}
