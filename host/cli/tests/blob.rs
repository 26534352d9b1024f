//! `clusterai blob add` + `serve` on one node, `clusterai blob get` in another
//! process: a model moves over iroh on loopback and arrives verified.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

fn clusterai(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[test]
fn a_model_moves_between_two_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let (provider, fetcher) = (tmp.path().join("provider"), tmp.path().join("fetcher"));
    let (provider, fetcher) = (provider.to_str().unwrap(), fetcher.to_str().unwrap());
    let model = tmp.path().join("model.onnx");
    let bytes: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    std::fs::write(&model, &bytes).unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");

    let added = json(&clusterai(&[
        "blob",
        "add",
        model.to_str().unwrap(),
        "--data-dir",
        provider,
        "--bind",
        &bind,
        "--json",
    ]));
    let hash = added["hash"].as_str().unwrap().to_string();
    assert_eq!(hash, blake3::hash(&bytes).to_hex().as_str());
    let ticket = added["ticket"].as_str().unwrap().to_string();

    let fetcher_id = clusterai_store::NodeIdentity::load_or_create(std::path::Path::new(fetcher))
        .unwrap()
        .node_id()
        .to_string();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args([
            "blob",
            "serve",
            "--data-dir",
            provider,
            "--bind",
            &bind,
            "--allow",
            &fetcher_id,
            "--json",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let _serve = KillOnDrop(serve);

    let out = tmp.path().join("fetched.onnx");
    let got = json(&clusterai(&[
        "blob",
        "get",
        &hash,
        "--from",
        &ticket,
        "--data-dir",
        fetcher,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(got["size"], 3_000_000);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}
