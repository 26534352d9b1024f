//! The size budget and garbage collection.
//!
//! iroh-blobs collects garbage only on a timer, calling a protect callback
//! before each run. The store runs that timer fast ([`GC_POLL`]) and lets the
//! callback abort every run nobody asked for, so [`BlobStore::collect`] can
//! trigger a run and wait for it, and [`BlobStore::reserve`] can collect
//! before it refuses an operation that would exceed the budget.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iroh_blobs::Hash;
use iroh_blobs::store::{ProtectCb, ProtectOutcome};

use super::{BlobStore, StoreError};

/// Room kept free on the disk beyond the data itself, for the database and
/// bitfields.
const DISK_MARGIN: u64 = 256 << 10;

/// Bytes the file system holding `path` gives an unprivileged writer;
/// `None` where that cannot be told.
pub(crate) fn free_bytes(path: &std::path::Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `c` is a valid NUL-terminated path and `st` is a properly
        // sized buffer that statvfs fills on success.
        if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: statvfs returned 0, so it initialised `st`.
        let st = unsafe { st.assume_init() };
        // The field types differ between platforms (u32 or u64).
        #[allow(clippy::useless_conversion)]
        Some(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// How often the GC task wakes up to check for requests.
pub(super) const GC_POLL: Duration = Duration::from_millis(100);

/// Coordinates on-demand garbage collection with iroh-blobs' periodic GC task.
///
/// iroh-blobs runs GC only on a timer and calls a protect callback before each
/// run. We run that timer fast and let the callback abort every run that
/// nobody asked for, so [`BlobStore::collect`] can trigger one and wait for it.
#[derive(Debug, Default)]
pub(super) struct GcState {
    inner: Mutex<GcInner>,
    /// Bumped each time the callback runs (i.e. after each finished run).
    ticks: AtomicU64,
    /// Set when the store shuts down: no more runs (a run racing the
    /// shutdown would fail and log an error).
    closing: AtomicBool,
}

/// Runs asked for and done, by generation.
#[derive(Debug, Default)]
struct GcInner {
    requested: u64,
    completed: u64,
    running: Option<u64>,
    last_run: Option<Instant>,
}

impl GcState {
    /// Stops further runs (the store is shutting down).
    pub(super) fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }
}

impl BlobStore {
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

    /// Makes room for `needed` more bytes within the budget and on the disk:
    /// collects garbage if that helps, fails with
    /// [`StoreError::BudgetExceeded`] or [`StoreError::DiskFull`] if even
    /// that is not enough. Pinned data is never removed.
    pub async fn reserve(&self, needed: u64) -> Result<(), StoreError> {
        // `used_bytes` lists every blob: it is read again only after a
        // collection.
        let used = match self.config.budget {
            Some(_) => Some(self.used_bytes().await?),
            None => None,
        };
        let over = |used: Option<u64>| -> Option<(u64, u64)> {
            let (used, budget) = (used?, self.config.budget?);
            (used.saturating_add(needed) > budget).then_some((used, budget))
        };
        let mut over_budget = over(used);
        if over_budget.is_some() || !self.fits_disk(needed) {
            self.collect().await?;
            if used.is_some() {
                over_budget = over(Some(self.used_bytes().await?));
            }
        }
        if let Some((used, budget)) = over_budget {
            return Err(StoreError::BudgetExceeded {
                needed,
                used,
                budget,
            });
        }
        if !self.fits_disk(needed) {
            return Err(self.disk_full("reserving space", needed));
        }
        Ok(())
    }

    /// Whether the file system holding the store has room for `needed`
    /// bytes of data with their outboards and metadata (about 1/256 of the
    /// data, plus a margin for the database).
    pub(crate) fn fits_disk(&self, needed: u64) -> bool {
        let want = needed
            .saturating_add(needed / 256)
            .saturating_add(DISK_MARGIN);
        free_bytes(&self.root).is_none_or(|free| free >= want)
    }

    /// The error for a disk without room for `needed` bytes.
    pub(crate) fn disk_full(&self, op: &'static str, needed: u64) -> StoreError {
        let free = free_bytes(&self.root).unwrap_or(0);
        StoreError::DiskFull {
            op,
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                match needed {
                    0 => format!(
                        "{free} bytes free on the file system of {}",
                        self.root.display()
                    ),
                    _ => format!(
                        "{needed} bytes wanted, {free} bytes free on the file system of {}",
                        self.root.display()
                    ),
                },
            )),
        }
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

/// The protect callback: the GC task calls it before every run. The previous
/// run has finished by then, so this is where a requested run is marked done.
pub(super) fn protect_callback(state: Arc<GcState>, period: Duration) -> ProtectCb {
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
