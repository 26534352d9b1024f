//! Files that come with a plugin's models (tokenizers, vocabularies, chat
//! templates), read by the BLAKE3 hash of their bytes.
//!
//! Declare each with [`PluginInfo::blob`](crate::PluginInfo::blob); the host
//! serves only declared blobs, from its verified store.

use crate::TaskError;
use crate::bindings::clusterai::task::assets;

/// The bytes of the declared blob `hash`, or why the host cannot give them
/// (as [`TaskError::ModelUnavailable`]).
pub fn read(hash: &str) -> Result<Vec<u8>, TaskError> {
    assets::read(hash).map_err(TaskError::ModelUnavailable)
}
