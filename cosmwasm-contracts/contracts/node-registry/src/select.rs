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
//! history (each cell records the height it last changed at, and the value
//! it had before its first change in each block), so a draw reads the pool
//! as it stood at the start of the block a task was posted in: one read per
//! cell that has not changed since, one history lookup for one that has. The beacon round that seeds the
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
use cosmwasm_std::{Addr, Order, StdError, StdResult, Storage, Uint128, Uint256};
use cw_storage_plus::Map;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The pool of every node, whatever it declares.
pub const ANY_POOL: &str = "";
/// Draws per vote before a draw gives up (bounds its gas when most of a
/// pool's weight belongs to nodes that are no longer eligible).
pub const MAX_ATTEMPTS_PER_VOTE: usize = 4;

/// The cells of every pool, with their history. Cell `i` of a pool (1-based)
/// is a Fenwick cell; two reserved indices hold the pool's size and its
/// count of members with weight. A cell's record is its value (u128) and the
/// height it last changed at (u64), big-endian; use [`read`] and [`write`].
const CELLS: Map<(&str, u32), ()> = Map::new("pool_cells");
/// The value a cell had before its first change in a block:
/// (pool, index, height) -> u128 big-endian.
const HISTORY: Map<(&str, u32, u64), ()> = Map::new("pool_history");
/// Reserved cell: members ever indexed in the pool (indices are never reused).
const SIZE: u32 = 0;
/// Reserved cell: members with a non-zero weight.
const COUNT: u32 = u32::MAX;
/// (pool, operator) -> index.
const INDEX: Map<(&str, &Addr), u32> = Map::new("pool_index");
/// (pool, index) -> operator.
const MEMBER: Map<(&str, u32), Addr> = Map::new("pool_member");

fn corrupt() -> StdError {
    StdError::generic_err("corrupt pool cell")
}

fn u128_of(b: &[u8]) -> StdResult<u128> {
    Ok(u128::from_be_bytes(b.try_into().map_err(|_| corrupt())?))
}

/// A cell's current value and the height it last changed at.
fn read(storage: &dyn Storage, pool: &str, i: u32) -> StdResult<(u128, u64)> {
    match storage.get(&CELLS.key((pool, i))) {
        None => Ok((0, 0)),
        Some(b) if b.len() == 24 => Ok((
            u128_of(&b[..16])?,
            u64::from_be_bytes(b[16..].try_into().map_err(|_| corrupt())?),
        )),
        Some(_) => Err(corrupt()),
    }
}

/// A cell's value at the start of block `height`: one read when it has not
/// changed since, one history lookup when it has.
fn read_at(storage: &dyn Storage, pool: &str, i: u32, height: u64) -> StdResult<u128> {
    let (value, changed_at) = read(storage, pool, i)?;
    if changed_at < height {
        return Ok(value);
    }
    // The first change at or after `height` kept the value before it: one
    // range step over this cell's history, key and value together.
    let start = HISTORY.key((pool, i, height)).to_vec();
    let mut end = HISTORY.key((pool, i, u64::MAX)).to_vec();
    end.push(0);
    match storage
        .range(Some(&start), Some(&end), Order::Ascending)
        .next()
    {
        Some((_, old)) => u128_of(&old),
        // Changed at `height` or later with no history: created since.
        None => Ok(0),
    }
}

/// Sets a cell at `height`, keeping the value it had before this block.
fn write(storage: &mut dyn Storage, pool: &str, i: u32, value: u128, height: u64) -> StdResult<()> {
    let (old, changed_at) = read(storage, pool, i)?;
    // A cell that did not exist has no history: it read 0 before.
    if changed_at != 0 && changed_at != height {
        storage.set(&HISTORY.key((pool, i, height)), &old.to_be_bytes());
    }
    let mut b = Vec::with_capacity(24);
    b.extend_from_slice(&value.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    storage.set(&CELLS.key((pool, i)), &b);
    Ok(())
}

fn lowbit(i: u32) -> u32 {
    i & i.wrapping_neg()
}

/// Capacity of a tree of `size` members: the least power of two holding them.
fn capacity(size: u32) -> u32 {
    size.max(1).next_power_of_two()
}

/// The index of `operator` in `pool` of `size` members, indexing it if it
/// is new; and the pool's size after.
fn index_of(
    storage: &mut dyn Storage,
    pool: &str,
    operator: &Addr,
    size: u32,
    height: u64,
) -> StdResult<(u32, u32)> {
    if let Some(i) = INDEX.may_load(storage, (pool, operator))? {
        return Ok((i, size));
    }
    let i = size + 1;
    let cap = capacity(size);
    if size > 0 && i > cap {
        // The tree doubles: its new root cell covers everything so far.
        let total = read(storage, pool, cap)?.0;
        write(storage, pool, 2 * cap, total, height)?;
    }
    write(storage, pool, SIZE, u128::from(i), height)?;
    INDEX.save(storage, (pool, operator), &i)?;
    MEMBER.save(storage, (pool, i), operator)?;
    Ok((i, i))
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
    let size = read(storage, pool, SIZE)?.0 as u32;
    let (index, size) = index_of(storage, pool, operator, size, height)?;
    let cap = capacity(size);
    let mut i = index;
    while i <= cap {
        let v = Uint128::new(read(storage, pool, i)?.0);
        let v = if new > old {
            v.checked_add(new - old)?
        } else {
            v.checked_sub(old - new)?
        };
        write(storage, pool, i, v.u128(), height)?;
        i += lowbit(i);
    }
    if old.is_zero() != new.is_zero() {
        let count = read(storage, pool, COUNT)?.0;
        let count = if new.is_zero() {
            count.saturating_sub(1)
        } else {
            count + 1
        };
        write(storage, pool, COUNT, count, height)?;
    }
    Ok(())
}

/// Members with weight in `pool` at the start of block `height`.
pub fn eligible_at(storage: &dyn Storage, pool: &str, height: u64) -> StdResult<u32> {
    Ok(read_at(storage, pool, COUNT, height)? as u32)
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
    let size = read_at(storage, pool, SIZE, height)? as u32;
    let cap = capacity(size);
    // Every vote's descent starts at the same cells: read each once.
    let mut cells: BTreeMap<u32, u128> = BTreeMap::new();
    let mut cell_at = |i: u32| -> StdResult<Uint128> {
        if let Some(v) = cells.get(&i) {
            return Ok(Uint128::new(*v));
        }
        let v = read_at(storage, pool, i, height)?;
        cells.insert(i, v);
        Ok(Uint128::new(v))
    };
    let total = cell_at(cap)?;
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
                let v = cell_at(next)?;
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
            sum += read_at(s, pool, i, h).unwrap();
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
            read_at(&s, "p", capacity(37), 3).unwrap(),
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
