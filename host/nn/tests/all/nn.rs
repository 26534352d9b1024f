//! clusterai-nn against the real ONNX Runtime: tiny generated models
//! (tests/data/make_models.py) and every pinned model of `models/models.toml`.
//!
//! The set-up installs ONNX Runtime and the models; a test that lacks them
//! skips locally and fails in CI (the test kit's rule).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clusterai_nn::{
    Accelerator, CudaFallback, ErrorCode, ExecutionProvider, ExecutionTarget, GraphEncoding,
    InputLimits, ModelAccess, NnError, NnHost, NnSettings, SetupError, Tensor, TensorType,
};
use clusterai_test_support::require;
use clusterai_test_support::skip::{onnx_runtime, onnx_runtime_and};
use clusterai_types::models::{self, Fill, ModelKind};
use clusterai_types::source::DirSource;
use clusterai_types::{ContentHash, TaskPolicy};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn ort_ready() -> bool {
    clusterai_test_support::skip::require("ONNX Runtime", onnx_runtime())
}

fn host_with(f: impl FnOnce(&mut NnSettings)) -> NnHost {
    let mut s = NnSettings::default();
    f(&mut s);
    NnHost::new(s).expect("ONNX Runtime loads")
}

fn host() -> NnHost {
    host_with(|_| {})
}

/// A task context that may open any model, under the default policy.
fn any_task(host: &NnHost, deadline: Option<Instant>) -> clusterai_nn::NnTaskCtx {
    host.task_ctx(&TaskPolicy::default(), ModelAccess::Any, deadline)
}

/// Runs `model` once with `inputs` in a fresh task.
fn run(
    host: &NnHost,
    hash: ContentHash,
    inputs: Vec<(&str, Tensor)>,
) -> Result<Vec<(String, Tensor)>, NnError> {
    run_with(host, &TaskPolicy::default(), hash, inputs)
}

/// Runs `model` once with `inputs` in a fresh task under `policy`.
fn run_with(
    host: &NnHost,
    policy: &TaskPolicy,
    hash: ContentHash,
    inputs: Vec<(&str, Tensor)>,
) -> Result<Vec<(String, Tensor)>, NnError> {
    let mut task = host.task_ctx(policy, ModelAccess::Any, None);
    let graph = task.load_by_name(&hash.to_hex())?;
    let exec = task.init_execution_context(&graph)?;
    task.compute(
        &exec,
        inputs
            .into_iter()
            .map(|(n, t)| (n.to_string(), t))
            .collect(),
    )
}

fn expect_err(r: Result<Vec<(String, Tensor)>, NnError>, code: ErrorCode, needle: &str) -> NnError {
    match r {
        Ok(_) => panic!("expected {code:?} containing {needle:?}, got outputs"),
        Err(e) => {
            assert_eq!(e.code, code, "{e}");
            assert!(
                e.message.contains(needle),
                "message {:?} lacks {needle:?}",
                e.message
            );
            e
        }
    }
}

fn reference() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(data("reference.json")).unwrap()).unwrap()
}

fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn u32s(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn mlp_matches_onnxruntime_python() {
    if !ort_ready() {
        return;
    }
    let h = host();
    let hash = h.add_model_file(&data("mlp.onnx")).unwrap();
    assert_eq!(
        hash,
        ContentHash::of(&std::fs::read(data("mlp.onnx")).unwrap())
    );
    let r = reference();
    let x = Tensor::from_f32(u32s(&r["mlp"]["x_dims"]), &f32s(&r["mlp"]["x"]));
    let out = run(&h, hash, vec![("x", x)]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "y");
    assert_eq!(out[0].1.dimensions(), u32s(&r["mlp"]["y_dims"]).as_slice());
    let want = f32s(&r["mlp"]["y"]);
    let got = out[0].1.to_f32().unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{got:?} vs {want:?}"
        );
    }
    let info = h.model_info(&hash).unwrap();
    assert_eq!(info.inputs[0].name, "x");
    assert_eq!(info.inputs[0].dtype, "f32");
    assert_eq!(info.inputs[0].shape, vec![-1, 4]);
    assert_eq!(info.execution_provider, ExecutionProvider::Cpu);
}

#[test]
fn every_wasi_nn_type_round_trips_and_bool_travels_as_u8() {
    if !ort_ready() {
        return;
    }
    let h = host();
    let hash = h.add_model_file(&data("identities.onnx")).unwrap();
    let types = [
        ("f16", TensorType::Fp16),
        ("f32", TensorType::Fp32),
        ("f64", TensorType::Fp64),
        ("bf16", TensorType::Bf16),
        ("u8", TensorType::U8),
        ("i32", TensorType::I32),
        ("i64", TensorType::I64),
    ];
    let mut inputs = Vec::new();
    let mut want = Vec::new();
    for (i, (name, ty)) in types.iter().enumerate() {
        let size = clusterai_nn::element_size(*ty);
        let bytes: Vec<u8> = if *ty == TensorType::I64 {
            [5i64, -1, 0, 7, -9, 3]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        } else {
            (0..6 * size).map(|b| (b * 7 + i) as u8 & 0x3f).collect()
        };
        want.push((format!("out_{name}"), *ty, bytes.clone()));
        inputs.push((format!("in_{name}"), Tensor::new(vec![2, 3], *ty, bytes)));
    }
    let mut task = any_task(&h, None);
    let g = task.load_by_name(&hash.to_hex()).unwrap();
    let exec = task.init_execution_context(&g).unwrap();
    let out = task.compute(&exec, inputs).unwrap();
    for (name, ty, bytes) in want {
        let (_, t) = out.iter().find(|(n, _)| *n == name).unwrap();
        assert_eq!(t.ty(), ty, "{name}");
        assert_eq!(t.dimensions(), &[2, 3]);
        assert_eq!(t.bytes(), bytes.as_slice(), "{name}");
    }
    let (_, pos) = out.iter().find(|(n, _)| n == "out_positive").unwrap();
    assert_eq!(pos.ty(), TensorType::U8);
    assert_eq!(pos.bytes(), &[1, 0, 0, 1, 0, 1]);
    assert_eq!(task.providers_used().len(), 1);
    assert_eq!(task.providers_used()[0].provider, ExecutionProvider::Cpu);
}

#[test]
fn hostile_inputs_get_errors_that_name_the_problem() {
    if !ort_ready() {
        return;
    }
    let h = host();
    let mlp = h.add_model_file(&data("mlp.onnx")).unwrap();
    let x = || Tensor::from_f32(vec![1, 4], &[1.0, 2.0, 3.0, 4.0]);

    // Wrong dtype.
    expect_err(
        run(
            &h,
            mlp,
            vec![("x", Tensor::from_i64(vec![1, 4], &[1, 2, 3, 4]))],
        ),
        ErrorCode::InvalidArgument,
        "is f32, got i64",
    );
    // Wrong rank and wrong fixed axis.
    expect_err(
        run(&h, mlp, vec![("x", Tensor::from_f32(vec![4], &[1.0; 4]))]),
        ErrorCode::InvalidArgument,
        "rank 2",
    );
    expect_err(
        run(
            &h,
            mlp,
            vec![("x", Tensor::from_f32(vec![1, 5], &[1.0; 5]))],
        ),
        ErrorCode::InvalidArgument,
        "axis 1 must be 4",
    );
    // Bytes that do not match the dimensions.
    expect_err(
        run(
            &h,
            mlp,
            vec![("x", Tensor::new(vec![1, 4], TensorType::Fp32, vec![0; 15]))],
        ),
        ErrorCode::InvalidArgument,
        "need 16 bytes, got 15",
    );
    // Enormous dimensions, little data: overflow and plain mismatch.
    expect_err(
        run(
            &h,
            mlp,
            vec![(
                "x",
                Tensor::new(vec![u32::MAX, 4], TensorType::Fp32, vec![0; 16]),
            )],
        ),
        ErrorCode::InvalidArgument,
        "need 68719476720 bytes",
    );
    // Unknown, missing and duplicated input names.
    expect_err(
        run(&h, mlp, vec![("nope", x())]),
        ErrorCode::InvalidArgument,
        "has no input \"nope\"",
    );
    expect_err(
        run(&h, mlp, vec![]),
        ErrorCode::InvalidArgument,
        "needs input \"x\"",
    );
    expect_err(
        run(&h, mlp, vec![("x", x()), ("x", x())]),
        ErrorCode::InvalidArgument,
        "given twice",
    );
    // Unknown model hash and a name that is no hash.
    let unknown = ContentHash::of(b"no such model");
    expect_err(
        run(&h, unknown, vec![]),
        ErrorCode::NotFound,
        "is not held by this node",
    );
    let mut task = any_task(&h, None);
    let e = task.load_by_name("detector").unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert!(e.message.contains("not a content hash"), "{e}");
    // A model input wasi-nn cannot express.
    let int8 = h.add_model_file(&data("int8.onnx")).unwrap();
    expect_err(
        run(
            &h,
            int8,
            vec![("q", Tensor::new(vec![4], TensorType::U8, vec![1; 4]))],
        ),
        ErrorCode::UnsupportedOperation,
        "int8",
    );
    // The node still serves.
    assert!(run(&h, mlp, vec![("x", x())]).is_ok());
}

#[test]
fn outputs_over_the_cap_are_too_large() {
    if !ort_ready() {
        return;
    }
    let capped = TaskPolicy {
        max_compute_output_bytes: 8 << 20,
        ..TaskPolicy::default()
    };
    let h = host();
    let big = h.add_model_file(&data("big.onnx")).unwrap();
    // 4096 x 4096 f32 = 64 MiB of output, over the 8 MiB cap.
    let shape = Tensor::from_i64(vec![2], &[4096, 4096]);
    expect_err(
        run_with(&h, &capped, big, vec![("shape", shape)]),
        ErrorCode::TooLarge,
        "cap of 8388608 bytes per compute",
    );
    // Within the cap it works.
    let out = run_with(
        &h,
        &capped,
        big,
        vec![("shape", Tensor::from_i64(vec![2], &[16, 8]))],
    )
    .unwrap();
    assert_eq!(out[0].1.dimensions(), &[16, 8]);
    assert_eq!(out[0].1.to_f32().unwrap(), vec![1.0; 128]);
}

#[test]
fn task_tensor_budget_is_enforced_without_trapping() {
    if !ort_ready() {
        return;
    }
    let h = host();
    let mlp = h.add_model_file(&data("mlp.onnx")).unwrap();
    let policy = TaskPolicy {
        max_task_tensor_bytes: 64,
        ..TaskPolicy::default()
    };
    let mut task = h.task_ctx(&policy, ModelAccess::Any, None);
    // A tensor counts its data and its dimensions (4 bytes each).
    let ok = task
        .new_tensor(vec![1, 4], TensorType::Fp32, vec![0; 16])
        .unwrap();
    assert_eq!(task.held_bytes(), 24);
    let refused = task
        .new_tensor(vec![4, 4], TensorType::Fp32, vec![0; 64])
        .unwrap();
    assert_eq!(task.held_bytes(), 24, "a refused tensor holds no data");
    assert!(refused.bytes().is_empty());
    let g = task.load_by_name(&mlp.to_hex()).unwrap();
    let exec = task.init_execution_context(&g).unwrap();
    let e = task
        .compute(&exec, vec![("x".into(), refused)])
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge);
    assert!(e.message.contains("over the task's cap of 64 bytes"), "{e}");
    assert!(e.message.contains("max_task_tensor_bytes"), "{e}");
    assert!(task.compute(&exec, vec![("x".into(), ok)]).is_ok());
}

#[test]
fn deadlines_terminate_runs() {
    if !ort_ready() {
        return;
    }
    let h = host_with(|s| s.call_timeout = Some(Duration::from_millis(100)));
    let slow = h.add_model_file(&data("slow.onnx")).unwrap();
    // Small: finishes well inside the deadline.
    let out = run(
        &h,
        slow,
        vec![("shape", Tensor::from_i64(vec![2], &[8, 8]))],
    )
    .unwrap();
    assert_eq!(out[0].1.to_f32().unwrap(), vec![8.0 * 8.0 * 8.0 * 8.0]);
    // ~2 * 3000^3 flops: seconds of work, terminated at 100 ms.
    let t = Instant::now();
    let e = expect_err(
        run(
            &h,
            slow,
            vec![("shape", Tensor::from_i64(vec![2], &[3000, 3000]))],
        ),
        ErrorCode::Timeout,
        "deadline",
    );
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "terminated after {took:?}: {e}"
    );
    // A task whose deadline has passed gets a timeout before running.
    let mut task = any_task(&h, Some(Instant::now()));
    let g = task.load_by_name(&slow.to_hex()).unwrap();
    let exec = task.init_execution_context(&g).unwrap();
    let e = task
        .compute(
            &exec,
            vec![("shape".into(), Tensor::from_i64(vec![2], &[8, 8]))],
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout);
    // And the node still serves.
    assert!(
        run(
            &h,
            slow,
            vec![("shape", Tensor::from_i64(vec![2], &[4, 4]))]
        )
        .is_ok()
    );
}

#[test]
fn raw_load_is_off_by_default_and_capped_when_on() {
    if !ort_ready() {
        return;
    }
    let bytes = std::fs::read(data("mlp.onnx")).unwrap();
    let h = host();
    let mut task = any_task(&h, None);
    let e = task
        .load(
            vec![bytes.clone()],
            GraphEncoding::Onnx,
            ExecutionTarget::Cpu,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Security);
    assert!(e.message.contains("disabled"), "{e}");

    // A good model whose input limits nobody declared is refused: its cost
    // cannot be bounded before it runs.
    let h = host_with(|s| s.allow_raw_load = true);
    let e = any_task(&h, None)
        .load(
            vec![bytes.clone()],
            GraphEncoding::Onnx,
            ExecutionTarget::Cpu,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Security, "{e}");
    assert!(e.message.contains("declares no input limits"), "{e}");

    // Where the node allows undeclared models too:
    let h = host_with(|s| {
        s.allow_raw_load = true;
        s.allow_undeclared_models = true;
        s.max_raw_model_bytes = 1024;
    });
    let mut task = any_task(&h, None);
    // Corrupt ONNX.
    let e = task
        .load(
            vec![b"definitely not a protobuf".to_vec()],
            GraphEncoding::Onnx,
            ExecutionTarget::Cpu,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidEncoding, "{e}");
    assert!(
        e.message.contains("not a model ONNX Runtime can open"),
        "{e}"
    );
    // Too large, wrong encoding, wrong number of buffers.
    let e = task
        .load(
            vec![vec![0; 2048]],
            GraphEncoding::Onnx,
            ExecutionTarget::Cpu,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge);
    let e = task
        .load(
            vec![bytes.clone()],
            GraphEncoding::Openvino,
            ExecutionTarget::Cpu,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidEncoding);
    let e = task
        .load(
            vec![bytes.clone(), bytes.clone()],
            GraphEncoding::Onnx,
            ExecutionTarget::Cpu,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    // A good model loads and runs.
    let g = task
        .load(vec![bytes], GraphEncoding::Onnx, ExecutionTarget::Cpu)
        .unwrap();
    let exec = task.init_execution_context(&g).unwrap();
    let out = task
        .compute(
            &exec,
            vec![("x".into(), Tensor::from_f32(vec![1, 4], &[0.0; 4]))],
        )
        .unwrap();
    assert_eq!(out[0].1.dimensions(), &[1, 3]);
}

#[test]
fn model_files_are_verified() {
    if !ort_ready() {
        return;
    }
    let h = host();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07garbage").unwrap();
    let e = h.add_model_file(&garbage).unwrap_err();
    assert!(
        matches!(e, SetupError::Session(_) | SetupError::Ort(_)),
        "{e}"
    );
    let e = h
        .add_model_bytes(Arc::from(&b"\x08\x07garbage"[..]))
        .unwrap_err();
    assert!(
        matches!(e, SetupError::Session(_) | SetupError::Ort(_)),
        "{e}"
    );
}

#[test]
fn models_are_opened_from_the_source_on_first_use() {
    if !ort_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = DirSource::new(dir.path(), Some("onnx"));
    let hash = source
        .add(&std::fs::read(data("mlp.onnx")).unwrap())
        .unwrap();
    let x = || Tensor::from_f32(vec![1, 4], &[1.0, 2.0, 3.0, 4.0]);

    // Without a source the host holds nothing.
    expect_err(
        run(&host(), hash, vec![("x", x())]),
        ErrorCode::NotFound,
        "not held",
    );

    // A model from the source runs only with declared input limits.
    let h = host_with(|s| s.model_source = Some(Arc::new(source.clone())));
    let e = expect_err(
        run(&h, hash, vec![("x", x())]),
        ErrorCode::Security,
        "declares no input limits",
    );
    assert!(e.message.contains(&hash.to_hex()), "{e}");
    assert!(h.model_info(&hash).is_none(), "refused, not kept");

    let h = host_with(|s| {
        s.model_source = Some(Arc::new(source.clone()));
        s.input_limits
            .insert(hash, InputLimits::new().with("x", vec![2, 4]));
    });
    assert!(h.model_info(&hash).is_none());
    let out = run(&h, hash, vec![("x", x())]).unwrap();
    assert_eq!(out.len(), 1);
    assert!(h.model_info(&hash).is_some(), "opened once, then kept");
    assert_eq!(
        h.model_info(&hash)
            .unwrap()
            .input_limits
            .unwrap()
            .max_dims("x"),
        Some(&[2, 4][..])
    );
    expect_err(
        run(
            &h,
            hash,
            vec![("x", Tensor::from_f32(vec![3, 4], &[0.0; 12]))],
        ),
        ErrorCode::TooLarge,
        "axis 0 is 3, at most 2",
    );
    assert!(h.ensure_model(&hash).unwrap());
    assert_eq!(h.model_info(&hash).unwrap().hash, hash);
    let absent = ContentHash::of(b"no such model");
    assert!(!h.ensure_model(&absent).unwrap());
    expect_err(
        run(&h, absent, vec![("x", x())]),
        ErrorCode::NotFound,
        "not held",
    );

    // Bytes that do not match their name are refused and not kept.
    let other = ContentHash::of(b"tampered model");
    std::fs::write(source.path_of(&other), b"tampered").unwrap();
    let e = expect_err(
        run(&h, other, vec![("x", x())]),
        ErrorCode::NotFound,
        "failed verification",
    );
    assert!(e.message.contains(&other.to_hex()), "{e}");
    assert!(h.model_info(&other).is_none());
}

#[test]
fn a_task_opens_only_the_models_it_may() {
    if !ort_ready() {
        return;
    }
    let h = host();
    let mlp = h.add_model_file(&data("mlp.onnx")).unwrap();
    let identity = h.add_model_file(&data("identity.onnx")).unwrap();
    let policy = TaskPolicy::default();
    let mut task = h.task_ctx(&policy, ModelAccess::Only(vec![mlp]), None);
    assert!(task.load_by_name(&mlp.to_hex()).is_ok());
    // The node holds the identity model, but this task did not name it.
    let e = task.load_by_name(&identity.to_hex()).unwrap_err();
    assert_eq!(e.code, ErrorCode::Security, "{e}");
    assert!(e.message.contains(&identity.to_hex()), "{e}");
    assert!(
        e.message
            .contains("not among the models this task may open"),
        "{e}"
    );
}

#[test]
fn cuda_request_errors_or_falls_back_as_configured() {
    if !ort_ready() {
        return;
    }
    // The CPU build of ONNX Runtime has no CUDA provider.
    let strict = host_with(|s| s.accelerator = Accelerator::Cuda { device_id: 0 });
    let e = strict.add_model_file(&data("mlp.onnx")).unwrap_err();
    assert!(matches!(e, SetupError::CudaUnavailable { .. }), "{e}");
    assert!(e.to_string().contains("CUDA"), "{e}");

    let lenient = host_with(|s| {
        s.accelerator = Accelerator::Cuda { device_id: 0 };
        s.cuda_fallback = CudaFallback::UseCpu;
    });
    let hash = lenient.add_model_file(&data("mlp.onnx")).unwrap();
    let info = lenient.model_info(&hash).unwrap();
    assert_eq!(info.execution_provider, ExecutionProvider::Cpu);
    assert!(info.fallback.is_some());
}

#[test]
fn sessions_are_pooled_under_concurrency() {
    if !ort_ready() {
        return;
    }
    let h = host_with(|s| s.sessions_per_model = 2);
    let mlp = h.add_model_file(&data("mlp.onnx")).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let h = h.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let out = run(
                        &h,
                        mlp,
                        vec![("x", Tensor::from_f32(vec![1, 4], &[i as f32; 4]))],
                    )
                    .unwrap();
                    assert_eq!(out[0].1.dimensions(), &[1, 3]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// One inference's inputs of a pinned model, from its `[model.bench]`.
fn bench_inputs(model: &models::PinnedModel) -> Vec<(&'static str, Tensor)> {
    model
        .bench_inputs
        .iter()
        .map(|i| {
            let n: usize = i.dims.iter().map(|&d| d as usize).product();
            let t = match (i.dtype, i.fill) {
                ("f32", Fill::Pattern) => Tensor::from_f32(
                    i.dims.to_vec(),
                    &(0..n)
                        .map(|k| (k % 251) as f32 / 251.0 - 0.5)
                        .collect::<Vec<_>>(),
                ),
                ("f32", Fill::Value(v)) => Tensor::from_f32(i.dims.to_vec(), &vec![v as f32; n]),
                ("i64", Fill::Pattern) => Tensor::from_i64(
                    i.dims.to_vec(),
                    &(0..n).map(|k| (k % 97) as i64 + 1).collect::<Vec<_>>(),
                ),
                ("i64", Fill::Value(v)) => Tensor::from_i64(i.dims.to_vec(), &vec![v; n]),
                (dtype, _) => panic!("{}: no test filler for {dtype}", model.name),
            };
            (i.name, t)
        })
        .collect()
}

/// Every pinned ONNX model opens by its manifest hash and runs one inference
/// with its manifest inputs: adding a model to the manifest adds it here.
#[test]
fn every_pinned_model_opens_and_runs_its_bench_inputs() {
    let pinned: Vec<_> = models::ALL
        .iter()
        .filter(|m| m.kind == ModelKind::Onnx)
        .collect();
    require!(
        "ONNX Runtime and the pinned models",
        onnx_runtime_and(&pinned)
    );
    let h = host();
    for m in pinned {
        let hash = h.add_model_file(&m.cached_path()).unwrap();
        assert_eq!(hash, m.blake3, "{}", m.name);
        let out = run(&h, hash, bench_inputs(m)).unwrap_or_else(|e| panic!("{}: {e}", m.name));
        assert!(!out.is_empty(), "{}", m.name);
        assert!(out.iter().all(|(_, t)| !t.bytes().is_empty()), "{}", m.name);
    }
}

/// Inputs over a pinned model's declared limits are refused before ONNX
/// Runtime runs anything; at the limits, a compute that outruns its
/// deadline stops within one operator (ONNX Runtime looks for termination
/// between operators) and says how long it really ran.
#[test]
fn declared_limits_bound_a_compute_before_it_runs() {
    require!(
        "ONNX Runtime and the pinned models",
        onnx_runtime_and(&[&models::MINILM_L6_INT8, &models::PPOCR_DET])
    );
    // The store-like path: models opened from a source by hash.
    let dir = tempfile::tempdir().unwrap();
    let source = DirSource::new(dir.path(), Some("onnx"));
    for m in [&models::MINILM_L6_INT8, &models::PPOCR_DET] {
        source
            .add(&std::fs::read(m.cached_path()).unwrap())
            .unwrap();
    }
    let h = host_with(|s| {
        s.model_source = Some(Arc::new(source.clone()));
        s.call_timeout = Some(Duration::from_millis(300));
    });

    // 64 sequences of 512 tokens: about 40 s and 5 GiB of attention in
    // ONNX Runtime unchecked. Refused at once, naming the limit.
    let ids = || Tensor::from_i64(vec![64, 512], &vec![1; 64 * 512]);
    let started = Instant::now();
    let e = expect_err(
        run(
            &h,
            models::MINILM_L6_INT8.blake3,
            vec![
                ("input_ids", ids()),
                ("attention_mask", ids()),
                ("token_type_ids", ids()),
            ],
        ),
        ErrorCode::TooLarge,
        "over the model's declared limit [8, 512]",
    );
    assert!(e.message.contains("axis 0 is 64, at most 8"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused before running"
    );

    // The detector at its limit takes seconds; the deadline is 300 ms and
    // its longest operator measured about 0.3 s on one core.
    let side = 2048;
    let x = Tensor::from_f32(vec![1, 3, side, side], &vec![0.5; 3 * 2048 * 2048]);
    let started = Instant::now();
    let e = expect_err(
        run(&h, models::PPOCR_DET.blake3, vec![("x", x)]),
        ErrorCode::Timeout,
        "ms late, after",
    );
    let took = started.elapsed();
    // A margin for a loaded machine: the run alone takes about 3 s.
    assert!(
        took < Duration::from_millis(300 + 1500),
        "took {took:?}: {e}"
    );
    // One pixel more is refused.
    let x = Tensor::from_f32(vec![1, 3, side, side + 32], &vec![0.5; 3 * 2048 * 2080]);
    expect_err(
        run(&h, models::PPOCR_DET.blake3, vec![("x", x)]),
        ErrorCode::TooLarge,
        "axis 3 is 2080, at most 2048",
    );
}

/// ONNX Runtime's working memory is counted per compute: each inference
/// reports its peak, and a compute past the task's
/// `max_compute_memory_bytes` is stopped with an error naming the budget,
/// after which the same sessions serve computes within it.
#[test]
fn working_memory_is_measured_and_bounded_per_compute() {
    if !ort_ready() {
        return;
    }
    let h = host();
    let slow = h.add_model_file(&data("slow.onnx")).unwrap();
    let big = h.add_model_file(&data("big.onnx")).unwrap();
    // slow on [a, b]: its largest tensor is the [a, a] product, 4 a² bytes.
    let peak_of = |policy: &TaskPolicy, a: i64, b: i64| {
        let mut task = h.task_ctx(policy, ModelAccess::Any, None);
        let g = task.load_by_name(&slow.to_hex())?;
        let exec = task.init_execution_context(&g)?;
        task.compute(
            &exec,
            vec![("shape".into(), Tensor::from_i64(vec![2], &[a, b]))],
        )?;
        let used = task.providers_used();
        assert_eq!(used.len(), 1);
        Ok::<u64, NnError>(used[0].peak_bytes)
    };
    let small = peak_of(&TaskPolicy::default(), 100, 16).unwrap();
    let large = peak_of(&TaskPolicy::default(), 2000, 16).unwrap();
    assert!(small >= 4 * 100 * 100, "small peak {small}");
    assert!(large >= 4 * 2000 * 2000, "large peak {large}");
    assert!(
        large < 4 * 2000 * 2000 * 4,
        "large peak {large}: more than the tensors the graph makes"
    );

    let tight = TaskPolicy {
        max_compute_memory_bytes: 4 << 20,
        ..TaskPolicy::default()
    };
    let e = peak_of(&tight, 2000, 16).unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge, "{e}");
    assert!(
        e.message
            .contains("over the task's budget of 4194304 bytes for one compute"),
        "{e}"
    );
    assert!(e.message.contains("max_compute_memory_bytes"), "{e}");
    // A shape tensor's *values* decide big's output: 64 MB from 16 bytes.
    let e = expect_err(
        run_with(
            &h,
            &tight,
            big,
            vec![("shape", Tensor::from_i64(vec![2], &[4000, 4000]))],
        ),
        ErrorCode::TooLarge,
        "max_compute_memory_bytes",
    );
    // Refused at the block that would pass the budget: the 64 MB output
    // is never allocated.
    assert!(e.message.contains("would have reached 640"), "{e}");
    assert!(e.message.contains("refused the block"), "{e}");
    // The stop does not carry over to the next compute on the same sessions.
    // (The pool's two sessions may plan their buffers a little apart.)
    for _ in 0..3 {
        let again = peak_of(&tight, 100, 16).unwrap();
        assert!(again >= 4 * 100 * 100 && again <= 2 * small, "{again}");
    }
}

/// Shapes whose *values* ask for more memory than any machine has (a
/// 2^25 x 2^25 float tensor, 4 PiB): past the budget the block is refused,
/// and with a budget as large as the request the system's refusal is a
/// clean error too; the host lives and its sessions serve the next compute.
#[test]
fn a_compute_asking_for_petabytes_fails_cleanly() {
    if !ort_ready() {
        return;
    }
    let h = host();
    let big = h.add_model_file(&data("big.onnx")).unwrap();
    let huge = || vec![("shape", Tensor::from_i64(vec![2], &[1 << 25, 1 << 25]))];
    let e = expect_err(
        run_with(&h, &TaskPolicy::default(), big, huge()),
        ErrorCode::TooLarge,
        "max_compute_memory_bytes",
    );
    assert!(
        e.message.contains("would have reached 4503599627370"),
        "{e}"
    );
    let unbounded = TaskPolicy {
        max_compute_memory_bytes: u64::MAX,
        max_host_memory_bytes: u64::MAX,
        ..TaskPolicy::default()
    };
    let e = run_with(&h, &unbounded, big, huge()).unwrap_err();
    assert_eq!(e.code, ErrorCode::RuntimeError, "{e}");
    assert!(
        e.message.contains("bad_alloc") || e.message.contains("bad allocation"),
        "{e}"
    );
    let out = run_with(
        &h,
        &TaskPolicy::default(),
        big,
        vec![("shape", Tensor::from_i64(vec![2], &[2, 3]))],
    )
    .unwrap();
    assert_eq!(out[0].1.dimensions(), &[2, 3]);
}

/// One host-memory budget over everything a task holds outside its
/// sandbox: tensors that fit the tensor cap are refused past it, a compute
/// gets only what is left of it (named in the error), and the task's peak
/// counts the tensors it held and a compute's working memory together.
#[test]
fn host_memory_is_one_budget_for_tensors_and_computes() {
    if !ort_ready() {
        return;
    }
    let h = host();
    let slow = h.add_model_file(&data("slow.onnx")).unwrap();
    let policy = TaskPolicy {
        max_host_memory_bytes: 8 << 20,
        ..TaskPolicy::default()
    };
    let mut task = h.task_ctx(&policy, ModelAccess::Any, None);
    // 6 MiB held: within the 256 MiB tensor cap and the 8 MiB budget.
    let held = task
        .new_tensor(vec![6 << 18], TensorType::Fp32, vec![0; 6 << 20])
        .unwrap();
    assert_eq!(task.host_memory().held(), (6 << 20) + 4);
    // 4 MiB more would pass the budget: refused, holding its dimensions only.
    let refused = task
        .new_tensor(vec![1 << 20], TensorType::Fp32, vec![0; 4 << 20])
        .unwrap();
    assert!(refused.bytes().is_empty());
    assert!(task.host_memory().held() < (6 << 20) + 1024);
    let g = task.load_by_name(&slow.to_hex()).unwrap();
    let exec = task.init_execution_context(&g).unwrap();
    let e = task
        .compute(&exec, vec![("shape".into(), refused)])
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge, "{e}");
    assert!(e.message.contains("max_host_memory_bytes"), "{e}");
    // A compute within its own 1 GiB budget but past what is left of the
    // task's host memory (a [1000, 1000] product is 4 MB).
    let e = task
        .compute(
            &exec,
            vec![("shape".into(), Tensor::from_i64(vec![2], &[1000, 16]))],
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge, "{e}");
    assert!(
        e.message.contains("what is left of the task's host memory"),
        "{e}"
    );
    assert!(e.message.contains("max_host_memory_bytes 8388608"), "{e}");
    // A small one fits, and the peak counts it beside the held tensor.
    task.compute(
        &exec,
        vec![("shape".into(), Tensor::from_i64(vec![2], &[100, 16]))],
    )
    .unwrap();
    let compute_peak = task.providers_used().last().unwrap().peak_bytes;
    assert!(compute_peak >= 4 * 100 * 100, "{compute_peak}");
    assert!(
        task.host_memory().peak() >= (6 << 20) + compute_peak,
        "peak {} with {} held and a compute of {compute_peak}",
        task.host_memory().peak(),
        task.host_memory().held()
    );
    assert!(task.host_memory().peak() <= 8 << 20);
    drop(held);
}
