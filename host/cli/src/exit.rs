//! Exit codes, in the manner of cargo and wasmtime: 0 success, 1 failure,
//! 2 usage error (clap, or arguments that parse but make no sense), and a
//! code of its own for a plugin that cannot load.

/// The command failed (a task failed or hit a limit, or an I/O error).
pub(crate) const FAILURE: u8 = 1;
/// Arguments that parse but make no sense together (clap exits 2 for the rest).
pub(crate) const USAGE: u8 = 2;
/// The plugin could not be loaded (not wasm, invalid, forbidden import, ...).
pub(crate) const PLUGIN_INVALID: u8 = 3;

pub(crate) const HELP: &str = "\
Exit status:
  0  success
  1  the task failed, hit a limit, or another error occurred
  2  invalid command-line arguments
  3  the plugin could not be loaded (not a component, invalid, forbidden import)";

/// An argument clap accepted that the command refuses (exit status 2).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Returns early with a [`UsageError`] unless `cond` holds.
macro_rules! ensure_usage {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::exit::UsageError(format!($($arg)+)).into());
        }
    };
}
pub(crate) use ensure_usage;

/// An error and its causes on one line, `a: b: c`, leaving out a cause whose
/// text the line already holds (library errors often print their source in
/// their own message as well as returning it).
pub(crate) fn chain(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_leaves_out_repeated_causes() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(io).context("writing x: disk on fire");
        assert_eq!(chain(&e), "writing x: disk on fire");
        let e = anyhow::Error::new(std::io::Error::other("root")).context("outer");
        assert_eq!(chain(&e), "outer: root");
    }
}
