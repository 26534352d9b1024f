//! The node identity: an ed25519 key created once and kept with mode 0600.
//!
//! The public half is the node id that peers dial and allow-list; the secret
//! half signs receipts and other statements, always through the one signing
//! scheme of [`clusterai_types::signing`]: every message carries its
//! [`SigningDomain`], so a signature made for one purpose can never be
//! replayed as another.

use std::path::{Path, PathBuf};

use clusterai_types::files;
use clusterai_types::signing::{self, SigningDomain};
use iroh::{PublicKey, SecretKey, Signature};

/// The file name of the secret key inside a node's data directory.
pub const KEY_FILE: &str = clusterai_types::env::KEY_FILE;

/// Why the node identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Reading, creating or locking down the key file failed.
    #[error("node key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The key file exists but does not hold a key.
    #[error("node key {path} is not a 64-hex-character ed25519 secret key")]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
    /// The key file can be read by other users.
    #[error("node key {path} has mode {mode:o}; it must not be readable by others (chmod 600)")]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// The file's permission bits.
        mode: u32,
    },
    /// A signature did not verify.
    #[error("signature does not verify for node {node} in domain {domain:?}")]
    BadSignature {
        /// The claimed signer.
        node: String,
        /// The signing domain.
        domain: String,
    },
}

/// A node's signing identity.
#[derive(Clone)]
pub struct NodeIdentity {
    secret: SecretKey,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node_id", &self.node_id())
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// A fresh, random identity that is not stored anywhere (tests, benchmarks).
    pub fn ephemeral() -> Self {
        Self {
            secret: SecretKey::generate(),
        }
    }

    /// Loads the key in `data_dir/node.key`, creating it (mode 0600) if missing.
    ///
    /// The key file is never read through a symbolic link, nor from a FIFO
    /// or device planted in its place: those are errors naming the path.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, IdentityError> {
        let path = data_dir.join(KEY_FILE);
        // Two tries: if another process creates the key between our read
        // and our create, the second read finds its key.
        for _ in 0..2 {
            match Self::load(&path) {
                Err(IdentityError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                loaded => return loaded,
            }
            if let Some(created) = Self::create(data_dir, &path)? {
                return Ok(created);
            }
        }
        Self::load(&path)
    }

    fn load(path: &Path) -> Result<Self, IdentityError> {
        let malformed = || IdentityError::Malformed {
            path: path.to_path_buf(),
        };
        // A key is 64 hex characters; a huge file is not read whole.
        let (text, mode) = match files::read_private(path, 1024) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(malformed()),
            Err(source) => {
                return Err(IdentityError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        check_mode(path, mode)?;
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(malformed)?;
        Ok(Self {
            secret: SecretKey::from_bytes(&bytes),
        })
    }

    /// Creates the key file; `None` if another process created it first.
    fn create(data_dir: &Path, path: &Path) -> Result<Option<Self>, IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let secret = SecretKey::generate();
        if !files::create_private(path, hex::encode(secret.to_bytes()).as_bytes()).map_err(io)? {
            return Ok(None);
        }
        tracing::info!(node_id = %secret.public(), path = %path.display(), "created node identity");
        Ok(Some(Self { secret }))
    }

    /// The node id: the public key peers dial and allow-list.
    pub fn node_id(&self) -> PublicKey {
        self.secret.public()
    }

    /// The secret key, for binding an endpoint.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// Signs `payload` in `domain` ([`signing::message`]).
    pub fn sign(&self, domain: SigningDomain, payload: &[u8]) -> Signature {
        self.secret.sign(&signing::message(domain, payload))
    }

    /// Signs a receipt: the signature the receipt's `signature` field holds.
    pub fn sign_receipt(&self, receipt: &clusterai_types::Receipt) -> Signature {
        self.sign(SigningDomain::Receipt, &receipt.payload())
    }
}

/// Checks that `signature` is `node`'s signature of `payload` in `domain`.
pub fn verify(
    node: &PublicKey,
    domain: SigningDomain,
    payload: &[u8],
    signature: &Signature,
) -> Result<(), IdentityError> {
    node.verify(&signing::message(domain, payload), signature)
        .map_err(|_| IdentityError::BadSignature {
            node: node.to_string(),
            domain: domain.as_str().to_string(),
        })
}

/// Refuses a key file that group or others may read.
fn check_mode(path: &Path, mode: u32) -> Result<(), IdentityError> {
    if mode & 0o077 != 0 {
        return Err(IdentityError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = NodeIdentity::load_or_create(dir.path()).unwrap();
        let b = NodeIdentity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.node_id(), b.node_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_world_readable_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        NodeIdentity::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            NodeIdentity::load_or_create(dir.path()),
            Err(IdentityError::TooOpen { .. })
        ));
    }

    #[test]
    fn malformed_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, "not a key").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(matches!(
            NodeIdentity::load_or_create(dir.path()),
            Err(IdentityError::Malformed { .. })
        ));
    }

    /// A link planted where the key goes (to another key, to nowhere, or
    /// to itself) and a FIFO are named errors: no key is read through a
    /// link, none is written through one, and nothing blocks or recurses.
    #[cfg(unix)]
    #[test]
    fn planted_links_and_fifos_are_refused_by_name() {
        use std::os::unix::fs::symlink;
        let elsewhere = tempfile::tempdir().unwrap();
        NodeIdentity::load_or_create(elsewhere.path()).unwrap();
        let their_key = elsewhere.path().join(KEY_FILE);
        let before = std::fs::read(&their_key).unwrap();
        for target in [
            their_key.clone(),
            elsewhere.path().join("dangling"),
            std::path::PathBuf::from(KEY_FILE),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(KEY_FILE);
            symlink(&target, &path).unwrap();
            let err = NodeIdentity::load_or_create(dir.path()).unwrap_err();
            assert!(
                matches!(&err, IdentityError::Io { .. })
                    && err.to_string().contains("is a symbolic link"),
                "{target:?}: {err}"
            );
            assert!(!elsewhere.path().join("dangling").exists());
        }
        assert_eq!(std::fs::read(&their_key).unwrap(), before);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = NodeIdentity::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");
    }

    #[test]
    fn signatures_are_bound_to_their_domain() {
        let id = NodeIdentity::ephemeral();
        let sig = id.sign(SigningDomain::Receipt, b"task 1");
        verify(&id.node_id(), SigningDomain::Receipt, b"task 1", &sig).unwrap();
        assert!(verify(&id.node_id(), SigningDomain::Test, b"task 1", &sig).is_err());
        assert!(verify(&id.node_id(), SigningDomain::Receipt, b"task 2", &sig).is_err());
        // A receipt's signature verifies through the receipt's own message.
        let receipt = clusterai_types::Receipt {
            task_id: "t".into(),
            node: id.node_id().to_string(),
            plugin: clusterai_types::ContentHash::of(b"p"),
            models: vec![],
            input: clusterai_types::ContentHash::of(b"i"),
            output: clusterai_types::ContentHash::of(b"o"),
            runtime_version: "0".into(),
            execution_provider: clusterai_types::ExecutionProvider::None,
            fuel_used: 1,
            time_us: 1,
        };
        let sig = id.sign_receipt(&receipt);
        id.node_id()
            .verify(&receipt.signing_message(), &sig)
            .expect("receipt signature");
    }
}
