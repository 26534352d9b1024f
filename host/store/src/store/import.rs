//! Importing into the store: files (streamed, checked for changes while
//! they are read) and bytes. Both are pinned once stored.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use clusterai_types::ContentHash;
use iroh_blobs::BlobFormat;

use super::{BlobStore, StoreError, from_iroh};

impl BlobStore {
    /// Imports the file at `path` and pins it. `progress` gets the bytes read
    /// so far. A file that is missing, or that changes size or vanishes while
    /// it is read, is an error and leaves nothing behind.
    pub async fn import_file(
        &self,
        path: &Path,
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> Result<ContentHash, StoreError> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::SourceMissing(path.to_path_buf()));
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let meta = file.metadata().map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let expected = meta.len();
        self.reserve(expected).await?;
        let problem: Arc<Mutex<Option<StoreError>>> = Arc::default();
        let stream = file_stream(
            file,
            path.to_path_buf(),
            expected,
            problem.clone(),
            Arc::new(progress),
        );
        let result = self.store.add_stream(stream).await.temp_tag().await;
        if let Some(p) = problem.lock().ok().and_then(|mut g| g.take()) {
            return Err(p);
        }
        let tt = result.map_err(|e| StoreError::backend("importing a file", e))?;
        let hash = from_iroh(tt.hash());
        self.pin(hash, BlobFormat::Raw).await?;
        tracing::info!(%hash, size = expected, path = %path.display(), "imported");
        Ok(hash)
    }

    /// Imports `bytes` and pins them.
    pub async fn import_bytes(&self, bytes: impl Into<Bytes>) -> Result<ContentHash, StoreError> {
        let bytes = bytes.into();
        self.reserve(bytes.len() as u64).await?;
        let tt = self
            .store
            .add_bytes(bytes)
            .temp_tag()
            .await
            .map_err(|e| StoreError::backend("importing bytes", e))?;
        let hash = from_iroh(tt.hash());
        self.pin(hash, BlobFormat::Raw).await?;
        Ok(hash)
    }
}

/// Reads `file` in 1 MiB pieces; at the end checks that the file still exists
/// with the size it had, and fails the stream (recording why) if not.
fn file_stream(
    file: File,
    path: PathBuf,
    expected: u64,
    problem: Arc<Mutex<Option<StoreError>>>,
    progress: Arc<dyn Fn(u64, u64) + Send + Sync>,
) -> impl n0_future::Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = file;
        let mut read = 0u64;
        let fail = |read: u64| {
            let err = StoreError::SourceChanged {
                path: path.clone(),
                read,
                expected,
            };
            let msg = err.to_string();
            if let Ok(mut g) = problem.lock() {
                *g = Some(err);
            }
            std::io::Error::other(msg)
        };
        loop {
            let mut buf = vec![0u8; 1 << 20];
            let n = match file.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            if n == 0 {
                break;
            }
            read += n as u64;
            if read > expected {
                let _ = tx.blocking_send(Err(fail(read)));
                return;
            }
            buf.truncate(n);
            progress(read, expected);
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return;
            }
        }
        let still_there = std::fs::metadata(&path).map(|m| m.len() == expected);
        if read != expected || !matches!(still_there, Ok(true)) {
            let _ = tx.blocking_send(Err(fail(read)));
        }
    });
    n0_future::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}
