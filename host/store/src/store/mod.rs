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
//!
//! This module holds the store's API and errors; importing files and bytes
//! is in `import`, the size budget and garbage collection in `gc`.

mod gc;
mod import;

use std::collections::HashSet;
use std::error::Error as StdError;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clusterai_types::{ContentHash, files};
use iroh_blobs::api::blobs::BlobStatus;
use iroh_blobs::format::collection::Collection;
use iroh_blobs::store::GcConfig;
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::store::fs::options::Options;
use iroh_blobs::{BlobFormat, Hash, HashAndFormat};
use n0_future::StreamExt;
use serde::Serialize;

use self::gc::{GC_POLL, GcState, protect_callback};

/// Tag prefix of pinned content.
pub const PIN_PREFIX: &str = "pin/";
/// Tag prefix of downloads in progress.
pub const PARTIAL_PREFIX: &str = "partial/";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process has this store open.
    #[error("store {0} is in use by another process")]
    InUse(PathBuf),
    /// A file-system error outside iroh-blobs (directories, lock file, source files).
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The disk is full (the OS said so while iroh-blobs was writing): an
    /// I/O error in the backend error's source chain is `StorageFull`,
    /// `FileTooLarge` or `QuotaExceeded`.
    #[error("disk full while {op}: {source}")]
    DiskFull {
        /// What the store was doing.
        op: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
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
    #[error("blob {hash} is not a collection: {source}")]
    NotACollection {
        /// The blob.
        hash: ContentHash,
        /// What was wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
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
    /// A tag name the store keeps for itself (`pin/`, `partial/`) or an empty one.
    #[error("tag name {0:?} is reserved by the store")]
    ReservedTag(String),
    /// Garbage collection has stopped (the store is shutting down or failed).
    #[error("garbage collection is not running")]
    GcStopped,
    /// Any other failure inside iroh-blobs.
    #[error("blob store failed while {op}: {source}")]
    Backend {
        /// What the store was doing.
        op: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl StoreError {
    /// Wraps a backend error: [`StoreError::DiskFull`] if an I/O error in
    /// its source chain says the disk is full, [`StoreError::Backend`]
    /// otherwise.
    pub(crate) fn backend(op: &'static str, e: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::backend_or_disk_full(op, e, false)
    }

    /// Like [`StoreError::backend`], for an error that hides what it wraps
    /// from `source()` (n0's `AnyError` does, for a wrapped std error): the
    /// caller looks inside with the error's own `downcast_ref` and says in
    /// `full` whether it found a full disk there.
    pub(crate) fn backend_or_disk_full(
        op: &'static str,
        e: impl Into<Box<dyn StdError + Send + Sync>>,
        full: bool,
    ) -> Self {
        let source = e.into();
        if full || is_disk_full(&*source) {
            StoreError::DiskFull { op, source }
        } else {
            StoreError::Backend { op, source }
        }
    }
}

/// `ENOSPC` (no space left on device) on Unix.
#[cfg(unix)]
const ENOSPC: i32 = 28;
/// `EFBIG` (file too large) on Unix.
#[cfg(unix)]
const EFBIG: i32 = 27;
/// `EDQUOT` (disk quota exceeded) on Linux.
#[cfg(any(target_os = "linux", target_os = "android"))]
const EDQUOT: i32 = 122;

/// Whether this I/O error says the disk is full: no space left, the file
/// system's largest file, or the user's quota reached.
pub(crate) fn is_disk_full_io(e: &io::Error) -> bool {
    if matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::QuotaExceeded
    ) {
        return true;
    }
    #[cfg(unix)]
    if matches!(e.raw_os_error(), Some(ENOSPC | EFBIG)) {
        return true;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if e.raw_os_error() == Some(EDQUOT) {
        return true;
    }
    false
}

/// Whether `e` or an error in its `source()` chain is an I/O error that says
/// the disk is full ([`is_disk_full_io`]). Looks by type, never at message
/// text; an `io::Error` wrapping another error is looked into too (its
/// `source()` skips what it wraps).
pub(crate) fn is_disk_full(e: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if is_disk_full_io(io) {
                return true;
            }
            if let Some(inner) = io.get_ref()
                && is_disk_full(inner)
            {
                return true;
            }
        }
        cur = err.source();
    }
    false
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
        // Never through a link planted in its place (creating would truncate
        // whatever it points at).
        let lock = clusterai_types::files::open_regular(
            &lock_path,
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true),
        )
        .map_err(|source| StoreError::Io {
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
            .map_err(|e| {
                let full = e.downcast_ref::<io::Error>().is_some_and(is_disk_full_io);
                StoreError::backend_or_disk_full("opening the store", e, full)
            })?;
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

    /// Commits every change made so far (imports, pins, tags) to the store's
    /// database, so that they survive the process being killed. The store
    /// batches its writes; call this where a caller is told "kept".
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.store
            .sync_db()
            .await
            .map_err(|e| StoreError::backend("committing", e))
    }

    /// Flushes and closes the store. Other clones become unusable.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.gc.close();
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
        let tt = collection.store(&self.store).await.map_err(|e| {
            let full = e.downcast_ref::<io::Error>().is_some_and(is_disk_full_io);
            StoreError::backend_or_disk_full("storing a collection", e, full)
        })?;
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
                source: e.into(),
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

    /// The children of `root` if it is pinned as a collection; `None` if it
    /// is not pinned, or pinned as a raw blob (whose bytes may still parse as
    /// a hash sequence: that does not make them a collection).
    pub async fn pinned_collection(&self, root: Hash) -> Result<Option<Vec<Hash>>, StoreError> {
        let tag = self
            .store
            .tags()
            .get(pin_tag(from_iroh(root)))
            .await
            .map_err(|e| StoreError::backend("reading tags", e))?;
        if tag.is_none_or(|t| t.format != BlobFormat::HashSeq) {
            return Ok(None);
        }
        let bytes = self
            .store
            .get_bytes(root)
            .await
            .map_err(|e| StoreError::backend("reading a collection", e))?;
        Ok(iroh_blobs::hashseq::HashSeq::try_from(bytes)
            .ok()
            .map(|seq| seq.iter().collect()))
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

    /// Writes the verified bytes of a complete blob to `target` atomically:
    /// a new temporary file next to it (created exclusively, so a link
    /// planted at a guessable name is never written through), then a
    /// rename. A `target` that is a directory, a device, a FIFO, a socket or
    /// a symbolic link is refused, not replaced.
    pub async fn export(&self, hash: ContentHash, target: &Path) -> Result<u64, StoreError> {
        if !self.has(hash).await? {
            return Err(StoreError::NotFound(hash));
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let target = std::path::absolute(target).map_err(io(target))?;
        files::check_replaceable(&target).map_err(io(&target))?;
        let (file, tmp) = files::create_unique(&target).map_err(io(&target))?;
        let copied = async {
            let mut file = tokio::fs::File::from_std(file);
            let mut reader = self.store.reader(to_iroh(hash));
            let n = tokio::io::copy(&mut reader, &mut file).await?;
            file.sync_all().await?;
            Ok::<_, io::Error>(n)
        }
        .await;
        let n = match copied.and_then(|n| files::check_replaceable(&target).map(|()| n)) {
            Ok(n) => n,
            Err(source) => {
                let _ = std::fs::remove_file(&tmp);
                let full = is_disk_full_io(&source);
                return Err(if full {
                    StoreError::backend_or_disk_full("exporting a blob", source, true)
                } else {
                    StoreError::Io {
                        path: target,
                        source,
                    }
                });
            }
        };
        std::fs::rename(&tmp, &target).map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::Io {
                path: target.clone(),
                source,
            }
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
}

fn pin_tag(hash: ContentHash) -> String {
    format!("{PIN_PREFIX}{hash}")
}

fn partial_tag(hash: ContentHash) -> String {
    format!("{PARTIAL_PREFIX}{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend error that keeps its I/O source.
    #[derive(Debug, thiserror::Error)]
    #[error("writing the outboard")]
    struct Wrapper(#[source] io::Error);

    /// Exports replace regular files only, never through a planted link;
    /// a link planted where the lock goes is refused, its target untouched.
    #[cfg(unix)]
    #[tokio::test]
    async fn exports_and_the_lock_never_follow_planted_links() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let planted = dir.path().join("planted");
        std::fs::create_dir(&planted).unwrap();
        std::os::unix::fs::symlink(&victim, planted.join("store.lock")).unwrap();
        let err = BlobStore::open(&planted, StoreConfig::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");

        let store = BlobStore::open(dir.path().join("store"), StoreConfig::default())
            .await
            .unwrap();
        let hash = store.import_bytes(&b"exported bytes"[..]).await.unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for (target, what) in [
            (dir.path(), "is a directory"),
            (Path::new("/dev/null"), "is a device"),
            (link.as_path(), "is a symbolic link"),
        ] {
            let err = store.export(hash, target).await.unwrap_err();
            assert!(err.to_string().contains(what), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        let out = dir.path().join("out.bin");
        std::fs::write(&out, "old").unwrap();
        assert_eq!(store.export(hash, &out).await.unwrap(), 14);
        assert_eq!(std::fs::read(&out).unwrap(), b"exported bytes");
        // Nothing temporary is left beside it.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
        store.shutdown().await.unwrap();
    }

    #[test]
    fn a_full_disk_is_found_by_type_anywhere_in_the_source_chain() {
        let full = || io::Error::from(io::ErrorKind::StorageFull);
        assert!(is_disk_full(&full()));
        assert!(is_disk_full(&io::Error::from(io::ErrorKind::FileTooLarge)));
        assert!(is_disk_full(&io::Error::from(io::ErrorKind::QuotaExceeded)));
        assert!(is_disk_full(&Wrapper(full())));
        // An io::Error wrapping another error is looked into.
        assert!(is_disk_full(&io::Error::other(Wrapper(full()))));
        let boxed: Box<dyn StdError + Send + Sync> = anyhow::Error::new(Wrapper(full()))
            .context("importing")
            .into();
        assert!(is_disk_full(&*boxed));
        // Text alone does not count, nor does another I/O error.
        assert!(!is_disk_full(&io::Error::other("No space left on device")));
        assert!(!is_disk_full(&Wrapper(io::Error::from(
            io::ErrorKind::PermissionDenied
        ))));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn os_error_codes_of_a_full_disk_count() {
        for code in [28, 27, 122] {
            assert!(is_disk_full(&io::Error::from_raw_os_error(code)), "{code}");
        }
        assert!(!is_disk_full(&io::Error::from_raw_os_error(13)));
    }

    #[test]
    fn backend_errors_keep_their_source() {
        let e = StoreError::backend(
            "importing bytes",
            Wrapper(io::Error::from(io::ErrorKind::StorageFull)),
        );
        assert!(
            matches!(
                e,
                StoreError::DiskFull {
                    op: "importing bytes",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "disk full while importing bytes: writing the outboard"
        );
        let source = e.source().and_then(|s| s.downcast_ref::<Wrapper>());
        assert!(source.is_some(), "{e:?}");

        let e = StoreError::backend("reading tags", io::Error::other("table missing"));
        assert!(matches!(e, StoreError::Backend { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "blob store failed while reading tags: table missing"
        );
        let e = StoreError::backend_or_disk_full("opening the store", io::Error::other("x"), true);
        assert!(matches!(e, StoreError::DiskFull { .. }), "{e}");
    }
}
