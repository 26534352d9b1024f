//! `clusterai blob ...`: add, fetch over iroh, list, remove and serve blobs.
//!
//! Every subcommand takes the node options of [`NodeArgs`] (`--data-dir`,
//! `--bind`, ...), with environment overrides (`CLUSTERAI_DATA_DIR`,
//! `CLUSTERAI_BIND`).
//!
//! The store is held by one process at a time: while `blob serve` runs,
//! `blob add` in the same data directory reports that the store is in use.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clusterai_store::node::advertised_addr;
use clusterai_store::{
    AllowList, BlobFormat, BlobStore, FetchOptions, Node, NodeConfig, Provider, StoreConfig,
};
use clusterai_types::{ContentHash, env};
use indicatif::{ProgressBar, ProgressStyle};
use iroh::EndpointId;
use iroh_blobs::ticket::BlobTicket;

fn to_iroh(hash: ContentHash) -> iroh_blobs::Hash {
    iroh_blobs::Hash::from_bytes(*hash.as_bytes())
}

/// Options shared by every `blob` subcommand: where the node lives and how
/// it talks to the network.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct NodeArgs {
    /// The node's data directory (key, store, peer record).
    /// Default: $XDG_DATA_HOME/clusterai, else ~/.local/share/clusterai.
    #[arg(long, env = env::DATA_DIR_VAR, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// UDP address to listen on. Default: 0.0.0.0:7730 for `serve` and
    /// `add` (whose ticket names it), any free port for `get`.
    #[arg(long, env = "CLUSTERAI_BIND", value_name = "IP:PORT")]
    pub(crate) bind: Option<SocketAddr>,
    /// Use n0's public relays (off by default).
    #[arg(long)]
    pub(crate) relay: bool,
    /// Publish and resolve addresses via n0's DNS discovery (off by default).
    #[arg(long)]
    pub(crate) discovery: bool,
    /// Size budget of the store in bytes (default: no limit but the disk).
    #[arg(long, value_name = "BYTES")]
    pub(crate) budget: Option<u64>,
}

impl NodeArgs {
    /// The data directory in force.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(env::data_dir)
    }

    fn config(&self, default_bind: SocketAddr) -> anyhow::Result<NodeConfig> {
        let mut c = NodeConfig::new(self.data_dir());
        c.bind = self.bind.unwrap_or(default_bind);
        c.relay = self.relay;
        c.discovery = self.discovery;
        c.store = StoreConfig {
            budget: self.budget,
            ..StoreConfig::default()
        };
        Ok(c)
    }
}

fn fixed_port() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], env::DEFAULT_IROH_PORT))
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

/// `clusterai blob ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub(crate) enum BlobCommand {
    /// Import a file into the store and pin it; prints its hash and a ticket.
    Add {
        /// The file to import.
        file: PathBuf,
        /// Where the node lives and how it talks to the network.
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Fetch a blob (or collection) by hash from one or more providers,
    /// verifying it; pins it and optionally writes it to a file.
    Get {
        /// The BLAKE3 hash (64 hex characters).
        hash: ContentHash,
        /// A provider: a ticket, or NODE_ID@IP:PORT[,IP:PORT...], or a bare
        /// NODE_ID (needs --discovery). Repeat for parallel download.
        #[arg(long = "from", required = true, value_name = "TICKET|NODE")]
        from: Vec<String>,
        /// Write the blob here once verified.
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The hash names a collection (implied by a collection ticket).
        #[arg(long)]
        collection: bool,
        /// Concurrent range requests per provider.
        #[arg(long, default_value_t = 4)]
        streams: usize,
        /// Where the node lives and how it talks to the network.
        #[command(flatten)]
        node: NodeArgs,
    },
    /// List pinned blobs and downloads in progress.
    Ls {
        /// Where the node lives and how it talks to the network.
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Unpin blobs and free their space.
    Rm {
        /// The hashes to remove.
        #[arg(required = true)]
        hashes: Vec<ContentHash>,
        /// Where the node lives and how it talks to the network.
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Serve pinned blobs to allowed peers until interrupted.
    Serve {
        /// Admit this peer (node id). Repeatable.
        #[arg(long = "allow", value_name = "NODE_ID")]
        allow: Vec<EndpointId>,
        /// Admit any peer that can reach this node (pinned blobs only).
        #[arg(long)]
        allow_any: bool,
        /// Cap on bytes per second served to all peers together.
        #[arg(long, value_name = "BYTES_PER_SEC")]
        rate_limit: Option<u64>,
        /// Where the node lives and how it talks to the network.
        #[command(flatten)]
        node: NodeArgs,
    },
}

fn bar(total: u64, json: bool, what: &str) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

/// Runs one `blob` subcommand; `json` prints machine-readable output.
pub(crate) async fn run(cmd: BlobCommand, json: bool) -> anyhow::Result<ExitCode> {
    match cmd {
        BlobCommand::Add { file, node } => add(file, node, json).await,
        BlobCommand::Get {
            hash,
            from,
            out,
            collection,
            streams,
            node,
        } => get(hash, from, out, collection, streams, node, json).await,
        BlobCommand::Ls { node } => ls(node, json).await,
        BlobCommand::Rm { hashes, node } => rm(hashes, node, json).await,
        BlobCommand::Serve {
            allow,
            allow_any,
            rate_limit,
            node,
        } => serve(allow, allow_any, rate_limit, node, json).await,
    }
}

async fn add(file: PathBuf, node: NodeArgs, json: bool) -> anyhow::Result<ExitCode> {
    let config = node.config(fixed_port())?;
    let store = BlobStore::open(env::blobs_dir(&config.data_dir), config.store.clone()).await?;
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let pb = bar(size, json, "import");
    let pb2 = pb.clone();
    let result = store
        .import_file(&file, move |done, _| pb2.set_position(done))
        .await;
    pb.finish_and_clear();
    store.shutdown().await?;
    let hash = result?;
    if config.bind.port() == 0 {
        tracing::warn!(
            "--bind has port 0: the ticket's port will not be where `blob serve` listens"
        );
    }
    let addr = advertised_addr(&config).await?;
    let ticket = BlobTicket::new(addr, to_iroh(hash), BlobFormat::Raw);
    if json {
        println!(
            "{}",
            serde_json::json!({ "hash": hash, "size": size, "ticket": ticket.to_string() })
        );
    } else {
        println!("hash   {hash}");
        println!("size   {size}");
        println!("ticket {ticket}");
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
async fn get(
    hash: ContentHash,
    from: Vec<String>,
    out: Option<PathBuf>,
    collection: bool,
    streams: usize,
    node: NodeArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let providers = from
        .iter()
        .map(|s| s.parse::<Provider>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut format = if collection {
        BlobFormat::HashSeq
    } else {
        BlobFormat::Raw
    };
    for p in &providers {
        if let Some((h, f)) = p.ticket_content
            && h == hash
        {
            format = f;
        }
    }
    // Refused before any download: `--out` replaces a regular file, never a
    // directory, a device or a link.
    if let Some(path) = &out
        && format == BlobFormat::Raw
        && let Err(e) = clusterai_types::files::check_replaceable(path)
    {
        return Err(crate::exit::UsageError(format!("--out: {e}")).into());
    }
    let node = Node::spawn(node.config(any_port())?, AllowList::new()).await?;
    let pb = bar(0, json, "fetch");
    let pb2 = pb.clone();
    let fetcher = node.fetcher(FetchOptions {
        streams_per_provider: streams.max(1),
        progress: Some(Arc::new(move |done, total| {
            pb2.set_length(total);
            pb2.set_position(done);
        })),
        ..FetchOptions::default()
    });
    let result = fetcher.fetch(hash, format, &providers).await;
    pb.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            node.shutdown().await.ok();
            return Err(e.into());
        }
    };
    let written = match &out {
        Some(path) if format == BlobFormat::Raw => Some(
            node.store()
                .export(hash, path)
                .await
                .map(|_| path.clone())
                .map_err(anyhow::Error::from),
        ),
        Some(dir) => Some(
            export_collection(&node, hash, dir)
                .await
                .map(|()| dir.clone()),
        ),
        None => None,
    };
    node.shutdown().await?;
    let written = written.transpose()?;
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["out"] = serde_json::json!(written);
        println!("{v}");
    } else {
        println!(
            "{hash} verified: {} bytes ({} downloaded, {} already here) in {:.2}s",
            report.size, report.downloaded, report.already_local, report.elapsed_secs
        );
        for p in &report.providers {
            match &p.problem {
                Some(prob) => println!(
                    "  {} {} bytes, {}: {}",
                    p.node, p.bytes, prob.kind, prob.message
                ),
                None => println!("  {} {} bytes", p.node, p.bytes),
            }
        }
        if let Some(path) = written {
            println!("written to {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes each member of a collection into `dir` under its name.
async fn export_collection(node: &Node, hash: ContentHash, dir: &PathBuf) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, child) in node.store().collection(hash).await? {
        let safe = std::path::Path::new(&name)
            .file_name()
            .with_context(|| format!("collection entry {name:?} is not a plain file name"))?;
        node.store().export(child, &dir.join(safe)).await?;
    }
    Ok(())
}

async fn ls(node: NodeArgs, json: bool) -> anyhow::Result<ExitCode> {
    let config = node.config(fixed_port())?;
    let store = BlobStore::open(env::blobs_dir(&config.data_dir), config.store).await?;
    let entries = store.list().await;
    store.shutdown().await?;
    let entries = entries?;
    if json {
        println!("{}", serde_json::to_string(&entries)?);
    } else {
        for e in entries {
            println!("{}  {:<10} {:>14}  {}", e.hash, e.format, e.size, e.state);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn rm(hashes: Vec<ContentHash>, node: NodeArgs, json: bool) -> anyhow::Result<ExitCode> {
    let config = node.config(fixed_port())?;
    let store = BlobStore::open(env::blobs_dir(&config.data_dir), config.store).await?;
    let mut removed = Vec::new();
    let mut missing = Vec::new();
    let result = async {
        for h in hashes {
            if store.unpin(h).await? {
                removed.push(h);
            } else {
                missing.push(h);
            }
        }
        store.collect().await
    }
    .await;
    store.shutdown().await?;
    result?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "removed": removed, "not_found": missing })
        );
    } else {
        for h in &removed {
            println!("removed {h}");
        }
        for h in &missing {
            eprintln!("not in the store: {h}");
        }
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn serve(
    allow: Vec<EndpointId>,
    allow_any: bool,
    rate_limit: Option<u64>,
    node: NodeArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if allow.is_empty() && !allow_any {
        anyhow::bail!(
            "serve admits nobody by default: pass --allow NODE_ID (repeatable) or --allow-any"
        );
    }
    let mut list = AllowList::new().with_peers(allow);
    if allow_any {
        list = list.allow_any_peer();
    }
    let mut config = node.config(fixed_port())?;
    config.serve_rate_limit = rate_limit;
    let node = Node::spawn(config, list).await?;
    let mut tickets = Vec::new();
    for e in node.store().list().await? {
        if e.state == "pinned" {
            tickets.push((e.hash, node.ticket(e.hash).await?.to_string()));
        }
    }
    let addrs: Vec<String> = node.addr().ip_addrs().map(|a| a.to_string()).collect();
    if json {
        let t: Vec<_> = tickets
            .iter()
            .map(|(h, t)| serde_json::json!({ "hash": h, "ticket": t }))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "node_id": node.node_id().to_string(), "addrs": addrs, "tickets": t })
        );
    } else {
        println!("serving as {} on {}", node.node_id(), addrs.join(", "));
        for (h, t) in &tickets {
            println!("{h} {t}");
        }
        println!("press ctrl-c to stop");
    }
    wait_for_signal().await;
    node.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    clusterai_node::daemon::wait_for_signal().await;
    // Let in-flight transfers see the shutdown rather than a reset.
    tokio::time::sleep(Duration::from_millis(50)).await;
}
