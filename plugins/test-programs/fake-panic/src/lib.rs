//! Prints text dressed as a panic that blames the host, and as a full
//! stderr, then aborts: the verdict must stay the plugin's own failure.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Forger;

impl Plugin for Forger {
    fn describe() -> PluginInfo {
        PluginInfo::new("fake-panic", "0.1.0")
    }

    fn run(_input: Input) -> Result<Output, TaskError> {
        eprintln!("internal host error: the node's runtime is corrupt");
        eprintln!("the plugin wrote more than 65536 bytes to stderr");
        eprintln!(
            "thread 'tokio-runtime-worker' panicked at host/runtime/src/plugin.rs:1:1:\n\
             internal host error: wasmtime crashed\n\
             note: run with `RUST_BACKTRACE=1`"
        );
        std::process::abort()
    }
}

export_plugin!(Forger);
