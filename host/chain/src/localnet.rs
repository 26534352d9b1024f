//! A real chain on this machine: a single-validator wasmd on loopback with
//! fast blocks, the four contracts stored and instantiated from their
//! optimised artifacts (unchanged), a funded admin account, and a local
//! beacon. Everything lives in one directory, so stopping and starting again
//! continues the same chain.
//!
//! Layout of the directory: `wasmd/` (the chain's home), `wasmd.log`,
//! `account.key` (the admin), `beacon.key`, `deployment.json`,
//! `localnet.json` (where clients find it: [`LocalnetInfo`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clusterai_economy::asset::PaymentDenom;
use clusterai_economy_testing::{DISPUTE_BOND, GENESIS_SUPPLY, MAX_ROYALTY, RAISE_DELAY};
use cosmwasm_std::Coin;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::account::{AccountKey, DEFAULT_PREFIX};
use crate::beacon::LocalBeacon;
use crate::cosmos::{CosmosClient, CosmosConfig};
use crate::devnet::{devnet_market_params, devnet_registry_params};
use crate::settlement::{ChainError, Deployment, Settlement};

/// The native denom of the localnet (gas and staking).
pub const STAKE_DENOM: &str = "stake";
/// Native tokens each funded account gets for gas and to exist on chain.
pub const GAS_FUNDS: u128 = 1_000_000;
/// The contract artifacts, in deployment order.
pub const ARTIFACTS: [&str; 4] = [
    "clusterai_token.wasm",
    "clusterai_node_registry.wasm",
    "clusterai_model_market.wasm",
    "clusterai_task_market.wasm",
];

/// How to run a localnet.
#[derive(Debug, Clone)]
pub struct LocalnetConfig {
    /// The wasmd binary.
    pub wasmd: PathBuf,
    /// Its directory (created on first start).
    pub dir: PathBuf,
    /// Where the optimised contract artifacts are.
    pub artifacts: PathBuf,
    /// The chain id.
    pub chain_id: String,
    /// Block time, in milliseconds.
    pub block_time_ms: u64,
    /// Seconds between beacon rounds.
    pub beacon_period: u64,
}

/// Where clients find a running localnet (`localnet.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalnetInfo {
    /// CometBFT RPC.
    pub rpc_url: String,
    /// The local beacon.
    pub beacon_url: String,
    /// The contracts.
    pub deployment: Deployment,
}

/// Why a localnet could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalnetError {
    /// The file system or a process.
    #[error("localnet {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A wasmd command failed.
    #[error("`wasmd {command}` failed: {output}")]
    Wasmd {
        /// The subcommand.
        command: String,
        /// Its last lines.
        output: String,
    },
    /// The chain did not come up, or refused the deployment.
    #[error("localnet: {0}")]
    Chain(#[from] ChainError),
    /// Anything else.
    #[error("localnet: {0}")]
    Other(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalnetError {
    let what = what.into();
    move |source| LocalnetError::Io { what, source }
}

/// A running localnet; wasmd stops when it is dropped.
#[derive(Debug)]
pub struct Localnet {
    config: LocalnetConfig,
    child: Option<Child>,
    ports: Ports,
    info: LocalnetInfo,
    admin: AccountKey,
    beacon_server: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Ports {
    rpc: u16,
    p2p: u16,
    grpc: u16,
    beacon: u16,
}

fn free_port() -> Result<u16, LocalnetError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("picking a port"))?;
    Ok(l.local_addr().map_err(io("picking a port"))?.port())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Localnet {
    /// Starts the localnet in `config.dir`, creating and deploying it first
    /// if the directory is new.
    pub async fn start(config: LocalnetConfig) -> Result<Self, LocalnetError> {
        std::fs::create_dir_all(&config.dir)
            .map_err(io(format!("creating {}", config.dir.display())))?;
        let admin = AccountKey::load_or_create(&config.dir)
            .map_err(|e| LocalnetError::Other(e.to_string()))?;
        let ports_file = config.dir.join("ports.json");
        let home = config.dir.join("wasmd");
        let ports = if home.join("config/genesis.json").exists() {
            let text = std::fs::read_to_string(&ports_file).map_err(io("reading ports.json"))?;
            serde_json::from_str(&text)
                .map_err(|e| LocalnetError::Other(format!("ports.json: {e}")))?
        } else {
            let ports = Ports {
                rpc: free_port()?,
                p2p: free_port()?,
                grpc: free_port()?,
                beacon: free_port()?,
            };
            init_chain(&config, &home, &admin, ports).await?;
            std::fs::write(&ports_file, serde_json::to_vec(&ports).expect("json"))
                .map_err(io("writing ports.json"))?;
            ports
        };
        let rpc_url = format!("http://127.0.0.1:{}", ports.rpc);
        let child = spawn_wasmd(&config, &home).await?;
        let mut net = Localnet {
            info: LocalnetInfo {
                rpc_url: rpc_url.clone(),
                beacon_url: format!("http://127.0.0.1:{}", ports.beacon),
                deployment: placeholder(&config.chain_id),
            },
            config,
            child: Some(child),
            ports,
            admin,
            beacon_server: tokio::spawn(async {}),
        };
        net.wait_for_blocks().await?;
        let deployment_file = net.config.dir.join("deployment.json");
        let deployment = match std::fs::read(&deployment_file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| LocalnetError::Other(format!("deployment.json: {e}")))?,
            Err(_) => {
                let d = net.deploy().await?;
                std::fs::write(
                    &deployment_file,
                    serde_json::to_vec_pretty(&d).expect("json"),
                )
                .map_err(io("writing deployment.json"))?;
                d
            }
        };
        net.info.deployment = deployment;
        net.serve_beacon().await?;
        std::fs::write(
            net.config.dir.join("localnet.json"),
            serde_json::to_vec_pretty(&net.info).expect("json"),
        )
        .map_err(io("writing localnet.json"))?;
        Ok(net)
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Where clients find it.
    pub fn info(&self) -> &LocalnetInfo {
        &self.info
    }

    /// The admin's account key (holds the genesis supply).
    pub fn admin_key(&self) -> &AccountKey {
        &self.admin
    }

    /// A client for the admin account.
    pub async fn admin(&self) -> Result<CosmosClient, ChainError> {
        CosmosClient::connect(
            &self.info.rpc_url,
            self.info.deployment.clone(),
            self.admin.clone(),
            CosmosConfig::default(),
        )
        .await
    }

    /// Gives `address` gas money and `amount` of the payment token.
    pub async fn fund(&self, address: &str, amount: u128) -> Result<(), ChainError> {
        let admin = self.admin().await?;
        admin
            .send_native(address, Coin::new(GAS_FUNDS, STAKE_DENOM))
            .await?;
        if amount > 0 {
            admin.transfer(address, amount).await?;
        }
        Ok(())
    }

    /// Stops wasmd (SIGKILL: the chain must survive a crash) and waits for it.
    pub async fn stop(&mut self) -> Result<(), LocalnetError> {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            child.wait().await.map_err(io("waiting for wasmd"))?;
        }
        Ok(())
    }

    /// Starts wasmd again after [`Localnet::stop`] and waits for blocks.
    pub async fn resume(&mut self) -> Result<(), LocalnetError> {
        if self.child.is_none() {
            let home = self.config.dir.join("wasmd");
            self.child = Some(spawn_wasmd(&self.config, &home).await?);
            self.wait_for_blocks().await?;
        }
        Ok(())
    }

    /// Waits until the chain commits a new block (a restarted chain serves
    /// queries before then, but cannot simulate transactions).
    async fn wait_for_blocks(&mut self) -> Result<(), LocalnetError> {
        let rpc = crate::cosmos::rpc::Rpc::new(&self.info.rpc_url)?;
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut first = None;
        loop {
            if let Ok((_, status)) = rpc.status().await {
                let first = *first.get_or_insert(status.height);
                if status.height > first.max(1) {
                    return Ok(());
                }
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(exit)) = child.try_wait()
            {
                return Err(LocalnetError::Wasmd {
                    command: "start".into(),
                    output: format!("exited with {exit}: {}", log_tail(&self.config.dir)),
                });
            }
            if Instant::now() > deadline {
                return Err(LocalnetError::Wasmd {
                    command: "start".into(),
                    output: format!("no new block after 90 s: {}", log_tail(&self.config.dir)),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn deploy(&self) -> Result<Deployment, LocalnetError> {
        let admin = self.admin().await?;
        let me = admin.address().to_owned();
        let mut codes = Vec::new();
        for name in ARTIFACTS {
            let path = self.config.artifacts.join(name);
            let wasm = std::fs::read(&path).map_err(io(format!(
                "reading {} (build it with scripts/test-contracts.sh --artifacts-only)",
                path.display()
            )))?;
            codes.push(admin.store_code(&wasm).await?);
            tracing::info!(artifact = name, code_id = codes.last(), "stored");
        }
        let [token_code, registry_code, models_code, market_code] = codes[..] else {
            unreachable!("four artifacts");
        };
        let token = admin
            .instantiate(
                token_code,
                &json!({
                    "name": "ClusterAI", "symbol": "CLAI", "decimals": 6,
                    "initial_balances": [{"address": me, "amount": GENESIS_SUPPLY.to_string()}],
                    "mint": {"minter": me},
                    "marketing": {
                        "project": "ClusterAI",
                        "description": "Pays for AI tasks on the ClusterAI network",
                        "marketing": me,
                    },
                }),
                "token",
            )
            .await?;
        let denom = PaymentDenom::Cw20 {
            address: token.clone(),
        };
        let registry = admin
            .instantiate(
                registry_code,
                &serde_json::to_value(clusterai_economy::registry::InstantiateMsg {
                    admin: None,
                    treasury: me.clone(),
                    denom: denom.clone(),
                    params: devnet_registry_params(),
                })
                .expect("json"),
                "node-registry",
            )
            .await?;
        let models = admin
            .instantiate(
                models_code,
                &serde_json::to_value(clusterai_economy::models::InstantiateMsg {
                    admin: None,
                    denom: denom.clone(),
                    max_royalty: MAX_ROYALTY.into(),
                    raise_delay: RAISE_DELAY,
                    dispute_bond: DISPUTE_BOND.into(),
                })
                .expect("json"),
                "model-market",
            )
            .await?;
        let beacon = LocalBeacon::load_or_create(
            &self.config.dir.join("beacon.key"),
            now_secs(),
            self.config.beacon_period,
        )
        .map_err(io("the beacon key"))?;
        let market = admin
            .instantiate(
                market_code,
                &serde_json::to_value(clusterai_economy::market::InstantiateMsg {
                    admin: None,
                    treasury: me.clone(),
                    denom: denom.clone(),
                    registry: registry.clone(),
                    model_market: models.clone(),
                    beacon: beacon.config().clone(),
                    params: devnet_market_params(self.config.beacon_period),
                })
                .expect("json"),
                "task-market",
            )
            .await?;
        for contract in [&registry, &models] {
            admin
                .execute(
                    contract,
                    &json!({"set_task_market": {"address": market}}),
                    &[],
                )
                .await?;
        }
        Ok(Deployment {
            chain_id: self.config.chain_id.clone(),
            prefix: DEFAULT_PREFIX.into(),
            token,
            registry,
            market,
            models,
            denom,
            beacon: beacon.config().clone(),
            block_time_ms: self.config.block_time_ms,
        })
    }

    async fn serve_beacon(&mut self) -> Result<(), LocalnetError> {
        let config = &self.info.deployment.beacon;
        let beacon = LocalBeacon::load_or_create(
            &self.config.dir.join("beacon.key"),
            config.genesis_time,
            config.period,
        )
        .map_err(io("the beacon key"))?;
        if beacon.config() != config {
            return Err(LocalnetError::Other(
                "beacon.key does not match the deployed beacon".into(),
            ));
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.ports.beacon))
            .await
            .map_err(io("binding the beacon port"))?;
        let router = beacon.router();
        self.beacon_server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(())
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        self.beacon_server.abort();
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
    }
}

/// A deployment with only its chain known (before the contracts exist).
fn placeholder(chain_id: &str) -> Deployment {
    Deployment {
        chain_id: chain_id.to_owned(),
        prefix: DEFAULT_PREFIX.into(),
        token: String::new(),
        registry: String::new(),
        market: String::new(),
        models: String::new(),
        denom: PaymentDenom::Native {
            denom: STAKE_DENOM.into(),
        },
        beacon: clusterai_economy::beacon::quicknet(),
        block_time_ms: 0,
    }
}

fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("wasmd.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

async fn wasmd(
    config: &LocalnetConfig,
    home: &Path,
    args: &[&str],
) -> Result<String, LocalnetError> {
    let output = Command::new(&config.wasmd)
        .args(args)
        .arg("--home")
        .arg(home)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(io(format!("running {}", config.wasmd.display())))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        return Err(LocalnetError::Wasmd {
            command: args.join(" "),
            output: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        });
    }
    Ok(text)
}

/// `wasmd init`, genesis accounts, a gentx, and fast loopback settings.
async fn init_chain(
    config: &LocalnetConfig,
    home: &Path,
    admin: &AccountKey,
    ports: Ports,
) -> Result<(), LocalnetError> {
    if home.exists() {
        // A half-made home from an interrupted first start.
        std::fs::remove_dir_all(home).map_err(io("clearing a half-made home"))?;
    }
    let chain_id = config.chain_id.as_str();
    let kr = ["--keyring-backend", "test"];
    wasmd(config, home, &["init", "localnet", "--chain-id", chain_id]).await?;
    wasmd(
        config,
        home,
        &[&["keys", "add", "validator"][..], &kr].concat(),
    )
    .await?;
    let validator_funds = format!("100000000000{STAKE_DENOM}");
    wasmd(
        config,
        home,
        &[
            &[
                "genesis",
                "add-genesis-account",
                "validator",
                &validator_funds,
            ][..],
            &kr,
        ]
        .concat(),
    )
    .await?;
    let admin_funds = format!("{GENESIS_SUPPLY}{STAKE_DENOM}");
    let admin_address = admin.address(DEFAULT_PREFIX);
    wasmd(
        config,
        home,
        &[
            "genesis",
            "add-genesis-account",
            &admin_address,
            &admin_funds,
        ],
    )
    .await?;
    let self_bond = format!("10000000000{STAKE_DENOM}");
    wasmd(
        config,
        home,
        &[
            &[
                "genesis",
                "gentx",
                "validator",
                &self_bond,
                "--chain-id",
                chain_id,
            ][..],
            &kr,
        ]
        .concat(),
    )
    .await?;
    wasmd(config, home, &["genesis", "collect-gentxs"]).await?;

    let block = format!("\"{}ms\"", config.block_time_ms);
    edit(
        &home.join("config/config.toml"),
        &[
            (
                "[rpc]",
                "laddr",
                format!("\"tcp://127.0.0.1:{}\"", ports.rpc),
            ),
            (
                "[p2p]",
                "laddr",
                format!("\"tcp://127.0.0.1:{}\"", ports.p2p),
            ),
            ("[rpc]", "pprof_laddr", "\"\"".into()),
            ("[consensus]", "timeout_commit", block.clone()),
            ("[consensus]", "timeout_propose", block),
        ],
    )?;
    edit(
        &home.join("config/app.toml"),
        &[
            ("", "minimum-gas-prices", format!("\"0{STAKE_DENOM}\"")),
            ("[api]", "enable", "false".into()),
            // The node's tx service (simulation over ABCI) is registered
            // only with gRPC on: keep it, on loopback.
            ("[grpc]", "address", format!("\"127.0.0.1:{}\"", ports.grpc)),
            ("[grpc-web]", "enable", "false".into()),
        ],
    )?;
    Ok(())
}

/// Sets `key = value` in `section` of a TOML file ("" is the top level),
/// line by line so the file's comments survive; a key not found is an
/// error (a wasmd whose config moved on).
fn edit(path: &Path, changes: &[(&str, &str, String)]) -> Result<(), LocalnetError> {
    let text = std::fs::read_to_string(path).map_err(io(format!("reading {}", path.display())))?;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (section, key, value) in changes {
        let mut current = "";
        let mut done = false;
        for line in &mut lines {
            let t = line.trim();
            if t.starts_with('[') {
                current = if t == *section { section } else { "?" };
                continue;
            }
            let in_section = if section.is_empty() {
                current.is_empty()
            } else {
                current == *section
            };
            if in_section && t.split('=').next().map(str::trim) == Some(*key) {
                *line = format!("{key} = {value}");
                done = true;
                break;
            }
        }
        if !done {
            return Err(LocalnetError::Other(format!(
                "{}: no `{key}` in section {section:?}",
                path.display()
            )));
        }
    }
    std::fs::write(path, lines.join("\n") + "\n").map_err(io(format!("writing {}", path.display())))
}

async fn spawn_wasmd(config: &LocalnetConfig, home: &Path) -> Result<Child, LocalnetError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.dir.join("wasmd.log"))
        .map_err(io("opening wasmd.log"))?;
    let err = log.try_clone().map_err(io("opening wasmd.log"))?;
    Command::new(&config.wasmd)
        .arg("start")
        .arg("--home")
        .arg(home)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(io(format!("starting {}", config.wasmd.display())))
}
