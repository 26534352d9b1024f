//! Declares one blob (the BLAKE3 of `DECLARED_TEXT`) and returns the bytes
//! of the blob its `hash` parameter names (default: the declared one); the
//! host must refuse any blob the plugin did not declare.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, assets};

/// BLAKE3 of the bytes `clusterai asset\n`.
const DECLARED: &str = "d2f197a3bca8e1ce076f4d882b51b1ebd453141c90cf3423978a8f2f2bb6e91f";

struct AssetReader;

impl Plugin for AssetReader {
    fn describe() -> PluginInfo {
        PluginInfo::new("asset-reader", env!("CARGO_PKG_VERSION"))
            .description("Reads a declared blob")
            .produces("application/octet-stream")
            .blob("declared", DECLARED)
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        let hash = input.param("hash").unwrap_or(DECLARED);
        Ok(Output::bytes(
            "application/octet-stream",
            assets::read(hash)?,
        ))
    }
}

#[cfg(target_arch = "wasm32")]
clusterai_plugin_sdk::export_plugin!(AssetReader);
