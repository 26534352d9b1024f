//! The receipt a node signs for every result: the one definition that the
//! node hands buyers and the contracts settle on.
//!
//! A receipt binds the node (its ed25519 key), the task, and the BLAKE3 of
//! everything that went in and came out, with what the run cost. The node
//! signs [`Receipt::signing_message`] with its key under
//! [`SigningDomain::Receipt`]; anyone can verify it against the node id and
//! re-hash the plugin, models, input and output they hold.

use serde::{Deserialize, Serialize};

use crate::signing::{self, SigningDomain};
use crate::{ContentHash, ExecutionProvider};

/// A result receipt, as the node signs it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The task's id: the node's id for a task it accepted over HTTP, or the
    /// task market's id for a task assigned on chain.
    pub task_id: String,
    /// The node id: its ed25519 public key (64 hex), the key that signs.
    pub node: String,
    /// BLAKE3 of the plugin component.
    pub plugin: ContentHash,
    /// BLAKE3 of each model the task ran, in the order first used.
    pub models: Vec<ContentHash>,
    /// BLAKE3 of the input bytes.
    pub input: ContentHash,
    /// BLAKE3 of the output bytes.
    pub output: ContentHash,
    /// The node software's version.
    pub runtime_version: String,
    /// The provider that ran the models (`none` without models).
    pub execution_provider: ExecutionProvider,
    /// Fuel the plugin consumed.
    pub fuel_used: u64,
    /// Wall time of the run in microseconds.
    pub time_us: u64,
}

/// A receipt with the node's ed25519 signature.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The 64-byte ed25519 signature of [`Receipt::signing_message`], hex.
    pub signature: String,
}

impl Receipt {
    /// The receipt's fields in a fixed binary order: integers big-endian,
    /// hashes as 32 bytes, strings and lists prefixed with their length
    /// (u32 BE), so no two receipts encode alike.
    pub fn payload(&self) -> Vec<u8> {
        fn bytes(out: &mut Vec<u8>, b: &[u8]) {
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
        let mut out = Vec::with_capacity(256 + 32 * self.models.len());
        bytes(&mut out, self.task_id.as_bytes());
        bytes(&mut out, self.node.as_bytes());
        out.extend_from_slice(self.plugin.as_bytes());
        out.extend_from_slice(&(self.models.len() as u32).to_be_bytes());
        for m in &self.models {
            out.extend_from_slice(m.as_bytes());
        }
        out.extend_from_slice(self.input.as_bytes());
        out.extend_from_slice(self.output.as_bytes());
        bytes(&mut out, self.runtime_version.as_bytes());
        bytes(&mut out, self.execution_provider.as_str().as_bytes());
        out.extend_from_slice(&self.fuel_used.to_be_bytes());
        out.extend_from_slice(&self.time_us.to_be_bytes());
        out
    }

    /// The exact bytes the node's key signs.
    pub fn signing_message(&self) -> Vec<u8> {
        signing::message(SigningDomain::Receipt, &self.payload())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            task_id: "t1".into(),
            node: "ab".repeat(32),
            plugin: ContentHash::from_bytes([1; 32]),
            models: vec![ContentHash::from_bytes([2; 32])],
            input: ContentHash::from_bytes([3; 32]),
            output: ContentHash::from_bytes([4; 32]),
            runtime_version: "0.1.0".into(),
            execution_provider: ExecutionProvider::Cpu,
            fuel_used: 10,
            time_us: 5,
        }
    }

    #[test]
    fn signing_message_is_domain_separated_and_changes_with_every_field() {
        let r = receipt();
        let m = r.signing_message();
        assert!(m.starts_with(signing::PREFIX));
        assert_eq!(m, signing::message(SigningDomain::Receipt, &r.payload()));
        let variants: Vec<Receipt> = vec![
            Receipt {
                task_id: "t2".into(),
                ..r.clone()
            },
            Receipt {
                plugin: ContentHash::from_bytes([9; 32]),
                ..r.clone()
            },
            Receipt {
                models: vec![],
                ..r.clone()
            },
            Receipt {
                input: ContentHash::from_bytes([9; 32]),
                ..r.clone()
            },
            Receipt {
                output: ContentHash::from_bytes([9; 32]),
                ..r.clone()
            },
            Receipt {
                execution_provider: ExecutionProvider::Cuda,
                ..r.clone()
            },
            Receipt {
                fuel_used: 11,
                ..r.clone()
            },
            Receipt {
                time_us: 6,
                ..r.clone()
            },
            // Moving bytes between adjacent strings changes the encoding.
            Receipt {
                task_id: "t1a".into(),
                node: "b".to_string() + &"ab".repeat(31),
                ..r.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.signing_message(), m, "{v:?}");
        }
    }

    #[test]
    fn json_round_trip_and_unknown_fields_refused() {
        let r = SignedReceipt {
            receipt: receipt(),
            signature: "00".repeat(64),
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["receipt"]["execution_provider"], "cpu");
        assert_eq!(
            serde_json::from_value::<SignedReceipt>(json.clone()).unwrap(),
            r
        );
        let mut extra = json;
        extra["receipt"]["bonus"] = 1.into();
        assert!(serde_json::from_value::<SignedReceipt>(extra).is_err());
    }
}
