//! Named tags: a name pointing at a blob, which keeps it from garbage
//! collection like a pin, without offering it to peers. The node uses them
//! to record what it knows about a blob (a model's inputs and outputs) as
//! another blob beside it.

use clusterai_types::ContentHash;
use iroh_blobs::{BlobFormat, HashAndFormat};
use n0_future::StreamExt;

use crate::store::{BlobStore, PARTIAL_PREFIX, PIN_PREFIX, StoreError};

fn to_iroh(hash: ContentHash) -> iroh_blobs::Hash {
    iroh_blobs::Hash::from_bytes(*hash.as_bytes())
}

impl BlobStore {
    /// Points the tag `name` at `hash` (a raw blob the store holds).
    /// Names under the store's own prefixes (`pin/`, `partial/`) are refused.
    pub async fn set_tag(&self, name: &str, hash: ContentHash) -> Result<(), StoreError> {
        if name.starts_with(PIN_PREFIX) || name.starts_with(PARTIAL_PREFIX) || name.is_empty() {
            return Err(StoreError::ReservedTag(name.to_string()));
        }
        self.api()
            .tags()
            .set(
                name,
                HashAndFormat {
                    hash: to_iroh(hash),
                    format: BlobFormat::Raw,
                },
            )
            .await
            .map_err(|e| StoreError::backend("tagging", e))
    }

    /// The tags whose names start with `prefix`, with the hashes they name,
    /// in name order.
    pub async fn tags(&self, prefix: &str) -> Result<Vec<(String, ContentHash)>, StoreError> {
        let mut stream = self
            .api()
            .tags()
            .list_prefix(prefix)
            .await
            .map_err(|e| StoreError::backend("listing tags", e))?;
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| StoreError::backend("listing tags", e))?;
            let name = String::from_utf8_lossy(info.name.as_ref()).into_owned();
            out.push((name, ContentHash::from_bytes(*info.hash.as_bytes())));
        }
        Ok(out)
    }

    /// Removes the tag `name`; whether it existed.
    pub async fn delete_tag(&self, name: &str) -> Result<bool, StoreError> {
        if name.starts_with(PIN_PREFIX) || name.starts_with(PARTIAL_PREFIX) {
            return Err(StoreError::ReservedTag(name.to_string()));
        }
        let n = self
            .api()
            .tags()
            .delete(name)
            .await
            .map_err(|e| StoreError::backend("deleting a tag", e))?;
        Ok(n > 0)
    }
}
