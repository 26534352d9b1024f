//! The randomness beacon that draws each task's nodes: drand's unchained
//! BLS12-381 scheme (signatures on G1, the public key on G2; the
//! `bls-unchained-g1-rfc9380` scheme of drand's quicknet).
//!
//! Round `r` is published at `genesis_time + (r - 1) × period`; its
//! signature is `sk × H(SHA-256(r as u64 big-endian))` with `H` the RFC 9380
//! hash to G1 under [`DRAND_DST`]; its randomness is `SHA-256(signature)`. A
//! BLS signature is unique for a key and message, so whoever submits a round
//! has no choice of its value, and nobody can know it before the beacon's
//! threshold of signers publishes it.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Api, BLS12_381_G2_GENERATOR, HashFunction, HexBinary};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Domain separation tag of drand's G1 signatures (RFC 9380 hash to curve).
pub const DRAND_DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";
/// Length of a compressed G1 point (a signature).
pub const SIGNATURE_LEN: usize = 48;
/// Length of a compressed G2 point (the beacon's public key).
pub const PUBLIC_KEY_LEN: usize = 96;
/// Longest beacon period accepted, in seconds.
pub const MAX_PERIOD: u64 = 3_600;

/// The public parameters of a drand-style beacon: fixed when the market is
/// instantiated and never changed by an admin (whoever could swap the key
/// could choose every task's nodes).
#[cw_serde]
pub struct BeaconConfig {
    /// Compressed G2 public key (96 bytes) of the beacon's group.
    pub public_key: HexBinary,
    /// Unix time (seconds) of round 1.
    pub genesis_time: u64,
    /// Seconds between rounds (1 to [`MAX_PERIOD`]).
    pub period: u64,
}

/// Why a beacon configuration or a round was refused.
#[derive(Error, Debug, PartialEq, Eq, Clone)]
pub enum BeaconError {
    /// The configuration is unusable.
    #[error("invalid beacon: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// A signature that is not 48 bytes.
    #[error("a beacon signature is {SIGNATURE_LEN} bytes, got {len}")]
    SignatureLength {
        /// The length given.
        len: usize,
    },
    /// The signature does not verify for this round under the beacon's key.
    #[error("the signature is not the beacon's signature of round {round}")]
    BadSignature {
        /// The round.
        round: u64,
    },
}

impl BeaconConfig {
    /// Checks the key's length and the period (the key's curve membership is
    /// checked by every verification).
    pub fn check(&self) -> Result<(), BeaconError> {
        let bad = |reason: String| Err(BeaconError::InvalidConfig { reason });
        if self.public_key.len() != PUBLIC_KEY_LEN {
            return bad(format!(
                "public_key must be a {PUBLIC_KEY_LEN}-byte compressed G2 point, got {} bytes",
                self.public_key.len()
            ));
        }
        if self.period == 0 || self.period > MAX_PERIOD {
            return bad(format!("period must be 1 to {MAX_PERIOD} seconds"));
        }
        Ok(())
    }

    /// The latest round published at unix time `t` (0 before genesis).
    pub fn round_at(&self, t: u64) -> u64 {
        match t.checked_sub(self.genesis_time) {
            Some(since) => since / self.period.max(1) + 1,
            None => 0,
        }
    }

    /// The first round published strictly after unix time `t`: nobody,
    /// the beacon's signers below their threshold included, knows it at `t`.
    pub fn first_round_after(&self, t: u64) -> u64 {
        self.round_at(t).saturating_add(1)
    }

    /// When round `round` is published (unix seconds).
    pub fn round_time(&self, round: u64) -> u64 {
        self.genesis_time
            .saturating_add(round.saturating_sub(1).saturating_mul(self.period))
    }

    /// Verifies `signature` as the beacon's signature of `round` and returns
    /// the round's randomness, `SHA-256(signature)`.
    pub fn verify(
        &self,
        api: &dyn Api,
        round: u64,
        signature: &[u8],
    ) -> Result<[u8; 32], BeaconError> {
        if signature.len() != SIGNATURE_LEN {
            return Err(BeaconError::SignatureLength {
                len: signature.len(),
            });
        }
        let point = api
            .bls12_381_hash_to_g1(HashFunction::Sha256, &round_message(round), DRAND_DST)
            .map_err(|_| BeaconError::BadSignature { round })?;
        // e(signature, g2) == e(H(m), public key); a malformed point is a bad signature.
        let ok = api
            .bls12_381_pairing_equality(
                signature,
                &BLS12_381_G2_GENERATOR,
                &point,
                self.public_key.as_slice(),
            )
            .unwrap_or(false);
        if !ok {
            return Err(BeaconError::BadSignature { round });
        }
        Ok(randomness(signature))
    }
}

/// The randomness of a round whose signature is `signature`: drand's
/// `SHA-256(signature)`.
pub fn randomness(signature: &[u8]) -> [u8; 32] {
    Sha256::digest(signature).into()
}

/// The message the beacon signs for `round`: `SHA-256(round as u64 big-endian)`.
pub fn round_message(round: u64) -> [u8; 32] {
    Sha256::digest(round.to_be_bytes()).into()
}

/// drand's quicknet, the public mainnet beacon of the League of Entropy
/// (3-second rounds): the default a deployment points at.
pub fn quicknet() -> BeaconConfig {
    BeaconConfig {
        public_key: HexBinary::from_hex(
            "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c\
             8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb\
             5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a",
        )
        .expect("a hex literal"),
        genesis_time: 1_692_803_367,
        period: 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::testing::MockApi;

    /// A round published by drand's quicknet, as any drand client returns it.
    const ROUND: u64 = 657_413;
    const SIGNATURE: &str = "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b";
    const RANDOMNESS: &str = "fc1873a13f3545aeade8401532ef5519920652eee6b0d2b19ca12643b87b3587";

    #[test]
    fn a_published_quicknet_round_verifies_and_gives_drands_randomness() {
        let api = MockApi::default();
        let beacon = quicknet();
        beacon.check().unwrap();
        let sig = HexBinary::from_hex(SIGNATURE).unwrap();
        let r = beacon.verify(&api, ROUND, &sig).unwrap();
        assert_eq!(HexBinary::from(r).to_hex(), RANDOMNESS);
        // The same signature is not another round's, and a flipped bit is nobody's.
        assert_eq!(
            beacon.verify(&api, ROUND + 1, &sig),
            Err(BeaconError::BadSignature { round: ROUND + 1 })
        );
        let mut forged = sig.to_vec();
        forged[10] ^= 1;
        assert!(beacon.verify(&api, ROUND, &forged).is_err());
        assert_eq!(
            beacon.verify(&api, ROUND, &sig[..47]),
            Err(BeaconError::SignatureLength { len: 47 })
        );
    }

    #[test]
    fn rounds_follow_the_clock() {
        let b = quicknet();
        assert_eq!(b.round_at(b.genesis_time - 1), 0);
        assert_eq!(b.round_at(b.genesis_time), 1);
        assert_eq!(b.round_at(b.genesis_time + 2), 1);
        assert_eq!(b.round_at(b.genesis_time + 3), 2);
        assert_eq!(b.round_time(2), b.genesis_time + 3);
        let t = b.genesis_time + 100;
        let r = b.first_round_after(t);
        assert!(b.round_time(r) > t && b.round_time(r - 1) <= t);
    }

    #[test]
    fn configs_name_what_is_wrong() {
        let mut b = quicknet();
        b.period = 0;
        assert!(b.check().unwrap_err().to_string().contains("period"));
        let mut b = quicknet();
        b.public_key = HexBinary::from([1; 48]);
        assert!(b.check().unwrap_err().to_string().contains("96-byte"));
    }
}
