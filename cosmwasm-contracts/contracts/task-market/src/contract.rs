//! Entry points of the task market.

use crate::assign;
use crate::error::ContractError;
use crate::msg::{
    AssignedResponse, Assignment, ConfigResponse, ExecuteMsg, InstantiateMsg, MarketParams,
    MarketTotals, MigrateMsg, QueryMsg, ReceiveMsg, TaskInput, TaskResponse, TaskSpec, TaskStatus,
    TasksResponse,
};
use crate::state::{
    ASSIGNED, BODIES, Config, NEXT_ID, REWARDS, ROUNDS, Slot, TASKS, TOTALS, TaskBody, TaskState,
    TaskTerms, load_config, load_slot, load_task, load_terms, may_load_slot, may_load_task,
    save_config, save_slot, save_task, save_terms,
};
use clusterai_economy::asset::no_funds;
use clusterai_economy::commit::{MAX_SALT_LEN, MIN_SALT_LEN, commitment};
use clusterai_economy::config::{self, admin_config};
use clusterai_economy::hash::check_hash;
use clusterai_economy::market::{MAX_PROVIDER_LEN, MAX_PROVIDERS, OutcomesResponse};
use clusterai_economy::migrate::{check_layout, migrate_version, set_layout};
use clusterai_economy::models::{self, QuoteResponse};
use clusterai_economy::registry::{self, NodeOutcome, Outcome, SelectedResponse};
use clusterai_economy::{BPS_DENOMINATOR, MAX_TIME_PARAM, page_limit};
use cosmwasm_std::{
    Addr, Binary, Deps, DepsMut, Env, HexBinary, MessageInfo, Order, Response, StdError, StdResult,
    Storage, Timestamp, Uint128, WasmMsg, from_json, to_json_binary,
};
use cw_storage_plus::Bound;
use cw20::Cw20ReceiveMsg;

/// cw2 name of this contract.
pub const CONTRACT_NAME: &str = "crates.io:clusterai-task-market";
/// cw2 version of this contract.
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The layout of this contract's stored state (see `migrate`).
pub const STATE_LAYOUT: u32 = 2;

/// Hard upper bound of k (bounds the gas of settlement).
pub const MAX_K_BOUND: u8 = 15;

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Instantiates the market.
pub fn instantiate(
    deps: DepsMut,
    _env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    no_funds(&info)?;
    msg.beacon.check()?;
    check_params(&msg.params, msg.beacon.period)?;
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
        beacon: msg.beacon,
        params: msg.params,
    };
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    set_layout(deps.storage, STATE_LAYOUT);
    save_config(deps.storage, &config);
    NEXT_ID.save(deps.storage, &1)?;
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
        ExecuteMsg::Assign { task_id, signature } => {
            no_funds(&info)?;
            execute_assign(deps, env, task_id, signature)
        }
        ExecuteMsg::Decline { task_id } => {
            no_funds(&info)?;
            execute_decline(deps, env, info.sender, task_id)
        }
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
            check_params(&params, config.beacon.period)?;
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

fn check_params(p: &MarketParams, beacon_period: u64) -> Result<(), ContractError> {
    let bad = |reason: String| Err(ContractError::InvalidParams { reason });
    if p.protocol_fee_bps >= BPS_DENOMINATOR {
        return bad("protocol_fee_bps must be below 10000".into());
    }
    if p.min_commit_period == 0
        || p.min_commit_period > p.max_commit_period
        || p.max_commit_period > MAX_TIME_PARAM
    {
        return bad("need 0 < min_commit_period <= max_commit_period <= a year".into());
    }
    if p.reveal_period == 0 || p.reveal_period > MAX_TIME_PARAM {
        return bad("reveal_period must be 1 second to a year".into());
    }
    if p.max_k == 0 || p.max_k > MAX_K_BOUND || p.max_k.is_multiple_of(2) {
        return bad(format!("max_k must be odd and 1 to {MAX_K_BOUND}"));
    }
    if p.max_inline_input == 0 || p.max_inline_input > 64 * 1024 {
        return bad("max_inline_input must be 1 to 65536".into());
    }
    if p.max_models > 16 {
        return bad("max_models must be at most 16".into());
    }
    if p.assign_delay < beacon_period || p.assign_delay > 3_600 {
        return bad(format!(
            "assign_delay must be the beacon period ({beacon_period} s) to 3600 seconds"
        ));
    }
    if p.assign_timeout <= p.assign_delay || p.assign_timeout > MAX_TIME_PARAM {
        return bad("assign_timeout must exceed assign_delay and be at most a year".into());
    }
    if p.min_reward_per_node.is_zero() {
        return bad("min_reward_per_node must be greater than zero".into());
    }
    if p.min_counted_k == 0 || p.min_counted_k > MAX_K_BOUND {
        return bad(format!("min_counted_k must be 1 to {MAX_K_BOUND}"));
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

fn check_providers(providers: &[String]) -> Result<(), ContractError> {
    let invalid = |reason: String| Err(ContractError::InvalidProviders { reason });
    if providers.len() > MAX_PROVIDERS {
        return invalid(format!("at most {MAX_PROVIDERS}, got {}", providers.len()));
    }
    for (i, p) in providers.iter().enumerate() {
        if p.is_empty() || p.len() > MAX_PROVIDER_LEN {
            return invalid(format!(
                "provider {i} must be 1 to {MAX_PROVIDER_LEN} bytes, got {}",
                p.len()
            ));
        }
        if !p.bytes().all(|b| b.is_ascii_graphic()) {
            return invalid(format!(
                "provider {i} must be printable ASCII without spaces"
            ));
        }
    }
    Ok(())
}

fn check_spec(p: &MarketParams, spec: &TaskSpec) -> Result<(), ContractError> {
    check_hash("plugin", &spec.plugin)?;
    match &spec.input {
        TaskInput::Hash { hash, providers } => {
            check_hash("input", hash)?;
            check_providers(providers)?;
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
    // Odd k: with every vote revealed, a tie is impossible.
    if spec.k == 0 || spec.k > p.max_k || spec.k.is_multiple_of(2) {
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
    if !(p.min_commit_period..=p.max_commit_period).contains(&spec.commit_period) {
        return Err(ContractError::InvalidCommitPeriod {
            period: spec.commit_period,
            min: p.min_commit_period,
            max: p.max_commit_period,
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
    check_spec(p, &spec)?;

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
    if let Some(max) = spec.max_royalties
        && quote.total > max
    {
        return Err(ContractError::RoyaltiesAboveMax {
            quoted: quote.total,
            max,
        });
    }
    let fee = fee_of(reward, p.protocol_fee_bps);
    let needed = p
        .min_reward_per_node
        .checked_mul(Uint128::from(spec.k))
        .and_then(|n| n.checked_add(fee))
        .and_then(|n| n.checked_add(quote.total))
        .map_err(StdError::from)?;
    if reward < needed {
        return Err(ContractError::RewardTooLow {
            reward,
            fee,
            royalties: quote.total,
            k: spec.k,
            min_per_node: p.min_reward_per_node,
        });
    }

    let id = NEXT_ID.load(deps.storage)?;
    NEXT_ID.save(deps.storage, &(id + 1))?;
    let now = env.block.time;
    let round = config
        .beacon
        .first_round_after(now.seconds().saturating_add(p.assign_delay));
    let state = TaskState {
        k: spec.k,
        slots: 0,
        commits: 0,
        reveals: 0,
        declines: 0,
        counts: false,
        phase: 0,
        posted_at: now,
        pending_since: now,
        snapshot_height: env.block.height,
        round,
        commit_deadline: None,
        reveal_deadline: None,
        status: TaskStatus::Pending,
    };
    save_task(deps.storage, id, &state);
    let terms = TaskTerms {
        buyer: buyer.clone(),
        reward,
        fee_bps: p.protocol_fee_bps,
        decline_pay: p.min_reward_per_node,
        requirements: spec.requirements,
        commit_period: spec.commit_period,
        reveal_period: p.reveal_period,
        nodes: vec![],
        seed: None,
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
        },
    )?;
    TOTALS.update(deps.storage, |mut t| -> StdResult<_> {
        t.escrowed = t.escrowed.checked_add(reward)?;
        Ok(t)
    })?;
    Ok(Response::new()
        .add_attribute("action", "post_task")
        .add_attribute("task_id", id.to_string())
        .add_attribute("buyer", buyer)
        .add_attribute("reward", reward)
        .add_attribute("round", round.to_string())
        .add_attribute("round_at", config.beacon.round_time(round).to_string()))
}

/// What one vote of a task earns when its majority agrees: the pool (reward
/// less fee and royalties) over k.
fn vote_pay(terms: &TaskTerms, k: u8) -> StdResult<Uint128> {
    let royalties = terms
        .royalties
        .iter()
        .try_fold(Uint128::zero(), |a, r| a.checked_add(r.amount))?;
    let pool = terms
        .reward
        .checked_sub(fee_of(terms.reward, terms.fee_bps))?
        .checked_sub(royalties)?;
    Ok(pool.multiply_ratio(1u128, u128::from(k.max(1))))
}

fn assign_deadline(config: &Config, task: &TaskState) -> Timestamp {
    task.pending_since
        .plus_seconds(config.params.assign_timeout)
}

fn execute_assign(
    deps: DepsMut,
    env: Env,
    task_id: u64,
    signature: Option<HexBinary>,
) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let mut task =
        may_load_task(deps.storage, task_id)?.ok_or(ContractError::TaskNotFound { task_id })?;
    if task.status != TaskStatus::Pending {
        return Err(ContractError::NotPending { task_id });
    }
    let deadline = assign_deadline(&config, &task);
    if env.block.time > deadline {
        return Err(ContractError::AssignTimedOut { task_id, deadline });
    }
    let round = task.round;
    let randomness: [u8; 32] = match ROUNDS.may_load(deps.storage, round)? {
        Some(r) => r
            .as_slice()
            .try_into()
            .map_err(|_| StdError::generic_err("corrupt round record"))?,
        None => {
            let at = config.beacon.round_time(round);
            if env.block.time.seconds() < at {
                return Err(ContractError::RoundNotYet { task_id, round, at });
            }
            let sig = signature.ok_or(ContractError::BeaconNeeded { task_id, round })?;
            let r = config.beacon.verify(deps.api, round, sig.as_slice())?;
            ROUNDS.save(deps.storage, round, &HexBinary::from(r))?;
            r
        }
    };
    let seed = assign::seed(&randomness, env.contract.address.as_str(), task_id);
    let mut terms = load_terms(deps.storage, task_id)?;
    // The buyer never runs its own task; a re-execution draws none of the
    // first committee's nodes.
    let exclude = std::iter::once(terms.buyer.to_string())
        .chain(terms.nodes.iter().map(|(n, _)| n.to_string()))
        .collect();
    let selected: SelectedResponse = deps.querier.query_wasm_smart(
        &config.registry,
        &registry::QueryMsg::SelectNodes {
            seed: HexBinary::from(seed),
            k: task.k,
            requirements: terms.requirements.clone(),
            exclude,
            height: task.snapshot_height,
            vote_pay: vote_pay(&terms, task.k)?,
        },
    )?;
    // Every committee's digests are bound to the first draw's seed, so that
    // they compare with each other (and never with another task's).
    terms.seed.get_or_insert(seed);
    let res = Response::new()
        .add_attribute("action", "assign")
        .add_attribute("task_id", task_id.to_string())
        .add_attribute("round", round.to_string())
        .add_attribute("seed", HexBinary::from(seed).to_hex());
    if selected.nodes.is_empty() {
        save_terms(deps.storage, task_id, &terms);
        let res = res.add_attribute("eligible", selected.eligible.to_string());
        return close_undrawn(deps.storage, &config, task_id, &mut task, &terms, res);
    }
    let now = env.block.time;
    for n in &selected.nodes {
        let slot = Slot {
            votes: n.votes,
            phase: task.phase,
            ..Slot::default()
        };
        save_slot(deps.storage, task_id, &n.operator, &slot);
        ASSIGNED.save(deps.storage, (&n.operator, task_id), &())?;
    }
    terms
        .nodes
        .extend(selected.nodes.iter().map(|n| (n.operator.clone(), n.votes)));
    save_terms(deps.storage, task_id, &terms);
    let commit_deadline = now.plus_seconds(terms.commit_period);
    task.slots = selected.nodes.len() as u8;
    if task.phase == 0 {
        task.counts = task.k >= config.params.min_counted_k
            && selected.eligible >= config.params.min_counted_nodes;
    }
    task.commit_deadline = Some(commit_deadline);
    task.reveal_deadline = Some(commit_deadline.plus_seconds(terms.reveal_period));
    task.status = TaskStatus::Open;
    save_task(deps.storage, task_id, &task);
    let assigned = selected
        .nodes
        .iter()
        .map(|n| format!("{}:{}", n.operator, n.votes))
        .collect::<Vec<_>>()
        .join(",");
    Ok(res
        .add_attribute("assigned", assigned)
        .add_attribute("counts", task.counts.to_string()))
}

/// Closes a task whose draw did not happen (no node could be drawn, or no
/// beacon round came in time). Before any committee: nobody served it, the
/// buyer gets the reward back less the fee. Before a re-execution: the first
/// committee's split stands.
fn close_undrawn(
    storage: &mut dyn Storage,
    config: &Config,
    task_id: u64,
    task: &mut TaskState,
    terms: &TaskTerms,
    res: Response,
) -> Result<Response, ContractError> {
    if task.phase == 0 {
        close_unserved(storage, config, task_id, task, terms, res)
    } else {
        close(storage, config, task_id, task, terms, res)
    }
}

/// Closes a task no node served (none drawn, or no beacon in time): the fee
/// goes to the treasury, the rest back to the buyer.
fn close_unserved(
    storage: &mut dyn Storage,
    config: &Config,
    task_id: u64,
    task: &mut TaskState,
    terms: &TaskTerms,
    res: Response,
) -> Result<Response, ContractError> {
    let fee = fee_of(terms.reward, terms.fee_bps);
    let refund = terms.reward.checked_sub(fee).map_err(StdError::from)?;
    credit(storage, &config.treasury, fee)?;
    task.status = TaskStatus::Expired;
    save_task(storage, task_id, task);
    TOTALS.update(storage, |mut t| -> StdResult<_> {
        t.escrowed = t.escrowed.checked_sub(terms.reward)?;
        t.unclaimed_rewards = t.unclaimed_rewards.checked_add(fee)?;
        Ok(t)
    })?;
    let mut res = res
        .add_attribute("outcome", "expired")
        .add_attribute("fee", fee)
        .add_attribute("refund", refund);
    if !refund.is_zero() {
        res = res.add_message(config.denom.transfer(&terms.buyer, refund)?);
    }
    Ok(res)
}

fn credit(storage: &mut dyn Storage, who: &Addr, amount: Uint128) -> StdResult<()> {
    if amount.is_zero() {
        return Ok(());
    }
    REWARDS.update(storage, who, |r| -> StdResult<_> {
        Ok(r.unwrap_or_default().checked_add(amount)?)
    })?;
    Ok(())
}

fn load_open(storage: &dyn Storage, task_id: u64) -> Result<TaskState, ContractError> {
    let task = may_load_task(storage, task_id)?.ok_or(ContractError::TaskNotFound { task_id })?;
    match task.status {
        TaskStatus::Open => Ok(task),
        TaskStatus::Pending => Err(ContractError::AwaitingDraw { task_id }),
        _ => Err(ContractError::TaskClosed { task_id }),
    }
}

/// `node`'s slot in the task's current committee (a node of the first
/// committee has no say in a re-execution).
fn load_assigned(
    storage: &dyn Storage,
    task: &TaskState,
    task_id: u64,
    node: &Addr,
) -> Result<Slot, ContractError> {
    may_load_slot(storage, task_id, node)?
        .filter(|s| s.phase == task.phase)
        .ok_or_else(|| ContractError::NotAssigned {
            node: node.to_string(),
            task_id,
        })
}

fn commit_deadline(task: &TaskState) -> Timestamp {
    task.commit_deadline.unwrap_or_default()
}

fn reveal_deadline(task: &TaskState) -> Timestamp {
    task.reveal_deadline.unwrap_or_default()
}

/// The task and `node`'s slot for a decline or a commitment: the task is
/// open, its commit window too, and the node has neither declined nor
/// committed.
fn load_undecided(
    storage: &dyn Storage,
    env: &Env,
    node: &Addr,
    task_id: u64,
) -> Result<(TaskState, Slot), ContractError> {
    let task = load_open(storage, task_id)?;
    let slot = load_assigned(storage, &task, task_id, node)?;
    if env.block.time > commit_deadline(&task) {
        return Err(ContractError::CommitDeadlinePassed { task_id });
    }
    if slot.declined {
        return Err(ContractError::AlreadyDeclined { task_id });
    }
    if slot.commitment.is_some() {
        return Err(ContractError::AlreadyCommitted { task_id });
    }
    Ok((task, slot))
}

fn execute_decline(
    deps: DepsMut,
    env: Env,
    node: Addr,
    task_id: u64,
) -> Result<Response, ContractError> {
    let (mut task, mut slot) = load_undecided(deps.storage, &env, &node, task_id)?;
    slot.declined = true;
    save_slot(deps.storage, task_id, &node, &slot);
    task.declines += 1;
    save_task(deps.storage, task_id, &task);
    Ok(Response::new()
        .add_attribute("action", "decline")
        .add_attribute("task_id", task_id.to_string())
        .add_attribute("node", node))
}

fn execute_commit(
    deps: DepsMut,
    env: Env,
    node: Addr,
    task_id: u64,
    commitment: HexBinary,
) -> Result<Response, ContractError> {
    let (mut task, mut slot) = load_undecided(deps.storage, &env, &node, task_id)?;
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
    let mut slot = load_assigned(deps.storage, &task, task_id, &node)?;
    let now = env.block.time;
    if now > reveal_deadline(&task) {
        return Err(ContractError::RevealDeadlinePassed { task_id });
    }
    if task.commits + task.declines < task.slots && now <= commit_deadline(&task) {
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

/// The digest revealed by a strict majority of the k votes, if any.
pub fn majority(k: u8, votes: &[(u8, Option<HexBinary>)]) -> Option<HexBinary> {
    for (_, d) in votes {
        let Some(d) = d else { continue };
        let count: u32 = votes
            .iter()
            .filter(|(_, x)| x.as_ref() == Some(d))
            .map(|(v, _)| u32::from(*v))
            .sum();
        if count * 2 > u32::from(k) {
            return Some(d.clone());
        }
    }
    None
}

fn execute_settle(deps: DepsMut, env: Env, task_id: u64) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let mut task =
        may_load_task(deps.storage, task_id)?.ok_or(ContractError::TaskNotFound { task_id })?;
    let now = env.block.time;
    let res = Response::new()
        .add_attribute("action", "settle")
        .add_attribute("task_id", task_id.to_string());
    match task.status {
        TaskStatus::Open => {}
        TaskStatus::Pending => {
            let deadline = assign_deadline(&config, &task);
            if now <= deadline {
                return Err(ContractError::SettleTooEarly {
                    task_id,
                    settle_after: deadline,
                });
            }
            let terms = load_terms(deps.storage, task_id)?;
            return close_undrawn(deps.storage, &config, task_id, &mut task, &terms, res);
        }
        _ => return Err(ContractError::TaskClosed { task_id }),
    }
    let all_answered = task.reveals + task.declines == task.slots;
    let nobody_committed = task.commits == 0 && now > commit_deadline(&task);
    if !all_answered && !nobody_committed && now <= reveal_deadline(&task) {
        return Err(ContractError::SettleTooEarly {
            task_id,
            settle_after: reveal_deadline(&task),
        });
    }
    let terms = load_terms(deps.storage, task_id)?;
    let slots = load_slots(deps.storage, task_id, &terms)?;
    if task.phase == 0 {
        let digests: Vec<&HexBinary> = slots.iter().filter_map(|s| s.digest.as_ref()).collect();
        let split = digests.iter().any(|d| *d != digests[0]);
        if split && majority(task.k, &committee_votes(&slots, 0)).is_none() {
            return escalate(deps.storage, &env, &config, task_id, &mut task, res);
        }
    }
    close_with(
        deps.storage,
        &config,
        task_id,
        &mut task,
        &terms,
        slots,
        res,
    )
}

/// The slots of every drawn node, in draw order.
fn load_slots(storage: &dyn Storage, task_id: u64, terms: &TaskTerms) -> StdResult<Vec<Slot>> {
    terms
        .nodes
        .iter()
        .map(|(n, _)| load_slot(storage, task_id, n))
        .collect()
}

/// The votes and digests of committee `phase`.
fn committee_votes(slots: &[Slot], phase: u8) -> Vec<(u8, Option<HexBinary>)> {
    slots
        .iter()
        .filter(|s| s.phase == phase)
        .map(|s| (s.votes, s.digest.clone()))
        .collect()
}

/// The first committee revealed different digests and none has a majority:
/// the task goes back to the beacon to draw a second committee, without the
/// first one's nodes, that re-executes it (in the deterministic mode the
/// same inputs give the same bytes). Its majority then judges every
/// revealed digest. Nothing is paid or slashed yet.
fn escalate(
    storage: &mut dyn Storage,
    env: &Env,
    config: &Config,
    task_id: u64,
    task: &mut TaskState,
    res: Response,
) -> Result<Response, ContractError> {
    let now = env.block.time;
    task.phase = 1;
    task.status = TaskStatus::Pending;
    task.round = config
        .beacon
        .first_round_after(now.seconds().saturating_add(config.params.assign_delay));
    task.snapshot_height = env.block.height;
    task.pending_since = now;
    task.slots = 0;
    task.commits = 0;
    task.reveals = 0;
    task.declines = 0;
    task.commit_deadline = None;
    task.reveal_deadline = None;
    save_task(storage, task_id, task);
    Ok(res
        .add_attribute("outcome", "reexecution")
        .add_attribute("round", task.round.to_string()))
}

/// Settles a task for good: pays, refunds and reports outcomes. The current
/// committee's strict majority, if any, decides; it judges the digests of
/// both committees.
fn close(
    storage: &mut dyn Storage,
    config: &Config,
    task_id: u64,
    task: &mut TaskState,
    terms: &TaskTerms,
    res: Response,
) -> Result<Response, ContractError> {
    let slots = load_slots(storage, task_id, terms)?;
    close_with(storage, config, task_id, task, terms, slots, res)
}

/// [`close`] with the slots already loaded.
fn close_with(
    storage: &mut dyn Storage,
    config: &Config,
    task_id: u64,
    task: &mut TaskState,
    terms: &TaskTerms,
    slots: Vec<Slot>,
    res: Response,
) -> Result<Response, ContractError> {
    let winner = majority(task.k, &committee_votes(&slots, task.phase));
    let fee = fee_of(terms.reward, terms.fee_bps);
    let overflow = |e: cosmwasm_std::OverflowError| ContractError::Std(StdError::from(e));
    let royalties = match &winner {
        Some(_) => terms
            .royalties
            .iter()
            .try_fold(Uint128::zero(), |a, r| a.checked_add(r.amount))
            .map_err(overflow)?,
        // No result was agreed: no royalties are owed.
        None => Uint128::zero(),
    };
    let pool = terms
        .reward
        .checked_sub(fee)
        .and_then(|p| p.checked_sub(royalties))
        .map_err(overflow)?;
    // Every vote drawn (both committees) has a share of the pool; a declined
    // vote earns the decline pay, never more than that share.
    let drawn: u128 = slots.iter().map(|s| u128::from(s.votes)).sum();
    let share = pool.multiply_ratio(1u128, drawn.max(u128::from(task.k)));
    let decline_rate = terms.decline_pay.min(share);
    let mut paid = Uint128::zero();
    for ((n, v), s) in terms.nodes.iter().zip(&slots) {
        if s.declined {
            let pay = decline_rate
                .checked_mul(Uint128::from(*v))
                .map_err(overflow)?;
            credit(storage, n, pay)?;
            paid = paid.checked_add(pay).map_err(overflow)?;
        }
    }
    let mut res = res;
    let credited;
    match &winner {
        Some(w) => {
            let left = pool.checked_sub(paid).map_err(overflow)?;
            let agreed_votes: u128 = slots
                .iter()
                .filter(|s| s.digest.as_ref() == Some(w))
                .map(|s| u128::from(s.votes))
                .sum();
            let per_vote = left.multiply_ratio(1u128, agreed_votes.max(1));
            for ((n, v), s) in terms.nodes.iter().zip(&slots) {
                if s.digest.as_ref() == Some(w) {
                    let pay = per_vote.checked_mul(Uint128::from(*v)).map_err(overflow)?;
                    credit(storage, n, pay)?;
                    paid = paid.checked_add(pay).map_err(overflow)?;
                }
            }
            // The fee (and rounding dust) accrues to the treasury like a
            // node's reward: one ledger write instead of a transfer per task.
            let to_treasury = pool
                .checked_sub(paid)
                .and_then(|d| d.checked_add(fee))
                .map_err(overflow)?;
            credit(storage, &config.treasury, to_treasury)?;
            let mut credited_royalties = Uint128::zero();
            // Royalties accrue to their creators in this ledger, like the
            // nodes' pay; only shares held for an authorship dispute go to
            // the model market.
            let mut held = Vec::new();
            for r in &terms.royalties {
                if r.held {
                    held.push(r.clone());
                } else {
                    credit(storage, &r.creator, r.amount)?;
                    credited_royalties =
                        credited_royalties.checked_add(r.amount).map_err(overflow)?;
                }
            }
            let held_total = royalties
                .checked_sub(credited_royalties)
                .map_err(overflow)?;
            if !held_total.is_zero() {
                res = res.add_messages(config.denom.pay_and_call(
                    &config.model_market,
                    held_total,
                    &models::ExecuteMsg::RecordRoyalties {
                        task_id,
                        shares: held,
                    },
                )?);
            }
            credited = paid
                .checked_add(to_treasury)
                .and_then(|c| c.checked_add(credited_royalties))
                .map_err(overflow)?;
            res = res
                .add_attribute("outcome", "settled")
                .add_attribute("digest", w.to_hex())
                .add_attribute("fee", to_treasury)
                .add_attribute("royalties", royalties)
                .add_attribute("per_vote", per_vote);
            task.status = TaskStatus::Settled { digest: w.clone() };
        }
        None => {
            // No majority: nobody can be called wrong. The fee is kept; each
            // revealed vote earned its share (so a buyer who forces a split
            // still pays for the work it got); the buyer gets back the
            // shares of the votes that never came.
            let revealed = slots.iter().any(|s| s.digest.is_some());
            for ((n, v), s) in terms.nodes.iter().zip(&slots) {
                if s.digest.is_some() {
                    let pay = share.checked_mul(Uint128::from(*v)).map_err(overflow)?;
                    credit(storage, n, pay)?;
                    paid = paid.checked_add(pay).map_err(overflow)?;
                }
            }
            credit(storage, &config.treasury, fee)?;
            let refund = pool.checked_sub(paid).map_err(overflow)?;
            credited = paid.checked_add(fee).map_err(overflow)?;
            if !refund.is_zero() {
                res = res.add_message(config.denom.transfer(&terms.buyer, refund)?);
            }
            if revealed {
                task.status = TaskStatus::Disputed;
                res = res.add_attribute("outcome", "disputed");
            } else {
                task.status = TaskStatus::Expired;
                res = res.add_attribute("outcome", "expired");
            }
            res = res
                .add_attribute("fee", fee)
                .add_attribute("refund", refund);
        }
    }
    save_task(storage, task_id, task);
    let outcomes = judge(task, terms, &slots);
    if !outcomes.is_empty() {
        res = res.add_message(WasmMsg::Execute {
            contract_addr: config.registry.to_string(),
            msg: to_json_binary(&registry::ExecuteMsg::ReportOutcomes {
                task_id,
                counts: task.counts,
                vote_pay: vote_pay(terms, task.k)?,
                outcomes,
            })?,
            funds: vec![],
        });
    }
    TOTALS.update(storage, |mut t| -> StdResult<_> {
        t.escrowed = t.escrowed.checked_sub(terms.reward)?;
        t.unclaimed_rewards = t.unclaimed_rewards.checked_add(credited)?;
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
        t.unclaimed_rewards = t.unclaimed_rewards.checked_sub(amount)?;
        Ok(t)
    })?;
    Ok(Response::new()
        .add_message(config.denom.transfer(&who, amount)?)
        .add_attribute("action", "withdraw_rewards")
        .add_attribute("address", who)
        .add_attribute("amount", amount))
}

/// How each node did in closed task `task_id` (declined nodes have no outcome).
fn outcomes(deps: Deps, task_id: u64) -> Result<OutcomesResponse, ContractError> {
    let task =
        may_load_task(deps.storage, task_id)?.ok_or(ContractError::TaskNotFound { task_id })?;
    if matches!(task.status, TaskStatus::Pending | TaskStatus::Open) {
        return Err(ContractError::StillOpen { task_id });
    }
    let terms = load_terms(deps.storage, task_id)?;
    let slots = load_slots(deps.storage, task_id, &terms)?;
    Ok(OutcomesResponse {
        counts: task.counts,
        vote_pay: vote_pay(&terms, task.k)?,
        outcomes: judge(&task, &terms, &slots),
    })
}

/// How each drawn node of a closed task did, judged by its winning digest
/// (declined nodes, and revealers without a majority to judge them, have no
/// outcome).
fn judge(task: &TaskState, terms: &TaskTerms, slots: &[Slot]) -> Vec<NodeOutcome> {
    let winner = match &task.status {
        TaskStatus::Settled { digest } => Some(digest),
        _ => None,
    };
    let mut out = Vec::with_capacity(slots.len());
    for ((n, votes), slot) in terms.nodes.iter().zip(slots) {
        let outcome = match (&slot.commitment, &slot.digest) {
            _ if slot.declined => continue,
            (_, Some(d)) => match winner {
                Some(w) if w == d => Outcome::Agreed,
                Some(_) => Outcome::Wrong,
                None => continue,
            },
            (Some(_), None) => Outcome::Withheld,
            (None, None) => Outcome::Absent,
        };
        out.push(NodeOutcome {
            node: n.to_string(),
            votes: *votes,
            outcome,
        });
    }
    out
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
                beacon: c.beacon,
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
        QueryMsg::Outcomes { task_id } => to_json_binary(
            &outcomes(deps, task_id).map_err(|e| StdError::generic_err(e.to_string()))?,
        ),
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
        .map(|(n, _)| {
            load_slot(deps.storage, id, n).map(|slot| Assignment {
                node: n.clone(),
                votes: slot.votes,
                reexecution: slot.phase == 1,
                declined: slot.declined,
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
        fee_bps: t.fee_bps,
        decline_pay: t.decline_pay,
        royalties: t.royalties,
        posted_at: s.posted_at,
        snapshot_height: s.snapshot_height,
        round: s.round,
        commit_period: t.commit_period,
        reveal_period: t.reveal_period,
        commit_deadline: s.commit_deadline,
        reveal_deadline: s.reveal_deadline,
        seed: t.seed.map(HexBinary::from),
        counts: s.counts,
        reexecution: s.phase == 1,
        assignments,
        status: s.status,
    })
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

    fn h(b: u8) -> Option<HexBinary> {
        Some(HexBinary::from([b; 32]))
    }

    #[test]
    fn majority_is_strict_over_the_k_votes() {
        assert_eq!(majority(3, &[(1, h(1)), (1, h(1)), (1, h(2))]), h(1));
        assert_eq!(majority(3, &[(1, h(1)), (1, h(2)), (1, None)]), None);
        assert_eq!(majority(3, &[(1, h(1)), (1, h(1)), (1, None)]), h(1));
        // A node drawn twice holds two votes.
        assert_eq!(majority(3, &[(2, h(1)), (1, h(2))]), h(1));
        assert_eq!(majority(5, &[(2, h(1)), (2, h(2)), (1, None)]), None);
        assert_eq!(majority(1, &[(1, h(7))]), h(7));
        assert_eq!(majority(3, &[(3, None)]), None);
    }

    #[test]
    fn fee_rounds_down() {
        assert_eq!(fee_of(Uint128::new(999), 500), Uint128::new(49));
        assert_eq!(fee_of(Uint128::new(1_000_000), 500), Uint128::new(50_000));
    }
}
