//! The task market: posting, assignment by the test beacon, declines,
//! commit/reveal, settlement and task queries.

use super::Suite;
use clusterai_economy::BPS_DENOMINATOR;
use clusterai_economy::beacon;
use clusterai_economy::commit::{commitment, task_digest};
use clusterai_economy::market::{self, TaskInput, TaskResponse, TaskSpec};
use clusterai_economy::models::{self, QuoteResponse};
use clusterai_economy::registry::{self, Requirements};
use cosmwasm_std::{Addr, Binary, HexBinary, Uint128};
use cw_multi_test::error::AnyResult;
use cw_multi_test::{AppResponse, Executor};
use sha2::{Digest, Sha256};

impl Suite {
    /// A task spec with inline input, no models, a commit window of 120 s.
    pub fn spec(&self, k: u8) -> TaskSpec {
        TaskSpec {
            plugin: HexBinary::from([0x11; 32]),
            input: TaskInput::Inline {
                data: Binary::from(b"hello".to_vec()),
            },
            models: vec![],
            k,
            commit_period: 120,
            requirements: Requirements::default(),
            max_royalties: None,
        }
    }

    /// Posts `spec` from the named buyer with `reward` (funding the buyer
    /// first) and assigns it once its beacon round is out.
    pub fn post(&mut self, buyer: &str, reward: u128, spec: TaskSpec) -> AnyResult<u64> {
        let who = self.fund(buyer, reward);
        self.post_from(&who, reward, spec)
    }

    /// Posts `spec` from an already funded account and assigns it.
    pub fn post_from(&mut self, who: &Addr, reward: u128, spec: TaskSpec) -> AnyResult<u64> {
        let id = self.post_pending(who, reward, spec)?;
        self.assign(id)?;
        Ok(id)
    }

    /// Posts `spec` from a funded account in a new block (so that stake
    /// bonded before counts in its draw) and leaves it waiting for its beacon.
    pub fn post_pending(&mut self, who: &Addr, reward: u128, spec: TaskSpec) -> AnyResult<u64> {
        self.advance(5);
        let market = self.market.clone();
        let res = self.pay(
            who,
            &market,
            reward,
            &market::ReceiveMsg::PostTask(spec.clone()),
            &market::ExecuteMsg::PostTask(spec),
        )?;
        let id = res
            .events
            .iter()
            .flat_map(|e| e.attributes.iter())
            .find(|a| a.key == "task_id")
            .map(|a| a.value.parse().expect("task id"))
            .expect("post_task emits task_id");
        Ok(id)
    }

    /// Waits for the task's beacon round and assigns it with the beacon's
    /// signature, as any keeper would.
    pub fn assign(&mut self, task_id: u64) -> AnyResult<AppResponse> {
        let round = self.task(task_id).round;
        let at = self.beacon.config.round_time(round);
        let now = self.now().seconds();
        if now < at {
            self.advance(at - now);
        }
        let signature = Some(self.beacon.sign(round));
        let keeper = self.addr("keeper");
        self.app.execute_contract(
            keeper,
            self.market.clone(),
            &market::ExecuteMsg::Assign { task_id, signature },
            &[],
        )
    }

    /// Posts the default spec with replication `k`, spread over k distinct
    /// nodes where the pool allows it (see [`Suite::post_spread`]).
    pub fn post_simple_task(&mut self, buyer: &str, reward: u128, k: u8) -> AnyResult<u64> {
        let spec = self.spec(k);
        self.post_spread(buyer, reward, spec)
    }

    /// Posts `spec` at a time whose draw gives k distinct nodes, the shape
    /// hand-written examples reason about ("two agree, one cheats"). Votes
    /// are drawn with replacement, so a small pool often gives a node two;
    /// the test holds the beacon's secret key, so it can compute each
    /// round's draw before posting and wait for one that spreads (exactly
    /// what nobody without the key can do). Falls back to the next round's
    /// draw whatever it is after 200 rounds.
    pub fn post_spread(&mut self, buyer: &str, reward: u128, spec: TaskSpec) -> AnyResult<u64> {
        let who = self.fund(buyer, reward);
        // What stays fixed while we wait: the next task's id, the market's
        // parameters and what a vote of this task pays.
        let next_id = self.all_tasks().last().map_or(1, |t| t.id + 1);
        let params = self.market_config().params;
        let vote_pay = self.vote_pay_of(&spec, &who, reward, &params);
        for _ in 0..200 {
            if self.next_draw_spreads(&spec, &who, next_id, params.assign_delay, vote_pay) {
                break;
            }
            self.advance(3);
        }
        self.post_from(&who, reward, spec)
    }

    /// The market's configuration.
    pub fn market_config(&self) -> market::ConfigResponse {
        self.app
            .wrap()
            .query_wasm_smart(&self.market, &market::QueryMsg::Config {})
            .expect("market config")
    }

    /// What one vote of `spec` posted by `buyer` with `reward` would earn:
    /// the reward less the fee and today's royalties, over k.
    fn vote_pay_of(
        &self,
        spec: &TaskSpec,
        buyer: &Addr,
        reward: u128,
        params: &market::MarketParams,
    ) -> Uint128 {
        let mut hashes = vec![spec.plugin.clone()];
        hashes.extend(spec.models.iter().cloned());
        let quote: QuoteResponse = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.models,
                &models::QueryMsg::Quote {
                    buyer: buyer.to_string(),
                    hashes,
                },
            )
            .expect("quote");
        let reward = Uint128::new(reward);
        let fee = reward.multiply_ratio(params.protocol_fee_bps, BPS_DENOMINATOR);
        reward
            .saturating_sub(fee)
            .saturating_sub(quote.total)
            .multiply_ratio(1u128, u128::from(spec.k.max(1)))
    }

    /// Whether task `next_id`, posted by `buyer` in the next block, would
    /// draw k distinct nodes.
    fn next_draw_spreads(
        &self,
        spec: &TaskSpec,
        buyer: &Addr,
        next_id: u64,
        assign_delay: u64,
        vote_pay: Uint128,
    ) -> bool {
        let at = self.now().seconds() + 5 + assign_delay;
        let round = self.beacon.config.first_round_after(at);
        let randomness = beacon::randomness(self.beacon.sign(round).as_slice());
        let seed = clusterai_task_market::assign::seed(&randomness, self.market.as_str(), next_id);
        let drawn: registry::SelectedResponse = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.registry,
                &registry::QueryMsg::SelectNodes {
                    seed: HexBinary::from(seed),
                    k: spec.k,
                    requirements: spec.requirements.clone(),
                    exclude: vec![buyer.to_string()],
                    height: self.app.block_info().height + 1,
                    vote_pay,
                },
            )
            .expect("select nodes");
        drawn.nodes.len() == usize::from(spec.k)
    }

    /// `node` declines the task.
    pub fn decline(&mut self, node: &Addr, task_id: u64) -> AnyResult<AppResponse> {
        self.app.execute_contract(
            node.clone(),
            self.market.clone(),
            &market::ExecuteMsg::Decline { task_id },
            &[],
        )
    }

    /// The task-bound digest of `output` for a task (its seed must be set).
    pub fn digest_of(&self, task_id: u64, output: &[u8]) -> [u8; 32] {
        let seed: [u8; 32] = self
            .task(task_id)
            .seed
            .expect("an assigned task")
            .as_slice()
            .try_into()
            .expect("32 bytes");
        let mut h = [0u8; 32];
        h.copy_from_slice(&Sha256::digest(output));
        task_digest(&seed, &h)
    }

    /// Commits `digest` with `salt` for `node`.
    pub fn commit(
        &mut self,
        node: &Addr,
        task_id: u64,
        digest: [u8; 32],
        salt: [u8; 16],
    ) -> AnyResult<AppResponse> {
        let c = commitment(&digest, &salt, node.as_str());
        self.app.execute_contract(
            node.clone(),
            self.market.clone(),
            &market::ExecuteMsg::Commit {
                task_id,
                commitment: HexBinary::from(c),
            },
            &[],
        )
    }

    /// Reveals `digest` with `salt` for `node`.
    pub fn reveal(
        &mut self,
        node: &Addr,
        task_id: u64,
        digest: [u8; 32],
        salt: [u8; 16],
    ) -> AnyResult<AppResponse> {
        self.app.execute_contract(
            node.clone(),
            self.market.clone(),
            &market::ExecuteMsg::Reveal {
                task_id,
                digest: HexBinary::from(digest),
                salt: HexBinary::from(salt),
            },
            &[],
        )
    }

    /// Settles a task as the named caller.
    pub fn settle(&mut self, caller: &str, task_id: u64) -> AnyResult<AppResponse> {
        let who = self.addr(caller);
        self.app.execute_contract(
            who,
            self.market.clone(),
            &market::ExecuteMsg::Settle { task_id },
            &[],
        )
    }

    /// A task.
    pub fn task(&self, task_id: u64) -> TaskResponse {
        self.app
            .wrap()
            .query_wasm_smart(&self.market, &market::QueryMsg::Task { task_id })
            .expect("task")
    }

    /// The nodes of a task's current committee (the re-execution committee
    /// once there is one).
    pub fn committee(&self, task_id: u64) -> Vec<Addr> {
        let t = self.task(task_id);
        t.assignments
            .into_iter()
            .filter(|a| a.reexecution == t.reexecution)
            .map(|a| a.node)
            .collect()
    }

    /// The assigned nodes of a task with their votes.
    pub fn votes(&self, task_id: u64) -> Vec<(Addr, u8)> {
        self.task(task_id)
            .assignments
            .into_iter()
            .map(|a| (a.node, a.votes))
            .collect()
    }

    /// The assigned nodes of a task.
    pub fn assigned(&self, task_id: u64) -> Vec<Addr> {
        self.task(task_id)
            .assignments
            .into_iter()
            .map(|a| a.node)
            .collect()
    }

    /// Unclaimed task rewards of `who`.
    pub fn rewards(&self, who: &Addr) -> u128 {
        let r: Uint128 = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.market,
                &market::QueryMsg::Rewards {
                    address: who.to_string(),
                },
            )
            .expect("rewards");
        r.u128()
    }

    /// Every task.
    pub fn all_tasks(&self) -> Vec<TaskResponse> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let page: market::TasksResponse = self
                .app
                .wrap()
                .query_wasm_smart(
                    &self.market,
                    &market::QueryMsg::Tasks {
                        start_after: start,
                        limit: Some(100),
                    },
                )
                .expect("tasks");
            let Some(last) = page.tasks.last() else { break };
            start = Some(last.id);
            all.extend(page.tasks);
        }
        all
    }
}
