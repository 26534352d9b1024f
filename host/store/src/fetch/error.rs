//! What goes wrong in a fetch: each provider's problem ([`ProviderProblem`],
//! [`ProblemKind`]), the fetch's error ([`FetchError`]), and how an
//! iroh-blobs get error is told apart into a provider's fault or our own
//! store's.

use std::fmt;

use clusterai_types::ContentHash;
use iroh::endpoint::{Connection, ConnectionError};
use iroh_blobs::get::GetError;
use iroh_blobs::get::fsm::{AtBlobHeaderNextError, DecodeError};
use iroh_blobs::protocol::{ERR_LIMIT, ERR_PERMISSION};
use serde::Serialize;

use crate::store::{StoreError, is_disk_full_io};

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
    /// Turned us away for now: we hold its cap of connections (not a fault,
    /// and not "does not have it").
    Busy,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unreachable => "unreachable",
            Self::NotFound => "does not have it",
            Self::Refused => "refused",
            Self::Corrupt => "sent corrupt data",
            Self::Died => "died mid-transfer",
            Self::Busy => "busy (we hold its cap of connections)",
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
    #[error("malformed provider {input:?}: {reason}: {source}")]
    MalformedProvider {
        /// What was given.
        input: String,
        /// Which part is wrong.
        reason: String,
        /// The parser's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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
    #[error("{hash} is not a valid collection: {source}")]
    BadCollection {
        /// The blob.
        hash: ContentHash,
        /// What is wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The fetch ran past its overall deadline ([`super::FetchOptions::deadline`]).
    #[error("fetch of {hash} ran past its {} s deadline", limit.as_secs_f64())]
    TimedOut {
        /// The content.
        hash: ContentHash,
        /// The deadline.
        limit: std::time::Duration,
    },
    /// The local store failed (disk full, budget exceeded, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FetchError {
    /// The error for a fetch that ended with these provider problems and
    /// `missing` bytes still missing: a specific one when every provider
    /// failed the same way, [`FetchError::Incomplete`] otherwise.
    pub(super) fn from_problems(
        hash: ContentHash,
        missing: u64,
        problems: Vec<ProviderProblem>,
    ) -> Self {
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

/// Turns a get error into a provider problem.
pub(super) fn classify(e: &GetError) -> (ProblemKind, String) {
    let message = e.to_string();
    match error_code(e) {
        Some(c) if c == ERR_PERMISSION => {
            return (ProblemKind::Refused, message);
        }
        Some(c) if c == ERR_LIMIT => {
            return (ProblemKind::Busy, message);
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

/// Why the provider closed `conn`, if it did, as a provider problem.
///
/// iroh-blobs reports a stream it could not open on a connection the
/// provider had closed as a failure of our own store, with the cause flattened
/// into text: only the connection's state says whose it was, and why.
pub(super) fn closed_by_provider(conn: &Connection) -> Option<(ProblemKind, String)> {
    let reason = conn.close_reason()?;
    let kind = match &reason {
        ConnectionError::ApplicationClosed(ac) if ac.error_code == ERR_LIMIT => ProblemKind::Busy,
        ConnectionError::ApplicationClosed(ac) if ac.error_code == ERR_PERMISSION => {
            ProblemKind::Refused
        }
        _ => ProblemKind::Died,
    };
    Some((kind, format!("the connection closed: {reason}")))
}

/// Tells a failure of our own store (writing what arrived) from the
/// provider's: the store's error, with its source, or the get error back.
pub(super) fn local_failure(e: GetError) -> Result<StoreError, GetError> {
    const OP: &str = "storing fetched data";
    match e {
        GetError::LocalFailure { source, .. } => {
            // n0's `AnyError` hides an error it wraps directly from
            // `source()`; its own `downcast_ref` sees it.
            let full = source
                .downcast_ref::<std::io::Error>()
                .is_some_and(is_disk_full_io);
            Ok(StoreError::backend_or_disk_full(OP, source, full))
        }
        GetError::Decode {
            source: DecodeError::Write { source, .. },
            ..
        } => Ok(StoreError::backend(OP, source)),
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allow::AllowList;
    use crate::node::{BLOBS_ALPN, Node, NodeConfig};

    /// The close a provider turns a peer past its cap away with is read as
    /// "busy", whichever step of the get noticed it first.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_closed_past_the_cap_reads_as_busy() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let provider = Node::spawn(
            NodeConfig {
                max_connections_per_peer: 1,
                ..NodeConfig::loopback(dirs[0].path())
            },
            AllowList::new(),
        )
        .await
        .unwrap();
        let peer = Node::spawn(NodeConfig::loopback(dirs[1].path()), AllowList::new())
            .await
            .unwrap();
        provider.allow_list().allow_peer(peer.node_id());
        let connect = || peer.endpoint().connect(provider.addr(), BLOBS_ALPN);

        let held = connect().await.unwrap();
        let (mut send, _recv) = held.open_bi().await.unwrap();
        send.write_all(&[0]).await.unwrap();
        // The provider counts the first connection once its handler has it.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let turned_away = connect().await.unwrap();
        assert!(closed_by_provider(&held).is_none());
        turned_away.closed().await;
        let (kind, message) = closed_by_provider(&turned_away).expect("closed by the provider");
        assert_eq!(kind, ProblemKind::Busy, "{message}");
        assert!(message.contains("too many connections"), "{message}");

        drop((send, held, turned_away));
        provider.shutdown().await.unwrap();
        peer.shutdown().await.unwrap();
    }
}
