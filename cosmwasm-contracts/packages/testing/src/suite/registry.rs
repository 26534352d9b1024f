//! The node registry: registering test nodes and reading them back.

use super::Suite;
use clusterai_economy::registry::{self, Capabilities, NodeInfo, NodeResponse};
use cosmwasm_std::{Addr, HexBinary};
use cw_multi_test::error::AnyResult;

/// Stake every test node registers with.
pub const NODE_STAKE: u128 = 10_000;

impl Suite {
    /// Node metadata used by the helpers.
    pub fn node_info(providers: &[&str], memory_mb: u64) -> NodeInfo {
        NodeInfo {
            iroh_node_id: HexBinary::from([0xAB; 32]),
            receipt_key: HexBinary::from([0xCD; 32]),
            capabilities: Capabilities {
                execution_providers: providers.iter().map(|p| p.to_string()).collect(),
                memory_mb,
            },
        }
    }

    /// Registers the named account as a node with `stake`, funding it first.
    pub fn register(&mut self, name: &str, stake: u128, info: NodeInfo) -> AnyResult<Addr> {
        let who = self.fund(name, stake);
        let registry = self.registry.clone();
        self.pay(
            &who,
            &registry,
            stake,
            &registry::ReceiveMsg::Register(info.clone()),
            &registry::ExecuteMsg::Register(info),
        )?;
        Ok(who)
    }

    /// Registers `n` fresh CPU nodes with [`NODE_STAKE`] each.
    pub fn register_nodes(&mut self, n: usize) -> Vec<Addr> {
        (0..n)
            .map(|_| {
                self.node_count += 1;
                let name = format!("node{}", self.node_count);
                self.register(&name, NODE_STAKE, Self::node_info(&["cpu"], 4096))
                    .expect("register")
            })
            .collect()
    }

    /// A node.
    pub fn node(&self, who: &Addr) -> NodeResponse {
        self.app
            .wrap()
            .query_wasm_smart(
                &self.registry,
                &registry::QueryMsg::Node {
                    operator: who.to_string(),
                },
            )
            .expect("node")
    }

    /// Every registered node.
    pub fn all_nodes(&self) -> Vec<NodeResponse> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let page: registry::NodesResponse = self
                .app
                .wrap()
                .query_wasm_smart(
                    &self.registry,
                    &registry::QueryMsg::Nodes {
                        start_after: start,
                        limit: Some(100),
                    },
                )
                .expect("nodes");
            let Some(last) = page.nodes.last() else { break };
            start = Some(last.operator.to_string());
            all.extend(page.nodes);
        }
        all
    }
}
