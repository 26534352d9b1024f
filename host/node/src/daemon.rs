//! `clusterai node start`: the node, its HTTP listener, and a clean stop on
//! Ctrl-C or SIGTERM (stop taking tasks, let running ones finish for a
//! grace period, leave the rest queued for the next start, exit 0).

use std::sync::Arc;
use std::time::Duration;

use crate::config::NodeConfig;
use crate::service::Node;

/// How long running tasks may finish after a stop signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A running node and its HTTP listener.
#[derive(Debug)]
pub struct Daemon {
    /// The node.
    pub node: Arc<Node>,
    /// Where the HTTP API listens (the bound port when the config said 0).
    pub http_addr: std::net::SocketAddr,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::watch::Sender<bool>,
    /// The chain worker, when the config names a chain.
    worker: Option<crate::chain_worker::ChainWorker>,
}

impl Daemon {
    /// Starts the node and binds its HTTP API.
    pub async fn start(config: NodeConfig) -> anyhow::Result<Self> {
        let bind = config.http.bind;
        let chain = config.chain.clone();
        let node = Node::start(config).await?;
        let worker = if chain.url.is_empty() {
            None
        } else {
            let data = node.config().data_dir();
            let key = clusterai_chain::AccountKey::load_or_create(&data)?;
            let client = clusterai_chain::connect(
                &chain.url,
                chain.deployment.as_deref(),
                key,
                chain.fees(),
            )
            .await?;
            tracing::info!(url = %chain.url, account = client.address(), "working for the chain");
            Some(crate::chain_worker::ChainWorker::spawn(
                node.clone(),
                client,
                crate::chain_worker::WorkerOptions {
                    poll: Duration::from_millis(chain.poll_ms),
                    behaviour: match chain.answer {
                        crate::config::Answer::Honest => crate::chain_worker::Behaviour::Honest,
                        crate::config::Answer::Wrong => {
                            tracing::warn!("answering every chain task wrong ([chain] answer)");
                            crate::chain_worker::Behaviour::WrongOutput
                        }
                    },
                },
            )?)
        };
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
        let http_addr = listener.local_addr()?;
        let app = crate::api::app(node.clone());
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        });
        tracing::info!(%http_addr, node = node.node_id(), "serving");
        Ok(Self {
            node,
            http_addr,
            server,
            stop,
            worker,
        })
    }

    /// Stops: no new connections or tasks, running tasks get `grace`, the
    /// database is flushed and the store closed.
    pub async fn stop(self, grace: Duration) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        // What the worker promised is on disk: it resumes at the next start.
        if let Some(worker) = &self.worker {
            worker.stop();
        }
        self.node.shutdown(grace).await;
        // Open connections (an event stream, a long wait) do not hold the
        // exit back past a short while.
        match tokio::time::timeout(Duration::from_secs(2), self.server).await {
            Ok(joined) => joined??,
            Err(_) => tracing::warn!("closing with requests still open"),
        }
        Ok(())
    }
}

/// Runs a node until Ctrl-C or SIGTERM; `on_ready` is called with it once
/// it serves (the CLI prints where).
pub async fn run(config: NodeConfig, on_ready: impl FnOnce(&Daemon)) -> anyhow::Result<()> {
    let daemon = Daemon::start(config).await?;
    on_ready(&daemon);
    wait_for_signal().await;
    tracing::info!("stopping: no new tasks; running ones may finish");
    daemon.stop(SHUTDOWN_GRACE).await
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM: how every long-running command
/// of the CLI learns to stop.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                tokio::signal::ctrl_c().await.ok();
            }
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok();
    }
}
