//! Loopback tests with real iroh endpoints: several nodes in one process,
//! each with its own data directory, store and endpoint.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clusterai_store::fetch::{FetchOptions, ProblemKind, Provider};
use clusterai_store::{
    AllowList, BlobFormat, ContentHash, FetchError, HashPolicy, Node, NodeConfig, StoreConfig,
    StoreError,
};
use iroh::endpoint::Connection;
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use tempfile::TempDir;

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Deterministic pseudo-random bytes (incompressible, distinct per seed).
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        let mut h = blake3::Hasher::new();
        h.update(&seed.to_le_bytes());
        h.update(&counter.to_le_bytes());
        let mut reader = h.finalize_xof();
        let mut block = [0u8; 4096];
        reader.fill(&mut block);
        out.extend_from_slice(&block);
        counter += 1;
    }
    out.truncate(len);
    out
}

async fn node(dir: &Path) -> Node {
    node_with(NodeConfig::loopback(dir)).await
}

async fn node_with(config: NodeConfig) -> Node {
    Node::spawn(config, AllowList::new())
        .await
        .expect("node starts")
}

/// A provider `a` and a peer `b` it admits, with the folders they live in.
async fn provider_and_peer() -> ([TempDir; 2], Node, Node) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = node(dirs[0].path()).await;
    let b = node(dirs[1].path()).await;
    admit(&a, &[&b]);
    (dirs, a, b)
}

fn opts() -> FetchOptions {
    FetchOptions {
        segment_bytes: 1 << 20,
        connect_timeout: Duration::from_secs(5),
        stall_timeout: Duration::from_secs(20),
        ..FetchOptions::default()
    }
}

/// Lets `fetchers` fetch from `provider`.
fn admit(provider: &Node, fetchers: &[&Node]) {
    for f in fetchers {
        provider.allow_list().allow_peer(f.node_id());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_fetch_from_one_then_from_two_in_parallel() {
    init_tracing();
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path()).await;
    let b = node(dirs[1].path()).await;
    let c = node(dirs[2].path()).await;
    admit(&a, &[&b, &c]);
    admit(&b, &[&c]);
    let bytes = data(8 << 20, 1);
    let hash = a.store().import_bytes(bytes.clone()).await.unwrap();
    assert_eq!(hash, ContentHash::of(&bytes));

    // B from A alone.
    let report = b
        .fetcher(opts())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap();
    assert_eq!(report.size, bytes.len() as u64);
    assert_eq!(report.downloaded, bytes.len() as u64);
    assert_eq!(b.store().read(hash).await.unwrap(), bytes);
    assert!(b.store().is_pinned(hash).await.unwrap());

    // C from A and B at once, by ranges: both deliver part of the blob.
    let report = c
        .fetcher(opts())
        .fetch(
            hash,
            BlobFormat::Raw,
            &[Provider::new(a.addr()), Provider::new(b.addr())],
        )
        .await
        .unwrap();
    assert_eq!(c.store().read(hash).await.unwrap(), bytes);
    let per: Vec<u64> = report.providers.iter().map(|p| p.bytes).collect();
    assert_eq!(per.len(), 2, "{report:?}");
    assert!(
        per.iter().all(|&n| n > 0),
        "both providers served ranges: {per:?}"
    );
    assert_eq!(per.iter().sum::<u64>(), bytes.len() as u64);

    // Fetching again is a no-op.
    let again = c
        .fetcher(opts())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap();
    assert_eq!(again.downloaded, 0);
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_and_manifest_travel_as_one_collection() {
    init_tracing();
    let (_dirs, a, b) = provider_and_peer().await;
    let model = data(3 << 20, 2);
    let manifest = br#"{"name":"tiny","version":"0.1.0"}"#.to_vec();
    let hm = a.store().import_bytes(model.clone()).await.unwrap();
    let hj = a.store().import_bytes(manifest.clone()).await.unwrap();
    let root = a
        .store()
        .add_collection([
            ("model.onnx".to_string(), hm),
            ("manifest.json".to_string(), hj),
        ])
        .await
        .unwrap();
    // Only the collection stays pinned; its children are served through it.
    a.store().unpin(hm).await.unwrap();
    a.store().unpin(hj).await.unwrap();
    let ticket = a.ticket(root).await.unwrap().to_string();
    let provider: Provider = ticket.parse().unwrap();
    assert_eq!(provider.ticket_content, Some((root, BlobFormat::HashSeq)));
    let report = b
        .fetcher(opts())
        .fetch(root, BlobFormat::HashSeq, &[provider])
        .await
        .unwrap();
    assert_eq!(report.format, "collection");
    let entries = b.store().collection(root).await.unwrap();
    assert_eq!(
        entries,
        vec![
            ("model.onnx".to_string(), hm),
            ("manifest.json".to_string(), hj)
        ]
    );
    assert_eq!(b.store().read(hm).await.unwrap(), model);
    assert_eq!(b.store().read(hj).await.unwrap(), manifest);
    // The children survive a collection because the root is pinned.
    b.store().collect().await.unwrap();
    assert_eq!(b.store().read(hm).await.unwrap(), model);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A provider that relays the blob protocol to an honest node and flips one
/// byte in every response (past the 8-byte size header).
#[derive(Debug, Clone)]
struct FlipByte {
    endpoint: iroh::Endpoint,
    upstream: iroh::EndpointAddr,
}

impl ProtocolHandler for FlipByte {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let up = self
            .endpoint
            .connect(self.upstream.clone(), iroh_blobs::ALPN)
            .await
            .map_err(AcceptError::from_err)?;
        while let Ok((mut c_send, mut c_recv)) = conn.accept_bi().await {
            let (mut u_send, mut u_recv) = up.open_bi().await.map_err(AcceptError::from_err)?;
            tokio::spawn(async move {
                let req = c_recv.read_to_end(1 << 16).await?;
                u_send.write_all(&req).await?;
                u_send.finish()?;
                let mut resp = u_recv.read_to_end(1 << 30).await?;
                if resp.len() > 300 {
                    resp[300] ^= 0x01;
                }
                c_send.write_all(&resp).await?;
                c_send.finish()?;
                anyhow::Ok(())
            });
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_flips_a_byte_is_rejected_and_remembered() {
    init_tracing();
    let dirs: Vec<TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let honest = node(dirs[0].path()).await;
    let c = node(dirs[1].path()).await;
    let d = node(dirs[2].path()).await;
    let bytes = data(4 << 20, 3);
    let hash = honest.store().import_bytes(bytes.clone()).await.unwrap();

    let proxy_ep = iroh::Endpoint::builder(iroh::endpoint::presets::Minimal)
        .relay_mode(iroh::RelayMode::Disabled)
        .clear_ip_transports()
        .bind_addr("127.0.0.1:0")
        .unwrap()
        .bind()
        .await
        .unwrap();
    admit(&honest, &[&c, &d]);
    honest.allow_list().allow_peer(proxy_ep.id());
    let proxy = Router::builder(proxy_ep.clone())
        .accept(
            iroh_blobs::ALPN,
            FlipByte {
                endpoint: proxy_ep.clone(),
                upstream: honest.addr(),
            },
        )
        .spawn();
    let mut proxy_addr = iroh::EndpointAddr::new(proxy_ep.id());
    for s in proxy_ep.bound_sockets() {
        proxy_addr.addrs.insert(iroh::TransportAddr::Ip(s));
    }

    // Only the corrupt provider: the fetch fails, naming why, and nothing
    // unverified is kept.
    let err = c
        .fetcher(opts())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(proxy_addr.clone())])
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Corrupt { .. }), "{err}");
    assert!(!c.store().has(hash).await.unwrap());
    assert!(c.reputation().is_corrupt(&proxy_ep.id()));

    // Corrupt and honest together: the corrupt one is dropped mid-fetch, its
    // ranges go to the honest one, and the result verifies.
    let report = d
        .fetcher(opts())
        .fetch(
            hash,
            BlobFormat::Raw,
            &[
                Provider::new(proxy_addr.clone()),
                Provider::new(honest.addr()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(d.store().read(hash).await.unwrap(), bytes);
    let bad = report
        .providers
        .iter()
        .find(|p| p.node == proxy_ep.id().to_string())
        .unwrap();
    assert_eq!(
        bad.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::Corrupt)
    );
    assert!(d.reputation().is_corrupt(&proxy_ep.id()));

    // C remembers: next time it skips the corrupt provider altogether.
    let report = c
        .fetcher(opts())
        .fetch(
            hash,
            BlobFormat::Raw,
            &[Provider::new(proxy_addr), Provider::new(honest.addr())],
        )
        .await
        .unwrap();
    assert!(
        report
            .providers
            .iter()
            .all(|p| p.node != proxy_ep.id().to_string())
    );
    assert_eq!(c.store().read(hash).await.unwrap(), bytes);
    proxy.shutdown().await.unwrap();
    for n in [honest, c, d] {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_killed_halfway_resumes_without_redownloading() {
    init_tracing();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The provider serves at 8 MB/s so the fetch is reliably mid-way when killed.
    let a = node_with(NodeConfig {
        serve_rate_limit: Some(8_000_000),
        ..NodeConfig::loopback(da.path())
    })
    .await;
    let b = node(db.path()).await;
    admit(&a, &[&b]);
    let size = 16 << 20;
    let bytes = data(size, 4);
    let hash = a.store().import_bytes(bytes.clone()).await.unwrap();

    let halfway = Arc::new(tokio::sync::Notify::new());
    let signalled = Arc::new(AtomicBool::new(false));
    let (h2, s2) = (halfway.clone(), signalled.clone());
    let fetcher = b.fetcher(FetchOptions {
        progress: Some(Arc::new(move |done, total| {
            if done * 2 >= total && !s2.swap(true, Ordering::SeqCst) {
                h2.notify_one();
            }
        })),
        ..opts()
    });
    let addr = a.addr();
    let task = tokio::spawn(async move {
        fetcher
            .fetch(hash, BlobFormat::Raw, &[Provider::new(addr)])
            .await
    });
    tokio::time::timeout(Duration::from_secs(120), halfway.notified())
        .await
        .expect("fetch reaches halfway");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    // Restart the fetching node: the partial download survives.
    b.shutdown().await.unwrap();
    drop(b);
    let b = node(db.path()).await;
    a.allow_list().allow_peer(b.node_id());
    let listed = b.store().list().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|e| e.hash == hash && e.state == "partial"),
        "{listed:?}"
    );
    let report = b
        .fetcher(opts())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap();
    assert!(
        report.already_local >= size as u64 / 3,
        "kept what it had: {report:?}"
    );
    assert!(
        report.downloaded + report.already_local <= size as u64 + (4 << 20),
        "did not download again what it had: {report:?}"
    );
    assert_eq!(b.store().read(hash).await.unwrap(), bytes);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_provider_fails_over_within_seconds() {
    init_tracing();
    let dirs: Vec<TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let limited = |d: &Path| NodeConfig {
        serve_rate_limit: Some(6_000_000),
        ..NodeConfig::loopback(d)
    };
    let a = node_with(limited(dirs[0].path())).await;
    let b = node_with(limited(dirs[1].path())).await;
    let c = node(dirs[2].path()).await;
    let gone = node(dirs[3].path()).await;
    let gone_addr = gone.addr();
    gone.shutdown().await.unwrap();
    admit(&a, &[&b, &c]);
    admit(&b, &[&c]);
    let size = 16 << 20;
    let bytes = data(size, 5);
    let hash = a.store().import_bytes(bytes.clone()).await.unwrap();
    b.fetcher(opts())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap();

    let quarter = Arc::new(tokio::sync::Notify::new());
    let signalled = Arc::new(AtomicBool::new(false));
    let (q2, s2) = (quarter.clone(), signalled.clone());
    let fetcher = c.fetcher(FetchOptions {
        progress: Some(Arc::new(move |done, total| {
            if done * 4 >= total && !s2.swap(true, Ordering::SeqCst) {
                q2.notify_one();
            }
        })),
        connect_timeout: Duration::from_secs(3),
        ..opts()
    });
    let providers = vec![
        Provider::new(gone_addr),
        Provider::new(a.addr()),
        Provider::new(b.addr()),
    ];
    let task = tokio::spawn(async move { fetcher.fetch(hash, BlobFormat::Raw, &providers).await });
    tokio::time::timeout(Duration::from_secs(120), quarter.notified())
        .await
        .expect("fetch reaches a quarter");
    // A dies mid-transfer.
    let killed = Instant::now();
    a.shutdown().await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(120), task)
        .await
        .expect("fetch finishes")
        .unwrap()
        .unwrap();
    let after = killed.elapsed();
    assert_eq!(c.store().read(hash).await.unwrap(), bytes);
    let a_report = report
        .providers
        .iter()
        .find(|p| p.node == a.node_id().to_string())
        .unwrap();
    assert_eq!(
        a_report.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::Died)
    );
    let gone_report = report
        .providers
        .iter()
        .find(|p| p.problem.as_ref().map(|p| p.kind) == Some(ProblemKind::Unreachable));
    assert!(gone_report.is_some(), "{report:?}");
    // B alone needs (3/4 of 16 MiB) / 6 MB/s ≈ 2 s; allow a loaded box plenty.
    assert!(after < Duration::from_secs(60), "failover took {after:?}");
    eprintln!("finished {after:?} after the provider died");
    b.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_or_hash_not_allowed_is_refused() {
    init_tracing();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(da.path()).await;
    let b = node(db.path()).await;
    let hash = a.store().import_bytes(data(100_000, 6)).await.unwrap();
    let err = b
        .fetcher(opts())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Refused { .. }), "{err}");
    assert!(!b.store().has(hash).await.unwrap());
    // The refusal is on the provider's record.
    let record = b.reputation().get(&a.node_id());
    assert_eq!(record.failures, 1, "{record:?}");

    // Admitted, but the hash is no longer pinned: still refused, or, once the
    // unpinned data is gone, truthfully "does not have it". Never served.
    admit(&a, &[&b]);
    a.store().unpin(hash).await.unwrap();
    let err = b
        .fetcher(opts())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap_err();
    match &err {
        FetchError::Refused { .. } => {}
        FetchError::UnknownHash { .. } => {
            assert!(!a.store().has(hash).await.unwrap(), "a holds it: {err}");
        }
        _ => panic!("{err}"),
    }
    assert!(!b.store().has(hash).await.unwrap());
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// Reopens the store in `dir` and checks that `kept` are all there, intact.
async fn restart_and_check(node: Node, dir: &Path, kept: &[(ContentHash, Vec<u8>)]) -> Node {
    node.shutdown().await.unwrap();
    drop(node);
    let node = node_with(NodeConfig {
        store: StoreConfig {
            budget: Some(1 << 20),
            ..StoreConfig::default()
        },
        ..NodeConfig::loopback(dir)
    })
    .await;
    for (hash, bytes) in kept {
        assert!(node.store().is_pinned(*hash).await.unwrap());
        assert_eq!(&node.store().read(*hash).await.unwrap()[..], &bytes[..]);
    }
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_specific_error_and_the_store_stays_intact() {
    init_tracing();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(da.path()).await;
    // B's store has a 1 MiB budget: the stand-in for a full disk.
    let mut b = node_with(NodeConfig {
        store: StoreConfig {
            budget: Some(1 << 20),
            ..StoreConfig::default()
        },
        ..NodeConfig::loopback(db.path())
    })
    .await;
    admit(&a, &[&b]);
    let small = data(200_000, 7);
    let kept_hash = b.store().import_bytes(small.clone()).await.unwrap();
    let kept = vec![(kept_hash, small)];

    // Unknown hash.
    let unknown = ContentHash::of(b"nobody has this");
    let err = b
        .fetcher(opts())
        .fetch(unknown, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::UnknownHash { .. }), "{err}");
    assert!(err.to_string().contains("unknown hash"), "{err}");
    b = restart_and_check(b, db.path(), &kept).await;
    admit(&a, &[&b]);

    // Malformed ticket.
    let err = "blobAAAAnotaticket".parse::<Provider>().unwrap_err();
    assert!(matches!(err, FetchError::MalformedProvider { .. }), "{err}");

    // Unreachable provider (a node that has gone away).
    let dc = tempfile::tempdir().unwrap();
    let gone = node(dc.path()).await;
    let gone_addr = gone.addr();
    gone.shutdown().await.unwrap();
    let err = b
        .fetcher(FetchOptions {
            connect_timeout: Duration::from_secs(3),
            ..opts()
        })
        .fetch(unknown, BlobFormat::Raw, &[Provider::new(gone_addr)])
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err}");
    b = restart_and_check(b, db.path(), &kept).await;
    admit(&a, &[&b]);

    // "Disk full": a blob bigger than the budget, by fetch and by import.
    let big = data(2 << 20, 8);
    let big_hash = a.store().import_bytes(big.clone()).await.unwrap();
    let err = b
        .fetcher(opts())
        .fetch(big_hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Store(StoreError::BudgetExceeded { .. })),
        "{err}"
    );
    let big_file = db.path().join("big.bin");
    std::fs::write(&big_file, &big).unwrap();
    let err = b
        .store()
        .import_file(&big_file, |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BudgetExceeded { .. }), "{err}");
    b = restart_and_check(b, db.path(), &kept).await;

    // A file that is missing, and one that vanishes during import.
    let err = b
        .store()
        .import_file(&db.path().join("no-such-file"), |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::SourceMissing(_)), "{err}");
    let shrinking = db.path().join("shrinking.bin");
    std::fs::write(&shrinking, data(600_000, 9)).unwrap();
    let victim = shrinking.clone();
    let err = b
        .store()
        .import_file(&shrinking, move |read, _| {
            // After the first megabyte-sized read, the file is cut and removed.
            if read > 0 && victim.exists() {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&victim)
                    .and_then(|f| f.set_len(10))
                    .ok();
                std::fs::remove_file(&victim).ok();
            }
        })
        .await;
    // A 600 KB file is read in one piece, so the change is only seen at the
    // end: the file is gone.
    let err = err.unwrap_err();
    assert!(matches!(err, StoreError::SourceChanged { .. }), "{err}");
    b.store().collect().await.unwrap();
    b = restart_and_check(b, db.path(), &kept).await;
    assert_eq!(b.store().list().await.unwrap().len(), 1);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpinned_data_is_collected_and_pinned_data_never() {
    init_tracing();
    let d = tempfile::tempdir().unwrap();
    let n = node(d.path()).await;
    let keep = data(300_000, 10);
    let drop_ = data(300_000, 11);
    let hk = n.store().import_bytes(keep.clone()).await.unwrap();
    let hd = n.store().import_bytes(drop_).await.unwrap();
    let before = n.store().used_bytes().await.unwrap();
    assert!(n.store().unpin(hd).await.unwrap());
    n.store().collect().await.unwrap();
    assert!(!n.store().has(hd).await.unwrap());
    assert_eq!(n.store().read(hk).await.unwrap(), keep);
    assert_eq!(n.store().used_bytes().await.unwrap(), before - 300_000);
    // A second process cannot open the same store.
    let err = clusterai_store::BlobStore::open(d.path().join("blobs"), StoreConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InUse(_)), "{err}");
    n.shutdown().await.unwrap();
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` (needs root); `Err` says why not.
    fn mount(bytes: u64) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The disk itself fills up (no budget configured): a fetch and an import
/// that do not fit fail as `DiskFull`, and afterwards the store opens with
/// everything it held intact, frees the partial data, and takes new blobs
/// again. Runs as root on a real 6 MiB tmpfs; skipped with the reason when
/// not root, and never skipped by a root CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_really_full_disk_fails_cleanly_and_corrupts_nothing() {
    init_tracing();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: a real full disk needs root to mount a tmpfs");
        return;
    }
    let disk = match SmallDisk::mount(6 << 20) {
        Ok(disk) => disk,
        Err(why) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: a real full disk needs a tmpfs mount ({why})");
            return;
        }
        Err(why) => panic!("CI runs as root and must run the full-disk test: {why}"),
    };
    let da = tempfile::tempdir().unwrap();
    let a = node(da.path()).await;
    let b_dir = disk.path().join("node");
    let mut b = node(&b_dir).await;
    admit(&a, &[&b]);
    let small = data(300_000, 11);
    let kept = vec![(b.store().import_bytes(small.clone()).await.unwrap(), small)];

    // Bigger than the whole disk, by fetch and by import: refused before
    // anything is written.
    let big = data(8 << 20, 12);
    let big_hash = a.store().import_bytes(big.clone()).await.unwrap();
    let err = b
        .fetcher(opts())
        .fetch(big_hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Store(StoreError::DiskFull { .. })),
        "{err}"
    );
    let big_file = da.path().join("big.bin");
    std::fs::write(&big_file, &big).unwrap();
    let err = b
        .store()
        .import_file(&big_file, |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");

    // A blob that fits when the fetch starts, but the disk fills up under
    // it (another writer takes the rest): the failure is our disk, not the
    // provider, whose record stays clean.
    let mid = data(3 << 20, 14);
    let mid_hash = a.store().import_bytes(mid.clone()).await.unwrap();
    let filler = disk.path().join("filler");
    let filled = Arc::new(AtomicBool::new(false));
    let (f, flag) = (filler.clone(), filled.clone());
    let err = b
        .fetcher(FetchOptions {
            progress: Some(Arc::new(move |done, _| {
                if done > 0 && !flag.swap(true, Ordering::SeqCst) {
                    // Everything that is left, in one file.
                    let mut file = std::fs::File::create(&f).unwrap();
                    let block = vec![0u8; 64 << 10];
                    while std::io::Write::write_all(&mut file, &block).is_ok() {}
                }
            })),
            ..opts()
        })
        .fetch(mid_hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap_err();
    assert!(filled.load(Ordering::SeqCst), "the disk was never filled");
    assert!(
        matches!(err, FetchError::Store(StoreError::DiskFull { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains("bytes free on the file system"),
        "{err}"
    );
    assert_eq!(b.reputation().get(&a.node_id()).failures, 0);
    std::fs::remove_file(&filler).unwrap();

    // Reopened: what it held is there and verified, the partial data goes,
    // and a blob that fits is taken again.
    b = restart_and_check(b, &b_dir, &kept).await;
    b.store().collect().await.unwrap();
    let fits = data(500_000, 13);
    let fits_hash = b.store().import_bytes(fits.clone()).await.unwrap();
    assert_eq!(&b.store().read(fits_hash).await.unwrap()[..], &fits[..]);
    let listed = b.store().list().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// An allowed peer asks for the children of a blob it may read, whose
/// bytes happen to name data it may not (any 32·n bytes parse as a hash
/// sequence): refused, and none of that data leaves. The children of a
/// pinned collection are still served that way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_requests_reach_only_pinned_collections() {
    init_tracing();
    let (_dirs, a, b) = provider_and_peer().await;
    let secret = data(50_000, 21);
    let secret_hash = a.store().import_bytes(secret.clone()).await.unwrap();
    // A raw blob that is exactly the secret's hash, and the only hash this
    // node serves.
    let pointer = a
        .store()
        .import_bytes(secret_hash.as_bytes().to_vec())
        .await
        .unwrap();
    a.allow_list()
        .clone()
        .with_hashes(HashPolicy::Only([pointer].into_iter().collect()));

    // The attacker reads the raw response itself (nothing is stored, so
    // only what the provider sends counts).
    let ask = |root: ContentHash| {
        let (a_addr, b_endpoint) = (a.addr(), b.endpoint().clone());
        async move {
            let conn = b_endpoint.connect(a_addr, iroh_blobs::ALPN).await.unwrap();
            read_with_children(conn, iroh_blobs::Hash::from_bytes(*root.as_bytes())).await
        }
    };
    let refused = ask(pointer).await;
    assert!(
        refused.is_err(),
        "the children of a raw blob were served: {} children",
        refused.map(|c| c.len()).unwrap_or(0)
    );

    // A pinned collection, with the default policy: its children come with
    // the root.
    a.allow_list().clone().with_hashes(HashPolicy::Pinned);
    let part = data(20_000, 22);
    let part_hash = a.store().import_bytes(part.clone()).await.unwrap();
    let collection = a
        .store()
        .add_collection(vec![("part.bin".to_string(), part_hash)])
        .await
        .unwrap();
    let served = ask(collection).await.unwrap();
    assert!(served.contains(&part), "{} children", served.len());
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A request for a pinned collection whose ranges name a child far past its
/// end would keep the provider walking the ranges one child at a time: it
/// is refused at once, and the node goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_past_a_collections_children_are_refused_at_once() {
    use clusterai_store::node::within_collection;
    use iroh_blobs::protocol::{ChunkRanges, ChunkRangesSeq, GetRequest, Request};
    init_tracing();
    // What is let through: the root with every child, one blob, children
    // named up to the end (the entry after the last only ends the list).
    let all = ChunkRanges::all;
    assert!(within_collection(&ChunkRangesSeq::all(), 3));
    assert!(within_collection(&ChunkRangesSeq::root(), 3));
    assert!(within_collection(
        &ChunkRangesSeq::from_ranges([all(), all(), all(), all()]),
        3
    ));
    // Child 2^40 and on, decoded as the provider decodes it (iroh-blobs'
    // builder would list every child before it).
    let far: ChunkRangesSeq =
        postcard::from_bytes(&postcard::to_stdvec(&vec![(1u64 << 40, vec![0u64])]).unwrap())
            .unwrap();
    assert!(!within_collection(&far, 3));
    assert!(!within_collection(
        &ChunkRangesSeq::from_ranges(std::iter::repeat_n(all(), 6)),
        3
    ));

    let (_dirs, a, b) = provider_and_peer().await;
    let part = data(20_000, 23);
    let part_hash = a.store().import_bytes(part.clone()).await.unwrap();
    let collection = a
        .store()
        .add_collection(vec![("part.bin".to_string(), part_hash)])
        .await
        .unwrap();
    let root = iroh_blobs::Hash::from_bytes(*collection.as_bytes());
    // Written by hand: iroh-blobs' own client would walk the same ranges.
    let request = Request::Get(GetRequest::new(root, far));
    let conn = b
        .endpoint()
        .connect(a.addr(), iroh_blobs::ALPN)
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&postcard::to_stdvec(&request).unwrap())
        .await
        .unwrap();
    send.finish().unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), recv.read_to_end(1 << 20))
        .await
        .expect("the provider answered within 10 s");
    assert!(answer.is_err(), "the request was served: {answer:?}");

    // The node still serves, the collection's part included.
    b.fetcher(opts())
        .fetch(part_hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap();
    assert_eq!(b.store().read(part_hash).await.unwrap(), part);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// Sends a get request for `root` and all its children over `conn` and
/// returns the children's bytes as they arrive (unverified against any
/// expectation: this is the attacker's side).
async fn read_with_children(
    conn: Connection,
    root: iroh_blobs::Hash,
) -> Result<Vec<Vec<u8>>, String> {
    use iroh_blobs::get::fsm;
    let err = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let request = iroh_blobs::protocol::GetRequest::all(root);
    let connected = fsm::start(conn, request, Default::default())
        .next()
        .await
        .map_err(|e| err(&e))?;
    let fsm::ConnectedNext::StartRoot(start) = connected.next().await.map_err(|e| err(&e))? else {
        return Err("no root in the response".into());
    };
    let (end, root_bytes) = start
        .next()
        .concatenate_into_vec()
        .await
        .map_err(|e| err(&e))?;
    let children: Vec<iroh_blobs::Hash> = root_bytes
        .chunks_exact(32)
        .map(|c| iroh_blobs::Hash::from_bytes(c.try_into().unwrap()))
        .collect();
    let mut out = Vec::new();
    let mut next = end.next();
    loop {
        match next {
            fsm::EndBlobNext::MoreChildren(child) => {
                let Some(hash) = children.get(out.len()) else {
                    break;
                };
                let (end, bytes) = child
                    .next(*hash)
                    .concatenate_into_vec()
                    .await
                    .map_err(|e| err(&e))?;
                out.push(bytes);
                next = end.next();
            }
            fsm::EndBlobNext::Closing(closing) => {
                closing.next().await.map_err(|e| err(&e))?;
                break;
            }
        }
    }
    Ok(out)
}

/// A provider that trickles (never stalling, far under the minimum rate)
/// has its segments taken away and asked of another, and is reported; with
/// no other provider, the fetch's own deadline ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_provider_is_dropped_and_a_fetch_keeps_its_deadline() {
    init_tracing();
    let (ds, df, db) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let slow = node_with(NodeConfig {
        serve_rate_limit: Some(40_000),
        ..NodeConfig::loopback(ds.path())
    })
    .await;
    let fast = node(df.path()).await;
    let b = node(db.path()).await;
    admit(&slow, &[&b]);
    admit(&fast, &[&b]);
    let bytes = data(3 << 20, 31);
    let hash = slow.store().import_bytes(bytes.clone()).await.unwrap();
    fast.store().import_bytes(bytes.clone()).await.unwrap();

    let options = || FetchOptions {
        segment_bytes: 1 << 20,
        stall_timeout: Duration::from_secs(1),
        min_rate: 400_000,
        ..opts()
    };
    // Alone, under a deadline: it ends on time, naming the deadline.
    let started = Instant::now();
    let err = b
        .fetcher(FetchOptions {
            min_rate: 0,
            deadline: Some(Duration::from_secs(2)),
            ..options()
        })
        .fetch(hash, BlobFormat::Raw, &[Provider::new(slow.addr())])
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TimedOut { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // Beside a fast provider: the trickle is dropped, the fetch completes.
    let report = b
        .fetcher(options())
        .fetch(
            hash,
            BlobFormat::Raw,
            &[Provider::new(slow.addr()), Provider::new(fast.addr())],
        )
        .await
        .unwrap();
    assert_eq!(&b.store().read(hash).await.unwrap()[..], &bytes[..]);
    let slow_report = report
        .providers
        .iter()
        .find(|p| p.node == slow.node_id().to_string())
        .unwrap();
    let problem = slow_report
        .problem
        .as_ref()
        .expect("the trickle is reported");
    assert!(problem.message.contains("under the minimum"), "{problem:?}");
    for n in [slow, fast, b] {
        n.shutdown().await.unwrap();
    }
}

/// One peer holding its cap of connections to a provider is turned away
/// from more with "busy" (not "refused", not "does not have it"), which
/// costs the provider nothing in that peer's records; once a connection
/// closes, the peer is served again. Other peers are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_past_its_connection_cap_is_told_busy() {
    init_tracing();
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node_with(NodeConfig {
        max_connections_per_peer: 2,
        ..NodeConfig::loopback(dirs[0].path())
    })
    .await;
    let b = node(dirs[1].path()).await;
    let c = node(dirs[2].path()).await;
    admit(&a, &[&b, &c]);
    let bytes = data(100_000, 31);
    let hash = a.store().import_bytes(bytes.clone()).await.unwrap();

    // The attacker holds two connections open (and idle).
    let mut held = Vec::new();
    for _ in 0..2 {
        let conn = b
            .endpoint()
            .connect(a.addr(), iroh_blobs::ALPN)
            .await
            .unwrap();
        // A stream makes the connection reach the provider's handler.
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        send.write_all(&[0]).await.unwrap();
        held.push((conn, send));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = b
        .fetcher(opts())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("busy"), "{err}");
    assert!(
        !matches!(
            err,
            FetchError::UnknownHash { .. } | FetchError::Refused { .. }
        ),
        "{err}"
    );
    assert_eq!(b.reputation().get(&a.node_id()).failures, 0);

    // Another peer is served meanwhile.
    c.fetcher(opts())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap();

    // One connection closed: the peer is served again.
    let (conn, _) = held.pop().unwrap();
    conn.close(0u32.into(), b"done");
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.fetcher(opts())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(a.addr())])
        .await
        .unwrap();
    assert_eq!(b.store().read(hash).await.unwrap(), bytes);
    drop(held);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
}
