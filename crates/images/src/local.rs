//! Operations on the local store alone: list, find, inspect, tag, remove, collect garbage.

use std::collections::BTreeMap;

use aurora_spec::media::{self, Kind};
use aurora_spec::{ImageRef, Platform};
use aurora_store::{Descriptor, GcReport, Store};
use serde::Serialize;
use serde_json::Value;

use crate::error::{ImageError, Result};
use crate::resolve::{find_image, read_config, read_document, resolve};

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
/// the blobs it uses, by digest.
fn describe_tree(
    store: &Store,
    descriptor: &Descriptor,
    summary: &mut ImageSummary,
    sizes: &mut BTreeMap<String, u64>,
) -> Result<()> {
    let media_type = descriptor.media_type().to_string();
    let Ok(document) = read_document(store, descriptor.digest()) else {
        return Ok(());
    };
    match media::kind(&media_type) {
        Kind::Index => {
            for child in &document.manifests {
                let digest = child.digest.clone();
                if store.blob_size(&digest)?.is_none() {
                    continue;
                }
                sizes.insert(child.digest.to_string(), child.size);
                let child_descriptor =
                    Descriptor::new(child.media_type.as_str().into(), child.size, digest);
                describe_tree(store, &child_descriptor, summary, sizes)?;
            }
        }
        Kind::Manifest => {
            for link in document.config.iter().chain(&document.layers) {
                sizes.insert(link.digest.to_string(), link.size);
            }
            if let Some(config) = read_config(store, &document)? {
                if summary.created.is_none() {
                    summary.created = config
                        .get("created")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                }
                summary.platforms.push(platform_of(&config));
            }
        }
        _ => {}
    }
    Ok(())
}

fn platform_of(config: &Value) -> String {
    let field = |k: &str| {
        config
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    };
    match config.get("variant").and_then(Value::as_str) {
        Some(v) => format!("{}/{}/{}", field("os"), field("architecture"), v),
        None => format!("{}/{}", field("os"), field("architecture")),
    }
}

/// The manifest and config of an image; for an index, of the entry for `platform` (the
/// host's by default), with the index alongside.
pub fn inspect(store: &Store, text: &str, platform: Option<&Platform>) -> Result<Inspection> {
    let resolved = resolve(store, text, platform)?;
    Ok(Inspection {
        name: resolved.name,
        digest: resolved.descriptor.digest().to_string(),
        media_type: resolved.descriptor.media_type().to_string(),
        index: resolved.index,
        manifest: resolved.manifest_json,
        config: resolved.config,
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
