//! The ClusterAI node: the composition root and the daemon.
//!
//! The runtime ([`clusterai_runtime`]) is the sandbox and knows no backend;
//! the wasi-nn host ([`clusterai_nn`]) and the blob store
//! ([`clusterai_store`]) are capabilities that know nothing of each other.
//! This crate wires them and serves tasks:
//!
//! - [`capabilities`], [`compose`]: wasi-nn as a runtime capability whose
//!   models come from the blob store; a runtime built with it.
//! - [`config`]: the node's TOML config, with a commented template.
//! - [`service`]: the node: submission, the durable queue ([`db`], redb),
//!   fair scheduling ([`scheduler`]), the workers ([`mod@worker`]) that run
//!   tasks and sign receipts, plugins and models held ([`registry`]).
//! - [`api`]: the HTTP API (axum) with its OpenAPI document, health,
//!   readiness, Prometheus [`metrics`] and the dashboard.
//! - [`auth`]: bearer tokens with rates and quotas; [`events`]: task events.
//! - [`daemon`]: start, serve, stop cleanly on a signal.

#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod buyer;
pub mod canonical;
pub mod capabilities;
pub mod chain_worker;
pub mod compose;
pub mod config;
pub mod daemon;
pub mod db;
pub mod events;
pub mod metrics;
pub mod registry;
pub mod results;
pub mod scheduler;
pub mod service;
pub mod task;
pub mod worker;

pub use config::NodeConfig;
pub use daemon::Daemon;
pub use service::{Node, Refusal, SubmitTask};
