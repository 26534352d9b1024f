//! Built straight from the frozen `clusterai:task@0.1.0` WIT (not through
//! the SDK, which follows the current world): reverses its text input and
//! logs a line, as a plugin published before 0.2.0 would.

wit_bindgen::generate!({
    path: ["../../../wit/deps/wasi-nn", "../../../wit/v0.1.0"],
    world: "clusterai:task/task-plugin@0.1.0",
    generate_all,
});

use clusterai::task::log::{Level, log};
use clusterai::task::types::{PluginInfo, TaskError, TaskInput, TaskOutput};

struct Legacy;

impl exports::clusterai::task::plugin::Guest for Legacy {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "legacy".into(),
            version: "0.1.0".into(),
            description: "Reverses text; built for world 0.1.0".into(),
            input_types: vec!["text/plain".into()],
            output_type: "text/plain".into(),
            models: Vec::new(),
        }
    }

    fn run(input: TaskInput) -> Result<TaskOutput, TaskError> {
        let text = String::from_utf8(input.data)
            .map_err(|_| TaskError::InvalidInput("input is not UTF-8".into()))?;
        log(Level::Info, "reversing");
        Ok(TaskOutput {
            data: text.chars().rev().collect::<String>().into_bytes(),
            content_type: "text/plain".into(),
        })
    }
}

export!(Legacy);
