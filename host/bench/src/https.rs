//! The baseline a user would otherwise pick to move a blob: an HTTPS
//! download (a static-file server behind rustls on loopback, the `reqwest`
//! client) into a file, then a BLAKE3 check of that file.
//!
//! The server answers every request with the one file, as a static file
//! server would; the certificate is self-signed for `localhost` and is the
//! client's only trusted root.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clusterai_types::ContentHash;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A TLS file server on loopback serving one file; stops when dropped.
#[derive(Debug)]
pub struct HttpsServer {
    port: u16,
    cert: CertificateDer<'static>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl HttpsServer {
    /// Serves `file` on a free loopback port.
    pub async fn serve(file: PathBuf) -> anyhow::Result<Self> {
        let key = rcgen::generate_simple_self_signed(vec!["localhost".into()])
            .context("making a self-signed certificate")?;
        let cert = key.cert.der().clone();
        let secret =
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], secret)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let file = file.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(acceptor, tcp, &file).await {
                        tracing::debug!(error = %e, "https baseline: a connection failed");
                    }
                });
            }
        });
        Ok(Self { port, cert, task })
    }

    /// The URL of the file.
    pub fn url(&self) -> String {
        format!("https://localhost:{}/blob", self.port)
    }

    /// A client that trusts this server's certificate only.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone())?;
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .resolve("localhost", ([127, 0, 0, 1], self.port).into())
            .build()?)
    }
}

/// One HTTP/1.1 exchange: reads the request head, sends the file.
async fn answer(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    file: &Path,
) -> anyhow::Result<()> {
    let mut tls = acceptor.accept(tcp).await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        anyhow::ensure!(head.len() < 16 << 10, "request head over 16 KiB");
        if tls.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let mut f = tokio::fs::File::open(file).await?;
    let len = f.metadata().await?.len();
    tls.write_all(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: \
             {len}\r\nconnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n]).await?;
    }
    tls.shutdown().await?;
    Ok(())
}

/// Downloads the server's file into `dst`, then checks its BLAKE3 against
/// `expected`; the time of both. A mismatch is an error.
pub async fn download_verified(
    server: &HttpsServer,
    dst: &Path,
    expected: ContentHash,
) -> anyhow::Result<Duration> {
    let client = server.client()?;
    let t = Instant::now();
    let mut response = client.get(server.url()).send().await?.error_for_status()?;
    let mut out = tokio::fs::File::create(dst).await?;
    while let Some(chunk) = response.chunk().await? {
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    drop(out);
    let dst = dst.to_path_buf();
    let got = tokio::task::spawn_blocking(move || -> std::io::Result<ContentHash> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(std::fs::File::open(dst)?)?;
        Ok(ContentHash::from_bytes(*hasher.finalize().as_bytes()))
    })
    .await??;
    let elapsed = t.elapsed();
    anyhow::ensure!(
        got == expected,
        "the HTTPS download hashes to {got}, not {expected}"
    );
    Ok(elapsed)
}
