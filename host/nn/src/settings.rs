//! The node operator's settings for wasi-nn. Defaults deny what is risky
//! (raw model bytes from guests) and bound every resource.

use std::path::PathBuf;
use std::time::Duration;

/// Where sessions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionProvider {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// NVIDIA CUDA on the given device (needs the GPU build of ONNX Runtime
    /// and its CUDA libraries; see `scripts/gpu-check.sh`).
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
/// | `ort_library` | `$ORT_DYLIB_PATH`, else the cache path of `scripts/setup-onnxruntime.sh` |
/// | `intra_op_threads` / `inter_op_threads` | 1 / 1 (ONNX Runtime's own default hurts on small shared machines) |
/// | `execution_provider` | CPU |
/// | `cuda_fallback` | error |
/// | `sessions_per_model` | 2 |
/// | `call_timeout` | 60 s per `compute` (also bounded by the task deadline) |
/// | `max_output_bytes` | 64 MiB per `compute` |
/// | `max_task_tensor_bytes` | 256 MiB of tensors held by one task |
/// | `allow_raw_load` | false: guests open models by hash only |
/// | `max_raw_model_bytes` | 16 MiB |
/// | `max_model_file_bytes` | 2 GiB |
/// | `model_dir` | none: only models added to the host are opened |
#[derive(Debug, Clone)]
pub struct NnSettings {
    /// The ONNX Runtime shared library; `None` finds it with [`crate::ortlib::library_path`].
    pub ort_library: Option<PathBuf>,
    /// Threads inside one operator, per session.
    pub intra_op_threads: usize,
    /// Threads across operators, per session.
    pub inter_op_threads: usize,
    /// The provider sessions should run on.
    pub execution_provider: ExecutionProvider,
    /// What to do when that provider is CUDA and CUDA cannot be used.
    pub cuda_fallback: CudaFallback,
    /// Sessions per model, so that concurrent tasks do not queue on one lock.
    pub sessions_per_model: usize,
    /// The longest one `compute` may run; ONNX Runtime is told to terminate it then.
    pub call_timeout: Option<Duration>,
    /// The most output bytes one `compute` may return.
    pub max_output_bytes: usize,
    /// The most tensor bytes one task may hold in the host at once.
    pub max_task_tensor_bytes: usize,
    /// Whether guests may pass model bytes to `wasi:nn/graph.load`.
    pub allow_raw_load: bool,
    /// The largest model a guest may pass to `load`, when allowed.
    pub max_raw_model_bytes: usize,
    /// The largest model file the host opens.
    pub max_model_file_bytes: u64,
    /// A directory in the [`crate::store::ModelStore`] layout
    /// (`<blake3>.onnx`): a model a guest opens by hash that the host does
    /// not hold yet is opened from here on first use, verified against its
    /// hash, and kept.
    pub model_dir: Option<PathBuf>,
}

impl Default for NnSettings {
    fn default() -> Self {
        Self {
            ort_library: None,
            intra_op_threads: 1,
            inter_op_threads: 1,
            execution_provider: ExecutionProvider::Cpu,
            cuda_fallback: CudaFallback::Error,
            sessions_per_model: 2,
            call_timeout: Some(Duration::from_secs(60)),
            max_output_bytes: 64 << 20,
            max_task_tensor_bytes: 256 << 20,
            allow_raw_load: false,
            max_raw_model_bytes: 16 << 20,
            model_dir: None,
            max_model_file_bytes: 2 << 30,
        }
    }
}
