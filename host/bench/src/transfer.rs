//! The `transfer` suite: blobs over iroh against what a user would
//! otherwise pick (an HTTPS download and a BLAKE3 check) and against a
//! plain TCP copy, the raw limit of the machine.
//!
//! Everything runs in one process on loopback, with real endpoints and file
//! stores in a temporary directory:
//!
//! | result | unit | baseline | what |
//! |---|---|---|---|
//! | `fetch_1_provider` | MB/s | `https_verified` | our fetcher from one provider (verified as it streams) vs. an HTTPS download of the same bytes (rustls on loopback, `reqwest`) to a file, then a BLAKE3 check of it |
//! | `https_verified` | MB/s | `tcp_copy` | that HTTPS baseline vs. a plain TCP copy of the same bytes, file to socket to file |
//! | `fetch_1_provider_stock` | MB/s | `tcp_copy` | stock iroh-blobs `Remote::fetch` (one request, one stream), for comparison |
//! | `fetch_2_providers_uncapped` | MB/s | `fetch_1_provider` | two uncapped providers on the same box (CPU-bound: every node shares the cores) |
//! | `fetch_2_providers` | MB/s | `fetch_1_provider_capped` | two providers vs. one on a [`TransferBench::capped_size`] blob, each provider's serving capped at [`TransferBench::provider_cap`] so the provider is the bottleneck |
//! | `blake3` | MB/s | `memcpy` | single-threaded BLAKE3 of the same bytes vs. copying them in memory |
//!
//! The uncapped figures are the best of [`TransferBench::rounds`] runs with
//! the methods interleaved; every fetch goes into a fresh node and store, and
//! the time runs from dialing to verified and pinned. MB is 10^6 bytes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use clusterai_store::node::BLOBS_ALPN;
use clusterai_store::{AllowList, FetchOptions, Node, NodeConfig, Provider};
use clusterai_types::ContentHash;
use iroh_blobs::BlobFormat;

use crate::report::{BenchReport, BenchResult};

fn to_iroh(hash: ContentHash) -> iroh_blobs::Hash {
    iroh_blobs::Hash::from_bytes(*hash.as_bytes())
}

/// Settings of the transfer benchmark.
#[derive(Debug, Clone)]
pub struct TransferBench {
    /// Bytes of the blob for the uncapped runs (256 MiB by default).
    pub size: u64,
    /// Bytes of the blob for the capped two-provider comparison.
    pub capped_size: u64,
    /// Serve cap per provider (bytes/s) in the capped comparison.
    pub provider_cap: u64,
    /// Fetch options (streams per provider, segment size) under test.
    pub fetch: FetchOptions,
    /// Also measure stock iroh-blobs (one stream).
    pub stock: bool,
    /// Runs of each uncapped measurement; the best is reported.
    pub rounds: usize,
}

impl Default for TransferBench {
    fn default() -> Self {
        Self {
            size: 256 << 20,
            capped_size: 64 << 20,
            provider_cap: 50_000_000,
            fetch: FetchOptions::default(),
            stock: true,
            rounds: 3,
        }
    }
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64().max(1e-9)
}

/// Deterministic, incompressible bytes.
fn bench_data(len: u64) -> Vec<u8> {
    let mut out = vec![0u8; len as usize];
    let mut h = blake3::Hasher::new();
    h.update(b"clusterai transfer bench");
    h.finalize_xof().fill(&mut out);
    out
}

/// Runs the suite and returns its figures.
pub async fn transfer(bench: &TransferBench) -> anyhow::Result<BenchReport> {
    let mut report = BenchReport::new("transfer");
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let data = bench_data(bench.size);
    let src = tmp.path().join("source.bin");
    std::fs::write(&src, &data).context("writing the source file")?;

    // BLAKE3 vs memcpy, best of three.
    let (b3, mc) = tokio::task::spawn_blocking(move || hash_vs_memcpy(&data)).await?;

    let provider = spawn(tmp.path().join("p1"), None).await?;
    let hash = provider.store().import_file(&src, |_, _| {}).await?;
    let second = spawn(tmp.path().join("p2"), None).await?;
    provider.allow_list().allow_peer(second.node_id());
    second
        .fetcher(bench.fetch.clone())
        .fetch(hash, BlobFormat::Raw, &[Provider::new(provider.addr())])
        .await?;

    let https = crate::https::HttpsServer::serve(src.clone()).await?;

    // Each figure is the best of `rounds` runs, the methods interleaved, so
    // that page-cache writeback and other load on a shared machine hit them
    // alike.
    let (mut tcp, mut ours, mut stock, mut two) = (0f64, 0f64, 0f64, 0f64);
    let mut tls = 0f64;
    for round in 0..bench.rounds.max(1) {
        let t = tcp_copy(&src, &tmp.path().join("tcp-copy.bin"), bench.size).await?;
        std::fs::remove_file(tmp.path().join("tcp-copy.bin")).ok();
        tcp = tcp.max(t);
        let https_file = tmp.path().join("https.bin");
        let d = crate::https::download_verified(&https, &https_file, hash).await?;
        std::fs::remove_file(&https_file).ok();
        tls = tls.max(mb_per_s(bench.size, d));
        let d = fetch_ours(
            &[&provider],
            hash,
            &bench.fetch,
            tmp.path().join(format!("f{round}")),
        )
        .await?;
        ours = ours.max(mb_per_s(bench.size, d));
        if bench.stock {
            let d = fetch_stock(&provider, hash, tmp.path().join(format!("s{round}"))).await?;
            stock = stock.max(mb_per_s(bench.size, d));
        }
        let d = fetch_ours(
            &[&provider, &second],
            hash,
            &bench.fetch,
            tmp.path().join(format!("t{round}")),
        )
        .await?;
        two = two.max(mb_per_s(bench.size, d));
        tracing::info!(
            round,
            tcp = t,
            https = tls,
            ours,
            stock,
            two,
            "transfer bench round"
        );
    }
    drop(https);
    report.results.push(BenchResult::new(
        "fetch_1_provider",
        "MB/s",
        ours,
        "https_verified",
        tls,
    ));
    report.results.push(BenchResult::new(
        "https_verified",
        "MB/s",
        tls,
        "tcp_copy",
        tcp,
    ));
    if bench.stock {
        report.results.push(BenchResult::new(
            "fetch_1_provider_stock",
            "MB/s",
            stock,
            "tcp_copy",
            tcp,
        ));
    }
    report.results.push(BenchResult::new(
        "fetch_2_providers_uncapped",
        "MB/s",
        two,
        "fetch_1_provider",
        ours,
    ));
    second.shutdown().await?;
    provider.shutdown().await?;

    // Providers capped: the provider is the bottleneck.
    let small = bench_data(bench.capped_size);
    let c1 = spawn(tmp.path().join("c1"), Some(bench.provider_cap)).await?;
    let c2 = spawn(tmp.path().join("c2"), Some(bench.provider_cap)).await?;
    let h = c1.store().import_bytes(small.clone()).await?;
    c2.store().import_bytes(small).await?;
    let mut timed = Vec::new();
    for (name, providers) in [
        ("cf1", vec![Provider::new(c1.addr())]),
        (
            "cf2",
            vec![Provider::new(c1.addr()), Provider::new(c2.addr())],
        ),
    ] {
        let node = spawn(tmp.path().join(name), None).await?;
        c1.allow_list().allow_peer(node.node_id());
        c2.allow_list().allow_peer(node.node_id());
        let t = Instant::now();
        node.fetcher(bench.fetch.clone())
            .fetch(h, BlobFormat::Raw, &providers)
            .await?;
        timed.push(mb_per_s(bench.capped_size, t.elapsed()));
        node.shutdown().await?;
    }
    c1.shutdown().await?;
    c2.shutdown().await?;
    report.results.push(BenchResult::new(
        "fetch_2_providers",
        "MB/s",
        timed[1],
        "fetch_1_provider_capped",
        timed[0],
    ));
    report
        .results
        .push(BenchResult::new("blake3", "MB/s", b3, "memcpy", mc));
    Ok(report)
}

/// Our fetcher into a fresh node; the time from dialing to verified and pinned.
async fn fetch_ours(
    providers: &[&Node],
    hash: clusterai_types::ContentHash,
    options: &FetchOptions,
    dir: std::path::PathBuf,
) -> anyhow::Result<Duration> {
    let node = spawn(dir.clone(), None).await?;
    let addrs: Vec<Provider> = providers
        .iter()
        .map(|p| {
            p.allow_list().allow_peer(node.node_id());
            Provider::new(p.addr())
        })
        .collect();
    let t = Instant::now();
    node.fetcher(options.clone())
        .fetch(hash, BlobFormat::Raw, &addrs)
        .await?;
    let d = t.elapsed();
    node.shutdown().await?;
    drop(node);
    std::fs::remove_dir_all(&dir).ok();
    Ok(d)
}

/// Stock iroh-blobs `Remote::fetch` (one request, one stream) into a fresh node.
async fn fetch_stock(
    provider: &Node,
    hash: clusterai_types::ContentHash,
    dir: std::path::PathBuf,
) -> anyhow::Result<Duration> {
    let node = spawn(dir.clone(), None).await?;
    provider.allow_list().allow_peer(node.node_id());
    let t = Instant::now();
    let conn = node.endpoint().connect(provider.addr(), BLOBS_ALPN).await?;
    node.store()
        .api()
        .remote()
        .fetch(conn.clone(), to_iroh(hash))
        .complete()
        .await
        .map_err(|e| anyhow::anyhow!("stock fetch: {e}"))?;
    let d = t.elapsed();
    conn.close(0u32.into(), b"done");
    node.shutdown().await?;
    drop(node);
    std::fs::remove_dir_all(&dir).ok();
    Ok(d)
}

async fn spawn(dir: std::path::PathBuf, cap: Option<u64>) -> anyhow::Result<Node> {
    Ok(Node::spawn(
        NodeConfig {
            serve_rate_limit: cap,
            ephemeral_identity: true,
            ..NodeConfig::loopback(dir)
        },
        AllowList::new(),
    )
    .await?)
}

fn hash_vs_memcpy(data: &[u8]) -> (f64, f64) {
    let mut dst = vec![0u8; data.len()];
    let mut best_hash = Duration::MAX;
    let mut best_copy = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        std::hint::black_box(blake3::hash(std::hint::black_box(data)));
        best_hash = best_hash.min(t.elapsed());
        let t = Instant::now();
        dst.copy_from_slice(std::hint::black_box(data));
        std::hint::black_box(&dst);
        best_copy = best_copy.min(t.elapsed());
    }
    let n = data.len() as u64;
    (mb_per_s(n, best_hash), mb_per_s(n, best_copy))
}

/// Copies `src` to `dst` through a loopback TCP connection (a sender thread
/// reading the file, a receiver writing it), 1 MiB at a time; MB/s.
async fn tcp_copy(src: &Path, dst: &Path, size: u64) -> anyhow::Result<f64> {
    let src = src.to_path_buf();
    let dst = dst.to_path_buf();
    tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let t = Instant::now();
        let sender = std::thread::spawn(move || -> std::io::Result<()> {
            let (mut sock, _) = listener.accept()?;
            let mut file = std::fs::File::open(&src)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                sock.write_all(&buf[..n])?;
            }
        });
        let mut sock = TcpStream::connect(addr)?;
        let mut out = std::fs::File::create(&dst)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = sock.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            total += n as u64;
        }
        let d = t.elapsed();
        sender
            .join()
            .map_err(|_| anyhow::anyhow!("tcp sender panicked"))??;
        anyhow::ensure!(total == size, "tcp copy moved {total} of {size} bytes");
        Ok(mb_per_s(size, d))
    })
    .await?
}
