use std::fmt;
use std::str::FromStr;

/// The BLAKE3 hash of a blob's bytes: the only name a plugin or model has.
///
/// Displayed and parsed as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Wraps raw hash bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw hash bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<blake3::Hash> for ContentHash {
    fn from(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

/// Why a string is not a content hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseHashError {
    /// Not 64 characters long.
    #[error("a content hash is 64 hex characters, got {0}")]
    Length(usize),
    /// A character that is not a hex digit.
    #[error("a content hash is hex, found {found:?} at position {position}")]
    NotHex {
        /// The offending character.
        found: char,
        /// Its position in the string.
        position: usize,
    },
}

impl FromStr for ContentHash {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(ParseHashError::Length(s.chars().count()));
        }
        if let Some((position, found)) = s.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(ParseHashError::NotHex { found, position });
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| ParseHashError::Length(s.len()))?;
        Ok(Self(out))
    }
}

impl serde::Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ContentHash {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9a-f]{64}$"))
            .description(Some("A BLAKE3 content hash, 64 lowercase hex characters"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ContentHash {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_matches_blake3() {
        let h = ContentHash::of(b"clusterai");
        assert_eq!(h.to_hex(), blake3::hash(b"clusterai").to_hex().as_str());
        assert_eq!(h.to_hex().parse::<ContentHash>().unwrap(), h);
    }

    #[test]
    fn parse_names_what_is_wrong() {
        assert_eq!("abc".parse::<ContentHash>(), Err(ParseHashError::Length(3)));
        let bad = format!("{}z", "0".repeat(63));
        assert_eq!(
            bad.parse::<ContentHash>(),
            Err(ParseHashError::NotHex {
                found: 'z',
                position: 63
            })
        );
    }
}
