//! The node's chain account: a secp256k1 key, as Cosmos accounts have, kept
//! apart from the ed25519 key that names the node on iroh and signs its
//! receipts (losing one must not give away the other).
//!
//! The address is what every Cosmos SDK chain derives:
//! `bech32(prefix, RIPEMD-160(SHA-256(compressed public key)))`, so the same
//! key holds the same account on the devnet and on a real chain.

use std::path::{Path, PathBuf};

use clusterai_types::files;
use k256::ecdsa::signature::{Signer, Verifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

/// The file name of the account key inside a node's data directory.
pub const ACCOUNT_KEY_FILE: &str = "account.key";

/// The address prefix of wasmd chains and of the devnet.
pub const DEFAULT_PREFIX: &str = "wasm";

/// Why an account key could not be loaded, created or used.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Reading, creating or locking down the key file failed.
    #[error("account key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The key file exists but does not hold a key.
    #[error("account key {path} is not a 64-hex-character secp256k1 secret key")]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
    /// The key file can be read by other users.
    #[error("account key {path} has mode {mode:o}; it must not be readable by others (chmod 600)")]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// The file's permission bits.
        mode: u32,
    },
    /// A public key that is not a secp256k1 point.
    #[error("not a compressed secp256k1 public key ({len} bytes)")]
    BadPublicKey {
        /// Its length.
        len: usize,
    },
    /// A signature that does not verify.
    #[error("the signature does not verify for {address}")]
    BadSignature {
        /// The claimed signer.
        address: String,
    },
    /// A prefix bech32 cannot take.
    #[error("invalid address prefix {prefix:?}")]
    BadPrefix {
        /// The prefix.
        prefix: String,
    },
}

/// A chain account's signing key.
#[derive(Clone)]
pub struct AccountKey {
    key: SigningKey,
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountKey")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

impl AccountKey {
    /// A fresh random key stored nowhere (tests, devnet faucets).
    pub fn generate() -> Self {
        loop {
            let bytes: [u8; 32] = rand::random();
            // All but a negligible share of 32-byte strings are valid scalars.
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return Self { key };
            }
        }
    }

    /// The key with secret `bytes` (32 bytes, a non-zero scalar).
    pub fn from_secret(bytes: &[u8]) -> Option<Self> {
        SigningKey::from_slice(bytes).ok().map(|key| Self { key })
    }

    /// Loads `data_dir/account.key`, creating it (mode 0600) if missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, AccountError> {
        let path = data_dir.join(ACCOUNT_KEY_FILE);
        let io = |source| AccountError::Io {
            path: path.clone(),
            source,
        };
        // Two tries: if another process creates the key between our read
        // and our create, the second read finds its key.
        for _ in 0..2 {
            match files::read_private(&path, 256) {
                Ok((text, mode)) => {
                    check_mode(&path, mode)?;
                    let bytes = hex::decode(text.trim())
                        .ok()
                        .filter(|b| b.len() == 32)
                        .ok_or_else(|| AccountError::Malformed { path: path.clone() })?;
                    return Self::from_secret(&bytes).ok_or(AccountError::Malformed { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let key = Self::generate();
            if files::create_private(&path, hex::encode(key.key.to_bytes()).as_bytes())
                .map_err(io)?
            {
                tracing::info!(address = %key.address(DEFAULT_PREFIX), path = %path.display(), "created chain account key");
                return Ok(key);
            }
        }
        Err(io(std::io::Error::other(
            "the key file appeared and vanished while it was being created",
        )))
    }

    /// The compressed SEC1 public key (33 bytes).
    pub fn public_key(&self) -> Vec<u8> {
        self.key
            .verifying_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec()
    }

    /// The account's address under `prefix`.
    pub fn address(&self, prefix: &str) -> String {
        address_of(&self.public_key(), prefix).expect("a compressed key and a checked prefix")
    }

    /// The secret scalar (32 bytes), for signers that need it raw.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes().into()
    }

    /// An ECDSA signature (r ‖ s, low-S) of SHA-256(`message`).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let sig: Signature = self.key.sign(message);
        sig.normalize_s().unwrap_or(sig).to_bytes().into()
    }
}

/// The address of a compressed secp256k1 public key under `prefix`.
pub fn address_of(public_key: &[u8], prefix: &str) -> Result<String, AccountError> {
    if public_key.len() != 33 {
        return Err(AccountError::BadPublicKey {
            len: public_key.len(),
        });
    }
    let hrp = bech32::Hrp::parse(prefix).map_err(|_| AccountError::BadPrefix {
        prefix: prefix.to_owned(),
    })?;
    let hash = Ripemd160::digest(Sha256::digest(public_key));
    bech32::encode::<bech32::Bech32>(hrp, &hash).map_err(|_| AccountError::BadPrefix {
        prefix: prefix.to_owned(),
    })
}

/// Checks `signature` (r ‖ s) of `message` by `public_key` and returns the
/// signer's address under `prefix`.
pub fn verify(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
    prefix: &str,
) -> Result<String, AccountError> {
    let address = address_of(public_key, prefix)?;
    let key =
        VerifyingKey::from_sec1_bytes(public_key).map_err(|_| AccountError::BadPublicKey {
            len: public_key.len(),
        })?;
    let bad = || AccountError::BadSignature {
        address: address.clone(),
    };
    let sig = Signature::from_slice(signature).map_err(|_| bad())?;
    // High-S signatures are malleable: accept only the normal form.
    if sig.normalize_s().is_some() {
        return Err(bad());
    }
    key.verify(message, &sig).map_err(|_| bad())?;
    Ok(address)
}

/// Refuses a key file that group or others may read.
fn check_mode(path: &Path, mode: u32) -> Result<(), AccountError> {
    if mode & 0o077 != 0 {
        return Err(AccountError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_the_cosmos_derivation() {
        // The secp256k1 key with secret 1 is the generator; its account under
        // "cosmos" is a well-known address.
        let mut secret = [0u8; 32];
        secret[31] = 1;
        let key = AccountKey::from_secret(&secret).unwrap();
        // Its HASH160 is BIP-173's first test vector.
        let (hrp, data) = bech32::decode(&key.address("cosmos")).unwrap();
        assert_eq!(hrp.as_str(), "cosmos");
        assert_eq!(
            hex::encode(data),
            "751e76e8199196d454941c45d1b3a323f1433bd6"
        );
    }

    #[test]
    fn signatures_verify_only_for_their_key_and_message() {
        let a = AccountKey::generate();
        let b = AccountKey::generate();
        let sig = a.sign(b"hello");
        let addr = verify(&a.public_key(), b"hello", &sig, "wasm").unwrap();
        assert_eq!(addr, a.address("wasm"));
        assert!(verify(&a.public_key(), b"hellO", &sig, "wasm").is_err());
        assert!(verify(&b.public_key(), b"hello", &sig, "wasm").is_err());
        assert!(matches!(
            verify(&[2; 20], b"hello", &sig, "wasm"),
            Err(AccountError::BadPublicKey { len: 20 })
        ));
    }

    #[test]
    fn the_key_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let a = AccountKey::load_or_create(dir.path()).unwrap();
        let b = AccountKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(ACCOUNT_KEY_FILE);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = AccountKey::load_or_create(dir.path()).unwrap_err();
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "00").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&target, dir.path().join(ACCOUNT_KEY_FILE)).unwrap();
            let err = AccountKey::load_or_create(dir.path()).unwrap_err();
            assert!(matches!(err, AccountError::Io { .. }), "{err}");
            assert!(err.to_string().contains("is a symbolic link"), "{err}");
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "00");
        }
    }
}
