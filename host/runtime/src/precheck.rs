//! What a component must pass before the compiler sees it: the size and
//! structure limits of `clusterai-wasm-check` (one read of its bytes, see
//! [`CompileLimits`]), and its own imports and exports against what this
//! host grants and needs.

pub use clusterai_wasm_check::{CompileLimits, Structure};

use crate::error::LoadError;
use crate::inspect::{PLUGIN_EXPORT, PLUGIN_EXPORT_V0_1};
use crate::runtime::Runtime;

/// Reads the structure of `wasm` (a component whose header was checked),
/// stopping at the first limit it crosses.
pub fn scan(wasm: &[u8], limits: &CompileLimits) -> Result<Structure, LoadError> {
    Ok(clusterai_wasm_check::scan(wasm, limits)?)
}

/// Everything a component must pass before it is compiled here: limits,
/// imports this runtime grants, and the plugin export.
pub(crate) fn check(runtime: &Runtime, wasm: &[u8]) -> Result<Structure, LoadError> {
    let s = scan(wasm, &runtime.config().compile_limits)?;
    if let Some(import) = s.imports.iter().find(|name| !runtime.is_granted(name)) {
        return Err(LoadError::ForbiddenImport {
            import: import.clone(),
            granted: runtime.granted_packages().join(", "),
        });
    }
    if !s
        .exports
        .iter()
        .any(|n| n == PLUGIN_EXPORT || n == PLUGIN_EXPORT_V0_1)
    {
        return Err(LoadError::MissingExport(PLUGIN_EXPORT.to_string()));
    }
    Ok(s)
}
