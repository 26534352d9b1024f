//! Describes itself with a name and a description megabytes long, full of
//! control characters, and a hundred thousand input types: loading must
//! refuse it with a short error, holding none of it.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct DescribeBomb;

impl Plugin for DescribeBomb {
    fn describe() -> PluginInfo {
        let mut info = PluginInfo::new("\u{7}".repeat(4 << 20), "0.1.0")
            .description("\u{1b}[2J".repeat(1 << 20));
        for i in 0..100_000 {
            info = info.accepts(format!("application/x-{i}"));
        }
        info
    }

    fn run(_input: Input) -> Result<Output, TaskError> {
        Ok(Output::text("never reached"))
    }
}

export_plugin!(DescribeBomb);
