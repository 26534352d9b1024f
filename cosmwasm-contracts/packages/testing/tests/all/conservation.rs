//! Property test: random sequences of posts (assigned or left waiting for
//! their beacon), declines, commits, reveals, settles, expiries (time
//! jumps), fee changes by governance, stakes, unbonds, claims, withdrawals,
//! licence purchases and slashes (wrong, withheld or missing answers) never
//! create or lose a token, and every task can be settled once its deadlines
//! pass, whatever its terms (settlement never fails). The conservation check runs after every step; a rejected step must
//! also leave every balance where it was.

use clusterai_economy::market;
use clusterai_economy::models::{self, ListingKind};
use clusterai_economy::registry;
use clusterai_economy_testing::{PayIn, Suite};
use cosmwasm_std::{Addr, HexBinary, Uint128};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Action {
    Post {
        buyer: u8,
        reward: u32,
        k: u8,
        with_model: bool,
    },
    Commit {
        task: u8,
        node: u8,
        digest: u8,
    },
    Reveal {
        task: u8,
        node: u8,
    },
    Settle {
        task: u8,
    },
    /// Assign a task waiting for its beacon (a post left pending, or a
    /// re-execution).
    Assign {
        task: u8,
    },
    Advance {
        seconds: u16,
    },
    Stake {
        node: u8,
        amount: u16,
    },
    Unbond {
        node: u8,
        amount: u16,
    },
    Claim {
        node: u8,
    },
    WithdrawRewards {
        node: u8,
    },
    WithdrawRoyalties,
    BuyLicence {
        buyer: u8,
    },
    Register,
    /// Post without assigning: the task waits for its beacon (and may time out).
    PostPending {
        buyer: u8,
        reward: u32,
    },
    Decline {
        task: u8,
        node: u8,
    },
    /// Governance sets the protocol fee (open tasks keep theirs).
    SetFee {
        bps: u16,
    },
    /// Every assigned node of a task commits and reveals `digests[i]`, then anyone settles.
    RunAll {
        task: u8,
        digests: [u8; 3],
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..3u8, 2_500..60_000u32, 1..4u8, prop::bool::weighted(0.25)).prop_map(|(buyer, reward, k, with_model)| Action::Post { buyer, reward, k, with_model }),
        6 => (any::<u8>(), any::<u8>(), 0..3u8).prop_map(|(task, node, digest)| Action::Commit { task, node, digest }),
        6 => (any::<u8>(), any::<u8>()).prop_map(|(task, node)| Action::Reveal { task, node }),
        3 => any::<u8>().prop_map(|task| Action::Settle { task }),
        2 => any::<u8>().prop_map(|task| Action::Assign { task }),
        2 => (1..200u16).prop_map(|seconds| Action::Advance { seconds }),
        1 => (600..3_000u16).prop_map(|seconds| Action::Advance { seconds }),
        1 => (any::<u8>(), 0..5_000u16).prop_map(|(node, amount)| Action::Stake { node, amount }),
        1 => (any::<u8>(), 0..12_000u16).prop_map(|(node, amount)| Action::Unbond { node, amount }),
        1 => any::<u8>().prop_map(|node| Action::Claim { node }),
        1 => any::<u8>().prop_map(|node| Action::WithdrawRewards { node }),
        1 => Just(Action::WithdrawRoyalties),
        1 => (0..3u8).prop_map(|buyer| Action::BuyLicence { buyer }),
        1 => Just(Action::Register),
        1 => (0..3u8, 2_500..60_000u32).prop_map(|(buyer, reward)| Action::PostPending { buyer, reward }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(task, node)| Action::Decline { task, node }),
        1 => (0..10_000u16).prop_map(|bps| Action::SetFee { bps }),
        3 => (any::<u8>(), prop::array::uniform3(0..2u8)).prop_map(|(task, digests)| Action::RunAll { task, digests }),
    ]
}

struct World {
    s: Suite,
    nodes: Vec<Addr>,
    buyers: Vec<Addr>,
    creators: Vec<Addr>,
    tasks: Vec<u64>,
    /// What each node committed to, so it can reveal it.
    committed: BTreeMap<(u64, Addr), u8>,
}

const SALT: [u8; 16] = [5; 16];

impl World {
    fn new(pay_in: PayIn) -> Self {
        let mut s = Suite::new(pay_in);
        let nodes = s.register_nodes(4);
        let buyers = (0..3)
            .map(|i| s.fund(&format!("buyer{i}"), 10_000_000))
            .collect();
        let creators = vec![
            s.list("plugin-dev", [0x11; 32], ListingKind::Plugin, 0, 700)
                .unwrap(),
            s.list("model-dev", [0x22; 32], ListingKind::Model, 2_000, 1_500)
                .unwrap(),
        ];
        World {
            s,
            nodes,
            buyers,
            creators,
            tasks: vec![],
            committed: BTreeMap::new(),
        }
    }

    fn pick<T: Clone>(v: &[T], i: u8) -> Option<T> {
        (!v.is_empty()).then(|| v[usize::from(i) % v.len()].clone())
    }

    fn apply(&mut self, a: &Action) {
        let s = &mut self.s;
        let (registry, market, models) = (s.registry.clone(), s.market.clone(), s.models.clone());
        s.addr("keeper");
        // A stake's top-up from genesis is the test's own doing, so it comes
        // before the snapshot: a rejected stake must move nothing after it.
        if let Action::Stake { node, amount } = a
            && *amount > 0
        {
            let n = Self::pick(&self.nodes, *node).unwrap();
            s.give(&n, u128::from(*amount));
        }
        let balances_before: Vec<(Addr, u128)> =
            s.known.iter().map(|k| (k.clone(), s.balance(k))).collect();
        let result: Result<(), String> = (|| {
            match a {
                Action::Post {
                    buyer,
                    reward,
                    k,
                    with_model,
                } => {
                    let b = Self::pick(&self.buyers, *buyer).unwrap();
                    let mut spec = s.spec(*k);
                    if *with_model {
                        spec.models = vec![HexBinary::from([0x22; 32])];
                    }
                    let id = s
                        .post_from(&b, u128::from(*reward), spec)
                        .map_err(|e| e.to_string())?;
                    self.tasks.push(id);
                }
                Action::Commit { task, node, digest } => {
                    let Some(id) = Self::pick(&open_tasks(s, &self.tasks), *task) else {
                        return Ok(());
                    };
                    let assigned = s.committee(id);
                    let n = Self::pick(&assigned, *node).unwrap();
                    s.commit(&n, id, [*digest; 32], SALT)
                        .map_err(|e| e.to_string())?;
                    self.committed.insert((id, n), *digest);
                }
                Action::Reveal { task, node } => {
                    let Some(id) = Self::pick(&open_tasks(s, &self.tasks), *task) else {
                        return Ok(());
                    };
                    let assigned = s.committee(id);
                    let n = Self::pick(&assigned, *node).unwrap();
                    let d = self.committed.get(&(id, n.clone())).copied().unwrap_or(9);
                    s.reveal(&n, id, [d; 32], SALT).map_err(|e| e.to_string())?;
                }
                Action::Settle { task } => {
                    let Some(id) = Self::pick(&self.tasks, *task) else {
                        return Ok(());
                    };
                    s.settle("keeper", id).map_err(|e| e.to_string())?;
                }
                Action::Assign { task } => {
                    let pending =
                        tasks_where(s, &self.tasks, |st| *st == market::TaskStatus::Pending);
                    let Some(id) = Self::pick(&pending, *task) else {
                        return Ok(());
                    };
                    s.assign(id).map_err(|e| e.to_string())?;
                }
                Action::Advance { seconds } => s.advance(u64::from(*seconds)),
                Action::Stake { node, amount } => {
                    // Topped up from genesis above, so the stake can be paid.
                    let n = Self::pick(&self.nodes, *node).unwrap();
                    s.pay(
                        &n,
                        &registry,
                        u128::from(*amount),
                        &registry::ReceiveMsg::Stake {},
                        &registry::ExecuteMsg::Stake {},
                    )
                    .map_err(|e| e.to_string())?;
                }
                Action::Unbond { node, amount } => {
                    let n = Self::pick(&self.nodes, *node).unwrap();
                    s.exec(
                        &n,
                        &registry,
                        &registry::ExecuteMsg::Unbond {
                            amount: Uint128::from(*amount),
                        },
                    )
                    .map_err(|e| e.to_string())?;
                }
                Action::Claim { node } => {
                    let n = Self::pick(&self.nodes, *node).unwrap();
                    s.exec(&n, &registry, &registry::ExecuteMsg::Claim {})
                        .map_err(|e| e.to_string())?;
                }
                Action::WithdrawRewards { node } => {
                    let n = Self::pick(&self.nodes, *node).unwrap();
                    s.exec(&n, &market, &market::ExecuteMsg::WithdrawRewards {})
                        .map_err(|e| e.to_string())?;
                }
                Action::WithdrawRoyalties => {
                    for c in self.creators.clone() {
                        s.exec(&c, &models, &models::ExecuteMsg::Withdraw {}).ok();
                    }
                }
                Action::BuyLicence { buyer } => {
                    let b = Self::pick(&self.buyers, *buyer).unwrap();
                    s.buy_licence(&b, [0x22; 32], 2_000)
                        .map_err(|e| e.to_string())?;
                }
                Action::RunAll { task, digests } => {
                    let Some(id) = Self::pick(&open_tasks(s, &self.tasks), *task) else {
                        return Ok(());
                    };
                    let assigned = s.committee(id);
                    for (n, d) in assigned.iter().zip(digests) {
                        if s.commit(n, id, [*d; 32], SALT).is_ok() {
                            self.committed.insert((id, n.clone()), *d);
                        }
                    }
                    for n in &assigned {
                        let d = self.committed.get(&(id, n.clone())).copied().unwrap_or(9);
                        let _ = s.reveal(n, id, [d; 32], SALT);
                    }
                    s.settle("keeper", id).map_err(|e| e.to_string())?;
                }
                Action::Register => {
                    let n = s.register_nodes(1);
                    self.nodes.extend(n);
                }
                Action::PostPending { buyer, reward } => {
                    let b = Self::pick(&self.buyers, *buyer).unwrap();
                    let spec = s.spec(3);
                    let id = s
                        .post_pending(&b, u128::from(*reward), spec)
                        .map_err(|e| e.to_string())?;
                    self.tasks.push(id);
                }
                Action::Decline { task, node } => {
                    let Some(id) = Self::pick(&open_tasks(s, &self.tasks), *task) else {
                        return Ok(());
                    };
                    let assigned = s.committee(id);
                    let n = Self::pick(&assigned, *node).unwrap();
                    s.decline(&n, id).map_err(|e| e.to_string())?;
                }
                Action::SetFee { bps } => {
                    let admin = s.admin.clone();
                    s.exec(
                        &admin,
                        &market,
                        &market::ExecuteMsg::UpdateParams(market::MarketParams {
                            protocol_fee_bps: *bps,
                            ..clusterai_economy_testing::market_params()
                        }),
                    )
                    .map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        })();
        if result.is_err() {
            let after: Vec<(Addr, u128)> = balances_before
                .iter()
                .map(|(k, _)| (k.clone(), s.balance(k)))
                .collect();
            assert_eq!(balances_before, after, "a rejected {a:?} moved tokens");
        }
        s.check_conservation();
    }
}

/// The ids among `tasks` whose status passes `keep`.
fn tasks_where(s: &Suite, tasks: &[u64], keep: fn(&market::TaskStatus) -> bool) -> Vec<u64> {
    tasks
        .iter()
        .copied()
        .filter(|id| keep(&s.task(*id).status))
        .collect()
}

fn open_tasks(s: &Suite, tasks: &[u64]) -> Vec<u64> {
    tasks_where(s, tasks, |st| *st == market::TaskStatus::Open)
}

/// Open, or waiting for a draw (a post or a re-execution).
fn unclosed(status: &market::TaskStatus) -> bool {
    matches!(
        status,
        market::TaskStatus::Open | market::TaskStatus::Pending
    )
}

fn run(pay_in: PayIn, actions: Vec<Action>) {
    let mut w = World::new(pay_in);
    for a in &actions {
        w.apply(a);
    }
    // Finally drain: settle everything after every deadline (a split first
    // committee sends a task back for a re-execution, which settles in turn)
    // and withdraw all.
    for _ in 0..3 {
        w.s.advance(86_400 * 8);
        for id in tasks_where(&w.s, &w.tasks, unclosed) {
            if let Err(e) = w.s.settle("keeper", id) {
                panic!("task {id} cannot be settled after its deadlines: {e}");
            }
        }
    }
    let open = tasks_where(&w.s, &w.tasks, unclosed).len();
    assert_eq!(open, 0, "every task closes once its deadlines pass");
    w.s.check_conservation();
    if std::env::var_os("CONSERVATION_STATS").is_some() {
        let tasks = w.s.all_tasks();
        let settled = tasks
            .iter()
            .filter(|t| matches!(t.status, market::TaskStatus::Settled { .. }))
            .count();
        let disputed = tasks
            .iter()
            .filter(|t| t.status == market::TaskStatus::Disputed)
            .count();
        let slashed: u128 = w.s.all_nodes().iter().map(|n| n.slashed_total.u128()).sum();
        eprintln!(
            "tasks {} settled {settled} disputed {disputed} slashed {slashed}",
            tasks.len()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        max_shrink_iters: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn conservation_cw20(actions in prop::collection::vec(action(), 5..50)) {
        run(PayIn::Cw20, actions);
    }

    #[test]
    fn conservation_native(actions in prop::collection::vec(action(), 5..50)) {
        run(PayIn::Native, actions);
    }
}
