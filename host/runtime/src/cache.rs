//! The on-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes tens of milliseconds; loading a
//! precompiled one takes well under one. Entries are keyed by the BLAKE3 hash
//! of the wasm bytes, in a directory per engine configuration (so a wasmtime
//! upgrade or a change of settings never loads an incompatible artifact).
//!
//! Each entry is `MAGIC || blake3(artifact) || artifact`. The checksum is
//! verified before wasmtime sees the bytes, because deserialising is `unsafe`:
//! wasmtime trusts the artifact to be its own output. A corrupt, truncated or
//! incompatible entry is reported, removed and recompiled, never loaded.
//!
//! Only plugins that loaded are stored (the runtime inserts after linking
//! and `describe()`), and the directory has a size budget: past it, the
//! least recently used entries (by modification time, renewed on each hit)
//! are removed.

use std::fs;
use std::hash::{Hash, Hasher};

use std::path::{Path, PathBuf};

use clusterai_types::ContentHash;
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"CAICWSM1";
const HEADER_LEN: usize = MAGIC.len() + 32;

/// How a component was obtained.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "reason")]
pub enum CacheOutcome {
    /// Loaded from a verified cache entry.
    Hit,
    /// Compiled; there was no entry (or no cache).
    Miss,
    /// An entry existed but was unusable (the reason says why); compiled anew.
    Recompiled(String),
}

/// A directory of precompiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    budget: u64,
}

impl CompileCache {
    /// A cache under `root`, in a subdirectory keyed by the engine's
    /// compatibility hash, holding at most `budget` bytes.
    pub fn new(root: &Path, engine: &Engine, budget: u64) -> std::io::Result<Self> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.join(format!("engine-{:016x}", hasher.finish()));
        fs::create_dir_all(&dir)?;
        Ok(Self { dir, budget })
    }

    /// The file an entry for `hash` lives in.
    pub fn entry_path(&self, hash: &ContentHash) -> PathBuf {
        self.dir.join(format!("{hash}.cwasm"))
    }

    /// Loads the component for `hash` from the cache, or compiles `wasm` and stores it.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        hash: &ContentHash,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let (found, outcome) = self.lookup(engine, hash);
        if let Some(component) = found {
            return Ok((component, outcome));
        }
        let component = Component::new(engine, wasm)?;
        self.insert(hash, &component);
        Ok((component, outcome))
    }

    /// The cached component for `hash`, if there is a usable entry (which
    /// then counts as just used). A bad entry is removed and reported in the
    /// outcome.
    pub fn lookup(&self, engine: &Engine, hash: &ContentHash) -> (Option<Component>, CacheOutcome) {
        let path = self.entry_path(hash);
        match self.load(engine, &path) {
            Ok(Some(component)) => {
                // The modification time is the entry's last use, for eviction.
                if let Ok(file) = fs::File::options().append(true).open(&path) {
                    let _ = file.set_modified(std::time::SystemTime::now());
                }
                (Some(component), CacheOutcome::Hit)
            }
            Ok(None) => (None, CacheOutcome::Miss),
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "discarding unusable compile-cache entry");
                let _ = fs::remove_file(&path);
                (None, CacheOutcome::Recompiled(reason))
            }
        }
    }

    /// Stores `component` (of a plugin that loaded) and evicts the least
    /// recently used entries past the budget. A cache that cannot be written
    /// costs speed, not correctness: failures are logged.
    pub fn insert(&self, hash: &ContentHash, component: &Component) {
        let path = self.entry_path(hash);
        if let Err(e) = self.store(&path, component) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write compile-cache entry");
        }
        if let Err(e) = self.evict(&path) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot evict compile-cache entries");
        }
    }

    /// Removes the least recently used entries until the cache is within
    /// its budget; `keep` (the entry just written) goes last.
    fn evict(&self, keep: &Path) -> std::io::Result<()> {
        let mut entries = Vec::new();
        let mut total = 0u64;
        for e in fs::read_dir(&self.dir)? {
            let e = e?;
            let meta = e.metadata()?;
            if !meta.is_file() {
                continue;
            }
            total += meta.len();
            let used = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            entries.push((e.path() == keep, used, e.path(), meta.len()));
        }
        // Oldest first; the entry just written after every other.
        entries.sort();
        for (_, _, path, len) in entries {
            if total <= self.budget {
                break;
            }
            fs::remove_file(&path)?;
            total -= len;
            tracing::debug!(path = %path.display(), "evicted compile-cache entry");
        }
        Ok(())
    }

    /// `Ok(None)` when there is no entry; `Err(reason)` when there is a bad one.
    fn load(&self, engine: &Engine, path: &Path) -> Result<Option<Component>, String> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        let artifact = verify_entry(&bytes)?;
        // SAFETY: `artifact` passed the checksum written by `store`, which only
        // ever writes the output of `Component::serialize` from an engine with
        // the same compatibility hash (the directory is keyed by it). Wasmtime
        // additionally checks its own version and settings header and fails,
        // rather than misbehaves, on a mismatch.
        unsafe { Component::deserialize(engine, artifact) }
            .map(Some)
            .map_err(|e| format!("incompatible artifact: {e}"))
    }

    fn store(&self, path: &Path, component: &Component) -> wasmtime::Result<()> {
        let artifact = component.serialize()?;
        let mut entry = Vec::with_capacity(HEADER_LEN + artifact.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(blake3::hash(&artifact).as_bytes());
        entry.extend_from_slice(&artifact);
        // Atomic, and never through a link planted at a temporary name: a
        // reader sees the old entry, no entry, or the whole new one.
        clusterai_types::files::write_atomic(path, &entry)?;
        Ok(())
    }
}

/// Checks an entry's magic and checksum; returns the artifact bytes.
fn verify_entry(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a cache entry (bad header)".into());
    }
    let (header, artifact) = bytes.split_at(HEADER_LEN);
    if blake3::hash(artifact).as_bytes() != &header[MAGIC.len()..] {
        return Err("checksum mismatch (corrupt or truncated)".into());
    }
    Ok(artifact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_rejects_corruption_and_truncation() {
        let artifact = b"some artifact bytes".to_vec();
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(blake3::hash(&artifact).as_bytes());
        entry.extend_from_slice(&artifact);
        assert_eq!(verify_entry(&entry).unwrap(), &artifact[..]);

        let mut flipped = entry.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(verify_entry(&flipped).unwrap_err().contains("checksum"));
        assert!(
            verify_entry(&entry[..entry.len() - 1])
                .unwrap_err()
                .contains("checksum")
        );
        assert!(verify_entry(&entry[..10]).unwrap_err().contains("header"));
    }
}
