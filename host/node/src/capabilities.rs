//! The node's capabilities, adapted to the runtime's seam.

use clusterai_nn::{ModelAccess, NnHost, NnTaskCtx, NnView};
use clusterai_runtime::{
    Capability, Extensions, HostState, ModelFormat, PluginError, RunError, TaskContext,
};
use wasmtime::component::Linker;

/// `wasi:nn` on ONNX Runtime, as a runtime capability: per task, a wasi-nn
/// context bounded by the task's policy that may open only the models the
/// plugin declares and the task names.
#[derive(Debug, Clone)]
pub struct NnCapability {
    host: NnHost,
}

impl NnCapability {
    /// Serves `host` to plugins.
    pub fn new(host: NnHost) -> Self {
        Self { host }
    }

    /// The wasi-nn host.
    pub fn host(&self) -> &NnHost {
        &self.host
    }
}

/// The task's wasi-nn view: its context (prepared for every task by
/// [`NnCapability::prepare`]) and the store's resource table.
fn nn_view(state: &mut HostState) -> NnView<'_> {
    let (ctx, table) = state
        .extension_and_table::<NnTaskCtx>()
        // Invariant: `prepare` inserts a context for every task and for
        // describe(); were it broken, the panic is caught at the task
        // boundary and reported as a host error.
        .expect("the wasi-nn capability prepares every task");
    NnView { ctx, table }
}

impl Capability for NnCapability {
    fn packages(&self) -> &[&'static str] {
        &["wasi:nn"]
    }

    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()> {
        clusterai_nn::add_to_linker(linker, nn_view)
    }

    fn prepare(&self, task: &TaskContext<'_>, extensions: &mut Extensions) -> Result<(), RunError> {
        // The models the plugin declares must be on the node: a missing one
        // is named here instead of surfacing deep inside the plugin.
        let graphs = task
            .info
            .map(|i| i.models.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|m| m.format == ModelFormat::Onnx);
        for m in graphs {
            match self.host.ensure_model(&m.hash) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(RunError::Plugin(PluginError::ModelUnavailable(format!(
                        "model {:?} ({}) is not on this node",
                        m.name, m.hash
                    ))));
                }
                Err(e) => {
                    return Err(RunError::Plugin(PluginError::ModelUnavailable(format!(
                        "model {:?} ({}): {}",
                        m.name, m.hash, e.message
                    ))));
                }
            }
        }
        extensions.insert(
            self.host
                .task_ctx(
                    task.policy,
                    ModelAccess::Only(task.allowed_models()),
                    Some(task.deadline),
                )
                .with_host_memory(task.host_memory.clone()),
        );
        Ok(())
    }
}

/// The providers a finished task's inferences ran on, one per `compute`.
pub fn inferences(extensions: &Extensions) -> &[clusterai_nn::ProviderUse] {
    extensions
        .get::<NnTaskCtx>()
        .map(NnTaskCtx::providers_used)
        .unwrap_or_default()
}
