//! Sleeps instead of spinning in describe(): a sleep burns no fuel, so only
//! the load's own deadline can end it.

use std::time::Duration;

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Dozing;

impl Plugin for Dozing {
    fn describe() -> PluginInfo {
        std::thread::sleep(Duration::from_secs(3_600));
        PluginInfo::new("describe-sleep", "0.1.0")
    }

    fn run(_input: Input) -> Result<Output, TaskError> {
        Ok(Output::text("unreachable in practice"))
    }
}

export_plugin!(Dozing);
