//! The receipt a node signs for every result: the one definition, shared
//! with the node (`clusterai_types::receipt`), so what a node signs and what
//! the contracts settle on cannot drift apart.
//!
//! The chain settles on commitments to output digests; the receipt is what a
//! node hands the buyer beside the output, signed with the ed25519 key it
//! registered in the node registry (`receipt_key`), under the one signing
//! scheme of `clusterai_types::signing`. Anyone can check it off-chain
//! against the registry, and a disputed task can be re-run in the
//! deterministic CPU mode and compared with the receipts.

pub use clusterai_types::receipt::{Receipt, SignedReceipt};
pub use clusterai_types::signing::{SigningDomain, message as signing_message};
