//! Runs untrusted ClusterAI task plugins as WebAssembly components.
//!
//! # Overview
//!
//! The runtime is the sandbox and nothing else. A [`Runtime`] owns one
//! wasmtime [`Engine`](wasmtime::Engine) for the process (component model,
//! pooling allocator, fuel, epoch interruption), a
//! [`Linker`](wasmtime::component::Linker) with the base interfaces and the
//! [`Capability`]s the composition root grants, and an on-disk
//! [`CompileCache`]. [`Runtime::load`] turns wasm bytes into a [`Plugin`]:
//! validated, compiled once (or loaded precompiled), checked against what the
//! host grants, pre-instantiated and described. [`Plugin::run`] runs one task
//! in a fresh `Store` under a [`TaskPolicy`] and
//! returns the output with its [`Usage`], or a [`RunError`] naming the limit
//! or fault that ended it.
//!
//! The runtime names no inference backend or blob store: those are
//! capabilities ([`capability`]) that a node wires in.
//!
//! ```no_run
//! use clusterai_runtime::{Runtime, RuntimeConfig, TaskInput};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let plugin = runtime.load(&std::fs::read("hello.wasm")?)?;
//! let result = plugin.run(&TaskInput::text("world"), None)?;
//! assert_eq!(result.output.data, b"Hello, world!\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Isolation
//!
//! - No ambient authority: see [`host`] for what WASI can and cannot reach.
//! - Only the interfaces in [`GRANTED_PACKAGES`] and those of the runtime's
//!   capabilities link; any other import is a [`LoadError::ForbiddenImport`].
//! - Every task is bounded: fuel, a wall-clock deadline, linear memory,
//!   input, output, stdout/stderr and log sizes.
//! - A trap, a panic or a host-side bug ends only its task: the store is
//!   dropped, the instance slot returns to the pool, and the runtime keeps
//!   serving (`tests/hostile.rs` proves it).

#![deny(missing_docs)]

mod cache;
pub mod capability;
mod clock;
mod config;
mod error;
mod fairness;
pub mod guest_text;
pub mod host;
mod idle_threads;
mod in_place;
mod inspect;
mod plugin;
pub mod precheck;
mod runtime;

pub use cache::{CacheOutcome, CompileCache};
pub use capability::{Capability, Extensions, TaskContext};
pub use clusterai_types::TaskPolicy;
pub use config::RuntimeConfig;
pub use error::{LoadError, PluginError, RunError, Stdio};
pub use host::{HostState, LogLevel, LogLine, StreamSink};
pub use inspect::{BinaryKind, Inspection, inspect};
pub use plugin::{
    DESCRIBE_COPY_BYTES, DESCRIBE_FUEL, DESCRIBE_TIMEOUT, ModelFormat, ModelRequirement, Plugin,
    PluginInfo, TaskInput, TaskOutput, TaskResult, Usage, WorldVersion, copy_limit,
};
pub use precheck::CompileLimits;
pub use runtime::{GRANTED_PACKAGES, RETRY_TIMED_OUT_AFTER, Runtime, base_linker};

/// Host-side bindings of the plugin world's base interfaces (capabilities
/// link their own packages). Public for callers that drive wasmtime
/// directly with [`base_linker`], such as the naive path of the benchmarks.
///
/// The root module is `clusterai:task@0.2.0`, the world plugins are built
/// for now; [`v0_1`](bindings::v0_1) serves components built for 0.1.0
/// (no streaming, no assets), with the same record types.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "
            package clusterai:host;
            world plugin-host {
                import clusterai:task/log@0.2.0;
                import clusterai:task/streaming@0.2.0;
                import clusterai:task/assets@0.2.0;
                export clusterai:task/plugin@0.2.0;
            }
        ",
        world: "clusterai:host/plugin-host",
        imports: {
            "clusterai:task/streaming.emit": trappable,
        },
    });

    /// `clusterai:task@0.1.0`: its types are those of 0.2.0 (the records did
    /// not change), so a task's input and output need no conversion.
    pub mod v0_1 {
        wasmtime::component::bindgen!({
            path: ["../../wit/deps/wasi-nn", "../../wit/v0.1.0"],
            inline: "
                package clusterai:host-v0-1;
                world plugin-host {
                    import clusterai:task/log@0.1.0;
                    export clusterai:task/plugin@0.1.0;
                }
            ",
            world: "clusterai:host-v0-1/plugin-host",
            with: {
                "clusterai:task/types@0.1.0": crate::bindings::clusterai::task::types,
            },
        });
    }
}
