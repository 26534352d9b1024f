//! Entry points of the task market.

use crate::assign;
use crate::error::ContractError;
use crate::msg::{
    AssignedResponse, Assignment, ConfigResponse, ExecuteMsg, InstantiateMsg, MarketParams,
    MarketTotals, MigrateMsg, QueryMsg, ReceiveMsg, TaskInput, TaskResponse, TaskSpec, TaskStatus,
    TasksResponse,
};
use crate::state::{
    ASSIGNED, BODIES, Config, ENTROPY, NEXT_ID, REWARDS, Slot, TASKS, TOTALS, TaskBody, TaskState,
    TaskTerms, load_config, load_slot, load_task, load_terms, may_load_slot, may_load_task,
    save_config, save_slot, save_task, save_terms,
};
use clusterai_economy::asset::no_funds;
use clusterai_economy::commit::{MAX_SALT_LEN, MIN_SALT_LEN, commitment};
use clusterai_economy::config::{self, admin_config};
use clusterai_economy::hash::check_hash;
use clusterai_economy::migrate::migrate_version;
use clusterai_economy::models::{self, QuoteResponse};
use clusterai_economy::registry::{self, NodeOutcome, Outcome, SelectedResponse};
use clusterai_economy::{BPS_DENOMINATOR, page_limit};
use cosmwasm_std::{
    Addr, Binary, Deps, DepsMut, Env, HexBinary, MessageInfo, Order, Response, StdResult, Storage,
    Uint128, WasmMsg, from_json, to_json_binary,
};
use cw_storage_plus::Bound;
use cw20::Cw20ReceiveMsg;

/// cw2 name of this contract.
pub const CONTRACT_NAME: &str = "crates.io:clusterai-task-market";
/// cw2 version of this contract.
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Hard upper bound of k (bounds the gas of settlement).
pub const MAX_K_BOUND: u8 = 15;

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Instantiates the market.
pub fn instantiate(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    no_funds(&info)?;
    check_params(&msg.params)?;
    let admin = match msg.admin {
        Some(a) => deps.api.addr_validate(&a)?,
        None => info.sender.clone(),
    };
    let config = Config {
        admin,
        treasury: deps.api.addr_validate(&msg.treasury)?,
        denom: msg.denom.check(deps.api)?,
        registry: deps.api.addr_validate(&msg.registry)?,
        model_market: deps.api.addr_validate(&msg.model_market)?,
        params: msg.params,
    };
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    save_config(deps.storage, &config);
    NEXT_ID.save(deps.storage, &1)?;
    let entropy = assign::mix(
        env.block.chain_id.as_bytes(),
        env.contract.address.as_bytes(),
    );
    ENTROPY.save(deps.storage, &HexBinary::from(entropy))?;
    TOTALS.save(
        deps.storage,
        &MarketTotals {
            escrowed: Uint128::zero(),
            unclaimed_rewards: Uint128::zero(),
        },
    )?;
    Ok(Response::new().add_attribute("action", "instantiate"))
}

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Dispatches execute messages.
pub fn execute(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: ExecuteMsg,
) -> Result<Response, ContractError> {
    match msg {
        ExecuteMsg::PostTask(spec) => {
            let config = load_config(deps.storage)?;
            let reward = config.denom.native_payment(&info)?;
            execute_post(deps, env, config, info.sender, reward, spec)
        }
        ExecuteMsg::Receive(wrapper) => execute_receive(deps, env, info, wrapper),
        ExecuteMsg::Commit {
            task_id,
            commitment,
        } => {
            no_funds(&info)?;
            execute_commit(deps, env, info.sender, task_id, commitment)
        }
        ExecuteMsg::Reveal {
            task_id,
            digest,
            salt,
        } => {
            no_funds(&info)?;
            execute_reveal(deps, env, info.sender, task_id, digest, salt)
        }
        ExecuteMsg::Settle { task_id } => {
            no_funds(&info)?;
            execute_settle(deps, env, task_id)
        }
        ExecuteMsg::WithdrawRewards {} => {
            no_funds(&info)?;
            execute_withdraw(deps, info.sender)
        }
        ExecuteMsg::UpdateParams(params) => {
            no_funds(&info)?;
            let mut config: Config = admin_config(deps.storage, &info.sender, "update parameters")?;
            check_params(&params)?;
            config.params = params;
            save_config(deps.storage, &config);
            Ok(Response::new().add_attribute("action", "update_params"))
        }
        ExecuteMsg::UpdateAdmin { admin } => {
            no_funds(&info)?;
            config::update_admin::<Config, _>(deps, &info.sender, admin)
        }
        ExecuteMsg::UpdateTreasury { treasury } => {
            no_funds(&info)?;
            config::update_treasury::<Config, _>(deps, &info.sender, treasury)
        }
    }
}

fn check_params(p: &MarketParams) -> Result<(), ContractError> {
    let bad = |reason: String| Err(ContractError::InvalidParams { reason });
    if p.protocol_fee_bps >= BPS_DENOMINATOR {
        return bad("protocol_fee_bps must be below 10000".into());
    }
    if p.min_commit_period == 0 || p.min_commit_period > p.max_commit_period {
        return bad("need 0 < min_commit_period <= max_commit_period".into());
    }
    if p.reveal_period == 0 {
        return bad("reveal_period must be greater than zero".into());
    }
    if p.max_k == 0 || p.max_k > MAX_K_BOUND {
        return bad(format!("max_k must be 1 to {MAX_K_BOUND}"));
    }
    if p.max_candidates < u32::from(p.max_k) || p.max_candidates > clusterai_economy::MAX_LIMIT {
        return bad(format!(
            "max_candidates must be max_k to {}",
            clusterai_economy::MAX_LIMIT
        ));
    }
    if p.max_inline_input == 0 || p.max_inline_input > 64 * 1024 {
        return bad("max_inline_input must be 1 to 65536".into());
    }
    if p.max_models > 16 {
        return bad("max_models must be at most 16".into());
    }
    Ok(())
}

fn execute_receive(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    wrapper: Cw20ReceiveMsg,
) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let (amount, sender) = config.denom.cw20_payment(deps.api, &info, &wrapper)?;
    match from_json::<ReceiveMsg>(&wrapper.msg)? {
        ReceiveMsg::PostTask(spec) => execute_post(deps, env, config, sender, amount, spec),
    }
}

fn check_spec(env: &Env, p: &MarketParams, spec: &TaskSpec) -> Result<(), ContractError> {
    check_hash("plugin", &spec.plugin)?;
    match &spec.input {
        TaskInput::Hash { hash } => {
            check_hash("input", hash)?;
        }
        TaskInput::Inline { data } => {
            if data.is_empty() || data.len() > p.max_inline_input as usize {
                return Err(ContractError::InvalidInlineInput {
                    len: data.len(),
                    max: p.max_inline_input,
                });
            }
        }
    }
    if spec.models.len() > usize::from(p.max_models) {
        return Err(ContractError::TooManyModels {
            count: spec.models.len(),
            max: p.max_models,
        });
    }
    for (i, m) in spec.models.iter().enumerate() {
        check_hash("models", m)?;
        if spec.models[..i].contains(m) {
            return Err(ContractError::DuplicateModel { hash: m.to_hex() });
        }
    }
    if spec.k == 0 || spec.k > p.max_k {
        return Err(ContractError::InvalidK {
            k: spec.k,
            max_k: p.max_k,
        });
    }
    if let Some(ep) = &spec.requirements.execution_provider
        && (ep.is_empty() || ep.len() > 32)
    {
        return Err(ContractError::InvalidRequirements {
            reason: "execution_provider must be 1 to 32 bytes".into(),
        });
    }
    if spec.requirements.min_memory_mb == Some(0) {
        return Err(ContractError::InvalidRequirements {
            reason: "min_memory_mb must be greater than zero".into(),
        });
    }
    let now = env.block.time;
    if spec.commit_deadline <= now {
        return Err(ContractError::DeadlineInPast {
            deadline: spec.commit_deadline,
            now,
        });
    }
    let earliest = now.plus_seconds(p.min_commit_period);
    if spec.commit_deadline < earliest {
        return Err(ContractError::DeadlineTooSoon {
            deadline: spec.commit_deadline,
            earliest,
        });
    }
    let latest = now.plus_seconds(p.max_commit_period);
    if spec.commit_deadline > latest {
        return Err(ContractError::DeadlineTooFar {
            deadline: spec.commit_deadline,
            latest,
        });
    }
    Ok(())
}

fn fee_of(reward: Uint128, bps: u16) -> Uint128 {
    reward.multiply_ratio(bps, BPS_DENOMINATOR)
}

fn execute_post(
    deps: DepsMut,
    env: Env,
    config: Config,
    buyer: Addr,
    reward: Uint128,
    spec: TaskSpec,
) -> Result<Response, ContractError> {
    let p = &config.params;
    check_spec(&env, p, &spec)?;

    // Royalties are fixed now, so a creator's later raise never surprises this buyer.
    let mut hashes = Vec::with_capacity(1 + spec.models.len());
    hashes.push(spec.plugin.clone());
    hashes.extend(spec.models.iter().cloned());
    let quote: QuoteResponse = deps.querier.query_wasm_smart(
        &config.model_market,
        &models::QueryMsg::Quote {
            buyer: buyer.to_string(),
            hashes,
        },
    )?;
    if let Some(h) = quote.missing_licences.first() {
        return Err(ContractError::LicenceRequired { hash: h.to_hex() });
    }
    let fee = fee_of(reward, p.protocol_fee_bps);
    let needed = fee
        .checked_add(quote.total)
        .map_err(cosmwasm_std::StdError::from)?
        + Uint128::from(spec.k);
    if reward < needed {
        return Err(ContractError::RewardTooLow {
            reward,
            fee,
            royalties: quote.total,
            k: spec.k,
        });
    }

    let id = NEXT_ID.load(deps.storage)?;
    let entropy = ENTROPY.load(deps.storage)?;
    let seed = assign::seed(&env, id, &entropy);
    let selected: SelectedResponse = deps.querier.query_wasm_smart(
        &config.registry,
        &registry::QueryMsg::SelectNodes {
            seed: HexBinary::from(seed),
            k: spec.k,
            requirements: spec.requirements.clone(),
            exclude: Some(buyer.to_string()),
            limit: Some(p.max_candidates),
        },
    )?;
    let nodes = selected.nodes;
    if nodes.len() != usize::from(spec.k) {
        return Err(ContractError::NotEnoughNodes {
            eligible: selected.eligible as usize,
            k: spec.k,
        });
    }

    NEXT_ID.save(deps.storage, &(id + 1))?;
    ENTROPY.save(deps.storage, &HexBinary::from(assign::mix(&entropy, &seed)))?;
    for n in &nodes {
        save_slot(deps.storage, id, n, &Slot::default());
        ASSIGNED.save(deps.storage, (n, id), &())?;
    }
    let commit_deadline = spec.commit_deadline;
    let state = TaskState {
        k: spec.k,
        commits: 0,
        reveals: 0,
        commit_deadline,
        reveal_deadline: commit_deadline.plus_seconds(p.reveal_period),
        status: TaskStatus::Open,
    };
    save_task(deps.storage, id, &state);
    let terms = TaskTerms {
        buyer: buyer.clone(),
        reward,
        nodes: nodes.clone(),
        royalties: quote.shares,
    };
    save_terms(deps.storage, id, &terms);
    BODIES.save(
        deps.storage,
        id,
        &TaskBody {
            plugin: spec.plugin,
            input: spec.input,
            models: spec.models,
            posted_at: env.block.time,
            seed: HexBinary::from(seed),
        },
    )?;
    TOTALS.update(deps.storage, |mut t| -> StdResult<_> {
        t.escrowed += reward;
        Ok(t)
    })?;
    let assigned = nodes.iter().map(Addr::as_str).collect::<Vec<_>>().join(",");
    Ok(Response::new()
        .add_attribute("action", "post_task")
        .add_attribute("task_id", id.to_string())
        .add_attribute("buyer", buyer)
        .add_attribute("reward", reward)
        .add_attribute("assigned", assigned))
}

fn load_open(storage: &dyn Storage, task_id: u64) -> Result<TaskState, ContractError> {
    let task = may_load_task(storage, task_id)?.ok_or(ContractError::TaskNotFound { task_id })?;
    if task.status != TaskStatus::Open {
        return Err(ContractError::TaskClosed { task_id });
    }
    Ok(task)
}

fn load_assigned(storage: &dyn Storage, task_id: u64, node: &Addr) -> Result<Slot, ContractError> {
    may_load_slot(storage, task_id, node)?.ok_or_else(|| ContractError::NotAssigned {
        node: node.to_string(),
        task_id,
    })
}

fn execute_commit(
    deps: DepsMut,
    env: Env,
    node: Addr,
    task_id: u64,
    commitment: HexBinary,
) -> Result<Response, ContractError> {
    let mut task = load_open(deps.storage, task_id)?;
    let mut slot = load_assigned(deps.storage, task_id, &node)?;
    if env.block.time > task.commit_deadline {
        return Err(ContractError::CommitDeadlinePassed { task_id });
    }
    if slot.commitment.is_some() {
        return Err(ContractError::AlreadyCommitted { task_id });
    }
    check_hash("commitment", &commitment)?;
    slot.commitment = Some(commitment);
    save_slot(deps.storage, task_id, &node, &slot);
    task.commits += 1;
    save_task(deps.storage, task_id, &task);
    Ok(Response::new()
        .add_attribute("action", "commit")
        .add_attribute("task_id", task_id.to_string())
        .add_attribute("node", node))
}

fn execute_reveal(
    deps: DepsMut,
    env: Env,
    node: Addr,
    task_id: u64,
    digest: HexBinary,
    salt: HexBinary,
) -> Result<Response, ContractError> {
    let mut task = load_open(deps.storage, task_id)?;
    let mut slot = load_assigned(deps.storage, task_id, &node)?;
    let now = env.block.time;
    if now > task.reveal_deadline {
        return Err(ContractError::RevealDeadlinePassed { task_id });
    }
    if task.commits < task.k && now <= task.commit_deadline {
        return Err(ContractError::RevealNotOpen { task_id });
    }
    let Some(committed) = &slot.commitment else {
        return Err(ContractError::NoCommitment { task_id });
    };
    if slot.digest.is_some() {
        return Err(ContractError::AlreadyRevealed { task_id });
    }
    let d = check_hash("digest", &digest)?;
    if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
        return Err(ContractError::InvalidSalt {
            len: salt.len(),
            min: MIN_SALT_LEN,
            max: MAX_SALT_LEN,
        });
    }
    if commitment(&d, &salt, node.as_str()).as_slice() != committed.as_slice() {
        return Err(ContractError::CommitmentMismatch);
    }
    slot.digest = Some(digest);
    save_slot(deps.storage, task_id, &node, &slot);
    task.reveals += 1;
    save_task(deps.storage, task_id, &task);
    Ok(Response::new()
        .add_attribute("action", "reveal")
        .add_attribute("task_id", task_id.to_string())
        .add_attribute("node", node))
}

/// The digest revealed by a strict majority of the k assigned nodes, if any.
pub fn majority(k: u8, digests: &[Option<HexBinary>]) -> Option<HexBinary> {
    for d in digests.iter().flatten() {
        let count = digests.iter().filter(|x| x.as_ref() == Some(d)).count();
        if count * 2 > usize::from(k) {
            return Some(d.clone());
        }
    }
    None
}

fn execute_settle(deps: DepsMut, env: Env, task_id: u64) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let mut task = load_open(deps.storage, task_id)?;
    let now = env.block.time;
    let all_revealed = task.reveals == task.k;
    let nobody_committed = task.commits == 0 && now > task.commit_deadline;
    if !all_revealed && !nobody_committed && now <= task.reveal_deadline {
        return Err(ContractError::SettleTooEarly {
            task_id,
            settle_after: task.reveal_deadline,
        });
    }
    let terms = load_terms(deps.storage, task_id)?;
    let digests = terms
        .nodes
        .iter()
        .map(|n| load_slot(deps.storage, task_id, n).map(|s| s.digest))
        .collect::<StdResult<Vec<_>>>()?;
    let winner = majority(task.k, &digests);

    let mut outcomes = Vec::with_capacity(terms.nodes.len());
    let mut res = Response::new()
        .add_attribute("action", "settle")
        .add_attribute("task_id", task_id.to_string());
    let mut credited = Uint128::zero();
    match &winner {
        Some(w) => {
            let agreed: Vec<&Addr> = terms
                .nodes
                .iter()
                .zip(&digests)
                .filter(|(_, d)| d.as_ref() == Some(w))
                .map(|(n, _)| n)
                .collect();
            let royalties: Uint128 = terms.royalties.iter().map(|r| r.amount).sum();
            let fee = fee_of(terms.reward, config.params.protocol_fee_bps);
            let pool = terms.reward - fee - royalties;
            let per_node = pool.multiply_ratio(1u128, agreed.len() as u128);
            let dust = pool - per_node * Uint128::from(agreed.len() as u128);
            for n in &agreed {
                REWARDS.update(deps.storage, n, |r| -> StdResult<_> {
                    Ok(r.unwrap_or_default() + per_node)
                })?;
            }
            credited = per_node * Uint128::from(agreed.len() as u128);
            // The fee (and rounding dust) accrues to the treasury like a
            // node's reward: one ledger write instead of a transfer per task.
            let to_treasury = fee + dust;
            if !to_treasury.is_zero() {
                REWARDS.update(deps.storage, &config.treasury, |r| -> StdResult<_> {
                    Ok(r.unwrap_or_default() + to_treasury)
                })?;
                credited += to_treasury;
            }
            if !royalties.is_zero() {
                res = res.add_messages(config.denom.pay_and_call(
                    &config.model_market,
                    royalties,
                    &models::ExecuteMsg::RecordRoyalties {
                        task_id,
                        shares: terms.royalties.clone(),
                    },
                )?);
            }
            for (n, d) in terms.nodes.iter().zip(&digests) {
                let outcome = match d {
                    Some(d) if d == w => Outcome::Agreed,
                    Some(_) => Outcome::Wrong,
                    None => Outcome::Absent,
                };
                outcomes.push(NodeOutcome {
                    node: n.to_string(),
                    outcome,
                });
            }
            res = res
                .add_attribute("outcome", "settled")
                .add_attribute("digest", w.to_hex())
                .add_attribute("fee", to_treasury)
                .add_attribute("royalties", royalties)
                .add_attribute("per_node", per_node);
            task.status = TaskStatus::Settled { digest: w.clone() };
        }
        None => {
            // No strict majority: nobody can be called wrong, but silence is a fault.
            for (n, d) in terms.nodes.iter().zip(&digests) {
                if d.is_none() {
                    outcomes.push(NodeOutcome {
                        node: n.to_string(),
                        outcome: Outcome::Absent,
                    });
                }
            }
            res = res.add_message(config.denom.transfer(&terms.buyer, terms.reward)?);
            if task.reveals == 0 {
                task.status = TaskStatus::Expired;
                res = res.add_attribute("outcome", "expired");
            } else {
                task.status = TaskStatus::Disputed;
                res = res.add_attribute("outcome", "disputed");
            }
            res = res.add_attribute("refund", terms.reward);
        }
    }
    if !outcomes.is_empty() {
        res = res.add_message(WasmMsg::Execute {
            contract_addr: config.registry.to_string(),
            msg: to_json_binary(&registry::ExecuteMsg::ReportOutcomes { task_id, outcomes })?,
            funds: vec![],
        });
    }
    save_task(deps.storage, task_id, &task);
    TOTALS.update(deps.storage, |mut t| -> StdResult<_> {
        t.escrowed -= terms.reward;
        t.unclaimed_rewards += credited;
        Ok(t)
    })?;
    Ok(res)
}

fn execute_withdraw(deps: DepsMut, who: Addr) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let amount = REWARDS.may_load(deps.storage, &who)?.unwrap_or_default();
    if amount.is_zero() {
        return Err(ContractError::NothingToWithdraw);
    }
    REWARDS.remove(deps.storage, &who);
    TOTALS.update(deps.storage, |mut t| -> StdResult<_> {
        t.unclaimed_rewards -= amount;
        Ok(t)
    })?;
    Ok(Response::new()
        .add_message(config.denom.transfer(&who, amount)?)
        .add_attribute("action", "withdraw_rewards")
        .add_attribute("address", who)
        .add_attribute("amount", amount))
}

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Answers queries.
pub fn query(deps: Deps, _env: Env, msg: QueryMsg) -> StdResult<Binary> {
    match msg {
        QueryMsg::Config {} => {
            let c = load_config(deps.storage)?;
            to_json_binary(&ConfigResponse {
                admin: c.admin,
                treasury: c.treasury,
                denom: c.denom,
                registry: c.registry,
                model_market: c.model_market,
                params: c.params,
            })
        }
        QueryMsg::Task { task_id } => to_json_binary(&task_response(deps, task_id)?),
        QueryMsg::Tasks { start_after, limit } => {
            let ids = TASKS
                .keys(
                    deps.storage,
                    start_after.map(Bound::exclusive),
                    None,
                    Order::Ascending,
                )
                .take(page_limit(limit))
                .collect::<StdResult<Vec<_>>>()?;
            let tasks = ids
                .into_iter()
                .map(|id| task_response(deps, id))
                .collect::<StdResult<_>>()?;
            to_json_binary(&TasksResponse { tasks })
        }
        QueryMsg::Assigned {
            node,
            start_after,
            limit,
        } => {
            let node = deps.api.addr_validate(&node)?;
            let task_ids = ASSIGNED
                .prefix(&node)
                .keys(
                    deps.storage,
                    start_after.map(Bound::exclusive),
                    None,
                    Order::Ascending,
                )
                .take(page_limit(limit))
                .collect::<StdResult<_>>()?;
            to_json_binary(&AssignedResponse { task_ids })
        }
        QueryMsg::Rewards { address } => {
            let a = deps.api.addr_validate(&address)?;
            to_json_binary(&REWARDS.may_load(deps.storage, &a)?.unwrap_or_default())
        }
        QueryMsg::Totals {} => to_json_binary(&TOTALS.load(deps.storage)?),
    }
}

fn task_response(deps: Deps, id: u64) -> StdResult<TaskResponse> {
    let s = load_task(deps.storage, id)?;
    let b = BODIES.load(deps.storage, id)?;
    let t = load_terms(deps.storage, id)?;
    let assignments = t
        .nodes
        .iter()
        .map(|n| {
            load_slot(deps.storage, id, n).map(|slot| Assignment {
                node: n.clone(),
                commitment: slot.commitment,
                digest: slot.digest,
            })
        })
        .collect::<StdResult<_>>()?;
    Ok(TaskResponse {
        id,
        buyer: t.buyer,
        plugin: b.plugin,
        input: b.input,
        models: b.models,
        k: s.k,
        reward: t.reward,
        royalties: t.royalties,
        posted_at: b.posted_at,
        commit_deadline: s.commit_deadline,
        reveal_deadline: s.reveal_deadline,
        seed: b.seed,
        assignments,
        status: s.status,
    })
}

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Migrates from an older version of this contract.
pub fn migrate(deps: DepsMut, _env: Env, _msg: MigrateMsg) -> Result<Response, ContractError> {
    migrate_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    Ok(Response::new()
        .add_attribute("action", "migrate")
        .add_attribute("version", CONTRACT_VERSION))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> Option<HexBinary> {
        Some(HexBinary::from([b; 32]))
    }

    #[test]
    fn majority_is_strict_over_k() {
        assert_eq!(majority(3, &[h(1), h(1), h(2)]), h(1));
        assert_eq!(majority(3, &[h(1), h(2), None]), None);
        assert_eq!(majority(3, &[h(1), h(1), None]), h(1));
        assert_eq!(majority(4, &[h(1), h(1), h(2), h(2)]), None);
        assert_eq!(majority(2, &[h(1), None]), None);
        assert_eq!(majority(1, &[h(7)]), h(7));
        assert_eq!(majority(3, &[None, None, None]), None);
    }

    #[test]
    fn fee_rounds_down() {
        assert_eq!(fee_of(Uint128::new(999), 500), Uint128::new(49));
        assert_eq!(fee_of(Uint128::new(1_000_000), 500), Uint128::new(50_000));
    }
}
