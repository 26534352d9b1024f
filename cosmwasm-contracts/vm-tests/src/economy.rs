//! Deploys the economy from its artifacts and runs a task lifecycle, with
//! messages written as JSON exactly as a client would send them.

use crate::{Chain, commitment};
use cosmwasm_std::{Binary, to_json_binary};
use serde_json::{Value, json};

/// Stake of each node: enough to cover the penalty of a wrong vote on the
/// task (twice the 31 000 a vote pays).
pub const NODE_STAKE: u128 = 100_000;
/// A round published by drand's quicknet and its signature, exactly as any
/// drand client returns them: the market verifies it against quicknet's key.
pub const QUICKNET_ROUND: u64 = 657_413;
/// See [`QUICKNET_ROUND`].
pub const QUICKNET_SIGNATURE: &str = "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b";
/// drand quicknet's public key, genesis time and period.
pub const QUICKNET_KEY: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
/// See [`QUICKNET_KEY`].
pub const QUICKNET_GENESIS: u64 = 1_692_803_367;
/// Seconds from posting to the round that draws the nodes.
const ASSIGN_DELAY: u64 = 6;
/// Reward of the task.
pub const REWARD: u128 = 100_000;
/// Royalty of the listed plugin.
pub const PLUGIN_ROYALTY: u128 = 2_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bin(v: &Value) -> Binary {
    to_json_binary(v).expect("json")
}

/// The deployed contracts and actors.
#[derive(Debug)]
pub struct Economy {
    /// The chain.
    pub chain: Chain,
    /// cw20 token.
    pub token: String,
    /// Node registry.
    pub registry: String,
    /// Task market.
    pub market: String,
    /// Model market.
    pub models: String,
    /// Treasury account.
    pub treasury: String,
    /// Buyer account.
    pub buyer: String,
    /// Plugin creator.
    pub creator: String,
    /// Registered nodes.
    pub nodes: Vec<String>,
    /// Genesis holder.
    pub genesis: String,
}

/// Gas of each step of a k=3 lifecycle and of the baseline.
#[derive(Debug, Clone, Default)]
pub struct LifecycleGas {
    /// A cw20 transfer (the baseline).
    pub cw20_transfer: u64,
    /// Posting the task (cw20 Send into the market, royalty quote, escrow).
    pub post: u64,
    /// Assignment of a task whose beacon round the market already holds:
    /// the draw.
    pub assign: u64,
    /// Bringing a beacon round: verifying its BLS12-381 signature and
    /// storing its randomness, once per round for every task it draws.
    pub beacon_round: u64,
    /// Each commit.
    pub commits: Vec<u64>,
    /// Each reveal.
    pub reveals: Vec<u64>,
    /// Settlement (with its payouts, royalties and outcome report).
    pub settle: u64,
}

impl LifecycleGas {
    /// [`LifecycleGas::total`] for a task alone in its beacon round.
    pub fn total_with_own_round(&self) -> u64 {
        self.total() + self.beacon_round
    }

    /// Post + assign + commits + reveals + settle (the beacon round, shared
    /// by every task it draws, apart).
    pub fn total(&self) -> u64 {
        self.post
            + self.assign
            + self.commits.iter().sum::<u64>()
            + self.reveals.iter().sum::<u64>()
            + self.settle
    }
}

impl Economy {
    /// Instantiates the four contracts, wires them, funds a buyer and
    /// registers `n_nodes` nodes; lists one plugin with a royalty.
    pub fn deploy(n_nodes: usize) -> Result<Self, String> {
        let mut chain = Chain::new()?;
        let admin = chain.addr("admin");
        let treasury = chain.addr("treasury");
        let genesis = chain.addr("genesis");
        let buyer = chain.addr("buyer");
        let creator = chain.addr("creator");
        let token = chain.instantiate(
            "clusterai_token",
            &admin,
            &json!({
                "name": "ClusterAI", "symbol": "CLAI", "decimals": 6,
                "initial_balances": [{"address": genesis, "amount": "1000000000000"}],
                "mint": {"minter": admin, "cap": null},
                "marketing": {"project": "ClusterAI", "description": "Pays for AI tasks", "marketing": admin, "logo": null}
            }),
        )?;
        let denom = json!({"cw20": {"address": token}});
        let registry = chain.instantiate(
            "clusterai_node_registry",
            &admin,
            &json!({
                "admin": null, "treasury": treasury, "denom": denom,
                "params": {
                    "min_stake": "1000", "unbonding_period": 604800,
                    "fault_slash_bps": 1000, "absent_slash_bps": 200, "wrong_penalty_bps": 20000,
                    "jail_after_faults": 3, "jail_duration": 86400,
                    "reputation_reward": 10, "reputation_fault_penalty": 100, "reputation_absent_penalty": 50
                }
            }),
        )?;
        let models = chain.instantiate(
            "clusterai_model_market",
            &admin,
            &json!({"admin": null, "denom": denom, "max_royalty": "10000", "raise_delay": 86400,
                    "dispute_bond": "5000"}),
        )?;
        let market = chain.instantiate(
            "clusterai_task_market",
            &admin,
            &json!({
                "admin": null, "treasury": treasury, "denom": denom,
                "registry": registry, "model_market": models,
                "beacon": {"public_key": QUICKNET_KEY, "genesis_time": QUICKNET_GENESIS, "period": 3},
                "params": {
                    "protocol_fee_bps": 500, "min_commit_period": 60, "max_commit_period": 86400,
                    "reveal_period": 600, "max_k": 7, "max_inline_input": 1024, "max_models": 4,
                    "assign_delay": ASSIGN_DELAY, "assign_timeout": 600, "min_reward_per_node": "10",
                    "min_counted_k": 3, "min_counted_nodes": 3
                }
            }),
        )?;
        chain.execute(
            &registry,
            &admin,
            &json!({"set_task_market": {"address": market}}),
        )?;
        chain.execute(
            &models,
            &admin,
            &json!({"set_task_market": {"address": market}}),
        )?;
        chain.execute(
            &token,
            &genesis,
            &json!({"transfer": {"recipient": buyer, "amount": "10000000"}}),
        )?;
        let mut nodes = Vec::new();
        for i in 0..n_nodes {
            let node = chain.addr(&format!("node{i}"));
            chain.execute(
                &token,
                &genesis,
                &json!({"transfer": {"recipient": node, "amount": NODE_STAKE.to_string()}}),
            )?;
            let hook = json!({"register": {
                "iroh_node_id": hex(&[0xAB; 32]), "receipt_key": hex(&[0xCD; 32]),
                "capabilities": {"execution_providers": ["cpu"], "memory_mb": 4096}
            }});
            chain.execute(
                &token,
                &node,
                &json!({"send": {"contract": registry, "amount": NODE_STAKE.to_string(), "msg": bin(&hook)}}),
            )?;
            nodes.push(node);
        }
        chain.execute(
            &models,
            &creator,
            &json!({"list": {"hash": hex(&[0x11; 32]), "kind": "plugin", "name": "echo",
                              "licence_price": "0", "royalty": PLUGIN_ROYALTY.to_string()}}),
        )?;
        Ok(Economy {
            chain,
            token,
            registry,
            market,
            models,
            treasury,
            buyer,
            creator,
            nodes,
            genesis,
        })
    }

    /// cw20 balance of `who`.
    pub fn balance(&self, who: &str) -> Result<u128, String> {
        let r: Value = self
            .chain
            .query(&self.token, &json!({"balance": {"address": who}}))?;
        r["balance"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad balance {r}"))
    }

    /// A cw20 transfer of 1 000 from genesis (the baseline).
    pub fn cw20_transfer(&mut self) -> Result<u64, String> {
        let to = self.chain.addr("someone");
        let out = self.chain.execute(
            &self.token,
            &self.genesis,
            &json!({"transfer": {"recipient": to, "amount": "1000"}}),
        )?;
        Ok(out.gas)
    }

    /// Runs post, assignment by a real drand quicknet round, one commit and
    /// one reveal per drawn node, and settle. The post is timed so that its
    /// round is [`QUICKNET_ROUND`]; a first task posted with it brings the
    /// round, so this one's assignment is the draw alone (the round's
    /// verification is measured apart). Node i (in draw order) reveals
    /// `digests[i]`. Returns the task id, the drawn nodes with their votes
    /// and the gas.
    pub fn lifecycle(
        &mut self,
        digests: &[[u8; 32]],
    ) -> Result<(u64, Vec<(String, u8)>, LifecycleGas), String> {
        let mut gas = LifecycleGas {
            cw20_transfer: self.cw20_transfer()?,
            ..LifecycleGas::default()
        };
        // Post when round QUICKNET_ROUND is the first after now + ASSIGN_DELAY.
        let post_at = QUICKNET_GENESIS + (QUICKNET_ROUND - 2) * 3 - ASSIGN_DELAY;
        let now = self.chain.now().seconds();
        if now >= post_at {
            return Err(format!("the chain's clock ({now}) is past {post_at}"));
        }
        self.chain.advance(post_at - now);
        // Two tasks in the same round: the first brings the round (and pays
        // its verification), the second is assigned from the stored round.
        let (first, _) = self.post()?;
        let (task_id, post_gas) = self.post()?;
        gas.post = post_gas;
        // The round is published 3 s after the post's next round: wait for it.
        self.chain.advance(ASSIGN_DELAY + 3);
        let keeper = self.chain.addr("keeper");
        let brought = self.chain.execute(
            &self.market,
            &keeper,
            &json!({"assign": {"task_id": first, "signature": QUICKNET_SIGNATURE}}),
        )?;
        let out = self.chain.execute(
            &self.market,
            &keeper,
            &json!({"assign": {"task_id": task_id, "signature": null}}),
        )?;
        gas.assign = out.gas;
        gas.beacon_round = brought.gas.saturating_sub(out.gas);
        let assigned: Vec<(String, u8)> = out
            .attr("assigned")
            .ok_or("assign gave no assignment")?
            .split(',')
            .map(|e| {
                let (node, votes) = e.rsplit_once(':').unwrap_or((e, "0"));
                (node.to_string(), votes.parse().unwrap_or(0))
            })
            .collect();
        if assigned.len() > digests.len() {
            return Err(format!(
                "{} nodes drawn, {} digests given",
                assigned.len(),
                digests.len()
            ));
        }
        let salt = [9u8; 16];
        for ((node, _), d) in assigned.iter().zip(digests) {
            let c = commitment(d, &salt, node);
            let out = self.chain.execute(
                &self.market,
                node,
                &json!({"commit": {"task_id": task_id, "commitment": hex(&c)}}),
            )?;
            gas.commits.push(out.gas);
        }
        for ((node, _), d) in assigned.iter().zip(digests) {
            let out = self.chain.execute(
                &self.market,
                node,
                &json!({"reveal": {"task_id": task_id, "digest": hex(d), "salt": hex(&salt)}}),
            )?;
            gas.reveals.push(out.gas);
        }
        let out = self.chain.execute(
            &self.market,
            &keeper,
            &json!({"settle": {"task_id": task_id}}),
        )?;
        gas.settle = out.gas;
        Ok((task_id, assigned, gas))
    }

    /// Posts a k = 3 task from the buyer; returns its id and the gas.
    fn post(&mut self) -> Result<(u64, u64), String> {
        let spec = json!({"post_task": {
            "plugin": hex(&[0x11; 32]),
            "input": {"inline": {"data": Binary::from(b"an input".to_vec())}},
            "models": [], "k": 3,
            "commit_period": 120,
            "requirements": {"execution_provider": null, "min_memory_mb": null},
            "max_royalties": null
        }});
        let out = self.chain.execute(
            &self.token,
            &self.buyer,
            &json!({"send": {"contract": self.market, "amount": REWARD.to_string(), "msg": bin(&spec)}}),
        )?;
        let task_id: u64 = out
            .attr("task_id")
            .and_then(|v| v.parse().ok())
            .ok_or("post_task gave no task_id")?;
        let round: u64 = out
            .attr("round")
            .and_then(|v| v.parse().ok())
            .ok_or("post_task gave no round")?;
        if round != QUICKNET_ROUND {
            return Err(format!("posted for round {round}, not {QUICKNET_ROUND}"));
        }
        Ok((task_id, out.gas))
    }

    /// A task as JSON.
    pub fn task(&self, task_id: u64) -> Result<Value, String> {
        self.chain
            .query(&self.market, &json!({"task": {"task_id": task_id}}))
    }

    /// A node as JSON.
    pub fn node(&self, operator: &str) -> Result<Value, String> {
        self.chain
            .query(&self.registry, &json!({"node": {"operator": operator}}))
    }

    /// Unclaimed rewards of `who`.
    pub fn rewards(&self, who: &str) -> Result<u128, String> {
        let v: Value = self
            .chain
            .query(&self.market, &json!({"rewards": {"address": who}}))?;
        v.as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad rewards {v}"))
    }

    /// Accrued royalties of `who`.
    pub fn accrued(&self, who: &str) -> Result<u128, String> {
        let v: Value = self
            .chain
            .query(&self.models, &json!({"accrued": {"creator": who}}))?;
        v.as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad accrued {v}"))
    }
}
