//! Adversarial tests: double payment, settling twice, reveals without or
//! against a commitment, copied commitments, forged hooks and every
//! privileged message sent by someone not entitled to it. Each rejected
//! message must leave the state exactly as it was.

use crate::common::{GOOD, SALT, complete};
use clusterai_economy::asset::PaymentError;
use clusterai_economy::market::{self, RoyaltyShare};
use clusterai_economy::models::{self, ListingKind};
use clusterai_economy::registry::{self, NodeOutcome, Outcome};
use clusterai_economy_testing::{NATIVE_DENOM, PayIn, Suite, market_params, registry_params};
use clusterai_model_market::ContractError as ModelsError;
use clusterai_node_registry::ContractError as RegistryError;
use clusterai_task_market::ContractError as MarketError;
use cosmwasm_std::{Coin, HexBinary, Uint128, to_json_binary};
use cw_multi_test::Executor;
use cw20::{Cw20Coin, Cw20ExecuteMsg, MinterResponse};

/// A k = 3 task with every node committed to GOOD.
fn committed_task(pay_in: PayIn) -> (Suite, u64, Vec<cosmwasm_std::Addr>) {
    let mut s = Suite::new(pay_in);
    s.register_nodes(4);
    let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
    let a = s.assigned(id);
    for n in &a {
        s.commit(n, id, GOOD, SALT).unwrap();
    }
    s.addr("mallory");
    s.addr("keeper");
    (s, id, a)
}

fn settled_task() -> (Suite, u64, Vec<cosmwasm_std::Addr>) {
    let (mut s, id, a) = committed_task(PayIn::Cw20);
    for n in &a {
        s.reveal(n, id, GOOD, SALT).unwrap();
    }
    s.settle("keeper", id).unwrap();
    (s, id, a)
}

#[test]
fn settle_twice_is_refused() {
    let (mut s, id, _) = settled_task();
    s.rejects(MarketError::TaskClosed { task_id: id }, |s| {
        s.settle("keeper", id)
    });
}

#[test]
fn rewards_are_paid_once() {
    let (mut s, _, a) = settled_task();
    let market = s.market.clone();
    s.exec(&a[0], &market, &market::ExecuteMsg::WithdrawRewards {})
        .unwrap();
    s.rejects(MarketError::NothingToWithdraw, |s| {
        s.exec(&a[0], &market, &market::ExecuteMsg::WithdrawRewards {})
    });
    let mallory = s.addr("mallory");
    s.rejects(MarketError::NothingToWithdraw, |s| {
        s.exec(&mallory, &market, &market::ExecuteMsg::WithdrawRewards {})
    });
}

#[test]
fn royalties_are_paid_once() {
    let mut s = Suite::new(PayIn::Cw20);
    let creator = s
        .list("carol", [0x11; 32], ListingKind::Plugin, 0, 100)
        .unwrap();
    s.register_nodes(1);
    let id = s.post_simple_task("buyer", 1_000, 1).unwrap();
    complete(&mut s, id);
    // Royalties accrue in the task market's ledger, beside the nodes' pay.
    let market = s.market.clone();
    s.exec(&creator, &market, &market::ExecuteMsg::WithdrawRewards {})
        .unwrap();
    assert_eq!(s.balance(&creator), 100);
    s.rejects(MarketError::NothingToWithdraw, |s| {
        s.exec(&creator, &market, &market::ExecuteMsg::WithdrawRewards {})
    });
    let models = s.models.clone();
    s.rejects(ModelsError::NothingToWithdraw, |s| {
        s.exec(&creator, &models, &models::ExecuteMsg::Withdraw {})
    });
}

#[test]
fn closed_tasks_take_no_more_commits_or_reveals() {
    let (mut s, id, a) = settled_task();
    let c = HexBinary::from([1; 32]);
    let market = s.market.clone();
    s.rejects(MarketError::TaskClosed { task_id: id }, |s| {
        s.exec(
            &a[0],
            &market,
            &market::ExecuteMsg::Commit {
                task_id: id,
                commitment: c,
            },
        )
    });
    s.rejects(MarketError::TaskClosed { task_id: id }, |s| {
        s.reveal(&a[0], id, GOOD, SALT)
    });
}

#[test]
fn reveal_without_commit_is_refused() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
    let a = s.assigned(id);
    s.commit(&a[0], id, GOOD, SALT).unwrap();
    s.commit(&a[1], id, GOOD, SALT).unwrap();
    // Before every commitment is in and before the deadline, nobody reveals.
    s.rejects(MarketError::RevealNotOpen { task_id: id }, |s| {
        s.reveal(&a[0], id, GOOD, SALT)
    });
    s.advance(121);
    s.rejects(MarketError::NoCommitment { task_id: id }, |s| {
        s.reveal(&a[2], id, GOOD, SALT)
    });
    s.reveal(&a[0], id, GOOD, SALT).unwrap();
}

#[test]
fn reveal_must_match_the_commitment() {
    let (mut s, id, a) = committed_task(PayIn::Cw20);
    s.rejects(MarketError::CommitmentMismatch, |s| {
        s.reveal(&a[0], id, [0x43; 32], SALT)
    });
    s.rejects(MarketError::CommitmentMismatch, |s| {
        s.reveal(&a[0], id, GOOD, [8; 16])
    });
    s.reveal(&a[0], id, GOOD, SALT).unwrap();
    s.rejects(MarketError::AlreadyRevealed { task_id: id }, |s| {
        s.reveal(&a[0], id, GOOD, SALT)
    });
}

#[test]
fn a_copied_commitment_cannot_be_revealed() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
    let a = s.assigned(id);
    s.commit(&a[0], id, GOOD, SALT).unwrap();
    // a[1] copies a[0]'s commitment byte for byte.
    let copied = s.task(id).assignments[0].commitment.clone().unwrap();
    let market = s.market.clone();
    s.exec(
        &a[1],
        &market,
        &market::ExecuteMsg::Commit {
            task_id: id,
            commitment: copied,
        },
    )
    .unwrap();
    s.commit(&a[2], id, GOOD, SALT).unwrap();
    // Even knowing a[0]'s digest and salt, a[1] cannot open it: the node is bound in.
    s.rejects(MarketError::CommitmentMismatch, |s| {
        s.reveal(&a[1], id, GOOD, SALT)
    });
}

#[test]
fn only_assigned_nodes_commit_and_only_once() {
    let (mut s, id, a) = committed_task(PayIn::Cw20);
    let outsider = s
        .all_nodes()
        .into_iter()
        .map(|n| n.operator)
        .find(|o| !a.contains(o))
        .unwrap();
    s.rejects(
        MarketError::NotAssigned {
            node: outsider.to_string(),
            task_id: id,
        },
        |s| s.commit(&outsider, id, GOOD, SALT),
    );
    let mallory = s.addr("mallory");
    s.rejects(
        MarketError::NotAssigned {
            node: mallory.to_string(),
            task_id: id,
        },
        |s| s.commit(&mallory, id, GOOD, SALT),
    );
    s.rejects(MarketError::AlreadyCommitted { task_id: id }, |s| {
        s.commit(&a[0], id, GOOD, SALT)
    });
    s.rejects(
        MarketError::NotAssigned {
            node: mallory.to_string(),
            task_id: id,
        },
        |s| s.reveal(&mallory, id, GOOD, SALT),
    );
}

#[test]
fn only_the_task_market_reports_outcomes() {
    let (mut s, id, a) = committed_task(PayIn::Cw20);
    let registry = s.registry.clone();
    let msg = registry::ExecuteMsg::ReportOutcomes {
        task_id: id,
        counts: true,
        vote_pay: Uint128::new(1_000),
        outcomes: vec![NodeOutcome {
            node: a[0].to_string(),
            votes: 1,
            outcome: Outcome::Wrong,
        }],
    };
    let mallory = s.addr("mallory");
    let admin = s.admin.clone();
    let buyer = s.addr("buyer");
    for who in [mallory, admin, buyer, a[1].clone()] {
        s.rejects(RegistryError::NotTaskMarket, |s| {
            s.exec(&who, &registry, &msg)
        });
    }
}

#[test]
fn only_the_task_market_records_royalties() {
    let mut s = Suite::new(PayIn::Native);
    let mallory = s.fund("mallory", 1_000);
    let models = s.models.clone();
    let shares = vec![RoyaltyShare {
        hash: HexBinary::from([1; 32]),
        creator: mallory.clone(),
        amount: Uint128::new(10),
        held: true,
    }];
    s.rejects(ModelsError::NotTaskMarket, |s| {
        s.app.execute_contract(
            mallory.clone(),
            models.clone(),
            &models::ExecuteMsg::RecordRoyalties {
                task_id: 1,
                shares: shares.clone(),
            },
            &[Coin::new(10u128, NATIVE_DENOM)],
        )
    });
    let mut s = Suite::new(PayIn::Cw20);
    let mallory = s.fund("mallory", 1_000);
    let models = s.models.clone();
    s.rejects(ModelsError::NotTaskMarket, |s| {
        s.pay(
            &mallory,
            &models,
            10,
            &models::ReceiveMsg::RecordRoyalties {
                task_id: 1,
                shares: shares.clone(),
            },
            &models::ExecuteMsg::RecordRoyalties {
                task_id: 1,
                shares: shares.clone(),
            },
        )
    });
}

#[test]
fn a_forged_token_cannot_post_tasks_or_stake() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    let mallory = s.addr("mallory");
    let code = s
        .app
        .store_code(clusterai_economy_testing::token_contract());
    let fake = s
        .app
        .instantiate_contract(
            code,
            mallory.clone(),
            &cw20_base::msg::InstantiateMsg {
                name: "Fake".into(),
                symbol: "FAKE".into(),
                decimals: 6,
                initial_balances: vec![Cw20Coin {
                    address: mallory.to_string(),
                    amount: Uint128::new(1_000_000),
                }],
                mint: Some(MinterResponse {
                    minter: mallory.to_string(),
                    cap: None,
                }),
                marketing: Some(cw20_base::msg::InstantiateMarketingInfo {
                    project: Some("x".into()),
                    description: Some("x".into()),
                    marketing: Some(mallory.to_string()),
                    logo: None,
                }),
            },
            &[],
            "fake",
            None,
        )
        .unwrap();
    let spec = s.spec(3);
    let market = s.market.clone();
    let registry = s.registry.clone();
    let wrong = PaymentError::WrongToken {
        sender: fake.to_string(),
    };
    s.rejects(MarketError::Payment(wrong.clone()), |s| {
        s.app.execute_contract(
            mallory.clone(),
            fake.clone(),
            &Cw20ExecuteMsg::Send {
                contract: market.to_string(),
                amount: Uint128::new(10_000),
                msg: to_json_binary(&market::ReceiveMsg::PostTask(spec.clone())).unwrap(),
            },
            &[],
        )
    });
    s.rejects(RegistryError::Payment(wrong), |s| {
        s.app.execute_contract(
            mallory.clone(),
            fake.clone(),
            &Cw20ExecuteMsg::Send {
                contract: registry.to_string(),
                amount: Uint128::new(10_000),
                msg: to_json_binary(&registry::ReceiveMsg::Register(Suite::node_info(
                    &["cpu"],
                    1,
                )))
                .unwrap(),
            },
            &[],
        )
    });
}

#[test]
fn native_funds_are_refused_on_a_cw20_deployment() {
    let (mut s, id, a) = committed_task(PayIn::Cw20);
    let market = s.market.clone();
    s.app
        .init_modules(|router, _, storage| {
            router
                .bank
                .init_balance(storage, &a[0], vec![Coin::new(5u128, "uatom")])
        })
        .unwrap();
    s.rejects(MarketError::Payment(PaymentError::UnexpectedFunds), |s| {
        s.app.execute_contract(
            a[0].clone(),
            market.clone(),
            &market::ExecuteMsg::Settle { task_id: id },
            &[Coin::new(5u128, "uatom")],
        )
    });
    let spec = s.spec(1);
    s.rejects(MarketError::Payment(PaymentError::NativeNotAccepted), |s| {
        s.app.execute_contract(
            a[0].clone(),
            market.clone(),
            &market::ExecuteMsg::PostTask(spec),
            &[Coin::new(5u128, "uatom")],
        )
    });
}

#[test]
fn admin_messages_need_the_admin() {
    let mut s = Suite::new(PayIn::Cw20);
    let mallory = s.addr("mallory");
    let (registry, market, models) = (s.registry.clone(), s.market.clone(), s.models.clone());
    let m = mallory.to_string();
    s.rejects(
        RegistryError::NotAdmin {
            action: "set the task market".into(),
        },
        |s| {
            s.exec(
                &mallory,
                &registry,
                &registry::ExecuteMsg::SetTaskMarket { address: m.clone() },
            )
        },
    );
    s.rejects(
        RegistryError::NotAdmin {
            action: "update parameters".into(),
        },
        |s| {
            s.exec(
                &mallory,
                &registry,
                &registry::ExecuteMsg::UpdateParams(registry_params()),
            )
        },
    );
    s.rejects(
        RegistryError::NotAdmin {
            action: "change the treasury".into(),
        },
        |s| {
            s.exec(
                &mallory,
                &registry,
                &registry::ExecuteMsg::UpdateTreasury {
                    treasury: m.clone(),
                },
            )
        },
    );
    s.rejects(
        RegistryError::NotAdmin {
            action: "hand over the admin role".into(),
        },
        |s| {
            s.exec(
                &mallory,
                &registry,
                &registry::ExecuteMsg::UpdateAdmin { admin: m.clone() },
            )
        },
    );
    s.rejects(
        MarketError::NotAdmin {
            action: "update parameters".into(),
        },
        |s| {
            s.exec(
                &mallory,
                &market,
                &market::ExecuteMsg::UpdateParams(market_params()),
            )
        },
    );
    s.rejects(
        MarketError::NotAdmin {
            action: "change the treasury".into(),
        },
        |s| {
            s.exec(
                &mallory,
                &market,
                &market::ExecuteMsg::UpdateTreasury {
                    treasury: m.clone(),
                },
            )
        },
    );
    s.rejects(
        MarketError::NotAdmin {
            action: "hand over the admin role".into(),
        },
        |s| {
            s.exec(
                &mallory,
                &market,
                &market::ExecuteMsg::UpdateAdmin { admin: m.clone() },
            )
        },
    );
    s.rejects(
        ModelsError::NotAdmin {
            action: "set the task market".into(),
        },
        |s| {
            s.exec(
                &mallory,
                &models,
                &models::ExecuteMsg::SetTaskMarket { address: m.clone() },
            )
        },
    );
    s.rejects(
        ModelsError::NotAdmin {
            action: "update the configuration".into(),
        },
        |s| {
            s.exec(
                &mallory,
                &models,
                &models::ExecuteMsg::UpdateConfig {
                    max_royalty: Uint128::MAX,
                    raise_delay: 3_600,
                    dispute_bond: Uint128::zero(),
                },
            )
        },
    );
    s.rejects(
        ModelsError::NotAdmin {
            action: "hand over the admin role".into(),
        },
        |s| {
            s.exec(
                &mallory,
                &models,
                &models::ExecuteMsg::UpdateAdmin { admin: m.clone() },
            )
        },
    );
    // The admin hands over to governance; the old admin loses the role.
    let gov = s.addr("governance");
    let admin = s.admin.clone();
    s.exec(
        &admin,
        &registry,
        &registry::ExecuteMsg::UpdateAdmin {
            admin: gov.to_string(),
        },
    )
    .unwrap();
    s.rejects(
        RegistryError::NotAdmin {
            action: "update parameters".into(),
        },
        |s| {
            s.exec(
                &admin,
                &registry,
                &registry::ExecuteMsg::UpdateParams(registry_params()),
            )
        },
    );
    s.exec(
        &gov,
        &registry,
        &registry::ExecuteMsg::UpdateParams(registry_params()),
    )
    .unwrap();
}

#[test]
fn only_creators_change_their_listings() {
    let mut s = Suite::new(PayIn::Cw20);
    s.list("carol", [0x11; 32], ListingKind::Model, 10, 10)
        .unwrap();
    let mallory = s.addr("mallory");
    let models = s.models.clone();
    let h = HexBinary::from([0x11; 32]);
    let not_creator = || ModelsError::NotCreator { hash: h.to_hex() };
    s.rejects(not_creator(), |s| {
        s.exec(
            &mallory,
            &models,
            &models::ExecuteMsg::SetRoyalty {
                hash: h.clone(),
                royalty: Uint128::new(1),
            },
        )
    });
    s.rejects(not_creator(), |s| {
        s.exec(
            &mallory,
            &models,
            &models::ExecuteMsg::SetLicencePrice {
                hash: h.clone(),
                price: Uint128::new(1),
            },
        )
    });
    s.rejects(not_creator(), |s| {
        s.exec(
            &mallory,
            &models,
            &models::ExecuteMsg::Delist { hash: h.clone() },
        )
    });
    // Nobody can take over a listed hash, nor one the creator delisted.
    s.rejects(ModelsError::AlreadyListed { hash: h.to_hex() }, |s| {
        s.list("mallory", [0x11; 32], ListingKind::Model, 0, 0)
    });
    let carol = s.addr("carol");
    s.exec(
        &carol,
        &models,
        &models::ExecuteMsg::Delist { hash: h.clone() },
    )
    .unwrap();
    s.rejects(ModelsError::AlreadyListed { hash: h.to_hex() }, |s| {
        s.list("mallory", [0x11; 32], ListingKind::Model, 0, 0)
    });
    s.list("carol", [0x11; 32], ListingKind::Model, 0, 5)
        .unwrap();
}

#[test]
fn nodes_act_only_on_their_own_stake() {
    let mut s = Suite::new(PayIn::Cw20);
    let nodes = s.register_nodes(1);
    let mallory = s.addr("mallory");
    let registry = s.registry.clone();
    s.rejects(
        RegistryError::NotRegistered {
            operator: mallory.to_string(),
        },
        |s| {
            s.exec(
                &mallory,
                &registry,
                &registry::ExecuteMsg::Unbond {
                    amount: Uint128::new(1),
                },
            )
        },
    );
    s.rejects(RegistryError::NothingToClaim, |s| {
        s.exec(&mallory, &registry, &registry::ExecuteMsg::Claim {})
    });
    s.rejects(
        RegistryError::NotRegistered {
            operator: mallory.to_string(),
        },
        |s| {
            s.exec(
                &mallory,
                &registry,
                &registry::ExecuteMsg::UpdateNode {
                    iroh_node_id: Some(HexBinary::from([1; 32])),
                    receipt_key: None,
                    capabilities: None,
                },
            )
        },
    );
    // Registering twice is refused (the stake would be credited twice).
    let n = nodes[0].clone();
    s.fund("node1", 5_000);
    s.rejects(
        RegistryError::AlreadyRegistered {
            operator: n.to_string(),
        },
        |s| {
            s.pay(
                &n,
                &registry,
                5_000,
                &registry::ReceiveMsg::Register(Suite::node_info(&["cpu"], 1)),
                &registry::ExecuteMsg::Register(Suite::node_info(&["cpu"], 1)),
            )
        },
    );
    s.rejects(MarketError::TaskNotFound { task_id: 99 }, |s| {
        s.settle("mallory", 99)
    });
}
