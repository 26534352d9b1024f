//! Generates constants from the repository's two lists of pins, so that code
//! never repeats a version, a model name or a hash:
//!
//! - `models/models.toml` → `models.rs`: one [`PinnedModel`] per model and
//!   `ALL`, the whole list (plugins get the same constants through the SDK);
//! - `pins.toml` → `pins.rs`: ONNX Runtime, binaryen, cosmwasm-check and
//!   wasmd versions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("../..");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let models = root.join("models/models.toml");
    let pins = root.join("pins.toml");
    println!("cargo:rerun-if-changed={}", models.display());
    println!("cargo:rerun-if-changed={}", pins.display());
    std::fs::write(out.join("models.rs"), models_rs(&read(&models))).expect("write models.rs");
    std::fs::write(out.join("pins.rs"), pins_rs(&read(&pins))).expect("write pins.rs");
}

fn read(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{} is not valid TOML: {e}", path.display()))
}

fn str_of<'a>(t: &'a toml::Table, key: &str, what: &str) -> &'a str {
    t.get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("{what}: `{key}` must be a string"))
}

fn const_name(name: &str) -> String {
    name.replace(['-', '.'], "_").to_uppercase()
}

fn models_rs(doc: &toml::Table) -> String {
    let models = doc
        .get("model")
        .and_then(|m| m.as_array())
        .expect("models.toml: a [[model]] list");
    let mut code = String::new();
    let mut all = String::from(
        "/// Every pinned model, in the manifest's order.\npub const ALL: &[PinnedModel] = &[\n",
    );
    for m in models {
        let m = m
            .as_table()
            .expect("models.toml: each [[model]] is a table");
        let name = str_of(m, "name", "model");
        let what = format!("model {name}");
        let kind = match str_of(m, "kind", &what) {
            "onnx" => "ModelKind::Onnx",
            "tokenizer" => "ModelKind::Tokenizer",
            other => panic!("{what}: unknown kind {other:?} (onnx or tokenizer)"),
        };
        let file = m
            .get("inner")
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| str_of(m, "member", &what));
        // A converted file names its own extension.
        let ext = m.get("ext").and_then(|v| v.as_str()).unwrap_or_else(|| {
            Path::new(file)
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("bin")
        });
        let blake3 = str_of(m, "blake3", &what);
        assert!(
            blake3.len() == 64 && blake3.bytes().all(|b| b.is_ascii_hexdigit()),
            "{what}: blake3 must be 64 hex characters"
        );
        let bytes: Vec<String> = (0..32)
            .map(|i| format!("0x{}", &blake3[2 * i..2 * i + 2]))
            .collect();
        let size = m
            .get("size")
            .and_then(|v| v.as_integer())
            .unwrap_or_else(|| panic!("{what}: `size` must be an integer"));
        let mut inputs = String::new();
        if let Some(bench) = m.get("bench").and_then(|b| b.as_table()) {
            for input in bench
                .get("inputs")
                .and_then(|i| i.as_array())
                .unwrap_or_else(|| panic!("{what}: [model.bench] needs `inputs`"))
            {
                let input = input.as_table().expect("a bench input is a table");
                let dims: Vec<String> = input
                    .get("dims")
                    .and_then(|d| d.as_array())
                    .unwrap_or_else(|| panic!("{what}: a bench input needs `dims`"))
                    .iter()
                    .map(|d| d.as_integer().expect("dims are integers").to_string())
                    .collect();
                let fill = match input.get("fill").and_then(|f| f.as_integer()) {
                    Some(v) => format!("Fill::Value({v})"),
                    None => "Fill::Pattern".into(),
                };
                for name in input_names(input, &what) {
                    let _ = write!(
                        inputs,
                        "BenchInputSpec {{ name: {name:?}, dtype: {:?}, dims: &[{}], fill: {fill} }}, ",
                        str_of(input, "dtype", &what),
                        dims.join(", ")
                    );
                }
            }
        }
        let limits = limits_code(m, &what);
        let cname = const_name(name);
        let _ = writeln!(
            code,
            "/// {} (`{name}`).\npub const {cname}: PinnedModel = PinnedModel {{\n    name: {name:?},\n    \
             kind: {kind},\n    description: {:?},\n    package: {:?},\n    package_version: {:?},\n    \
             file_name: {:?},\n    licence: {:?},\n    size: {size},\n    sha256: {:?},\n    \
             blake3: ContentHash::from_bytes([{}]),\n    bench_inputs: &[{inputs}],\n    \
             input_limits: &[{limits}],\n}};\n",
            str_of(m, "description", &what),
            str_of(m, "description", &what),
            str_of(m, "package", &what),
            str_of(m, "version", &what),
            format!("{name}.{ext}"),
            m.get("licence").and_then(|v| v.as_str()).unwrap_or(""),
            str_of(m, "sha256", &what),
            bytes.join(", "),
        );
        let _ = writeln!(all, "    {cname},");
    }
    all.push_str("];\n");
    code + &all
}

/// The input names an entry stands for: its `name`, or with `repeat = n`, n
/// names with `{i}` replaced by 0..n (one per layer of a KV cache, say).
fn input_names(input: &toml::Table, what: &str) -> Vec<String> {
    let name = str_of(input, "name", what);
    match input.get("repeat").and_then(|r| r.as_integer()) {
        Some(n) => {
            assert!(
                name.contains("{i}"),
                "{what}: a repeated input's name needs {{i}}"
            );
            (0..n)
                .map(|i| name.replace("{i}", &i.to_string()))
                .collect()
        }
        None => vec![name.to_string()],
    }
}

/// `[model.limits]`: one `InputLimit` per input (a `repeat`ed entry names
/// one input per `{i}` in 0..n, as in `[model.bench]`).
fn limits_code(m: &toml::Table, what: &str) -> String {
    let Some(limits) = m.get("limits").and_then(|l| l.as_table()) else {
        return String::new();
    };
    let mut code = String::new();
    for input in limits
        .get("inputs")
        .and_then(|i| i.as_array())
        .unwrap_or_else(|| panic!("{what}: [model.limits] needs `inputs`"))
    {
        let input = input.as_table().expect("an input limit is a table");
        let max_dims: Vec<String> = input
            .get("max_dims")
            .and_then(|d| d.as_array())
            .unwrap_or_else(|| panic!("{what}: an input limit needs `max_dims`"))
            .iter()
            .map(|d| {
                let d = d.as_integer().expect("max_dims are integers");
                assert!(
                    (1..=i64::from(u32::MAX)).contains(&d),
                    "{what}: max_dims must be positive u32"
                );
                d.to_string()
            })
            .collect();
        for name in input_names(input, what) {
            let _ = write!(
                code,
                "InputLimit {{ name: {name:?}, max_dims: &[{}] }}, ",
                max_dims.join(", ")
            );
        }
    }
    code
}

fn pins_rs(doc: &toml::Table) -> String {
    let section = |name: &str| {
        doc.get(name)
            .and_then(|s| s.as_table())
            .unwrap_or_else(|| panic!("pins.toml: missing [{name}]"))
    };
    let ort = section("onnxruntime");
    let minors: Vec<String> = ort
        .get("accepted_minors")
        .and_then(|m| m.as_array())
        .expect("pins.toml: onnxruntime.accepted_minors")
        .iter()
        .map(|m| {
            m.as_integer()
                .expect("minor versions are integers")
                .to_string()
        })
        .collect();
    let mut code = String::new();
    let mut pin = |doc: &str, name: &str, value: &str| {
        let _ = writeln!(code, "/// {doc}\npub const {name}: &str = {value:?};");
    };
    pin(
        "ONNX Runtime version (CPU build).",
        "ORT_VERSION",
        str_of(ort, "version", "onnxruntime"),
    );
    pin(
        "The ONNX Runtime wheel on PyPI.",
        "ORT_WHEEL",
        str_of(ort, "wheel", "onnxruntime"),
    );
    pin(
        "The ONNX Runtime shared library's file name.",
        "ORT_LIBRARY",
        str_of(ort, "library", "onnxruntime"),
    );
    pin(
        "SHA-256 of the ONNX Runtime shared library.",
        "ORT_LIBRARY_SHA256",
        str_of(ort, "library_sha256", "onnxruntime"),
    );
    pin(
        "ONNX Runtime GPU build version.",
        "ORT_GPU_VERSION",
        str_of(section("onnxruntime_gpu"), "version", "onnxruntime_gpu"),
    );
    pin(
        "npm binaryen version (wasm-opt).",
        "BINARYEN_VERSION",
        str_of(section("binaryen"), "version", "binaryen"),
    );
    pin(
        "cosmwasm-check version.",
        "COSMWASM_CHECK_VERSION",
        str_of(section("cosmwasm_check"), "version", "cosmwasm_check"),
    );
    pin(
        "wasmd version the contracts target.",
        "WASMD_VERSION",
        str_of(section("wasmd"), "version", "wasmd"),
    );
    pin(
        "The capabilities that wasmd offers contracts.",
        "WASMD_CAPABILITIES",
        str_of(section("wasmd"), "capabilities", "wasmd"),
    );
    let _ = writeln!(
        code,
        "/// ONNX Runtime minor versions (`1.MINOR.x`) the host accepts.\npub const ORT_ACCEPTED_MINORS: &[u32] = &[{}];",
        minors.join(", ")
    );
    code
}
