//! Import: a SmartOS image (imgadm's manifest and its file) checked, its stream received by
//! the zfs driver (which refuses any but a plain stream of one snapshot, see
//! `aurora_storage::zfs::send`), its tree packed as the one layer of a new image, and the
//! received dataset made that layer.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use aurora_layers::PackOptions;
use aurora_spec::document::Link;
use aurora_spec::{Digest, ImageRef, Platform};
use aurora_storage::zfs::send::ReceivedDataset;
use aurora_storage::zfs::ZfsDriver;
use aurora_storage::LayerId;
use aurora_store::NewImage;
use serde::Serialize;
use sha1::{Digest as _, Sha1};

use crate::error::{io, SmartosError};
use crate::manifest::{
    compression_name, default_image_name, parse_manifest, Manifest, MAX_MANIFEST_BYTES,
    UUID_ANNOTATION,
};
use aurora_images::{ImageError, Images};

use crate::error::Result;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The name in the store; `smartos/NAME:VERSION` when `None`.
    pub tag: Option<String>,
}

/// What an import made.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub image: String,
    pub manifest: String,
    pub uuid: String,
    pub origin: Option<String>,
    pub layer: String,
    pub dataset: String,
    pub diff_id: String,
    /// False when the layer was in storage already (the same image imported before).
    pub layer_created: bool,
}

/// Imports the SmartOS image `file` described by `manifest_path` into the store, on its zfs
/// storage.
pub fn import_smartos(
    images: &Images,
    manifest_path: &Path,
    file: &Path,
    options: &ImportOptions,
) -> Result<ImportReport> {
    let manifest = read_manifest(manifest_path)?;
    let name = match &options.tag {
        Some(tag) => {
            let name = ImageRef::parse(tag)?;
            if name.digest().is_some() {
                return Err(ImageError::TagWithDigest(name.to_string()).into());
            }
            name.store_name()
        }
        None => {
            default_image_name(&manifest.name, &manifest.version).map_err(SmartosError::NoName)?
        }
    };
    // Before anything touches zfs: the file is the one the manifest describes.
    verify_file(file, &manifest)?;
    let store = images.store()?;
    let driver = images.zfs_storage()?;
    // Shared, as unpacks hold it: gc cannot take the new blob or layer before the image
    // names them.
    let _writer = store.writer_lock()?;
    let origin =
        match &manifest.origin {
            None => None,
            Some(origin) => Some(driver.find_layer_by_uuid(origin)?.ok_or_else(|| {
                SmartosError::MissingOrigin {
                    uuid: manifest.uuid.clone(),
                    origin: origin.clone(),
                }
            })?),
        };
    let received = receive(&driver, file, &manifest, origin.as_ref())?;
    let packed =
        aurora_images::pack_tree_into_store(store, &received.root, &PackOptions::default());
    let layer = match packed {
        Ok(layer) => layer,
        Err(e) => {
            driver.discard_received(received);
            return Err(e.into());
        }
    };
    let chain = aurora_spec::chain::chain_ids(std::slice::from_ref(&layer.diff_id));
    let id = LayerId::from_chain_id(&chain[0]);
    let created = driver.adopt_received(received, &id, &manifest.uuid)?;
    let config = image_config(&manifest, &layer.diff_id);
    let mut annotations = BTreeMap::new();
    annotations.insert(UUID_ANNOTATION.to_string(), manifest.uuid.clone());
    annotations.insert("org.smartos.image.name".into(), manifest.name.clone());
    annotations.insert("org.smartos.image.version".into(), manifest.version.clone());
    annotations.insert("org.smartos.image.type".into(), manifest.kind.clone());
    annotations.insert("org.smartos.image.os".into(), manifest.os.clone());
    if let Some(origin) = &manifest.origin {
        annotations.insert("org.smartos.image.origin".into(), origin.clone());
    }
    annotations.insert(
        "org.opencontainers.image.created".into(),
        config.created.clone(),
    );
    let config_bytes = serde_json::to_vec(&config).map_err(|e| SmartosError::Io {
        path: file.to_path_buf(),
        source: e.into(),
    })?;
    let layers = [Link {
        media_type: layer.media_type.clone(),
        digest: layer.digest.clone(),
        size: layer.size,
        platform: None,
    }];
    let image = NewImage {
        config: &config_bytes,
        layers: &layers,
        annotations,
    };
    let digest = match store.put_image(&name, &image) {
        Ok(put) => put.manifest.digest().clone(),
        Err(e) => {
            if created {
                use aurora_storage::Driver;
                let _ = driver.destroy_layer(&id);
            }
            return Err(e.into());
        }
    };
    Ok(ImportReport {
        image: name,
        manifest: digest.to_string(),
        uuid: manifest.uuid,
        origin: manifest.origin,
        dataset: driver.layer_dataset(&id),
        layer: id.to_string(),
        diff_id: layer.diff_id.to_string(),
        layer_created: created,
    })
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    let file = File::open(path).map_err(io(path))?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io(path))?;
    parse_manifest(&bytes).map_err(|reason| SmartosError::BadManifest {
        path: path.to_path_buf(),
        reason,
    })
}

/// Size first (cheap), then the sha1 of the whole file.
fn verify_file(path: &Path, manifest: &Manifest) -> Result<()> {
    let file = File::open(path).map_err(io(path))?;
    let found = file.metadata().map_err(io(path))?.len();
    if found != manifest.size {
        return Err(SmartosError::WrongSize {
            path: path.to_path_buf(),
            expected: manifest.size,
            found,
        });
    }
    let mut checked = Checked::new(file, manifest.size);
    std::io::copy(&mut checked, &mut std::io::sink()).map_err(io(path))?;
    checked.verify(path, manifest)
}

/// A reader that counts and hashes what passes, and refuses to pass more than `limit`.
struct Checked<R> {
    inner: R,
    hasher: Sha1,
    count: u64,
    limit: u64,
}

impl<R: Read> Checked<R> {
    fn new(inner: R, limit: u64) -> Self {
        Checked {
            inner,
            hasher: Sha1::new(),
            count: 0,
            limit,
        }
    }

    fn verify(self, path: &Path, manifest: &Manifest) -> Result<()> {
        if self.count != manifest.size {
            return Err(SmartosError::WrongSize {
                path: path.to_path_buf(),
                expected: manifest.size,
                found: self.count,
            });
        }
        let found = format!("{:x}", self.hasher.finalize());
        if found != manifest.sha1 {
            return Err(SmartosError::WrongSha1 {
                path: path.to_path_buf(),
                expected: manifest.sha1.clone(),
                found,
            });
        }
        Ok(())
    }
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(std::io::Error::other(format!(
                "the file has grown past the manifest's size ({} bytes)",
                self.limit
            )));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Keeps the first read error of the decompressing reader, to say what went wrong when
/// `zfs receive` is stopped by it.
struct Noting<R> {
    inner: R,
    error: Option<String>,
}

impl<R: Read> Read for Noting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.error.get_or_insert_with(|| e.to_string());
        })
    }
}

/// Streams the file, decompressed, into `zfs receive`, checking it again on the way (it may
/// have changed since [`verify_file`]).
fn receive(
    driver: &ZfsDriver,
    path: &Path,
    manifest: &Manifest,
    origin: Option<&LayerId>,
) -> Result<ReceivedDataset> {
    let file = File::open(path).map_err(io(path))?;
    let mut checked = Checked::new(file, manifest.size);
    let bad_stream = |reason: String| -> SmartosError {
        SmartosError::BadStream {
            path: path.to_path_buf(),
            compression: compression_name(manifest.compression),
            reason,
        }
    };
    let received = {
        let mut stream = Noting {
            // The layers' one decoder; buffered here as zfs receive reads in small pieces.
            inner: aurora_layers::decoder(
                BufReader::with_capacity(1 << 20, &mut checked),
                manifest.compression,
            )
            .map_err(|(_, e)| bad_stream(e.to_string()))?
            .1,
            error: None,
        };
        let received = driver.receive_pending(&manifest.uuid, &mut stream, origin);
        match received {
            Ok(received) => received,
            Err(e) => {
                let refused = |reason: String| -> SmartosError {
                    SmartosError::RefusedStream {
                        path: path.to_path_buf(),
                        uuid: manifest.uuid.clone(),
                        reason,
                    }
                };
                return Err(match (stream.error, e) {
                    (Some(reason), _) => bad_stream(reason),
                    (None, aurora_storage::StorageError::Stream { source, .. }) => {
                        if source.is_malformed() {
                            bad_stream(source.to_string())
                        } else {
                            refused(source.to_string())
                        }
                    }
                    (None, e @ aurora_storage::StorageError::Received { .. }) => {
                        refused(e.to_string())
                    }
                    (None, aurora_storage::StorageError::Command(failure))
                        if failure.argv.get(1).map(String::as_str) == Some("receive") =>
                    {
                        bad_stream(failure.to_string())
                    }
                    (None, e) => e.into(),
                });
            }
        }
    };
    // Whatever the decompressor left unread still counts for the size and sha1.
    let drained = std::io::copy(&mut checked, &mut std::io::sink());
    if let Err(e) = drained
        .map_err(io(path))
        .and_then(|_| checked.verify(path, manifest))
    {
        driver.discard_received(received);
        return Err(e);
    }
    Ok(received)
}

/// The image config of an imported image: one layer, the platform from the manifest's os.
/// Serialised through these types with the fields in the order (alphabetical) of the configs
/// imported before, so the same image file gives the same config and manifest digests.
#[derive(Debug, Serialize)]
pub struct ImportedConfig {
    architecture: String,
    config: ImportedRunConfig,
    created: String,
    history: [ImportedHistory; 1],
    os: &'static str,
    rootfs: ImportedRootfs,
}

#[derive(Debug, Serialize)]
struct ImportedRunConfig {
    #[serde(rename = "Env")]
    env: [&'static str; 1],
    #[serde(rename = "Labels")]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct ImportedHistory {
    created: String,
    created_by: String,
}

#[derive(Debug, Serialize)]
struct ImportedRootfs {
    diff_ids: [Digest; 1],
    #[serde(rename = "type")]
    kind: &'static str,
}

pub fn image_config(manifest: &Manifest, diff_id: &Digest) -> ImportedConfig {
    let created = manifest
        .published_at
        .as_deref()
        .and_then(|p| chrono::DateTime::parse_from_rfc3339(p).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let os = match manifest.os.as_str() {
        "linux" => "linux",
        // SmartOS zones run illumos.
        _ => "illumos",
    };
    let labels = BTreeMap::from([
        (UUID_ANNOTATION.to_string(), manifest.uuid.clone()),
        ("org.smartos.image.name".to_string(), manifest.name.clone()),
        (
            "org.smartos.image.version".to_string(),
            manifest.version.clone(),
        ),
    ]);
    ImportedConfig {
        architecture: Platform::host().architecture,
        config: ImportedRunConfig {
            env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            labels,
        },
        created: created.clone(),
        history: [ImportedHistory {
            created: created.clone(),
            created_by: format!(
                "imageadm import-smartos {} {} ({})",
                manifest.name, manifest.version, manifest.uuid
            ),
        }],
        os,
        rootfs: ImportedRootfs {
            diff_ids: [diff_id.clone()],
            kind: "layers",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"v": 2, "uuid": "b265d8d3-a33c-f570-5fbf-d453e6c4391b",
        "name": "base-64", "version": "21.4.0", "type": "zone-dataset", "os": "smartos",
        "files": [{"sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "size": 0,
                   "compression": "gzip"}]}"#;

    #[test]
    fn checked_reader_counts_hashes_and_stops_at_the_limit() {
        let data = b"hello world".to_vec();
        let manifest = Manifest {
            sha1: "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed".into(),
            size: data.len() as u64,
            ..parse_manifest(GOOD.as_bytes()).unwrap()
        };
        let mut checked = Checked::new(&data[..], manifest.size);
        std::io::copy(&mut checked, &mut std::io::sink()).unwrap();
        checked.verify(Path::new("f"), &manifest).unwrap();
        let mut short = Checked::new(&data[..], 4);
        assert!(std::io::copy(&mut short, &mut std::io::sink()).is_err());
        let wrong = Manifest {
            sha1: "0".repeat(40),
            ..manifest.clone()
        };
        let mut checked = Checked::new(&data[..], wrong.size);
        std::io::copy(&mut checked, &mut std::io::sink()).unwrap();
        let err = checked
            .verify(Path::new("f"), &wrong)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sha1 2aae6c35"), "{err}");
    }

    #[test]
    fn the_config_is_written_as_the_json_it_replaces_byte_for_byte() {
        let manifest = Manifest {
            published_at: Some("2021-12-01T10:00:00.000Z".into()),
            ..parse_manifest(GOOD.as_bytes()).unwrap()
        };
        let diff_id: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        // What import wrote with `json!` before (serde_json sorts the keys of its maps).
        let old = serde_json::json!({
            "created": "2021-12-01T10:00:00Z",
            "architecture": Platform::host().architecture,
            "os": "illumos",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Labels": {
                    UUID_ANNOTATION: "b265d8d3-a33c-f570-5fbf-d453e6c4391b",
                    "org.smartos.image.name": "base-64",
                    "org.smartos.image.version": "21.4.0",
                },
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
            "history": [{
                "created": "2021-12-01T10:00:00Z",
                "created_by": "imageadm import-smartos base-64 21.4.0 (b265d8d3-a33c-f570-5fbf-d453e6c4391b)",
            }],
        });
        assert_eq!(
            serde_json::to_vec(&image_config(&manifest, &diff_id)).unwrap(),
            serde_json::to_vec(&old).unwrap()
        );
    }
}
