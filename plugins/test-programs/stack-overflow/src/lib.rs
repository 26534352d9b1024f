//! Recurses without end.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Deep;

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    // black_box keeps the compiler from turning this into a loop.
    std::hint::black_box(recurse(std::hint::black_box(n + 1))) + 1
}

impl Plugin for Deep {
    fn describe() -> PluginInfo {
        PluginInfo::new("stack-overflow", "0.1.0")
    }

    fn run(_input: Input) -> Result<Output, TaskError> {
        Ok(Output::text(recurse(0).to_string()))
    }
}

export_plugin!(Deep);
