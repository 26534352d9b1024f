//! The blob store as a [`BlobSource`]: how capabilities that run on worker
//! threads (the wasi-nn host opening a model) read blobs by hash.
//!
//! The store's API is async; [`StoreSource`] bridges it for synchronous
//! callers on threads outside the async runtime's workers: task threads
//! (`spawn_blocking`) and plain threads. Calling it on a worker thread of the
//! async runtime is a bug (tokio panics; the task boundary catches it).

use clusterai_types::{BlobSource, ContentHash, SourceError};

use crate::store::BlobStore;

/// A [`BlobStore`] read synchronously through a handle to the tokio runtime
/// it runs on.
#[derive(Debug, Clone)]
pub struct StoreSource {
    store: BlobStore,
    runtime: tokio::runtime::Handle,
}

impl StoreSource {
    /// `store`, read on `runtime` (the runtime the store was opened on).
    pub fn new(store: BlobStore, runtime: tokio::runtime::Handle) -> Self {
        Self { store, runtime }
    }
}

impl BlobSource for StoreSource {
    fn read(&self, hash: &ContentHash, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let hash = *hash;
        let store = self.store.clone();
        self.runtime.block_on(async move {
            let unavailable = |e: crate::store::StoreError| SourceError::Unavailable(Box::new(e));
            if !store.has(hash).await.map_err(unavailable)? {
                return Ok(None);
            }
            let size = store.size(hash).await.map_err(unavailable)?.unwrap_or(0);
            if size > limit {
                return Err(SourceError::TooLarge { hash, size, limit });
            }
            let bytes = store.read(hash).await.map_err(unavailable)?;
            clusterai_types::source::verify(&hash, bytes.to_vec()).map(Some)
        })
    }
}
