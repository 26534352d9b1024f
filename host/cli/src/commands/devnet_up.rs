//! `clusterai devnet up`: a whole local network in one command: the devnet,
//! and N `clusterai node start` processes, each funded, registered with a
//! stake, holding the example plugins and the models they use, and working
//! for the chain. Its directory keeps everything: run it again to continue.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};

use anyhow::Context;
use clap::Args;
use clusterai_chain::devnet::client::DevnetClient;
use clusterai_chain::devnet::{Devnet, DevnetConfig, server};
use clusterai_chain::{AccountKey, Settlement};
use clusterai_economy::registry::{Capabilities, NodeInfo};
use clusterai_types::models::{ALL as PINNED_MODELS, ModelKind};
use clusterai_types::{ContentHash, env};
use cosmwasm_std::HexBinary;

/// Models larger than this are not preloaded (the LLM): a node host adds
/// them with `clusterai model add`.
const PRELOAD_MODEL_MAX_BYTES: u64 = 64 << 20;

/// The example plugins a node of the local network holds.
const EXAMPLES: [&str; 5] = ["hello", "ocr", "embed", "tensor", "chat"];

/// `clusterai devnet up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Nodes to run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=16))]
    nodes: u8,
    /// Where the devnet and the nodes keep their data (default:
    /// `<data dir>/devnet-up`).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Where the devnet listens.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:26658")]
    listen: SocketAddr,
    /// What each node stakes (from the faucet).
    #[arg(long, value_name = "AMOUNT", default_value_t = 100_000)]
    stake: u128,
    /// Block time in milliseconds (a new devnet only).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    block_time_ms: u64,
    /// The built example plugins (`scripts/build-plugins.sh`).
    #[arg(
        long,
        env = "CLUSTERAI_PLUGIN_WASM_DIR",
        value_name = "DIR",
        default_value = "plugins/target/wasm32-wasip2/release"
    )]
    plugins: PathBuf,
}

/// A node process of the network.
struct NodeProcess {
    child: Child,
    /// Kept open: a node printing to a closed pipe would fail.
    _stdout: BufReader<std::process::ChildStdout>,
    address: String,
    node_id: String,
    url: String,
    dir: PathBuf,
}

/// Runs `devnet up`.
pub(crate) fn run(args: UpArgs, json: bool) -> anyhow::Result<ExitCode> {
    crate::exit::ensure_usage!(args.stake > 0, "--stake needs a positive amount");
    let plugins: Vec<(String, PathBuf)> = EXAMPLES
        .iter()
        .map(|name| (name.to_string(), args.plugins.join(format!("{name}.wasm"))))
        .filter(|(_, path)| path.is_file())
        .collect();
    crate::exit::ensure_usage!(
        !plugins.is_empty(),
        "no example plugin in {} (build them with scripts/build-plugins.sh, or give --plugins)",
        args.plugins.display()
    );
    let models: Vec<PathBuf> = PINNED_MODELS
        .iter()
        .filter(|m| m.kind == ModelKind::Onnx && m.size <= PRELOAD_MODEL_MAX_BYTES)
        .map(|m| m.cached_path())
        .filter(|p| p.is_file())
        .collect();
    let root = args
        .dir
        .clone()
        .unwrap_or_else(|| env::data_dir().join("devnet-up"));
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let devnet_dir = root.join("devnet");
    let config = DevnetConfig {
        block_time_ms: args.block_time_ms,
        ..DevnetConfig::default()
    };
    let devnet = Devnet::open(Some(&devnet_dir), &config)
        .with_context(|| format!("opening the devnet in {}", devnet_dir.display()))?;
    let deployment = devnet.deployment().clone();
    super::async_runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(server::serve(devnet, listener));
        let faucet = DevnetClient::connect(&url, AccountKey::generate()).await?;
        let mut nodes = Vec::new();
        let started = async {
            for i in 0..args.nodes {
                let dir = root.join(format!("node{i}"));
                eprintln!("starting node {i} in {}", dir.display());
                nodes.push(start_node(&dir, &url, &faucet, args.stake, &plugins, &models).await?);
            }
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = started {
            stop(&mut nodes);
            return Err(e);
        }
        let plugin_hashes: Vec<(String, ContentHash)> = plugins
            .iter()
            .map(|(name, path)| Ok((name.clone(), ContentHash::of(&std::fs::read(path)?))))
            .collect::<anyhow::Result<_>>()?;
        if json {
            let v = serde_json::json!({
                "devnet": url,
                "dir": root,
                "chain_id": deployment.chain_id,
                "nodes": nodes.iter().map(|n| serde_json::json!({
                    "address": n.address, "node_id": n.node_id, "url": n.url,
                    "dashboard": format!("{}/", n.url), "dir": n.dir,
                })).collect::<Vec<_>>(),
                "plugins": plugin_hashes.iter().map(|(n, h)| (n.clone(), h.to_string()))
                    .collect::<std::collections::BTreeMap<_, _>>(),
            });
            println!("{v}");
        } else {
            println!("devnet   {url}  (chain {}, dir {})", deployment.chain_id, root.display());
            for (i, n) in nodes.iter().enumerate() {
                println!("node{i}    {}  dashboard {}/  account {}", n.node_id, n.url, n.address);
            }
            for (name, hash) in &plugin_hashes {
                println!("plugin   {name:<7} {hash}");
            }
            println!();
            println!("a buyer, in another terminal:");
            println!("  clusterai wallet --faucet 100000 --data-dir /tmp/buyer");
            if let Some((_, hello)) = plugin_hashes.iter().find(|(n, _)| n == "hello") {
                println!("  echo world > /tmp/name.txt");
                println!(
                    "  clusterai task post --plugin {hello} --input /tmp/name.txt --reward 1000 --wait --data-dir /tmp/buyer"
                );
            }
            println!("Ctrl-C stops the network; `clusterai devnet up` again continues it.");
        }
        tokio::select! {
            served = server => {
                stop(&mut nodes);
                served.context("the devnet stopped")?.context("serving the devnet")?;
            }
            () = clusterai_node::daemon::wait_for_signal() => {
                eprintln!("stopping {} nodes", nodes.len());
                stop(&mut nodes);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Funds, registers (once) and starts the node kept in `dir`.
async fn start_node(
    dir: &Path,
    url: &str,
    faucet: &DevnetClient,
    stake: u128,
    plugins: &[(String, PathBuf)],
    models: &[PathBuf],
) -> anyhow::Result<NodeProcess> {
    std::fs::create_dir_all(dir)?;
    let key = AccountKey::load_or_create(dir)?;
    let identity = clusterai_store::identity::NodeIdentity::load_or_create(dir)?;
    let node_id = identity.node_id().to_string();
    let client = DevnetClient::connect(url, key).await?;
    let address = client.address().to_owned();
    if client.node(&address).await.is_err() {
        faucet.faucet(&address, stake).await?;
        let id = HexBinary::from(identity.node_id().as_bytes().to_vec());
        let info = NodeInfo {
            iroh_node_id: id.clone(),
            receipt_key: id,
            capabilities: Capabilities {
                execution_providers: vec!["cpu".into()],
                memory_mb: 4096,
            },
        };
        client
            .register(&info, stake)
            .await
            .with_context(|| format!("registering {address}"))?;
    }
    let config = dir.join("config.toml");
    let list = |paths: Vec<&Path>| {
        paths
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    std::fs::write(
        &config,
        format!(
            "# Written by `clusterai devnet up` (rewritten on every start).\n\
             data_dir = {:?}\n\
             [http]\nbind = \"127.0.0.1:0\"\n\
             [iroh]\nbind = \"127.0.0.1:0\"\n\
             [queue]\nworkers = 1\n\
             [inference]\nintra_op_threads = 1\nsessions_per_model = 1\n\
             [chain]\nurl = {url:?}\npoll_ms = 300\n\
             [preload]\nplugins = [{}]\nmodels = [{}]\n",
            dir.display().to_string(),
            list(plugins.iter().map(|(_, p)| p.as_path()).collect()),
            list(models.iter().map(PathBuf::as_path).collect()),
        ),
    )?;
    let log = std::fs::File::create(dir.join("node.log"))?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["node", "start", "--config"])
        .arg(&config)
        .env_remove(env::DATA_DIR_VAR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    // A node outliving this process (killed without a chance to stop
    // them) would hold its ports and directory: it gets SIGTERM then.
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: prctl is async-signal-safe; nothing else runs between
        // fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }
    let mut child = command.spawn().context("starting a node process")?;
    // The node prints `node <id> serving on <url>` once it listens.
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    stdout.read_line(&mut line).ok();
    let Some((_, url)) = line.trim().split_once(" serving on ") else {
        let _ = child.kill();
        let _ = child.wait();
        anyhow::bail!(
            "the node in {} did not start (see {})",
            dir.display(),
            dir.join("node.log").display()
        );
    };
    Ok(NodeProcess {
        url: url.to_owned(),
        child,
        _stdout: stdout,
        address,
        node_id,
        dir: dir.to_owned(),
    })
}

/// Stops the node processes as Ctrl-C would (SIGTERM: running tasks finish,
/// the rest stays queued) and waits for them.
fn stop(nodes: &mut [NodeProcess]) {
    for n in nodes.iter() {
        // SAFETY: signalling a child process this process started.
        unsafe {
            libc::kill(n.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }
    for n in nodes.iter_mut() {
        let _ = n.child.wait();
    }
}
