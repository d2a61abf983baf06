//! Name resolution is the store's ([`Store::find_image`], [`Store::resolve`]): a name, digest
//! or digest prefix, and for an index the entry for one platform, read once and typed. This
//! module only gives the store's "not found" answers the image flows' messages.

use aurora_spec::document::{Document, Link};
use aurora_spec::media;
use aurora_spec::{Digest, Platform};
use aurora_store::{Descriptor, ReadLayout, Store, StoreError, StoredImage};

use crate::error::{ImageError, Result};

/// Finds an image by name (`alpine`, `127.0.0.1:5000/a:1`, `name:tag@digest`) or by digest
/// or a unique digest prefix of at least 6 hex digits (`sha256:` optional). A digest in a
/// reference must match: the stored digest, or the one the registry gave when it was pulled.
pub fn find_image(store: &Store, text: &str) -> Result<(String, Descriptor)> {
    store.find_image(text).map_err(from_store)
}

/// Finds `text` in the store and, for an index, the entry for `platform` (the host's by
/// default); its manifest and config, typed.
pub fn resolve(store: &Store, text: &str, platform: Option<&Platform>) -> Result<StoredImage> {
    store.resolve(text, platform).map_err(from_store)
}

/// The image `name` whose manifest is `manifest_digest`, as [`resolve`] reads it.
pub fn resolve_manifest(
    store: &Store,
    name: &str,
    manifest_digest: &Digest,
) -> Result<StoredImage> {
    store
        .resolve_manifest(name, manifest_digest)
        .map_err(from_store)
}

fn from_store(error: StoreError) -> ImageError {
    match error {
        StoreError::RefNotFound(text) => ImageError::NotInStore(text),
        StoreError::Ambiguous(text) => ImageError::Ambiguous(text),
        StoreError::NoMatchingPlatform {
            name,
            wanted,
            available,
        } => ImageError::NoMatchingPlatform {
            reference: name,
            wanted,
            available,
        },
        other => other.into(),
    }
}

pub fn read_document(store: &dyn ReadLayout, digest: &Digest) -> Result<Document> {
    let bytes = store.read_blob(digest, media::MAX_MANIFEST_BYTES)?;
    Document::parse(&bytes).map_err(|e| ImageError::BadManifest {
        reference: digest.to_string(),
        digest: digest.to_string(),
        reason: e.to_string(),
    })
}

/// The annotation recording, on a name in index.json, the digest the registry gave for it.
pub use aurora_store::SOURCE_DIGEST_ANNOTATION;

/// The index entry for `wanted`, or an error listing the platforms the index has.
pub fn entry_for<'d>(
    document: &'d Document,
    wanted: &Platform,
    reference: &str,
) -> Result<&'d Link> {
    document
        .entry_for(wanted)
        .ok_or_else(|| ImageError::NoMatchingPlatform {
            reference: reference.to_string(),
            wanted: wanted.to_string(),
            available: document.platforms(),
        })
}
