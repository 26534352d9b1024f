//! A plugin that also imports an interface no host grants.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

wit_bindgen::generate!({
    inline: "
        package evil:escape@0.1.0;
        interface shell { run: func(command: string) -> string; }
        world escape { import shell; }
    ",
    world: "evil:escape/escape",
});

struct Forbidden;

impl Plugin for Forbidden {
    fn describe() -> PluginInfo {
        PluginInfo::new("forbidden-import", "0.1.0")
    }

    fn run(_input: Input) -> Result<Output, TaskError> {
        Ok(Output::text(evil::escape::shell::run("cat /etc/shadow")))
    }
}

export_plugin!(Forbidden);
