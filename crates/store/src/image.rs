//! "An image in a layout": finding one by name (with a platform chosen from an index),
//! putting one (config, manifest and name, as commit and SmartOS import do), and importing a
//! file as a blob. The flows (pull, push, copy, unpack, commit, SmartOS) build on these rather
//! than reading manifests themselves.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use aurora_spec::document::{Document, Link, NewLink, NewManifest};
use aurora_spec::media::{self, Kind};
use aurora_spec::{Digest, Hasher, ImageRef, Platform};
use oci_spec::image::{Descriptor, ImageConfiguration, MediaType};

use crate::error::{Result, StoreError};
use crate::layout::ReadLayout;
use crate::Store;

/// The annotation a pulled image's name carries with the digest it had in the registry (the
/// index's, when the store keeps only one platform), so `NAME@DIGEST` still finds it.
pub const SOURCE_DIGEST_ANNOTATION: &str = "org.aurora.image.source.digest";

/// An image in the store, resolved to one platform: every document read once, verified and typed.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The name it is stored under.
    pub name: String,
    /// What the name points to: a manifest, or an index.
    pub descriptor: Descriptor,
    /// The index, when the name points to one: its bytes and what it links to.
    pub index: Option<(Vec<u8>, Document)>,
    pub manifest_digest: Digest,
    pub manifest_bytes: Vec<u8>,
    pub manifest: Document,
    /// The config's bytes, as stored (so they can be copied or shown as they are).
    pub config_bytes: Vec<u8>,
    pub config: ImageConfiguration,
}

impl StoredImage {
    /// The layers, base first, with their digests and media types.
    pub fn layers(&self) -> &[Link] {
        &self.manifest.layers
    }
}

/// A new image to store: its config's bytes (already serialised) and its layers, already blobs.
#[derive(Debug, Clone)]
pub struct NewImage<'a> {
    pub config: &'a [u8],
    pub layers: &'a [Link],
    pub annotations: BTreeMap<String, String>,
}

/// What [`Store::put_image`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutImage {
    /// The index entry now naming the image (its manifest).
    pub manifest: Descriptor,
    pub config: Digest,
}

impl Store {
    /// The stored image `text` names: a reference as docker writes it (`alpine`, `NAME@DIGEST`,
    /// also found under another tag of the same repository when pulled by digest), or a digest
    /// or its first six or more hex digits.
    pub fn find_image(&self, text: &str) -> Result<(String, Descriptor)> {
        if let Ok(image) = ImageRef::parse(text) {
            let named = self.find_ref(&image.store_name())?;
            match (image.digest(), named) {
                (None, Some(found)) => return Ok((image.store_name(), found)),
                (Some(digest), Some(found)) if has_digest(&found, digest.as_ref()) => {
                    return Ok((image.store_name(), found))
                }
                (Some(digest), _) => {
                    let same_repository = self.list_refs()?.into_iter().find(|(name, d)| {
                        has_digest(d, digest.as_ref())
                            && ImageRef::parse(name).is_ok_and(|n| n.name() == image.name())
                    });
                    if let Some(found) = same_repository {
                        return Ok(found);
                    }
                }
                (None, None) => {}
            }
        }
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        if hex.len() >= 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let prefix = format!("sha256:{}", hex.to_ascii_lowercase());
            let mut matches: Vec<(String, Descriptor)> = self
                .list_refs()?
                .into_iter()
                .filter(|(_, d)| d.digest().to_string().starts_with(&prefix))
                .collect();
            matches.sort_by_key(|(_, d)| d.digest().to_string());
            let mut digests: Vec<String> = matches
                .iter()
                .map(|(_, d)| d.digest().to_string())
                .collect();
            digests.dedup();
            match digests.len() {
                0 => {}
                1 => return Ok(matches.swap_remove(0)),
                _ => return Err(StoreError::Ambiguous(text.to_string())),
            }
        }
        Err(StoreError::RefNotFound(text.to_string()))
    }

    /// Finds `text` ([`Store::find_image`]) and, for an index, the entry for `platform` (the
    /// host's by default); reads and types its manifest and config.
    pub fn resolve(&self, text: &str, platform: Option<&Platform>) -> Result<StoredImage> {
        let (name, descriptor) = self.find_image(text)?;
        let top = Link::from_descriptor(&descriptor);
        let (index, manifest_link) = match media::kind(&top.media_type) {
            Kind::Index => {
                let (bytes, document) = read_document(self, &top)?;
                let wanted = platform.cloned().unwrap_or_else(Platform::host);
                let entry = document.entry_for(&wanted).cloned().ok_or_else(|| {
                    StoreError::NoMatchingPlatform {
                        name: name.clone(),
                        wanted: wanted.to_string(),
                        available: document.platforms(),
                    }
                })?;
                (Some((bytes, document)), entry)
            }
            _ => (None, top),
        };
        let mut image = self.read_image(name, &manifest_link)?;
        image.descriptor = descriptor;
        image.index = index;
        Ok(image)
    }

    /// The image `name` whose manifest is `manifest` (as a bundle note records it), read and
    /// typed as [`Store::resolve`] does; the name is not looked up again.
    pub fn resolve_manifest(&self, name: &str, manifest: &Digest) -> Result<StoredImage> {
        let size = self
            .blob_size(manifest)?
            .ok_or_else(|| StoreError::BlobNotFound(manifest.to_string()))?;
        let link = Link {
            media_type: media::OCI_MANIFEST.to_string(),
            digest: manifest.clone(),
            size,
            platform: None,
        };
        self.read_image(name.to_string(), &link)
    }

    /// The manifest `manifest_link` names and its config, read, verified and typed.
    fn read_image(&self, name: String, manifest_link: &Link) -> Result<StoredImage> {
        let (manifest_bytes, manifest) = read_document(self, manifest_link)?;
        let config_link = manifest
            .config
            .as_ref()
            .ok_or_else(|| StoreError::BadDocument {
                digest: manifest_link.digest.to_string(),
                reason: "the manifest has no config".into(),
            })?;
        let config_bytes = self.read_blob(&config_link.digest, media::MAX_CONFIG_BYTES)?;
        let config =
            serde_json::from_slice(&config_bytes).map_err(|e| StoreError::BadDocument {
                digest: config_link.digest.to_string(),
                reason: format!("not an image config: {e}"),
            })?;
        let descriptor = Descriptor::new(
            MediaType::from(manifest_link.media_type.as_str()),
            manifest_link.size,
            manifest_link.digest.clone(),
        );
        Ok(StoredImage {
            name,
            descriptor,
            index: None,
            manifest_digest: manifest_link.digest.clone(),
            manifest_bytes,
            manifest,
            config_bytes,
            config,
        })
    }

    /// Writes the config and a manifest of `image.layers` and names it `name`, holding the
    /// writer lock throughout so that a concurrent `gc` cannot collect the blobs before the
    /// name reaches them. The layers must already be stored.
    pub fn put_image(&self, name: &str, image: &NewImage<'_>) -> Result<PutImage> {
        let _writer = self.writer_lock()?;
        for layer in image.layers {
            if self.blob_size(&layer.digest)?.is_none() {
                return Err(StoreError::BlobNotFound(layer.digest.to_string()));
            }
        }
        let config_digest = aurora_spec::sha256_digest(image.config);
        self.put_blob(&config_digest, image.config)?;
        let link = |l: &Link| NewLink {
            digest: l.digest.clone(),
            media_type: l.media_type.clone(),
            size: l.size,
        };
        let manifest = NewManifest::oci(
            NewLink {
                digest: config_digest.clone(),
                media_type: media::OCI_CONFIG.to_string(),
                size: image.config.len() as u64,
            },
            image.layers.iter().map(link).collect(),
            image.annotations.clone(),
        );
        let bytes = manifest.to_bytes().map_err(|source| StoreError::BadJson {
            path: "a new manifest".into(),
            source,
        })?;
        let digest = aurora_spec::sha256_digest(&bytes);
        self.put_blob(&digest, &bytes)?;
        let descriptor = Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, digest);
        self.set_ref(name, &descriptor)?;
        Ok(PutImage {
            manifest: descriptor,
            config: config_digest,
        })
    }

    /// Stores what `reader` yields as a blob, hashing while copying; returns its digest and
    /// size. `source` names where the reader reads from (a failed read names it). With
    /// `expected`, the content must have that digest (and size, when given), or nothing is
    /// stored.
    pub fn import_blob(
        &self,
        mut reader: impl Read,
        source: &Path,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<(Digest, u64)> {
        let _writer = self.writer_lock()?;
        if let Some((digest, size)) = expected {
            let mut writer = self.begin_blob(digest, size)?;
            writer.restart()?;
            let mut buffer = vec![0; 256 * 1024];
            loop {
                let n = read_some(&mut reader, &mut buffer, source)?;
                if n == 0 {
                    break;
                }
                writer.write(&buffer[..n])?;
            }
            let size = writer.commit()?;
            return Ok((digest.clone(), size));
        }
        let mut file = self.scratch_file()?;
        let mut hasher = Hasher::sha256();
        let mut buffer = vec![0; 256 * 1024];
        loop {
            let n = read_some(&mut reader, &mut buffer, source)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            std::io::Write::write_all(file.as_file_mut(), &buffer[..n])
                .map_err(StoreError::io(file.path()))?;
        }
        let digest: Digest = hasher
            .finish()
            .parse()
            .expect("a freshly computed sha256 digest is well formed");
        let size = self.publish_file(file, &digest)?;
        Ok((digest, size))
    }
}

fn read_some(reader: &mut impl Read, buffer: &mut [u8], source: &Path) -> Result<usize> {
    loop {
        match reader.read(buffer) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other.map_err(StoreError::io(source)),
        }
    }
}

/// Whether a name's descriptor is, or was pulled as, `digest`.
fn has_digest(descriptor: &Descriptor, digest: &str) -> bool {
    descriptor.digest().as_ref() == digest
        || descriptor
            .annotations()
            .as_ref()
            .and_then(|a| a.get(SOURCE_DIGEST_ANNOTATION))
            .is_some_and(|source| source == digest)
}

/// Reads and parses the document `link` names, checked against its size and digest.
fn read_document(layout: &impl ReadLayout, link: &Link) -> Result<(Vec<u8>, Document)> {
    // The document is the walk's first blob; its children are listed, not read.
    let walked = crate::walk::walk(layout, [link.clone()], |_, depth| depth == 0)?;
    walked
        .into_iter()
        .next()
        .and_then(|w| w.document)
        .ok_or_else(|| StoreError::BadDocument {
            digest: link.digest.to_string(),
            reason: format!(
                "media type {:?} is not a manifest or index",
                link.media_type
            ),
        })
}
