//! Export: an image in the store written as a SmartOS image (manifest v2 and a gzip'd
//! `zfs send` stream of its top layer, whole or incremental from its parent layer).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use aurora_spec::{Digest, ImageRef};
use serde::Serialize;
use sha1::{Digest as _, Sha1};

use aurora_images::{ensure_layers, Images, LayDown, Progress};

use crate::error::io;
use crate::error::Result;
use crate::manifest::docker_layer_uuid;
use crate::SmartosError;

/// How to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only the top layer's changes since its parent layer, with `origin` set.
    pub incremental: bool,
    /// Bounds on laying the image's layers down when storage lacks them.
    pub limits: aurora_images::UnpackLimits,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub image: String,
    pub uuid: String,
    pub origin: Option<String>,
    pub manifest_path: PathBuf,
    pub file_path: PathBuf,
    pub size: u64,
    pub sha1: String,
    /// Layers laid down first (the image had not been unpacked).
    pub layers_created: usize,
}

/// Writes the image `reference` as a SmartOS image into `out_dir`.
pub fn export_smartos(
    images: &Images,
    reference: &str,
    out_dir: &Path,
    options: &ExportOptions,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let refuse = |reason: String| -> SmartosError {
        SmartosError::Export {
            reference: reference.to_string(),
            reason,
        }
    };
    let store = images.store()?;
    let driver = images.zfs_storage()?;
    let _writer = store.writer_lock()?;
    let image = aurora_images::resolve(store, reference, None)?;
    let layers = aurora_images::plan_layers(&image)?;
    let Some(top) = layers.last() else {
        return Err(refuse("the image has no layers".into()));
    };
    let parent = match (options.incremental, layers.len()) {
        (false, _) => None,
        (true, 1) => {
            return Err(refuse(
                "it has one layer: there is no parent layer to be incremental from".into(),
            ))
        }
        (true, n) => Some(&layers[n - 2]),
    };
    let work = LayDown {
        store,
        driver: &driver,
        progress,
        id_map: None,
        limits: options.limits,
    };
    let (layers_created, _) = ensure_layers(&work, &layers)?;
    let blobs: Vec<Digest> = layers.iter().map(|l| l.blob.clone()).collect();
    let uuid = docker_layer_uuid(&blobs);
    let origin = parent.map(|_| docker_layer_uuid(&blobs[..blobs.len() - 1]));
    let (name, version) = export_name(&image.name, &image.manifest_digest);
    let linux = *image.config.os() == oci_spec::image::Os::Linux;
    let stem = format!("{}-{version}", name.replace('/', "-"));
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let file_path = out_dir.join(format!("{stem}.zfs.gz"));
    let manifest_path = out_dir.join(format!("{stem}.json"));

    // The stream first, the manifest last: a manifest there means its file is complete.
    let scratch = tempfile::Builder::new()
        .prefix(".export-")
        .tempfile_in(out_dir)
        .map_err(io(out_dir))?;
    let hashing = Hashing {
        inner: BufWriter::with_capacity(1 << 20, scratch),
        hasher: Sha1::new(),
        count: 0,
    };
    let mut gzip = flate2::write::GzEncoder::new(hashing, flate2::Compression::default());
    driver.send_layer(&top.id, parent.map(|p| &p.id), &mut gzip, &file_path)?;
    let hashing = gzip.finish().map_err(io(&file_path))?;
    let (size, sha1) = (hashing.count, format!("{:x}", hashing.hasher.finalize()));
    let scratch = hashing
        .inner
        .into_inner()
        .map_err(|e| io(&file_path)(e.into_error()))?;
    scratch.as_file().sync_all().map_err(io(&file_path))?;
    scratch
        .persist(&file_path)
        .map_err(|e| io(&file_path)(e.error))?;

    let manifest = ExportedManifest {
        files: [ExportedFile {
            compression: "gzip",
            sha1: sha1.clone(),
            size,
        }],
        name: &name,
        origin: origin.as_deref(),
        os: if linux { "linux" } else { "smartos" },
        owner: "00000000-0000-0000-0000-000000000000",
        published_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        requirements: linux.then_some(Requirements { brand: "lx" }),
        state: "active",
        kind: if linux { "lx-dataset" } else { "zone-dataset" },
        uuid: &uuid,
        v: 2,
        version: &version,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| refuse(e.to_string()))?;
    let mut scratch = tempfile::Builder::new()
        .prefix(".export-")
        .tempfile_in(out_dir)
        .map_err(io(out_dir))?;
    scratch
        .write_all(&text)
        .and_then(|()| scratch.as_file().sync_all())
        .map_err(io(&manifest_path))?;
    scratch
        .persist(&manifest_path)
        .map_err(|e| io(&manifest_path)(e.error))?;
    Ok(ExportReport {
        image: image.name,
        uuid,
        origin,
        manifest_path,
        file_path,
        size,
        sha1,
        layers_created,
    })
}

/// The manifest v2 an export writes, as imgadm reads it; the fields in the order (alphabetical)
/// the manifests exported before had.
#[derive(Serialize)]
struct ExportedManifest<'a> {
    files: [ExportedFile; 1],
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<&'a str>,
    os: &'static str,
    owner: &'static str,
    published_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    requirements: Option<Requirements>,
    state: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    uuid: &'a str,
    v: u32,
    version: &'a str,
}

#[derive(Serialize)]
struct ExportedFile {
    compression: &'static str,
    sha1: String,
    size: u64,
}

#[derive(Serialize)]
struct Requirements {
    brand: &'static str,
}

/// The SmartOS name and version of a store image: its repository and tag (the short
/// manifest digest when it has no tag).
fn export_name(store_name: &str, manifest: &Digest) -> (String, String) {
    let short = manifest.digest().chars().take(12).collect::<String>();
    match ImageRef::parse(store_name) {
        Ok(r) => (
            r.repository().to_string(),
            r.tag().map_or(short, str::to_string),
        ),
        Err(_) => ("image".to_string(), short),
    }
}

/// A writer that counts and hashes what it passes on (the compressed file's size and sha1,
/// computed while it is written).
struct Hashing<W> {
    inner: W,
    hasher: Sha1,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_written_as_the_json_it_replaces_byte_for_byte() {
        for (linux, origin) in [
            (true, Some("f6f69a22-4b55-1c2d-4986-f7f6dbb0f39a")),
            (false, None),
        ] {
            let manifest = ExportedManifest {
                files: [ExportedFile {
                    compression: "gzip",
                    sha1: "da39a3ee5e6b4b0d3255bfef95601890afd80709".into(),
                    size: 7,
                }],
                name: "team/rich",
                origin,
                os: if linux { "linux" } else { "smartos" },
                owner: "00000000-0000-0000-0000-000000000000",
                published_at: "2026-12-01T01:02:03.000Z".into(),
                requirements: linux.then_some(Requirements { brand: "lx" }),
                state: "active",
                kind: if linux { "lx-dataset" } else { "zone-dataset" },
                uuid: "b265d8d3-a33c-f570-5fbf-d453e6c4391b",
                v: 2,
                version: "1",
            };
            // What export wrote with `json!` before (serde_json sorts the keys of its maps).
            let mut old = serde_json::json!({
                "v": 2,
                "uuid": "b265d8d3-a33c-f570-5fbf-d453e6c4391b",
                "owner": "00000000-0000-0000-0000-000000000000",
                "name": "team/rich",
                "version": "1",
                "type": if linux { "lx-dataset" } else { "zone-dataset" },
                "os": if linux { "linux" } else { "smartos" },
                "published_at": "2026-12-01T01:02:03.000Z",
                "state": "active",
                "files": [{"sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "size": 7, "compression": "gzip"}],
            });
            if linux {
                old["requirements"] = serde_json::json!({"brand": "lx"});
            }
            if let Some(origin) = origin {
                old["origin"] = serde_json::json!(origin);
            }
            assert_eq!(
                serde_json::to_vec_pretty(&manifest).unwrap(),
                serde_json::to_vec_pretty(&old).unwrap()
            );
        }
    }
    #[test]
    fn export_names_from_store_names() {
        let digest: Digest =
            "sha256:84ff92691f909a05b224e1c56abb4864f01b4f8e3c854e4bb4c7baf1d3f6d652"
                .parse()
                .unwrap();
        assert_eq!(
            export_name("docker.io/team/rich:1", &digest),
            ("team/rich".to_string(), "1".to_string())
        );
        assert_eq!(
            export_name(&format!("127.0.0.1:5000/app@{digest}"), &digest),
            ("app".to_string(), "84ff92691f90".to_string())
        );
    }
}
