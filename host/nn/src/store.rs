//! The node's local model folder: `<data dir>/models/<64-hex blake3>.onnx`.
//!
//! A stop-gap until the content-addressed blob store (host/store) holds
//! models: the layout is the same idea (files named by their hash, verified
//! on every open).

use std::io;
use std::path::{Path, PathBuf};

use clusterai_types::ContentHash;

/// The node's data folder: `$CLUSTERAI_DATA_DIR`, else `$HOME/.local/share/clusterai`.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CLUSTERAI_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    home.join(".local").join("share").join("clusterai")
}

/// A folder of model files named by their BLAKE3 hash.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
}

impl ModelStore {
    /// The store of the node's data folder: `<data dir>/models`.
    pub fn open_default() -> Self {
        Self::at(data_dir().join("models"))
    }

    /// The store in `dir` (created on the first add).
    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the model with `hash` lives (whether or not it is there).
    pub fn path_of(&self, hash: &ContentHash) -> PathBuf {
        self.dir.join(format!("{hash}.onnx"))
    }

    /// Copies `bytes` in under their hash (atomically: a temporary file, then
    /// a rename). Returns the hash and the stored path.
    pub fn add_bytes(&self, bytes: &[u8]) -> io::Result<(ContentHash, PathBuf)> {
        let hash = ContentHash::of(bytes);
        let path = self.path_of(&hash);
        if path.is_file() && ContentHash::of(&std::fs::read(&path)?) == hash {
            return Ok((hash, path));
        }
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{hash}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok((hash, path))
    }

    /// The models in the store, sorted by hash. Files whose name is not a
    /// hash are ignored; contents are verified when a host opens them.
    pub fn list(&self) -> io::Result<Vec<(ContentHash, PathBuf)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(hex) = name.strip_suffix(".onnx")
                && let Ok(hash) = hex.parse::<ContentHash>()
            {
                out.push((hash, path));
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_then_list_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::at(dir.path().join("models"));
        assert!(store.list().unwrap().is_empty());
        let (hash, path) = store.add_bytes(b"not really onnx").unwrap();
        assert_eq!(hash, ContentHash::of(b"not really onnx"));
        assert_eq!(store.list().unwrap(), vec![(hash, path.clone())]);
        // Adding again is a no-op.
        assert_eq!(store.add_bytes(b"not really onnx").unwrap().1, path);
        std::fs::write(dir.path().join("models/README"), "x").unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
    }
}
