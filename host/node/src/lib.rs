//! The ClusterAI node: the composition root.
//!
//! The runtime ([`clusterai_runtime`]) is the sandbox and knows no backend;
//! the wasi-nn host ([`clusterai_nn`]) and the blob store
//! ([`clusterai_store`]) are capabilities that know nothing of each other.
//! This crate wires them: [`capabilities`] turns the wasi-nn host into a
//! runtime [`Capability`](clusterai_runtime::Capability) whose models come
//! from the blob store, and [`compose`] builds a runtime with it.

#![deny(missing_docs)]

pub mod capabilities;
pub mod compose;
