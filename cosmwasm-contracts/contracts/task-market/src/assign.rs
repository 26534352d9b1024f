//! Assignment: which nodes run a task, and why nobody can choose them.
//!
//! # Two steps
//!
//! Posting escrows the reward and fixes two things: the beacon round that
//! will draw the nodes (the first round published after `posted_at +
//! assign_delay`, see [`clusterai_economy::beacon`]) and the block whose
//! stake the draw reads (the posting block, as it stood when it began). Once
//! the round is out, anyone sends `Assign` with the beacon's signature of
//! it; the market verifies the signature (BLS12-381, against the beacon key
//! fixed at instantiation) and asks the registry to draw k votes.
//!
//! # Why it cannot be predicted, chosen or ground
//!
//! - The poster cannot know the round's randomness when posting: the beacon
//!   publishes it later, and a threshold of its signers would have to
//!   collude to learn it sooner.
//! - Nobody can choose it when assigning: a BLS signature is unique for a
//!   key and message, so the submitter has exactly one valid value to send.
//! - Nobody can grind it: the round and the snapshot are fixed at posting,
//!   and stake moved after the round is out does not count (the draw reads
//!   the pool as it stood). A contract that posts and inspects the draw in
//!   one transaction sees nothing: the draw does not exist yet.
//!
//! # What a block proposer can still do
//!
//! Shape block time within BFT time's bounds, which moves a task to a
//! neighbouring round whose value nobody knows yet (no gain); and censor
//! `Assign` transactions, which only delays a task until another proposer
//! includes one, or past `assign_timeout`, when the buyer is refunded less
//! the fee (the proposer gains nothing and the task's nodes lose nothing).
//! A drawn node can refuse its slot (decline, or leave the eligible set
//! before the draw and be redrawn), which only removes the refusing
//! coalition's own votes.

use sha2::{Digest, Sha256};

/// Domain prefix of assignment seeds.
pub const ASSIGN_DOMAIN: &[u8] = b"clusterai/assign/v2";

/// The seed of task `task_id` of the market at `market`, from its beacon
/// round's `randomness`.
pub fn seed(randomness: &[u8; 32], market: &str, task_id: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ASSIGN_DOMAIN);
    h.update(randomness);
    h.update(market.as_bytes());
    h.update([0]);
    h.update(task_id.to_be_bytes());
    h.finalize().into()
}
