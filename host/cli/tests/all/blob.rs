//! `clusterai blob add` + `serve` on one node, `clusterai blob get` in another
//! process: a model moves over iroh on loopback and arrives verified, and
//! `clusterai plugin run` on the fetching node runs it by hash.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use clusterai_test_support::ChildGuard;
use clusterai_test_support::plugins::programs;

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

/// `clusterai blob serve` for `allow`, once it says it is ready.
fn serve(data_dir: &str, bind: &str, allow: &str) -> ChildGuard {
    let mut serve = Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args([
            "blob",
            "serve",
            "--data-dir",
            data_dir,
            "--bind",
            bind,
            "--allow",
            allow,
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
    ChildGuard::new(serve)
}

fn loopback() -> String {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// `clusterai blob add`: the hash and ticket it prints.
fn add(file: &std::path::Path, data_dir: &str, bind: &str) -> (String, String) {
    let added = json(&clusterai(&[
        "blob",
        "add",
        file.to_str().unwrap(),
        "--data-dir",
        data_dir,
        "--bind",
        bind,
        "--json",
    ]));
    let field = |k: &str| added[k].as_str().unwrap().to_string();
    (field("hash"), field("ticket"))
}

fn node_id(data_dir: &str) -> String {
    clusterai_store::NodeIdentity::load_or_create(std::path::Path::new(data_dir))
        .unwrap()
        .node_id()
        .to_string()
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
    let bind = loopback();

    let (hash, ticket) = add(&model, provider, &bind);
    assert_eq!(hash, blake3::hash(&bytes).to_hex().as_str());

    let fetcher_id = node_id(fetcher);
    let _serve = serve(provider, &bind, &fetcher_id);

    // `--out` never replaces a directory, a device or a link (whose target
    // stays as it was): a usage error naming it, before any download.
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for (bad, what) in [
        (tmp.path(), "is a directory"),
        (std::path::Path::new("/dev/null"), "is a device"),
        (link.as_path(), "is a symbolic link"),
    ] {
        let o = clusterai(&[
            "blob",
            "get",
            &hash,
            "--from",
            &ticket,
            "--data-dir",
            fetcher,
            "--out",
            bad.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("--out") && err.contains(what), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );

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

#[test]
fn a_fetched_model_runs_by_hash_on_the_fetching_node() {
    clusterai_test_support::require!("ONNX Runtime", clusterai_test_support::skip::onnx_runtime());
    let tmp = tempfile::tempdir().unwrap();
    let (provider, fetcher) = (tmp.path().join("provider"), tmp.path().join("fetcher"));
    let (provider, fetcher) = (provider.to_str().unwrap(), fetcher.to_str().unwrap());
    let mlp = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../nn/tests/data/mlp.onnx");
    let bind = loopback();
    let (hash, ticket) = add(&mlp, provider, &bind);
    let _serve = serve(provider, &bind, &node_id(fetcher));

    // Fetched into the blob store only: no --out, no `model add`; the
    // blob store is the node's one home for models.
    json(&clusterai(&[
        "blob",
        "get",
        &hash,
        "--from",
        &ticket,
        "--data-dir",
        fetcher,
        "--json",
    ]));

    let mut run = Command::new(env!("CARGO_BIN_EXE_clusterai"));
    run.args([
        "plugin",
        "run",
        programs::TENSOR,
        "--input",
        "-",
        "--content-type",
        "application/json",
        "--model",
        &hash,
        "--param",
        &format!("model={hash}"),
    ])
    .env("CLUSTERAI_DATA_DIR", fetcher)
    .env("RUST_LOG", "warn")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = run.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        br#"{"inputs":{"x":{"dtype":"f32","shape":[1,4],"data":[1,2,3,4]}}}"#,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outputs"]["y"]["shape"], serde_json::json!([1, 3]));
    // Nothing was copied beside the blob store.
    assert!(!std::path::Path::new(fetcher).join("models").exists());
}
