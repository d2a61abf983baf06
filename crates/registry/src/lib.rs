//! A client for OCI distribution registries: `/v2/` ping, Basic and Bearer auth driven by
//! `WWW-Authenticate`, manifests capped and verified, blob downloads that can resume.
//!
//! The client never writes to disk: callers stream blob bodies into the store, which
//! verifies them.

pub mod auth;
mod blob;
mod client;
mod error;
mod manifest;

pub use auth::credentials::{self, Credential, CredentialStore};
pub use blob::BlobResponse;
pub use client::{Access, ClientConfig, RegistryClient, RetryPolicy};
pub use error::{RegistryError, Result};
pub use manifest::FetchedManifest;
