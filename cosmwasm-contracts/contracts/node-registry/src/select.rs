//! The stake-weighted draw of a task's nodes.
//!
//! # Pools
//!
//! Every node sits in the pool of every node ([`ANY_POOL`]) and in the pool
//! of each execution provider it declares. A node's weight in its pools is
//! its bonded stake while that is at least the minimum stake and it is not
//! jailed, and zero otherwise: records that drop below the minimum, unbond
//! or get jailed leave the draw at once, and cost it nothing (the draw is
//! O(log n), not a scan, so no number of dead records can block posting).
//!
//! # Snapshots
//!
//! Each pool is a Fenwick tree of weights whose cells are kept with their
//! history ([`SnapshotMap`]), so a draw reads the pool as it stood at the
//! start of the block a task was posted in. The beacon round that seeds the
//! draw is published later: anyone who learns it can no longer change the
//! weights it applies to (by staking, unbonding or registering nodes).
//!
//! # Votes
//!
//! The k votes are drawn *with replacement*: vote i goes to the node whose
//! cumulative weight interval holds `SHA-256(seed || i) mod total`. A node
//! drawn twice holds two votes. A coalition holding a share s of the stake
//! thus gets each vote with probability s, independently, however it splits
//! its stake over nodes: splitting cannot raise its chance of a majority
//! (drawing without replacement would: one node can hold only one vote).
//! A drawn node that is not eligible *now* (jailed since, below the minimum
//! stake, short of the task's memory, or the buyer) is skipped and the next
//! vote drawn, up to [`MAX_ATTEMPTS_PER_VOTE`] × k draws in all.

use clusterai_economy::registry::SelectedNode;
use cosmwasm_std::{Addr, StdResult, Storage, Uint128, Uint256};
use cw_storage_plus::{Map, SnapshotMap, Strategy};
use sha2::{Digest, Sha256};

/// The pool of every node, whatever it declares.
pub const ANY_POOL: &str = "";
/// Draws per vote before a draw gives up (bounds its gas when most of a
/// pool's weight belongs to nodes that are no longer eligible).
pub const MAX_ATTEMPTS_PER_VOTE: usize = 4;

/// Fenwick cells: (pool, index) -> sum of the weights in the cell's range.
const TREE: SnapshotMap<(&str, u32), Uint128> = SnapshotMap::new(
    "pool_tree",
    "pool_tree__checkpoints",
    "pool_tree__changelog",
    Strategy::EveryBlock,
);
/// Members ever indexed in each pool (indices are 1-based and never reused).
const SIZE: SnapshotMap<&str, u32> = SnapshotMap::new(
    "pool_size",
    "pool_size__checkpoints",
    "pool_size__changelog",
    Strategy::EveryBlock,
);
/// Members with a non-zero weight in each pool.
const COUNT: SnapshotMap<&str, u32> = SnapshotMap::new(
    "pool_count",
    "pool_count__checkpoints",
    "pool_count__changelog",
    Strategy::EveryBlock,
);
/// (pool, operator) -> index.
const INDEX: Map<(&str, &Addr), u32> = Map::new("pool_index");
/// (pool, index) -> operator.
const MEMBER: Map<(&str, u32), Addr> = Map::new("pool_member");

fn lowbit(i: u32) -> u32 {
    i & i.wrapping_neg()
}

fn cell(storage: &dyn Storage, pool: &str, i: u32) -> StdResult<Uint128> {
    Ok(TREE.may_load(storage, (pool, i))?.unwrap_or_default())
}

fn cell_at(storage: &dyn Storage, pool: &str, i: u32, height: u64) -> StdResult<Uint128> {
    Ok(TREE
        .may_load_at_height(storage, (pool, i), height)?
        .unwrap_or_default())
}

/// Capacity of a tree of `size` members: the least power of two holding them.
fn capacity(size: u32) -> u32 {
    size.max(1).next_power_of_two()
}

/// The index of `operator` in `pool`, indexing it if it is new.
fn index_of(storage: &mut dyn Storage, pool: &str, operator: &Addr, height: u64) -> StdResult<u32> {
    if let Some(i) = INDEX.may_load(storage, (pool, operator))? {
        return Ok(i);
    }
    let size = SIZE.may_load(storage, pool)?.unwrap_or(0);
    let i = size + 1;
    let cap = capacity(size);
    if size > 0 && i > cap {
        // The tree doubles: its new root cell covers everything so far.
        let total = cell(storage, pool, cap)?;
        TREE.save(storage, (pool, 2 * cap), &total, height)?;
    }
    SIZE.save(storage, pool, &i, height)?;
    INDEX.save(storage, (pool, operator), &i)?;
    MEMBER.save(storage, (pool, i), operator)?;
    Ok(i)
}

/// Moves `operator`'s weight in `pool` from `old` to `new` (recorded at `height`).
pub fn set_weight(
    storage: &mut dyn Storage,
    pool: &str,
    operator: &Addr,
    old: Uint128,
    new: Uint128,
    height: u64,
) -> StdResult<()> {
    if old == new {
        return Ok(());
    }
    let index = index_of(storage, pool, operator, height)?;
    let cap = capacity(SIZE.load(storage, pool)?);
    let mut i = index;
    while i <= cap {
        let v = cell(storage, pool, i)?;
        let v = if new > old {
            v.checked_add(new - old)?
        } else {
            v.checked_sub(old - new)?
        };
        TREE.save(storage, (pool, i), &v, height)?;
        i += lowbit(i);
    }
    if old.is_zero() != new.is_zero() {
        let count = COUNT.may_load(storage, pool)?.unwrap_or(0);
        let count = if new.is_zero() {
            count.saturating_sub(1)
        } else {
            count + 1
        };
        COUNT.save(storage, pool, &count, height)?;
    }
    Ok(())
}

/// Members with weight in `pool` at the start of block `height`.
pub fn eligible_at(storage: &dyn Storage, pool: &str, height: u64) -> StdResult<u32> {
    Ok(COUNT
        .may_load_at_height(storage, pool, height)?
        .unwrap_or(0))
}

/// Draws `k` votes from `pool` as it stood at the start of block `height`,
/// skipping nodes for which `eligible` says no. Returns the drawn nodes with
/// their votes (empty if `k` votes could not be drawn) and the number of
/// members with weight at `height`.
pub fn draw(
    storage: &dyn Storage,
    pool: &str,
    height: u64,
    seed: &[u8],
    k: u8,
    mut eligible: impl FnMut(&Addr) -> StdResult<bool>,
) -> StdResult<(Vec<SelectedNode>, u32)> {
    let members = eligible_at(storage, pool, height)?;
    let size = SIZE.may_load_at_height(storage, pool, height)?.unwrap_or(0);
    let cap = capacity(size);
    let total = cell_at(storage, pool, cap, height)?;
    let mut chosen: Vec<SelectedNode> = Vec::with_capacity(usize::from(k));
    if total.is_zero() || k == 0 {
        return Ok((vec![], members));
    }
    let mut refused: Vec<Addr> = Vec::new();
    let mut votes = 0u8;
    for attempt in 0..usize::from(k) * MAX_ATTEMPTS_PER_VOTE {
        let mut h = Sha256::new();
        h.update(seed);
        h.update((attempt as u32).to_be_bytes());
        let r = Uint256::from_be_bytes(h.finalize().into()) % Uint256::from(total);
        // r < total <= u128::MAX, so it fits.
        let mut rem = Uint128::try_from(r)?;
        // Binary lifting: the largest prefix whose sum is <= r; the next index holds r.
        let mut pos = 0u32;
        let mut step = cap;
        while step > 0 {
            let next = pos + step;
            if next <= cap {
                let v = cell_at(storage, pool, next, height)?;
                if v <= rem {
                    pos = next;
                    rem -= v;
                }
            }
            step >>= 1;
        }
        let node = MEMBER.load(storage, (pool, pos + 1))?;
        if let Some(c) = chosen.iter_mut().find(|c| c.operator == node) {
            c.votes += 1;
        } else if refused.contains(&node) {
            continue;
        } else if eligible(&node)? {
            chosen.push(SelectedNode {
                operator: node,
                votes: 1,
            });
        } else {
            refused.push(node);
            continue;
        }
        votes += 1;
        if votes == k {
            return Ok((chosen, members));
        }
    }
    Ok((vec![], members))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::testing::MockStorage;

    fn addr(i: usize) -> Addr {
        Addr::unchecked(format!("node{i}"))
    }

    fn prefix_sum(s: &dyn Storage, pool: &str, mut i: u32, h: u64) -> u128 {
        let mut sum = 0;
        while i > 0 {
            sum += cell_at(s, pool, i, h).unwrap().u128();
            i -= lowbit(i);
        }
        sum
    }

    #[test]
    fn the_tree_keeps_prefix_sums_as_members_join_and_change() {
        let mut s = MockStorage::new();
        let mut weights = vec![];
        for i in 0..37usize {
            let w = Uint128::new(10 + (i as u128 * 7) % 13);
            set_weight(&mut s, "p", &addr(i), Uint128::zero(), w, 1).unwrap();
            weights.push(w.u128());
        }
        set_weight(
            &mut s,
            "p",
            &addr(3),
            Uint128::new(weights[3]),
            Uint128::zero(),
            2,
        )
        .unwrap();
        weights[3] = 0;
        set_weight(
            &mut s,
            "p",
            &addr(20),
            Uint128::new(weights[20]),
            Uint128::new(500),
            2,
        )
        .unwrap();
        weights[20] = 500;
        for n in 1..=37u32 {
            let want: u128 = weights[..n as usize].iter().sum();
            assert_eq!(prefix_sum(&s, "p", n, 3), want, "prefix {n}");
        }
        assert_eq!(
            cell_at(&s, "p", capacity(37), 3).unwrap().u128(),
            weights.iter().sum::<u128>()
        );
        assert_eq!(eligible_at(&s, "p", 3).unwrap(), 36);
        // As it stood at the start of block 2: before both changes.
        assert_eq!(eligible_at(&s, "p", 2).unwrap(), 37);
    }

    #[test]
    fn draws_follow_stake_and_ignore_later_changes() {
        let mut s = MockStorage::new();
        set_weight(
            &mut s,
            "p",
            &addr(0),
            Uint128::zero(),
            Uint128::new(9_000),
            1,
        )
        .unwrap();
        set_weight(
            &mut s,
            "p",
            &addr(1),
            Uint128::zero(),
            Uint128::new(1_000),
            1,
        )
        .unwrap();
        // Block 5: node 1 becomes a whale; a draw at height 5 must not see it.
        set_weight(
            &mut s,
            "p",
            &addr(1),
            Uint128::new(1_000),
            Uint128::new(1_000_000),
            5,
        )
        .unwrap();
        let mut heavy = 0;
        for seed in 0..400u32 {
            let (nodes, members) = draw(&s, "p", 5, &seed.to_be_bytes(), 1, |_| Ok(true)).unwrap();
            assert_eq!(members, 2);
            if nodes[0].operator == addr(0) {
                heavy += 1;
            }
        }
        assert!(
            (330..=390).contains(&heavy),
            "node 0 drew {heavy}/400, expected ~360"
        );
    }

    #[test]
    fn ineligible_nodes_are_redrawn_and_a_hopeless_draw_gives_up() {
        let mut s = MockStorage::new();
        for i in 0..3 {
            set_weight(&mut s, "p", &addr(i), Uint128::zero(), Uint128::new(100), 1).unwrap();
        }
        let (nodes, _) = draw(&s, "p", 2, &[7; 32], 5, |a| Ok(*a != addr(1))).unwrap();
        assert_eq!(nodes.iter().map(|n| n.votes).sum::<u8>(), 5);
        assert!(nodes.iter().all(|n| n.operator != addr(1)));
        let (nodes, members) = draw(&s, "p", 2, &[7; 32], 3, |_| Ok(false)).unwrap();
        assert!(nodes.is_empty());
        assert_eq!(members, 3);
        // Nothing staked at height 1's start: nothing to draw.
        assert!(
            draw(&s, "p", 1, &[7; 32], 1, |_| Ok(true))
                .unwrap()
                .0
                .is_empty()
        );
    }
}
