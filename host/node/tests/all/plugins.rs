//! The example plugins end to end through the composition root: real
//! components (built from plugins/ for wasm32-wasip2) calling wasi:nn on
//! ONNX Runtime, models read from the blob store by hash, checked against
//! golden outputs from ONNX Runtime's Python API.

use clusterai_bench::catn;
use clusterai_runtime::{LoadError, PluginError, RunError, Runtime, RuntimeConfig, TaskInput};
use clusterai_test_support::plugins::programs;
use clusterai_test_support::repo_root;
use clusterai_types::models::{MINILM_L6_INT8, PPOCR_CLS, PPOCR_DET, PPOCR_REC};
use clusterai_types::{ContentHash, ExecutionProvider, TaskPolicy};

use crate::common::{ocr_ready, pinned, test_model, wired};

fn golden(name: &str) -> std::path::PathBuf {
    repo_root().join("plugins/examples/ocr/golden").join(name)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn ocr_png_matches_the_onnxruntime_python_golden() {
    if !ocr_ready() {
        return;
    }
    let w = wired(
        &pinned(&[&PPOCR_DET, &PPOCR_CLS, &PPOCR_REC])
            .iter()
            .map(|p| p.as_path())
            .collect::<Vec<_>>(),
    );
    let ocr = w.runtime.load(&read(programs::OCR)).unwrap();
    assert_eq!(ocr.info().models.len(), 3);
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(golden("expected.json")).unwrap()).unwrap();
    let want = &expected["images"]["text.png"];
    let png = std::fs::read(golden("text.png")).unwrap();
    let result = ocr.run(&TaskInput::new(png, "image/png"), None).unwrap();
    assert_eq!(result.output.content_type, "application/json");
    let got: serde_json::Value = serde_json::from_slice(&result.output.data).unwrap();
    assert_eq!(got["text"], want["text"], "{got}");
    let (gl, wl) = (
        got["lines"].as_array().unwrap(),
        want["lines"].as_array().unwrap(),
    );
    assert_eq!(gl.len(), wl.len());
    for (g, w) in gl.iter().zip(wl) {
        assert_eq!(g["text"], w["text"]);
        for i in 0..4 {
            let (a, b) = (g["box"][i].as_i64().unwrap(), w["box"][i].as_i64().unwrap());
            assert!((a - b).abs() <= 1, "box {} vs {}", g["box"], w["box"]);
        }
        let (a, b) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
        assert!((a - b).abs() <= 2e-3, "score {a} vs {b}");
    }
    // det + cls + rec per line at least; every inference names its provider
    // and the working memory ONNX Runtime took for it, counted through the
    // sandbox's own thread (the detector's input alone is 4 bytes a pixel).
    let inferences = clusterai_node::capabilities::inferences(&result.extensions);
    assert!(inferences.len() >= 3, "{inferences:?}");
    assert!(
        inferences
            .iter()
            .all(|u| u.provider == ExecutionProvider::Cpu && u.peak_bytes > 0),
        "{inferences:?}"
    );
    let det = inferences.iter().map(|u| u.peak_bytes).max().unwrap();
    assert!(
        det > 1 << 20,
        "the largest peak is {det} bytes: {inferences:?}"
    );
    // The task's host-memory peak counts the detector's working memory
    // beside the tensors it held, within the task's one budget.
    let peak = result.usage.peak_host_memory;
    assert!(peak >= det, "host peak {peak} below the compute's {det}");
    assert!(
        peak <= TaskPolicy::default().max_host_memory_bytes,
        "{peak}"
    );
}

#[test]
fn ocr_jpeg_reads_the_same_lines_and_rejects_what_is_not_an_image() {
    if !ocr_ready() {
        return;
    }
    let w = wired(
        &pinned(&[&PPOCR_DET, &PPOCR_CLS, &PPOCR_REC])
            .iter()
            .map(|p| p.as_path())
            .collect::<Vec<_>>(),
    );
    let ocr = w.runtime.load(&read(programs::OCR)).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(golden("expected.json")).unwrap()).unwrap();
    let want = &expected["images"]["text.jpg"];
    let jpg = std::fs::read(golden("text.jpg")).unwrap();
    let result = ocr.run(&TaskInput::new(jpg, "image/jpeg"), None).unwrap();
    let got: serde_json::Value = serde_json::from_slice(&result.output.data).unwrap();
    // JPEG decoders differ in the last bits (zune-jpeg here, libjpeg in
    // Pillow): same lines and characters, spacing may differ.
    let squash = |v: &serde_json::Value| v.as_str().unwrap().replace([' ', '\n'], "");
    assert_eq!(squash(&got["text"]), squash(&want["text"]), "{got}");
    assert_eq!(
        got["lines"].as_array().unwrap().len(),
        want["lines"].as_array().unwrap().len()
    );
    let err = ocr
        .run(&TaskInput::new(b"GIF89a....".to_vec(), "image/gif"), None)
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Plugin(PluginError::InvalidInput(m)) if m.contains("neither PNG nor JPEG")),
        "{err:?}"
    );
}

/// The sample image as RGB8: (width, height, pixels).
fn sample_rgb() -> (u32, u32, Vec<u8>) {
    let file = std::fs::File::open(golden("text.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    assert_eq!(
        (frame.color_type, frame.bit_depth),
        (png::ColorType::Rgb, png::BitDepth::Eight)
    );
    buf.truncate(frame.buffer_size());
    (frame.width, frame.height, buf)
}

/// An EXIF block (big-endian TIFF) holding only an orientation.
fn exif_orientation(o: u16) -> Vec<u8> {
    let mut t = b"MM\0*".to_vec();
    t.extend(8u32.to_be_bytes());
    t.extend(1u16.to_be_bytes());
    t.extend(0x0112u16.to_be_bytes());
    t.extend(3u16.to_be_bytes());
    t.extend(1u32.to_be_bytes());
    t.extend(o.to_be_bytes());
    t.extend([0, 0, 0, 0, 0, 0]);
    t
}

/// `pixels` (RGB8) stored so that EXIF orientation `o` shows them upright:
/// 3 stores them turned by 180 degrees, 6 anticlockwise, 8 clockwise.
fn stored_for(o: u16, w: u32, h: u32, pixels: &[u8]) -> (u32, u32, Vec<u8>) {
    let (w, h) = (w as usize, h as usize);
    let at = |x: usize, y: usize| &pixels[(y * w + x) * 3..][..3];
    let (sw, sh) = if o == 3 { (w, h) } else { (h, w) };
    let mut out = Vec::with_capacity(pixels.len());
    for y in 0..sh {
        for x in 0..sw {
            out.extend_from_slice(match o {
                3 => at(w - 1 - x, h - 1 - y),
                6 => at(w - 1 - y, x),
                8 => at(y, h - 1 - x),
                _ => unreachable!(),
            });
        }
    }
    (sw as u32, sh as u32, out)
}

fn png_of(
    w: u32,
    h: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    setup: impl FnOnce(&mut png::Encoder<'_, &mut Vec<u8>>),
    exif: Option<Vec<u8>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, w, h);
        e.set_color(color);
        e.set_depth(depth);
        setup(&mut e);
        let mut writer = e.write_header().unwrap();
        if let Some(exif) = exif {
            writer
                .write_chunk(png::chunk::ChunkType(*b"eXIf"), &exif)
                .unwrap();
        }
        writer.write_image_data(data).unwrap();
    }
    out
}

fn jpeg_of(
    w: u32,
    h: u32,
    color: jpeg_encoder::ColorType,
    data: &[u8],
    progressive: bool,
    exif: Option<Vec<u8>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = jpeg_encoder::Encoder::new(&mut out, 95);
    e.set_progressive(progressive);
    if let Some(exif) = exif {
        e.add_exif_metadata(&exif).unwrap();
    }
    e.encode(data, w as u16, h as u16, color).unwrap();
    out
}

/// Every common form an image reaches a node in, made from the one sample
/// image: the OCR plugin reads the same text from each.
#[test]
fn ocr_reads_every_common_image_form() {
    if !ocr_ready() {
        return;
    }
    use jpeg_encoder::ColorType as Jc;
    use png::{BitDepth, ColorType as Pc};
    let (w, h, rgb) = sample_rgb();
    let gray: Vec<u8> = rgb
        .chunks_exact(3)
        .map(|p| {
            ((299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000) as u8
        })
        .collect();
    let none = |_: &mut png::Encoder<'_, &mut Vec<u8>>| {};
    let mut forms: Vec<(&str, Vec<u8>)> = vec![
        (
            "grayscale PNG",
            png_of(w, h, Pc::Grayscale, BitDepth::Eight, &gray, none, None),
        ),
        ("palette PNG", {
            // Every gray level as a palette entry: the indices are the levels.
            let palette: Vec<u8> = (0..=255u8).flat_map(|g| [g, g, g]).collect();
            png_of(
                w,
                h,
                Pc::Indexed,
                BitDepth::Eight,
                &gray,
                |e| e.set_palette(palette),
                None,
            )
        }),
        ("16-bit PNG", {
            let wide: Vec<u8> = rgb
                .iter()
                .flat_map(|&v| (u16::from(v) * 257).to_be_bytes())
                .collect();
            png_of(w, h, Pc::Rgb, BitDepth::Sixteen, &wide, none, None)
        }),
        ("PNG with alpha", {
            // Black ink whose coverage is the darkness: over white, the
            // same grays.
            let ink: Vec<u8> = gray.iter().flat_map(|&g| [0, 0, 0, 255 - g]).collect();
            png_of(w, h, Pc::Rgba, BitDepth::Eight, &ink, none, None)
        }),
        ("progressive JPEG", jpeg_of(w, h, Jc::Rgb, &rgb, true, None)),
        ("CMYK JPEG", {
            let cmyk: Vec<u8> = rgb
                .chunks_exact(3)
                .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0])
                .collect();
            jpeg_of(w, h, Jc::Cmyk, &cmyk, false, None)
        }),
    ];
    for (o, form) in [
        (3, "JPEG, EXIF orientation 3"),
        (6, "JPEG, EXIF orientation 6"),
        (8, "JPEG, EXIF orientation 8"),
    ] {
        let (sw, sh, stored) = stored_for(o, w, h, &rgb);
        let exif = Some(exif_orientation(o));
        forms.push((form, jpeg_of(sw, sh, Jc::Rgb, &stored, false, exif)));
    }
    let (sw, sh, stored) = stored_for(6, w, h, &rgb);
    forms.push((
        "PNG, eXIf orientation 6",
        png_of(
            sw,
            sh,
            Pc::Rgb,
            BitDepth::Eight,
            &stored,
            none,
            Some(exif_orientation(6)),
        ),
    ));

    let wired = wired(
        &pinned(&[&PPOCR_DET, &PPOCR_CLS, &PPOCR_REC])
            .iter()
            .map(|p| p.as_path())
            .collect::<Vec<_>>(),
    );
    let ocr = wired.runtime.load(&read(programs::OCR)).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(golden("expected.json")).unwrap()).unwrap();
    let want = &expected["images"]["text.png"];
    // Lossy forms may move a space: the characters and lines must match.
    let squash = |v: &serde_json::Value| v.as_str().unwrap().replace([' ', '\n'], "");
    for (form, bytes) in &forms {
        let kind = if bytes.starts_with(b"\x89PNG") {
            "image/png"
        } else {
            "image/jpeg"
        };
        let result = ocr
            .run(&TaskInput::new(bytes.clone(), kind), None)
            .unwrap_or_else(|e| panic!("{form}: {e}"));
        let got: serde_json::Value = serde_json::from_slice(&result.output.data).unwrap();
        assert_eq!(squash(&got["text"]), squash(&want["text"]), "{form}: {got}");
        assert_eq!(
            got["lines"].as_array().unwrap().len(),
            want["lines"].as_array().unwrap().len(),
            "{form}: {got}"
        );
    }
}

#[test]
fn a_declared_model_that_is_missing_is_named_before_the_task_runs() {
    if !ocr_ready() {
        return;
    }
    let w = wired(
        &pinned(&[&PPOCR_DET])
            .iter()
            .map(|p| p.as_path())
            .collect::<Vec<_>>(),
    );
    let ocr = w.runtime.load(&read(programs::OCR)).unwrap();
    let err = ocr
        .run(&TaskInput::new(vec![0; 8], "image/png"), None)
        .unwrap_err();
    match err {
        RunError::Plugin(PluginError::ModelUnavailable(m)) => {
            assert!(m.contains("is not on this node"), "{m}");
            assert!(m.contains(&PPOCR_CLS.blake3.to_hex()), "{m}");
        }
        other => panic!("expected a missing model, got {other:?}"),
    }
}

#[test]
fn without_the_inference_capability_a_plugin_importing_wasi_nn_is_refused() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    match rt.load(&read(programs::OCR)) {
        Err(LoadError::ForbiddenImport { import, granted }) => {
            assert!(import.starts_with("wasi:nn/"), "{import}");
            assert!(!granted.contains("wasi:nn"), "{granted}");
        }
        other => panic!("expected a forbidden import, got {other:?}"),
    }
}

fn tensor_json(name: &str, dtype: &str, shape: &str, data: &str) -> Vec<u8> {
    format!(r#"{{"inputs":{{"{name}":{{"dtype":"{dtype}","shape":{shape},"data":{data}}}}}}}"#)
        .into_bytes()
}

/// A task of the tensor plugin on `model`, which the task names.
fn tensor_task(input: Vec<u8>, content_type: &str, model: ContentHash) -> (TaskInput, TaskPolicy) {
    (
        TaskInput::new(input, content_type).param("model", model.to_hex()),
        TaskPolicy {
            models: vec![model],
            ..TaskPolicy::default()
        },
    )
}

#[test]
fn tensor_plugin_matches_the_python_reference_in_json_and_binary() {
    if !ocr_ready() {
        return;
    }
    let w = wired(&[&test_model("mlp.onnx")]);
    let mlp = w.hashes[0];
    let tensor = w.runtime.load(&read(programs::TENSOR)).unwrap();
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(test_model("reference.json")).unwrap()).unwrap();
    let input = serde_json::json!({"inputs": {"x": {
        "dtype": "f32", "shape": reference["mlp"]["x_dims"], "data": reference["mlp"]["x"]}}});
    let (input, policy) = tensor_task(input.to_string().into_bytes(), "application/json", mlp);
    let result = tensor.run(&input, Some(&policy)).unwrap();
    let got: serde_json::Value = serde_json::from_slice(&result.output.data).unwrap();
    let y = &got["outputs"]["y"];
    assert_eq!(y["dtype"], "f32");
    assert_eq!(y["shape"], reference["mlp"]["y_dims"]);
    let want: Vec<f64> = reference["mlp"]["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (g, w) in y["data"].as_array().unwrap().iter().zip(&want) {
        let g = g.as_f64().unwrap();
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{g} vs {w}");
    }

    // The same through the binary form, answered in binary.
    let x: Vec<u8> = reference["mlp"]["x"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| (v.as_f64().unwrap() as f32).to_le_bytes())
        .collect();
    let bin = catn::encode(&[("x", catn::dtype_code("f32").unwrap(), &[3, 4], &x)]);
    let (input, policy) = tensor_task(bin, "application/x-clusterai-tensors", mlp);
    let result = tensor.run(&input, Some(&policy)).unwrap();
    assert_eq!(
        result.output.content_type,
        "application/x-clusterai-tensors"
    );
    let outputs = catn::decode(&result.output.data).unwrap();
    let (name, _, dims, bytes) = &outputs[0];
    assert_eq!((name.as_str(), dims.as_slice()), ("y", &[3u32, 3][..]));
    for (i, w) in want.iter().enumerate() {
        let g = f32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
        assert!((f64::from(g) - w).abs() <= 1e-5 * w.abs().max(1.0));
    }
}

/// A plugin may open only the models it declares and its task names: the
/// tensor plugin opens whatever hash it is given, so it is the attacker.
#[test]
fn a_model_outside_the_tasks_allowed_set_gets_a_wasi_nn_error_naming_it() {
    if !ocr_ready() {
        return;
    }
    let w = wired(&[&test_model("mlp.onnx"), &test_model("identity.onnx")]);
    let (mlp, identity) = (w.hashes[0], w.hashes[1]);
    let tensor = w.runtime.load(&read(programs::TENSOR)).unwrap();
    let x = tensor_json("x", "f32", "[1,4]", "[1,2,3,4]");
    // The node holds the identity model, the task names only the MLP.
    let (input, policy) = tensor_task(x.clone(), "application/json", mlp);
    let input =
        TaskInput::new(input.data().to_vec(), "application/json").param("model", identity.to_hex());
    let err = tensor.run(&input, Some(&policy)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&identity.to_hex()), "{msg}");
    assert!(
        msg.contains("not among the models this task may open"),
        "{msg}"
    );
    // Named, it runs.
    let (input, policy) = tensor_task(x, "application/json", mlp);
    tensor.run(&input, Some(&policy)).unwrap();
}

/// A hostile guest: the tensor plugin forwards whatever tensors it is sent,
/// so each bad tensor reaches the host from inside the sandbox.
#[test]
fn hostile_tensors_from_a_guest_get_wasi_nn_errors_and_the_node_keeps_serving() {
    if !ocr_ready() {
        return;
    }
    let w = wired(&[&test_model("mlp.onnx"), &test_model("big.onnx")]);
    let (mlp, big) = (w.hashes[0], w.hashes[1]);
    let tensor = w.runtime.load(&read(programs::TENSOR)).unwrap();
    let unknown = ContentHash::of(b"nothing");
    let cases: Vec<(Vec<u8>, ContentHash, &str)> = vec![
        (
            tensor_json("x", "i64", "[1,4]", "[1,2,3,4]"),
            mlp,
            "is f32, got i64",
        ),
        (
            tensor_json("x", "f32", "[1,5]", "[1,2,3,4,5]"),
            mlp,
            "axis 1 must be 4",
        ),
        (tensor_json("x", "f32", "[4]", "[1,2,3,4]"), mlp, "rank 2"),
        (
            tensor_json("nope", "f32", "[1,4]", "[1,2,3,4]"),
            mlp,
            "has no input \"nope\"",
        ),
        (
            tensor_json("x", "f32", "[1,4]", "[1,2,3,4]"),
            unknown,
            "is not held by this node",
        ),
        (
            tensor_json("x", "f16", "[1,4]", "[1,2,3,4]"),
            mlp,
            "is f32, got f16",
        ),
        (
            tensor_json("x", "u8", "[1,4]", "[1,2,3,4]"),
            mlp,
            "is f32, got u8",
        ),
        (
            tensor_json("x", "i32", "[1,4]", "[1,2,3,4]"),
            mlp,
            "is f32, got i32",
        ),
        // An enormous output: 8192 x 8192 f32 = 256 MiB, over the 64 MiB cap.
        (
            tensor_json("shape", "i64", "[2]", "[8192,8192]"),
            big,
            "bytes per compute",
        ),
    ];
    for (data, model, needle) in cases {
        let (input, policy) = tensor_task(data, "application/json", model);
        let err = tensor.run(&input, Some(&policy)).unwrap_err();
        assert!(
            matches!(
                err,
                RunError::Plugin(PluginError::Inference(_) | PluginError::ModelUnavailable(_))
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
    }
    // 64 MB of output is within the output cap, but not within a working
    // memory budget of 8 MiB, nor within a task-wide host-memory budget of
    // 8 MiB (of which the compute gets what is left): refused at the
    // output's block, naming the budget that bound it.
    type Tighten = fn(&mut TaskPolicy);
    let cases: [(Tighten, &str); 2] = [
        (
            |p| p.max_compute_memory_bytes = 8 << 20,
            "over the task's budget of 8388608 bytes for one compute",
        ),
        (
            |p| p.max_host_memory_bytes = 8 << 20,
            "over what is left of the task's host memory",
        ),
    ];
    for (tighten, needle) in cases {
        let (input, mut policy) = tensor_task(
            tensor_json("shape", "i64", "[2]", "[4000,4000]"),
            "application/json",
            big,
        );
        tighten(&mut policy);
        let err = tensor.run(&input, Some(&policy)).unwrap_err();
        assert!(
            matches!(err, RunError::Plugin(PluginError::Inference(_))),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(needle), "{msg} lacks {needle:?}");
        assert!(msg.contains("refused the block"), "{msg}");
    }
    // Still serving, and the inference is recorded.
    let (input, policy) = tensor_task(
        tensor_json("x", "f32", "[1,4]", "[1,2,3,4]"),
        "application/json",
        mlp,
    );
    let ok = tensor.run(&input, Some(&policy)).unwrap();
    assert_eq!(
        clusterai_node::capabilities::inferences(&ok.extensions).len(),
        1
    );
    let hello = w.runtime.load(&read(programs::HELLO)).unwrap();
    assert_eq!(
        hello
            .run(&TaskInput::text("still here"), None)
            .unwrap()
            .output
            .data,
        b"Hello, still here!\n"
    );
    assert!(w.nn.model_info(&mlp).is_some());
}

#[test]
fn embed_matches_hugging_face_tokenizers_and_onnxruntime_python() {
    if !clusterai_test_support::skip::require(
        "ONNX Runtime and the MiniLM model",
        clusterai_test_support::skip::onnx_runtime_and(&[&MINILM_L6_INT8]),
    ) {
        return;
    }
    let w = wired(&[MINILM_L6_INT8.cached_path().as_path()]);
    let embed = w.runtime.load(&read(programs::EMBED)).unwrap();
    let dir = repo_root().join("plugins/examples/embed/golden");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let input = std::fs::read(dir.join("sentences.txt")).unwrap();
    let result = embed
        .run(&TaskInput::new(input, "text/plain"), None)
        .unwrap();
    let got: serde_json::Value = serde_json::from_slice(&result.output.data).unwrap();
    assert_eq!(got["dim"], 384);
    assert_eq!(
        got["tokens"], expected["tokens"],
        "the guest's WordPiece differs from tokenizers"
    );
    let (g, w) = (
        got["embeddings"].as_array().unwrap(),
        expected["embeddings"].as_array().unwrap(),
    );
    assert_eq!(g.len(), w.len());
    for (gv, wv) in g.iter().zip(w) {
        let (gv, wv) = (gv.as_array().unwrap(), wv.as_array().unwrap());
        assert_eq!(gv.len(), 384);
        let mut dot = 0.0;
        for (a, b) in gv.iter().zip(wv) {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            dot += a * b;
        }
        assert!(dot > 0.9999, "cosine {dot}");
    }
}
