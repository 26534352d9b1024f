//! Input limits: the largest inputs a model is run on, declared with the
//! model, checked before ONNX Runtime sees an input.
//!
//! A model's cost follows its input shapes: a detector's convolutions grow
//! with the image, attention with the square of the sequence. ONNX Runtime
//! checks for termination only between operators, so a deadline alone lets
//! one huge operator run on, and nothing bounds the memory it takes. With
//! every dynamic dimension bounded, one compute's time, its longest operator
//! and its working memory are bounded too; the figures measured at the
//! pinned models' limits are in the crate's documentation.
//!
//! A model whose limits are not declared cannot be bounded this way (its
//! cost may even follow the *values* of an input: a shape tensor). The host
//! opens such a model from its store or from a guest's bytes only when its
//! settings allow it; a model a host caller adds directly is the caller's
//! choice and runs unbounded.

use std::collections::{BTreeMap, HashMap};

use clusterai_types::ContentHash;
use clusterai_types::models::{ALL, ModelKind};
use serde::{Deserialize, Serialize};

use crate::error::NnError;
use crate::model::TensorInfo;
use crate::wit::ErrorCode;

/// The largest dimensions of each input of one model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InputLimits {
    max_dims: BTreeMap<String, Vec<u32>>,
}

impl InputLimits {
    /// No limits yet; add them with [`InputLimits::with`].
    pub fn new() -> Self {
        Self::default()
    }

    /// These limits, with input `name` at most `max_dims`.
    pub fn with(mut self, name: impl Into<String>, max_dims: Vec<u32>) -> Self {
        self.max_dims.insert(name.into(), max_dims);
        self
    }

    /// The largest dimensions of input `name`, if declared.
    pub fn max_dims(&self, name: &str) -> Option<&[u32]> {
        self.max_dims.get(name).map(Vec::as_slice)
    }

    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.max_dims.is_empty()
    }

    /// Checks the declaration against the model's inputs: every input with
    /// a dynamic dimension has a limit of its rank, every limit names an
    /// input, and no limit contradicts a fixed dimension.
    pub(crate) fn validate(&self, inputs: &[TensorInfo]) -> Result<(), String> {
        for name in self.max_dims.keys() {
            if !inputs.iter().any(|i| i.name == *name) {
                return Err(format!(
                    "a limit names input {name:?}, which the model lacks"
                ));
            }
        }
        for input in inputs {
            let dynamic = input.shape.iter().any(|&d| d < 0);
            match self.max_dims(&input.name) {
                None if dynamic => {
                    return Err(format!(
                        "input {:?} has dynamic dimensions {:?} and no declared limit",
                        input.name, input.shape
                    ));
                }
                None => {}
                Some(max) if max.len() != input.shape.len() => {
                    return Err(format!(
                        "the limit {max:?} of input {:?} has rank {}, the input has shape {:?}",
                        input.name,
                        max.len(),
                        input.shape
                    ));
                }
                Some(max) => {
                    if let Some((axis, (&fixed, &m))) = input
                        .shape
                        .iter()
                        .zip(max)
                        .enumerate()
                        .find(|(_, (fixed, m))| **fixed >= 0 && **fixed != i64::from(**m))
                    {
                        return Err(format!(
                            "the limit {max:?} of input {:?} gives axis {axis} as {m}, but the \
                             model fixes it at {fixed}",
                            input.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Refuses `dims` for input `name` of model `hash` when an axis is over
    /// its declared limit.
    pub(crate) fn check(
        &self,
        hash: &ContentHash,
        name: &str,
        dims: &[u32],
    ) -> Result<(), NnError> {
        let Some(max) = self.max_dims(name) else {
            return Ok(());
        };
        if let Some((axis, (&got, &limit))) = dims
            .iter()
            .zip(max)
            .enumerate()
            .find(|(_, (got, limit))| got > limit)
        {
            return Err(NnError::new(
                ErrorCode::TooLarge,
                format!(
                    "input {name:?} of model {hash}: dimensions {dims:?} are over the model's \
                     declared limit {max:?} (axis {axis} is {got}, at most {limit}); the limit \
                     bounds one compute's time and memory"
                ),
            ));
        }
        Ok(())
    }
}

/// The limits the manifest declares for every pinned ONNX model, by hash.
pub fn pinned() -> HashMap<ContentHash, InputLimits> {
    ALL.iter()
        .filter(|m| m.kind == ModelKind::Onnx)
        .map(|m| {
            let limits = m.input_limits.iter().fold(InputLimits::new(), |l, i| {
                l.with(i.name, i.max_dims.to_vec())
            });
            (m.blake3, limits)
        })
        .collect()
}

/// How a model in the table is bounded.
#[derive(Debug, Clone)]
pub(crate) enum Bounds {
    /// By its declared limits.
    Declared(InputLimits),
    /// Not at all: a host caller added it, or the settings allow models
    /// without declared limits.
    Unbounded,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, shape: &[i64]) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            dtype: "f32".into(),
            shape: shape.to_vec(),
            ort_type: None,
        }
    }

    #[test]
    fn a_declaration_must_cover_every_dynamic_input_at_its_rank() {
        let inputs = [input("x", &[-1, 3, -1]), input("h", &[1, 8])];
        let ok = InputLimits::new().with("x", vec![4, 3, 100]);
        assert_eq!(ok.validate(&inputs), Ok(()));
        let missing = InputLimits::new();
        assert!(missing.validate(&inputs).unwrap_err().contains("\"x\""));
        let rank = InputLimits::new().with("x", vec![4, 3]);
        assert!(rank.validate(&inputs).unwrap_err().contains("rank 2"));
        let fixed = InputLimits::new().with("x", vec![4, 5, 100]);
        assert!(
            fixed
                .validate(&inputs)
                .unwrap_err()
                .contains("fixes it at 3")
        );
        let unknown = ok.clone().with("y", vec![1]);
        assert!(unknown.validate(&inputs).unwrap_err().contains("\"y\""));
    }

    #[test]
    fn dimensions_over_a_limit_are_refused_at_the_boundary() {
        let limits = InputLimits::new().with("x", vec![4, 3, 100]);
        let hash = ContentHash::of(b"m");
        assert!(limits.check(&hash, "x", &[4, 3, 100]).is_ok());
        let e = limits.check(&hash, "x", &[4, 3, 101]).unwrap_err();
        assert_eq!(e.code, ErrorCode::TooLarge);
        assert!(e.message.contains("axis 2 is 101, at most 100"), "{e}");
    }

    #[test]
    fn every_pinned_model_declares_limits() {
        let pinned = pinned();
        for m in ALL.iter().filter(|m| m.kind == ModelKind::Onnx) {
            assert!(!pinned[&m.blake3].is_empty(), "{}", m.name);
        }
    }
}
