//! Who may fetch what from this node.
//!
//! Deny by default: an [`AllowList::new`] admits no peer. Peers are admitted
//! by node id (or all of them with [`AllowList::allow_any_peer`]); hashes are
//! by default only those the node has pinned (and the children of pinned
//! collections), so partial downloads and garbage are never served.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use clusterai_types::ContentHash;
use iroh::EndpointId;

/// Which hashes are served to admitted peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashPolicy {
    /// Pinned blobs and the children of pinned collections (the default).
    Pinned,
    /// Only these hashes (and only if present).
    Only(HashSet<ContentHash>),
}

#[derive(Debug)]
struct Inner {
    any_peer: bool,
    peers: HashSet<EndpointId>,
    hashes: HashPolicy,
}

/// A shared, runtime-updatable allow-list; clones see the same list.
#[derive(Debug, Clone)]
pub struct AllowList {
    inner: Arc<RwLock<Inner>>,
}

impl Default for AllowList {
    fn default() -> Self {
        Self::new()
    }
}

impl AllowList {
    /// No peer admitted; pinned hashes only.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner {
                any_peer: false,
                peers: HashSet::new(),
                hashes: HashPolicy::Pinned,
            })),
        }
    }

    /// Admits `peers` (builder style).
    pub fn with_peers(self, peers: impl IntoIterator<Item = EndpointId>) -> Self {
        for p in peers {
            self.allow_peer(p);
        }
        self
    }

    /// Admits every peer that can reach the node (still pinned hashes only).
    pub fn allow_any_peer(self) -> Self {
        if let Ok(mut g) = self.inner.write() {
            g.any_peer = true;
        }
        self
    }

    /// Sets which hashes are served.
    pub fn with_hashes(self, policy: HashPolicy) -> Self {
        if let Ok(mut g) = self.inner.write() {
            g.hashes = policy;
        }
        self
    }

    /// Admits `peer`.
    pub fn allow_peer(&self, peer: EndpointId) {
        if let Ok(mut g) = self.inner.write() {
            g.peers.insert(peer);
        }
    }

    /// Stops admitting `peer` (new connections and requests are refused).
    pub fn deny_peer(&self, peer: &EndpointId) {
        if let Ok(mut g) = self.inner.write() {
            g.peers.remove(peer);
        }
    }

    /// Whether `peer` may connect.
    pub fn peer_allowed(&self, peer: &EndpointId) -> bool {
        self.inner
            .read()
            .map(|g| g.any_peer || g.peers.contains(peer))
            .unwrap_or(false)
    }

    /// The hash policy in force.
    pub fn hash_policy(&self) -> HashPolicy {
        self.inner
            .read()
            .map(|g| g.hashes.clone())
            .unwrap_or(HashPolicy::Only(HashSet::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_by_default_then_allow_and_revoke() {
        let a = iroh::SecretKey::generate().public();
        let list = AllowList::new();
        assert!(!list.peer_allowed(&a));
        list.allow_peer(a);
        assert!(list.peer_allowed(&a));
        list.deny_peer(&a);
        assert!(!list.peer_allowed(&a));
        assert!(AllowList::new().allow_any_peer().peer_allowed(&a));
        assert_eq!(AllowList::new().hash_policy(), HashPolicy::Pinned);
    }
}
