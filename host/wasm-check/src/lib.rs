//! What a WebAssembly component must pass before a ClusterAI host compiles
//! it: the header (a component, not a core module or other bytes), and its
//! size and structure against [`CompileLimits`].
//!
//! Cranelift cannot be stopped once it runs, and its time and memory grow
//! with the code it is given (faster than linearly inside one huge
//! function). So the work is bounded before it starts: one pass of the
//! binary parser (no validation, no allocation per instruction) reads what
//! the limits need and the outer component's imports and exports. A
//! component that fails here costs one read of its bytes. This crate knows
//! no engine, so it is cheap to fuzz.

/// Why a component is refused before compiling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The bytes do not start with the WebAssembly magic `\0asm`.
    #[error("not a WebAssembly binary: expected the magic bytes \\0asm, found {found:02x?}")]
    NotWasm {
        /// The first bytes of the file (up to 4).
        found: Vec<u8>,
    },
    /// A core module, not a component.
    #[error("a core WebAssembly module, not a component")]
    NotAComponent,
    /// The binary is malformed.
    #[error("invalid WebAssembly at byte offset {offset:#x}: {message}")]
    Invalid {
        /// Byte offset of the fault.
        offset: usize,
        /// The parser's explanation.
        message: String,
    },
    /// Bigger or more complex than the limits allow.
    #[error("{0}")]
    TooBig(String),
}

/// Checks the 8-byte header: the magic, and layer 1 (a component).
pub fn check_header(wasm: &[u8]) -> Result<(), CheckError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(CheckError::NotWasm {
            found: wasm[..wasm.len().min(4)].to_vec(),
        });
    }
    // Bytes 4..8: a 16-bit version and a 16-bit layer; layer 0 is a core
    // module, 1 a component.
    match u16::from_le_bytes([wasm[6], wasm[7]]) {
        0 => Err(CheckError::NotAComponent),
        1 => Ok(()),
        other => Err(CheckError::Invalid {
            offset: 6,
            message: format!("unknown binary layer {other} (expected 1, a component)"),
        }),
    }
}

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
pub fn scan(wasm: &[u8], limits: &CompileLimits) -> Result<Structure, CheckError> {
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
        let payload = payload.map_err(invalid)?;
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

fn too_big(message: String) -> CheckError {
    CheckError::TooBig(message)
}

fn invalid(e: wasmparser::BinaryReaderError) -> CheckError {
    CheckError::Invalid {
        offset: e.offset(),
        message: e.message().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        assert_eq!(
            check_header(b"PK\x03\x04rest"),
            Err(CheckError::NotWasm {
                found: b"PK\x03\x04".to_vec()
            })
        );
        assert!(matches!(
            check_header(b"\0as"),
            Err(CheckError::NotWasm { .. })
        ));
        assert_eq!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(CheckError::NotAComponent)
        );
        assert!(matches!(
            check_header(b"\0asm\x0d\0\x02\0"),
            Err(CheckError::Invalid { offset: 6, .. })
        ));
        assert_eq!(check_header(b"\0asm\x0d\0\x01\0"), Ok(()));
    }

    #[test]
    fn an_empty_component_has_one_module_and_nothing_else() {
        let s = scan(b"\0asm\x0d\0\x01\0", &CompileLimits::default()).unwrap();
        assert_eq!(s.modules, 1);
        assert_eq!((s.functions, s.code_bytes), (0, 0));
        let tight = CompileLimits {
            max_wasm_bytes: 4,
            ..CompileLimits::default()
        };
        assert!(matches!(
            scan(b"\0asm\x0d\0\x01\0", &tight),
            Err(CheckError::TooBig(_))
        ));
    }
}
