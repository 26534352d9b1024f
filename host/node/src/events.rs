//! Task events for followers: queued, started, log lines, finished. The API
//! streams them as server-sent events and waits on them for `?wait=`.

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
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Queued { .. } => "queued",
            Self::Started { .. } => "started",
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

/// Events a follower misses before it lags (it then re-reads the record).
const BUFFER: usize = 256;

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
