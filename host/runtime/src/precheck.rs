//! What a component must pass before the compiler sees it.
//!
//! Cranelift cannot be stopped once it runs, and its time and memory grow
//! with the code it is given (faster than linearly inside one huge
//! function). So the work is bounded before it starts: one pass of the
//! binary parser (no validation, no allocation per instruction) checks the
//! size and structure against [`CompileLimits`], and the component's own
//! imports and exports against what this host grants and needs. A plugin
//! that fails here costs one read of its bytes.

use crate::error::LoadError;
use crate::inspect::{PLUGIN_EXPORT, PLUGIN_EXPORT_V0_1};
use crate::runtime::Runtime;

/// Bounds on what the host will compile.
///
/// | limit | default | the largest example plugin (chat) |
/// |---|---|---|
/// | `max_wasm_bytes` | 64 MiB | 1.5 MB |
/// | `max_code_bytes` (all function bodies) | 16 MiB | 1.08 MB |
/// | `max_function_bytes` (one body) | 1 MiB | 30 KB |
/// | `max_functions` | 100 000 | 2 344 |
/// | `max_modules` (core modules and components, nested) | 64 | 5 |
///
/// Measured on 2 cores: one function of 0.9 MB compiles in 0.5 s, and 32
/// of them (29 MB) in 8.4 s, so the defaults bound a compile to about 5 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileLimits {
    /// The whole component, in bytes.
    pub max_wasm_bytes: usize,
    /// All function bodies of all its core modules together.
    pub max_code_bytes: usize,
    /// The largest single function body.
    pub max_function_bytes: usize,
    /// Functions defined in all its core modules together.
    pub max_functions: u32,
    /// Core modules and components, nested ones included.
    pub max_modules: u32,
}

impl Default for CompileLimits {
    fn default() -> Self {
        Self {
            max_wasm_bytes: 64 << 20,
            max_code_bytes: 16 << 20,
            max_function_bytes: 1 << 20,
            max_functions: 100_000,
            max_modules: 64,
        }
    }
}

/// What one pass over a component found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Structure {
    /// Bytes of all function bodies.
    pub code_bytes: usize,
    /// The largest function body.
    pub largest_function: usize,
    /// Functions defined.
    pub functions: u32,
    /// Core modules and components, the outer one included.
    pub modules: u32,
    /// The outer component's imports, by name.
    pub imports: Vec<String>,
    /// The outer component's exports, by name.
    pub exports: Vec<String>,
}

/// Reads the structure of `wasm` (a component whose header was checked),
/// stopping at the first limit it crosses.
pub fn scan(wasm: &[u8], limits: &CompileLimits) -> Result<Structure, LoadError> {
    use wasmparser::Payload;
    if wasm.len() > limits.max_wasm_bytes {
        return Err(too_big(format!(
            "the component is {} bytes, over the {}-byte limit",
            wasm.len(),
            limits.max_wasm_bytes
        )));
    }
    let mut s = Structure::default();
    let mut depth = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| LoadError::Invalid {
            offset: Some(e.offset()),
            message: e.message().to_string(),
        })?;
        match payload {
            Payload::Version { .. } => {
                depth += 1;
                s.modules += 1;
                if s.modules > limits.max_modules {
                    return Err(too_big(format!(
                        "the component nests more than {} modules and components",
                        limits.max_modules
                    )));
                }
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CodeSectionEntry(body) => {
                let len = body.range().len();
                s.functions += 1;
                s.code_bytes += len;
                s.largest_function = s.largest_function.max(len);
                if len > limits.max_function_bytes {
                    return Err(too_big(format!(
                        "a function body of {len} bytes (at byte offset {:#x}) is over the {}-byte limit",
                        body.range().start,
                        limits.max_function_bytes
                    )));
                }
                if s.code_bytes > limits.max_code_bytes {
                    return Err(too_big(format!(
                        "the code is over the {}-byte limit",
                        limits.max_code_bytes
                    )));
                }
                if s.functions > limits.max_functions {
                    return Err(too_big(format!(
                        "the component defines more than {} functions",
                        limits.max_functions
                    )));
                }
            }
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(invalid)?;
                    s.imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.map_err(invalid)?;
                    s.exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(s)
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

fn too_big(message: String) -> LoadError {
    LoadError::TooBig(message)
}

fn invalid(e: wasmparser::BinaryReaderError) -> LoadError {
    LoadError::Invalid {
        offset: Some(e.offset()),
        message: e.message().to_string(),
    }
}
