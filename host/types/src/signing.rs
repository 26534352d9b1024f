//! The one signing scheme of ClusterAI.
//!
//! A node key (ed25519) signs only [`message`]s: a fixed prefix, the length
//! of the domain, the domain, then the payload. The domain names what is
//! signed, so a signature made for one purpose (a receipt) can never be
//! replayed as another; the length makes the split between domain and
//! payload unambiguous. Receipts, and every other statement a node signs,
//! go through here; the key itself lives with the node's identity.

/// The prefix of every signed message.
pub const PREFIX: &[u8] = b"clusterai-sig/0/";

/// What a signature is for. A closed set: a new kind of statement is a new
/// variant, so no two purposes can share a domain string by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningDomain {
    /// A result receipt ([`crate::Receipt`]).
    Receipt,
    /// A test statement, for code that exercises the scheme itself.
    Test,
}

impl SigningDomain {
    /// The domain string that goes into the message.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "receipt/1",
            Self::Test => "test/0",
        }
    }
}

/// The exact bytes a key signs for `payload` in `domain`:
/// `PREFIX || u32 LE len(domain) || domain || payload`.
pub fn message(domain: SigningDomain, payload: &[u8]) -> Vec<u8> {
    let d = domain.as_str().as_bytes();
    let mut out = Vec::with_capacity(PREFIX.len() + 4 + d.len() + payload.len());
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(&(d.len() as u32).to_le_bytes());
    out.extend_from_slice(d);
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_messages() {
        let a = message(SigningDomain::Receipt, b"x");
        let b = message(SigningDomain::Test, b"x");
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
        assert!(a.ends_with(b"receipt/1x"));
    }
}
