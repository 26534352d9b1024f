//! Content-addressed blob store, node identity and blob transfer over iroh.
//!
//! Plugins and models are blobs named by their BLAKE3 hash
//! ([`ContentHash`]). A node keeps them in a persistent [`BlobStore`], serves
//! them to the peers its [`AllowList`] admits, and fetches what it lacks from
//! other nodes with a [`Fetcher`] that verifies every chunk on the way in.
//!
//! # Overview
//!
//! - [`identity`]: the node's ed25519 key (`node.key`, mode 0600); its public
//!   half is the node id. [`NodeIdentity::sign`] signs through the one
//!   domain-separated scheme of `clusterai_types::signing`.
//! - [`store`]: an iroh-blobs file store with pins (`pin/<hash>` tags), a size
//!   budget and on-demand garbage collection. Nothing pinned is collected.
//! - [`node`]: [`Node`] = identity + store + an iroh endpoint. By default it
//!   binds where configured and uses **no relays and no discovery**; both are
//!   settings. It serves only admitted peers and only pinned hashes.
//! - [`fetch`]: [`Fetcher::fetch`] downloads by hash from one or several
//!   [`Provider`]s (tickets or `NODE_ID@IP:PORT`), splitting the blob into
//!   range requests spread over several QUIC streams per provider and over all
//!   providers at once; resumes interrupted downloads; fails over from dead
//!   providers; drops and remembers ([`Reputation`]) providers that send data
//!   failing verification.
//! - [`source`]: the store as a `BlobSource`, the small trait through which
//!   capabilities (the wasi-nn host) read blobs by hash.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use clusterai_store::{AllowList, FetchOptions, Node, NodeConfig, Provider};
//! use iroh_blobs::BlobFormat;
//!
//! // A node that has the model, serving one known peer.
//! let fetching_id: iroh::EndpointId = "…".parse()?;
//! let a = Node::spawn(NodeConfig::loopback("/tmp/a"), AllowList::new().with_peers([fetching_id])).await?;
//! let hash = a.store().import_file("model.onnx".as_ref(), |_, _| {}).await?;
//!
//! // Another node fetches it, verified, into its own store.
//! let b = Node::spawn(NodeConfig::loopback("/tmp/b"), AllowList::new()).await?;
//! let report = b
//!     .fetcher(FetchOptions::default())
//!     .fetch(hash, BlobFormat::Raw, &[Provider::new(a.addr())])
//!     .await?;
//! assert_eq!(report.hash, hash);
//! let bytes = b.store().read(hash).await?; // verified bytes
//! # Ok(()) }
//! ```
//!
//! # Interface for capabilities
//!
//! A hash in, verified bytes or a file out: [`BlobStore::read`] and
//! [`BlobStore::export`] return only complete blobs, which iroh-blobs verified
//! against their BLAKE3 hash when they were imported or fetched;
//! [`StoreSource`] offers the same as a `clusterai_types::BlobSource` to
//! synchronous callers.
//!
//! # Errors
//!
//! Library errors are typed: [`StoreError`], [`FetchError`] (which names
//! each provider's problem), [`IdentityError`], [`NodeError`].

#![deny(missing_docs)]

pub mod allow;
pub mod fetch;
pub mod identity;
pub mod node;
pub mod reputation;
pub mod source;
pub mod store;
mod tags;

pub use allow::{AllowList, HashPolicy};
pub use clusterai_types::ContentHash;
pub use fetch::{FetchError, FetchOptions, FetchReport, Fetcher, ProblemKind, Provider};
pub use identity::{IdentityError, NodeIdentity};
pub use iroh_blobs::BlobFormat;
pub use node::{Node, NodeConfig, NodeError};
pub use reputation::Reputation;
pub use source::StoreSource;
pub use store::{BlobEntry, BlobStore, StoreConfig, StoreError};
