//! The OpenAPI document: served, committed (`host/node/openapi.json`, bless
//! with `BLESS=1`), and a few thousand random requests shaped by it find no
//! 5xx and no crash.

use axum::body::Body;
use axum::http::{Method, StatusCode};

use crate::harness::start;

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_committed_one() {
    let generated = clusterai_node::api::openapi().to_pretty_json().unwrap();
    let path = committed_path();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, format!("{generated}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed.trim_end(),
        generated,
        "the API changed: review and bless with `BLESS=1 cargo test -p clusterai-node openapi`"
    );
    let n = start(|_| {}).await;
    let served = n.get("/v1/openapi.json").await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(String::from_utf8(served.body).unwrap(), generated);
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/tasks",
        "/v1/tasks/{id}",
        "/v1/tasks/{id}/result",
        "/v1/tasks/{id}/receipt",
        "/v1/tasks/{id}/events",
        "/v1/plugins",
        "/v1/models",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not described");
    }
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn string(&mut self) -> String {
        let pool = [
            String::new(),
            "a".repeat(32),
            "0".repeat(64),
            "Z".repeat(64),
            "é".repeat(5000),
            "../../etc/passwd".into(),
            "%00%ff".into(),
            "-1".into(),
            "1e309".into(),
            "null".into(),
            "x".repeat(70_000),
            format!("{:x}", self.next()),
        ];
        self.pick(&pool).clone()
    }
    fn json(&mut self, depth: u32, hello: &str) -> serde_json::Value {
        use serde_json::json;
        match self.below(if depth > 3 { 6 } else { 9 }) {
            0 => serde_json::Value::Null,
            1 => json!(self.next().is_multiple_of(3)),
            2 => json!(self.next() as i64),
            3 => json!(-(self.next() as f64) / 7.0),
            4 => json!(self.string()),
            5 => json!(hello),
            6 => serde_json::Value::Array(
                (0..self.below(4))
                    .map(|_| self.json(depth + 1, hello))
                    .collect(),
            ),
            _ => {
                let keys = [
                    "plugin",
                    "input",
                    "text",
                    "base64",
                    "blob",
                    "content_type",
                    "params",
                    "models",
                    "limits",
                    "fuel",
                    "timeout_ms",
                    "memory_bytes",
                    "idempotency_key",
                    "max_output_bytes",
                    "junk",
                ];
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(6) {
                    m.insert(self.pick(&keys).to_string(), self.json(depth + 1, hello));
                }
                serde_json::Value::Object(m)
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_shaped_by_the_document_find_no_5xx() {
    let n = start(|c| {
        c.limits.timeout = std::time::Duration::from_secs(2);
        c.http.max_body_bytes = 256 << 10;
    })
    .await;
    let hello = n.upload("hello").await;
    let doc: serde_json::Value =
        serde_json::from_str(&clusterai_node::api::openapi().to_json().unwrap()).unwrap();
    let mut ops: Vec<(Method, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in item.as_object().unwrap().keys() {
            if let Ok(method) = m.to_uppercase().parse::<Method>() {
                ops.push((method, path.clone()));
            }
        }
    }
    assert!(ops.len() >= 10, "{ops:?}");
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let content_types = [
        "application/json",
        "application/wasm",
        "text/plain",
        "",
        "application/json; charset=utf-8",
    ];
    let queries = [
        "",
        "?wait=0",
        "?wait=0.01",
        "?wait=-1",
        "?wait=nan",
        "?limit=3",
        "?limit=99999",
        "?state=queued",
        "?state=%00",
        "?before=1",
        "?before=-5",
        "?junk=1",
    ];
    let requests = 3000;
    for i in 0..requests {
        let (method, template) = g.pick(&ops).clone();
        let mut path = template.clone();
        for param in ["{id}", "{hash}"] {
            if path.contains(param) {
                let value = match g.below(4) {
                    0 => "a".repeat(32),
                    1 => hello.clone(),
                    2 => format!("{:032x}", u128::from(g.next()) << 64 | u128::from(g.next())),
                    // URIs stop at 64 KiB in HTTP libraries; stay under.
                    _ => urlencode(&g.string()).chars().take(30_000).collect(),
                };
                path = path.replace(param, &value);
            }
        }
        let query = g.pick::<&str>(&queries);
        path.push_str(query);
        let body: Vec<u8> = match g.below(4) {
            0 => Vec::new(),
            1 => g.json(0, &hello).to_string().into_bytes(),
            2 => serde_json::json!({"plugin": hello, "input": g.json(1, &hello), "params": g.json(1, &hello), "limits": g.json(1, &hello)}).to_string().into_bytes(),
            _ => (0..g.below(512)).map(|_| g.next() as u8).collect(),
        };
        let ct = *g.pick(&content_types);
        let headers: Vec<(&str, &str)> = if ct.is_empty() {
            vec![]
        } else {
            vec![("content-type", ct)]
        };
        let a = n
            .call(method.clone(), &path, &headers, Body::from(body))
            .await;
        assert!(
            a.status.as_u16() < 500,
            "request {i}: {method} {path} answered {}: {}",
            a.status,
            String::from_utf8_lossy(&a.body)
        );
        if a.status.is_client_error() {
            a.error_code();
        }
    }
    assert_eq!(n.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(n.get("/readyz").await.status, StatusCode::OK);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
