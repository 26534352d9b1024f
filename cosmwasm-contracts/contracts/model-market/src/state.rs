//! What the model market stores.

use clusterai_economy::asset::Denom;
use clusterai_economy::codec::{Reader, put_addr};
pub use clusterai_economy::config::save as save_config;
use clusterai_economy::config::{self, AdminConfig};
use clusterai_economy::models::{ListingDispute, ListingKind, PendingRoyalty};
use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, StdResult, Storage, Timestamp, Uint128};
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
    /// Bond of a listing dispute.
    pub dispute_bond: Uint128,
    /// The only caller of `RecordRoyalties`.
    pub task_market: Option<Addr>,
}

impl AdminConfig for Config {
    /// A binary record: every quote and royalty record reads it, and JSON
    /// would cost several times more gas.
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(256);
        put_addr(&mut b, &self.admin);
        match &self.denom {
            Denom::Cw20(a) => {
                b.push(0);
                put_addr(&mut b, a);
            }
            Denom::Native(d) => {
                b.push(1);
                clusterai_economy::codec::put_str(&mut b, d);
            }
        }
        b.extend_from_slice(&self.max_royalty.u128().to_be_bytes());
        b.extend_from_slice(&self.raise_delay.to_be_bytes());
        b.extend_from_slice(&self.dispute_bond.u128().to_be_bytes());
        match &self.task_market {
            Some(a) => {
                b.push(1);
                put_addr(&mut b, a);
            }
            None => b.push(0),
        }
        b
    }

    /// The inverse of [`Config::encode`].
    fn decode(b: &[u8]) -> StdResult<Self> {
        let mut r = Reader::new(b, "config");
        let admin = r.addr()?;
        let denom = match r.u8()? {
            0 => Denom::Cw20(r.addr()?),
            1 => Denom::Native(r.str()?.to_string()),
            _ => return Err(r.corrupt()),
        };
        let max_royalty = r.uint128()?;
        let raise_delay = r.u64()?;
        let dispute_bond = r.uint128()?;
        let task_market = match r.u8()? {
            0 => None,
            1 => Some(r.addr()?),
            _ => return Err(r.corrupt()),
        };
        r.finish()?;
        Ok(Config {
            admin,
            denom,
            max_royalty,
            raise_delay,
            dispute_bond,
            task_market,
        })
    }

    fn admin(&self) -> &Addr {
        &self.admin
    }

    fn admin_mut(&mut self) -> &mut Addr {
        &mut self.admin
    }
}

/// The configuration.
pub fn load_config(storage: &dyn Storage) -> StdResult<Config> {
    config::load(storage)
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

    /// Moves the royalty to `royalty` at `now` (with a matured raise folded
    /// in first) and returns when the change applies: a cut at once, and it
    /// cancels any raise in waiting; a raise after `raise_delay`, unless the
    /// same raise already waits, which keeps its time.
    pub fn change_royalty(
        &mut self,
        royalty: Uint128,
        now: Timestamp,
        raise_delay: u64,
    ) -> Timestamp {
        self.settle_pending(now);
        if royalty <= self.royalty {
            self.royalty = royalty;
            self.pending = None;
            return now;
        }
        match &self.pending {
            Some(p) if p.royalty == royalty => p.effective_at,
            _ => {
                let effective_at = now.plus_seconds(raise_delay);
                self.pending = Some(PendingRoyalty {
                    royalty,
                    effective_at,
                });
                effective_at
            }
        }
    }
}

/// Listings by hash bytes.
pub const LISTINGS: Map<&[u8], Listing> = Map::new("listings");
/// Licences by (hash, holder): purchase time.
pub const LICENCES: Map<(&[u8], &Addr), Timestamp> = Map::new("licences");
/// Accrued income by creator.
pub const ACCRUED: Map<&Addr, Uint128> = Map::new("accrued");
/// Open authorship disputes by hash.
pub const DISPUTES: Map<&[u8], ListingDispute> = Map::new("disputes");
/// Tasks whose royalties were recorded (each is recorded once).
pub const RECORDED: Map<u64, ()> = Map::new("recorded");
/// Everything the market owes: accrued income, income held by disputes and
/// their bonds.
pub const TOTAL_ACCRUED: Item<Uint128> = Item::new("total_accrued");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_records_round_trip() {
        for (denom, task_market) in [
            (Denom::Cw20(Addr::unchecked("token")), None),
            (
                Denom::Native("ucai".into()),
                Some(Addr::unchecked("market")),
            ),
        ] {
            let c = Config {
                admin: Addr::unchecked("admin"),
                denom,
                max_royalty: Uint128::new(5000),
                raise_delay: 86_400,
                dispute_bond: Uint128::new(77),
                task_market,
            };
            let b = c.encode();
            assert_eq!(Config::decode(&b).unwrap(), c);
            assert!(Config::decode(&b[..b.len() - 1]).is_err());
        }
    }
}
