//! The node's environment: where it keeps data and caches, which ports it
//! listens on by default, and the environment variables that move them.
//!
//! This module is the one place these are defined. The CLI, the node, the
//! tests and the benchmarks call it; the shell scripts source
//! `scripts/env.sh`, which a test checks against this module.
//!
//! | what | variable | default |
//! |---|---|---|
//! | data directory (node key, blob store, task database, config) | `CLUSTERAI_DATA_DIR` | `$XDG_DATA_HOME/clusterai`, else `~/.local/share/clusterai` |
//! | cache (compiled plugins, ONNX Runtime, fetched models, wheels) | `CLUSTERAI_CACHE` | `$XDG_CACHE_HOME/clusterai`, else `~/.cache/clusterai` |
//! | ONNX Runtime library | `ORT_DYLIB_PATH` | `<cache>/onnxruntime/<version>/<library>` |
//! | wheels already on disk (offline set-up) | `CLUSTERAI_WHEELS` | `<cache>/wheels` |
//! | prebuilt plugins for tests and benches | `CLUSTERAI_PLUGIN_WASM_DIR` | the build of `plugins/` |
//! | the node's config file | `CLUSTERAI_CONFIG` | `<data>/config.toml` |
//! | the node a buyer's command talks to | `CLUSTERAI_NODE` | `http://127.0.0.1:7731` |
//! | the bearer token a buyer's command sends | `CLUSTERAI_TOKEN` | none |

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Moves the data directory.
pub const DATA_DIR_VAR: &str = "CLUSTERAI_DATA_DIR";
/// Moves the cache.
pub const CACHE_DIR_VAR: &str = "CLUSTERAI_CACHE";
/// Names the ONNX Runtime shared library to load.
pub const ORT_LIBRARY_VAR: &str = "ORT_DYLIB_PATH";
/// A folder already holding the wheels the set-up would fetch.
pub const WHEELS_VAR: &str = "CLUSTERAI_WHEELS";
/// A folder of prebuilt plugin components (`<name>.wasm`).
pub const PLUGIN_WASM_DIR_VAR: &str = "CLUSTERAI_PLUGIN_WASM_DIR";
/// The node's config file.
pub const CONFIG_VAR: &str = "CLUSTERAI_CONFIG";
/// The node a buyer's command talks to.
pub const NODE_URL_VAR: &str = "CLUSTERAI_NODE";
/// The bearer token a buyer's command sends.
pub const TOKEN_VAR: &str = "CLUSTERAI_TOKEN";

/// The HTTP API's default port (on 127.0.0.1).
pub const DEFAULT_HTTP_PORT: u16 = 7731;
/// The iroh endpoint's default UDP port when a node serves blobs.
pub const DEFAULT_IROH_PORT: u16 = 7730;

/// The node key inside the data directory.
pub const KEY_FILE: &str = "node.key";
/// The node's config file inside the data directory.
pub const CONFIG_FILE: &str = "config.toml";

/// A variable's value, if it is set and not empty.
fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// An XDG base directory: the variable when it is an absolute path, else
/// `$HOME/<fallback>`.
fn xdg(name: &str, fallback: &str) -> PathBuf {
    if let Some(d) = var(name).map(PathBuf::from).filter(|d| d.is_absolute()) {
        return d;
    }
    var("HOME")
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
        .join(fallback)
}

/// The data directory: `$CLUSTERAI_DATA_DIR`, else `$XDG_DATA_HOME/clusterai`,
/// else `~/.local/share/clusterai`.
pub fn data_dir() -> PathBuf {
    var(DATA_DIR_VAR).map_or_else(
        || xdg("XDG_DATA_HOME", ".local/share").join("clusterai"),
        PathBuf::from,
    )
}

/// The cache: `$CLUSTERAI_CACHE`, else `$XDG_CACHE_HOME/clusterai`, else
/// `~/.cache/clusterai`.
pub fn cache_dir() -> PathBuf {
    var(CACHE_DIR_VAR).map_or_else(
        || xdg("XDG_CACHE_HOME", ".cache").join("clusterai"),
        PathBuf::from,
    )
}

/// The blob store inside a data directory.
pub fn blobs_dir(data: &Path) -> PathBuf {
    data.join("blobs")
}

/// The node's task database inside a data directory.
pub fn tasks_db(data: &Path) -> PathBuf {
    data.join("tasks.redb")
}

/// The node's config file: `$CLUSTERAI_CONFIG`, else `<data>/config.toml`.
pub fn config_file() -> PathBuf {
    var(CONFIG_VAR).map_or_else(|| data_dir().join(CONFIG_FILE), PathBuf::from)
}

/// Compiled plugins, in the cache.
pub fn compiled_dir() -> PathBuf {
    cache_dir().join("compiled")
}

/// Verified model files that the set-up took out of their wheels.
pub fn models_cache_dir() -> PathBuf {
    cache_dir().join("models")
}

/// Wheels the set-up fetched: `$CLUSTERAI_WHEELS`, else `<cache>/wheels`.
pub fn wheels_dir() -> PathBuf {
    var(WHEELS_VAR).map_or_else(|| cache_dir().join("wheels"), PathBuf::from)
}

/// Where the set-up installs the pinned ONNX Runtime library.
pub fn default_ort_library() -> PathBuf {
    cache_dir()
        .join("onnxruntime")
        .join(crate::pins::ORT_VERSION)
        .join(crate::pins::ORT_LIBRARY)
}

/// The ONNX Runtime library to load: `$ORT_DYLIB_PATH`, else
/// [`default_ort_library`].
pub fn ort_library() -> PathBuf {
    var(ORT_LIBRARY_VAR).map_or_else(default_ort_library, PathBuf::from)
}

/// The folder of prebuilt plugins named by `$CLUSTERAI_PLUGIN_WASM_DIR`, if set.
pub fn plugin_wasm_dir() -> Option<PathBuf> {
    var(PLUGIN_WASM_DIR_VAR).map(PathBuf::from)
}

/// The node a buyer's command talks to: `$CLUSTERAI_NODE`, else the local
/// default.
pub fn node_url() -> String {
    var(NODE_URL_VAR)
        .and_then(|v| v.into_string().ok())
        .unwrap_or_else(|| format!("http://127.0.0.1:{DEFAULT_HTTP_PORT}"))
}

/// Every path above as `(name, value)`, for `clusterai env` and the check of
/// `scripts/env.sh`.
pub fn describe() -> Vec<(&'static str, PathBuf)> {
    vec![
        ("data_dir", data_dir()),
        ("cache_dir", cache_dir()),
        ("blobs_dir", blobs_dir(&data_dir())),
        ("config_file", config_file()),
        ("compiled_dir", compiled_dir()),
        ("models_cache_dir", models_cache_dir()),
        ("wheels_dir", wheels_dir()),
        ("ort_library", ort_library()),
    ]
}
