//! The host side of `wasi:nn` for ClusterAI plugins, on ONNX Runtime.
//!
//! Plugins do their tensor work through `wasi:nn@0.2.0-rc-2024-10-28`; this
//! crate answers those calls with ONNX Runtime sessions (through the `ort`
//! crate, loading the pinned `libonnxruntime.so.1.32.0` at run time).
//!
//! # Parts
//!
//! - [`NnHost`]: one per process. Loads ONNX Runtime ([`ortlib`]), holds the
//!   [`NnSettings`] and the table of vetted models, each opened by the BLAKE3
//!   hash of its file, each with a small pool of sessions.
//! - [`NnTaskCtx`]: one per task, from [`NnHost::task_ctx`]: the task's
//!   deadline, the tensor bytes it holds, the providers its inferences ran on.
//! - [`NnView`] and [`add_to_linker`]: what a wasmtime store exposes, in the
//!   wasmtime-wasi `Ctx`/`View`/`add_to_linker` pattern.
//! - [`store::ModelStore`], [`cli`], [`mod@bench`]: the node's model folder, the
//!   `clusterai model` commands and the `nn` benchmark suite.
//!
//! # Guests cannot crash the host
//!
//! Every guest mistake (unknown hash, wrong dtype, rank or shape, a byte
//! length that does not match the dimensions, dimensions that overflow, a
//! missing or unknown input name, a corrupt model, a run past its deadline,
//! outputs over the cap, raw model bytes when they are disabled) comes back
//! as a `wasi:nn/errors.error` whose message names the problem. Inputs are
//! checked against the model's declared inputs before ONNX Runtime sees them.
//!
//! # Copies
//!
//! An input tensor is copied once, out of guest memory (the component model
//! lifts `list<u8>`); `compute` takes the tensor out of the resource table and
//! hands its buffer to ONNX Runtime in place (one more copy only when the
//! buffer is not aligned for its element type, or for f16/bf16). An output
//! stays in ONNX Runtime's buffer until the guest calls `data`, which copies
//! it once into the guest. wasmtime-wasi-nn's ONNX backend copies each tensor
//! about six times.
//!
//! # Example
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use clusterai_nn::{NnHost, NnSettings, Tensor};
//!
//! let host = NnHost::new(NnSettings::default())?;
//! let hash = host.add_model_file("model.onnx".as_ref())?;
//! let mut task = host.task_ctx(None);
//! let graph = task.load_by_name(&hash.to_hex())?;
//! let exec = task.init_execution_context(&graph)?;
//! let outputs = task.compute(&exec, vec![("x".into(), Tensor::from_f32(vec![1, 4], &[1.0; 4]))])?;
//! # let _ = outputs;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod bench;
pub mod cli;
mod error;
mod host;
mod model;
pub mod ortlib;
mod settings;
pub mod store;
mod tensor;
mod watchdog;
mod wit;

pub use error::{NnError, SetupError};
pub use host::{Graph, GraphExecutionContext, NnHost, NnTaskCtx, NnView, ProviderUse};
pub use model::{ModelInfo, ProviderKind, TensorInfo};
pub use settings::{CudaFallback, ExecutionProvider, NnSettings};
pub use tensor::{Tensor, element_size, expected_bytes, parse_type_name, type_name};
pub use wit::bindings;
pub use wit::{ErrorCode, ExecutionTarget, GraphEncoding, TensorType, add_to_linker};
