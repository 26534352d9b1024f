//! The payment denomination of a deployment.
//!
//! A deployment of the economy uses exactly one denomination for escrows,
//! stakes, royalties and fees: the network's cw20 token (paid in through
//! cw20 `Send` with a hook message), or, where a chain prefers it, one native
//! denom (paid in as funds attached to the message). One unit everywhere keeps
//! the conservation invariant a single equation.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{
    Addr, Api, BankMsg, Coin, CosmosMsg, MessageInfo, QuerierWrapper, StdResult, Uint128, WasmMsg,
    to_json_binary,
};
use cw20::{Cw20ExecuteMsg, Cw20ReceiveMsg};
use serde::Serialize;
use thiserror::Error;

/// The denomination as given in an instantiate message.
#[cw_serde]
pub enum PaymentDenom {
    /// A cw20 token contract (the network token).
    Cw20 {
        /// Address of the cw20 contract.
        address: String,
    },
    /// A native bank denom.
    Native {
        /// The denom, e.g. `uatom`.
        denom: String,
    },
}

/// The denomination, validated and stored.
#[cw_serde]
pub enum Denom {
    /// A cw20 token contract.
    Cw20(Addr),
    /// A native bank denom.
    Native(String),
}

/// A payment that does not match the deployment's denomination.
#[derive(Error, Debug, PartialEq, Eq, Clone)]
pub enum PaymentError {
    /// Nothing (or zero) was paid where a payment was required.
    #[error("payment required: send a non-zero amount of {denom}")]
    ZeroAmount {
        /// The expected denomination.
        denom: String,
    },
    /// A native coin of another denom was sent.
    #[error("wrong denom: expected {expected}, got {got}")]
    WrongDenom {
        /// The expected denomination.
        expected: String,
        /// What was sent.
        got: String,
    },
    /// More than one coin was attached.
    #[error("send exactly one coin of {denom}")]
    MultipleDenoms {
        /// The expected denomination.
        denom: String,
    },
    /// Native funds were attached to a message that takes none.
    #[error("this message takes no funds")]
    UnexpectedFunds,
    /// A cw20 hook came from a token that is not the deployment's.
    #[error("cw20 hook from {sender}, which is not the payment token")]
    WrongToken {
        /// The contract that called the hook.
        sender: String,
    },
    /// A native-funds message on a cw20 deployment (pay with cw20 `Send`).
    #[error("this deployment is paid in the cw20 token: use cw20 Send with a hook message")]
    NativeNotAccepted,
    /// A cw20 hook on a native deployment.
    #[error("this deployment is paid in native {denom}: attach funds instead")]
    Cw20NotAccepted {
        /// The native denom of the deployment.
        denom: String,
    },
    /// The denomination in the instantiate message is empty or malformed.
    #[error("invalid payment denomination: {reason}")]
    InvalidDenom {
        /// What was wrong.
        reason: String,
    },
}

impl PaymentDenom {
    /// Validates the addresses and denom.
    pub fn check(&self, api: &dyn Api) -> Result<Denom, PaymentError> {
        match self {
            PaymentDenom::Cw20 { address } => {
                api.addr_validate(address).map(Denom::Cw20).map_err(|e| {
                    PaymentError::InvalidDenom {
                        reason: e.to_string(),
                    }
                })
            }
            PaymentDenom::Native { denom } => {
                let ok = (3..=128).contains(&denom.len())
                    && denom
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic())
                    && denom
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/:._-".contains(c));
                if ok {
                    Ok(Denom::Native(denom.clone()))
                } else {
                    Err(PaymentError::InvalidDenom {
                        reason: format!("native denom {denom:?} is not a valid bank denom"),
                    })
                }
            }
        }
    }
}

impl Denom {
    /// A human-readable name for errors.
    pub fn name(&self) -> String {
        match self {
            Denom::Cw20(a) => a.to_string(),
            Denom::Native(d) => d.clone(),
        }
    }

    /// The amount paid in native funds with `info`, on a native deployment.
    /// Exactly one coin of the denom, non-zero.
    pub fn native_payment(&self, info: &MessageInfo) -> Result<Uint128, PaymentError> {
        let Denom::Native(denom) = self else {
            return Err(PaymentError::NativeNotAccepted);
        };
        match info.funds.as_slice() {
            [] => Err(PaymentError::ZeroAmount {
                denom: denom.clone(),
            }),
            [coin] if &coin.denom != denom => Err(PaymentError::WrongDenom {
                expected: denom.clone(),
                got: coin.denom.clone(),
            }),
            [coin] if coin.amount.is_zero() => Err(PaymentError::ZeroAmount {
                denom: denom.clone(),
            }),
            [coin] => Ok(coin.amount),
            _ => Err(PaymentError::MultipleDenoms {
                denom: denom.clone(),
            }),
        }
    }

    /// Checks a cw20 hook: it must come from the deployment's token and carry
    /// a non-zero amount. Returns the amount and the original sender.
    pub fn cw20_payment(
        &self,
        api: &dyn Api,
        info: &MessageInfo,
        wrapper: &Cw20ReceiveMsg,
    ) -> Result<(Uint128, Addr), PaymentError> {
        let Denom::Cw20(token) = self else {
            return Err(PaymentError::Cw20NotAccepted { denom: self.name() });
        };
        if info.sender != *token {
            return Err(PaymentError::WrongToken {
                sender: info.sender.to_string(),
            });
        }
        if !info.funds.is_empty() {
            return Err(PaymentError::UnexpectedFunds);
        }
        if wrapper.amount.is_zero() {
            return Err(PaymentError::ZeroAmount { denom: self.name() });
        }
        let sender =
            api.addr_validate(&wrapper.sender)
                .map_err(|e| PaymentError::InvalidDenom {
                    reason: e.to_string(),
                })?;
        Ok((wrapper.amount, sender))
    }

    /// What `holder` holds of this denomination (a bank or cw20 balance).
    pub fn balance(&self, querier: &QuerierWrapper, holder: &Addr) -> StdResult<Uint128> {
        match self {
            Denom::Native(d) => Ok(querier.query_balance(holder, d)?.amount),
            Denom::Cw20(token) => {
                let r: cw20::BalanceResponse = querier.query_wasm_smart(
                    token,
                    &cw20::Cw20QueryMsg::Balance {
                        address: holder.to_string(),
                    },
                )?;
                Ok(r.balance)
            }
        }
    }

    /// A message paying `amount` to `to` (a person or a contract, no hook).
    pub fn transfer(&self, to: &Addr, amount: Uint128) -> StdResult<CosmosMsg> {
        Ok(match self {
            Denom::Cw20(token) => WasmMsg::Execute {
                contract_addr: token.to_string(),
                msg: to_json_binary(&Cw20ExecuteMsg::Transfer {
                    recipient: to.to_string(),
                    amount,
                })?,
                funds: vec![],
            }
            .into(),
            Denom::Native(denom) => BankMsg::Send {
                to_address: to.to_string(),
                amount: vec![Coin::new(amount, denom.clone())],
            }
            .into(),
        })
    }

    /// A message paying `amount` into `contract` together with a call.
    ///
    /// On a cw20 deployment this is a cw20 `Send` whose hook is `hook` (the
    /// contract's `ReceiveMsg`); on a native one it is a plain execute of
    /// `direct` (the contract's `ExecuteMsg`) with the coins attached. Only
    /// the message that is sent gets serialised.
    pub fn pay_into<H: Serialize, D: Serialize>(
        &self,
        contract: &Addr,
        amount: Uint128,
        hook: &H,
        direct: &D,
    ) -> StdResult<CosmosMsg> {
        Ok(match self {
            Denom::Cw20(token) => WasmMsg::Execute {
                contract_addr: token.to_string(),
                msg: to_json_binary(&Cw20ExecuteMsg::Send {
                    contract: contract.to_string(),
                    amount,
                    msg: to_json_binary(hook)?,
                })?,
                funds: vec![],
            }
            .into(),
            Denom::Native(denom) => WasmMsg::Execute {
                contract_addr: contract.to_string(),
                msg: to_json_binary(direct)?,
                funds: vec![Coin::new(amount, denom.clone())],
            }
            .into(),
        })
    }

    /// Pays `amount` to `contract` and calls it with `msg`, for a callee
    /// that trusts the caller: a native payment rides on the call as funds;
    /// a cw20 payment is a plain `Transfer` followed by the call (no `Send`
    /// hook, whose base64 wrapping costs more than the transfer itself). Both
    /// messages run in the same transaction, so the callee holds the tokens
    /// when the call credits them.
    pub fn pay_and_call<M: Serialize>(
        &self,
        contract: &Addr,
        amount: Uint128,
        msg: &M,
    ) -> StdResult<Vec<CosmosMsg>> {
        Ok(match self {
            Denom::Cw20(_) => vec![
                self.transfer(contract, amount)?,
                WasmMsg::Execute {
                    contract_addr: contract.to_string(),
                    msg: to_json_binary(msg)?,
                    funds: vec![],
                }
                .into(),
            ],
            Denom::Native(denom) => vec![
                WasmMsg::Execute {
                    contract_addr: contract.to_string(),
                    msg: to_json_binary(msg)?,
                    funds: vec![Coin::new(amount, denom.clone())],
                }
                .into(),
            ],
        })
    }
}

/// Rejects native funds on a message that takes none.
pub fn no_funds(info: &MessageInfo) -> Result<(), PaymentError> {
    if info.funds.is_empty() {
        Ok(())
    } else {
        Err(PaymentError::UnexpectedFunds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::Binary;
    use cosmwasm_std::testing::{MockApi, message_info};

    #[test]
    fn native_payment_checks_denom_and_amount() {
        let api = MockApi::default();
        let who = api.addr_make("buyer");
        let d = Denom::Native("uclai".into());
        assert_eq!(
            d.native_payment(&message_info(&who, &[Coin::new(5u128, "uclai")])),
            Ok(Uint128::new(5))
        );
        assert!(matches!(
            d.native_payment(&message_info(&who, &[])),
            Err(PaymentError::ZeroAmount { .. })
        ));
        assert!(matches!(
            d.native_payment(&message_info(&who, &[Coin::new(0u128, "uclai")])),
            Err(PaymentError::ZeroAmount { .. })
        ));
        assert!(matches!(
            d.native_payment(&message_info(&who, &[Coin::new(5u128, "uatom")])),
            Err(PaymentError::WrongDenom { .. })
        ));
        assert!(matches!(
            d.native_payment(&message_info(
                &who,
                &[Coin::new(5u128, "uclai"), Coin::new(5u128, "uatom")]
            )),
            Err(PaymentError::MultipleDenoms { .. })
        ));
        let c = Denom::Cw20(api.addr_make("token"));
        assert_eq!(
            c.native_payment(&message_info(&who, &[])),
            Err(PaymentError::NativeNotAccepted)
        );
    }

    #[test]
    fn cw20_hook_must_come_from_the_token() {
        let api = MockApi::default();
        let token = api.addr_make("token");
        let other = api.addr_make("other");
        let buyer = api.addr_make("buyer");
        let d = Denom::Cw20(token.clone());
        let w = Cw20ReceiveMsg {
            sender: buyer.to_string(),
            amount: Uint128::new(3),
            msg: Binary::default(),
        };
        assert_eq!(
            d.cw20_payment(&api, &message_info(&token, &[]), &w),
            Ok((Uint128::new(3), buyer.clone()))
        );
        assert!(matches!(
            d.cw20_payment(&api, &message_info(&other, &[]), &w),
            Err(PaymentError::WrongToken { .. })
        ));
        let zero = Cw20ReceiveMsg {
            amount: Uint128::zero(),
            ..w.clone()
        };
        assert!(matches!(
            d.cw20_payment(&api, &message_info(&token, &[]), &zero),
            Err(PaymentError::ZeroAmount { .. })
        ));
        let n = Denom::Native("uclai".into());
        assert!(matches!(
            n.cw20_payment(&api, &message_info(&token, &[]), &w),
            Err(PaymentError::Cw20NotAccepted { .. })
        ));
    }

    #[test]
    fn native_denom_is_validated() {
        let api = MockApi::default();
        assert!(
            PaymentDenom::Native {
                denom: "uclai".into()
            }
            .check(&api)
            .is_ok()
        );
        assert!(
            PaymentDenom::Native { denom: "".into() }
                .check(&api)
                .is_err()
        );
        assert!(
            PaymentDenom::Native {
                denom: "1abc".into()
            }
            .check(&api)
            .is_err()
        );
        assert!(
            PaymentDenom::Cw20 {
                address: "not an address".into()
            }
            .check(&api)
            .is_err()
        );
    }
}
