//! Partial output while a task runs (tokens of a generation, say).
//!
//! Each chunk reaches whoever waits on the task at once, in order; the task's
//! output is still what [`Plugin::run`](crate::Plugin::run) returns. Chunks
//! count against the task's output limit: a plugin that emits past it is
//! stopped.

use crate::bindings::clusterai::task::streaming;

/// Sends `data` now.
pub fn emit(data: &[u8]) {
    streaming::emit(data);
}

/// Sends `text` now, as UTF-8.
pub fn emit_text(text: &str) {
    streaming::emit(text.as_bytes());
}
