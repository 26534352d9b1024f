//! The contracts on a real chain: a single-validator wasmd started by the
//! test, the optimised artifacts stored and instantiated unchanged, and
//! every protocol step sent as a signed, simulated, confirmed transaction
//! through `CosmosClient`, with the market's events followed over the
//! websocket. Then the chain goes away for a while and comes back: the same
//! clients carry on and the event follower reconnects.
//!
//! Needs wasmd (`scripts/setup-wasmd.sh`, which `scripts/test.sh` runs) at
//! `CLUSTERAI_WASMD`, and the contract artifacts
//! (`scripts/test-contracts.sh --artifacts-only`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clusterai_chain::cosmos::{CosmosClient, CosmosConfig};
use clusterai_chain::localnet::{Localnet, LocalnetConfig};
use clusterai_chain::{AccountKey, ChainError, Settlement};
use clusterai_economy::commit::{commitment, task_digest};
use clusterai_economy::market::{TaskSpec, TaskStatus};
use clusterai_test_support::chain as support;
use tokio::sync::Notify;

const STAKE: u128 = 100_000;
const REWARD: u128 = 10_000;

fn wasmd() -> PathBuf {
    let path = std::env::var_os("CLUSTERAI_WASMD").map(PathBuf::from).expect(
        "CLUSTERAI_WASMD must name a wasmd binary: run scripts/setup-wasmd.sh (scripts/test.sh does)",
    );
    assert!(
        path.exists(),
        "CLUSTERAI_WASMD={} does not exist",
        path.display()
    );
    path
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cosmwasm-contracts/artifacts");
    assert!(
        dir.join("clusterai_task_market.wasm").exists(),
        "no contract artifacts in {}: run scripts/test-contracts.sh --artifacts-only",
        dir.display()
    );
    dir
}

async fn client(net: &Localnet, key: AccountKey) -> CosmosClient {
    CosmosClient::connect(
        &net.info().rpc_url,
        net.info().deployment.clone(),
        key,
        CosmosConfig::default(),
    )
    .await
    .expect("connects")
}

/// Waits up to `secs` for a wake.
async fn woken(wake: &Notify, secs: u64) -> Result<(), tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(secs), wake.notified()).await
}

fn spec() -> TaskSpec {
    support::spec(b"a plugin", b"hello", 20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protocol_runs_on_a_real_wasmd_chain_and_survives_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Localnet::start(LocalnetConfig {
        wasmd: wasmd(),
        dir: dir.path().to_owned(),
        artifacts: artifacts(),
        chain_id: "clusterai-local".into(),
        block_time_ms: 300,
        beacon_period: 1,
    })
    .await
    .expect("the localnet starts and the contracts deploy");

    // Three nodes register with real stake; a buyer posts a task.
    let mut nodes = Vec::new();
    for i in 0..3 {
        let key = AccountKey::generate();
        net.fund(&key.address("wasm"), STAKE).await.expect("fund");
        let node = client(&net, key).await;
        let tx = node
            .register(&support::node_info([i; 32]), STAKE)
            .await
            .expect("register");
        assert!(tx.gas_used > 0, "a real chain meters gas");
        nodes.push(node);
    }
    let buyer_key = AccountKey::generate();
    net.fund(&buyer_key.address("wasm"), REWARD * 2)
        .await
        .unwrap();
    let buyer = client(&net, buyer_key.clone()).await;

    // A contract refusal is found by simulation: nothing is spent and the
    // account's next transaction goes through.
    let mut bad = spec();
    bad.k = 2;
    let err = buyer.post_task(&bad, REWARD).await.unwrap_err();
    assert!(matches!(err, ChainError::Contract { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(buyer.balance(buyer.address()).await.unwrap(), REWARD * 2);

    // Market events over the websocket: a wake once subscribed, none for
    // another contract's transaction, one for the market's.
    let wake = Arc::new(Notify::new());
    assert!(buyer.follow_market(&wake), "a Cosmos chain has events");
    woken(&wake, 20).await.expect("subscribed");
    buyer.transfer(nodes[1].address(), 1).await.unwrap();
    assert!(
        woken(&wake, 2).await.is_err(),
        "a token transfer is not news"
    );

    tokio::time::sleep(Duration::from_millis(700)).await;
    let id = buyer.post_task(&spec(), REWARD).await.expect("post");
    woken(&wake, 10)
        .await
        .expect("a post wakes the market's followers");
    let beacon = clusterai_chain::beacon::BeaconClient::new(&net.info().beacon_url);
    support::assign(&buyer, &beacon, id).await;

    let task = buyer.task(id).await.unwrap();
    assert_eq!(task.status, TaskStatus::Open);
    let seed: [u8; 32] = task.seed.unwrap().as_slice().try_into().unwrap();
    let digest = task_digest(&seed, &[0x42; 32]);
    let salt = [9u8; 16];
    let mut drawn = Vec::new();
    for node in &nodes {
        if node
            .assigned_tasks(node.address(), None)
            .await
            .unwrap()
            .contains(&id)
        {
            node.commit(id, commitment(&digest, &salt, node.address()))
                .await
                .expect("commit");
            drawn.push(node);
        }
    }
    assert!(!drawn.is_empty());
    for node in &drawn {
        node.reveal(id, digest, &salt).await.expect("reveal");
    }
    buyer.settle(id).await.expect("settle");
    assert!(matches!(
        buyer.task(id).await.unwrap().status,
        TaskStatus::Settled { .. }
    ));
    let pool = REWARD - REWARD * 5 / 100;
    let mut earned = 0;
    for node in &drawn {
        earned += node.rewards(node.address()).await.unwrap();
    }
    assert_eq!(earned, pool / 3 * 3);

    // A second client of the same account moves its sequence on: the first
    // client's cached sequence is stale and it re-signs by itself.
    let twin = client(&net, buyer_key.clone()).await;
    twin.transfer(drawn[0].address(), 1)
        .await
        .expect("twin transfer");
    buyer
        .transfer(drawn[0].address(), 1)
        .await
        .expect("a stale sequence is re-read");

    // Fees as configured: a gas price is paid in the fee denom, gas times
    // price rounded up.
    let paying = CosmosClient::connect(
        &net.info().rpc_url,
        net.info().deployment.clone(),
        buyer_key.clone(),
        CosmosConfig {
            gas_price: 0.025,
            ..CosmosConfig::default()
        },
    )
    .await
    .unwrap();
    let me = paying.address().to_owned();
    let before_fee = paying.native_balance(&me, "stake").await.unwrap();
    paying
        .transfer(drawn[0].address(), 1)
        .await
        .expect("a paid transfer");
    let paid = before_fee - paying.native_balance(&me, "stake").await.unwrap();
    assert!(paid > 0, "a fee was paid");

    // The chain goes away: calls fail as retryable, and nothing is lost.
    net.stop().await.unwrap();
    let err = drawn[0].withdraw_rewards().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let err = buyer.status().await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    while woken(&wake, 0).await.is_ok() {}
    net.resume().await.expect("the chain comes back");
    // The follower reconnects by itself and says so: time to catch up.
    woken(&wake, 30)
        .await
        .expect("a wake after the websocket reconnects");

    let before = drawn[0].balance(drawn[0].address()).await.unwrap();
    let reward = drawn[0].rewards(drawn[0].address()).await.unwrap();
    assert!(reward > 0);
    drawn[0]
        .withdraw_rewards()
        .await
        .expect("withdraw after the outage");
    assert_eq!(
        drawn[0].balance(drawn[0].address()).await.unwrap(),
        before + reward
    );
    net.stop().await.unwrap();
}
