//! `/v1/tasks`: submit, wait, list, status, result, output, receipt, events,
//! cancel.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use clusterai_types::{ContentHash, SignedReceipt};
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt as _;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::extract::{CallerOf, IdPath, JsonBody, QueryOf};
use crate::auth::Caller;
use crate::events::TaskEvent;
use crate::service::{Node, Refusal, SubmitTask};
use crate::task::{InferenceView, LogView, Outcome, TaskRecord, TaskState, TaskView};

/// The longest `?wait=` honoured, in seconds.
const MAX_WAIT_SECS: f64 = 300.0;

/// `?wait=SECONDS`: answer with the result if the task finishes within it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitQuery {
    /// Seconds to wait for the task to finish (0 to 300).
    wait: Option<f64>,
}

/// A task's output, shown the way its content type suggests.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutputView {
    /// BLAKE3 of the output.
    pub hash: ContentHash,
    /// Its size in bytes.
    pub size: u64,
    /// Its content type.
    pub content_type: String,
    /// The output as JSON, when it is JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// The output as text, when it is UTF-8 and not JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The output in base64, otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

/// A finished task: its status, output, logs, inferences and receipt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskResultView {
    /// The task.
    pub task: TaskView,
    /// The output, when it succeeded.
    pub output: Option<OutputView>,
    /// What the plugin logged.
    pub logs: Vec<LogView>,
    /// The inferences it ran.
    pub inferences: Vec<InferenceView>,
    /// The signed receipt, when it succeeded.
    pub receipt: Option<SignedReceipt>,
}

/// A page of tasks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskPage {
    /// Newest first.
    pub tasks: Vec<TaskView>,
    /// Pass as `before` for the next page; absent on the last.
    pub next: Option<u64>,
}

/// `GET /v1/tasks` filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Only tasks in this state.
    state: Option<TaskState>,
    /// Only tasks accepted before this point (the `next` of a previous page).
    before: Option<u64>,
    /// At most this many (1 to 500, default 50).
    limit: Option<usize>,
}

fn wait_for(q: &WaitQuery) -> Result<Option<Duration>, ApiError> {
    match q.wait {
        None => Ok(None),
        Some(w) if (0.0..=MAX_WAIT_SECS).contains(&w) => Ok(Some(Duration::from_secs_f64(w))),
        Some(w) => Err(ApiError::bad_request(format!(
            "wait must be between 0 and {MAX_WAIT_SECS} seconds, got {w}"
        ))),
    }
}

/// Waits until task `id` is finished or `wait` passes; the record then.
async fn settle(
    node: &Node,
    caller: &Caller,
    id: &str,
    wait: Duration,
) -> Result<TaskRecord, ApiError> {
    let mut events = node.subscribe(id);
    let record = node.task(caller, id)?;
    if record.state.is_final() || wait.is_zero() {
        return Ok(record);
    }
    let finished = tokio::time::timeout(wait, async {
        loop {
            match events.recv().await {
                Ok(TaskEvent::Finished { .. }) => return,
                Ok(_) => continue,
                // Lagged or closed: read the record again.
                Err(_) => return,
            }
        }
    })
    .await;
    let _ = finished;
    Ok(node.task(caller, id)?)
}

async fn result_view(node: &Node, record: TaskRecord) -> Result<TaskResultView, ApiError> {
    let mut view = TaskResultView {
        task: record.view(),
        output: None,
        logs: Vec::new(),
        inferences: Vec::new(),
        receipt: None,
    };
    if let Some(Outcome::Success(s)) = &record.outcome {
        let data = node.output(&record).await?;
        let mut out = OutputView {
            hash: s.output,
            size: s.output_size,
            content_type: s.content_type.clone(),
            json: None,
            text: None,
            base64: None,
        };
        let json = s
            .content_type
            .starts_with("application/json")
            .then(|| serde_json::from_slice::<serde_json::Value>(&data).ok())
            .flatten();
        match (json, std::str::from_utf8(&data)) {
            (Some(j), _) => out.json = Some(j),
            (None, Ok(t)) => out.text = Some(t.to_string()),
            (None, Err(_)) => {
                out.base64 = Some(base64::engine::general_purpose::STANDARD.encode(&data));
            }
        }
        view.output = Some(out);
        view.logs = s.logs.clone();
        view.inferences = s.inferences.clone();
        view.receipt = Some(s.receipt.clone());
    }
    Ok(view)
}

/// 200 with the result when finished, else 202 with the status.
async fn finished_or_accepted(node: &Node, record: TaskRecord) -> Response {
    if record.state.is_final() {
        match result_view(node, record).await {
            Ok(v) => (StatusCode::OK, Json(v)).into_response(),
            Err(e) => e.into_response(),
        }
    } else {
        let location = format!("/v1/tasks/{}", record.id);
        (
            StatusCode::ACCEPTED,
            [(header::LOCATION, location)],
            Json(record.view()),
        )
            .into_response()
    }
}

/// Submit a task.
///
/// The task is stored durably before the answer: an accepted task is never
/// lost. Without `?wait`, the answer is 202 with the task's status; with
/// `?wait=SECONDS`, 200 with the result if it finishes in time, else 202.
/// A repeated idempotency key returns the task it made the first time.
#[utoipa::path(
    post,
    path = "/v1/tasks",
    tag = "tasks",
    params(WaitQuery),
    request_body = SubmitTask,
    responses(
        (status = 200, description = "Finished within the wait", body = TaskResultView),
        (status = 202, description = "Accepted; follow it at /v1/tasks/{id}", body = TaskView),
        (status = 400, description = "Malformed request", body = super::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = super::ErrorBody),
        (status = 404, description = "Unknown plugin or model", body = super::ErrorBody),
        (status = 409, description = "Idempotency key reused with another request", body = super::ErrorBody),
        (status = 413, description = "Body or input too large", body = super::ErrorBody),
        (status = 415, description = "Not JSON", body = super::ErrorBody),
        (status = 422, description = "The plugin does not load", body = super::ErrorBody),
        (status = 429, description = "Queue full, or over the token's rate or quota", body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn submit(
    State(node): State<Arc<Node>>,
    CallerOf(caller): CallerOf,
    QueryOf(q): QueryOf<WaitQuery>,
    JsonBody(req): JsonBody<SubmitTask>,
) -> Result<Response, ApiError> {
    let wait = wait_for(&q)?;
    let (record, _existed) = node.submit(&caller, req).await?;
    let record = match wait {
        Some(w) => settle(&node, &caller, &record.id, w).await?,
        None => record,
    };
    Ok(finished_or_accepted(&node, record).await)
}

/// List tasks, newest first.
#[utoipa::path(
    get,
    path = "/v1/tasks",
    tag = "tasks",
    params(ListQuery),
    responses(
        (status = 200, body = TaskPage),
        (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn list(
    State(node): State<Arc<Node>>,
    CallerOf(caller): CallerOf,
    QueryOf(q): QueryOf<ListQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and 500, got {limit}"
        )));
    }
    let tasks = node.list(&caller, q.state, q.before, limit)?;
    let next = (tasks.len() == limit)
        .then(|| tasks.last().map(|t| t.seq))
        .flatten();
    Ok(Json(TaskPage {
        tasks: tasks.iter().map(TaskRecord::view).collect(),
        next,
    }))
}

/// A task's status (`?wait=` waits for it to finish).
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id"), WaitQuery),
    responses(
        (status = 200, body = TaskView),
        (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn get(
    State(node): State<Arc<Node>>,
    CallerOf(caller): CallerOf,
    IdPath(id): IdPath,
    QueryOf(q): QueryOf<WaitQuery>,
) -> Result<Json<TaskView>, ApiError> {
    let wait = wait_for(&q)?.unwrap_or_default();
    Ok(Json(settle(&node, &caller, &id, wait).await?.view()))
}

/// A task's result: output, logs, inferences and receipt (`?wait=` waits).
/// 200 when finished, 202 with the status while it is not.
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}/result",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id"), WaitQuery),
    responses(
        (status = 200, body = TaskResultView),
        (status = 202, body = TaskView),
        (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn result(
    State(node): State<Arc<Node>>,
    CallerOf(caller): CallerOf,
    IdPath(id): IdPath,
    QueryOf(q): QueryOf<WaitQuery>,
) -> Result<Response, ApiError> {
    let wait = wait_for(&q)?.unwrap_or_default();
    let record = settle(&node, &caller, &id, wait).await?;
    Ok(finished_or_accepted(&node, record).await)
}

/// A succeeded task's output, as the raw bytes with their content type.
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}/output",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id")),
    responses(
        (status = 200, description = "The output bytes", content_type = "application/octet-stream"),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "The task has no output", body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn output(
    State(node): State<Arc<Node>>,
    CallerOf(caller): CallerOf,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let record = node.task(&caller, &id)?;
    let data = node.output(&record).await?;
    let ct = record
        .success()
        .map(|s| s.content_type.clone())
        .unwrap_or_else(|| "application/octet-stream".into());
    let ct = axum::http::HeaderValue::from_str(&ct).unwrap_or(
        axum::http::HeaderValue::from_static("application/octet-stream"),
    );
    Ok(([(header::CONTENT_TYPE, ct)], data).into_response())
}

/// A succeeded task's receipt, signed with the node's key.
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}/receipt",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id")),
    responses(
        (status = 200, body = SignedReceipt),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "The task has no receipt (not succeeded)", body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn receipt(
    State(node): State<Arc<Node>>,
    CallerOf(caller): CallerOf,
    IdPath(id): IdPath,
) -> Result<Json<SignedReceipt>, ApiError> {
    let record = node.task(&caller, &id)?;
    record
        .success()
        .map(|s| Json(s.receipt.clone()))
        .ok_or_else(|| {
            Refusal::Conflict(format!(
                "task {id} has no receipt: it is {}",
                record.state.as_str()
            ))
            .into()
        })
}

/// A task's events as server-sent events: `queued`, `started`, `output`
/// (chunks the plugin streams while it runs, live only), `log`, `finished`
/// (the stream ends after it). Each event's data is a JSON `TaskEvent`.
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}/events",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id")),
    responses(
        (status = 200, description = "An event stream of TaskEvent", content_type = "text/event-stream"),
        (status = 404, body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn events(
    State(node): State<Arc<Node>>,
    CallerOf(caller): CallerOf,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    // Subscribed before the record is read: nothing falls in between.
    let mut live = node.subscribe(&id);
    let record = node.task(&caller, &id)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<TaskEvent>(64);
    tokio::spawn(async move {
        let mut history = vec![TaskEvent::Queued {
            at_ms: record.created_ms,
        }];
        if let Some(at) = record.started_ms {
            history.push(TaskEvent::Started {
                at_ms: at,
                attempt: record.attempts,
            });
        }
        if record.state.is_final() {
            history.extend(finished_events(&record));
        }
        for e in history {
            if tx.send(e).await.is_err() {
                return;
            }
        }
        if record.state.is_final() {
            return;
        }
        loop {
            match live.recv().await {
                Ok(e) => {
                    let done = matches!(e, TaskEvent::Finished { .. });
                    if tx.send(e).await.is_err() || done {
                        return;
                    }
                }
                // Fell behind a fast stream: skip what was missed, go on.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    // The task ended: tell how.
                    if let Ok(r) = node.task(&caller, &record.id)
                        && r.state.is_final()
                    {
                        for e in finished_events(&r) {
                            let _ = tx.send(e).await;
                        }
                    }
                    return;
                }
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(|e| {
        Ok::<Event, Infallible>(
            Event::default()
                .event(e.name())
                .data(serde_json::to_string(&e).unwrap_or_default()),
        )
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn finished_events(record: &TaskRecord) -> Vec<TaskEvent> {
    let mut out = Vec::new();
    if let Some(s) = record.success() {
        out.extend(s.logs.iter().cloned().map(TaskEvent::Log));
    }
    let error = match &record.outcome {
        Some(Outcome::Failure(f)) => Some(f.clone()),
        _ => None,
    };
    out.push(TaskEvent::Finished {
        at_ms: record.finished_ms.unwrap_or_default(),
        state: record.state,
        error,
    });
    out
}

/// Cancel a task: a queued one at once, a running one when its run returns
/// (its output is discarded).
#[utoipa::path(
    post,
    path = "/v1/tasks/{id}/cancel",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id")),
    responses(
        (status = 200, body = TaskView),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "Already finished", body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn cancel(
    State(node): State<Arc<Node>>,
    CallerOf(caller): CallerOf,
    IdPath(id): IdPath,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(node.cancel(&caller, &id).await?.view()))
}
