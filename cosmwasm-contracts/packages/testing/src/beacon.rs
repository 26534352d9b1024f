//! A drand-style beacon for tests: a BLS12-381 key that signs rounds exactly
//! as drand's quicknet does (signature on G1 over `SHA-256(round)`), so the
//! market's real verification runs on every assignment. Only the key is the
//! test's own.

use ark_bls12_381::{Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use clusterai_economy::beacon::{BeaconConfig, DRAND_DST, round_message};
use cosmwasm_std::testing::MockApi;
use cosmwasm_std::{Api, HashFunction, HexBinary};

/// A beacon whose secret key the test holds.
#[derive(Debug, Clone)]
pub struct TestBeacon {
    secret: Fr,
    /// Its public parameters, as the market is instantiated with.
    pub config: BeaconConfig,
}

impl TestBeacon {
    /// A beacon with secret `seed`, round 1 at `genesis_time`, rounds every `period` seconds.
    pub fn new(seed: u64, genesis_time: u64, period: u64) -> Self {
        let secret = Fr::from(seed);
        let pk = (G2Affine::generator() * secret).into_affine();
        let mut public_key = Vec::with_capacity(96);
        pk.serialize_compressed(&mut public_key)
            .expect("a G2 point serialises");
        TestBeacon {
            secret,
            config: BeaconConfig {
                public_key: HexBinary::from(public_key),
                genesis_time,
                period,
            },
        }
    }

    /// The beacon's signature of `round`.
    pub fn sign(&self, round: u64) -> HexBinary {
        let h = MockApi::default()
            .bls12_381_hash_to_g1(HashFunction::Sha256, &round_message(round), DRAND_DST)
            .expect("hash to G1");
        let point = G1Affine::deserialize_compressed(&h[..]).expect("a G1 point");
        let sig = (point * self.secret).into_affine();
        let mut out = Vec::with_capacity(48);
        sig.serialize_compressed(&mut out)
            .expect("a G1 point serialises");
        HexBinary::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn its_signatures_verify_as_drands_do() {
        let b = TestBeacon::new(424_242, 1_000, 3);
        let api = MockApi::default();
        let r = b.config.verify(&api, 7, &b.sign(7)).expect("verifies");
        assert_ne!(r, b.config.verify(&api, 8, &b.sign(8)).unwrap());
        assert!(b.config.verify(&api, 8, &b.sign(7)).is_err());
        let other = TestBeacon::new(1, 1_000, 3);
        assert!(b.config.verify(&api, 7, &other.sign(7)).is_err());
    }
}
