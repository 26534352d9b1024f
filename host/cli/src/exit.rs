//! Exit codes, in the manner of cargo and wasmtime: 0 success, 1 failure,
//! 2 usage error (clap), and a code of its own for a plugin that cannot load.

/// The command failed (a task failed or hit a limit, or an I/O error).
pub(crate) const FAILURE: u8 = 1;
/// The plugin could not be loaded (not wasm, invalid, forbidden import, ...).
pub(crate) const PLUGIN_INVALID: u8 = 3;

pub(crate) const HELP: &str = "\
Exit status:
  0  success
  1  the task failed, hit a limit, or another error occurred
  2  invalid command-line arguments
  3  the plugin could not be loaded (not a component, invalid, forbidden import)";
