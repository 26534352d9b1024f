//! `clusterai env`: where this node keeps its data and caches, as the one
//! module that defines them (`clusterai_types::env`) resolves them now.

use std::process::ExitCode;

use clusterai_types::env;

/// Prints every path; `json` prints one object.
pub(crate) fn run(json: bool) -> anyhow::Result<ExitCode> {
    let paths = env::describe();
    if json {
        let map: serde_json::Map<String, serde_json::Value> = paths
            .iter()
            .map(|(k, v)| (k.to_string(), v.display().to_string().into()))
            .collect();
        println!("{}", serde_json::Value::Object(map));
    } else {
        for (k, v) in &paths {
            println!("{k:<18} {}", v.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
