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

#[test]
fn honest_lifecycle_pays_nodes_creator_and_treasury() {
    let mut e = Economy::deploy(4).unwrap();
    let (id, assigned, gas) = e.lifecycle([[0x42; 32]; 3]).unwrap();
    let task = e.task(id).unwrap();
    assert!(task["status"]["settled"].is_object(), "{task}");
    // 100 000 - 5 % fee - 2 000 royalty = 93 000 over three nodes.
    for n in &assigned {
        assert_eq!(e.rewards(n).unwrap(), 31_000);
    }
    assert_eq!(e.accrued(&e.creator.clone()).unwrap(), PLUGIN_ROYALTY);
    assert_eq!(e.rewards(&e.treasury.clone()).unwrap(), REWARD * 5 / 100);
    assert_eq!(
        e.balance(&e.market.clone()).unwrap(),
        93_000 + REWARD * 5 / 100
    );
    assert_eq!(e.balance(&e.models.clone()).unwrap(), PLUGIN_ROYALTY);
    assert_eq!(e.balance(&e.registry.clone()).unwrap(), 4 * NODE_STAKE);
    // Every step used gas. The goal: a lifecycle under 30 cw20
    // transfers (docs/contracts.md, "Gas").
    assert!(gas.cw20_transfer > 0 && gas.post > 0 && gas.settle > 0);
    assert!(
        gas.total() < 30 * gas.cw20_transfer,
        "lifecycle {} gas is not under 30 cw20 transfers ({} each)",
        gas.total(),
        gas.cw20_transfer
    );
}

#[test]
fn a_cheating_node_is_slashed_on_the_vm_too() {
    let mut e = Economy::deploy(3).unwrap();
    let (id, assigned, _) = e.lifecycle([[0x42; 32], [0x42; 32], [0x66; 32]]).unwrap();
    let task = e.task(id).unwrap();
    assert!(task["status"]["settled"].is_object(), "{task}");
    let cheat = e.node(&assigned[2]).unwrap();
    assert_eq!(cheat["stake"], "9000", "{cheat}");
    assert_eq!(cheat["tasks_wrong"], 1);
    assert_eq!(e.rewards(&assigned[0]).unwrap(), 46_500);
    assert_eq!(e.rewards(&assigned[2]).unwrap(), 0);
    // The 1 000 slashed goes to the treasury at once, the 5 000 fee accrues.
    assert_eq!(e.balance(&e.treasury.clone()).unwrap(), 1_000);
    assert_eq!(e.rewards(&e.treasury.clone()).unwrap(), 5_000);
    assert_eq!(
        e.balance(&e.registry.clone()).unwrap(),
        3 * NODE_STAKE - 1_000
    );
}
