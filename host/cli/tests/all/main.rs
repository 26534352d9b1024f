//! The `clusterai` binary as users meet it, one test binary: plugin
//! developers (`plugin run`/`inspect`), node hosts (`model`, `blob`, `env`),
//! benchmarks. Every test runs the real binary in child processes.

mod blob;
mod blob_processes;
mod chain;
mod env;
mod nn;
mod node;
mod plugin;
