//! Hands the host huge strings where it keeps text rather than bytes: an
//! output content type, an error message (of control characters, which
//! escaping would blow up further) and a log line, 8 MiB each (small
//! beside its memory limit, huge beside what a host should hold).

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin, log};

const HUGE: usize = 8 << 20;

struct StringBomb;

impl Plugin for StringBomb {
    fn describe() -> PluginInfo {
        PluginInfo::new("string-bomb", "0.1.0")
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        match input.text()? {
            "content-type" => Ok(Output::bytes("x".repeat(HUGE), b"ok".to_vec())),
            "error" => Err(TaskError::InvalidInput("\u{1}".repeat(HUGE))),
            "log" => {
                log::info(&"y".repeat(HUGE));
                Ok(Output::text("logged"))
            }
            other => Err(TaskError::InvalidInput(format!("unknown attack {other:?}"))),
        }
    }
}

export_plugin!(StringBomb);
