//! On-chain commands against a real devnet process: `devnet serve`,
//! `wallet`, `node register`; a devnet restarted on its directory keeps its
//! chain; bad arguments and a chain that is not there fail by name.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

struct Devnet {
    child: Child,
    url: String,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Devnet {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args([
            "devnet",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--block-time-ms",
            "200",
            "--dir",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .strip_prefix("devnet ")
        .expect("the first line names the devnet's URL")
        .trim()
        .to_owned();
    Devnet { child, url }
}

fn clusterai(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args(args)
        .env("CLUSTERAI_DATA_DIR", data)
        .env_remove("CLUSTERAI_CHAIN")
        .env_remove("CLUSTERAI_DEPLOYMENT")
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_node_host_funds_registers_and_checks_its_wallet_on_the_devnet() {
    let dir = tempfile::tempdir().unwrap();
    let chain_dir = dir.path().join("devnet");
    let node = dir.path().join("node");
    let devnet = serve(&chain_dir);
    let url = devnet.url.as_str();

    let w = json(&clusterai(
        &node,
        &["--json", "wallet", "--chain", url, "--faucet", "200000"],
    ));
    assert_eq!(w["balance"], "200000");
    assert_eq!(w["stake"], "0");
    let address = w["address"].as_str().unwrap().to_owned();
    assert!(address.starts_with("wasm1"), "{address}");
    // The account key is private and kept apart from the node identity.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(node.join("account.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let r = json(&clusterai(
        &node,
        &[
            "--json", "node", "register", "--chain", url, "--stake", "150000",
        ],
    ));
    assert_eq!(r["stake"], "150000");
    assert_eq!(r["operator"], address.as_str());
    let identity = std::fs::read_to_string(node.join("node.key")).unwrap();
    assert_eq!(
        identity.trim().len(),
        64,
        "the ed25519 identity was made too"
    );

    // A stake the account cannot pay is refused before anything is sent.
    let out = clusterai(
        &node,
        &["node", "register", "--chain", url, "--stake", "150000"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("holds 50000, less than the stake"),
        "{}",
        stderr(&out)
    );

    // The devnet stops; started again on its directory it is the same chain.
    drop(devnet);
    let devnet = serve(&chain_dir);
    let w = json(&clusterai(
        &node,
        &["--json", "wallet", "--chain", &devnet.url],
    ));
    assert_eq!(w["stake"], "150000");
    assert_eq!(w["balance"], "50000");
}

#[test]
fn on_chain_commands_refuse_bad_arguments_and_name_a_missing_chain() {
    let dir = tempfile::tempdir().unwrap();
    let out = clusterai(dir.path(), &["node", "register", "--stake", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--stake needs a positive amount"),
        "{}",
        stderr(&out)
    );

    let out = clusterai(dir.path(), &["node", "register", "--stake", "lots"]);
    assert_eq!(out.status.code(), Some(2));

    let out = clusterai(
        dir.path(),
        &["wallet", "--faucet", "5", "--deployment", "d.json"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("devnet only"), "{}", stderr(&out));

    let out = clusterai(dir.path(), &["wallet", "--chain", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unreachable"), "{}", stderr(&out));

    let bogus = dir.path().join("deployment.json");
    std::fs::write(&bogus, "{\"not\": \"a deployment\"}").unwrap();
    let out = clusterai(
        dir.path(),
        &[
            "wallet",
            "--chain",
            "http://127.0.0.1:9",
            "--deployment",
            bogus.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("neither a deployment nor a localnet.json"),
        "{}",
        stderr(&out)
    );

    // `task post`: an even replication or a zero reward is refused before
    // anything is posted; a missing input is named.
    let input = dir.path().join("input.txt");
    std::fs::write(&input, "x").unwrap();
    let input = input.to_str().unwrap();
    let hash = "ab".repeat(32);
    for (flags, says) in [
        (
            ["--replicas", "2", "--reward", "5"],
            "--replicas must be odd, got 2",
        ),
        (
            ["--replicas", "3", "--reward", "0"],
            "--reward must be positive",
        ),
    ] {
        let mut args = vec!["task", "post", "--plugin", &hash, "--input", input];
        args.extend(flags);
        let out = clusterai(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    let out = clusterai(
        dir.path(),
        &[
            "task",
            "post",
            "--plugin",
            &hash,
            "--input",
            "/no/such/file",
            "--reward",
            "5",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/no/such/file"), "{}", stderr(&out));
}
