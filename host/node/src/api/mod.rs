//! The HTTP API (axum): `fn app(node) -> Router`, so handlers are tested
//! with `oneshot` and no server. Every route under `/v1` is described by the
//! OpenAPI document served at `/v1/openapi.json`, generated from the
//! handlers' own annotations and types (it cannot drift from them).
//!
//! Every error is `{"error": {"code", "message"}}` with a precise status:
//! the message says what was wrong and nothing about the node's internals.

mod error;
mod extract;
mod node;
mod registry;
mod tasks;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use node::StatsView;
pub use registry::{ModelView, TensorView};
pub use tasks::{OutputView, TaskPage, TaskResultView};

use crate::service::Node;

/// The API's description, completed by the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ClusterAI node API",
        description = "Run AI tasks as sandboxed WebAssembly plugins on this node: upload plugins \
                       and models (content-addressed by BLAKE3), submit tasks, follow them, fetch \
                       outputs and signed receipts.",
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorBody, ErrorDetail, crate::events::TaskEvent)),
    modifiers(&BearerAuth),
    tags(
        (name = "tasks", description = "Submit, follow and fetch tasks"),
        (name = "registry", description = "Plugins and models on this node"),
        (name = "node", description = "The node itself")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn routes() -> OpenApiRouter<Arc<Node>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tasks::submit, tasks::list))
        .routes(routes!(tasks::get))
        .routes(routes!(tasks::result))
        .routes(routes!(tasks::output))
        .routes(routes!(tasks::receipt))
        .routes(routes!(tasks::events))
        .routes(routes!(tasks::cancel))
        .routes(routes!(registry::upload_plugin, registry::list_plugins))
        .routes(routes!(registry::get_plugin))
        .routes(routes!(registry::upload_model, registry::list_models))
        .routes(routes!(registry::get_model))
        .routes(routes!(node::info))
        .routes(routes!(node::stats))
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The whole HTTP surface of `node`: the API, health, metrics, dashboard.
pub fn app(node: Arc<Node>) -> Router {
    let (api, doc) = routes().split_for_parts();
    let doc = Arc::new(doc.to_pretty_json().unwrap_or_else(|_| "{}".into()));
    let mut app = api
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.as_ref().clone(),
                    )
                }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            node.clone(),
            authenticate,
        ))
        .route("/healthz", axum::routing::get(node::healthz))
        .route("/readyz", axum::routing::get(node::readyz))
        .route("/metrics", axum::routing::get(node::metrics))
        .route("/", axum::routing::get(node::dashboard))
        .route("/dashboard.js", axum::routing::get(node::dashboard_js))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(node.clone());
    let origins: Vec<HeaderValue> = node
        .config()
        .http
        .cors_origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    if !origins.is_empty() {
        app = app.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    app
}

/// Checks the bearer token of every `/v1` request but the OpenAPI document,
/// and hands the caller to the handlers.
async fn authenticate(State(node): State<Arc<Node>>, mut req: Request, next: Next) -> Response {
    if req.uri().path() == "/v1/openapi.json" {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match node.auth().check(header) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(denied) => axum::response::IntoResponse::into_response(ApiError::from_denied(denied)),
    }
}
