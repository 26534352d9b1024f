//! Write ClusterAI task plugins as plain Rust.
//!
//! A plugin is a WebAssembly component that exports the
//! `clusterai:task/plugin@0.2.0` interface. This crate hides the generated
//! bindings: implement [`Plugin`] for a type and name it in
//! [`export_plugin!`].
//!
//! ```ignore
//! use clusterai_plugin_sdk::{export_plugin, Input, Output, Plugin, PluginInfo, TaskError};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn describe() -> PluginInfo {
//!         PluginInfo::new("hello", env!("CARGO_PKG_VERSION"))
//!             .description("Greets its input")
//!             .accepts("text/plain")
//!             .produces("text/plain")
//!     }
//!
//!     fn run(input: Input) -> Result<Output, TaskError> {
//!         Ok(Output::text(format!("Hello, {}!", input.text()?)))
//!     }
//! }
//!
//! export_plugin!(Hello);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component, ready for
//! `clusterai plugin run`.
//!
//! # What a plugin can reach
//!
//! Only what the host grants: [`log`] lines into the task log, [`nn`] for
//! inference on models the host holds by content hash, [`stream`] to send
//! partial output while a task runs, and [`assets`] to read the files the
//! plugin declared (tokenizers, vocabularies) by content hash. There are no files,
//! sockets, environment variables or real clocks; each task runs in a fresh
//! instance under fuel, time and memory limits.

#![deny(missing_docs)]

/// The repository's pinned models (`models/models.toml`): each model's
/// BLAKE3, the name a plugin opens it by (see [`nn::Model::open`]).
pub mod models {
    include!(concat!(env!("OUT_DIR"), "/models.rs"));
}

pub mod assets;
mod io;
pub mod log;
pub mod nn;
pub mod stream;

pub use io::{Input, ModelRequirement, Output, PluginInfo, TaskError};

/// The generated bindings; an implementation detail of [`export_plugin!`].
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "clusterai:task/task-plugin",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "clusterai_plugin_sdk::bindings",
    });
}

/// A task plugin: describe yourself, then run one task at a time.
///
/// Each task runs in a fresh instance, so there is no state to keep between
/// calls, and a panic ends only the task in which it happened.
pub trait Plugin {
    /// What the plugin is and what it needs. Called once when the host loads it.
    fn describe() -> PluginInfo;

    /// Runs one task.
    fn run(input: Input) -> Result<Output, TaskError>;
}

/// Exports a [`Plugin`] implementation as the component's `clusterai:task/plugin`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct __ClusteraiExport;

            impl $crate::bindings::exports::clusterai::task::plugin::Guest for __ClusteraiExport {
                fn describe() -> $crate::bindings::clusterai::task::types::PluginInfo {
                    $crate::__private::describe::<$plugin>()
                }

                fn run(
                    input: $crate::bindings::clusterai::task::types::TaskInput,
                ) -> ::core::result::Result<
                    $crate::bindings::clusterai::task::types::TaskOutput,
                    $crate::bindings::clusterai::task::types::TaskError,
                > {
                    $crate::__private::run::<$plugin>(input)
                }
            }

            $crate::bindings::__export_plugin_world!(
                __ClusteraiExport with_types_in $crate::bindings
            );
        };
    };
}

/// Glue between the generated types and the public ones; used by [`export_plugin!`].
#[doc(hidden)]
pub mod __private {
    use crate::Plugin;
    use crate::bindings::clusterai::task::types as wit;

    pub fn describe<P: Plugin>() -> wit::PluginInfo {
        P::describe().into_wit()
    }

    pub fn run<P: Plugin>(input: wit::TaskInput) -> Result<wit::TaskOutput, wit::TaskError> {
        P::run(crate::Input::from_wit(input))
            .map(crate::Output::into_wit)
            .map_err(crate::TaskError::into_wit)
    }
}
