//! The inference commands as a user meets them: `model add`/`ls`, OCR on an
//! image with the models found by hash in the blob store, the task's model
//! allow-list, `bench nn`. They need the set-up's ONNX Runtime and models
//! (the test kit's rule: skip locally, fail in CI).

use std::path::Path;
use std::process::{Command, Output};

use clusterai_test_support::plugins::programs;
use clusterai_test_support::repo_root as root;
use clusterai_types::models::{self, ModelKind};

fn ready() -> bool {
    let pinned: Vec<_> = models::ALL
        .iter()
        .filter(|m| m.kind == ModelKind::Onnx)
        .collect();
    clusterai_test_support::skip::require(
        "ONNX Runtime and the pinned models",
        clusterai_test_support::skip::onnx_runtime_and(&pinned),
    )
}

/// `clusterai` with its data directory in `data`.
fn clusterai_in(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args(args)
        .env("CLUSTERAI_DATA_DIR", data)
        .output()
        .unwrap()
}

#[track_caller]
fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        // `--json` runs report their failure on stdout.
        String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(2000)])
    );
}

#[test]
fn ocr_prints_the_text_of_an_image_with_no_model_flags() {
    if !ready() {
        return;
    }
    // The models go into the node's blob store once; the plugin declares
    // them by hash and the run finds them there.
    let data = tempfile::tempdir().unwrap();
    for m in [&models::PPOCR_DET, &models::PPOCR_CLS, &models::PPOCR_REC] {
        ok(&clusterai_in(
            data.path(),
            &["model", "add", m.cached_path().to_str().unwrap()],
        ));
    }
    let image = root().join("plugins/examples/ocr/golden/text.png");
    let out = clusterai_in(
        data.path(),
        &[
            "plugin",
            "run",
            programs::OCR,
            "--input",
            image.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v["output"]["json"]["text"].as_str().unwrap();
    assert!(
        text.contains("reads text") && text.contains("wasm sandbox 2026"),
        "{text}"
    );
    assert!(
        v["inferences"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["provider"] == "cpu" && u["peak_bytes"].as_u64() > Some(0)),
        "every inference names its provider and ONNX Runtime's peak working memory: {v}"
    );
    let largest = v["inferences"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["peak_bytes"].as_u64())
        .max()
        .unwrap();
    let host_peak = v["usage"]["peak_host_memory"].as_u64().unwrap();
    assert!(
        host_peak >= largest,
        "host peak {host_peak} below {largest}: {v}"
    );
}

#[test]
fn model_add_then_ls_and_run_by_hash_or_file() {
    if !ready() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mlp = root().join("host/nn/tests/data/mlp.onnx");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_clusterai"))
            .args(args)
            .env("CLUSTERAI_DATA_DIR", data.path())
            .output()
            .unwrap()
    };
    let added = run(&["model", "add", mlp.to_str().unwrap(), "--json"]);
    assert!(
        !data.path().join("models").exists(),
        "models live in the blob store, not in a folder beside it"
    );
    assert_eq!(
        added.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let hash = blake3::hash(&std::fs::read(&mlp).unwrap())
        .to_hex()
        .to_string();
    assert!(String::from_utf8_lossy(&added.stdout).contains(&hash));
    let listed = run(&["model", "ls"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&hash));

    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        input.path(),
        br#"{"inputs":{"x":{"dtype":"f32","shape":[1,4],"data":[1,2,3,4]}}}"#,
    )
    .unwrap();
    // The tensor plugin on `model`, with extra arguments.
    let tensor = |model: &str, extra: &[&str]| {
        let param = format!("model={model}");
        let mut args = vec![
            "plugin",
            "run",
            programs::TENSOR,
            "--input",
            input.path().to_str().unwrap(),
            "--content-type",
            "application/json",
            "--param",
            &param,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = tensor(&hash, &["--model", &hash]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"outputs\""));

    // The same model given as a file: opened, named by its hash.
    let by_file = tensor(&hash, &["--model", mlp.to_str().unwrap()]);
    ok(&by_file);
    assert_eq!(by_file.stdout, out.stdout);

    // A model the task does not name is refused, though the node holds it.
    let unnamed = tensor(&hash, &[]);
    assert_eq!(unnamed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&unnamed.stderr);
    assert!(
        err.contains(&hash) && err.contains("not among the models this task may open"),
        "{err}"
    );

    // A hash the store lacks is a task failure that names it.
    let missing = "ab".repeat(32);
    let out = tensor(&missing, &["--model", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&missing) && err.contains("not held"), "{err}");

    // A corrupt model file is refused by name.
    let bad = data.path().join("bad.onnx");
    std::fs::write(&bad, b"not an onnx model").unwrap();
    let out = run(&["model", "add", bad.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
}

/// `clusterai bench <args>` with the built plugins, from the repository.
fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .arg("bench")
        .args(args)
        .env(
            "CLUSTERAI_PLUGIN_WASM_DIR",
            std::path::Path::new(programs::TENSOR).parent().unwrap(),
        )
        .current_dir(root())
        .output()
        .unwrap()
}

/// `bench hostile` at a small scale: the three figures, each beside its
/// baseline; hostile neighbours never make an honest task fail (the suite
/// stops at the first honest failure) and memory stays inside the budgets.
#[test]
fn bench_hostile_json_names_and_ratios() {
    clusterai_test_support::require!("ONNX Runtime", clusterai_test_support::skip::onnx_runtime());
    let out = bench(&["hostile", "--json", "--scale", "0.1"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["suite"], "hostile");
    let results = v["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "honest_throughput",
            "honest_latency_p99",
            "host_peak_rss_mb"
        ]
    );
    assert_ratios(results);
    assert!(results[2]["ratio"].as_f64().unwrap() <= 1.0, "{v}");
    // --attacks runs just the programs named, and refuses a name it lacks.
    let out = bench(&[
        "hostile",
        "--json",
        "--scale",
        "0.1",
        "--attacks",
        "sleeper,string_bomb",
    ]);
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 3, "{v}");
    let out = bench(&["hostile", "--attacks", "sleeper,fork_bomb"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--attacks: no hostile program \"fork_bomb\""),
        "{stderr}"
    );
    assert!(stderr.contains("string_bomb, describe_bomb"), "{stderr}");
}

#[test]
fn bench_nn_json_names_and_ratios() {
    if !ready() {
        return;
    }
    let out = bench(&["nn", "--json", "--scale", "0.01"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["suite"], "nn");
    let names: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    for model in [
        "mlp",
        "ppocr-det",
        "ppocr-cls",
        "ppocr-rec",
        "minilm-l6-int8",
    ] {
        for figure in [
            "latency_p50",
            "latency_p99",
            "throughput_c1",
            "throughput_c2",
            "throughput_c4",
        ] {
            assert!(
                names.contains(&format!("{figure}:{model}")),
                "{figure}:{model} missing from {names:?}"
            );
        }
    }
    for r in v["results"].as_array().unwrap() {
        let ratio = r["value"].as_f64().unwrap() / r["baseline_value"].as_f64().unwrap();
        assert!((r["ratio"].as_f64().unwrap() - ratio).abs() < 1e-9);
    }

    // --models measures just the models named, and refuses a name it lacks.
    let models = |models: &str| bench(&["nn", "--json", "--scale", "0.01", "--models", models]);
    let out = models("mlp");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert!(
        results
            .iter()
            .all(|r| r["name"].as_str().unwrap().ends_with(":mlp"))
    );
    let out = models("mlp,resnet");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no benchmark model \"resnet\""));
}

/// `clusterai` with its data directory in `data`, `stdin` on its standard input.
fn clusterai_with_stdin(data: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_clusterai"))
        .args(args)
        .env("CLUSTERAI_DATA_DIR", data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The chat plugin as a user runs it: the model and its tokenizer blob added
/// to the store, a prompt on standard input, tokens printed as they come;
/// greedy decoding gives exactly the numpy reference's continuation
/// (plugins/examples/chat/golden/greedy.json); bad input is named.
#[test]
fn chat_streams_the_reference_continuation() {
    if !ready() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    ok(&clusterai_in(
        data.path(),
        &[
            "model",
            "add",
            models::SMOLLM2_135M.cached_path().to_str().unwrap(),
        ],
    ));
    ok(&clusterai_in(
        data.path(),
        &[
            "model",
            "add",
            "--blob",
            models::SMOLLM2_TOKENIZER.cached_path().to_str().unwrap(),
        ],
    ));
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("plugins/examples/chat/golden/greedy.json")).unwrap(),
    )
    .unwrap();
    let expected = golden["greedy_text"].as_str().unwrap();
    let steps = golden["greedy_ids"].as_array().unwrap().len().to_string();
    let prompt = format!("{}\n", golden["prompt"].as_str().unwrap());
    let max = format!("max_tokens={steps}");
    let run = |extra: &[&str], stdin: &[u8]| {
        let mut args = vec![
            "plugin",
            "run",
            programs::CHAT,
            "--input",
            "-",
            "--param",
            &max,
        ];
        args.extend_from_slice(extra);
        clusterai_with_stdin(data.path(), &args, stdin)
    };

    let out = run(&[], prompt.as_bytes());
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    let out = run(&["--json"], prompt.as_bytes());
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["output"]["text"], expected);
    assert!(v["streamed"]["chunks"].as_u64().unwrap() >= 20, "{v}");
    assert_eq!(
        v["streamed"]["bytes"].as_u64().unwrap() as usize,
        expected.len()
    );
    let log = v["logs"][0]["message"].as_str().unwrap();
    assert!(log.starts_with("prompt 4 tokens, generated 24"), "{log}");

    // A stop sequence ends the text before it, streamed and returned alike.
    let cut = expected.find(" Nova").unwrap();
    let out = run(&["--param", "stop= Nova", "--json"], prompt.as_bytes());
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["output"]["text"], &expected[..cut]);
    assert_eq!(v["streamed"]["bytes"].as_u64().unwrap() as usize, cut);

    // Sampling: the same seed gives the same text, another seed another text.
    let sampled = |seed: &str| {
        let out = run(
            &[
                "--param",
                "temperature=0.9",
                "--param",
                "top_p=0.95",
                "--param",
                seed,
            ],
            prompt.as_bytes(),
        );
        ok(&out);
        out.stdout
    };
    assert_eq!(sampled("seed=7"), sampled("seed=7"));
    assert_ne!(sampled("seed=7"), sampled("seed=8"));

    // Bad input: named, exit 1, nothing printed as output.
    let failed = |out: &Output, needle: &str| {
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{needle:?} not in {err}");
    };
    failed(&run(&[], b"Once upon \xff a time"), "not UTF-8");
    failed(
        &clusterai_with_stdin(
            data.path(),
            &[
                "plugin",
                "run",
                programs::CHAT,
                "--input",
                "-",
                "--param",
                "max_tokens=100000",
            ],
            prompt.as_bytes(),
        ),
        "exceeds the model's context of 2048",
    );
    let long = "word ".repeat(3000);
    failed(&run(&[], long.as_bytes()), "the model's context is 2048");
    // Near the full context: 2 000 prompt tokens, a KV cache of ~92 MB in
    // the host, within the default limits.
    let near = vec!["word"; 2000].join(" ");
    let out = clusterai_with_stdin(
        data.path(),
        &[
            "plugin",
            "run",
            programs::CHAT,
            "--input",
            "-",
            "--param",
            "max_tokens=8",
            // About what memory a full context takes, not how fast: room
            // for a slow or busy machine.
            "--timeout",
            "180000",
            "--json",
        ],
        near.as_bytes(),
    );
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let log = v["logs"][0]["message"].as_str().unwrap();
    assert!(log.starts_with("prompt 2000 tokens"), "{log}");
    failed(&run(&["--param", "top_p=0"], prompt.as_bytes()), "top_p");
}

/// `bench transfer` at a small scale: our fetcher against the HTTPS download
/// a user would otherwise pick (verified by BLAKE3 after it lands), and that
/// against a raw TCP copy; each ratio is its value over its baseline.
#[test]
fn bench_transfer_json_has_the_https_baseline() {
    let out = bench(&["transfer", "--json", "--scale", "0.02"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["suite"], "transfer");
    let results = v["results"].as_array().unwrap();
    let find = |name: &str| {
        results
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v}"))
    };
    assert_eq!(find("fetch_1_provider")["baseline"], "https_verified");
    assert_eq!(find("https_verified")["baseline"], "tcp_copy");
    assert_eq!(
        find("fetch_1_provider")["baseline_value"],
        find("https_verified")["value"]
    );
    assert_ratios(results);
}

/// Every result has a positive value and baseline, and its ratio is the one
/// over the other.
fn assert_ratios(results: &[serde_json::Value]) {
    for r in results {
        let (value, base) = (
            r["value"].as_f64().unwrap(),
            r["baseline_value"].as_f64().unwrap(),
        );
        assert!(value > 0.0 && base > 0.0, "{r}");
        assert!(
            (r["ratio"].as_f64().unwrap() - value / base).abs() < 1e-9,
            "{r}"
        );
    }
}
