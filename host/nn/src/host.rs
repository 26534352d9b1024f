//! [`NnHost`] (process-wide), [`NnTaskCtx`] (per task) and [`NnView`] (what
//! the linker sees), in the wasmtime-wasi `Ctx`/`View`/`add_to_linker` pattern.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use clusterai_types::ContentHash;
use ort::environment::Environment;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::SessionInputValue;
use ort::value::{DynTensor, Shape, TensorRefMut};
use wasmtime::component::ResourceTable;

use crate::error::{NnError, SetupError};
use crate::model::{self, Model, ModelInfo, ProviderKind, Source};
use crate::settings::NnSettings;
use crate::tensor::{self, Tensor};
use crate::watchdog::Watchdog;
use crate::wit::{ErrorCode, ExecutionTarget, GraphEncoding, TensorType};

/// The node's wasi-nn service: ONNX Runtime, the settings and the table of
/// vetted models. Cheap to clone; shared by all tasks.
#[derive(Clone, Debug)]
pub struct NnHost {
    inner: Arc<Inner>,
}

struct Inner {
    env: Environment,
    library: PathBuf,
    settings: Arc<NnSettings>,
    models: RwLock<HashMap<ContentHash, Arc<Model>>>,
    watchdog: Watchdog,
    /// Describes host buffers handed to ONNX Runtime in place.
    cpu: MemoryInfo<'static>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NnHost")
            .field("library", &self.library)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

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

/// One inference a task ran: which model, on which provider. For receipts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderUse {
    /// The model.
    pub model: ContentHash,
    /// The provider that ran it.
    pub provider: ProviderKind,
}

impl NnHost {
    /// Loads ONNX Runtime (once per process) and starts an empty model table.
    pub fn new(settings: NnSettings) -> Result<Self, SetupError> {
        let library = settings
            .ort_library
            .clone()
            .unwrap_or_else(crate::ortlib::library_path);
        let env = crate::ortlib::environment(&library)?;
        let cpu = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Arena,
            MemoryType::Default,
        )?;
        let watchdog = Watchdog::start()
            .map_err(|e| SetupError::Ort(format!("starting the watchdog thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                env,
                library,
                settings: Arc::new(settings),
                models: RwLock::new(HashMap::new()),
                watchdog,
                cpu,
            }),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &NnSettings {
        &self.inner.settings
    }

    /// The ONNX Runtime library in use.
    pub fn library(&self) -> &Path {
        &self.inner.library
    }

    /// Hashes the model file at `path`, opens it (checking that ONNX Runtime
    /// accepts it) and adds it to the table under its BLAKE3 hash.
    pub fn add_model_file(&self, path: &Path) -> Result<ContentHash, SetupError> {
        let bytes = model::read_capped(path, self.inner.settings.max_model_file_bytes)?;
        let hash = ContentHash::of(&bytes);
        self.insert(hash, &bytes, Source::File(path.to_path_buf()))?;
        Ok(hash)
    }

    /// Adds the model at `path`, which must hash to `hash` (a store keeps
    /// files under their hash: this is where a tampered file is caught).
    pub fn add_model_file_as(&self, hash: ContentHash, path: &Path) -> Result<(), SetupError> {
        let bytes = model::read_verified(path, &hash, self.inner.settings.max_model_file_bytes)?;
        self.insert(hash, &bytes, Source::File(path.to_path_buf()))
    }

    /// Adds every `<64-hex>.onnx` file of `dir` (the layout of
    /// [`crate::store::ModelStore`]), each verified against its name.
    /// Returns the hashes added.
    pub fn add_models_from_dir(&self, dir: &Path) -> Result<Vec<ContentHash>, SetupError> {
        let store = crate::store::ModelStore::at(dir.to_path_buf());
        let mut added = Vec::new();
        for (hash, path) in store.list().map_err(|source| SetupError::Io {
            path: dir.to_path_buf(),
            source,
        })? {
            self.add_model_file_as(hash, &path)?;
            added.push(hash);
        }
        Ok(added)
    }

    /// Whether the host holds model `hash`, opening it from the settings'
    /// `model_dir` first when that has `<hash>.onnx` (verified against the
    /// hash, then kept): `false` when neither has it, an error when the file
    /// is there but cannot be opened. Runs before every task, so it copies
    /// nothing.
    pub fn ensure_model(&self, hash: &ContentHash) -> Result<bool, NnError> {
        Ok(self.open_from_model_dir(*hash)?.is_some())
    }

    fn open_from_model_dir(&self, hash: ContentHash) -> Result<Option<Arc<Model>>, NnError> {
        if let Some(model) = self.read_models().get(&hash).cloned() {
            return Ok(Some(model));
        }
        let Some(dir) = &self.inner.settings.model_dir else {
            return Ok(None);
        };
        let path = crate::store::ModelStore::at(dir.clone()).path_of(&hash);
        if !path.is_file() {
            return Ok(None);
        }
        self.add_model_file_as(hash, &path).map_err(|e| {
            NnError::new(
                ErrorCode::NotFound,
                format!("model {hash} in {} cannot be opened: {e}", path.display()),
            )
        })?;
        Ok(self.read_models().get(&hash).cloned())
    }

    fn insert(&self, hash: ContentHash, bytes: &[u8], source: Source) -> Result<(), SetupError> {
        if self.read_models().contains_key(&hash) {
            return Ok(());
        }
        let model = Model::new(
            self.inner.env.clone(),
            self.inner.settings.clone(),
            hash,
            bytes,
            source,
        )?;
        tracing::info!(model = %hash, provider = %model.info.execution_provider, "model added");
        self.inner
            .models
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(hash, Arc::new(model));
        Ok(())
    }

    fn read_models(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ContentHash, Arc<Model>>> {
        self.inner
            .models
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The metadata of a model in the table.
    pub fn model_info(&self, hash: &ContentHash) -> Option<ModelInfo> {
        self.read_models().get(hash).map(|m| m.info.clone())
    }

    /// The metadata of every model in the table.
    pub fn models(&self) -> Vec<ModelInfo> {
        let mut v: Vec<_> = self
            .read_models()
            .values()
            .map(|m| m.info.clone())
            .collect();
        v.sort_by_key(|m| m.hash);
        v
    }

    /// State for one task; `deadline` bounds every `compute` of the task.
    pub fn task_ctx(&self, deadline: Option<Instant>) -> NnTaskCtx {
        NnTaskCtx {
            host: self.clone(),
            deadline,
            held_bytes: 0,
            used: Vec::new(),
        }
    }
}

/// The wasi-nn state of one task: the host, the task's deadline, the tensor
/// bytes it holds and the providers its inferences ran on.
#[derive(Debug)]
pub struct NnTaskCtx {
    host: NnHost,
    deadline: Option<Instant>,
    held_bytes: usize,
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

impl NnTaskCtx {
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

    pub(crate) fn release_bytes(&mut self, n: usize) {
        self.held_bytes = self.held_bytes.saturating_sub(n);
    }

    /// A tensor the guest built, counted against the task's budget; over the
    /// budget it is kept without its data and `compute` reports why.
    pub fn new_tensor(&mut self, dims: Vec<u32>, ty: TensorType, data: Vec<u8>) -> Tensor {
        let cap = self.host.inner.settings.max_task_tensor_bytes;
        let len = data.len();
        if self.held_bytes.saturating_add(len) > cap {
            return Tensor::refused(
                dims,
                ty,
                format!(
                    "a tensor of {len} bytes would take the task's tensors to {} bytes, over the \
                     node's cap of {cap} bytes",
                    self.held_bytes.saturating_add(len)
                ),
            );
        }
        self.held_bytes += len;
        Tensor::new(dims, ty, data)
    }

    /// `wasi:nn/graph.load-by-name`: `name` is the 64-hex BLAKE3 hash of a
    /// model in the host's table.
    pub fn load_by_name(&mut self, name: &str) -> Result<Graph, NnError> {
        let hash: ContentHash = name.parse().map_err(|e| {
            NnError::new(
                ErrorCode::NotFound,
                format!("model name {name:?} is not a content hash: {e}"),
            )
        })?;
        let model = self.host.open_from_model_dir(hash)?.ok_or_else(|| {
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
        let settings = &self.host.inner.settings;
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
            self.host.inner.env.clone(),
            settings.clone(),
            hash,
            &bytes,
            Source::Bytes(bytes.clone()),
        )
        .map_err(|e| {
            NnError::new(
                ErrorCode::InvalidEncoding,
                format!("the model bytes are not a model ONNX Runtime can open: {e}"),
            )
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
        let settings = &self.host.inner.settings;
        let hash = model.info.hash;
        check_inputs(&model.info, &inputs)?;

        let now = Instant::now();
        let deadline = match (self.deadline, settings.call_timeout.map(|t| now + t)) {
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
        let outputs = {
            let values = ort_inputs(&self.host.inner.cpu, &mut inputs)?;
            let pooled = lease.pooled();
            let _armed = match deadline {
                Some(d) => {
                    // A termination that landed after the previous run ended
                    // must not stop this one.
                    pooled
                        .run_options
                        .unterminate()
                        .map_err(|e| NnError::runtime(format!("resetting run options: {e}")))?;
                    Some(self.host.inner.watchdog.arm(d, pooled.run_options.clone()))
                }
                None => None,
            };
            let result = match deadline {
                Some(_) => pooled
                    .session
                    .run_with_options(values, pooled.run_options.as_ref()),
                None => pooled.session.run(values),
            };
            let outputs = match result {
                Ok(o) => o,
                Err(e) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(NnError::new(
                            ErrorCode::Timeout,
                            format!("model {hash}: terminated at the deadline ({e})"),
                        ));
                    }
                    return Err(NnError::runtime(format!("model {hash}: ONNX Runtime: {e}")));
                }
            };
            let mut out = Vec::with_capacity(outputs.len());
            for (name, value) in outputs {
                out.push((name.to_string(), value));
            }
            out
        };
        drop(lease);

        let mut total = 0usize;
        let mut result = Vec::with_capacity(outputs.len());
        for (name, value) in outputs {
            let tensor = value
                .downcast::<ort::value::DynTensorValueType>()
                .map_err(|_| {
                    NnError::new(
                        ErrorCode::UnsupportedOperation,
                        format!("model {hash}: output {name:?} is not a tensor"),
                    )
                })
                .and_then(|t: DynTensor| {
                    Tensor::from_ort(t).map_err(|why| {
                        NnError::new(
                            ErrorCode::UnsupportedOperation,
                            format!("model {hash}: output {name:?} {why}"),
                        )
                    })
                })?;
            total = total.saturating_add(tensor.held_bytes());
            if total > settings.max_output_bytes {
                return Err(NnError::new(
                    ErrorCode::TooLarge,
                    format!(
                        "model {hash}: outputs exceed this node's cap of {} bytes per compute",
                        settings.max_output_bytes
                    ),
                ));
            }
            result.push((name, tensor));
        }
        let held = self.held_bytes.saturating_add(total);
        if held > settings.max_task_tensor_bytes {
            return Err(NnError::new(
                ErrorCode::TooLarge,
                format!(
                    "model {hash}: {total} output bytes would take the task's tensors to {held} \
                     bytes, over the node's cap of {} bytes",
                    settings.max_task_tensor_bytes
                ),
            ));
        }
        self.held_bytes = held;
        self.used.push(ProviderUse {
            model: hash,
            provider: model.info.execution_provider,
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

/// Wraps checked input tensors as ONNX Runtime values: in place when the
/// bytes are aligned for their element type, else copied once into an
/// ONNX Runtime buffer.
fn ort_inputs<'a>(
    cpu: &MemoryInfo<'static>,
    inputs: &'a mut [(String, Tensor)],
) -> Result<Vec<(Cow<'a, str>, SessionInputValue<'a>)>, NnError> {
    let mut values = Vec::with_capacity(inputs.len());
    for (name, t) in inputs.iter_mut() {
        let ty = t.ty();
        let shape = Shape::new(t.dimensions().iter().map(|&d| i64::from(d)));
        let value: SessionInputValue<'_> = if t.ort_value().is_some() {
            let v = t
                .ort_value()
                .ok_or_else(|| NnError::invalid(format!("input {name:?} holds no data")))?;
            SessionInputValue::from(v.view())
        } else {
            let bytes = t
                .host_bytes_mut()
                .ok_or_else(|| NnError::invalid(format!("input {name:?} holds no data")))?;
            borrowed_or_copied(cpu, bytes, ty, shape)
                .map_err(|e| NnError::runtime(format!("input {name:?}: ONNX Runtime: {e}")))?
        };
        values.push((Cow::Borrowed(name.as_str()), value));
    }
    Ok(values)
}

fn borrowed_or_copied<'a>(
    cpu: &MemoryInfo,
    bytes: &'a mut Vec<u8>,
    ty: TensorType,
    shape: Shape,
) -> ort::Result<SessionInputValue<'a>> {
    let align = tensor::element_size(ty);
    let aligned = (bytes.as_ptr() as usize).is_multiple_of(align);
    // Element counts of zero give a null-ish pointer ONNX Runtime may refuse;
    // those take the copy path too (it copies nothing).
    if aligned && !bytes.is_empty() {
        macro_rules! view {
            ($t:ty) => {{
                // SAFETY: `check_inputs` verified that `bytes` holds exactly
                // `shape`'s element count times `size_of::<$t>()` bytes; the
                // pointer is aligned for `$t` (checked above); the returned
                // value borrows `bytes` mutably for 'a, so the buffer outlives
                // the run and nothing else touches it meanwhile. Every bit
                // pattern is a valid value of these numeric types.
                let v: TensorRefMut<'a, $t> = unsafe {
                    TensorRefMut::from_raw(cpu.clone(), bytes.as_mut_ptr().cast(), shape.clone())?
                };
                Some(SessionInputValue::from(v))
            }};
        }
        let v = match ty {
            TensorType::Fp32 => view!(f32),
            TensorType::Fp64 => view!(f64),
            TensorType::U8 => view!(u8),
            TensorType::I32 => view!(i32),
            TensorType::I64 => view!(i64),
            TensorType::Fp16 | TensorType::Bf16 => None,
        };
        if let Some(v) = v {
            return Ok(v);
        }
    }
    let mut t = DynTensor::new(&Allocator::default(), tensor::to_ort(ty), shape)?;
    let dst = t.data_ptr_mut().cast::<u8>();
    if !bytes.is_empty() && !dst.is_null() {
        // SAFETY: ONNX Runtime allocated `dst` for the tensor's element count
        // times the element size, which `check_inputs` verified equals
        // `bytes.len()`; the two buffers are distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    }
    Ok(SessionInputValue::from(t))
}
