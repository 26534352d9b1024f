//! clusterai-nn's integration tests, one binary (it links ONNX Runtime's
//! bindings and wasmtime once). Plugins calling wasi-nn through the real
//! runtime are tested where the two are wired: the node crate.

mod nn;
