//! Operations on the local store alone: list, find, inspect, tag, remove, collect garbage.

use std::collections::BTreeMap;

use aurora_spec::document::{Document, Link};
use aurora_spec::media::{self, Kind};
use aurora_spec::{Digest, ImageRef, Platform};
use aurora_store::{Descriptor, GcReport, Store};
use oci_spec::image::ImageConfiguration;
use serde::Serialize;
use serde_json::Value;

use crate::error::{ImageError, Result};
use crate::resolve::{find_image, resolve};

/// A line of `imageadm images`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImageSummary {
    /// `registry/repository`.
    pub repository: String,
    /// The tag, or `None` for an image named by digest.
    pub tag: Option<String>,
    pub digest: String,
    pub media_type: String,
    /// Bytes of the manifests, configs and layers the image uses, as stored.
    pub size: u64,
    /// The config's `created` time, when it has one.
    pub created: Option<String>,
    /// The platforms it holds (one for a manifest, several for an index).
    pub platforms: Vec<String>,
}

/// What `imageadm inspect` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub name: String,
    pub digest: String,
    pub media_type: String,
    /// The index, when the name points to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<Value>,
    pub manifest: Value,
    pub config: Value,
}

/// Every named image, in index order.
pub fn list_images(store: &Store) -> Result<Vec<ImageSummary>> {
    let mut summaries = Vec::new();
    for (name, descriptor) in store.list_refs()? {
        let (repository, tag) = match ImageRef::parse(&name) {
            Ok(image) => (image.name(), image.tag().map(str::to_string)),
            Err(_) => (name.clone(), None),
        };
        let mut summary = ImageSummary {
            repository,
            tag,
            digest: descriptor.digest().to_string(),
            media_type: descriptor.media_type().to_string(),
            size: 0,
            created: None,
            platforms: Vec::new(),
        };
        let mut sizes = BTreeMap::from([(descriptor.digest().to_string(), descriptor.size())]);
        describe_tree(store, &descriptor, &mut summary, &mut sizes)?;
        // Blobs shared between the platforms of an index count once, as on disk.
        summary.size = sizes.values().sum();
        summaries.push(summary);
    }
    Ok(summaries)
}

/// Adds creation time and platforms of whatever the descriptor points to, and the sizes of
/// the blobs it uses, by digest. A pulled index keeps only the platforms that were pulled:
/// the walk follows the documents the store has and leaves out the ones it lacks.
fn describe_tree(
    store: &Store,
    descriptor: &Descriptor,
    summary: &mut ImageSummary,
    sizes: &mut BTreeMap<String, u64>,
) -> Result<()> {
    let present = |link: &Link| store.blob_size(&link.digest).ok().flatten().is_some();
    let root = Link::from_descriptor(descriptor);
    // A damaged image is still listed, with what its name says of it.
    let Ok(walked) = aurora_store::walk(store, [root], |link, _| present(link)) else {
        return Ok(());
    };
    for blob in &walked {
        let is_document = matches!(
            media::kind(&blob.link.media_type),
            Kind::Index | Kind::Manifest
        );
        if is_document && blob.document.is_none() {
            continue;
        }
        sizes.insert(blob.link.digest.to_string(), blob.link.size);
        let Some((_, document)) = &blob.document else {
            continue;
        };
        if media::kind(&blob.link.media_type) != Kind::Manifest {
            continue;
        }
        if let Some(config) = read_config(store, document)? {
            if summary.created.is_none() {
                summary.created = config.created().clone();
            }
            summary.platforms.push(platform_of(&config));
        }
    }
    Ok(())
}

/// The config a manifest names, typed; `None` when the store lacks it or it is not one.
fn read_config(store: &Store, manifest: &Document) -> Result<Option<ImageConfiguration>> {
    let Some(link) = &manifest.config else {
        return Ok(None);
    };
    if store.blob_size(&link.digest)?.is_none() {
        return Ok(None);
    }
    let bytes = store.read_blob(&link.digest, media::MAX_CONFIG_BYTES)?;
    Ok(serde_json::from_slice(&bytes).ok())
}

fn platform_of(config: &ImageConfiguration) -> String {
    match config.variant() {
        Some(v) => format!("{}/{}/{}", config.os(), config.architecture(), v),
        None => format!("{}/{}", config.os(), config.architecture()),
    }
}

/// The manifest and config of an image; for an index, of the entry for `platform` (the
/// host's by default), with the index alongside. Shown as stored: the documents' bytes.
pub fn inspect(store: &Store, text: &str, platform: Option<&Platform>) -> Result<Inspection> {
    let image = resolve(store, text, platform)?;
    let shown = |digest: &Digest, bytes: &[u8]| {
        serde_json::from_slice(bytes).map_err(|e| ImageError::BadManifest {
            reference: image.name.clone(),
            digest: digest.to_string(),
            reason: e.to_string(),
        })
    };
    let index = match &image.index {
        Some((bytes, _)) => Some(shown(image.descriptor.digest(), bytes)?),
        None => None,
    };
    let manifest = shown(&image.manifest_digest, &image.manifest_bytes)?;
    let config = shown(&image.manifest_digest, &image.config_bytes)?;
    Ok(Inspection {
        name: image.name,
        digest: image.descriptor.digest().to_string(),
        media_type: image.descriptor.media_type().to_string(),
        index,
        manifest,
        config,
    })
}

/// Gives the image `source` another name. Returns the new name.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<String> {
    let (_, descriptor) = find_image(store, source)?;
    let target = ImageRef::parse(target)?;
    if target.digest().is_some() {
        return Err(ImageError::TagWithDigest(target.to_string()));
    }
    let name = target.store_name();
    store.set_ref(&name, &descriptor)?;
    Ok(name)
}

/// Removes a name. The blobs stay until [`gc`], which frees what no name reaches.
pub fn remove(store: &Store, text: &str) -> Result<(String, Descriptor)> {
    let (name, _) = find_image(store, text)?;
    let descriptor = store.remove_ref(&name)?;
    Ok((name, descriptor))
}

/// Deletes blobs that no name reaches.
pub fn gc(store: &Store) -> Result<GcReport> {
    Ok(store.gc()?)
}
