//! Never finishes describing itself: the loop runs at load time, before
//! any task, so loading needs a budget of its own.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Endless;

impl Plugin for Endless {
    fn describe() -> PluginInfo {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
            if n == 0 {
                return PluginInfo::new("describe-loop", "0.1.0");
            }
        }
    }

    fn run(_input: Input) -> Result<Output, TaskError> {
        Ok(Output::text("unreachable in practice"))
    }
}

export_plugin!(Endless);
