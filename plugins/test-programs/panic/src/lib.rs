//! Panics halfway through a task.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Panics;

impl Plugin for Panics {
    fn describe() -> PluginInfo {
        PluginInfo::new("panic", "0.1.0")
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        panic!(
            "deliberate panic after reading {} bytes",
            input.data().len()
        );
    }
}

export_plugin!(Panics);
