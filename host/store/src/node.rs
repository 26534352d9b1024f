//! A blob node: identity, store and an iroh endpoint that serves the store to
//! allowed peers.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clusterai_types::ContentHash;
use iroh::endpoint::{Connection, QuicTransportConfig, presets};
use iroh::protocol::{AcceptError, DynProtocolHandler, ProtocolHandler, Router};
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayMode, TransportAddr};
use iroh_blobs::provider::events::{
    AbortReason, EventMask, EventSender, ObserveMode, ProviderMessage, RequestMode, ThrottleMode,
};
use iroh_blobs::ticket::BlobTicket;
use iroh_blobs::{BlobFormat, Hash};
use tokio::sync::Mutex;

use crate::allow::{AllowList, HashPolicy};
use crate::fetch::{FetchOptions, Fetcher};
use crate::identity::{IdentityError, NodeIdentity};
use crate::reputation::Reputation;
use crate::store::{BlobStore, StoreConfig, StoreError, to_iroh};

/// The ALPN of the blob protocol (iroh-blobs' own, versioned by iroh-blobs).
pub const BLOBS_ALPN: &[u8] = iroh_blobs::ALPN;

/// The default UDP address a node listens on.
pub const DEFAULT_BIND: &str = "0.0.0.0:7730";

/// Settings of a node. [`NodeConfig::new`] is the offline default: no relays,
/// no discovery, listen on [`DEFAULT_BIND`].
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the key, the store and the peer memory live.
    pub data_dir: PathBuf,
    /// The UDP address to bind.
    pub bind: SocketAddr,
    /// Use n0's public relays (for nodes behind NAT).
    pub relay: bool,
    /// Publish and resolve node addresses through n0's DNS (so a bare node id
    /// can be dialed).
    pub discovery: bool,
    /// Store settings (budget, collection period).
    pub store: StoreConfig,
    /// Cap on the bytes per second this node serves to all peers together;
    /// `None`: no cap.
    pub serve_rate_limit: Option<u64>,
    /// A connection with no sign of life for this long is dead; this is how
    /// fast a vanished provider is noticed.
    pub idle_timeout: Duration,
    /// Use a fresh random identity instead of `data_dir/node.key`.
    pub ephemeral_identity: bool,
    /// Connections one peer may hold open to this node at once; more are
    /// closed at once with iroh-blobs' "limit" code (busy, not a refusal).
    pub max_connections_per_peer: usize,
}

/// Streams one connection may have open at once (its requests).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 64;

/// Bytes a peer may send on one connection before this node reads them:
/// with [`MAX_STREAMS_PER_CONNECTION`] and the connection cap, the bound on
/// what one peer's unread requests hold in this node's memory.
pub const CONNECTION_RECEIVE_WINDOW: u32 = 16 << 20;

impl NodeConfig {
    /// Offline defaults for a node in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            bind: SocketAddr::from(([0, 0, 0, 0], 7730)),
            relay: false,
            discovery: false,
            store: StoreConfig::default(),
            serve_rate_limit: None,
            idle_timeout: Duration::from_secs(8),
            ephemeral_identity: false,
            max_connections_per_peer: 16,
        }
    }

    /// Loopback on a random port (tests, benchmarks).
    pub fn loopback(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Self::new(data_dir)
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The identity could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The endpoint could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The configured idle timeout cannot be a QUIC idle timeout.
    #[error("cannot listen on {addr}: bad idle timeout: {source}")]
    IdleTimeout {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A running node.
#[derive(Debug, Clone)]
pub struct Node {
    identity: NodeIdentity,
    store: BlobStore,
    router: Router,
    allow: AllowList,
    reputation: Reputation,
    idle_timeout: Duration,
    /// Payload bytes of finished transfers served to peers.
    served: Arc<AtomicU64>,
}

impl Node {
    /// Opens the store, binds the endpoint and starts serving to `allow`.
    pub async fn spawn(config: NodeConfig, allow: AllowList) -> Result<Self, NodeError> {
        Self::spawn_with(config, allow, Vec::new()).await
    }

    /// Like [`Node::spawn`], also serving `protocols` (ALPN and handler) on
    /// the same endpoint.
    pub async fn spawn_with(
        config: NodeConfig,
        allow: AllowList,
        protocols: Vec<(Vec<u8>, Box<dyn DynProtocolHandler>)>,
    ) -> Result<Self, NodeError> {
        let identity = if config.ephemeral_identity {
            NodeIdentity::ephemeral()
        } else {
            NodeIdentity::load_or_create(&config.data_dir)?
        };
        let store = BlobStore::open(
            clusterai_types::env::blobs_dir(&config.data_dir),
            config.store.clone(),
        )
        .await?;
        let endpoint = match bind_endpoint(&config, &identity).await {
            Ok(ep) => ep,
            Err(e) => {
                store.shutdown().await.ok();
                return Err(e);
            }
        };
        let served = Arc::new(AtomicU64::new(0));
        let events = spawn_event_handler(
            store.clone(),
            allow.clone(),
            config.serve_rate_limit,
            served.clone(),
        );
        let handler = GuardedBlobs {
            store: store.api().clone(),
            events,
            allow: allow.clone(),
            connections: Arc::new(std::sync::Mutex::new(HashMap::new())),
            max_connections_per_peer: config.max_connections_per_peer.max(1),
        };
        let mut router = Router::builder(endpoint).accept(BLOBS_ALPN, handler);
        for (alpn, handler) in protocols {
            router = router.accept(alpn, handler);
        }
        let router = router.spawn();
        let reputation = Reputation::load(config.data_dir.join("peers.json"));
        tracing::info!(node_id = %identity.node_id(), sockets = ?router.endpoint().bound_sockets(), "node up");
        Ok(Self {
            identity,
            store,
            router,
            allow,
            reputation,
            idle_timeout: config.idle_timeout,
            served,
        })
    }

    /// The node id.
    pub fn node_id(&self) -> EndpointId {
        self.identity.node_id()
    }

    /// The node identity (for signing).
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// The store.
    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        self.router.endpoint()
    }

    /// The allow-list (shared: changes apply at once).
    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// The memory of misbehaving providers.
    pub fn reputation(&self) -> &Reputation {
        &self.reputation
    }

    /// The address peers dial: the endpoint's advertised addresses plus the
    /// concrete sockets it is bound to.
    pub fn addr(&self) -> EndpointAddr {
        let ep = self.endpoint();
        let mut addr = ep.addr();
        for s in ep.bound_sockets() {
            if !s.ip().is_unspecified() {
                addr.addrs.insert(TransportAddr::Ip(s));
            }
        }
        addr
    }

    /// A ticket for a pinned blob or collection on this node.
    pub async fn ticket(&self, hash: ContentHash) -> Result<BlobTicket, StoreError> {
        let format = match self
            .store
            .api()
            .tags()
            .get(format!("{}{hash}", crate::store::PIN_PREFIX))
            .await
            .map_err(|e| StoreError::backend("reading tags", e))?
        {
            Some(tag) => tag.format,
            None => BlobFormat::Raw,
        };
        Ok(BlobTicket::new(self.addr(), to_iroh(hash), format))
    }

    /// A fetcher that downloads into this node's store.
    pub fn fetcher(&self, options: FetchOptions) -> Fetcher {
        Fetcher::new(
            self.endpoint().clone(),
            self.store.clone(),
            self.reputation.clone(),
            FetchOptions {
                stall_timeout: options.stall_timeout.max(self.idle_timeout),
                ..options
            },
        )
    }

    /// Payload bytes this node has served to peers (finished or aborted
    /// transfers).
    pub fn bytes_served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Stops serving, closes the endpoint and then the store.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        if let Err(e) = self.router.shutdown().await {
            tracing::warn!("router shutdown: {e}");
        }
        self.store.shutdown().await
    }
}

/// The address a node with `config` will be reachable at: binds an endpoint
/// with the node's identity, reads its addresses and closes it again (what
/// `blob add` puts in its ticket).
pub async fn advertised_addr(config: &NodeConfig) -> Result<EndpointAddr, NodeError> {
    let identity = NodeIdentity::load_or_create(&config.data_dir)?;
    let ep = bind_endpoint(config, &identity).await?;
    let mut addr = ep.addr();
    for s in ep.bound_sockets() {
        if !s.ip().is_unspecified() {
            addr.addrs.insert(TransportAddr::Ip(s));
        }
    }
    ep.close().await;
    Ok(addr)
}

async fn bind_endpoint(
    config: &NodeConfig,
    identity: &NodeIdentity,
) -> Result<Endpoint, NodeError> {
    let bind_err = |source: Box<dyn std::error::Error + Send + Sync>| NodeError::Bind {
        addr: config.bind,
        source,
    };
    let idle =
        config
            .idle_timeout
            .try_into()
            .map_err(
                |e: iroh::endpoint::VarIntBoundsExceeded| NodeError::IdleTimeout {
                    addr: config.bind,
                    source: e.into(),
                },
            )?;
    let transport = QuicTransportConfig::builder()
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(Duration::from_millis(
            (config.idle_timeout.as_millis() as u64 / 4).max(100),
        ))
        .max_concurrent_bidi_streams(MAX_STREAMS_PER_CONNECTION.into())
        .receive_window(CONNECTION_RECEIVE_WINDOW.into())
        .build();
    let builder = match (config.discovery, config.relay) {
        (true, true) => Endpoint::builder(presets::N0),
        (true, false) => Endpoint::builder(presets::N0DisableRelay),
        (false, true) => Endpoint::builder(presets::Minimal).relay_mode(RelayMode::Default),
        (false, false) => Endpoint::builder(presets::Minimal).relay_mode(RelayMode::Disabled),
    };
    builder
        .secret_key(identity.secret_key().clone())
        .transport_config(transport)
        .clear_ip_transports()
        .bind_addr(config.bind)
        .map_err(|e| bind_err(e.into()))?
        .bind()
        .await
        .map_err(|e| bind_err(e.into()))
}

/// The blob protocol behind the allow-list: refuses connections from peers
/// that are not admitted, turns away a peer's connections past its cap, and
/// leaves the store open on shutdown (the node closes it after the
/// endpoint).
#[derive(Debug, Clone)]
struct GuardedBlobs {
    store: iroh_blobs::api::Store,
    events: EventSender,
    allow: AllowList,
    /// Open connections by peer.
    connections: Arc<std::sync::Mutex<HashMap<EndpointId, usize>>>,
    max_connections_per_peer: usize,
}

/// One of a peer's counted connections; uncounted on drop.
struct PeerConnection {
    connections: Arc<std::sync::Mutex<HashMap<EndpointId, usize>>>,
    peer: EndpointId,
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        let mut open = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

impl GuardedBlobs {
    /// Counts a connection from `peer`, unless it holds its cap already.
    fn admit(&self, peer: EndpointId) -> Option<PeerConnection> {
        let mut open = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(peer).or_insert(0);
        if *n >= self.max_connections_per_peer {
            return None;
        }
        *n += 1;
        Some(PeerConnection {
            connections: self.connections.clone(),
            peer,
        })
    }
}

/// Closes `conn` with `code`, giving the close frame a moment to leave.
async fn close(conn: &Connection, code: iroh::endpoint::VarInt, reason: &[u8]) {
    conn.close(code, reason);
    tokio::time::timeout(Duration::from_secs(2), conn.closed())
        .await
        .ok();
}

impl ProtocolHandler for GuardedBlobs {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let peer = conn.remote_id();
        if !self.allow.peer_allowed(&peer) {
            tracing::warn!(peer = %peer, "refused a peer that is not on the allow-list");
            close(&conn, iroh_blobs::protocol::ERR_PERMISSION, b"not allowed").await;
            return Ok(());
        }
        let Some(_counted) = self.admit(peer) else {
            tracing::warn!(
                peer = %peer,
                cap = self.max_connections_per_peer,
                "turned away a connection: the peer holds its cap of open connections"
            );
            close(
                &conn,
                iroh_blobs::protocol::ERR_LIMIT,
                b"too many connections",
            )
            .await;
            return Ok(());
        };
        iroh_blobs::provider::handle_connection(conn, self.store.clone(), self.events.clone())
            .await;
        Ok(())
    }
}

/// Answers the provider's intercept events: a request for a hash outside the
/// hash policy is refused; when a serve rate limit is set, each 16 KiB piece
/// waits for its slot.
fn spawn_event_handler(
    store: BlobStore,
    allow: AllowList,
    rate_limit: Option<u64>,
    served: Arc<AtomicU64>,
) -> EventSender {
    let mask = EventMask {
        // With the transfer log, so served bytes can be counted.
        get: RequestMode::InterceptLog,
        get_many: RequestMode::InterceptLog,
        observe: ObserveMode::Intercept,
        throttle: if rate_limit.is_some() {
            ThrottleMode::Intercept
        } else {
            ThrottleMode::None
        },
        ..EventMask::DEFAULT
    };
    let (sender, mut rx) = EventSender::channel(256, mask);
    let limiter = Arc::new(Mutex::new(tokio::time::Instant::now()));
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            match msg {
                ProviderMessage::GetRequestReceived(msg) => {
                    let ok = request_allowed(&store, &allow, &msg.inner.request).await;
                    msg.tx.send(verdict(ok)).await.ok();
                    if ok {
                        count_served(msg.rx, served.clone());
                    }
                }
                ProviderMessage::GetManyRequestReceived(msg) => {
                    let hashes = msg.inner.request.hashes.clone();
                    let ok = hashes_allowed(&store, &allow, hashes).await;
                    msg.tx.send(verdict(ok)).await.ok();
                    if ok {
                        count_served(msg.rx, served.clone());
                    }
                }
                ProviderMessage::ObserveRequestReceived(msg) => {
                    let ok = hashes_allowed(&store, &allow, [msg.inner.request.hash]).await;
                    msg.tx.send(verdict(ok)).await.ok();
                }
                ProviderMessage::PushRequestReceived(msg) => {
                    msg.tx.send(Err(AbortReason::Permission)).await.ok();
                }
                ProviderMessage::Throttle(msg) => {
                    let Some(rate) = rate_limit else {
                        msg.tx.send(Ok(())).await.ok();
                        continue;
                    };
                    // A virtual clock of when the budget is spent up to; a
                    // piece waits only once that runs more than BURST ahead
                    // of now, so short sleeps (which the timer rounds up to
                    // a millisecond) do not throttle below the rate.
                    const BURST: Duration = Duration::from_millis(20);
                    let cost = Duration::from_secs_f64(msg.inner.size as f64 / rate.max(1) as f64);
                    let wake = {
                        let mut spent = limiter.lock().await;
                        let now = tokio::time::Instant::now();
                        *spent = (*spent).max(now.checked_sub(BURST).unwrap_or(now)) + cost;
                        (*spent > now + BURST).then(|| *spent - BURST)
                    };
                    match wake {
                        None => {
                            msg.tx.send(Ok(())).await.ok();
                        }
                        Some(at) => {
                            tokio::spawn(async move {
                                tokio::time::sleep_until(at).await;
                                msg.tx.send(Ok(())).await.ok();
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    });
    sender
}

/// Adds the payload bytes of a request's finished or aborted transfers to
/// `served`.
fn count_served(
    mut updates: irpc::channel::mpsc::Receiver<iroh_blobs::provider::events::RequestUpdate>,
    served: Arc<AtomicU64>,
) {
    use iroh_blobs::provider::events::RequestUpdate;
    tokio::spawn(async move {
        while let Ok(Some(update)) = updates.recv().await {
            match update {
                RequestUpdate::Completed(c) => {
                    served.fetch_add(c.stats.payload_bytes_sent, Ordering::Relaxed);
                }
                RequestUpdate::Aborted(a) => {
                    served.fetch_add(a.stats.payload_bytes_sent, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
}

fn verdict(ok: bool) -> Result<(), AbortReason> {
    if ok {
        Ok(())
    } else {
        Err(AbortReason::Permission)
    }
}

/// Whether a get request reaches only data this node serves. A request for
/// a blob's own ranges is judged by its hash. One that also asks for
/// children reaches every hash the root's bytes name, so it is allowed only
/// when the root is pinned as a collection and all its children are
/// allowed: any blob whose length is a multiple of 32 parses as a hash
/// sequence, and a pinned raw blob must not open a way to the data it
/// happens to name.
async fn request_allowed(
    store: &BlobStore,
    allow: &AllowList,
    request: &iroh_blobs::protocol::GetRequest,
) -> bool {
    if request.ranges.is_blob() {
        return hashes_allowed(store, allow, [request.hash]).await;
    }
    match store.pinned_collection(request.hash).await {
        Ok(Some(children)) => {
            if !within_collection(&request.ranges, children.len() as u64) {
                tracing::warn!(hash = %request.hash, children = children.len(), "refused a request naming ranges past the collection's children");
                return false;
            }
            hashes_allowed(store, allow, std::iter::once(request.hash).chain(children)).await
        }
        Ok(None) => {
            tracing::warn!(hash = %request.hash, "refused a request for the children of a blob that is not a pinned collection");
            false
        }
        Err(e) => {
            tracing::warn!("cannot read pins, refusing request: {e}");
            false
        }
    }
}

/// Whether a request's ranges name nothing past the root and `children`
/// children (its last entry may stand at the end, repeating from there).
/// iroh-blobs' provider walks a request's ranges one child at a time,
/// without yielding, to the next one that names data: ranges naming child
/// 2^40 of a collection of three would hold one of the node's threads for
/// hours. The walk here is as long as the collection.
pub fn within_collection(ranges: &iroh_blobs::protocol::ChunkRangesSeq, children: u64) -> bool {
    let mut walk = ranges.iter_infinite();
    // The root, every child, and the index after the last: an entry there
    // only ends the sequence.
    for _ in 0..children.saturating_add(2) {
        walk.next();
    }
    walk.is_at_end()
}

async fn hashes_allowed(
    store: &BlobStore,
    allow: &AllowList,
    hashes: impl IntoIterator<Item = Hash>,
) -> bool {
    let wanted: Vec<Hash> = hashes.into_iter().collect();
    let ok = match allow.hash_policy() {
        HashPolicy::Only(set) => wanted
            .iter()
            .all(|h| set.contains(&crate::store::from_iroh(*h))),
        HashPolicy::Pinned => match store.pinned_closure().await {
            Ok(pinned) => {
                let mut ok = true;
                for h in &wanted {
                    // A hash the node does not hold at all is let through, so
                    // that the requester hears "not found" rather than
                    // "refused"; present but unpinned data is refused.
                    if !pinned.contains(h) && !absent(store, *h).await {
                        ok = false;
                        break;
                    }
                }
                ok
            }
            Err(e) => {
                tracing::warn!("cannot read pins, refusing request: {e}");
                false
            }
        },
    };
    if !ok {
        let list: HashSet<String> = wanted.iter().map(|h| h.to_hex().to_string()).collect();
        tracing::warn!(hashes = ?list, "refused a request for a hash this node does not serve");
    }
    ok
}

async fn absent(store: &BlobStore, hash: Hash) -> bool {
    matches!(
        store.api().status(hash).await,
        Ok(iroh_blobs::api::blobs::BlobStatus::NotFound)
    )
}
