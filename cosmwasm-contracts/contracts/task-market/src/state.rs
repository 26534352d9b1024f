//! What the task market stores.
//!
//! A task is split so that the records written on every commit and reveal
//! stay small: [`TaskState`] (status, deadlines, counters), [`TaskTerms`]
//! (who pays whom, fixed at posting; the drawn nodes and the seed, fixed at
//! assignment) and [`TaskBody`] (what to run, written once), plus one
//! [`Slot`] per assigned node.

use clusterai_economy::asset::Denom;
use clusterai_economy::beacon::BeaconConfig;
use clusterai_economy::codec::{Reader, put_addr, put_str};
pub use clusterai_economy::config::save as save_config;
use clusterai_economy::config::{self, AdminConfig, TreasuryConfig};
use clusterai_economy::market::{MarketParams, MarketTotals, RoyaltyShare, TaskInput, TaskStatus};
use clusterai_economy::registry::Requirements;
use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, HexBinary, StdError, StdResult, Storage, Timestamp, Uint128};
use cw_storage_plus::{Item, Map};

/// Configuration.
#[cw_serde]
pub struct Config {
    /// May change parameters.
    pub admin: Addr,
    /// Receives protocol fees.
    pub treasury: Addr,
    /// The payment denomination.
    pub denom: Denom,
    /// The node registry.
    pub registry: Addr,
    /// The model market.
    pub model_market: Addr,
    /// The randomness beacon (fixed at instantiation).
    pub beacon: BeaconConfig,
    /// Parameters.
    pub params: MarketParams,
}

/// The part of a task every commit and reveal reads and writes: kept small.
#[cw_serde]
pub struct TaskState {
    /// Replication factor (votes).
    pub k: u8,
    /// Distinct nodes drawn (0 until assigned).
    pub slots: u8,
    /// Nodes that committed.
    pub commits: u8,
    /// Nodes that revealed.
    pub reveals: u8,
    /// Nodes that declined.
    pub declines: u8,
    /// Whether the task counts for reputation.
    pub counts: bool,
    /// 0: the first committee; 1: the re-execution committee. The counters
    /// above are the current committee's.
    pub phase: u8,
    /// Posted at.
    pub posted_at: Timestamp,
    /// Since when it waits for its current draw (posting or escalation).
    pub pending_since: Timestamp,
    /// The block whose stake the draw reads.
    pub snapshot_height: u64,
    /// The beacon round that draws the nodes.
    pub round: u64,
    /// Commit deadline, once assigned.
    pub commit_deadline: Option<Timestamp>,
    /// Reveal deadline, once assigned.
    pub reveal_deadline: Option<Timestamp>,
    /// Status.
    pub status: TaskStatus,
}

/// Who pays whom: fixed at posting (the nodes and seed at assignment), read
/// at settlement. Parameter changes never reach it.
#[cw_serde]
pub struct TaskTerms {
    /// Who posted and paid.
    pub buyer: Addr,
    /// Escrowed reward.
    pub reward: Uint128,
    /// Protocol fee in bps.
    pub fee_bps: u16,
    /// What a declined vote earns (the least reward per node at posting).
    pub decline_pay: Uint128,
    /// Seconds to commit once assigned.
    pub commit_period: u64,
    /// Seconds to reveal after the commit deadline.
    pub reveal_period: u64,
    /// What the nodes must be able to do.
    pub requirements: Requirements,
    /// Drawn nodes with their votes, in first-draw order.
    pub nodes: Vec<(Addr, u8)>,
    /// The assignment seed, once assigned.
    pub seed: Option<[u8; 32]>,
    /// Royalties owed on success.
    pub royalties: Vec<RoyaltyShare>,
}

/// The part of a task written once.
#[cw_serde]
pub struct TaskBody {
    /// Plugin hash.
    pub plugin: HexBinary,
    /// Input.
    pub input: TaskInput,
    /// Model hashes.
    pub models: Vec<HexBinary>,
}

/// One assigned node's progress.
#[cw_serde]
#[derive(Default)]
pub struct Slot {
    /// Its votes.
    pub votes: u8,
    /// The committee it belongs to (0 first, 1 re-execution).
    pub phase: u8,
    /// Whether it declined.
    pub declined: bool,
    /// Its commitment.
    pub commitment: Option<HexBinary>,
    /// Its revealed digest.
    pub digest: Option<HexBinary>,
}

fn corrupt(what: &str) -> StdError {
    StdError::generic_err(format!("corrupt {what} record"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

fn time_at(b: &[u8], at: usize) -> Option<Timestamp> {
    match u64_at(b, at) {
        0 => None,
        n => Some(Timestamp::from_nanos(n)),
    }
}

impl TaskState {
    const HEADER: usize = 8 + 6 * 8;

    /// A binary record (counters, flags, status tag, times and heights, then
    /// the winning digest once settled): every commit, reveal and settlement
    /// reads and writes it, and JSON would cost several times more gas.
    pub fn encode(&self) -> Vec<u8> {
        let (tag, digest): (u8, &[u8]) = match &self.status {
            TaskStatus::Pending => (4, &[]),
            TaskStatus::Open => (0, &[]),
            TaskStatus::Settled { digest } => (1, digest.as_slice()),
            TaskStatus::Disputed => (2, &[]),
            TaskStatus::Expired => (3, &[]),
        };
        let mut b = Vec::with_capacity(Self::HEADER + digest.len());
        b.extend_from_slice(&[
            self.k,
            self.slots,
            self.commits,
            self.reveals,
            self.declines,
            u8::from(self.counts),
            tag,
            self.phase,
        ]);
        let nanos = |t: Option<Timestamp>| t.map_or(0, |t| t.nanos());
        for n in [
            self.posted_at.nanos(),
            self.pending_since.nanos(),
            self.snapshot_height,
            self.round,
            nanos(self.commit_deadline),
            nanos(self.reveal_deadline),
        ] {
            b.extend_from_slice(&n.to_be_bytes());
        }
        b.extend_from_slice(digest);
        b
    }

    /// The inverse of [`TaskState::encode`].
    pub fn decode(b: &[u8]) -> StdResult<Self> {
        if b.len() < Self::HEADER || b[5] > 1 || b[7] > 1 {
            return Err(corrupt("task"));
        }
        let status = match (b[6], &b[Self::HEADER..]) {
            (4, []) => TaskStatus::Pending,
            (0, []) => TaskStatus::Open,
            (1, d) if d.len() == 32 => TaskStatus::Settled {
                digest: HexBinary::from(d),
            },
            (2, []) => TaskStatus::Disputed,
            (3, []) => TaskStatus::Expired,
            _ => return Err(corrupt("task")),
        };
        Ok(TaskState {
            k: b[0],
            slots: b[1],
            commits: b[2],
            reveals: b[3],
            declines: b[4],
            counts: b[5] == 1,
            phase: b[7],
            posted_at: Timestamp::from_nanos(u64_at(b, 8)),
            pending_since: Timestamp::from_nanos(u64_at(b, 16)),
            snapshot_height: u64_at(b, 24),
            round: u64_at(b, 32),
            commit_deadline: time_at(b, 40),
            reveal_deadline: time_at(b, 48),
            status,
        })
    }
}

impl Slot {
    /// A binary record: votes, declined, phase, then per field its length +
    /// 1 (0: none) and its bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(5 + 64);
        b.push(self.votes);
        b.push(u8::from(self.declined));
        b.push(self.phase);
        for f in [&self.commitment, &self.digest] {
            match f {
                Some(v) => {
                    b.push(v.len() as u8 + 1);
                    b.extend_from_slice(v.as_slice());
                }
                None => b.push(0),
            }
        }
        b
    }

    /// The inverse of [`Slot::encode`].
    pub fn decode(b: &[u8]) -> StdResult<Self> {
        let (head, mut rest) = b.split_at_checked(3).ok_or_else(|| corrupt("slot"))?;
        if head[1] > 1 || head[2] > 1 {
            return Err(corrupt("slot"));
        }
        let mut field = || -> StdResult<Option<HexBinary>> {
            let (&len, tail) = rest.split_first().ok_or_else(|| corrupt("slot"))?;
            if len == 0 {
                rest = tail;
                return Ok(None);
            }
            let n = usize::from(len - 1);
            if tail.len() < n {
                return Err(corrupt("slot"));
            }
            let (v, tail) = tail.split_at(n);
            rest = tail;
            Ok(Some(HexBinary::from(v)))
        };
        let commitment = field()?;
        let digest = field()?;
        if !rest.is_empty() {
            return Err(corrupt("slot"));
        }
        Ok(Slot {
            votes: head[0],
            declined: head[1] == 1,
            phase: head[2],
            commitment,
            digest,
        })
    }
}

impl AdminConfig for Config {
    /// A binary record (addresses and the denom length-prefixed, the beacon,
    /// then the parameters): posting and settlement read it, and JSON would
    /// cost several times more gas.
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(640);
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
        put_addr(&mut b, &self.registry);
        put_addr(&mut b, &self.model_market);
        b.push(self.beacon.public_key.len() as u8);
        b.extend_from_slice(self.beacon.public_key.as_slice());
        b.extend_from_slice(&self.beacon.genesis_time.to_be_bytes());
        b.extend_from_slice(&self.beacon.period.to_be_bytes());
        let p = &self.params;
        b.extend_from_slice(&p.protocol_fee_bps.to_be_bytes());
        b.extend_from_slice(&p.min_commit_period.to_be_bytes());
        b.extend_from_slice(&p.max_commit_period.to_be_bytes());
        b.extend_from_slice(&p.reveal_period.to_be_bytes());
        b.push(p.max_k);
        b.extend_from_slice(&p.max_inline_input.to_be_bytes());
        b.push(p.max_models);
        b.extend_from_slice(&p.assign_delay.to_be_bytes());
        b.extend_from_slice(&p.assign_timeout.to_be_bytes());
        b.extend_from_slice(&p.min_reward_per_node.u128().to_be_bytes());
        b.push(p.min_counted_k);
        b.extend_from_slice(&p.min_counted_nodes.to_be_bytes());
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
            _ => return Err(corrupt("config")),
        };
        let registry = r.addr()?;
        let model_market = r.addr()?;
        let key_len = r.u8()?;
        let beacon = BeaconConfig {
            public_key: HexBinary::from(r.take(usize::from(key_len))?),
            genesis_time: r.u64()?,
            period: r.u64()?,
        };
        let params = MarketParams {
            protocol_fee_bps: r.u16()?,
            min_commit_period: r.u64()?,
            max_commit_period: r.u64()?,
            reveal_period: r.u64()?,
            max_k: r.u8()?,
            max_inline_input: r.u32()?,
            max_models: r.u8()?,
            assign_delay: r.u64()?,
            assign_timeout: r.u64()?,
            min_reward_per_node: r.uint128()?,
            min_counted_k: r.u8()?,
            min_counted_nodes: r.u32()?,
        };
        r.finish()?;
        Ok(Config {
            admin,
            treasury,
            denom,
            registry,
            model_market,
            beacon,
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

impl TaskTerms {
    /// A binary record: reward, fee, windows, buyer, the nodes with their
    /// votes, the seed, then the royalty shares (addresses length-prefixed).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(320);
        b.extend_from_slice(&self.reward.u128().to_be_bytes());
        b.extend_from_slice(&self.fee_bps.to_be_bytes());
        b.extend_from_slice(&self.decline_pay.u128().to_be_bytes());
        b.extend_from_slice(&self.commit_period.to_be_bytes());
        b.extend_from_slice(&self.reveal_period.to_be_bytes());
        put_addr(&mut b, &self.buyer);
        put_str(
            &mut b,
            self.requirements
                .execution_provider
                .as_deref()
                .unwrap_or(""),
        );
        b.extend_from_slice(&self.requirements.min_memory_mb.unwrap_or(0).to_be_bytes());
        b.push(self.nodes.len() as u8);
        for (n, votes) in &self.nodes {
            put_addr(&mut b, n);
            b.push(*votes);
        }
        match &self.seed {
            Some(s) => {
                b.push(1);
                b.extend_from_slice(s);
            }
            None => b.push(0),
        }
        b.push(self.royalties.len() as u8);
        for r in &self.royalties {
            b.push(r.hash.len() as u8);
            b.extend_from_slice(r.hash.as_slice());
            put_addr(&mut b, &r.creator);
            b.extend_from_slice(&r.amount.u128().to_be_bytes());
            b.push(u8::from(r.held));
        }
        b
    }

    /// The inverse of [`TaskTerms::encode`].
    pub fn decode(b: &[u8]) -> StdResult<Self> {
        let mut r = Reader::new(b, "task terms");
        let reward = r.uint128()?;
        let fee_bps = r.u16()?;
        let decline_pay = r.uint128()?;
        let commit_period = r.u64()?;
        let reveal_period = r.u64()?;
        let buyer = r.addr()?;
        let provider = r.str()?;
        let memory = r.u64()?;
        let requirements = Requirements {
            execution_provider: (!provider.is_empty()).then(|| provider.to_string()),
            min_memory_mb: (memory != 0).then_some(memory),
        };
        let n = r.u8()?;
        let nodes = (0..n)
            .map(|_| Ok((r.addr()?, r.u8()?)))
            .collect::<StdResult<Vec<_>>>()?;
        let seed = match r.u8()? {
            0 => None,
            1 => Some(r.take(32)?.try_into().map_err(|_| corrupt("task terms"))?),
            _ => return Err(corrupt("task terms")),
        };
        let n = r.u8()?;
        let mut royalties = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let len = r.u8()?;
            let hash = HexBinary::from(r.take(usize::from(len))?);
            let creator = r.addr()?;
            let amount = r.uint128()?;
            let held = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(corrupt("task terms")),
            };
            royalties.push(RoyaltyShare {
                hash,
                creator,
                amount,
                held,
            });
        }
        r.finish()?;
        Ok(TaskTerms {
            buyer,
            reward,
            fee_bps,
            decline_pay,
            commit_period,
            reveal_period,
            requirements,
            nodes,
            seed,
            royalties,
        })
    }
}

/// The terms of task `id`.
pub fn load_terms(storage: &dyn Storage, id: u64) -> StdResult<TaskTerms> {
    let b = storage
        .get(&TERMS.key(id))
        .ok_or_else(|| StdError::generic_err(format!("terms of task {id} not found")))?;
    TaskTerms::decode(&b)
}

/// Stores the terms of task `id`.
pub fn save_terms(storage: &mut dyn Storage, id: u64, terms: &TaskTerms) {
    storage.set(&TERMS.key(id), &terms.encode());
}

/// The state of task `id`, if it exists.
pub fn may_load_task(storage: &dyn Storage, id: u64) -> StdResult<Option<TaskState>> {
    storage
        .get(&TASKS.key(id))
        .map(|b| TaskState::decode(&b))
        .transpose()
}

/// The state of task `id`; an error if there is none.
pub fn load_task(storage: &dyn Storage, id: u64) -> StdResult<TaskState> {
    may_load_task(storage, id)?.ok_or_else(|| StdError::generic_err(format!("task {id} not found")))
}

/// Stores the state of task `id`.
pub fn save_task(storage: &mut dyn Storage, id: u64, task: &TaskState) {
    storage.set(&TASKS.key(id), &task.encode());
}

/// The slot of `node` in task `id`, if it is assigned.
pub fn may_load_slot(storage: &dyn Storage, id: u64, node: &Addr) -> StdResult<Option<Slot>> {
    storage
        .get(&SLOTS.key((id, node)))
        .map(|b| Slot::decode(&b))
        .transpose()
}

/// The slot of `node` in task `id`; an error if it is not assigned.
pub fn load_slot(storage: &dyn Storage, id: u64, node: &Addr) -> StdResult<Slot> {
    may_load_slot(storage, id, node)?
        .ok_or_else(|| StdError::generic_err(format!("slot of {node} in task {id} not found")))
}

/// Stores the slot of `node` in task `id`.
pub fn save_slot(storage: &mut dyn Storage, id: u64, node: &Addr, slot: &Slot) {
    storage.set(&SLOTS.key((id, node)), &slot.encode());
}

/// The next task id.
pub const NEXT_ID: Item<u64> = Item::new("next_id");
/// Verified beacon randomness by round: a round brought once serves every
/// task drawn by it.
pub const ROUNDS: Map<u64, HexBinary> = Map::new("rounds");
/// Task state by id, as [`TaskState::encode`] bytes (not JSON): use
/// [`load_task`], [`may_load_task`], [`save_task`]; iterate with `keys` only.
pub const TASKS: Map<u64, TaskState> = Map::new(clusterai_economy::market::TASK_STATES);
/// Task terms by id, as [`TaskTerms::encode`] bytes (not JSON): use
/// [`load_terms`] and [`save_terms`].
pub const TERMS: Map<u64, TaskTerms> = Map::new("terms");
/// Task body by id.
pub const BODIES: Map<u64, TaskBody> = Map::new("bodies");
/// Slots by (task, node), as [`Slot::encode`] bytes (not JSON): use
/// [`load_slot`], [`may_load_slot`], [`save_slot`].
pub const SLOTS: Map<(u64, &Addr), Slot> = Map::new("slots");
/// Index: (node, task) for every assignment.
pub const ASSIGNED: Map<(&Addr, u64), ()> = Map::new("assigned");
/// Unclaimed rewards by address.
pub const REWARDS: Map<&Addr, Uint128> = Map::new("rewards");
/// Running totals.
pub const TOTALS: Item<MarketTotals> = Item::new("totals");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_and_slot_records_round_trip() {
        let mut t = TaskState {
            k: 3,
            slots: 2,
            commits: 2,
            reveals: 1,
            declines: 1,
            counts: true,
            phase: 1,
            posted_at: Timestamp::from_nanos(1_700_000_000_000_000_000),
            pending_since: Timestamp::from_nanos(1_700_000_000_000_000_009),
            snapshot_height: 12_345,
            round: 657_413,
            commit_deadline: Some(Timestamp::from_nanos(1_700_000_000_000_000_001)),
            reveal_deadline: Some(Timestamp::from_nanos(u64::MAX)),
            status: TaskStatus::Open,
        };
        for status in [
            TaskStatus::Pending,
            TaskStatus::Open,
            TaskStatus::Settled {
                digest: HexBinary::from([7u8; 32]),
            },
            TaskStatus::Disputed,
            TaskStatus::Expired,
        ] {
            t.status = status;
            assert_eq!(TaskState::decode(&t.encode()).unwrap(), t);
        }
        t.commit_deadline = None;
        t.reveal_deadline = None;
        t.counts = false;
        assert_eq!(TaskState::decode(&t.encode()).unwrap(), t);
        assert!(TaskState::decode(&[0; 55]).is_err());
        let slots = [
            Slot::default(),
            Slot {
                votes: 2,
                phase: 1,
                declined: true,
                commitment: None,
                digest: None,
            },
            Slot {
                votes: 1,
                phase: 0,
                declined: false,
                commitment: Some(HexBinary::from([1u8; 32])),
                digest: Some(HexBinary::from([2u8; 32])),
            },
        ];
        for s in slots {
            let b = s.encode();
            assert_eq!(Slot::decode(&b).unwrap(), s);
            assert!(Slot::decode(&b[..b.len() - 1]).is_err());
        }
        assert!(Slot::decode(&[]).is_err());
        for denom in [
            Denom::Cw20(Addr::unchecked("token")),
            Denom::Native("ucai".into()),
        ] {
            let c = Config {
                admin: Addr::unchecked("admin"),
                treasury: Addr::unchecked("treasury"),
                denom,
                registry: Addr::unchecked("registry"),
                model_market: Addr::unchecked("models"),
                beacon: clusterai_economy::beacon::quicknet(),
                params: MarketParams {
                    protocol_fee_bps: 500,
                    min_commit_period: 1,
                    max_commit_period: u64::MAX,
                    reveal_period: 3,
                    max_k: 15,
                    max_inline_input: 65536,
                    max_models: 16,
                    assign_delay: 6,
                    assign_timeout: 600,
                    min_reward_per_node: Uint128::new(10),
                    min_counted_k: 3,
                    min_counted_nodes: 5,
                },
            };
            let b = c.encode();
            assert_eq!(Config::decode(&b).unwrap(), c);
            assert!(Config::decode(&b[..b.len() - 1]).is_err());
        }
        let terms = TaskTerms {
            buyer: Addr::unchecked("buyer"),
            reward: Uint128::new(u128::MAX),
            fee_bps: 500,
            decline_pay: Uint128::new(10),
            commit_period: 120,
            reveal_period: 600,
            requirements: Requirements {
                execution_provider: Some("cuda".into()),
                min_memory_mb: Some(8_000),
            },
            nodes: vec![(Addr::unchecked("a"), 2), (Addr::unchecked("node-b"), 1)],
            seed: Some([4; 32]),
            royalties: vec![RoyaltyShare {
                hash: HexBinary::from([9u8; 32]),
                creator: Addr::unchecked("creator"),
                amount: Uint128::new(2000),
                held: true,
            }],
        };
        let b = terms.encode();
        assert_eq!(TaskTerms::decode(&b).unwrap(), terms);
        assert!(TaskTerms::decode(&b[..b.len() - 1]).is_err());
        let none = TaskTerms {
            requirements: Requirements::default(),
            seed: None,
            ..terms
        };
        assert_eq!(TaskTerms::decode(&none.encode()).unwrap(), none);
    }

    #[test]
    fn the_registry_finds_a_task_record_where_the_market_keeps_it() {
        // The registry reads this record with a raw query: the key and the
        // status byte are part of the interface (clusterai_economy::market).
        assert_eq!(
            TASKS.key(42).to_vec(),
            clusterai_economy::market::task_state_key(42)
        );
        let mut t = TaskState {
            k: 3,
            slots: 3,
            commits: 3,
            reveals: 3,
            declines: 0,
            counts: true,
            phase: 0,
            posted_at: Timestamp::from_seconds(1),
            pending_since: Timestamp::from_seconds(1),
            snapshot_height: 1,
            round: 1,
            commit_deadline: None,
            reveal_deadline: None,
            status: TaskStatus::Pending,
        };
        for (status, closed) in [
            (TaskStatus::Pending, false),
            (TaskStatus::Open, false),
            (
                TaskStatus::Settled {
                    digest: HexBinary::from([1u8; 32]),
                },
                true,
            ),
            (TaskStatus::Disputed, true),
            (TaskStatus::Expired, true),
        ] {
            t.status = status;
            assert_eq!(
                clusterai_economy::market::task_record_closed(&t.encode()),
                closed
            );
        }
    }
}
