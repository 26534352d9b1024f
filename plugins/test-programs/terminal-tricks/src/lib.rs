//! Puts terminal control sequences everywhere the operator may read it: its
//! description, a warning log, its output, and (param `fail`) its error.
//! Clear the screen, set the window title, recolour, move the cursor back,
//! reverse the text direction.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin, log};

/// What every field carries.
const TRICKS: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}[31mred\r\u{8}\u{202e}gnp.exe";

struct Tricks;

impl Plugin for Tricks {
    fn describe() -> PluginInfo {
        PluginInfo::new("terminal-tricks", "0.1.0").description(format!("about {TRICKS}"))
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        log::warn(&format!("log {TRICKS}"));
        if input.param("fail").is_some() {
            return Err(TaskError::InvalidInput(format!("error {TRICKS}")));
        }
        Ok(Output::text(format!("output {TRICKS}\n")))
    }
}

export_plugin!(Tricks);
