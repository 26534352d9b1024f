//! The runtime's integration tests, one binary (it links wasmtime once).

mod compile;
mod hostile;
mod runtime;
mod worlds;
