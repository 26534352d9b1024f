//! Deploys the whole ClusterAI economy (token, node registry, task market,
//! model market) in cw-multi-test, with helpers for every action and the
//! conservation check that every test ends with.
//!
//! ```
//! use clusterai_economy_testing::{Suite, PayIn};
//! let mut s = Suite::new(PayIn::Cw20);
//! let nodes = s.register_nodes(3);
//! let task = s.post_simple_task("buyer", 10_000, 3).unwrap();
//! for n in &nodes {
//!     s.commit(n, task, [1; 32], [2; 16]).unwrap();
//! }
//! for n in &nodes {
//!     s.reveal(n, task, [1; 32], [2; 16]).unwrap();
//! }
//! s.settle("anyone", task).unwrap();
//! s.check_conservation();
//! ```

mod beacon;
mod contracts;
pub mod sim;
mod suite;

pub use beacon::TestBeacon;

pub use contracts::{
    Accounts, DISPUTE_BOND, Deployed, GENESIS_SUPPLY, MAX_ROYALTY, NATIVE_DENOM, PayIn,
    RAISE_DELAY, deploy, market_contract, market_params, models_contract, registry_contract,
    registry_params, token_contract,
};
pub use suite::{NODE_STAKE, Suite, expect_err};
