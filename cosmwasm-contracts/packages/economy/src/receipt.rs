//! The receipt a node signs for every result (see DESIGN.md, "Receipts").
//!
//! The chain settles on commitments to output digests; the receipt is what a
//! node hands the buyer beside the output, signed with the ed25519 key it
//! registered in the node registry (`receipt_key`). Anyone can check it
//! off-chain against the registry, and a disputed task can be re-run in the
//! deterministic CPU mode and compared with the receipts.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::HexBinary;

/// Domain prefix of the bytes a node signs.
pub const RECEIPT_DOMAIN: &[u8] = b"clusterai/receipt/v1";

/// A result receipt, as the node signs it.
#[cw_serde]
pub struct Receipt {
    /// The task id in the task market.
    pub task_id: u64,
    /// The node operator's address.
    pub node: String,
    /// BLAKE3 of the plugin component.
    pub plugin: HexBinary,
    /// BLAKE3 of each model, in the task's order.
    pub models: Vec<HexBinary>,
    /// BLAKE3 of the input.
    pub input: HexBinary,
    /// BLAKE3 of the canonical output (the digest committed on chain).
    pub output: HexBinary,
    /// The node runtime's version string.
    pub runtime_version: String,
    /// The execution provider that ran the models (`cpu`, `cuda`, ...).
    pub execution_provider: String,
    /// Fuel the plugin consumed.
    pub fuel_used: u64,
    /// Wall time of the run in milliseconds.
    pub time_ms: u64,
}

/// A receipt with the node's ed25519 signature over [`Receipt::signing_bytes`].
#[cw_serde]
pub struct SignedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// 64-byte ed25519 signature.
    pub signature: HexBinary,
}

impl Receipt {
    /// The exact bytes a node signs: the domain prefix, then each field in a
    /// fixed order, variable-length fields prefixed with their length (u32 BE).
    pub fn signing_bytes(&self) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        let mut out = RECEIPT_DOMAIN.to_vec();
        out.extend_from_slice(&self.task_id.to_be_bytes());
        field(&mut out, self.node.as_bytes());
        field(&mut out, &self.plugin);
        out.extend_from_slice(&(self.models.len() as u32).to_be_bytes());
        for m in &self.models {
            field(&mut out, m);
        }
        field(&mut out, &self.input);
        field(&mut out, &self.output);
        field(&mut out, self.runtime_version.as_bytes());
        field(&mut out, self.execution_provider.as_bytes());
        out.extend_from_slice(&self.fuel_used.to_be_bytes());
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            task_id: 1,
            node: "node".into(),
            plugin: HexBinary::from([1; 32]),
            models: vec![HexBinary::from([2; 32])],
            input: HexBinary::from([3; 32]),
            output: HexBinary::from([4; 32]),
            runtime_version: "0.1.0".into(),
            execution_provider: "cpu".into(),
            fuel_used: 10,
            time_ms: 5,
        }
    }

    #[test]
    fn signing_bytes_are_prefixed_and_change_with_every_field() {
        let r = receipt();
        let b = r.signing_bytes();
        assert!(b.starts_with(RECEIPT_DOMAIN));
        let mut r2 = r.clone();
        r2.output = HexBinary::from([5; 32]);
        assert_ne!(b, r2.signing_bytes());
        let mut r3 = r.clone();
        r3.fuel_used = 11;
        assert_ne!(b, r3.signing_bytes());
        // Moving bytes between adjacent string fields changes the encoding.
        let mut r4 = r.clone();
        r4.runtime_version = "0.1.0c".into();
        r4.execution_provider = "pu".into();
        assert_ne!(b, r4.signing_bytes());
    }
}
