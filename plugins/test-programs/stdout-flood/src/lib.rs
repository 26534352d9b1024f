//! Prints to stdout without end.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Flood;

impl Plugin for Flood {
    fn describe() -> PluginInfo {
        PluginInfo::new("stdout-flood", "0.1.0")
    }

    fn run(_input: Input) -> Result<Output, TaskError> {
        let mut i = 0u64;
        loop {
            println!("line {i}: the quick brown fox jumps over the lazy dog");
            i += 1;
        }
    }
}

export_plugin!(Flood);
