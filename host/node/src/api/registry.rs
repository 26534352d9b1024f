//! `/v1/plugins` and `/v1/models`: content-addressed uploads, lists, records.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use clusterai_nn::ModelInfo;
use clusterai_types::{ContentHash, ExecutionProvider};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use super::extract::{Body, HashPath};
use crate::registry::PluginRecord;
use crate::service::Node;

/// A model a node holds: its inputs and outputs as ONNX Runtime reads them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelView {
    /// BLAKE3 of the model file: the name plugins open it by.
    pub hash: ContentHash,
    /// Its size in bytes.
    pub size: u64,
    /// Its inputs.
    pub inputs: Vec<TensorView>,
    /// Its outputs.
    pub outputs: Vec<TensorView>,
    /// Where its sessions run.
    pub execution_provider: ExecutionProvider,
}

/// A model input or output.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TensorView {
    /// Its name in the graph.
    pub name: String,
    /// Its element type (`f32`, `i64`, ...).
    pub dtype: String,
    /// Its shape; -1 marks a dynamic dimension.
    pub shape: Vec<i64>,
    /// The largest dimensions the node runs this input with (the model's
    /// declared limit), when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_dims: Option<Vec<u32>>,
}

impl From<ModelInfo> for ModelView {
    fn from(m: ModelInfo) -> Self {
        let limits = m.input_limits.clone().unwrap_or_default();
        let t = |v: Vec<clusterai_nn::TensorInfo>| {
            v.into_iter()
                .map(|t| TensorView {
                    max_dims: limits.max_dims(&t.name).map(<[u32]>::to_vec),
                    name: t.name,
                    dtype: t.dtype,
                    shape: t.shape,
                })
                .collect()
        };
        Self {
            hash: m.hash,
            size: m.size,
            inputs: t(m.inputs),
            outputs: t(m.outputs),
            execution_provider: m.execution_provider,
        }
    }
}

/// Upload a plugin (a WebAssembly component, the raw bytes). It is loaded
/// and described first: what does not load is refused and nothing is kept.
/// The answer names it by its BLAKE3 hash.
#[utoipa::path(
    post,
    path = "/v1/plugins",
    tag = "registry",
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The component"),
    responses(
        (status = 201, body = PluginRecord),
        (status = 413, body = super::ErrorBody),
        (status = 422, description = "Not a component this node loads (the reason is named)", body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn upload_plugin(
    State(node): State<Arc<Node>>,
    Body(bytes): Body,
) -> Result<(StatusCode, Json<PluginRecord>), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty; send the component's bytes",
        ));
    }
    let record = node.add_plugin(bytes.to_vec()).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// The plugins this node holds.
#[utoipa::path(
    get,
    path = "/v1/plugins",
    tag = "registry",
    responses((status = 200, body = Vec<PluginRecord>)),
    security(("bearer" = []), ())
)]
pub(super) async fn list_plugins(
    State(node): State<Arc<Node>>,
) -> Result<Json<Vec<PluginRecord>>, ApiError> {
    Ok(Json(node.plugins().await?))
}

/// One plugin: what its `describe()` said and the models it declares.
#[utoipa::path(
    get,
    path = "/v1/plugins/{hash}",
    tag = "registry",
    params(("hash" = String, Path, description = "BLAKE3 of the plugin")),
    responses(
        (status = 200, body = PluginRecord),
        (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn get_plugin(
    State(node): State<Arc<Node>>,
    HashPath(hash): HashPath,
) -> Result<Json<PluginRecord>, ApiError> {
    Ok(Json(node.plugin_record(hash).await?))
}

/// Upload a model (an ONNX file, the raw bytes). ONNX Runtime opens it
/// first: what it cannot open is refused and nothing is kept.
#[utoipa::path(
    post,
    path = "/v1/models",
    tag = "registry",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The ONNX file"),
    responses(
        (status = 201, body = ModelView),
        (status = 409, description = "Inference is not available on this node", body = super::ErrorBody),
        (status = 413, body = super::ErrorBody),
        (status = 422, description = "Not a model ONNX Runtime opens, or one without declared input limits", body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn upload_model(
    State(node): State<Arc<Node>>,
    Body(bytes): Body,
) -> Result<(StatusCode, Json<ModelView>), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty; send the model's bytes",
        ));
    }
    let info = node.add_model(bytes.to_vec()).await?;
    Ok((StatusCode::CREATED, Json(info.into())))
}

/// The models this node holds.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "registry",
    responses((status = 200, body = Vec<ModelView>)),
    security(("bearer" = []), ())
)]
pub(super) async fn list_models(
    State(node): State<Arc<Node>>,
) -> Result<Json<Vec<ModelView>>, ApiError> {
    Ok(Json(
        node.models()
            .await?
            .into_iter()
            .map(ModelView::from)
            .collect(),
    ))
}

/// One model: its inputs and outputs.
#[utoipa::path(
    get,
    path = "/v1/models/{hash}",
    tag = "registry",
    params(("hash" = String, Path, description = "BLAKE3 of the model")),
    responses(
        (status = 200, body = ModelView),
        (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
    ),
    security(("bearer" = []), ())
)]
pub(super) async fn get_model(
    State(node): State<Arc<Node>>,
    HashPath(hash): HashPath,
) -> Result<Json<ModelView>, ApiError> {
    Ok(Json(node.model(hash).await?.into()))
}
