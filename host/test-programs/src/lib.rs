//! Paths of the plugins in `plugins/`, built for wasm32-wasip2 by this
//! crate's build script: the examples and the hostile test programs.

#![allow(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/programs.rs"));
