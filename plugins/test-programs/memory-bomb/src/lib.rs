//! Allocates 16 MiB blocks, touching each, until memory runs out.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Bomb;

impl Plugin for Bomb {
    fn describe() -> PluginInfo {
        PluginInfo::new("memory-bomb", "0.1.0")
    }

    fn run(_input: Input) -> Result<Output, TaskError> {
        let mut blocks = Vec::new();
        loop {
            blocks.push(std::hint::black_box(vec![1u8; 16 << 20]));
            if blocks.len() > 1 << 20 {
                return Ok(Output::text(format!("{}", blocks.len())));
            }
        }
    }
}

export_plugin!(Bomb);
