//! Never returns: the host must stop it by fuel or deadline.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Spin;

impl Plugin for Spin {
    fn describe() -> PluginInfo {
        PluginInfo::new("spin-forever", "0.1.0")
    }

    fn run(_input: Input) -> Result<Output, TaskError> {
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}

export_plugin!(Spin);
