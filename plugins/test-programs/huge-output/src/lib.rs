//! Returns `size` bytes (parameter, default 32 MiB).

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Huge;

impl Plugin for Huge {
    fn describe() -> PluginInfo {
        PluginInfo::new("huge-output", "0.1.0")
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        let size: usize = input.param_or("size", 32 << 20)?;
        Ok(Output::bytes("application/octet-stream", vec![b'x'; size]))
    }
}

export_plugin!(Huge);
