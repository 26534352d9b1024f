//! Extractors whose every refusal is an [`ApiError`] with a JSON body:
//! bodies read under the node's size limit, JSON checked for its content
//! type, path segments parsed as hashes or task ids, queries parsed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use clusterai_types::ContentHash;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::auth::Caller;
use crate::service::Node;

/// A request body of at most the node's `max_body_bytes`.
pub(crate) struct Body(pub(crate) Bytes);

impl FromRequest<Arc<Node>> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, node: &Arc<Node>) -> Result<Self, ApiError> {
        let limit = usize::try_from(node.config().http.max_body_bytes).unwrap_or(usize::MAX);
        if let Some(len) = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && len > limit as u64
        {
            return Err(ApiError::too_large(format!(
                "the body is {len} bytes, over this node's limit of {limit} bytes"
            )));
        }
        axum::body::to_bytes(req.into_body(), limit)
            .await
            .map(Body)
            .map_err(|_| {
                ApiError::too_large(format!(
                    "the body is over this node's limit of {limit} bytes (or broke off)"
                ))
            })
    }
}

/// A JSON body: `Content-Type: application/json`, under the size limit,
/// parsed into `T` (unknown fields refused where `T` says so).
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<Arc<Node>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, node: &Arc<Node>) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::unsupported_media_type(format!(
                "the body must be application/json, not {:?}",
                if content_type.is_empty() {
                    "(none)"
                } else {
                    content_type
                }
            )));
        }
        let Body(bytes) = Body::from_request(req, node).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("the JSON body is invalid: {e}")))
    }
}

/// A `{hash}` path segment.
pub(crate) struct HashPath(pub(crate) ContentHash);

impl<S: Send + Sync> FromRequestParts<S> for HashPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        raw.parse()
            .map(HashPath)
            .map_err(|e| ApiError::bad_request(format!("{raw:?} is not a content hash: {e}")))
    }
}

/// An `{id}` path segment (checked against the task id shape by the service).
pub(crate) struct IdPath(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| IdPath(id))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// A query string parsed into `T`.
pub(crate) struct QueryOf<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| QueryOf(q))
            .map_err(|e| ApiError::bad_request(format!("the query is invalid: {}", e.body_text())))
    }
}

/// The authenticated caller (put there by the authentication layer).
pub(crate) struct CallerOf(pub(crate) Caller);

impl<S: Send + Sync> FromRequestParts<S> for CallerOf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(CallerOf)
            .ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the request was not authenticated",
                )
            })
    }
}
