//! The node's local model folder: `<data dir>/models/<64-hex blake3>.onnx`.
//!
//! ONNX Runtime opens models from files, so the node keeps each model it runs
//! here, named by its hash and verified on every open. Models fetched from
//! other nodes arrive in the blob store (`<data dir>/blobs`, host/store);
//! `clusterai plugin run` copies the ones a run needs from there (a hash in,
//! a verified file out).

use std::io;
use std::path::{Path, PathBuf};

use clusterai_types::ContentHash;

/// The node's data folder: `$CLUSTERAI_DATA_DIR`, else
/// `$XDG_DATA_HOME/clusterai`, else `$HOME/.local/share/clusterai` (the
/// folder the blob store's CLI uses too).
pub fn data_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|d| !d.is_empty());
    if let Some(d) = var("CLUSTERAI_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = var("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
    {
        return d.join("clusterai");
    }
    let home = var("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
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
