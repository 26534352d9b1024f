//! Two processes: `clusterai blob add` + `blob serve` on one node, `blob get`
//! in another; kills with SIGKILL, resumes and fails over.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use clusterai_store::NodeIdentity;

/// `clusterai blob`, with the environment's node settings cleared.
fn blob_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_clusterai"));
    c.arg("blob")
        .env("RUST_LOG", "warn")
        .env_remove("CLUSTERAI_DATA_DIR")
        .env_remove("CLUSTERAI_BIND");
    c
}

fn blob(args: &[&str]) -> Output {
    blob_cmd().args(args).output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "status {:?}\nstdout {}\nstderr {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child (a process this test started) when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn add_in_one_process_get_in_another() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let model = tmp.path().join("model.onnx");
    let bytes: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&model, &bytes).unwrap();
    let bind = format!("127.0.0.1:{}", free_udp_port());

    let added = json(&blob(&[
        "add",
        s(&model),
        "--data-dir",
        s(&a),
        "--bind",
        &bind,
        "--json",
    ]));
    let hash = added["hash"].as_str().unwrap().to_string();
    let ticket = added["ticket"].as_str().unwrap().to_string();
    assert_eq!(hash, blake3::hash(&bytes).to_hex().as_str());

    // The fetching node's id, so the server can admit it.
    let b_id = NodeIdentity::load_or_create(&b)
        .unwrap()
        .node_id()
        .to_string();
    let mut child = blob_cmd()
        .args([
            "serve",
            "--data-dir",
            s(&a),
            "--bind",
            &bind,
            "--allow",
            &b_id,
            "--json",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _serve = Serve(child);
    let up: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(up["tickets"][0]["hash"], hash.as_str());

    // While serving, the store is busy for other processes.
    let busy = blob(&["add", s(&model), "--data-dir", s(&a), "--bind", &bind]);
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("in use by another process"));

    let out = tmp.path().join("fetched.onnx");
    let got = json(&blob(&[
        "get",
        &hash,
        "--from",
        &ticket,
        "--data-dir",
        s(&b),
        "--out",
        s(&out),
        "--json",
    ]));
    assert_eq!(got["size"], 6_000_000);
    assert_eq!(got["downloaded"], 6_000_000);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let listed = json(&blob(&["ls", "--data-dir", s(&b), "--json"]));
    assert_eq!(listed[0]["hash"], hash.as_str());
    assert_eq!(listed[0]["state"], "pinned");

    // A node that is not on the allow-list is refused, and says so.
    let refused = blob(&["get", &hash, "--from", &ticket, "--data-dir", s(&c)]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("refused"), "{err}");

    // A malformed ticket and a malformed hash are named.
    let bad = blob(&["get", &hash, "--from", "blobgarbage", "--data-dir", s(&c)]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("malformed provider"));
    let bad = blob(&["get", "abc", "--from", &ticket, "--data-dir", s(&c)]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("64 hex characters"));

    // rm frees the blob; rm of something absent fails.
    let rm = json(&blob(&["rm", &hash, "--data-dir", s(&b), "--json"]));
    assert_eq!(rm["removed"][0], hash.as_str());
    let listed = json(&blob(&["ls", "--data-dir", s(&b), "--json"]));
    assert_eq!(listed, serde_json::json!([]));
    assert!(!blob(&["rm", &hash, "--data-dir", s(&b)]).status.success());
}

#[test]
fn get_killed_with_sigkill_resumes_in_a_new_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let file = tmp.path().join("weights.bin");
    let size = 16_000_000usize;
    let bytes: Vec<u8> = (0..size as u32)
        .map(|i| (i.wrapping_mul(40503) >> 7) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();
    let bind = format!("127.0.0.1:{}", free_udp_port());
    let added = json(&blob(&[
        "add",
        s(&file),
        "--data-dir",
        s(&a),
        "--bind",
        &bind,
        "--json",
    ]));
    let hash = added["hash"].as_str().unwrap().to_string();
    let ticket = added["ticket"].as_str().unwrap().to_string();
    let b_id = NodeIdentity::load_or_create(&b)
        .unwrap()
        .node_id()
        .to_string();
    // Serve slowly (4 MB/s) so the fetch is mid-way when it is killed.
    let mut child = blob_cmd()
        .args([
            "serve",
            "--data-dir",
            s(&a),
            "--bind",
            &bind,
            "--allow",
            &b_id,
            "--rate-limit",
            "4000000",
            "--json",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _serve = Serve(child);

    let mut get = blob_cmd()
        .args(["get", &hash, "--from", &ticket, "--data-dir", s(&b)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill -9 once a quarter of the data is on B's disk, with what the store
    // rebuilds its verified ranges from after a crash: the outboard (the
    // hash tree) and the sizes file.
    let file = |ext: &str| b.join("blobs").join("data").join(format!("{hash}.{ext}"));
    let len = |ext: &str| std::fs::metadata(file(ext)).map(|m| m.len()).unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    // The files' lengths only say that something was written somewhere
    // (they are written at offsets, sparse); a moment more of transfer puts
    // whole verified stretches behind them before the kill.
    let mut ready_since: Option<std::time::Instant> = None;
    loop {
        if len("data") >= size as u64 / 4 && len("obao4") > 0 && len("sizes4") > 0 {
            let since = *ready_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= std::time::Duration::from_millis(400) {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fetch never got going"
        );
        assert!(
            get.try_wait().unwrap().is_none(),
            "fetch ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    get.kill().unwrap();
    get.wait().unwrap();

    let out = tmp.path().join("weights.out");
    let got = json(&blob(&[
        "get",
        &hash,
        "--from",
        &ticket,
        "--data-dir",
        s(&b),
        "--out",
        s(&out),
        "--json",
    ]));
    let already = got["already_local"].as_u64().unwrap();
    let downloaded = got["downloaded"].as_u64().unwrap();
    assert!(
        already > 0,
        "kept what the killed process had verified: {got}"
    );
    assert_eq!(already + downloaded, size as u64, "{got}");
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}

#[test]
fn a_provider_killed_with_sigkill_fails_over_to_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let file = tmp.path().join("weights.bin");
    let size = 16_000_000usize;
    let bytes: Vec<u8> = (0..size as u32)
        .map(|i| (i.wrapping_mul(69069) >> 9) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();
    let (bind_a, bind_b) = (
        format!("127.0.0.1:{}", free_udp_port()),
        format!("127.0.0.1:{}", free_udp_port()),
    );
    let added = json(&blob(&[
        "add",
        s(&file),
        "--data-dir",
        s(&a),
        "--bind",
        &bind_a,
        "--json",
    ]));
    let hash = added["hash"].as_str().unwrap().to_string();
    let ticket_a = added["ticket"].as_str().unwrap().to_string();
    let b_id = NodeIdentity::load_or_create(&b)
        .unwrap()
        .node_id()
        .to_string();
    let c_id = NodeIdentity::load_or_create(&c)
        .unwrap()
        .node_id()
        .to_string();
    let serve = |dir: &Path, bind: &str, rate: &str| {
        let mut child = blob_cmd()
            .args([
                "serve",
                "--data-dir",
                s(dir),
                "--bind",
                bind,
                "--allow",
                &b_id,
            ])
            .args(["--allow", &c_id, "--rate-limit", rate, "--json"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        (Serve(child), v)
    };
    // B gets the blob from A, then serves it too.
    let (serve_a, _) = serve(&a, &bind_a, "1000000000");
    json(&blob(&[
        "get",
        &hash,
        "--from",
        &ticket_a,
        "--data-dir",
        s(&b),
        "--bind",
        &bind_b,
        "--json",
    ]));
    let (_serve_b, up_b) = serve(&b, &bind_b, "3000000");
    let ticket_b = up_b["tickets"][0]["ticket"].as_str().unwrap().to_string();
    drop(serve_a);
    let (mut serve_a, _) = serve(&a, &bind_a, "3000000");

    let get = blob_cmd()
        .args(["get", &hash, "--from", &ticket_a, "--from", &ticket_b])
        .args(["--data-dir", s(&c), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let data_file = c.join("blobs").join("data").join(format!("{hash}.data"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::metadata(&data_file).map(|m| m.len()).unwrap_or(0) < size as u64 / 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "fetch never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A dies without a word (no QUIC close): C notices by the idle timeout.
    serve_a.0.kill().unwrap();
    let out = get.wait_with_output().unwrap();
    let got = json(&out);
    assert_eq!(got["size"], size);
    let a_id = NodeIdentity::load_or_create(&a)
        .unwrap()
        .node_id()
        .to_string();
    let a_report = got["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["node"] == a_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(a_report["problem"]["kind"], "died", "{got}");
    let ls = json(&blob(&["ls", "--data-dir", s(&c), "--json"]));
    assert_eq!(ls[0]["state"], "pinned");
    assert!(got["elapsed_secs"].as_f64().unwrap() < 90.0, "{got}");
}
