//! Building a runtime with the node's capabilities.

use std::sync::Arc;

use clusterai_nn::NnHost;
use clusterai_runtime::{Runtime, RuntimeConfig};

use crate::capabilities::NnCapability;

/// A runtime from `config` with wasi-nn served by `nn` when given (a plugin
/// importing `wasi:nn` is refused at load time without it).
pub fn runtime(mut config: RuntimeConfig, nn: Option<NnHost>) -> anyhow::Result<Runtime> {
    if let Some(nn) = nn {
        config.capabilities.push(Arc::new(NnCapability::new(nn)));
    }
    Runtime::new(config)
}
