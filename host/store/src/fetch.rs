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

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clusterai_types::ContentHash;
use iroh::endpoint::Connection;
use iroh::{Endpoint, EndpointAddr, EndpointId, TransportAddr};
use iroh_blobs::api::remote::GetProgressItem;
use iroh_blobs::get::GetError;
use iroh_blobs::get::fsm::{AtBlobHeaderNextError, DecodeError};
use iroh_blobs::protocol::{ChunkRanges, ChunkRangesExt, GetRequest};
use iroh_blobs::ticket::BlobTicket;
use iroh_blobs::{BlobFormat, Hash};
use n0_future::StreamExt;
use serde::Serialize;
use tokio::sync::Notify;

use crate::node::BLOBS_ALPN;
use crate::reputation::Reputation;
use crate::store::{BlobStore, StoreError, from_iroh, to_iroh};

/// A place to fetch from: a ticket or a node address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The node and its addresses.
    pub addr: EndpointAddr,
    /// The content named by the ticket, if it was one.
    pub ticket_content: Option<(ContentHash, BlobFormat)>,
}

impl Provider {
    /// A provider at `addr`.
    pub fn new(addr: EndpointAddr) -> Self {
        Self {
            addr,
            ticket_content: None,
        }
    }

    /// The provider's node id.
    pub fn node_id(&self) -> EndpointId {
        self.addr.id
    }
}

impl From<EndpointAddr> for Provider {
    fn from(addr: EndpointAddr) -> Self {
        Self::new(addr)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr.id)?;
        let ips: Vec<String> = self.addr.ip_addrs().map(|a| a.to_string()).collect();
        if !ips.is_empty() {
            write!(f, "@{}", ips.join(","))?;
        }
        Ok(())
    }
}

impl FromStr for Provider {
    type Err = FetchError;

    /// Accepts a blob ticket (`blob...`), `NODE_ID@IP:PORT[,IP:PORT...]`, or a
    /// bare `NODE_ID` (dialable only with discovery enabled).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let malformed = |reason: String| FetchError::MalformedProvider {
            input: s.to_string(),
            reason,
        };
        if s.starts_with("blob") {
            let ticket =
                BlobTicket::from_str(s).map_err(|e| malformed(format!("bad ticket: {e}")))?;
            let (addr, hash, format) = ticket.into_parts();
            return Ok(Self {
                addr,
                ticket_content: Some((from_iroh(hash), format)),
            });
        }
        let (id, addrs) = match s.split_once('@') {
            Some((id, addrs)) => (id, Some(addrs)),
            None => (s, None),
        };
        let id = EndpointId::from_str(id)
            .map_err(|e| malformed(format!("not a ticket, and {id:?} is not a node id: {e}")))?;
        let mut addr = EndpointAddr::new(id);
        if let Some(addrs) = addrs {
            for a in addrs.split(',') {
                let sock = a
                    .parse()
                    .map_err(|e| malformed(format!("bad socket address {a:?}: {e}")))?;
                addr.addrs.insert(TransportAddr::Ip(sock));
            }
        }
        Ok(Self::new(addr))
    }
}

/// What went wrong with one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Could not be dialed.
    Unreachable,
    /// Does not have the blob.
    NotFound,
    /// Refused us (we are not on its allow-list, or it does not serve the hash).
    Refused,
    /// Sent data that failed BLAKE3 verification.
    Corrupt,
    /// Died or stalled mid-transfer.
    Died,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unreachable => "unreachable",
            Self::NotFound => "does not have it",
            Self::Refused => "refused",
            Self::Corrupt => "sent corrupt data",
            Self::Died => "died mid-transfer",
        })
    }
}

/// One provider's problem during a fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderProblem {
    /// The provider's node id.
    pub node: String,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// Details.
    pub message: String,
}

fn list(problems: &[ProviderProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{} {} ({})", short(&p.node), p.kind, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn short(node: &str) -> &str {
    node.get(..10).unwrap_or(node)
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A `--from` value is neither a ticket nor a node address.
    #[error("malformed provider {input:?}: {reason}")]
    MalformedProvider {
        /// What was given.
        input: String,
        /// Why it is wrong.
        reason: String,
    },
    /// No provider was given.
    #[error("no provider given for {0}")]
    NoProviders(ContentHash),
    /// No provider could be reached.
    #[error("no provider of {hash} could be reached: {}", list(.problems))]
    Unreachable {
        /// The blob.
        hash: ContentHash,
        /// Each provider's problem.
        problems: Vec<ProviderProblem>,
    },
    /// Every provider that answered said it does not have the blob.
    #[error("unknown hash {hash}: no provider has it: {}", list(.problems))]
    UnknownHash {
        /// The blob.
        hash: ContentHash,
        /// Each provider's problem.
        problems: Vec<ProviderProblem>,
    },
    /// Every provider refused us.
    #[error("every provider of {hash} refused us: {}", list(.problems))]
    Refused {
        /// The blob.
        hash: ContentHash,
        /// Each provider's problem.
        problems: Vec<ProviderProblem>,
    },
    /// Every provider served corrupt data (none of it was kept).
    #[error("every provider of {hash} sent data that failed verification: {}", list(.problems))]
    Corrupt {
        /// The blob.
        hash: ContentHash,
        /// Each provider's problem.
        problems: Vec<ProviderProblem>,
    },
    /// The providers failed in different ways before the blob was complete;
    /// what was verified so far is kept for a later resume.
    #[error("fetch of {hash} failed with {missing} bytes missing: {}", list(.problems))]
    Incomplete {
        /// The blob.
        hash: ContentHash,
        /// Bytes still missing.
        missing: u64,
        /// Each provider's problem.
        problems: Vec<ProviderProblem>,
    },
    /// The blob is a collection whose metadata is malformed.
    #[error("{hash} is not a valid collection: {message}")]
    BadCollection {
        /// The blob.
        hash: ContentHash,
        /// What is wrong.
        message: String,
    },
    /// The local store failed (disk full, budget exceeded, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FetchError {
    fn from_problems(hash: ContentHash, missing: u64, problems: Vec<ProviderProblem>) -> Self {
        let all = |k: ProblemKind| !problems.is_empty() && problems.iter().all(|p| p.kind == k);
        if all(ProblemKind::Unreachable) {
            Self::Unreachable { hash, problems }
        } else if problems
            .iter()
            .all(|p| p.kind == ProblemKind::NotFound || p.kind == ProblemKind::Unreachable)
            && problems.iter().any(|p| p.kind == ProblemKind::NotFound)
        {
            Self::UnknownHash { hash, problems }
        } else if all(ProblemKind::Refused) {
            Self::Refused { hash, problems }
        } else if all(ProblemKind::Corrupt) {
            Self::Corrupt { hash, problems }
        } else {
            Self::Incomplete {
                hash,
                missing,
                problems,
            }
        }
    }
}

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

/// A dialed provider.
#[derive(Debug)]
struct Live {
    node: EndpointId,
    conn: Connection,
    /// Set once the provider is dropped from this fetch.
    dropped: AtomicBool,
    bytes: AtomicU64,
    problem: Mutex<Option<ProviderProblem>>,
}

impl Live {
    fn drop_with(&self, kind: ProblemKind, message: String) {
        self.dropped.store(true, Ordering::SeqCst);
        if let Ok(mut p) = self.problem.lock()
            && p.is_none()
        {
            *p = Some(ProviderProblem {
                node: self.node.to_string(),
                kind,
                message,
            });
        }
    }
}

/// Work shared by the workers of one blob.
#[derive(Debug)]
struct Work {
    queue: Mutex<VecDeque<(ChunkRanges, bool)>>,
    in_flight: AtomicU64,
    notify: Notify,
    done: AtomicU64,
    total: u64,
    base: u64,
    fatal: Mutex<Option<StoreError>>,
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
        let result = match format {
            BlobFormat::Raw => self.fetch_blob(hash, &live, &mut problems, &mut acc).await,
            BlobFormat::HashSeq => {
                self.fetch_collection(hash, &live, &mut problems, &mut acc)
                    .await
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
                problem: l.problem.lock().ok().and_then(|p| p.clone()),
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
    /// verified data arrived and the failure was not the budget.
    async fn forget_failed(&self, hash: ContentHash, e: &FetchError) {
        let over_budget = matches!(e, FetchError::Store(StoreError::BudgetExceeded { .. }));
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

    /// Dials every provider at once; corrupt-remembered ones are skipped when
    /// any other is available. Clean providers come first.
    async fn connect_all(
        &self,
        providers: &[Provider],
        problems: &mut Vec<ProviderProblem>,
    ) -> Vec<Arc<Live>> {
        let mut providers: Vec<&Provider> = providers.iter().collect();
        providers.dedup_by_key(|p| p.node_id());
        let clean: Vec<&Provider> = providers
            .iter()
            .copied()
            .filter(|p| !self.reputation.is_corrupt(&p.node_id()))
            .collect();
        if !clean.is_empty() && clean.len() < providers.len() {
            for p in &providers {
                if self.reputation.is_corrupt(&p.node_id()) {
                    tracing::info!(provider = %p.node_id(), "skipping a provider remembered as corrupt");
                }
            }
            providers = clean;
        }
        providers.sort_by_key(|p| self.reputation.get(&p.node_id()).failures);
        let dials = providers.iter().map(|p| {
            let ep = self.endpoint.clone();
            let addr = p.addr.clone();
            let timeout = self.options.connect_timeout;
            async move {
                let node = addr.id;
                let r = tokio::time::timeout(timeout, ep.connect(addr, BLOBS_ALPN)).await;
                (node, r)
            }
        });
        let mut live = Vec::new();
        for (node, r) in n0_future::join_all(dials).await {
            let message = match r {
                Ok(Ok(conn)) => {
                    live.push(Arc::new(Live {
                        node,
                        conn,
                        dropped: AtomicBool::new(false),
                        bytes: AtomicU64::new(0),
                        problem: Mutex::new(None),
                    }));
                    continue;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {:?}", self.options.connect_timeout),
            };
            tracing::warn!(provider = %node, "cannot reach provider: {message}");
            self.reputation.record_failure(&node, &message);
            problems.push(ProviderProblem {
                node: node.to_string(),
                kind: ProblemKind::Unreachable,
                message,
            });
        }
        live
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
                message: e.to_string(),
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
                message: e.to_string(),
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
        let seg_chunks = (self.options.segment_bytes / 1024).max(16) / 16 * 16;
        // A resumed download knows the size from its first attempt.
        let size = match bitfield.validated_size() {
            Some(s) => s,
            None if bitfield.size() > 0 => bitfield.size(),
            None => {
                self.probe_size(ih, seg_chunks.min(1024), live, problems)
                    .await?
            }
        };
        let bitfield = api
            .observe(ih)
            .await
            .map_err(|e| StoreError::backend("observing a blob", e))?;
        let all = ChunkRanges::chunks(0..size.div_ceil(1024).max(1));
        let missing = all.clone() - bitfield.ranges.clone();
        let missing_bytes = ranges_bytes(&missing, size);
        let have = size.saturating_sub(missing_bytes);
        self.store.reserve(missing_bytes).await?;
        tracing::debug!(%hash, size, have, providers = live.len(), "size known, fetching ranges");
        let mut queue = VecDeque::new();
        // Segments: big enough that each stream mostly writes in order (many
        // small interleaved ranges cost ~25% on the bench), small enough that
        // every worker gets about eight, so a slow provider holds up the tail
        // by at most one small segment.
        let workers = (live.len() * self.options.streams_per_provider.max(1)).max(1) as u64;
        let seg_chunks = (missing_bytes / 1024 / (workers * 8))
            .clamp(1024, seg_chunks.max(1024))
            .div_ceil(16)
            * 16;
        let workers_live = live
            .iter()
            .filter(|l| !l.dropped.load(Ordering::SeqCst))
            .count();
        if workers_live == 1 && self.options.streams_per_provider <= 1 {
            // One provider, one stream: one request for everything missing.
            // Each request has a fixed cost in the receiving store (~50 ms
            // on a loaded disk in the bench), and there is nobody to share
            // the work with.
            queue.push_back((missing.clone(), false));
        }
        let split = queue.is_empty();
        for r in missing.iter().filter(|_| split) {
            let (start, end) = range_bounds(&r, size);
            let mut s = start;
            while s < end {
                let e = ((s / seg_chunks + 1) * seg_chunks).min(end);
                queue.push_back((ChunkRanges::chunks(s..e), false));
                s = e;
            }
        }
        let work = Arc::new(Work {
            queue: Mutex::new(queue),
            in_flight: AtomicU64::new(0),
            notify: Notify::new(),
            done: AtomicU64::new(0),
            total: acc.size + size,
            base: acc.size + have,
            fatal: Mutex::new(None),
        });
        if let Some(p) = &self.options.progress {
            p(work.base, work.total);
        }
        // The workers run inside this future (not spawned): dropping it (a
        // cancelled fetch) stops them all, and on a busy machine the
        // receiving loop does not compete with the endpoint's own tasks for
        // the runtime's worker threads (spawned workers cost ~40% in the
        // bench on two shared cores).
        let mut workers = Vec::new();
        for l in live.iter().filter(|l| !l.dropped.load(Ordering::SeqCst)) {
            for _ in 0..self.options.streams_per_provider.max(1) {
                workers.push(worker(
                    l.clone(),
                    ih,
                    work.clone(),
                    self.store.clone(),
                    self.reputation.clone(),
                    self.options.stall_timeout,
                    self.options.progress.clone(),
                ));
            }
        }
        n0_future::join_all(workers).await;
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
        let missing = ranges_bytes(&(all - bitfield.ranges.clone()), size);
        let mut all_problems = problems.clone();
        all_problems.extend(
            live.iter()
                .filter_map(|l| l.problem.lock().ok().and_then(|p| p.clone())),
        );
        problems.clear();
        problems.extend(all_problems.iter().cloned());
        Err(FetchError::from_problems(hash, missing, all_problems))
    }

    /// Fetches the first segment from the first provider that has it, which
    /// also tells the blob's size (verified once the last chunk is in).
    async fn probe_size(
        &self,
        hash: Hash,
        first_chunks: u64,
        live: &[Arc<Live>],
        earlier: &[ProviderProblem],
    ) -> Result<u64, FetchError> {
        for l in live.iter().filter(|l| !l.dropped.load(Ordering::SeqCst)) {
            // The first segment, not the last chunk: its header carries the
            // size, and starting the blob in order keeps the store on its fast
            // path (a last-chunk probe first cost 15-20% in the bench).
            let request = GetRequest::blob_ranges(hash, ChunkRanges::chunks(0..first_chunks));
            let r = tokio::time::timeout(
                self.options.stall_timeout,
                self.store
                    .api()
                    .remote()
                    .execute_get(l.conn.clone(), request)
                    .complete(),
            )
            .await;
            match r {
                Ok(Ok(stats)) => {
                    l.bytes
                        .fetch_add(stats.payload_bytes_read, Ordering::Relaxed);
                    let bf = self
                        .store
                        .api()
                        .observe(hash)
                        .await
                        .map_err(|e| StoreError::backend("observing a blob", e))?;
                    // Unvalidated until the last chunk arrives; a wrong size
                    // only makes the remaining chunks fail verification.
                    if bf.size() > 0 || !bf.ranges.is_empty() {
                        return Ok(bf.validated_size().unwrap_or(bf.size()));
                    }
                    l.drop_with(ProblemKind::NotFound, "sent no verifiable size".into());
                }
                Ok(Err(e)) => {
                    let (kind, message) = classify(&e);
                    if kind == ProblemKind::Corrupt {
                        self.reputation.record_corrupt(&l.node, &message);
                    } else if kind == ProblemKind::Died {
                        self.reputation.record_failure(&l.node, &message);
                    }
                    if let Some(local) = local_failure(&e) {
                        return Err(local.into());
                    }
                    l.drop_with(kind, message);
                }
                Err(_) => {
                    let message = format!("no answer within {:?}", self.options.stall_timeout);
                    self.reputation.record_failure(&l.node, &message);
                    l.drop_with(ProblemKind::Died, message);
                }
            }
        }
        let mut problems = earlier.to_vec();
        problems.extend(
            live.iter()
                .filter_map(|l| l.problem.lock().ok().and_then(|p| p.clone())),
        );
        Err(FetchError::from_problems(from_iroh(hash), 0, problems))
    }
}

#[derive(Debug, Default)]
struct Acc {
    size: u64,
    local: u64,
    downloaded: u64,
}

/// Bytes covered by `ranges` within a blob of `size` bytes.
fn ranges_bytes(ranges: &ChunkRanges, size: u64) -> u64 {
    ranges
        .iter()
        .map(|r| {
            let (s, e) = range_bounds(&r, size);
            (e * 1024).min(size).saturating_sub(s * 1024)
        })
        .sum()
}

/// The chunk bounds of one range, clipped to the blob.
fn range_bounds(
    r: &range_collections::range_set::RangeSetRange<&bao_tree::ChunkNum>,
    size: u64,
) -> (u64, u64) {
    let last = size.div_ceil(1024).max(1);
    match r {
        range_collections::range_set::RangeSetRange::Range(r) => (r.start.0, r.end.0.min(last)),
        range_collections::range_set::RangeSetRange::RangeFrom(r) => (r.start.0, last),
    }
}

/// Turns a get error into a provider problem.
fn classify(e: &GetError) -> (ProblemKind, String) {
    let message = e.to_string();
    match error_code(e) {
        Some(c) if c == iroh_blobs::protocol::ERR_PERMISSION => {
            return (ProblemKind::Refused, message);
        }
        // iroh-blobs answers a request for data it does not have by resetting
        // the stream with its "internal" code; our providers refuse (rather
        // than fail) everything they hold but do not serve, so this means
        // "does not have it".
        Some(c) if c == iroh_blobs::protocol::ERR_INTERNAL => {
            return (
                ProblemKind::NotFound,
                format!("does not have the requested data ({message})"),
            );
        }
        _ => {}
    }
    match e {
        GetError::Decode { source, .. } => match source {
            DecodeError::ParentHashMismatch { .. } | DecodeError::LeafHashMismatch { .. } => {
                (ProblemKind::Corrupt, message)
            }
            DecodeError::ChunkNotFound { .. }
            | DecodeError::ParentNotFound { .. }
            | DecodeError::LeafNotFound { .. } => (ProblemKind::NotFound, message),
            _ => (ProblemKind::Died, message),
        },
        GetError::AtBlobHeaderNext {
            source: AtBlobHeaderNextError::NotFound { .. },
            ..
        } => (ProblemKind::NotFound, message),
        _ => (ProblemKind::Died, message),
    }
}

/// The QUIC application error code the provider closed the stream or the
/// connection with, wherever it sits in the error's chain.
fn error_code(e: &GetError) -> Option<iroh::endpoint::VarInt> {
    use iroh::endpoint::{ConnectionError, ReadError, WriteError};
    fn of(e: &(dyn std::error::Error + 'static)) -> Option<iroh::endpoint::VarInt> {
        if let Some(r) = e.downcast_ref::<ReadError>() {
            return match r {
                ReadError::Reset(code) => Some(*code),
                ReadError::ConnectionLost(ConnectionError::ApplicationClosed(ac)) => {
                    Some(ac.error_code)
                }
                _ => None,
            };
        }
        if let Some(w) = e.downcast_ref::<WriteError>() {
            return match w {
                WriteError::Stopped(code) => Some(*code),
                WriteError::ConnectionLost(ConnectionError::ApplicationClosed(ac)) => {
                    Some(ac.error_code)
                }
                _ => None,
            };
        }
        if let Some(ConnectionError::ApplicationClosed(ac)) = e.downcast_ref::<ConnectionError>() {
            return Some(ac.error_code);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            return of(inner);
        }
        None
    }
    if let Some(code) = e.iroh_error_code() {
        return Some(code);
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(code) = of(err) {
            return Some(code);
        }
        cur = err.source();
    }
    None
}

/// A failure of our own store rather than the provider's.
fn local_failure(e: &GetError) -> Option<StoreError> {
    match e {
        GetError::LocalFailure { source, .. } => {
            Some(StoreError::backend("storing fetched data", source))
        }
        GetError::Decode {
            source: DecodeError::Write { source, .. },
            ..
        } => Some(StoreError::backend("storing fetched data", source)),
        _ => None,
    }
}

/// One stream's worth of work: take segments until none are left or the
/// provider is dropped.
async fn worker(
    live: Arc<Live>,
    hash: Hash,
    work: Arc<Work>,
    store: BlobStore,
    reputation: Reputation,
    stall: Duration,
    progress: Option<ProgressFn>,
) {
    loop {
        if live.dropped.load(Ordering::SeqCst) {
            return;
        }
        if work.fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
            return;
        }
        let next = work.queue.lock().ok().and_then(|mut q| q.pop_front());
        let Some((mut ranges, retry)) = next else {
            if work.in_flight.load(Ordering::SeqCst) == 0 {
                work.notify.notify_waiters();
                return;
            }
            // Another worker may fail and put its segment back: wait for that
            // or for everyone to finish.
            let notified = work.notify.notified();
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        };
        work.in_flight.fetch_add(1, Ordering::SeqCst);
        if retry {
            // Part of it may have been verified before the last attempt died.
            if let Ok(bf) = store.api().observe(hash).await {
                ranges -= bf.ranges;
            }
        }
        let outcome = if ranges.is_empty() {
            Ok(())
        } else {
            run_segment(
                &live,
                hash,
                ranges.clone(),
                &work,
                stall,
                progress.as_ref(),
                &store,
            )
            .await
        };
        match outcome {
            Ok(()) => {}
            Err(SegmentError::Local(e)) => {
                if let Ok(mut f) = work.fatal.lock() {
                    f.get_or_insert(e);
                }
            }
            Err(SegmentError::Provider(kind, message)) => {
                tracing::warn!(provider = %live.node, %kind, "dropping provider: {message}");
                match kind {
                    ProblemKind::Corrupt => reputation.record_corrupt(&live.node, &message),
                    ProblemKind::Died | ProblemKind::Unreachable => {
                        reputation.record_failure(&live.node, &message)
                    }
                    _ => {}
                }
                live.drop_with(kind, message);
                if let Ok(mut q) = work.queue.lock() {
                    q.push_back((ranges, true));
                }
            }
        }
        work.in_flight.fetch_sub(1, Ordering::SeqCst);
        work.notify.notify_waiters();
    }
}

#[derive(Debug)]
enum SegmentError {
    Provider(ProblemKind, String),
    Local(StoreError),
}

async fn run_segment(
    live: &Live,
    hash: Hash,
    ranges: ChunkRanges,
    work: &Work,
    stall: Duration,
    progress: Option<&ProgressFn>,
    store: &BlobStore,
) -> Result<(), SegmentError> {
    let request = GetRequest::blob_ranges(hash, ranges);
    let mut stream = store
        .api()
        .remote()
        .execute_get(live.conn.clone(), request)
        .stream();
    let mut last = 0u64;
    loop {
        let item = match tokio::time::timeout(stall, stream.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => {
                return Err(SegmentError::Provider(
                    ProblemKind::Died,
                    "request ended without a result".into(),
                ));
            }
            Err(_) => {
                return Err(SegmentError::Provider(
                    ProblemKind::Died,
                    format!("no progress for {stall:?}"),
                ));
            }
        };
        match item {
            GetProgressItem::Progress(n) => {
                let delta = n.saturating_sub(last);
                last = n;
                live.bytes.fetch_add(delta, Ordering::Relaxed);
                let done = work.done.fetch_add(delta, Ordering::Relaxed) + delta;
                if let Some(p) = progress {
                    p((work.base + done).min(work.total), work.total);
                }
            }
            GetProgressItem::Done(_) => return Ok(()),
            GetProgressItem::Error(e) => {
                if let Some(local) = local_failure(&e) {
                    return Err(SegmentError::Local(local));
                }
                let (kind, message) = classify(&e);
                return Err(SegmentError::Provider(kind, message));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_node_addresses_and_names_bad_input() {
        let id = iroh::SecretKey::generate().public();
        let p: Provider = format!("{id}@127.0.0.1:4000,127.0.0.1:4001")
            .parse()
            .unwrap();
        assert_eq!(p.node_id(), id);
        assert_eq!(p.addr.ip_addrs().count(), 2);
        let bare: Provider = id.to_string().parse().unwrap();
        assert_eq!(bare.addr.ip_addrs().count(), 0);
        for bad in ["blobnotaticket", "xyz", &format!("{id}@notasocket")] {
            let err = bad.parse::<Provider>().unwrap_err();
            assert!(
                matches!(err, FetchError::MalformedProvider { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn counts_bytes_of_partial_last_chunk() {
        let size = 10 * 1024 + 5;
        assert_eq!(ranges_bytes(&ChunkRanges::chunks(0..11), size), size);
        assert_eq!(ranges_bytes(&ChunkRanges::chunks(10..), size), 5);
        assert_eq!(ranges_bytes(&ChunkRanges::chunks(0..1), size), 1024);
    }
}
