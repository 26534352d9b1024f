//! Text generation in the sandbox: SmolLM2-135M-Instruct through `wasi:nn`,
//! its tokenizer and chat template read from the blob that comes with the
//! model, tokens streamed as they are generated.
//!
//! Input: `text/plain` (a prompt to continue, less one final line break, the
//! one a shell's `echo` or here-string adds; with `chat=true`, one user
//! message) or `application/json` (`{"messages": [{"role", "content"}...]}`
//! rendered with the model's chat template, or `{"prompt": "..."}`).
//! Output: the generated text (`text/plain`), which is also what was
//! streamed.
//!
//! Parameters: `max_tokens` (default 128), `temperature` (default 0:
//! greedy), `top_p` (default 1), `seed` (default 0; the same seed gives the
//! same text, so replicated nodes agree), `stop` (repeatable: generation ends
//! before the first occurrence), `chat` (default false).
//!
//! The KV cache stays in the host: each step passes the previous step's
//! `present_*` outputs back as `past_*` inputs by handle. What crosses the
//! boundary per generated token is its id (8 bytes) in and, out, the graph's
//! `argmax` (8 bytes) when decoding greedily or the logits (4 bytes ×
//! vocabulary) when sampling.

pub mod sampling;
pub mod tokenizer;

use clusterai_plugin_sdk::nn::{Feed, Model, Outputs, Tensor, TensorType};
use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, assets, log, stream};
use serde::Deserialize;

use crate::sampling::{Sampler, SamplingParams};
use crate::tokenizer::{Blob, Tokenizer, Utf8Stream};

/// The decoder graph (pinned in the model manifest).
pub const MODEL_HASH: &str = clusterai_plugin_sdk::models::SMOLLM2_135M;
/// Its tokenizer and chat template.
pub const TOKENIZER_HASH: &str = clusterai_plugin_sdk::models::SMOLLM2_TOKENIZER;

/// The graph's shape: layers, KV heads, head size.
const LAYERS: usize = 30;
const KV_HEADS: u32 = 3;
const HEAD_DIM: u32 = 64;

/// Bounds on what a task may ask for.
const MAX_INPUT_BYTES: usize = 256 << 10;
const MAX_STOPS: usize = 8;
const MAX_STOP_BYTES: usize = 64;
const MAX_MESSAGES: usize = 256;

/// The parameters this plugin takes.
pub const PARAMS: &[&str] = &["max_tokens", "temperature", "top_p", "seed", "stop", "chat"];

/// What a task asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Sampling.
    pub sampling: SamplingParams,
    /// Generation ends before the first of these.
    pub stops: Vec<String>,
    /// Treat a text prompt as one user message.
    pub chat: bool,
}

impl Params {
    /// Reads and checks the task's parameters.
    pub fn from_input(input: &Input) -> Result<Self, TaskError> {
        input.reject_unknown_params(PARAMS)?;
        let max_tokens: usize = input.param_or("max_tokens", 128)?;
        let temperature: f32 = input.param_or("temperature", 0.0)?;
        let top_p: f32 = input.param_or("top_p", 1.0)?;
        let seed: u64 = input.param_or("seed", 0)?;
        let chat: bool = input.param_or("chat", false)?;
        if max_tokens == 0 {
            return Err(TaskError::InvalidParam(
                "max_tokens must be at least 1".into(),
            ));
        }
        if !(0.0..=10.0).contains(&temperature) {
            return Err(TaskError::InvalidParam(format!(
                "temperature={temperature} is outside 0..=10"
            )));
        }
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(TaskError::InvalidParam(format!(
                "top_p={top_p} is outside (0, 1]"
            )));
        }
        let stops: Vec<String> = input
            .params()
            .iter()
            .filter(|(k, _)| k == "stop")
            .map(|(_, v)| v.clone())
            .collect();
        if stops.len() > MAX_STOPS {
            return Err(TaskError::InvalidParam(format!(
                "{} stop sequences; at most {MAX_STOPS}",
                stops.len()
            )));
        }
        if let Some(s) = stops
            .iter()
            .find(|s| s.is_empty() || s.len() > MAX_STOP_BYTES)
        {
            return Err(TaskError::InvalidParam(format!(
                "a stop sequence of {} bytes; each must have 1 to {MAX_STOP_BYTES}",
                s.len()
            )));
        }
        Ok(Self {
            max_tokens,
            sampling: SamplingParams {
                temperature,
                top_p,
                seed,
            },
            stops,
            chat,
        })
    }
}

/// A tokenizer with its chat template and the model's context.
#[derive(Debug)]
pub struct Vocabulary {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// Jinja template of a chat.
    pub chat_template: String,
    /// Most tokens (prompt and generated) the graph serves.
    pub context: usize,
}

impl Vocabulary {
    /// Reads the tokenizer blob that comes with the model.
    pub fn from_blob(bytes: &[u8]) -> Result<Self, String> {
        let blob = Blob::parse(bytes)?;
        Ok(Self {
            tokenizer: blob.tokenizer,
            chat_template: blob.chat_template,
            context: blob.context,
        })
    }

    /// Renders chat messages with the template, ready for the assistant's turn.
    pub fn render_chat(&self, messages: &[Message]) -> Result<String, String> {
        let mut env = minijinja::Environment::new();
        env.add_template("chat", &self.chat_template)
            .map_err(|e| format!("the chat template does not parse: {e}"))?;
        let template = env
            .get_template("chat")
            .map_err(|e| format!("the chat template: {e}"))?;
        template
            .render(minijinja::context! { messages => messages, add_generation_prompt => true })
            .map_err(|e| format!("the chat template cannot render these messages: {e}"))
    }
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonInput {
    messages: Option<Vec<Message>>,
    prompt: Option<String>,
}

/// The prompt text of a task.
pub fn prompt_text(
    input: &Input,
    params: &Params,
    vocab: &Vocabulary,
) -> Result<String, TaskError> {
    if input.data().len() > MAX_INPUT_BYTES {
        return Err(TaskError::InvalidInput(format!(
            "the input is {} bytes; at most {MAX_INPUT_BYTES}",
            input.data().len()
        )));
    }
    let messages = match input.content_type() {
        "application/json" => {
            let body: JsonInput = serde_json::from_slice(input.data())
                .map_err(|e| TaskError::InvalidInput(format!("the input is not chat JSON: {e}")))?;
            match (body.messages, body.prompt) {
                (Some(m), None) => m,
                (None, Some(p)) => return Ok(p),
                _ => {
                    return Err(TaskError::InvalidInput(
                        "the JSON input needs exactly one of \"messages\" and \"prompt\"".into(),
                    ));
                }
            }
        }
        _ => {
            let text = input.text()?;
            if !params.chat {
                let text = text
                    .strip_suffix("\r\n")
                    .or_else(|| text.strip_suffix('\n'))
                    .unwrap_or(text);
                return Ok(text.to_string());
            }
            vec![Message {
                role: "user".into(),
                content: text.to_string(),
            }]
        }
    };
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        return Err(TaskError::InvalidInput(format!(
            "{} messages; a chat has 1 to {MAX_MESSAGES}",
            messages.len()
        )));
    }
    if let Some(m) = messages
        .iter()
        .find(|m| !matches!(m.role.as_str(), "system" | "user" | "assistant"))
    {
        return Err(TaskError::InvalidInput(format!(
            "message role {:?}; roles are system, user and assistant",
            m.role.chars().take(32).collect::<String>()
        )));
    }
    vocab
        .render_chat(&messages)
        .map_err(TaskError::InvalidInput)
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its text, or a stop sequence came.
    Stop,
    /// `max_tokens` were generated.
    Length,
}

/// Text released as it is generated, held back while it may be the start of
/// a stop sequence, cut before the first whole one.
#[derive(Debug, Default)]
pub struct StopFilter {
    stops: Vec<String>,
    text: String,
    released: usize,
}

impl StopFilter {
    /// Watches for `stops`.
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops,
            ..Self::default()
        }
    }

    /// Adds generated text; returns what may be released now, and whether a
    /// stop sequence ended the text.
    pub fn push(&mut self, more: &str) -> (String, bool) {
        let from = self.released;
        self.text.push_str(more);
        // A stop sequence that ends in the new text starts at most this far back.
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let mut search = from.saturating_sub(longest);
        while !self.text.is_char_boundary(search) {
            search -= 1;
        }
        let hit = self
            .stops
            .iter()
            .filter_map(|s| self.text[search..].find(s.as_str()).map(|at| search + at))
            .min();
        if let Some(at) = hit {
            self.text.truncate(at);
            let out = self.text[from.min(at)..].to_string();
            self.released = self.text.len();
            return (out, true);
        }
        // Keep back the longest tail that starts some stop sequence.
        let mut keep = 0;
        for s in &self.stops {
            for k in (1..s.len()).rev() {
                if k <= self.text.len() - from
                    && self.text.is_char_boundary(self.text.len() - k)
                    && s.is_char_boundary(k)
                    && self.text.ends_with(&s[..k])
                {
                    keep = keep.max(k);
                    break;
                }
            }
        }
        let upto = self.text.len() - keep;
        let out = self.text[from..upto].to_string();
        self.released = upto;
        (out, false)
    }

    /// Releases what was held back (generation ended without a stop).
    pub fn finish(&mut self) -> String {
        let out = self.text[self.released..].to_string();
        self.released = self.text.len();
        out
    }

    /// All the text released.
    pub fn text(&self) -> &str {
        &self.text[..self.released]
    }
}

/// What a step's caller needs from the logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// The greedy choice only: the graph's `argmax` (8 bytes).
    Argmax,
    /// The logits (to sample from).
    Logits,
}

/// What a step gave.
enum Next {
    Token(u32),
    Logits(Vec<f32>),
}

/// One decoding step: the graph on `ids` and the cache; the cache is
/// replaced by the step's presents (handles: they stay in the host).
fn step(
    session: &clusterai_plugin_sdk::nn::Session,
    ids: &[i64],
    cache: &mut Vec<(String, Feed<'static>)>,
    vocab_size: usize,
    need: Need,
) -> Result<Next, TaskError> {
    let mut inputs: Vec<(String, Feed<'static>)> = Vec::with_capacity(1 + 2 * LAYERS);
    inputs.push((
        "input_ids".into(),
        Tensor::from_i64(&[1, ids.len() as u32], ids)?.into(),
    ));
    inputs.append(cache);
    let mut out: Outputs = session.compute_feeds(inputs)?;
    let wrong = |what: String| {
        TaskError::Inference(format!(
            "model {MODEL_HASH}: {what}: not the decoder graph this plugin drives"
        ))
    };
    let next = match need {
        Need::Logits => {
            let logits = out.get("logits")?;
            let dims = logits.dims();
            if dims != [1, vocab_size as u32] {
                return Err(wrong(format!(
                    "logits have dimensions {dims:?}, expected [1, {vocab_size}]"
                )));
            }
            Next::Logits(logits.to_f32()?)
        }
        Need::Argmax => match out.get("argmax")?.to_i64()?.as_slice() {
            [t] if (0..vocab_size as i64).contains(t) => Next::Token(*t as u32),
            other => return Err(wrong(format!("argmax is {other:?}"))),
        },
    };
    for i in 0..LAYERS {
        for kind in ["key", "value"] {
            let held = out
                .take(&format!("present_{kind}.{i}"))
                .map_err(|e| wrong(e.to_string()))?;
            cache.push((format!("past_{kind}.{i}"), held.into()));
        }
    }
    Ok(next)
}

/// An empty cache: every layer's past is [1, heads, 0, head size].
fn empty_cache() -> Result<Vec<(String, Feed<'static>)>, TaskError> {
    let mut cache = Vec::with_capacity(2 * LAYERS);
    for i in 0..LAYERS {
        for kind in ["key", "value"] {
            let t = Tensor::from_bytes(&[1, KV_HEADS, 0, HEAD_DIM], TensorType::F32, Vec::new())?;
            cache.push((format!("past_{kind}.{i}"), t.into()));
        }
    }
    Ok(cache)
}

/// Generates from `prompt` ids, handing text to `emit` as it comes; returns
/// the text, the tokens generated and why it ended.
pub fn generate(
    vocab: &Vocabulary,
    prompt: &[u32],
    params: &Params,
    mut emit: impl FnMut(&str),
) -> Result<(String, usize, Finish), TaskError> {
    let tok = &vocab.tokenizer;
    if prompt.is_empty() {
        return Err(TaskError::InvalidInput("the prompt is empty".into()));
    }
    let room = vocab.context.saturating_sub(prompt.len());
    if room == 0 {
        return Err(TaskError::InvalidInput(format!(
            "the prompt is {} tokens; the model's context is {}",
            prompt.len(),
            vocab.context
        )));
    }
    if params.max_tokens > room {
        return Err(TaskError::InvalidParam(format!(
            "max_tokens={} with a prompt of {} tokens exceeds the model's context of {} (at most {room})",
            params.max_tokens,
            prompt.len(),
            vocab.context
        )));
    }
    let session = Model::open(MODEL_HASH)?.session()?;
    let mut cache = empty_cache()?;
    let mut sampler = Sampler::new(params.sampling);
    let mut utf8 = Utf8Stream::default();
    let mut filter = StopFilter::new(params.stops.clone());
    let ids: Vec<i64> = prompt.iter().map(|&i| i64::from(i)).collect();
    let need = if params.sampling.temperature > 0.0 {
        Need::Logits
    } else {
        Need::Argmax
    };
    let mut stepped = step(&session, &ids, &mut cache, tok.vocab_size(), need)?;
    let mut generated = 0;
    let finish = loop {
        let next = match stepped {
            Next::Token(t) => t,
            Next::Logits(ref logits) => sampler.sample(logits),
        };
        if tok.is_special(next) {
            break Finish::Stop;
        }
        generated += 1;
        let (text, stopped) = filter.push(&utf8.push(tok.token_bytes(next)));
        if !text.is_empty() {
            emit(&text);
        }
        if stopped {
            return Ok((filter.text().to_string(), generated, Finish::Stop));
        }
        if generated == params.max_tokens {
            break Finish::Length;
        }
        stepped = step(
            &session,
            &[i64::from(next)],
            &mut cache,
            tok.vocab_size(),
            need,
        )?;
    };
    // What the last bytes complete, and what was held back for a stop
    // sequence that did not come.
    let (text, stopped) = filter.push(&utf8.finish());
    let rest = if stopped {
        text
    } else {
        text + &filter.finish()
    };
    if !rest.is_empty() {
        emit(&rest);
    }
    Ok((filter.text().to_string(), generated, finish))
}

/// The plugin.
pub struct Chat;

impl Plugin for Chat {
    fn describe() -> PluginInfo {
        PluginInfo::new("chat", env!("CARGO_PKG_VERSION"))
            .description(
                "Text generation with SmolLM2-135M-Instruct: a prompt or chat messages in, \
                 generated text out, streamed token by token",
            )
            .accepts("text/plain")
            .accepts("application/json")
            .produces("text/plain; charset=utf-8")
            .onnx_model("smollm2-135m", MODEL_HASH)
            .blob("smollm2-tokenizer", TOKENIZER_HASH)
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        let params = Params::from_input(&input)?;
        let vocab = Vocabulary::from_blob(&assets::read(TOKENIZER_HASH)?)
            .map_err(TaskError::ModelUnavailable)?;
        let prompt = prompt_text(&input, &params, &vocab)?;
        let ids = vocab.tokenizer.encode(&prompt);
        let (text, generated, finish) = generate(&vocab, &ids, &params, stream::emit_text)?;
        log::info(&format!(
            "prompt {} tokens, generated {generated}, finish {}",
            ids.len(),
            match finish {
                Finish::Stop => "stop",
                Finish::Length => "length",
            }
        ));
        Ok(Output::bytes(
            "text/plain; charset=utf-8",
            text.into_bytes(),
        ))
    }
}

#[cfg(target_arch = "wasm32")]
clusterai_plugin_sdk::export_plugin!(Chat);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_filter_holds_back_prefixes_and_cuts_at_the_stop() {
        let mut f = StopFilter::new(vec!["\nUser:".into()]);
        assert_eq!(f.push("Hello"), ("Hello".into(), false));
        assert_eq!(f.push(" there\nUs"), (" there".into(), false));
        assert_eq!(f.push("er: hi"), (String::new(), true));
        assert_eq!(f.text(), "Hello there");
    }

    #[test]
    fn stop_filter_releases_a_false_start() {
        let mut f = StopFilter::new(vec!["END".into()]);
        assert_eq!(f.push("the EN"), ("the ".into(), false));
        assert_eq!(f.push("D"), (String::new(), true));
        let mut f = StopFilter::new(vec!["END".into()]);
        assert_eq!(f.push("EN"), (String::new(), false));
        assert_eq!(f.push("TRY"), ("ENTRY".into(), false));
        assert_eq!(f.finish(), "");
        assert_eq!(f.text(), "ENTRY");
    }
}
