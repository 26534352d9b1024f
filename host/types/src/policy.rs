//! [`TaskPolicy`]: every limit one task runs under, in one validated type.
//!
//! The runtime enforces the sandbox's limits, the wasi-nn host the
//! inference bounds and the model allow-list; both read them from here, so a
//! task's whole budget is stated, checked and logged in one place.
//!
//! # Defaults
//!
//! | field | default | what it bounds |
//! |---|---|---|
//! | `fuel` | 20 000 000 000 | WebAssembly instructions (about one unit each), deterministic |
//! | `timeout_ms` | 30 000 | wall-clock time of the whole task |
//! | `memory_bytes` | 512 MiB | linear memory of the task's instance |
//! | `max_input_bytes` | 64 MiB | the input |
//! | `max_output_bytes` | 16 MiB | the output |
//! | `max_stdio_bytes` | 64 KiB | each of stdout and stderr |
//! | `max_log_lines` | 256 | log lines kept (more are counted) |
//! | `max_log_line_bytes` | 4 KiB | one log line (longer ones are cut) |
//! | `max_compute_output_bytes` | 128 MiB | output tensors of one wasi-nn `compute` (a decoder's full KV cache fits) |
//! | `max_task_tensor_bytes` | 256 MiB | tensors the task holds in the host at once |
//! | `max_compute_memory_bytes` | 1 GiB | ONNX Runtime's working memory for one `compute` (a pinned model at its declared input limits fits) |
//! | `max_host_memory_bytes` | 1 GiB | everything the task makes the host hold outside its sandbox at once: tensors, a compute's working memory, log lines, the output |
//! | `models` | none | models the task names, beyond those the plugin declares |
//!
//! A plugin may open only the models it declares and those in `models`: a
//! task pays royalties for exactly the models it may use.
//!
//! # Requests
//!
//! A node holds a maximum policy (its config); a buyer's request
//! ([`PolicyRequest`]) may lower any limit and name models, never raise a
//! limit: [`TaskPolicy::apply`] refuses with the field that is over.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ContentHash;

/// The default wall-clock deadline of a task.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(feature = "openapi")]
fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT.as_millis() as u64
}

/// The most models one task may name.
pub const MAX_TASK_MODELS: usize = 64;

/// Every limit one task runs under, and the models it may open.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskPolicy {
    /// Fuel units (about one per WebAssembly instruction).
    pub fuel: u64,
    /// Wall-clock deadline of the whole task.
    #[serde(rename = "timeout_ms", with = "millis")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = u64, default = default_timeout_ms)
    )]
    pub timeout: Duration,
    /// Linear memory of the task's instance, in bytes.
    pub memory_bytes: u64,
    /// The largest input, in bytes.
    pub max_input_bytes: u64,
    /// The largest output, in bytes.
    pub max_output_bytes: u64,
    /// Bytes kept (and allowed) on each of stdout and stderr.
    pub max_stdio_bytes: u64,
    /// Log lines kept; later ones are counted, not kept.
    pub max_log_lines: u64,
    /// The longest log line kept; longer ones are cut.
    pub max_log_line_bytes: u64,
    /// Output tensor bytes of one wasi-nn `compute`.
    pub max_compute_output_bytes: u64,
    /// Tensor bytes the task may hold in the host at once.
    pub max_task_tensor_bytes: u64,
    /// ONNX Runtime's working memory (intermediate and output tensors) for
    /// one wasi-nn `compute`; a compute past it is stopped.
    pub max_compute_memory_bytes: u64,
    /// Everything the task makes the host hold outside its sandbox at once
    /// (tensors, a compute's working memory, log lines, the output): one
    /// budget over the finer limits above.
    pub max_host_memory_bytes: u64,
    /// Models the task names, which the plugin may open beside the ones it declares.
    pub models: Vec<ContentHash>,
}

impl Default for TaskPolicy {
    fn default() -> Self {
        Self {
            fuel: 20_000_000_000,
            timeout: DEFAULT_TIMEOUT,
            memory_bytes: 512 << 20,
            max_input_bytes: 64 << 20,
            max_output_bytes: 16 << 20,
            max_stdio_bytes: 64 << 10,
            max_log_lines: 256,
            max_log_line_bytes: 4 << 10,
            max_compute_output_bytes: 128 << 20,
            max_task_tensor_bytes: 256 << 20,
            max_compute_memory_bytes: 1 << 30,
            max_host_memory_bytes: 1 << 30,
            models: Vec::new(),
        }
    }
}

/// A buyer's wishes for one task: limits to lower, models to name. Every
/// field is optional; an unknown field is an error.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyRequest {
    /// Fuel units.
    pub fuel: Option<u64>,
    /// Deadline in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Linear memory in bytes.
    pub memory_bytes: Option<u64>,
    /// Output bytes.
    pub max_output_bytes: Option<u64>,
    /// Bytes of stdout and of stderr.
    pub max_stdio_bytes: Option<u64>,
    /// Log lines kept.
    pub max_log_lines: Option<u64>,
    /// Output tensor bytes of one `compute`.
    pub max_compute_output_bytes: Option<u64>,
    /// Tensor bytes held at once.
    pub max_task_tensor_bytes: Option<u64>,
    /// ONNX Runtime's working memory for one `compute`.
    pub max_compute_memory_bytes: Option<u64>,
    /// Host memory held at once outside the sandbox.
    pub max_host_memory_bytes: Option<u64>,
}

/// Why a policy or a request was refused. Names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A limit of zero would refuse every task.
    #[error("`{field}` must be at least 1")]
    Zero {
        /// The limit.
        field: &'static str,
    },
    /// A limit above the node's maximum.
    #[error("`{field}` = {value} is above this node's maximum of {max}")]
    AboveMaximum {
        /// The limit.
        field: &'static str,
        /// What was asked for.
        value: u64,
        /// The node's maximum.
        max: u64,
    },
    /// More models than a task may name.
    #[error("a task may name at most {max} models, got {count}")]
    TooManyModels {
        /// Models named.
        count: usize,
        /// The cap.
        max: usize,
    },
}

impl TaskPolicy {
    /// Every numeric limit as `(field name, value)`; the timeout in ms.
    pub fn limits(&self) -> [(&'static str, u64); 12] {
        [
            ("fuel", self.fuel),
            (
                "timeout_ms",
                self.timeout.as_millis().min(u64::MAX as u128) as u64,
            ),
            ("memory_bytes", self.memory_bytes),
            ("max_input_bytes", self.max_input_bytes),
            ("max_output_bytes", self.max_output_bytes),
            ("max_stdio_bytes", self.max_stdio_bytes),
            ("max_log_lines", self.max_log_lines),
            ("max_log_line_bytes", self.max_log_line_bytes),
            ("max_compute_output_bytes", self.max_compute_output_bytes),
            ("max_task_tensor_bytes", self.max_task_tensor_bytes),
            ("max_compute_memory_bytes", self.max_compute_memory_bytes),
            ("max_host_memory_bytes", self.max_host_memory_bytes),
        ]
    }

    /// Checks that every limit is at least 1 and the model list is bounded.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if let Some((field, _)) = self.limits().into_iter().find(|(_, v)| *v == 0) {
            return Err(PolicyError::Zero { field });
        }
        if self.models.len() > MAX_TASK_MODELS {
            return Err(PolicyError::TooManyModels {
                count: self.models.len(),
                max: MAX_TASK_MODELS,
            });
        }
        Ok(())
    }

    /// Checks that this policy is valid and no limit is above `max`'s.
    pub fn check_within(&self, max: &TaskPolicy) -> Result<(), PolicyError> {
        self.validate()?;
        for ((field, value), (_, cap)) in self.limits().into_iter().zip(max.limits()) {
            if value > cap {
                return Err(PolicyError::AboveMaximum {
                    field,
                    value,
                    max: cap,
                });
            }
        }
        Ok(())
    }

    /// This policy lowered by `request`, with `models` named: refused when
    /// a requested limit is zero or above this policy's.
    pub fn apply(
        &self,
        request: &PolicyRequest,
        models: &[ContentHash],
    ) -> Result<TaskPolicy, PolicyError> {
        let mut out = self.clone();
        let pick = |field: &'static str, requested: Option<u64>, cap: u64| match requested {
            None => Ok(cap),
            Some(0) => Err(PolicyError::Zero { field }),
            Some(v) if v > cap => Err(PolicyError::AboveMaximum {
                field,
                value: v,
                max: cap,
            }),
            Some(v) => Ok(v),
        };
        out.fuel = pick("fuel", request.fuel, self.fuel)?;
        let timeout_ms = pick(
            "timeout_ms",
            request.timeout_ms,
            self.timeout.as_millis().min(u64::MAX as u128) as u64,
        )?;
        out.timeout = Duration::from_millis(timeout_ms);
        out.memory_bytes = pick("memory_bytes", request.memory_bytes, self.memory_bytes)?;
        out.max_output_bytes = pick(
            "max_output_bytes",
            request.max_output_bytes,
            self.max_output_bytes,
        )?;
        out.max_stdio_bytes = pick(
            "max_stdio_bytes",
            request.max_stdio_bytes,
            self.max_stdio_bytes,
        )?;
        out.max_log_lines = pick("max_log_lines", request.max_log_lines, self.max_log_lines)?;
        out.max_compute_output_bytes = pick(
            "max_compute_output_bytes",
            request.max_compute_output_bytes,
            self.max_compute_output_bytes,
        )?;
        out.max_task_tensor_bytes = pick(
            "max_task_tensor_bytes",
            request.max_task_tensor_bytes,
            self.max_task_tensor_bytes,
        )?;
        out.max_compute_memory_bytes = pick(
            "max_compute_memory_bytes",
            request.max_compute_memory_bytes,
            self.max_compute_memory_bytes,
        )?;
        out.max_host_memory_bytes = pick(
            "max_host_memory_bytes",
            request.max_host_memory_bytes,
            self.max_host_memory_bytes,
        )?;
        for m in models {
            if !out.models.contains(m) {
                out.models.push(*m);
            }
        }
        out.validate()?;
        Ok(out)
    }
}

/// `Duration` as whole milliseconds in JSON and TOML.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().min(u64::MAX as u128) as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        TaskPolicy::default().validate().unwrap();
    }

    #[test]
    fn requests_only_lower() {
        let node = TaskPolicy::default();
        let lowered = node
            .apply(
                &PolicyRequest {
                    fuel: Some(1000),
                    timeout_ms: Some(500),
                    ..PolicyRequest::default()
                },
                &[ContentHash::of(b"m"), ContentHash::of(b"m")],
            )
            .unwrap();
        assert_eq!(lowered.fuel, 1000);
        assert_eq!(lowered.timeout, Duration::from_millis(500));
        assert_eq!(lowered.models, vec![ContentHash::of(b"m")]);
        lowered.check_within(&node).unwrap();

        let over = PolicyRequest {
            memory_bytes: Some(node.memory_bytes + 1),
            ..PolicyRequest::default()
        };
        assert_eq!(
            node.apply(&over, &[]),
            Err(PolicyError::AboveMaximum {
                field: "memory_bytes",
                value: node.memory_bytes + 1,
                max: node.memory_bytes
            })
        );
        let zero = PolicyRequest {
            max_log_lines: Some(0),
            ..PolicyRequest::default()
        };
        assert_eq!(
            node.apply(&zero, &[]),
            Err(PolicyError::Zero {
                field: "max_log_lines"
            })
        );
        let many: Vec<ContentHash> = (0..=MAX_TASK_MODELS as u32)
            .map(|i| ContentHash::of(&i.to_le_bytes()))
            .collect();
        assert!(matches!(
            node.apply(&PolicyRequest::default(), &many),
            Err(PolicyError::TooManyModels { .. })
        ));
    }

    #[test]
    fn check_within_names_the_field() {
        let max = TaskPolicy::default();
        let p = TaskPolicy {
            max_stdio_bytes: max.max_stdio_bytes * 2,
            ..max.clone()
        };
        assert!(matches!(
            p.check_within(&max),
            Err(PolicyError::AboveMaximum {
                field: "max_stdio_bytes",
                ..
            })
        ));
    }

    #[test]
    fn serde_uses_milliseconds_and_refuses_unknown_fields() {
        let json = serde_json::to_value(TaskPolicy::default()).unwrap();
        assert_eq!(json["timeout_ms"], 30_000);
        let back: TaskPolicy = serde_json::from_str(r#"{"fuel": 5, "timeout_ms": 10}"#).unwrap();
        assert_eq!(back.fuel, 5);
        assert_eq!(back.timeout, Duration::from_millis(10));
        assert_eq!(back.memory_bytes, TaskPolicy::default().memory_bytes);
        assert!(serde_json::from_str::<PolicyRequest>(r#"{"fule": 5}"#).is_err());
    }
}
