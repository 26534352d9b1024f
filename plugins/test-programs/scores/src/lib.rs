//! Ranks three labels for its input with scores carrying more digits than
//! anyone should vote on, and declares that its outputs compare rounded to
//! three decimal places (`canonical=round-3`): what a classifier whose
//! scores differ in the last digits between machines declares.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Scores;

impl Plugin for Scores {
    fn describe() -> PluginInfo {
        PluginInfo::new("scores", env!("CARGO_PKG_VERSION"))
            .description("ranked labels with scores, compared to 3 decimal places")
            .produces("application/json; canonical=round-3")
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        let n = input.data().len() as f64;
        let first = 0.5 + 1.0 / (n + 3.0);
        let second = (1.0 - first) * 0.75;
        let third = 1.0 - first - second;
        Ok(Output::bytes(
            "application/json",
            format!(
                r#"[{{"label":"cat","score":{first:.9}}},{{"label":"dog","score":{second:.9}}},{{"label":"fox","score":{third:.9}}}]"#
            )
            .into_bytes(),
        ))
    }
}

export_plugin!(Scores);
