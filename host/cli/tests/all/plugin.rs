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
    let out = clusterai(&["bench", "nn", "--attacks", "sleeper"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the hostile suite only"));
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
            .any(|e| e == "clusterai:task/plugin@0.2.0")
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

/// Runs `clusterai` in a pseudo-terminal (util-linux `script`), as an
/// operator would at a shell, and returns what the terminal received (both
/// streams). `None` (a skip, not in CI) without `script`.
fn on_a_terminal(args: &[&str]) -> Option<Vec<u8>> {
    let script = Command::new("script").arg("--version").output();
    let ready = match script {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("util-linux `script` runs a command in a pseudo-terminal".to_string()),
    };
    if !clusterai_test_support::skip::require("script", ready) {
        return None;
    }
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let cmd = std::iter::once(env!("CARGO_BIN_EXE_clusterai"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let cache = std::env::temp_dir().join(format!("clusterai-cli-tty-{}", std::process::id()));
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("CLUSTERAI_CACHE", &cache)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Some(out.stdout)
}

/// Control bytes a plugin must never get to a terminal: ESC, BEL,
/// backspace, the C1 CSI, the right-to-left override.
fn acts_on_a_terminal(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.chars()
        .any(|c| matches!(c, '\u{1b}' | '\u{7}' | '\u{8}' | '\u{9b}' | '\u{202e}'))
}

#[test]
fn plugin_controlled_text_is_shown_not_acted_on_at_a_terminal() {
    for args in [
        vec!["plugin", "run", programs::TERMINAL_TRICKS],
        vec![
            "plugin",
            "run",
            programs::TERMINAL_TRICKS,
            "--param",
            "fail=1",
        ],
        vec!["plugin", "inspect", programs::TERMINAL_TRICKS],
    ] {
        let Some(seen) = on_a_terminal(&args) else {
            return;
        };
        let text = String::from_utf8_lossy(&seen);
        assert!(
            !acts_on_a_terminal(&seen),
            "{args:?} let control characters through: {text:?}"
        );
        assert!(text.contains(r"\u{1b}[2J"), "{args:?}: {text}");
    }
}

#[test]
fn a_pipe_gets_the_plugins_bytes_unchanged() {
    let out = clusterai(&["plugin", "run", programs::TERMINAL_TRICKS], b"");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.starts_with(b"output \x1b[2J"),
        "{:?}",
        out.stdout
    );
    // --json stays valid JSON, the control characters escaped by JSON itself.
    let out = clusterai(&["plugin", "run", programs::TERMINAL_TRICKS, "--json"], b"");
    let v = json(&out);
    assert!(v["output"]["text"].as_str().unwrap().contains('\u{1b}'));
}
