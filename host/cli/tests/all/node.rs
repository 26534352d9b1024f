//! A real node process: `clusterai node init/start`, the buyer's commands
//! against it, SIGKILL with tasks queued and running then a restart that
//! loses none, a clean stop on SIGTERM, receipts checked by
//! `clusterai receipt verify`, and the dashboard in headless Chromium.

use std::io::BufReader;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use clusterai_test_support::http;
use clusterai_test_support::plugins;
use clusterai_test_support::{ChildGuard, wait};
use serde_json::json;

/// A node started as `clusterai node start` in `data`, with `config`.
struct NodeProcess {
    guard: ChildGuard,
    url: String,
    node_id: String,
}

fn start_node(data: &Path, config: &str) -> NodeProcess {
    let cfg = data.join("config.toml");
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(&cfg, config).unwrap();
    let mut guard = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_clusterai"))
            .args(["node", "start", "--json", "--config"])
            .arg(&cfg)
            .args(["--http", "127.0.0.1:0", "--iroh", "127.0.0.1:0"])
            .env("CLUSTERAI_DATA_DIR", data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let stdout = guard.child().stdout.take().unwrap();
    let line = wait::line(&mut BufReader::new(stdout), Duration::from_secs(120), |l| {
        l.starts_with('{')
    });
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    NodeProcess {
        guard,
        url: v["http"].as_str().unwrap().to_string(),
        node_id: v["node_id"].as_str().unwrap().to_string(),
    }
}

const CONFIG: &str = "[queue]\nworkers = 1\n[inference]\nenabled = false\n";

fn upload(url: &str, name: &str) -> String {
    let a = http::request(
        "POST",
        url,
        "/v1/plugins",
        &[("content-type", "application/wasm")],
        &plugins::bytes(name),
    );
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    a.json()["hash"].as_str().unwrap().to_string()
}

fn submit(url: &str, body: serde_json::Value) -> String {
    let a = http::post_json(url, "/v1/tasks", &body);
    assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
    a.json()["id"].as_str().unwrap().to_string()
}

fn task(url: &str, id: &str) -> serde_json::Value {
    let a = http::get(url, &format!("/v1/tasks/{id}/result"));
    assert!(a.status == 200 || a.status == 202, "{}", a.status);
    a.json()
}

fn clusterai(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn sigkill_with_tasks_queued_and_running_loses_none_and_reruns_none_differently() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start_node(dir.path(), CONFIG);
    let hello = upload(&node.url, "hello");
    let spin = upload(&node.url, "spin_forever");

    // Three tasks finish before the kill.
    let mut done = Vec::new();
    for i in 0..3 {
        let a = http::post_json(
            &node.url,
            "/v1/tasks?wait=60",
            &json!({"plugin": hello, "input": {"text": format!("early {i}")}}),
        );
        assert_eq!(a.status, 200);
        done.push(a.json());
    }
    // A long task (burns its fuel for a few seconds), then more behind it
    // on the single worker.
    let slow =
        json!({"plugin": spin, "input": {"text": "x"}, "limits": {"fuel": 6_000_000_000u64}});
    let slow_id = submit(&node.url, slow.clone());
    let mut queued = Vec::new();
    for i in 0..4 {
        queued.push(submit(
            &node.url,
            json!({"plugin": hello, "input": {"text": format!("late {i}")}}),
        ));
    }
    let slow2_id = submit(&node.url, slow);
    wait::until(
        "the slow task to run",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || (task(&node.url, &slow_id)["state"] == "running").then_some(()),
    );
    node.guard.kill();

    // Restart on the same data: every accepted task ends, none is lost.
    let node = start_node(dir.path(), CONFIG);
    let mut all = vec![slow_id.clone(), slow2_id.clone()];
    all.extend(queued.iter().cloned());
    for id in &all {
        let r = wait::until(
            &format!("task {id} to finish after the restart"),
            Duration::from_secs(120),
            Duration::from_millis(100),
            || {
                let r = task(&node.url, id);
                let state = r["state"]
                    .as_str()
                    .or(r["task"]["state"].as_str())?
                    .to_string();
                (state != "queued" && state != "running").then_some(r)
            },
        );
        let t = &r["task"];
        if *id == slow_id || *id == slow2_id {
            assert_eq!(t["state"], "failed", "{r}");
            assert_eq!(t["error"]["kind"], "fuel-exhausted", "{r}");
        } else {
            assert_eq!(t["state"], "succeeded", "{r}");
        }
    }
    // The interrupted task ran again (its second run).
    assert!(
        task(&node.url, &slow_id)["task"]["attempts"]
            .as_u64()
            .unwrap()
            >= 2
    );
    for (i, id) in queued.iter().enumerate() {
        assert_eq!(
            task(&node.url, id)["output"]["text"],
            format!("Hello, late {i}!\n")
        );
    }
    // What finished before the kill is unchanged: same output, same receipt.
    for before in &done {
        let id = before["task"]["id"].as_str().unwrap();
        let after = task(&node.url, id);
        assert_eq!(after["output"], before["output"]);
        assert_eq!(after["receipt"], before["receipt"]);
    }
    // The node kept its identity across the restart.
    assert_eq!(done[0]["receipt"]["receipt"]["node"], node.node_id.as_str());
}

#[test]
fn sigterm_stops_taking_tasks_lets_running_ones_finish_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start_node(dir.path(), CONFIG);
    let spin = upload(&node.url, "spin_forever");
    let hello = upload(&node.url, "hello");
    let running = submit(
        &node.url,
        json!({"plugin": spin, "input": {"text": "x"}, "limits": {"fuel": 3_000_000_000u64}}),
    );
    let queued = submit(
        &node.url,
        json!({"plugin": hello, "input": {"text": "after"}}),
    );
    wait::until(
        "the task to run",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || (task(&node.url, &running)["state"] == "running").then_some(()),
    );
    let pid = node.guard.id();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = wait::until(
        "the node to exit",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || node.guard.child().try_wait().unwrap(),
    );
    assert_eq!(status.code(), Some(0), "a clean stop exits 0");

    let node = start_node(dir.path(), CONFIG);
    // The running task finished within the grace period, before the exit.
    let r = task(&node.url, &running);
    assert_eq!(r["task"]["state"], "failed", "{r}");
    assert_eq!(r["task"]["attempts"], 1, "it was not run again");
    // The queued one stayed queued and runs now.
    let r = wait::until(
        "the queued task",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            let r = task(&node.url, &queued);
            (r["task"]["state"] == "succeeded").then_some(r)
        },
    );
    assert_eq!(r["output"]["text"], "Hello, after!\n");
}

#[test]
fn buyers_cli_submits_gets_watches_and_verifies_receipts() {
    let dir = tempfile::tempdir().unwrap();
    // `node init` writes a config that parses, and the node's identity.
    let init = Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args(["node", "init", "--json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let again = Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args(["node", "init", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "init refuses to overwrite");
    let config = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    let node = start_node(
        dir.path(),
        &format!("{config}\n")
            .replace("workers = 0", "workers = 1")
            .replace("enabled = true", "enabled = false"),
    );
    let init_id: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap();
    assert_eq!(init_id["node_id"], node.node_id.as_str());

    let input = dir.path().join("input.txt");
    std::fs::write(&input, "buyer").unwrap();
    let hello = plugins::path("hello");
    // submit uploads the plugin the node lacks, waits and prints the output.
    let out = clusterai(&[
        "task",
        "submit",
        "--node",
        &node.url,
        "--plugin",
        hello.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--content-type",
        "text/plain",
        "--wait",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, buyer!\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("uploaded plugin"));

    // Without --wait: the id; then get and watch.
    let out = clusterai(&[
        "task",
        "submit",
        "--node",
        &node.url,
        "--plugin",
        hello.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--content-type",
        "text/plain",
        "--json",
    ]);
    assert!(out.status.success());
    let id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let watch = clusterai(&["task", "watch", &id, "--node", &node.url]);
    assert!(
        watch.status.success(),
        "{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    let text = String::from_utf8_lossy(&watch.stdout);
    assert!(
        text.contains("queued") && text.contains("finished: succeeded"),
        "{text}"
    );
    let got = clusterai(&["task", "get", &id, "--node", &node.url]);
    assert_eq!(String::from_utf8_lossy(&got.stdout), "Hello, buyer!\n");

    // Streamed output: watch prints it as it comes. The only worker is kept
    // busy first, so that the watcher is there before the stream starts.
    let upload = |name: &str| {
        let a = http::request(
            "POST",
            &node.url,
            "/v1/plugins",
            &[("content-type", "application/wasm")],
            &plugins::bytes(name),
        );
        a.json()["hash"].as_str().unwrap().to_string()
    };
    let spin = upload("spin_forever");
    let streamer = upload("streamer");
    http::post_json(
        &node.url,
        "/v1/tasks",
        &json!({"plugin": spin, "input": {"text": "x"}, "limits": {"fuel": 3_000_000_000u64}}),
    );
    let streaming = http::post_json(
        &node.url,
        "/v1/tasks",
        &json!({"plugin": streamer, "input": {"text": "one\ntwo\nthree"}}),
    );
    let sid = streaming.json()["id"].as_str().unwrap().to_string();
    let watch = clusterai(&["task", "watch", &sid, "--node", &node.url]);
    let text = String::from_utf8_lossy(&watch.stdout);
    assert!(watch.status.success(), "{text}");
    assert!(
        text.contains("started (run 1)\none\ntwo\nthree\nfinished: succeeded"),
        "{text}"
    );

    // The receipt verifies, and each wrong file is named.
    let receipt = http::get(&node.url, &format!("/v1/tasks/{id}/receipt"));
    let rfile = dir.path().join("receipt.json");
    std::fs::write(&rfile, &receipt.body).unwrap();
    let output = dir.path().join("output.txt");
    std::fs::write(&output, "Hello, buyer!\n").unwrap();
    let verify = |extra: &[&str]| {
        let mut args = vec!["receipt", "verify", rfile.to_str().unwrap()];
        args.extend_from_slice(extra);
        clusterai(&args)
    };
    let ok = verify(&[
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--plugin",
        hello.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("valid receipt"));
    let wrong = dir.path().join("wrong.txt");
    std::fs::write(&wrong, "Hello, seller!\n").unwrap();
    let bad = verify(&["--output", wrong.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(
        text.contains("ok    signature") && text.contains("FAIL  output"),
        "{text}"
    );
    // A tampered receipt: the signature fails.
    let mut v: serde_json::Value = serde_json::from_slice(&receipt.body).unwrap();
    v["receipt"]["fuel_used"] = 1.into();
    std::fs::write(&rfile, v.to_string()).unwrap();
    let forged = verify(&[]);
    assert_eq!(forged.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&forged.stdout).contains("FAIL  signature"));
    // Not a receipt at all: a usage error naming the file.
    std::fs::write(&rfile, "{}").unwrap();
    let junk = verify(&[]);
    assert_eq!(junk.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&junk.stderr).contains("not a signed receipt"));
}

/// The node's dashboard in headless Chromium (Debian's `chromium`): the page
/// runs its script against the live node and shows the real figures.
#[test]
fn the_dashboard_shows_the_real_figures_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        clusterai_test_support::skip::require(
            "headless Chromium",
            Err("no chromium on PATH (Debian: apt-get install chromium)".into()),
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path(), CONFIG);
    let hello = upload(&node.url, "hello");
    for i in 0..3 {
        let a = http::post_json(
            &node.url,
            "/v1/tasks?wait=60",
            &json!({"plugin": hello, "input": {"text": format!("dash {i}")}}),
        );
        assert_eq!(a.json()["task"]["state"], "succeeded");
    }
    let failed = http::post_json(
        &node.url,
        "/v1/tasks?wait=60",
        &json!({"plugin": hello, "input": {"text": "  "}}),
    );
    assert_eq!(failed.json()["task"]["state"], "failed");
    // A task that streams for a while: the page follows its output live.
    let streamer = upload(&node.url, "streamer");
    let dripping = submit(
        &node.url,
        json!({"plugin": streamer, "input": {"text": "done"}, "params": {"drip": "400"},
               "limits": {"fuel": 19_000_000_000u64}}),
    );
    wait::until(
        "the streaming task to start",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || {
            let t = http::get(&node.url, &format!("/v1/tasks/{dripping}")).json();
            (t["state"] == "running").then_some(())
        },
    );

    let dump = || {
        let profile = tempfile::tempdir().unwrap();
        let out = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=5000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("{}/", node.url))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The live output arrives over the page's event stream, which a loaded
    // machine may deliver after Chromium's budget: up to three looks.
    let mut dom = dump();
    for _ in 0..2 {
        if dom.contains("tick ") {
            break;
        }
        dom = dump();
    }
    let text_of = |id: &str| -> String {
        let start = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in the page: {dom}"));
        let rest = &dom[start..];
        let open = rest.find('>').unwrap() + 1;
        let close = rest[open..].find('<').unwrap();
        rest[open..open + close].to_string()
    };
    assert_eq!(text_of("node-id"), node.node_id, "{dom}");
    assert_eq!(text_of("count-succeeded"), "3", "{dom}");
    assert_eq!(text_of("count-failed"), "1", "{dom}");
    assert_eq!(text_of("ready"), "yes");
    assert!(text_of("iroh").starts_with(&node.node_id));
    let plugins_at = dom.find("id=\"plugins\"").unwrap();
    assert!(dom[plugins_at..].contains("<td>hello</td>"), "{dom}");
    let failures_at = dom.find("id=\"failures\"").unwrap();
    assert!(dom[failures_at..].contains("invalid-input"), "{dom}");
    // The chart has a line drawn from the node's throughput.
    let chart_at = dom.find("id=\"chart-throughput\"").unwrap();
    assert!(dom[chart_at..].contains("<polyline"), "{dom}");
    // The running task's output, as it streamed.
    assert_eq!(
        text_of("stream-task"),
        format!("{}…", &dripping[..12]),
        "{dom}"
    );
    assert!(text_of("stream-text").contains("tick "), "{dom}");
    http::request(
        "POST",
        &node.url,
        &format!("/v1/tasks/{dripping}/cancel"),
        &[],
        b"",
    );
}
