//! `clusterai plugin run|inspect`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use clap::{Args, Subcommand};
use clusterai_nn::{NnHost, NnSettings};
use clusterai_runtime::{LoadError, LogLevel, Runtime, RuntimeConfig, TaskInput, TaskResult};
use clusterai_store::{BlobStore, StoreConfig, StoreSource};
use clusterai_types::{ContentHash, TaskPolicy, env};

use crate::exit;
use crate::terminal::{Stream, escape, on_stderr, on_stdout};

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Run one task through a plugin in the sandbox and print its output.
    Run(RunArgs),
    /// Show a plugin's world: kind, imports, exports, and whether it would link here.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The plugin: a WebAssembly component (.wasm).
    plugin: PathBuf,
    /// The task's input: a file, or - for standard input. Empty if omitted.
    #[arg(short, long, value_name = "FILE|-")]
    input: Option<String>,
    /// Content type of the input (default: guessed from the file name or its first bytes).
    #[arg(long, value_name = "TYPE")]
    content_type: Option<String>,
    /// A task parameter, repeatable.
    #[arg(short, long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Fuel budget (about one unit per WebAssembly instruction).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Linear memory limit in MiB.
    #[arg(long, value_name = "MiB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    memory: Option<u64>,
    /// Wall-clock deadline in milliseconds.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// Deterministic mode (canonical NaNs, deterministic relaxed SIMD), for verifiable re-execution.
    #[arg(long)]
    deterministic: bool,
    /// A model the task names, beside those the plugin declares: a content
    /// hash (found in the node's blob store) or an .onnx file (repeatable).
    /// A plugin may open only the models it declares and those named here.
    #[arg(long = "model", value_name = "HASH|FILE")]
    models: Vec<String>,
    /// Do not use the on-disk compile cache.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The plugin file (.wasm).
    plugin: PathBuf,
}

/// `json`: one JSON object on stdout instead of the plain output.
pub(crate) fn run(cmd: PluginCommand, json: bool) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::Run(args) => run_task(args, json),
        PluginCommand::Inspect(args) => inspect(args, json),
    }
}

pub(crate) fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

fn runtime(deterministic: bool, no_cache: bool, nn: Option<NnHost>) -> anyhow::Result<Runtime> {
    clusterai_node::compose::runtime(
        RuntimeConfig {
            cache_dir: (!no_cache).then(env::compiled_dir),
            deterministic,
            max_concurrent_tasks: 2,
            ..RuntimeConfig::default()
        },
        nn,
    )
}

/// The node's blob store, opened for this command on `rt`: where models a
/// plugin opens by hash come from. `None` (with a note) when there is none
/// yet or another process (a running node) holds it.
fn model_source(rt: &tokio::runtime::Runtime) -> Option<StoreSource> {
    let dir = env::blobs_dir(&env::data_dir());
    if !dir.exists() {
        return None;
    }
    match rt.block_on(BlobStore::open(&dir, StoreConfig::default())) {
        Ok(store) => Some(StoreSource::new(store, rt.handle().clone())),
        Err(e) => {
            eprintln!("note: models are not read from the blob store: {e}");
            None
        }
    }
}

/// An inference backend when the plugin imports `wasi:nn` (its import names
/// are plain strings in the binary); ONNX Runtime is loaded only then.
fn nn_for(wasm: &[u8], source: Option<StoreSource>) -> anyhow::Result<Option<NnHost>> {
    if !wasm.windows(8).any(|w| w == b"wasi:nn/") {
        return Ok(None);
    }
    let settings = NnSettings {
        model_source: source.map(|s| Arc::new(s) as Arc<dyn clusterai_types::BlobSource>),
        // The developer names each model the run may open (`--model`); a
        // node admits only models with declared input limits.
        allow_undeclared_models: true,
        ..NnSettings::default()
    };
    let host = NnHost::new(settings)
        .context("the plugin uses wasi:nn, but ONNX Runtime cannot be loaded (the set-up installs it; ORT_DYLIB_PATH names another)")?;
    Ok(Some(host))
}

/// Resolves the `--model` arguments: a hash is named as it is (the blob
/// store serves it); a file is opened into the backend's table and named by
/// its hash.
fn task_models(nn: Option<&NnHost>, args: &[String]) -> anyhow::Result<Vec<ContentHash>> {
    let mut out = Vec::new();
    for arg in args {
        if let Ok(hash) = arg.parse::<ContentHash>() {
            out.push(hash);
            continue;
        }
        let nn = nn.context("--model given, but the plugin does not import wasi:nn")?;
        let hash = nn.add_model_file(Path::new(arg)).with_context(|| {
            format!("--model {arg}: neither a model hash nor a model file ONNX Runtime can open")
        })?;
        out.push(hash);
    }
    Ok(out)
}

fn read_wasm(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read plugin {}", path.display()))
}

fn run_task(args: RunArgs, json: bool) -> anyhow::Result<ExitCode> {
    let wasm = read_wasm(&args.plugin)?;
    let (data, name) = match args.input.as_deref() {
        None => (Vec::new(), None),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read the input from standard input")?;
            (buf, None)
        }
        Some(path) => (
            std::fs::read(path).with_context(|| format!("cannot read input {path}"))?,
            Some(path),
        ),
    };
    let content_type = args
        .content_type
        .clone()
        .unwrap_or_else(|| guess_content_type(name, &data).to_string());
    let input = TaskInput::new(data, content_type).params(args.params.iter().cloned());

    let uses_nn = wasm.windows(8).any(|w| w == b"wasi:nn/");
    crate::exit::ensure_usage!(
        uses_nn || args.models.is_empty(),
        "--model given, but {} does not import wasi:nn",
        args.plugin.display()
    );
    // Kept alive for the run: the blob store's actor runs on it.
    let rt = super::async_runtime()?;
    let source = if uses_nn { model_source(&rt) } else { None };
    let nn = nn_for(&wasm, source)?;
    let defaults = TaskPolicy::default();
    let policy = TaskPolicy {
        fuel: args.fuel.unwrap_or(defaults.fuel),
        memory_bytes: args
            .memory
            .map(|m| m << 20)
            .unwrap_or(defaults.memory_bytes),
        timeout: args
            .timeout
            .map(Duration::from_millis)
            .unwrap_or(defaults.timeout),
        models: task_models(nn.as_ref(), &args.models)?,
        ..defaults
    };
    policy
        .validate()
        .map_err(|e| exit::UsageError(e.to_string()))?;
    let runtime = runtime(args.deterministic, args.no_cache, nn)?;
    let plugin = match runtime.load(&wasm) {
        Ok(p) => p,
        Err(e) => return Ok(fail_load(&args.plugin, &e, json)),
    };
    tracing::debug!(plugin = %plugin.hash(), cache = ?plugin.cache_outcome(), "plugin loaded");
    let streamed = Arc::new(std::sync::Mutex::new(Streamed::default()));
    let sink = stream_sink(streamed.clone(), !json);
    match plugin.run_streaming(&input, Some(&policy), Some(sink)) {
        Ok(result) => {
            let streamed = std::mem::take(&mut *streamed.lock().unwrap_or_else(|e| e.into_inner()));
            print_result(&plugin, &result, &streamed, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if json {
                let value = serde_json::json!({
                    "plugin": plugin_json(&plugin),
                    "error": { "kind": e.kind(), "message": e.to_string() },
                });
                println!("{value}");
            } else {
                eprintln!("error: task failed: {}", on_stderr(&e.to_string()));
            }
            Ok(ExitCode::from(exit::FAILURE))
        }
    }
}

/// What a plugin emitted while it ran.
#[derive(Debug, Default)]
struct Streamed {
    chunks: usize,
    bytes: Vec<u8>,
}

/// Where emitted chunks go: kept (to tell at the end whether the output was
/// shown already), and printed at once when `print` (plain output), escaped
/// on a terminal like every plugin-controlled text.
fn stream_sink(
    streamed: Arc<std::sync::Mutex<Streamed>>,
    print: bool,
) -> clusterai_runtime::StreamSink {
    let on_terminal = Stream::Stdout.is_terminal();
    Arc::new(move |chunk: &[u8]| {
        let mut s = streamed.lock().unwrap_or_else(|e| e.into_inner());
        s.chunks += 1;
        s.bytes.extend_from_slice(chunk);
        if print {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe ends the printing, not the task.
            let _ = if on_terminal {
                stdout.write_all(escape(&String::from_utf8_lossy(chunk)).as_bytes())
            } else {
                stdout.write_all(chunk)
            };
            let _ = stdout.flush();
        }
    })
}

fn fail_load(path: &Path, e: &LoadError, json: bool) -> ExitCode {
    if json {
        let value = serde_json::json!({ "error": { "kind": "load", "message": e.to_string() } });
        println!("{value}");
    } else {
        eprintln!(
            "error: cannot load plugin {}: {}",
            path.display(),
            on_stderr(&e.to_string())
        );
    }
    ExitCode::from(exit::PLUGIN_INVALID)
}

fn plugin_json(plugin: &clusterai_runtime::Plugin) -> serde_json::Value {
    serde_json::json!({
        "hash": plugin.hash(),
        "name": plugin.info().name,
        "version": plugin.info().version,
        "cache": plugin.cache_outcome(),
    })
}

fn print_result(
    plugin: &clusterai_runtime::Plugin,
    result: &TaskResult,
    streamed: &Streamed,
    json: bool,
) -> anyhow::Result<()> {
    for line in &result.logs {
        if line.level >= LogLevel::Warn {
            eprintln!("plugin {:?}: {}", line.level, on_stderr(&line.message));
        } else {
            tracing::info!(level = ?line.level, "plugin: {}", escape(&line.message));
        }
    }
    if !json {
        let mut stdout = std::io::stdout().lock();
        if streamed.chunks > 0 && streamed.bytes == result.output.data {
            // Shown already, as it came; end the line on a terminal.
            if Stream::Stdout.is_terminal() && !streamed.bytes.ends_with(b"\n") {
                stdout.write_all(b"\n")?;
            }
        } else if Stream::Stdout.is_terminal() {
            // On a terminal the output is shown as text, never acted on.
            let text = String::from_utf8_lossy(&result.output.data);
            stdout.write_all(escape(&text).as_bytes())?;
        } else {
            stdout.write_all(&result.output.data)?;
        }
        stdout.flush()?;
        return Ok(());
    }
    let data = &result.output.data;
    let mut output = serde_json::json!({
        "content_type": result.output.content_type,
        "size": data.len(),
    });
    if result.output.content_type.starts_with("application/json")
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
    {
        output["json"] = value;
    } else if let Ok(text) = std::str::from_utf8(data) {
        output["text"] = text.into();
    } else {
        output["base64"] = base64::engine::general_purpose::STANDARD
            .encode(data)
            .into();
    }
    let value = serde_json::json!({
        "plugin": plugin_json(plugin),
        "output": output,
        "usage": result.usage,
        "logs": result.logs,
        "logs_dropped": result.logs_dropped,
        "stdout": String::from_utf8_lossy(&result.stdout),
        "stderr": String::from_utf8_lossy(&result.stderr),
        "inferences": clusterai_node::capabilities::inferences(&result.extensions),
        "streamed": { "chunks": streamed.chunks, "bytes": streamed.bytes.len() },
    });
    println!("{value}");
    Ok(())
}

/// A content type from the file name, else from the first bytes.
fn guess_content_type(name: Option<&str>, data: &[u8]) -> &'static str {
    let ext = name
        .and_then(|n| Path::new(n).extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => return "image/png",
        Some("jpg" | "jpeg") => return "image/jpeg",
        Some("json") => return "application/json",
        Some("txt") => return "text/plain",
        _ => {}
    }
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if std::str::from_utf8(data).is_ok() {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

fn inspect(args: InspectArgs, json: bool) -> anyhow::Result<ExitCode> {
    let wasm = read_wasm(&args.plugin)?;
    let runtime = runtime(false, false, nn_for(&wasm, None)?)?;
    let report = clusterai_runtime::inspect(&runtime, &wasm);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        // Every name below comes from the component: shown, never acted on.
        let t = |text: &str| on_stdout(text).into_owned();
        println!("{}", args.plugin.display());
        println!("  hash:    {}", report.hash);
        println!("  size:    {} bytes", report.size);
        println!("  kind:    {:?}", report.kind);
        if let Some(info) = &report.info {
            println!(
                "  plugin:  {} {} — {}",
                t(&info.name),
                t(&info.version),
                t(&info.description)
            );
            println!("  input:   {}", t(&info.input_types.join(", ")));
            println!("  output:  {}", t(&info.output_type));
            for m in &info.models {
                println!("  model:   {} {} ({:?})", t(&m.name), m.hash, m.format);
            }
        }
        println!("  imports:");
        for i in &report.imports {
            let mark = if report.forbidden_imports.contains(i) {
                "  (NOT GRANTED)"
            } else {
                ""
            };
            println!("    {}{mark}", t(i));
        }
        println!("  exports:");
        for e in &report.exports {
            println!("    {}", t(e));
        }
        match &report.error {
            None => println!("  links:   yes"),
            Some(e) => println!("  links:   no: {}", t(e)),
        }
    }
    Ok(if report.would_link {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::PLUGIN_INVALID)
    })
}

/// A path of this repository (for bench data), from the working directory or the executable.
pub(crate) fn repo_path(relative: &str) -> Option<PathBuf> {
    let mut roots = vec![PathBuf::from(".")];
    if let Ok(exe) = std::env::current_exe()
        && let Some(root) = exe.parent().and_then(Path::parent).and_then(Path::parent)
    {
        roots.push(root.to_path_buf());
    }
    roots
        .into_iter()
        .map(|r| r.join(relative))
        .find(|p| p.exists())
}

/// Finds a built example plugin: `$CLUSTERAI_PLUGIN_WASM_DIR`, then the
/// plugins workspace's output under the repository (see [`repo_path`]).
pub(crate) fn example_plugin(name: &str) -> anyhow::Result<Vec<u8>> {
    let file = format!("{name}.wasm");
    let path = match env::plugin_wasm_dir() {
        Some(dir) => Some(dir.join(&file)),
        None => repo_path(&format!("plugins/target/wasm32-wasip2/release/{file}")),
    };
    match path {
        Some(p) => std::fs::read(&p)
            .with_context(|| format!("cannot read the example plugin {}", p.display())),
        None => anyhow::bail!(
            "cannot find the example plugin {file} under plugins/target/wasm32-wasip2/release \
             (from the working directory or the executable's repository); build the plugins with \
             `scripts/build-plugins.sh` or set {}",
            env::PLUGIN_WASM_DIR_VAR
        ),
    }
}
