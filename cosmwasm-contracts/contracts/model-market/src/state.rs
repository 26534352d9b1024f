//! What the model market stores.

use clusterai_economy::asset::Denom;
use clusterai_economy::models::{ListingKind, PendingRoyalty};
use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, Timestamp, Uint128};
use cw_storage_plus::{Item, Map};

/// Configuration.
#[cw_serde]
pub struct Config {
    /// May change the cap and delay.
    pub admin: Addr,
    /// The payment denomination.
    pub denom: Denom,
    /// Royalty cap.
    pub max_royalty: Uint128,
    /// Raise delay in seconds.
    pub raise_delay: u64,
    /// The only caller of `RecordRoyalties`.
    pub task_market: Option<Addr>,
}

/// A listing.
#[cw_serde]
pub struct Listing {
    /// Plugin or model.
    pub kind: ListingKind,
    /// Display name.
    pub name: String,
    /// Creator.
    pub creator: Addr,
    /// Licence price.
    pub licence_price: Uint128,
    /// Royalty in force (before the cap).
    pub royalty: Uint128,
    /// A raise waiting for its time.
    pub pending: Option<PendingRoyalty>,
    /// Delisted.
    pub delisted: bool,
    /// Licences sold.
    pub licences_sold: u64,
    /// Settled tasks that used it.
    pub uses: u64,
}

impl Listing {
    /// The royalty in force at `now`, with a matured raise applied, capped.
    pub fn royalty_at(&self, now: Timestamp, cap: Uint128) -> Uint128 {
        let r = match &self.pending {
            Some(p) if p.effective_at <= now => p.royalty,
            _ => self.royalty,
        };
        r.min(cap)
    }

    /// Folds a matured raise into `royalty`.
    pub fn settle_pending(&mut self, now: Timestamp) {
        if let Some(p) = &self.pending
            && p.effective_at <= now
        {
            self.royalty = p.royalty;
            self.pending = None;
        }
    }
}

/// Configuration.
pub const CONFIG: Item<Config> = Item::new("config");
/// Listings by hash bytes.
pub const LISTINGS: Map<&[u8], Listing> = Map::new("listings");
/// Licences by (hash, holder): purchase time.
pub const LICENCES: Map<(&[u8], &Addr), Timestamp> = Map::new("licences");
/// Accrued income by creator.
pub const ACCRUED: Map<&Addr, Uint128> = Map::new("accrued");
/// Sum of accrued income.
pub const TOTAL_ACCRUED: Item<Uint128> = Item::new("total_accrued");
