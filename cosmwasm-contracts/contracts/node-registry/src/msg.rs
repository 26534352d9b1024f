//! The registry's messages (defined in the interface package).
pub use clusterai_economy::migrate::MigrateMsg;
pub use clusterai_economy::registry::*;
