//! The network as processes, on the devnet (`clusterai devnet serve`) and
//! on a real wasmd chain: four `clusterai node start` processes work for
//! the chain (each registered with the CLI, one configured to answer
//! wrong). A buyer posts real tasks: the honest majority's output wins,
//! honest nodes are paid, the dishonest one is slashed and its reputation
//! drops. A node killed with SIGKILL between commit and reveal is started
//! again and still reveals. On wasmd, the chain itself then goes away for a
//! while under a task in flight, and the nodes finish it when it is back.
//! A buyer using `clusterai task post --wait` on an OCR task serves the
//! sample image over iroh and gets the text in it with checked receipts; the plugin's creator
//! earns a royalty on every settled task; and tokens are conserved. Last,
//! `clusterai devnet up` as a new user runs it, with an OCR task.
//!
//! Uses the `clusterai` binary of this target directory (`cargo test
//! --workspace` builds it), the built `hello` and `ocr` plugins, ONNX
//! Runtime and the PP-OCR models (the set-up fetches them), and for wasmd
//! `CLUSTERAI_WASMD` and the contract artifacts (as `tests/wasmd.rs`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use clusterai_chain::beacon::BeaconClient;
use clusterai_chain::devnet::client::DevnetClient;
use clusterai_chain::localnet::{Localnet, LocalnetConfig};
use clusterai_chain::{AccountKey, Settlement};
use clusterai_economy::market::{ConfigResponse, MarketTotals, TaskResponse, TaskStatus};
use clusterai_economy::registry::INITIAL_REPUTATION;
use clusterai_test_support::chain::{self as support, closed, votes};
use clusterai_test_support::{ChildGuard, plugins};
use clusterai_types::{ContentHash, models};

const HONEST_STAKE: u128 = 300_000;
const DISHONEST_STAKE: u128 = 100_000;
const REWARD: u128 = 10_000;
const ROYALTY: u128 = 250;

fn clusterai() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("clusterai");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p clusterai-cli`",
        bin.display()
    );
    bin
}

/// Starts `clusterai ARGS` (its log appended to `log`) and returns it with
/// its first line of output.
fn spawn_with_first_line(args: &[&str], log: &Path) -> (ChildGuard, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut cmd = Command::new(clusterai());
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(log)
        // The config names the data directory; an inherited one would win.
        .env_remove("CLUSTERAI_DATA_DIR")
        .env("RUST_LOG", "info");
    let mut child = ChildGuard::spawn(&mut cmd);
    let mut line = String::new();
    BufReader::new(child.child().stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

fn run(args: &[&str], data: &Path) {
    let out = Command::new(clusterai())
        .args(args)
        .env("CLUSTERAI_DATA_DIR", data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "clusterai {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The chain under test.
enum Chain {
    Devnet {
        url: String,
        faucet: Box<DevnetClient>,
        _process: ChildGuard,
    },
    Wasmd(Box<Localnet>),
}

impl Chain {
    async fn devnet(root: &Path) -> Self {
        let dir = root.join("devnet");
        let (process, first) = spawn_with_first_line(
            &[
                "devnet",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--block-time-ms",
                "200",
                "--dir",
                dir.to_str().unwrap(),
            ],
            &root.join("devnet.log"),
        );
        let url = first.strip_prefix("devnet ").unwrap().to_owned();
        let faucet = DevnetClient::connect(&url, AccountKey::generate())
            .await
            .unwrap();
        Chain::Devnet {
            url,
            faucet: Box::new(faucet),
            _process: process,
        }
    }

    async fn wasmd(root: &Path) -> Self {
        let wasmd = std::env::var_os("CLUSTERAI_WASMD").map(PathBuf::from).expect(
            "CLUSTERAI_WASMD must name a wasmd binary: run scripts/setup-wasmd.sh (scripts/test.sh does)",
        );
        let net = Localnet::start(LocalnetConfig {
            wasmd,
            dir: root.join("localnet"),
            artifacts: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../cosmwasm-contracts/artifacts"),
            chain_id: "clusterai-local".into(),
            block_time_ms: 300,
            beacon_period: 1,
        })
        .await
        .expect("the localnet starts");
        Chain::Wasmd(Box::new(net))
    }

    /// The CLI's arguments naming this chain.
    fn args(&self) -> Vec<String> {
        match self {
            Chain::Devnet { url, .. } => vec!["--chain".into(), url.clone()],
            Chain::Wasmd(net) => vec![
                "--chain".into(),
                net.info().rpc_url.clone(),
                "--deployment".into(),
                self.deployment_file().unwrap().to_str().unwrap().into(),
            ],
        }
    }

    fn deployment_file(&self) -> Option<PathBuf> {
        match self {
            Chain::Devnet { .. } => None,
            Chain::Wasmd(net) => Some(net.dir().join("localnet.json")),
        }
    }

    /// The `[chain]` lines of a node's config.
    fn config(&self) -> String {
        match self {
            Chain::Devnet { url, .. } => format!("url = {url:?}\n"),
            Chain::Wasmd(net) => format!(
                "url = {:?}\ndeployment = {:?}\n",
                net.info().rpc_url,
                self.deployment_file().unwrap()
            ),
        }
    }

    async fn fund(&self, address: &str, amount: u128) {
        match self {
            Chain::Devnet { faucet, .. } => {
                faucet.faucet(address, amount).await.unwrap();
            }
            Chain::Wasmd(net) => net.fund(address, amount).await.unwrap(),
        }
    }

    async fn client(&self, key: AccountKey) -> Arc<dyn Settlement> {
        let args = self.args();
        let deployment = args.get(3).map(PathBuf::from);
        clusterai_chain::connect(&args[1], deployment.as_deref(), key, Default::default())
            .await
            .unwrap()
    }

    fn beacon(&self) -> BeaconClient {
        match self {
            Chain::Devnet { url, .. } => BeaconClient::new(url),
            Chain::Wasmd(net) => BeaconClient::new(&net.info().beacon_url),
        }
    }
}

struct NodeProcess {
    dir: PathBuf,
    config: PathBuf,
    process: Option<ChildGuard>,
    address: String,
}

impl NodeProcess {
    /// Funds a node's account, registers it with the CLI, then starts it.
    async fn new(root: &Path, name: &str, chain: &Chain, stake: u128, answer: &str) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let address = AccountKey::load_or_create(&dir).unwrap().address("wasm");
        chain.fund(&address, stake).await;
        let mut args = vec![
            "node".to_owned(),
            "register".into(),
            "--stake".into(),
            stake.to_string(),
        ];
        args.extend(chain.args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, &dir);
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {dir:?}\n\
                 [http]\nbind = \"127.0.0.1:0\"\n\
                 [iroh]\nbind = \"127.0.0.1:0\"\n\
                 [inference]\nsessions_per_model = 1\n\
                 [queue]\nworkers = 1\n\
                 [chain]\n{}poll_ms = 200\nanswer = {answer:?}\n\
                 [preload]\nplugins = [{:?}, {:?}]\nmodels = [{}]\n",
                chain.config(),
                plugins::path("hello"),
                plugins::path("ocr"),
                ocr_models()
            ),
        )
        .unwrap();
        let mut node = NodeProcess {
            dir,
            config,
            process: None,
            address,
        };
        node.start();
        node
    }

    fn start(&mut self) {
        let config = self.config.to_str().unwrap().to_owned();
        let log = self.dir.join("node.log");
        let (child, first) = spawn_with_first_line(&["node", "start", "--config", &config], &log);
        assert!(
            first.contains("serving on"),
            "{first}: {} (config: {})",
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(&self.config).unwrap_or_default()
        );
        self.process = Some(child);
    }

    fn kill(&mut self) {
        // SIGKILL: no clean stop, no flush beyond what was synced.
        self.process.take().unwrap().kill();
    }
}

/// The OCR plugin's three models, as a TOML list's items.
fn ocr_models() -> String {
    [&models::PPOCR_DET, &models::PPOCR_CLS, &models::PPOCR_REC]
        .iter()
        .map(|m| format!("{:?}", m.cached_path().display().to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn post(chain: &Chain, buyer: &dyn Settlement, input: &str) -> u64 {
    let spec = support::spec(&plugins::bytes("hello"), input.as_bytes(), 20);
    support::post(buyer, &chain.beacon(), &spec, REWARD).await
}

/// Everything the participants, the treasury and the market hold in the
/// payment token: balances, stakes, escrow and credited rewards.
///
/// The queries are not one snapshot: a transaction that lands between two
/// of them (a node claiming its reward, say) would be counted on both
/// sides. So the sum is read until two reads in a row agree.
async fn holdings(chain: &dyn Settlement, accounts: &[&str]) -> u128 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = holdings_once(chain, accounts).await;
    loop {
        let now = holdings_once(chain, accounts).await;
        if now == last {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "holdings never settled: {last} then {now}"
        );
        last = now;
    }
}

async fn holdings_once(chain: &dyn Settlement, accounts: &[&str]) -> u128 {
    let market = chain.deployment().market.clone();
    let config: ConfigResponse = serde_json::from_value(
        chain
            .query(&market, &serde_json::json!({"config": {}}))
            .await
            .unwrap(),
    )
    .unwrap();
    let totals: MarketTotals = serde_json::from_value(
        chain
            .query(&market, &serde_json::json!({"totals": {}}))
            .await
            .unwrap(),
    )
    .unwrap();
    let mut sum = totals.escrowed.u128() + totals.unclaimed_rewards.u128();
    let treasury = config.treasury.to_string();
    let mut all: Vec<&str> = accounts.to_vec();
    if !all.contains(&treasury.as_str()) {
        all.push(&treasury);
    }
    for a in all {
        let w = chain.wallet(a).await.unwrap();
        sum += w.balance.u128() + w.stake.u128();
    }
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_devnet() {
    let root = tempfile::tempdir().unwrap();
    let chain = Chain::devnet(root.path()).await;
    scenario(root.path(), chain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_real_wasmd_chain() {
    let root = tempfile::tempdir().unwrap();
    let chain = Chain::wasmd(root.path()).await;
    scenario(root.path(), chain).await;
}

async fn scenario(root: &Path, mut chain: Chain) {
    let mut nodes = Vec::new();
    for i in 0..3 {
        let name = format!("honest{i}");
        nodes.push(NodeProcess::new(root, &name, &chain, HONEST_STAKE, "honest").await);
    }
    let cheat = NodeProcess::new(root, "cheat", &chain, DISHONEST_STAKE, "wrong").await;
    let buyer_key = AccountKey::generate();
    chain.fund(&buyer_key.address("wasm"), REWARD * 60).await;
    let buyer = chain.client(buyer_key).await;
    let buyer = buyer.as_ref();
    // The CLI buyer of the last step, funded now so that conservation
    // covers it.
    let cli_buyer = root.join("cli-buyer");
    std::fs::create_dir_all(&cli_buyer).unwrap();
    let cli_address = AccountKey::load_or_create(&cli_buyer)
        .unwrap()
        .address("wasm");
    chain.fund(&cli_address, REWARD).await;
    // The plugin's creator lists it with a royalty on every settled task.
    let creator_key = AccountKey::generate();
    let creator_address = creator_key.address("wasm");
    chain.fund(&creator_address, 1).await;
    let creator = chain.client(creator_key).await;
    let hello = ContentHash::of(&plugins::bytes("hello"));
    creator
        .execute(
            &creator.deployment().models,
            &serde_json::json!({"list": {
                "hash": hello.to_string(), "kind": "plugin", "name": "hello",
                "licence_price": "0", "royalty": ROYALTY.to_string(),
            }}),
            &[],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut accounts: Vec<String> = nodes.iter().map(|n| n.address.clone()).collect();
    accounts.push(cheat.address.clone());
    accounts.push(buyer.address().to_owned());
    accounts.push(cli_address.clone());
    accounts.push(creator_address.clone());
    let accounts: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let before = holdings(buyer, &accounts).await;

    // Tasks until the cheat has sat in a committee as a minority. Its stake
    // draws each of the k = 3 votes with probability 1/10, so a task catches
    // it about one time in four; 40 tasks all miss about once in 70 000
    // runs (15 missed about once in 70).
    let mut caught = false;
    // A cheat drawn with a majority wins, as the protocol allows (a stake-
    // weighted draw makes that rare); honest nodes are then the minority.
    let mut cheat_won = false;
    for i in 0..40 {
        let id = post(&chain, buyer, &format!("world {i}")).await;
        let task = closed(buyer, id, Duration::from_secs(60)).await;
        let TaskStatus::Settled { digest } = &task.status else {
            panic!("task {id} ended {:?}", task.status);
        };
        let cheat_votes = votes(&task, &cheat.address);
        cheat_won |= cheat_votes * 2 > task.k;
        if cheat_votes * 2 < task.k {
            for a in task.assignments.iter().filter(|a| !a.reexecution) {
                let honest = a.node.as_str() != cheat.address;
                assert_eq!(a.digest.as_ref() == Some(digest), honest, "{a:?}");
            }
            if cheat_votes > 0 {
                caught = true;
                break;
            }
        }
    }
    assert!(caught, "the cheat was never drawn as a minority");
    let record = buyer.node(&cheat.address).await.unwrap();
    assert!(record.tasks_wrong >= 1, "{record:?}");
    assert!(record.stake.u128() < DISHONEST_STAKE, "{record:?}");
    assert!(record.reputation < INITIAL_REPUTATION, "{record:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut paid = 0;
        for n in &nodes {
            let w = buyer.wallet(&n.address).await.unwrap();
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

    // SIGKILL between commit and reveal. The honest nodes restart with slow
    // polls, which leave a window after a commit; each one's state file
    // says when it has committed.
    for n in &mut nodes {
        n.kill();
        let text = std::fs::read_to_string(&n.config).unwrap();
        std::fs::write(&n.config, text.replace("poll_ms = 200", "poll_ms = 2000")).unwrap();
        n.start();
    }
    let (id, victim) = loop {
        let id = post(&chain, buyer, "killed").await;
        let task = buyer.task(id).await.unwrap();
        if let Some(v) = nodes.iter().position(|n| votes(&task, &n.address) > 0) {
            break (id, v);
        }
        // Only the cheat was drawn: let it close and try again.
        closed(buyer, id, Duration::from_secs(60)).await;
    };
    let state = nodes[victim].dir.join("chain/worker.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&state)
        .unwrap_or_default()
        .contains(&format!("\"{id}\":{{\"committed\""))
    {
        assert!(Instant::now() < deadline, "never committed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nodes[victim].kill();
    let address = nodes[victim].address.clone();
    let slot = |t: &TaskResponse| {
        t.assignments
            .iter()
            .find(|a| a.node.as_str() == address)
            .cloned()
            .unwrap()
    };
    assert!(slot(&buyer.task(id).await.unwrap()).digest.is_none());
    nodes[victim].start();
    let task = closed(buyer, id, Duration::from_secs(60)).await;
    assert!(
        matches!(task.status, TaskStatus::Settled { .. }),
        "{:?}",
        task.status
    );
    assert!(slot(&task).digest.is_some(), "the restarted node revealed");
    // A buyer with the CLI: `task post --wait` of an OCR task on the sample
    // image, which it serves over iroh from its own endpoint (the nodes hold
    // only the plugin and its models); it prints the text that won with the
    // receipts it checked.
    let image = clusterai_test_support::repo_root().join("plugins/examples/ocr/golden/text.png");
    let mut args: Vec<String> = [
        "--json",
        "task",
        "post",
        "--plugin",
        &ContentHash::of(&plugins::bytes("ocr")).to_string(),
        "--input",
        image.to_str().unwrap(),
        "--replicas",
        "3",
        "--reward",
        &REWARD.to_string(),
        "--commit-period",
        "30",
        "--wait",
        "120",
    ]
    .map(String::from)
    .into();
    args.extend(chain.args());
    let out = Command::new(clusterai())
        .args(&args)
        .env("CLUSTERAI_DATA_DIR", &cli_buyer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("task post printed no JSON ({e}): {stderr}"));
    let id = v["task_id"].as_u64().unwrap();
    let task = buyer.task(id).await.unwrap();
    if votes(&task, &cheat.address) * 2 > task.k {
        // The cheat held the majority (the protocol allows it, rarely): its
        // digest won, and no honest delivery matches it.
        assert!(!out.status.success(), "{v}");
    } else {
        assert!(out.status.success(), "{v}: {stderr}");
        assert_eq!(v["status"], "settled", "{v}");
        let read: serde_json::Value =
            serde_json::from_str(v["output"]["text"].as_str().unwrap()).unwrap();
        assert_eq!(
            read["text"], "ClusterAl reads text\nin a wasm sandbox 2026",
            "{v}"
        );
        let receipts = v["receipts"].as_array().unwrap();
        assert!(!receipts.is_empty(), "{v}");
        for r in receipts {
            let operator = r["operator"].as_str().unwrap();
            assert!(nodes.iter().any(|n| n.address == operator), "{r}");
            assert_eq!(
                r["receipt"]["receipt"]["input"],
                ContentHash::of(&std::fs::read(&image).unwrap()).to_string(),
                "{r}"
            );
        }
    }

    // The creator was paid a royalty for every settled task; tokens moved
    // between buyers, nodes, creator, treasury and market, and none were
    // made or lost.
    let royalties = buyer.rewards(&creator_address).await.unwrap();
    assert!(royalties >= ROYALTY, "the creator earned {royalties}");
    assert_eq!(royalties % ROYALTY, 0, "one royalty per task: {royalties}");
    assert_eq!(holdings(buyer, &accounts).await, before, "conservation");

    // A real chain goes away under a task in flight and comes back: the
    // nodes reconnect, catch up, and finish it.
    if matches!(chain, Chain::Wasmd(_)) {
        let id = post(&chain, buyer, "outage").await;
        if let Chain::Wasmd(net) = &mut chain {
            net.stop().await.unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            net.resume().await.unwrap();
        }
        let task = closed(buyer, id, Duration::from_secs(90)).await;
        assert!(
            matches!(task.status, TaskStatus::Settled { .. }),
            "{:?}",
            task.status
        );
    }
}

/// `clusterai devnet up --nodes 3` as a new user runs it, then a buyer with
/// the CLI: faucet, and `task post --wait` of an OCR task on the sample
/// image, whose input the nodes fetch from the buyer over iroh. The text
/// that comes back is the text in the image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_up_then_an_ocr_task_post() {
    let root = tempfile::tempdir().unwrap();
    let net = root.path().join("net");
    let log = root.path().join("up.log");
    let (mut up, first) = spawn_with_first_line(
        &[
            "--json",
            "devnet",
            "up",
            "--nodes",
            "3",
            "--dir",
            net.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--block-time-ms",
            "300",
            "--plugins",
            plugins::path("ocr").parent().unwrap().to_str().unwrap(),
        ],
        &log,
    );
    let info: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| {
        panic!(
            "devnet up printed {first:?} ({e}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    assert_eq!(info["nodes"].as_array().unwrap().len(), 3, "{info}");
    let url = info["devnet"].as_str().unwrap().to_owned();
    let ocr = info["plugins"]["ocr"].as_str().unwrap().to_owned();

    let buyer = root.path().join("buyer");
    run(&["wallet", "--faucet", "100000", "--chain", &url], &buyer);
    let image = clusterai_test_support::repo_root().join("plugins/examples/ocr/golden/text.png");
    let out = Command::new(clusterai())
        .args([
            "--json",
            "task",
            "post",
            "--plugin",
            &ocr,
            "--input",
            image.to_str().unwrap(),
            "--reward",
            "1000",
            "--wait",
            "120",
            "--chain",
            &url,
        ])
        .env("CLUSTERAI_DATA_DIR", &buyer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "settled", "{v}");
    // The plugin's JSON output, as text: the lines it read.
    let text: serde_json::Value =
        serde_json::from_str(v["output"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        text["text"], "ClusterAl reads text\nin a wasm sandbox 2026",
        "{v}"
    );
    assert!(!v["receipts"].as_array().unwrap().is_empty(), "{v}");

    // Ctrl-C stops the network and its nodes.
    Command::new("kill")
        .args(["-INT", &up.id().to_string()])
        .status()
        .unwrap();
    let status = up.child().wait().unwrap();
    assert!(status.success(), "devnet up exited {status}");
}
