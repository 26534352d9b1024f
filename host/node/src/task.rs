//! A task as the node keeps it: the durable record, and the views the API
//! shows of it.

use clusterai_types::{ContentHash, ExecutionProvider, SignedReceipt, TaskPolicy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Accepted, waiting for a worker.
    Queued,
    /// A worker runs it.
    Running,
    /// It produced an output and a receipt.
    Succeeded,
    /// It ended without an output; the error says why.
    Failed,
    /// The buyer cancelled it.
    Cancelled,
}

impl TaskState {
    /// Whether the task is over.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Why a task failed: a stable kind (for scripts and metrics) and a message
/// for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaskFailure {
    /// A short stable name: `fuel-exhausted`, `timeout`, `invalid-input`,
    /// `interrupted`, ...
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// What a task consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageView {
    /// Fuel units.
    pub fuel: u64,
    /// Wall time of the run, in microseconds.
    pub wall_us: u64,
    /// The largest linear memory the instance reached, in bytes.
    pub peak_memory: u64,
    /// The most the task made the host hold outside its sandbox at once
    /// (tensors, ONNX Runtime's working memory, log lines, the output), in
    /// bytes; within the task's `max_host_memory_bytes`.
    #[serde(default)]
    pub peak_host_memory: u64,
}

/// One line the plugin logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogView {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    #[schema(value_type = String)]
    pub level: clusterai_runtime::LogLevel,
    /// What it said.
    pub message: String,
}

/// One inference the task ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InferenceView {
    /// The model.
    pub model: ContentHash,
    /// The provider that ran it.
    pub provider: ExecutionProvider,
    /// Time inside ONNX Runtime, in microseconds.
    pub micros: u64,
    /// The most working memory ONNX Runtime took at once for it, in bytes.
    pub peak_bytes: u64,
}

/// A finished task's output, where it lives, and what the run cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSuccess {
    /// BLAKE3 of the output.
    pub output: ContentHash,
    /// Its size.
    pub output_size: u64,
    /// Its content type.
    pub content_type: String,
    /// Whether it lives in the blob store (else in the task database).
    pub output_in_blobs: bool,
    /// What the run consumed.
    pub usage: UsageView,
    /// The inferences it ran.
    pub inferences: Vec<InferenceView>,
    /// What the plugin logged.
    pub logs: Vec<LogView>,
    /// Log lines over the bound, counted.
    pub logs_dropped: u64,
    /// The signed receipt.
    pub receipt: SignedReceipt,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    /// An output and a receipt.
    Success(Box<TaskSuccess>),
    /// An error.
    Failure(TaskFailure),
}

/// The durable record of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task id (32 hex characters, unguessable).
    pub id: String,
    /// Acceptance order on this node.
    pub seq: u64,
    /// Where it is.
    pub state: TaskState,
    /// The plugin.
    pub plugin: ContentHash,
    /// The plugin's name, for lists and metrics.
    pub plugin_name: String,
    /// BLAKE3 of the input.
    pub input: ContentHash,
    /// The input's size.
    pub input_size: u64,
    /// Whether the input lives in the blob store (else in the task database).
    pub input_in_blobs: bool,
    /// The input's content type.
    pub content_type: String,
    /// The task's parameters.
    pub params: Vec<(String, String)>,
    /// Every limit it runs under and the models it may open.
    pub policy: TaskPolicy,
    /// The token that submitted it (none on a node without tokens).
    pub owner: Option<String>,
    /// The submitter's idempotency key.
    pub idempotency_key: Option<String>,
    /// BLAKE3 of the request, to tell a repeat from a different request
    /// under the same idempotency key.
    pub request_digest: ContentHash,
    /// When it was accepted (ms since the Unix epoch).
    pub created_ms: u64,
    /// When its last run started.
    pub started_ms: Option<u64>,
    /// When it ended.
    pub finished_ms: Option<u64>,
    /// Runs started (more than one after the node stopped while it ran).
    pub attempts: u32,
    /// How it ended.
    pub outcome: Option<Outcome>,
}

/// What the API shows of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    /// The task id.
    pub id: String,
    /// Where it is.
    pub state: TaskState,
    /// The plugin.
    pub plugin: ContentHash,
    /// The plugin's name.
    pub plugin_name: String,
    /// BLAKE3 of the input.
    pub input: ContentHash,
    /// The input's size in bytes.
    pub input_size: u64,
    /// Every limit it runs under and the models it may open.
    pub policy: TaskPolicy,
    /// When it was accepted (ms since the Unix epoch).
    pub created_ms: u64,
    /// When its last run started.
    pub started_ms: Option<u64>,
    /// When it ended.
    pub finished_ms: Option<u64>,
    /// Runs started.
    pub attempts: u32,
    /// Why it failed, when it did.
    pub error: Option<TaskFailure>,
    /// The output's hash, size and type, when it succeeded.
    pub output: Option<OutputMeta>,
    /// What the run consumed, when it succeeded.
    pub usage: Option<UsageView>,
}

/// A task output's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutputMeta {
    /// BLAKE3 of the output.
    pub hash: ContentHash,
    /// Its size in bytes.
    pub size: u64,
    /// Its content type.
    pub content_type: String,
}

impl TaskRecord {
    /// The API's view.
    pub fn view(&self) -> TaskView {
        let (error, output, usage) = match &self.outcome {
            Some(Outcome::Failure(f)) => (Some(f.clone()), None, None),
            Some(Outcome::Success(s)) => (
                None,
                Some(OutputMeta {
                    hash: s.output,
                    size: s.output_size,
                    content_type: s.content_type.clone(),
                }),
                Some(s.usage),
            ),
            None => (None, None, None),
        };
        TaskView {
            id: self.id.clone(),
            state: self.state,
            plugin: self.plugin,
            plugin_name: self.plugin_name.clone(),
            input: self.input,
            input_size: self.input_size,
            policy: self.policy.clone(),
            created_ms: self.created_ms,
            started_ms: self.started_ms,
            finished_ms: self.finished_ms,
            attempts: self.attempts,
            error,
            output,
            usage,
        }
    }

    /// The success record, when there is one.
    pub fn success(&self) -> Option<&TaskSuccess> {
        match &self.outcome {
            Some(Outcome::Success(s)) => Some(s),
            _ => None,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A fresh task id: 16 random bytes as hex, so ids cannot be guessed.
pub fn new_task_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// Whether `s` has the shape of a task id.
pub fn is_task_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
