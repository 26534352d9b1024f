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
//! Each candidate weighs `stake × (reputation + 1)`. Draw i picks the node
//! whose cumulative weight interval holds `SHA-256(seed || i) mod total`
//! and removes it (sampling without replacement).

use clusterai_economy::registry::EligibleNode;
use cosmwasm_std::{Addr, Env, Uint256};
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

fn weight(n: &EligibleNode) -> Uint256 {
    Uint256::from(n.stake) * Uint256::from(u64::from(n.reputation) + 1)
}

/// Draws `k` distinct nodes from `candidates`, weighted by stake and
/// reputation. Returns `None` if there are fewer than `k` candidates with a
/// non-zero weight.
pub fn draw(seed: &[u8; 32], mut candidates: Vec<EligibleNode>, k: usize) -> Option<Vec<Addr>> {
    candidates.retain(|n| !n.stake.is_zero());
    if candidates.len() < k {
        return None;
    }
    let mut weights: Vec<Uint256> = candidates.iter().map(weight).collect();
    let mut total: Uint256 = weights.iter().copied().fold(Uint256::zero(), |a, b| a + b);
    let mut chosen = Vec::with_capacity(k);
    for i in 0..k {
        let mut h = Sha256::new();
        h.update(seed);
        h.update((i as u32).to_be_bytes());
        let r = Uint256::from_be_bytes(h.finalize().into()) % total;
        let mut acc = Uint256::zero();
        let mut pick = candidates.len() - 1;
        for (j, w) in weights.iter().enumerate() {
            acc += *w;
            if r < acc {
                pick = j;
                break;
            }
        }
        total -= weights.swap_remove(pick);
        chosen.push(candidates.swap_remove(pick).operator);
    }
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::Uint128;

    fn node(name: &str, stake: u128, reputation: u32) -> EligibleNode {
        EligibleNode {
            operator: Addr::unchecked(name),
            stake: Uint128::new(stake),
            reputation,
        }
    }

    #[test]
    fn draws_k_distinct_nodes_deterministically() {
        let c = vec![
            node("a", 100, 500),
            node("b", 100, 500),
            node("c", 100, 500),
            node("d", 100, 500),
        ];
        let x = draw(&[1; 32], c.clone(), 3).unwrap();
        assert_eq!(x.len(), 3);
        let mut y = x.clone();
        y.sort();
        y.dedup();
        assert_eq!(y.len(), 3);
        assert_eq!(x, draw(&[1; 32], c.clone(), 3).unwrap());
        assert!(draw(&[1; 32], c, 5).is_none());
    }

    #[test]
    fn zero_stake_is_never_drawn() {
        let c = vec![node("a", 0, 1000), node("b", 1, 0)];
        assert_eq!(
            draw(&[9; 32], c.clone(), 1).unwrap(),
            vec![Addr::unchecked("b")]
        );
        assert!(draw(&[9; 32], c, 2).is_none());
    }

    #[test]
    fn heavier_nodes_are_drawn_more_often() {
        let c = vec![node("heavy", 10_000, 1000), node("light", 100, 100)];
        let mut heavy = 0;
        for s in 0..200u8 {
            let mut seed = [0u8; 32];
            seed[0] = s;
            if draw(&seed, c.clone(), 1).unwrap()[0] == Addr::unchecked("heavy") {
                heavy += 1;
            }
        }
        // weight ratio is ~1000:1; allow slack for 200 draws.
        assert!(heavy >= 190, "heavy drawn {heavy}/200");
    }
}
