//! The node operator's settings for wasi-nn: process-wide choices (library,
//! threads, accelerator, session pools, caps on model files). Per-task
//! bounds (output bytes per compute, tensor bytes per task, the models a
//! task may open) live in the task's `TaskPolicy`. Defaults deny what is
//! risky (raw model bytes from guests) and bound every resource.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clusterai_types::{BlobSource, ContentHash};

use crate::limits::InputLimits;

/// Where sessions should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accelerator {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// NVIDIA CUDA on the given device (needs the GPU build of ONNX Runtime
    /// and its CUDA libraries).
    Cuda {
        /// The CUDA device ordinal.
        device_id: i32,
    },
}

/// What to do when CUDA is asked for and cannot be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CudaFallback {
    /// Refuse to open the model, with an error naming the cause (default).
    Error,
    /// Run on CPU, log a warning and record the reason in [`crate::ModelInfo::fallback`].
    UseCpu,
}

/// Settings of an [`crate::NnHost`].
///
/// | setting | default |
/// |---|---|
/// | `ort_library` | `clusterai_types::env::ort_library()` (`$ORT_DYLIB_PATH`, else the pinned library in the cache) |
/// | `intra_op_threads` / `inter_op_threads` | 1 / 1 (ONNX Runtime's own default hurts on small shared machines) |
/// | `accelerator` | CPU |
/// | `cuda_fallback` | error |
/// | `sessions_per_model` | 2 |
/// | `call_timeout` | 60 s per `compute` (also bounded by the task deadline) |
/// | `allow_raw_load` | false: guests open models by hash only |
/// | `max_raw_model_bytes` | 16 MiB |
/// | `max_model_file_bytes` | 2 GiB |
/// | `model_source` | none: only models added to the host are opened |
/// | `input_limits` | the limits `models/models.toml` declares for the pinned models |
/// | `allow_undeclared_models` | false: a model from the source or a guest runs only with declared limits |
#[derive(Debug, Clone)]
pub struct NnSettings {
    /// The ONNX Runtime shared library; `None` takes `clusterai_types::env::ort_library()`.
    pub ort_library: Option<PathBuf>,
    /// Threads inside one operator, per session.
    pub intra_op_threads: usize,
    /// Threads across operators, per session.
    pub inter_op_threads: usize,
    /// Where sessions should run.
    pub accelerator: Accelerator,
    /// What to do when that is CUDA and CUDA cannot be used.
    pub cuda_fallback: CudaFallback,
    /// Sessions per model, so that concurrent tasks do not queue on one lock.
    pub sessions_per_model: usize,
    /// The longest one `compute` may run; ONNX Runtime is told to terminate it then.
    pub call_timeout: Option<Duration>,
    /// Whether guests may pass model bytes to `wasi:nn/graph.load`.
    pub allow_raw_load: bool,
    /// The largest model a guest may pass to `load`, when allowed.
    pub max_raw_model_bytes: usize,
    /// The largest model the host opens.
    pub max_model_file_bytes: u64,
    /// Where models a guest opens by hash come from when the host does not
    /// hold them yet (the node's blob store): read on first use, verified
    /// against the hash, and kept.
    pub model_source: Option<Arc<dyn BlobSource>>,
    /// The largest inputs each model runs on, by model hash: declared with
    /// the model, checked before every compute.
    pub input_limits: HashMap<ContentHash, InputLimits>,
    /// Whether a model without declared limits may be opened from the
    /// source or from a guest's bytes (a host caller's own models always
    /// may): such a model's compute can outrun its deadline by one
    /// operator of any size, and take any amount of memory.
    pub allow_undeclared_models: bool,
}

impl Default for NnSettings {
    fn default() -> Self {
        Self {
            ort_library: None,
            intra_op_threads: 1,
            inter_op_threads: 1,
            accelerator: Accelerator::Cpu,
            cuda_fallback: CudaFallback::Error,
            sessions_per_model: 2,
            call_timeout: Some(Duration::from_secs(60)),
            allow_raw_load: false,
            max_raw_model_bytes: 16 << 20,
            max_model_file_bytes: 2 << 30,
            model_source: None,
            input_limits: crate::limits::pinned(),
            allow_undeclared_models: false,
        }
    }
}
