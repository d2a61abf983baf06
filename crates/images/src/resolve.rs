//! Name resolution: a name, digest or digest prefix found in the store, and for an index the
//! entry for one platform, read with its manifest and config. Kept in one module so that it
//! can move into the store when the store owns "an image in a layout".

use aurora_spec::document::{Document, Link};
use aurora_spec::media::{self, Kind};
use aurora_spec::{Digest, Platform};
use aurora_store::{Descriptor, ReadLayout, Store};
use serde_json::Value;

use crate::error::{ImageError, Result};

/// Finds an image by name (`alpine`, `127.0.0.1:5000/a:1`, `name:tag@digest`) or by digest
/// or a unique digest prefix of at least 6 hex digits (`sha256:` optional). A digest in a
/// reference must match: the stored digest, or the one the registry gave when it was pulled.
pub fn find_image(store: &Store, text: &str) -> Result<(String, Descriptor)> {
    store.find_image(text).map_err(|e| match e {
        aurora_store::StoreError::RefNotFound(text) => ImageError::NotInStore(text),
        aurora_store::StoreError::Ambiguous(text) => ImageError::Ambiguous(text),
        other => other.into(),
    })
}

fn read_json(store: &Store, digest: &Digest, limit: u64) -> Result<Value> {
    let bytes = store.read_blob(digest, limit)?;
    serde_json::from_slice(&bytes).map_err(|e| ImageError::BadManifest {
        reference: digest.to_string(),
        digest: digest.to_string(),
        reason: e.to_string(),
    })
}

pub fn read_document(store: &dyn ReadLayout, digest: &Digest) -> Result<Document> {
    let bytes = store.read_blob(digest, media::MAX_MANIFEST_BYTES)?;
    Document::parse(&bytes).map_err(|e| ImageError::BadManifest {
        reference: digest.to_string(),
        digest: digest.to_string(),
        reason: e.to_string(),
    })
}

pub(crate) fn read_config(store: &Store, manifest: &Document) -> Result<Option<Value>> {
    let Some(link) = &manifest.config else {
        return Ok(None);
    };
    if store.blob_size(&link.digest)?.is_none() {
        return Ok(None);
    }
    read_json(store, &link.digest, media::MAX_CONFIG_BYTES).map(Some)
}

/// An image in the store, resolved to one platform's manifest and config.
pub struct Resolved {
    pub name: String,
    /// What the name points to (a manifest, or an index).
    pub descriptor: Descriptor,
    /// The index, when the name points to one.
    pub index: Option<Value>,
    pub manifest_digest: Digest,
    pub manifest: Document,
    pub manifest_json: Value,
    pub config: Value,
}

/// Finds `text` in the store and, for an index, the entry for `platform` (the host's by
/// default); reads its manifest and config.
pub fn resolve(store: &Store, text: &str, platform: Option<&Platform>) -> Result<Resolved> {
    let (name, descriptor) = find_image(store, text)?;
    let mut manifest_digest = descriptor.digest().clone();
    let mut index = None;
    if media::kind(descriptor.media_type().as_ref()) == Kind::Index {
        let wanted = platform.cloned().unwrap_or_else(Platform::host);
        let document = read_document(store, &manifest_digest)?;
        let entry = entry_for(&document, &wanted, &name)?;
        index = Some(read_json(
            store,
            &manifest_digest,
            media::MAX_MANIFEST_BYTES,
        )?);
        manifest_digest = entry.digest.clone();
    }
    let mut resolved = resolve_manifest(store, &name, &manifest_digest)?;
    resolved.descriptor = descriptor;
    resolved.index = index;
    Ok(resolved)
}

/// Reads the manifest `manifest_digest` and its config, for the image called `name`.
pub fn resolve_manifest(store: &Store, name: &str, manifest_digest: &Digest) -> Result<Resolved> {
    // Read once, parsed twice: as JSON (shown and extended as it is) and as a document.
    let bytes = store.read_blob(manifest_digest, media::MAX_MANIFEST_BYTES)?;
    let bad = |reason: String| ImageError::BadManifest {
        reference: name.to_string(),
        digest: manifest_digest.to_string(),
        reason,
    };
    let manifest_json: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let manifest = Document::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    let config = read_config(store, &manifest)?.unwrap_or(Value::Null);
    let size = bytes.len() as u64;
    let descriptor = oci_spec::image::Descriptor::new(
        oci_spec::image::MediaType::ImageManifest,
        size,
        manifest_digest.clone(),
    );
    Ok(Resolved {
        name: name.to_string(),
        descriptor,
        index: None,
        manifest_digest: manifest_digest.clone(),
        manifest,
        manifest_json,
        config,
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
