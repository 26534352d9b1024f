//! The node itself: health, readiness, metrics, what it is, its recent
//! history, and the dashboard.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::metrics::{RecentFailure, StatPoint};
use crate::service::{Node, NodeInfo};

/// The dashboard: one page of plain HTML and JavaScript, no build step.
const DASHBOARD_HTML: &str = include_str!("../dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("../dashboard/dashboard.js");

/// `GET /healthz`: the process answers.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 once ONNX Runtime and the models the node advertises
/// are loaded (and while it is not shutting down), else 503 with the reason.
pub(super) async fn readyz(State(node): State<Arc<Node>>) -> Response {
    match node.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why).into_response()
        }
    }
}

/// `GET /metrics`: the Prometheus text format.
pub(super) async fn metrics(State(node): State<Arc<Node>>) -> Response {
    node.refresh_metrics();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        node.metrics().encode(),
    )
        .into_response()
}

/// `GET /`: the dashboard.
pub(super) async fn dashboard() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        DASHBOARD_HTML,
    )
        .into_response()
}

/// `GET /dashboard.js`.
pub(super) async fn dashboard_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        DASHBOARD_JS,
    )
        .into_response()
}

/// What the node is: id, version, address, provider, limits.
#[utoipa::path(
    get,
    path = "/v1/node",
    tag = "node",
    responses((status = 200, body = NodeInfo)),
    security(("bearer" = []), ())
)]
pub(super) async fn info(State(node): State<Arc<Node>>) -> Json<NodeInfo> {
    Json(node.info())
}

/// The node's recent history, for the dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatsView {
    /// Tasks waiting for a worker.
    pub queued: usize,
    /// Tasks running.
    pub running: usize,
    /// Tasks succeeded since the node started.
    pub succeeded: u64,
    /// Tasks failed since the node started.
    pub failed: u64,
    /// Tasks cancelled since the node started.
    pub cancelled: u64,
    /// Throughput and latency over the last minutes, oldest first.
    pub points: Vec<StatPoint>,
    /// The latest failures, newest first.
    pub recent_failures: Vec<RecentFailure>,
}

/// Throughput, latency, counts and recent failures.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "node",
    responses((status = 200, body = StatsView)),
    security(("bearer" = []), ())
)]
pub(super) async fn stats(State(node): State<Arc<Node>>) -> Json<StatsView> {
    let (queued, running) = node.queue_counts();
    let (succeeded, failed, cancelled) = node.metrics().totals();
    Json(StatsView {
        queued,
        running,
        succeeded,
        failed,
        cancelled,
        points: node.metrics().points(),
        recent_failures: node.metrics().failures(),
    })
}
