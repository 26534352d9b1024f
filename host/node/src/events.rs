//! Task events for followers: queued, started, output as the plugin streams
//! it, log lines, finished. The API streams them as server-sent events and
//! waits on them for `?wait=`.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::task::{LogView, TaskFailure, TaskState};

/// One thing that happened to a task.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum TaskEvent {
    /// Accepted and queued.
    Queued {
        /// When (ms since the Unix epoch).
        at_ms: u64,
    },
    /// A worker started it.
    Started {
        /// When.
        at_ms: u64,
        /// Which run this is (more than 1 after a restart).
        attempt: u32,
    },
    /// The plugin emitted part of its output while running (tokens of a
    /// generation, say). Live only: a follower that comes later reads the
    /// whole output from the task's result.
    Output {
        /// The chunk's position among the task's chunks, from 0.
        seq: u64,
        /// The chunk, when it is UTF-8 text.
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// The chunk in base64, when it is not.
        #[serde(skip_serializing_if = "Option::is_none")]
        base64: Option<String>,
    },
    /// The plugin logged a line.
    Log(LogView),
    /// It ended.
    Finished {
        /// When.
        at_ms: u64,
        /// How.
        state: TaskState,
        /// Why, when it failed.
        error: Option<TaskFailure>,
    },
}

impl TaskEvent {
    /// Chunk `seq` of a task's streamed output.
    pub fn output(seq: u64, chunk: &[u8]) -> Self {
        use base64::Engine as _;
        match std::str::from_utf8(chunk) {
            Ok(text) => Self::Output {
                seq,
                text: Some(text.to_string()),
                base64: None,
            },
            Err(_) => Self::Output {
                seq,
                text: None,
                base64: Some(base64::engine::general_purpose::STANDARD.encode(chunk)),
            },
        }
    }

    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Queued { .. } => "queued",
            Self::Started { .. } => "started",
            Self::Output { .. } => "output",
            Self::Log(_) => "log",
            Self::Finished { .. } => "finished",
        }
    }
}

/// Per-task channels of live events, for tasks that have not finished.
#[derive(Debug, Default)]
pub struct Events {
    live: Mutex<HashMap<String, broadcast::Sender<TaskEvent>>>,
}

/// Events a follower may fall behind by (a long generation streams a chunk
/// per token); one that falls further skips what it missed.
const BUFFER: usize = 4096;

impl Events {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<TaskEvent>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows task `id` from now on.
    pub fn subscribe(&self, id: &str) -> broadcast::Receiver<TaskEvent> {
        self.lock()
            .entry(id.to_string())
            .or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe()
    }

    /// Tells the followers of `id`; a `Finished` event closes the channel.
    pub fn send(&self, id: &str, event: TaskEvent) {
        let finished = matches!(event, TaskEvent::Finished { .. });
        let mut live = self.lock();
        if let Some(tx) = live.get(id) {
            let _ = tx.send(event);
        }
        if finished {
            live.remove(id);
        }
    }
}
