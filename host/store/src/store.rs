//! The persistent blob store: an iroh-blobs file store plus pins, a size
//! budget and garbage collection.
//!
//! Layout under the store directory:
//!
//! ```text
//! blobs.db     redb metadata (iroh-blobs)
//! data/        blob data and outboards (iroh-blobs)
//! temp/        imports in progress (iroh-blobs)
//! store.lock   held (flock) while a process has the store open
//! ```
//!
//! Tags are the only thing that keeps data: `pin/<hash>` for what the node
//! needs, `partial/<hash>` for a download in progress (so that it survives a
//! restart and can resume). Everything else is garbage and is collected.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clusterai_types::ContentHash;
use iroh_blobs::api::blobs::BlobStatus;
use iroh_blobs::format::collection::Collection;
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::store::fs::options::Options;
use iroh_blobs::store::{GcConfig, ProtectCb, ProtectOutcome};
use iroh_blobs::{BlobFormat, Hash, HashAndFormat};
use n0_future::StreamExt;
use serde::Serialize;

/// Tag prefix of pinned content.
pub const PIN_PREFIX: &str = "pin/";
/// Tag prefix of downloads in progress.
pub const PARTIAL_PREFIX: &str = "partial/";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process has this store open.
    #[error("store {0} is in use by another process (is `clusterai blob serve` running?)")]
    InUse(PathBuf),
    /// A file-system error outside iroh-blobs (directories, lock file, source files).
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The disk is full (the OS said so while iroh-blobs was writing).
    #[error("disk full while {op}: {message}")]
    DiskFull {
        /// What the store was doing.
        op: &'static str,
        /// The backend's message.
        message: String,
    },
    /// Storing this would exceed the node's size budget, even after
    /// collecting everything that is not pinned.
    #[error(
        "size budget exceeded: {needed} more bytes wanted, {used} of {budget} bytes in use by pinned or partial blobs"
    )]
    BudgetExceeded {
        /// Bytes the operation wanted to add.
        needed: u64,
        /// Bytes in use after collecting garbage.
        used: u64,
        /// The configured budget.
        budget: u64,
    },
    /// The store does not hold the complete blob.
    #[error("blob {0} is not in the store")]
    NotFound(ContentHash),
    /// The blob is not a collection (or its metadata is corrupt).
    #[error("blob {hash} is not a collection: {message}")]
    NotACollection {
        /// The blob.
        hash: ContentHash,
        /// What was wrong.
        message: String,
    },
    /// The file to import does not exist (or vanished before it was opened).
    #[error("{0}: no such file")]
    SourceMissing(PathBuf),
    /// The file changed or vanished while it was being imported.
    #[error(
        "{path} changed or vanished during import (read {read} of {expected} bytes); nothing was stored"
    )]
    SourceChanged {
        /// The file.
        path: PathBuf,
        /// Bytes read before the change was noticed.
        read: u64,
        /// The size when the import started.
        expected: u64,
    },
    /// Garbage collection has stopped (the store is shutting down or failed).
    #[error("garbage collection is not running")]
    GcStopped,
    /// Any other failure inside iroh-blobs.
    #[error("blob store failed while {op}: {message}")]
    Backend {
        /// What the store was doing.
        op: &'static str,
        /// The backend's message.
        message: String,
    },
}

impl StoreError {
    /// Maps a backend error, recognising a full disk.
    pub(crate) fn backend(op: &'static str, e: impl std::fmt::Display) -> Self {
        let message = e.to_string();
        let lower = message.to_lowercase();
        if lower.contains("no space left")
            || lower.contains("storage full")
            || lower.contains("file too large")
        {
            StoreError::DiskFull { op, message }
        } else {
            StoreError::Backend { op, message }
        }
    }
}

/// Converts between our hash and iroh-blobs' hash (both BLAKE3).
pub(crate) fn to_iroh(hash: ContentHash) -> Hash {
    Hash::from_bytes(*hash.as_bytes())
}

/// Converts between iroh-blobs' hash and ours.
pub(crate) fn from_iroh(hash: Hash) -> ContentHash {
    ContentHash::from_bytes(*hash.as_bytes())
}

/// Settings of a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The most bytes the store may hold (pinned + partial); `None`: no limit
    /// but the disk.
    pub budget: Option<u64>,
    /// How often unpinned data is collected without being asked.
    pub gc_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            budget: None,
            gc_interval: Duration::from_secs(600),
        }
    }
}

/// One entry of [`BlobStore::list`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobEntry {
    /// The content hash.
    pub hash: ContentHash,
    /// `raw` or `collection`.
    pub format: &'static str,
    /// Size in bytes (for a collection: the sum of its children and itself).
    pub size: u64,
    /// `pinned` or `partial` (a download in progress).
    pub state: &'static str,
}

/// Coordinates on-demand garbage collection with iroh-blobs' periodic GC task.
///
/// iroh-blobs runs GC only on a timer and calls a protect callback before each
/// run. We run that timer fast and let the callback abort every run that
/// nobody asked for, so [`BlobStore::collect`] can trigger one and wait for it.
#[derive(Debug, Default)]
struct GcState {
    inner: Mutex<GcInner>,
    /// Bumped each time the callback runs (i.e. after each finished run).
    ticks: AtomicU64,
    /// Set when the store shuts down: no more runs (a run racing the
    /// shutdown would fail and log an error).
    closing: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct GcInner {
    requested: u64,
    completed: u64,
    running: Option<u64>,
    last_run: Option<Instant>,
}

/// How often the GC task wakes up to check for requests.
const GC_POLL: Duration = Duration::from_millis(100);

/// The node's blob store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: FsStore,
    root: PathBuf,
    config: StoreConfig,
    gc: Arc<GcState>,
    /// Held (flock) while the store is open.
    _lock: Arc<File>,
}

impl BlobStore {
    /// Opens (or creates) the store in `root`. Fails with
    /// [`StoreError::InUse`] if another process has it open.
    pub async fn open(root: impl AsRef<Path>, config: StoreConfig) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root).map_err(|source| StoreError::Io {
            path: root.clone(),
            source,
        })?;
        let lock_path = root.join("store.lock");
        let lock = File::create(&lock_path).map_err(|source| StoreError::Io {
            path: lock_path.clone(),
            source,
        })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::InUse(root)),
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        let gc = Arc::new(GcState::default());
        let mut options = Options::new(&root);
        options.gc = Some(GcConfig {
            interval: GC_POLL,
            add_protected: Some(protect_callback(gc.clone(), config.gc_interval)),
        });
        let store = FsStore::load_with_opts(root.join("blobs.db"), options)
            .await
            .map_err(|e| StoreError::backend("opening the store", e))?;
        tracing::debug!(root = %root.display(), "blob store open");
        Ok(Self {
            store,
            root,
            config,
            gc,
            _lock: Arc::new(lock),
        })
    }

    /// The iroh-blobs store API (for serving and fetching).
    pub fn api(&self) -> &iroh_blobs::api::Store {
        &self.store
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The configured size budget.
    pub fn budget(&self) -> Option<u64> {
        self.config.budget
    }

    /// Flushes and closes the store. Other clones become unusable.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.gc.closing.store(true, Ordering::SeqCst);
        let r = self
            .store
            .shutdown()
            .await
            .map_err(|e| StoreError::backend("shutting down", e));
        // Let the next process (or a restart in this one) open the store at
        // once, even while clones of this handle are still being dropped.
        if let Err(e) = self._lock.unlock() {
            tracing::warn!("cannot release the store lock: {e}");
        }
        r
    }

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

    /// Builds a collection (e.g. a model and its manifest) from blobs already
    /// in the store, stores and pins it; returns the collection's hash.
    pub async fn add_collection(
        &self,
        entries: impl IntoIterator<Item = (String, ContentHash)>,
    ) -> Result<ContentHash, StoreError> {
        let collection: Collection = entries
            .into_iter()
            .map(|(name, hash)| (name, to_iroh(hash)))
            .collect();
        let tt = collection
            .store(&self.store)
            .await
            .map_err(|e| StoreError::backend("storing a collection", e))?;
        let hash = from_iroh(tt.hash());
        self.pin(hash, BlobFormat::HashSeq).await?;
        Ok(hash)
    }

    /// The names and hashes of a collection in the store.
    pub async fn collection(
        &self,
        hash: ContentHash,
    ) -> Result<Vec<(String, ContentHash)>, StoreError> {
        if !self.has(hash).await? {
            return Err(StoreError::NotFound(hash));
        }
        let c = Collection::load(to_iroh(hash), self.api())
            .await
            .map_err(|e| StoreError::NotACollection {
                hash,
                message: e.to_string(),
            })?;
        Ok(c.iter().map(|(n, h)| (n.clone(), from_iroh(*h))).collect())
    }

    /// Pins `hash` so it is never collected.
    pub async fn pin(&self, hash: ContentHash, format: BlobFormat) -> Result<(), StoreError> {
        self.store
            .tags()
            .set(
                pin_tag(hash),
                HashAndFormat {
                    hash: to_iroh(hash),
                    format,
                },
            )
            .await
            .map_err(|e| StoreError::backend("pinning", e))?;
        Ok(())
    }

    /// Removes the pin (and any partial-download tag) of `hash`; the data is
    /// freed by the next collection. Returns whether anything was removed.
    pub async fn unpin(&self, hash: ContentHash) -> Result<bool, StoreError> {
        let tags = self.store.tags();
        let a = tags
            .delete(pin_tag(hash))
            .await
            .map_err(|e| StoreError::backend("unpinning", e))?;
        let b = tags
            .delete(partial_tag(hash))
            .await
            .map_err(|e| StoreError::backend("unpinning", e))?;
        Ok(a + b > 0)
    }

    /// Marks a download of `hash` as in progress so its partial data
    /// survives restarts and collections.
    pub(crate) async fn mark_partial(
        &self,
        hash: ContentHash,
        format: BlobFormat,
    ) -> Result<(), StoreError> {
        self.store
            .tags()
            .set(
                partial_tag(hash),
                HashAndFormat {
                    hash: to_iroh(hash),
                    format,
                },
            )
            .await
            .map_err(|e| StoreError::backend("tagging a download", e))
    }

    /// Turns a finished download into a pin.
    pub(crate) async fn finish_partial(
        &self,
        hash: ContentHash,
        format: BlobFormat,
    ) -> Result<(), StoreError> {
        self.pin(hash, format).await?;
        self.store
            .tags()
            .delete(partial_tag(hash))
            .await
            .map_err(|e| StoreError::backend("tagging a download", e))?;
        Ok(())
    }

    /// Forgets a download in progress (its data is collected unless pinned).
    pub(crate) async fn drop_partial(&self, hash: ContentHash) -> Result<(), StoreError> {
        self.store
            .tags()
            .delete(partial_tag(hash))
            .await
            .map_err(|e| StoreError::backend("tagging a download", e))?;
        Ok(())
    }

    /// Whether `hash` is pinned (as a root, not as a collection child).
    pub async fn is_pinned(&self, hash: ContentHash) -> Result<bool, StoreError> {
        Ok(self
            .store
            .tags()
            .get(pin_tag(hash))
            .await
            .map_err(|e| StoreError::backend("reading tags", e))?
            .is_some())
    }

    /// The hashes this node is willing to serve: pinned roots and, for pinned
    /// collections, their children.
    pub async fn pinned_closure(&self) -> Result<HashSet<Hash>, StoreError> {
        let mut out = HashSet::new();
        let mut tags = self
            .store
            .tags()
            .list_prefix(PIN_PREFIX)
            .await
            .map_err(|e| StoreError::backend("reading tags", e))?;
        let mut seqs = Vec::new();
        while let Some(tag) = tags.next().await {
            let tag = tag.map_err(|e| StoreError::backend("reading tags", e))?;
            out.insert(tag.hash);
            if tag.format == BlobFormat::HashSeq {
                seqs.push(tag.hash);
            }
        }
        for root in seqs {
            if let Ok(bytes) = self.store.get_bytes(root).await
                && let Ok(seq) = iroh_blobs::hashseq::HashSeq::try_from(bytes)
            {
                out.extend(seq.iter());
            }
        }
        Ok(out)
    }

    /// Whether the complete blob is in the store.
    pub async fn has(&self, hash: ContentHash) -> Result<bool, StoreError> {
        self.store
            .has(to_iroh(hash))
            .await
            .map_err(|e| StoreError::backend("checking a blob", e))
    }

    /// The size of the complete blob, or `None` if it is missing or partial.
    pub async fn size(&self, hash: ContentHash) -> Result<Option<u64>, StoreError> {
        match self
            .store
            .status(to_iroh(hash))
            .await
            .map_err(|e| StoreError::backend("checking a blob", e))?
        {
            BlobStatus::Complete { size } => Ok(Some(size)),
            _ => Ok(None),
        }
    }

    /// The verified bytes of a complete blob, in memory.
    pub async fn read(&self, hash: ContentHash) -> Result<Bytes, StoreError> {
        if !self.has(hash).await? {
            return Err(StoreError::NotFound(hash));
        }
        self.store
            .get_bytes(to_iroh(hash))
            .await
            .map_err(|e| StoreError::backend("reading a blob", e))
    }

    /// Writes the verified bytes of a complete blob to `target` (atomically:
    /// a temporary file next to it, then a rename).
    pub async fn export(&self, hash: ContentHash, target: &Path) -> Result<u64, StoreError> {
        if !self.has(hash).await? {
            return Err(StoreError::NotFound(hash));
        }
        let target = std::path::absolute(target).map_err(|source| StoreError::Io {
            path: target.to_path_buf(),
            source,
        })?;
        let tmp = target.with_extension("clusterai-partial");
        let n = self
            .store
            .export(to_iroh(hash), &tmp)
            .finish()
            .await
            .map_err(|e| StoreError::backend("exporting a blob", e))?;
        std::fs::rename(&tmp, &target).map_err(|source| StoreError::Io {
            path: target.clone(),
            source,
        })?;
        Ok(n)
    }

    /// Pinned content and downloads in progress.
    pub async fn list(&self) -> Result<Vec<BlobEntry>, StoreError> {
        let mut out = Vec::new();
        for (prefix, state) in [(PIN_PREFIX, "pinned"), (PARTIAL_PREFIX, "partial")] {
            let mut tags = self
                .store
                .tags()
                .list_prefix(prefix)
                .await
                .map_err(|e| StoreError::backend("reading tags", e))?;
            while let Some(tag) = tags.next().await {
                let tag = tag.map_err(|e| StoreError::backend("reading tags", e))?;
                let hash = from_iroh(tag.hash);
                let (format, size) = if tag.format == BlobFormat::HashSeq {
                    let mut size = self.stored_size(tag.hash).await?;
                    if let Ok(bytes) = self.store.get_bytes(tag.hash).await
                        && let Ok(seq) = iroh_blobs::hashseq::HashSeq::try_from(bytes)
                    {
                        for child in seq.iter() {
                            size += self.stored_size(child).await?;
                        }
                    }
                    ("collection", size)
                } else {
                    ("raw", self.stored_size(tag.hash).await?)
                };
                out.push(BlobEntry {
                    hash,
                    format,
                    size,
                    state,
                });
            }
        }
        Ok(out)
    }

    async fn stored_size(&self, hash: Hash) -> Result<u64, StoreError> {
        Ok(
            match self
                .store
                .status(hash)
                .await
                .map_err(|e| StoreError::backend("checking a blob", e))?
            {
                BlobStatus::Complete { size } => size,
                BlobStatus::Partial { size } => size.unwrap_or(0),
                BlobStatus::NotFound => 0,
            },
        )
    }

    /// Bytes held by every blob in the store (complete or partial; a partial
    /// blob counts with its full size, since it will grow to it).
    pub async fn used_bytes(&self) -> Result<u64, StoreError> {
        let hashes = self
            .store
            .list()
            .hashes()
            .await
            .map_err(|e| StoreError::backend("listing blobs", e))?;
        let mut total = 0;
        for h in hashes {
            total += self.stored_size(h).await?;
        }
        Ok(total)
    }

    /// Makes room for `needed` more bytes within the budget: collects garbage
    /// if that helps, fails with [`StoreError::BudgetExceeded`] if even that
    /// is not enough. Pinned data is never removed.
    pub async fn reserve(&self, needed: u64) -> Result<(), StoreError> {
        let Some(budget) = self.config.budget else {
            return Ok(());
        };
        let used = self.used_bytes().await?;
        if used.saturating_add(needed) <= budget {
            return Ok(());
        }
        self.collect().await?;
        let used = self.used_bytes().await?;
        if used.saturating_add(needed) <= budget {
            return Ok(());
        }
        Err(StoreError::BudgetExceeded {
            needed,
            used,
            budget,
        })
    }

    /// Runs a garbage collection now and waits for it to finish: every blob
    /// not reachable from a tag (pin or partial download) is deleted.
    pub async fn collect(&self) -> Result<(), StoreError> {
        let target = {
            let mut g = self.gc.inner.lock().map_err(|_| StoreError::GcStopped)?;
            g.requested += 1;
            g.requested
        };
        // Generous: a loaded machine may take a while to sweep a big store.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            {
                let g = self.gc.inner.lock().map_err(|_| StoreError::GcStopped)?;
                if g.completed >= target {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(StoreError::GcStopped);
            }
            tokio::time::sleep(GC_POLL / 2).await;
        }
    }

    /// How many times the GC task has checked in (for tests and diagnostics).
    pub fn gc_ticks(&self) -> u64 {
        self.gc.ticks.load(Ordering::Relaxed)
    }
}

fn pin_tag(hash: ContentHash) -> String {
    format!("{PIN_PREFIX}{hash}")
}

fn partial_tag(hash: ContentHash) -> String {
    format!("{PARTIAL_PREFIX}{hash}")
}

/// The protect callback: the GC task calls it before every run. The previous
/// run has finished by then, so this is where a requested run is marked done.
fn protect_callback(state: Arc<GcState>, period: Duration) -> ProtectCb {
    Arc::new(move |_live: &mut HashSet<Hash>| {
        let state = state.clone();
        Box::pin(async move {
            state.ticks.fetch_add(1, Ordering::Relaxed);
            if state.closing.load(Ordering::SeqCst) {
                return ProtectOutcome::Abort;
            }
            let Ok(mut g) = state.inner.lock() else {
                return ProtectOutcome::Abort;
            };
            if let Some(gen_) = g.running.take() {
                g.completed = g.completed.max(gen_);
                g.last_run = Some(Instant::now());
            }
            let due = g.last_run.is_none_or(|t| t.elapsed() >= period);
            if g.requested > g.completed || due {
                g.running = Some(g.requested);
                if g.last_run.is_none() {
                    g.last_run = Some(Instant::now());
                }
                ProtectOutcome::Continue
            } else {
                ProtectOutcome::Abort
            }
        })
    })
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
