//! The network side of a fetch: dialing the providers, the first request
//! that tells a blob's size, and the download workers that take segments
//! from a shared queue, one range request (QUIC stream) at a time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iroh::EndpointId;
use iroh::endpoint::Connection;
use iroh_blobs::Hash;
use iroh_blobs::api::remote::GetProgressItem;
use iroh_blobs::protocol::{ChunkRanges, ChunkRangesExt, GetRequest};
use n0_future::StreamExt;
use tokio::sync::Notify;

use super::error::{classify, closed_by_provider, local_failure};
use super::{FetchError, Fetcher, ProblemKind, ProgressFn, Provider, ProviderProblem};
use crate::node::BLOBS_ALPN;
use crate::reputation::Reputation;
use crate::store::{BlobStore, StoreError, from_iroh};

/// A dialed provider.
#[derive(Debug)]
pub(super) struct Live {
    pub(super) node: EndpointId,
    pub(super) conn: Connection,
    /// Set once the provider is dropped from this fetch.
    pub(super) dropped: AtomicBool,
    /// Payload bytes it delivered.
    pub(super) bytes: AtomicU64,
    /// Why it was dropped.
    pub(super) problem: Mutex<Option<ProviderProblem>>,
}

impl Live {
    /// Whether it is still in the fetch.
    pub(super) fn active(&self) -> bool {
        !self.dropped.load(Ordering::SeqCst)
    }

    /// Its problem, if it had one.
    pub(super) fn problem(&self) -> Option<ProviderProblem> {
        self.problem.lock().ok().and_then(|p| p.clone())
    }

    /// Drops it from the fetch, keeping the first problem.
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
pub(super) struct Work {
    /// Segments still to fetch, and whether each is a retry.
    queue: Mutex<VecDeque<(ChunkRanges, bool)>>,
    in_flight: AtomicU64,
    notify: Notify,
    /// Payload bytes received by the workers.
    pub(super) done: AtomicU64,
    /// Progress total: bytes of the content so far, this blob included.
    pub(super) total: u64,
    /// Progress base: bytes done before the workers started.
    pub(super) base: u64,
    /// A failure of our own store, which stops every worker.
    pub(super) fatal: Mutex<Option<StoreError>>,
}

impl Work {
    /// Work on the planned `segments`, reporting progress from `base` of `total`.
    pub(super) fn new(segments: Vec<ChunkRanges>, base: u64, total: u64) -> Self {
        Self {
            queue: Mutex::new(segments.into_iter().map(|s| (s, false)).collect()),
            in_flight: AtomicU64::new(0),
            notify: Notify::new(),
            done: AtomicU64::new(0),
            total,
            base,
            fatal: Mutex::new(None),
        }
    }
}

impl Fetcher {
    /// Dials every provider at once; corrupt-remembered ones are skipped when
    /// any other is available. Clean providers come first.
    pub(super) async fn connect_all(
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

    /// Fetches the first segment from the first provider that has it, which
    /// also tells the blob's size (verified once the last chunk is in).
    pub(super) async fn probe_size(
        &self,
        hash: Hash,
        first_chunks: u64,
        live: &[Arc<Live>],
        earlier: &[ProviderProblem],
    ) -> Result<u64, FetchError> {
        for l in live.iter().filter(|l| l.active()) {
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
                    let (kind, message) = match local_failure(e) {
                        Ok(local @ StoreError::DiskFull { .. }) => return Err(local.into()),
                        Ok(local) => match closed_by_provider(&l.conn) {
                            Some(problem) => problem,
                            None => return Err(local.into()),
                        },
                        Err(e) => classify(&e),
                    };
                    if kind == ProblemKind::Corrupt {
                        self.reputation.record_corrupt(&l.node, &message);
                    } else if matches!(kind, ProblemKind::Died | ProblemKind::Refused) {
                        // A refusal counts too: a provider named for content
                        // it will not serve costs the fetch a connection.
                        self.reputation.record_failure(&l.node, &message);
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
        problems.extend(live.iter().filter_map(|l| l.problem()));
        Err(FetchError::from_problems(from_iroh(hash), 0, problems))
    }

    /// Runs `streams_per_provider` workers for every active provider until
    /// the queue of `work` is done or nobody is left to take it.
    ///
    /// The workers run inside this future (not spawned): dropping it (a
    /// cancelled fetch) stops them all, and on a busy machine the receiving
    /// loop does not compete with the endpoint's own tasks for the runtime's
    /// worker threads (spawned workers cost ~40% in the bench on two shared
    /// cores).
    pub(super) async fn run_workers(&self, live: &[Arc<Live>], hash: Hash, work: &Arc<Work>) {
        let mut workers = Vec::new();
        for l in live.iter().filter(|l| l.active()) {
            for _ in 0..self.options.streams_per_provider.max(1) {
                workers.push(worker(
                    l.clone(),
                    hash,
                    work.clone(),
                    self.store.clone(),
                    self.reputation.clone(),
                    (self.options.stall_timeout, self.options.min_rate),
                    self.options.progress.clone(),
                ));
            }
        }
        n0_future::join_all(workers).await;
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
    (stall, min_rate): (Duration, u64),
    progress: Option<ProgressFn>,
) {
    loop {
        if !live.active() {
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
                (stall, min_rate),
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
                    ProblemKind::Died | ProblemKind::Unreachable | ProblemKind::Refused => {
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

/// Why one segment failed.
#[derive(Debug)]
enum SegmentError {
    /// The provider's fault: drop it, give the segment to another.
    Provider(ProblemKind, String),
    /// Our own store failed: stop the fetch.
    Local(StoreError),
}

/// Requests one segment on its own stream and follows its progress.
async fn run_segment(
    live: &Live,
    hash: Hash,
    ranges: ChunkRanges,
    work: &Work,
    (stall, min_rate): (Duration, u64),
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
    // Bytes since the start of the current window of `stall`.
    let mut window = (std::time::Instant::now(), 0u64);
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
                window.1 += delta;
                let elapsed = window.0.elapsed();
                if elapsed >= stall {
                    let rate = window.1 as f64 / elapsed.as_secs_f64();
                    if rate < min_rate as f64 {
                        return Err(SegmentError::Provider(
                            ProblemKind::Died,
                            format!(
                                "sent {} bytes in {:.1} s, under the minimum of {min_rate} bytes/s",
                                window.1,
                                elapsed.as_secs_f64()
                            ),
                        ));
                    }
                    window = (std::time::Instant::now(), 0);
                }
                live.bytes.fetch_add(delta, Ordering::Relaxed);
                let done = work.done.fetch_add(delta, Ordering::Relaxed) + delta;
                if let Some(p) = progress {
                    p((work.base + done).min(work.total), work.total);
                }
            }
            GetProgressItem::Done(_) => return Ok(()),
            GetProgressItem::Error(e) => {
                let e = match local_failure(e) {
                    // The backend's own words for a full disk are opaque
                    // ("Error::Io"): say how much room is left, and where.
                    Ok(StoreError::DiskFull { .. }) => {
                        return Err(SegmentError::Local(
                            store.disk_full("storing fetched data", 0),
                        ));
                    }
                    Ok(local) => match closed_by_provider(&live.conn) {
                        Some((kind, message)) => {
                            return Err(SegmentError::Provider(kind, message));
                        }
                        None => return Err(SegmentError::Local(local)),
                    },
                    Err(e) => e,
                };
                let (kind, message) = classify(&e);
                // When our own disk fills, iroh-blobs' writer stops and the
                // transfer looks like a provider dying: the disk is checked
                // before the provider is blamed.
                if kind == ProblemKind::Died && !store.fits_disk(0) {
                    return Err(SegmentError::Local(
                        store.disk_full("storing fetched data", 0),
                    ));
                }
                return Err(SegmentError::Provider(kind, message));
            }
        }
    }
}
