//! Messages of the node registry: stake, unbonding, slashing, jailing,
//! reputation and node metadata.

use crate::asset::PaymentDenom;
use cosmwasm_schema::{QueryResponses, cw_serde};
use cosmwasm_std::{Addr, HexBinary, Timestamp, Uint128, Uint256};
use cw20::Cw20ReceiveMsg;
use sha2::{Digest, Sha256};

/// Reputation a node starts with.
pub const INITIAL_REPUTATION: u32 = 500;
/// The highest reputation.
pub const MAX_REPUTATION: u32 = 1000;

/// Parameters governance may change.
#[cw_serde]
pub struct RegistryParams {
    /// Stake a node must hold to register and to be assigned tasks.
    pub min_stake: Uint128,
    /// Seconds between `Unbond` and the moment the claim can be withdrawn.
    pub unbonding_period: u64,
    /// Share of stake (bps) slashed when a node reveals a minority digest.
    pub fault_slash_bps: u16,
    /// Share of stake (bps) slashed when a node never commits or reveals.
    pub absent_slash_bps: u16,
    /// Consecutive faults (wrong or absent) after which a node is jailed.
    pub jail_after_faults: u32,
    /// Seconds a jailed node cannot be assigned tasks.
    pub jail_duration: u64,
    /// Reputation gained per agreeing result.
    pub reputation_reward: u32,
    /// Reputation lost per minority result.
    pub reputation_fault_penalty: u32,
    /// Reputation lost per missing commit or reveal.
    pub reputation_absent_penalty: u32,
}

/// What a node declares it can run.
#[cw_serde]
pub struct Capabilities {
    /// Execution providers, e.g. `cpu`, `cuda` (1 to 8, each 1 to 32 of `[a-z0-9_-]`).
    pub execution_providers: Vec<String>,
    /// Memory available to tasks, in MiB (non-zero).
    pub memory_mb: u64,
}

/// What a task needs from a node.
#[cw_serde]
#[derive(Default)]
pub struct Requirements {
    /// An execution provider the node must declare.
    pub execution_provider: Option<String>,
    /// The least memory (MiB) the node must declare.
    pub min_memory_mb: Option<u64>,
}

/// Registration data of a node.
#[cw_serde]
pub struct NodeInfo {
    /// The iroh node id (the ed25519 public key of the node's endpoint), 32 bytes.
    pub iroh_node_id: HexBinary,
    /// The ed25519 public key that signs receipts, 32 bytes.
    pub receipt_key: HexBinary,
    /// Declared capabilities.
    pub capabilities: Capabilities,
}

/// Instantiate the registry.
#[cw_serde]
pub struct InstantiateMsg {
    /// Who may change parameters (governance later); the sender if absent.
    pub admin: Option<String>,
    /// Where slashed stake goes.
    pub treasury: String,
    /// The payment denomination of the deployment.
    pub denom: PaymentDenom,
    /// Initial parameters.
    pub params: RegistryParams,
}

/// Execute messages.
#[cw_serde]
pub enum ExecuteMsg {
    /// Register the sender as a node, staking the attached native funds.
    Register(NodeInfo),
    /// Add the attached native funds to the sender's stake.
    Stake {},
    /// cw20 hook: the payload is a [`ReceiveMsg`].
    Receive(Cw20ReceiveMsg),
    /// Change the sender's node metadata.
    UpdateNode {
        /// New iroh node id.
        iroh_node_id: Option<HexBinary>,
        /// New receipt key.
        receipt_key: Option<HexBinary>,
        /// New capabilities.
        capabilities: Option<Capabilities>,
    },
    /// Start unbonding `amount` of the sender's stake. What remains must be
    /// zero (the node leaves) or at least the minimum stake.
    Unbond {
        /// Amount to unbond.
        amount: Uint128,
    },
    /// Withdraw every matured claim of the sender.
    Claim {},
    /// Apply the outcome of a settled task (task market only): reputation,
    /// slashing and jailing.
    ReportOutcomes {
        /// The settled task.
        task_id: u64,
        /// One entry per node whose standing changes.
        outcomes: Vec<NodeOutcome>,
    },
    /// Set the task market, the only contract allowed to report outcomes (admin).
    SetTaskMarket {
        /// The task market's address.
        address: String,
    },
    /// Change parameters (admin).
    UpdateParams(RegistryParams),
    /// Hand the admin role over, e.g. to governance (admin).
    UpdateAdmin {
        /// The new admin.
        admin: String,
    },
    /// Change the treasury (admin).
    UpdateTreasury {
        /// The new treasury.
        treasury: String,
    },
}

/// cw20 hook payloads.
#[cw_serde]
pub enum ReceiveMsg {
    /// Register the cw20 sender as a node, staking the sent amount.
    Register(NodeInfo),
    /// Add the sent amount to the cw20 sender's stake.
    Stake {},
}

/// How a node did in one settled task.
#[cw_serde]
pub enum Outcome {
    /// Revealed the majority digest.
    Agreed,
    /// Revealed another digest: slashed `fault_slash_bps`.
    Wrong,
    /// Never committed or never revealed: slashed `absent_slash_bps`.
    Absent,
}

/// One node's outcome.
#[cw_serde]
pub struct NodeOutcome {
    /// The node operator.
    pub node: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Queries.
#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    /// Configuration and parameters.
    #[returns(ConfigResponse)]
    Config {},
    /// One node.
    #[returns(NodeResponse)]
    Node {
        /// The operator address.
        operator: String,
    },
    /// All nodes, by operator address.
    #[returns(NodesResponse)]
    Nodes {
        /// Page after this operator.
        start_after: Option<String>,
        /// Page size.
        limit: Option<u32>,
    },
    /// Nodes that declare an execution provider, by operator address.
    #[returns(NodesResponse)]
    NodesByProvider {
        /// The execution provider.
        provider: String,
        /// Page after this operator.
        start_after: Option<String>,
        /// Page size.
        limit: Option<u32>,
    },
    /// Nodes that may be assigned a task now: enough stake, not jailed,
    /// meeting `requirements`, not operated by `exclude`.
    #[returns(EligibleResponse)]
    Eligible {
        /// What the task needs.
        requirements: Requirements,
        /// An operator to leave out (the buyer).
        exclude: Option<String>,
        /// Page after this operator.
        start_after: Option<String>,
        /// Page size.
        limit: Option<u32>,
    },
    /// Draws `k` distinct eligible nodes (as in `Eligible`, first `limit`
    /// candidates), weighted by `stake × (reputation + 1)`, from `seed` (see
    /// [`draw`]). The task market's assignment: only the chosen operators
    /// travel back, not every candidate.
    #[returns(SelectedResponse)]
    SelectNodes {
        /// The assignment seed (32 bytes).
        seed: HexBinary,
        /// How many nodes to draw.
        k: u8,
        /// What the task needs.
        requirements: Requirements,
        /// An operator to leave out (the buyer).
        exclude: Option<String>,
        /// Most candidates to consider.
        limit: Option<u32>,
    },
    /// Pending unbonding claims of an operator.
    #[returns(ClaimsResponse)]
    Claims {
        /// The operator.
        operator: String,
    },
    /// Totals held by the registry (for the conservation invariant).
    #[returns(RegistryTotals)]
    Totals {},
}

/// Configuration.
#[cw_serde]
pub struct ConfigResponse {
    /// Admin (governance).
    pub admin: Addr,
    /// Where slashed stake goes.
    pub treasury: Addr,
    /// The payment denomination.
    pub denom: crate::asset::Denom,
    /// The task market, once set.
    pub task_market: Option<Addr>,
    /// Parameters.
    pub params: RegistryParams,
}

/// A node as stored.
#[cw_serde]
pub struct NodeResponse {
    /// The operator (also the node's key in the registry).
    pub operator: Addr,
    /// Registration data.
    pub info: NodeInfo,
    /// Bonded stake.
    pub stake: Uint128,
    /// Reputation, 0 to [`MAX_REPUTATION`].
    pub reputation: u32,
    /// Consecutive faults since the last agreeing result or jailing.
    pub consecutive_faults: u32,
    /// Jailed until this time, if jailed.
    pub jailed_until: Option<Timestamp>,
    /// Tasks where the node agreed with the majority.
    pub tasks_agreed: u64,
    /// Tasks where the node revealed a minority digest.
    pub tasks_wrong: u64,
    /// Tasks where the node never committed or revealed.
    pub tasks_absent: u64,
    /// Stake slashed so far.
    pub slashed_total: Uint128,
}

/// A page of nodes.
#[cw_serde]
pub struct NodesResponse {
    /// The nodes.
    pub nodes: Vec<NodeResponse>,
}

/// A node that may be assigned a task, with its weight inputs.
#[cw_serde]
pub struct EligibleNode {
    /// The operator.
    pub operator: Addr,
    /// Bonded stake.
    pub stake: Uint128,
    /// Reputation.
    pub reputation: u32,
}

/// A page of eligible nodes.
#[cw_serde]
pub struct EligibleResponse {
    /// The nodes.
    pub nodes: Vec<EligibleNode>,
}

/// The nodes drawn by `SelectNodes`.
#[cw_serde]
pub struct SelectedResponse {
    /// The chosen operators, in draw order; empty if fewer than `k`
    /// candidates could be drawn.
    pub nodes: Vec<Addr>,
    /// How many eligible candidates were considered.
    pub eligible: u32,
}

fn weight(n: &EligibleNode) -> Uint256 {
    Uint256::from(n.stake) * Uint256::from(u64::from(n.reputation) + 1)
}

/// Draws `k` distinct nodes from `candidates`, weighted by
/// `stake × (reputation + 1)`: draw i picks the node whose cumulative weight
/// interval holds `SHA-256(seed || i) mod total` and removes it (sampling
/// without replacement). Returns `None` if there are fewer than `k`
/// candidates with a non-zero weight.
pub fn draw(seed: &[u8], mut candidates: Vec<EligibleNode>, k: usize) -> Option<Vec<Addr>> {
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

/// One unbonding claim.
#[cw_serde]
pub struct Claim {
    /// Amount.
    pub amount: Uint128,
    /// When it can be withdrawn.
    pub release_at: Timestamp,
}

/// Claims of one operator.
#[cw_serde]
pub struct ClaimsResponse {
    /// The claims, oldest first.
    pub claims: Vec<Claim>,
}

/// Totals held by the registry.
#[cw_serde]
pub struct RegistryTotals {
    /// Sum of bonded stake.
    pub staked: Uint128,
    /// Sum of unbonding claims not yet withdrawn.
    pub unbonding: Uint128,
}

#[cfg(test)]
mod tests {
    use super::*;

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
