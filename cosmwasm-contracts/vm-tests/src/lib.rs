//! A small chain around cosmwasm-vm for the ClusterAI contract artifacts.
//!
//! [`Chain`] loads the optimised `.wasm` files from
//! `cosmwasm-contracts/artifacts/`, stores them in a cosmwasm-vm [`Cache`]
//! (which runs the same static checks as a chain: exports, imports,
//! capabilities of wasmd v0.70), instantiates them, executes messages and
//! dispatches what they send: `WasmMsg::Execute` to other contracts (so a cw20
//! `Send` reaches its hook) and smart queries between contracts. Every call
//! reports the VM gas it used, including the gas of the submessages and
//! queries it caused.
//!
//! It is deliberately small: no bank module (the deployment is paid in the
//! cw20 token), no replies (the contracts never ask for one), and a failure
//! anywhere fails the whole call without rolling storage back (tests stop at
//! the first failure anyway).

use cosmwasm_std::{
    Addr, Binary, BlockInfo, Checksum, ContractResult, CosmosMsg, Empty, Env, MessageInfo,
    QueryRequest, ReplyOn, Response, SystemError, SystemResult, Timestamp, WasmMsg, WasmQuery,
};
use cosmwasm_vm::Storage as _;
use cosmwasm_vm::testing::{MockApi, MockStorage};
use cosmwasm_vm::{
    Backend, BackendError, BackendResult, Cache, CacheOptions, GasInfo, InstanceOptions, Querier,
    Size, call_execute, call_instantiate, call_query, capabilities_from_csv,
};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

/// The capabilities of wasmd v0.70.3 (no `cosmwasm_3_0`).
pub const WASMD_V070_CAPABILITIES: &str = "iterator,staking,stargate,cosmwasm_1_1,cosmwasm_1_2,cosmwasm_1_3,cosmwasm_1_4,cosmwasm_2_0,cosmwasm_2_1,cosmwasm_2_2,ibc2";

/// The contract artifacts, by crate name.
pub const ARTIFACTS: [&str; 4] = [
    "clusterai_token",
    "clusterai_node_registry",
    "clusterai_task_market",
    "clusterai_model_market",
];

/// Gas limit of every call (CosmWasm gas).
pub const GAS_LIMIT: u64 = 50_000_000_000_000;

/// Where the artifacts are: `$CLUSTERAI_ARTIFACTS` or `../artifacts`.
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("CLUSTERAI_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts"))
}

/// Reads one artifact; the error says how to build it.
pub fn read_artifact(name: &str) -> Result<Vec<u8>, String> {
    let path = artifacts_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).map_err(|e| {
        format!(
            "cannot read {}: {e}; build the artifacts with scripts/test-contracts.sh",
            path.display()
        )
    })
}

type VmCache = Cache<MockApi, MockStorage, Router>;
type VmBackend = Backend<MockApi, MockStorage, Router>;

struct ContractSlot {
    checksum: Checksum,
    /// `None` while the contract is running (its backend is inside the instance).
    backend: Option<VmBackend>,
}

struct Shared {
    cache: Rc<VmCache>,
    contracts: HashMap<String, ContractSlot>,
    block: BlockInfo,
}

/// The querier of every contract: routes smart queries to the other contracts.
#[derive(Clone)]
pub struct Router {
    shared: Rc<RefCell<Option<Shared>>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Router")
    }
}

fn env_for(block: &BlockInfo, contract: &str) -> Env {
    let mut env = cosmwasm_vm::testing::mock_env();
    env.block = block.clone();
    env.contract.address = Addr::unchecked(contract);
    env
}

impl Router {
    fn take(
        &self,
        contract: &str,
    ) -> Result<(Rc<VmCache>, Checksum, VmBackend, BlockInfo), String> {
        let mut guard = self.shared.borrow_mut();
        let shared = guard.as_mut().ok_or("chain is gone")?;
        let slot = shared
            .contracts
            .get_mut(contract)
            .ok_or_else(|| format!("no contract {contract}"))?;
        let backend = slot
            .backend
            .take()
            .ok_or_else(|| format!("re-entrant call into {contract}"))?;
        Ok((
            shared.cache.clone(),
            slot.checksum,
            backend,
            shared.block.clone(),
        ))
    }

    fn put(&self, contract: &str, backend: VmBackend) {
        let mut guard = self.shared.borrow_mut();
        if let Some(slot) = guard.as_mut().and_then(|s| s.contracts.get_mut(contract)) {
            slot.backend = Some(backend);
        }
    }

    fn smart_query(
        &self,
        contract: &str,
        msg: &[u8],
    ) -> Result<(ContractResult<Binary>, u64), String> {
        let (cache, checksum, backend, block) = self.take(contract)?;
        let mut instance = cache
            .get_instance(
                &checksum,
                backend,
                InstanceOptions {
                    gas_limit: GAS_LIMIT,
                },
            )
            .map_err(|e| e.to_string())?;
        let result = call_query(&mut instance, &env_for(&block, contract), msg);
        let report = instance.create_gas_report();
        let backend = instance.recycle().ok_or("instance could not be recycled")?;
        self.put(contract, backend);
        let result = result.map_err(|e| e.to_string())?;
        trace("query", contract, msg, report.limit - report.remaining);
        Ok((result, report.limit - report.remaining))
    }

    /// A raw read of `contract`'s storage, as wasmd answers `WasmQuery::Raw`
    /// (no contract call: only the storage read's gas).
    fn raw_query(&self, contract: &str, key: &[u8]) -> Result<(Option<Vec<u8>>, u64), String> {
        let (_, _, backend, _) = self.take(contract)?;
        let (value, gas) = backend.storage.get(key);
        self.put(contract, backend);
        let value = value.map_err(|e| e.to_string())?;
        trace("raw", contract, key, gas.cost);
        Ok((value, gas.cost))
    }
}

impl Querier for Router {
    fn query_raw(
        &self,
        request: &[u8],
        _gas_limit: u64,
    ) -> BackendResult<SystemResult<ContractResult<Binary>>> {
        let request: QueryRequest<Empty> = match cosmwasm_std::from_json(request) {
            Ok(r) => r,
            Err(e) => {
                let err = SystemError::InvalidRequest {
                    error: e.to_string(),
                    request: Binary::from(request),
                };
                return (Ok(SystemResult::Err(err)), GasInfo::free());
            }
        };
        match request {
            QueryRequest::Wasm(WasmQuery::Smart { contract_addr, msg }) => {
                match self.smart_query(&contract_addr, &msg) {
                    Ok((result, gas)) => (
                        Ok(SystemResult::Ok(result)),
                        GasInfo::with_externally_used(gas),
                    ),
                    Err(e) => (Err(BackendError::unknown(e)), GasInfo::free()),
                }
            }
            QueryRequest::Wasm(WasmQuery::Raw { contract_addr, key }) => {
                match self.raw_query(&contract_addr, &key) {
                    Ok((value, gas)) => (
                        Ok(SystemResult::Ok(ContractResult::Ok(Binary::from(
                            value.unwrap_or_default(),
                        )))),
                        GasInfo::with_externally_used(gas),
                    ),
                    Err(e) => (Err(BackendError::unknown(e)), GasInfo::free()),
                }
            }
            other => (
                Ok(SystemResult::Err(SystemError::UnsupportedRequest {
                    kind: format!("{other:?}"),
                })),
                GasInfo::free(),
            ),
        }
    }
}

/// What a call left behind.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// VM gas of the call and everything it caused.
    pub gas: u64,
    /// `key=value` attributes of every response, in order.
    pub attributes: Vec<(String, String)>,
}

impl Outcome {
    /// The first attribute named `key`.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A chain holding the contract artifacts.
pub struct Chain {
    router: Router,
    api: MockApi,
    codes: HashMap<String, Checksum>,
    _dir: TempDir,
    next_addr: u32,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("codes", &self.codes.keys())
            .finish_non_exhaustive()
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Chain {
    /// A chain with every artifact stored (and checked against the wasmd
    /// v0.70 capabilities by cosmwasm-vm's static analysis).
    pub fn new() -> Result<Self, String> {
        let dir =
            std::env::temp_dir().join(format!("clusterai-vm-{}-{}", std::process::id(), unique()));
        let options = CacheOptions::new(
            dir.clone(),
            capabilities_from_csv(WASMD_V070_CAPABILITIES),
            Size::mebi(200),
            Size::mebi(64),
        );
        // SAFETY: the cache directory is ours alone (process id and a counter in its name).
        let cache: VmCache = unsafe { Cache::new(options) }.map_err(|e| e.to_string())?;
        let mut codes = HashMap::new();
        for name in ARTIFACTS {
            let wasm = read_artifact(name)?;
            let checksum = cache
                .store_code(&wasm, true, true)
                .map_err(|e| format!("{name}: {e}"))?;
            codes.insert(name.to_string(), checksum);
        }
        let shared = Shared {
            cache: Rc::new(cache),
            contracts: HashMap::new(),
            block: cosmwasm_vm::testing::mock_env().block,
        };
        Ok(Chain {
            router: Router {
                shared: Rc::new(RefCell::new(Some(shared))),
            },
            api: MockApi::default(),
            codes,
            _dir: TempDir(dir),
            next_addr: 0,
        })
    }

    /// The entry points an artifact exports, e.g. `["execute", "instantiate", ...]`.
    pub fn entrypoints(&self, name: &str) -> Result<Vec<String>, String> {
        let checksum = self
            .codes
            .get(name)
            .ok_or_else(|| format!("no code {name}"))?;
        let guard = self.router.shared.borrow();
        let shared = guard.as_ref().ok_or("chain is gone")?;
        let report = shared.cache.analyze(checksum).map_err(|e| e.to_string())?;
        Ok(report.entrypoints.iter().map(|e| e.to_string()).collect())
    }

    /// The capabilities an artifact requires.
    pub fn required_capabilities(&self, name: &str) -> Result<Vec<String>, String> {
        let checksum = self
            .codes
            .get(name)
            .ok_or_else(|| format!("no code {name}"))?;
        let guard = self.router.shared.borrow();
        let shared = guard.as_ref().ok_or("chain is gone")?;
        let report = shared.cache.analyze(checksum).map_err(|e| e.to_string())?;
        Ok(report.required_capabilities.into_iter().collect())
    }

    /// A bech32 account address for `name`.
    pub fn addr(&self, name: &str) -> String {
        self.api.addr_make(name)
    }

    /// Moves the block forward by `seconds`.
    pub fn advance(&mut self, seconds: u64) {
        if let Some(shared) = self.router.shared.borrow_mut().as_mut() {
            shared.block.time = shared.block.time.plus_seconds(seconds);
            shared.block.height += seconds.div_ceil(5).max(1);
        }
    }

    /// Block time.
    pub fn now(&self) -> Timestamp {
        self.router
            .shared
            .borrow()
            .as_ref()
            .map(|s| s.block.time)
            .unwrap_or_default()
    }

    /// Instantiates `code` as `sender`; returns the new contract's address.
    pub fn instantiate<M: Serialize>(
        &mut self,
        code: &str,
        sender: &str,
        msg: &M,
    ) -> Result<String, String> {
        let checksum = *self
            .codes
            .get(code)
            .ok_or_else(|| format!("no code {code}"))?;
        self.next_addr += 1;
        let address = self.api.addr_make(&format!("contract{}", self.next_addr));
        let backend = Backend {
            api: self.api,
            storage: MockStorage::default(),
            querier: self.router.clone(),
        };
        {
            let mut guard = self.router.shared.borrow_mut();
            let shared = guard.as_mut().ok_or("chain is gone")?;
            shared.contracts.insert(
                address.clone(),
                ContractSlot {
                    checksum,
                    backend: Some(backend),
                },
            );
        }
        let msg = serde_json::to_vec(msg).map_err(|e| e.to_string())?;
        self.call(&address, sender, &msg, true)?;
        Ok(address)
    }

    /// Executes `msg` on `contract` as `sender` (no funds) and everything it sends.
    pub fn execute<M: Serialize>(
        &mut self,
        contract: &str,
        sender: &str,
        msg: &M,
    ) -> Result<Outcome, String> {
        let msg = serde_json::to_vec(msg).map_err(|e| e.to_string())?;
        self.call(contract, sender, &msg, false)
    }

    /// Runs a smart query.
    pub fn query<M: Serialize, R: serde::de::DeserializeOwned>(
        &self,
        contract: &str,
        msg: &M,
    ) -> Result<R, String> {
        let msg = serde_json::to_vec(msg).map_err(|e| e.to_string())?;
        match self.router.smart_query(contract, &msg)?.0 {
            ContractResult::Ok(bin) => serde_json::from_slice(&bin).map_err(|e| e.to_string()),
            ContractResult::Err(e) => Err(e),
        }
    }

    fn call(
        &mut self,
        contract: &str,
        sender: &str,
        msg: &[u8],
        instantiate: bool,
    ) -> Result<Outcome, String> {
        let (cache, checksum, backend, block) = self.router.take(contract)?;
        let mut instance = cache
            .get_instance(
                &checksum,
                backend,
                InstanceOptions {
                    gas_limit: GAS_LIMIT,
                },
            )
            .map_err(|e| e.to_string())?;
        let env = env_for(&block, contract);
        let info = MessageInfo {
            sender: Addr::unchecked(sender),
            funds: vec![],
        };
        let result = if instantiate {
            call_instantiate::<_, _, _, Empty>(&mut instance, &env, &info, msg)
        } else {
            call_execute::<_, _, _, Empty>(&mut instance, &env, &info, msg)
        };
        let report = instance.create_gas_report();
        let backend = instance.recycle().ok_or("instance could not be recycled")?;
        self.router.put(contract, backend);
        let response: Response<Empty> = match result.map_err(|e| format!("{contract}: {e}"))? {
            ContractResult::Ok(r) => r,
            ContractResult::Err(e) => return Err(format!("{contract} refused: {e}")),
        };
        trace("execute", contract, msg, report.limit - report.remaining);
        let mut outcome = Outcome {
            gas: report.limit - report.remaining,
            attributes: response
                .attributes
                .iter()
                .map(|a| (a.key.clone(), a.value.clone()))
                .collect(),
        };
        for sub in response.messages {
            if sub.reply_on != ReplyOn::Never {
                return Err(format!(
                    "{contract} asked for a reply; this harness has none"
                ));
            }
            match sub.msg {
                CosmosMsg::Wasm(WasmMsg::Execute {
                    contract_addr,
                    msg,
                    funds,
                }) => {
                    if !funds.is_empty() {
                        return Err(format!(
                            "{contract} sent native funds; this harness has no bank"
                        ));
                    }
                    let inner = self.call(&contract_addr, contract, &msg, false)?;
                    outcome.gas += inner.gas;
                    outcome.attributes.extend(inner.attributes);
                }
                other => {
                    return Err(format!(
                        "{contract} sent {other:?}; this harness only dispatches WasmMsg::Execute"
                    ));
                }
            }
        }
        Ok(outcome)
    }
}

/// With `CLUSTERAI_VM_TRACE` set, prints the gas of every single call
/// (nested queries included in their caller's figure).
fn trace(kind: &str, contract: &str, msg: &[u8], gas: u64) {
    if std::env::var_os("CLUSTERAI_VM_TRACE").is_some() {
        let head: String = String::from_utf8_lossy(msg).chars().take(40).collect();
        eprintln!(
            "{kind:<8} {gas:>12} {} {head}",
            &contract[contract.len().saturating_sub(6)..]
        );
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The commitment a node posts (the same formula as
/// `clusterai_economy::commit::commitment`, recomputed here independently).
pub fn commitment(digest: &[u8; 32], salt: &[u8], node: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"clusterai/commit/v1");
    h.update(digest);
    h.update([salt.len() as u8]);
    h.update(salt);
    h.update(node.as_bytes());
    h.finalize().into()
}

pub mod economy;
