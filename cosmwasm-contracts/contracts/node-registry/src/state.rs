//! What the registry stores.

use clusterai_economy::asset::Denom;
use clusterai_economy::codec::{Reader, put_addr, put_str};
pub use clusterai_economy::config::save as save_config;
use clusterai_economy::config::{self, AdminConfig, TreasuryConfig};
use clusterai_economy::registry::{Claim, NodeInfo, RegistryParams, RegistryTotals};
use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, StdError, StdResult, Storage, Timestamp, Uint128};
use cw_storage_plus::{Item, Map};

/// Configuration.
#[cw_serde]
pub struct Config {
    /// May change parameters.
    pub admin: Addr,
    /// Receives slashed stake.
    pub treasury: Addr,
    /// The payment denomination.
    pub denom: Denom,
    /// The only caller of `ReportOutcomes`.
    pub task_market: Option<Addr>,
    /// Parameters.
    pub params: RegistryParams,
}

/// A registered node's standing: everything that changes with stake and
/// outcomes, kept apart from its (larger, rarely written) [`NodeInfo`] so that
/// assignment and outcome reports read and write small records.
#[cw_serde]
pub struct Node {
    /// Declared memory (copied from the info, for the eligibility filter).
    pub memory_mb: u64,
    /// Bonded stake.
    pub stake: Uint128,
    /// Reputation, 0 to MAX_REPUTATION.
    pub reputation: u32,
    /// Consecutive faults.
    pub consecutive_faults: u32,
    /// Jailed until.
    pub jailed_until: Option<Timestamp>,
    /// Agreeing results.
    pub tasks_agreed: u64,
    /// Minority results.
    pub tasks_wrong: u64,
    /// Withheld reveals.
    pub tasks_withheld: u64,
    /// Missing commitments.
    pub tasks_absent: u64,
    /// The weight the node has in its pools' draw trees now.
    pub weight: Uint128,
    /// Stake slashed so far.
    pub slashed_total: Uint128,
}

impl AdminConfig for Config {
    /// A binary record (addresses and the denom length-prefixed, then the
    /// parameters): every assignment draw and outcome report reads it.
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(384);
        put_addr(&mut b, &self.admin);
        put_addr(&mut b, &self.treasury);
        match &self.denom {
            Denom::Cw20(a) => {
                b.push(0);
                put_addr(&mut b, a);
            }
            Denom::Native(d) => {
                b.push(1);
                put_str(&mut b, d);
            }
        }
        match &self.task_market {
            Some(a) => {
                b.push(1);
                put_addr(&mut b, a);
            }
            None => b.push(0),
        }
        let p = &self.params;
        b.extend_from_slice(&p.min_stake.u128().to_be_bytes());
        b.extend_from_slice(&p.unbonding_period.to_be_bytes());
        b.extend_from_slice(&p.fault_slash_bps.to_be_bytes());
        b.extend_from_slice(&p.absent_slash_bps.to_be_bytes());
        b.extend_from_slice(&p.wrong_penalty_bps.to_be_bytes());
        b.extend_from_slice(&p.jail_after_faults.to_be_bytes());
        b.extend_from_slice(&p.jail_duration.to_be_bytes());
        b.extend_from_slice(&p.reputation_reward.to_be_bytes());
        b.extend_from_slice(&p.reputation_fault_penalty.to_be_bytes());
        b.extend_from_slice(&p.reputation_absent_penalty.to_be_bytes());
        b
    }

    /// The inverse of [`Config::encode`].
    fn decode(b: &[u8]) -> StdResult<Self> {
        let mut r = Reader::new(b, "config");
        let admin = r.addr()?;
        let treasury = r.addr()?;
        let denom = match r.u8()? {
            0 => Denom::Cw20(r.addr()?),
            1 => Denom::Native(r.str()?.to_string()),
            _ => return Err(r.corrupt()),
        };
        let task_market = match r.u8()? {
            0 => None,
            1 => Some(r.addr()?),
            _ => return Err(r.corrupt()),
        };
        let params = RegistryParams {
            min_stake: r.uint128()?,
            unbonding_period: r.u64()?,
            fault_slash_bps: r.u16()?,
            absent_slash_bps: r.u16()?,
            wrong_penalty_bps: r.u32()?,
            jail_after_faults: r.u32()?,
            jail_duration: r.u64()?,
            reputation_reward: r.u32()?,
            reputation_fault_penalty: r.u32()?,
            reputation_absent_penalty: r.u32()?,
        };
        r.finish()?;
        Ok(Config {
            admin,
            treasury,
            denom,
            task_market,
            params,
        })
    }

    fn admin(&self) -> &Addr {
        &self.admin
    }

    fn admin_mut(&mut self) -> &mut Addr {
        &mut self.admin
    }
}

impl TreasuryConfig for Config {
    fn treasury_mut(&mut self) -> &mut Addr {
        &mut self.treasury
    }
}

/// The configuration.
pub fn load_config(storage: &dyn Storage) -> StdResult<Config> {
    config::load(storage)
}

impl Node {
    /// Length of [`Node::encode`].
    pub const ENCODED_LEN: usize = 8 + 16 + 4 + 4 + 1 + 8 + 8 + 8 + 8 + 8 + 16 + 16;

    /// A fixed-size binary record: every assignment draw and outcome report
    /// reads (and the report writes) one per node, and JSON would cost
    /// several times more gas to parse and write.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::ENCODED_LEN);
        b.extend_from_slice(&self.memory_mb.to_be_bytes());
        b.extend_from_slice(&self.stake.u128().to_be_bytes());
        b.extend_from_slice(&self.reputation.to_be_bytes());
        b.extend_from_slice(&self.consecutive_faults.to_be_bytes());
        match self.jailed_until {
            Some(t) => {
                b.push(1);
                b.extend_from_slice(&t.nanos().to_be_bytes());
            }
            None => b.extend_from_slice(&[0; 9]),
        }
        b.extend_from_slice(&self.tasks_agreed.to_be_bytes());
        b.extend_from_slice(&self.tasks_wrong.to_be_bytes());
        b.extend_from_slice(&self.tasks_withheld.to_be_bytes());
        b.extend_from_slice(&self.tasks_absent.to_be_bytes());
        b.extend_from_slice(&self.slashed_total.u128().to_be_bytes());
        b.extend_from_slice(&self.weight.u128().to_be_bytes());
        b
    }

    /// The inverse of [`Node::encode`].
    pub fn decode(b: &[u8]) -> StdResult<Self> {
        if b.len() != Self::ENCODED_LEN {
            return Err(StdError::generic_err("corrupt node record"));
        }
        let mut at = 0;
        let mut take = |n: usize| {
            let s = &b[at..at + n];
            at += n;
            s
        };
        let u64_of = |s: &[u8]| u64::from_be_bytes(s.try_into().unwrap_or_default());
        let u32_of = |s: &[u8]| u32::from_be_bytes(s.try_into().unwrap_or_default());
        let u128_of = |s: &[u8]| u128::from_be_bytes(s.try_into().unwrap_or_default());
        let memory_mb = u64_of(take(8));
        let stake = Uint128::new(u128_of(take(16)));
        let reputation = u32_of(take(4));
        let consecutive_faults = u32_of(take(4));
        let jailed = take(1)[0] == 1;
        let jailed_at = u64_of(take(8));
        Ok(Node {
            memory_mb,
            stake,
            reputation,
            consecutive_faults,
            jailed_until: jailed.then(|| Timestamp::from_nanos(jailed_at)),
            tasks_agreed: u64_of(take(8)),
            tasks_wrong: u64_of(take(8)),
            tasks_withheld: u64_of(take(8)),
            tasks_absent: u64_of(take(8)),
            slashed_total: Uint128::new(u128_of(take(16))),
            weight: Uint128::new(u128_of(take(16))),
        })
    }
}

/// The node of `operator`, if registered.
pub fn may_load_node(storage: &dyn Storage, operator: &Addr) -> StdResult<Option<Node>> {
    storage
        .get(&NODES.key(operator))
        .map(|b| Node::decode(&b))
        .transpose()
}

/// The node of `operator`; an error if it is not registered.
pub fn load_node(storage: &dyn Storage, operator: &Addr) -> StdResult<Node> {
    may_load_node(storage, operator)?
        .ok_or_else(|| StdError::generic_err(format!("node {operator} not found")))
}

/// Stores the node of `operator`.
pub fn save_node(storage: &mut dyn Storage, operator: &Addr, node: &Node) {
    storage.set(&NODES.key(operator), &node.encode());
}

/// Most pending claims per operator (bounds the work of `Claim` and slashing).
pub const MAX_CLAIMS: usize = 16;
/// Most nodes a single `Eligible` query looks at (bounds its gas).
pub const MAX_SCAN: usize = 500;

/// Nodes by operator. The values are [`Node::encode`] bytes, not JSON: read
/// and write them with [`may_load_node`], [`load_node`] and [`save_node`];
/// iterate with `keys` only.
pub const NODES: Map<&Addr, Node> = Map::new("nodes");
/// Registration data by operator.
pub const INFO: Map<&Addr, NodeInfo> = Map::new("info");
/// Index: (execution provider, operator).
pub const BY_PROVIDER: Map<(&str, &Addr), ()> = Map::new("by_provider");
/// Pending unbonding claims by operator, oldest first.
pub const CLAIMS: Map<&Addr, Vec<Claim>> = Map::new("claims");
/// Tasks whose outcomes were applied (each is applied once).
pub const REPORTED: Map<u64, ()> = Map::new("reported");
/// Running totals of stake and claims.
pub const TOTALS: Item<RegistryTotals> = Item::new("totals");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_records_round_trip() {
        let mut n = Node {
            memory_mb: u64::MAX,
            stake: Uint128::new(u128::MAX - 7),
            reputation: 1000,
            consecutive_faults: 3,
            jailed_until: Some(Timestamp::from_nanos(1_700_000_000_123_456_789)),
            tasks_agreed: 1,
            tasks_wrong: 2,
            tasks_withheld: 4,
            tasks_absent: 3,
            slashed_total: Uint128::new(42),
            weight: Uint128::new(u128::MAX - 9),
        };
        let b = n.encode();
        assert_eq!(b.len(), Node::ENCODED_LEN);
        assert_eq!(Node::decode(&b).unwrap(), n);
        n.jailed_until = None;
        assert_eq!(Node::decode(&n.encode()).unwrap(), n);
        assert!(Node::decode(&b[1..]).is_err());
        for (denom, task_market) in [
            (Denom::Cw20(Addr::unchecked("token")), None),
            (
                Denom::Native("ucai".into()),
                Some(Addr::unchecked("market")),
            ),
        ] {
            let c = Config {
                admin: Addr::unchecked("admin"),
                treasury: Addr::unchecked("treasury"),
                denom,
                task_market,
                params: RegistryParams {
                    min_stake: Uint128::new(1000),
                    unbonding_period: 86_400,
                    fault_slash_bps: 1000,
                    absent_slash_bps: 100,
                    wrong_penalty_bps: 20_000,
                    jail_after_faults: 3,
                    jail_duration: 3600,
                    reputation_reward: 10,
                    reputation_fault_penalty: 100,
                    reputation_absent_penalty: 50,
                },
            };
            let b = c.encode();
            assert_eq!(Config::decode(&b).unwrap(), c);
            assert!(Config::decode(&b[..b.len() - 1]).is_err());
        }
    }
}
