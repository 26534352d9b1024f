//! The runtime's integration tests, one binary (it links wasmtime once).

mod alloc_watch;
mod compile;
mod hostile;
mod runtime;
mod worlds;

#[global_allocator]
static ALLOCATOR: alloc_watch::Watch = alloc_watch::Watch;
