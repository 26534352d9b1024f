//! Plugins and models held by a node: blobs in its store, each with a
//! record of what it is beside it (a named tag pointing at a JSON blob), so
//! a restarted node lists them without opening each one.

use clusterai_nn::{ModelInfo, NnHost};
use clusterai_runtime::{LoadError, Plugin, PluginInfo, Runtime};
use clusterai_store::{BlobStore, StoreError};
use clusterai_types::ContentHash;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The tag prefix of a model's record.
pub const MODEL_TAG: &str = "model/";
/// The tag prefix of a plugin's record.
pub const PLUGIN_TAG: &str = "plugin/";

/// Why a plugin or model was not added.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The bytes are not a plugin this node can load.
    #[error("not a loadable plugin: {0}")]
    Plugin(#[from] LoadError),
    /// The bytes are not a model ONNX Runtime opens.
    #[error("not a model ONNX Runtime can open: {0}")]
    Model(#[from] clusterai_nn::SetupError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record in the store does not parse.
    #[error("the record of {hash} is unreadable: {source}")]
    Record {
        /// The blob.
        hash: ContentHash,
        /// The cause.
        source: serde_json::Error,
    },
}

/// What a node knows of a plugin it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginRecord {
    /// BLAKE3 of the component.
    pub hash: ContentHash,
    /// Its size in bytes.
    pub size: u64,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// One line for people.
    pub description: String,
    /// Input content types it accepts.
    pub input_types: Vec<String>,
    /// Its output content type.
    pub output_type: String,
    /// The models it declares, by hash.
    pub models: Vec<DeclaredModel>,
}

/// A model a plugin declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeclaredModel {
    /// The plugin's name for it.
    pub name: String,
    /// Its hash.
    pub hash: ContentHash,
}

impl PluginRecord {
    /// The record of a loaded plugin.
    pub fn of(plugin: &Plugin, size: u64) -> Self {
        let info: &PluginInfo = plugin.info();
        Self {
            hash: plugin.hash(),
            size,
            name: info.name.clone(),
            version: info.version.clone(),
            description: info.description.clone(),
            input_types: info.input_types.clone(),
            output_type: info.output_type.clone(),
            models: info
                .models
                .iter()
                .map(|m| DeclaredModel {
                    name: m.name.clone(),
                    hash: m.hash,
                })
                .collect(),
        }
    }
}

/// Loads `wasm` in `runtime` (refusing what does not load, before anything
/// is stored), then keeps it in `store` with its record.
pub async fn add_plugin(
    runtime: &Runtime,
    store: &BlobStore,
    wasm: Vec<u8>,
) -> Result<(Plugin, PluginRecord), RegistryError> {
    let size = wasm.len() as u64;
    let plugin = {
        let runtime = runtime.clone();
        let wasm = wasm.clone();
        // Compiling is CPU work: off the async threads.
        tokio::task::spawn_blocking(move || runtime.load(&wasm))
            .await
            .map_err(|e| {
                RegistryError::Store(StoreError::Backend {
                    op: "loading a plugin",
                    source: Box::new(e),
                })
            })??
    };
    let record = PluginRecord::of(&plugin, size);
    store.import_bytes(wasm).await?;
    put_record(store, PLUGIN_TAG, plugin.hash(), &record).await?;
    Ok((plugin, record))
}

/// Opens `bytes` with ONNX Runtime in `nn` (refusing what it cannot open or
/// bound, before anything is stored), then keeps them in `store` with the model's
/// inputs and outputs.
pub async fn add_model(
    nn: &NnHost,
    store: &BlobStore,
    bytes: Vec<u8>,
) -> Result<ModelInfo, RegistryError> {
    let info = {
        let nn = nn.clone();
        let bytes = bytes.clone();
        tokio::task::spawn_blocking(move || {
            let hash = nn.admit_model_bytes(bytes.into())?;
            Ok::<_, clusterai_nn::SetupError>(nn.model_info(&hash))
        })
        .await
        .map_err(|e| {
            RegistryError::Store(StoreError::Backend {
                op: "opening a model",
                source: Box::new(e),
            })
        })??
    }
    .ok_or_else(|| {
        RegistryError::Model(clusterai_nn::SetupError::Session(
            "the model vanished from the table".into(),
        ))
    })?;
    let stored = store.import_bytes(bytes).await?;
    debug_assert_eq!(stored, info.hash);
    put_record(store, MODEL_TAG, info.hash, &info).await?;
    Ok(info)
}

async fn put_record<T: Serialize>(
    store: &BlobStore,
    prefix: &str,
    hash: ContentHash,
    record: &T,
) -> Result<(), RegistryError> {
    let json =
        serde_json::to_vec(record).map_err(|source| RegistryError::Record { hash, source })?;
    let meta = store.import_bytes(json).await?;
    store.set_tag(&format!("{prefix}{hash}"), meta).await?;
    // The upload is answered "stored": make it survive a kill.
    store.sync().await?;
    Ok(())
}

/// Every record under `prefix`, in hash order.
pub async fn records<T: for<'de> Deserialize<'de>>(
    store: &BlobStore,
    prefix: &str,
) -> Result<Vec<T>, RegistryError> {
    let mut out = Vec::new();
    for (name, meta) in store.tags(prefix).await? {
        let hash = name[prefix.len()..].parse::<ContentHash>().unwrap_or(meta);
        let bytes = store.read(meta).await?;
        out.push(
            serde_json::from_slice(&bytes)
                .map_err(|source| RegistryError::Record { hash, source })?,
        );
    }
    Ok(out)
}

/// The record of `hash` under `prefix`, if the store has one.
pub async fn record<T: for<'de> Deserialize<'de>>(
    store: &BlobStore,
    prefix: &str,
    hash: ContentHash,
) -> Result<Option<T>, RegistryError> {
    let name = format!("{prefix}{hash}");
    let Some((_, meta)) = store
        .tags(&name)
        .await?
        .into_iter()
        .find(|(n, _)| *n == name)
    else {
        return Ok(None);
    };
    let bytes = store.read(meta).await?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| RegistryError::Record { hash, source })
}
