//! `clusterai model ...`: add a model file to the node's model folder (hash
//! it, check that ONNX Runtime opens it, record its inputs and outputs) and
//! list the models held.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clusterai_types::ContentHash;

use crate::store::ModelStore;
use crate::{ModelInfo, NnHost, NnSettings};

/// `clusterai model <command>`.
#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Hash an ONNX model, show its inputs and outputs, and keep it in the
    /// node's model folder (`<data dir>/models`; data dir: `$CLUSTERAI_DATA_DIR`).
    Add {
        /// The .onnx file.
        file: PathBuf,
    },
    /// List the models in the node's model folder.
    Ls,
}

/// Runs a `model` command; `json` prints machine-readable output.
pub fn run(cmd: ModelCommand, json: bool) -> anyhow::Result<ExitCode> {
    let store = ModelStore::open_default();
    match cmd {
        ModelCommand::Add { file } => {
            let info = add(&store, &file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", describe(&info));
                println!("stored in {}", store.path_of(&info.hash).display());
            }
        }
        ModelCommand::Ls => {
            let models = list(&store)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&models)?);
            } else if models.is_empty() {
                println!("no models in {}", store.dir().display());
            } else {
                for m in &models {
                    match &m.info {
                        Some(info) => print!("{}", describe(info)),
                        None => println!("{}  {} bytes (not inspected)", m.hash, m.size),
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Hashes `file`, opens it with ONNX Runtime (so a corrupt file is refused
/// here, not in a task) and copies it into `store` with its metadata beside it.
pub fn add(store: &ModelStore, file: &Path) -> anyhow::Result<ModelInfo> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let host = NnHost::new(NnSettings::default())?;
    let hash = host
        .add_model_file(file)
        .with_context(|| format!("{} is not a model ONNX Runtime can open", file.display()))?;
    debug_assert_eq!(hash, ContentHash::of(&bytes));
    let info = host
        .model_info(&hash)
        .context("the model vanished from the table")?;
    let (_, path) = store
        .add_bytes(&bytes)
        .with_context(|| format!("storing the model in {}", store.dir().display()))?;
    let meta = path.with_extension("json");
    std::fs::write(&meta, serde_json::to_vec_pretty(&info)?)
        .with_context(|| format!("writing {}", meta.display()))?;
    Ok(info)
}

/// One model of the folder, with its metadata when `model add` recorded it.
#[derive(Debug, serde::Serialize)]
pub struct Listed {
    /// The BLAKE3 hash.
    pub hash: ContentHash,
    /// The file's size.
    pub size: u64,
    /// Inputs, outputs and provider, as recorded at add time.
    pub info: Option<ModelInfo>,
}

/// The models of `store`.
pub fn list(store: &ModelStore) -> anyhow::Result<Vec<Listed>> {
    let mut out = Vec::new();
    for (hash, path) in store.list()? {
        let size = std::fs::metadata(&path)?.len();
        let info = std::fs::read(path.with_extension("json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<ModelInfo>(&b).ok());
        out.push(Listed { hash, size, info });
    }
    Ok(out)
}

/// Resolves a `--model` argument: a 64-hex hash held in `store`, or a file
/// (hashed here). Returns the hash and the file to open.
pub fn resolve_model_arg(store: &ModelStore, arg: &str) -> anyhow::Result<(ContentHash, PathBuf)> {
    if let Ok(hash) = arg.parse::<ContentHash>() {
        let path = store.path_of(&hash);
        anyhow::ensure!(
            path.is_file(),
            "model {hash} is not in {}; add it with `clusterai model add <file.onnx>`",
            store.dir().display()
        );
        return Ok((hash, path));
    }
    let path = PathBuf::from(arg);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("--model {arg}: neither a model hash nor a readable file"))?;
    Ok((ContentHash::of(&bytes), path))
}

fn describe(info: &ModelInfo) -> String {
    let mut s = format!(
        "{}  {} bytes  provider {}\n",
        info.hash, info.size, info.execution_provider
    );
    for (kind, list) in [("input ", &info.inputs), ("output", &info.outputs)] {
        for t in list {
            s.push_str(&format!(
                "  {kind} {:<24} {:<8} {:?}\n",
                t.name, t.dtype, t.shape
            ));
        }
    }
    s
}
