//! A minimal stand-in for the runtime (host/runtime), shared by the plugin
//! tests and the examples: wasmtime-wasi p2 locked down (no preopens, env,
//! sockets), the task world's `log` import, `clusterai_nn::add_to_linker`,
//! a fresh store per task.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use clusterai_nn::{NnHost, NnTaskCtx, NnView};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub mod world {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "clusterai:task/task-plugin",
        with: { "wasi:nn": clusterai_nn::bindings::wasi::nn },
        imports: { default: trappable },
    });
}
pub use world::clusterai::task::types::{TaskError, TaskInput};

/// The store data of one task.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The task's wasi-nn state.
    pub nn: NnTaskCtx,
    /// Lines the plugin logged.
    pub log: Vec<String>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl world::clusterai::task::log::Host for State {
    fn log(
        &mut self,
        level: world::clusterai::task::log::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        self.log.push(format!("{level:?}: {message}"));
        Ok(())
    }
}

impl world::clusterai::task::types::Host for State {}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the plugins workspace (once per process) and returns `<name>.wasm`;
/// with `CLUSTERAI_PLUGIN_WASM_DIR` set, reads prebuilt components from there.
pub fn plugin_bytes(name: &str) -> Vec<u8> {
    if let Some(dir) = std::env::var_os("CLUSTERAI_PLUGIN_WASM_DIR") {
        return std::fs::read(Path::new(&dir).join(format!("{name}.wasm")))
            .expect("prebuilt plugin");
    }
    static BUILT: Mutex<bool> = Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let dir = root().join("plugins");
    if !*built {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .current_dir(&dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the plugins failed");
        *built = true;
    }
    std::fs::read(dir.join(format!("target/wasm32-wasip2/release/{name}.wasm")))
        .expect("plugin built")
}

/// An engine and a linker with wasi p2, wasi:nn and the task world's imports.
pub struct Harness {
    pub engine: Engine,
    pub linker: Linker<State>,
    pub host: NnHost,
}

/// A task's output bytes and content type, or the plugin's error.
pub type TaskResult = Result<(Vec<u8>, String), TaskError>;

impl Harness {
    pub fn new(host: NnHost) -> Self {
        let mut config = Config::new();
        config.wasm_component_model(true);
        // CLUSTERAI_HARNESS_KEEP_RESIDENT=<MiB>: the pooling allocator with
        // that much of each linear memory kept resident between instances
        // (what a runtime can do to spare tensor-heavy plugins the page
        // faults of a fresh memory); default: on-demand allocation.
        if let Some(mib) = std::env::var("CLUSTERAI_HARNESS_KEEP_RESIDENT")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_component_instances(16)
                .total_core_instances(64)
                .total_memories(16)
                .total_tables(64)
                .max_memory_size(512 << 20)
                .linear_memory_keep_resident(mib << 20);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).expect("engine");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi");
        clusterai_nn::add_to_linker(&mut linker, |s: &mut State| NnView {
            ctx: &mut s.nn,
            table: &mut s.table,
        })
        .expect("wasi-nn");
        world::clusterai::task::log::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut linker,
            |s| s,
        )
        .expect("log");
        Self {
            engine,
            linker,
            host,
        }
    }

    pub fn component(&self, name: &str) -> Component {
        Component::new(&self.engine, plugin_bytes(name)).expect("component compiles")
    }

    pub fn pre(&self, component: &Component) -> world::TaskPluginPre<State> {
        let pre: InstancePre<State> = self.linker.instantiate_pre(component).expect("links");
        world::TaskPluginPre::new(pre).expect("exports the plugin world")
    }

    /// Runs one task in a fresh store; returns the plugin's result and its log.
    pub fn run_task(
        &self,
        pre: &world::TaskPluginPre<State>,
        data: Vec<u8>,
        content_type: &str,
        params: &[(&str, &str)],
    ) -> (TaskResult, Vec<String>) {
        let state = State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            nn: self.host.task_ctx(None),
            log: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        let plugin = pre.instantiate(&mut store).expect("instantiates");
        let input = TaskInput {
            data,
            content_type: content_type.into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let r = plugin
            .clusterai_task_plugin()
            .call_run(&mut store, &input)
            .expect("the plugin does not trap");
        let log = std::mem::take(&mut store.data_mut().log);
        (r.map(|o| (o.data, o.content_type)), log)
    }
}

/// Parses the binary form: (name, dtype code, dims, bytes).
pub fn parse_binary(b: &[u8]) -> Vec<(String, u8, Vec<u32>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 9;
    let count = u32::from_le_bytes(b[5..9].try_into().expect("4 bytes"));
    for _ in 0..count {
        let n = u16::from_le_bytes([b[i], b[i + 1]]) as usize;
        i += 2;
        let name = String::from_utf8(b[i..i + n].to_vec()).expect("utf-8");
        i += n;
        let dtype = b[i];
        let rank = b[i + 1] as usize;
        i += 2;
        let dims = (0..rank)
            .map(|k| u32::from_le_bytes(b[i + 4 * k..i + 4 * k + 4].try_into().expect("4 bytes")))
            .collect();
        i += 4 * rank;
        let len = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes")) as usize;
        i += 8;
        out.push((name, dtype, dims, b[i..i + len].to_vec()));
        i += len;
    }
    out
}

/// The full plugin path for the `nn` bench: each inference is a task of the
/// tensor plugin (fresh instance from an `InstancePre`, inputs in the binary
/// form copied into the guest, every output read back out).
pub struct PluginPath {
    harness: std::sync::Arc<Harness>,
    pre: world::TaskPluginPre<State>,
}

impl PluginPath {
    pub fn new(harness: std::sync::Arc<Harness>) -> Self {
        let component = harness.component("tensor");
        let pre = harness.pre(&component);
        Self { harness, pre }
    }
}

impl clusterai_nn::bench::InferencePath for PluginPath {
    fn label(&self) -> &str {
        "plugin"
    }

    fn runner(
        &self,
        model: &clusterai_nn::bench::BenchModel,
        hash: clusterai_types::ContentHash,
    ) -> anyhow::Result<Box<dyn FnMut() -> anyhow::Result<()> + Send>> {
        let input = model.catn_input();
        let harness = self.harness.clone();
        let pre = self.pre.clone();
        let hash = hash.to_hex();
        Ok(Box::new(move || {
            let (r, _) = harness.run_task(
                &pre,
                input.clone(),
                "application/x-clusterai-tensors",
                &[("model", &hash)],
            );
            let (out, _) = r.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            std::hint::black_box(out.len());
            Ok(())
        }))
    }
}
