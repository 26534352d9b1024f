//! Invariants: the observable-state snapshot, the conservation check and
//! the helpers that assert a message is rejected without effect.

use super::Suite;
use crate::contracts::{GENESIS_SUPPLY, PayIn};
use clusterai_economy::market::{self, MarketTotals, TaskStatus};
use clusterai_economy::models;
use clusterai_economy::registry::{self, RegistryTotals};
use cosmwasm_std::Uint128;
use cw_multi_test::error::AnyResult;
use std::fmt::Debug;

impl Suite {
    /// A snapshot of everything observable: balances, totals, tasks, nodes,
    /// claims, rewards, listings. Equal snapshots mean nothing changed.
    pub fn snapshot(&self) -> String {
        let q = self.app.wrap();
        let mut out = String::new();
        for a in &self.known {
            out += &format!("bal {a} {}\n", self.balance(a));
        }
        for c in [&self.registry, &self.market, &self.models] {
            out += &format!("bal {c} {}\n", self.balance(c));
        }
        let rt: RegistryTotals = q
            .query_wasm_smart(&self.registry, &registry::QueryMsg::Totals {})
            .expect("totals");
        let mt: MarketTotals = q
            .query_wasm_smart(&self.market, &market::QueryMsg::Totals {})
            .expect("totals");
        let at: Uint128 = q
            .query_wasm_smart(&self.models, &models::QueryMsg::Totals {})
            .expect("totals");
        out += &format!("{rt:?} {mt:?} {at}\n");
        for n in self.all_nodes() {
            out += &format!("{n:?}\n");
            let c: registry::ClaimsResponse = q
                .query_wasm_smart(
                    &self.registry,
                    &registry::QueryMsg::Claims {
                        operator: n.operator.to_string(),
                    },
                )
                .expect("claims");
            out += &format!("{c:?}\n");
        }
        for t in self.all_tasks() {
            out += &format!("{t:?}\n");
        }
        let l: models::ListingsResponse = q
            .query_wasm_smart(
                &self.models,
                &models::QueryMsg::Listings {
                    start_after: None,
                    limit: Some(100),
                },
            )
            .expect("listings");
        out += &format!("{l:?}\n");
        for a in &self.known {
            out += &format!("rw {a} {} {}\n", self.rewards(a), self.accrued(a));
        }
        let rc: registry::ConfigResponse = q
            .query_wasm_smart(&self.registry, &registry::QueryMsg::Config {})
            .expect("config");
        let mc: market::ConfigResponse = q
            .query_wasm_smart(&self.market, &market::QueryMsg::Config {})
            .expect("config");
        let ac: models::ConfigResponse = q
            .query_wasm_smart(&self.models, &models::QueryMsg::Config {})
            .expect("config");
        out += &format!("{rc:?}\n{mc:?}\n{ac:?}\n");
        out
    }

    /// Runs `f`, which must fail with exactly `expected`, and checks that
    /// nothing observable changed and that conservation still holds.
    pub fn rejects<E, T>(&mut self, expected: E, f: impl FnOnce(&mut Suite) -> AnyResult<T>)
    where
        E: PartialEq + std::fmt::Display + Debug + Send + Sync + 'static,
        T: Debug,
    {
        let before = self.snapshot();
        let err = expect_err::<E>(f(self));
        assert_eq!(err, expected);
        assert_eq!(
            before,
            self.snapshot(),
            "state changed after a rejected message ({expected})"
        );
        self.check_conservation();
    }

    /// The conservation invariant. Panics, naming the broken equation, if
    /// any token was created or lost:
    ///
    /// - each contract's balance equals what its ledger says it holds
    ///   (registry: stake + unbonding claims; market: open escrows +
    ///   unclaimed rewards; model market: accrued royalties and licence income);
    /// - each ledger total equals the sum of its entries;
    /// - the balances of every account and contract add up to the genesis supply.
    pub fn check_conservation(&self) {
        let q = self.app.wrap();
        let rt: RegistryTotals = q
            .query_wasm_smart(&self.registry, &registry::QueryMsg::Totals {})
            .expect("totals");
        let mt: MarketTotals = q
            .query_wasm_smart(&self.market, &market::QueryMsg::Totals {})
            .expect("totals");
        let at: Uint128 = q
            .query_wasm_smart(&self.models, &models::QueryMsg::Totals {})
            .expect("totals");

        assert_eq!(
            self.balance(&self.registry),
            (rt.staked + rt.unbonding).u128(),
            "registry balance != stake + unbonding"
        );
        assert_eq!(
            self.balance(&self.market),
            (mt.escrowed + mt.unclaimed_rewards).u128(),
            "market balance != escrow + rewards"
        );
        assert_eq!(
            self.balance(&self.models),
            at.u128(),
            "model market balance != accrued royalties"
        );

        let nodes = self.all_nodes();
        let staked: u128 = nodes.iter().map(|n| n.stake.u128()).sum();
        assert_eq!(
            staked,
            rt.staked.u128(),
            "sum of node stakes != registry total"
        );
        let unbonding: u128 = nodes
            .iter()
            .map(|n| {
                let c: registry::ClaimsResponse = q
                    .query_wasm_smart(
                        &self.registry,
                        &registry::QueryMsg::Claims {
                            operator: n.operator.to_string(),
                        },
                    )
                    .expect("claims");
                c.claims.iter().map(|c| c.amount.u128()).sum::<u128>()
            })
            .sum();
        assert_eq!(
            unbonding,
            rt.unbonding.u128(),
            "sum of claims != registry unbonding total"
        );

        let escrowed: u128 = self
            .all_tasks()
            .iter()
            .filter(|t| matches!(t.status, TaskStatus::Open | TaskStatus::Pending))
            .map(|t| t.reward.u128())
            .sum();
        assert_eq!(
            escrowed,
            mt.escrowed.u128(),
            "sum of open task rewards != escrow total"
        );
        let rewards: u128 = self.known.iter().map(|a| self.rewards(a)).sum();
        assert_eq!(
            rewards,
            mt.unclaimed_rewards.u128(),
            "sum of unclaimed rewards != market total"
        );
        let held_by_disputes: u128 = self
            .all_listings()
            .iter()
            .filter_map(|l| l.dispute.as_ref())
            .map(|d| (d.held + d.bond).u128())
            .sum();
        let accrued: u128 =
            self.known.iter().map(|a| self.accrued(a)).sum::<u128>() + held_by_disputes;
        assert_eq!(
            accrued,
            at.u128(),
            "sum of accrued royalties != model market total"
        );

        let held: u128 = self.known.iter().map(|a| self.balance(a)).sum::<u128>()
            + self.balance(&self.registry)
            + self.balance(&self.market)
            + self.balance(&self.models);
        if self.pay_in == PayIn::Cw20 {
            let info: cw20::TokenInfoResponse = q
                .query_wasm_smart(&self.token, &cw20::Cw20QueryMsg::TokenInfo {})
                .expect("token info");
            assert_eq!(
                info.total_supply.u128(),
                GENESIS_SUPPLY,
                "token supply changed"
            );
        }
        assert_eq!(
            held, GENESIS_SUPPLY,
            "tokens held by accounts and contracts != genesis supply"
        );
    }
}

/// The error of type `E` behind `result` (even when wrapped, e.g. by the
/// cw20 `Send` that called a hook); panics if the call succeeded or failed
/// for another reason.
pub fn expect_err<E: std::fmt::Display + Debug + Send + Sync + 'static>(
    result: AnyResult<impl Debug>,
) -> E {
    let err = match result {
        Ok(r) => panic!("expected an error, got success: {r:?}"),
        Err(e) => e,
    };
    let text = format!("{err:?}");
    match err.downcast::<E>() {
        Ok(e) => e,
        Err(_) => panic!("expected a {}, got: {text}", std::any::type_name::<E>()),
    }
}
