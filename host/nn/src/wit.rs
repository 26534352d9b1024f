//! Host bindings of `wasi:nn@0.2.0-rc-2024-10-28`, generated from the vendored
//! WIT, and their implementation on [`NnView`].
//!
//! Every host function returns guest mistakes as a wasi-nn `error` resource;
//! the only `Err` (a trap) is a resource-table failure, i.e. a host bug or a
//! handle the guest does not own.

use wasmtime::component::{HasData, Linker, Resource};

use crate::NnError;
use crate::task::{Graph, GraphExecutionContext, NnView};
use crate::tensor::Tensor;

/// The generated `wasi:nn` bindings. A runtime generating bindings for a
/// world that imports `wasi:nn` maps it here
/// (`with: { "wasi:nn": clusterai_nn::bindings::wasi::nn }`) so that the
/// interfaces are implemented once, by this crate.
#[allow(missing_docs, unreachable_pub)]
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "ml",
        path: "../../wit/deps/wasi-nn",
        with: {
            "wasi:nn/graph.graph": crate::task::Graph,
            "wasi:nn/tensor.tensor": crate::tensor::Tensor,
            "wasi:nn/inference.graph-execution-context": crate::task::GraphExecutionContext,
            "wasi:nn/errors.error": crate::error::NnError,
        },
        imports: { default: trappable },
    });
}

use bindings::wasi::nn as w;
pub use w::errors::ErrorCode;
pub use w::graph::{ExecutionTarget, GraphEncoding};
pub use w::tensor::TensorType;

/// Adds `wasi:nn/{tensor,graph,inference,errors}` to `linker`; `get` projects
/// the store data onto the task's [`NnView`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> NnView<'_>,
) -> anyhow::Result<()> {
    w::errors::add_to_linker::<T, HasNn>(linker, get)?;
    w::tensor::add_to_linker::<T, HasNn>(linker, get)?;
    w::inference::add_to_linker::<T, HasNn>(linker, get)?;
    w::graph::add_to_linker::<T, HasNn>(linker, get)?;
    Ok(())
}

struct HasNn;

impl HasData for HasNn {
    type Data<'a> = NnView<'a>;
}

type GuestResult<T> = wasmtime::Result<Result<T, Resource<NnError>>>;

impl NnView<'_> {
    /// Turns a host-side result into what the guest sees: the value, or an
    /// error resource pushed into the table.
    fn answer<T>(&mut self, r: Result<T, NnError>) -> GuestResult<T> {
        match r {
            Ok(v) => Ok(Ok(v)),
            Err(e) => {
                tracing::debug!(code = ?e.code, message = %e.message, "wasi-nn error returned to guest");
                Ok(Err(self.table.push(e)?))
            }
        }
    }
}

impl w::graph::Host for NnView<'_> {
    fn load(
        &mut self,
        builder: Vec<Vec<u8>>,
        encoding: GraphEncoding,
        target: ExecutionTarget,
    ) -> GuestResult<Resource<Graph>> {
        match self.ctx.load(builder, encoding, target) {
            Ok(g) => Ok(Ok(self.table.push(g)?)),
            Err(e) => self.answer(Err(e)),
        }
    }

    fn load_by_name(&mut self, name: String) -> GuestResult<Resource<Graph>> {
        match self.ctx.load_by_name(&name) {
            Ok(g) => Ok(Ok(self.table.push(g)?)),
            Err(e) => self.answer(Err(e)),
        }
    }
}

impl w::graph::HostGraph for NnView<'_> {
    fn init_execution_context(
        &mut self,
        graph: Resource<Graph>,
    ) -> GuestResult<Resource<GraphExecutionContext>> {
        let graph = self.table.get(&graph)?;
        let exec = self.ctx.init_execution_context(graph);
        match exec {
            Ok(e) => Ok(Ok(self.table.push(e)?)),
            Err(e) => self.answer(Err(e)),
        }
    }

    fn drop(&mut self, graph: Resource<Graph>) -> wasmtime::Result<()> {
        self.table.delete(graph)?;
        Ok(())
    }
}

impl w::inference::Host for NnView<'_> {}

impl w::inference::HostGraphExecutionContext for NnView<'_> {
    fn compute(
        &mut self,
        exec: Resource<GraphExecutionContext>,
        inputs: Vec<(String, Resource<Tensor>)>,
    ) -> GuestResult<Vec<(String, Resource<Tensor>)>> {
        // The guest handed over its input tensors: take them out of the table
        // (no copy) whatever happens next.
        // They leave the tensor count now; their host memory is given back
        // when the compute is over.
        let mut owned = Vec::with_capacity(inputs.len());
        let mut handed = 0u64;
        for (name, handle) in inputs {
            let tensor = self.table.delete(handle)?;
            self.ctx.release_tensor_count(&tensor);
            handed = handed.saturating_add(tensor.held_bytes() as u64);
            owned.push((name, tensor));
        }
        let exec = self.table.get(&exec)?;
        let result = self.ctx.compute(exec, owned);
        self.ctx.host_memory().release(handed);
        match result {
            Ok(outputs) => {
                let mut handles = Vec::with_capacity(outputs.len());
                for (name, tensor) in outputs {
                    handles.push((name, self.table.push(tensor)?));
                }
                Ok(Ok(handles))
            }
            Err(e) => self.answer(Err(e)),
        }
    }

    fn drop(&mut self, exec: Resource<GraphExecutionContext>) -> wasmtime::Result<()> {
        self.table.delete(exec)?;
        Ok(())
    }
}

impl w::tensor::Host for NnView<'_> {}

impl w::tensor::HostTensor for NnView<'_> {
    fn new(
        &mut self,
        dimensions: Vec<u32>,
        ty: TensorType,
        data: Vec<u8>,
    ) -> wasmtime::Result<Resource<Tensor>> {
        // The constructor cannot return an error in this WIT version: a tensor
        // over the task's budget is kept as a refused tensor (holding no
        // data) and `compute` reports why.
        let tensor = self.ctx.new_tensor(dimensions, ty, data)?;
        Ok(self.table.push(tensor)?)
    }

    fn dimensions(&mut self, tensor: Resource<Tensor>) -> wasmtime::Result<Vec<u32>> {
        Ok(self.table.get(&tensor)?.dimensions().to_vec())
    }

    fn ty(&mut self, tensor: Resource<Tensor>) -> wasmtime::Result<TensorType> {
        Ok(self.table.get(&tensor)?.ty())
    }

    fn data(&mut self, tensor: Resource<Tensor>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&tensor)?.bytes().to_vec())
    }

    fn drop(&mut self, tensor: Resource<Tensor>) -> wasmtime::Result<()> {
        let t = self.table.delete(tensor)?;
        self.ctx.release(&t);
        Ok(())
    }
}

impl w::errors::Host for NnView<'_> {}

impl w::errors::HostError for NnView<'_> {
    fn code(&mut self, error: Resource<NnError>) -> wasmtime::Result<ErrorCode> {
        Ok(self.table.get(&error)?.code)
    }

    fn data(&mut self, error: Resource<NnError>) -> wasmtime::Result<String> {
        Ok(self.table.get(&error)?.message.clone())
    }

    fn drop(&mut self, error: Resource<NnError>) -> wasmtime::Result<()> {
        self.table.delete(error)?;
        Ok(())
    }
}
