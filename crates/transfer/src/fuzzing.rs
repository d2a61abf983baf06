//! Checks run on arbitrary input by the fuzz targets (`fuzz/`) and, over the committed corpus
//! and regression inputs, by this crate's tests: manifests, indexes and configs as a pull
//! reads them, docker archives as a copy reads them. Each check panics when a property the rest of Aurora relies on does not hold; input
//! that is merely refused is not a failure. Not a stable API.

use std::io::Write;
use std::path::Path;

use aurora_images::fuzzing::empty_rootfs;
use aurora_registry::FetchedManifest;
use aurora_spec::document::Document;
use aurora_spec::media::{self, Kind};
use aurora_spec::{sha256_digest, Platform};
use aurora_store::Store;

use crate::docker_to_oci::{to_oci, Renamed};

/// A manifest or index as a registry could send it, under each `Content-Type` a registry
/// could give, through the pull's path: classified, read for its links, converted to OCI
/// form (which must keep its links and kind, be classified the same and be final), and the
/// same bytes as an image config, converted to a runtime config.
pub fn check_manifest(data: &[u8]) {
    let document = Document::parse(data).ok();
    if let Some(document) = &document {
        let _ = document.entry_for(&Platform::host());
        let _ = document.platforms();
    }
    for content_type in [
        "",
        "application/json",
        media::OCI_MANIFEST,
        media::OCI_INDEX,
        media::DOCKER_MANIFEST,
        media::DOCKER_MANIFEST_LIST,
    ] {
        let Ok(media_type) = aurora_registry::fuzzing::classify(data, content_type, "fuzz") else {
            continue;
        };
        let kind = media::kind(&media_type);
        assert!(
            matches!(kind, Kind::Manifest | Kind::Index),
            "{media_type:?} was classified as a manifest or index"
        );
        let fetched = FetchedManifest {
            bytes: data.to_vec(),
            media_type: media_type.clone(),
            kind,
            digest: sha256_digest(data),
        };
        let Ok(Some(converted)) = to_oci(&fetched, &Renamed::new()) else {
            continue;
        };
        assert_eq!(converted.digest, sha256_digest(&converted.bytes));
        assert_eq!(
            converted.kind, kind,
            "{media_type} keeps its kind in OCI form"
        );
        let again = aurora_registry::fuzzing::classify(&converted.bytes, "", "fuzz")
            .unwrap_or_else(|e| panic!("{media_type}: the OCI form is refused: {e}"));
        assert_eq!(again, converted.media_type);
        assert_eq!(
            to_oci(&converted, &Renamed::new()).map(|c| c.is_some()),
            Ok(false),
            "{media_type}: converting the OCI form again changes it"
        );
        let links = |bytes: &[u8]| {
            Document::parse(bytes)
                .ok()
                .map(|d| d.links().map(|l| l.digest.clone()).collect::<Vec<_>>())
        };
        // A document the pull refuses (a duplicate key, say) is never converted there; one it
        // reads must keep every link.
        if let Some(original) = links(data) {
            assert_eq!(
                links(&converted.bytes),
                Some(original),
                "{media_type}: links"
            );
        }
    }
    if let Ok(config) = aurora_bundle::parse_image_config("fuzz", data) {
        let rootfs = empty_rootfs();
        let overrides = aurora_bundle::Overrides::default();
        if let Ok(converted) = aurora_bundle::convert("fuzz", &config, &rootfs, &overrides) {
            aurora_bundle::canonical_value(&converted.spec)
                .expect("a converted runtime config serialises");
        }
    }
}

/// A docker archive as `copy docker-archive:FILE` reads it. `data` is either a whole archive
/// (a tar) or the `manifest.json` of an archive that also holds one valid config and layer.
/// Read into a fresh layout under `scratch`: an archive that is taken must leave an image
/// whose config and layers are all in the layout, with the layers' digests the config's
/// diff IDs; one that is refused must leave no name behind.
pub fn check_docker_archive(data: &[u8], scratch: &Path) {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).expect("making the scratch directory");
    let archive = scratch.join("archive.tar");
    let is_tar = data.len() >= 512 && &data[257..262] == b"ustar";
    if is_tar {
        std::fs::write(&archive, data).expect("writing the archive");
    } else {
        write_archive(&archive, data).expect("writing the archive");
    }
    let store = Store::open(scratch.join("layout")).expect("opening a layout");
    for (i, tag) in [None, Some("fuzz:1")].into_iter().enumerate() {
        let name = format!("fuzz-{i}");
        let result = crate::docker_archive::read(
            &archive,
            tag,
            &store,
            &name,
            &scratch.join(format!("extract-{i}")),
        );
        let found = store.find_ref(&name).expect("reading the index");
        let Ok(descriptor) = result else {
            assert!(found.is_none(), "a refused archive left the name {name}");
            continue;
        };
        let named = found.map(|d| d.digest().clone());
        assert_eq!(named.as_ref(), Some(descriptor.digest()), "the name {name}");
        let manifest = store
            .read_blob(descriptor.digest(), media::MAX_MANIFEST_BYTES)
            .expect("the manifest is in the layout");
        let document = Document::parse(&manifest).expect("the manifest parses");
        let config_link = document.config.as_ref().expect("the manifest has a config");
        let config_bytes = store
            .read_blob(&config_link.digest, media::MAX_CONFIG_BYTES)
            .expect("the config is in the layout");
        let config: serde_json::Value =
            serde_json::from_slice(&config_bytes).expect("the config is JSON");
        let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_str()).collect())
            .unwrap_or_default();
        let layers: Vec<String> = document
            .layers
            .iter()
            .map(|l| l.digest.to_string())
            .collect();
        assert_eq!(layers, diff_ids, "layers and diff IDs");
        for link in &document.layers {
            let digest = &link.digest;
            assert_eq!(
                store.blob_size(digest).expect("stat"),
                Some(link.size),
                "layer {digest}"
            );
        }
    }
}

/// An archive holding `manifest.json` = `manifest`, one image config and one (empty) layer.
fn write_archive(path: &Path, manifest: &[u8]) -> std::io::Result<()> {
    let layer = empty_tar();
    let diff_id = sha256_digest(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    }))?;
    let config_hex = sha256_digest(&config).digest().to_string();
    let file = std::fs::File::create(path)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, bytes)
    };
    add(&format!("{config_hex}.json"), &config)?;
    add(&format!("{}/layer.tar", diff_id.digest()), &layer)?;
    add("manifest.json", manifest)?;
    tar.into_inner()?.flush()
}

/// A tar with no entries: two zero blocks.
fn empty_tar() -> Vec<u8> {
    vec![0; 1024]
}
