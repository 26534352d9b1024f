//! Sleeps instead of spinning: a sleep is a host call, where fuel and the
//! epoch deadline cannot reach it. Param `secs` (default an hour; `forever`
//! asks for the longest sleep WASI can express).

use std::time::Duration;

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Sleeper;

impl Plugin for Sleeper {
    fn describe() -> PluginInfo {
        PluginInfo::new("sleeper", "0.1.0")
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        let secs = match input.param("secs") {
            Some("forever") => u64::MAX / 1_000_000_000,
            _ => input.param_or("secs", 3_600u64)?,
        };
        std::thread::sleep(Duration::from_secs(secs));
        Ok(Output::text("woke up"))
    }
}

export_plugin!(Sleeper);
