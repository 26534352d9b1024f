//! Balances, funding from genesis and payments in either denomination.

use super::Suite;
use crate::contracts::{NATIVE_DENOM, PayIn};
use cosmwasm_std::{Addr, Coin, Uint128, to_json_binary};
use cw_multi_test::error::AnyResult;
use cw_multi_test::{AppResponse, Executor};
use cw20::Cw20ExecuteMsg;
use serde::Serialize;
use std::fmt::Debug;

impl Suite {
    /// Balance of `who` in the deployment's denomination.
    pub fn balance(&self, who: &Addr) -> u128 {
        match self.pay_in {
            PayIn::Cw20 => {
                let r: cw20::BalanceResponse = self
                    .app
                    .wrap()
                    .query_wasm_smart(
                        &self.token,
                        &cw20::Cw20QueryMsg::Balance {
                            address: who.to_string(),
                        },
                    )
                    .expect("balance");
                r.balance.u128()
            }
            PayIn::Native => self
                .app
                .wrap()
                .query_balance(who, NATIVE_DENOM)
                .expect("balance")
                .amount
                .u128(),
        }
    }

    /// Gives `amount` from genesis to the named account.
    pub fn fund(&mut self, name: &str, amount: u128) -> Addr {
        let to = self.addr(name);
        self.give(&to, amount);
        to
    }

    /// Gives `amount` from genesis to `to`.
    pub fn give(&mut self, to: &Addr, amount: u128) {
        self.known.insert(to.clone());
        let genesis = self.genesis.clone();
        match self.pay_in {
            PayIn::Cw20 => {
                let token = self.token.clone();
                self.app
                    .execute_contract(
                        genesis,
                        token,
                        &Cw20ExecuteMsg::Transfer {
                            recipient: to.to_string(),
                            amount: Uint128::new(amount),
                        },
                        &[],
                    )
                    .expect("fund");
            }
            PayIn::Native => {
                self.app
                    .send_tokens(genesis, to.clone(), &[Coin::new(amount, NATIVE_DENOM)])
                    .expect("fund");
            }
        }
    }

    /// Pays `amount` from `from` into `contract` with a call: a cw20 `Send`
    /// with `hook` or an execute of `direct` with funds attached.
    pub fn pay<H: Serialize, D: Serialize + Debug>(
        &mut self,
        from: &Addr,
        contract: &Addr,
        amount: u128,
        hook: &H,
        direct: &D,
    ) -> AnyResult<AppResponse> {
        match self.pay_in {
            PayIn::Cw20 => self.app.execute_contract(
                from.clone(),
                self.token.clone(),
                &Cw20ExecuteMsg::Send {
                    contract: contract.to_string(),
                    amount: Uint128::new(amount),
                    msg: to_json_binary(hook)?,
                },
                &[],
            ),
            PayIn::Native => {
                let funds = if amount == 0 {
                    vec![]
                } else {
                    vec![Coin::new(amount, NATIVE_DENOM)]
                };
                self.app
                    .execute_contract(from.clone(), contract.clone(), direct, &funds)
            }
        }
    }
}
