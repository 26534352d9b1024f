//! Bad input: every malformed message gets a `ContractError` variant that
//! names the problem, and changes nothing.

use crate::common::SALT;
use clusterai_economy::asset::PaymentError;
use clusterai_economy::hash::InvalidHash;
use clusterai_economy::market::{self, MarketParams, TaskInput, TaskStatus};
use clusterai_economy::models::{self, ListingKind};
use clusterai_economy::registry::{self, Capabilities, RegistryParams, Requirements};
use clusterai_economy_testing::{
    NATIVE_DENOM, NODE_STAKE, PayIn, Suite, market_params, registry_params,
};
use clusterai_model_market::ContractError as ModelsError;
use clusterai_node_registry::ContractError as RegistryError;
use clusterai_task_market::ContractError as MarketError;
use cosmwasm_std::{Binary, Coin, HexBinary, Uint128};
use cw_multi_test::Executor;

fn suite_with_buyer(pay_in: PayIn) -> (Suite, cosmwasm_std::Addr) {
    let mut s = Suite::new(pay_in);
    s.register_nodes(3);
    let buyer = s.fund("buyer", 1_000_000);
    (s, buyer)
}

#[test]
fn malformed_task_specs_are_named() {
    let (mut s, buyer) = suite_with_buyer(PayIn::Cw20);
    let p = market_params();

    let mut spec = s.spec(3);
    spec.plugin = HexBinary::from([1; 31]);
    s.rejects(
        MarketError::InvalidHash(InvalidHash {
            field: "plugin".into(),
            len: 31,
        }),
        |s| s.post_from(&buyer, 10_000, spec),
    );

    let mut spec = s.spec(3);
    spec.input = TaskInput::Hash {
        hash: HexBinary::from(vec![]),
        providers: vec![],
    };
    s.rejects(
        MarketError::InvalidHash(InvalidHash {
            field: "input".into(),
            len: 0,
        }),
        |s| s.post_from(&buyer, 10_000, spec),
    );

    let mut spec = s.spec(3);
    spec.input = TaskInput::Inline {
        data: Binary::default(),
    };
    s.rejects(
        MarketError::InvalidInlineInput {
            len: 0,
            max: p.max_inline_input,
        },
        |s| s.post_from(&buyer, 10_000, spec),
    );

    let mut spec = s.spec(3);
    spec.input = TaskInput::Inline {
        data: Binary::from(vec![0; 1025]),
    };
    s.rejects(
        MarketError::InvalidInlineInput {
            len: 1025,
            max: p.max_inline_input,
        },
        |s| s.post_from(&buyer, 10_000, spec),
    );

    // Input providers: too many, empty, too long, or with a space or a
    // control character (a node logs and dials them).
    let id = "a".repeat(64);
    let good = format!("{id}@127.0.0.1:7730");
    for (providers, reason) in [
        (vec![good.clone(); 5], "at most 4, got 5".to_owned()),
        (
            vec![good.clone(), String::new()],
            "provider 1 must be 1 to 256 bytes, got 0".to_owned(),
        ),
        (
            vec!["x".repeat(257)],
            "provider 0 must be 1 to 256 bytes, got 257".to_owned(),
        ),
        (
            vec![format!("{id} @x")],
            "provider 0 must be printable ASCII without spaces".to_owned(),
        ),
        (
            vec![format!("{id}\u{1b}[2J")],
            "provider 0 must be printable ASCII without spaces".to_owned(),
        ),
    ] {
        let mut spec = s.spec(3);
        spec.input = TaskInput::Hash {
            hash: HexBinary::from([7; 32]),
            providers,
        };
        s.rejects(MarketError::InvalidProviders { reason }, |s| {
            s.post_from(&buyer, 10_000, spec)
        });
    }

    // Four well-formed providers are kept with the task for its nodes.
    let mut spec = s.spec(3);
    let providers = vec![
        good.clone(),
        id.clone(),
        format!("{id}@[::1]:1,10.0.0.1:2"),
        good,
    ];
    spec.input = TaskInput::Hash {
        hash: HexBinary::from([7; 32]),
        providers: providers.clone(),
    };
    let posted = s.post_from(&buyer, 10_000, spec).unwrap();
    assert_eq!(
        s.task(posted).input,
        TaskInput::Hash {
            hash: HexBinary::from([7; 32]),
            providers
        }
    );

    let mut spec = s.spec(3);
    spec.models = (0..5u8).map(|i| HexBinary::from([i; 32])).collect();
    s.rejects(
        MarketError::TooManyModels {
            count: 5,
            max: p.max_models,
        },
        |s| s.post_from(&buyer, 10_000, spec),
    );

    let mut spec = s.spec(3);
    spec.models = vec![HexBinary::from([9; 32]), HexBinary::from([9; 32])];
    s.rejects(
        MarketError::DuplicateModel {
            hash: HexBinary::from([9; 32]).to_hex(),
        },
        |s| s.post_from(&buyer, 10_000, spec),
    );

    let mut spec = s.spec(3);
    spec.models = vec![HexBinary::from([9; 33])];
    s.rejects(
        MarketError::InvalidHash(InvalidHash {
            field: "models".into(),
            len: 33,
        }),
        |s| s.post_from(&buyer, 10_000, spec),
    );

    let spec = s.spec(0);
    s.rejects(
        MarketError::InvalidK {
            k: 0,
            max_k: p.max_k,
        },
        |s| s.post_from(&buyer, 10_000, spec),
    );
    let spec = s.spec(8);
    s.rejects(
        MarketError::InvalidK {
            k: 8,
            max_k: p.max_k,
        },
        |s| s.post_from(&buyer, 10_000, spec),
    );
    // An even k could be forced into a tie: refused.
    let spec = s.spec(4);
    s.rejects(
        MarketError::InvalidK {
            k: 4,
            max_k: p.max_k,
        },
        |s| s.post_from(&buyer, 10_000, spec),
    );

    let mut spec = s.spec(3);
    spec.requirements = Requirements {
        execution_provider: Some(String::new()),
        min_memory_mb: None,
    };
    s.rejects(
        MarketError::InvalidRequirements {
            reason: "execution_provider must be 1 to 32 bytes".into(),
        },
        |s| s.post_from(&buyer, 10_000, spec),
    );
    let mut spec = s.spec(3);
    spec.requirements = Requirements {
        execution_provider: None,
        min_memory_mb: Some(0),
    };
    s.rejects(
        MarketError::InvalidRequirements {
            reason: "min_memory_mb must be greater than zero".into(),
        },
        |s| s.post_from(&buyer, 10_000, spec),
    );
    // Requirements nobody meets: the draw finds no node and the task
    // expires at once, the fee kept (posting what nobody can run is not free).
    let mut spec = s.spec(1);
    spec.requirements = Requirements {
        execution_provider: Some("cuda".into()),
        min_memory_mb: None,
    };
    let before = s.balance(&buyer);
    let id = s.post_from(&buyer, 10_000, spec).unwrap();
    assert_eq!(s.task(id).status, TaskStatus::Expired);
    assert_eq!(s.balance(&buyer), before - 500);
    s.check_conservation();
}

#[test]
fn commit_windows_out_of_range_are_named() {
    let (mut s, buyer) = suite_with_buyer(PayIn::Cw20);
    for period in [0, 59, 86_401, u64::MAX] {
        let mut spec = s.spec(3);
        spec.commit_period = period;
        s.rejects(
            MarketError::InvalidCommitPeriod {
                period,
                min: 60,
                max: 86_400,
            },
            |s| s.post_from(&buyer, 10_000, spec),
        );
    }
}

#[test]
fn rewards_that_cannot_pay_everyone_are_refused() {
    let (mut s, buyer) = suite_with_buyer(PayIn::Cw20);
    s.list("carol", [0x11; 32], ListingKind::Plugin, 0, 1_000)
        .unwrap();
    let spec = s.spec(3);
    // 1 083: fee 54, royalties 1 000, leaves 29 < 3 × 10 for the nodes;
    // 1 084 leaves exactly the least reward per node.
    s.rejects(
        MarketError::RewardTooLow {
            reward: Uint128::new(1_083),
            fee: Uint128::new(54),
            royalties: Uint128::new(1_000),
            k: 3,
            min_per_node: Uint128::new(10),
        },
        |s| s.post_from(&buyer, 1_083, spec.clone()),
    );
    s.post_from(&buyer, 1_084, spec).unwrap();
    s.check_conservation();
}

#[test]
fn zero_and_wrong_denom_payments_are_named() {
    let (mut s, buyer) = suite_with_buyer(PayIn::Native);
    let market = s.market.clone();
    let spec = s.spec(3);
    s.rejects(
        MarketError::Payment(PaymentError::ZeroAmount {
            denom: NATIVE_DENOM.into(),
        }),
        |s| {
            s.app.execute_contract(
                buyer.clone(),
                market.clone(),
                &market::ExecuteMsg::PostTask(spec.clone()),
                &[],
            )
        },
    );
    s.app
        .init_modules(|router, _, storage| {
            router.bank.init_balance(
                storage,
                &buyer,
                vec![
                    Coin::new(1_000_000u128, NATIVE_DENOM),
                    Coin::new(500u128, "uatom"),
                ],
            )
        })
        .unwrap();
    s.rejects(
        MarketError::Payment(PaymentError::WrongDenom {
            expected: NATIVE_DENOM.into(),
            got: "uatom".into(),
        }),
        |s| {
            s.app.execute_contract(
                buyer.clone(),
                market.clone(),
                &market::ExecuteMsg::PostTask(spec.clone()),
                &[Coin::new(500u128, "uatom")],
            )
        },
    );
    s.rejects(
        MarketError::Payment(PaymentError::MultipleDenoms {
            denom: NATIVE_DENOM.into(),
        }),
        |s| {
            s.app.execute_contract(
                buyer.clone(),
                market.clone(),
                &market::ExecuteMsg::PostTask(spec.clone()),
                &[
                    Coin::new(500u128, "uatom"),
                    Coin::new(500u128, NATIVE_DENOM),
                ],
            )
        },
    );
    // A cw20 hook on a native deployment.
    let token = s.token.clone();
    s.rejects(
        MarketError::Payment(PaymentError::Cw20NotAccepted {
            denom: NATIVE_DENOM.into(),
        }),
        |s| {
            s.app.execute_contract(
                token.clone(),
                market.clone(),
                &market::ExecuteMsg::Receive(cw20::Cw20ReceiveMsg {
                    sender: buyer.to_string(),
                    amount: Uint128::new(5),
                    msg: cosmwasm_std::to_json_binary(&market::ReceiveMsg::PostTask(spec.clone()))
                        .unwrap(),
                }),
                &[],
            )
        },
    );
}

#[test]
fn late_and_malformed_commits_and_reveals_are_named() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
    let a = s.assigned(id);
    let market = s.market.clone();
    s.rejects(
        MarketError::InvalidHash(InvalidHash {
            field: "commitment".into(),
            len: 5,
        }),
        |s| {
            s.exec(
                &a[0],
                &market,
                &market::ExecuteMsg::Commit {
                    task_id: id,
                    commitment: HexBinary::from([1; 5]),
                },
            )
        },
    );
    s.rejects(MarketError::TaskNotFound { task_id: 7 }, |s| {
        s.commit(&a[0], 7, [1; 32], SALT)
    });
    for n in &a[..2] {
        s.commit(n, id, [1; 32], SALT).unwrap();
    }
    s.advance(121);
    s.rejects(MarketError::CommitDeadlinePassed { task_id: id }, |s| {
        s.commit(&a[2], id, [1; 32], SALT)
    });
    s.rejects(
        MarketError::InvalidHash(InvalidHash {
            field: "digest".into(),
            len: 3,
        }),
        |s| {
            s.exec(
                &a[0],
                &market,
                &market::ExecuteMsg::Reveal {
                    task_id: id,
                    digest: HexBinary::from([1; 3]),
                    salt: HexBinary::from(SALT),
                },
            )
        },
    );
    s.rejects(
        MarketError::InvalidSalt {
            len: 15,
            min: 16,
            max: 64,
        },
        |s| {
            s.exec(
                &a[0],
                &market,
                &market::ExecuteMsg::Reveal {
                    task_id: id,
                    digest: HexBinary::from([1; 32]),
                    salt: HexBinary::from([7; 15]),
                },
            )
        },
    );
    s.rejects(
        MarketError::InvalidSalt {
            len: 65,
            min: 16,
            max: 64,
        },
        |s| {
            s.exec(
                &a[0],
                &market,
                &market::ExecuteMsg::Reveal {
                    task_id: id,
                    digest: HexBinary::from([1; 32]),
                    salt: HexBinary::from(vec![7; 65]),
                },
            )
        },
    );
    s.advance(600);
    s.rejects(MarketError::RevealDeadlinePassed { task_id: id }, |s| {
        s.reveal(&a[0], id, [1; 32], SALT)
    });
    // Settling after the deadline still works: two silent, no reveal -> expired.
    s.settle("keeper", id).unwrap();
    s.check_conservation();
}

#[test]
fn bad_registrations_and_unbonds_are_named() {
    let mut s = Suite::new(PayIn::Cw20);
    let registry = s.registry.clone();
    let n = s.fund("n", 100_000);
    let reg = |s: &mut Suite, amount: u128, info: registry::NodeInfo| {
        s.pay(
            &n,
            &registry,
            amount,
            &registry::ReceiveMsg::Register(info.clone()),
            &registry::ExecuteMsg::Register(info),
        )
    };
    let good = Suite::node_info(&["cpu"], 1024);
    s.rejects(
        RegistryError::StakeBelowMinimum {
            min_stake: Uint128::new(1_000),
            stake: Uint128::new(999),
        },
        |s| reg(s, 999, good.clone()),
    );
    let mut bad = good.clone();
    bad.iroh_node_id = HexBinary::from([1; 16]);
    s.rejects(
        RegistryError::InvalidHash(InvalidHash {
            field: "iroh_node_id".into(),
            len: 16,
        }),
        |s| reg(s, 5_000, bad),
    );
    let mut bad = good.clone();
    bad.receipt_key = HexBinary::from([1; 64]);
    s.rejects(
        RegistryError::InvalidHash(InvalidHash {
            field: "receipt_key".into(),
            len: 64,
        }),
        |s| reg(s, 5_000, bad),
    );
    for (caps, reason) in [
        (
            Capabilities {
                execution_providers: vec![],
                memory_mb: 1,
            },
            "declare 1 to 8 execution providers",
        ),
        (
            Capabilities {
                execution_providers: vec!["CUDA".into()],
                memory_mb: 1,
            },
            "execution provider \"CUDA\" must be 1 to 32 of [a-z0-9_-]",
        ),
        (
            Capabilities {
                execution_providers: vec!["cpu".into(), "cpu".into()],
                memory_mb: 1,
            },
            "execution provider \"cpu\" is listed twice",
        ),
        (
            Capabilities {
                execution_providers: vec!["cpu".into()],
                memory_mb: 0,
            },
            "memory_mb must be greater than zero",
        ),
    ] {
        let mut bad = good.clone();
        bad.capabilities = caps;
        s.rejects(
            RegistryError::InvalidCapabilities {
                reason: reason.into(),
            },
            |s| reg(s, 5_000, bad),
        );
    }
    reg(&mut s, 5_000, good).unwrap();
    let unbond = |amount: u128| registry::ExecuteMsg::Unbond {
        amount: Uint128::new(amount),
    };
    s.rejects(RegistryError::ZeroAmount, |s| {
        s.exec(&n, &registry, &unbond(0))
    });
    s.rejects(
        RegistryError::InsufficientStake {
            stake: Uint128::new(5_000),
            requested: Uint128::new(5_001),
        },
        |s| s.exec(&n, &registry, &unbond(5_001)),
    );
    s.rejects(
        RegistryError::StakeBelowMinimum {
            min_stake: Uint128::new(1_000),
            stake: Uint128::new(999),
        },
        |s| s.exec(&n, &registry, &unbond(4_001)),
    );
    for _ in 0..16 {
        s.exec(&n, &registry, &unbond(1)).unwrap();
    }
    s.rejects(RegistryError::TooManyClaims { max: 16 }, |s| {
        s.exec(&n, &registry, &unbond(1))
    });
    s.rejects(RegistryError::NothingToUpdate, |s| {
        s.exec(
            &n,
            &registry,
            &registry::ExecuteMsg::UpdateNode {
                iroh_node_id: None,
                receipt_key: None,
                capabilities: None,
            },
        )
    });
    s.check_conservation();
}

#[test]
fn bad_parameters_are_named() {
    let mut s = Suite::new(PayIn::Cw20);
    let admin = s.admin.clone();
    let (registry, market) = (s.registry.clone(), s.market.clone());
    let cases: Vec<(RegistryParams, &str)> = vec![
        (
            RegistryParams {
                min_stake: Uint128::zero(),
                ..registry_params()
            },
            "min_stake must be greater than zero",
        ),
        (
            RegistryParams {
                fault_slash_bps: 10_001,
                ..registry_params()
            },
            "slash shares are at most 10000 bps",
        ),
        (
            RegistryParams {
                absent_slash_bps: 2_000,
                ..registry_params()
            },
            "absent_slash_bps must not exceed fault_slash_bps",
        ),
        (
            RegistryParams {
                unbonding_period: 0,
                ..registry_params()
            },
            "unbonding_period must be 1 second to a year",
        ),
        (
            RegistryParams {
                unbonding_period: 366 * 86_400,
                ..registry_params()
            },
            "unbonding_period must be 1 second to a year",
        ),
        (
            RegistryParams {
                jail_duration: 0,
                ..registry_params()
            },
            "jail_duration must be 1 second to a year",
        ),
        (
            RegistryParams {
                reputation_reward: 1_001,
                ..registry_params()
            },
            "reputation steps are at most 1000",
        ),
    ];
    for (p, reason) in cases {
        s.rejects(
            RegistryError::InvalidParams {
                reason: reason.into(),
            },
            |s| s.exec(&admin, &registry, &registry::ExecuteMsg::UpdateParams(p)),
        );
    }
    let cases: Vec<(MarketParams, &str)> = vec![
        (
            MarketParams {
                protocol_fee_bps: 10_000,
                ..market_params()
            },
            "protocol_fee_bps must be below 10000",
        ),
        (
            MarketParams {
                min_commit_period: 0,
                ..market_params()
            },
            "need 0 < min_commit_period <= max_commit_period <= a year",
        ),
        (
            MarketParams {
                reveal_period: 0,
                ..market_params()
            },
            "reveal_period must be 1 second to a year",
        ),
        (
            MarketParams {
                max_k: 16,
                ..market_params()
            },
            "max_k must be odd and 1 to 15",
        ),
        (
            MarketParams {
                max_k: 4,
                ..market_params()
            },
            "max_k must be odd and 1 to 15",
        ),
        (
            MarketParams {
                assign_delay: 2,
                ..market_params()
            },
            "assign_delay must be the beacon period (3 s) to 3600 seconds",
        ),
        (
            MarketParams {
                assign_timeout: 6,
                ..market_params()
            },
            "assign_timeout must exceed assign_delay and be at most a year",
        ),
        (
            MarketParams {
                min_reward_per_node: Uint128::zero(),
                ..market_params()
            },
            "min_reward_per_node must be greater than zero",
        ),
        (
            MarketParams {
                max_inline_input: 0,
                ..market_params()
            },
            "max_inline_input must be 1 to 65536",
        ),
        (
            MarketParams {
                max_models: 17,
                ..market_params()
            },
            "max_models must be at most 16",
        ),
    ];
    for (p, reason) in cases {
        s.rejects(
            MarketError::InvalidParams {
                reason: reason.into(),
            },
            |s| s.exec(&admin, &market, &market::ExecuteMsg::UpdateParams(p)),
        );
    }
}

#[test]
fn bad_listings_and_licence_purchases_are_named() {
    let mut s = Suite::new(PayIn::Cw20);
    let models = s.models.clone();
    let carol = s.addr("carol");
    let buyer = s.fund("buyer", 10_000);
    let list = |hash: HexBinary, name: &str, royalty: u128| models::ExecuteMsg::List {
        hash,
        kind: ListingKind::Model,
        name: name.into(),
        licence_price: Uint128::new(100),
        royalty: Uint128::new(royalty),
    };
    s.rejects(
        ModelsError::InvalidHash(InvalidHash {
            field: "hash".into(),
            len: 2,
        }),
        |s| s.exec(&carol, &models, &list(HexBinary::from([1; 2]), "m", 1)),
    );
    s.rejects(ModelsError::InvalidName, |s| {
        s.exec(&carol, &models, &list(HexBinary::from([1; 32]), "", 1))
    });
    s.rejects(ModelsError::InvalidName, |s| {
        s.exec(
            &carol,
            &models,
            &list(HexBinary::from([1; 32]), &"x".repeat(65), 1),
        )
    });
    s.rejects(
        ModelsError::RoyaltyAboveMax {
            royalty: Uint128::new(10_001),
            max_royalty: Uint128::new(10_000),
        },
        |s| {
            s.exec(
                &carol,
                &models,
                &list(HexBinary::from([1; 32]), "m", 10_001),
            )
        },
    );
    s.exec(&carol, &models, &list(HexBinary::from([1; 32]), "m", 10))
        .unwrap();
    s.list("carol", [2; 32], ListingKind::Plugin, 0, 0).unwrap();
    let h = HexBinary::from([1; 32]);
    s.rejects(
        ModelsError::RoyaltyAboveMax {
            royalty: Uint128::new(10_001),
            max_royalty: Uint128::new(10_000),
        },
        |s| {
            s.exec(
                &carol,
                &models,
                &models::ExecuteMsg::SetRoyalty {
                    hash: h.clone(),
                    royalty: Uint128::new(10_001),
                },
            )
        },
    );
    s.rejects(ModelsError::Unchanged, |s| {
        s.exec(
            &carol,
            &models,
            &models::ExecuteMsg::SetRoyalty {
                hash: h.clone(),
                royalty: Uint128::new(10),
            },
        )
    });
    s.rejects(ModelsError::Unchanged, |s| {
        s.exec(
            &carol,
            &models,
            &models::ExecuteMsg::SetLicencePrice {
                hash: h.clone(),
                price: Uint128::new(100),
            },
        )
    });
    s.rejects(
        ModelsError::WrongPrice {
            price: Uint128::new(100),
            paid: Uint128::new(99),
        },
        |s| s.buy_licence(&buyer, [1; 32], 99),
    );
    s.rejects(
        ModelsError::WrongPrice {
            price: Uint128::new(100),
            paid: Uint128::new(101),
        },
        |s| s.buy_licence(&buyer, [1; 32], 101),
    );
    s.rejects(
        ModelsError::NoLicenceNeeded {
            hash: HexBinary::from([2; 32]).to_hex(),
        },
        |s| s.buy_licence(&buyer, [2; 32], 5),
    );
    s.rejects(
        ModelsError::NotListed {
            hash: HexBinary::from([3; 32]).to_hex(),
        },
        |s| s.buy_licence(&buyer, [3; 32], 5),
    );
    s.buy_licence(&buyer, [1; 32], 100).unwrap();
    s.rejects(ModelsError::AlreadyLicensed { hash: h.to_hex() }, |s| {
        s.buy_licence(&buyer, [1; 32], 100)
    });
    s.exec(
        &carol,
        &models,
        &models::ExecuteMsg::Delist { hash: h.clone() },
    )
    .unwrap();
    s.rejects(ModelsError::Delisted { hash: h.to_hex() }, |s| {
        s.exec(
            &carol,
            &models,
            &models::ExecuteMsg::Delist { hash: h.clone() },
        )
    });
    let other = s.fund("other", 1_000);
    s.rejects(ModelsError::Delisted { hash: h.to_hex() }, |s| {
        s.buy_licence(&other, [1; 32], 100)
    });
    s.rejects(ModelsError::NothingToWithdraw, |s| {
        s.exec(&other, &models, &models::ExecuteMsg::Withdraw {})
    });
    s.check_conservation();
}

#[test]
fn instantiate_rejects_bad_configuration() {
    let mut s = Suite::new(PayIn::Cw20);
    let admin = s.admin.clone();
    let code = s
        .app
        .store_code(clusterai_economy_testing::registry_contract());
    let err = s
        .app
        .instantiate_contract(
            code,
            admin.clone(),
            &registry::InstantiateMsg {
                admin: None,
                treasury: admin.to_string(),
                denom: clusterai_economy::asset::PaymentDenom::Native { denom: "1x".into() },
                params: registry_params(),
            },
            &[],
            "bad",
            None,
        )
        .unwrap_err()
        .downcast::<RegistryError>()
        .unwrap();
    assert!(matches!(
        err,
        RegistryError::Payment(PaymentError::InvalidDenom { .. })
    ));
    let code = s
        .app
        .store_code(clusterai_economy_testing::market_contract());
    let err = s
        .app
        .instantiate_contract(
            code,
            admin.clone(),
            &market::InstantiateMsg {
                admin: None,
                treasury: admin.to_string(),
                denom: clusterai_economy::asset::PaymentDenom::Native {
                    denom: NATIVE_DENOM.into(),
                },
                registry: "not-an-address".into(),
                model_market: admin.to_string(),
                beacon: s.beacon.config.clone(),
                params: market_params(),
            },
            &[],
            "bad",
            None,
        )
        .unwrap_err()
        .downcast::<MarketError>()
        .unwrap();
    assert!(matches!(err, MarketError::Std(_)));
    let _ = NODE_STAKE;
}
