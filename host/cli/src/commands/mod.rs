//! One module per subcommand.

pub(crate) mod bench;
pub(crate) mod blob;
pub(crate) mod chain;
pub(crate) mod devnet;
pub(crate) mod devnet_up;
pub(crate) mod env;
pub(crate) mod model;
pub(crate) mod node;
pub(crate) mod plugin;
pub(crate) mod post;
pub(crate) mod receipt;
pub(crate) mod task;
pub(crate) mod wallet;

/// A multi-threaded tokio runtime for the commands that do network I/O.
pub(crate) fn async_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
