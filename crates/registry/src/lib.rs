//! A client for OCI distribution registries: `/v2/` ping, Basic and Bearer auth driven by
//! `WWW-Authenticate`, manifests capped and verified, blob downloads that can resume, and the
//! way up: blobs checked, mounted or uploaded, manifests put, all verified by digest.
//!
//! The client never writes to disk: callers stream blob bodies into the store, which
//! verifies them.

pub mod auth;
mod blob;
mod client;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod manifest;
mod mirror;
mod mirror_targets;
mod upload;

pub use auth::credentials::{self, Credential, CredentialStore};
pub use blob::BlobResponse;
pub use client::DEFAULT_MAX_BLOB_SIZE;
pub use client::{Access, ClientConfig, RegistryClient, RetryPolicy};
pub use error::{RegistryError, Result};
pub use manifest::FetchedManifest;
pub use mirror::{Endpoint, EndpointScheme, Mirror};
pub use upload::BlobUpload;
