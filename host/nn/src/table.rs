//! [`NnHost`]: the process-wide wasi-nn service: ONNX Runtime, the settings
//! and the table of vetted models, each opened by the BLAKE3 hash of its
//! bytes.
//!
//! Models reach the table from the node's [`BlobSource`](clusterai_types::BlobSource)
//! (the blob store) on
//! first use, verified against their hash, or are added directly by a host
//! caller. Nothing here knows where the source keeps its bytes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use clusterai_types::{ContentHash, TaskPolicy};
use ort::environment::Environment;
use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;

use crate::error::{NnError, SetupError};
use crate::model::{self, Model, ModelInfo, Source};
use crate::settings::NnSettings;
use crate::task::{ModelAccess, NnTaskCtx};
use crate::watchdog::Watchdog;
use crate::wit::ErrorCode;

/// The node's wasi-nn service. Cheap to clone; shared by all tasks.
#[derive(Clone, Debug)]
pub struct NnHost {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) env: Environment,
    library: std::path::PathBuf,
    pub(crate) settings: Arc<NnSettings>,
    models: RwLock<HashMap<ContentHash, Arc<Model>>>,
    pub(crate) watchdog: Watchdog,
    /// Describes host buffers handed to ONNX Runtime in place.
    pub(crate) cpu: MemoryInfo<'static>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NnHost")
            .field("library", &self.library)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl NnHost {
    /// Loads ONNX Runtime (once per process) and starts an empty model table.
    pub fn new(settings: NnSettings) -> Result<Self, SetupError> {
        let library = settings
            .ort_library
            .clone()
            .unwrap_or_else(clusterai_types::env::ort_library);
        let env = crate::ortlib::environment(&library)?;
        let cpu = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Arena,
            MemoryType::Default,
        )?;
        let watchdog = Watchdog::start().map_err(|source| SetupError::Thread { source })?;
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
        self.add_model_bytes(bytes.into())
    }

    /// Opens a model from its bytes and adds it to the table under their
    /// hash. The caller vouches for it: without declared limits it runs
    /// unbounded (see [`NnHost::admit_model_bytes`] for models from outside).
    pub fn add_model_bytes(&self, bytes: Arc<[u8]>) -> Result<ContentHash, SetupError> {
        self.add_bytes(bytes, true)
    }

    /// Opens a model that reached the node from outside (an upload, a peer)
    /// and adds it to the table: like [`NnHost::add_model_bytes`], but a
    /// model without declared limits is refused unless the settings allow
    /// undeclared models.
    pub fn admit_model_bytes(&self, bytes: Arc<[u8]>) -> Result<ContentHash, SetupError> {
        self.add_bytes(bytes, false)
    }

    fn add_bytes(&self, bytes: Arc<[u8]>, vouched: bool) -> Result<ContentHash, SetupError> {
        let cap = self.inner.settings.max_model_file_bytes;
        if bytes.len() as u64 > cap {
            return Err(SetupError::TooLarge {
                what: "given as bytes".into(),
                size: bytes.len() as u64,
                cap,
            });
        }
        let hash = ContentHash::of(&bytes);
        self.insert(hash, &bytes, Source::Bytes(bytes.clone()), vouched)?;
        Ok(hash)
    }

    /// Whether the host holds model `hash`, opening it from the settings'
    /// [`BlobSource`](clusterai_types::BlobSource) first when the source has it (verified, then kept):
    /// `false` when neither has it, an error when the source has it but it
    /// cannot be opened.
    pub fn ensure_model(&self, hash: &ContentHash) -> Result<bool, NnError> {
        Ok(self.open(*hash)?.is_some())
    }

    /// The model `hash` from the table, else from the source.
    pub(crate) fn open(&self, hash: ContentHash) -> Result<Option<Arc<Model>>, NnError> {
        if let Some(model) = self.read_models().get(&hash).cloned() {
            return Ok(Some(model));
        }
        let Some(source) = &self.inner.settings.model_source else {
            return Ok(None);
        };
        let bytes = match source.read(&hash, self.inner.settings.max_model_file_bytes) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => {
                return Err(NnError::new(
                    ErrorCode::NotFound,
                    format!("model {hash} cannot be read from the node's store: {e}"),
                ));
            }
        };
        self.insert(hash, &bytes, Source::Blob(source.clone()), false)
            .map_err(|e| match e {
                SetupError::Undeclared { .. } => NnError::new(ErrorCode::Security, e.to_string()),
                e => NnError::new(
                    ErrorCode::InvalidEncoding,
                    format!("model {hash} cannot be opened: {e}"),
                ),
            })?;
        Ok(self.read_models().get(&hash).cloned())
    }

    /// Opens and adds a model; `vouched`: a host caller chose it, so it may
    /// run without declared limits.
    fn insert(
        &self,
        hash: ContentHash,
        bytes: &[u8],
        source: Source,
        vouched: bool,
    ) -> Result<(), SetupError> {
        if self.read_models().contains_key(&hash) {
            return Ok(());
        }
        let model = Model::new(
            self.inner.env.clone(),
            self.inner.settings.clone(),
            hash,
            bytes,
            source,
            vouched,
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

    /// A session with this host's settings, outside the table: for callers
    /// that drive ONNX Runtime directly (the benchmarks' native baseline).
    pub fn native_session(&self, bytes: &[u8]) -> Result<Session, SetupError> {
        Ok(model::build_session(&self.inner.env, &self.inner.settings, bytes)?.0)
    }

    /// State for one task under `policy`: `access` says which models it may
    /// open, `deadline` bounds every `compute`.
    pub fn task_ctx(
        &self,
        policy: &TaskPolicy,
        access: ModelAccess,
        deadline: Option<Instant>,
    ) -> NnTaskCtx {
        NnTaskCtx::new(self.clone(), policy, access, deadline)
    }
}
