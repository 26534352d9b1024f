//! Compile work is bounded before it starts, and what compiling leaves
//! behind (the disk cache, the loaded plugins) is bounded too. The hostile
//! components here are generated, so each is exactly as big as the test
//! needs.

use std::time::{Duration, Instant};

use clusterai_runtime::precheck::{Structure, scan};
use clusterai_runtime::{CompileLimits, LoadError, Runtime, RuntimeConfig, TaskInput};
use clusterai_test_support::plugins::programs;
use wasm_encoder::{
    CodeSection, Component, Function, FunctionSection, Instruction, Module, ModuleSection,
    NestedComponentSection, TypeSection,
};

/// A component holding one core module with `functions` functions, each
/// `body_ops` pairs of `i32.const 1; drop`.
fn code_bomb(functions: u32, body_ops: usize) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut body = Function::new([]);
    for _ in 0..body_ops {
        body.instruction(&Instruction::I32Const(1));
        body.instruction(&Instruction::Drop);
    }
    body.instruction(&Instruction::End);
    for _ in 0..functions {
        funcs.function(0);
        code.function(&body);
    }
    let mut module = Module::new();
    module.section(&types).section(&funcs).section(&code);
    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    component.finish()
}

/// Components nested `depth` deep, each with an empty core module.
fn nesting_bomb(depth: usize) -> Vec<u8> {
    let mut inner = Component::new();
    inner.section(&ModuleSection(&Module::new()));
    for _ in 0..depth {
        let mut outer = Component::new();
        outer.section(&NestedComponentSection(&inner));
        inner = outer;
    }
    inner.finish()
}

fn refused(rt: &Runtime, wasm: &[u8]) -> (LoadError, Duration) {
    let started = Instant::now();
    let err = match rt.load(wasm) {
        Ok(_) => panic!("a hostile component loaded"),
        Err(e) => e,
    };
    (err, started.elapsed())
}

#[test]
fn oversized_code_is_refused_before_the_compiler_sees_it() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let limits = CompileLimits::default();
    // One function of 2 MiB (Cranelift would spend seconds and gigabytes).
    let (err, took) = refused(&rt, &code_bomb(1, 700_000));
    assert!(
        matches!(&err, LoadError::TooBig(m) if m.contains("function body of") && m.contains("1048576-byte limit")),
        "{err}"
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    // Many small functions.
    let (err, _) = refused(&rt, &code_bomb(limits.max_functions + 1, 1));
    assert!(
        matches!(&err, LoadError::TooBig(m) if m.contains("more than 100000 functions")),
        "{err}"
    );
    // Too much code in total, each function under the per-function limit.
    let tight = Runtime::new(RuntimeConfig {
        compile_limits: CompileLimits {
            max_code_bytes: 1 << 20,
            ..CompileLimits::default()
        },
        ..RuntimeConfig::default()
    })
    .unwrap();
    let (err, _) = refused(&tight, &code_bomb(40, 20_000));
    assert!(
        matches!(&err, LoadError::TooBig(m) if m.contains("code is over the 1048576-byte limit")),
        "{err}"
    );
    // Nesting.
    let (err, _) = refused(&rt, &nesting_bomb(100));
    assert!(
        matches!(&err, LoadError::TooBig(m) if m.contains("nests more than 64")),
        "{err}"
    );
    // A whole component over the size limit is refused by its length.
    let small = Runtime::new(RuntimeConfig {
        compile_limits: CompileLimits {
            max_wasm_bytes: 1000,
            ..CompileLimits::default()
        },
        ..RuntimeConfig::default()
    })
    .unwrap();
    let (err, _) = refused(&small, &std::fs::read(programs::HELLO).unwrap());
    assert!(
        matches!(&err, LoadError::TooBig(m) if m.contains("over the 1000-byte limit")),
        "{err}"
    );
    // Nothing was kept, and the runtime still serves.
    assert_eq!(rt.loaded_count(), 0);
    let hello = rt.load(&std::fs::read(programs::HELLO).unwrap()).unwrap();
    let out = hello.run(&TaskInput::text("after"), None).unwrap();
    assert_eq!(out.output.data, b"Hello, after!\n");
}

#[test]
fn imports_and_exports_are_checked_before_compiling() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    // A component without the plugin export: no compile is needed to say so.
    let (err, _) = refused(&rt, &code_bomb(1, 1));
    assert!(matches!(&err, LoadError::MissingExport(_)), "{err}");
    let (err, _) = refused(&rt, &std::fs::read(programs::FORBIDDEN_IMPORT).unwrap());
    assert!(matches!(&err, LoadError::ForbiddenImport { .. }), "{err}");
}

/// Every example plugin is far inside the default limits (the figures in
/// `CompileLimits`' documentation come from here).
#[test]
fn the_example_plugins_are_inside_the_limits() {
    let limits = CompileLimits::default();
    let mut largest = Structure::default();
    for path in [
        programs::HELLO,
        programs::OCR,
        programs::EMBED,
        programs::CHAT,
        programs::TENSOR,
    ] {
        let wasm = std::fs::read(path).unwrap();
        let s = scan(&wasm, &limits).unwrap();
        eprintln!(
            "{path}: {} bytes, code {} bytes, largest function {} bytes, {} functions, {} modules",
            wasm.len(),
            s.code_bytes,
            s.largest_function,
            s.functions,
            s.modules
        );
        assert!(
            s.exports
                .iter()
                .any(|e| e.starts_with("clusterai:task/plugin@")),
            "{path}"
        );
        largest.code_bytes = largest.code_bytes.max(s.code_bytes);
        largest.largest_function = largest.largest_function.max(s.largest_function);
        largest.functions = largest.functions.max(s.functions);
        largest.modules = largest.modules.max(s.modules);
    }
    assert!(
        largest.code_bytes * 8 < limits.max_code_bytes,
        "{largest:?}"
    );
    assert!(
        largest.largest_function * 4 < limits.max_function_bytes,
        "{largest:?}"
    );
    assert!(largest.functions * 8 < limits.max_functions, "{largest:?}");
    assert!(largest.modules * 4 < limits.max_modules, "{largest:?}");
}

/// Entries in the compile cache directory.
fn entries(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for engine in std::fs::read_dir(dir).unwrap() {
        for e in std::fs::read_dir(engine.unwrap().path()).unwrap() {
            let e = e.unwrap();
            out.push((
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            ));
        }
    }
    out
}

#[test]
fn the_compile_cache_keeps_only_plugins_that_loaded_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let config = |budget: u64| RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        cache_budget_bytes: budget,
        ..RuntimeConfig::default()
    };
    // A plugin that compiles but never describes itself leaves nothing.
    let rt = Runtime::new(config(u64::MAX)).unwrap();
    assert!(
        rt.load(&std::fs::read(programs::DESCRIBE_LOOP).unwrap())
            .is_err()
    );
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    let hello = std::fs::read(programs::HELLO).unwrap();
    rt.load(&hello).unwrap();
    let after_hello = entries(dir.path());
    assert_eq!(after_hello.len(), 1, "{after_hello:?}");
    drop(rt);

    // A budget of one entry and a bit: each new plugin evicts the least
    // recently used one, never the one just written.
    let budget = after_hello[0].1 * 3 / 2;
    let rt = Runtime::new(config(budget)).unwrap();
    let residue = std::fs::read(programs::RESIDUE).unwrap();
    rt.load(&residue).unwrap();
    let now = entries(dir.path());
    let residue_entry = format!("{}.cwasm", clusterai_types::ContentHash::of(&residue));
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!(now[0].0, residue_entry);
    assert!(now.iter().map(|e| e.1).sum::<u64>() <= budget);
}

#[test]
fn loaded_plugins_are_evicted_past_their_budget_and_keep_running() {
    let rt = Runtime::new(RuntimeConfig {
        max_loaded_bytes: 1,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let hello = rt.load(&std::fs::read(programs::HELLO).unwrap()).unwrap();
    let residue = rt.load(&std::fs::read(programs::RESIDUE).unwrap()).unwrap();
    assert_eq!(rt.loaded_count(), 1);
    // The evicted plugin's handle still runs; loading it again compiles anew.
    let out = hello.run(&TaskInput::text("evicted"), None).unwrap();
    assert_eq!(out.output.data, b"Hello, evicted!\n");
    drop(residue);
    rt.load(&std::fs::read(programs::HELLO).unwrap()).unwrap();
    assert_eq!(rt.loaded_count(), 1);
}
