//! Loading the pinned ONNX Runtime shared library, once per process.
//!
//! The version and file name are pinned in `pins.toml`
//! ([`clusterai_types::pins`]); where the library lives is
//! [`clusterai_types::env::ort_library`].

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clusterai_types::pins::{ORT_ACCEPTED_MINORS, ORT_VERSION};
use ort::environment::Environment;

use crate::error::SetupError;

/// Checks that `path` is a file, without loading it.
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
        Some(minor) if ORT_ACCEPTED_MINORS.contains(&minor) => {}
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
    crate::working_memory::register(&env)?;
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
