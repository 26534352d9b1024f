//! The built plugins (examples and hostile test programs), found only
//! through the `clusterai-test-programs` build (or `$CLUSTERAI_PLUGIN_WASM_DIR`).

use std::path::PathBuf;

pub use clusterai_test_programs as programs;

/// The component of the plugin crate `name` (e.g. `hello`, `spin_forever`).
#[track_caller]
pub fn path(name: &str) -> PathBuf {
    if let Some(dir) = clusterai_types::env::plugin_wasm_dir() {
        return dir.join(format!("{name}.wasm"));
    }
    match programs::ALL.iter().find(|(n, _)| *n == name) {
        Some((_, p)) => PathBuf::from(p),
        None => panic!(
            "no built plugin {name:?}; the build has {:?}",
            programs::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>()
        ),
    }
}

/// The bytes of the plugin crate `name`.
#[track_caller]
pub fn bytes(name: &str) -> Vec<u8> {
    let p = path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read plugin {}: {e}", p.display()))
}
