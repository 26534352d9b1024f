//! Diagnostic: where does a single-provider fetch spend its time? Compares
//! iroh-blobs get requests that differ only in their ranges and in whether
//! the last chunk was fetched first.

use std::time::Instant;

use clusterai_store::{AllowList, Node, NodeConfig};
use iroh_blobs::protocol::{ChunkRanges, ChunkRangesExt, GetRequest};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let size: u64 = 256 << 20;
    let tmp = tempfile::tempdir()?;
    let mut data = vec![0u8; size as usize];
    blake3::Hasher::new().finalize_xof().fill(&mut data);
    let cfg = |n: &str| NodeConfig {
        ephemeral_identity: true,
        ..NodeConfig::loopback(tmp.path().join(n))
    };
    let p = Node::spawn(cfg("p"), AllowList::new().allow_any_peer()).await?;
    let h = p.store().import_bytes(data).await?;
    let ih = iroh_blobs::Hash::from_bytes(*h.as_bytes());
    let chunks = size.div_ceil(1024);
    for round in 0..3 {
        for (name, probe, ranges) in [
            ("all", false, ChunkRanges::all()),
            ("0..n", false, ChunkRanges::chunks(0..chunks)),
            ("fetcher 1x256M", false, ChunkRanges::empty()),
            ("fetcher 4x4M", false, ChunkRanges::empty()),
        ] {
            let n = Node::spawn(cfg(&format!("{name}{round}")), AllowList::new()).await?;
            let t = Instant::now();
            let conn = n.endpoint().connect(p.addr(), iroh_blobs::ALPN).await?;
            if probe {
                n.store()
                    .api()
                    .tags()
                    .set(format!("partial/{h}"), ih)
                    .await?;
            }
            let g = n
                .store()
                .api()
                .remote()
                .execute_get(conn.clone(), GetRequest::blob_ranges(ih, ranges));
            if name.starts_with("fetcher") {
                let streams = if name.contains("4x") { 4 } else { 1 };
                let seg = if name.contains("4x") { 4 << 20 } else { 256 << 20 };
                n.fetcher(clusterai_store::FetchOptions {
                    streams_per_provider: streams,
                    segment_bytes: seg,
                    ..Default::default()
                })
                .fetch(h, clusterai_store::BlobFormat::Raw, &[clusterai_store::Provider::new(p.addr())])
                .await?;
            } else if name.contains("timeout") {
                use n0_future::StreamExt;
                let mut st = std::pin::pin!(g.stream());
                while let Ok(Some(_)) =
                    tokio::time::timeout(std::time::Duration::from_secs(10), st.next()).await
                {
                }
            } else {
                g.complete().await?;
            }
            let d = t.elapsed();
            println!("{name:<16} {:8.1} MB/s", size as f64 / 1e6 / d.as_secs_f64());
            conn.close(0u32.into(), b"");
            n.shutdown().await?;
        }
    }
    p.shutdown().await?;
    Ok(())
}
