//! The `llm` suite: SmolLM2-135M generating through the `chat` plugin (the
//! sandbox, wasi-nn, the KV cache kept in the host, tokens streamed) against
//! the same ONNX graph driven natively from Rust on a session with the same
//! settings and threads.
//!
//! Figures (`BenchResult` names), for prompts of 16 and 256 tokens (`:p16`,
//! `:p256`), medians over the runs:
//! - `time_to_first_token` (ms): from the task's start to its first streamed
//!   token (the plugin's instance, its tokenizer, the prompt's prefill);
//!   baseline `native_ort`: the prefill and the first token's choice.
//! - `tokens_per_s`: generated tokens after the first, per second of
//!   decoding; baseline `native_ort`.
//! - `llama_cpp_tokens_per_s` (when a llama.cpp measure is given): llama.cpp
//!   on the same GGUF (2 threads), against the plugin's tokens/s at p16.
//!
//! The prompt is the word "the" n times ("the the the ..."): exactly n tokens
//! for both paths. Greedy decoding, a fixed number of new tokens.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clusterai_nn::NnHost;
use clusterai_runtime::{Plugin, StreamSink, TaskInput, TaskPolicy};
use ort::session::{Session, SessionInputValue};
use ort::value::{DynTensor, DynValue, Shape, TensorElementType};

use crate::report::{BenchReport, BenchResult};

/// The graph's KV cache: layers, heads, head size (SmolLM2-135M).
const LAYERS: usize = 30;
const KV_HEADS: i64 = 3;
const HEAD_DIM: i64 = 64;

/// What to measure.
#[derive(Debug, Clone)]
pub struct LlmOptions {
    /// Prompt lengths in tokens.
    pub prompt_lengths: Vec<usize>,
    /// Tokens generated per run.
    pub new_tokens: usize,
    /// Runs per prompt length and path (the median is reported).
    pub runs: usize,
    /// llama.cpp's decoding speed on the same GGUF, when it was measured.
    pub llama_cpp_tokens_per_s: Option<f64>,
}

impl Default for LlmOptions {
    fn default() -> Self {
        Self {
            prompt_lengths: vec![16, 256],
            new_tokens: 128,
            runs: 5,
            llama_cpp_tokens_per_s: None,
        }
    }
}

/// The ids of "the" and " the" in the tokenizer blob (the chat plugin's
/// format: `CLTK`, version, vocabulary size, BOS, EOS, context, control
/// tokens, then the token byte offsets and bytes).
pub fn the_ids(tokenizer_blob: &[u8]) -> anyhow::Result<(i64, i64)> {
    let word = |i: usize| -> anyhow::Result<u32> {
        let b = tokenizer_blob
            .get(4 * i..4 * i + 4)
            .context("the tokenizer blob is truncated")?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    anyhow::ensure!(tokenizer_blob.starts_with(b"CLTK"), "not a tokenizer blob");
    let size = word(2)? as usize;
    let specials = word(6)? as usize;
    let offsets_at = 7 + specials;
    let bytes_at = 4 * (offsets_at + size + 2);
    let token = |id: usize| -> anyhow::Result<&[u8]> {
        let (a, b) = (
            word(offsets_at + id)? as usize,
            word(offsets_at + id + 1)? as usize,
        );
        tokenizer_blob
            .get(bytes_at + a..bytes_at + b)
            .context("the tokenizer blob is truncated")
    };
    let find = |t: &[u8]| -> anyhow::Result<i64> {
        for id in 0..size {
            if token(id)? == t {
                return Ok(id as i64);
            }
        }
        anyhow::bail!(
            "the tokenizer has no token {:?}",
            String::from_utf8_lossy(t)
        )
    };
    Ok((find(b"the")?, find(b" the")?))
}

/// The prompt of `n` tokens: "the the ... the".
pub fn prompt_text(n: usize) -> String {
    let mut s = String::from("the");
    for _ in 1..n {
        s.push_str(" the");
    }
    s
}

/// One generation's timings.
#[derive(Debug, Clone, Copy)]
struct Timing {
    first_token: Duration,
    tokens_per_s: f64,
}

/// One run through the plugin: streamed chunks are timed as they come.
fn plugin_run(plugin: &Plugin, prompt: usize, new_tokens: usize) -> anyhow::Result<Timing> {
    let times = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let seen = times.clone();
    let sink: StreamSink = Arc::new(move |_: &[u8]| {
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Instant::now())
    });
    let input = TaskInput::text(&prompt_text(prompt))
        .param("max_tokens", new_tokens.to_string())
        .param("temperature", "0");
    let policy = TaskPolicy {
        timeout: Duration::from_secs(600),
        fuel: u64::MAX / 2,
        ..TaskPolicy::default()
    };
    let started = Instant::now();
    let result = plugin.run_streaming(&input, Some(&policy), Some(sink))?;
    let log = result
        .logs
        .iter()
        .find_map(|l| l.message.strip_prefix("prompt "))
        .context("the chat plugin logged no token counts")?;
    let counts: Vec<usize> = log
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    anyhow::ensure!(
        counts.first() == Some(&prompt),
        "the prompt was {counts:?} tokens, expected {prompt}"
    );
    let generated = counts.get(1).copied().unwrap_or(0);
    let times = times.lock().unwrap_or_else(|e| e.into_inner());
    let (first, last) = match (times.first(), times.last()) {
        (Some(f), Some(l)) if generated > 1 => (*f, *l),
        _ => anyhow::bail!("the plugin streamed {} chunks", times.len()),
    };
    Ok(Timing {
        first_token: first - started,
        tokens_per_s: (generated - 1) as f64 / (last - first).as_secs_f64(),
    })
}

fn empty_past() -> anyhow::Result<Vec<(String, DynValue)>> {
    let mut out = Vec::with_capacity(2 * LAYERS);
    for i in 0..LAYERS {
        for kind in ["key", "value"] {
            let t = DynTensor::new(
                &ort::memory::Allocator::default(),
                TensorElementType::Float32,
                Shape::new([1, KV_HEADS, 0, HEAD_DIM]),
            )?;
            out.push((format!("past_{kind}.{i}"), t.into_dyn()));
        }
    }
    Ok(out)
}

fn ids_tensor(ids: &[i64]) -> anyhow::Result<DynValue> {
    let t = ort::value::Tensor::from_array(([1usize, ids.len()], ids.to_vec()))?;
    Ok(t.into_dyn())
}

fn argmax(logits: &[f32]) -> i64 {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best as i64
}

/// One step natively: logits' argmax and the new cache.
fn native_step(
    session: &mut Session,
    ids: &[i64],
    past: Vec<(String, DynValue)>,
) -> anyhow::Result<(i64, Vec<(String, DynValue)>)> {
    let mut inputs: Vec<(std::borrow::Cow<'_, str>, SessionInputValue<'_>)> =
        Vec::with_capacity(1 + past.len());
    inputs.push(("input_ids".into(), ids_tensor(ids)?.into()));
    for (name, value) in past {
        inputs.push((name.into(), value.into()));
    }
    let mut out = session.run(inputs)?;
    let (_, logits) = out
        .get("logits")
        .context("no logits")?
        .try_extract_tensor::<f32>()?;
    let next = argmax(logits);
    let mut cache = Vec::with_capacity(2 * LAYERS);
    for i in 0..LAYERS {
        for kind in ["key", "value"] {
            let v = out
                .remove(format!("present_{kind}.{i}"))
                .with_context(|| format!("no present_{kind}.{i}"))?;
            cache.push((format!("past_{kind}.{i}"), v));
        }
    }
    Ok((next, cache))
}

/// One run natively, the same steps the plugin takes.
fn native_run(
    session: &mut Session,
    the: (i64, i64),
    prompt: usize,
    new_tokens: usize,
) -> anyhow::Result<Timing> {
    let mut ids = vec![the.1; prompt];
    ids[0] = the.0;
    let started = Instant::now();
    let (mut next, mut cache) = native_step(session, &ids, empty_past()?)?;
    let first = Instant::now();
    for _ in 1..new_tokens {
        let (n, c) = native_step(session, &[next], cache)?;
        next = n;
        cache = c;
    }
    Ok(Timing {
        first_token: first - started,
        tokens_per_s: (new_tokens - 1) as f64 / first.elapsed().as_secs_f64(),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the suite: `plugin` is the loaded chat plugin (its runtime serving
/// the model and tokenizer through `nn` and its assets), `model` the graph's
/// bytes, `tokenizer` the tokenizer blob.
pub fn run(
    opts: &LlmOptions,
    nn: &NnHost,
    plugin: &Plugin,
    model: &[u8],
    tokenizer: &[u8],
) -> anyhow::Result<BenchReport> {
    anyhow::ensure!(opts.runs > 0 && opts.new_tokens > 1, "runs and new tokens");
    let the = the_ids(tokenizer)?;
    let mut session = nn.native_session(model)?;
    let mut results = Vec::new();
    let mut plugin_tps_p16 = None;
    for &p in &opts.prompt_lengths {
        // One unmeasured run each: compile caches, first allocations.
        plugin_run(plugin, p, 4)?;
        native_run(&mut session, the, p, 4)?;
        let mut ours = Vec::new();
        let mut native = Vec::new();
        for _ in 0..opts.runs {
            ours.push(plugin_run(plugin, p, opts.new_tokens)?);
            native.push(native_run(&mut session, the, p, opts.new_tokens)?);
        }
        let ms = |t: &[Timing]| {
            median(
                t.iter()
                    .map(|t| t.first_token.as_secs_f64() * 1e3)
                    .collect(),
            )
        };
        let tps = |t: &[Timing]| median(t.iter().map(|t| t.tokens_per_s).collect());
        results.push(BenchResult::new(
            format!("time_to_first_token:p{p}"),
            "ms",
            ms(&ours),
            "native_ort",
            ms(&native),
        ));
        results.push(BenchResult::new(
            format!("tokens_per_s:p{p}"),
            "tokens/s",
            tps(&ours),
            "native_ort",
            tps(&native),
        ));
        if p == 16 {
            plugin_tps_p16 = Some(tps(&ours));
        }
    }
    if let (Some(llama), Some(ours)) = (opts.llama_cpp_tokens_per_s, plugin_tps_p16) {
        results.push(BenchResult::new(
            "llama_cpp_tokens_per_s",
            "tokens/s",
            llama,
            "plugin_tokens_per_s:p16",
            ours,
        ));
    }
    let mut report = BenchReport::new("llm");
    report.results = results;
    Ok(report)
}
