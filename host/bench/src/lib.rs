//! ClusterAI's benchmarks: the report every `clusterai bench <suite> --json`
//! prints, and the suites themselves.
//!
//! Every figure is measured beside a baseline in the same run and printed
//! with `ratio = value / baseline_value` ([`report`]). The suites (feature
//! `suites`, on by default):
//!
//! | suite | what | baseline |
//! |---|---|---|
//! | `runtime` | warm task start, cached load | the naive path (linker + compile per task), a fresh compile |
//! | `nn` | every model through the plugin path | native ONNX Runtime, same settings |
//! | `transfer` | blobs over iroh | a TCP copy, one provider vs two |
//! | `gpu` | every model on CUDA | the same on CPU |
//! | `llm` | SmolLM2 generating through the chat plugin | the same graph driven natively |
//!
//! [`catn`] is the `tensor` example plugin's binary tensor format, shared
//! by the suites and the tests.

#![deny(missing_docs)]

pub mod catn;
pub mod report;

#[cfg(feature = "suites")]
pub mod api;
#[cfg(feature = "suites")]
pub mod chain;
#[cfg(feature = "suites")]
pub mod gpu;
#[cfg(feature = "suites")]
pub mod hostile;
#[cfg(feature = "suites")]
pub mod https;
#[cfg(feature = "suites")]
pub mod llm;
#[cfg(feature = "suites")]
pub mod nn;
#[cfg(feature = "suites")]
pub mod runtime;
#[cfg(feature = "suites")]
pub mod transfer;

pub use report::{BenchReport, BenchResult, percentile};
