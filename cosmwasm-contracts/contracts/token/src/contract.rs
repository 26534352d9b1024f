//! Entry points of the token: cw20-base behind the network's checks.

use crate::error::ContractError;
use clusterai_economy::migrate::{MigrateMsg, migrate_version};
use cosmwasm_std::{Binary, Deps, DepsMut, Env, MessageInfo, Response, StdResult};
use cw20_base::msg::{ExecuteMsg, InstantiateMsg, QueryMsg};

/// cw2 name of this contract.
pub const CONTRACT_NAME: &str = "crates.io:clusterai-token";
/// cw2 version of this contract.
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// Instantiates the token: a minter and marketing info are required.
pub fn instantiate(
    mut deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    if msg.mint.is_none() {
        return Err(ContractError::MinterRequired);
    }
    match &msg.marketing {
        Some(m) if m.project.is_some() && m.description.is_some() && m.marketing.is_some() => {}
        _ => return Err(ContractError::MarketingRequired),
    }
    let res = cw20_base::contract::instantiate(deps.branch(), env, info, msg)?;
    // cw20-base records its own name; this artifact migrates as itself.
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    Ok(res)
}

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// cw20 execute messages, unchanged.
pub fn execute(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: ExecuteMsg,
) -> Result<Response, ContractError> {
    Ok(cw20_base::contract::execute(deps, env, info, msg)?)
}

#[cfg_attr(not(feature = "library"), cosmwasm_std::entry_point)]
/// cw20 queries, unchanged.
pub fn query(deps: Deps, env: Env, msg: QueryMsg) -> StdResult<Binary> {
    cw20_base::contract::query(deps, env, msg)
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
    use cosmwasm_std::Uint128;
    use cosmwasm_std::testing::{message_info, mock_dependencies, mock_env};
    use cw20::{Cw20Coin, MinterResponse};
    use cw20_base::msg::InstantiateMarketingInfo;

    fn msg(api: &cosmwasm_std::testing::MockApi) -> InstantiateMsg {
        InstantiateMsg {
            name: "ClusterAI".into(),
            symbol: "CLAI".into(),
            decimals: 6,
            initial_balances: vec![Cw20Coin {
                address: api.addr_make("genesis").to_string(),
                amount: Uint128::new(1000),
            }],
            mint: Some(MinterResponse {
                minter: api.addr_make("gov").to_string(),
                cap: None,
            }),
            marketing: Some(InstantiateMarketingInfo {
                project: Some("ClusterAI".into()),
                description: Some("Pays for AI tasks".into()),
                marketing: Some(api.addr_make("gov").to_string()),
                logo: None,
            }),
        }
    }

    #[test]
    fn needs_minter_and_marketing_and_records_its_own_name() {
        let mut deps = mock_dependencies();
        let api = deps.api;
        let info = message_info(&api.addr_make("creator"), &[]);
        let mut m = msg(&api);
        m.mint = None;
        assert_eq!(
            instantiate(deps.as_mut(), mock_env(), info.clone(), m),
            Err(ContractError::MinterRequired)
        );
        let mut m = msg(&api);
        m.marketing = None;
        assert_eq!(
            instantiate(deps.as_mut(), mock_env(), info.clone(), m),
            Err(ContractError::MarketingRequired)
        );
        instantiate(deps.as_mut(), mock_env(), info, msg(&api)).unwrap();
        assert_eq!(
            cw2::get_contract_version(&deps.storage).unwrap().contract,
            CONTRACT_NAME
        );
        migrate(deps.as_mut(), mock_env(), MigrateMsg {}).unwrap();
    }
}
