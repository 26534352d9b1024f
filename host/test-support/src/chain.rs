//! A buyer's side on a chain, for tests: what a node registers, a task
//! posted and assigned once its beacon round is out, waiting for it to close.

use std::time::{Duration, Instant};

use clusterai_chain::beacon::BeaconClient;
use clusterai_chain::{ChainError, Settlement};
use clusterai_economy::market::{TaskInput, TaskResponse, TaskSpec, TaskStatus};
use clusterai_economy::registry::{Capabilities, NodeInfo, Requirements};
use cosmwasm_std::{Binary, HexBinary};

/// What a CPU node with 4 GiB registers, under iroh id (and receipt key) `id`.
pub fn node_info(id: [u8; 32]) -> NodeInfo {
    NodeInfo {
        iroh_node_id: HexBinary::from(id),
        receipt_key: HexBinary::from(id),
        capabilities: Capabilities {
            execution_providers: vec!["cpu".into()],
            memory_mb: 4096,
        },
    }
}

/// A k = 3 task of the plugin `plugin` (its bytes) on an inline `input`.
pub fn spec(plugin: &[u8], input: &[u8], commit_period: u64) -> TaskSpec {
    TaskSpec {
        plugin: HexBinary::from(blake3::hash(plugin).as_bytes().to_vec()),
        input: TaskInput::Inline {
            data: Binary::from(input.to_vec()),
        },
        models: vec![],
        k: 3,
        commit_period,
        requirements: Requirements::default(),
        max_royalties: None,
    }
}

/// Assigns task `id` once its beacon round is published and a block has
/// reached it (block time trails the beacon's clock by up to a block).
pub async fn assign(buyer: &dyn Settlement, beacon: &BeaconClient, id: u64) {
    let round = buyer.task(id).await.unwrap().round;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "task {id} was never assigned");
        if let Some(sig) = beacon.round(round).await.unwrap() {
            match buyer.assign(id, Some(sig)).await {
                Ok(_) => return,
                Err(ChainError::Contract { reason, .. }) if reason.contains("wait for it") => {}
                Err(e) => panic!("assign task {id}: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts `spec` with `reward` and assigns it; returns its id.
pub async fn post(
    buyer: &dyn Settlement,
    beacon: &BeaconClient,
    spec: &TaskSpec,
    reward: u128,
) -> u64 {
    let id = buyer.post_task(spec, reward).await.unwrap();
    assign(buyer, beacon, id).await;
    id
}

/// Waits until task `id` is settled, disputed or expired.
pub async fn closed(chain: &dyn Settlement, id: u64, within: Duration) -> TaskResponse {
    let deadline = Instant::now() + within;
    loop {
        let task = chain.task(id).await.unwrap();
        if !matches!(task.status, TaskStatus::Open | TaskStatus::Pending) {
            return task;
        }
        assert!(Instant::now() < deadline, "task {id} still open: {task:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The votes `address` holds in a task's first committee.
pub fn votes(task: &TaskResponse, address: &str) -> u8 {
    task.assignments
        .iter()
        .filter(|a| !a.reexecution && a.node.as_str() == address)
        .map(|a| a.votes)
        .sum()
}
