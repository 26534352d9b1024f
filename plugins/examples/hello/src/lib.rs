//! Greets its input. Parameters: `greeting` (default "Hello").

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin, log};

struct Hello;

impl Plugin for Hello {
    fn describe() -> PluginInfo {
        PluginInfo::new("hello", env!("CARGO_PKG_VERSION"))
            .description("Greets its input: no model, a smoke test of the sandbox")
            .accepts("text/plain")
            .produces("text/plain; charset=utf-8")
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        input.reject_unknown_params(&["greeting"])?;
        let greeting: String = input.param_or("greeting", "Hello".to_string())?;
        let name = input.text()?.trim();
        if name.is_empty() {
            return Err(TaskError::InvalidInput(
                "input is empty: send a name to greet".into(),
            ));
        }
        log::debug(&format!("greeting {} bytes of input", name.len()));
        Ok(Output::text(format!("{greeting}, {name}!\n")))
    }
}

export_plugin!(Hello);
