//! The node's memory of providers that misbehaved.
//!
//! A provider that served data failing BLAKE3 verification is marked
//! *corrupt*; one that could not be reached or died mid-transfer gets a
//! *failure*. Fetches try providers with a clean record first and skip
//! corrupt ones while any other provider is left. The record is a small JSON
//! file in the data directory, so it survives restarts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use iroh::EndpointId;
use serde::{Deserialize, Serialize};

/// What the node remembers about one provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Times it served data that failed verification.
    pub corrupt: u32,
    /// Times it was unreachable or died mid-transfer.
    pub failures: u32,
    /// The last problem, in words.
    pub last_problem: String,
    /// When that was (seconds since the Unix epoch).
    pub last_problem_at: u64,
}

/// A persistent map from node id to [`PeerRecord`]; clones share it.
#[derive(Debug, Clone)]
pub struct Reputation {
    path: Option<PathBuf>,
    peers: Arc<Mutex<BTreeMap<String, PeerRecord>>>,
}

impl Reputation {
    /// Loads the record at `path` (an unreadable file starts a fresh one, with a warning).
    pub fn load(path: PathBuf) -> Self {
        let peers = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), "ignoring unreadable peer record: {e}");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        Self {
            path: Some(path),
            peers: Arc::new(Mutex::new(peers)),
        }
    }

    /// A record that lives only in memory.
    pub fn in_memory() -> Self {
        Self {
            path: None,
            peers: Arc::default(),
        }
    }

    /// What is known about `peer`.
    pub fn get(&self, peer: &EndpointId) -> PeerRecord {
        self.peers
            .lock()
            .ok()
            .and_then(|g| g.get(&peer.to_string()).cloned())
            .unwrap_or_default()
    }

    /// Whether `peer` ever served corrupt data.
    pub fn is_corrupt(&self, peer: &EndpointId) -> bool {
        self.get(peer).corrupt > 0
    }

    /// Records that `peer` served data that failed verification.
    pub fn record_corrupt(&self, peer: &EndpointId, problem: &str) {
        self.update(peer, |r| r.corrupt += 1, problem);
    }

    /// Records that `peer` was unreachable or died.
    pub fn record_failure(&self, peer: &EndpointId, problem: &str) {
        self.update(peer, |r| r.failures += 1, problem);
    }

    /// Forgets everything about `peer` (an operator's pardon).
    pub fn forget(&self, peer: &EndpointId) {
        if let Ok(mut g) = self.peers.lock() {
            g.remove(&peer.to_string());
        }
        self.save();
    }

    fn update(&self, peer: &EndpointId, f: impl FnOnce(&mut PeerRecord), problem: &str) {
        if let Ok(mut g) = self.peers.lock() {
            let r = g.entry(peer.to_string()).or_default();
            f(r);
            r.last_problem = problem.to_string();
            r.last_problem_at = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
        }
        self.save();
    }

    fn save(&self) {
        let Some(path) = &self.path else { return };
        let Ok(json) = self.peers.lock().map(|g| serde_json::to_vec_pretty(&*g)) else {
            return;
        };
        let Ok(json) = json else { return };
        if let Err(e) = clusterai_types::files::write_atomic(path, &json) {
            tracing::warn!(path = %path.display(), "cannot save peer record: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        let peer = iroh::SecretKey::generate().public();
        let r = Reputation::load(path.clone());
        assert!(!r.is_corrupt(&peer));
        r.record_corrupt(&peer, "hash mismatch");
        let again = Reputation::load(path);
        assert!(again.is_corrupt(&peer));
        assert_eq!(again.get(&peer).last_problem, "hash mismatch");
        again.forget(&peer);
        assert!(!again.is_corrupt(&peer));
    }
}
