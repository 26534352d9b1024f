//! Entry points of the model market.

use crate::error::ContractError;
use crate::msg::{
    ConfigResponse, ExecuteMsg, InstantiateMsg, LicenceResponse, ListingDispute, ListingKind,
    ListingResponse, ListingsResponse, MigrateMsg, QueryMsg, QuoteResponse, ReceiveMsg,
};
use crate::state::{
    ACCRUED, Config, DISPUTES, LICENCES, LISTINGS, Listing, RECORDED, TOTAL_ACCRUED, load_config,
    save_config,
};
use clusterai_economy::asset::{Denom, no_funds};
use clusterai_economy::config::{self, admin_config};
use clusterai_economy::hash::check_hash;
use clusterai_economy::market::RoyaltyShare;
use clusterai_economy::migrate::{check_layout, migrate_version, set_layout};
use clusterai_economy::{MAX_TIME_PARAM, page_limit};
use cosmwasm_std::{
    Addr, Binary, Deps, DepsMut, Env, HexBinary, MessageInfo, Order, Response, StdError, StdResult,
    Storage, Uint128, from_json, to_json_binary,
};
use cw_storage_plus::Bound;
use cw20::Cw20ReceiveMsg;

/// cw2 name of this contract.
pub const CONTRACT_NAME: &str = "crates.io:clusterai-model-market";
/// cw2 version of this contract.
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The layout of this contract's stored state (see `migrate`).
pub const STATE_LAYOUT: u32 = 2;

/// Most hashes in one quote (a plugin and up to 16 models).
pub const MAX_QUOTE: usize = 17;
/// Most shares in one royalty record.
pub const MAX_SHARES: usize = 17;
/// Shortest raise delay: long enough for buyers to see a raise coming.
pub const MIN_RAISE_DELAY: u64 = 3_600;

fn check_raise_delay(raise_delay: u64) -> Result<(), ContractError> {
    if !(MIN_RAISE_DELAY..=MAX_TIME_PARAM).contains(&raise_delay) {
        return Err(ContractError::InvalidConfig {
            reason: format!("raise_delay must be {MIN_RAISE_DELAY} seconds to a year"),
        });
    }
    Ok(())
}

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Instantiates the market.
pub fn instantiate(
    deps: DepsMut,
    _env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    no_funds(&info)?;
    check_raise_delay(msg.raise_delay)?;
    let admin = match msg.admin {
        Some(a) => deps.api.addr_validate(&a)?,
        None => info.sender.clone(),
    };
    let config = Config {
        admin,
        denom: msg.denom.check(deps.api)?,
        max_royalty: msg.max_royalty,
        raise_delay: msg.raise_delay,
        dispute_bond: msg.dispute_bond,
        task_market: None,
    };
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    set_layout(deps.storage, STATE_LAYOUT);
    save_config(deps.storage, &config);
    TOTAL_ACCRUED.save(deps.storage, &Uint128::zero())?;
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
        ExecuteMsg::List {
            hash,
            kind,
            name,
            licence_price,
            royalty,
        } => {
            no_funds(&info)?;
            execute_list(
                deps,
                env,
                info.sender,
                hash,
                kind,
                name,
                licence_price,
                royalty,
            )
        }
        ExecuteMsg::SetLicencePrice { hash, price } => {
            no_funds(&info)?;
            let (key, mut listing) = creator_listing(deps.storage, &info.sender, &hash)?;
            if listing.licence_price == price {
                return Err(ContractError::Unchanged);
            }
            listing.licence_price = price;
            LISTINGS.save(deps.storage, &key, &listing)?;
            Ok(Response::new()
                .add_attribute("action", "set_licence_price")
                .add_attribute("price", price))
        }
        ExecuteMsg::SetRoyalty { hash, royalty } => {
            no_funds(&info)?;
            execute_set_royalty(deps, env, info.sender, hash, royalty)
        }
        ExecuteMsg::Delist { hash } => {
            no_funds(&info)?;
            let (key, mut listing) = creator_listing(deps.storage, &info.sender, &hash)?;
            if listing.delisted {
                return Err(ContractError::Delisted {
                    hash: hash.to_hex(),
                });
            }
            listing.delisted = true;
            LISTINGS.save(deps.storage, &key, &listing)?;
            Ok(Response::new()
                .add_attribute("action", "delist")
                .add_attribute("hash", hash.to_hex()))
        }
        ExecuteMsg::BuyLicence { hash } => {
            let config = load_config(deps.storage)?;
            let paid = config.denom.native_payment(&info)?;
            execute_buy_licence(deps, env, info.sender, paid, hash)
        }
        ExecuteMsg::RecordRoyalties { task_id, shares } => {
            let config = load_config(deps.storage)?;
            let paid = match &config.denom {
                Denom::Native(_) => config.denom.native_payment(&info)?,
                // cw20: the task market (checked in `execute_record`)
                // transfers the sum just before this call, in the same
                // transaction (`Denom::pay_and_call`).
                Denom::Cw20(_) => {
                    no_funds(&info)?;
                    shares
                        .iter()
                        .try_fold(Uint128::zero(), |a, s| a.checked_add(s.amount))
                        .map_err(cosmwasm_std::StdError::from)?
                }
            };
            execute_record(deps, &env, &config, info.sender, paid, task_id, shares)
        }
        ExecuteMsg::Receive(wrapper) => execute_receive(deps, env, info, wrapper),
        ExecuteMsg::DisputeListing { hash } => {
            let config = load_config(deps.storage)?;
            let paid = config.denom.native_payment(&info)?;
            execute_dispute(deps, env, &config, info.sender, paid, hash)
        }
        ExecuteMsg::ResolveDispute { hash, to_claimant } => {
            no_funds(&info)?;
            execute_resolve(deps, info.sender, hash, to_claimant)
        }
        ExecuteMsg::Withdraw {} => {
            no_funds(&info)?;
            execute_withdraw(deps, info.sender)
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
        ExecuteMsg::UpdateConfig {
            max_royalty,
            raise_delay,
            dispute_bond,
        } => {
            no_funds(&info)?;
            let mut config: Config =
                admin_config(deps.storage, &info.sender, "update the configuration")?;
            check_raise_delay(raise_delay)?;
            config.max_royalty = max_royalty;
            config.raise_delay = raise_delay;
            config.dispute_bond = dispute_bond;
            save_config(deps.storage, &config);
            Ok(Response::new().add_attribute("action", "update_config"))
        }
        ExecuteMsg::UpdateAdmin { admin } => {
            no_funds(&info)?;
            config::update_admin::<Config, _>(deps, &info.sender, admin)
        }
    }
}

fn creator_listing(
    storage: &dyn Storage,
    sender: &Addr,
    hash: &HexBinary,
) -> Result<(Vec<u8>, Listing), ContractError> {
    let key = check_hash("hash", hash)?;
    let listing = LISTINGS
        .may_load(storage, &key)?
        .ok_or_else(|| ContractError::NotListed {
            hash: hash.to_hex(),
        })?;
    if listing.creator != *sender {
        return Err(ContractError::NotCreator {
            hash: hash.to_hex(),
        });
    }
    Ok((key.to_vec(), listing))
}

#[allow(clippy::too_many_arguments)]
fn execute_list(
    deps: DepsMut,
    env: Env,
    creator: Addr,
    hash: HexBinary,
    kind: ListingKind,
    name: String,
    licence_price: Uint128,
    royalty: Uint128,
) -> Result<Response, ContractError> {
    let key = check_hash("hash", &hash)?;
    let config = load_config(deps.storage)?;
    let old = match LISTINGS.may_load(deps.storage, &key)? {
        // The creator may list again what they delisted; nobody else may take the hash.
        Some(old) if old.delisted && old.creator == creator => Some(old),
        Some(_) => {
            return Err(ContractError::AlreadyListed {
                hash: hash.to_hex(),
            });
        }
        None => None,
    };
    if name.is_empty() || name.len() > 64 {
        return Err(ContractError::InvalidName);
    }
    if royalty > config.max_royalty {
        return Err(ContractError::RoyaltyAboveMax {
            royalty,
            max_royalty: config.max_royalty,
        });
    }
    let now = env.block.time;
    let (listing, effective_at) = match old {
        // A relist is a royalty change like any other: a raise over what was
        // in force (or already waiting) waits its delay.
        Some(mut old) => {
            let effective_at = old.change_royalty(royalty, now, config.raise_delay);
            let listing = Listing {
                kind,
                name,
                creator: creator.clone(),
                licence_price,
                delisted: false,
                ..old
            };
            (listing, effective_at)
        }
        None => {
            let listing = Listing {
                kind,
                name,
                creator: creator.clone(),
                licence_price,
                royalty,
                pending: None,
                delisted: false,
                licences_sold: 0,
            };
            (listing, now)
        }
    };
    LISTINGS.save(deps.storage, &key, &listing)?;
    Ok(Response::new()
        .add_attribute("action", "list")
        .add_attribute("hash", hash.to_hex())
        .add_attribute("creator", creator)
        .add_attribute("royalty", royalty)
        .add_attribute("effective_at", effective_at.seconds().to_string()))
}

fn execute_set_royalty(
    deps: DepsMut,
    env: Env,
    sender: Addr,
    hash: HexBinary,
    royalty: Uint128,
) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let (key, mut listing) = creator_listing(deps.storage, &sender, &hash)?;
    listing.settle_pending(env.block.time);
    if royalty > config.max_royalty {
        return Err(ContractError::RoyaltyAboveMax {
            royalty,
            max_royalty: config.max_royalty,
        });
    }
    let pending_same = listing
        .pending
        .as_ref()
        .is_some_and(|p| p.royalty == royalty);
    if royalty == listing.royalty && listing.pending.is_none() || pending_same {
        return Err(ContractError::Unchanged);
    }
    let effective_at = listing.change_royalty(royalty, env.block.time, config.raise_delay);
    let res = Response::new()
        .add_attribute("action", "set_royalty")
        .add_attribute("royalty", royalty)
        .add_attribute("effective_at", effective_at.seconds().to_string());
    LISTINGS.save(deps.storage, &key, &listing)?;
    Ok(res)
}

fn execute_receive(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    wrapper: Cw20ReceiveMsg,
) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let (paid, sender) = config.denom.cw20_payment(deps.api, &info, &wrapper)?;
    match from_json::<ReceiveMsg>(&wrapper.msg)? {
        ReceiveMsg::BuyLicence { hash } => execute_buy_licence(deps, env, sender, paid, hash),
        ReceiveMsg::RecordRoyalties { task_id, shares } => {
            execute_record(deps, &env, &config, sender, paid, task_id, shares)
        }
        ReceiveMsg::DisputeListing { hash } => {
            execute_dispute(deps, env, &config, sender, paid, hash)
        }
    }
}

fn credit(storage: &mut dyn Storage, who: &Addr, amount: Uint128) -> StdResult<()> {
    ACCRUED.update(storage, who, |a| -> StdResult<_> {
        Ok(a.unwrap_or_default().checked_add(amount)?)
    })?;
    TOTAL_ACCRUED.update(storage, |t| -> StdResult<_> { Ok(t.checked_add(amount)?) })?;
    Ok(())
}

/// Credits a listing's income to its creator, or holds it while the
/// listing's authorship is disputed.
fn credit_listing(
    storage: &mut dyn Storage,
    key: &[u8],
    creator: &Addr,
    amount: Uint128,
) -> StdResult<()> {
    match DISPUTES.may_load(storage, key)? {
        Some(mut d) => {
            d.held = d.held.checked_add(amount)?;
            DISPUTES.save(storage, key, &d)?;
            TOTAL_ACCRUED.update(storage, |t| -> StdResult<_> { Ok(t.checked_add(amount)?) })?;
            Ok(())
        }
        None => credit(storage, creator, amount),
    }
}

/// Refuses to credit `more` unless the market's balance backs it: what it
/// owes must never exceed what it holds, whatever a caller claims to have paid.
fn check_backed(
    deps: Deps,
    env: &Env,
    config: &Config,
    more: Uint128,
) -> Result<(), ContractError> {
    let owed = TOTAL_ACCRUED
        .load(deps.storage)?
        .checked_add(more)
        .map_err(StdError::from)?;
    let held = config.denom.balance(&deps.querier, &env.contract.address)?;
    if owed > held {
        return Err(ContractError::Unbacked { held, owed });
    }
    Ok(())
}

fn execute_dispute(
    deps: DepsMut,
    env: Env,
    config: &Config,
    claimant: Addr,
    paid: Uint128,
    hash: HexBinary,
) -> Result<Response, ContractError> {
    let key = check_hash("hash", &hash)?;
    let listing =
        LISTINGS
            .may_load(deps.storage, &key)?
            .ok_or_else(|| ContractError::NotListed {
                hash: hash.to_hex(),
            })?;
    if listing.creator == claimant {
        return Err(ContractError::OwnListing {
            hash: hash.to_hex(),
        });
    }
    if DISPUTES.has(deps.storage, &key) {
        return Err(ContractError::AlreadyDisputed {
            hash: hash.to_hex(),
        });
    }
    if paid != config.dispute_bond {
        return Err(ContractError::WrongBond {
            bond: config.dispute_bond,
            paid,
        });
    }
    DISPUTES.save(
        deps.storage,
        &key,
        &ListingDispute {
            claimant: claimant.clone(),
            bond: paid,
            held: Uint128::zero(),
            opened_at: env.block.time,
        },
    )?;
    TOTAL_ACCRUED.update(deps.storage, |t| -> StdResult<_> {
        Ok(t.checked_add(paid)?)
    })?;
    Ok(Response::new()
        .add_attribute("action", "dispute_listing")
        .add_attribute("hash", hash.to_hex())
        .add_attribute("claimant", claimant)
        .add_attribute("bond", paid))
}

fn execute_resolve(
    deps: DepsMut,
    sender: Addr,
    hash: HexBinary,
    to_claimant: bool,
) -> Result<Response, ContractError> {
    let _: Config = admin_config(deps.storage, &sender, "resolve a listing dispute")?;
    let key = check_hash("hash", &hash)?;
    let dispute =
        DISPUTES
            .may_load(deps.storage, &key)?
            .ok_or_else(|| ContractError::NotDisputed {
                hash: hash.to_hex(),
            })?;
    let mut listing = LISTINGS.load(deps.storage, &key)?;
    let winner = if to_claimant {
        // The squatted listing changes hands; a raise the squatter set up goes with them.
        listing.creator = dispute.claimant.clone();
        listing.pending = None;
        LISTINGS.save(deps.storage, &key, &listing)?;
        dispute.claimant
    } else {
        listing.creator
    };
    DISPUTES.remove(deps.storage, &key);
    let total = dispute
        .held
        .checked_add(dispute.bond)
        .map_err(StdError::from)?;
    // Held income and bond were already counted as owed: move them to the winner.
    ACCRUED.update(deps.storage, &winner, |a| -> StdResult<_> {
        Ok(a.unwrap_or_default().checked_add(total)?)
    })?;
    Ok(Response::new()
        .add_attribute("action", "resolve_dispute")
        .add_attribute("hash", hash.to_hex())
        .add_attribute("to", winner)
        .add_attribute("amount", total))
}

fn execute_buy_licence(
    deps: DepsMut,
    env: Env,
    buyer: Addr,
    paid: Uint128,
    hash: HexBinary,
) -> Result<Response, ContractError> {
    let key = check_hash("hash", &hash)?;
    let mut listing =
        LISTINGS
            .may_load(deps.storage, &key)?
            .ok_or_else(|| ContractError::NotListed {
                hash: hash.to_hex(),
            })?;
    if listing.delisted {
        return Err(ContractError::Delisted {
            hash: hash.to_hex(),
        });
    }
    if listing.licence_price.is_zero() {
        return Err(ContractError::NoLicenceNeeded {
            hash: hash.to_hex(),
        });
    }
    if LICENCES.has(deps.storage, (&key, &buyer)) {
        return Err(ContractError::AlreadyLicensed {
            hash: hash.to_hex(),
        });
    }
    if paid != listing.licence_price {
        return Err(ContractError::WrongPrice {
            price: listing.licence_price,
            paid,
        });
    }
    LICENCES.save(deps.storage, (&key, &buyer), &env.block.time)?;
    listing.licences_sold += 1;
    LISTINGS.save(deps.storage, &key, &listing)?;
    credit_listing(deps.storage, &key, &listing.creator, paid)?;
    Ok(Response::new()
        .add_attribute("action", "buy_licence")
        .add_attribute("hash", hash.to_hex())
        .add_attribute("buyer", buyer)
        .add_attribute("price", paid))
}

fn execute_record(
    deps: DepsMut,
    env: &Env,
    config: &Config,
    sender: Addr,
    paid: Uint128,
    task_id: u64,
    shares: Vec<RoyaltyShare>,
) -> Result<Response, ContractError> {
    if config.task_market.as_ref() != Some(&sender) {
        return Err(ContractError::NotTaskMarket);
    }
    if RECORDED.has(deps.storage, task_id) {
        return Err(ContractError::AlreadyRecorded { task_id });
    }
    let sum = shares
        .iter()
        .try_fold(Uint128::zero(), |a, s| a.checked_add(s.amount))
        .map_err(StdError::from)?;
    if sum != paid || shares.len() > MAX_SHARES {
        return Err(ContractError::RoyaltyMismatch { shares: sum, paid });
    }
    check_backed(deps.as_ref(), env, config, sum)?;
    RECORDED.save(deps.storage, task_id, &())?;
    for s in &shares {
        let key = check_hash("hash", &s.hash)?;
        // Held for a dispute: it goes to whoever the listing belongs to now
        // (held again if the dispute is still open).
        let creator = LISTINGS
            .may_load(deps.storage, &key)?
            .map_or_else(|| s.creator.clone(), |l| l.creator);
        credit_listing(deps.storage, &key, &creator, s.amount)?;
    }
    Ok(Response::new()
        .add_attribute("action", "record_royalties")
        .add_attribute("task_id", task_id.to_string())
        .add_attribute("amount", paid))
}

fn execute_withdraw(deps: DepsMut, who: Addr) -> Result<Response, ContractError> {
    let config = load_config(deps.storage)?;
    let amount = ACCRUED.may_load(deps.storage, &who)?.unwrap_or_default();
    if amount.is_zero() {
        return Err(ContractError::NothingToWithdraw);
    }
    ACCRUED.remove(deps.storage, &who);
    TOTAL_ACCRUED.update(deps.storage, |t| -> StdResult<_> {
        Ok(t.checked_sub(amount)?)
    })?;
    Ok(Response::new()
        .add_message(config.denom.transfer(&who, amount)?)
        .add_attribute("action", "withdraw")
        .add_attribute("creator", who)
        .add_attribute("amount", amount))
}

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Answers queries.
pub fn query(deps: Deps, env: Env, msg: QueryMsg) -> StdResult<Binary> {
    let config = load_config(deps.storage)?;
    match msg {
        QueryMsg::Config {} => to_json_binary(&ConfigResponse {
            admin: config.admin,
            denom: config.denom,
            max_royalty: config.max_royalty,
            raise_delay: config.raise_delay,
            dispute_bond: config.dispute_bond,
            task_market: config.task_market,
        }),
        QueryMsg::Listing { hash } => {
            let l = LISTINGS.load(deps.storage, hash.as_slice())?;
            to_json_binary(&listing_response(deps, &env, &config, hash, l)?)
        }
        QueryMsg::Listings { start_after, limit } => {
            let start = start_after.as_ref().map(|h| Bound::exclusive(h.as_slice()));
            let listings = LISTINGS
                .range(deps.storage, start, None, Order::Ascending)
                .take(page_limit(limit))
                .map(|r| {
                    r.and_then(|(k, l)| {
                        listing_response(deps, &env, &config, HexBinary::from(k), l)
                    })
                })
                .collect::<StdResult<_>>()?;
            to_json_binary(&ListingsResponse { listings })
        }
        QueryMsg::Licence { hash, holder } => {
            let holder = deps.api.addr_validate(&holder)?;
            let t = LICENCES.may_load(deps.storage, (hash.as_slice(), &holder))?;
            to_json_binary(&LicenceResponse {
                held: t.is_some(),
                purchased_at: t,
            })
        }
        QueryMsg::Accrued { creator } => {
            let c = deps.api.addr_validate(&creator)?;
            to_json_binary(&ACCRUED.may_load(deps.storage, &c)?.unwrap_or_default())
        }
        QueryMsg::Quote { buyer, hashes } => {
            to_json_binary(&quote(deps, &env, &config, buyer, hashes)?)
        }
        QueryMsg::Totals {} => to_json_binary(&TOTAL_ACCRUED.load(deps.storage)?),
    }
}

fn listing_response(
    deps: Deps,
    env: &Env,
    config: &Config,
    hash: HexBinary,
    l: Listing,
) -> StdResult<ListingResponse> {
    let royalty = l.royalty_at(env.block.time, config.max_royalty);
    let pending = l.pending.filter(|p| p.effective_at > env.block.time);
    let dispute = DISPUTES.may_load(deps.storage, hash.as_slice())?;
    Ok(ListingResponse {
        hash,
        kind: l.kind,
        name: l.name,
        creator: l.creator,
        licence_price: l.licence_price,
        royalty,
        pending,
        delisted: l.delisted,
        licences_sold: l.licences_sold,
        dispute,
    })
}

fn quote(
    deps: Deps,
    env: &Env,
    config: &Config,
    buyer: String,
    hashes: Vec<HexBinary>,
) -> StdResult<QuoteResponse> {
    if hashes.len() > MAX_QUOTE {
        return Err(cosmwasm_std::StdError::generic_err(format!(
            "at most {MAX_QUOTE} hashes per quote"
        )));
    }
    let buyer = deps.api.addr_validate(&buyer)?;
    let mut shares = Vec::new();
    let mut missing = Vec::new();
    let mut total = Uint128::zero();
    for (i, h) in hashes.iter().enumerate() {
        if hashes[..i].contains(h) {
            continue;
        }
        let Some(l) = LISTINGS.may_load(deps.storage, h.as_slice())? else {
            continue;
        };
        if l.delisted {
            continue;
        }
        if !l.licence_price.is_zero()
            && l.creator != buyer
            && !LICENCES.has(deps.storage, (h.as_slice(), &buyer))
        {
            missing.push(h.clone());
        }
        let amount = l.royalty_at(env.block.time, config.max_royalty);
        if !amount.is_zero() {
            total += amount;
            shares.push(RoyaltyShare {
                hash: h.clone(),
                creator: l.creator,
                amount,
                held: DISPUTES.has(deps.storage, h.as_slice()),
            });
        }
    }
    Ok(QuoteResponse {
        shares,
        total,
        missing_licences: missing,
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
    use crate::msg::PendingRoyalty;
    use cosmwasm_std::Timestamp;

    #[test]
    fn recorded_royalties_must_add_up_to_the_payment() {
        use clusterai_economy::asset::PaymentDenom;
        use cosmwasm_std::Coin;
        use cosmwasm_std::testing::{message_info, mock_dependencies, mock_env};
        let mut deps = mock_dependencies();
        let api = deps.api;
        let admin = api.addr_make("admin");
        let market = api.addr_make("market");
        let msg = InstantiateMsg {
            admin: None,
            denom: PaymentDenom::Native {
                denom: "uclai".into(),
            },
            max_royalty: Uint128::new(100),
            raise_delay: 3_600,
            dispute_bond: Uint128::new(50),
        };
        instantiate(deps.as_mut(), mock_env(), message_info(&admin, &[]), msg).unwrap();
        let set = ExecuteMsg::SetTaskMarket {
            address: market.to_string(),
        };
        execute(deps.as_mut(), mock_env(), message_info(&admin, &[]), set).unwrap();
        let shares = vec![RoyaltyShare {
            hash: HexBinary::from([1; 32]),
            creator: api.addr_make("creator"),
            amount: Uint128::new(11),
            held: true,
        }];
        let record = ExecuteMsg::RecordRoyalties { task_id: 1, shares };
        let paid = [Coin::new(10u128, "uclai")];
        assert_eq!(
            execute(
                deps.as_mut(),
                mock_env(),
                message_info(&market, &paid),
                record.clone()
            ),
            Err(ContractError::RoyaltyMismatch {
                shares: Uint128::new(11),
                paid: Uint128::new(10)
            })
        );
        let paid = [Coin::new(11u128, "uclai")];
        // The bank credits attached funds before the contract runs.
        let me = mock_env().contract.address;
        deps.querier.bank.update_balance(&me, paid.to_vec());
        execute(
            deps.as_mut(),
            mock_env(),
            message_info(&market, &paid),
            record.clone(),
        )
        .unwrap();
        // The same task cannot be recorded twice.
        assert_eq!(
            execute(
                deps.as_mut(),
                mock_env(),
                message_info(&market, &paid),
                record,
            ),
            Err(ContractError::AlreadyRecorded { task_id: 1 })
        );
        assert_eq!(
            TOTAL_ACCRUED.load(deps.as_ref().storage).unwrap(),
            Uint128::new(11)
        );
    }

    #[test]
    fn cw20_royalties_are_recorded_by_the_task_market_only_and_without_funds() {
        use clusterai_economy::asset::PaymentDenom;
        use cosmwasm_std::Coin;
        use cosmwasm_std::testing::{message_info, mock_dependencies, mock_env};
        let mut deps = mock_dependencies();
        let api = deps.api;
        let admin = api.addr_make("admin");
        let market = api.addr_make("market");
        let msg = InstantiateMsg {
            admin: None,
            denom: PaymentDenom::Cw20 {
                address: api.addr_make("token").to_string(),
            },
            max_royalty: Uint128::new(100),
            raise_delay: 3_600,
            dispute_bond: Uint128::new(50),
        };
        instantiate(deps.as_mut(), mock_env(), message_info(&admin, &[]), msg).unwrap();
        let set = ExecuteMsg::SetTaskMarket {
            address: market.to_string(),
        };
        execute(deps.as_mut(), mock_env(), message_info(&admin, &[]), set).unwrap();
        let record = ExecuteMsg::RecordRoyalties {
            task_id: 1,
            shares: vec![RoyaltyShare {
                hash: HexBinary::from([1; 32]),
                creator: api.addr_make("creator"),
                amount: Uint128::new(11),
                held: true,
            }],
        };
        let stranger = api.addr_make("stranger");
        assert_eq!(
            execute(
                deps.as_mut(),
                mock_env(),
                message_info(&stranger, &[]),
                record.clone()
            ),
            Err(ContractError::NotTaskMarket)
        );
        let coins = [Coin::new(11u128, "uclai")];
        assert!(
            execute(
                deps.as_mut(),
                mock_env(),
                message_info(&market, &coins),
                record.clone()
            )
            .is_err()
        );
        assert_eq!(
            TOTAL_ACCRUED.load(deps.as_ref().storage).unwrap(),
            Uint128::zero()
        );
        // The token says what the market holds: a record the balance does
        // not back is refused and changes nothing.
        let held = std::rc::Rc::new(std::cell::Cell::new(10u128));
        let seen = held.clone();
        deps.querier.update_wasm(move |_| {
            cosmwasm_std::SystemResult::Ok(cosmwasm_std::ContractResult::Ok(
                cosmwasm_std::to_json_binary(&cw20::BalanceResponse {
                    balance: Uint128::new(seen.get()),
                })
                .unwrap(),
            ))
        });
        assert_eq!(
            execute(
                deps.as_mut(),
                mock_env(),
                message_info(&market, &[]),
                record.clone(),
            ),
            Err(ContractError::Unbacked {
                held: Uint128::new(10),
                owed: Uint128::new(11)
            })
        );
        held.set(11);
        execute(
            deps.as_mut(),
            mock_env(),
            message_info(&market, &[]),
            record,
        )
        .unwrap();
        assert_eq!(
            TOTAL_ACCRUED.load(deps.as_ref().storage).unwrap(),
            Uint128::new(11)
        );
    }

    #[test]
    fn royalty_at_applies_matured_raises_and_the_cap() {
        let mut l = Listing {
            kind: ListingKind::Model,
            name: "m".into(),
            creator: Addr::unchecked("c"),
            licence_price: Uint128::zero(),
            royalty: Uint128::new(10),
            pending: Some(PendingRoyalty {
                royalty: Uint128::new(30),
                effective_at: Timestamp::from_seconds(100),
            }),
            delisted: false,
            licences_sold: 0,
        };
        let cap = Uint128::new(25);
        assert_eq!(
            l.royalty_at(Timestamp::from_seconds(99), cap),
            Uint128::new(10)
        );
        assert_eq!(
            l.royalty_at(Timestamp::from_seconds(100), cap),
            Uint128::new(25)
        );
        assert_eq!(
            l.royalty_at(Timestamp::from_seconds(100), Uint128::new(100)),
            Uint128::new(30)
        );
        l.settle_pending(Timestamp::from_seconds(50));
        assert!(l.pending.is_some());
        l.settle_pending(Timestamp::from_seconds(150));
        assert_eq!((l.royalty, l.pending), (Uint128::new(30), None));
    }
}
