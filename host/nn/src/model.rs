//! Models: what the host knows about each (inputs, outputs, execution
//! provider) and a small pool of ONNX Runtime sessions per model.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use clusterai_types::{BlobSource, ContentHash, ExecutionProvider};
use ort::environment::Environment;
use ort::ep;
use ort::session::{RunOptions, Session};
use ort::value::{TensorElementType, ValueType};
use serde::{Deserialize, Serialize};

use crate::error::{NnError, SetupError};
use crate::limits::{Bounds, InputLimits};
use crate::settings::{Accelerator, CudaFallback, NnSettings};
use crate::tensor;
use crate::wit::{ErrorCode, TensorType};

/// One declared input or output of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// Its name in the graph.
    pub name: String,
    /// Its element type: a wasi-nn short name (`f32`, `i64`, ...) or, when
    /// wasi-nn cannot express it, the ONNX name (`string`, `int8`, ...).
    pub dtype: String,
    /// Its shape; `-1` marks a dynamic dimension.
    pub shape: Vec<i64>,
    /// The element type as ONNX Runtime names it.
    #[serde(skip)]
    pub(crate) ort_type: Option<TensorElementType>,
}

impl TensorInfo {
    fn from_outlet(name: &str, ty: &ValueType) -> Self {
        match ty {
            ValueType::Tensor { ty, shape, .. } => Self {
                name: name.to_string(),
                dtype: tensor::from_ort(*ty)
                    .filter(|_| *ty != TensorElementType::Bool)
                    .map_or_else(
                        || tensor::ort_type_name(*ty).to_string(),
                        |t| tensor::type_name(t).to_string(),
                    ),
                shape: shape.iter().copied().collect(),
                ort_type: Some(*ty),
            },
            other => Self {
                name: name.to_string(),
                dtype: format!("{other}"),
                shape: Vec::new(),
                ort_type: None,
            },
        }
    }

    /// The wasi-nn type a guest must use for this input, if there is one.
    pub fn wasi_nn_type(&self) -> Option<TensorType> {
        self.ort_type.and_then(tensor::from_ort)
    }
}

/// What the host knows about a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The BLAKE3 hash of the model file: the name guests load it by.
    pub hash: ContentHash,
    /// The file's size in bytes.
    pub size: u64,
    /// The graph inputs, in order.
    pub inputs: Vec<TensorInfo>,
    /// The graph outputs, in order.
    pub outputs: Vec<TensorInfo>,
    /// The provider the model's sessions run on.
    pub execution_provider: ExecutionProvider,
    /// Why CUDA was asked for and CPU is used, when that fallback happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// The largest inputs the model runs on; `None`: not declared, so its
    /// computes are bounded only by their deadline, between operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_limits: Option<InputLimits>,
}

/// Where a pool gets the model bytes for a new session.
#[derive(Debug)]
pub(crate) enum Source {
    /// The node's blob source; read and verified again for each new session.
    Blob(Arc<dyn BlobSource>),
    /// Bytes held in memory: added by a host caller, or passed by a guest to
    /// `load` (raw loading enabled).
    Bytes(Arc<[u8]>),
}

/// A session with the run options reused for each of its runs (terminated
/// by the watchdog at a deadline, reset before the next run).
pub(crate) struct Pooled {
    pub(crate) session: Session,
    pub(crate) run_options: Arc<RunOptions>,
}

impl Pooled {
    fn new(session: Session) -> Result<Self, SetupError> {
        Ok(Self {
            session,
            run_options: Arc::new(RunOptions::new()?),
        })
    }
}

struct PoolState {
    idle: Vec<Pooled>,
    created: usize,
}

/// A loaded model: its metadata and a pool of sessions.
pub(crate) struct Model {
    pub(crate) info: ModelInfo,
    pub(crate) bounds: Bounds,
    source: Source,
    env: Environment,
    settings: Arc<NnSettings>,
    state: Mutex<PoolState>,
    returned: Condvar,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("info", &self.info)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// A session on loan from a pool; goes back on drop.
pub(crate) struct Lease<'a> {
    model: &'a Model,
    session: Option<Pooled>,
}

impl Lease<'_> {
    pub(crate) fn pooled(&mut self) -> &mut Pooled {
        // Always `Some` until drop.
        self.session.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            lock(&self.model.state).idle.push(s);
            self.model.returned.notify_one();
        }
    }
}

fn lock(m: &Mutex<PoolState>) -> std::sync::MutexGuard<'_, PoolState> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Model {
    /// Builds the first session from `bytes` (already verified to hash to
    /// `hash`) and reads the model's metadata from it. The settings' limits
    /// for `hash` bound it; without them it opens only when `vouched` (a
    /// host caller added it) or the settings allow undeclared models.
    pub(crate) fn new(
        env: Environment,
        settings: Arc<NnSettings>,
        hash: ContentHash,
        bytes: &[u8],
        source: Source,
        vouched: bool,
    ) -> Result<Self, SetupError> {
        let declared = settings.input_limits.get(&hash).cloned();
        if declared.is_none() && !vouched && !settings.allow_undeclared_models {
            return Err(SetupError::Undeclared { hash });
        }
        let (session, execution_provider, fallback) = build_session(&env, &settings, bytes)?;
        let inputs: Vec<TensorInfo> = session
            .inputs()
            .iter()
            .map(|o| TensorInfo::from_outlet(o.name(), o.dtype()))
            .collect();
        let bounds = match &declared {
            Some(limits) => {
                limits
                    .validate(&inputs)
                    .map_err(|why| SetupError::BadLimits { hash, why })?;
                Bounds::Declared(limits.clone())
            }
            None => Bounds::Unbounded,
        };
        let outputs = session
            .outputs()
            .iter()
            .map(|o| TensorInfo::from_outlet(o.name(), o.dtype()))
            .collect();
        let info = ModelInfo {
            hash,
            size: bytes.len() as u64,
            inputs,
            outputs,
            execution_provider,
            fallback,
            input_limits: declared,
        };
        Ok(Self {
            info,
            bounds,
            source,
            env,
            settings,
            state: Mutex::new(PoolState {
                idle: vec![Pooled::new(session)?],
                created: 1,
            }),
            returned: Condvar::new(),
        })
    }

    /// Borrows a session: an idle one, else a new one while the pool is not
    /// full, else waits for one until `deadline`.
    pub(crate) fn lease(&self, deadline: Option<Instant>) -> Result<Lease<'_>, NnError> {
        let mut st = lock(&self.state);
        loop {
            if let Some(s) = st.idle.pop() {
                return Ok(Lease {
                    model: self,
                    session: Some(s),
                });
            }
            if st.created < self.settings.sessions_per_model.max(1) {
                st.created += 1;
                drop(st);
                return match self.grow() {
                    Ok(s) => Ok(Lease {
                        model: self,
                        session: Some(s),
                    }),
                    Err(e) => {
                        lock(&self.state).created -= 1;
                        Err(NnError::runtime(format!(
                            "model {}: could not open another session: {e}",
                            self.info.hash
                        )))
                    }
                };
            }
            st = match deadline {
                None => self
                    .returned
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(NnError::new(
                            ErrorCode::Timeout,
                            format!(
                                "model {}: the deadline passed while waiting for a free session",
                                self.info.hash
                            ),
                        ));
                    }
                    self.returned
                        .wait_timeout(st, d - now)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0)
                }
            };
        }
    }

    fn grow(&self) -> Result<Pooled, SetupError> {
        let (session, _, _) = match &self.source {
            Source::Bytes(b) => build_session(&self.env, &self.settings, b)?,
            Source::Blob(source) => {
                let bytes = source
                    .read(&self.info.hash, self.settings.max_model_file_bytes)
                    .map_err(|e| SetupError::Source {
                        hash: self.info.hash,
                        source: e,
                    })?
                    .ok_or(SetupError::Vanished {
                        hash: self.info.hash,
                    })?;
                build_session(&self.env, &self.settings, &bytes)?
            }
        };
        Pooled::new(session)
    }
}

/// Reads `path`, refusing files over `cap` bytes.
pub(crate) fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, SetupError> {
    let io = |source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > cap {
        return Err(SetupError::TooLarge {
            what: path.display().to_string(),
            size,
            cap,
        });
    }
    std::fs::read(path).map_err(io)
}

/// Builds one session with the node's settings; returns the provider that
/// runs it and, if CUDA was asked for but CPU is used, why.
pub(crate) fn build_session(
    env: &Environment,
    settings: &NnSettings,
    bytes: &[u8],
) -> Result<(Session, ExecutionProvider, Option<String>), SetupError> {
    let mut builder = Session::builder(env)?
        .with_intra_threads(settings.intra_op_threads.max(1))?
        .with_inter_threads(settings.inter_op_threads.max(1))?
        .with_log_level(ort::logging::LogLevel::Error)?
        // CPU blocks come from the counting allocator (`working_memory`).
        .with_env_allocators()?;
    let mut provider = ExecutionProvider::Cpu;
    let mut fallback = None;
    if let Accelerator::Cuda { device_id } = settings.accelerator {
        let cuda = ep::CUDA::default()
            .with_device_id(device_id)
            .build()
            .error_on_failure();
        match builder.with_execution_providers([cuda]) {
            Ok(b) => {
                builder = b;
                provider = ExecutionProvider::Cuda;
            }
            Err(e) => {
                let why = e.message().to_string();
                match settings.cuda_fallback {
                    CudaFallback::Error => return Err(SetupError::CudaUnavailable { why }),
                    CudaFallback::UseCpu => {
                        tracing::warn!(
                            "CUDA execution provider unavailable ({why}); this session runs on CPU \
                             because the settings allow the fallback"
                        );
                        builder = e.recover();
                        fallback = Some(why);
                    }
                }
            }
        }
    }
    let session = builder.commit_from_memory(bytes)?;
    Ok((session, provider, fallback))
}
