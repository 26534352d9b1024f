//! The `chain` suite: the network on a real wasmd chain (a localnet this
//! run starts), with three nodes in-process running their chain workers and
//! a buyer posting `hello` tasks one after another.
//!
//! Figures:
//! - `post_to_settled` (ms, median over the tasks): from sending the post to
//!   seeing the task settled, against `protocol_floor`: what the protocol
//!   itself must wait, five transactions that each need a block (post,
//!   assign, the commits, the reveals, settle) at the chain's measured block
//!   interval, plus the assign delay before the beacon round that draws the
//!   nodes. The goal: less than one block over the floor.
//! - `txs_per_task` (transactions, mean), against `protocol_min_txs`: post,
//!   assign, settle, and a commit and a reveal per drawn node.
//! - `gas_per_task` (gas, mean, every transaction naming the task), against
//!   `cw20_transfer`: the gas of one token transfer on the same chain in the
//!   same run (the baseline `scripts/bench-chain.sh` uses for VM gas).
//! - `gas_per_task_vs_vm` (gas), when the cosmwasm-vm `gas-bench` tool of
//!   `scripts/bench-chain.sh` is built: the same chain gas against
//!   `vm_task_lifecycle_k3`, that tool's VM gas of a k = 3 task on the same
//!   artifacts converted to SDK gas (wasmd charges 1 gas per
//!   [`WASMD_GAS_MULTIPLIER`] VM gas). The ratio is what the chain adds to
//!   the contracts' own work: signatures, transaction bytes, storage access
//!   and the per-call instance cost.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clusterai_chain::beacon::BeaconClient;
use clusterai_chain::cosmos::rpc::Rpc;
use clusterai_chain::cosmos::{CosmosClient, CosmosConfig};
use clusterai_chain::localnet::{Localnet, LocalnetConfig};
use clusterai_chain::{AccountKey, ChainError, Settlement};
use clusterai_economy::market::{TaskInput, TaskSpec, TaskStatus};
use clusterai_economy::registry::{Capabilities, NodeInfo, Requirements};
use clusterai_node::chain_worker::{ChainWorker, WorkerOptions};
use clusterai_node::{Node, NodeConfig};
use cosmwasm_std::{Binary, HexBinary};

use crate::report::{BenchReport, BenchResult, percentile};

/// What the suite runs.
#[derive(Debug)]
pub struct ChainBench {
    /// The wasmd binary.
    pub wasmd: PathBuf,
    /// The optimised contract artifacts.
    pub artifacts: PathBuf,
    /// The `hello` plugin.
    pub hello: Vec<u8>,
    /// Tasks to time.
    pub tasks: usize,
    /// The chain's block time, in milliseconds.
    pub block_time_ms: u64,
    /// The cosmwasm-vm `gas-bench` tool, when built.
    pub vm_gas_bench: Option<PathBuf>,
}

/// VM gas per SDK gas in wasmd (its `DefaultGasMultiplier`).
pub const WASMD_GAS_MULTIPLIER: f64 = 140_000.0;

/// The VM gas of a k = 3 task lifecycle as `gas-bench --json` measures it
/// on the artifacts in `artifacts`.
fn vm_task_gas(tool: &std::path::Path, artifacts: &std::path::Path) -> anyhow::Result<f64> {
    let out = std::process::Command::new(tool)
        .arg("--json")
        .env("CLUSTERAI_ARTIFACTS", artifacts)
        .output()
        .with_context(|| format!("running {}", tool.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed: {}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: BenchReport = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{} printed no bench report", tool.display()))?;
    report
        .results
        .iter()
        .find(|r| r.name == "gas:task_lifecycle_k3")
        .map(|r| r.value)
        .context("gas-bench reported no gas:task_lifecycle_k3")
}

const STAKE: u128 = 300_000;
const REWARD: u128 = 10_000;

async fn client(net: &Localnet, key: AccountKey) -> anyhow::Result<CosmosClient> {
    Ok(CosmosClient::connect(
        &net.info().rpc_url,
        net.info().deployment.clone(),
        key,
        CosmosConfig::default(),
    )
    .await?)
}

/// Runs the suite. Needs a multi-threaded tokio runtime.
pub async fn run(bench: &ChainBench) -> anyhow::Result<BenchReport> {
    let dir = tempfile::tempdir()?;
    eprintln!("chain: starting wasmd and deploying the contracts");
    let net = Localnet::start(LocalnetConfig {
        wasmd: bench.wasmd.clone(),
        dir: dir.path().join("localnet"),
        artifacts: bench.artifacts.clone(),
        chain_id: "clusterai-bench".into(),
        block_time_ms: bench.block_time_ms,
        beacon_period: 1,
    })
    .await
    .context("the localnet")?;

    // Three nodes with their workers.
    let mut workers = Vec::new();
    for i in 0..3 {
        let mut config = NodeConfig {
            data_dir: Some(dir.path().join(format!("node{i}"))),
            ..NodeConfig::default()
        };
        config.http.bind = "127.0.0.1:0".parse()?;
        config.iroh.bind = "127.0.0.1:0".parse()?;
        config.inference.enabled = false;
        config.queue.workers = 1;
        let node = Node::start(config).await?;
        node.add_plugin(bench.hello.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let key = AccountKey::generate();
        net.fund(&key.address("wasm"), STAKE).await?;
        let chain = client(&net, key).await?;
        let id = HexBinary::from(hex::decode(node.node_id())?);
        chain
            .register(
                &NodeInfo {
                    iroh_node_id: id.clone(),
                    receipt_key: id,
                    capabilities: Capabilities {
                        execution_providers: vec!["cpu".into()],
                        memory_mb: 4096,
                    },
                },
                STAKE,
            )
            .await?;
        let options = WorkerOptions {
            poll: Duration::from_millis(100),
            ..WorkerOptions::default()
        };
        workers.push((
            ChainWorker::spawn(node.clone(), Arc::new(chain), options)?,
            node,
        ));
    }
    let buyer_key = AccountKey::generate();
    net.fund(
        &buyer_key.address("wasm"),
        REWARD * bench.tasks as u128 + 10,
    )
    .await?;
    let buyer = client(&net, buyer_key).await?;
    let beacon = BeaconClient::new(&net.info().beacon_url);
    let rpc = Rpc::new(&net.info().rpc_url)?;

    // The baseline gas: one token transfer.
    let transfer = buyer
        .transfer(net.admin_key().address("wasm").as_str(), 1)
        .await?;

    let spec = TaskSpec {
        plugin: HexBinary::from(blake3::hash(&bench.hello).as_bytes().to_vec()),
        input: TaskInput::Inline {
            data: Binary::from(b"bench".to_vec()),
        },
        models: vec![],
        k: 3,
        commit_period: 30,
        requirements: Requirements::default(),
        max_royalties: None,
    };
    let start = buyer.status().await?;
    let mut latencies = Vec::new();
    let (mut txs, mut min_txs, mut gas) = (0usize, 0usize, 0u64);
    for n in 0..bench.tasks {
        let sent = Instant::now();
        let id = buyer.post_task(&spec, REWARD).await?;
        let round = buyer.task(id).await?.round;
        loop {
            if let Some(sig) = beacon.round(round).await? {
                match buyer.assign(id, Some(sig)).await {
                    Ok(_) => break,
                    Err(ChainError::Contract { reason, .. }) if reason.contains("wait for it") => {}
                    Err(e) => return Err(e.into()),
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let task = loop {
            let task = buyer.task(id).await?;
            if !matches!(task.status, TaskStatus::Open | TaskStatus::Pending) {
                break task;
            }
            anyhow::ensure!(
                sent.elapsed() < Duration::from_secs(120),
                "task {id} did not settle in 2 minutes"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        anyhow::ensure!(
            matches!(task.status, TaskStatus::Settled { .. }),
            "task {id} ended {:?}",
            task.status
        );
        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
        let records = rpc.tx_search(&format!("wasm.task_id='{id}'")).await?;
        txs += records.len();
        gas += records.iter().map(|r| r.gas_used).sum::<u64>();
        min_txs += 3 + 2 * task.assignments.len();
        eprintln!(
            "chain: task {}/{} settled in {:.0} ms",
            n + 1,
            bench.tasks,
            latencies.last().unwrap()
        );
    }
    let end = buyer.status().await?;
    let block_ms =
        (end.time_ns - start.time_ns) as f64 / 1e6 / (end.height - start.height).max(1) as f64;
    let assign_delay_ms = net.info().deployment.beacon.period as f64 * 1e3;
    let floor = 5.0 * block_ms + assign_delay_ms;
    for (worker, node) in workers {
        worker.stop();
        node.shutdown(Duration::from_secs(1)).await;
    }
    let tasks = bench.tasks as f64;
    let mut report = BenchReport::new("chain");
    report.results.push(BenchResult::new(
        "post_to_settled",
        "ms",
        percentile(&mut latencies, 50.0),
        "protocol_floor",
        floor,
    ));
    report.results.push(BenchResult::new(
        "txs_per_task",
        "transactions",
        txs as f64 / tasks,
        "protocol_min_txs",
        min_txs as f64 / tasks,
    ));
    report.results.push(BenchResult::new(
        "gas_per_task",
        "gas",
        gas as f64 / tasks,
        "cw20_transfer",
        transfer.gas_used as f64,
    ));
    if let Some(tool) = &bench.vm_gas_bench {
        let vm = vm_task_gas(tool, &bench.artifacts)?;
        report.results.push(BenchResult::new(
            "gas_per_task_vs_vm",
            "gas",
            gas as f64 / tasks,
            "vm_task_lifecycle_k3",
            vm / WASMD_GAS_MULTIPLIER,
        ));
    }
    eprintln!("chain: mean block interval {block_ms:.0} ms");
    Ok(report)
}
