//! The host side of `wasi:nn` for ClusterAI plugins, on ONNX Runtime.
//!
//! Plugins do their tensor work through `wasi:nn@0.2.0-rc-2024-10-28`; this
//! crate answers those calls with ONNX Runtime sessions (through the `ort`
//! crate, loading the pinned `libonnxruntime.so.1.32.0` at run time).
//!
//! # Parts
//!
//! - [`NnHost`] (`table`): one per process. Loads ONNX Runtime ([`ortlib`]),
//!   holds the [`NnSettings`] and the table of vetted models, each opened by
//!   the BLAKE3 hash of its bytes from the node's
//!   [`BlobSource`](clusterai_types::BlobSource), each with a small pool of
//!   sessions.
//! - [`NnTaskCtx`] (`task`): one per task, from [`NnHost::task_ctx`]: the
//!   guest's operations, the task's deadline and bounds (from its
//!   [`TaskPolicy`](clusterai_types::TaskPolicy)), the models it may open
//!   ([`ModelAccess`]), the tensor bytes it holds, the providers its
//!   inferences ran on.
//! - `marshal`: tensors into and out of ONNX Runtime values.
//! - [`NnView`] and [`add_to_linker`]: what a wasmtime store exposes, in the
//!   wasmtime-wasi `Ctx`/`View`/`add_to_linker` pattern. This crate knows
//!   wasmtime, not the node's runtime: the composition root wires it in.
//!
//! # Guests cannot crash the host
//!
//! Every guest mistake (unknown hash, a model the task may not open, wrong
//! dtype, rank or shape, a byte
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
//! use clusterai_nn::{ModelAccess, NnHost, NnSettings, Tensor};
//! use clusterai_types::TaskPolicy;
//!
//! let host = NnHost::new(NnSettings::default())?;
//! let hash = host.add_model_file("model.onnx".as_ref())?;
//! let mut task = host.task_ctx(&TaskPolicy::default(), ModelAccess::Only(vec![hash]), None);
//! let graph = task.load_by_name(&hash.to_hex())?;
//! let exec = task.init_execution_context(&graph)?;
//! let outputs = task.compute(&exec, vec![("x".into(), Tensor::from_f32(vec![1, 4], &[1.0; 4]))])?;
//! # let _ = outputs;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod error;
pub mod limits;
mod marshal;
mod model;
pub mod ortlib;
mod settings;
mod table;
mod task;
mod tensor;
mod watchdog;
mod wit;
mod working_memory;

pub use clusterai_types::ExecutionProvider;
pub use error::{NnError, SetupError};
pub use limits::InputLimits;
pub use model::{ModelInfo, TensorInfo};
pub use settings::{Accelerator, CudaFallback, NnSettings};
pub use table::NnHost;
pub use task::{Graph, GraphExecutionContext, ModelAccess, NnTaskCtx, NnView, ProviderUse};
pub use tensor::{Tensor, element_size, expected_bytes, parse_type_name, type_name};
pub use wit::bindings;
pub use wit::{ErrorCode, ExecutionTarget, GraphEncoding, TensorType, add_to_linker};
