//! What can go wrong, by layer: loading a plugin, and running one task.

use std::time::Duration;

/// Why a plugin could not be loaded. Nothing is cached or kept on error.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes do not start with the WebAssembly magic `\0asm`.
    #[error("not a WebAssembly binary: expected the magic bytes \\0asm, found {found:02x?}")]
    NotWasm {
        /// The first bytes of the file (up to 4).
        found: Vec<u8>,
    },
    /// A core module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component: build the plugin for \
         wasm32-wasip2 (`cargo build --target wasm32-wasip2`)"
    )]
    NotAComponent,
    /// The binary is malformed or fails validation.
    #[error("invalid WebAssembly{}: {message}", offset.map(|o| format!(" at byte offset {o:#x}")).unwrap_or_default())]
    Invalid {
        /// Byte offset of the fault, when the validator names one.
        offset: Option<usize>,
        /// The validator's explanation.
        message: String,
    },
    /// The plugin imports something this host does not grant (no base
    /// interface and no capability of this runtime serves it).
    #[error("the plugin imports `{import}`, which this host does not grant (granted: {granted})")]
    ForbiddenImport {
        /// The import's name, e.g. `wasi:http/outgoing-handler@0.2.0`.
        import: String,
        /// The interfaces the host grants, for the message.
        granted: String,
    },
    /// The component is bigger or more complex than this host compiles
    /// (checked before compiling: [`crate::CompileLimits`]).
    #[error("the plugin is too big to compile here: {0}")]
    TooBig(String),
    /// The plugin exports neither `clusterai:task/plugin@0.2.0` nor `@0.1.0`.
    #[error("the plugin does not export `{0}`: is it built with clusterai-plugin-sdk?")]
    MissingExport(String),
    /// Linking failed for another reason (e.g. a type mismatch on a granted interface).
    #[error("the plugin cannot be linked: {0}")]
    Link(String),
    /// `describe()` failed.
    #[error("the plugin's describe() failed: {0}")]
    Describe(Box<RunError>),
    /// `describe()` returned something unusable.
    #[error("the plugin's description is invalid: {0}")]
    BadInfo(String),
    /// A capability refused the plugin (for instance a model it declares
    /// cannot be had).
    #[error("{capability}: {message}")]
    Refused {
        /// The capability (its WIT package).
        capability: &'static str,
        /// Why.
        message: String,
    },
    /// These very bytes were refused before in this process for a reason
    /// that depends only on them; they are not checked or compiled again.
    #[error("{reason} (this component was refused before; it is not compiled again)")]
    RefusedBefore {
        /// The first refusal, as it was reported.
        reason: String,
    },
    /// The same bytes ran out of time in `describe()` a moment ago. A
    /// timeout may be the machine's fault, so it is not remembered for
    /// good, but a plugin that spends its whole load budget each time is
    /// not compiled and described again before `retry_in` has passed.
    #[error("{reason} (a moment ago; this component is not compiled again for another {} s)", retry_in.as_secs().max(1))]
    TimedOutRecently {
        /// The refusal, as it was reported.
        reason: String,
        /// How long until it is tried again.
        retry_in: std::time::Duration,
    },
    /// The wasm file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<clusterai_wasm_check::CheckError> for LoadError {
    fn from(e: clusterai_wasm_check::CheckError) -> Self {
        use clusterai_wasm_check::CheckError;
        match e {
            CheckError::NotWasm { found } => Self::NotWasm { found },
            CheckError::NotAComponent => Self::NotAComponent,
            CheckError::Invalid { offset, message } => Self::Invalid {
                offset: Some(offset),
                message,
            },
            CheckError::TooBig(message) => Self::TooBig(message),
        }
    }
}

impl LoadError {
    /// Whether the same bytes would be refused the same way on any later
    /// try: not for a read error, a capability's refusal (a model may come),
    /// a describe() that ran out of time (the machine may have been busy) or
    /// a host fault.
    pub fn is_intrinsic(&self) -> bool {
        match self {
            Self::Io { .. } | Self::Refused { .. } | Self::TimedOutRecently { .. } => false,
            Self::Describe(e) => !matches!(**e, RunError::Timeout { .. } | RunError::Host(_)),
            _ => true,
        }
    }

    /// Whether `describe()` ran out of time: the machine may have been
    /// busy, so a later try may load.
    pub fn is_describe_timeout(&self) -> bool {
        matches!(self, Self::Describe(e) if matches!(**e, RunError::Timeout { .. }))
    }
}

/// The plugin's own answer when a task fails: a typed error, not a fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum PluginError {
    /// The input could not be used.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A parameter is missing, unknown or malformed.
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
    /// A model the plugin needs is not available.
    #[error("model unavailable: {0}")]
    ModelUnavailable(String),
    /// Inference failed.
    #[error("inference failed: {0}")]
    Inference(String),
    /// Anything else the plugin reports.
    #[error("plugin error: {0}")]
    Internal(String),
}

/// Why a task did not produce an output. Every variant names the limit or fault.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plugin returned a typed error.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The fuel budget ran out (deterministic: the same input stops at the same point).
    #[error("fuel exhausted: the task used all {limit} units of fuel")]
    FuelExhausted {
        /// The fuel the task was given.
        limit: u64,
    },
    /// The wall-clock deadline passed.
    #[error(
        "timed out: the task ran past its {} ms deadline and was stopped after {} ms",
        limit.as_millis(),
        elapsed.as_millis()
    )]
    Timeout {
        /// The deadline.
        limit: Duration,
        /// How long the task had run when it was stopped: the deadline plus
        /// the time to reach a point where it could be stopped.
        elapsed: Duration,
    },
    /// Linear memory would have grown past the limit.
    #[error(
        "memory limit exceeded: the plugin's linear memories would hold {requested} bytes together, the limit is {limit}"
    )]
    MemoryLimit {
        /// Bytes all the task's linear memories would have held together.
        requested: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The WebAssembly call stack overflowed (deep or infinite recursion).
    #[error("stack overflow: the plugin recursed too deeply")]
    StackOverflow,
    /// The plugin aborted, and its stderr holds a Rust panic message. The
    /// message is the plugin's own account (a plugin can print anything):
    /// this is always the plugin's failure, never the host's.
    #[error("the plugin aborted; its stderr reports a panic: {message}")]
    Panic {
        /// The panic message from the plugin's stderr.
        message: String,
    },
    /// Any other trap (unreachable, out-of-bounds access, integer overflow, ...).
    #[error("the plugin trapped: {message}")]
    Trap {
        /// Wasmtime's description of the trap.
        message: String,
    },
    /// The output is larger than allowed.
    #[error("output too large: {size} bytes, the limit is {limit}")]
    OutputTooLarge {
        /// The output's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The plugin wrote more than allowed to stdout or stderr.
    #[error("the plugin wrote more than {limit} bytes to {stream}")]
    StdioLimit {
        /// Which stream.
        stream: Stdio,
        /// The cap in bytes.
        limit: u64,
    },
    /// The plugin handed the host more bytes in one call (an import's
    /// arguments or an export's results) than the task allows; nothing past
    /// the limit was copied.
    #[error("copy limit exceeded: the plugin handed the host more than {limit} bytes in one call")]
    CopyLimit {
        /// The most one call may hand the host, in bytes.
        limit: u64,
    },
    /// The input is larger than allowed.
    #[error("input too large: {size} bytes, the limit is {limit}")]
    InputTooLarge {
        /// The input's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The plugin made the host hold more, outside its sandbox, than the
    /// task's `max_host_memory_bytes` (tensors, working memory, log lines,
    /// the output together).
    #[error("host memory limit exceeded: {0}")]
    HostMemoryLimit(#[from] clusterai_types::HostMemoryExceeded),
    /// A bug on the host side, caught at the task boundary; the process is unharmed.
    #[error("internal host error: {0}")]
    Host(String),
}

/// A plugin's output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stdio {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl std::fmt::Display for Stdio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        })
    }
}

impl RunError {
    /// A short stable name for the kind of failure, for JSON and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Plugin(PluginError::InvalidInput(_)) => "invalid-input",
            Self::Plugin(PluginError::InvalidParam(_)) => "invalid-param",
            Self::Plugin(PluginError::ModelUnavailable(_)) => "model-unavailable",
            Self::Plugin(PluginError::Inference(_)) => "inference",
            Self::Plugin(PluginError::Internal(_)) => "plugin-error",
            Self::FuelExhausted { .. } => "fuel-exhausted",
            Self::Timeout { .. } => "timeout",
            Self::MemoryLimit { .. } => "memory-limit",
            Self::StackOverflow => "stack-overflow",
            Self::Panic { .. } => "panic",
            Self::Trap { .. } => "trap",
            Self::OutputTooLarge { .. } => "output-too-large",
            Self::StdioLimit { .. } => "stdio-limit",
            Self::CopyLimit { .. } => "copy-limit",
            Self::InputTooLarge { .. } => "input-too-large",
            Self::HostMemoryLimit(_) => "host-memory-limit",
            Self::Host(_) => "host-error",
        }
    }
}
