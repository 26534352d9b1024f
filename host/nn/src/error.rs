//! Errors: the ones a guest sees (a wasi-nn `error` resource) and the ones the
//! node operator sees (set-up of ONNX Runtime and of the model table).

use std::fmt;
use std::path::PathBuf;

use crate::wit::ErrorCode;

/// A wasi-nn error as the guest receives it: a code and a message that names
/// the problem. Pushed into the task's resource table as `wasi:nn/errors.error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NnError {
    /// The wasi-nn error code.
    pub code: ErrorCode,
    /// What went wrong, for people: names the model, tensor, dtype or limit.
    pub message: String,
}

impl NnError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The caller passed something that does not fit the model.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    /// ONNX Runtime failed.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::RuntimeError, message)
    }
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for NnError {}

/// Why the node could not set up ONNX Runtime, a session or a model.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The model's declared input limits do not fit its inputs.
    #[error("model {hash}: its declared input limits do not fit the model: {why}")]
    BadLimits {
        /// The model.
        hash: clusterai_types::ContentHash,
        /// What does not fit.
        why: String,
    },
    /// The model declares no input limits, and the settings run only models
    /// that do.
    #[error(
        "model {hash} declares no input limits, and this node runs only models whose limits are \
         declared: without them one compute's time and memory cannot be bounded before it runs"
    )]
    Undeclared {
        /// The model.
        hash: clusterai_types::ContentHash,
    },
    /// The ONNX Runtime shared library is not where we look.
    #[error(
        "ONNX Runtime {version} not found at {path} ({why}); point ORT_DYLIB_PATH at \
         libonnxruntime.so.{version}"
    )]
    OrtMissing {
        /// Where we looked.
        path: PathBuf,
        /// The version we need.
        version: &'static str,
        /// What was wrong.
        why: String,
    },
    /// The shared library loaded but is not a version we accept.
    #[error("the ONNX Runtime library at {path} is version {found}, this node needs {wanted}")]
    OrtWrongVersion {
        /// The library file.
        path: PathBuf,
        /// The version it reports.
        found: String,
        /// The version we pin.
        wanted: &'static str,
    },
    /// A second `NnHost` asked for a different library than the one already loaded.
    #[error(
        "ONNX Runtime is already loaded in this process from {loaded}; cannot load {requested} as well"
    )]
    OrtAlreadyLoaded {
        /// The library that is loaded.
        loaded: PathBuf,
        /// The one asked for now.
        requested: PathBuf,
    },
    /// CUDA was asked for and cannot be used, and the settings forbid falling back.
    #[error(
        "the CUDA execution provider could not be registered: {why}; the GPU build of ONNX \
         Runtime and its CUDA libraries are needed, or the CPU fallback allowed in the settings"
    )]
    CudaUnavailable {
        /// ONNX Runtime's reason.
        why: String,
    },
    /// ONNX Runtime refused the model or a setting.
    #[error("ONNX Runtime: {0}")]
    Ort(#[from] ort::Error),
    /// ONNX Runtime refused a session's settings.
    #[error("ONNX Runtime: {0}")]
    Session(String),
    /// The watchdog thread could not be started.
    #[error("starting the wasi-nn watchdog thread: {source}")]
    Thread {
        /// The cause.
        source: std::io::Error,
    },
    /// A model file could not be read.
    #[error("reading model {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The model source failed.
    #[error("reading model {hash} from the node's store: {source}")]
    Source {
        /// The model.
        hash: clusterai_types::ContentHash,
        /// The cause.
        source: clusterai_types::SourceError,
    },
    /// A model the table opened from the source is no longer there.
    #[error("model {hash} is no longer in the node's store")]
    Vanished {
        /// The model.
        hash: clusterai_types::ContentHash,
    },
    /// A model file is larger than the settings allow.
    #[error("model {what} is {size} bytes, over the cap of {cap} bytes")]
    TooLarge {
        /// The model.
        what: String,
        /// Its size.
        size: u64,
        /// The cap.
        cap: u64,
    },
}

impl From<ort::Error<ort::session::builder::SessionBuilder>> for SetupError {
    fn from(e: ort::Error<ort::session::builder::SessionBuilder>) -> Self {
        // The builder error carries the builder back for recovery; only its
        // message outlives it.
        Self::Session(e.message().to_string())
    }
}
