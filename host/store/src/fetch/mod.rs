//! Fetching blobs from providers: verified, resumable, parallel by ranges
//! across several providers and several streams per provider, with failover.
//!
//! How one blob is fetched:
//!
//! 1. What is already in the store (a previous, interrupted fetch) is kept;
//!    only the missing chunk ranges are requested. The download is tagged
//!    `partial/<hash>` so it survives a restart and garbage collection.
//! 2. All providers are dialed at once; the first that answers sends the
//!    first segment, whose header tells the blob's size (verified once the
//!    last chunk is in: a wrong size only makes chunks fail verification).
//! 3. The missing ranges are cut into segments (about eight per worker, 1 to
//!    16 MiB, aligned to iroh-blobs' 16 KiB chunk groups). Each provider runs
//!    `streams_per_provider` workers (default 1), each request on its own QUIC
//!    stream; a worker takes the next segment, asks for just that range, and
//!    iroh-blobs verifies every chunk against the root hash before it is
//!    written. Fast providers take more segments: the split follows speed.
//!    A lone provider with one stream gets one request for everything.
//!    Workers run inside the fetch future, not as spawned tasks.
//! 4. A provider whose data fails verification is dropped for the rest of
//!    the fetch and remembered as corrupt ([`Reputation`]); one that dies or
//!    stalls is dropped and its segments go back to the queue for others.
//!    Only verified data is ever stored.
//!
//! The parts: [`Provider`] (what `--from` names), the errors
//! ([`FetchError`], [`ProviderProblem`], [`ProblemKind`]), a pure range
//! planner (step 3, without I/O) and the network workers (steps 2 to 4).

mod error;
mod plan;
mod provider;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clusterai_types::ContentHash;
use iroh::Endpoint;
use iroh_blobs::BlobFormat;
use iroh_blobs::protocol::{ChunkRanges, ChunkRangesExt};
use serde::Serialize;

pub use self::error::{FetchError, ProblemKind, ProviderProblem};
pub use self::provider::Provider;
use self::worker::{Live, Work};
use crate::reputation::Reputation;
use crate::store::{BlobStore, StoreError, from_iroh, to_iroh};

/// A progress callback: `(bytes done, bytes total)` of the current blob
/// (for a collection: of all its blobs together).
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How to fetch.
#[derive(Clone)]
pub struct FetchOptions {
    /// Concurrent range requests (QUIC streams) per provider.
    pub streams_per_provider: usize,
    /// Largest range request (rounded to 16 KiB); a blob is cut into about
    /// eight segments per worker, at least 1 MiB each, at most this.
    pub segment_bytes: u64,
    /// How long dialing a provider may take.
    pub connect_timeout: Duration,
    /// A range request with no progress for this long counts as a dead provider.
    pub stall_timeout: Duration,
    /// A range request slower than this (bytes/s, over each `stall_timeout`
    /// window) is taken from its provider and asked elsewhere: a provider
    /// that trickles just enough never to stall is as bad as a dead one.
    pub min_rate: u64,
    /// The whole fetch fails past this ([`FetchError::TimedOut`]); what was
    /// verified by then stays for a resume.
    pub deadline: Option<Duration>,
    /// Pin the fetched content when done (otherwise it stays tagged partial).
    pub pin: bool,
    /// Called as bytes arrive.
    pub progress: Option<ProgressFn>,
}

impl fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchOptions")
            .field("streams_per_provider", &self.streams_per_provider)
            .field("segment_bytes", &self.segment_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("min_rate", &self.min_rate)
            .field("deadline", &self.deadline)
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            streams_per_provider: 1,
            segment_bytes: 16 << 20,
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            min_rate: 16 << 10,
            deadline: None,
            pin: true,
            progress: None,
        }
    }
}

/// What a provider contributed to a fetch.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderReport {
    /// The provider's node id.
    pub node: String,
    /// Payload bytes it delivered (verified).
    pub bytes: u64,
    /// Its problem, if it had one.
    pub problem: Option<ProviderProblem>,
}

/// The outcome of a successful fetch.
#[derive(Debug, Clone, Serialize)]
pub struct FetchReport {
    /// The content fetched.
    pub hash: ContentHash,
    /// `raw` or `collection`.
    pub format: &'static str,
    /// Total size of the content.
    pub size: u64,
    /// Bytes that were already in the store (resume).
    pub already_local: u64,
    /// Payload bytes received from providers in this fetch.
    pub downloaded: u64,
    /// Per provider.
    pub providers: Vec<ProviderReport>,
    /// Wall time.
    pub elapsed_secs: f64,
}

/// Fetches blobs into a store.
#[derive(Debug, Clone)]
pub struct Fetcher {
    endpoint: Endpoint,
    store: BlobStore,
    reputation: Reputation,
    options: FetchOptions,
}

/// Sizes added up over the blobs of one fetch.
#[derive(Debug, Default)]
struct Acc {
    size: u64,
    local: u64,
    downloaded: u64,
}

impl Fetcher {
    /// A fetcher using `endpoint` to dial and `store` to keep what arrives.
    pub fn new(
        endpoint: Endpoint,
        store: BlobStore,
        reputation: Reputation,
        options: FetchOptions,
    ) -> Self {
        Self {
            endpoint,
            store,
            reputation,
            options,
        }
    }

    /// Fetches `hash` (a raw blob, or a collection with all its children)
    /// from `providers`, verifying everything; resumes what an earlier fetch
    /// left; pins the result unless the options say otherwise.
    pub async fn fetch(
        &self,
        hash: ContentHash,
        format: BlobFormat,
        providers: &[Provider],
    ) -> Result<FetchReport, FetchError> {
        let started = Instant::now();
        if providers.is_empty() && !self.store.has(hash).await? {
            return Err(FetchError::NoProviders(hash));
        }
        self.store.mark_partial(hash, format).await?;
        let mut problems = Vec::new();
        let live = self.connect_all(providers, &mut problems).await;
        tracing::debug!(elapsed = ?started.elapsed(), live = live.len(), "providers dialed");
        let mut acc = Acc::default();
        let fetched = async {
            match format {
                BlobFormat::Raw => self.fetch_blob(hash, &live, &mut problems, &mut acc).await,
                BlobFormat::HashSeq => {
                    self.fetch_collection(hash, &live, &mut problems, &mut acc)
                        .await
                }
            }
        };
        let result = match self.options.deadline {
            None => fetched.await,
            Some(limit) => {
                let left = limit.saturating_sub(started.elapsed());
                match tokio::time::timeout(left, fetched).await {
                    Ok(r) => r,
                    Err(_) => Err(FetchError::TimedOut { hash, limit }),
                }
            }
        };
        for l in &live {
            l.conn.close(0u32.into(), b"done");
        }
        if let Err(e) = result {
            self.forget_failed(hash, &e).await;
            return Err(e);
        }
        tracing::debug!(elapsed = ?started.elapsed(), "content complete");
        if self.options.pin {
            self.store.finish_partial(hash, format).await?;
        }
        tracing::debug!(elapsed = ?started.elapsed(), "pinned");
        let providers = live
            .iter()
            .map(|l| ProviderReport {
                node: l.node.to_string(),
                bytes: l.bytes.load(Ordering::Relaxed),
                problem: l.problem(),
            })
            .chain(
                problems
                    .into_iter()
                    .filter(|p| p.kind == ProblemKind::Unreachable)
                    .map(|p| ProviderReport {
                        node: p.node.clone(),
                        bytes: 0,
                        problem: Some(p),
                    }),
            )
            .collect();
        Ok(FetchReport {
            hash,
            format: if format == BlobFormat::HashSeq {
                "collection"
            } else {
                "raw"
            },
            size: acc.size,
            already_local: acc.local,
            downloaded: acc.downloaded,
            providers,
            elapsed_secs: started.elapsed().as_secs_f64(),
        })
    }

    /// After a failed fetch: keep the partial tag (for a resume) only if some
    /// verified data arrived and the failure was not the budget or a full
    /// disk (whose partial data is better freed).
    async fn forget_failed(&self, hash: ContentHash, e: &FetchError) {
        let over_budget = matches!(
            e,
            FetchError::Store(StoreError::BudgetExceeded { .. } | StoreError::DiskFull { .. })
        );
        let nothing = match self.store.api().observe(to_iroh(hash)).await {
            Ok(bf) => bf.ranges.is_empty(),
            Err(_) => false,
        };
        if (over_budget || nothing)
            && let Err(e) = self.store.drop_partial(hash).await
        {
            tracing::warn!(%hash, "cannot drop the partial tag: {e}");
        }
    }

    async fn fetch_collection(
        &self,
        root: ContentHash,
        live: &[Arc<Live>],
        problems: &mut Vec<ProviderProblem>,
        acc: &mut Acc,
    ) -> Result<(), FetchError> {
        self.fetch_blob(root, live, problems, acc).await?;
        let bytes = self.store.read(root).await?;
        let seq = iroh_blobs::hashseq::HashSeq::try_from(bytes).map_err(|e| {
            FetchError::BadCollection {
                hash: root,
                source: e.into(),
            }
        })?;
        for child in seq.iter() {
            self.fetch_blob(from_iroh(child), live, problems, acc)
                .await?;
        }
        // Check that the metadata parses, so a bad collection is an error here
        // and not later in whoever reads it.
        self.store
            .collection(root)
            .await
            .map_err(|e| FetchError::BadCollection {
                hash: root,
                source: e.into(),
            })?;
        Ok(())
    }

    async fn fetch_blob(
        &self,
        hash: ContentHash,
        live: &[Arc<Live>],
        problems: &mut Vec<ProviderProblem>,
        acc: &mut Acc,
    ) -> Result<(), FetchError> {
        let ih = to_iroh(hash);
        let api = self.store.api();
        let bitfield = api
            .observe(ih)
            .await
            .map_err(|e| StoreError::backend("observing a blob", e))?;
        if bitfield.is_complete() {
            let size = bitfield.size();
            acc.size += size;
            acc.local += size;
            return Ok(());
        }
        let have_before = bitfield.total_bytes();
        // A resumed download knows the size from its first attempt.
        let size = match bitfield.validated_size() {
            Some(s) => s,
            None if bitfield.size() > 0 => bitfield.size(),
            None => {
                let first = plan::first_segment_chunks(self.options.segment_bytes);
                self.probe_size(ih, first, live, problems).await?
            }
        };
        let bitfield = api
            .observe(ih)
            .await
            .map_err(|e| StoreError::backend("observing a blob", e))?;
        let all = ChunkRanges::chunks(0..size.div_ceil(1024).max(1));
        let missing = all.clone() - bitfield.ranges.clone();
        let missing_bytes = plan::ranges_bytes(&missing, size);
        let have = size.saturating_sub(missing_bytes);
        self.store.reserve(missing_bytes).await?;
        tracing::debug!(%hash, size, have, providers = live.len(), "size known, fetching ranges");
        let workers = plan::Workers {
            providers: live.len(),
            active: live.iter().filter(|l| l.active()).count(),
            streams_per_provider: self.options.streams_per_provider,
        };
        let segments = plan::plan_segments(&missing, size, workers, self.options.segment_bytes);
        let work = Arc::new(Work::new(segments, acc.size + have, acc.size + size));
        if let Some(p) = &self.options.progress {
            p(work.base, work.total);
        }
        self.run_workers(live, ih, &work).await;
        if let Some(e) = work.fatal.lock().ok().and_then(|mut f| f.take()) {
            return Err(e.into());
        }
        let downloaded = work.done.load(Ordering::Relaxed);
        acc.size += size;
        acc.local += have_before.min(have);
        // The probe's verified last chunk counts as downloaded too.
        acc.downloaded += downloaded + have.saturating_sub(have_before);
        let bitfield = api
            .observe(ih)
            .await
            .map_err(|e| StoreError::backend("observing a blob", e))?;
        if bitfield.is_complete() {
            return Ok(());
        }
        let missing = plan::ranges_bytes(&(all - bitfield.ranges.clone()), size);
        let mut all_problems = problems.clone();
        all_problems.extend(live.iter().filter_map(|l| l.problem()));
        problems.clear();
        problems.extend(all_problems.iter().cloned());
        Err(FetchError::from_problems(hash, missing, all_problems))
    }
}
