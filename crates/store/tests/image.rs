//! "An image in a layout": put, resolve (with a platform chosen from an index), find by name
//! or digest prefix, and import a file as a blob.

use std::collections::BTreeMap;
use std::path::Path;

use aurora_spec::document::Link;
use aurora_spec::media::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use aurora_spec::{sha256_digest, Platform};
use aurora_store::{NewImage, Store, StoreError};
use oci_spec::image::{Descriptor, MediaType};
use serde_json::json;

fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    (dir, store)
}

fn config(architecture: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": architecture, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(b"tar").to_string()]},
        "config": {"Env": ["PATH=/bin"]},
    }))
    .unwrap()
}

/// A layer blob in the store, as a manifest links it.
/// An image with no annotations on its manifest.
fn unannotated<'a>(config: &'a [u8], layers: &'a [Link]) -> NewImage<'a> {
    NewImage {
        config,
        layers,
        annotations: BTreeMap::new(),
    }
}

fn layer(store: &Store, content: &[u8]) -> Link {
    let (digest, size) = store
        .import_blob(content, Path::new("test-source"), None)
        .unwrap();
    Link {
        media_type: OCI_LAYER_GZIP.to_string(),
        digest,
        size,
        platform: None,
    }
}

#[test]
fn a_put_image_resolves_to_its_typed_manifest_and_config() {
    let (_dir, store) = new_store();
    let layers = [layer(&store, b"base"), layer(&store, b"top")];
    let config = config("amd64");
    let annotations = BTreeMap::from([("org.example".to_string(), "yes".to_string())]);
    let put = store
        .put_image(
            "localhost/app:1",
            &NewImage {
                config: &config,
                layers: &layers,
                annotations: annotations.clone(),
            },
        )
        .unwrap();
    assert_eq!(put.config, sha256_digest(&config));

    let image = store
        .resolve(
            "localhost/app:1",
            Some(&"linux/arm64".parse::<Platform>().unwrap()),
        )
        .unwrap();
    // A manifest has no platforms to choose from: the platform is not consulted.
    assert_eq!(image.name, "localhost/app:1");
    assert_eq!(&image.manifest_digest, put.manifest.digest());
    assert_eq!(image.manifest_bytes.len() as u64, put.manifest.size());
    assert_eq!(image.layers(), &layers);
    assert_eq!(image.config_bytes, config);
    assert_eq!(image.config.architecture().to_string(), "amd64");
    assert!(image.index.is_none());
    let written: serde_json::Value = serde_json::from_slice(&image.manifest_bytes).unwrap();
    assert_eq!(written["mediaType"], OCI_MANIFEST);
    assert_eq!(written["config"]["mediaType"], OCI_CONFIG);
    assert_eq!(written["annotations"]["org.example"], "yes");
    // Found by digest prefix too.
    let hex = put.manifest.digest().digest();
    assert_eq!(store.find_image(&hex[..8]).unwrap().1, image.descriptor);
}

#[test]
fn a_manifest_named_by_its_digest_reads_as_the_resolved_image() {
    let (_dir, store) = new_store();
    let layers = [layer(&store, b"only")];
    let config = config("amd64");
    let put = store
        .put_image("localhost/noted:1", &unannotated(&config, &layers))
        .unwrap();
    // What a bundle note records: the image's name and its manifest's digest.
    let noted = store
        .resolve_manifest("localhost/noted:1", put.manifest.digest())
        .unwrap();
    let resolved = store.resolve("localhost/noted:1", None).unwrap();
    assert_eq!(noted.name, resolved.name);
    assert_eq!(noted.descriptor.digest(), resolved.descriptor.digest());
    assert_eq!(noted.descriptor.size(), resolved.descriptor.size());
    assert_eq!(
        noted.descriptor.media_type(),
        resolved.descriptor.media_type()
    );
    assert_eq!(noted.manifest_bytes, resolved.manifest_bytes);
    assert_eq!(noted.config_bytes, resolved.config_bytes);
    let absent = sha256_digest(b"no such manifest");
    assert!(matches!(
        store.resolve_manifest("localhost/noted:1", &absent),
        Err(StoreError::BlobNotFound(_))
    ));
}

#[test]
fn put_image_refuses_layers_that_are_not_stored_and_names_nothing() {
    let (_dir, store) = new_store();
    let missing = Link {
        media_type: OCI_LAYER_GZIP.to_string(),
        digest: sha256_digest(b"never stored"),
        size: 12,
        platform: None,
    };
    let config = config("amd64");
    let err = store
        .put_image("app", &unannotated(&config, std::slice::from_ref(&missing)))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::BlobNotFound(d) if *d == missing.digest.to_string()),
        "{err}"
    );
    assert!(store.list_refs().unwrap().is_empty());
}

#[test]
fn resolving_an_index_chooses_the_platform_and_names_the_ones_it_has() {
    let (_dir, store) = new_store();
    let mut entries = Vec::new();
    for architecture in ["amd64", "arm64"] {
        let layers = [layer(&store, architecture.as_bytes())];
        let put = store
            .put_image(
                &format!("tmp-{architecture}"),
                &unannotated(&config(architecture), &layers),
            )
            .unwrap();
        store.remove_ref(&format!("tmp-{architecture}")).unwrap();
        entries.push(json!({"mediaType": OCI_MANIFEST, "digest": put.manifest.digest().to_string(),
            "size": put.manifest.size(), "platform": {"os": "linux", "architecture": architecture}}));
    }
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
    )
    .unwrap();
    let (digest, size) = store
        .import_blob(&index[..], Path::new("test-source"), None)
        .unwrap();
    store
        .set_ref(
            "localhost/multi:1",
            &Descriptor::new(MediaType::ImageIndex, size, digest.clone()),
        )
        .unwrap();

    let arm = store
        .resolve("localhost/multi:1", Some(&"linux/arm64".parse().unwrap()))
        .unwrap();
    assert_eq!(arm.config.architecture().to_string(), "arm64");
    assert_eq!(
        arm.index.as_ref().map(|(b, _)| b.as_slice()),
        Some(&index[..])
    );
    assert_eq!(arm.descriptor.digest(), &digest);

    match store.resolve("localhost/multi:1", Some(&"linux/s390x".parse().unwrap())) {
        Err(StoreError::NoMatchingPlatform {
            name, available, ..
        }) => {
            assert_eq!(name, "localhost/multi:1");
            assert_eq!(available, ["linux/amd64", "linux/arm64"]);
        }
        other => panic!("expected NoMatchingPlatform, got {other:?}"),
    }
    assert!(matches!(
        store.resolve("absent", None),
        Err(StoreError::RefNotFound(_))
    ));
}

#[test]
fn importing_a_blob_hashes_while_copying_and_refuses_other_content() {
    let (_dir, store) = new_store();
    let content = vec![7u8; 300_000];
    let (digest, size) = store
        .import_blob(&content[..], Path::new("test-source"), None)
        .unwrap();
    assert_eq!(digest, sha256_digest(&content));
    assert_eq!(size, 300_000);
    assert_eq!(std::fs::read(store.blob_path(&digest)).unwrap(), content);

    let expected = sha256_digest(b"what was promised");
    let err = store
        .import_blob(
            &b"something else"[..],
            Path::new("test-source"),
            Some((&expected, None)),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Digest { .. } | StoreError::SizeMismatch { .. }
        ),
        "{err}"
    );
    assert_eq!(
        store.blob_size(&expected).unwrap(),
        None,
        "nothing was stored"
    );
    let (digest, _) = store
        .import_blob(
            &b"what was promised"[..],
            Path::new("test-source"),
            Some((&expected, Some(17))),
        )
        .unwrap();
    assert_eq!(digest, expected);
    assert_eq!(store.blob_size(&expected).unwrap(), Some(17));
}

/// A reader that yields some bytes, then fails as a file on a dying disk would.
struct FailingReader(usize);

impl std::io::Read for FailingReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::Error::other("device went away"));
        }
        let n = self.0.min(buffer.len());
        buffer[..n].fill(1);
        self.0 -= n;
        Ok(n)
    }
}

#[test]
fn a_failed_read_names_the_source_and_stores_nothing() {
    let (dir, store) = new_store();
    let source = Path::new("/srv/archive/layer.tar");
    for expected in [None, Some(sha256_digest(b"whatever"))] {
        let err = store
            .import_blob(
                FailingReader(1000),
                source,
                expected.as_ref().map(|d| (d, None)),
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("/srv/archive/layer.tar"),
            "the error names the source: {err}"
        );
    }
    assert!(store.list_refs().unwrap().is_empty());
    let blobs = std::fs::read_dir(dir.path().join("store/blobs/sha256")).map_or(0, |d| d.count());
    assert_eq!(blobs, 0, "nothing was stored");
}
