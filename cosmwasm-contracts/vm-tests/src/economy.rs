//! Deploys the economy from its artifacts and runs a task lifecycle, with
//! messages written as JSON exactly as a client would send them.

use crate::{Chain, commitment};
use cosmwasm_std::{Binary, to_json_binary};
use serde_json::{Value, json};

/// Stake of each node.
pub const NODE_STAKE: u128 = 10_000;
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
    /// Posting the task (cw20 Send into the market, queries, assignment).
    pub post: u64,
    /// Each commit.
    pub commits: Vec<u64>,
    /// Each reveal.
    pub reveals: Vec<u64>,
    /// Settlement (with its payouts, royalties and outcome report).
    pub settle: u64,
}

impl LifecycleGas {
    /// Post + commits + reveals + settle.
    pub fn total(&self) -> u64 {
        self.post
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
                    "fault_slash_bps": 1000, "absent_slash_bps": 200,
                    "jail_after_faults": 3, "jail_duration": 86400,
                    "reputation_reward": 10, "reputation_fault_penalty": 100, "reputation_absent_penalty": 50
                }
            }),
        )?;
        let models = chain.instantiate(
            "clusterai_model_market",
            &admin,
            &json!({"admin": null, "denom": denom, "max_royalty": "10000", "raise_delay": 86400}),
        )?;
        let market = chain.instantiate(
            "clusterai_task_market",
            &admin,
            &json!({
                "admin": null, "treasury": treasury, "denom": denom,
                "registry": registry, "model_market": models,
                "params": {
                    "protocol_fee_bps": 500, "min_commit_period": 60, "max_commit_period": 86400,
                    "reveal_period": 600, "max_k": 7, "max_inline_input": 1024, "max_models": 4,
                    "max_candidates": 50
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

    /// Runs post, three commits, three reveals and settle. Node `i` reveals
    /// `digests[i]`. Returns the task id, its assigned nodes and the gas.
    pub fn lifecycle(
        &mut self,
        digests: [[u8; 32]; 3],
    ) -> Result<(u64, Vec<String>, LifecycleGas), String> {
        let mut gas = LifecycleGas {
            cw20_transfer: self.cw20_transfer()?,
            ..LifecycleGas::default()
        };
        let deadline = self.chain.now().plus_seconds(120);
        let spec = json!({"post_task": {
            "plugin": hex(&[0x11; 32]),
            "input": {"inline": {"data": Binary::from(b"an input".to_vec())}},
            "models": [], "k": 3,
            "commit_deadline": deadline,
            "requirements": {"execution_provider": null, "min_memory_mb": null}
        }});
        let out = self.chain.execute(
            &self.token,
            &self.buyer,
            &json!({"send": {"contract": self.market, "amount": REWARD.to_string(), "msg": bin(&spec)}}),
        )?;
        gas.post = out.gas;
        let task_id: u64 = out
            .attr("task_id")
            .and_then(|v| v.parse().ok())
            .ok_or("post_task gave no task_id")?;
        let assigned: Vec<String> = out
            .attr("assigned")
            .ok_or("post_task gave no assignment")?
            .split(',')
            .map(String::from)
            .collect();
        if assigned.len() != 3 {
            return Err(format!("expected 3 assigned nodes, got {assigned:?}"));
        }
        let salt = [9u8; 16];
        for (node, d) in assigned.iter().zip(&digests) {
            let c = commitment(d, &salt, node);
            let out = self.chain.execute(
                &self.market,
                node,
                &json!({"commit": {"task_id": task_id, "commitment": hex(&c)}}),
            )?;
            gas.commits.push(out.gas);
        }
        for (node, d) in assigned.iter().zip(&digests) {
            let out = self.chain.execute(
                &self.market,
                node,
                &json!({"reveal": {"task_id": task_id, "digest": hex(d), "salt": hex(&salt)}}),
            )?;
            gas.reveals.push(out.gas);
        }
        let keeper = self.chain.addr("keeper");
        let out = self.chain.execute(
            &self.market,
            &keeper,
            &json!({"settle": {"task_id": task_id}}),
        )?;
        gas.settle = out.gas;
        Ok((task_id, assigned, gas))
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
