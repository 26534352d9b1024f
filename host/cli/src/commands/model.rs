//! `clusterai model add|ls`: models live in the node's blob store, like
//! every other blob; `add` checks that ONNX Runtime opens the file first and
//! records its inputs and outputs beside it (a `model/<hash>` tag naming a
//! JSON blob).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clusterai_nn::{ModelInfo, NnHost, NnSettings};
use clusterai_store::{BlobStore, StoreConfig};
use clusterai_types::{ContentHash, env};

/// The tag prefix under which a model's metadata is recorded.
pub(crate) const MODEL_TAG_PREFIX: &str = "model/";

/// `clusterai model <command>`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ModelCommand {
    /// Check that ONNX Runtime opens a model, show its inputs and outputs,
    /// and keep it in the node's blob store under its BLAKE3 hash.
    Add {
        /// The .onnx file (or, with --blob, any file that comes with a model).
        file: PathBuf,
        /// Keep a file that comes with a model (a tokenizer, a vocabulary)
        /// without opening it in ONNX Runtime: plugins that declare it read
        /// it by hash.
        #[arg(long)]
        blob: bool,
        /// The node's data directory (default: the data dir of `clusterai env`).
        #[arg(long, env = env::DATA_DIR_VAR, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// List the models in the node's blob store.
    Ls {
        /// The node's data directory (default: the data dir of `clusterai env`).
        #[arg(long, env = env::DATA_DIR_VAR, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

/// Runs a `model` command; `json` prints machine-readable output.
pub(crate) fn run(cmd: ModelCommand, json: bool) -> anyhow::Result<ExitCode> {
    let rt = super::async_runtime()?;
    match cmd {
        ModelCommand::Add {
            file,
            blob: true,
            data_dir,
        } => {
            let blobs = env::blobs_dir(&data_dir.unwrap_or_else(env::data_dir));
            let (hash, size) = rt.block_on(add_blob(&blobs, &file))?;
            if json {
                println!("{}", serde_json::json!({ "hash": hash, "size": size }));
            } else {
                println!("{hash}  {size} bytes  blob\nstored in {}", blobs.display());
            }
        }
        ModelCommand::Add {
            file,
            blob: false,
            data_dir,
        } => {
            let blobs = env::blobs_dir(&data_dir.unwrap_or_else(env::data_dir));
            let info = rt.block_on(add(&blobs, &file))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", describe(&info));
                println!("stored in {}", blobs.display());
            }
        }
        ModelCommand::Ls { data_dir } => {
            let blobs = env::blobs_dir(&data_dir.unwrap_or_else(env::data_dir));
            let models = rt.block_on(list(&blobs))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&models)?);
            } else if models.is_empty() {
                println!("no models in {}", blobs.display());
            } else {
                for m in &models {
                    print!("{}", describe(m));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens `file` with ONNX Runtime (a file it refuses is refused here, not in
/// a task), then imports and pins it in the blob store at `blobs` with its
/// metadata beside it.
pub(crate) async fn add(blobs: &Path, file: &Path) -> anyhow::Result<ModelInfo> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let host = NnHost::new(NnSettings::default())?;
    let hash = host
        .add_model_bytes(bytes.clone().into())
        .with_context(|| format!("{} is not a model ONNX Runtime can open", file.display()))?;
    let info = host
        .model_info(&hash)
        .context("the model vanished from the table")?;
    let store = BlobStore::open(blobs, StoreConfig::default()).await?;
    let result = async {
        let stored = store.import_bytes(bytes).await?;
        anyhow::ensure!(
            stored == hash,
            "the store hashed the model to {stored}, expected {hash}"
        );
        let meta = store.import_bytes(serde_json::to_vec(&info)?).await?;
        store
            .set_tag(&format!("{MODEL_TAG_PREFIX}{hash}"), meta)
            .await?;
        Ok(())
    }
    .await;
    store.shutdown().await?;
    result.map(|()| info)
}

/// Imports and pins `file` in the blob store at `blobs` as it is; returns its
/// hash and size.
pub(crate) async fn add_blob(blobs: &Path, file: &Path) -> anyhow::Result<(ContentHash, u64)> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let size = bytes.len() as u64;
    let store = BlobStore::open(blobs, StoreConfig::default()).await?;
    let result = store.import_bytes(bytes).await;
    store.shutdown().await?;
    Ok((result?, size))
}

/// The models recorded in the blob store at `blobs`.
pub(crate) async fn list(blobs: &Path) -> anyhow::Result<Vec<ModelInfo>> {
    if !blobs.exists() {
        return Ok(Vec::new());
    }
    let store = BlobStore::open(blobs, StoreConfig::default()).await?;
    let result = async {
        let mut out = Vec::new();
        for (name, meta) in store.tags(MODEL_TAG_PREFIX).await? {
            let model: ContentHash = name[MODEL_TAG_PREFIX.len()..]
                .parse()
                .with_context(|| format!("tag {name:?} does not name a model hash"))?;
            let info: ModelInfo = serde_json::from_slice(&store.read(meta).await?)
                .with_context(|| format!("the metadata of model {model} is not readable"))?;
            out.push(info);
        }
        anyhow::Ok(out)
    }
    .await;
    store.shutdown().await?;
    result
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
