//! Messages of the model market: listings of plugins and models by content
//! hash, licences and creator royalties.

use crate::asset::PaymentDenom;
use crate::market::RoyaltyShare;
use cosmwasm_schema::{QueryResponses, cw_serde};
use cosmwasm_std::{Addr, HexBinary, Timestamp, Uint128};
use cw20::Cw20ReceiveMsg;

/// What a listing is.
#[cw_serde]
pub enum ListingKind {
    /// A task plugin (a WASI component).
    Plugin,
    /// A model (ONNX or GGUF blob).
    Model,
}

/// Instantiate the model market.
#[cw_serde]
pub struct InstantiateMsg {
    /// Who may change the royalty cap and delay; the sender if absent.
    pub admin: Option<String>,
    /// The payment denomination.
    pub denom: PaymentDenom,
    /// Highest per-use royalty a listing may charge.
    pub max_royalty: Uint128,
    /// Seconds between a royalty raise and the moment it applies (1 hour to
    /// a year).
    pub raise_delay: u64,
    /// What a claimant escrows to dispute who listed a hash.
    pub dispute_bond: Uint128,
}

/// Execute messages.
#[cw_serde]
pub enum ExecuteMsg {
    /// List a plugin or model; the sender becomes its creator. A creator
    /// listing again what they delisted keeps the royalty in force then: a
    /// higher one waits `raise_delay`, as with `SetRoyalty`.
    List {
        /// BLAKE3 of the blob.
        hash: HexBinary,
        /// Plugin or model.
        kind: ListingKind,
        /// A display name (1 to 64 bytes).
        name: String,
        /// Price of a licence (zero: no licence needed).
        licence_price: Uint128,
        /// Royalty per settled task that uses it (at most the cap).
        royalty: Uint128,
    },
    /// Change the licence price (creator).
    SetLicencePrice {
        /// The listing.
        hash: HexBinary,
        /// New price.
        price: Uint128,
    },
    /// Change the per-use royalty (creator): a lower one applies at once, a
    /// higher one after `raise_delay`.
    SetRoyalty {
        /// The listing.
        hash: HexBinary,
        /// New royalty.
        royalty: Uint128,
    },
    /// Withdraw a listing (creator): no new licences, no royalty on new tasks.
    Delist {
        /// The listing.
        hash: HexBinary,
    },
    /// Buy a licence with the attached native funds (exactly the price).
    BuyLicence {
        /// The listing.
        hash: HexBinary,
    },
    /// Credit the royalties of a settled task that were held for an
    /// authorship dispute, with the attached native funds (task market
    /// only; other royalties accrue in the task market's ledger).
    RecordRoyalties {
        /// The task.
        task_id: u64,
        /// Who gets what; the amounts sum to the funds.
        shares: Vec<RoyaltyShare>,
    },
    /// cw20 hook: the payload is a [`ReceiveMsg`].
    Receive(Cw20ReceiveMsg),
    /// Withdraw the sender's accrued royalties and licence income.
    Withdraw {},
    /// Claim authorship of a listed hash someone else listed, escrowing
    /// `dispute_bond` as attached native funds. Until the dispute is
    /// resolved, the listing's income is held rather than credited.
    DisputeListing {
        /// The listing.
        hash: HexBinary,
    },
    /// Rule on a dispute (admin, i.e. governance): to the claimant, who
    /// becomes the creator and gets the held income and the bond back; or to
    /// the creator, who gets the held income and the bond.
    ResolveDispute {
        /// The listing.
        hash: HexBinary,
        /// Whether the claimant showed authorship.
        to_claimant: bool,
    },
    /// Name the task market, the only contract allowed to record royalties
    /// (admin, once: the link cannot be repointed afterwards).
    SetTaskMarket {
        /// Its address.
        address: String,
    },
    /// Change the cap, the raise delay and the dispute bond (admin).
    UpdateConfig {
        /// New cap.
        max_royalty: Uint128,
        /// New delay (1 hour to a year; raises already waiting keep theirs).
        raise_delay: u64,
        /// New dispute bond.
        dispute_bond: Uint128,
    },
    /// Hand the admin role over (admin).
    UpdateAdmin {
        /// The new admin.
        admin: String,
    },
}

/// cw20 hook payloads.
#[cw_serde]
pub enum ReceiveMsg {
    /// Buy a licence; the sent amount must equal the price.
    BuyLicence {
        /// The listing.
        hash: HexBinary,
    },
    /// Dispute a listing; the sent amount must equal the dispute bond.
    DisputeListing {
        /// The listing.
        hash: HexBinary,
    },
    /// Credit royalties of a settled task (task market only).
    RecordRoyalties {
        /// The task.
        task_id: u64,
        /// Who gets what; the amounts sum to the sent amount.
        shares: Vec<RoyaltyShare>,
    },
}

/// Queries.
#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    /// Configuration.
    #[returns(ConfigResponse)]
    Config {},
    /// One listing.
    #[returns(ListingResponse)]
    Listing {
        /// The hash.
        hash: HexBinary,
    },
    /// Listings by hash.
    #[returns(ListingsResponse)]
    Listings {
        /// Page after this hash.
        start_after: Option<HexBinary>,
        /// Page size.
        limit: Option<u32>,
    },
    /// Whether `holder` holds a licence for `hash`.
    #[returns(LicenceResponse)]
    Licence {
        /// The listing.
        hash: HexBinary,
        /// The holder.
        holder: String,
    },
    /// Accrued, unwithdrawn income of a creator.
    #[returns(Uint128)]
    Accrued {
        /// The creator.
        creator: String,
    },
    /// The royalties a task using `hashes` would owe now, and which licences
    /// `buyer` lacks.
    #[returns(QuoteResponse)]
    Quote {
        /// The task's buyer.
        buyer: String,
        /// Plugin and model hashes.
        hashes: Vec<HexBinary>,
    },
    /// Everything the market owes (accrued income, held income and
    /// dispute bonds), for the conservation invariant.
    #[returns(Uint128)]
    Totals {},
}

/// Configuration.
#[cw_serde]
pub struct ConfigResponse {
    /// Admin.
    pub admin: Addr,
    /// The payment denomination.
    pub denom: crate::asset::Denom,
    /// Royalty cap.
    pub max_royalty: Uint128,
    /// Raise delay in seconds.
    pub raise_delay: u64,
    /// Bond of a listing dispute.
    pub dispute_bond: Uint128,
    /// The task market, once set.
    pub task_market: Option<Addr>,
}

/// An open authorship dispute.
#[cw_serde]
pub struct ListingDispute {
    /// Who claims authorship.
    pub claimant: Addr,
    /// The escrowed bond.
    pub bond: Uint128,
    /// Income held since the dispute opened.
    pub held: Uint128,
    /// When it opened.
    pub opened_at: Timestamp,
}

/// A royalty raise waiting for its time.
#[cw_serde]
pub struct PendingRoyalty {
    /// The new royalty.
    pub royalty: Uint128,
    /// When it applies.
    pub effective_at: Timestamp,
}

/// A listing.
#[cw_serde]
pub struct ListingResponse {
    /// The hash.
    pub hash: HexBinary,
    /// Plugin or model.
    pub kind: ListingKind,
    /// Display name.
    pub name: String,
    /// Creator.
    pub creator: Addr,
    /// Licence price.
    pub licence_price: Uint128,
    /// The royalty that applies now (capped by the current maximum).
    pub royalty: Uint128,
    /// A raise not yet in force.
    pub pending: Option<PendingRoyalty>,
    /// Whether it was delisted.
    pub delisted: bool,
    /// Licences sold.
    pub licences_sold: u64,
    /// An open authorship dispute.
    pub dispute: Option<ListingDispute>,
}

/// A page of listings.
#[cw_serde]
pub struct ListingsResponse {
    /// The listings.
    pub listings: Vec<ListingResponse>,
}

/// A licence.
#[cw_serde]
pub struct LicenceResponse {
    /// Whether it is held.
    pub held: bool,
    /// When it was bought.
    pub purchased_at: Option<Timestamp>,
}

/// A royalty quote.
#[cw_serde]
pub struct QuoteResponse {
    /// One share per listed, non-delisted hash with a non-zero royalty.
    pub shares: Vec<RoyaltyShare>,
    /// Sum of the shares.
    pub total: Uint128,
    /// Listed hashes with a licence price that `buyer` holds no licence for.
    pub missing_licences: Vec<HexBinary>,
}
