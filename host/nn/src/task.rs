//! [`NnTaskCtx`]: the wasi-nn state of one task and the guest's operations
//! (`load-by-name`, `load`, `init-execution-context`, `compute`, tensors),
//! with every check that keeps a guest's mistakes from reaching ONNX Runtime.

use std::sync::Arc;
use std::time::Instant;

use clusterai_types::{ContentHash, ExecutionProvider, HostMemory, HostMemoryExceeded, TaskPolicy};
use wasmtime::component::ResourceTable;

use crate::error::{NnError, SetupError};
use crate::limits::Bounds;
use crate::marshal;
use crate::model::{Model, ModelInfo, Source};
use crate::table::NnHost;
use crate::tensor::{self, Tensor};
use crate::wit::{ErrorCode, ExecutionTarget, GraphEncoding, TensorType};
use crate::working_memory::{self, Meter, Metered};

/// A graph the guest opened: a model from the host's table (or, when raw
/// loading is allowed, from the guest's bytes).
#[derive(Debug, Clone)]
pub struct Graph {
    model: Arc<Model>,
}

impl Graph {
    /// The model's metadata.
    pub fn info(&self) -> &ModelInfo {
        &self.model.info
    }
}

/// An execution context of a [`Graph`]; sessions are borrowed from the
/// model's pool for each `compute`, so contexts are cheap.
#[derive(Debug, Clone)]
pub struct GraphExecutionContext {
    model: Arc<Model>,
}

/// One inference a task ran: which model, on which provider, for how long.
/// For receipts and metrics.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderUse {
    /// The model.
    pub model: ContentHash,
    /// The provider that ran it.
    pub provider: ExecutionProvider,
    /// Time inside ONNX Runtime's run, in microseconds.
    pub micros: u64,
    /// The most working memory (intermediate and output tensors) the run
    /// took at once, in bytes.
    pub peak_bytes: u64,
}

/// Which models a task may open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelAccess {
    /// Only these: the ones its plugin declares and its task names.
    Only(Vec<ContentHash>),
    /// Any model the host holds (host-side callers: benchmarks, tools).
    Any,
}

/// The wasi-nn state of one task: the host, the task's deadline and bounds,
/// the models it may open, the tensor bytes it holds and the providers its
/// inferences ran on.
#[derive(Debug)]
pub struct NnTaskCtx {
    host: NnHost,
    deadline: Option<Instant>,
    access: ModelAccess,
    max_compute_output_bytes: usize,
    max_task_tensor_bytes: usize,
    max_compute_memory_bytes: usize,
    held_bytes: usize,
    /// The task's host-memory budget, shared with the rest of the task.
    host_memory: HostMemory,
    used: Vec<ProviderUse>,
}

/// What the linker's host functions borrow from the store: the task's
/// wasi-nn state and the store's resource table.
#[derive(Debug)]
pub struct NnView<'a> {
    /// The task's wasi-nn state.
    pub ctx: &'a mut NnTaskCtx,
    /// The store's resource table (shared with wasi and other capabilities).
    pub table: &'a mut ResourceTable,
}

fn as_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl NnTaskCtx {
    pub(crate) fn new(
        host: NnHost,
        policy: &TaskPolicy,
        access: ModelAccess,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            host,
            deadline,
            access,
            max_compute_output_bytes: as_usize(policy.max_compute_output_bytes),
            max_task_tensor_bytes: as_usize(policy.max_task_tensor_bytes),
            max_compute_memory_bytes: as_usize(policy.max_compute_memory_bytes),
            held_bytes: 0,
            host_memory: HostMemory::new(policy.max_host_memory_bytes),
            used: Vec::new(),
        }
    }

    /// Counts the task's tensors and computes against `host_memory`, the
    /// count the rest of the task shares, instead of one of its own.
    pub fn with_host_memory(mut self, host_memory: HostMemory) -> Self {
        self.host_memory = host_memory;
        self
    }

    /// The task's host-memory count.
    pub fn host_memory(&self) -> &HostMemory {
        &self.host_memory
    }

    /// The host this task runs on.
    pub fn host(&self) -> &NnHost {
        &self.host
    }

    /// The providers the task's inferences ran on, one entry per `compute`.
    pub fn providers_used(&self) -> &[ProviderUse] {
        &self.used
    }

    /// Tensor bytes the task holds in the host now.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Gives back what `tensor` held: its bytes leave both the tensor count
    /// and the host-memory count.
    pub(crate) fn release(&mut self, tensor: &Tensor) {
        self.release_tensor_count(tensor);
        self.host_memory.release(tensor.held_bytes() as u64);
    }

    /// Takes `tensor` off the tensor count only: a compute's inputs, whose
    /// host memory stays counted until the compute is over.
    pub(crate) fn release_tensor_count(&mut self, tensor: &Tensor) {
        if tensor.refusal().is_none() {
            self.held_bytes = self.held_bytes.saturating_sub(tensor.held_bytes());
        }
    }

    /// A tensor the guest built (data and dimensions), counted against the
    /// task's tensor cap and its host memory. Over either it is kept without
    /// its data, and `compute` reports why; only when even its dimensions do
    /// not fit the host memory is it an error (the constructor cannot return
    /// one, so the task stops with it).
    pub fn new_tensor(
        &mut self,
        dims: Vec<u32>,
        ty: TensorType,
        data: Vec<u8>,
    ) -> Result<Tensor, HostMemoryExceeded> {
        let cap = self.max_task_tensor_bytes;
        let len = data.len().saturating_add(dims.len().saturating_mul(4));
        let would_hold = self.held_bytes.saturating_add(len);
        let why = if would_hold > cap {
            format!(
                "a tensor of {len} bytes would take the task's tensors to {would_hold} bytes, \
                 over the task's cap of {cap} bytes (max_task_tensor_bytes)"
            )
        } else {
            match self.host_memory.try_hold(len as u64, "a tensor") {
                Ok(()) => {
                    self.held_bytes = would_hold;
                    return Ok(Tensor::new(dims, ty, data));
                }
                Err(e) => e.to_string(),
            }
        };
        drop(data);
        let refused = Tensor::refused(dims, ty, why);
        self.host_memory
            .try_hold(refused.held_bytes() as u64, "a refused tensor's dimensions")?;
        Ok(refused)
    }

    /// `wasi:nn/graph.load-by-name`: `name` is the 64-hex BLAKE3 hash of a
    /// model the task may open and the host holds (or its source has).
    pub fn load_by_name(&mut self, name: &str) -> Result<Graph, NnError> {
        let hash: ContentHash = name.parse().map_err(|e| {
            NnError::new(
                ErrorCode::NotFound,
                format!("model name {name:?} is not a content hash: {e}"),
            )
        })?;
        if let ModelAccess::Only(allowed) = &self.access
            && !allowed.contains(&hash)
        {
            return Err(NnError::new(
                ErrorCode::Security,
                format!(
                    "model {hash} is not among the models this task may open (the ones its \
                     plugin declares and its task names)"
                ),
            ));
        }
        let model = self.host.open(hash)?.ok_or_else(|| {
            NnError::new(
                ErrorCode::NotFound,
                format!("model {hash} is not held by this node"),
            )
        })?;
        Ok(Graph { model })
    }

    /// `wasi:nn/graph.load`: model bytes from the guest, only when the node
    /// allows it, only ONNX, only under the size cap. The graph lives as long
    /// as the guest holds it and is not added to the host's table.
    pub fn load(
        &mut self,
        builders: Vec<Vec<u8>>,
        encoding: GraphEncoding,
        _target: ExecutionTarget,
    ) -> Result<Graph, NnError> {
        let inner = &self.host.inner;
        let settings = &inner.settings;
        if !settings.allow_raw_load {
            return Err(NnError::new(
                ErrorCode::Security,
                "loading model bytes from a plugin is disabled on this node; open a model by its \
                 hash with load-by-name",
            ));
        }
        if !matches!(encoding, GraphEncoding::Onnx | GraphEncoding::Autodetect) {
            return Err(NnError::new(
                ErrorCode::InvalidEncoding,
                format!("this node runs ONNX models only, not {encoding:?}"),
            ));
        }
        let [bytes] = <[Vec<u8>; 1]>::try_from(builders).map_err(|b| {
            NnError::invalid(format!(
                "an ONNX model is one buffer, got {} buffers",
                b.len()
            ))
        })?;
        if bytes.len() > settings.max_raw_model_bytes {
            return Err(NnError::new(
                ErrorCode::TooLarge,
                format!(
                    "the model is {} bytes, over this node's cap of {} bytes for plugin-supplied models",
                    bytes.len(),
                    settings.max_raw_model_bytes
                ),
            ));
        }
        let hash = ContentHash::of(&bytes);
        let bytes: Arc<[u8]> = bytes.into();
        let model = Model::new(
            inner.env.clone(),
            settings.clone(),
            hash,
            &bytes,
            Source::Bytes(bytes.clone()),
            false,
        )
        .map_err(|e| match e {
            SetupError::Undeclared { .. } => NnError::new(ErrorCode::Security, e.to_string()),
            e => NnError::new(
                ErrorCode::InvalidEncoding,
                format!("the model bytes are not a model ONNX Runtime can open: {e}"),
            ),
        })?;
        Ok(Graph {
            model: Arc::new(model),
        })
    }

    /// `wasi:nn/graph.init-execution-context`.
    pub fn init_execution_context(
        &mut self,
        graph: &Graph,
    ) -> Result<GraphExecutionContext, NnError> {
        Ok(GraphExecutionContext {
            model: graph.model.clone(),
        })
    }

    /// `wasi:nn/inference.compute`: checks every input against the model's
    /// declared inputs, runs the model under the deadline and returns all
    /// outputs (counted against the task's budget).
    pub fn compute(
        &mut self,
        exec: &GraphExecutionContext,
        mut inputs: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, Tensor)>, NnError> {
        let model = &exec.model;
        let inner = &self.host.inner;
        let hash = model.info.hash;
        check_inputs(&model.info, &inputs)?;
        if let Bounds::Declared(limits) = &model.bounds {
            for (name, t) in &inputs {
                limits.check(&hash, name, t.dimensions())?;
            }
        }

        let now = Instant::now();
        let deadline = match (self.deadline, inner.settings.call_timeout.map(|t| now + t)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if deadline.is_some_and(|d| d <= now) {
            return Err(NnError::new(
                ErrorCode::Timeout,
                format!("model {hash}: the task's deadline has passed"),
            ));
        }

        let mut lease = model.lease(deadline)?;
        let run_micros;
        let meter;
        let outputs = {
            let values = marshal::ort_inputs(&inner.cpu, &mut inputs)?;
            let pooled = lease.pooled();
            // A termination that landed after the previous run ended (its
            // deadline, or its memory budget) must not stop this one.
            pooled
                .run_options
                .unterminate()
                .map_err(|e| NnError::runtime(format!("resetting run options: {e}")))?;
            let _armed = deadline.map(|d| inner.watchdog.arm(d, pooled.run_options.clone()));
            // One compute may take its own budget, or what is left of the
            // task's host memory, whichever is less.
            let held = self.host_memory.held();
            let host_left = as_usize(self.host_memory.limit().saturating_sub(held));
            let budget = self.max_compute_memory_bytes.min(host_left);
            meter = Meter::new(budget, pooled.run_options.clone());
            let started = Instant::now();
            let result = {
                let _metered = Metered::start(&meter);
                pooled
                    .session
                    .run_with_options(values, pooled.run_options.as_ref())
            };
            run_micros = started.elapsed().as_micros() as u64;
            self.host_memory.note_transient(meter.peak() as u64);
            if meter.over() {
                let why = if budget < self.max_compute_memory_bytes {
                    format!(
                        "what is left of the task's host memory, {budget} bytes \
                         (max_host_memory_bytes {} less {held} held)",
                        self.host_memory.limit()
                    )
                } else {
                    format!(
                        "the task's budget of {budget} bytes for one compute \
                         (max_compute_memory_bytes)"
                    )
                };
                let (verb, how) = match (&result, working_memory::refuses_past_budget()) {
                    (Ok(_), _) => ("reached", "finished"),
                    (Err(_), true) => ("would have reached", "refused the block and stopped"),
                    (Err(_), false) => ("reached", "stopped"),
                };
                return Err(NnError::new(
                    ErrorCode::TooLarge,
                    format!(
                        "model {hash}: ONNX Runtime's working memory {verb} {} bytes, over {why}; \
                         {how} after {} ms",
                        meter.wanted(),
                        run_micros / 1000
                    ),
                ));
            }
            match result {
                Ok(o) => o
                    .into_iter()
                    .map(|(name, value)| (name.to_string(), value))
                    .collect::<Vec<_>>(),
                Err(e) => {
                    if let Some(d) = deadline.filter(|&d| Instant::now() >= d) {
                        return Err(NnError::new(
                            ErrorCode::Timeout,
                            format!(
                                "model {hash}: stopped at its deadline, {} ms late, after {} ms \
                                 in ONNX Runtime ({e})",
                                Instant::now().saturating_duration_since(d).as_millis(),
                                run_micros / 1000
                            ),
                        ));
                    }
                    return Err(NnError::runtime(format!("model {hash}: ONNX Runtime: {e}")));
                }
            }
        };
        drop(lease);

        let result = marshal::outputs(hash, outputs, self.max_compute_output_bytes)?;
        let total: usize = result.iter().map(|(_, t)| t.held_bytes()).sum();
        let held = self.held_bytes.saturating_add(total);
        if held > self.max_task_tensor_bytes {
            return Err(NnError::new(
                ErrorCode::TooLarge,
                format!(
                    "model {hash}: {total} output bytes would take the task's tensors to {held} \
                     bytes, over the task's cap of {} bytes (max_task_tensor_bytes)",
                    self.max_task_tensor_bytes
                ),
            ));
        }
        if let Err(e) = self.host_memory.try_hold(total as u64, "the outputs") {
            return Err(NnError::new(
                ErrorCode::TooLarge,
                format!("model {hash}: {e}"),
            ));
        }
        self.held_bytes = held;
        self.used.push(ProviderUse {
            model: hash,
            provider: model.info.execution_provider,
            micros: run_micros,
            peak_bytes: meter.peak() as u64,
        });
        Ok(result)
    }
}

/// Checks names, element types, ranks, fixed dimensions and byte lengths
/// before ONNX Runtime sees anything.
fn check_inputs(info: &ModelInfo, inputs: &[(String, Tensor)]) -> Result<(), NnError> {
    let hash = info.hash;
    for (i, (name, t)) in inputs.iter().enumerate() {
        if let Some(why) = t.refusal() {
            return Err(NnError::new(
                ErrorCode::TooLarge,
                format!("input {name:?}: {why}"),
            ));
        }
        if inputs[..i].iter().any(|(n, _)| n == name) {
            return Err(NnError::invalid(format!("input {name:?} is given twice")));
        }
        let Some(decl) = info.inputs.iter().find(|d| d.name == *name) else {
            let names: Vec<&str> = info.inputs.iter().map(|d| d.name.as_str()).collect();
            return Err(NnError::invalid(format!(
                "model {hash} has no input {name:?}; its inputs are {names:?}"
            )));
        };
        match decl.ort_type.and_then(tensor::from_ort) {
            None => {
                return Err(NnError::new(
                    ErrorCode::UnsupportedOperation,
                    format!(
                        "model {hash}: input {name:?} has element type {}, which wasi-nn cannot express",
                        decl.dtype
                    ),
                ));
            }
            Some(want) if decl.ort_type == Some(ort::value::TensorElementType::Bool) => {
                // bool travels as u8.
                if t.ty() != want {
                    return Err(NnError::invalid(format!(
                        "input {name:?} of model {hash} is bool (send u8), got {}",
                        tensor::type_name(t.ty())
                    )));
                }
            }
            Some(want) if want != t.ty() => {
                return Err(NnError::invalid(format!(
                    "input {name:?} of model {hash} is {}, got {}",
                    tensor::type_name(want),
                    tensor::type_name(t.ty())
                )));
            }
            Some(_) => {}
        }
        let dims = t.dimensions();
        if dims.len() != decl.shape.len() {
            return Err(NnError::invalid(format!(
                "input {name:?} of model {hash} has rank {} (shape {:?}), got rank {} (dimensions {dims:?})",
                decl.shape.len(),
                decl.shape,
                dims.len()
            )));
        }
        for (axis, (&want, &got)) in decl.shape.iter().zip(dims).enumerate() {
            if want >= 0 && want != i64::from(got) {
                return Err(NnError::invalid(format!(
                    "input {name:?} of model {hash} has shape {:?}, got dimensions {dims:?} \
                     (axis {axis} must be {want})",
                    decl.shape
                )));
            }
        }
        let Some(expected) = tensor::expected_bytes(dims, t.ty()) else {
            return Err(NnError::new(
                ErrorCode::TooLarge,
                format!(
                    "input {name:?}: dimensions {dims:?} describe a tensor too large to address"
                ),
            ));
        };
        if t.ort_value().is_none() && t.bytes().len() != expected {
            return Err(NnError::invalid(format!(
                "input {name:?}: dimensions {dims:?} of {} need {expected} bytes, got {}",
                tensor::type_name(t.ty()),
                t.bytes().len()
            )));
        }
    }
    for decl in &info.inputs {
        if !inputs.iter().any(|(n, _)| *n == decl.name) {
            return Err(NnError::invalid(format!(
                "model {hash} needs input {:?} ({} {:?}), which was not given",
                decl.name, decl.dtype, decl.shape
            )));
        }
    }
    Ok(())
}
