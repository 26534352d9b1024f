//! [`BlobSource`]: how a capability gets a blob by its hash.
//!
//! The wasi-nn host opens models through this trait and the blob store
//! implements it, so the node keeps one home for models (the blob store)
//! and neither crate knows the other.

use crate::ContentHash;

/// Why a source could not hand out a blob.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The blob is larger than the caller accepts.
    #[error("blob {hash} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The blob.
        hash: ContentHash,
        /// Its size.
        size: u64,
        /// The caller's limit.
        limit: u64,
    },
    /// The bytes the source holds do not hash to what they are stored under.
    #[error("blob {expected} failed verification: its bytes hash to {actual}")]
    Corrupt {
        /// The hash asked for.
        expected: ContentHash,
        /// The hash of the bytes found.
        actual: ContentHash,
    },
    /// The source failed (I/O, a closed store).
    #[error("blob source: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A place that holds blobs by hash: a hash in, verified bytes out.
pub trait BlobSource: Send + Sync + std::fmt::Debug {
    /// The bytes of `hash`, verified against it; `Ok(None)` when the source
    /// does not hold the blob. Blobs over `limit` bytes are refused before
    /// they are read.
    fn read(&self, hash: &ContentHash, limit: u64) -> Result<Option<Vec<u8>>, SourceError>;
}

/// Checks `bytes` against `hash`: every source ends with this.
pub fn verify(hash: &ContentHash, bytes: Vec<u8>) -> Result<Vec<u8>, SourceError> {
    let actual = ContentHash::of(&bytes);
    if actual == *hash {
        Ok(bytes)
    } else {
        Err(SourceError::Corrupt {
            expected: *hash,
            actual,
        })
    }
}

/// A folder of files named `<64-hex hash>` with an optional extension
/// (`<hash>.onnx`): what tests and tools use where no blob store runs.
#[derive(Debug, Clone)]
pub struct DirSource {
    dir: std::path::PathBuf,
    extension: Option<&'static str>,
}

impl DirSource {
    /// Files `<hash>.<extension>` (or plain `<hash>`) in `dir`.
    pub fn new(dir: impl Into<std::path::PathBuf>, extension: Option<&'static str>) -> Self {
        Self {
            dir: dir.into(),
            extension,
        }
    }

    /// Where the blob `hash` lives (whether or not it is there).
    pub fn path_of(&self, hash: &ContentHash) -> std::path::PathBuf {
        match self.extension {
            Some(ext) => self.dir.join(format!("{hash}.{ext}")),
            None => self.dir.join(hash.to_hex()),
        }
    }

    /// Copies `bytes` in under their hash (a temporary file, then a rename).
    pub fn add(&self, bytes: &[u8]) -> std::io::Result<ContentHash> {
        let hash = ContentHash::of(bytes);
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{hash}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.path_of(&hash))?;
        Ok(hash)
    }
}

impl BlobSource for DirSource {
    fn read(&self, hash: &ContentHash, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let path = self.path_of(hash);
        let size = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SourceError::Unavailable(Box::new(e))),
        };
        if size > limit {
            return Err(SourceError::TooLarge {
                hash: *hash,
                size,
                limit,
            });
        }
        let bytes = std::fs::read(&path).map_err(|e| SourceError::Unavailable(Box::new(e)))?;
        verify(hash, bytes).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_source_verifies_and_caps() {
        let dir = std::env::temp_dir().join(format!("clusterai-dirsource-{}", std::process::id()));
        let src = DirSource::new(&dir, Some("onnx"));
        let hash = src.add(b"model bytes").unwrap();
        assert_eq!(src.read(&hash, 1 << 20).unwrap().unwrap(), b"model bytes");
        assert!(matches!(
            src.read(&hash, 3),
            Err(SourceError::TooLarge { size: 11, .. })
        ));
        assert!(
            src.read(&ContentHash::of(b"other"), 1 << 20)
                .unwrap()
                .is_none()
        );
        std::fs::write(src.path_of(&hash), b"tampered!!!").unwrap();
        assert!(matches!(
            src.read(&hash, 1 << 20),
            Err(SourceError::Corrupt { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
