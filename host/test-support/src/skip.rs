//! When a test may skip.
//!
//! A test that needs something heavy asks [`require`] (or the
//! [`require!`](crate::require) macro) first. Locally a missing piece skips
//! the test with a line on stderr naming what is missing and how to get it;
//! under `CI=true` it fails the test instead: CI runs the set-up, so a
//! missing piece there is a broken set-up, not a reason to pass. Only
//! [`require_hardware`] (a GPU) skips in CI too.

use std::path::PathBuf;

use clusterai_types::env;
use clusterai_types::models::PinnedModel;

/// Whether this is a CI run (`CI` set to anything but `""`, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `true` when `ready` is `Ok`; else skips (locally) or panics (in CI),
/// naming `what` the test needs and why it is missing.
#[track_caller]
pub fn require(what: &str, ready: Result<(), String>) -> bool {
    match ready {
        Ok(()) => true,
        Err(why) if in_ci() => panic!("{what} is missing in CI (CI never skips): {why}"),
        Err(why) => {
            eprintln!("skipping: needs {what}: {why}");
            false
        }
    }
}

/// Like [`require`], for hardware a CI machine may truly lack (a GPU): skips
/// everywhere, with the reason.
pub fn require_hardware(what: &str, ready: Result<(), String>) -> bool {
    match ready {
        Ok(()) => true,
        Err(why) => {
            eprintln!("skipping: needs {what}: {why}");
            false
        }
    }
}

/// Returns from the calling test when `$ready` (a `Result<(), String>`) is
/// not `Ok`, by the rule of [`require`].
#[macro_export]
macro_rules! require {
    ($what:expr, $ready:expr) => {
        if !$crate::skip::require($what, $ready) {
            return;
        }
    };
}

/// The ONNX Runtime library the host would load is there.
pub fn onnx_runtime() -> Result<(), String> {
    let lib = env::ort_library();
    if lib.is_file() {
        Ok(())
    } else {
        Err(format!(
            "no ONNX Runtime library at {} (the set-up installs it; {} names another)",
            lib.display(),
            env::ORT_LIBRARY_VAR
        ))
    }
}

/// The verified file of a pinned model, from the set-up's cache.
pub fn pinned_model(model: &PinnedModel) -> Result<PathBuf, String> {
    let path = model.cached_path();
    match std::fs::metadata(&path) {
        Ok(m) if m.len() == model.size => Ok(path),
        Ok(m) => Err(format!(
            "{} is {} bytes, the manifest says {} (run the set-up again)",
            path.display(),
            m.len(),
            model.size
        )),
        Err(e) => Err(format!(
            "model {} is not at {} ({e}; the set-up fetches it)",
            model.name,
            path.display()
        )),
    }
}

/// ONNX Runtime and every pinned model in `models`.
pub fn onnx_runtime_and(models: &[&PinnedModel]) -> Result<(), String> {
    onnx_runtime()?;
    for m in models {
        pinned_model(m)?;
    }
    Ok(())
}
