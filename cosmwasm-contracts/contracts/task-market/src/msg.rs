//! The task market's messages (defined in the interface package).
pub use clusterai_economy::market::*;
pub use clusterai_economy::migrate::MigrateMsg;
