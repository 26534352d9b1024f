//! An in-process node for API tests: real runtime, store, database and
//! router, in a temporary directory, answered through `oneshot` (no socket).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use clusterai_node::{Node, NodeConfig};
use clusterai_test_support::plugins;
use tower::ServiceExt as _;

/// A node and its router, alive with their folder.
pub(crate) struct TestNode {
    pub(crate) node: Arc<Node>,
    pub(crate) app: Router,
    pub(crate) _dir: tempfile::TempDir,
}

/// The config of a test node in `dir`: loopback on free ports, no preload,
/// inference off unless `tweak` turns it on.
pub(crate) fn config(dir: &std::path::Path) -> NodeConfig {
    let mut c = NodeConfig {
        data_dir: Some(dir.to_path_buf()),
        ..NodeConfig::default()
    };
    c.http.bind = "127.0.0.1:0".parse().unwrap();
    c.iroh.bind = "127.0.0.1:0".parse().unwrap();
    c.inference.enabled = false;
    c.queue.workers = 2;
    c
}

/// Starts a node configured by `tweak`.
pub(crate) async fn start(tweak: impl FnOnce(&mut NodeConfig)) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    tweak(&mut c);
    let node = Node::start(c).await.unwrap();
    let app = clusterai_node::api::app(node.clone());
    TestNode {
        node,
        app,
        _dir: dir,
    }
}

/// An answer: status, headers, body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The error code of a JSON error body (and checks its shape).
    #[track_caller]
    pub(crate) fn error_code(&self) -> String {
        let v = self.json();
        assert!(v["error"]["message"].is_string(), "{v}");
        v["error"]["code"].as_str().unwrap().to_string()
    }
}

impl TestNode {
    /// Sends a request with `headers` and `body`.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, &[], Body::empty()).await
    }

    /// `POST path` with a JSON body.
    pub(crate) async fn post_json(&self, path: &str, body: &serde_json::Value) -> Answer {
        self.call(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    /// Uploads the built plugin `name`; its hash.
    pub(crate) async fn upload(&self, name: &str) -> String {
        let a = self
            .call(
                Method::POST,
                "/v1/plugins",
                &[("content-type", "application/wasm")],
                plugins::bytes(name),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
        a.json()["hash"].as_str().unwrap().to_string()
    }

    /// How many tasks the node has recorded.
    pub(crate) async fn task_count(&self) -> usize {
        self.get("/v1/tasks?limit=500").await.json()["tasks"]
            .as_array()
            .unwrap()
            .len()
    }
}
