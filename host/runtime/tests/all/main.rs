//! The runtime's integration tests, one binary (it links wasmtime once).

mod hostile;
mod runtime;
mod worlds;
