//! Plugins doing inference through the real runtime: wasi:nn linked from
//! clusterai-nn, ONNX Runtime and the PP-OCR models from the set-up scripts.

use std::path::PathBuf;

use clusterai_nn::{NnHost, NnSettings};
use clusterai_runtime::{LoadError, PluginError, RunError, Runtime, RuntimeConfig, TaskInput};
use clusterai_test_programs as programs;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_path(name: &str) -> PathBuf {
    clusterai_nn::ortlib::cache_dir()
        .join("models")
        .join(format!("{name}.onnx"))
}

/// ONNX Runtime and the models are set up; under CI=true their absence fails the test.
fn ready() -> bool {
    let problem = clusterai_nn::ortlib::check_library(&clusterai_nn::ortlib::library_path())
        .err()
        .map(|e| e.to_string())
        .or_else(|| {
            ["ppocr-det", "ppocr-cls", "ppocr-rec"]
                .iter()
                .map(|m| model_path(m))
                .find(|p| !p.is_file())
                .map(|p| format!("{} missing; run scripts/setup-models.sh", p.display()))
        });
    match problem {
        None => true,
        Some(why) => {
            assert!(std::env::var("CI").is_err(), "{why}");
            eprintln!("skipping: {why} (under CI=true this fails)");
            false
        }
    }
}

fn runtime_with_models(models: &[&str]) -> Runtime {
    let nn = NnHost::new(NnSettings::default()).unwrap();
    for m in models {
        nn.add_model_file(&model_path(m)).unwrap();
    }
    Runtime::new(RuntimeConfig {
        nn: Some(nn),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

#[test]
fn ocr_reads_the_golden_image_through_the_runtime() {
    if !ready() {
        return;
    }
    let rt = runtime_with_models(&["ppocr-det", "ppocr-cls", "ppocr-rec"]);
    let ocr = rt.load(&std::fs::read(programs::OCR).unwrap()).unwrap();
    assert_eq!(ocr.info().models.len(), 3);
    let golden = root().join("plugins/examples/ocr/golden");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(golden.join("expected.json")).unwrap()).unwrap();
    let png = std::fs::read(golden.join("text.png")).unwrap();
    let result = ocr.run(&TaskInput::new(png, "image/png"), None).unwrap();
    let got: serde_json::Value = serde_json::from_slice(&result.output.data).unwrap();
    assert_eq!(got["text"], expected["images"]["text.png"]["text"], "{got}");
    // det + cls + rec per line at least; every inference names its provider.
    assert!(result.inferences.len() >= 3, "{:?}", result.inferences);
    assert!(
        result
            .inferences
            .iter()
            .all(|u| format!("{:?}", u.provider) == "Cpu")
    );
}

#[test]
fn a_declared_model_that_is_missing_is_named_before_the_task_runs() {
    if !ready() {
        return;
    }
    let rt = runtime_with_models(&["ppocr-det"]);
    let ocr = rt.load(&std::fs::read(programs::OCR).unwrap()).unwrap();
    let err = ocr
        .run(&TaskInput::new(vec![0; 8], "image/png"), None)
        .unwrap_err();
    match err {
        RunError::Plugin(PluginError::ModelUnavailable(m)) => {
            assert!(m.contains("is not on this node"), "{m}");
        }
        other => panic!("expected a missing model, got {other:?}"),
    }
}

#[test]
fn without_a_backend_an_inference_plugin_is_refused_with_the_fix() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    match rt.load(&std::fs::read(programs::OCR).unwrap()) {
        Err(e @ LoadError::NoInference { .. }) => {
            assert!(e.to_string().contains("setup-onnxruntime.sh"), "{e}");
        }
        other => panic!("expected NoInference, got {other:?}"),
    }
}

#[test]
fn hostile_tensors_get_errors_and_the_runtime_keeps_serving() {
    if !ready() {
        return;
    }
    let rt = runtime_with_models(&[]);
    let mlp = rt
        .nn()
        .unwrap()
        .add_model_file(&root().join("host/nn/tests/data/mlp.onnx"))
        .unwrap()
        .to_hex();
    let tensor = rt.load(&std::fs::read(programs::TENSOR).unwrap()).unwrap();
    let unknown = clusterai_types::ContentHash::of(b"nothing").to_hex();
    let input = |dtype: &str, shape: &str, data: &str| {
        format!(r#"{{"inputs":{{"x":{{"dtype":"{dtype}","shape":{shape},"data":{data}}}}}}}"#)
            .into_bytes()
    };
    for (data, model, needle) in [
        (input("i64", "[1,4]", "[1,2,3,4]"), &mlp, "is f32, got i64"),
        (
            input("f32", "[1,5]", "[1,2,3,4,5]"),
            &mlp,
            "axis 1 must be 4",
        ),
        (
            input("f32", "[1,4]", "[1,2,3,4]"),
            &unknown,
            "is not held by this node",
        ),
    ] {
        let err = tensor
            .run(
                &TaskInput::new(data, "application/json").param("model", model.as_str()),
                None,
            )
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
    }
    let ok = tensor
        .run(
            &TaskInput::new(input("f32", "[1,4]", "[1,2,3,4]"), "application/json")
                .param("model", mlp.as_str()),
            None,
        )
        .unwrap();
    assert_eq!(ok.inferences.len(), 1);
    let hello = rt.load(&std::fs::read(programs::HELLO).unwrap()).unwrap();
    assert_eq!(
        hello
            .run(&TaskInput::text("still here"), None)
            .unwrap()
            .output
            .data,
        b"Hello, still here!\n"
    );
}
