//! Builds every crate of `plugins/` for wasm32-wasip2 (release) and writes a
//! constant per component, so host tests and benches name plugins by constant
//! and a clean checkout needs no separate build step.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("repository root");
    let plugins = root.join("plugins");
    watch(&root.join("wit"));
    // The SDK generates its model constants from the manifest.
    watch(&root.join("models/models.toml"));
    watch(&plugins.join("Cargo.toml"));
    watch(&plugins.join("Cargo.lock"));
    for group in ["sdk", "examples", "test-programs"] {
        // The group itself too: a crate added to it is a new component.
        watch(&plugins.join(group));
        watch_crates(&plugins.join(group));
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--workspace",
        "--manifest-path",
    ])
    .arg(plugins.join("Cargo.toml"));
    // The outer build's settings (target dir, flags, clippy as rustc wrapper)
    // are not the guests' business.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo to build the plugins");
    if !status.success() {
        panic!(
            "building plugins/ for wasm32-wasip2 failed (is the target installed? \
             `rustup target add wasm32-wasip2`)"
        );
    }

    let out_dir = plugins.join("target/wasm32-wasip2/release");
    let mut wasm: Vec<PathBuf> = fs::read_dir(&out_dir)
        .expect("plugin output directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    wasm.sort();
    let mut code = String::new();
    let mut all =
        String::from("/// Every component, by crate name.\npub const ALL: &[(&str, &str)] = &[\n");
    for path in &wasm {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 file name");
        let _ = writeln!(code, "/// `plugins/.../{stem}`, built for wasm32-wasip2.");
        let _ = writeln!(
            code,
            "pub const {}: &str = {:?};",
            stem.to_uppercase(),
            path.display().to_string()
        );
        let _ = writeln!(all, "    ({stem:?}, {}),", stem.to_uppercase());
    }
    all.push_str("];\n");
    code.push_str(&all);
    // Every hostile program (a crate or a file under plugins/test-programs),
    // for the compile-time check that each has a test.
    let mut hostile: Vec<String> = fs::read_dir(plugins.join("test-programs"))
        .expect("plugins/test-programs")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            if p.join("Cargo.toml").exists() {
                Some(name.replace('-', "_"))
            } else {
                name.strip_suffix(".wasm").map(|n| n.replace('-', "_"))
            }
        })
        .collect();
    hostile.sort();
    let _ = writeln!(
        code,
        "/// Calls `$m!(name)` for every hostile program in `plugins/test-programs`:\n\
         /// with a macro that names a test module per program, a program without\n\
         /// a test does not compile.\n\
         #[macro_export]\nmacro_rules! foreach_hostile {{\n    ($m:ident) => {{"
    );
    for h in &hostile {
        let _ = writeln!(code, "        $m!({h});");
    }
    let _ = writeln!(code, "    }};\n}}");
    for file in ["malformed.wasm", "not-a-component.wasm"] {
        let path = plugins.join("test-programs").join(file);
        let name = file
            .trim_end_matches(".wasm")
            .replace('-', "_")
            .to_uppercase();
        let _ = writeln!(code, "/// `plugins/test-programs/{file}`.");
        let _ = writeln!(
            code,
            "pub const {name}: &str = {:?};",
            path.display().to_string()
        );
    }
    let dest = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("programs.rs");
    fs::write(dest, code).expect("write programs.rs");
}

fn watch(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

/// Watches each crate's manifest and sources (not `target/`).
fn watch_crates(dir: &Path) {
    if dir.join("Cargo.toml").exists() {
        watch(&dir.join("Cargo.toml"));
        watch(&dir.join("src"));
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            watch_crates(&path);
        } else if path.extension().is_some_and(|x| x == "wasm") {
            watch(&path);
        }
    }
}
