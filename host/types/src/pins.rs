//! Pinned versions of what the set-up fetches from package registries,
//! generated from `pins.toml` (the scripts read the same file).

include!(concat!(env!("OUT_DIR"), "/pins.rs"));
