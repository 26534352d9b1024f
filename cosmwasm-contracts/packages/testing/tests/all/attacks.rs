//! The protocol against rational attackers: buyers, nodes, creators and
//! admins acting in their own interest, alone or together. Each test is
//! written as the attacker would try it; `docs/contracts.md` (threat model)
//! links every attack class to its test here.

use crate::common::{GOOD, SALT};
use clusterai_economy::market::{self, MarketParams, TaskInput, TaskStatus};
use clusterai_economy::models::{self, ListingKind};
use clusterai_economy::registry::{self, INITIAL_REPUTATION, Requirements};
use clusterai_economy_testing::{
    DISPUTE_BOND, NODE_STAKE, PayIn, RAISE_DELAY, Suite, expect_err, market_params,
};
use clusterai_model_market::ContractError as ModelsError;
use clusterai_node_registry::ContractError as RegistryError;
use clusterai_task_market::ContractError as MarketError;
use cosmwasm_std::{Addr, HexBinary, Uint128};
use cw_multi_test::Executor;

fn votes_of(s: &Suite, id: u64, who: &[Addr]) -> u32 {
    s.votes(id)
        .iter()
        .filter(|(n, _)| who.contains(n))
        .map(|(_, v)| u32::from(*v))
        .sum()
}

// --- 1. Assignment cannot be predicted, chosen or ground -------------------

#[test]
fn a_poster_learns_nothing_of_its_draw_when_posting() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(5);
    let buyer = s.fund("buyer", 10_000);
    let spec = s.spec(3);
    let id = s.post_pending(&buyer, 10_000, spec).unwrap();
    // What a contract posting and inspecting in one transaction would see:
    // no seed, no nodes. There is nothing to retry against.
    let t = s.task(id);
    assert_eq!(t.status, TaskStatus::Pending);
    assert!(t.assignments.is_empty() && t.seed.is_none());
    // Before its round is published, nobody can assign it, with any signature.
    let round = t.round;
    let at = s.beacon.config.round_time(round);
    assert!(at > s.now().seconds(), "the round lies in the future");
    let market = s.market.clone();
    let keeper = s.addr("keeper");
    let early = s.beacon.sign(round);
    s.rejects(
        MarketError::RoundNotYet {
            task_id: id,
            round,
            at,
        },
        |s| {
            s.exec(
                &keeper,
                &market,
                &market::ExecuteMsg::Assign {
                    task_id: id,
                    signature: Some(early),
                },
            )
        },
    );
    s.advance(at - s.now().seconds());
    // The submitter has no choice: another round's signature, a forged one
    // or none at all is refused; only the beacon's one signature works.
    let wrong_round = s.beacon.sign(round + 1);
    let mut forged = s.beacon.sign(round).to_vec();
    forged[5] ^= 0x40;
    for (sig, err) in [
        (
            Some(wrong_round),
            MarketError::Beacon(clusterai_economy::beacon::BeaconError::BadSignature { round }),
        ),
        (
            Some(HexBinary::from(forged)),
            MarketError::Beacon(clusterai_economy::beacon::BeaconError::BadSignature { round }),
        ),
        (None, MarketError::BeaconNeeded { task_id: id, round }),
    ] {
        s.rejects(err, |s| {
            s.exec(
                &keeper,
                &market,
                &market::ExecuteMsg::Assign {
                    task_id: id,
                    signature: sig,
                },
            )
        });
    }
    s.assign(id).unwrap();
    assert_eq!(s.task(id).status, TaskStatus::Open);
    // A round brought once serves every task it draws; assigning again is refused.
    s.rejects(MarketError::NotPending { task_id: id }, |s| s.assign(id));
    s.check_conservation();
}

/// Registers three honest nodes and a funded attacker; posts one task and
/// waits for its round. Deterministic: two calls build identical chains.
fn posted_and_round_out() -> (Suite, u64, Vec<Addr>) {
    let mut s = Suite::new(PayIn::Cw20);
    let nodes = s.register_nodes(3);
    let buyer = s.fund("buyer", 10_000);
    s.fund("whale", 10_000_000);
    let spec = s.spec(3);
    let id = s.post_pending(&buyer, 10_000, spec).unwrap();
    let at = s.beacon.config.round_time(s.task(id).round);
    s.advance(at - s.now().seconds());
    (s, id, nodes)
}

/// The attacker, having read the published round, floods the pool before
/// anyone assigns: a whale node and a dozen sybils.
fn flood(s: &mut Suite) {
    let whale = s.addr("whale");
    let registry = s.registry.clone();
    let info = Suite::node_info(&["cpu"], 4096);
    s.pay(
        &whale,
        &registry,
        5_000_000,
        &registry::ReceiveMsg::Register(info.clone()),
        &registry::ExecuteMsg::Register(info),
    )
    .unwrap();
    for i in 0..12 {
        s.register(
            &format!("sybil{i}"),
            NODE_STAKE,
            Suite::node_info(&["cpu"], 4096),
        )
        .unwrap();
    }
}

#[test]
fn stake_moved_after_the_round_is_out_does_not_change_the_draw() {
    let (mut quiet, id, _) = posted_and_round_out();
    quiet.assign(id).unwrap();
    let fair = quiet.votes(id);

    // Stake added after posting does not count: the draw is the same.
    let (mut s, id2, _) = posted_and_round_out();
    assert_eq!(id, id2);
    flood(&mut s);
    s.assign(id).unwrap();
    assert_eq!(s.votes(id), fair);
    s.check_conservation();

    // A drawn node that leaves cannot steer the draw either: its own votes
    // are redrawn among the nodes of the posting-time pool, never the flood.
    let (mut s, id, originals) = posted_and_round_out();
    flood(&mut s);
    let leaver = fair[0].0.clone();
    let registry = s.registry.clone();
    s.exec(
        &leaver,
        &registry,
        &registry::ExecuteMsg::Unbond {
            amount: Uint128::new(NODE_STAKE),
        },
    )
    .unwrap();
    s.assign(id).unwrap();
    let drawn = s.votes(id);
    assert_eq!(drawn.iter().map(|(_, v)| u32::from(*v)).sum::<u32>(), 3);
    assert!(
        drawn
            .iter()
            .all(|(n, _)| originals.contains(n) && *n != leaver),
        "{drawn:?}"
    );
    s.check_conservation();

    // Had the whale staked before the post, it would have dominated the draw:
    // the test has the power to see a bias.
    let mut c = Suite::new(PayIn::Cw20);
    c.register_nodes(3);
    let w = c
        .register("whale", 5_000_000, Suite::node_info(&["cpu"], 4096))
        .unwrap();
    let spec = c.spec(3);
    let id = c.post("buyer", 10_000, spec).unwrap();
    assert!(votes_of(&c, id, &[w]) >= 2, "{:?}", c.votes(id));
}

// --- 2. Selection cannot be captured --------------------------------------

#[test]
fn cheap_sybils_do_not_take_the_slots_of_stake() {
    let mut s = Suite::new(PayIn::Cw20);
    // An honest operator with 80 000 staked, and 20 sybils at the minimum
    // stake (1 000 each: 20 % of the stake in all), whatever their addresses.
    let honest = s
        .register("honest", 80_000, Suite::node_info(&["cpu"], 4096))
        .unwrap();
    let sybils: Vec<Addr> = (0..20)
        .map(|i| {
            s.register(
                &format!("sybil{i}"),
                1_000,
                Suite::node_info(&["cpu"], 4096),
            )
            .unwrap()
        })
        .collect();
    let (mut honest_votes, mut sybil_votes) = (0, 0);
    for t in 0..60 {
        let spec = s.spec(3);
        let id = s.post(&format!("buyer{t}"), 1_000, spec).unwrap();
        honest_votes += votes_of(&s, id, std::slice::from_ref(&honest));
        sybil_votes += votes_of(&s, id, &sybils);
    }
    assert_eq!(honest_votes + sybil_votes, 180);
    // Expected 144 of 180 for the honest stake; sampling noise aside, the
    // sybils get about their 20 % (36), never the lion's share.
    assert!(
        (120..=165).contains(&honest_votes),
        "honest {honest_votes}/180"
    );
}

#[test]
fn dead_records_neither_block_posting_nor_get_drawn() {
    let mut s = Suite::new(PayIn::Cw20);
    let registry = s.registry.clone();
    let mut dead = Vec::new();
    // 300 records that unbond everything, and one that a raised minimum
    // leaves below it: none may be drawn, none may cost the draw a scan.
    for i in 0..300 {
        let n = s
            .register(
                &format!("ghost{i}"),
                1_000,
                Suite::node_info(&["cpu"], 4096),
            )
            .unwrap();
        s.exec(
            &n,
            &registry,
            &registry::ExecuteMsg::Unbond {
                amount: Uint128::new(1_000),
            },
        )
        .unwrap();
        assert!(s.node(&n).weight.is_zero());
        dead.push(n);
    }
    let live = s.register_nodes(3);
    let small = s
        .register("small", 1_500, Suite::node_info(&["cpu"], 4096))
        .unwrap();
    let admin = s.admin.clone();
    s.exec(
        &admin,
        &registry,
        &registry::ExecuteMsg::UpdateParams(registry::RegistryParams {
            min_stake: Uint128::new(2_000),
            ..clusterai_economy_testing::registry_params()
        }),
    )
    .unwrap();
    for t in 0..10 {
        let id = s.post_simple_task(&format!("b{t}"), 1_000, 3).unwrap();
        let drawn = s.assigned(id);
        assert!(!drawn.is_empty());
        assert!(drawn.iter().all(|n| live.contains(n)), "{drawn:?}");
        assert!(!drawn.contains(&small));
    }
    s.check_conservation();
}

/// How often a coalition with 30 % of the stake gets a majority of k = 3
/// votes, holding it in `split` nodes.
fn majority_rate(split: usize, tasks: u32) -> f64 {
    let mut s = Suite::new(PayIn::Cw20);
    // Honest: 70 000 over 7 nodes.
    for i in 0..7 {
        s.register(
            &format!("honest{i}"),
            10_000,
            Suite::node_info(&["cpu"], 4096),
        )
        .unwrap();
    }
    let per = 30_000 / split as u128;
    let coalition: Vec<Addr> = (0..split)
        .map(|i| {
            s.register(
                &format!("attacker{i}"),
                per,
                Suite::node_info(&["cpu"], 4096),
            )
            .unwrap()
        })
        .collect();
    let mut captured = 0;
    for t in 0..tasks {
        let spec = s.spec(3);
        let id = s.post(&format!("buyer{t}"), 1_000, spec).unwrap();
        if votes_of(&s, id, &coalition) >= 2 {
            captured += 1;
        }
    }
    f64::from(captured) / f64::from(tasks)
}

#[test]
fn splitting_stake_does_not_raise_the_chance_of_a_majority() {
    // With replacement, each vote is the coalition's with probability 0.3
    // however it splits: P(>= 2 of 3) = 3 × 0.09 × 0.7 + 0.027 = 0.216.
    let one = majority_rate(1, 150);
    let ten = majority_rate(10, 150);
    for (name, rate) in [("one node", one), ("ten nodes", ten)] {
        assert!(
            (0.10..=0.34).contains(&rate),
            "{name}: majority in {rate} of tasks, expected about 0.216"
        );
    }
    assert!(
        (ten - one).abs() < 0.12,
        "splitting changed the capture rate: {one} as one node, {ten} as ten"
    );
}

// --- 3. Every dishonest outcome costs more than honesty -------------------

#[test]
fn a_buyer_cannot_get_the_work_free_by_splitting_the_vote() {
    let mut s = Suite::new(PayIn::Cw20);
    // The buyer runs a node of its own under another address.
    let sock = s
        .register("sock-puppet", NODE_STAKE, Suite::node_info(&["cpu"], 4096))
        .unwrap();
    s.register_nodes(2);
    // Even k would let a single puppet force a tie: refused outright.
    let buyer = s.fund("buyer", 100_000);
    let spec = s.spec(2);
    assert!(matches!(
        expect_err::<MarketError>(s.post_from(&buyer, 10_000, spec)),
        MarketError::InvalidK { k: 2, .. }
    ));
    // Odd k: find a task where the puppet drew one vote of three.
    let id = loop {
        let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
        if s.assigned(id).contains(&sock) {
            break id;
        }
        for n in s.assigned(id) {
            s.decline(&n, id).unwrap();
        }
        s.settle("keeper", id).unwrap();
    };
    let buyer = s.addr("buyer");
    let before = s.balance(&buyer);
    let honest: Vec<Addr> = s.assigned(id).into_iter().filter(|n| *n != sock).collect();
    // The puppet reveals garbage, one honest node reveals the real output
    // (the buyer gets it off-chain), the other honest node is silent.
    s.commit(&sock, id, [0x66; 32], SALT).unwrap();
    s.commit(&honest[0], id, GOOD, SALT).unwrap();
    s.advance(121);
    s.reveal(&sock, id, [0x66; 32], SALT).unwrap();
    s.reveal(&honest[0], id, GOOD, SALT).unwrap();
    s.advance(600);
    s.settle("keeper", id).unwrap();
    // Two digests, no majority: a re-execution is drawn, but every node is
    // in the first committee, so the split stands.
    assert_eq!(s.task(id).status, TaskStatus::Pending);
    s.assign(id).unwrap();
    assert_eq!(s.task(id).status, TaskStatus::Disputed);
    // The split still costs the buyer the fee and the honest vote's share:
    // 10 000 - 500 = 9 500, 3 166 per revealed vote; only the silent vote's
    // share (plus rounding) comes back. Its puppet's 3 166 is its own money.
    let refund = s.balance(&buyer) - before;
    assert_eq!(refund, 9_500 - 2 * 3_166);
    assert_eq!(s.rewards(&honest[0]), 3_166);
    let cost = 10_000 - refund - s.rewards(&sock);
    assert!(cost >= 500 + 3_166, "the buyer's net cost {cost}");
    // The silent honest node is absent, not wrong.
    assert_eq!(s.node(&honest[1]).tasks_absent, 1);
    s.check_conservation();
}

#[test]
fn a_large_task_draws_only_nodes_whose_stake_covers_the_penalty() {
    let mut s = Suite::new(PayIn::Cw20);
    // Sybils at the minimum stake: what they could lose by cheating is tiny.
    let sybils: Vec<Addr> = (0..12)
        .map(|i| {
            s.register(
                &format!("sybil{i}"),
                1_000,
                Suite::node_info(&["cpu"], 4096),
            )
            .unwrap()
        })
        .collect();
    let big: Vec<Addr> = (0..3)
        .map(|i| {
            s.register(
                &format!("big{i}"),
                100_000,
                Suite::node_info(&["cpu"], 4096),
            )
            .unwrap()
        })
        .collect();
    // 100 000 reward: a vote pays 31 666, a wrong one forfeits 63 332, so only
    // nodes with that much at stake are drawn.
    for t in 0..5 {
        let spec = s.spec(3);
        let id = s.post(&format!("whale-buyer{t}"), 100_000, spec).unwrap();
        assert!(s.assigned(id).iter().all(|n| big.contains(n)));
    }
    // A small task is open to everyone.
    let mut sybil_drawn = false;
    for t in 0..10 {
        let spec = s.spec(3);
        let id = s.post(&format!("small-buyer{t}"), 1_000, spec).unwrap();
        sybil_drawn |= s.assigned(id).iter().any(|n| sybils.contains(n));
    }
    assert!(sybil_drawn);
    s.check_conservation();
}

#[test]
fn a_split_vote_is_settled_by_re_execution_and_the_puppet_slashed() {
    let mut s = Suite::new(PayIn::Cw20);
    let sock = s
        .register("sock-puppet", NODE_STAKE, Suite::node_info(&["cpu"], 4096))
        .unwrap();
    s.register_nodes(6);
    let id = loop {
        let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
        if s.assigned(id).contains(&sock) {
            break id;
        }
        for n in s.assigned(id) {
            s.decline(&n, id).unwrap();
        }
        s.settle("keeper", id).unwrap();
    };
    let first = s.assigned(id);
    let honest: Vec<Addr> = first.iter().filter(|n| **n != sock).cloned().collect();
    // What the earlier declines paid them.
    let (paid_before, sock_before) = (s.rewards(&honest[0]), s.rewards(&sock));
    let good = s.digest_of(id, b"the real output");
    let bad = s.digest_of(id, b"the puppet's output");
    // The puppet reveals garbage, one honest node the real output, the other is silent.
    s.commit(&sock, id, bad, SALT).unwrap();
    s.commit(&honest[0], id, good, SALT).unwrap();
    s.advance(121);
    s.reveal(&sock, id, bad, SALT).unwrap();
    s.reveal(&honest[0], id, good, SALT).unwrap();
    s.advance(600);
    s.settle("keeper", id).unwrap();
    let t = s.task(id);
    assert_eq!((t.status, t.reexecution), (TaskStatus::Pending, true));
    // The first committee cannot act again.
    s.rejects(MarketError::AwaitingDraw { task_id: id }, |s| {
        s.commit(&honest[1], id, good, SALT)
    });
    // A second committee, drawn from a later round without the first's
    // nodes, re-executes the task and agrees on the real output.
    s.assign(id).unwrap();
    let second: Vec<Addr> = s
        .task(id)
        .assignments
        .iter()
        .filter(|a| a.reexecution)
        .map(|a| a.node.clone())
        .collect();
    assert!(!second.is_empty());
    assert!(second.iter().all(|n| !first.contains(n)));
    s.rejects(
        MarketError::NotAssigned {
            node: honest[1].to_string(),
            task_id: id,
        },
        |s| s.commit(&honest[1], id, good, SALT),
    );
    for n in &second {
        s.commit(n, id, good, SALT).unwrap();
    }
    for n in &second {
        s.reveal(n, id, good, SALT).unwrap();
    }
    s.settle("keeper", id).unwrap();
    assert_eq!(
        s.task(id).status,
        TaskStatus::Settled {
            digest: HexBinary::from(good)
        }
    );
    // The puppet is judged wrong and slashed; the honest first-committee
    // node is paid like the second committee's votes; the silent one is absent.
    let p = s.node(&sock);
    assert_eq!(p.tasks_wrong, 1);
    assert!(p.stake.u128() < NODE_STAKE);
    let agreeing: u128 = 1 + s
        .task(id)
        .assignments
        .iter()
        .filter(|a| a.reexecution)
        .map(|a| u128::from(a.votes))
        .sum::<u128>();
    assert_eq!(s.rewards(&honest[0]) - paid_before, 9_500 / agreeing);
    assert_eq!(s.rewards(&sock), sock_before);
    assert_eq!(s.node(&honest[1]).tasks_absent, 1);
    s.check_conservation();
}

#[test]
fn an_output_copied_from_an_identical_task_does_not_match() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    let output = b"the plugin's output bytes";
    // Task 1: everyone runs it and reveals the task-bound digest.
    let t1 = s.post_simple_task("buyer", 10_000, 3).unwrap();
    let d1 = s.digest_of(t1, output);
    for n in s.assigned(t1) {
        s.commit(&n, t1, d1, SALT).unwrap();
    }
    for n in s.assigned(t1) {
        s.reveal(&n, t1, d1, SALT).unwrap();
    }
    s.settle("keeper", t1).unwrap();
    // Task 2: the same plugin, input and models. A lazy node copies task 1's
    // public digest instead of running; the others run it.
    let t2 = s.post_simple_task("buyer", 10_000, 3).unwrap();
    let d2 = s.digest_of(t2, output);
    assert_ne!(d1, d2, "digests are bound to the task's seed");
    let a = s.assigned(t2);
    let lazy = a[2].clone();
    for n in &a[..2] {
        s.commit(n, t2, d2, SALT).unwrap();
    }
    s.commit(&lazy, t2, d1, SALT).unwrap();
    for n in &a[..2] {
        s.reveal(n, t2, d2, SALT).unwrap();
    }
    s.reveal(&lazy, t2, d1, SALT).unwrap();
    s.settle("keeper", t2).unwrap();
    let l = s.node(&lazy);
    assert_eq!(l.tasks_wrong, 1);
    assert_eq!(s.rewards(&lazy), 3_166, "paid for task 1 only");
    s.check_conservation();
}

#[test]
fn tasks_posted_to_oneself_earn_no_reputation_and_clear_no_faults() {
    let mut s = Suite::new(PayIn::Cw20);
    // The attacker's node is the only one declaring a made-up provider.
    let mine = s
        .register("mine", NODE_STAKE, Suite::node_info(&["cpu", "mine"], 4096))
        .unwrap();
    s.register_nodes(4);
    // It has a fault on record: it missed a k = 1 task.
    let id = loop {
        let id = s.post_simple_task("stranger", 1_000, 1).unwrap();
        if s.assigned(id) == vec![mine.clone()] {
            break id;
        }
        let n = s.assigned(id)[0].clone();
        s.decline(&n, id).unwrap();
        s.settle("keeper", id).unwrap();
    };
    s.advance(121);
    s.settle("keeper", id).unwrap();
    let before = s.node(&mine);
    assert_eq!(before.consecutive_faults, 1);
    // It pays tiny tasks to itself from a second address, in its own pool
    // (a pool of one: under the minimum pool size) and at k = 1 (under the
    // minimum k): they settle, but count for nothing.
    for (k, provider) in [(3, Some("mine")), (1, None)] {
        let mut spec = s.spec(k);
        spec.requirements = Requirements {
            execution_provider: provider.map(String::from),
            min_memory_mb: None,
        };
        let id = loop {
            let id = s.post("sock", 1_000, spec.clone()).unwrap();
            if s.assigned(id) == vec![mine.clone()] {
                break id;
            }
            for n in s.assigned(id) {
                s.decline(&n, id).unwrap();
            }
            s.settle("keeper", id).unwrap();
        };
        assert!(!s.task(id).counts);
        s.commit(&mine, id, GOOD, SALT).unwrap();
        s.reveal(&mine, id, GOOD, SALT).unwrap();
        s.settle("keeper", id).unwrap();
        let now = s.node(&mine);
        assert_eq!(now.reputation, before.reputation, "no reputation gained");
        assert_eq!(now.consecutive_faults, 1, "the fault stays on record");
        assert_eq!(now.tasks_agreed, 0);
    }
    // A real task (k = 3 in the pool of all five nodes) does count.
    let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
    assert!(s.task(id).counts);
    s.check_conservation();
}

// --- 4. Griefing is not free -----------------------------------------------

#[test]
fn a_task_nobody_can_serve_costs_its_poster_and_no_node() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    let treasury = s.treasury.clone();
    let mut spec = s.spec(3);
    // An input nobody serves.
    spec.input = TaskInput::Hash {
        hash: HexBinary::from([0xEE; 32]),
        providers: vec![],
    };
    let id = s.post_spread("griefer", 10_000, spec).unwrap();
    let griefer = s.addr("griefer");
    let a = s.assigned(id);
    // The nodes cannot fetch it and step back, without fault.
    for n in &a {
        s.decline(n, id).unwrap();
    }
    // A declined node cannot change its mind, nor decline twice.
    s.rejects(MarketError::AlreadyDeclined { task_id: id }, |s| {
        s.commit(&a[0], id, GOOD, SALT)
    });
    s.rejects(MarketError::AlreadyDeclined { task_id: id }, |s| {
        s.decline(&a[0], id)
    });
    // Every node answered: it settles at once. The griefer loses the fee and
    // pays each declined vote the least reward (10) for its trouble.
    s.settle("keeper", id).unwrap();
    assert_eq!(s.task(id).status, TaskStatus::Expired);
    assert_eq!(s.balance(&griefer), 10_000 - 500 - 3 * 10);
    assert_eq!(s.rewards(&treasury), 500);
    for n in &a {
        assert_eq!(s.rewards(n), 10);
        let node = s.node(n);
        assert_eq!(node.stake.u128(), NODE_STAKE);
        assert_eq!(node.reputation, INITIAL_REPUTATION);
        assert_eq!(node.consecutive_faults, 0);
    }
    s.check_conservation();
}

#[test]
fn declining_is_for_nodes_that_have_not_committed_in_time() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
    let a = s.assigned(id);
    s.commit(&a[0], id, GOOD, SALT).unwrap();
    s.rejects(MarketError::AlreadyCommitted { task_id: id }, |s| {
        s.decline(&a[0], id)
    });
    let outsider = s.addr("outsider");
    s.rejects(
        MarketError::NotAssigned {
            node: outsider.to_string(),
            task_id: id,
        },
        |s| s.decline(&outsider, id),
    );
    s.advance(121);
    s.rejects(MarketError::CommitDeadlinePassed { task_id: id }, |s| {
        s.decline(&a[1], id)
    });
}

#[test]
fn a_task_whose_beacon_never_comes_expires_with_the_fee_kept() {
    let mut s = Suite::new(PayIn::Native);
    s.register_nodes(3);
    let buyer = s.fund("buyer", 10_000);
    let spec = s.spec(3);
    let id = s.post_pending(&buyer, 10_000, spec).unwrap();
    let keeper = s.addr("keeper");
    s.rejects(
        MarketError::SettleTooEarly {
            task_id: id,
            settle_after: s.task(id).posted_at.plus_seconds(600),
        },
        |s| s.settle("keeper", id),
    );
    s.advance(601);
    let market = s.market.clone();
    let sig = s.beacon.sign(s.task(id).round);
    let deadline = s.task(id).posted_at.plus_seconds(600);
    s.rejects(
        MarketError::AssignTimedOut {
            task_id: id,
            deadline,
        },
        |s| {
            s.exec(
                &keeper,
                &market,
                &market::ExecuteMsg::Assign {
                    task_id: id,
                    signature: Some(sig),
                },
            )
        },
    );
    s.settle("keeper", id).unwrap();
    assert_eq!(s.task(id).status, TaskStatus::Expired);
    assert_eq!(s.balance(&buyer), 9_500);
    s.check_conservation();
}

// --- 5. The marketplace keeps its promises ---------------------------------

#[test]
fn a_royalty_raise_waits_across_delist_and_relist() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(1);
    let creator = s
        .list("carol", [0x11; 32], ListingKind::Plugin, 0, 100)
        .unwrap();
    let models = s.models.clone();
    let relist = |s: &mut Suite, royalty: u128| {
        let delist = models::ExecuteMsg::Delist {
            hash: HexBinary::from([0x11; 32]),
        };
        s.exec(&creator, &models, &delist).unwrap();
        s.list("carol", [0x11; 32], ListingKind::Plugin, 0, royalty)
            .unwrap();
    };
    // Relisting at a royalty 50 times higher does not apply at once.
    relist(&mut s, 5_000);
    let l = s.listing([0x11; 32]);
    assert_eq!(l.royalty.u128(), 100);
    assert_eq!(l.pending.as_ref().map(|p| p.royalty.u128()), Some(5_000));
    let id = s.post_simple_task("buyer", 10_000, 1).unwrap();
    assert_eq!(s.task(id).royalties[0].amount.u128(), 100);
    s.advance(RAISE_DELAY);
    assert_eq!(s.listing([0x11; 32]).royalty.u128(), 5_000);
    // A cut on relist applies at once.
    relist(&mut s, 10);
    assert_eq!(s.listing([0x11; 32]).royalty.u128(), 10);
    s.check_conservation();
}

#[test]
fn a_task_refuses_royalties_above_its_ceiling() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    s.list("carol", [0x11; 32], ListingKind::Plugin, 0, 100)
        .unwrap();
    let buyer = s.fund("buyer", 100_000);
    let mut spec = s.spec(3);
    spec.max_royalties = Some(Uint128::new(99));
    s.rejects(
        MarketError::RoyaltiesAboveMax {
            quoted: Uint128::new(100),
            max: Uint128::new(99),
        },
        |s| s.post_from(&buyer, 10_000, spec.clone()),
    );
    spec.max_royalties = Some(Uint128::new(100));
    let id = s.post_from(&buyer, 10_000, spec).unwrap();
    assert_eq!(s.task(id).royalties[0].amount.u128(), 100);
}

#[test]
fn a_squatted_listing_is_handed_to_its_author_by_dispute() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(1);
    // A squatter front-runs the author and lists the author's plugin hash.
    let squatter = s
        .list("squatter", [0x11; 32], ListingKind::Plugin, 0, 1_000)
        .unwrap();
    let author = s.fund("author", DISPUTE_BOND);
    let models = s.models.clone();
    let h = HexBinary::from([0x11; 32]);
    // The author disputes, escrowing the bond; a wrong bond or the squatter
    // disputing its own listing is refused.
    s.rejects(
        ModelsError::WrongBond {
            bond: Uint128::new(DISPUTE_BOND),
            paid: Uint128::new(1),
        },
        |s| s.dispute_listing(&author, [0x11; 32], 1),
    );
    s.fund("squatter", DISPUTE_BOND);
    s.rejects(ModelsError::OwnListing { hash: h.to_hex() }, |s| {
        s.dispute_listing(&squatter, [0x11; 32], DISPUTE_BOND)
    });
    s.dispute_listing(&author, [0x11; 32], DISPUTE_BOND)
        .unwrap();
    // Royalties earned while the dispute is open are held, not credited.
    let id = s.post_simple_task("buyer", 10_000, 1).unwrap();
    crate::common::complete(&mut s, id);
    assert_eq!(s.accrued(&squatter), 0);
    assert_eq!(s.listing([0x11; 32]).dispute.unwrap().held.u128(), 1_000);
    s.check_conservation();
    // Only governance (the admin) rules.
    let resolve = |to_claimant| models::ExecuteMsg::ResolveDispute {
        hash: h.clone(),
        to_claimant,
    };
    s.rejects(
        ModelsError::NotAdmin {
            action: "resolve a listing dispute".into(),
        },
        |s| s.exec(&author, &models, &resolve(true)),
    );
    let admin = s.admin.clone();
    s.exec(&admin, &models, &resolve(true)).unwrap();
    let l = s.listing([0x11; 32]);
    assert_eq!(l.creator, author);
    assert!(l.dispute.is_none());
    assert_eq!(s.accrued(&author), 1_000 + DISPUTE_BOND);
    assert_eq!(s.accrued(&squatter), 0);
    s.check_conservation();

    // A frivolous dispute costs its claimant the bond, paid to the creator.
    let troll = s.fund("troll", DISPUTE_BOND);
    s.dispute_listing(&troll, [0x11; 32], DISPUTE_BOND).unwrap();
    s.exec(&admin, &models, &resolve(false)).unwrap();
    assert_eq!(s.listing([0x11; 32]).creator, author);
    assert_eq!(s.accrued(&author), 1_000 + 2 * DISPUTE_BOND);
    s.check_conservation();
}

// --- 6. Parameter changes cannot break open tasks --------------------------

#[test]
fn parameter_changes_do_not_reach_open_tasks() {
    let mut s = Suite::new(PayIn::Cw20);
    s.register_nodes(3);
    let id = s.post_simple_task("buyer", 10_000, 3).unwrap();
    // After the post, governance raises the fee to 90 % and shortens the
    // reveal window to a second.
    let admin = s.admin.clone();
    let market = s.market.clone();
    s.exec(
        &admin,
        &market,
        &market::ExecuteMsg::UpdateParams(MarketParams {
            protocol_fee_bps: 9_000,
            reveal_period: 1,
            ..market_params()
        }),
    )
    .unwrap();
    let a = s.assigned(id);
    for n in &a {
        s.commit(n, id, GOOD, SALT).unwrap();
    }
    // The task's own reveal window (600 s) still holds.
    s.advance(300);
    for n in &a {
        s.reveal(n, id, GOOD, SALT).unwrap();
    }
    s.settle("keeper", id).unwrap();
    let t = s.task(id);
    assert_eq!((t.fee_bps, t.reveal_period), (500, 600));
    for n in &a {
        assert_eq!(s.rewards(n), 3_166, "paid at the 5 % of its terms");
    }
    s.check_conservation();
}

#[test]
fn time_and_rate_parameters_are_bounded() {
    let mut s = Suite::new(PayIn::Cw20);
    let admin = s.admin.clone();
    let models = s.models.clone();
    for raise_delay in [0, 3_599, 366 * 86_400] {
        s.rejects(
            ModelsError::InvalidConfig {
                reason: "raise_delay must be 3600 seconds to a year".into(),
            },
            |s| {
                s.exec(
                    &admin,
                    &models,
                    &models::ExecuteMsg::UpdateConfig {
                        max_royalty: Uint128::new(1),
                        raise_delay,
                        dispute_bond: Uint128::new(1),
                    },
                )
            },
        );
    }
    let market = s.market.clone();
    for (p, reason) in [
        (
            MarketParams {
                max_commit_period: 400 * 86_400,
                ..market_params()
            },
            "need 0 < min_commit_period <= max_commit_period <= a year",
        ),
        (
            MarketParams {
                reveal_period: 400 * 86_400,
                ..market_params()
            },
            "reveal_period must be 1 second to a year",
        ),
        (
            MarketParams {
                assign_timeout: 400 * 86_400,
                ..market_params()
            },
            "assign_timeout must exceed assign_delay and be at most a year",
        ),
    ] {
        s.rejects(
            MarketError::InvalidParams {
                reason: reason.into(),
            },
            |s| s.exec(&admin, &market, &market::ExecuteMsg::UpdateParams(p)),
        );
    }
}

// --- 7. No admin backdoors --------------------------------------------------

#[test]
fn the_admin_cannot_repoint_the_contracts_links() {
    let mut s = Suite::new(PayIn::Cw20);
    let admin = s.admin.clone();
    let rogue = s.addr("rogue");
    let (registry, models, market) = (s.registry.clone(), s.models.clone(), s.market.clone());
    s.rejects(
        RegistryError::TaskMarketAlreadySet {
            address: market.to_string(),
        },
        |s| {
            s.exec(
                &admin,
                &registry,
                &registry::ExecuteMsg::SetTaskMarket {
                    address: rogue.to_string(),
                },
            )
        },
    );
    s.rejects(
        ModelsError::TaskMarketAlreadySet {
            address: market.to_string(),
        },
        |s| {
            s.exec(
                &admin,
                &models,
                &models::ExecuteMsg::SetTaskMarket {
                    address: rogue.to_string(),
                },
            )
        },
    );
}

#[test]
fn reports_are_checked_against_real_state() {
    // A registry and a model market whose task market is an account the
    // attacker holds (as if a link had been set wrong at deployment).
    let mut s = Suite::new(PayIn::Cw20);
    let fake = s.addr("fake-market");
    let code = s
        .app
        .store_code(clusterai_economy_testing::registry_contract());
    let registry = s
        .app
        .instantiate_contract(
            code,
            s.admin.clone(),
            &registry::InstantiateMsg {
                admin: None,
                treasury: s.treasury.to_string(),
                denom: clusterai_economy::asset::PaymentDenom::Cw20 {
                    address: s.token.to_string(),
                },
                params: clusterai_economy_testing::registry_params(),
            },
            &[],
            "registry-2",
            None,
        )
        .unwrap();
    let admin = s.admin.clone();
    s.exec(
        &admin,
        &registry,
        &registry::ExecuteMsg::SetTaskMarket {
            address: fake.to_string(),
        },
    )
    .unwrap();
    // An account has no task records: any report it sends is refused.
    let forged = |task_id: u64, victim: &Addr| registry::ExecuteMsg::ReportOutcomes {
        task_id,
        counts: true,
        vote_pay: Uint128::new(1_000),
        outcomes: vec![registry::NodeOutcome {
            node: victim.to_string(),
            votes: 1,
            outcome: registry::Outcome::Wrong,
        }],
    };
    let anyone = s.addr("anyone");
    assert!(s.exec(&fake, &registry, &forged(1, &anyone)).is_err());

    // A registry linked to the real market, with a node to slash: a report
    // in the market's name is applied only for a task its state shows closed.
    let code = s
        .app
        .store_code(clusterai_economy_testing::registry_contract());
    let linked = s
        .app
        .instantiate_contract(
            code,
            admin.clone(),
            &registry::InstantiateMsg {
                admin: None,
                treasury: s.treasury.to_string(),
                denom: clusterai_economy::asset::PaymentDenom::Cw20 {
                    address: s.token.to_string(),
                },
                params: clusterai_economy_testing::registry_params(),
            },
            &[],
            "registry-3",
            None,
        )
        .unwrap();
    // Its tokens count in the supply the conservation check adds up.
    s.known.insert(linked.clone());
    let real = s.market.clone();
    s.exec(
        &admin,
        &linked,
        &registry::ExecuteMsg::SetTaskMarket {
            address: real.to_string(),
        },
    )
    .unwrap();
    let victim = s.fund("victim", NODE_STAKE);
    let info = Suite::node_info(&["cpu"], 4096);
    s.pay(
        &victim,
        &linked,
        NODE_STAKE,
        &registry::ReceiveMsg::Register(info.clone()),
        &registry::ExecuteMsg::Register(info),
    )
    .unwrap();
    s.register_nodes(1);
    let open = s.post_simple_task("buyer", 1_000, 1).unwrap();
    for task_id in [99, open] {
        assert_eq!(
            expect_err::<RegistryError>(s.exec(&real, &linked, &forged(task_id, &victim))),
            RegistryError::TaskNotClosed { task_id }
        );
    }
    let stake = |s: &Suite| -> u128 {
        let n: registry::NodeResponse = s
            .app
            .wrap()
            .query_wasm_smart(
                &linked,
                &registry::QueryMsg::Node {
                    operator: victim.to_string(),
                },
            )
            .unwrap();
        n.stake.u128()
    };
    assert_eq!(stake(&s), NODE_STAKE, "nothing applied");
    crate::common::complete(&mut s, open);
    s.exec(&real, &linked, &forged(open, &victim)).unwrap();
    assert!(stake(&s) < NODE_STAKE, "a closed task's report is applied");

    // The real market cannot replay a settled task's report either.
    let id = open;
    let main_registry = s.registry.clone();
    s.rejects(RegistryError::AlreadyReported { task_id: id }, |s| {
        s.exec(
            &real,
            &main_registry,
            &registry::ExecuteMsg::ReportOutcomes {
                task_id: id,
                counts: true,
                vote_pay: Uint128::new(1_000_000),
                outcomes: vec![],
            },
        )
    });

    // A model market credits only what its balance backs.
    let code = s
        .app
        .store_code(clusterai_economy_testing::models_contract());
    let models = s
        .app
        .instantiate_contract(
            code,
            admin.clone(),
            &models::InstantiateMsg {
                admin: None,
                denom: clusterai_economy::asset::PaymentDenom::Cw20 {
                    address: s.token.to_string(),
                },
                max_royalty: Uint128::new(10_000),
                raise_delay: 86_400,
                dispute_bond: Uint128::new(1),
            },
            &[],
            "models-2",
            None,
        )
        .unwrap();
    s.exec(
        &admin,
        &models,
        &models::ExecuteMsg::SetTaskMarket {
            address: fake.to_string(),
        },
    )
    .unwrap();
    let record = models::ExecuteMsg::RecordRoyalties {
        task_id: 1,
        shares: vec![clusterai_economy::market::RoyaltyShare {
            hash: HexBinary::from([1; 32]),
            creator: fake.clone(),
            amount: Uint128::new(1_000_000),
            held: true,
        }],
    };
    assert_eq!(
        expect_err::<ModelsError>(s.exec(&fake, &models, &record)),
        ModelsError::Unbacked {
            held: Uint128::zero(),
            owed: Uint128::new(1_000_000)
        }
    );
}

#[test]
fn state_of_an_earlier_layout_is_not_migrated_in_place() {
    let mut s = Suite::new(PayIn::Cw20);
    let admin = s.admin.clone();
    let registry = s.registry.clone();
    let code = s
        .app
        .store_code(clusterai_economy_testing::registry_contract());
    let migrate = clusterai_economy::migrate::MigrateMsg {};
    // Today's layout migrates to today's code.
    s.app
        .migrate_contract(admin.clone(), registry.clone(), &migrate, code)
        .unwrap();
    // A deployment written before layouts were recorded (layout 1: the
    // records of the first contracts) is refused, and stays as it was.
    s.app
        .contract_storage_mut(&registry)
        .remove(clusterai_economy::migrate::LAYOUT_KEY);
    let err = s
        .app
        .migrate_contract(admin, registry, &migrate, code)
        .unwrap_err()
        .downcast::<RegistryError>()
        .unwrap();
    assert_eq!(
        err,
        RegistryError::Migrate(clusterai_economy::migrate::MigrateError::Layout {
            stored: 1,
            expected: 2
        })
    );
}
