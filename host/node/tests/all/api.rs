//! The HTTP API on a real node, in process: the good path, and every kind
//! of bad input answered with a precise 4xx and a JSON error body, leaving
//! nothing half-written.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use clusterai_types::ContentHash;
use serde_json::json;

use crate::harness::{TestNode, start};

fn hello_task(plugin: &str, text: &str) -> serde_json::Value {
    json!({ "plugin": plugin, "input": { "text": text } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_and_its_result_output_receipt_and_events_are_served() {
    let n = start(|_| {}).await;
    let hello = n.upload("hello").await;

    // Listed and described.
    let plugins = n.get("/v1/plugins").await.json();
    assert_eq!(plugins[0]["name"], "hello");
    assert_eq!(
        n.get(&format!("/v1/plugins/{hello}")).await.json()["hash"],
        hello
    );

    // Submit and wait: 200 with the result.
    let a = n
        .post_json("/v1/tasks?wait=30", &hello_task(&hello, "world"))
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let r = a.json();
    assert_eq!(r["task"]["state"], "succeeded");
    assert_eq!(r["output"]["text"], "Hello, world!\n");
    assert_eq!(r["logs"][0]["level"], "debug");
    let id = r["task"]["id"].as_str().unwrap().to_string();
    let receipt = &r["receipt"]["receipt"];
    assert_eq!(receipt["task_id"], id.as_str());
    assert_eq!(receipt["node"], n.node.node_id());
    assert_eq!(receipt["plugin"], hello.as_str());
    assert_eq!(
        receipt["input"],
        ContentHash::of(b"world").to_hex().as_str()
    );
    assert_eq!(
        receipt["output"],
        ContentHash::of(b"Hello, world!\n").to_hex().as_str()
    );
    assert_eq!(receipt["execution_provider"], "none");

    // The receipt verifies against the node key.
    let signed: clusterai_types::SignedReceipt =
        serde_json::from_slice(&n.get(&format!("/v1/tasks/{id}/receipt")).await.body).unwrap();
    let key: iroh::PublicKey = signed.receipt.node.parse().unwrap();
    let sig: [u8; 64] = hex::decode(&signed.signature).unwrap().try_into().unwrap();
    key.verify(
        &signed.receipt.signing_message(),
        &iroh::Signature::from_bytes(&sig),
    )
    .unwrap();

    // The raw output, with its content type.
    let out = n.get(&format!("/v1/tasks/{id}/output")).await;
    assert_eq!(out.body, b"Hello, world!\n");
    assert_eq!(out.headers["content-type"], "text/plain; charset=utf-8");

    // The events of a finished task: the whole history, then the end.
    let ev = n.get(&format!("/v1/tasks/{id}/events")).await;
    let text = String::from_utf8(ev.body).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names, ["queued", "started", "log", "finished"], "{text}");
    assert!(text.contains("\"state\":\"succeeded\""), "{text}");

    // Without wait: 202, a Location, and the status; then the result.
    let a = n.post_json("/v1/tasks", &hello_task(&hello, "later")).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let id2 = a.json()["id"].as_str().unwrap().to_string();
    assert_eq!(a.headers["location"], format!("/v1/tasks/{id2}").as_str());
    let r = n.get(&format!("/v1/tasks/{id2}/result?wait=30")).await;
    assert_eq!(r.json()["output"]["text"], "Hello, later!\n");

    // Listing, filtering and paging.
    let all = n.get("/v1/tasks?limit=1").await.json();
    assert_eq!(all["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(all["tasks"][0]["id"], id2.as_str(), "newest first");
    let next = all["next"].as_u64().unwrap();
    let page2 = n
        .get(&format!("/v1/tasks?limit=1&before={next}"))
        .await
        .json();
    assert_eq!(page2["tasks"][0]["id"], id.as_str());
    let failed = n.get("/v1/tasks?state=failed").await.json();
    assert!(failed["tasks"].as_array().unwrap().is_empty());

    // A plugin error is a failed task with its kind, not an HTTP error.
    let r = n
        .post_json("/v1/tasks?wait=30", &hello_task(&hello, "   "))
        .await
        .json();
    assert_eq!(r["task"]["state"], "failed");
    assert_eq!(r["task"]["error"]["kind"], "invalid-input");
    let id3 = r["task"]["id"].as_str().unwrap();
    let no_receipt = n.get(&format!("/v1/tasks/{id3}/receipt")).await;
    assert_eq!(no_receipt.status, StatusCode::CONFLICT);

    // Metrics count them.
    let m = String::from_utf8(n.get("/metrics").await.body).unwrap();
    assert!(
        m.contains("clusterai_tasks_total{plugin=\"hello\",outcome=\"succeeded\"} 2"),
        "{m}"
    );
    assert!(m.contains("clusterai_queue_depth"), "{m}");
    assert!(m.contains("clusterai_plugin_loads_total{cache="), "{m}");
    let stats = n.get("/v1/stats").await.json();
    assert_eq!(stats["succeeded"], 2);
    assert_eq!(stats["failed"], 1);
    assert_eq!(stats["recent_failures"][0]["kind"], "invalid-input");
    let info = n.get("/v1/node").await.json();
    assert_eq!(info["node_id"], n.node.node_id());
    assert_eq!(n.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(n.get("/readyz").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_return_the_first_task_and_refuse_another_request() {
    let n = start(|_| {}).await;
    let hello = n.upload("hello").await;
    let mut body = hello_task(&hello, "once");
    body["idempotency_key"] = "k1".into();
    let first = n.post_json("/v1/tasks", &body).await.json();
    let again = n.post_json("/v1/tasks", &body).await.json();
    assert_eq!(first["id"], again["id"]);
    let count = n.task_count().await;
    let mut other = hello_task(&hello, "twice");
    other["idempotency_key"] = "k1".into();
    let a = n.post_json("/v1/tasks", &other).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.error_code(), "conflict");
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("k1")
    );
    assert_eq!(n.task_count().await, count, "nothing written");
}

/// Every kind of bad request: a precise status, a JSON error body, and no
/// task recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_precise_errors_and_change_nothing() {
    let n = start(|c| {
        c.http.max_body_bytes = 1 << 20;
        c.limits.max_input_bytes = 1000;
    })
    .await;
    let hello = n.upload("hello").await;
    let unknown = ContentHash::of(b"no such thing").to_hex();
    let json_ct = [("content-type", "application/json")];
    // (what, method, path, headers, body, status, words the message names)
    type Case<'a> = (
        &'a str,
        Method,
        String,
        Vec<(&'a str, &'a str)>,
        Body,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from("{\"plugin\": "),
            StatusCode::BAD_REQUEST,
            "JSON",
        ),
        (
            "wrong content type",
            Method::POST,
            "/v1/tasks".into(),
            vec![("content-type", "text/plain")],
            Body::from(hello_task(&hello, "x").to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "no content type",
            Method::POST,
            "/v1/tasks".into(),
            vec![],
            Body::from(hello_task(&hello, "x").to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "unknown field",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from(json!({"plugin": hello, "input": {"text": "x"}, "priority": 9}).to_string()),
            StatusCode::BAD_REQUEST,
            "priority",
        ),
        (
            "unknown plugin",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from(hello_task(&unknown, "x").to_string()),
            StatusCode::NOT_FOUND,
            &unknown,
        ),
        (
            "plugin not a hash",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from(hello_task("hello", "x").to_string()),
            StatusCode::BAD_REQUEST,
            "hash",
        ),
        (
            "unknown model",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from(
                json!({"plugin": hello, "input": {"text": "x"}, "models": [unknown]}).to_string(),
            ),
            StatusCode::NOT_FOUND,
            &unknown,
        ),
        (
            "two inputs",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from(
                json!({"plugin": hello, "input": {"text": "x", "base64": "eA=="}}).to_string(),
            ),
            StatusCode::BAD_REQUEST,
            "exactly one",
        ),
        (
            "bad base64",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from(json!({"plugin": hello, "input": {"base64": "!!!"}}).to_string()),
            StatusCode::BAD_REQUEST,
            "base64",
        ),
        (
            "input over the limit",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from(hello_task(&hello, &"x".repeat(2000)).to_string()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "1000",
        ),
        (
            "limit above the node's",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from(
                json!({"plugin": hello, "input": {"text": "x"}, "limits": {"fuel": u64::MAX}})
                    .to_string(),
            ),
            StatusCode::BAD_REQUEST,
            "fuel",
        ),
        (
            "limit of zero",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from(
                json!({"plugin": hello, "input": {"text": "x"}, "limits": {"timeout_ms": 0}})
                    .to_string(),
            ),
            StatusCode::BAD_REQUEST,
            "timeout_ms",
        ),
        (
            "oversized body",
            Method::POST,
            "/v1/tasks".into(),
            json_ct.to_vec(),
            Body::from(vec![b' '; 2 << 20]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit",
        ),
        (
            "wait out of range",
            Method::POST,
            "/v1/tasks?wait=9999".into(),
            json_ct.to_vec(),
            Body::from(hello_task(&hello, "x").to_string()),
            StatusCode::BAD_REQUEST,
            "wait",
        ),
        (
            "junk query",
            Method::GET,
            "/v1/tasks?state=sleeping".into(),
            vec![],
            Body::empty(),
            StatusCode::BAD_REQUEST,
            "query",
        ),
        (
            "junk limit",
            Method::GET,
            "/v1/tasks?limit=0".into(),
            vec![],
            Body::empty(),
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            "junk task id",
            Method::GET,
            "/v1/tasks/..%2F..%2Fetc".into(),
            vec![],
            Body::empty(),
            StatusCode::BAD_REQUEST,
            "task id",
        ),
        (
            "unknown task id",
            Method::GET,
            format!("/v1/tasks/{}", "a".repeat(32)),
            vec![],
            Body::empty(),
            StatusCode::NOT_FOUND,
            "no task",
        ),
        (
            "junk plugin hash",
            Method::GET,
            "/v1/plugins/xyz".into(),
            vec![],
            Body::empty(),
            StatusCode::BAD_REQUEST,
            "content hash",
        ),
        (
            "unknown plugin hash",
            Method::GET,
            format!("/v1/plugins/{unknown}"),
            vec![],
            Body::empty(),
            StatusCode::NOT_FOUND,
            "no plugin",
        ),
        (
            "not wasm",
            Method::POST,
            "/v1/plugins".into(),
            vec![("content-type", "application/wasm")],
            Body::from(b"\x89PNG\r\n\x1a\nxxxx".to_vec()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a WebAssembly binary",
        ),
        (
            "core module",
            Method::POST,
            "/v1/plugins".into(),
            vec![],
            Body::from(
                std::fs::read(clusterai_test_support::plugins::programs::NOT_A_COMPONENT).unwrap(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "core WebAssembly module",
        ),
        (
            "forbidden import",
            Method::POST,
            "/v1/plugins".into(),
            vec![],
            Body::from(clusterai_test_support::plugins::bytes("forbidden_import")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "evil:escape",
        ),
        (
            "empty upload",
            Method::POST,
            "/v1/plugins".into(),
            vec![],
            Body::empty(),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            "model without inference",
            Method::POST,
            "/v1/models".into(),
            vec![],
            Body::from(b"onnx?".to_vec()),
            StatusCode::CONFLICT,
            "inference",
        ),
        (
            "unknown route",
            Method::GET,
            "/v2/everything".into(),
            vec![],
            Body::empty(),
            StatusCode::NOT_FOUND,
            "no route",
        ),
        (
            "wrong method",
            Method::DELETE,
            "/v1/tasks".into(),
            vec![],
            Body::empty(),
            StatusCode::METHOD_NOT_ALLOWED,
            "DELETE",
        ),
        (
            "cancel unknown",
            Method::POST,
            format!("/v1/tasks/{}/cancel", "b".repeat(32)),
            vec![],
            Body::empty(),
            StatusCode::NOT_FOUND,
            "no task",
        ),
    ];
    let before = n.task_count().await;
    let plugins_before = n.get("/v1/plugins").await.json();
    for (what, method, path, headers, body, status, needle) in cases {
        let a = n.call(method, &path, &headers, body).await;
        assert_eq!(
            a.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let v = a.json();
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(v["error"]["code"].is_string(), "{what}: {v}");
        assert!(
            message.contains(needle),
            "{what}: {message:?} lacks {needle:?}"
        );
    }
    assert_eq!(n.task_count().await, before, "no task was recorded");
    assert_eq!(
        n.get("/v1/plugins").await.json(),
        plugins_before,
        "no plugin was kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_with_retry_after() {
    let n = start(|c| {
        c.queue.capacity = 2;
        c.queue.workers = 1;
    })
    .await;
    let spin = n.upload("spin_forever").await;
    let slow = json!({ "plugin": spin, "input": {"text": "x"}, "limits": {"timeout_ms": 3000} });
    assert_eq!(
        n.post_json("/v1/tasks", &slow).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        n.post_json("/v1/tasks", &slow).await.status,
        StatusCode::ACCEPTED
    );
    let a = n.post_json("/v1/tasks", &slow).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.error_code(), "too_many_requests");
    assert!(a.headers.contains_key("retry-after"));
    assert_eq!(n.task_count().await, 2);
    // Cancelling the queued one frees room.
    let queued = n.get("/v1/tasks?state=queued").await.json();
    let id = queued["tasks"][0]["id"].as_str().unwrap().to_string();
    let c = n
        .call(
            Method::POST,
            &format!("/v1/tasks/{id}/cancel"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(c.json()["state"], "cancelled");
    let again = n
        .call(
            Method::POST,
            &format!("/v1/tasks/{id}/cancel"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        n.post_json("/v1/tasks", &slow).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_checked_rate_limited_and_scope_tasks() {
    let (alice, alice_hash) = clusterai_node::auth::new_token();
    let (bob, bob_hash) = clusterai_node::auth::new_token();
    let n = start(|c| {
        c.auth.tokens = vec![
            clusterai_node::config::TokenConfig {
                name: "alice".into(),
                blake3: alice_hash,
                requests_per_second: 1000.0,
                burst: 1000,
                tasks_per_day: 2,
            },
            clusterai_node::config::TokenConfig {
                name: "bob".into(),
                blake3: bob_hash,
                requests_per_second: 0.01,
                burst: 3,
                tasks_per_day: 100,
            },
        ];
    })
    .await;
    let hello = n.upload_with_token("hello", &alice).await;
    let no = n.get("/v1/tasks").await;
    assert_eq!(no.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no.headers["www-authenticate"], "Bearer");
    let bad = n
        .call(
            Method::GET,
            "/v1/tasks",
            &[("authorization", "Bearer nope")],
            Body::empty(),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    // The OpenAPI document, health and the dashboard page need no token.
    assert_eq!(n.get("/v1/openapi.json").await.status, StatusCode::OK);
    assert_eq!(n.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(n.get("/").await.status, StatusCode::OK);

    let auth_a = format!("Bearer {alice}");
    let auth_b = format!("Bearer {bob}");
    let submit = |auth: String| {
        let body = hello_task(&hello, "t").to_string();
        let n = &n;
        async move {
            n.call(
                Method::POST,
                "/v1/tasks?wait=30",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                body,
            )
            .await
        }
    };
    let a1 = submit(auth_a.clone()).await;
    assert_eq!(a1.status, StatusCode::OK);
    let id = a1.json()["task"]["id"].as_str().unwrap().to_string();
    // Bob cannot see Alice's task.
    let seen = n
        .call(
            Method::GET,
            &format!("/v1/tasks/{id}"),
            &[("authorization", &auth_b)],
            Body::empty(),
        )
        .await;
    assert_eq!(seen.status, StatusCode::NOT_FOUND);
    // Alice's daily quota is 2 tasks.
    assert_eq!(submit(auth_a.clone()).await.status, StatusCode::OK);
    let over = submit(auth_a.clone()).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        over.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("quota")
    );
    // Bob's rate: a burst of 3 requests, then 429 with Retry-After.
    let mut last = StatusCode::OK;
    for _ in 0..4 {
        last = n
            .call(
                Method::GET,
                "/v1/tasks",
                &[("authorization", &auth_b)],
                Body::empty(),
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

impl TestNode {
    async fn upload_with_token(&self, name: &str, token: &str) -> String {
        let auth = format!("Bearer {token}");
        let a = self
            .call(
                Method::POST,
                "/v1/plugins",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/wasm"),
                ],
                clusterai_test_support::plugins::bytes(name),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED);
        a.json()["hash"].as_str().unwrap().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_tasks_expire_after_the_retention_and_unfinished_ones_stay() {
    let n = start(|c| {
        c.queue.retention_secs = 1;
        c.queue.workers = 1;
        // The spinning task must outlive the retention: its deadline, not
        // its fuel, ends it.
        c.limits.fuel = 10_000_000_000_000;
    })
    .await;
    let hello = n.upload("hello").await;
    let spin = n.upload("spin_forever").await;
    let done = n
        .post_json("/v1/tasks?wait=30", &hello_task(&hello, "old"))
        .await
        .json();
    let done = done["task"]["id"].as_str().unwrap().to_string();
    // One task runs (the only worker spins), one waits behind it.
    let slow = json!({ "plugin": spin, "input": {"text": "x"}, "limits": {"timeout_ms": 4000} });
    let running = n.post_json("/v1/tasks", &slow).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let queued = n.post_json("/v1/tasks", &slow).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Within the retention nothing goes.
    assert_eq!(n.node.expire().await.unwrap(), 0);
    assert_eq!(
        n.get(&format!("/v1/tasks/{done}/output")).await.status,
        StatusCode::OK
    );

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(n.node.expire().await.unwrap(), 1);
    for path in ["", "/result", "/output", "/receipt"] {
        let a = n.get(&format!("/v1/tasks/{done}{path}")).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(a.error_code(), "not_found");
    }
    for id in [&running, &queued] {
        let a = n.get(&format!("/v1/tasks/{id}")).await;
        assert_eq!(a.status, StatusCode::OK);
        let state = a.json()["state"].clone();
        assert!(
            matches!(state.as_str(), Some("running" | "queued")),
            "{}",
            a.json()
        );
    }
    // A second pass finds nothing more to expire.
    assert_eq!(n.node.expire().await.unwrap(), 0);
    for id in [&queued, &running] {
        n.call(
            Method::POST,
            &format!("/v1/tasks/{id}/cancel"),
            &[],
            Body::empty(),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_allows_only_the_configured_origins() {
    let preflight = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "authorization, content-type",
        ),
    ];
    async fn get_from(n: &TestNode, origin: &str) -> crate::harness::Answer {
        n.call(
            Method::GET,
            "/v1/plugins",
            &[("origin", origin)],
            Body::empty(),
        )
        .await
    }
    let allowed = |a: &crate::harness::Answer| {
        a.headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };

    let closed = start(|_| {}).await;
    let a = get_from(&closed, "https://app.example").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(allowed(&a), None, "{:?}", a.headers);
    let a = closed
        .call(Method::OPTIONS, "/v1/tasks", &preflight, Body::empty())
        .await;
    assert_eq!(allowed(&a), None, "{:?}", a.headers);

    let open = start(|c| c.http.cors_origins = vec!["https://app.example".into()]).await;
    let a = open
        .call(Method::OPTIONS, "/v1/tasks", &preflight, Body::empty())
        .await;
    assert!(a.status.is_success(), "{}", a.status);
    assert_eq!(allowed(&a).as_deref(), Some("https://app.example"));
    let a = get_from(&open, "https://app.example").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(allowed(&a).as_deref(), Some("https://app.example"));
    assert_eq!(
        allowed(&get_from(&open, "https://evil.example").await),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_plugin_streams_reaches_the_event_stream_as_it_comes() {
    let n = start(|c| {
        c.queue.workers = 1;
        c.limits.fuel = 10_000_000_000_000;
    })
    .await;
    let spin = n.upload("spin_forever").await;
    let streamer = n.upload("streamer").await;
    // The only worker spins for a while: the streaming task waits behind it,
    // so its follower is there before it starts.
    let slow = json!({ "plugin": spin, "input": {"text": "x"}, "limits": {"timeout_ms": 1500} });
    n.post_json("/v1/tasks", &slow).await;
    let task = json!({ "plugin": streamer, "input": {"text": "one\ntwo\nthree"} });
    let id = n.post_json("/v1/tasks", &task).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ev = n.get(&format!("/v1/tasks/{id}/events")).await;
    let text = String::from_utf8(ev.body).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(
        names,
        [
            "queued", "started", "output", "output", "output", "finished"
        ],
        "{text}"
    );
    let chunks: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .filter(|e: &serde_json::Value| e["event"] == "output")
        .collect();
    let seqs: Vec<u64> = chunks.iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [0, 1, 2]);
    assert_eq!(chunks[0]["text"], "one\n");
    assert_eq!(chunks[2]["text"], "three");
    // The result holds the whole output; a follower that comes later gets
    // the history without the chunks.
    let r = n.get(&format!("/v1/tasks/{id}/result")).await.json();
    assert_eq!(r["output"]["text"], "one\ntwo\nthree");
    let late = String::from_utf8(n.get(&format!("/v1/tasks/{id}/events")).await.body).unwrap();
    assert!(!late.contains("event: output"), "{late}");
}

/// A model that reaches the node from outside runs only with declared input
/// limits: an upload without them is refused by name and nothing is kept;
/// declared in the config, the same upload is taken and shows its limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_model_needs_declared_input_limits() {
    clusterai_test_support::require!("ONNX Runtime", clusterai_test_support::skip::onnx_runtime());
    let mlp = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../nn/tests/data/mlp.onnx"),
    )
    .unwrap();
    let hash = ContentHash::of(&mlp).to_hex();

    let n = start(|c| c.inference.enabled = true).await;
    let a = n
        .call(Method::POST, "/v1/models", &[], Body::from(mlp.clone()))
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = a.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("declares no input limits"), "{message}");
    assert!(message.contains(&hash), "{message}");
    assert_eq!(
        n.get(&format!("/v1/models/{hash}")).await.status,
        StatusCode::NOT_FOUND
    );

    let n = start(|c| {
        c.inference.enabled = true;
        c.inference.model_limits = vec![clusterai_node::config::ModelLimitsConfig {
            model: hash.clone(),
            inputs: [("x".to_string(), vec![16, 4])].into(),
        }];
    })
    .await;
    let a = n
        .call(Method::POST, "/v1/models", &[], Body::from(mlp))
        .await;
    assert_eq!(
        a.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.json()["inputs"][0]["max_dims"], json!([16, 4]));
}

/// A component whose describe() ran out of time is refused for now (503:
/// the node may have been busy), not for what it is; the same bytes again
/// within the runtime's wait hear 429 with how long is left, without
/// costing the node another compile and load budget; nothing is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_describe_out_of_time_is_refused_for_now_and_asked_again_later() {
    // A 5 ms budget: the endless describe() runs out of time long before
    // it could run out of fuel.
    let n = start(|c| c.limits.timeout = std::time::Duration::from_millis(5)).await;
    let wasm = clusterai_test_support::plugins::bytes("describe_loop");
    let hash = ContentHash::of(&wasm).to_hex();
    let upload = || n.call(Method::POST, "/v1/plugins", &[], Body::from(wasm.clone()));
    let first = upload().await;
    assert_eq!(first.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(first.error_code(), "unavailable");
    let again = upload().await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    let message = again.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("not compiled again"), "{message}");
    let retry_after: u64 = again.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((30..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        n.get(&format!("/v1/plugins/{hash}")).await.status,
        StatusCode::NOT_FOUND
    );
}
