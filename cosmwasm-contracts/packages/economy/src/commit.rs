//! Commitments: how a node binds itself to an output digest before anyone
//! can see the other nodes' answers, and the digest itself, bound to the task.
//!
//! The digest a node commits to is `task_digest(seed, output)`:
//! `SHA-256("clusterai/output/v1" || seed || BLAKE3(output))`, with `seed` the
//! task's assignment seed (fixed by the randomness beacon, unknown when the
//! task was posted). Two tasks with the same plugin, input and models have
//! different seeds, so a digest revealed for one is worthless for the other:
//! a node that copies an earlier answer instead of running the task reveals a
//! minority digest and is slashed.
//!
//! `commitment = SHA-256("clusterai/commit/v1" || digest || len(salt) as u8 || salt || node)`
//! where `node` is the node operator's address as a UTF-8 string. Binding the
//! node's address means a lazy node cannot copy another node's commitment;
//! the reveal phase only opens once every commitment is in (or the commit
//! deadline passed), so it cannot copy a revealed digest either. SHA-256 (not
//! BLAKE3) keeps the contracts small: it is what the wasm already links.

use sha2::{Digest, Sha256};

/// Domain separation prefix of task-bound output digests.
pub const OUTPUT_DOMAIN: &[u8] = b"clusterai/output/v1";

/// The digest a node reveals for a task with assignment `seed` whose output
/// has the BLAKE3 hash `output_hash`.
pub fn task_digest(seed: &[u8; 32], output_hash: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(OUTPUT_DOMAIN);
    h.update(seed);
    h.update(output_hash);
    h.finalize().into()
}

/// Domain separation prefix of every commitment.
pub const COMMIT_DOMAIN: &[u8] = b"clusterai/commit/v1";
/// Shortest salt accepted (bytes): enough that a digest cannot be guessed from its commitment.
pub const MIN_SALT_LEN: usize = 16;
/// Longest salt accepted (bytes).
pub const MAX_SALT_LEN: usize = 64;

/// The commitment a node posts for `digest` with `salt`.
pub fn commitment(digest: &[u8; 32], salt: &[u8], node: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(COMMIT_DOMAIN);
    h.update(digest);
    // Salt length is bounded by MAX_SALT_LEN (64), so it fits a byte; prefixing
    // it keeps the encoding unambiguous.
    h.update([salt.len().min(255) as u8]);
    h.update(salt);
    h.update(node.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_digest_salt_and_node() {
        let base = commitment(&[1; 32], &[2; 16], "node-a");
        assert_ne!(base, commitment(&[9; 32], &[2; 16], "node-a"));
        assert_ne!(base, commitment(&[1; 32], &[3; 16], "node-a"));
        assert_ne!(base, commitment(&[1; 32], &[2; 16], "node-b"));
        assert_eq!(base, commitment(&[1; 32], &[2; 16], "node-a"));
    }

    #[test]
    fn the_digest_is_bound_to_the_task() {
        let out = [5; 32];
        assert_ne!(task_digest(&[1; 32], &out), task_digest(&[2; 32], &out));
        assert_ne!(task_digest(&[1; 32], &out), task_digest(&[1; 32], &[6; 32]));
        assert_eq!(task_digest(&[1; 32], &out), task_digest(&[1; 32], &out));
    }

    #[test]
    fn known_vector() {
        // Pinned so that the node's client and the vm-tests harness, which
        // recompute it independently, can check against the same value.
        let c = commitment(&[0; 32], &[0; 16], "n");
        assert_eq!(
            cosmwasm_std::HexBinary::from(c).to_hex(),
            cosmwasm_std::HexBinary::from(
                Sha256::digest([COMMIT_DOMAIN, &[0; 32], &[16], &[0; 16], b"n"].concat())
                    .as_slice()
            )
            .to_hex()
        );
    }
}
