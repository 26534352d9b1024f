//! The economics simulation: one actor holding a share of the stake plays a
//! strategy against honest nodes on the real contracts (cw-multi-test), over
//! many tasks, and its profit is compared with what the same actor earns
//! playing honest on the same network.
//!
//! Profit counts what the actor's nodes are credited, less what they are
//! slashed, less the off-chain cost of running a task ([`RUN_COST`] per node
//! and task it runs), less what the actor pays as a poster. Every task pays
//! [`REWARD`] for k = 3 votes; the honest nodes hold 700 000 over seven
//! nodes, and the actor enough to make its share.
//!
//! Runs are paired: market task i is posted at the same time (one every
//! [`SLOT`] seconds) with the same id in every run, so it draws from the same
//! beacon round with the same seed, and a deviation meets the very draws
//! honesty met until its own slashes and jail terms change the pool. The
//! griefer posts its tasks after the market's, for the same reason.

use crate::{PayIn, Suite};
use clusterai_economy::market::{TaskInput, TaskStatus};
use clusterai_economy::registry;
use cosmwasm_std::{Addr, HexBinary};

/// Reward of every task the market posts.
pub const REWARD: u128 = 10_000;
/// What running a task costs a node off-chain (compute, bandwidth).
pub const RUN_COST: u128 = 1_000;
/// Stake of each of the seven honest nodes.
pub const HONEST_STAKE: u128 = 100_000;
/// Seconds between two market tasks: room for the slowest (a withheld
/// reveal settles after the reveal deadline, in each of two committees).
pub const SLOT: u64 = 2_000;
/// Salt of every commitment in the simulation.
const SALT: [u8; 16] = [3; 16];

/// What the actor does with each vote it draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Runs the task, commits and reveals the true output.
    Honest,
    /// Does not run it; reveals a guess of its own (each node its own).
    Lazy,
    /// Does not run it; every node of the actor reveals the same wrong
    /// output, hoping to hold the majority.
    Colluding,
    /// As `Colluding`, with the stake split over five nodes.
    ColludingSplit,
    /// Runs it and commits, then withholds the reveal (to force disputes).
    Withholding,
    /// Declines every task (no work; only the decline pay).
    Declining,
    /// Runs its tasks honestly, and posts as many tasks that nobody can
    /// serve (an input nobody has), at the least reward, hoping to make its
    /// competitors fault.
    Griefing,
}

impl Strategy {
    /// Every deviation from honesty.
    pub const DEVIATIONS: [Strategy; 6] = [
        Strategy::Lazy,
        Strategy::Colluding,
        Strategy::ColludingSplit,
        Strategy::Withholding,
        Strategy::Declining,
        Strategy::Griefing,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Honest => "honest",
            Strategy::Lazy => "lazy",
            Strategy::Colluding => "colluding",
            Strategy::ColludingSplit => "colluding_split",
            Strategy::Withholding => "withholding",
            Strategy::Declining => "declining",
            Strategy::Griefing => "griefing",
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The actor's profit per task posted by the market.
    pub profit_per_task: f64,
    /// Tasks where the actor's output won.
    pub captured: u32,
}

struct Network {
    s: Suite,
    actor: Vec<Addr>,
    buyer: Addr,
    griefer: Addr,
    start: u64,
    slot: u64,
}

impl Network {
    /// Seven honest nodes, and the actor's `share` of the stake over `split` nodes.
    fn new(share: f64, split: usize) -> Self {
        let mut s = Suite::new(PayIn::Cw20);
        for i in 0..7 {
            s.register(
                &format!("honest{i}"),
                HONEST_STAKE,
                Suite::node_info(&["cpu"], 4096),
            )
            .expect("register");
        }
        let total_honest = 7.0 * HONEST_STAKE as f64;
        let actor_stake = (total_honest * share / (1.0 - share)) as u128;
        let actor = (0..split)
            .map(|i| {
                s.register(
                    &format!("actor{i}"),
                    actor_stake / split as u128,
                    Suite::node_info(&["cpu"], 4096),
                )
                .expect("register")
            })
            .collect();
        let buyer = s.fund("market-demand", u128::from(u32::MAX));
        let griefer = s.fund("actor-as-poster", u128::from(u32::MAX));
        let start = s.now().seconds();
        Network {
            s,
            actor,
            buyer,
            griefer,
            start,
            slot: 0,
        }
    }

    /// Waits for the next slot of the schedule.
    fn next_slot(&mut self) {
        self.slot += 1;
        let at = self.start + self.slot * SLOT;
        let now = self.s.now().seconds();
        assert!(now < at, "a task overran its slot");
        self.s.advance(at - now);
    }

    fn is_actor(&self, n: &Addr) -> bool {
        self.actor.contains(n)
    }

    /// Unjails the actor's nodes whose term is over (a rational actor does).
    fn unjail(&mut self) {
        let now = self.s.now();
        let registry = self.s.registry.clone();
        for n in self.actor.clone() {
            if self.s.node(&n).jailed_until.is_some_and(|t| t <= now) {
                self.s
                    .exec(&n, &registry, &registry::ExecuteMsg::Unjail {})
                    .expect("unjail");
            }
        }
    }

    /// Runs one market task with the actor playing `strategy`; returns the
    /// actor's off-chain cost and whether its output won.
    fn task(&mut self, strategy: Strategy) -> (u128, bool) {
        self.next_slot();
        self.unjail();
        let spec = self.s.spec(3);
        let buyer = self.buyer.clone();
        let id = self.s.post_from(&buyer, REWARD, spec).expect("post");
        let mut cost = 0;
        let truth = self.s.digest_of(id, b"the true output");
        let collusion = self.s.digest_of(id, b"the colluders' output");
        // A split first committee sends the task to a re-execution: the
        // second committee plays the same way.
        while self.s.task(id).status == TaskStatus::Open {
            cost += self.committee(id, strategy, truth, collusion);
            if self.s.task(id).status == TaskStatus::Pending {
                self.s.assign(id).expect("assign the re-execution");
            }
        }
        let status = self.s.task(id).status;
        let captured = matches!(&status, TaskStatus::Settled { digest } if digest.as_slice() == collusion.as_slice());
        (cost, captured)
    }

    /// The current committee of task `id` answers (the actor's nodes as
    /// `strategy` says, the others honestly) and anyone settles. Returns the
    /// actor's running cost.
    fn committee(
        &mut self,
        id: u64,
        strategy: Strategy,
        truth: [u8; 32],
        collusion: [u8; 32],
    ) -> u128 {
        let mut cost = 0;
        let mut plan = Vec::new();
        for (i, n) in self.s.committee(id).into_iter().enumerate() {
            let digest = if !self.is_actor(&n) {
                Some(truth)
            } else {
                match strategy {
                    Strategy::Honest | Strategy::Griefing | Strategy::Withholding => Some(truth),
                    Strategy::Lazy => Some(self.s.digest_of(id, format!("guess {i}").as_bytes())),
                    Strategy::Colluding | Strategy::ColludingSplit => Some(collusion),
                    Strategy::Declining => None,
                }
            };
            if self.is_actor(&n)
                && matches!(
                    strategy,
                    Strategy::Honest | Strategy::Griefing | Strategy::Withholding
                )
            {
                cost += RUN_COST;
            }
            plan.push((n, digest));
        }
        for (n, d) in &plan {
            match d {
                Some(d) => {
                    self.s.commit(n, id, *d, SALT).expect("commit");
                }
                None => {
                    self.s.decline(n, id).expect("decline");
                }
            }
        }
        for (n, d) in &plan {
            let withholds = self.is_actor(n) && strategy == Strategy::Withholding;
            if let (Some(d), false) = (d, withholds) {
                self.s.reveal(n, id, *d, SALT).expect("reveal");
            }
        }
        if self.s.settle("keeper", id).is_err() {
            // Someone withheld: settle after the reveal deadline.
            self.s.advance(120 + 600 + 1);
            self.s.settle("keeper", id).expect("settle");
        }
        cost
    }

    /// The griefer posts a task nobody can serve at the least reward; the
    /// drawn nodes decline it. Returns what the griefer paid.
    fn grief(&mut self) -> u128 {
        self.next_slot();
        let before = self.s.balance(&self.griefer);
        let mut spec = self.s.spec(3);
        spec.input = TaskInput::Hash {
            hash: HexBinary::from([0xEE; 32]),
            providers: vec![],
        };
        // The least a post may pay: 3 × 10 per vote plus the 5 % fee.
        let reward = 32;
        let griefer = self.griefer.clone();
        let id = self
            .s
            .post_from(&griefer, reward, spec)
            .expect("grief post");
        if self.s.task(id).status == TaskStatus::Open {
            for n in self.s.assigned(id) {
                self.s.decline(&n, id).expect("decline");
            }
            self.s.settle("keeper", id).expect("settle grief");
        }
        before - self.s.balance(&self.griefer)
    }

    fn earned(&self) -> i128 {
        self.actor
            .iter()
            .map(|n| self.s.rewards(n) as i128 - self.s.node(n).slashed_total.u128() as i128)
            .sum()
    }
}

/// Runs `tasks` market tasks with an actor holding `share` of the stake and
/// playing `strategy`.
pub fn run(strategy: Strategy, share: f64, tasks: u32) -> Run {
    let split = if strategy == Strategy::ColludingSplit {
        5
    } else {
        1
    };
    let mut net = Network::new(share, split);
    let mut cost: u128 = 0;
    let mut captured = 0;
    for _ in 0..tasks {
        let (c, won) = net.task(strategy);
        cost += c;
        captured += u32::from(won);
    }
    if strategy == Strategy::Griefing {
        for _ in 0..tasks {
            cost += net.grief();
        }
    }
    net.s.check_conservation();
    let profit = net.earned() - cost as i128;
    Run {
        profit_per_task: profit as f64 / f64::from(tasks),
        captured,
    }
}

/// One line of the comparison: a strategy's profit beside honesty's.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The strategy.
    pub strategy: Strategy,
    /// The actor's stake share.
    pub share: f64,
    /// Its profit per task.
    pub profit: f64,
    /// The honest actor's profit per task at the same share.
    pub honest: f64,
    /// Tasks its output won.
    pub captured: u32,
}

/// Every deviation at every share, beside honesty.
pub fn compare(shares: &[f64], tasks: u32) -> Vec<Comparison> {
    let mut out = Vec::new();
    for &share in shares {
        let honest = run(Strategy::Honest, share, tasks).profit_per_task;
        for strategy in Strategy::DEVIATIONS {
            let r = run(strategy, share, tasks);
            out.push(Comparison {
                strategy,
                share,
                profit: r.profit_per_task,
                honest,
                captured: r.captured,
            });
        }
    }
    out
}
