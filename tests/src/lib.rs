//! End-to-end tests of the whole system: they start real processes (a
//! single-validator wasmd chain, the devnet, nodes) on loopback and drive
//! them as a node host and a buyer would. The tests live in `tests/`; this
//! library is empty.
