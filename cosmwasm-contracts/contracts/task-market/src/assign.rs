//! Assignment: which k nodes run a task.
//!
//! # The seed
//!
//! `seed = SHA-256("clusterai/assign/v1" || chain id || market address ||
//! block height || block time || transaction index || task id || entropy)`,
//! where `entropy` is a running hash of every earlier seed and every
//! commitment ever posted to the market. Nothing in it is chosen by the
//! buyer: not the plugin, input, models, reward or deadline. The task id is a
//! counter shared by everyone.
//!
//! Limits, stated honestly: a buyer still chooses *when* to post. Within one
//! block they can predict the seed of their transaction, and could burn gas on
//! dummy posts (each escrows a reward, refunded only at expiry) to move the
//! task counter until a friendly draw comes up; a block proposer can also
//! shape block time and transaction order. Stake weighting and the k-node
//! strict majority are what make such bias expensive: capturing a task needs
//! a majority of its k slots, hence a majority of the weight drawn. A stronger
//! seed (drand via IBC, or a commit-reveal among nodes before assignment)
//! would cost another round-trip per task.
//!
//! # The draw
//!
//! The node registry draws (query `SelectNodes`, see
//! `clusterai_economy::registry::draw`): each candidate weighs
//! `stake × (reputation + 1)`. Draw i picks the node whose cumulative weight
//! interval holds `SHA-256(seed || i) mod total` and removes it (sampling
//! without replacement). Only the chosen operators come back to the market.

use cosmwasm_std::Env;
use sha2::{Digest, Sha256};

/// Domain prefix of assignment seeds.
pub const ASSIGN_DOMAIN: &[u8] = b"clusterai/assign/v1";

/// The seed of task `task_id` posted in this block.
pub fn seed(env: &Env, task_id: u64, entropy: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ASSIGN_DOMAIN);
    h.update(env.block.chain_id.as_bytes());
    h.update([0]);
    h.update(env.contract.address.as_bytes());
    h.update([0]);
    h.update(env.block.height.to_be_bytes());
    h.update(env.block.time.nanos().to_be_bytes());
    h.update(
        env.transaction
            .as_ref()
            .map_or(u32::MAX, |t| t.index)
            .to_be_bytes(),
    );
    h.update(task_id.to_be_bytes());
    h.update(entropy);
    h.finalize().into()
}

/// The next entropy after mixing in `data`.
pub fn mix(entropy: &[u8], data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(entropy);
    h.update(data);
    h.finalize().into()
}
