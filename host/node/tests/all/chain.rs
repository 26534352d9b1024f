//! Nodes that earn: four real nodes (runtime, store, queue, receipts) with
//! chain workers on a devnet served over HTTP, one of them dishonest. A
//! buyer posts real tasks; the honest majority's output wins, the honest
//! nodes are paid, the dishonest one is slashed and loses reputation; a
//! worker stopped between commit and reveal is replaced by one that starts
//! from its file and still reveals.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clusterai_chain::devnet::client::DevnetClient;
use clusterai_chain::devnet::{Devnet, DevnetConfig, server};
use clusterai_chain::{AccountKey, Settlement};
use clusterai_economy::market::{TaskInput, TaskStatus};
use clusterai_economy::registry::INITIAL_REPUTATION;
use clusterai_node::Node;
use clusterai_node::buyer::{Buyer, Order};
use clusterai_node::chain_worker::{Behaviour, ChainWorker, WorkerOptions};
use clusterai_test_support::chain::{self, closed, votes};
use clusterai_test_support::plugins;
use clusterai_types::ContentHash;
use cosmwasm_std::HexBinary;

use crate::harness;

const HONEST_STAKE: u128 = 300_000;
const DISHONEST_STAKE: u128 = 100_000;
const REWARD: u128 = 10_000;
/// The largest input the nodes of the fetch test take.
const MAX_INPUT: u64 = 256 << 10;

struct Member {
    node: Arc<Node>,
    client: Arc<DevnetClient>,
    worker: Option<ChainWorker>,
    dir: tempfile::TempDir,
}

async fn devnet() -> (String, tokio::task::JoinHandle<()>) {
    let config = DevnetConfig {
        block_time_ms: 200,
        ..DevnetConfig::default()
    };
    let devnet = Devnet::open(None, &config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        server::serve(devnet, listener).await.unwrap();
    });
    (url, server)
}

async fn start_node(dir: &Path, tweak: impl FnOnce(&mut clusterai_node::NodeConfig)) -> Arc<Node> {
    let mut config = harness::config(dir);
    tweak(&mut config);
    let node = Node::start(config).await.unwrap();
    node.add_plugin(plugins::bytes("hello")).await.unwrap();
    node.add_plugin(plugins::bytes("spin_forever"))
        .await
        .unwrap();
    node
}

/// Waits for the next block: a task's stake snapshot is its posting height,
/// which sees only what earlier blocks did, so registrations must lie in a
/// block before the post.
async fn next_block(chain: &DevnetClient) {
    let start = chain.status().await.unwrap().height;
    let deadline = Instant::now() + Duration::from_secs(10);
    while chain.status().await.unwrap().height <= start {
        assert!(
            Instant::now() < deadline,
            "the devnet made no block in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every drawn node of task `id` has declined it.
async fn declined_by_all(chain: &DevnetClient, id: u64, otherwise: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !chain
        .task(id)
        .await
        .unwrap()
        .assignments
        .iter()
        .all(|a| a.declined)
    {
        assert!(Instant::now() < deadline, "{otherwise}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A buyer on loopback with `amount` from the faucet: its chain client,
/// the buyer, and the directory its endpoint keeps.
async fn funded_buyer(url: &str, amount: u128) -> (Arc<DevnetClient>, Buyer, tempfile::TempDir) {
    let client = Arc::new(
        DevnetClient::connect(url, AccountKey::generate())
            .await
            .unwrap(),
    );
    client.faucet(client.address(), amount).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let buyer = Buyer::start(
        dir.path(),
        "127.0.0.1:0".parse().unwrap(),
        client.clone(),
        client.beacon(),
    )
    .await
    .unwrap();
    (client, buyer, dir)
}

/// A registered node holding no plugin, with its worker.
async fn bare_member(url: &str) -> Member {
    let dir = tempfile::tempdir().unwrap();
    let mut config = harness::config(dir.path());
    config.limits.max_input_bytes = MAX_INPUT;
    let node = Node::start(config).await.unwrap();
    let client = DevnetClient::connect(url, AccountKey::generate())
        .await
        .unwrap();
    client.faucet(client.address(), HONEST_STAKE).await.unwrap();
    let id: [u8; 32] = hex::decode(node.node_id()).unwrap().try_into().unwrap();
    client
        .register(&chain::node_info(id), HONEST_STAKE)
        .await
        .unwrap();
    let client = Arc::new(client);
    let worker = ChainWorker::spawn(
        node.clone(),
        client.clone(),
        options(Behaviour::Honest, 150),
    )
    .unwrap();
    Member {
        node,
        client,
        worker: Some(worker),
        dir,
    }
}

fn options(behaviour: Behaviour, poll_ms: u64) -> WorkerOptions {
    WorkerOptions {
        poll: Duration::from_millis(poll_ms),
        behaviour,
    }
}

async fn member(url: &str, stake: u128, behaviour: Behaviour, poll_ms: u64) -> Member {
    member_tweaked(url, stake, behaviour, poll_ms, |_| {}).await
}

async fn member_tweaked(
    url: &str,
    stake: u128,
    behaviour: Behaviour,
    poll_ms: u64,
    tweak: impl FnOnce(&mut clusterai_node::NodeConfig),
) -> Member {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path(), tweak).await;
    let client = DevnetClient::connect(url, AccountKey::generate())
        .await
        .unwrap();
    client.faucet(client.address(), stake).await.unwrap();
    let id: [u8; 32] = hex::decode(node.node_id()).unwrap().try_into().unwrap();
    client.register(&chain::node_info(id), stake).await.unwrap();
    let client = Arc::new(client);
    let worker =
        ChainWorker::spawn(node.clone(), client.clone(), options(behaviour, poll_ms)).unwrap();
    Member {
        node,
        client,
        worker: Some(worker),
        dir,
    }
}

async fn post(buyer: &DevnetClient, plugin: &[u8], input: &str) -> u64 {
    post_with(buyer, plugin, input, 20).await
}

async fn post_with(buyer: &DevnetClient, plugin: &[u8], input: &str, commit_period: u64) -> u64 {
    let spec = chain::spec(plugin, input.as_bytes(), commit_period);
    chain::post(buyer, &buyer.beacon(), &spec, REWARD).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_nodes_earn_and_a_dishonest_one_is_slashed() {
    let (url, _server) = devnet().await;
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(member(&url, HONEST_STAKE, Behaviour::Honest, 150).await);
    }
    let cheat = member(&url, DISHONEST_STAKE, Behaviour::WrongOutput, 150).await;
    let cheat_addr = cheat.client.address().to_owned();
    let buyer = DevnetClient::connect(&url, AccountKey::generate())
        .await
        .unwrap();
    buyer.faucet(buyer.address(), REWARD * 20).await.unwrap();
    next_block(&buyer).await;

    // Tasks until the dishonest node has sat in a committee as a minority
    // (the draw is stake-weighted and random: usually the first or second).
    let hello = plugins::bytes("hello");
    let mut caught = false;
    // A cheat drawn with a majority wins, as the protocol allows (a stake-
    // weighted draw makes that rare); honest nodes are then the minority.
    // A minority draw comes about one task in four, so 40 tries miss it
    // about once in a hundred thousand runs.
    let mut cheat_won = false;
    for i in 0..40 {
        let id = post(&buyer, &hello, &format!("world {i}")).await;
        let task = closed(&buyer, id, Duration::from_secs(30)).await;
        let cheat_votes = votes(&task, &cheat_addr);
        cheat_won |= cheat_votes * 2 > task.k;
        let TaskStatus::Settled { digest } = &task.status else {
            panic!("task {id} ended {:?}", task.status);
        };
        if cheat_votes * 2 < task.k {
            // The honest majority's digest won, and the cheat's lost.
            for a in task.assignments.iter().filter(|a| !a.reexecution) {
                let honest = a.node.as_str() != cheat_addr;
                assert_eq!(a.digest.as_ref() == Some(digest), honest, "{a:?}");
            }
        }
        if cheat_votes > 0 && cheat_votes * 2 < task.k {
            caught = true;
            break;
        }
    }
    assert!(caught, "the dishonest node was never drawn as a minority");

    let record = cheat.client.node(&cheat_addr).await.unwrap();
    assert!(record.tasks_wrong >= 1, "{record:?}");
    assert!(record.slashed_total.u128() > 0, "{record:?}");
    assert!(record.stake.u128() < DISHONEST_STAKE, "{record:?}");
    assert!(record.reputation < INITIAL_REPUTATION, "{record:?}");

    // Honest nodes that worked were paid into their wallets (the workers
    // withdraw what the market credits).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut paid = 0;
        for m in &members {
            let w = m.client.wallet(m.client.address()).await.unwrap();
            if !cheat_won {
                assert_eq!(w.stake.u128(), HONEST_STAKE, "honest stake is not slashed");
            }
            paid += w.balance.u128();
        }
        if paid > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no honest node was paid");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for m in members.iter().chain([&cheat]) {
        assert_eq!(m.node.queue_counts(), (0, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_between_commit_and_reveal_still_reveals() {
    let (url, _server) = devnet().await;
    let mut members = Vec::new();
    for _ in 0..3 {
        // Slow polls: a window between a commit and the next look.
        members.push(member(&url, HONEST_STAKE, Behaviour::Honest, 1_500).await);
    }
    let buyer = DevnetClient::connect(&url, AccountKey::generate())
        .await
        .unwrap();
    buyer.faucet(buyer.address(), REWARD).await.unwrap();
    next_block(&buyer).await;
    let id = post(&buyer, &plugins::bytes("hello"), "restart").await;

    // Stop the first drawn node as soon as it has committed.
    let task = buyer.task(id).await.unwrap();
    let victim = members
        .iter()
        .position(|m| votes(&task, m.client.address()) > 0)
        .unwrap();
    let state = members[victim].dir.path().join("chain/worker.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        if text.contains("committed") {
            break;
        }
        assert!(Instant::now() < deadline, "never committed: {text}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The worker dies with what it promised on disk (its commitment may or
    // may not have reached the chain); a new one (a new process would be the
    // same) starts from that file.
    let m = &mut members[victim];
    m.worker.take().unwrap().stop();
    let task = buyer.task(id).await.unwrap();
    let slot = task
        .assignments
        .iter()
        .find(|a| a.node.as_str() == m.client.address())
        .unwrap();
    assert!(slot.digest.is_none(), "{slot:?}");
    m.worker = Some(
        ChainWorker::spawn(
            m.node.clone(),
            m.client.clone(),
            options(Behaviour::Honest, 150),
        )
        .unwrap(),
    );
    let task = closed(&buyer, id, Duration::from_secs(25)).await;
    assert!(
        matches!(task.status, TaskStatus::Settled { .. }),
        "{:?}",
        task.status
    );
    let slot = task
        .assignments
        .iter()
        .find(|a| a.node.as_str() == m.client.address())
        .unwrap();
    assert!(
        slot.digest.is_some(),
        "the restarted node revealed: {slot:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_a_node_cannot_run_are_declined_without_a_slash_and_work_goes_on() {
    let (url, _server) = devnet().await;
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(member(&url, HONEST_STAKE, Behaviour::Honest, 150).await);
    }
    let buyer = DevnetClient::connect(&url, AccountKey::generate())
        .await
        .unwrap();
    buyer.faucet(buyer.address(), REWARD * 3).await.unwrap();
    next_block(&buyer).await;

    // A plugin nobody holds: every drawn node declines before the deadline.
    let unknown = post(&buyer, b"not a plugin anyone has", "x").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let task = loop {
        let task = buyer.task(unknown).await.unwrap();
        if task.assignments.iter().all(|a| a.declined) {
            break task;
        }
        assert!(Instant::now() < deadline, "not declined: {task:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(task.assignments.iter().all(|a| a.commitment.is_none()));
    buyer
        .settle(unknown)
        .await
        .expect("settle the declined task");
    assert_eq!(
        buyer.task(unknown).await.unwrap().status,
        TaskStatus::Expired
    );

    // Nobody was punished: stake and reputation stand, and the decline pay
    // reached the drawn nodes' wallets.
    for m in &members {
        let record = m.client.node(m.client.address()).await.unwrap();
        assert_eq!(record.stake.u128(), HONEST_STAKE);
        assert_eq!(record.tasks_absent + record.tasks_wrong, 0, "{record:?}");
        assert_eq!(record.reputation, INITIAL_REPUTATION);
    }
    let paid = async {
        let mut total = 0;
        for m in &members {
            let w = m.client.wallet(m.client.address()).await.unwrap();
            total += w.balance.u128() + w.rewards.u128();
        }
        total
    };
    assert!(paid.await > 0, "declines are paid");

    // And the next task runs as usual.
    let id = post(&buyer, &plugins::bytes("hello"), "after").await;
    let task = closed(&buyer, id, Duration::from_secs(30)).await;
    assert!(
        matches!(task.status, TaskStatus::Settled { .. }),
        "{:?}",
        task.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_cannot_finish_before_the_commit_deadline_is_declined_in_time() {
    let (url, _server) = devnet().await;
    let mut members = Vec::new();
    for _ in 0..3 {
        // Tasks may run 8 s here: longer than the 5 s commit window.
        let tweak = |c: &mut clusterai_node::NodeConfig| c.limits.timeout = Duration::from_secs(8);
        members.push(member_tweaked(&url, HONEST_STAKE, Behaviour::Honest, 150, tweak).await);
    }
    let buyer = DevnetClient::connect(&url, AccountKey::generate())
        .await
        .unwrap();
    buyer.faucet(buyer.address(), REWARD).await.unwrap();
    next_block(&buyer).await;

    // A plugin that spins until the node stops it at its deadline: no
    // output can be committed within the 5 s window.
    let id = post_with(&buyer, &plugins::bytes("spin_forever"), "zzz", 5).await;
    let task = buyer.task(id).await.unwrap();
    let commit_deadline = task.commit_deadline.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let task = loop {
        let task = buyer.task(id).await.unwrap();
        if task.assignments.iter().all(|a| a.declined) {
            break task;
        }
        assert!(Instant::now() < deadline, "not declined: {task:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Declined while the window was still open.
    let status = buyer.status().await.unwrap();
    assert!(
        status.time_ns <= commit_deadline.nanos() + 1_000_000_000,
        "{task:?}"
    );
    buyer.settle(id).await.unwrap();
    for m in &members {
        let record = m.client.node(m.client.address()).await.unwrap();
        assert_eq!(record.stake.u128(), HONEST_STAKE, "no slash for a decline");
        assert_eq!(record.tasks_absent, 0);
    }
}

/// A task whose plugin and input only the buyer holds: the nodes fetch both
/// from the buyer's endpoint over iroh (verified on the way in), run the
/// task, and deliver the output, which the buyer keeps once it has won on
/// chain, with every winning node's receipt checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_fetch_what_they_lack_from_the_buyer_and_deliver_the_result() {
    let (url, _server) = devnet().await;
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(bare_member(&url).await);
    }
    let (client, buyer, _dir) = funded_buyer(&url, REWARD * 4).await;
    let hello = buyer.offer(plugins::bytes("hello")).await.unwrap();
    next_block(&client).await;
    let order = Order {
        plugin: hello,
        models: vec![],
        input: b"iroh".to_vec(),
        replicas: 3,
        reward: REWARD,
        commit_period: 20,
        max_royalties: None,
    };
    let id = buyer.post(&order).await.unwrap();
    buyer.assign(id, Duration::from_secs(30)).await.unwrap();
    let answer = buyer.wait(id, Duration::from_secs(60)).await.unwrap();
    assert!(
        matches!(answer.task.status, TaskStatus::Settled { .. }),
        "{answer:?}"
    );
    assert_eq!(answer.output.as_deref(), Some(&b"Hello, iroh!\n"[..]));
    assert_eq!(
        answer.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(answer.refused.is_empty(), "{:?}", answer.refused);
    // Every node of the committee revealed the same output and delivered it.
    let drawn: std::collections::BTreeSet<_> = answer
        .task
        .assignments
        .iter()
        .map(|a| a.node.to_string())
        .collect();
    assert_eq!(answer.receipts.len(), drawn.len(), "{answer:?}");
    for r in &answer.receipts {
        assert!(drawn.contains(&r.operator));
        assert_eq!(r.receipt.receipt.output, ContentHash::of(b"Hello, iroh!\n"));
        assert_eq!(r.receipt.receipt.input, ContentHash::of(b"iroh"));
        assert_eq!(r.receipt.receipt.plugin, hello);
    }
    // The drawn nodes fetched the plugin and loaded it as an upload would be.
    for m in &members {
        if drawn.contains(m.client.address()) {
            assert!(m.node.plugin_record(hello).await.is_ok());
        }
    }

    // An input its provider does not have: the nodes cannot fetch it, say
    // so, and decline in time, without a slash.
    let mut spec = chain::spec(&plugins::bytes("hello"), b"-", 20);
    spec.input = TaskInput::Hash {
        hash: HexBinary::from([0xEE; 32]),
        providers: vec![buyer.provider()],
    };
    let missing = chain::post(client.as_ref(), &client.beacon(), &spec, REWARD).await;
    declined_by_all(
        client.as_ref(),
        missing,
        "an input nobody serves was not declined",
    )
    .await;

    // An input over the nodes' limit: fetched, refused by the queue, and
    // declined in time.
    let big = Order {
        input: vec![b'x'; MAX_INPUT as usize + 1],
        ..order
    };
    let over = buyer.post(&big).await.unwrap();
    buyer.assign(over, Duration::from_secs(30)).await.unwrap();
    declined_by_all(
        client.as_ref(),
        over,
        "an input over the limit was not declined",
    )
    .await;
    for m in &members {
        let record = m.client.node(m.client.address()).await.unwrap();
        assert_eq!(record.stake.u128(), HONEST_STAKE);
        assert_eq!(record.tasks_absent + record.tasks_wrong, 0, "{record:?}");
    }
    buyer.shutdown().await;
}

/// A plugin that declares `canonical=round-3` (ranked labels with long
/// scores): a node whose numbers differ in the last digits, as another
/// machine's floating point might, still agrees with the others, is not
/// slashed, and the buyer takes the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_are_compared_in_the_canonical_form_their_plugin_declares() {
    let (url, _server) = devnet().await;
    let mut members = Vec::new();
    for behaviour in [Behaviour::Honest, Behaviour::Honest, Behaviour::Jitter] {
        let m = member(&url, HONEST_STAKE, behaviour, 150).await;
        m.node.add_plugin(plugins::bytes("scores")).await.unwrap();
        members.push(m);
    }
    let odd = members[2].client.address().to_owned();
    let (client, buyer, _dir) = funded_buyer(&url, REWARD * 10).await;
    next_block(&client).await;
    let order = Order {
        plugin: ContentHash::of(&plugins::bytes("scores")),
        models: vec![],
        input: b"a picture".to_vec(),
        replicas: 3,
        reward: REWARD,
        commit_period: 20,
        max_royalties: None,
    };
    // Tasks until the jittery node has voted beside another.
    let mut compared = false;
    for _ in 0..8 {
        let id = buyer.post(&order).await.unwrap();
        buyer.assign(id, Duration::from_secs(30)).await.unwrap();
        let answer = buyer.wait(id, Duration::from_secs(60)).await.unwrap();
        let TaskStatus::Settled { digest } = &answer.task.status else {
            panic!("task {id} ended {:?}", answer.task.status);
        };
        // Every vote agreed.
        for a in &answer.task.assignments {
            assert_eq!(a.digest.as_ref(), Some(digest), "{a:?}");
        }
        let output: serde_json::Value =
            serde_json::from_slice(answer.output.as_deref().unwrap()).unwrap();
        assert_eq!(output[0]["label"], "cat", "{output}");
        let drawn: std::collections::BTreeSet<_> = answer
            .task
            .assignments
            .iter()
            .map(|a| a.node.as_str())
            .collect();
        if drawn.contains(odd.as_str()) && drawn.len() > 1 {
            compared = true;
            break;
        }
    }
    assert!(compared, "the jittery node never voted beside another");
    let record = members[2].client.node(&odd).await.unwrap();
    assert_eq!(record.tasks_wrong, 0, "{record:?}");
    assert!(record.tasks_agreed >= 1, "{record:?}");
    assert_eq!(record.stake.u128(), HONEST_STAKE);
    buyer.shutdown().await;
}
