//! The `clusterai` binary as a user meets it: output, exit codes, JSON.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use clusterai_test_support::plugins::programs;

fn clusterai(args: &[&str], stdin: &[u8]) -> Output {
    let cache = std::env::temp_dir().join(format!("clusterai-cli-test-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args(args)
        .env("CLUSTERAI_CACHE", &cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn plugin_run_prints_the_output() {
    let out = clusterai(
        &["plugin", "run", programs::HELLO, "--input", "-"],
        b"world\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"Hello, world!\n");
}

#[test]
fn plugin_run_json_has_output_and_usage() {
    let out = clusterai(
        &[
            "plugin",
            "run",
            programs::HELLO,
            "--input",
            "-",
            "--param",
            "greeting=Hey",
            "--json",
        ],
        b"you",
    );
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["output"]["text"], "Hey, you!\n");
    assert_eq!(v["plugin"]["name"], "hello");
    assert!(v["usage"]["fuel"].as_u64().unwrap() > 0);
    assert!(v["usage"]["peak_memory"].as_u64().unwrap() > 0);
}

#[test]
fn a_limit_is_exit_code_1_with_its_kind() {
    let out = clusterai(
        &[
            "plugin",
            "run",
            programs::SPIN_FOREVER,
            "--fuel",
            "1000000",
            "--json",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error"]["kind"], "fuel-exhausted");

    let out = clusterai(
        &["plugin", "run", programs::MEMORY_BOMB, "--memory", "32"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("memory limit exceeded") && stderr.contains("33554432"),
        "{stderr}"
    );
}

#[test]
fn an_unloadable_plugin_is_exit_code_3() {
    for (path, expected) in [
        (programs::MALFORMED, "at byte offset"),
        (programs::NOT_A_COMPONENT, "not a component"),
        (programs::FORBIDDEN_IMPORT, "evil:escape/shell@0.1.0"),
    ] {
        let out = clusterai(&["plugin", "run", path], b"");
        assert_eq!(out.status.code(), Some(3), "{path}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{path}: {stderr}");
    }
}

#[test]
fn bad_arguments_are_exit_code_2() {
    let out = clusterai(
        &["plugin", "run", programs::HELLO, "--param", "novalue"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected KEY=VALUE"));
    let out = clusterai(&["plugin", "run", programs::HELLO, "--memory", "0"], b"");
    assert_eq!(out.status.code(), Some(2));
    // Arguments that parse but make no sense are usage errors too.
    let out = clusterai(&["bench", "runtime", "--scale", "0"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--scale must be a positive number"));
    let out = clusterai(&["bench", "runtime", "--models", "mlp"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the nn and gpu suites only"));
    let out = clusterai(
        &[
            "plugin",
            "run",
            programs::HELLO,
            "--model",
            &"ab".repeat(32),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not import wasi:nn"));
}

#[test]
fn inspect_reports_the_world() {
    let out = clusterai(&["plugin", "inspect", programs::HELLO, "--json"], b"");
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["kind"], "component");
    assert_eq!(v["would_link"], true);
    assert_eq!(v["info"]["name"], "hello");
    assert!(
        v["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "clusterai:task/plugin@0.1.0")
    );

    let out = clusterai(
        &["plugin", "inspect", programs::FORBIDDEN_IMPORT, "--json"],
        b"",
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        json(&out)["forbidden_imports"][0],
        "evil:escape/shell@0.1.0"
    );
}

#[test]
fn bench_runtime_json_shape() {
    let dir = std::path::Path::new(programs::HELLO)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args(["bench", "runtime", "--json", "--scale", "0.002"])
        .env("CLUSTERAI_PLUGIN_WASM_DIR", dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["suite"], "runtime");
    let names: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["warm_start_p50", "warm_start_p99", "cached_load"]);
    for r in v["results"].as_array().unwrap() {
        let (value, base, ratio) = (
            r["value"].as_f64().unwrap(),
            r["baseline_value"].as_f64().unwrap(),
            r["ratio"].as_f64().unwrap(),
        );
        assert!(value > 0.0 && base > 0.0);
        assert!((ratio - value / base).abs() < 1e-9);
    }
}
