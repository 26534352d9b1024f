//! The plugin's side of a task: what comes in, what goes out, what can go wrong.

use std::fmt;
use std::str::FromStr;

use crate::bindings::clusterai::task::types as wit;

/// What a plugin says about itself; built with chained calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    name: String,
    version: String,
    description: String,
    input_types: Vec<String>,
    output_type: String,
    models: Vec<ModelRequirement>,
}

/// A model the plugin needs, named by the BLAKE3 hash of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRequirement {
    /// What the plugin calls it, e.g. `"detector"`.
    pub name: String,
    /// 64 lowercase hex characters.
    pub hash: String,
    /// `"onnx"` (a graph for [`nn`](crate::nn)) or `"blob"` (a file for
    /// [`assets`](crate::assets)).
    pub format: String,
}

impl PluginInfo {
    /// A plugin called `name` at `version` (use `env!("CARGO_PKG_VERSION")`).
    /// It accepts any input and produces `application/octet-stream` until told otherwise.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            input_types: Vec::new(),
            output_type: "application/octet-stream".into(),
            models: Vec::new(),
        }
    }

    /// One line for people.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Adds an accepted input content type (call once per type).
    pub fn accepts(mut self, content_type: impl Into<String>) -> Self {
        self.input_types.push(content_type.into());
        self
    }

    /// Sets the output content type.
    pub fn produces(mut self, content_type: impl Into<String>) -> Self {
        self.output_type = content_type.into();
        self
    }

    /// Declares an ONNX model the host must hold, by BLAKE3 hash.
    pub fn onnx_model(mut self, name: impl Into<String>, hash: impl Into<String>) -> Self {
        self.models.push(ModelRequirement {
            name: name.into(),
            hash: hash.into(),
            format: "onnx".into(),
        });
        self
    }

    /// Declares a file the plugin reads itself with [`assets::read`](crate::assets::read)
    /// (a tokenizer, say), by the BLAKE3 hash of its bytes; the host must
    /// hold it before a task runs.
    pub fn blob(mut self, name: impl Into<String>, hash: impl Into<String>) -> Self {
        self.models.push(ModelRequirement {
            name: name.into(),
            hash: hash.into(),
            format: "blob".into(),
        });
        self
    }

    pub(crate) fn into_wit(self) -> wit::PluginInfo {
        let input_types = if self.input_types.is_empty() {
            vec!["*/*".to_string()]
        } else {
            self.input_types
        };
        wit::PluginInfo {
            name: self.name,
            version: self.version,
            description: self.description,
            input_types,
            output_type: self.output_type,
            models: self
                .models
                .into_iter()
                .map(|m| wit::ModelRequirement {
                    name: m.name,
                    hash: m.hash,
                    format: m.format,
                })
                .collect(),
        }
    }
}

/// One task's input: bytes, their content type and named parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    data: Vec<u8>,
    content_type: String,
    params: Vec<(String, String)>,
}

impl Input {
    pub(crate) fn from_wit(input: wit::TaskInput) -> Self {
        Self {
            data: input.data,
            content_type: input.content_type,
            params: input.params,
        }
    }

    /// The raw input bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the input bytes without copying them.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The content type the caller gave, e.g. `"image/png"`; may be empty.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The input as UTF-8 text, or an [`TaskError::InvalidInput`] saying where it is not.
    pub fn text(&self) -> Result<&str, TaskError> {
        std::str::from_utf8(&self.data).map_err(|e| {
            TaskError::InvalidInput(format!(
                "input is not UTF-8 text: invalid byte at offset {}",
                e.valid_up_to()
            ))
        })
    }

    /// Parses the input as JSON.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, TaskError> {
        serde_json::from_slice(&self.data)
            .map_err(|e| TaskError::InvalidInput(format!("input is not valid JSON: {e}")))
    }

    /// All parameters, in the order given.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The raw value of parameter `name`, if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parameter `name` parsed as `T`, or `default` when it is absent.
    /// A value that does not parse is an [`TaskError::InvalidParam`] naming it.
    pub fn param_or<T>(&self, name: &str, default: T) -> Result<T, TaskError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.param(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| TaskError::InvalidParam(format!("parameter {name}={raw:?}: {e}"))),
        }
    }

    /// Fails with [`TaskError::InvalidParam`] if a parameter outside `known` was given,
    /// so that a typo is an error rather than silently ignored.
    pub fn reject_unknown_params(&self, known: &[&str]) -> Result<(), TaskError> {
        match self
            .params
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            None => Ok(()),
            Some((k, _)) => Err(TaskError::InvalidParam(format!(
                "unknown parameter {k:?}; this plugin takes {known:?}"
            ))),
        }
    }
}

/// One task's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    data: Vec<u8>,
    content_type: String,
}

impl Output {
    /// Bytes of the given content type.
    pub fn bytes(content_type: impl Into<String>, data: Vec<u8>) -> Self {
        Self {
            data,
            content_type: content_type.into(),
        }
    }

    /// UTF-8 text (`text/plain; charset=utf-8`).
    pub fn text(text: impl Into<String>) -> Self {
        Self::bytes("text/plain; charset=utf-8", text.into().into_bytes())
    }

    /// A value serialised as JSON (`application/json`).
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, TaskError> {
        serde_json::to_vec(value)
            .map(|data| Self::bytes("application/json", data))
            .map_err(|e| TaskError::Internal(format!("cannot serialise output: {e}")))
    }

    pub(crate) fn into_wit(self) -> wit::TaskOutput {
        wit::TaskOutput {
            data: self.data,
            content_type: self.content_type,
        }
    }
}

/// Why a task failed. The host reports it to the caller as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The input could not be used.
    InvalidInput(String),
    /// A parameter is missing, unknown or malformed.
    InvalidParam(String),
    /// A model the plugin needs is not on this host.
    ModelUnavailable(String),
    /// Inference failed.
    Inference(String),
    /// Anything else.
    Internal(String),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::InvalidParam(m) => write!(f, "invalid parameter: {m}"),
            Self::ModelUnavailable(m) => write!(f, "model unavailable: {m}"),
            Self::Inference(m) => write!(f, "inference failed: {m}"),
            Self::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for TaskError {}

impl TaskError {
    pub(crate) fn into_wit(self) -> wit::TaskError {
        match self {
            Self::InvalidInput(m) => wit::TaskError::InvalidInput(m),
            Self::InvalidParam(m) => wit::TaskError::InvalidParam(m),
            Self::ModelUnavailable(m) => wit::TaskError::ModelUnavailable(m),
            Self::Inference(m) => wit::TaskError::Inference(m),
            Self::Internal(m) => wit::TaskError::Internal(m),
        }
    }
}
