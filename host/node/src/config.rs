//! The node's config file (TOML). Every key is optional and has a default
//! stated in [`TEMPLATE`], which `clusterai node init` writes; an unknown key
//! is an error naming the key and its line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clusterai_types::{TaskPolicy, env};
use serde::{Deserialize, Serialize};

/// The commented config `clusterai node init` writes: every setting at its
/// default, with why it exists. Parsing it gives [`NodeConfig::default`].
pub const TEMPLATE: &str = r#"# ClusterAI node configuration. Every key is optional: the values below are
# the defaults. `clusterai node start --config FILE` reads it.

# Where the node keeps its key, blob store and task database
# (default: $CLUSTERAI_DATA_DIR, else $XDG_DATA_HOME/clusterai, else
# ~/.local/share/clusterai).
# data_dir = "/var/lib/clusterai"

[http]
# The HTTP API and dashboard. Anything but loopback needs [[auth.tokens]].
bind = "127.0.0.1:7731"
# The largest request body; an input travels base64-encoded in JSON, so this
# is about 4/3 of the largest input plus room for the rest.
max_body_bytes = 100663296
# Origins allowed to call the API from a browser (CORS is off when empty).
cors_origins = []

[iroh]
# The endpoint that serves this node's pinned blobs to other nodes.
bind = "127.0.0.1:7730"
# Node ids admitted to fetch from this node (none by default).
allow = []

[queue]
# Tasks accepted and not yet finished; more get 429 with Retry-After.
capacity = 1024
# Tasks running at once; 0 = one per CPU core.
workers = 0
# How long finished tasks, their outputs and receipts are kept, in seconds.
retention_secs = 86400
# Outputs up to this size are kept in the task database; larger ones in the
# blob store, by hash.
inline_output_bytes = 65536
# Times a task is restarted after the node stopped while it ran; then it
# fails with the reason.
max_attempts = 3

[limits]
# The most any task may use on this node; a request may lower these, never
# raise them.
fuel = 20000000000
timeout_ms = 30000
memory_bytes = 536870912
max_input_bytes = 67108864
max_output_bytes = 16777216
max_stdio_bytes = 65536
max_log_lines = 256
max_log_line_bytes = 4096
max_compute_output_bytes = 134217728
max_task_tensor_bytes = 268435456
max_compute_memory_bytes = 1073741824
max_host_memory_bytes = 1073741824

[inference]
# wasi:nn on ONNX Runtime. Off: plugins that import wasi:nn are refused.
enabled = true
# "cpu" or "cuda".
accelerator = "cpu"
cuda_device = 0
# With "cuda": "error" refuses models CUDA cannot run, "cpu" falls back.
cuda_fallback = "error"
# Threads inside one operator, per session.
intra_op_threads = 1
# Sessions per model, so concurrent tasks do not queue on one.
sessions_per_model = 2
# A model runs only with declared input limits: the largest dimensions of
# each input, which bound one compute's time and memory before it starts.
# The pinned models declare theirs; declare others below. true admits models
# without limits (uploaded or fetched for a task), whose computes can outrun
# their deadline by one operator of any size and take any memory.
allow_undeclared_models = false
# [[inference.model_limits]]
# model = "<64 hex: BLAKE3 of the model>"
# inputs = { x = [1, 3, 1024, 1024] }

[chain]
# The chain the node earns on: empty (the node only serves its HTTP API),
# the URL of a devnet (`clusterai devnet serve`), or the RPC URL of a Cosmos
# chain together with `deployment`. The node's chain account key is
# <data_dir>/account.key (created on first use, mode 0600).
url = ""
# For a Cosmos chain: the file naming its contracts (a deployment or the
# localnet.json `clusterai chain localnet` writes).
# deployment = "/var/lib/clusterai/localnet/localnet.json"
# Milliseconds between two looks at the chain for assigned tasks.
poll_ms = 1000
# For a Cosmos chain: the price of a unit of gas and the denom fees are paid
# in (every transaction is simulated; its gas limit is the simulation x 1.4).
gas_price = 0.0
fee_denom = "stake"
# "honest", or "wrong" to answer every task with a wrong output: only for
# testing the network's defences (such a node is slashed).
answer = "honest"

[preload]
# Plugin (.wasm) and model (.onnx) files added to the blob store at start.
# The node is ready (/readyz) once every model here is open.
plugins = []
models = []

# Bearer tokens: the API then answers only requests that carry one. Tokens
# are stored hashed (`clusterai node token NAME` prints a new one and the
# line to add here).
# [[auth.tokens]]
# name = "alice"
# blake3 = "<64 hex: BLAKE3 of the token>"
# requests_per_second = 50.0
# burst = 100
# tasks_per_day = 100000
"#;

/// Everything a node is configured with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// The data directory; `None` takes [`env::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// The HTTP API.
    pub http: HttpConfig,
    /// The iroh endpoint.
    pub iroh: IrohConfig,
    /// The task queue and its records.
    pub queue: QueueConfig,
    /// The most any task may use.
    pub limits: TaskPolicy,
    /// wasi:nn.
    pub inference: InferenceConfig,
    /// The chain the node earns on.
    pub chain: ChainConfig,
    /// Files added at start.
    pub preload: PreloadConfig,
    /// Access control.
    pub auth: AuthConfig,
}

/// `[chain]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    /// A devnet URL, or a Cosmos chain's RPC URL; empty for none.
    pub url: String,
    /// For a Cosmos chain: the deployment (or `localnet.json`) file.
    pub deployment: Option<PathBuf>,
    /// Milliseconds between two looks at the chain.
    pub poll_ms: u64,
    /// Price of a unit of gas, in `fee_denom` (a Cosmos chain).
    pub gas_price: f64,
    /// The denom fees are paid in (a Cosmos chain).
    pub fee_denom: String,
    /// How the node answers (anything but honest tests the defences).
    pub answer: Answer,
}

impl ChainConfig {
    /// How transactions pay their fees.
    pub fn fees(&self) -> clusterai_chain::cosmos::CosmosConfig {
        clusterai_chain::cosmos::CosmosConfig {
            gas_price: self.gas_price,
            fee_denom: self.fee_denom.clone(),
            ..Default::default()
        }
    }
}

/// `[chain] answer`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    /// The true output.
    #[default]
    Honest,
    /// A wrong output with a valid-looking receipt.
    Wrong,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            deployment: None,
            poll_ms: 1000,
            gas_price: 0.0,
            fee_denom: "stake".into(),
            answer: Answer::Honest,
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where the API listens.
    pub bind: SocketAddr,
    /// The largest request body.
    pub max_body_bytes: u64,
    /// Origins allowed by CORS; empty turns CORS off.
    pub cors_origins: Vec<String>,
}

/// `[iroh]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IrohConfig {
    /// Where the endpoint binds (UDP).
    pub bind: SocketAddr,
    /// Node ids admitted to fetch pinned blobs.
    pub allow: Vec<String>,
}

/// `[queue]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Tasks accepted and not finished.
    pub capacity: u32,
    /// Tasks running at once; 0 = one per core.
    pub workers: u32,
    /// Seconds finished tasks are kept.
    pub retention_secs: u64,
    /// Outputs up to this size stay in the task database.
    pub inline_output_bytes: u64,
    /// Restarts of an interrupted task before it fails.
    pub max_attempts: u32,
}

/// `[inference]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferenceConfig {
    /// Whether wasi:nn is served.
    pub enabled: bool,
    /// Where sessions run.
    pub accelerator: Accelerator,
    /// The CUDA device.
    pub cuda_device: i32,
    /// What to do when CUDA cannot run a model.
    pub cuda_fallback: CudaFallback,
    /// Threads inside one operator.
    pub intra_op_threads: usize,
    /// Sessions per model.
    pub sessions_per_model: usize,
    /// Whether models without declared input limits may run.
    pub allow_undeclared_models: bool,
    /// Input limits of models beyond the pinned ones.
    pub model_limits: Vec<ModelLimitsConfig>,
}

/// `[[inference.model_limits]]`: the largest inputs one model runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelLimitsConfig {
    /// The model's BLAKE3 (64 hex).
    pub model: String,
    /// The largest dimensions of each input, by input name.
    pub inputs: std::collections::BTreeMap<String, Vec<u32>>,
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accelerator {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
}

/// What to do when CUDA cannot run a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CudaFallback {
    /// Refuse the model.
    Error,
    /// Run it on CPU, saying so.
    Cpu,
}

/// `[preload]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreloadConfig {
    /// Plugin files.
    pub plugins: Vec<PathBuf>,
    /// Model files.
    pub models: Vec<PathBuf>,
}

/// `[auth]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The tokens the API accepts; none means no authentication (loopback only).
    pub tokens: Vec<TokenConfig>,
}

/// One bearer token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (in logs and metrics).
    pub name: String,
    /// BLAKE3 of the token, 64 hex: the token itself is never stored.
    pub blake3: String,
    /// Sustained requests per second.
    #[serde(default = "default_rps")]
    pub requests_per_second: f64,
    /// Requests allowed in a burst.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Tasks accepted per UTC day.
    #[serde(default = "default_tasks_per_day")]
    pub tasks_per_day: u64,
}

fn default_rps() -> f64 {
    50.0
}

fn default_burst() -> u32 {
    100
}

fn default_tasks_per_day() -> u64 {
    100_000
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], env::DEFAULT_HTTP_PORT)),
            max_body_bytes: 96 << 20,
            cors_origins: Vec::new(),
        }
    }
}

impl Default for IrohConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], env::DEFAULT_IROH_PORT)),
            allow: Vec::new(),
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 1024,
            workers: 0,
            retention_secs: 86_400,
            inline_output_bytes: 64 << 10,
            max_attempts: 3,
        }
    }
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            accelerator: Accelerator::Cpu,
            cuda_device: 0,
            cuda_fallback: CudaFallback::Error,
            intra_op_threads: 1,
            sessions_per_model: 2,
            allow_undeclared_models: false,
            model_limits: Vec::new(),
        }
    }
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key or a value of the wrong type (the
    /// message names the key, line and column).
    #[error("config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line.
        message: String,
    },
    /// A value that parses but cannot work.
    #[error("config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl NodeConfig {
    /// Reads and checks the config at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks `text` (read from `path`, named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: NodeConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.check().map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// The data directory in force.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(env::data_dir)
    }

    /// Tasks that run at once.
    pub fn workers(&self) -> usize {
        match self.queue.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n as usize,
        }
    }

    /// Checks what parses but cannot work: limits of zero, a public bind
    /// without tokens, malformed token hashes, relative preload paths that
    /// do not exist.
    pub fn check(&self) -> Result<(), String> {
        self.limits
            .validate()
            .map_err(|e| format!("[limits] {e}"))?;
        if !self.limits.models.is_empty() {
            return Err("[limits] models: the node's limits name no models".into());
        }
        if !(50..=60_000).contains(&self.chain.poll_ms) {
            return Err("[chain] poll_ms must be 50 to 60000".into());
        }
        if !(self.chain.gas_price.is_finite() && self.chain.gas_price >= 0.0) {
            return Err("[chain] gas_price must be a number, 0 or more".into());
        }
        if self.chain.url.is_empty() && self.chain.deployment.is_some() {
            return Err("[chain] deployment needs the chain's url".into());
        }
        if self.queue.capacity == 0 {
            return Err("[queue] capacity must be at least 1".into());
        }
        if self.queue.max_attempts == 0 {
            return Err("[queue] max_attempts must be at least 1".into());
        }
        if self.http.max_body_bytes == 0 {
            return Err("[http] max_body_bytes must be at least 1".into());
        }
        if !self.http.bind.ip().is_loopback() && self.auth.tokens.is_empty() {
            return Err(format!(
                "[http] bind = {} is not a loopback address: configure [[auth.tokens]] first \
                 (an open node on a network runs anyone's tasks)",
                self.http.bind
            ));
        }
        for (i, t) in self.auth.tokens.iter().enumerate() {
            if t.name.trim().is_empty() {
                return Err(format!("[[auth.tokens]] #{}: name is empty", i + 1));
            }
            if t.blake3.parse::<clusterai_types::ContentHash>().is_err() {
                return Err(format!(
                    "[[auth.tokens]] {:?}: blake3 must be 64 hex characters (the BLAKE3 of the token)",
                    t.name
                ));
            }
            if !(t.requests_per_second > 0.0 && t.requests_per_second.is_finite()) || t.burst == 0 {
                return Err(format!(
                    "[[auth.tokens]] {:?}: requests_per_second and burst must be positive",
                    t.name
                ));
            }
        }
        for o in &self.http.cors_origins {
            let origin_like = o.split_once("://").is_some_and(|(scheme, host)| {
                matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains('/')
            });
            if !origin_like || o.parse::<axum::http::HeaderValue>().is_err() {
                return Err(format!(
                    "[http] cors_origins: {o:?} is not an origin (scheme://host[:port], no path)"
                ));
            }
        }
        for a in &self.iroh.allow {
            if a.parse::<iroh::EndpointId>().is_err() {
                return Err(format!("[iroh] allow: {a:?} is not a node id"));
            }
        }
        if self.inference.intra_op_threads == 0 || self.inference.sessions_per_model == 0 {
            return Err(
                "[inference] intra_op_threads and sessions_per_model must be at least 1".into(),
            );
        }
        for l in &self.inference.model_limits {
            if l.model.parse::<clusterai_types::ContentHash>().is_err() {
                return Err(format!(
                    "[[inference.model_limits]] model: {:?} is not a 64-hex BLAKE3 hash",
                    l.model
                ));
            }
            if let Some((name, _)) = l
                .inputs
                .iter()
                .find(|(_, dims)| dims.is_empty() || dims.contains(&0))
            {
                return Err(format!(
                    "[[inference.model_limits]] model {}: input {name:?} needs its largest \
                     dimensions, each at least 1",
                    l.model
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_the_defaults() {
        let parsed = NodeConfig::parse(TEMPLATE, Path::new("t.toml")).unwrap();
        assert_eq!(parsed, NodeConfig::default());
        assert_eq!(
            NodeConfig::parse("", Path::new("e.toml")).unwrap(),
            NodeConfig::default()
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let text = "[http]\nbind = \"127.0.0.1:1\"\nbnid = \"x\"\n";
        let e = NodeConfig::parse(text, Path::new("c.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bnid"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("c.toml"), "{msg}");
    }

    #[test]
    fn a_public_bind_needs_tokens() {
        let text = "[http]\nbind = \"0.0.0.0:7731\"\n";
        let e = NodeConfig::parse(text, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("auth.tokens"), "{e}");
        let with_token = format!(
            "{text}[[auth.tokens]]\nname = \"a\"\nblake3 = \"{}\"\n",
            "ab".repeat(32)
        );
        NodeConfig::parse(&with_token, Path::new("c.toml")).unwrap();
    }

    #[test]
    fn bad_values_are_named() {
        for (text, needle) in [
            ("[limits]\nfuel = 0\n", "fuel"),
            ("[queue]\ncapacity = 0\n", "capacity"),
            ("[inference]\naccelerator = \"tpu\"\n", "tpu"),
            (
                "[[inference.model_limits]]\nmodel = \"abc\"\ninputs = { x = [1] }\n",
                "not a 64-hex BLAKE3",
            ),
            (
                "[[inference.model_limits]]\nmodel = \"2b44a5100814b982d5f33c920d573dba91150069cf1525bc60f2e4b3f220ba3f\"\ninputs = { x = [1, 0] }\n",
                "each at least 1",
            ),
            (
                "[[auth.tokens]]\nname = \"a\"\nblake3 = \"xyz\"\n",
                "64 hex",
            ),
            ("[iroh]\nallow = [\"nope\"]\n", "node id"),
            ("[http]\nbind = 5\n", "bind"),
            ("[http]\ncors_origins = [\"*\"]\n", "cors_origins"),
            (
                "[http]\ncors_origins = [\"https://app.example/path\"]\n",
                "not an origin",
            ),
        ] {
            let e = NodeConfig::parse(text, Path::new("c.toml")).unwrap_err();
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }
}
