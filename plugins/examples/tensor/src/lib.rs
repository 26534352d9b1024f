//! Runs any model the host holds: named tensors in, named tensors out.
//!
//! Parameters:
//! - `model` (required): the BLAKE3 hash (64 hex) of the model;
//! - `output` (optional): `json` or `binary`; default: the input's form.
//!
//! Input: JSON (`application/json`) or the compact binary form
//! (`application/x-clusterai-tensors`); see [`codec`] for both.

pub mod codec;

use clusterai_plugin_sdk::nn::{Model, Tensor, TensorType};
use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError};

use codec::{BINARY_TYPE, DType, JSON_TYPE, NamedTensor};

/// The plugin.
pub struct TensorPlugin;

fn to_sdk(d: DType) -> TensorType {
    match d {
        DType::F16 => TensorType::F16,
        DType::F32 => TensorType::F32,
        DType::F64 => TensorType::F64,
        DType::Bf16 => TensorType::Bf16,
        DType::U8 => TensorType::U8,
        DType::I32 => TensorType::I32,
        DType::I64 => TensorType::I64,
    }
}

fn from_sdk(t: TensorType) -> DType {
    match t {
        TensorType::F16 => DType::F16,
        TensorType::F32 => DType::F32,
        TensorType::F64 => DType::F64,
        TensorType::Bf16 => DType::Bf16,
        TensorType::U8 => DType::U8,
        TensorType::I32 => DType::I32,
        TensorType::I64 => DType::I64,
    }
}

fn is_binary(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(BINARY_TYPE))
}

impl Plugin for TensorPlugin {
    fn describe() -> PluginInfo {
        PluginInfo::new("tensor", env!("CARGO_PKG_VERSION"))
            .description(
                "Runs any model the host holds (param model=<blake3>): named tensors in, named tensors out",
            )
            .accepts(JSON_TYPE)
            .accepts(BINARY_TYPE)
            .produces(JSON_TYPE)
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        input.reject_unknown_params(&["model", "output"])?;
        let model = input
            .param("model")
            .ok_or_else(|| {
                TaskError::InvalidParam(
                    "model: the BLAKE3 hash of the model to run is required".into(),
                )
            })?
            .to_string();
        let binary_in = is_binary(input.content_type());
        let binary_out = match input.param("output") {
            None => binary_in,
            Some("json") => false,
            Some("binary") => true,
            Some(other) => {
                return Err(TaskError::InvalidParam(format!(
                    "output: {other:?} is neither \"json\" nor \"binary\""
                )));
            }
        };
        let tensors = if binary_in {
            codec::decode_binary(input.data())
        } else {
            codec::decode_json(input.data())
        }
        .map_err(TaskError::InvalidInput)?;

        let mut inputs = Vec::with_capacity(tensors.len());
        for t in tensors {
            let tensor = Tensor::from_bytes(&t.shape, to_sdk(t.dtype), t.data)
                .map_err(|e| TaskError::InvalidInput(e.to_string()))?;
            inputs.push((t.name, tensor));
        }
        let session = Model::open(&model)?.session()?;
        let outputs = session.compute(inputs)?;
        let names: Vec<String> = outputs.names().map(str::to_string).collect();
        let mut result = Vec::with_capacity(names.len());
        for name in names {
            let t = outputs.get(&name)?;
            result.push(NamedTensor {
                dtype: from_sdk(t.ty()),
                shape: t.dims(),
                data: t.bytes().into(),
                name,
            });
        }
        Ok(if binary_out {
            Output::bytes(BINARY_TYPE, codec::encode_binary(&result))
        } else {
            Output::bytes(JSON_TYPE, codec::encode_json(&result))
        })
    }
}

#[cfg(target_arch = "wasm32")]
clusterai_plugin_sdk::export_plugin!(TensorPlugin);
