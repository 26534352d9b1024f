//! 32-byte content hashes in messages.
//!
//! On the wire a hash is a [`HexBinary`] (a lowercase or uppercase hex
//! string); contracts check its length with [`check_hash`] at the edge and
//! store the raw bytes.

use cosmwasm_std::HexBinary;
use thiserror::Error;

/// Length in bytes of every content hash (BLAKE3) and output digest.
pub const HASH_LEN: usize = 32;

/// A hash field that is not 32 bytes long.
#[derive(Error, Debug, PartialEq, Eq, Clone)]
#[error("{field} must be a {HASH_LEN}-byte hash, got {len} bytes")]
pub struct InvalidHash {
    /// The message field that was wrong.
    pub field: String,
    /// The length that was given.
    pub len: usize,
}

/// Checks that `value` is a 32-byte hash; `field` names it in the error.
pub fn check_hash(field: &str, value: &HexBinary) -> Result<[u8; HASH_LEN], InvalidHash> {
    value.as_slice().try_into().map_err(|_| InvalidHash {
        field: field.to_string(),
        len: value.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_32_bytes_and_names_the_field_otherwise() {
        assert_eq!(
            check_hash("plugin", &HexBinary::from([7u8; 32])).unwrap(),
            [7u8; 32]
        );
        assert_eq!(
            check_hash("plugin", &HexBinary::from([7u8; 31])),
            Err(InvalidHash {
                field: "plugin".into(),
                len: 31
            })
        );
        assert!(check_hash("x", &HexBinary::from(vec![])).is_err());
    }
}
