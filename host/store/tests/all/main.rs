//! The store's integration tests, one binary (it links iroh once): real
//! endpoints on loopback. Tests through the `clusterai` binary, across
//! processes, live with the CLI.

mod transfer;
