//! The devnet's transactions: a message signed by a secp256k1 account for
//! one account sequence on one chain, so a transaction can be neither
//! forged, replayed nor carried to another devnet.

use cosmwasm_std::{Coin, HexBinary};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::account::{self, AccountError, AccountKey};

/// Prefix of every signed document: a devnet signature can never pass for
/// a signature of anything else.
const SIGNING_DOMAIN: &[u8] = b"clusterai-devnet-tx/v1\0";

/// What a transaction does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxMsg {
    /// Executes a contract.
    Execute {
        /// The contract.
        contract: String,
        /// Its execute message.
        msg: Value,
        /// Native funds attached.
        funds: Vec<Coin>,
    },
    /// Sends native funds.
    Send {
        /// The recipient.
        to: String,
        /// The amount.
        amount: Vec<Coin>,
    },
}

/// The signed part of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignDoc {
    /// The chain it is for.
    pub chain_id: String,
    /// The signer's account sequence it is for.
    pub sequence: u64,
    /// What it does.
    pub msg: TxMsg,
}

/// A signed transaction as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTx {
    /// The signer's compressed secp256k1 public key.
    pub public_key: HexBinary,
    /// The [`SignDoc`] as JSON text: the exact bytes signed.
    pub sign_doc: String,
    /// ECDSA signature (r ‖ s, low-S) over the domain and `sign_doc`.
    pub signature: HexBinary,
}

impl SignedTx {
    /// Signs `doc` with `key`.
    pub fn sign(key: &AccountKey, doc: &SignDoc) -> Self {
        let sign_doc = serde_json::to_string(doc).expect("a sign doc serialises");
        let signature = key.sign(&signed_bytes(&sign_doc));
        SignedTx {
            public_key: HexBinary::from(key.public_key()),
            sign_doc,
            signature: HexBinary::from(signature),
        }
    }

    /// Checks the signature; returns the signer's address and the document.
    pub fn verify(&self, prefix: &str) -> Result<(String, SignDoc), TxError> {
        let signer = account::verify(
            &self.public_key,
            &signed_bytes(&self.sign_doc),
            &self.signature,
            prefix,
        )?;
        let doc = serde_json::from_str(&self.sign_doc)
            .map_err(|e| TxError::Malformed(format!("sign_doc: {e}")))?;
        Ok((signer, doc))
    }

    /// The transaction's hash (hex SHA-256 of its document and signature).
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.sign_doc.as_bytes());
        h.update(self.signature.as_slice());
        hex::encode_upper(h.finalize())
    }
}

fn signed_bytes(sign_doc: &str) -> Vec<u8> {
    [SIGNING_DOMAIN, sign_doc.as_bytes()].concat()
}

/// Why a transaction was refused before it ran.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// Its signature or key.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// Its document does not parse.
    #[error("malformed transaction: {0}")]
    Malformed(String),
}
