//! Entry points of the node registry.

use crate::error::ContractError;
use crate::msg::{
    Capabilities, Claim, ClaimsResponse, ConfigResponse, EligibleNode, EligibleResponse,
    ExecuteMsg, INITIAL_REPUTATION, InstantiateMsg, MAX_REPUTATION, MigrateMsg, NodeInfo,
    NodeResponse, NodesResponse, Outcome, QueryMsg, ReceiveMsg, RegistryParams, RegistryTotals,
    Requirements, SelectedResponse,
};
use crate::select::{self, ANY_POOL};
use crate::state::{
    BY_PROVIDER, CLAIMS, Config, INFO, MAX_CLAIMS, MAX_SCAN, NODES, Node, REPORTED, TOTALS,
    load_config, load_node, may_load_node, save_config, save_node,
};
use clusterai_economy::asset::no_funds;
use clusterai_economy::config::{self, admin_config};
use clusterai_economy::hash::check_hash;
use clusterai_economy::market::{self, OutcomesResponse};
use clusterai_economy::migrate::{check_layout, migrate_version, set_layout};
use clusterai_economy::{BPS_DENOMINATOR, MAX_TIME_PARAM, page_limit};
use cosmwasm_std::{
    Addr, Binary, Deps, DepsMut, Env, MessageInfo, Order, Response, StdError, StdResult, Storage,
    Timestamp, Uint128, from_json, to_json_binary,
};
use cw_storage_plus::Bound;
use cw20::Cw20ReceiveMsg;

/// cw2 name of this contract.
pub const CONTRACT_NAME: &str = "crates.io:clusterai-node-registry";
/// cw2 version of this contract.
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The layout of this contract's stored state (see `migrate`).
pub const STATE_LAYOUT: u32 = 2;

/// Most operators a draw may exclude (the buyer and a first committee).
pub const MAX_EXCLUDE: usize = 16;

/// Most execution providers a node may declare.
pub const MAX_PROVIDERS: usize = 8;

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Instantiates the registry.
pub fn instantiate(
    deps: DepsMut,
    _env: Env,
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
        task_market: None,
        params: msg.params,
    };
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    set_layout(deps.storage, STATE_LAYOUT);
    save_config(deps.storage, &config);
    TOTALS.save(
        deps.storage,
        &RegistryTotals {
            staked: Uint128::zero(),
            unbonding: Uint128::zero(),
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
        ExecuteMsg::Register(node) => {
            let config = load_config(deps.storage)?;
            let amount = config.denom.native_payment(&info)?;
            execute_register(deps, &env, &config, info.sender, amount, node)
        }
        ExecuteMsg::Stake {} => {
            let config = load_config(deps.storage)?;
            let amount = config.denom.native_payment(&info)?;
            execute_stake(deps, &env, &config, info.sender, amount)
        }
        ExecuteMsg::Receive(wrapper) => execute_receive(deps, env, info, wrapper),
        ExecuteMsg::UpdateNode {
            iroh_node_id,
            receipt_key,
            capabilities,
        } => {
            no_funds(&info)?;
            execute_update_node(
                deps,
                &env,
                info.sender,
                iroh_node_id,
                receipt_key,
                capabilities,
            )
        }
        ExecuteMsg::Unbond { amount } => {
            no_funds(&info)?;
            execute_unbond(deps, env, info.sender, amount)
        }
        ExecuteMsg::Claim {} => {
            no_funds(&info)?;
            execute_claim(deps, env, info.sender)
        }
        ExecuteMsg::ReportOutcomes {
            task_id,
            counts,
            vote_pay,
            outcomes,
        } => {
            no_funds(&info)?;
            let report = OutcomesResponse {
                counts,
                vote_pay,
                outcomes,
            };
            execute_report(deps, env, info.sender, task_id, report)
        }
        ExecuteMsg::Unjail {} => {
            no_funds(&info)?;
            execute_unjail(deps, env, info.sender)
        }
        ExecuteMsg::SetTaskMarket { address } => {
            no_funds(&info)?;
            let mut config: Config =
                admin_config(deps.storage, &info.sender, "set the task market")?;
            if let Some(set) = &config.task_market {
                return Err(ContractError::TaskMarketAlreadySet {
                    address: set.to_string(),
                });
            }
            config.task_market = Some(deps.api.addr_validate(&address)?);
            save_config(deps.storage, &config);
            Ok(Response::new()
                .add_attribute("action", "set_task_market")
                .add_attribute("task_market", address))
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

fn check_params(p: &RegistryParams) -> Result<(), ContractError> {
    let bad = |reason: &str| {
        Err(ContractError::InvalidParams {
            reason: reason.to_string(),
        })
    };
    if p.min_stake.is_zero() {
        return bad("min_stake must be greater than zero");
    }
    if p.fault_slash_bps > BPS_DENOMINATOR || p.absent_slash_bps > BPS_DENOMINATOR {
        return bad("slash shares are at most 10000 bps");
    }
    if p.absent_slash_bps > p.fault_slash_bps {
        return bad("absent_slash_bps must not exceed fault_slash_bps");
    }
    if p.wrong_penalty_bps > 10 * u32::from(BPS_DENOMINATOR) {
        return bad("wrong_penalty_bps is at most 100000");
    }
    if p.unbonding_period == 0 || p.unbonding_period > MAX_TIME_PARAM {
        return bad("unbonding_period must be 1 second to a year");
    }
    if p.jail_duration == 0 || p.jail_duration > MAX_TIME_PARAM {
        return bad("jail_duration must be 1 second to a year");
    }
    if p.jail_after_faults == 0 || p.jail_after_faults > 100 {
        return bad("jail_after_faults must be 1 to 100");
    }
    if p.reputation_reward > MAX_REPUTATION
        || p.reputation_fault_penalty > MAX_REPUTATION
        || p.reputation_absent_penalty > MAX_REPUTATION
    {
        return bad("reputation steps are at most 1000");
    }
    Ok(())
}

fn check_node_info(info: &NodeInfo) -> Result<(), ContractError> {
    check_hash("iroh_node_id", &info.iroh_node_id)?;
    check_hash("receipt_key", &info.receipt_key)?;
    check_capabilities(&info.capabilities)
}

fn check_capabilities(c: &Capabilities) -> Result<(), ContractError> {
    let bad = |reason: String| Err(ContractError::InvalidCapabilities { reason });
    if c.execution_providers.is_empty() || c.execution_providers.len() > MAX_PROVIDERS {
        return bad(format!("declare 1 to {MAX_PROVIDERS} execution providers"));
    }
    for (i, p) in c.execution_providers.iter().enumerate() {
        let ok = (1..=32).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return bad(format!(
                "execution provider {p:?} must be 1 to 32 of [a-z0-9_-]"
            ));
        }
        if c.execution_providers[..i].contains(p) {
            return bad(format!("execution provider {p:?} is listed twice"));
        }
    }
    if c.memory_mb == 0 {
        return bad("memory_mb must be greater than zero".to_string());
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
        ReceiveMsg::Register(node) => execute_register(deps, &env, &config, sender, amount, node),
        ReceiveMsg::Stake {} => execute_stake(deps, &env, &config, sender, amount),
    }
}

/// The weight `node` should have in the draw: its stake while that is at
/// least the minimum and it is not jailed.
fn target_weight(node: &Node, params: &RegistryParams) -> Uint128 {
    if node.jailed_until.is_none() && node.stake >= params.min_stake {
        node.stake
    } else {
        Uint128::zero()
    }
}

/// Brings `node`'s weight in every pool it belongs to (`providers` and the
/// pool of all nodes) in line with its stake and standing.
fn reweigh(
    storage: &mut dyn Storage,
    env: &Env,
    operator: &Addr,
    node: &mut Node,
    providers: &[String],
    params: &RegistryParams,
) -> StdResult<()> {
    let new = target_weight(node, params);
    if new == node.weight {
        return Ok(());
    }
    let height = env.block.height;
    select::set_weight(storage, ANY_POOL, operator, node.weight, new, height)?;
    for p in providers {
        select::set_weight(storage, p, operator, node.weight, new, height)?;
    }
    node.weight = new;
    Ok(())
}

/// [`reweigh`] with the providers read from the node's registration.
fn reweigh_registered(
    storage: &mut dyn Storage,
    env: &Env,
    operator: &Addr,
    node: &mut Node,
    params: &RegistryParams,
) -> StdResult<()> {
    if target_weight(node, params) == node.weight {
        return Ok(());
    }
    let info = INFO.load(storage, operator)?;
    reweigh(
        storage,
        env,
        operator,
        node,
        &info.capabilities.execution_providers,
        params,
    )
}

fn execute_register(
    deps: DepsMut,
    env: &Env,
    config: &Config,
    operator: Addr,
    amount: Uint128,
    info: NodeInfo,
) -> Result<Response, ContractError> {
    if may_load_node(deps.storage, &operator)?.is_some() {
        return Err(ContractError::AlreadyRegistered {
            operator: operator.to_string(),
        });
    }
    check_node_info(&info)?;
    if amount < config.params.min_stake {
        return Err(ContractError::StakeBelowMinimum {
            min_stake: config.params.min_stake,
            stake: amount,
        });
    }
    for p in &info.capabilities.execution_providers {
        BY_PROVIDER.save(deps.storage, (p, &operator), &())?;
    }
    let mut node = Node {
        memory_mb: info.capabilities.memory_mb,
        stake: amount,
        reputation: INITIAL_REPUTATION,
        consecutive_faults: 0,
        jailed_until: None,
        tasks_agreed: 0,
        tasks_wrong: 0,
        tasks_withheld: 0,
        tasks_absent: 0,
        slashed_total: Uint128::zero(),
        weight: Uint128::zero(),
    };
    reweigh(
        deps.storage,
        env,
        &operator,
        &mut node,
        &info.capabilities.execution_providers,
        &config.params,
    )?;
    INFO.save(deps.storage, &operator, &info)?;
    save_node(deps.storage, &operator, &node);
    TOTALS.update(deps.storage, |mut t| -> StdResult<_> {
        t.staked += amount;
        Ok(t)
    })?;
    Ok(Response::new()
        .add_attribute("action", "register")
        .add_attribute("operator", operator)
        .add_attribute("stake", amount))
}

fn execute_stake(
    deps: DepsMut,
    env: &Env,
    config: &Config,
    operator: Addr,
    amount: Uint128,
) -> Result<Response, ContractError> {
    let mut node =
        may_load_node(deps.storage, &operator)?.ok_or_else(|| ContractError::NotRegistered {
            operator: operator.to_string(),
        })?;
    let new_stake = node.stake + amount;
    if new_stake < config.params.min_stake {
        return Err(ContractError::StakeBelowMinimum {
            min_stake: config.params.min_stake,
            stake: new_stake,
        });
    }
    node.stake = new_stake;
    reweigh_registered(deps.storage, env, &operator, &mut node, &config.params)?;
    save_node(deps.storage, &operator, &node);
    TOTALS.update(deps.storage, |mut t| -> StdResult<_> {
        t.staked += amount;
        Ok(t)
    })?;
    Ok(Response::new()
        .add_attribute("action", "stake")
        .add_attribute("operator", operator)
        .add_attribute("stake", new_stake))
}

fn execute_update_node(
    deps: DepsMut,
    env: &Env,
    operator: Addr,
    iroh_node_id: Option<cosmwasm_std::HexBinary>,
    receipt_key: Option<cosmwasm_std::HexBinary>,
    capabilities: Option<Capabilities>,
) -> Result<Response, ContractError> {
    if iroh_node_id.is_none() && receipt_key.is_none() && capabilities.is_none() {
        return Err(ContractError::NothingToUpdate);
    }
    let mut info =
        INFO.may_load(deps.storage, &operator)?
            .ok_or_else(|| ContractError::NotRegistered {
                operator: operator.to_string(),
            })?;
    if let Some(id) = iroh_node_id {
        check_hash("iroh_node_id", &id)?;
        info.iroh_node_id = id;
    }
    if let Some(key) = receipt_key {
        check_hash("receipt_key", &key)?;
        info.receipt_key = key;
    }
    if let Some(caps) = capabilities {
        check_capabilities(&caps)?;
        let mut node = load_node(deps.storage, &operator)?;
        let height = env.block.height;
        for p in &info.capabilities.execution_providers {
            BY_PROVIDER.remove(deps.storage, (p, &operator));
            if !caps.execution_providers.contains(p) {
                select::set_weight(
                    deps.storage,
                    p,
                    &operator,
                    node.weight,
                    Uint128::zero(),
                    height,
                )?;
            }
        }
        for p in &caps.execution_providers {
            BY_PROVIDER.save(deps.storage, (p, &operator), &())?;
            if !info.capabilities.execution_providers.contains(p) {
                select::set_weight(
                    deps.storage,
                    p,
                    &operator,
                    Uint128::zero(),
                    node.weight,
                    height,
                )?;
            }
        }
        node.memory_mb = caps.memory_mb;
        save_node(deps.storage, &operator, &node);
        info.capabilities = caps;
    }
    INFO.save(deps.storage, &operator, &info)?;
    Ok(Response::new()
        .add_attribute("action", "update_node")
        .add_attribute("operator", operator))
}

fn execute_unbond(
    deps: DepsMut,
    env: Env,
    operator: Addr,
    amount: Uint128,
) -> Result<Response, ContractError> {
    if amount.is_zero() {
        return Err(ContractError::ZeroAmount);
    }
    let config = load_config(deps.storage)?;
    let mut node =
        may_load_node(deps.storage, &operator)?.ok_or_else(|| ContractError::NotRegistered {
            operator: operator.to_string(),
        })?;
    if amount > node.stake {
        return Err(ContractError::InsufficientStake {
            stake: node.stake,
            requested: amount,
        });
    }
    let remaining = node.stake - amount;
    if !remaining.is_zero() && remaining < config.params.min_stake {
        return Err(ContractError::StakeBelowMinimum {
            min_stake: config.params.min_stake,
            stake: remaining,
        });
    }
    let mut claims = CLAIMS
        .may_load(deps.storage, &operator)?
        .unwrap_or_default();
    if claims.len() >= MAX_CLAIMS {
        return Err(ContractError::TooManyClaims { max: MAX_CLAIMS });
    }
    let release_at = env.block.time.plus_seconds(config.params.unbonding_period);
    claims.push(Claim { amount, release_at });
    CLAIMS.save(deps.storage, &operator, &claims)?;
    node.stake = remaining;
    reweigh_registered(deps.storage, &env, &operator, &mut node, &config.params)?;
    save_node(deps.storage, &operator, &node);
    TOTALS.update(deps.storage, |mut t| -> StdResult<_> {
        t.staked -= amount;
        t.unbonding += amount;
        Ok(t)
    })?;
    Ok(Response::new()
        .add_attribute("action", "unbond")
        .add_attribute("operator", operator)
        .add_attribute("amount", amount)
        .add_attribute("release_at", release_at.seconds().to_string()))
}

fn execute_claim(deps: DepsMut, env: Env, operator: Addr) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let claims = CLAIMS
        .may_load(deps.storage, &operator)?
        .unwrap_or_default();
    let (ripe, pending): (Vec<Claim>, Vec<Claim>) = claims
        .into_iter()
        .partition(|c| c.release_at <= env.block.time);
    let amount: Uint128 = ripe.iter().map(|c| c.amount).sum();
    if amount.is_zero() {
        return Err(ContractError::NothingToClaim);
    }
    if pending.is_empty() {
        CLAIMS.remove(deps.storage, &operator);
    } else {
        CLAIMS.save(deps.storage, &operator, &pending)?;
    }
    TOTALS.update(deps.storage, |mut t| -> StdResult<_> {
        t.unbonding -= amount;
        Ok(t)
    })?;
    Ok(Response::new()
        .add_message(config.denom.transfer(&operator, amount)?)
        .add_attribute("action", "claim")
        .add_attribute("operator", operator)
        .add_attribute("amount", amount))
}

/// The least a wrong or withheld answer with `votes` votes forfeits:
/// `wrong_penalty_bps` of what the votes would have earned.
fn penalty(p: &RegistryParams, vote_pay: Uint128, votes: u8) -> Uint128 {
    vote_pay
        .multiply_ratio(p.wrong_penalty_bps, BPS_DENOMINATOR)
        .saturating_mul(Uint128::from(votes))
}

/// The stake a node needs to be drawn for a task of k votes that pay
/// `vote_pay` each: enough to cover the penalty of the most votes a losing
/// minority can hold, (k - 1) / 2 (none for k = 1, which nobody outvotes).
fn stake_needed(p: &RegistryParams, vote_pay: Uint128, k: u8) -> Uint128 {
    penalty(p, vote_pay, k / 2).max(p.min_stake)
}

/// Slashes `bps` of everything the node has at stake, and at least
/// `at_least` of it (bonded stake, then unbonding claims, newest first, so
/// that unbonding does not dodge a slash).
fn slash(
    storage: &mut dyn Storage,
    operator: &Addr,
    node: &mut Node,
    bps: u16,
    at_least: Uint128,
) -> StdResult<Uint128> {
    let mut claims = CLAIMS.may_load(storage, operator)?.unwrap_or_default();
    let unbonding: Uint128 = claims.iter().map(|c| c.amount).sum();
    let at_stake = node.stake.checked_add(unbonding)?;
    let amount = at_stake
        .multiply_ratio(bps, BPS_DENOMINATOR)
        .max(at_least)
        .min(at_stake);
    let from_stake = amount.min(node.stake);
    node.stake = node.stake.checked_sub(from_stake)?;
    let mut from_claims = amount.checked_sub(from_stake)?;
    let taken_from_claims = from_claims;
    for c in claims.iter_mut().rev() {
        let take = from_claims.min(c.amount);
        c.amount = c.amount.checked_sub(take)?;
        from_claims = from_claims.checked_sub(take)?;
    }
    claims.retain(|c| !c.amount.is_zero());
    if claims.is_empty() {
        CLAIMS.remove(storage, operator);
    } else {
        CLAIMS.save(storage, operator, &claims)?;
    }
    node.slashed_total = node.slashed_total.saturating_add(amount);
    TOTALS.update(storage, |mut t| -> StdResult<_> {
        t.staked = t.staked.checked_sub(from_stake)?;
        t.unbonding = t.unbonding.checked_sub(taken_from_claims)?;
        Ok(t)
    })?;
    Ok(amount)
}

fn fault(node: &mut Node, penalty: u32, params: &RegistryParams, now: Timestamp) {
    node.reputation = node.reputation.saturating_sub(penalty);
    node.consecutive_faults = node.consecutive_faults.saturating_add(1);
    if params.jail_after_faults > 0 && node.consecutive_faults >= params.jail_after_faults {
        node.jailed_until = Some(now.plus_seconds(params.jail_duration));
        node.consecutive_faults = 0;
    }
}

fn execute_report(
    deps: DepsMut,
    env: Env,
    sender: Addr,
    task_id: u64,
    report: OutcomesResponse,
) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let Some(market) = config.task_market.as_ref().filter(|m| **m == sender) else {
        return Err(ContractError::NotTaskMarket);
    };
    if REPORTED.has(deps.storage, task_id) {
        return Err(ContractError::AlreadyReported { task_id });
    }
    // The market's own state must show the task closed: a report of a task
    // that does not exist or is still open is refused. (A raw read of its
    // record: no contract call.)
    let record = deps
        .querier
        .query_wasm_raw(market, market::task_state_key(task_id))?;
    if !record.is_some_and(|r| market::task_record_closed(&r)) {
        return Err(ContractError::TaskNotClosed { task_id });
    }
    let mut seen: Vec<&str> = Vec::with_capacity(report.outcomes.len());
    for o in &report.outcomes {
        if seen.contains(&o.node.as_str()) {
            return Err(ContractError::DuplicateOutcome {
                node: o.node.clone(),
            });
        }
        seen.push(&o.node);
    }
    REPORTED.save(deps.storage, task_id, &())?;
    let p = &config.params;
    let mut slashed = Uint128::zero();
    for o in &report.outcomes {
        let operator = deps.api.addr_validate(&o.node)?;
        let Some(mut node) = may_load_node(deps.storage, &operator)? else {
            continue;
        };
        match o.outcome {
            Outcome::Agreed => {
                // Tasks too small to count (k, reward, pool) earn no
                // reputation and clear no faults: posting them to oneself
                // buys nothing.
                if report.counts {
                    node.reputation = node
                        .reputation
                        .saturating_add(p.reputation_reward)
                        .min(MAX_REPUTATION);
                    node.consecutive_faults = 0;
                    node.tasks_agreed += 1;
                }
            }
            Outcome::Wrong | Outcome::Withheld => {
                // Withholding must never beat revealing a losing answer.
                let at_least = penalty(p, report.vote_pay, o.votes);
                let taken = slash(
                    deps.storage,
                    &operator,
                    &mut node,
                    p.fault_slash_bps,
                    at_least,
                )?;
                slashed = slashed.checked_add(taken).map_err(StdError::from)?;
                fault(&mut node, p.reputation_fault_penalty, p, env.block.time);
                if o.outcome == Outcome::Wrong {
                    node.tasks_wrong += 1;
                } else {
                    node.tasks_withheld += 1;
                }
            }
            Outcome::Absent => {
                let none = Uint128::zero();
                let taken = slash(deps.storage, &operator, &mut node, p.absent_slash_bps, none)?;
                slashed = slashed.checked_add(taken).map_err(StdError::from)?;
                fault(&mut node, p.reputation_absent_penalty, p, env.block.time);
                node.tasks_absent += 1;
            }
        }
        reweigh_registered(deps.storage, &env, &operator, &mut node, p)?;
        save_node(deps.storage, &operator, &node);
    }
    let mut res = Response::new()
        .add_attribute("action", "report_outcomes")
        .add_attribute("task_id", task_id.to_string())
        .add_attribute("slashed", slashed);
    if !slashed.is_zero() {
        res = res.add_message(config.denom.transfer(&config.treasury, slashed)?);
    }
    Ok(res)
}

fn execute_unjail(deps: DepsMut, env: Env, operator: Addr) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let mut node =
        may_load_node(deps.storage, &operator)?.ok_or_else(|| ContractError::NotRegistered {
            operator: operator.to_string(),
        })?;
    match node.jailed_until {
        None => {
            return Err(ContractError::NotJailed {
                operator: operator.to_string(),
            });
        }
        Some(until) if until > env.block.time => {
            return Err(ContractError::StillJailed {
                operator: operator.to_string(),
                until,
            });
        }
        Some(_) => node.jailed_until = None,
    }
    reweigh_registered(deps.storage, &env, &operator, &mut node, &config.params)?;
    save_node(deps.storage, &operator, &node);
    Ok(Response::new()
        .add_attribute("action", "unjail")
        .add_attribute("operator", operator)
        .add_attribute("weight", node.weight))
}

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Answers queries.
pub fn query(deps: Deps, env: Env, msg: QueryMsg) -> StdResult<Binary> {
    match msg {
        QueryMsg::Config {} => {
            let c = load_config(deps.storage)?;
            to_json_binary(&ConfigResponse {
                admin: c.admin,
                treasury: c.treasury,
                denom: c.denom,
                task_market: c.task_market,
                params: c.params,
            })
        }
        QueryMsg::Node { operator } => {
            let operator = deps.api.addr_validate(&operator)?;
            let node = load_node(deps.storage, &operator)?;
            to_json_binary(&node_response(deps, operator, node)?)
        }
        QueryMsg::Nodes { start_after, limit } => {
            let start = start_after
                .map(|s| deps.api.addr_validate(&s))
                .transpose()?;
            let nodes = NODES
                .keys(
                    deps.storage,
                    start.as_ref().map(Bound::exclusive),
                    None,
                    Order::Ascending,
                )
                .take(page_limit(limit))
                .map(|r| {
                    r.and_then(|a| {
                        load_node(deps.storage, &a).and_then(|n| node_response(deps, a, n))
                    })
                })
                .collect::<StdResult<_>>()?;
            to_json_binary(&NodesResponse { nodes })
        }
        QueryMsg::NodesByProvider {
            provider,
            start_after,
            limit,
        } => {
            let start = start_after
                .map(|s| deps.api.addr_validate(&s))
                .transpose()?;
            let nodes = BY_PROVIDER
                .prefix(&provider)
                .keys(
                    deps.storage,
                    start.as_ref().map(Bound::exclusive),
                    None,
                    Order::Ascending,
                )
                .take(page_limit(limit))
                .map(|r| {
                    r.and_then(|a| {
                        load_node(deps.storage, &a).and_then(|n| node_response(deps, a, n))
                    })
                })
                .collect::<StdResult<_>>()?;
            to_json_binary(&NodesResponse { nodes })
        }
        QueryMsg::Eligible {
            requirements,
            exclude,
            start_after,
            limit,
        } => to_json_binary(&EligibleResponse {
            nodes: eligible(deps, &env, &requirements, exclude, start_after, limit)?,
        }),
        QueryMsg::SelectNodes {
            seed,
            k,
            requirements,
            exclude,
            height,
            vote_pay,
        } => to_json_binary(&select_nodes(
            deps,
            &seed,
            k,
            &requirements,
            exclude,
            height,
            vote_pay,
        )?),
        QueryMsg::Claims { operator } => {
            let operator = deps.api.addr_validate(&operator)?;
            let claims = CLAIMS
                .may_load(deps.storage, &operator)?
                .unwrap_or_default();
            to_json_binary(&ClaimsResponse { claims })
        }
        QueryMsg::Totals {} => to_json_binary(&TOTALS.load(deps.storage)?),
    }
}

fn node_response(deps: Deps, operator: Addr, n: Node) -> StdResult<NodeResponse> {
    let info = INFO.load(deps.storage, &operator)?;
    Ok(NodeResponse {
        operator,
        info,
        stake: n.stake,
        reputation: n.reputation,
        consecutive_faults: n.consecutive_faults,
        jailed_until: n.jailed_until,
        tasks_agreed: n.tasks_agreed,
        tasks_wrong: n.tasks_wrong,
        tasks_withheld: n.tasks_withheld,
        tasks_absent: n.tasks_absent,
        slashed_total: n.slashed_total,
        weight: n.weight,
    })
}

fn select_nodes(
    deps: Deps,
    seed: &[u8],
    k: u8,
    req: &Requirements,
    exclude: Vec<String>,
    height: u64,
    vote_pay: Uint128,
) -> StdResult<SelectedResponse> {
    let config = load_config(deps.storage)?;
    let needed = stake_needed(&config.params, vote_pay, k);
    if exclude.len() > MAX_EXCLUDE {
        return Err(StdError::generic_err(format!(
            "at most {MAX_EXCLUDE} operators may be excluded from a draw"
        )));
    }
    let exclude = exclude
        .iter()
        .map(|s| deps.api.addr_validate(s))
        .collect::<StdResult<Vec<_>>>()?;
    let pool = req.execution_provider.as_deref().unwrap_or(ANY_POOL);
    let (nodes, eligible) = select::draw(deps.storage, pool, height, seed, k, |a| {
        if exclude.contains(a) {
            return Ok(false);
        }
        let n = load_node(deps.storage, a)?;
        Ok(n.jailed_until.is_none()
            && n.stake >= needed
            && req.min_memory_mb.is_none_or(|m| n.memory_mb >= m)
            && (pool == ANY_POOL || BY_PROVIDER.has(deps.storage, (pool, a))))
    })?;
    Ok(SelectedResponse { nodes, eligible })
}

fn eligible(
    deps: Deps,
    env: &Env,
    req: &Requirements,
    exclude: Option<String>,
    start_after: Option<String>,
    limit: Option<u32>,
) -> StdResult<Vec<EligibleNode>> {
    let config = load_config(deps.storage)?;
    let start = start_after
        .map(|s| deps.api.addr_validate(&s))
        .transpose()?;
    let exclude = exclude.map(|s| deps.api.addr_validate(&s)).transpose()?;
    let limit = page_limit(limit);
    let now = env.block.time;
    let ok = |a: &Addr, n: &Node| {
        n.stake >= config.params.min_stake
            && !n.weight.is_zero()
            && n.jailed_until.is_none_or(|t| t <= now)
            && req.min_memory_mb.is_none_or(|m| n.memory_mb >= m)
            && exclude.as_ref() != Some(a)
    };
    let candidates: Box<dyn Iterator<Item = StdResult<(Addr, Node)>>> =
        match &req.execution_provider {
            Some(p) => Box::new(
                BY_PROVIDER
                    .prefix(p)
                    .keys(
                        deps.storage,
                        start.as_ref().map(Bound::exclusive),
                        None,
                        Order::Ascending,
                    )
                    .map(|r| r.and_then(|a| load_node(deps.storage, &a).map(|n| (a, n)))),
            ),
            None => Box::new(
                NODES
                    .keys(
                        deps.storage,
                        start.as_ref().map(Bound::exclusive),
                        None,
                        Order::Ascending,
                    )
                    .map(|r| r.and_then(|a| load_node(deps.storage, &a).map(|n| (a, n)))),
            ),
        };
    let mut nodes = Vec::new();
    for item in candidates.take(MAX_SCAN) {
        let (a, n) = item?;
        if ok(&a, &n) {
            nodes.push(EligibleNode {
                operator: a,
                stake: n.stake,
                reputation: n.reputation,
            });
            if nodes.len() == limit {
                break;
            }
        }
    }
    Ok(nodes)
}

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Migrates from an older version of this contract.
pub fn migrate(deps: DepsMut, _env: Env, _msg: MigrateMsg) -> Result<Response, ContractError> {
    check_layout(deps.storage, STATE_LAYOUT)?;
    migrate_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    Ok(Response::new()
        .add_attribute("action", "migrate")
        .add_attribute("version", CONTRACT_VERSION))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterai_economy::asset::PaymentDenom;
    use cosmwasm_std::testing::{message_info, mock_dependencies, mock_env};

    fn params() -> RegistryParams {
        RegistryParams {
            min_stake: Uint128::new(100),
            unbonding_period: 10,
            fault_slash_bps: 1_000,
            absent_slash_bps: 100,
            wrong_penalty_bps: 20_000,
            jail_after_faults: 2,
            jail_duration: 10,
            reputation_reward: 10,
            reputation_fault_penalty: 100,
            reputation_absent_penalty: 50,
        }
    }

    #[test]
    fn outcome_reports_are_for_the_market_only_and_the_link_is_set_once() {
        let mut deps = mock_dependencies();
        let api = deps.api;
        let admin = api.addr_make("admin");
        let market = api.addr_make("market");
        let msg = InstantiateMsg {
            admin: None,
            treasury: api.addr_make("treasury").to_string(),
            denom: PaymentDenom::Native {
                denom: "uclai".into(),
            },
            params: params(),
        };
        instantiate(deps.as_mut(), mock_env(), message_info(&admin, &[]), msg).unwrap();
        let report = ExecuteMsg::ReportOutcomes {
            task_id: 1,
            counts: true,
            vote_pay: Uint128::new(10),
            outcomes: vec![],
        };
        // Before the market is set, nobody may report.
        assert_eq!(
            execute(
                deps.as_mut(),
                mock_env(),
                message_info(&market, &[]),
                report.clone()
            ),
            Err(ContractError::NotTaskMarket)
        );
        let set = |address: &Addr| ExecuteMsg::SetTaskMarket {
            address: address.to_string(),
        };
        execute(
            deps.as_mut(),
            mock_env(),
            message_info(&admin, &[]),
            set(&market),
        )
        .unwrap();
        // The admin cannot repoint the link at a contract of its own.
        let rogue = api.addr_make("rogue");
        assert_eq!(
            execute(
                deps.as_mut(),
                mock_env(),
                message_info(&admin, &[]),
                set(&rogue)
            ),
            Err(ContractError::TaskMarketAlreadySet {
                address: market.to_string()
            })
        );
        assert_eq!(
            execute(deps.as_mut(), mock_env(), message_info(&rogue, &[]), report),
            Err(ContractError::NotTaskMarket)
        );
    }

    #[test]
    fn select_nodes_draws_k_votes_from_the_pool_as_it_stood() {
        let mut deps = mock_dependencies();
        let api = deps.api;
        let admin = api.addr_make("admin");
        let msg = InstantiateMsg {
            admin: None,
            treasury: api.addr_make("treasury").to_string(),
            denom: PaymentDenom::Native {
                denom: "uclai".into(),
            },
            params: params(),
        };
        let env = mock_env();
        instantiate(deps.as_mut(), env.clone(), message_info(&admin, &[]), msg).unwrap();
        let names = ["n0", "n1", "n2", "n3"];
        for (i, name) in names.iter().enumerate() {
            let op = api.addr_make(name);
            let reg = ExecuteMsg::Register(NodeInfo {
                iroh_node_id: cosmwasm_std::HexBinary::from([i as u8 + 1; 32]),
                receipt_key: cosmwasm_std::HexBinary::from([i as u8 + 11; 32]),
                capabilities: Capabilities {
                    execution_providers: vec!["cpu".into()],
                    memory_mb: 1024 * (i as u64 + 1),
                },
            });
            let funds = cosmwasm_std::coins(100 + i as u128, "uclai");
            execute(deps.as_mut(), env.clone(), message_info(&op, &funds), reg).unwrap();
        }
        let select = |k: u8, min_memory_mb: Option<u64>, height: u64| -> SelectedResponse {
            let q = QueryMsg::SelectNodes {
                seed: cosmwasm_std::HexBinary::from([7u8; 32]),
                k,
                requirements: Requirements {
                    execution_provider: Some("cpu".into()),
                    min_memory_mb,
                },
                exclude: vec![api.addr_make("n0").to_string()],
                height,
                vote_pay: Uint128::new(10),
            };
            cosmwasm_std::from_json(query(deps.as_ref(), mock_env(), q).unwrap()).unwrap()
        };
        let next = env.block.height + 1;
        let got = select(3, None, next);
        assert_eq!(got.eligible, 4);
        assert_eq!(got.nodes.iter().map(|n| u32::from(n.votes)).sum::<u32>(), 3);
        assert!(got.nodes.iter().all(|n| n.operator != api.addr_make("n0")));
        // The same seed draws the same nodes.
        assert_eq!(select(3, None, next), got);
        // Only n3 has 4 GiB: every vote is its.
        let big = select(3, Some(4 * 1024), next);
        assert_eq!(big.nodes.len(), 1);
        assert_eq!(big.nodes[0].votes, 3);
        // Nobody has 5 GiB: nothing drawn.
        assert!(select(3, Some(5 * 1024), next).nodes.is_empty());
        // At the start of the block they registered in, the pool was empty.
        let before = select(1, None, env.block.height);
        assert_eq!((before.eligible, before.nodes.len()), (0, 0));
    }

    #[test]
    fn slashing_takes_bonded_stake_then_the_newest_claims() {
        let mut deps = mock_dependencies();
        let operator = deps.api.addr_make("node");
        TOTALS
            .save(
                deps.as_mut().storage,
                &RegistryTotals {
                    staked: Uint128::new(100),
                    unbonding: Uint128::new(900),
                },
            )
            .unwrap();
        let claims = vec![
            Claim {
                amount: Uint128::new(400),
                release_at: Timestamp::from_seconds(1),
            },
            Claim {
                amount: Uint128::new(500),
                release_at: Timestamp::from_seconds(2),
            },
        ];
        CLAIMS
            .save(deps.as_mut().storage, &operator, &claims)
            .unwrap();
        let mut node = Node {
            memory_mb: 1,
            stake: Uint128::new(100),
            reputation: 500,
            consecutive_faults: 0,
            jailed_until: None,
            tasks_agreed: 0,
            tasks_wrong: 0,
            tasks_withheld: 0,
            tasks_absent: 0,
            slashed_total: Uint128::zero(),
            weight: Uint128::zero(),
        };
        // 60 % of 1 000 at stake: 100 bonded, then 500 from the newest claim.
        let none = Uint128::zero();
        let slashed = slash(deps.as_mut().storage, &operator, &mut node, 6_000, none).unwrap();
        assert_eq!(slashed, Uint128::new(600));
        assert_eq!(node.stake, Uint128::zero());
        let left = CLAIMS.load(deps.as_ref().storage, &operator).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].amount, Uint128::new(400));
        let t = TOTALS.load(deps.as_ref().storage).unwrap();
        assert_eq!(
            (t.staked, t.unbonding),
            (Uint128::zero(), Uint128::new(400))
        );
        // A floor above the share applies, but never beyond what is at stake.
        let slashed = slash(
            deps.as_mut().storage,
            &operator,
            &mut node,
            1,
            Uint128::new(150),
        );
        assert_eq!(slashed.unwrap(), Uint128::new(150));
        let slashed = slash(deps.as_mut().storage, &operator, &mut node, 1, Uint128::MAX);
        assert_eq!(slashed.unwrap(), Uint128::new(250));
        assert!(
            CLAIMS
                .may_load(deps.as_ref().storage, &operator)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn faults_jail_after_the_configured_count_and_reset() {
        let mut node = Node {
            memory_mb: 1,
            stake: Uint128::new(100),
            reputation: 30,
            consecutive_faults: 0,
            jailed_until: None,
            tasks_agreed: 0,
            tasks_wrong: 0,
            tasks_withheld: 0,
            tasks_absent: 0,
            slashed_total: Uint128::zero(),
            weight: Uint128::zero(),
        };
        let now = Timestamp::from_seconds(1_000);
        fault(&mut node, 50, &params(), now);
        assert_eq!(
            (node.reputation, node.consecutive_faults, node.jailed_until),
            (0, 1, None)
        );
        fault(&mut node, 50, &params(), now);
        assert_eq!(node.jailed_until, Some(Timestamp::from_seconds(1_010)));
        assert_eq!(node.consecutive_faults, 0);
    }
}
