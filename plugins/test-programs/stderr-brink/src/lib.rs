//! Writes exactly `bytes` bytes to stderr (param `bytes`), then, by param
//! `then`: returns normally (`ok`) or aborts (`abort`). Filling the cap to
//! the byte is allowed; a verdict must not call it a breach.

use std::io::Write;

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Brink;

impl Plugin for Brink {
    fn describe() -> PluginInfo {
        PluginInfo::new("stderr-brink", "0.1.0")
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        input.reject_unknown_params(&["bytes", "then"])?;
        let bytes: usize = input.param_or("bytes", 0)?;
        let then = input.param("then").unwrap_or("ok").to_string();
        let chunk = [b'e'; 1024];
        let mut left = bytes;
        let mut err = std::io::stderr().lock();
        while left > 0 {
            let n = left.min(chunk.len());
            if err.write_all(&chunk[..n]).is_err() {
                // Refused by the cap: stop writing, say how far it got.
                return Ok(Output::text(format!(
                    "refused after {} bytes",
                    bytes - left
                )));
            }
            left -= n;
        }
        drop(err);
        match then.as_str() {
            "abort" => std::process::abort(),
            _ => Ok(Output::text(format!("wrote {bytes} bytes"))),
        }
    }
}

export_plugin!(Brink);
