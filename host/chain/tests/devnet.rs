//! The devnet end to end: real contracts in-process, served over HTTP on
//! loopback, reached through `DevnetClient` as a node and a buyer would.

use std::path::Path;
use std::time::Duration;

use clusterai_chain::devnet::client::DevnetClient;
use clusterai_chain::devnet::tx::{SignDoc, SignedTx, TxMsg};
use clusterai_chain::devnet::{Devnet, DevnetConfig, server};
use clusterai_chain::{AccountKey, ChainError, Settlement};
use clusterai_economy::commit::{commitment, task_digest};
use clusterai_economy::market::{TaskSpec, TaskStatus};
use clusterai_test_support::chain as support;
use cosmwasm_std::HexBinary;
use serde_json::json;

// Enough to cover the penalty of a wrong vote on every vote of a task.
const STAKE: u128 = 100_000;
const REWARD: u128 = 10_000;

struct Net {
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Net {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(dir: Option<&Path>) -> Net {
    let config = DevnetConfig {
        block_time_ms: 200,
        ..DevnetConfig::default()
    };
    let devnet = Devnet::open(dir, &config).expect("devnet opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        server::serve(devnet, listener).await.unwrap();
    });
    Net { url, server }
}

async fn funded(net: &Net, amount: u128) -> DevnetClient {
    let client = DevnetClient::connect(&net.url, AccountKey::generate())
        .await
        .expect("connects");
    client
        .faucet(client.address(), amount)
        .await
        .expect("faucet");
    client
}

fn spec() -> TaskSpec {
    support::spec(&[0x11; 8], b"hello", 10)
}

#[tokio::test]
async fn a_task_goes_from_post_to_payout_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let net = serve(Some(dir.path())).await;
    let mut nodes = Vec::new();
    for i in 0..3 {
        let node = funded(&net, STAKE).await;
        node.register(&support::node_info([i; 32]), STAKE)
            .await
            .expect("register");
        assert_eq!(node.node(node.address()).await.unwrap().stake.u128(), STAKE);
        nodes.push(node);
    }
    let buyer = funded(&net, REWARD).await;
    // The draw uses stake as it stood at the block before the post.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let id = buyer.post_task(&spec(), REWARD).await.expect("post");
    assert_eq!(buyer.balance(buyer.address()).await.unwrap(), 0);
    support::assign(&buyer, &buyer.beacon(), id).await;

    let task = buyer.task(id).await.unwrap();
    assert_eq!(task.status, TaskStatus::Open);
    let seed: [u8; 32] = task.seed.unwrap().as_slice().try_into().unwrap();
    let digest = task_digest(&seed, &[0x42; 32]);
    let salt = [7u8; 16];
    // Every vote is drawn from the three nodes; each node sees its own.
    let mut drawn = Vec::new();
    for node in &nodes {
        let assigned = node.assigned_tasks(node.address(), None).await.unwrap();
        if assigned.contains(&id) {
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
    assert_eq!(
        buyer.task(id).await.unwrap().status,
        TaskStatus::Settled {
            digest: HexBinary::from(digest)
        }
    );
    let mut paid = 0;
    for node in &drawn {
        let wallet = node.wallet(node.address()).await.unwrap();
        assert!(wallet.rewards.u128() > 0, "{wallet:?}");
        assert_eq!(wallet.stake.u128(), STAKE);
        node.withdraw_rewards().await.expect("withdraw");
        let after = node.wallet(node.address()).await.unwrap();
        assert_eq!(after.rewards.u128(), 0);
        assert_eq!(after.balance, wallet.rewards);
        paid += wallet.balance.u128() + wallet.rewards.u128();
    }
    // The three votes share the reward less the 5 % protocol fee (what
    // does not divide stays with the protocol, not the buyer).
    let pool = REWARD - REWARD * 5 / 100;
    assert_eq!(paid, pool / 3 * 3);
    assert_eq!(buyer.balance(buyer.address()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_restarted_devnet_continues_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let key = AccountKey::generate();
    let (id, height, deployment) = {
        let net = serve(Some(dir.path())).await;
        let buyer = DevnetClient::connect(&net.url, key.clone()).await.unwrap();
        buyer.faucet(buyer.address(), 50_000).await.unwrap();
        let node = funded(&net, STAKE).await;
        node.register(&support::node_info([1; 32]), STAKE)
            .await
            .unwrap();
        let id = buyer.post_task(&spec(), REWARD).await.unwrap();
        let height = buyer.status().await.unwrap().height;
        (id, height, buyer.deployment().clone())
    };
    // A new process opens the same directory.
    let net = serve(Some(dir.path())).await;
    let buyer = DevnetClient::connect(&net.url, key).await.unwrap();
    assert_eq!(buyer.deployment(), &deployment);
    assert!(buyer.status().await.unwrap().height >= height);
    assert_eq!(buyer.task(id).await.unwrap().status, TaskStatus::Pending);
    assert_eq!(buyer.balance(buyer.address()).await.unwrap(), 40_000);
    // Its account sequence carried over: a new transaction goes through.
    let second = buyer.post_task(&spec(), REWARD).await.unwrap();
    assert_eq!(second, id + 1);
}

#[tokio::test]
async fn bad_transactions_are_refused_by_name_and_change_nothing() {
    let net = serve(None).await;
    let buyer = funded(&net, 1_000).await;
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        let http = http.clone();
        let url = format!("{}/v1/txs", net.url);
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let doc = SignDoc {
        chain_id: buyer.deployment().chain_id.clone(),
        sequence: 0,
        msg: TxMsg::Execute {
            contract: buyer.deployment().token.clone(),
            msg: json!({"transfer": {"recipient": buyer.address(), "amount": "1"}}),
            funds: vec![],
        },
    };
    let key = AccountKey::generate();
    let mut tx = SignedTx::sign(&key, &doc);
    // A signature by another key.
    tx.public_key = HexBinary::from(AccountKey::generate().public_key());
    let (status, body) = post(serde_json::to_value(&tx).unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("signature does not verify"),
        "{body}"
    );

    // Another chain's transaction.
    let other = SignDoc {
        chain_id: "elsewhere".into(),
        ..doc.clone()
    };
    let (status, body) = post(serde_json::to_value(SignedTx::sign(&key, &other)).unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        body["reason"].as_str().unwrap().contains("elsewhere"),
        "{body}"
    );

    // A replay of a spent sequence.
    let ok = SignedTx::sign(&key, &doc);
    let (status, _) = post(serde_json::to_value(&ok).unwrap()).await;
    assert_eq!(status, 422, "the key's account holds nothing to transfer");
    let (status, body) = post(serde_json::to_value(&ok).unwrap()).await;
    assert_eq!(status, 409);
    assert_eq!(body["kind"], "sequence");
    assert_eq!(body["expected"], 1);

    // Not a transaction at all.
    let (status, body) = post(json!({"public_key": "zz"})).await;
    assert_eq!(status, 400);
    assert!(
        body["reason"].as_str().unwrap().contains("request body"),
        "{body}"
    );

    // A contract refusing: the error names it, the buyer keeps its tokens.
    let mut bad = spec();
    bad.k = 2;
    let err = buyer.post_task(&bad, 1_000).await.unwrap_err();
    assert!(matches!(err, ChainError::Contract { .. }), "{err}");
    assert!(err.to_string().contains("send"), "{err}");
    assert_eq!(buyer.balance(buyer.address()).await.unwrap(), 1_000);
    // And the client's next transaction still goes through.
    buyer.transfer(buyer.address(), 1).await.expect("transfer");

    // Faucet limits.
    let err = buyer.faucet(buyer.address(), 0).await.unwrap_err();
    assert!(err.to_string().contains("faucet gives"), "{err}");
    let err = buyer.faucet("not-an-address", 5).await.unwrap_err();
    assert!(err.to_string().contains("invalid address"), "{err}");
}

#[tokio::test]
async fn a_devnet_that_is_gone_is_unreachable_and_retryable() {
    let net = serve(None).await;
    let buyer = funded(&net, 100).await;
    let url = net.url.clone();
    drop(net);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = buyer.status().await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains(&url), "{err}");
    let err = DevnetClient::connect("http://127.0.0.1:9", AccountKey::generate())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

/// A server that answers every request with `status` and `body`.
async fn liar(status: u16, body: &'static str) -> String {
    use axum::http::StatusCode;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(move || async move { (StatusCode::from_u16(status).unwrap(), body) });
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    url
}

#[tokio::test]
async fn a_chain_that_answers_garbage_is_named_and_not_trusted() {
    // The devnet client: garbage is Malformed, a server error is retryable.
    let url = liar(200, "<html>not json</html>").await;
    let err = DevnetClient::connect(&url, AccountKey::generate())
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("not json"), "{err}");
    assert!(!err.is_retryable());
    let url = liar(502, "bad gateway").await;
    let err = DevnetClient::connect(&url, AccountKey::generate())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");

    // The Cosmos client's RPC: not JSON-RPC at all, or a JSON-RPC error.
    use clusterai_chain::cosmos::rpc::Rpc;
    let rpc = Rpc::new(&liar(200, "{\"jsonrpc\":\"2.0\",\"id\":1}").await).unwrap();
    let err = rpc.status().await.unwrap_err();
    assert!(err.to_string().contains("no result"), "{err}");
    let rpc = Rpc::new(&liar(200, "garbage").await).unwrap();
    let err = rpc.status().await.unwrap_err();
    assert!(matches!(err, ChainError::Malformed { .. }), "{err}");
    let rpc = Rpc::new(
        &liar(
            200,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"Internal error\",\"data\":\"height 7 is not available\"}}",
        )
        .await,
    )
    .unwrap();
    let err = rpc.status().await.unwrap_err();
    assert!(
        err.to_string().contains("height 7 is not available"),
        "{err}"
    );
    let rpc = Rpc::new(
        &liar(
            200,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"node_info\":{\"network\":\"x\"},\"sync_info\":{\"latest_block_height\":\"ten\"}}}",
        )
        .await,
    )
    .unwrap();
    let err = rpc.status().await.unwrap_err();
    assert!(err.to_string().contains("latest_block_height"), "{err}");
}
