//! Full task lifecycles in cw-multi-test, paid in the cw20 token and in a
//! native denom, with the exact amounts of the docs' worked example.

use crate::common::{GOOD, SALT, complete};
use clusterai_economy::market::{self, TaskStatus};
use clusterai_economy::models::{self, ListingKind};
use clusterai_economy::registry::{self, INITIAL_REPUTATION, Requirements};
use clusterai_economy_testing::{NODE_STAKE, PayIn, Suite, expect_err};
use clusterai_task_market::ContractError as MarketError;
use cosmwasm_std::{HexBinary, Uint128};
use cw_multi_test::Executor;

/// Stake of the worked example's nodes.
const STAKE: u128 = 100_000;

/// The digest a cheating node commits to.
const BAD: [u8; 32] = [0x66; 32];

/// The docs' worked example: reward 100 000, fee 5 %, plugin royalty 2 000,
/// model royalty 3 000, k = 3, two nodes agree, one reveals another digest.
/// Each vote pays 30 000, so a node needs 60 000 at stake to be drawn (the
/// penalty of a wrong vote): the nodes bond 100 000 each.
fn worked_example(pay_in: PayIn) {
    let mut s = Suite::new(pay_in);
    for i in 0..3 {
        s.register(&format!("node{i}"), STAKE, Suite::node_info(&["cpu"], 4096))
            .unwrap();
    }
    let plugin_creator = s
        .list("alice", [0x11; 32], ListingKind::Plugin, 0, 2_000)
        .unwrap();
    let model_creator = s
        .list("bob", [0x22; 32], ListingKind::Model, 0, 3_000)
        .unwrap();
    let mut spec = s.spec(3);
    spec.models = vec![HexBinary::from([0x22; 32])];
    let id = s.post_spread("buyer", 100_000, spec).unwrap();
    s.check_conservation();
    let buyer = s.addr("buyer");
    assert_eq!(s.balance(&buyer), 0);
    assert_eq!(s.balance(&s.market.clone()), 100_000);

    let t = s.task(id);
    assert_eq!(t.status, TaskStatus::Open);
    assert_eq!(
        t.royalties.iter().map(|r| r.amount.u128()).sum::<u128>(),
        5_000
    );
    let assigned = s.assigned(id);
    assert_eq!(assigned.len(), 3);
    let (honest, cheat) = (&assigned[..2], &assigned[2]);

    for n in honest {
        s.commit(n, id, GOOD, SALT).unwrap();
    }
    s.commit(cheat, id, BAD, SALT).unwrap();
    s.check_conservation();
    for n in honest {
        s.reveal(n, id, GOOD, SALT).unwrap();
    }
    s.reveal(cheat, id, BAD, SALT).unwrap();
    s.settle("keeper", id).unwrap();
    s.check_conservation();

    assert_eq!(
        s.task(id).status,
        TaskStatus::Settled {
            digest: HexBinary::from(GOOD)
        }
    );
    // 100 000 - 5 000 fee - 5 000 royalties = 90 000 for two agreeing nodes.
    for n in honest {
        assert_eq!(s.rewards(n), 45_000);
        assert_eq!(s.node(n).reputation, INITIAL_REPUTATION + 10);
    }
    assert_eq!(s.rewards(cheat), 0);
    // Royalties accrue in the task market's ledger, like the nodes' pay.
    assert_eq!(s.rewards(&plugin_creator), 2_000);
    assert_eq!(s.rewards(&model_creator), 3_000);
    // Cheater: 10 % of its 100 000 would be 10 000, but a wrong vote forfeits
    // at least twice its pay, 60 000; slashed to the treasury, reputation -100.
    let c = s.node(cheat);
    assert_eq!(c.stake.u128(), STAKE - 60_000);
    assert_eq!(c.reputation, INITIAL_REPUTATION - 100);
    assert_eq!(c.tasks_wrong, 1);
    // The slash reaches the treasury at once; the fee accrues in the market.
    let treasury = s.treasury.clone();
    assert_eq!(s.balance(&treasury), 60_000);
    assert_eq!(s.rewards(&treasury), 5_000);

    // Nodes and creators withdraw; the ledgers empty out.
    let market = s.market.clone();
    for n in honest {
        s.exec(n, &market, &market::ExecuteMsg::WithdrawRewards {})
            .unwrap();
        assert_eq!(s.balance(n), 45_000);
    }
    let models = s.models.clone();
    s.exec(
        &plugin_creator,
        &market,
        &market::ExecuteMsg::WithdrawRewards {},
    )
    .unwrap();
    s.exec(
        &model_creator,
        &market,
        &market::ExecuteMsg::WithdrawRewards {},
    )
    .unwrap();
    s.exec(&treasury, &market, &market::ExecuteMsg::WithdrawRewards {})
        .unwrap();
    assert_eq!(s.balance(&treasury), 65_000);
    assert_eq!(s.balance(&plugin_creator), 2_000);
    assert_eq!(s.balance(&model_creator), 3_000);
    assert_eq!(s.balance(&market), 0);
    assert_eq!(s.balance(&models), 0);
    s.check_conservation();
}

#[test]
fn worked_example_cw20() {
    worked_example(PayIn::Cw20);
}

#[test]
fn worked_example_native() {
    worked_example(PayIn::Native);
}

#[test]
fn unanimous_task_splits_dust_to_treasury() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    // 1 000 - 50 fee = 950 for 3 nodes: 316 each, 2 of dust to the treasury.
    let id = s.post_simple_task("buyer", 1_000, 3).unwrap();
    for n in s.assigned(id) {
        s.commit(&n, id, GOOD, SALT).unwrap();
    }
    for n in s.assigned(id) {
        s.reveal(&n, id, GOOD, SALT).unwrap();
    }
    s.settle("keeper", id).unwrap();
    for n in s.assigned(id) {
        assert_eq!(s.rewards(&n), 316);
    }
    let treasury = s.treasury.clone();
    assert_eq!(s.rewards(&treasury), 52);
    s.check_conservation();
}

#[test]
fn no_majority_pays_the_revealed_votes_and_keeps_the_fee() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
    let a = s.assigned(id);
    s.commit(&a[0], id, [1; 32], SALT).unwrap();
    s.commit(&a[1], id, [2; 32], SALT).unwrap();
    s.commit(&a[2], id, [3; 32], SALT).unwrap();
    for (i, n) in a.iter().enumerate() {
        s.reveal(n, id, [i as u8 + 1; 32], SALT).unwrap();
    }
    // Three digests, no majority: the task goes back to the beacon for a
    // re-execution; with no node left outside the first committee, the
    // split stands.
    s.settle("keeper", id).unwrap();
    let t = s.task(id);
    assert_eq!((t.status, t.reexecution), (TaskStatus::Pending, true));
    s.assign(id).unwrap();
    assert_eq!(s.task(id).status, TaskStatus::Disputed);
    // 10 000 - 500 fee = 9 500: each revealed vote earned 3 166; the buyer
    // gets back only the rounding (a split is never a free task).
    let buyer = s.addr("buyer");
    assert_eq!(s.balance(&buyer), 2);
    for n in &a {
        assert_eq!(s.rewards(n), 3_166);
        // Nobody can be called wrong without a majority: no slash.
        assert_eq!(s.node(n).stake.u128(), NODE_STAKE);
    }
    let treasury = s.treasury.clone();
    assert_eq!(s.rewards(&treasury), 500);
    s.check_conservation();
}

#[test]
fn expired_task_keeps_the_fee_and_slashes_absent_nodes() {
    let mut s = Suite::new(PayIn::Native);
    s.register_nodes(3);
    let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
    // Too early: the commit deadline has not passed.
    assert!(matches!(
        expect_err::<MarketError>(s.settle("keeper", id)),
        MarketError::SettleTooEarly { .. }
    ));
    s.advance(121);
    s.settle("keeper", id).unwrap();
    assert_eq!(s.task(id).status, TaskStatus::Expired);
    let buyer = s.addr("buyer");
    assert_eq!(s.balance(&buyer), 9_500);
    for n in s.assigned(id) {
        let node = s.node(&n);
        assert_eq!(node.stake.u128(), NODE_STAKE - 200, "2 % absent slash");
        assert_eq!(node.tasks_absent, 1);
        assert_eq!(node.reputation, INITIAL_REPUTATION - 50);
    }
    let treasury = s.treasury.clone();
    assert_eq!(s.balance(&treasury), 600);
    assert_eq!(s.rewards(&treasury), 500);
    s.check_conservation();
}

#[test]
fn a_withheld_reveal_is_slashed_as_wrong_and_the_majority_still_wins() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
    let a = s.assigned(id);
    s.commit(&a[0], id, GOOD, SALT).unwrap();
    s.commit(&a[1], id, GOOD, SALT).unwrap();
    s.commit(&a[2], id, GOOD, SALT).unwrap();
    s.reveal(&a[0], id, GOOD, SALT).unwrap();
    s.reveal(&a[1], id, GOOD, SALT).unwrap();
    // a[2] committed but never reveals; settle after the reveal deadline.
    s.advance(121 + 600);
    s.settle("keeper", id).unwrap();
    assert_eq!(s.rewards(&a[0]), 4_750);
    assert_eq!(s.rewards(&a[1]), 4_750);
    // Withholding costs what a wrong answer costs, not the 2 % of absence:
    // 10 % of the stake, but at least twice what the vote would have earned
    // (2 × 3 166 = 6 332).
    let w = s.node(&a[2]);
    assert_eq!((w.tasks_withheld, w.tasks_absent), (1, 0));
    assert_eq!(w.stake.u128(), NODE_STAKE - 6_332);
    assert_eq!(w.reputation, INITIAL_REPUTATION - 100);
    s.check_conservation();
}

#[test]
fn repeated_faults_jail_a_node_until_its_term_ends() {
    let mut s = Suite::new(PayIn::Cw20);
    let nodes = s.register_nodes(1);
    let n = &nodes[0];
    for round in 0..3 {
        let id = s
            .post_simple_task(&format!("buyer{round}"), 1_000, 1)
            .unwrap();
        assert_eq!(s.assigned(id), vec![n.clone()]);
        s.advance(121);
        s.settle("keeper", id).unwrap();
    }
    let node = s.node(n);
    assert!(node.jailed_until.is_some());
    assert_eq!(node.tasks_absent, 3);
    assert!(node.weight.is_zero(), "a jailed node leaves the draw");
    // Jailed: nobody to draw, the task expires at once.
    let id = s.post_simple_task("late", 1_000, 1).unwrap();
    assert_eq!(s.task(id).status, TaskStatus::Expired);
    let registry = s.registry.clone();
    assert!(matches!(
        expect_err::<clusterai_node_registry::ContractError>(s.exec(
            n,
            &registry,
            &registry::ExecuteMsg::Unjail {}
        )),
        clusterai_node_registry::ContractError::StillJailed { .. }
    ));
    s.advance(86_400);
    s.exec(n, &registry, &registry::ExecuteMsg::Unjail {})
        .unwrap();
    assert!(!s.node(n).weight.is_zero());
    let id = s.post_simple_task("later", 1_000, 1).unwrap();
    assert_eq!(s.assigned(id), vec![n.clone()]);
    s.check_conservation();
}

#[test]
fn unbonding_waits_and_slashing_reaches_unbonding_stake() {
    let mut s = Suite::new(PayIn::Cw20);
    let nodes = s.register_nodes(1);
    let n = nodes[0].clone();
    let registry = s.registry.clone();
    let id = s.post_simple_task("buyer", 1_000, 1).unwrap();
    // The node tries to run from the slash by unbonding everything.
    s.exec(
        &n,
        &registry,
        &registry::ExecuteMsg::Unbond {
            amount: Uint128::new(NODE_STAKE),
        },
    )
    .unwrap();
    s.check_conservation();
    s.advance(121);
    s.settle("keeper", id).unwrap();
    let claims: registry::ClaimsResponse = s
        .app
        .wrap()
        .query_wasm_smart(
            &registry,
            &registry::QueryMsg::Claims {
                operator: n.to_string(),
            },
        )
        .unwrap();
    assert_eq!(claims.claims[0].amount.u128(), NODE_STAKE - 200);
    s.check_conservation();
    // Not yet matured.
    assert_eq!(
        expect_err::<clusterai_node_registry::ContractError>(s.exec(
            &n,
            &registry,
            &registry::ExecuteMsg::Claim {}
        )),
        clusterai_node_registry::ContractError::NothingToClaim
    );
    s.advance(7 * 86_400);
    s.exec(&n, &registry, &registry::ExecuteMsg::Claim {})
        .unwrap();
    assert_eq!(s.balance(&n), NODE_STAKE - 200);
    s.check_conservation();
}

#[test]
fn assignment_respects_requirements_and_excludes_the_buyer() {
    let mut s = Suite::new(PayIn::Cw20);
    let gpu = s
        .register(
            "gpu-node",
            5_000,
            Suite::node_info(&["cuda", "cpu"], 16_384),
        )
        .unwrap();
    s.register_nodes(3);
    let mut spec = s.spec(1);
    spec.requirements = Requirements {
        execution_provider: Some("cuda".into()),
        min_memory_mb: Some(8_000),
    };
    let id = s.post("buyer", 1_000, spec.clone()).unwrap();
    assert_eq!(s.assigned(id), vec![gpu.clone()]);
    // The only cuda node cannot take its own task.
    let err = expect_err::<MarketError>(s.post_from(&gpu.clone(), 0, spec.clone()));
    assert!(matches!(err, MarketError::Payment(_)), "{err:?}");
    s.fund("gpu-node", 1_000);
    let id = s.post_from(&gpu, 1_000, spec).unwrap();
    assert_eq!(s.task(id).status, TaskStatus::Expired);
    assert!(s.task(id).assignments.is_empty());
    s.check_conservation();
}

#[test]
fn licences_are_required_and_royalty_raises_wait() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(1);
    let creator = s
        .list("carol", [0x33; 32], ListingKind::Model, 500, 100)
        .unwrap();
    let mut spec = s.spec(1);
    spec.models = vec![HexBinary::from([0x33; 32])];
    let buyer = s.fund("buyer", 10_000);
    assert_eq!(
        expect_err::<MarketError>(s.post_from(&buyer, 1_000, spec.clone())),
        MarketError::LicenceRequired {
            hash: HexBinary::from([0x33; 32]).to_hex()
        }
    );
    s.buy_licence(&buyer, [0x33; 32], 500).unwrap();
    assert_eq!(s.accrued(&creator), 500);

    // A raise is announced; a task posted before it applies keeps the old royalty.
    let models = s.models.clone();
    s.exec(
        &creator,
        &models,
        &models::ExecuteMsg::SetRoyalty {
            hash: HexBinary::from([0x33; 32]),
            royalty: Uint128::new(900),
        },
    )
    .unwrap();
    let id = s.post_from(&buyer, 1_000, spec.clone()).unwrap();
    assert_eq!(s.task(id).royalties[0].amount.u128(), 100);
    complete(&mut s, id);
    s.advance(86_400);
    let id2 = s.post_from(&buyer, 2_000, spec.clone()).unwrap();
    assert_eq!(s.task(id2).royalties[0].amount.u128(), 900);
    // A cut applies at once.
    s.exec(
        &creator,
        &models,
        &models::ExecuteMsg::SetRoyalty {
            hash: HexBinary::from([0x33; 32]),
            royalty: Uint128::new(10),
        },
    )
    .unwrap();
    let id3 = s.post_from(&buyer, 1_000, spec).unwrap();
    assert_eq!(s.task(id3).royalties[0].amount.u128(), 10);
    complete(&mut s, id2);
    complete(&mut s, id3);
    // The licence in the model market; the royalties in the task market.
    assert_eq!(s.accrued(&creator), 500);
    assert_eq!(s.rewards(&creator), 100 + 900 + 10);
    s.check_conservation();
}

#[test]
fn delisted_hashes_owe_no_royalty_on_new_tasks() {
    let mut s = Suite::new(PayIn::Native);
    s.register_nodes(1);
    let creator = s
        .list("dave", [0x11; 32], ListingKind::Plugin, 0, 300)
        .unwrap();
    let id = s.post_simple_task("buyer", 1_000, 1).unwrap();
    let models = s.models.clone();
    s.exec(
        &creator,
        &models,
        &models::ExecuteMsg::Delist {
            hash: HexBinary::from([0x11; 32]),
        },
    )
    .unwrap();
    let id2 = s.post_simple_task("buyer2", 1_000, 1).unwrap();
    assert!(s.task(id2).royalties.is_empty());
    for id in [id, id2] {
        complete(&mut s, id);
    }
    // The task posted before delisting still pays what its buyer agreed to.
    assert_eq!(s.rewards(&creator), 300);
    s.check_conservation();
}

#[test]
fn stake_queries_by_capability_and_pagination() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(5);
    s.register("gpu", 2_000, Suite::node_info(&["cuda"], 1))
        .unwrap();
    let registry = s.registry.clone();
    let page: registry::NodesResponse = s
        .app
        .wrap()
        .query_wasm_smart(
            &registry,
            &registry::QueryMsg::Nodes {
                start_after: None,
                limit: Some(4),
            },
        )
        .unwrap();
    assert_eq!(page.nodes.len(), 4);
    let rest: registry::NodesResponse = s
        .app
        .wrap()
        .query_wasm_smart(
            &registry,
            &registry::QueryMsg::Nodes {
                start_after: Some(page.nodes[3].operator.to_string()),
                limit: Some(4),
            },
        )
        .unwrap();
    assert_eq!(rest.nodes.len(), 2);
    let cuda: registry::NodesResponse = s
        .app
        .wrap()
        .query_wasm_smart(
            &registry,
            &registry::QueryMsg::NodesByProvider {
                provider: "cuda".into(),
                start_after: None,
                limit: None,
            },
        )
        .unwrap();
    assert_eq!(cuda.nodes.len(), 1);
    // Moving a node off cuda updates the index.
    let gpu = s.addr("gpu");
    s.exec(
        &gpu,
        &registry,
        &registry::ExecuteMsg::UpdateNode {
            iroh_node_id: None,
            receipt_key: None,
            capabilities: Some(Suite::node_info(&["cpu"], 1).capabilities),
        },
    )
    .unwrap();
    let cuda: registry::NodesResponse = s
        .app
        .wrap()
        .query_wasm_smart(
            &registry,
            &registry::QueryMsg::NodesByProvider {
                provider: "cuda".into(),
                start_after: None,
                limit: None,
            },
        )
        .unwrap();
    assert!(cuda.nodes.is_empty());
    s.check_conservation();
}

#[test]
fn migrate_keeps_state_and_refuses_foreign_code() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(1);
    let admin = s.admin.clone();
    let registry = s.registry.clone();
    let code = s
        .app
        .store_code(clusterai_economy_testing::registry_contract());
    s.app
        .migrate_contract(
            admin.clone(),
            registry.clone(),
            &clusterai_economy::migrate::MigrateMsg {},
            code,
        )
        .unwrap();
    assert_eq!(s.all_nodes().len(), 1);
    let market_code = s
        .app
        .store_code(clusterai_economy_testing::market_contract());
    let err = s
        .app
        .migrate_contract(
            admin,
            registry,
            &clusterai_economy::migrate::MigrateMsg {},
            market_code,
        )
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("cannot migrate from contract"),
        "{err:?}"
    );
    s.check_conservation();
}
