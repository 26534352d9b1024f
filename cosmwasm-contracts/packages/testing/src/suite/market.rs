//! The task market: posting, commit/reveal, settlement and task queries.

use super::Suite;
use clusterai_economy::commit::commitment;
use clusterai_economy::market::{self, TaskInput, TaskResponse, TaskSpec};
use clusterai_economy::registry::Requirements;
use cosmwasm_std::{Addr, Binary, HexBinary, Uint128};
use cw_multi_test::error::AnyResult;
use cw_multi_test::{AppResponse, Executor};

impl Suite {
    /// A task spec with inline input, no models, commit window of 120 s.
    pub fn spec(&self, k: u8) -> TaskSpec {
        TaskSpec {
            plugin: HexBinary::from([0x11; 32]),
            input: TaskInput::Inline {
                data: Binary::from(b"hello".to_vec()),
            },
            models: vec![],
            k,
            commit_deadline: self.now().plus_seconds(120),
            requirements: Requirements::default(),
        }
    }

    /// Posts `spec` from the named buyer with `reward`, funding the buyer first.
    pub fn post(&mut self, buyer: &str, reward: u128, spec: TaskSpec) -> AnyResult<u64> {
        let who = self.fund(buyer, reward);
        self.post_from(&who, reward, spec)
    }

    /// Posts `spec` from an already funded account.
    pub fn post_from(&mut self, who: &Addr, reward: u128, spec: TaskSpec) -> AnyResult<u64> {
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

    /// Posts the default spec with replication `k`.
    pub fn post_simple_task(&mut self, buyer: &str, reward: u128, k: u8) -> AnyResult<u64> {
        let spec = self.spec(k);
        self.post(buyer, reward, spec)
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
