//! The optimised artifacts on cosmwasm-vm 3.0.10: stored with the static
//! checks of a wasmd v0.70 chain, exporting their entry points, and running a
//! full k=3 task lifecycle (honest and with a cheating node).

use clusterai_vm_tests::economy::{Economy, NODE_STAKE, PLUGIN_ROYALTY, REWARD};
use clusterai_vm_tests::{ARTIFACTS, Chain};

#[test]
fn every_artifact_exports_its_entry_points_and_needs_only_wasmd_capabilities() {
    let chain = Chain::new().expect("artifacts load and pass the VM's static checks");
    for name in ARTIFACTS {
        let exports = chain.entrypoints(name).unwrap();
        for e in ["instantiate", "execute", "query", "migrate"] {
            assert!(
                exports.iter().any(|x| x == e),
                "{name} does not export {e}: {exports:?}"
            );
        }
        let caps = chain.required_capabilities(name).unwrap();
        for c in &caps {
            assert!(
                clusterai_vm_tests::WASMD_V070_CAPABILITIES
                    .split(',')
                    .any(|x| x == c),
                "{name} needs {c}"
            );
        }
    }
}

/// Nodes to deploy so that the quicknet round draws three distinct nodes
/// (votes are drawn with replacement; the draw is fixed by the round).
pub const SPREAD: usize = 6;

#[test]
fn honest_lifecycle_pays_nodes_creator_and_treasury() {
    let mut e = Economy::deploy(SPREAD).unwrap();
    let (id, assigned, gas) = e.lifecycle(&[[0x42; 32]; 3]).unwrap();
    assert_eq!(assigned.len(), 3, "three distinct nodes: {assigned:?}");
    let task = e.task(id).unwrap();
    assert!(task["status"]["settled"].is_object(), "{task}");
    // 100 000 - 5 % fee - 2 000 royalty = 93 000 over three votes.
    for (n, _) in &assigned {
        assert_eq!(e.rewards(n).unwrap(), 31_000);
    }
    // The royalty accrues in the market's ledger, beside the nodes' pay.
    assert_eq!(e.rewards(&e.creator.clone()).unwrap(), PLUGIN_ROYALTY);
    assert_eq!(e.accrued(&e.creator.clone()).unwrap(), 0);
    assert_eq!(e.rewards(&e.treasury.clone()).unwrap(), REWARD * 5 / 100);
    // The market also escrows the task that brought the round.
    assert_eq!(e.balance(&e.market.clone()).unwrap(), REWARD + REWARD);
    assert_eq!(e.balance(&e.models.clone()).unwrap(), 0);
    assert_eq!(
        e.balance(&e.registry.clone()).unwrap(),
        SPREAD as u128 * NODE_STAKE
    );
    // Every step used gas. The goal: a lifecycle under 30 cw20
    // transfers (docs/contracts.md, "Gas"); the beacon round it shares with
    // the other tasks it draws is measured apart.
    assert!(gas.cw20_transfer > 0 && gas.post > 0 && gas.assign > 0 && gas.settle > 0);
    assert!(
        gas.beacon_round > gas.assign,
        "verifying a round is the costly part"
    );
    assert!(
        gas.total() < 30 * gas.cw20_transfer,
        "lifecycle {} gas is not under 30 cw20 transfers ({} each)",
        gas.total(),
        gas.cw20_transfer
    );
}

#[test]
fn a_cheating_node_is_slashed_on_the_vm_too() {
    let mut e = Economy::deploy(SPREAD).unwrap();
    let (id, assigned, _) = e.lifecycle(&[[0x42; 32], [0x42; 32], [0x66; 32]]).unwrap();
    assert_eq!(assigned.len(), 3, "three distinct nodes: {assigned:?}");
    let task = e.task(id).unwrap();
    assert!(task["status"]["settled"].is_object(), "{task}");
    // A wrong vote forfeits 10 % of the stake but at least twice its pay (62 000).
    let cheat = e.node(&assigned[2].0).unwrap();
    assert_eq!(cheat["stake"], (NODE_STAKE - 62_000).to_string(), "{cheat}");
    assert_eq!(cheat["tasks_wrong"], 1);
    assert_eq!(e.rewards(&assigned[0].0).unwrap(), 46_500);
    assert_eq!(e.rewards(&assigned[2].0).unwrap(), 0);
    // The slash goes to the treasury at once, the 5 000 fee accrues.
    assert_eq!(e.balance(&e.treasury.clone()).unwrap(), 62_000);
    assert_eq!(e.rewards(&e.treasury.clone()).unwrap(), 5_000);
    assert_eq!(
        e.balance(&e.registry.clone()).unwrap(),
        SPREAD as u128 * NODE_STAKE - 62_000
    );
}
