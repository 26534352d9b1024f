//! Looking at a wasm file before trusting it: header checks, imports, exports.

use crate::error::LoadError;
use crate::runtime::Runtime;

/// The export every plugin must provide (world 0.2.0).
pub(crate) const PLUGIN_EXPORT: &str = "clusterai:task/plugin@0.2.0";
/// The same export of plugins built for world 0.1.0, which still run.
pub(crate) const PLUGIN_EXPORT_V0_1: &str = "clusterai:task/plugin@0.1.0";

/// Rejects what is not a component before the compiler sees it, with the reason.
pub(crate) fn check_header(wasm: &[u8]) -> Result<(), LoadError> {
    Ok(clusterai_wasm_check::check_header(wasm)?)
}

/// Maps a compile error to [`LoadError::Invalid`], keeping the validator's byte offset.
pub(crate) fn invalid_from(e: wasmtime::Error) -> LoadError {
    if let Some(reader) = e
        .chain()
        .find_map(|c| c.downcast_ref::<wasmparser::BinaryReaderError>())
    {
        return LoadError::Invalid {
            offset: Some(reader.offset()),
            message: reader.message().to_string(),
        };
    }
    LoadError::Invalid {
        offset: None,
        message: format!("{e:#}"),
    }
}

/// What a file handed in as a plugin turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BinaryKind {
    /// A WebAssembly component (what a plugin must be).
    Component,
    /// A core WebAssembly module.
    CoreModule,
    /// Not WebAssembly at all.
    NotWasm,
}

/// What `clusterai plugin inspect` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    /// BLAKE3 of the file.
    pub hash: String,
    /// Size in bytes.
    pub size: usize,
    /// What the file is.
    pub kind: BinaryKind,
    /// The world's imports (instances and functions), by name.
    pub imports: Vec<String>,
    /// The world's exports, by name.
    pub exports: Vec<String>,
    /// Imports this host does not grant.
    pub forbidden_imports: Vec<String>,
    /// Whether the plugin would load here.
    pub would_link: bool,
    /// The plugin's own description, when it loads.
    pub info: Option<crate::PluginInfo>,
    /// The version of the plugin world it was built for, when it loads.
    pub world: Option<crate::WorldVersion>,
    /// Why it would not load, when it would not.
    pub error: Option<String>,
}

/// Inspects `wasm` without running a task: its kind, imports, exports, and whether it would link.
pub fn inspect(runtime: &Runtime, wasm: &[u8]) -> Inspection {
    let mut out = Inspection {
        hash: clusterai_types::ContentHash::of(wasm).to_hex(),
        size: wasm.len(),
        kind: BinaryKind::NotWasm,
        imports: Vec::new(),
        exports: Vec::new(),
        forbidden_imports: Vec::new(),
        would_link: false,
        info: None,
        world: None,
        error: None,
    };
    if let Err(e) = check_header(wasm) {
        if matches!(e, LoadError::NotAComponent) {
            out.kind = BinaryKind::CoreModule;
        }
        out.error = Some(e.to_string());
        return out;
    }
    out.kind = BinaryKind::Component;
    // Read without compiling: inspecting a stranger's component costs one
    // parse, whatever it holds.
    let structure = match crate::precheck::scan(wasm, &runtime.config().compile_limits) {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    out.imports = structure.imports;
    out.exports = structure.exports;
    out.forbidden_imports = out
        .imports
        .iter()
        .filter(|i| !runtime.is_granted(i))
        .cloned()
        .collect();
    match runtime.load(wasm) {
        Ok(plugin) => {
            out.would_link = true;
            out.info = Some(plugin.info().clone());
            out.world = Some(plugin.world());
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_the_problem() {
        assert!(
            matches!(check_header(b"PK\x03\x04rest"), Err(LoadError::NotWasm { found }) if found == b"PK\x03\x04")
        );
        assert!(matches!(
            check_header(b"\0as"),
            Err(LoadError::NotWasm { .. })
        ));
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(LoadError::NotAComponent)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
