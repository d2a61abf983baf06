//! Commit: a container's changes since its top layer packed as a new layer, on top of the
//! image it was made from, as a new image in the store.
//!
//! The storage driver says where the changes are ([`aurora_storage::Driver::container_changes`]:
//! overlay's upper directory, or the container's tree against its layer's), `aurora-layers`
//! packs them (whiteouts, opaque directories, hardlinks, xattrs) while hashing, and the new
//! config and manifest extend the old ones by one layer and one history entry.

use std::collections::BTreeMap;
use std::path::Path;

use aurora_layers::{ChangeSource, PackOptions, PackReport};
use aurora_spec::{Digest, ImageRef};
use aurora_storage::{ContainerChanges, Driver, LayerId};
use aurora_store::{Store, StoredImage};
use serde_json::{json, Map, Value};

use crate::error::{ImageError, Result};

/// A layer blob in the store and what a config and manifest say of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLayer {
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
    pub media_type: String,
}

impl NewLayer {
    /// The manifest's entry for the layer.
    pub fn link(&self) -> aurora_spec::document::Link {
        aurora_spec::document::Link {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            platform: None,
        }
    }
}

/// How to commit.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub pack: PackOptions,
    /// The history entry's comment (`docker commit --message`).
    pub message: Option<String>,
    pub author: Option<String>,
    /// Dockerfile instructions applied to the config (`--change 'CMD …'`).
    pub changes: Vec<String>,
    /// The time recorded as `created` (seconds since the epoch); now when `None`.
    pub created: Option<i64>,
}

/// What a commit made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitReport {
    pub image: String,
    pub manifest: String,
    pub config: String,
    pub container: String,
    pub driver: &'static str,
    /// The image the container was made from.
    pub base: String,
    pub layer: String,
    pub layer_size: u64,
    pub diff_id: String,
    pub entries: u64,
    pub whiteouts: u64,
}

/// Commits the container `target` (a bundle directory made by `imageadm unpack`, or a
/// container name) as the image `new_ref`.
pub fn commit(
    store: &Store,
    driver: &dyn Driver,
    target: &str,
    new_ref: &str,
    options: &CommitOptions,
    progress: &dyn crate::Progress,
) -> Result<CommitReport> {
    let name = ImageRef::parse(new_ref)?;
    if name.digest().is_some() {
        return Err(ImageError::TagWithDigest(name.to_string()));
    }
    // Every --change is checked before anything is packed.
    let mut config_changes = Map::new();
    for change in &options.changes {
        crate::change::apply_change(&mut config_changes, change).map_err(ImageError::Commit)?;
    }
    // Shared, as pulls hold it: gc cannot take the blobs this commit builds on.
    let _writer = store.writer_lock()?;
    let (container, base) = find_container(store, driver, target)?;
    let (top, changes) = driver.container_changes(&container)?;
    check_top_layer(&base, &top)?;
    let source = change_source(changes);
    progress.pack_started(&container);
    let (layer, packed) = pack_into_store(store, &source, &options.pack, progress)?;
    progress.pack_done(&layer.digest, layer.size);
    let created = options.created.unwrap_or_else(now);
    let config = new_config(&base, &layer, options, created)?;
    let mut layers = base_layers(&base)?;
    layers.push(layer.clone());
    let store_name = name.store_name();
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.created".to_string(),
        rfc3339(created),
    );
    let (manifest, config_digest) = put_image(store, &config, &layers, annotations, &store_name)?;
    Ok(CommitReport {
        image: store_name,
        manifest: manifest.to_string(),
        config: config_digest.to_string(),
        container,
        driver: driver.kind().name(),
        base: base.name.clone(),
        layer: layer.digest.to_string(),
        layer_size: layer.size,
        diff_id: layer.diff_id.to_string(),
        entries: packed.entries,
        whiteouts: packed.whiteouts,
    })
}

/// The container a bundle or name stands for, and the image it was made from.
fn find_container(
    store: &Store,
    driver: &dyn Driver,
    target: &str,
) -> Result<(String, StoredImage)> {
    let bundle = Path::new(target);
    if let Some(note) = crate::unpack::read_bundle_note(bundle) {
        if note.driver != driver.kind().name() {
            return Err(ImageError::Commit(format!(
                "{target} was unpacked with the {} storage driver, the store now uses {}",
                note.driver,
                driver.kind().name()
            )));
        }
        let manifest: Digest = note.manifest.parse().map_err(|_| {
            ImageError::Commit(format!("{target}: bad manifest digest in the bundle note"))
        })?;
        let base = crate::resolve::resolve_manifest(store, &note.image, &manifest).map_err(
            |e| match e {
                ImageError::Store(aurora_store::StoreError::BlobNotFound(_)) => {
                    ImageError::Commit(format!(
                        "the image {} ({manifest}) that {target} was made from is no longer in the store",
                        note.image
                    ))
                }
                other => other,
            },
        )?;
        return Ok((note.container, base));
    }
    // A directory named as a path is a bundle or nothing; a bare word may be a container.
    if bundle.join("config.json").is_file() || (target.contains('/') && bundle.is_dir()) {
        return Err(ImageError::NotABundle(bundle.to_path_buf()));
    }
    aurora_storage::check_container_name(target)?;
    let (top, _) = driver.container_changes(target)?;
    for (image_name, _) in store.list_refs()? {
        let Ok(image) = crate::resolve::resolve(store, &image_name, None) else {
            continue;
        };
        let planned = crate::plan::plan_layers(&image)?;
        if planned.last().is_some_and(|l| l.id == top) {
            return Ok((target.to_string(), image));
        }
    }
    Err(ImageError::Commit(format!(
        "no image in the store has layer {top}, the top of container {target}; commit its bundle instead"
    )))
}

fn check_top_layer(base: &StoredImage, top: &LayerId) -> Result<()> {
    let planned = crate::plan::plan_layers(base)?;
    match planned.last() {
        Some(layer) if layer.id == *top => Ok(()),
        _ => Err(ImageError::Commit(format!(
            "the container's top layer {top} is not the top of {} (unpacked with an id map? \
             those containers cannot be committed yet)",
            base.name
        ))),
    }
}

/// Packs `source` into a scratch file of the store and publishes it as a blob.
pub(crate) fn pack_into_store(
    store: &Store,
    source: &ChangeSource,
    options: &PackOptions,
    progress: &dyn crate::Progress,
) -> Result<(NewLayer, PackReport)> {
    let scratch = store.scratch_file()?;
    let writer = crate::progress::ProgressWriter {
        inner: std::io::BufWriter::with_capacity(1 << 20, scratch),
        progress,
    };
    let (report, writer) = aurora_layers::pack_layer(source, writer, options)?;
    let scratch = writer
        .inner
        .into_inner()
        .map_err(|e| ImageError::Commit(format!("writing the layer: {}", e.error())))?;
    store.publish_file(scratch, &report.digest)?;
    let layer = NewLayer {
        digest: report.digest.clone(),
        size: report.size,
        diff_id: report.diff_id.clone(),
        media_type: options.media_type().to_string(),
    };
    Ok((layer, report))
}

/// Packs container `name`'s changes since its top layer as one layer blob in the store
/// (the driver-native diff `commit` uses); returns the layer and the top it was made on.
pub fn pack_container_changes(
    store: &Store,
    driver: &dyn Driver,
    name: &str,
    options: &PackOptions,
) -> Result<(NewLayer, LayerId)> {
    let (top, changes) = driver.container_changes(name)?;
    let source = change_source(changes);
    let (layer, _) = pack_into_store(store, &source, options, &crate::NoProgress)?;
    Ok((layer, top))
}

/// Where a packer reads a container's changes from.
fn change_source(changes: ContainerChanges) -> ChangeSource {
    match changes {
        ContainerChanges::OverlayUpper(upper) => ChangeSource::OverlayUpper(upper),
        ContainerChanges::Trees {
            base,
            changed,
            inodes_kept,
        } => ChangeSource::Trees {
            base,
            changed,
            inodes_kept,
        },
    }
}

/// Packs the whole tree under `root` as one layer blob in the store.
pub fn pack_tree_into_store(store: &Store, root: &Path, options: &PackOptions) -> Result<NewLayer> {
    pack_into_store(
        store,
        &ChangeSource::Tree(root.to_path_buf()),
        options,
        &crate::NoProgress,
    )
    .map(|(l, _)| l)
}

/// The base image's layers, with the diff IDs its config gives them.
fn base_layers(base: &StoredImage) -> Result<Vec<NewLayer>> {
    let planned = crate::plan::plan_layers(base)?;
    Ok(planned
        .into_iter()
        .zip(&base.manifest.layers)
        .map(|(layer, link)| NewLayer {
            digest: layer.blob,
            size: link.size,
            diff_id: layer.diff_id,
            media_type: layer.media_type,
        })
        .collect())
}

/// The base config with the new layer's diff ID, a history entry and the changes.
fn new_config(
    base: &StoredImage,
    layer: &NewLayer,
    options: &CommitOptions,
    created: i64,
) -> Result<Value> {
    // The new config extends the stored bytes, not the typed config: fields the image spec
    // does not define (docker's `container_config`, a vendor's own) stay as they were.
    let mut config = match serde_json::from_slice(&base.config_bytes) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(ImageError::Commit(format!(
                "{}: the image config is not an object",
                base.name
            )))
        }
    };
    let when = rfc3339(created);
    config.insert("created".into(), Value::String(when.clone()));
    if let Some(author) = &options.author {
        config.insert("author".into(), Value::String(author.clone()));
    }
    let rootfs = config
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    match rootfs.get_mut("diff_ids").and_then(Value::as_array_mut) {
        Some(list) => list.push(Value::String(layer.diff_id.to_string())),
        None => {
            return Err(ImageError::Commit(format!(
                "{}: the config has no rootfs.diff_ids",
                base.name
            )))
        }
    }
    let inner = config
        .entry("config")
        .or_insert_with(|| Value::Object(Map::new()));
    if !inner.is_object() {
        *inner = Value::Object(Map::new());
    }
    if let Value::Object(inner) = inner {
        for change in &options.changes {
            crate::change::apply_change(inner, change).map_err(ImageError::Commit)?;
        }
    }
    let mut entry = Map::new();
    entry.insert("created".into(), Value::String(when));
    let created_by = if options.changes.is_empty() {
        "imageadm commit".to_string()
    } else {
        format!(
            "imageadm commit --change {}",
            options.changes.join(" --change ")
        )
    };
    entry.insert("created_by".into(), Value::String(created_by));
    if let Some(author) = &options.author {
        entry.insert("author".into(), Value::String(author.clone()));
    }
    if let Some(message) = &options.message {
        entry.insert("comment".into(), Value::String(message.clone()));
    }
    let history = config
        .entry("history")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !history.is_array() {
        *history = Value::Array(Vec::new());
    }
    if let Value::Array(list) = history {
        list.push(Value::Object(entry));
    }
    Ok(Value::Object(config))
}

/// Writes `config` and a manifest of `layers` into the store (through the store's one put)
/// and names it `name`; returns the manifest's and the config's digests.
fn put_image(
    store: &Store,
    config: &Value,
    layers: &[NewLayer],
    annotations: BTreeMap<String, String>,
    name: &str,
) -> Result<(Digest, Digest)> {
    let config_bytes = serde_json::to_vec(config)
        .map_err(|e| ImageError::Commit(format!("serialising the config: {e}")))?;
    let layers: Vec<aurora_spec::document::Link> = layers.iter().map(NewLayer::link).collect();
    let image = aurora_store::NewImage {
        config: &config_bytes,
        layers: &layers,
        annotations,
    };
    let put = store.put_image(name, &image)?;
    Ok((put.manifest.digest().clone(), put.config))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Seconds since the epoch as RFC 3339 in UTC, as image configs record times.
fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_083_200 + 3_723), "2026-12-01T01:02:03Z");
    }
}
