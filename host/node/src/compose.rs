//! Building a runtime with the node's capabilities.

use std::sync::Arc;

use clusterai_nn::NnHost;
use clusterai_runtime::{Runtime, RuntimeConfig};

use crate::capabilities::NnCapability;

/// A runtime from `config` with wasi-nn served by `nn` when given (a plugin
/// importing `wasi:nn` is refused at load time without it). The files that
/// come with models (tokenizers, format "blob") are read from the same
/// verified source as the models, unless `config` names another.
pub fn runtime(mut config: RuntimeConfig, nn: Option<NnHost>) -> anyhow::Result<Runtime> {
    if let Some(nn) = nn {
        if config.assets.is_none() {
            config.assets = nn.settings().model_source.clone();
        }
        config.capabilities.push(Arc::new(NnCapability::new(nn)));
    }
    Runtime::new(config)
}
