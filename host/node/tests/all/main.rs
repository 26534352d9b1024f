//! The node's integration tests, one binary: the composition root wires the
//! runtime, wasi-nn on ONNX Runtime and the blob store, so plugins doing
//! real inference are tested here.

mod api;
mod chain;
mod common;
mod harness;
mod openapi;
mod plugins;
