//! The model market: listings, licences and accrued royalties.

use super::Suite;
use clusterai_economy::models::{self, ListingKind, ListingResponse};
use cosmwasm_std::{Addr, HexBinary, Uint128};
use cw_multi_test::AppResponse;
use cw_multi_test::error::AnyResult;

impl Suite {
    /// Accrued royalties of `who`.
    pub fn accrued(&self, who: &Addr) -> u128 {
        let r: Uint128 = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.models,
                &models::QueryMsg::Accrued {
                    creator: who.to_string(),
                },
            )
            .expect("accrued");
        r.u128()
    }

    /// Lists a hash as the named creator.
    pub fn list(
        &mut self,
        creator: &str,
        hash: [u8; 32],
        kind: ListingKind,
        price: u128,
        royalty: u128,
    ) -> AnyResult<Addr> {
        let who = self.addr(creator);
        let models = self.models.clone();
        self.exec(
            &who,
            &models,
            &models::ExecuteMsg::List {
                hash: HexBinary::from(hash),
                kind,
                name: "listing".into(),
                licence_price: Uint128::new(price),
                royalty: Uint128::new(royalty),
            },
        )?;
        Ok(who)
    }

    /// Buys a licence for `hash` as `who`, paying `amount`.
    pub fn buy_licence(
        &mut self,
        who: &Addr,
        hash: [u8; 32],
        amount: u128,
    ) -> AnyResult<AppResponse> {
        let models = self.models.clone();
        let h = HexBinary::from(hash);
        self.pay(
            who,
            &models,
            amount,
            &models::ReceiveMsg::BuyLicence { hash: h.clone() },
            &models::ExecuteMsg::BuyLicence { hash: h },
        )
    }

    /// Disputes the listing of `hash` as `who`, paying `bond`.
    pub fn dispute_listing(
        &mut self,
        who: &Addr,
        hash: [u8; 32],
        bond: u128,
    ) -> AnyResult<AppResponse> {
        let models = self.models.clone();
        let h = HexBinary::from(hash);
        self.pay(
            who,
            &models,
            bond,
            &models::ReceiveMsg::DisputeListing { hash: h.clone() },
            &models::ExecuteMsg::DisputeListing { hash: h },
        )
    }

    /// One listing.
    pub fn listing(&self, hash: [u8; 32]) -> ListingResponse {
        self.app
            .wrap()
            .query_wasm_smart(
                &self.models,
                &models::QueryMsg::Listing {
                    hash: HexBinary::from(hash),
                },
            )
            .expect("listing")
    }

    /// Every listing.
    pub fn all_listings(&self) -> Vec<ListingResponse> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let page: models::ListingsResponse = self
                .app
                .wrap()
                .query_wasm_smart(
                    &self.models,
                    &models::QueryMsg::Listings {
                        start_after: start,
                        limit: Some(100),
                    },
                )
                .expect("listings");
            let Some(last) = page.listings.last() else {
                break;
            };
            start = Some(last.hash.clone());
            all.extend(page.listings);
        }
        all
    }
}
