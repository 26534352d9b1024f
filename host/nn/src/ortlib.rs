//! Finding and loading the pinned ONNX Runtime shared library.
//!
//! `scripts/setup-onnxruntime.sh` extracts `libonnxruntime.so.1.32.0` from the
//! PyPI wheel `onnxruntime==1.32.0`, checks its SHA-256 and leaves it under
//! `${CLUSTERAI_CACHE:-$HOME/.cache/clusterai}/onnxruntime/1.32.0/`. The host
//! takes `ORT_DYLIB_PATH` when set, else that path.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::error::SetupError;

/// The ONNX Runtime version this node pins.
pub const ORT_VERSION: &str = "1.32.0";

/// The minor versions (`1.MINOR.x`) accepted when loading: 32, the pinned
/// CPU build (PyPI `onnxruntime==1.32.0`), and 31, the newest GPU build on
/// PyPI (`onnxruntime-gpu==1.31.1`, used by `scripts/gpu-check.sh`).
pub const SUPPORTED_MINORS: [u32; 2] = [32, 31];

/// The file name of the pinned library.
pub const ORT_LIBRARY_FILE: &str = "libonnxruntime.so.1.32.0";

/// The cache root: `$CLUSTERAI_CACHE`, else `$HOME/.cache/clusterai`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CLUSTERAI_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    home.join(".cache").join("clusterai")
}

/// Where `scripts/setup-onnxruntime.sh` puts the library.
pub fn default_library_path() -> PathBuf {
    cache_dir()
        .join("onnxruntime")
        .join(ORT_VERSION)
        .join(ORT_LIBRARY_FILE)
}

/// The library to load: `$ORT_DYLIB_PATH` if set, else [`default_library_path`].
pub fn library_path() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .filter(|p| !p.is_empty())
        .map_or_else(default_library_path, PathBuf::from)
}

/// Checks that `path` is a file and names the pinned version, without loading it.
pub fn check_library(path: &Path) -> Result<(), SetupError> {
    let meta = std::fs::metadata(path).map_err(|e| SetupError::OrtMissing {
        path: path.to_path_buf(),
        version: ORT_VERSION,
        why: e.to_string(),
    })?;
    if !meta.is_file() {
        return Err(SetupError::OrtMissing {
            path: path.to_path_buf(),
            version: ORT_VERSION,
            why: "not a file".into(),
        });
    }
    Ok(())
}

static ENV: OnceLock<(PathBuf, Environment)> = OnceLock::new();
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Loads the library at `path` (once per process) and returns the process's
/// ONNX Runtime environment. A second call with another path is an error:
/// one process holds one ONNX Runtime.
pub(crate) fn environment(path: &Path) -> Result<Environment, SetupError> {
    let _guard = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((loaded, env)) = ENV.get() {
        if same_file(loaded, path) {
            return Ok(env.clone());
        }
        return Err(SetupError::OrtAlreadyLoaded {
            loaded: loaded.clone(),
            requested: path.to_path_buf(),
        });
    }
    check_library(path)?;
    // `probe` opens the library and reads its version string (1.MINOR.x).
    match ort::util::probe(path) {
        Some(minor) if SUPPORTED_MINORS.contains(&minor) => {}
        Some(minor) => {
            return Err(SetupError::OrtWrongVersion {
                path: path.to_path_buf(),
                found: format!("1.{minor}.x"),
                wanted: ORT_VERSION,
            });
        }
        None => {
            return Err(SetupError::OrtMissing {
                path: path.to_path_buf(),
                version: ORT_VERSION,
                why: "not an ONNX Runtime 1.x shared library, or it failed to load".into(),
            });
        }
    }
    let builder = ort::init_from(path).map_err(|e| SetupError::OrtMissing {
        path: path.to_path_buf(),
        version: ORT_VERSION,
        why: e.to_string(),
    })?;
    let env = builder
        .with_name("clusterai")
        .with_telemetry(false)
        .build()?;
    let _ = ENV.set((path.to_path_buf(), env.clone()));
    Ok(env)
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}
