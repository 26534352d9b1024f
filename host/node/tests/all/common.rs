//! A runtime wired as a node wires it: wasi-nn on ONNX Runtime, its models
//! read from a real blob store in a temporary directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clusterai_nn::{NnHost, NnSettings};
use clusterai_runtime::{Runtime, RuntimeConfig};
use clusterai_store::{BlobStore, StoreConfig, StoreSource};
use clusterai_test_support::skip::onnx_runtime_and;
use clusterai_types::ContentHash;
use clusterai_types::models::{self, PinnedModel};

/// The nn crate's test models.
pub(crate) fn test_model(name: &str) -> PathBuf {
    clusterai_test_support::repo_root()
        .join("host/nn/tests/data")
        .join(name)
}

/// ONNX Runtime and the PP-OCR models (skip locally, fail in CI).
pub(crate) fn ocr_ready() -> bool {
    clusterai_test_support::skip::require(
        "ONNX Runtime and the PP-OCR models",
        onnx_runtime_and(&[&models::PPOCR_DET, &models::PPOCR_CLS, &models::PPOCR_REC]),
    )
}

/// A node's runtime and its parts, alive together.
pub(crate) struct Wired {
    pub(crate) runtime: Runtime,
    pub(crate) nn: NnHost,
    pub(crate) hashes: Vec<ContentHash>,
    // Dropped last: the store runs on this tokio runtime, in this folder.
    _store: BlobStore,
    _tokio: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// A runtime with wasi-nn whose model source is a fresh blob store holding
/// `files` (imported there, as `clusterai model add` does).
pub(crate) fn wired(files: &[&Path]) -> Wired {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = tokio
        .block_on(BlobStore::open(
            dir.path().join("blobs"),
            StoreConfig::default(),
        ))
        .unwrap();
    let mut hashes = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        hashes.push(tokio.block_on(store.import_bytes(bytes)).unwrap());
    }
    let source = StoreSource::new(store.clone(), tokio.handle().clone());
    let nn = NnHost::new(NnSettings {
        model_source: Some(Arc::new(source)),
        // The small generated test models declare no input limits.
        allow_undeclared_models: true,
        ..NnSettings::default()
    })
    .unwrap();
    let runtime =
        clusterai_node::compose::runtime(RuntimeConfig::default(), Some(nn.clone())).unwrap();
    Wired {
        runtime,
        nn,
        hashes,
        _store: store,
        _tokio: tokio,
        _dir: dir,
    }
}

/// The cached files of pinned models.
pub(crate) fn pinned(models: &[&PinnedModel]) -> Vec<PathBuf> {
    models.iter().map(|m| m.cached_path()).collect()
}
